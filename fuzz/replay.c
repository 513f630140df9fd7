/*
 * Corpus replay: feeds every file of the directories (or files) named on the
 * command line to LLVMFuzzerTestOneInput, so that a plain gcc build replays
 * the seed corpus and every kept crasher.  Each input is copied into a
 * buffer of its exact size, so an over-read is caught by the sanitizers.
 * Counts as one test: "1 passed, 0 failed" when every input ran (a crash
 * or an unreadable input is the failure).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int main(int, char **);

static int
replay_file(const char *path)
{
	FILE *f;
	struct stat st;
	uint8_t *buf;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL || fstat(fileno(f), &st) == -1) {
		perror(path);
		if (f)
			fclose(f);
		return -1;
	}
	/* The replay runner is test code: one exact-size buffer per input. */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (buf == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

static int
replay_path(const char *path, int *count)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char sub[4096];
	int rc = 0;

	if (stat(path, &st) == -1)
		return 0; /* a target may have no regressions yet */
	if (!S_ISDIR(st.st_mode)) {
		if (replay_file(path) == -1)
			return -1;
		(*count)++;
		return 0;
	}
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (replay_path(sub, count) == -1)
			rc = -1;
	}
	closedir(d);
	return rc;
}

int
main(int argc, char **argv)
{
	int i, count = 0, rc = 0;

	for (i = 1; i < argc; i++)
		if (replay_path(argv[i], &count) == -1)
			rc = 1;
	printf("replayed %d inputs\n", count);
	printf("%d passed, %d failed\n", rc ? 0 : 1, rc ? 1 : 0);
	return rc;
}
