/*
 * Logging, OpenBSD style.  The daemon writes JSON lines to stderr:
 *	{"ts":"2026-11-28T11:50:00.123Z","level":"warn","msg":"..."}
 * with "stream":"audit" on audit records (log_audit), so a collector can
 * tell the two streams apart.  Command-line tools use the text form
 * ("podid: message").  Messages are lower case, never split across lines,
 * and never contain a token or a secret.
 */
#ifndef AGENT_LOG_H
#define AGENT_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* Sets the threshold and the output form (json true: JSON lines). */
void log_init(enum log_level level, bool json);

/* Parses "error", "warn", "info" or "debug"; -1 when unknown. */
int log_level_parse(const char *name);

/* log_warn appends strerror(errno); log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Log at error level and exit 1; fatal appends strerror(errno). */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/*
 * Writes one audit record.  fields is a preformatted run of JSON members
 * without braces ("\"pod\":\"x\",\"outcome\":\"ok\""); the caller escapes
 * them with log_json_escape.
 */
void log_audit(const char *fields);

/*
 * Escapes src (len bytes) as the inside of a JSON string into dst of size
 * dstlen, always NUL-terminating; returns the length written, truncating
 * at a character boundary when dst is too small.
 */
size_t log_json_escape(char *dst, size_t dstlen, const char *src, size_t len);

#endif
