/*
 * agent/lines.c: a watch stream (tests/agent/data/watch.jsonl) and
 * synthetic ones pushed whole, at every split point, byte by byte and in
 * odd pieces must yield the same lines as a plain reference split; the
 * line limit at N and N+1; resync after an overlong line.  The splitter's
 * buffer and every pushed piece end against a PROT_NONE page.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/limits.h"
#include "agent/lines.h"
#include "tests/guard.h"
#include "tests/harness.h"

#define MAXOUT   256
#define GUARD_SZ (1u << 16)

struct out {
	int r;
	size_t off, len; /* of the line within the stream */
};

static char stream[GUARD_SZ];

/* What splitting s[0..n) with a cap-byte buffer must give. */
static size_t
reference(const char *s, size_t n, size_t cap, struct out *o, size_t *pend)
{
	const char *nl;
	size_t i = 0, k = 0, len;

	*pend = 0;
	while (i < n && k < MAXOUT) {
		if ((nl = memchr(s + i, '\n', n - i)) == NULL) {
			if (n - i >= cap)
				o[k++] = (struct out){LINES_E_TOOLONG, 0, 0};
			else
				*pend = n - i;
			break;
		}
		len = (size_t)(nl - (s + i));
		if (len < cap)
			o[k++] = (struct out){1, i, len};
		else
			o[k++] = (struct out){LINES_E_TOOLONG, 0, 0};
		i += len + 1;
	}
	return k;
}

/* Drains l, matching what comes out against want[*k...]. */
static bool
drain(struct lines *l, const char *s, const struct out *want, size_t nwant,
    size_t *k, const char *buf, size_t cap)
{
	const char *line;
	size_t len;
	int r;

	while ((r = lines_next(l, &line, &len)) != 0) {
		if (*k >= nwant || r != want[*k].r)
			return false;
		if (r == 1 &&
		    (len != want[*k].len || line < buf ||
		        line + len > buf + cap ||
		        memcmp(line, s + want[*k].off, len) != 0))
			return false;
		(*k)++;
	}
	return true;
}

/*
 * Pushes s[0..n) in pieces of sizes[0], sizes[1]... (cycling) into a
 * cap-byte splitter; true when lines, errors and the pending count match
 * the reference.
 */
static bool
run(const char *s, size_t n, size_t cap, const size_t *sizes, size_t nsizes)
{
	struct out want[MAXOUT];
	size_t nwant, wpend, k = 0, pos = 0, i = 0, piece, off, taken;
	char *buf = guard_buf(cap);
	const char *p;
	struct lines l;
	int stalls = 0;
	bool skip;

	nwant = reference(s, n, cap, want, &wpend);
	lines_init(&l, buf, cap);
	while (pos < n) {
		piece = sizes[i++ % nsizes];
		piece = piece < n - pos ? piece : n - pos;
		p = guard_copy(s + pos, piece);
		for (off = 0; off < piece; off += taken) {
			taken = lines_push(&l, p + off, piece - off);
			stalls = taken ? 0 : stalls + 1;
			if (stalls > 1 ||
			    !drain(&l, s, want, nwant, &k, buf, cap))
				return false;
		}
		pos += piece;
	}
	return k == nwant && lines_pending(&l, &skip) == wpend;
}

static size_t
load_watch(void)
{
	FILE *f = fopen("tests/agent/data/watch.jsonl", "rb");
	size_t n;

	if (f == NULL) {
		perror("tests/agent/data/watch.jsonl");
		exit(2);
	}
	n = fread(stream, 1, sizeof(stream), f);
	fclose(f);
	return n;
}

static size_t
longest_line(const char *s, size_t n)
{
	size_t i, cur = 0, max = 0;

	for (i = 0; i < n; i++) {
		cur = s[i] == '\n' ? 0 : cur + 1;
		max = cur > max ? cur : max;
	}
	return max;
}

/* Two pieces, split at every offset: with room to spare, and with a
 * buffer that just fits the longest event (every push moves). */
static void
t_every_split(void)
{
	size_t n = load_watch(), k, sizes[2], longest = longest_line(stream, n);
	size_t caps[] = {GUARD_SZ, longest + 1}, c;
	bool all;

	check(longest > 4000);
	for (c = 0; c < 2; c++) {
		all = true;
		for (k = 0; k <= n; k++) {
			sizes[0] = k ? k : n;
			sizes[1] = n;
			all &= run(stream, n, caps[c], sizes, 2);
		}
		check(all);
	}
	/* and one byte too small: the longest event is skipped */
	sizes[0] = n;
	check(run(stream, n, longest, sizes, 1));
}

