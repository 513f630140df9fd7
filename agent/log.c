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

#include "agent/abuf.h"
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

/*
 * The date and time to the second, "2026-11-28T11:50:00", formatted again
 * only when the second changes: strftime costs more than the rest of a
 * line, and a busy daemon logs many lines a second.
 */
static struct {
	time_t sec;
	bool valid;
	char s[32];
	size_t len;
} log_ts;

/* Appends "2026-11-28T11:50:00.123" (UTC; the caller adds the Z). */
static void
log_timestamp(struct abuf *b)
{
	struct timespec ts;
	struct tm tm;
	unsigned ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (!log_ts.valid || ts.tv_sec != log_ts.sec) {
		gmtime_r(&ts.tv_sec, &tm);
		log_ts.len = strftime(
		    log_ts.s, sizeof(log_ts.s), "%Y-%m-%dT%H:%M:%S", &tm);
		log_ts.sec = ts.tv_sec;
		log_ts.valid = true;
	}
	abuf_add(b, log_ts.s, log_ts.len);
	ms = (unsigned)(ts.tv_nsec / 1000000);
	abuf_ch(b, '.');
	abuf_ch(b, (char)('0' + ms / 100));
	abuf_ch(b, (char)('0' + ms / 10 % 10));
	abuf_ch(b, (char)('0' + ms % 10));
}

/* The JSON form of a record, into b. */
static void
log_json_line(struct abuf *b, enum log_level lvl, const char *stream,
    const char *msg, bool raw)
{
	char esc[LOG_LINE_MAX];

	ABUF_LIT(b, "{\"ts\":\"");
	log_timestamp(b);
	if (raw) {
		ABUF_LIT(b, "Z\",\"stream\":\"");
		abuf_str(b, stream);
		ABUF_LIT(b, "\",");
		abuf_str(b, msg);
		ABUF_LIT(b, "}\n");
		return;
	}
	log_json_escape(esc, sizeof(esc), msg, strlen(msg));
	ABUF_LIT(b, "Z\",\"level\":\"");
	abuf_str(b, log_level_names[lvl]);
	ABUF_LIT(b, "\",\"msg\":\"");
	abuf_str(b, esc);
	ABUF_LIT(b, "\"}\n");
}

/*
 * One record, one write(2).  Straight appends, no printf: an audit record
 * is written per request.  A record longer than the line is cut and ends
 * with a newline all the same.
 */
static void
log_emit(enum log_level lvl, const char *stream, const char *msg, bool raw)
{
	char line[LOG_LINE_MAX + 256];
	struct abuf b;

	abuf_init(&b, line, sizeof(line) - 1);
	if (!log_as_json) {
		ABUF_LIT(&b, "podid: ");
		if (lvl == LOG_LVL_WARN)
			ABUF_LIT(&b, "warning: ");
		abuf_str(&b, msg);
		abuf_ch(&b, '\n');
	} else
		log_json_line(&b, lvl, stream, msg, raw);
	if (b.over)
		line[b.len - 1] = '\n';
	/* Best effort: nowhere to report a failed log write. */
	if (write(STDERR_FILENO, line, b.len) < 0)
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
