/*
 * report.h - what a run tells besides its errors: the progress line on a
 * terminal, and the per-account results for --json, --syslog and
 * --log-file.
 *
 * Accounts run in child processes when -j allows (see main.c).  A child
 * sends its progress and its final result to the parent as fixed-size
 * records of at most PIPE_BUF bytes over one shared pipe, each with one
 * write(2), so that records of several children never interleave; the
 * parent draws one combined progress line and keeps the results.  In a
 * single process the same calls act directly.  Nothing here ever sees a
 * password.
 *
 * Call order in the parent: report_init() -> [report_set_accounts()] ->
 * [report_begin_parallel() -> per account: report_account_start(), fork,
 * in the child report_child() ...; while children run, poll
 * report_parent_fd() and call report_parent_read(); after reaping each
 * child report_account_lost()] -> report_finish().  In one process:
 * report_init() -> report_progress()... report_account_end() per account
 * -> report_finish().
 */
#ifndef POPFETCH_REPORT_H
#define POPFETCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
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
	/* --check / --dry-run: only the wording of the final and summary
	 * lines depends on them (new mail waiting; what would be done). */
	bool check;
	bool dry_run;
};

/* One account's outcome, as --json, --syslog and --log-file show it. */
struct report_result {
	char account[80];	/* truncated if longer */
	enum pf_status status;
	char error[ERROR_TEXT_MAX + ERROR_REPLY_MAX + 32];	/* "" if OK */
	struct run_result res;
	double seconds;
};

/*
 * Opens what the options ask for: the log file (O_APPEND, created 0600;
 * PF_CANTCREAT naming it if it cannot be), syslog (openlog "popfetch",
 * LOG_PID, LOG_MAIL), the JSON destination is only checked (its directory
 * must exist, else PF_CANTCREAT; written at report_finish()).  Decides
 * whether the progress line is drawn (stderr is a terminal, not quiet,
 * TERM is set and not "dumb") and tells log.c (log_set_progress_active())
 * and the colour choice (log_set_color(): --color=always, or auto and
 * stderr is a terminal, NO_COLOR is unset or empty and TERM is set and not
 * "dumb").  o is copied.  Call once, before any account runs.
 */
enum pf_status report_init(const struct report_options *o, struct error *err);

/* Optional: how many accounts the run has, for "[2 running, 5/20 done]"
 * (without it: "5 done"). */
void report_set_accounts(unsigned naccounts);

/*
 * Parallel runs.  report_begin_parallel(): in the parent, before forking
 * account processes, makes the pipe (on failure a warning, and the
 * children's results then reach neither the terminal nor --json).
 * report_child(): in each child right after fork(); routes
 * report_progress() and report_account_end() to the pipe; the child never
 * draws.  report_parent_fd(): what the parent polls for POLLIN (-1 without
 * the pipe).  report_parent_read(): reads and handles whatever is there
 * without blocking (partial records are kept for the next call), updates
 * the combined progress line and prints each ended account's final line.
 *
 * The parent must keep reading while children run: a child's final record
 * waits (up to 30 s, then is dropped) for room in the pipe, and progress
 * records are dropped when the pipe is full.
 */
void report_begin_parallel(void);
void report_child(void);
int report_parent_fd(void);
void report_parent_read(void);

/* Optional, in the parent when it starts an account (or in one process
 * before running it): the account shows as running at once, and --json
 * lists accounts in the order they started (else in the order their first
 * report arrived). */
void report_account_start(const char *account);

/*
 * In the parent after reaping an account's process: reads what is left in
 * the pipe; if no final record of the account came (the process crashed,
 * was killed, or could not be started), records it as failed with st (as
 * given; PF_OK means it ended well but its result was lost), with an error
 * line (log_error) unless st is PF_OK, a summary line and a final line.
 * Does nothing if the account's result is already known.
 */
void report_account_lost(const char *account, enum pf_status st);

/* The account's progress: messages and bytes delivered of those to fetch
 * in this run.  Called after the listing (done 0) and after each message.
 * Cheap: the line is redrawn (a child sends a record) at most 10 times a
 * second, always for the first call of an account and for done == total.
 * The rate and ETA are measured from the account's first call. */
