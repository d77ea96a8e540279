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
};

struct run_options {
	bool keep;		/* --keep: delete nothing in this run */
};

/* Runs one account.  Errors are reported by the caller from err. */
enum pf_status runner_run_account(const struct account *acct,
				  const struct run_options *opts,
				  struct run_result *res, struct error *err);

#endif
