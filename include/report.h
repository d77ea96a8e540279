/*
 * report.h - what a run tells besides its errors: the progress line on a
 * terminal, and the per-account results for --json, --syslog and
 * --log-file.
 *
 * Accounts run in child processes when -j allows (see main.c).  A child
 * sends its progress and its final result to the parent as records of at
 * most PIPE_BUF bytes over one shared pipe, so that records of several
 * children never interleave; the parent draws the progress line and keeps
 * the results.  In a single process the same calls act directly.  Nothing
 * here ever sees a password.
 */
#ifndef POPFETCH_REPORT_H
#define POPFETCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "runner.h"

enum report_color { REPORT_COLOR_AUTO = 0, REPORT_COLOR_ALWAYS,
		    REPORT_COLOR_NEVER };

struct report_options {
	bool quiet;		/* -q: no progress line */
	const char *json_path;	/* --json: NULL, a path, or "-" (stdout) */
	bool syslog;		/* --syslog: facility mail */
	const char *log_file;	/* --log-file: appended, or NULL */
	enum report_color color;	/* --color (for --trace and errors) */
};

/* One account's outcome, as --json, --syslog and --log-file show it. */
struct report_result {
	char account[80];
	enum pf_status status;
	char error[ERROR_TEXT_MAX + ERROR_REPLY_MAX + 32];	/* "" if OK */
	struct run_result res;
	double seconds;
};

/*
 * Opens what the options ask for: the log file (O_APPEND, created 0600;
 * PF_CANTCREAT naming it if it cannot be), syslog (openlog "popfetch",
 * LOG_PID, LOG_MAIL), the JSON destination is only checked (its directory
 * must exist; written at report_finish()).  Decides whether the progress
 * line is drawn (stderr is a terminal, not quiet, TERM is not "dumb") and
 * tells log.c (log_set_progress_active()) and the colour choice
 * (log_set_color()).  Call once, before any account runs.
 */
enum pf_status report_init(const struct report_options *o, struct error *err);

/* Called by the parent before forking account processes: makes the pipe.
 * report_child() in each child after fork() routes the calls below to the
 * pipe.  report_parent_fd() is what the parent polls (-1 without the
 * pipe); report_parent_read() reads and handles what is there without
 * blocking, and redraws the progress line. */
void report_begin_parallel(void);
void report_child(void);
int report_parent_fd(void);
void report_parent_read(void);

/* The account's progress: messages and bytes delivered of those to fetch
 * in this run.  Called after the listing (done 0) and after each message.
 * Cheap: the line is redrawn at most 10 times a second. */
void report_progress(const char *account, uint32_t done, uint32_t total,
		     uint64_t bytes, uint64_t total_bytes);

/*
 * An account finished.  Its progress line is replaced by a final line on
 * the terminal ("work: 120 messages, 5.2 MB in 3.1 s" or the failure) when
 * progress is drawn; a summary line goes to syslog (LOG_INFO, or LOG_ERR
 * with the error) and to the log file; the result is kept for --json.
 */
void report_account_end(const struct report_result *r);

/* After all accounts: writes the JSON summary (atomically: temp file,
 * fsync, rename; or stdout) with the run's exit status, clears the
 * progress line, closes the log file and syslog.  PF_CANTCREAT/PF_IOERR
 * if the JSON cannot be written. */
enum pf_status report_finish(enum pf_status run_status, struct error *err);

#endif
