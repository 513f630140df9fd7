/*
 * Loading a policy file into a slot: read, parse, compile.  The only
 * allocation is pol_slot_new's, at start-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/policy.h"

int
pol_slot_new(struct pol_slot *s, const struct pol_slot_limits *lim)
{
	memset(s, 0, sizeof(*s));
	s->lim = *lim;
	/* Start-up sizing: large buffers are only paged in when touched. */
	s->src = malloc(lim->file_bytes + 1);
	s->ast_mem = malloc(lim->ast_bytes);
	s->pol_mem = malloc(lim->pol_bytes);
	s->diag_v = calloc(lim->max_diags, sizeof(*s->diag_v));
	if (s->src == NULL || s->ast_mem == NULL || s->pol_mem == NULL ||
	    s->diag_v == NULL) {
		pol_slot_free(s);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void
pol_slot_free(struct pol_slot *s)
{
	free(s->src);
	free(s->ast_mem);
	free(s->pol_mem);
	free(s->diag_v);
	memset(s, 0, sizeof(*s));
}

/* Reads the whole file; a diagnostic at line 0 when it cannot. */
static int
slot_read(struct pol_slot *s, const char *path)
{
	struct dsl_pos none = {0, 0};
	struct stat st;
	size_t n = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		dsl_diag_add(&s->diags, DSL_ERROR, none, "cannot read: %s",
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	/* One byte past the limit tells a file that is too large. */
	while (n <= s->lim.file_bytes &&
	    (r = read(fd, s->src + n, s->lim.file_bytes + 1 - n)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			dsl_diag_add(&s->diags, DSL_ERROR, none,
			    "cannot read: %s", strerror(errno));
			close(fd);
			return -1;
		}
		n += (size_t)r;
	}
	close(fd);
	if (n > s->lim.file_bytes) {
		dsl_diag_add(&s->diags, DSL_ERROR, none,
		    "policy file larger than the limit of %zu bytes",
		    s->lim.file_bytes);
		return -1;
	}
	s->src[n] = '\0';
	s->file.len = n;
	return 0;
}

int
pol_slot_load(struct pol_slot *s, const char *path,
    const struct pol_options *opt, bool syntax_only)
{
	struct dsl_limits dl = {s->lim.max_token, s->lim.max_values};
	struct dsl_arena arena;

	s->loaded = false;
	snprintf(s->path, sizeof(s->path), "%s", path);
	memset(&s->file, 0, sizeof(s->file));
	s->file.name = s->path;
	s->file.src = s->src;
	dsl_diags_init(&s->diags, s->diag_v, s->lim.max_diags);
	if (slot_read(s, path) == -1)
		return -1;
	dsl_arena_init(&arena, s->ast_mem, s->lim.ast_bytes);
	if (dsl_parse(&s->file, &dl, &arena, &s->diags) != 0)
		return -1;
	if (syntax_only)
		return 0;
	if (pol_compile(&s->file, opt, s->pol_mem, s->lim.pol_bytes, &s->pol,
	        &s->diags) != 0)
		return -1;
	s->loaded = true;
	return 0;
}

static void
slot_release(void *p, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t head = (pg - (size_t)((uintptr_t)p % pg)) % pg;
	size_t body = len > head ? (len - head) / pg * pg : 0;

	/* Whole pages only: the allocator's bytes around them stay. */
	if (body > 0)
		(void)madvise((char *)p + head, body, MADV_DONTNEED);
}

void
pol_slot_release_scratch(struct pol_slot *s)
{
	/* The file name and diagnostics stay; the text and tree go. */
	slot_release(s->src, s->lim.file_bytes + 1);
	slot_release(s->ast_mem, s->lim.ast_bytes);
}
