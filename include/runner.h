/*
 * runner.h - runs one account from lock to QUIT.
 *
 * One function per phase: lock -> recover -> connect -> greeting -> CAPA ->
 * [STLS -> CAPA] -> auth -> listing + plan -> pending deletes -> fetch loop
 * (DELE after each message in per-message order) -> [batch DELE] -> state
 * save -> QUIT.  A DELE is sent only for a message whose delivery is
 * durable and recorded.  A failure ends that account only.
 */
#ifndef POPFETCH_RUNNER_H
#define POPFETCH_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

struct run_result {
	unsigned fetched;	/* messages delivered this run */
	unsigned skipped;	/* already delivered earlier, or too big */
	unsigned deleted;	/* DELE accepted by the server */
	unsigned total;		/* messages on the server */
	uint64_t bytes;		/* message bytes delivered */
	unsigned new_msgs;	/* new messages waiting (--check) or to fetch */
	uint64_t new_bytes;	/* their size by LIST */
};

struct run_options {
	bool keep;		/* --keep: delete nothing in this run */
	/* --check: log in, count the new messages and bytes, change
	 * nothing (no state written, no delivery, no RETR or DELE). */
	bool check;
	/* --dry-run: as a run, but print what would be done per message
	 * (fetch, skip (seen), skip (too big), delete) and change
	 * nothing. */
	bool dry_run;
};

/* Runs one account.  Errors are reported by the caller from err. */
enum pf_status runner_run_account(const struct account *acct,
				  const struct run_options *opts,
				  struct run_result *res, struct error *err);

/*
 * --serverinfo: connects as the account says (TLS, STLS), completes the
 * TLS handshake whatever the certificate, prints to stdout the greeting,
 * the capabilities, the TLS version and cipher, the certificate's
 * subject, issuer, validity, names and verification result, and both pins
 * as config lines (tls_fingerprint = ..., tls_pubkey = ...), then QUITs
 * without logging in (nothing but CAPA, STLS and QUIT is sent).
 */
enum pf_status runner_serverinfo(const struct account *acct,
				 struct error *err);

#endif
