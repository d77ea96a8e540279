/*
 * test_state.c - per-account UID state: snapshot and journal round trips,
 * pending deliveries after a crash, the account lock, corrupt files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "error.h"
#include "state.h"
#include "testutil.h"
#include "util.h"

#define B(s) s, sizeof(s) - 1

struct fixture {
	char *dir;	/* private temp dir */
	char *sd;	/* the state dir, not yet created */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->dir = tu_mkdtemp();
	f->sd = tu_join(f->dir, "a/state");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tu_rm_rf(f->dir);
	free(f->dir);
	free(f->sd);
	free(f);
	return 0;
}

static struct state *open_ok(struct fixture *f, const char *account)
{
	struct state *st = NULL;
	struct error err;

	error_clear(&err);
	if (state_open(f->sd, account, &st, &err) != PF_OK)
		fail_msg("state_open: %s", err.text);
	assert_non_null(st);
	return st;
}

static void ok(enum pf_status ret, const struct error *err)
{
	if (ret != PF_OK)
		fail_msg("%s", err->text);
}

static void deliver(struct state *st, const char *uid, const char *token)
{
	struct error err;

	error_clear(&err);
	ok(state_intent(st, uid, token, &err), &err);
	ok(state_delivered(st, uid, 1700000000, &err), &err);
}

static void close_ok(struct state **st)
{
	state_close(st);
	assert_null(*st);
}

static void test_open_creates_dir(void **state)
{
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work");
	size_t n = 99;

	assert_true(tu_is_dir_with_mode(f->sd, 0700));
	assert_int_equal(state_count(st), 0);
	assert_false(state_has(st, "anything"));
	state_pending(st, &n);
	assert_int_equal(n, 0);
	close_ok(&st);
	state_close(&st);	/* NULL is fine */
}

static void test_round_trip_saved(void **state)
{
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work");
	struct error err;
	char *snap = tu_join(f->sd, "work.state");
	size_t n;

	deliver(st, "uid-1", "tok-1");
	deliver(st, "uid-2", "tok-2");
	assert_true(state_has(st, "uid-1"));
	assert_true(state_has(st, "uid-2"));
	assert_false(state_has(st, "uid-3"));
	assert_false(state_has(st, "uid-"));
	assert_false(state_has(st, "uid-10"));
	assert_int_equal(state_count(st), 2);
	error_clear(&err);
	ok(state_sync(st, &err), &err);
	ok(state_save(st, &err), &err);
	close_ok(&st);

	/* the snapshot starts with its version line */
	{
		char *text = tu_read_file(snap, &n);

		assert_non_null(text);
		assert_memory_equal(text, "popfetch-state 1\n", 17);
		free(text);
	}

	st = open_ok(f, "work");
	assert_int_equal(state_count(st), 2);
	assert_true(state_has(st, "uid-1"));
	assert_true(state_has(st, "uid-2"));
	state_pending(st, &n);
	assert_int_equal(n, 0);
	/* more on top of the snapshot, then save again */
	deliver(st, "uid-3", "tok-3");
	ok(state_save(st, &err), &err);
	close_ok(&st);
	st = open_ok(f, "work");
	assert_int_equal(state_count(st), 3);
	assert_true(state_has(st, "uid-3"));
	close_ok(&st);
	free(snap);
}

/* Without state_save() the journal alone remembers deliveries. */
static void test_round_trip_journal(void **state)
{
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work");
	struct error err;
	size_t n;

	deliver(st, "uid-1", "tok-1");
	error_clear(&err);
	ok(state_save(st, &err), &err);
	deliver(st, "uid-2", "tok-2");
	deliver(st, "uid-3", "tok-3");
	ok(state_sync(st, &err), &err);
	close_ok(&st);

	st = open_ok(f, "work");
	assert_int_equal(state_count(st), 3);
	assert_true(state_has(st, "uid-1"));
	assert_true(state_has(st, "uid-2"));
	assert_true(state_has(st, "uid-3"));
	state_pending(st, &n);
	assert_int_equal(n, 0);
	close_ok(&st);
}

