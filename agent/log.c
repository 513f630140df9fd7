/*
 * Log output.  One write(2) per record so lines from a crash are whole; no
 * allocation, a fixed stack buffer per record (long messages are cut).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/log.h"

#define LOG_LINE_MAX 2048

static enum log_level log_threshold = LOG_LVL_INFO;
static bool log_as_json;

static const char *const log_level_names[] = {
    [LOG_LVL_ERROR] = "error",
    [LOG_LVL_WARN] = "warn",
    [LOG_LVL_INFO] = "info",
    [LOG_LVL_DEBUG] = "debug",
};

void
log_init(enum log_level level, bool json)
{
	log_threshold = level;
	log_as_json = json;
	/*
	 * glibc reads the time zone files (open, read, lseek) on the first
	 * time conversion: do it now, before the daemon drops privileges
	 * and installs its seccomp allowlist, not on its first log line.
	 */
	tzset();
}

int
log_level_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(log_level_names) / sizeof(*log_level_names); i++)
		if (strcmp(name, log_level_names[i]) == 0)
			return (int)i;
	return -1;
}

size_t
log_json_escape(char *dst, size_t dstlen, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;
	unsigned char c;

	if (dstlen == 0)
		return 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)src[i];
		if (c == '"' || c == '\\') {
			if (o + 2 >= dstlen)
				break;
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			if (o + 6 >= dstlen)
				break;
			memcpy(dst + o, "\\u00", 4);
			dst[o + 4] = hex[c >> 4];
			dst[o + 5] = hex[c & 15];
			o += 6;
		} else {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
	return o;
}

static size_t
log_timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	n +=
	    (size_t)snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
	return n;
}

static void
log_emit(enum log_level lvl, const char *stream, const char *msg, bool raw)
{
	char line[LOG_LINE_MAX + 256], ts[40], esc[LOG_LINE_MAX];
	int n;

	if (!log_as_json) {
		n = snprintf(line, sizeof(line), "podid: %s%s\n",
		    lvl == LOG_LVL_WARN ? "warning: " : "", msg);
	} else {
		log_timestamp(ts, sizeof(ts));
		if (!raw) {
			log_json_escape(esc, sizeof(esc), msg, strlen(msg));
			msg = esc;
		}
		n = snprintf(line, sizeof(line),
		    raw ? "{\"ts\":\"%s\",\"stream\":\"%s\",%s}\n"
		        : "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n",
		    ts, raw ? stream : log_level_names[lvl], msg);
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* Best effort: nowhere to report a failed log write. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

static void log_vmsg(enum log_level, bool, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

static void
log_vmsg(enum log_level lvl, bool with_errno, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	int saved = errno, n;

	if (lvl > log_threshold)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n >= 0 && with_errno && (size_t)n < sizeof(msg))
		snprintf(
		    msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(saved));
	log_emit(lvl, NULL, msg, false);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_WARN, true, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_WARN, false, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_INFO, false, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_DEBUG, false, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, true, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, false, fmt, ap);
	va_end(ap);
	exit(1);
}

void
log_audit(const char *fields)
{
	log_emit(LOG_LVL_ERROR, "audit", fields, true);
}
