/*
 * util.h - small helpers with no knowledge of POP3 or mail.
 */
#ifndef POPFETCH_UTIL_H
#define POPFETCH_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Allocation that aborts the process on out-of-memory: memory exhaustion
 * is not a condition popfetch can recover from safely mid-session. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Allocating printf. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Copies src into dst of size bytes, always NUL-terminating; returns
 * strlen(src) (truncation when >= size), like BSD strlcpy. */
size_t util_strlcpy(char *dst, const char *src, size_t size);

/* Copies len bytes of text into dst (size bytes, NUL-terminated),
 * replacing control characters and bytes >= 0x7f by '?', trailing CR/LF
 * dropped.  Every server string shown to a person goes through this. */
void util_sanitize(char *dst, size_t size, const char *text, size_t len);

/* Parses a whole decimal string into *value_r within [min, max].
 * Returns 0, or -1 on junk, sign, overflow or out of range. */
int util_parse_ull(const char *s, unsigned long long min,
		   unsigned long long max, unsigned long long *value_r);

/* Expands a leading "~/" (or "~" alone) with $HOME.  Returns a new
 * string, or NULL when HOME is needed but unset. */
char *util_expand_home(const char *path);

/* Writes all len bytes to fd, retrying on EINTR and short writes.
 * Returns 0 or -1 with errno set. */
int util_write_all(int fd, const void *buf, size_t len);

/* fsync()s the directory at path (or dirfd if path is NULL).  0 or -1. */
int util_fsync_dir(int dirfd, const char *path);

/* Creates path and its missing parents with mode.  0 or -1 (errno). */
int util_mkdir_p(const char *path, mode_t mode);

/* Monotonic milliseconds, for timeouts. */
int64_t util_now_ms(void);

/* The host name for Maildir names and Received: lines ("localhost" if
 * unknown).  Static storage. */
const char *util_hostname(void);

/* Splits a command line into words the way a user expects without a
 * shell: blanks separate words, '...' and "..." quote (no escapes inside
 * '...'; inside "..." and outside quotes a backslash escapes the next
 * character).  Returns a NULL-terminated array (free with
 * util_free_words()), or NULL with *why_r set for an unterminated quote or
 * an empty command. */
char **util_split_words(const char *cmd, const char **why_r);
void util_free_words(char **words);

/* Overwrites len bytes at p in a way the compiler cannot elide. */
void util_wipe(void *p, size_t len);

#endif
