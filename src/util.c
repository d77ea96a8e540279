/* util.c - small helpers with no knowledge of POP3 or mail. */
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void out_of_memory(size_t size)
{
	static const char msg[] = "popfetch: out of memory\n";

	(void)size;
	(void)util_write_all(STDERR_FILENO, msg, sizeof(msg) - 1);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size != 0 ? size : 1);

	if (p == NULL)
		out_of_memory(size);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n != 0 ? n : 1, size != 0 ? size : 1);

	if (p == NULL)
		out_of_memory(size);
	return p;
}

void *xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size != 0 ? size : 1);

	if (q == NULL)
		out_of_memory(size);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		out_of_memory(0);
	p = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

size_t util_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

void util_sanitize(char *dst, size_t size, const char *text, size_t len)
{
	size_t i, j = 0;

	if (size == 0)
		return;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	for (i = 0; i < len && j + 1 < size; i++) {
		unsigned char c = (unsigned char)text[i];

		dst[j++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	dst[j] = '\0';
}

int util_parse_ull(const char *s, unsigned long long min,
		   unsigned long long max, unsigned long long *value_r)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*value_r = v;
	return 0;
}

char *util_expand_home(const char *path)
{
	const char *home;

	if (path[0] != '~' || (path[1] != '\0' && path[1] != '/'))
		return xstrdup(path);
	home = getenv("HOME");
	if (home == NULL || home[0] == '\0')
		return NULL;
	return xasprintf("%s%s", home, path + 1);
}

int util_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int util_fsync_dir(int dirfd, const char *path)
{
	int fd = dirfd, ret, saved;

	if (path != NULL) {
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -1;
	}
	ret = fsync(fd);
	saved = errno;
	if (path != NULL)
		close(fd);
	errno = saved;
	return ret;
}

int util_mkdir_p(const char *path, mode_t mode)
{
	char *copy = xstrdup(path);
	char *p;
	int ret = 0;

	for (p = copy + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST) {
			ret = -1;
			break;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	if (ret == 0) {
		struct stat st;

		if (stat(path, &st) < 0)
			ret = -1;
		else if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			ret = -1;
		}
	}
	free(copy);
	return ret;
}

int64_t util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *util_hostname(void)
{
	static char name[256];

	if (name[0] == '\0') {
		if (gethostname(name, sizeof(name) - 1) < 0 || name[0] == '\0')
			util_strlcpy(name, "localhost", sizeof(name));
		name[sizeof(name) - 1] = '\0';
	}
	return name;
}

void util_wipe(void *p, size_t len)
{
	if (p != NULL)
		explicit_bzero(p, len);
}

char **util_split_words(const char *cmd, const char **why_r)
{
	size_t n = 0, cap = 8, len = strlen(cmd);
	char **words = xcalloc(cap, sizeof(*words));
	char *word = xmalloc(len + 1);
	const char *p = cmd;

	for (;;) {
		size_t wl = 0;
		bool any = false;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		while (*p != '\0' && *p != ' ' && *p != '\t') {
			char q = *p;

			any = true;
			if (q == '\'' || q == '"') {
				for (p++; *p != '\0' && *p != q; p++) {
					if (q == '"' && *p == '\\' && p[1] != '\0')
						p++;
					word[wl++] = *p;
				}
				if (*p != q) {
					*why_r = "unterminated quote";
					goto fail;
				}
				p++;
			} else {
				if (q == '\\' && p[1] != '\0')
					p++;
				word[wl++] = *p++;
			}
		}
		if (any) {
			word[wl] = '\0';
			if (n + 2 > cap) {
				cap *= 2;
				words = xrealloc(words, cap * sizeof(*words));
			}
			words[n++] = xstrdup(word);
			words[n] = NULL;
		}
	}
	free(word);
	if (n == 0) {
		*why_r = "empty command";
		util_free_words(words);
		return NULL;
	}
	return words;
fail:
	free(word);
	util_free_words(words);
	return NULL;
}

void util_free_words(char **words)
{
	size_t i;

	if (words == NULL)
		return;
	for (i = 0; words[i] != NULL; i++)
		free(words[i]);
	free(words);
}