static void
t_byte_by_byte(void)
{
	size_t n = load_watch(), one = 1, longest = longest_line(stream, n);

	check(run(stream, n, GUARD_SZ, &one, 1));
	check(run(stream, n, longest + 1, &one, 1));
	check(run(stream, n, longest, &one, 1));
	check(run(stream, n, 100, &one, 1));
}

static void
t_odd_pieces(void)
{
	static const size_t sizes[] = {3, 700, 1, 4096, 17, 9000, 2};
	size_t n = load_watch(), i, longest = longest_line(stream, n);

	for (i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		check(run(stream, n, GUARD_SZ, sizes + i,
		    sizeof(sizes) / sizeof(*sizes) - i));
		check(run(stream, n, longest + 1, sizes + i,
		    sizeof(sizes) / sizeof(*sizes) - i));
	}
}

/* cap 16: a 15-byte line fits, a 16-byte one is skipped and reported,
 * and the splitter picks up at the next line. */
static void
t_limit(void)
{
	static const char in[] = "aaaaaaaaaaaaaaa\n"
	                         "bbbbbbbbbbbbbbbb\n"
	                         "ok\n";
	char *buf = guard_buf(16);
	const char *line;
	struct lines l;
	size_t len, n;

	lines_init(&l, buf, 16);
	n = lines_push(&l, in, sizeof(in) - 1);
	check_int(n, 16);
	check_int(lines_next(&l, &line, &len), 1);
	check_int(len, 15);
	check(line == buf);
	check_int(lines_next(&l, &line, &len), 0);
	n += lines_push(&l, in + n, sizeof(in) - 1 - n);
	check_int(n, 32);
	check_int(lines_next(&l, &line, &len), LINES_E_TOOLONG);
	check_int(lines_next(&l, &line, &len), 0);
	n += lines_push(&l, in + n, sizeof(in) - 1 - n);
	check_int(n, sizeof(in) - 1);
	check_int(lines_next(&l, &line, &len), 1);
	check(len == 2 && memcmp(line, "ok", 2) == 0);
	check_int(lines_next(&l, &line, &len), 0);
}

/* A line many times the buffer, between two short ones, in any split. */
static void
t_huge_line(void)
{
	size_t n = 0, k, sizes[2], one = 1;
	bool all = true;

	n += (size_t)snprintf(stream, sizeof(stream), "first\n");
	memset(stream + n, 'x', 300);
	n += 300;
	n += (size_t)snprintf(stream + n, sizeof(stream) - n, "\nlast\n");
	for (k = 1; k <= n; k++) {
		sizes[0] = k;
		sizes[1] = n;
		all &= run(stream, n, 16, sizes, 2);
	}
	check(all);
	check(run(stream, n, 16, &one, 1));
	/* and as the unfinished end of a stream */
	check(run(stream, n - 6, 16, &one, 1));
	check(run(stream, n - 6, 16, &n, 1));
}

static void
t_pending_reset(void)
{
	char *buf = guard_buf(8);
	const char *line;
	struct lines l;
	size_t len;
	bool skip;

	lines_init(&l, buf, 8);
	check_int(lines_push(&l, "ab\ncd", 5), 5);
	check_int(lines_next(&l, &line, &len), 1);
	check_int(lines_next(&l, &line, &len), 0);
	check_int(lines_pending(&l, &skip), 2);
	check(!skip);
	lines_reset(&l);
	check_int(lines_pending(&l, &skip), 0);
	check_int(lines_push(&l, "0123456789", 10), 8);
	check_int(lines_next(&l, &line, &len), LINES_E_TOOLONG);
	check_int(lines_pending(&l, &skip), 0);
	check(skip);
	check_int(lines_push(&l, "89", 2), 2);
	check(lines_pending(&l, &skip) == 0 && skip);
	lines_reset(&l);
	check_int(lines_push(&l, "x\n", 2), 2);
	check_int(lines_next(&l, &line, &len), 1);
	check(len == 1 && line[0] == 'x');
	/* all consumed: the next line starts at the front again */
	check_int(lines_push(&l, "y\n", 2), 2);
	check_int(lines_next(&l, &line, &len), 1);
	check(len == 1 && line == buf);
	check_int(lines_push(&l, NULL, 0), 0);
	check_str(
	    lines_strerror(LINES_E_TOOLONG), "line longer than the buffer");
	check_str(lines_strerror(0), "unknown error");
}

/* Blank lines come out empty, '\r' and NUL bytes are kept, cap 1 holds
 * only empty lines. */
