/*
 * testutil.h - file-system helpers shared by the unit tests: a private
 * temporary directory, removed again afterwards, and small file readers
 * and writers.  Static inline so that each test uses what it needs.
 */
#ifndef POPFETCH_TESTUTIL_H
#define POPFETCH_TESTUTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Creates a fresh directory under $TMPDIR (or /tmp); returns a new string. */
static inline char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char *path;
	size_t n;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	n = strlen(base) + sizeof("/popfetch-test-XXXXXX");
	path = malloc(n);
	if (path == NULL)
		abort();
	snprintf(path, n, "%s/popfetch-test-XXXXXX", base);
	if (mkdtemp(path) == NULL) {
		perror("mkdtemp");
		abort();
	}
	return path;
}

static inline int tu_rm_one(const char *path, const struct stat *st,
			    int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* rm -rf path (path may be NULL or missing). */
static inline void tu_rm_rf(const char *path)
{
	if (path != NULL)
		nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new string "a/b". */
static inline char *tu_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	if (p == NULL)
		abort();
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

/* Writes len bytes to path with exactly this mode; 0 or -1. */
static inline int tu_write_file(const char *path, const char *data,
				size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	int ret = 0;

	if (fd < 0)
		return -1;
	if (fchmod(fd, mode) < 0 || write(fd, data, len) != (ssize_t)len)
		ret = -1;
	if (close(fd) < 0)
		ret = -1;
	return ret;
}

/* Reads a whole file into a new buffer (NUL-terminated too); NULL on
 * error.  *len_r gets the length. */
static inline char *tu_read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap + 1);
			if (buf == NULL)
				abort();
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	*len_r = len;
	return buf;
}

/* Number of entries in dir other than "." and ".."; if name_r is not
 * NULL and there is at least one, the last name seen (a new string). */
static inline int tu_count_entries(const char *dir, char **name_r)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (name_r != NULL)
		*name_r = NULL;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n++;
		if (name_r != NULL) {
			free(*name_r);
			*name_r = strdup(e->d_name);
		}
	}
	closedir(d);
	return n;
}

static inline int tu_is_dir_with_mode(const char *path, mode_t mode)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	       (st.st_mode & 07777) == mode;
}

#endif
