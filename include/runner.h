/*
 * runner.h - runs one account from lock to QUIT.
 *
 * One function per phase: lock -> connect -> greeting -> CAPA -> [STLS ->
 * CAPA] -> auth -> listing -> plan -> fetch loop -> state save -> QUIT.
 * A failure ends that account only.
 */
#ifndef POPFETCH_RUNNER_H
#define POPFETCH_RUNNER_H

#include <stdint.h>

#include "config.h"
#include "error.h"

struct run_result {
	unsigned fetched;	/* messages delivered this run */
	unsigned skipped;	/* already delivered earlier */
	unsigned total;		/* messages on the server */
	uint64_t bytes;		/* message bytes delivered */
};

/* Runs one account.  Errors are reported by the caller from err. */
enum pf_status runner_run_account(const struct account *acct,
				  struct run_result *res, struct error *err);

#endif
