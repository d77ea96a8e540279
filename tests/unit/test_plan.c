/*
 * test_plan.c - the pure per-message decisions: the policy taken from an
 * account (--keep overriding it), new messages against max_size, known
 * messages against every delete mode and the keep_days boundary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "plan.h"

#define NOW ((time_t)1700000000)
#define DAY ((time_t)86400)
#define N(t) (sizeof(t) / sizeof((t)[0]))

static const char *action_name(enum plan_action a)
{
	switch (a) {
	case PLAN_FETCH: return "FETCH";
	case PLAN_SKIP_BIG: return "SKIP_BIG";
	case PLAN_KEEP: return "KEEP";
	case PLAN_DELETE: return "DELETE";
	}
	return "?";
}

static struct plan_policy policy(enum delete_mode del, unsigned keep_days,
				 unsigned long long max_size, bool keep)
{
	struct account a;
	struct plan_policy p;

	memset(&a, 0, sizeof(a));
	a.del = del;
	a.keep_days = keep_days;
	a.max_size = max_size;
	memset(&p, 0xa5, sizeof(p));	/* every field must be set */
	plan_policy_init(&p, &a, keep, NOW);
	return p;
}

/* ---- plan_policy_init ---- */

static void test_policy_init(void **state)
{
	static const struct {
		enum delete_mode del;
		unsigned keep_days;
		unsigned long long max_size;
		bool keep;
		/* what the policy must say */
		enum delete_mode want_del;
		unsigned want_days;
	} t[] = {
		{ DELETE_NO, 0, 0, false, DELETE_NO, 0 },
		{ DELETE_NO, 7, 0, false, DELETE_NO, 7 },
		{ DELETE_PER_MESSAGE, 0, 0, false, DELETE_PER_MESSAGE, 0 },
		{ DELETE_BATCH, 0, 1024, false, DELETE_BATCH, 0 },
		/* --keep: nothing is deleted in this run */
		{ DELETE_NO, 0, 0, true, DELETE_NO, 0 },
		{ DELETE_NO, 7, 0, true, DELETE_NO, 0 },
		{ DELETE_NO, 36500, 5, true, DELETE_NO, 0 },
		{ DELETE_PER_MESSAGE, 0, 0, true, DELETE_NO, 0 },
		{ DELETE_BATCH, 0, 1024, true, DELETE_NO, 0 },
	};
	unsigned nfail = 0;
	size_t i;

	(void)state;
	for (i = 0; i < N(t); i++) {
		struct plan_policy p = policy(t[i].del, t[i].keep_days,
					      t[i].max_size, t[i].keep);

		/* --keep leaves max_size alone: a big message is still
		 * skipped, not fetched */
		if (p.del != t[i].want_del || p.keep_days != t[i].want_days ||
		    p.max_size != t[i].max_size || p.now != NOW) {
			print_error("# case %zu: del %d days %u max %llu now "
				    "%lld\n", i, p.del, p.keep_days,
				    p.max_size, (long long)p.now);
			nfail++;
		}
	}
	assert_int_equal(nfail, 0);
}

/* ---- plan_new ---- */

static void test_new(void **state)
{
	static const struct {
		unsigned long long max_size;
		uint64_t size;
		enum plan_action want;
	} t[] = {
		/* no limit */
		{ 0, 0, PLAN_FETCH },
		{ 0, 1, PLAN_FETCH },
		{ 0, 10485760, PLAN_FETCH },
		{ 0, UINT64_MAX, PLAN_FETCH },
		/* a limit: equal is fetched, one byte over is skipped */
		{ 1000, 0, PLAN_FETCH },
		{ 1000, 999, PLAN_FETCH },
		{ 1000, 1000, PLAN_FETCH },
		{ 1000, 1001, PLAN_SKIP_BIG },
		{ 1000, UINT64_MAX, PLAN_SKIP_BIG },
		{ 1, 0, PLAN_FETCH },
		{ 1, 1, PLAN_FETCH },
		{ 1, 2, PLAN_SKIP_BIG },
		{ 10485760, 10485760, PLAN_FETCH },
		{ 10485760, 10485761, PLAN_SKIP_BIG },
		{ UINT64_MAX, UINT64_MAX, PLAN_FETCH },
		{ UINT64_MAX - 1, UINT64_MAX, PLAN_SKIP_BIG },
	};
	static const enum delete_mode dels[] = {
		DELETE_NO, DELETE_PER_MESSAGE, DELETE_BATCH
	};
	unsigned nfail = 0;
	size_t i, j, k;

	(void)state;
	/* the delete mode, keep_days and --keep have no say in it */
	for (i = 0; i < N(t); i++)
		for (j = 0; j < N(dels); j++)
			for (k = 0; k < 4; k++) {
				struct plan_policy p = policy(
					dels[j], dels[j] == DELETE_NO &&
					(k & 1) ? 30 : 0, t[i].max_size,
					(k & 2) != 0);
				enum plan_action got = plan_new(&p, t[i].size);

				if (got != t[i].want) {
					print_error("# max %llu size %llu del %d "
						    "variant %zu: %s, want %s\n",
						    t[i].max_size,
						    (unsigned long long)t[i].size,
						    dels[j], k, action_name(got),
						    action_name(t[i].want));
					nfail++;
				}
			}
	assert_int_equal(nfail, 0);
}

/* ---- plan_known ---- */

struct known_case {
	enum delete_mode del;
	unsigned keep_days;
	bool keep;		/* --keep */
	time_t first_seen;
	enum plan_action want;
};

