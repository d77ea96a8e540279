/*
 * log.c - one write(2) per line and destination, so that parallel accounts
 * never interleave mid-line, on the terminal, in the log file or in syslog.
 */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* Erases the progress line (report.c) before a line takes its place. */
#define CLEAR_LINE "\r\033[K"
#define COLOR_ERROR "\033[31m"		/* red */
#define COLOR_WARN "\033[33m"		/* yellow */
#define COLOR_CLIENT "\033[36m"		/* cyan: what popfetch sends */
#define COLOR_SERVER "\033[32m"		/* green: what the server says */
#define COLOR_RESET "\033[0m"

/* Room for the decorations around a body of up to LOG_LINE_MAX bytes:
 * clear, colour, "popfetch: warning: ", reset, "\n". */
#define LOG_DECOR_MAX 64

static enum log_level current_level = LOG_QUIET;
static int file_fd = -1;
static int syslog_enabled;
static int progress_active;
/* stdout is the terminal the progress line is drawn on (stderr's). */
static int stdout_on_progress_tty;
static int color_enabled;

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

void log_set_file(int fd)
{
	file_fd = fd;
}

void log_set_syslog(int enabled)
{
	syslog_enabled = enabled;
}

/* Same terminal: the same character device, as when a shell runs popfetch
 * without redirections.  A pipe or file on stdout never gets the escape
 * sequences. */
static int same_terminal(int a, int b)
{
	struct stat sa, sb;

	return isatty(a) && isatty(b) && fstat(a, &sa) == 0 &&
	       fstat(b, &sb) == 0 && sa.st_rdev == sb.st_rdev;
}

void log_set_progress_active(int active)
{
	progress_active = active;
	stdout_on_progress_tty = active &&
				 same_terminal(STDOUT_FILENO, STDERR_FILENO);
}

void log_set_color(int enabled)
{
	color_enabled = enabled;
}

/* "ACCOUNT: text" (or "text"), truncated to fit; returns the length. */
static size_t format_body(char *buf, size_t size, const char *account,
			  const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static size_t format_body(char *buf, size_t size, const char *account,
			  const char *fmt, va_list ap)
{
	size_t len = 0;
	int n;

	buf[0] = '\0';
	if (account != NULL) {
		n = snprintf(buf, size, "%s: ", account);
		if (n > 0)
			len = (size_t)n < size ? (size_t)n : size - 1;
	}
	n = vsnprintf(buf + len, size - len, fmt, ap);
	if (n > 0)
		len += (size_t)n < size - len ? (size_t)n : size - len - 1;
	return len;
}

/* Writes the pieces (NULL-terminated list) and a newline as one line with
 * one write(2). */
static void write_line(int fd, const char *first, ...)
{
	char out[LOG_LINE_MAX + LOG_DECOR_MAX + 64];
	size_t len = 0, n;
	const char *piece;
	va_list ap;

	va_start(ap, first);
	for (piece = first; piece != NULL; piece = va_arg(ap, const char *)) {
		n = strlen(piece);
		if (n > sizeof(out) - 1 - len)
			n = sizeof(out) - 1 - len;
		memcpy(out + len, piece, n);
		len += n;
	}
	va_end(ap);
	out[len++] = '\n';
	(void)util_write_all(fd, out, len);
}

/* The log file line: "2026-11-23T03:04:05Z popfetch[PID]: [warning: ]body".
 * The PID tells the processes of one run (-j) and of overlapping runs
 * apart. */
static void write_file_line(const char *kind, const char *body)
{
	char stamp[32], head[64];
	struct tm tm;
	time_t now;

	if (file_fd < 0)
		return;
	now = time(NULL);
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		util_strlcpy(stamp, "0000-00-00T00:00:00Z", sizeof(stamp));
	snprintf(head, sizeof(head), "%s popfetch[%ld]: ", stamp,
		 (long)getpid());
	write_line(file_fd, head, kind, body, (const char *)NULL);
}

/* An error or a warning: stderr (cleared line, colour), log file,
 * syslog. */
static void emit_problem(int priority, const char *kind, const char *color,
			 const char *account, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

static void emit_problem(int priority, const char *kind, const char *color,
			 const char *account, const char *fmt, va_list ap)
{
	char body[LOG_LINE_MAX];

	format_body(body, sizeof(body), account, fmt, ap);
	write_line(STDERR_FILENO, progress_active ? CLEAR_LINE : "",
		   color_enabled ? color : "", "popfetch: ", kind, body,
		   color_enabled ? COLOR_RESET : "", (const char *)NULL);
	write_file_line(kind, body);
	if (syslog_enabled)
		syslog(LOG_MAIL | priority, "%s", body);
}

void log_error(const char *account, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit_problem(LOG_ERR, "", COLOR_ERROR, account, fmt, ap);
	va_end(ap);
}

void log_warn(const char *account, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit_problem(LOG_WARNING, "warning: ", COLOR_WARN, account, fmt, ap);
	va_end(ap);
}

/* A -v line on stdout; never coloured (stdout is often a pipe or a file
 * even on a terminal). */
static void write_stdout(const char *body)
{
	write_line(STDOUT_FILENO, stdout_on_progress_tty ? CLEAR_LINE : "",
		   body, (const char *)NULL);
}

void log_verbose(const char *account, const char *fmt, ...)
{
	char body[LOG_LINE_MAX];
	va_list ap;

	if (current_level < LOG_VERBOSE)
		return;
	va_start(ap, fmt);
	format_body(body, sizeof(body), account, fmt, ap);
	va_end(ap);
	write_stdout(body);
	write_file_line("", body);
}

static void record_summary(const char *body)
{
	write_file_line("", body);
	if (syslog_enabled)
		syslog(LOG_MAIL | LOG_INFO, "%s", body);
}

static void vsummary(bool to_stdout, const char *account, const char *fmt,
		     va_list ap) __attribute__((format(printf, 3, 0)));

static void vsummary(bool to_stdout, const char *account, const char *fmt,
		     va_list ap)
{
	char body[LOG_LINE_MAX];

	format_body(body, sizeof(body), account, fmt, ap);
	if (to_stdout && current_level >= LOG_VERBOSE)
		write_stdout(body);
	record_summary(body);
}

void log_summary(const char *account, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsummary(true, account, fmt, ap);
	va_end(ap);
}

void log_summary_record(const char *account, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsummary(false, account, fmt, ap);
	va_end(ap);
}

void log_trace(const char *account, char dir, const char *line, size_t len)
{
	char clean[LOG_LINE_MAX - 64];
	char head[128];
	char pop[8];

	if (current_level < LOG_TRACE)
		return;
	util_sanitize(clean, sizeof(clean), line, len);
	snprintf(head, sizeof(head), "%s%s", account != NULL ? account : "",
		 account != NULL ? ": " : "");
	snprintf(pop, sizeof(pop), "POP%c ", dir);
	write_line(STDERR_FILENO, progress_active ? CLEAR_LINE : "", head,
		   color_enabled ? (dir == '>' ? COLOR_CLIENT : COLOR_SERVER)
				 : "",
		   pop, clean, color_enabled ? COLOR_RESET : "",
		   (const char *)NULL);
}