static void
t_bytes_kept(void)
{
	static const char in[] = "\r\n\n{\"a\":\"\0\"}\n";
	size_t n = sizeof(in) - 1, one = 1, k, sizes[2];
	char *buf = guard_buf(32);
	const char *line;
	struct lines l;
	size_t len;
	bool all = true;

	lines_init(&l, buf, 32);
	check_int(lines_push(&l, in, n), n);
	check_int(lines_next(&l, &line, &len), 1);
	check(len == 1 && line[0] == '\r');
	check_int(lines_next(&l, &line, &len), 1);
	check_int(len, 0);
	check_int(lines_next(&l, &line, &len), 1);
	check(len == 9 && memcmp(line, in + 3, 9) == 0);
	check_int(lines_next(&l, &line, &len), 0);
	check(run(in, n, 1, &one, 1));
	check(run(in, n, 10, &one, 1));
	check(run(in, n, 9, &one, 1));
	for (k = 1; k <= n; k++) {
		sizes[0] = k;
		sizes[1] = n;
		all &= run(in, n, 2, sizes, 2);
	}
	check(all);
}

/* A buffer of LIM_KOBJ_EVENT_BYTES + 1 holds an event line of
 * LIM_KOBJ_EVENT_BYTES, not one byte more. */
static void
t_event_limit(void)
{
	size_t cap = LIM_KOBJ_EVENT_BYTES + 1, n;
	const char *line;
	struct lines l;
	size_t len;
	char *buf, *in;

	buf = malloc(cap);
	in = malloc(cap + 2);
	check(buf != NULL && in != NULL);
	if (buf == NULL || in == NULL)
		goto out;
	memset(in, 'e', cap + 2);
	lines_init(&l, buf, cap);
	in[LIM_KOBJ_EVENT_BYTES] = '\n';
	check_int(lines_push(&l, in, LIM_KOBJ_EVENT_BYTES + 1),
	    LIM_KOBJ_EVENT_BYTES + 1);
	check_int(lines_next(&l, &line, &len), 1);
	check_int(len, LIM_KOBJ_EVENT_BYTES);
	in[LIM_KOBJ_EVENT_BYTES] = 'e';
	in[LIM_KOBJ_EVENT_BYTES + 1] = '\n';
	n = lines_push(&l, in, LIM_KOBJ_EVENT_BYTES + 2);
	check_int(n, cap);
	check_int(lines_next(&l, &line, &len), LINES_E_TOOLONG);
	check_int(lines_push(&l, in + n, LIM_KOBJ_EVENT_BYTES + 2 - n), 1);
	check_int(lines_next(&l, &line, &len), 0);
out:
	free(buf);
	free(in);
}

/*
 * LINES_RECLAIM_BYTES handed out before an unfinished line: the next push
 * moves it to the front; one byte fewer: it stays where it is.
 */
static void
t_reclaim(void)
{
	size_t cap = 4 * LINES_RECLAIM_BYTES, first, k;
	const char *line;
	struct lines l;
	size_t len;
	char *buf, *in;

	buf = malloc(cap);
	in = malloc(LINES_RECLAIM_BYTES + 2);
	check(buf != NULL && in != NULL);
	if (buf == NULL || in == NULL)
		goto out;
	for (k = 0; k < 2; k++) {
		first = LINES_RECLAIM_BYTES - k; /* with its '\n' */
		memset(in, 'a', first - 1);
		memcpy(in + first - 1, "\nbc", 3);
		lines_init(&l, buf, cap);
		check_int(lines_push(&l, in, first + 2), first + 2);
		check_int(lines_next(&l, &line, &len), 1);
		check(line == buf && len == first - 1);
		check_int(lines_next(&l, &line, &len), 0);
		check_int(lines_push(&l, "d\n", 2), 2);
		check_int(lines_next(&l, &line, &len), 1);
		check(len == 3 && memcmp(line, "bcd", 3) == 0);
		check(line == (k == 0 ? buf : buf + first));
	}
out:
	free(buf);
	free(in);
}

int
main(void)
{
	test(t_every_split, "every split point gives the same lines");
	test(t_byte_by_byte, "byte by byte");
	test(t_odd_pieces, "odd piece sizes");
	test(t_limit, "line limit at N and N+1, resync");
	test(t_huge_line, "a line many times the buffer is skipped");
	test(t_pending_reset, "pending bytes, reset, skipping");
	test(t_bytes_kept, "blank lines, CR and NUL kept");
	test(t_event_limit, "LIM_KOBJ_EVENT_BYTES at N and N+1");
	test(t_reclaim, "LINES_RECLAIM_BYTES at N and N-1");
	return harness_done();
}