/* Size of the account's journal file, or -1. */
static long journal_size(struct fixture *f, const char *account)
{
	char path[1024];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s.journal", f->sd, account);
	return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* Gathered journal lines wait in memory until state_flush() or
 * state_sync(), then reach the file in one piece and count as written;
 * state_close() writes what is still gathered. */
static void test_gather(void **state)
{
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work");
	struct error err;
	long before;
	size_t n;
	int i;

	error_clear(&err);
	before = journal_size(f, "work");
	assert_true(before >= 0);
	state_gather(st);
	ok(state_intent_batch(st, "uid-1", "tok-1", &err), &err);
	ok(state_intent_batch(st, "uid-2", "tok-2", &err), &err);
	assert_int_equal(journal_size(f, "work"), before);
	ok(state_sync(st, &err), &err);
	assert_int_equal(journal_size(f, "work"),
			 before + (long)(2 * strlen("I uid-1 tok-1\n")));

	/* more than the buffer holds: written as it fills, all kept */
	state_gather(st);
	for (i = 0; i < 400; i++) {
		char uid[32];

		snprintf(uid, sizeof(uid), "many-%d", i);
		ok(state_delivered(st, uid, 1700000000, &err), &err);
	}
	assert_true(journal_size(f, "work") > before + 100);
	ok(state_flush(st, &err), &err);
	state_gather(st);
	ok(state_delivered(st, "uid-1", 1700000000, &err), &err);
	close_ok(&st);	/* writes uid-1's record */

	st = open_ok(f, "work");
	assert_int_equal(state_count(st), 401);
	assert_true(state_has(st, "uid-1"));
	assert_true(state_has(st, "many-399"));
	state_pending(st, &n);
	assert_int_equal(n, 1);	/* uid-2: intent only */
	close_ok(&st);
}

/* Recording the same UID twice counts it once. */
static void test_duplicate(void **state)
{
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work");
	struct error err;

	deliver(st, "uid-1", "tok-1");
	deliver(st, "uid-1", "tok-1b");
	assert_int_equal(state_count(st), 1);
	error_clear(&err);
	ok(state_save(st, &err), &err);
	close_ok(&st);
	st = open_ok(f, "work");
	assert_int_equal(state_count(st), 1);
	close_ok(&st);
}

/* An "I" without its "D": the crash came between the intent and the
 * record; the next run must ask the delivery. */
static void test_pending(void **state)
{
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work");
	const struct state_pending *p;
	struct error err;
	size_t n;

	deliver(st, "done", "tok-done");
	error_clear(&err);
	ok(state_intent(st, "half-1", "tok-h1", &err), &err);
	ok(state_intent(st, "half-2", "tok-h2", &err), &err);
	close_ok(&st);		/* no save: as if killed */

	st = open_ok(f, "work");
	assert_true(state_has(st, "done"));
	assert_false(state_has(st, "half-1"));
	assert_false(state_has(st, "half-2"));
	p = state_pending(st, &n);
	assert_int_equal(n, 2);
	assert_non_null(p);
	if (strcmp(p[0].uid, "half-1") == 0) {
		assert_string_equal(p[0].token, "tok-h1");
		assert_string_equal(p[1].uid, "half-2");
		assert_string_equal(p[1].token, "tok-h2");
	} else {
		assert_string_equal(p[0].uid, "half-2");
		assert_string_equal(p[0].token, "tok-h2");
		assert_string_equal(p[1].uid, "half-1");
		assert_string_equal(p[1].token, "tok-h1");
	}

	/* one arrived, one did not */
	ok(state_resolve(st, "half-1", true, &err), &err);
	ok(state_resolve(st, "half-2", false, &err), &err);
	state_pending(st, &n);
	assert_int_equal(n, 0);
	assert_true(state_has(st, "half-1"));
	assert_false(state_has(st, "half-2"));
	ok(state_save(st, &err), &err);
	close_ok(&st);

	st = open_ok(f, "work");
	state_pending(st, &n);
	assert_int_equal(n, 0);
	assert_true(state_has(st, "done"));
	assert_true(state_has(st, "half-1"));
	assert_false(state_has(st, "half-2"));
	assert_int_equal(state_count(st), 2);
	close_ok(&st);
}

/* A pending intent survives a save that happens before it is resolved. */
static void test_pending_survives_save(void **state)
{
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work");
	struct error err;
	size_t n;

	error_clear(&err);
	ok(state_intent(st, "half", "tok", &err), &err);
	close_ok(&st);
	st = open_ok(f, "work");
	ok(state_save(st, &err), &err);
	close_ok(&st);
	st = open_ok(f, "work");
	state_pending(st, &n);
	assert_int_equal(n, 1);
	close_ok(&st);
}

static void test_lock(void **state)
{
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work"), *st2 = NULL, *other;
	struct error err;
	int status;
	pid_t pid;

	error_clear(&err);
	assert_int_equal(state_open(f->sd, "work", &st2, &err), PF_TEMPFAIL);
	assert_null(st2);
	assert_int_equal(err.status, PF_TEMPFAIL);
	assert_true(err.text[0] != '\0');

	/* another process, too */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct state *c = NULL;

		_exit(state_open(f->sd, "work", &c, &err) == PF_TEMPFAIL ?
		      0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* other accounts are independent */
	other = open_ok(f, "home");
	close_ok(&other);

	close_ok(&st);
	st = open_ok(f, "work");
	close_ok(&st);
}

static void write_state_file(struct fixture *f, const char *name,
			     const char *text, size_t len)
{
	char *path = tu_join(f->sd, name);

	assert_int_equal(util_mkdir_p(f->sd, 0700), 0);
	assert_int_equal(tu_write_file(path, text, len, 0600), 0);
	free(path);
}

static void test_corrupt(void **state)
{
	static const struct {
		const char *file, *text;
		size_t len;
	} t[] = {
		{ "work.state", B("garbage\n") },
		{ "work.state", B("popfetch-state 2\nuid 1700000000\n") },
		{ "work.state", B("popfetch-state 1\nuid notatime\n") },
		{ "work.state", B("popfetch-state 1\nuid\n") },
		{ "work.state", B("popfetch-state 1\nu\001id 1700000000\n") },
		{ "work.state", B("\0\0\0\0\0\0\0") },
		{ "work.journal", B("X uid 1\n") },
		{ "work.journal", B("D\n") },
		{ "work.journal", B("I uid\n") },
		{ "work.journal", B("Q what is this\nD uid 1700000000\n") },
	};
	struct fixture *f = *state;
	unsigned nfail = 0;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct state *st = NULL;
		struct error err;
		enum pf_status ret;

		tu_rm_rf(f->sd);
		write_state_file(f, t[i].file, t[i].text, t[i].len);
		error_clear(&err);
		ret = state_open(f->sd, "work", &st, &err);
		if (ret == PF_OK) {
			print_error("# %s '%s': accepted\n", t[i].file,
				    t[i].text);
			nfail++;
			state_close(&st);
			continue;
		}
		assert_null(st);
		assert_int_equal(err.status, ret);
		assert_true(err.text[0] != '\0');
		if (ret != PF_IOERR) {
			print_error("# %s '%s': status %d, want PF_IOERR: %s\n",
				    t[i].file, t[i].text, ret, err.text);
			nfail++;
		}
		if (strstr(err.text, t[i].file) == NULL) {
			print_error("# error does not name %s: %s\n", t[i].file,
				    err.text);
			nfail++;
		}
	}
	assert_int_equal(nfail, 0);
}

/* A journal record cut off by a crash (no newline) never counted: the
 * file still opens, and records appended afterwards are read back whole,
 * not glued to the torn line. */
static void test_torn_journal(void **state)
{
	struct fixture *f = *state;
	struct state *st;
	struct error err;

	write_state_file(f, "work.journal",
			 B("I a tok\nD a 1700000000\nI b tok\nD b 17"));
	st = open_ok(f, "work");
	assert_true(state_has(st, "a"));
	assert_false(state_has(st, "b"));
	deliver(st, "c", "tok-c");
	error_clear(&err);
	ok(state_sync(st, &err), &err);
	close_ok(&st);

	st = open_ok(f, "work");
	assert_true(state_has(st, "a"));
	assert_true(state_has(st, "c"));
	close_ok(&st);
}

/* Every character RFC 1939 allows in a UID (0x21..0x7e), at every place
 * in a UID, survives the journal and the snapshot. */
static void test_uid_charset(void **state)
{
	struct fixture *f = *state;
	char uids[94 + 2][71];
	size_t nuids = 0, i, pass;

	for (i = 0; i < 94; i++) {
		uids[nuids][0] = (char)(0x21 + i);
		uids[nuids][1] = '\0';
		nuids++;
	}
	for (i = 0; i < 94; i++)	/* all of them, 47 + 47 */
		uids[nuids + i / 47][i % 47] = (char)(0x21 + i);
	uids[nuids][47] = uids[nuids + 1][47] = '\0';
	nuids += 2;

	for (pass = 0; pass < 2; pass++) {
		struct state *st;
		struct error err;

		tu_rm_rf(f->sd);
		st = open_ok(f, "work");
		for (i = 0; i < nuids; i++)
			deliver(st, uids[i], "tok");
		error_clear(&err);
		if (pass == 1)
			ok(state_save(st, &err), &err);
		close_ok(&st);
		/* pass 0 reads the journal, pass 1 the snapshot */
		st = open_ok(f, "work");
		assert_int_equal(state_count(st), nuids);
		for (i = 0; i < nuids; i++)
			if (!state_has(st, uids[i]))
				fail_msg("lost uid '%s' (pass %zu)", uids[i],
					 pass);
		close_ok(&st);
	}
}

/* A 70-character UID and a token of the longest allowed size. */
static void test_long_uid(void **state)
{
	struct fixture *f = *state;
	char uid[71], token[256];
	struct state *st = open_ok(f, "work");
	const struct state_pending *p;
	struct error err;
	size_t n;

	memset(uid, 'u', 70);
	uid[70] = '\0';
	memset(token, 't', 255);
	token[255] = '\0';
	error_clear(&err);
	ok(state_intent(st, uid, token, &err), &err);
	close_ok(&st);
	st = open_ok(f, "work");
	p = state_pending(st, &n);
	assert_int_equal(n, 1);
	assert_string_equal(p[0].uid, uid);
	assert_string_equal(p[0].token, token);
	close_ok(&st);
}

/* A mailbox of 10,000 messages, the size the hot paths are made for. */
static void test_many(void **state)
{
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work");
	struct error err;
	char uid[32];
	size_t i;

	error_clear(&err);
	for (i = 0; i < 10000; i++) {
		snprintf(uid, sizeof(uid), "%08zx.uid", i * 2654435761u);
		ok(state_intent(st, uid, "tok", &err), &err);
		ok(state_delivered(st, uid, 1700000000, &err), &err);
	}
	ok(state_save(st, &err), &err);
	close_ok(&st);
	st = open_ok(f, "work");
	assert_int_equal(state_count(st), 10000);
	for (i = 0; i < 10000; i++) {
		snprintf(uid, sizeof(uid), "%08zx.uid", i * 2654435761u);
		assert_true(state_has(st, uid));
	}
	assert_false(state_has(st, "nope"));
	close_ok(&st);
}

/* ---- presence, pruning, too-big notes ---- */

static void deliver_at(struct state *st, const char *uid, time_t when)
{
	struct error err;

	error_clear(&err);
	ok(state_intent(st, uid, "tok", &err), &err);
	ok(state_delivered(st, uid, when, &err), &err);
}

static void save_ok(struct state *st)
{
	struct error err;

	error_clear(&err);
	ok(state_save(st, &err), &err);
}

static void test_mark_present(void **state)
{
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work");
	time_t fs;

	deliver_at(st, "old-1", 1600000000);
	deliver_at(st, "old-2", 1700000001);
	save_ok(st);
	close_ok(&st);

	st = open_ok(f, "work");
	fs = 42;
	assert_int_equal(state_mark_present(st, "new", &fs, NULL), STATE_UNKNOWN);
	assert_int_equal(fs, 42);	/* untouched */
	assert_int_equal(state_mark_present(st, "old-1", &fs, NULL),
			 STATE_DELIVERED);
	assert_int_equal(fs, 1600000000);
	assert_int_equal(state_mark_present(st, "old-2", &fs, NULL),
			 STATE_DELIVERED);
	assert_int_equal(fs, 1700000001);
	/* listed twice in one session */
	fs = 42;
	assert_int_equal(state_mark_present(st, "old-1", &fs, NULL),
			 STATE_DUPLICATE);
	assert_int_equal(state_mark_present(st, "old-2", &fs, NULL),
			 STATE_DUPLICATE);
	/* close matches are other UIDs */
	assert_int_equal(state_mark_present(st, "old-", &fs, NULL), STATE_UNKNOWN);
	assert_int_equal(state_mark_present(st, "old-10", &fs, NULL), STATE_UNKNOWN);
	assert_int_equal(state_mark_present(st, "OLD-1", &fs, NULL), STATE_UNKNOWN);
	/* marking changes nothing that is known */
	assert_true(state_has(st, "old-1"));
	assert_false(state_has(st, "new"));
	assert_int_equal(state_count(st), 2);
	close_ok(&st);

	/* presence lasts one session: a new one starts unmarked, and the
	 * first-seen time came from the journal as well as the snapshot */
	st = open_ok(f, "work");
	deliver_at(st, "journal-only", 1650000000);
	close_ok(&st);
	st = open_ok(f, "work");
	assert_int_equal(state_mark_present(st, "old-1", &fs, NULL),
			 STATE_DELIVERED);
	assert_int_equal(fs, 1600000000);
	assert_int_equal(state_mark_present(st, "journal-only", &fs, NULL),
			 STATE_DELIVERED);
	assert_int_equal(fs, 1650000000);
	close_ok(&st);
}

static void expect_uids(struct fixture *f, const char *const *want,
			size_t nwant, const char *const *gone, size_t ngone)
{
	struct state *st = open_ok(f, "work");
	size_t i;

	for (i = 0; i < nwant; i++)
		if (!state_has(st, want[i]))
			fail_msg("lost '%s'", want[i]);
	for (i = 0; i < ngone; i++)
		if (state_has(st, gone[i]))
			fail_msg("kept '%s'", gone[i]);
	assert_int_equal(state_count(st), nwant);
	close_ok(&st);
}

/* After a complete listing, UIDs the server no longer has are dropped at
 * save; those listed, and those delivered in this session, stay. */
static void test_prune(void **state)
{
	static const char *const keep[] = { "a", "c", "e", "f" };
	static const char *const gone[] = { "b", "d" };
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work");
	time_t fs;

	deliver_at(st, "a", 1700000000);
	deliver_at(st, "b", 1700000000);
	deliver_at(st, "c", 1700000000);
	deliver_at(st, "d", 1700000000);
	save_ok(st);
	close_ok(&st);

	st = open_ok(f, "work");
	deliver_at(st, "f", 1700000000);	/* journal only, then listed */
	close_ok(&st);

	st = open_ok(f, "work");
	assert_int_equal(state_mark_present(st, "a", &fs, NULL), STATE_DELIVERED);
	assert_int_equal(state_mark_present(st, "c", &fs, NULL), STATE_DELIVERED);
	assert_int_equal(state_mark_present(st, "f", &fs, NULL), STATE_DELIVERED);
	assert_int_equal(state_mark_present(st, "e", &fs, NULL), STATE_UNKNOWN);
	state_prune_absent(st);
	deliver_at(st, "e", 1700000100);	/* fetched in this session */
	/* nothing is dropped before the save */
	assert_true(state_has(st, "b"));
	save_ok(st);
	close_ok(&st);
	expect_uids(f, keep, 4, gone, 2);
	/* and the first-seen times survive the pruning save */
	st = open_ok(f, "work");
	assert_int_equal(state_mark_present(st, "a", &fs, NULL), STATE_DELIVERED);
	assert_int_equal(fs, 1700000000);
	assert_int_equal(state_mark_present(st, "e", &fs, NULL), STATE_DELIVERED);
	assert_int_equal(fs, 1700000100);
	close_ok(&st);
}

/* An empty listing (the server holds nothing any more) drops all. */
static void test_prune_all(void **state)
{
	static const char *const gone[] = { "a", "b" };
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work");

	deliver_at(st, "a", 1700000000);
	deliver_at(st, "b", 1700000000);
	save_ok(st);
	close_ok(&st);
	st = open_ok(f, "work");
	state_prune_absent(st);
	save_ok(st);
	close_ok(&st);
	expect_uids(f, NULL, 0, gone, 2);
}

/* Without state_prune_absent() (the listing failed half-way), marking
 * some UIDs drops nothing. */
static void test_no_prune(void **state)
{
	static const char *const keep[] = { "a", "b", "c" };
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work");
	time_t fs;

	deliver_at(st, "a", 1700000000);
	deliver_at(st, "b", 1700000000);
	deliver_at(st, "c", 1700000000);
	save_ok(st);
	close_ok(&st);
	st = open_ok(f, "work");
	assert_int_equal(state_mark_present(st, "b", &fs, NULL), STATE_DELIVERED);
	save_ok(st);
	close_ok(&st);
	expect_uids(f, keep, 3, NULL, 0);
	/* and a pruning session afterwards starts from a clean slate: the
	 * earlier marks do not count */
	st = open_ok(f, "work");
	assert_int_equal(state_mark_present(st, "c", &fs, NULL), STATE_DELIVERED);
	state_prune_absent(st);
	save_ok(st);
	close_ok(&st);
	{
		static const char *const left[] = { "c" };
		static const char *const dropped[] = { "a", "b" };

		expect_uids(f, left, 1, dropped, 2);
	}
}

static void test_note_big(void **state)
{
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work");
	struct error err;
	time_t fs = 42;

	error_clear(&err);
	assert_int_equal(state_mark_present(st, "big", &fs, NULL), STATE_UNKNOWN);
	assert_false(state_note_big(st, "big", &err));	/* report it */
	assert_true(state_note_big(st, "big", &err));	/* already did */
	assert_false(state_has(st, "big"));
	assert_false(state_note_big(st, "big-2", &err));
	ok(state_sync(st, &err), &err);
	close_ok(&st);

	/* from the journal */
	st = open_ok(f, "work");
	assert_false(state_has(st, "big"));
	assert_int_equal(state_mark_present(st, "big", &fs, NULL), STATE_UNKNOWN);
	assert_int_equal(fs, 42);
	assert_true(state_note_big(st, "big", &err));
	assert_int_equal(state_mark_present(st, "big-2", &fs, NULL), STATE_UNKNOWN);
	state_prune_absent(st);	/* both listed: both stay */
	save_ok(st);
	close_ok(&st);

	/* from the snapshot */
	st = open_ok(f, "work");
	assert_false(state_has(st, "big"));
	assert_true(state_note_big(st, "big", &err));
	assert_true(state_note_big(st, "big-2", &err));
	/* a big message listed twice is still a duplicate */
	assert_int_equal(state_mark_present(st, "big", &fs, NULL), STATE_UNKNOWN);
	assert_int_equal(state_mark_present(st, "big", &fs, NULL), STATE_DUPLICATE);
	close_ok(&st);

	/* a note for a message no longer listed is pruned like the rest */
	st = open_ok(f, "work");
	assert_int_equal(state_mark_present(st, "big", &fs, NULL), STATE_UNKNOWN);
	state_prune_absent(st);
	save_ok(st);
	close_ok(&st);
	st = open_ok(f, "work");
	assert_true(state_note_big(st, "big", &err));
	assert_false(state_note_big(st, "big-2", &err));	/* reported again */
	close_ok(&st);
}

/* max_size raised: a message once noted too big is delivered after all. */
static void test_big_then_delivered(void **state)
{
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work");
	struct error err;
	time_t fs;
	int pass;

	error_clear(&err);
	assert_false(state_note_big(st, "b1", &err));
	assert_false(state_note_big(st, "b2", &err));
	save_ok(st);
	close_ok(&st);

	st = open_ok(f, "work");
	assert_false(state_has(st, "b1"));
	deliver_at(st, "b1", 1700000500);
	assert_true(state_has(st, "b1"));
	assert_false(state_has(st, "b2"));
	ok(state_sync(st, &err), &err);
	close_ok(&st);

	/* pass 0 reads the journal, pass 1 the snapshot */
	for (pass = 0; pass < 2; pass++) {
		st = open_ok(f, "work");
		assert_true(state_has(st, "b1"));
		assert_false(state_has(st, "b2"));
		assert_int_equal(state_mark_present(st, "b1", &fs, NULL),
				 STATE_DELIVERED);
		/* first seen: when it was fetched, not when noted big */
		assert_int_equal(fs, 1700000500);
		if (pass == 0)
			save_ok(st);
		close_ok(&st);
	}
}

/* state_count() is "the number of UIDs known delivered": notes of
 * too-big messages are not deliveries. */
static void test_big_not_counted(void **state)
{
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work");
	struct error err;

	error_clear(&err);
	deliver_at(st, "d", 1700000000);
	assert_false(state_note_big(st, "big", &err));
	assert_int_equal(state_count(st), 1);
	save_ok(st);
	close_ok(&st);
	st = open_ok(f, "work");
	assert_int_equal(state_count(st), 1);
	close_ok(&st);
}

/* A run that records and prunes nothing leaves the snapshot alone (no
 * rewrite of a large state on every poll); a prune still rewrites it. */
static void test_save_unchanged_skips_rewrite(void **state)
{
	struct fixture *f = *state;
	struct state *st;
	struct error err;
	struct stat before, after;
	char *snap;
	time_t seen;

	st = open_ok(f, "work");
	deliver(st, "uid-a", "tok-a");
	deliver(st, "uid-b", "tok-b");
	ok(state_save(st, &err), &err);
	state_close(&st);
	snap = tu_join(f->sd, "work.state");
	assert_int_equal(stat(snap, &before), 0);

	st = open_ok(f, "work");
	assert_int_equal(state_mark_present(st, "uid-a", &seen, NULL), STATE_DELIVERED);
	assert_int_equal(state_mark_present(st, "uid-b", &seen, NULL), STATE_DELIVERED);
	state_prune_absent(st);
	ok(state_save(st, &err), &err);
	state_close(&st);
	assert_int_equal(stat(snap, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);

	st = open_ok(f, "work");
	assert_int_equal(state_mark_present(st, "uid-a", &seen, NULL), STATE_DELIVERED);
	state_prune_absent(st);
	ok(state_save(st, &err), &err);
	state_close(&st);
	assert_int_equal(stat(snap, &after), 0);
	assert_int_not_equal(before.st_ino, after.st_ino);
	st = open_ok(f, "work");
	assert_true(state_has(st, "uid-a"));
	assert_false(state_has(st, "uid-b"));
	state_close(&st);
	free(snap);
}

/* A UID listed by the server and unknown is held by the state (the
 * runner keeps only its handle) but is no delivery until recorded as one. */
static void test_listed_new(void **state)
{
	struct fixture *f = *state;
	struct state *st = open_ok(f, "work");
	struct error err;
	uint32_t id_a = 0, id_b = 0, id_c = 0, id_old = 0, id = 7;
	time_t fs = 42;

	error_clear(&err);
	deliver_at(st, "old", 1600000000);
	save_ok(st);
	close_ok(&st);

	st = open_ok(f, "work");
	assert_int_equal(state_mark_present(st, "new-a", &fs, &id_a),
			 STATE_UNKNOWN);
	assert_int_equal(fs, 42);	/* untouched */
	assert_int_equal(state_mark_present(st, "new-b", &fs, &id_b),
			 STATE_UNKNOWN);
	assert_int_equal(state_mark_present(st, "new-c", &fs, &id_c),
			 STATE_UNKNOWN);
	assert_int_equal(state_mark_present(st, "old", &fs, &id_old),
			 STATE_DELIVERED);
	assert_int_equal(fs, 1600000000);
	assert_string_equal(state_uid(st, id_a), "new-a");
	assert_string_equal(state_uid(st, id_b), "new-b");
	assert_string_equal(state_uid(st, id_c), "new-c");
	assert_string_equal(state_uid(st, id_old), "old");
	/* a new UID listed twice is a duplicate too; the id is untouched */
	assert_int_equal(state_mark_present(st, "new-a", &fs, &id),
			 STATE_DUPLICATE);
	assert_int_equal(id, 7);
	/* listed is not delivered */
	assert_false(state_has(st, "new-a"));
	assert_int_equal(state_count(st), 1);
	/* one delivered (through its handle's string), one too big, one
	 * left: only the first two are remembered */
	ok(state_intent(st, state_uid(st, id_a), "tok", &err), &err);
	ok(state_delivered(st, state_uid(st, id_a), 1700000000, &err), &err);
	assert_false(state_note_big(st, state_uid(st, id_b), &err));
	assert_true(state_has(st, "new-a"));
	assert_false(state_has(st, "new-b"));
	assert_int_equal(state_count(st), 2);
	state_prune_absent(st);
	save_ok(st);
	close_ok(&st);

	st = open_ok(f, "work");
	assert_int_equal(state_count(st), 2);
	assert_true(state_has(st, "old"));
	assert_true(state_has(st, "new-a"));
	assert_false(state_has(st, "new-c"));
	assert_true(state_note_big(st, "new-b", &err));	/* reported once */
	assert_int_equal(state_mark_present(st, "new-a", &fs, NULL),
			 STATE_DELIVERED);
	assert_int_equal(fs, 1700000000);
	assert_int_equal(state_mark_present(st, "new-c", &fs, NULL),
			 STATE_UNKNOWN);
	close_ok(&st);
}

/* Many UIDs listed at once, with a reservation too small and none: the
 * table grows under them and every handle stays right; then the same
 * from a large snapshot, whose size the load reserves for. */
static void test_many_listed(void **state)
{
	static const size_t reserve[] = { 0, 100 };
	struct fixture *f = *state;
	struct state *st;
	struct error err;
	uint32_t *ids = calloc(20000, sizeof(*ids));
	char uid[32];
	time_t fs;
	size_t i, r;

	assert_non_null(ids);
	error_clear(&err);
	for (r = 0; r < 2; r++) {
		st = open_ok(f, "work");
		if (reserve[r] > 0)
			state_reserve(st, reserve[r]);
		for (i = 0; i < 20000; i++) {
			snprintf(uid, sizeof(uid), "%016zX", i * 2654435761u);
			assert_int_equal(state_mark_present(st, uid, &fs, &ids[i]),
					 r == 0 || i % 2 != 0 ? STATE_UNKNOWN
							     : STATE_DELIVERED);
		}
		for (i = 0; i < 20000; i++) {
			snprintf(uid, sizeof(uid), "%016zX", i * 2654435761u);
			assert_string_equal(state_uid(st, ids[i]), uid);
			assert_int_equal(state_mark_present(st, uid, &fs, NULL),
					 STATE_DUPLICATE);
			if (r == 0 && i % 2 == 0) {
				ok(state_intent(st, uid, "tok", &err), &err);
				ok(state_delivered(st, uid, 1700000000, &err),
				   &err);
			}
		}
		assert_int_equal(state_count(st), 10000);
		state_prune_absent(st);
		save_ok(st);
		close_ok(&st);
	}
	st = open_ok(f, "work");
	assert_int_equal(state_count(st), 10000);
	for (i = 0; i < 20000; i++) {
		snprintf(uid, sizeof(uid), "%016zX", i * 2654435761u);
		assert_true(state_has(st, uid) == (i % 2 == 0));
	}
	close_ok(&st);
	free(ids);
}

/* --check / --dry-run: the state as a run would see it (snapshot and
 * journal), and nothing on disk created or changed. */
static void test_readonly(void **state)
{
	struct fixture *f = *state;
	struct state *st = NULL;
	struct error err;
	char *snap = tu_join(f->sd, "work.state");
	char *jour = tu_join(f->sd, "work.journal");
	char *before_s, *before_j, *after;
	size_t ns = 0, nj = 0, n = 0;
	time_t fs = 0;

	/* no state directory: empty, and none is made */
	error_clear(&err);
	ok(state_open_readonly(f->sd, "work", &st, &err), &err);
	assert_int_equal(state_mark_present(st, "uid-1", &fs, NULL),
			 STATE_UNKNOWN);
	ok(state_save(st, &err), &err);
	close_ok(&st);
	assert_int_equal(access(f->sd, F_OK), -1);

	/* one delivery in the snapshot, one in the journal only */
	st = open_ok(f, "work");
	deliver(st, "uid-1", "tok-1");
	save_ok(st);
	deliver(st, "uid-2", "tok-2");
	ok(state_sync(st, &err), &err);
	close_ok(&st);
	before_s = tu_read_file(snap, &ns);
	before_j = tu_read_file(jour, &nj);
	assert_non_null(before_s);
	assert_non_null(before_j);

	ok(state_open_readonly(f->sd, "work", &st, &err), &err);
	assert_int_equal(state_mark_present(st, "uid-1", &fs, NULL),
			 STATE_DELIVERED);
	assert_int_equal(state_mark_present(st, "uid-2", &fs, NULL),
			 STATE_DELIVERED);
	assert_int_equal(state_mark_present(st, "uid-3", &fs, NULL),
			 STATE_UNKNOWN);
	/* writing is refused, saving does nothing */
	assert_int_equal(state_intent(st, "uid-3", "tok-3", &err),
			 PF_SOFTWARE);
	error_clear(&err);
	ok(state_save(st, &err), &err);
	close_ok(&st);
	after = tu_read_file(snap, &n);
	assert_true(n == ns && memcmp(after, before_s, n) == 0);
	free(after);
	after = tu_read_file(jour, &n);
	assert_true(n == nj && memcmp(after, before_j, n) == 0);
	free(after);
	/* and a lock held by a running popfetch does not stop it */
	st = open_ok(f, "work");
	{
		struct state *ro = NULL;

		ok(state_open_readonly(f->sd, "work", &ro, &err), &err);
		close_ok(&ro);
	}
	close_ok(&st);
	free(before_s);
	free(before_j);
	free(snap);
	free(jour);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_save_unchanged_skips_rewrite),
		T(test_listed_new),
		T(test_many_listed),
		T(test_open_creates_dir),
		T(test_round_trip_saved),
		T(test_round_trip_journal),
		T(test_gather),
		T(test_duplicate),
		T(test_pending),
		T(test_pending_survives_save),
		T(test_lock),
		T(test_corrupt),
		T(test_torn_journal),
		T(test_uid_charset),
		T(test_long_uid),
		T(test_many),
		T(test_mark_present),
		T(test_prune),
		T(test_prune_all),
		T(test_no_prune),
		T(test_note_big),
		T(test_big_then_delivered),
		T(test_big_not_counted),
		T(test_readonly),
	};

	return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
