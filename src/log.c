/* log.c - one write(2) per line, so parallel accounts never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "util.h"

static enum log_level current_level = LOG_QUIET;

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

static void emit(int fd, const char *prefix, const char *account,
		 const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t len = 0;
	int n;

	n = snprintf(line, sizeof(line), "%s%s%s", prefix,
		     account != NULL ? account : "",
		     account != NULL ? ": " : "");
	if (n > 0)
		len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n > 0)
		len += (size_t)n < sizeof(line) - len ? (size_t)n
						       : sizeof(line) - len - 1;
	if (len >= sizeof(line) - 1)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	(void)util_write_all(fd, line, len);
}

void log_error(const char *account, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(STDERR_FILENO, "popfetch: ", account, fmt, ap);
	va_end(ap);
}

void log_warn(const char *account, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(STDERR_FILENO, "popfetch: warning: ", account, fmt, ap);
	va_end(ap);
}

void log_verbose(const char *account, const char *fmt, ...)
{
	va_list ap;

	if (current_level < LOG_VERBOSE)
		return;
	va_start(ap, fmt);
	emit(STDOUT_FILENO, "", account, fmt, ap);
	va_end(ap);
}

void log_trace(const char *account, char dir, const char *line, size_t len)
{
	char clean[LOG_LINE_MAX - 64];
	char out[LOG_LINE_MAX];
	int n;

	if (current_level < LOG_TRACE)
		return;
	util_sanitize(clean, sizeof(clean), line, len);
	n = snprintf(out, sizeof(out), "%s: POP%c %s\n", account, dir, clean);
	if (n > 0)
		(void)util_write_all(STDERR_FILENO, out,
				     (size_t)n < sizeof(out) ? (size_t)n
							     : sizeof(out) - 1);
}
