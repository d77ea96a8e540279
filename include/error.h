/*
 * error.h - the one error type of popfetch and its one exit-code table.
 *
 * Every fallible function returns an enum pf_status and takes a
 * struct error * as its last argument.  On failure it fills in our own words
 * (text) and, separately, the sanitized server reply that caused it, if any.
 * error_exit_code() is the only place that maps a status to sysexits.h.
 */
#ifndef POPFETCH_ERROR_H
#define POPFETCH_ERROR_H

#include <stddef.h>

enum pf_status {
	PF_OK = 0,
	PF_USAGE,	/* bad command line */
	PF_CONFIG,	/* bad configuration file */
	PF_NOHOST,	/* host name does not resolve */
	PF_UNAVAILABLE,	/* connection refused, server refuses permanently */
	PF_TEMPFAIL,	/* timeout, dropped connection, lock held, try later */
	PF_PROTOCOL,	/* the server broke the protocol */
	PF_NOPERM,	/* authentication refused, TLS verification failed */
	PF_CANTCREAT,	/* cannot create a local file or directory */
	PF_IOERR,	/* local read/write/fsync failed (disk full, ...) */
	PF_SOFTWARE,	/* internal error (out of memory, a bug) */
	PF_STATUS_COUNT
};

#define ERROR_TEXT_MAX 512
#define ERROR_REPLY_MAX 256

struct error {
	enum pf_status status;
	char text[ERROR_TEXT_MAX];   /* our words: what went wrong */
	char reply[ERROR_REPLY_MAX]; /* sanitized server reply, or "" */
};

/* Clears err to PF_OK with empty text and reply. */
void error_clear(struct error *err);

/* Sets status and formats text; clears reply.  Returns status so that
 * callers can write `return error_set(err, PF_IOERR, "...")`. */
enum pf_status error_set(struct error *err, enum pf_status status,
			 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like error_set, with ": strerror(errnum)" appended to the text. */
enum pf_status error_set_errno(struct error *err, enum pf_status status,
			       int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Like error_set, but keeps err->reply: for giving a server's refusal
 * our own words and status while still showing what the server said. */
enum pf_status error_reword(struct error *err, enum pf_status status,
			    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Stores (len bytes of) a server reply in err->reply, sanitized with
 * util_sanitize(); the status and text are left alone. */
void error_set_reply(struct error *err, const char *reply, size_t len);

/* Writes "text (server said: reply)" or just "text" into buf. */
void error_format(const struct error *err, char *buf, size_t size);

/* The sysexits.h exit code for a status (0 for PF_OK). */
int error_exit_code(enum pf_status status);

/* Combines the outcome of several accounts: PF_OK if all are PF_OK, the
 * common status if every failed account failed the same way, else
 * PF_TEMPFAIL.  Fold with: acc = error_combine(acc, next, &nfailed). */
enum pf_status error_combine(enum pf_status acc, enum pf_status next,
			     unsigned *nfailed);

/* A short name for a status ("temporary failure", ...). */
const char *error_status_name(enum pf_status status);

#endif
