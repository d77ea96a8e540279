/*
 * plan.h - pure decisions: given the account's policy and what we know of
 * one message, what to do with it.  No I/O; table-tested.
 */
#ifndef POPFETCH_PLAN_H
#define POPFETCH_PLAN_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

struct plan_policy {
	enum delete_mode del;	/* DELETE_NO when --keep is given */
	unsigned keep_days;	/* 0: off */
	unsigned long long max_size;	/* 0: no limit */
	time_t now;
};

enum plan_action {
	PLAN_FETCH,		/* new: retrieve and deliver */
	PLAN_SKIP_BIG,		/* new, larger than max_size: leave it */
	PLAN_KEEP,		/* already delivered: leave it */
	PLAN_DELETE		/* already delivered: delete it now */
};

/* Fills a policy from an account; keep forces DELETE_NO and no keep_days
 * (--keep: nothing is deleted in this run). */
void plan_policy_init(struct plan_policy *p, const struct account *a,
		      bool keep, time_t now);

/* A message the state does not know, of LIST size `size`. */
enum plan_action plan_new(const struct plan_policy *p, uint64_t size);

/* A message the state knows as delivered, first seen at first_seen.
 * With delete = per-message or batch it was meant to be deleted when it
 * was fetched: still being on the server means that session ended before
 * QUIT, so it is deleted now.  With delete = no it is deleted once it is
 * older than keep_days. */
enum plan_action plan_known(const struct plan_policy *p, time_t first_seen);

#endif