static const struct known_case known_cases[] = {
	/* delete = no, no keep_days: kept however old */
	{ DELETE_NO, 0, false, NOW, PLAN_KEEP },
	{ DELETE_NO, 0, false, NOW - 1, PLAN_KEEP },
	{ DELETE_NO, 0, false, NOW - 36500 * DAY, PLAN_KEEP },
	{ DELETE_NO, 0, false, 0, PLAN_KEEP },
	{ DELETE_NO, 0, false, NOW + DAY, PLAN_KEEP },

	/* keep_days = 1: more than one day old goes */
	{ DELETE_NO, 1, false, NOW, PLAN_KEEP },
	{ DELETE_NO, 1, false, NOW - DAY + 1, PLAN_KEEP },
	{ DELETE_NO, 1, false, NOW - DAY, PLAN_KEEP },
	{ DELETE_NO, 1, false, NOW - DAY - 1, PLAN_DELETE },
	{ DELETE_NO, 1, false, NOW - 2 * DAY, PLAN_DELETE },
	{ DELETE_NO, 1, false, 0, PLAN_DELETE },
	/* a clock that went back: first seen "in the future" stays */
	{ DELETE_NO, 1, false, NOW + 10 * DAY, PLAN_KEEP },

	/* keep_days = 30: exactly 30 days is kept, 30 days + 1 s is not */
	{ DELETE_NO, 30, false, NOW - 30 * DAY + 1, PLAN_KEEP },
	{ DELETE_NO, 30, false, NOW - 30 * DAY, PLAN_KEEP },
	{ DELETE_NO, 30, false, NOW - 30 * DAY - 1, PLAN_DELETE },
	{ DELETE_NO, 30, false, NOW - 31 * DAY, PLAN_DELETE },

	/* the largest keep_days: no overflow in N * 86400 */
	{ DELETE_NO, 36500, false, 0, PLAN_KEEP },
	{ DELETE_NO, 36500, false, NOW - 36500 * DAY, PLAN_KEEP },
	{ DELETE_NO, 36500, false, NOW - 36500 * DAY - 1, PLAN_DELETE },

	/* delete = per-message or batch: still on the server means the
	 * session that fetched it ended before QUIT; delete it now, whatever
	 * its age */
	{ DELETE_PER_MESSAGE, 0, false, NOW, PLAN_DELETE },
	{ DELETE_PER_MESSAGE, 0, false, NOW - 1, PLAN_DELETE },
	{ DELETE_PER_MESSAGE, 0, false, 0, PLAN_DELETE },
	{ DELETE_PER_MESSAGE, 0, false, NOW + DAY, PLAN_DELETE },
	{ DELETE_BATCH, 0, false, NOW, PLAN_DELETE },
	{ DELETE_BATCH, 0, false, NOW - 1, PLAN_DELETE },
	{ DELETE_BATCH, 0, false, 0, PLAN_DELETE },
	{ DELETE_BATCH, 0, false, NOW + DAY, PLAN_DELETE },

	/* --keep: nothing is deleted, in any mode */
	{ DELETE_NO, 0, true, 0, PLAN_KEEP },
	{ DELETE_NO, 1, true, NOW - DAY - 1, PLAN_KEEP },
	{ DELETE_NO, 30, true, 0, PLAN_KEEP },
	{ DELETE_PER_MESSAGE, 0, true, NOW, PLAN_KEEP },
	{ DELETE_PER_MESSAGE, 0, true, 0, PLAN_KEEP },
	{ DELETE_BATCH, 0, true, NOW, PLAN_KEEP },
	{ DELETE_BATCH, 0, true, 0, PLAN_KEEP },
};

static void test_known(void **state)
{
	unsigned nfail = 0;
	size_t i;

	(void)state;
	for (i = 0; i < N(known_cases); i++) {
		const struct known_case *c = &known_cases[i];
		/* max_size never matters for a message already delivered */
		struct plan_policy p = policy(c->del, c->keep_days,
					      i % 2 ? 1 : 0, c->keep);
		enum plan_action got = plan_known(&p, c->first_seen);

		if (got != c->want) {
			print_error("# case %zu: del %d keep_days %u keep %d "
				    "age %llds: %s, want %s\n", i, c->del,
				    c->keep_days, c->keep,
				    (long long)(NOW - c->first_seen),
				    action_name(got), action_name(c->want));
			nfail++;
		}
	}
	assert_int_equal(nfail, 0);
}

/* plan_known only ever keeps or deletes, plan_new only fetches or
 * skips: a known message is never fetched twice. */
static void test_ranges(void **state)
{
	static const enum delete_mode dels[] = {
		DELETE_NO, DELETE_PER_MESSAGE, DELETE_BATCH
	};
	size_t j, k;

	(void)state;
	for (j = 0; j < N(dels); j++) {
		for (k = 0; k < 2; k++) {
			struct plan_policy p = policy(dels[j], 0, 100, k != 0);
			time_t ages[] = { 0, 1, DAY, 100 * DAY, NOW };
			size_t a;

			for (a = 0; a < N(ages); a++) {
				enum plan_action r = plan_known(&p, NOW - ages[a]);

				assert_true(r == PLAN_KEEP || r == PLAN_DELETE);
			}
			assert_int_equal(plan_new(&p, 100), PLAN_FETCH);
			assert_int_equal(plan_new(&p, 101), PLAN_SKIP_BIG);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_init),
		cmocka_unit_test(test_new),
		cmocka_unit_test(test_known),
		cmocka_unit_test(test_ranges),
	};

	return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
