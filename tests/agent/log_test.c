/*
 * Tests of agent/log.c's output: stderr goes to a pipe and every record is
 * compared, byte for byte, with what the printf-based log.c wrote (the
 * formats are kept below as the reference), its time stamp taken from the
 * record and checked against the clock.  Lines cut at the buffer's end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/log.h"
#include "tests/harness.h"

int main(void);

#define T_LINE_MAX (2048 + 256) /* log.c's line buffer, NUL included */
#define T_TS_LEN   24           /* "2026-11-28T11:50:00.123Z" */

static int pipe_rd, pipe_wr, saved_err;
static char got[1 << 16];
static size_t got_len;

/*
 * CAPTURE(stmt): runs stmt with stderr going to the pipe, so that the
 * harness's own reports still reach the real stderr.
 */
#define CAPTURE(stmt)                                                          \
	do {                                                                   \
		dup2(pipe_wr, STDERR_FILENO);                                  \
		stmt;                                                          \
		dup2(saved_err, STDERR_FILENO);                                \
	} while (0)

/* Everything the log wrote since the last call. */
static const char *
take(void)
{
	ssize_t n;

	got_len = 0;
	while (
	    (n = read(pipe_rd, got + got_len, sizeof(got) - 1 - got_len)) > 0)
		got_len += (size_t)n;
	got[got_len] = '\0';
	return got;
}

/* The record's time stamp: its shape, and within 2 s of now. */
static bool
ts_ok(const char *ts)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	struct tm tm;
	time_t now = time(NULL), t;
	size_t i;

	for (i = 0; i < T_TS_LEN; i++)
		if (shape[i] == 'd' ? (ts[i] < '0' || ts[i] > '9')
		                    : ts[i] != shape[i])
			return false;
	memset(&tm, 0, sizeof(tm));
	if (strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return false;
	t = timegm(&tm);
	return t <= now && now - t <= 2;
}

/* The old log_emit's JSON record, given the time stamp it printed. */
static size_t
ref_json(char *line, const char *ts, const char *stream, const char *level,
    const char *msg, bool raw)
{
	char t[T_TS_LEN];
	int n;

	memcpy(t, ts, T_TS_LEN - 1); /* without the Z */
	t[T_TS_LEN - 1] = '\0';
	n = snprintf(line, T_LINE_MAX,
	    raw ? "{\"ts\":\"%sZ\",\"stream\":\"%s\",%s}\n"
	        : "{\"ts\":\"%sZ\",\"level\":\"%s\",\"msg\":\"%s\"}\n",
	    t, raw ? stream : level, msg);
	if ((size_t)n >= T_LINE_MAX) {
		n = T_LINE_MAX - 1;
		line[n - 1] = '\n';
	}
	return (size_t)n;
}

/* One record just written equals the reference. */
static void
check_json(const char *stream, const char *level, const char *msg, bool raw)
{
	static char want[T_LINE_MAX];
	size_t n;

	take();
	check(got_len > 7 + T_TS_LEN && memcmp(got, "{\"ts\":\"", 7) == 0);
	if (got_len <= 7 + T_TS_LEN)
		return;
	check(ts_ok(got + 7));
	n = ref_json(want, got + 7, stream, level, msg, raw);
	check_int(got_len, n);
	check(got_len == n && memcmp(got, want, n) == 0);
}

static void
t_json(void)
{
	static char big[4000];

	log_init(LOG_LVL_INFO, true);
	CAPTURE(log_audit("\"route\":\"token\",\"status\":200"));
	check_json("audit", NULL, "\"route\":\"token\",\"status\":200", true);
	CAPTURE(log_info("listening on %s", "10.0.0.1:80"));
	check_json(NULL, "info", "listening on 10.0.0.1:80", false);
	CAPTURE(log_warnx("bad \"%s\"\n", "x"));
	check_json(NULL, "warn", "bad \\\"x\\\"\\u000a", false);
	CAPTURE(log_debug("below the threshold"));
	check_int(strlen(take()), 0);
	/* N+1 and more: an audit record longer than the line is cut. */
	memset(big, 'a', sizeof(big) - 1);
	CAPTURE(log_audit(big));
	check_json("audit", NULL, big, true);
	check_int(got_len, T_LINE_MAX - 1);
	check(got[got_len - 1] == '\n' && got[got_len - 2] == 'a');
}

/* The longest audit record not cut (N) and one byte more (N+1). */
static void
t_json_limit(void)
{
	static char fields[T_LINE_MAX];
	size_t over = strlen("{\"ts\":\"2026-11-28T11:50:00.123Z\","
	                     "\"stream\":\"audit\",}\n");
	size_t n = T_LINE_MAX - 1 - over;

	log_init(LOG_LVL_INFO, true);
	memset(fields, 'f', n);
	fields[n] = '\0';
	CAPTURE(log_audit(fields));
	check_json("audit", NULL, fields, true);
	check_int(got_len, T_LINE_MAX - 1);
	check(got[got_len - 2] == '}');
	fields[n] = 'f';
	fields[n + 1] = '\0';
	CAPTURE(log_audit(fields));
	check_json("audit", NULL, fields, true);
	check_int(got_len, T_LINE_MAX - 1);
	check(got[got_len - 2] == 'f');
}

static void
t_text(void)
{
	log_init(LOG_LVL_DEBUG, false);
	CAPTURE(log_warnx("a %d b", 7));
	check_str(take(), "podid: warning: a 7 b\n");
	CAPTURE(log_info("plain"));
	check_str(take(), "podid: plain\n");
	CAPTURE(log_debug("dbg %s", "x"));
	check_str(take(), "podid: dbg x\n");
	errno = ENOENT;
	CAPTURE(log_warn("open %s", "f"));
	check_str(
	    take(), "podid: warning: open f: No such file or directory\n");
}

int
main(void)
{
	int fds[2];

	if (pipe2(fds, O_NONBLOCK) != 0 || (saved_err = dup(STDERR_FILENO)) < 0)
		abort();
	pipe_wr = fds[1];
	/* Big enough for the longest record: one write(2), one read. */
	(void)fcntl(fds[1], F_SETPIPE_SZ, 1 << 16);
	pipe_rd = fds[0];
	test(t_json, "JSON records as the printf formats wrote them");
	test(t_json_limit, "an audit record at N and N+1 bytes");
	test(t_text, "text records");
	return harness_done();
}
