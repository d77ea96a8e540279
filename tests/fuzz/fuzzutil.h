/*
 * fuzzutil.h - helpers shared by the libFuzzer targets: a private scratch
 * directory (on /dev/shm when there is one, so that the fsyncs of state and
 * mbox code cost nothing), whole-file writes, and a check that aborts with
 * a message, so that a broken invariant is a crash libFuzzer saves.
 *
 * Static functions in a header, because the Makefile builds each target
 * from its one tests/fuzz/fuzz_X.c.
 */
#ifndef POPFETCH_FUZZUTIL_H
#define POPFETCH_FUZZUTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",      \
				__FILE__, __LINE__, #cond);                   \
			abort();                                              \
		}                                                             \
	} while (0)

static char fuzz_scratch[256];

static inline int fuzz_rm_one(const char *path, const struct stat *st,
			      int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void fuzz_rm_rf(const char *path)
{
	nftw(path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void fuzz_scratch_cleanup(void)
{
	if (fuzz_scratch[0] != '\0')
		fuzz_rm_rf(fuzz_scratch);
}

/* A fresh directory, created once per process and removed at exit.
 * Returns static storage. */
static inline const char *fuzz_scratch_dir(void)
{
	const char *base = getenv("FUZZ_TMPDIR");
	struct stat sb;

	if (fuzz_scratch[0] != '\0')
		return fuzz_scratch;
	if (base == NULL || base[0] == '\0')
		base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) &&
		       access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NULL;
	if (base == NULL)
		base = getenv("TMPDIR");
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	snprintf(fuzz_scratch, sizeof(fuzz_scratch), "%s/popfetch-fuzz-XXXXXX",
		 base);
	if (mkdtemp(fuzz_scratch) == NULL) {
		perror(fuzz_scratch);
		abort();
	}
	atexit(fuzz_scratch_cleanup);
	return fuzz_scratch;
}

/* Replaces path with exactly len bytes of data, mode given. */
static inline void fuzz_write_file(const char *path, const void *data,
				   size_t len, mode_t mode)
{
	const char *p = data;
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		perror(path);
		abort();
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n <= 0) {
			perror(path);
			abort();
		}
		p += n;
		len -= (size_t)n;
	}
	/* open() applies the umask: set the mode we were asked for. */
	if (fchmod(fd, mode) < 0 || close(fd) < 0) {
		perror(path);
		abort();
	}
}

/* Reads a whole file into a new buffer; *len_r its size.  NULL if it
 * cannot be opened. */
static inline char *fuzz_read_file(const char *path, size_t *len_r)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			cap = cap == 0 ? 4096 : cap * 2;
			buf = realloc(buf, cap);
			FUZZ_CHECK(buf != NULL);
		}
		n = read(fd, buf + len, cap - len);
		FUZZ_CHECK(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*len_r = len;
	return buf;
}

#endif
