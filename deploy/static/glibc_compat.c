/*
 * The glibc-only symbols that Debian's libbearssl.a and libcap-ng.a (built
 * against glibc, with _FORTIFY_SOURCE) call, on top of musl, for the static
 * podid only (make static).  `nm -u` on the two archives, less what musl
 * 1.2.3's libc.a defines, leaves exactly these:
 *	libbearssl.a	__memcpy_chk __memmove_chk __memset_chk
 *	libcap-ng.a	__snprintf_chk __sprintf_chk __printf_chk
 *			__asprintf_chk __syslog_chk
 * (tests/deploy/static_test.sh recomputes that list and fails when it
 * changes.)  Each keeps glibc's check: a length past the object size the
 * compiler saw aborts, as glibc's __chk_fail does.  The names are glibc's
 * ABI, hence no podid prefix.
 *
 * The flag argument (glibc's %n-in-writable-format check) is not looked
 * at: none of the archives' formats has %n.
 *
 * Nothing here depends on a glibc structure layout: the archives use FILE
 * only through fopen/fgets/fclose/__fsetlocking calls (no inline getc, no
 * __uflow), and the structures they read are the kernel's on x86_64 in
 * both libcs: libcap-ng's struct statfs (f_type, at offset 0 of 120 bytes,
 * in its constructor) and struct stat (capng_apply_caps_fd, unused).  The
 * rest they take from musl as is: __errno_location, __isoc99_sscanf,
 * __fsetlocking, pthread_atfork, and TLS (local-dynamic, relaxed to
 * local-exec by the static link; the same layout in both libcs).
 *
 * close_range(2) is here too: podid's own agent/keeper.c calls it, glibc
 * has it and musl 1.2.3 has not (declared in deploy/static/musl_compat.h).
 */
#include <stdarg.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

void *__memcpy_chk(void *dst, const void *src, size_t len, size_t dstlen);
void *__memmove_chk(void *dst, const void *src, size_t len, size_t dstlen);
void *__memset_chk(void *dst, int c, size_t len, size_t dstlen);
int __snprintf_chk(char *s, size_t maxlen, int flag, size_t slen,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int __sprintf_chk(char *s, int flag, size_t slen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int __printf_chk(int flag, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int __asprintf_chk(char **res, int flag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void __syslog_chk(int pri, int flag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* glibc's __chk_fail: the same words on stderr, then SIGABRT. */
static _Noreturn void
chk_fail(void)
{
	static const char msg[] = "*** buffer overflow detected ***: "
	                          "terminated\n";

	ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);

	(void)r; /* aborting anyway */
	abort();
}

void *
__memcpy_chk(void *dst, const void *src, size_t len, size_t dstlen)
{
	if (len > dstlen)
		chk_fail();
	return memcpy(dst, src, len);
}

void *
__memmove_chk(void *dst, const void *src, size_t len, size_t dstlen)
{
	if (len > dstlen)
		chk_fail();
	return memmove(dst, src, len);
}

void *
__memset_chk(void *dst, int c, size_t len, size_t dstlen)
{
	if (len > dstlen)
		chk_fail();
	return memset(dst, c, len);
}

/* maxlen may not exceed the object (slen); the output is cut at maxlen. */
int
__snprintf_chk(
    char *s, size_t maxlen, int flag, size_t slen, const char *fmt, ...)
{
	va_list ap;
	int n;

	(void)flag;
	if (maxlen > slen)
		chk_fail();
	va_start(ap, fmt);
	n = vsnprintf(s, maxlen, fmt, ap);
	va_end(ap);
	return n;
}

/* sprintf into an object of slen bytes: output that does not fit aborts. */
int
__sprintf_chk(char *s, int flag, size_t slen, const char *fmt, ...)
{
	va_list ap;
	int n;

	(void)flag;
	if (slen == 0)
		chk_fail();
	if (slen > (size_t)INT_MAX)
		slen = (size_t)INT_MAX;
	va_start(ap, fmt);
	n = vsnprintf(s, slen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= slen)
		chk_fail();
	return n;
}

int
__printf_chk(int flag, const char *fmt, ...)
{
	va_list ap;
	int n;

	(void)flag;
	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int
__asprintf_chk(char **res, int flag, const char *fmt, ...)
{
	va_list ap;
	int n;

	(void)flag;
	va_start(ap, fmt);
	n = vasprintf(res, fmt, ap);
	va_end(ap);
	return n;
}

void
__syslog_chk(int pri, int flag, const char *fmt, ...)
{
	va_list ap;

	(void)flag;
	va_start(ap, fmt);
	vsyslog(pri, fmt, ap);
	va_end(ap);
}

int
close_range(unsigned int first, unsigned int last, int flags)
{
	return (int)syscall(SYS_close_range, first, last, flags);
}