void report_progress(const char *account, uint32_t done, uint32_t total,
		     uint64_t bytes, uint64_t total_bytes);

/*
 * An account finished.  Its progress line is replaced by a final line on
 * the terminal ("work: 120 messages, 5.2 MB in 3.1 s", or "work: failed
 * (temporary failure)": the error itself was printed by log_error()) when
 * progress is drawn.  Its summary line goes to the log file and syslog
 * (LOG_INFO) always, and to stdout at -v (log_summary()) unless the
 * account failed before its listing (status not PF_OK, nothing fetched,
 * total 0); for a failed account it starts with "failed (STATUS NAME): ".
 * The calling process writes it, so a child writes its own.  The result
 * is kept for --json (sent to the parent from a child).  The summary of a
 * run is the -v line "fetched N, skipped N, deleted N of N messages, N
 * bytes" (--check: "check: N new messages, N bytes, of N messages";
 * --dry-run: "dry run: would fetch N messages (N bytes), skip N, of N
 * messages"): runner.c must not print it as well.
 */
void report_account_end(const struct report_result *r);

/* After all accounts (in the parent): reads what is left in the pipe,
 * writes the JSON summary (atomically: temp file in the same directory,
 * fsync, rename, mode 0644; or stdout for "-") with the run's exit status,
 * clears the progress line, closes the pipe, the log file and syslog and
 * forgets everything (report_init() may be called again).
 * PF_CANTCREAT/PF_IOERR if the JSON cannot be written.
 *
 * The JSON: {"popfetch":"VERSION","started":"2026-11-23T03:04:05Z",
 * "seconds":1.25,"exit_status":75,"accounts":[{"account":"work",
 * "status":"ok"|"error","exit_status":0,"error":null|"text","fetched":N,
 * "skipped":N,"deleted":N,"total":N,"bytes":N,"new_messages":N,
 * "new_bytes":N,"seconds":1.02},...]} with the accounts in the order
 * they started (see report_account_start()); an account that started but
 * never ended is listed as failed (internal error). */
enum pf_status report_finish(enum pf_status run_status, struct error *err);

/* An ended account's result (in the parent: as its process reported it),
 * or NULL; valid until report_finish().  main.c uses it for --check's exit
 * status. */
const struct report_result *report_result_of(const char *account);

/*
 * For tests (and nothing else): the pieces above, pure or observable.
 */

/* The progress line of one account, e.g. "work: 120/1000 messages,
 * 5.2/48.1 MB, 1.1 MB/s, ETA 0:45" (rate and ETA once elapsed_ms >= 500
 * and bytes > 0; no ETA when done == total).  Sizes in SI units (1 MB =
 * 1,000,000 bytes).  Returns the length it needed, as snprintf(). */
size_t report_format_progress(char *buf, size_t size, const char *account,
			      uint32_t done, uint32_t total, uint64_t bytes,
			      uint64_t total_bytes, int64_t elapsed_ms);

/* The final line of an account as the terminal shows it (no newline). */
size_t report_format_final(char *buf, size_t size,
			   const struct report_result *r);

/* The parent's combined line for at most width columns (ASCII only, cut
 * at width - 1 so that the terminal never wraps): "[3 running, 5/20 done]
 * work 120/1000 1.1 MB/s | home 5/20 | lists". */
size_t report_format_running(char *buf, size_t size, unsigned width);

/* JSON string contents (no quotes): '"', '\\' and control characters
 * escaped, invalid UTF-8 bytes replaced by U+FFFD.  Returns the length it
 * needed, as snprintf(). */
size_t report_json_escape(char *dst, size_t size, const char *src);

/* The write end of the pipe (-1 without one), to feed report_parent_read()
 * hand-made records; a record is report_record_size() bytes. */
int report_record_fd(void);
size_t report_record_size(void);
void report_encode_progress(void *rec, const char *account, uint32_t done,
			    uint32_t total, uint64_t bytes,
			    uint64_t total_bytes, int64_t elapsed_ms);
void report_encode_end(void *rec, const struct report_result *r);

/* Replaces the monotonic millisecond clock (NULL: util_now_ms()). */
void report_set_clock(int64_t (*now_ms)(void));

#endif
