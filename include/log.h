/*
 * log.h - what popfetch tells a person: errors, -v lines, --trace.
 *
 * Every line is written with one write(2) so that lines of accounts running
 * side by side never interleave mid-line.  Errors and trace go to stderr,
 * -v information to stdout.  Nothing here ever prints a password: callers
 * pass already-masked text (see pop3_cmd_secret()).
 */
#ifndef POPFETCH_LOG_H
#define POPFETCH_LOG_H

#include <stddef.h>

enum log_level {
	LOG_QUIET = 0,	/* errors only (default) */
	LOG_VERBOSE,	/* -v: a line per account and per message */
	LOG_TRACE	/* --trace: the whole dialogue as well */
};

#define LOG_LINE_MAX 2048

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* "popfetch: ACCOUNT: message" on stderr (ACCOUNT may be NULL). */
void log_error(const char *account, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Warning: always shown, same shape as an error. */
void log_warn(const char *account, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "ACCOUNT: message" on stdout, only at LOG_VERBOSE or above. */
void log_verbose(const char *account, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Where else lines go (report.c sets these up):
 *  - a log file (--log-file): errors, warnings and log_summary() lines
 *    always, -v lines at LOG_VERBOSE, never trace lines; each line
 *    "2026-11-23T03:04:05Z popfetch[PID]: ACCOUNT: text" (warnings:
 *    "popfetch[PID]: warning: ACCOUNT: text"; UTC) in one write(2) on an
 *    O_APPEND fd, so runs that overlap never tear each other's lines;
 *  - syslog (--syslog, openlog done by the caller): errors (LOG_ERR),
 *    warnings (LOG_WARNING) and log_summary() lines (LOG_INFO), always
 *    with facility LOG_MAIL, message "ACCOUNT: text".
 * Neither ever gets colour or terminal escapes.
 */
void log_set_file(int fd);		/* -1: none */
void log_set_syslog(int enabled);

/* While a progress line is drawn on stderr, every line written to the
 * terminal first clears it ("\r\033[K") so that the two never mix: lines
 * on stderr, and -v lines on stdout when stdout is the same terminal
 * (decided when this is called). */
void log_set_progress_active(int active);

/* Colour on the terminal: trace lines ("POP>" cyan, "POP<" green), errors
 * (red) and warnings (yellow).  Only ever on stderr. */
void log_set_color(int enabled);

/* An account's one-line summary of a run: to stdout at LOG_VERBOSE, and
 * always to the log file and syslog. */
void log_summary(const char *account, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The same to the log file and syslog only: for an account that failed
 * before its listing, whose -v line would say nothing that its error line
 * did not. */
void log_summary_record(const char *account, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* One line of the dialogue on stderr at LOG_TRACE: "ACCOUNT: POP> line"
 * (dir is '>' for client, '<' for server).  The line is sanitized here. */
void log_trace(const char *account, char dir, const char *line, size_t len);

#endif
