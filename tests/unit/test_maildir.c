/*
 * test_maildir.c - Maildir names, and real deliveries into a private
 * directory through the deliver vtable: commit, abort, and recover() after
 * a crash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "deliver.h"
#include "error.h"
#include "testutil.h"

/* ---- names ---- */

static void test_name(void **state)
{
	static const struct {
		long sec, usec, pid;
		unsigned long seq;
		const char *host, *want;
	} t[] = {
		{ 1700000000, 123456, 4242, 7, "mail.example.com",
		  "1700000000.M123456P4242Q7.mail.example.com" },
		{ 1, 999999, 1, 0, "h", "1.M999999P1Q0.h" },
		{ 1700000000, 100000, 99999, 123456789, "a/b:c",
		  "1700000000.M100000P99999Q123456789.a\\057b\\072c" },
		{ 1700000000, 100000, 1, 1, "//::",
		  "1700000000.M100000P1Q1.\\057\\057\\072\\072" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char buf[256];

		deliver_maildir_name(buf, sizeof(buf), t[i].sec, t[i].usec,
				     t[i].pid, t[i].seq, t[i].host);
		assert_string_equal(buf, t[i].want);
	}
}

/* A short buffer gets a terminated prefix, nothing past its end. */
static void test_name_short_buffer(void **state)
{
	char buf[16];

	(void)state;
	memset(buf, 'Z', sizeof(buf));
	deliver_maildir_name(buf, 10, 1700000000, 123456, 4242, 7, "h/h");
	assert_int_equal(strlen(buf), 9);
	assert_memory_equal(buf, "170000000", 9);
	assert_int_equal(buf[10], 'Z');
}

/* ---- delivery ---- */

struct fixture {
	char *dir;	/* private temp dir */
	char *md;	/* the Maildir, inside it */
	char *tmp, *new, *cur;
	struct deliver *d;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct error err;

	if (f == NULL)
		return -1;
	f->dir = tu_mkdtemp();
	f->md = tu_join(f->dir, "Mail");
	f->tmp = tu_join(f->md, "tmp");
	f->new = tu_join(f->md, "new");
	f->cur = tu_join(f->md, "cur");
	error_clear(&err);
	if (deliver_maildir_open(f->md, &f->d, &err) != PF_OK) {
		print_error("# deliver_maildir_open: %s\n", err.text);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	deliver_free(&f->d);
	assert_null(f->d);
	tu_rm_rf(f->dir);
	free(f->dir);
	free(f->md);
	free(f->tmp);
	free(f->new);
	free(f->cur);
	free(f);
	return 0;
}

static void test_open_creates(void **state)
{
	struct fixture *f = *state;
	struct deliver *d2 = NULL;
	struct error err;

	assert_true(tu_is_dir_with_mode(f->md, 0700));
	assert_true(tu_is_dir_with_mode(f->tmp, 0700));
	assert_true(tu_is_dir_with_mode(f->new, 0700));
	assert_true(tu_is_dir_with_mode(f->cur, 0700));
	/* an existing Maildir opens as well */
	error_clear(&err);
	assert_int_equal(deliver_maildir_open(f->md, &d2, &err), PF_OK);
	deliver_free(&d2);
	assert_null(d2);
	deliver_free(&d2);	/* NULL is fine */
}

static void test_open_nested(void **state)
{
	struct fixture *f = *state;
	char *deep = tu_join(f->dir, "a/b/Mail");
	char *new = tu_join(deep, "new");
	struct deliver *d2 = NULL;
	struct error err;

	error_clear(&err);
	assert_int_equal(deliver_maildir_open(deep, &d2, &err), PF_OK);
	assert_true(tu_is_dir_with_mode(new, 0700));
	deliver_free(&d2);
	free(deep);
	free(new);
}

static void test_open_fails(void **state)
{
	struct fixture *f = *state;
	char *file = tu_join(f->dir, "file");
	char *under = tu_join(file, "Mail");
	struct deliver *d2 = NULL;
	struct error err;

	assert_int_equal(tu_write_file(file, "x", 1, 0600), 0);
	error_clear(&err);
	assert_int_equal(deliver_maildir_open(under, &d2, &err), PF_CANTCREAT);
	assert_null(d2);
	assert_int_equal(err.status, PF_CANTCREAT);
	assert_non_null(strstr(err.text, under));
	free(file);
	free(under);
}

/* Delivers msg in pieces of step bytes; returns the token. */
static void deliver_one(struct deliver *d, const char *msg, size_t len,
			size_t step, char *token)
{
	struct error err;
	size_t off;

	error_clear(&err);
	memset(token, 0, DELIVER_TOKEN_MAX);
	assert_int_equal(d->ops->begin(d, token, &err), PF_OK);
	assert_true(token[0] != '\0');
	assert_true(strlen(token) < DELIVER_TOKEN_MAX);
	for (off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;

		if (d->ops->write(d, msg + off, n, &err) != PF_OK)
			fail_msg("write: %s", err.text);
	}
	if (d->ops->commit(d, &err) != PF_OK)
		fail_msg("commit: %s", err.text);
	/* commit() may finish in the background; sync() waits for it */
	if (d->ops->sync(d, &err) != PF_OK)
		fail_msg("sync: %s", err.text);
}

static void test_commit(void **state)
{
	static const char msg[] = "From: a@example.com\nSubject: hi\n\n"
				  "body \x80\xff\n.\nFrom x\n\0NUL\n";
	struct fixture *f = *state;
	char token[DELIVER_TOKEN_MAX], *name, *path, *back;
	size_t len;
	bool arrived = false;
	struct error err;

	deliver_one(f->d, msg, sizeof(msg) - 1, 5, token);
	assert_int_equal(tu_count_entries(f->tmp, NULL), 0);
	assert_int_equal(tu_count_entries(f->cur, NULL), 0);
	assert_int_equal(tu_count_entries(f->new, &name), 1);
	/* a Maildir name: no '/', and nothing a reader takes for flags */
	assert_null(strchr(name, ':'));
	assert_true(name[0] != '.');
	path = tu_join(f->new, name);
	back = tu_read_file(path, &len);
	assert_non_null(back);
	assert_int_equal(len, sizeof(msg) - 1);
	assert_memory_equal(back, msg, len);

	error_clear(&err);
	assert_int_equal(f->d->ops->recover(f->d, token, &arrived, &err),
			 PF_OK);
	assert_true(arrived);
	/* recover() of an arrived message changes nothing */
	assert_int_equal(tu_count_entries(f->new, NULL), 1);

	free(back);
	free(path);
	free(name);
}

/* A mail reader may have moved it to cur/ and added flags: it still
 * arrived. */
static void test_recover_after_move(void **state)
{
	struct fixture *f = *state;
	char token[DELIVER_TOKEN_MAX], *name, *from, *to, *toname;
	bool arrived = false;
	struct error err;

	deliver_one(f->d, "x\n", 2, 2, token);
	assert_int_equal(tu_count_entries(f->new, &name), 1);
	from = tu_join(f->new, name);
	toname = malloc(strlen(name) + 5);
	assert_non_null(toname);
	snprintf(toname, strlen(name) + 5, "%s:2,S", name);
	to = tu_join(f->cur, toname);
	assert_int_equal(rename(from, to), 0);
	error_clear(&err);
	assert_int_equal(f->d->ops->recover(f->d, token, &arrived, &err),
			 PF_OK);
	assert_true(arrived);
	assert_int_equal(tu_count_entries(f->cur, NULL), 1);
	free(name);
	free(from);
	free(to);
	free(toname);
}

static void test_abort(void **state)
{
	struct fixture *f = *state;
	char token[DELIVER_TOKEN_MAX];
	bool arrived = true;
	struct error err;

	error_clear(&err);
	assert_int_equal(f->d->ops->begin(f->d, token, &err), PF_OK);
	assert_int_equal(f->d->ops->write(f->d, "abc\n", 4, &err), PF_OK);
	f->d->ops->abort(f->d);
	assert_int_equal(tu_count_entries(f->tmp, NULL), 0);
	assert_int_equal(tu_count_entries(f->new, NULL), 0);
	assert_int_equal(tu_count_entries(f->cur, NULL), 0);
	assert_int_equal(f->d->ops->recover(f->d, token, &arrived, &err),
			 PF_OK);
	assert_false(arrived);

	/* abort right after begin, too; then the delivery is reusable */
	assert_int_equal(f->d->ops->begin(f->d, token, &err), PF_OK);
	f->d->ops->abort(f->d);
	assert_int_equal(tu_count_entries(f->tmp, NULL), 0);
	deliver_one(f->d, "y\n", 2, 1, token);
	assert_int_equal(tu_count_entries(f->new, NULL), 1);
}

/* Names reserved ahead (their intents journaled together): each is
 * distinct, creates nothing, and is where its message then appears, in
 * any order; a reserved name never used did not arrive; sync() is what
 * a committed message waits for before it is recorded. */
static void test_reserve(void **state)
{
	struct fixture *f = *state;
	char tok[3][DELIVER_TOKEN_MAX], path[1100];
	const struct deliver_ops *ops = f->d->ops;
	bool arrived = true;
	struct error err;
	struct stat sb;
	int i;

	error_clear(&err);
	assert_non_null(ops->reserve);
	assert_non_null(ops->begin_reserved);
	assert_non_null(ops->sync);
	for (i = 0; i < 3; i++)
		assert_int_equal(ops->reserve(f->d, tok[i], &err), PF_OK);
	assert_string_not_equal(tok[0], tok[1]);
	assert_string_not_equal(tok[1], tok[2]);
	assert_string_not_equal(tok[0], tok[2]);
	assert_int_equal(tu_count_entries(f->tmp, NULL), 0);
	assert_int_equal(tu_count_entries(f->new, NULL), 0);
	assert_int_equal(ops->sync(f->d, &err), PF_OK);	/* nothing to do */

	for (i = 1; i >= 0; i--) {
		assert_int_equal(ops->begin_reserved(f->d, tok[i], &err), PF_OK);
		/* one message at a time */
		assert_int_equal(ops->begin_reserved(f->d, tok[2], &err),
				 PF_SOFTWARE);
		assert_int_equal(ops->write(f->d, "m\n", 2, &err), PF_OK);
		assert_int_equal(ops->commit(f->d, &err), PF_OK);
	}
	assert_int_equal(ops->sync(f->d, &err), PF_OK);
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", f->new, tok[i]);
		assert_int_equal(stat(path, &sb), 0);
	}
	assert_int_equal(tu_count_entries(f->new, NULL), 2);
	assert_int_equal(tu_count_entries(f->tmp, NULL), 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(ops->recover(f->d, tok[i], &arrived, &err),
				 PF_OK);
		assert_true(arrived);
	}
	assert_int_equal(ops->recover(f->d, tok[2], &arrived, &err), PF_OK);
	assert_false(arrived);

	/* a reserved name that is no Maildir name is refused */
	assert_int_equal(ops->begin_reserved(f->d, "../x", &err), PF_SOFTWARE);
	assert_int_equal(ops->begin_reserved(f->d, ".hidden", &err),
			 PF_SOFTWARE);
	assert_int_equal(ops->begin_reserved(f->d, "", &err), PF_SOFTWARE);
	/* and a failed begin leaves the delivery usable */
	deliver_one(f->d, "y\n", 2, 1, tok[0]);
	assert_int_equal(tu_count_entries(f->new, NULL), 3);
}

static void test_recover_unknown(void **state)
{
	struct fixture *f = *state;
	bool arrived = true;
	struct error err;
	char token[DELIVER_TOKEN_MAX];

	/* a committed message does not make another token arrive */
	deliver_one(f->d, "x\n", 2, 2, token);
	error_clear(&err);
	assert_int_equal(f->d->ops->recover(f->d,
					    "1700000000.M1P1Q1.nohost",
					    &arrived, &err), PF_OK);
	assert_false(arrived);
	assert_int_equal(tu_count_entries(f->new, NULL), 1);
}

/* recover_all(): one call for several tokens, each answered as recover()
 * would: in new/, in cur/ (plain or with flags), left in tmp/ (removed),
 * never created; a bad token fails the call. */
static void test_recover_all(void **state)
{
	struct fixture *f = *state;
	char tok[3][DELIVER_TOKEN_MAX], leftover[DELIVER_TOKEN_MAX];
	char *from, *to, *toname, *tmpfile;
	const char *tokens[6];
	bool arrived[6];
	struct error err;
	int i;

	assert_non_null(f->d->ops->recover_all);
	for (i = 0; i < 3; i++)
		deliver_one(f->d, "x\n", 2, 2, tok[i]);
	/* tok[1] moved to cur/ with flags, tok[2] moved plain */
	from = tu_join(f->new, tok[1]);
	toname = malloc(strlen(tok[1]) + 5);
	assert_non_null(toname);
	snprintf(toname, strlen(tok[1]) + 5, "%s:2,S", tok[1]);
	to = tu_join(f->cur, toname);
	assert_int_equal(rename(from, to), 0);
	free(from);
	free(to);
	from = tu_join(f->new, tok[2]);
	to = tu_join(f->cur, tok[2]);
	assert_int_equal(rename(from, to), 0);
	free(from);
	free(to);
	/* a message cut off by a crash: its file is still in tmp/ */
	snprintf(leftover, sizeof(leftover), "1700000000.M2P2Q2.crashed");
	tmpfile = tu_join(f->tmp, leftover);
	assert_int_equal(tu_write_file(tmpfile, "half", 4, 0600), 0);

	tokens[0] = tok[0];
	tokens[1] = leftover;
	tokens[2] = tok[1];
	tokens[3] = "1700000000.M1P1Q1.never";
	tokens[4] = tok[2];
	tokens[5] = "1700000000.M1P1Q1";	/* a prefix of none */
	memset(arrived, 0, sizeof(arrived));
	error_clear(&err);
	assert_int_equal(f->d->ops->recover_all(f->d, tokens, 6, arrived, &err),
			 PF_OK);
	assert_true(arrived[0]);
	assert_false(arrived[1]);
	assert_true(arrived[2]);
	assert_false(arrived[3]);
	assert_true(arrived[4]);
	assert_false(arrived[5]);
	assert_int_equal(tu_count_entries(f->tmp, NULL), 0);
	assert_int_equal(tu_count_entries(f->new, NULL), 1);
	assert_int_equal(tu_count_entries(f->cur, NULL), 2);

	tokens[1] = "../escape";
	assert_int_equal(f->d->ops->recover_all(f->d, tokens, 2, arrived, &err),
			 PF_IOERR);
	free(toname);
	free(tmpfile);
}

/* A crash between begin and commit leaves a file in tmp/; recover() in the
 * next run says it did not arrive and removes the leftover. */
static void test_recover_after_crash(void **state)
{
	struct fixture *f = *state;
	char token[DELIVER_TOKEN_MAX];
	int fds[2], status;
	bool arrived = true;
	struct error err;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct deliver *d = NULL;

		close(fds[0]);
		error_clear(&err);
		if (deliver_maildir_open(f->md, &d, &err) != PF_OK ||
		    d->ops->begin(d, token, &err) != PF_OK ||
		    d->ops->write(d, "half a message", 14, &err) != PF_OK)
			_exit(1);
		if (write(fds[1], token, DELIVER_TOKEN_MAX) !=
		    DELIVER_TOKEN_MAX)
			_exit(1);
		_exit(0);	/* "crash": no commit, no abort, no free */
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], token, DELIVER_TOKEN_MAX),
			 DELIVER_TOKEN_MAX);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	assert_int_equal(tu_count_entries(f->new, NULL), 0);
	error_clear(&err);
	assert_int_equal(f->d->ops->recover(f->d, token, &arrived, &err),
			 PF_OK);
	assert_false(arrived);
	assert_int_equal(tu_count_entries(f->tmp, NULL), 0);
	assert_int_equal(tu_count_entries(f->new, NULL), 0);
}

/* Many messages get distinct names. */
static void test_many(void **state)
{
	struct fixture *f = *state;
	char token[DELIVER_TOKEN_MAX], prev[DELIVER_TOKEN_MAX] = "";
	size_t i;

	for (i = 0; i < 50; i++) {
		char msg[64];
		int n = snprintf(msg, sizeof(msg), "Subject: %zu\n\nbody\n",
				 i);

		deliver_one(f->d, msg, (size_t)n, 3, token);
		assert_string_not_equal(token, prev);
		memcpy(prev, token, sizeof(prev));
	}
	assert_int_equal(tu_count_entries(f->new, NULL), 50);
	assert_int_equal(tu_count_entries(f->tmp, NULL), 0);
}

/* A large message written in uneven pieces arrives whole. */
static void test_big(void **state)
{
	struct fixture *f = *state;
	char token[DELIVER_TOKEN_MAX];
	size_t i, big_len = 3u << 20, len;
	char *big = malloc(big_len), *name, *path, *back;

	assert_non_null(big);
	for (i = 0; i < big_len; i++)
		big[i] = (char)(i % 251);
	deliver_one(f->d, big, big_len, 65521, token);
	assert_int_equal(tu_count_entries(f->new, &name), 1);
	path = tu_join(f->new, name);
	back = tu_read_file(path, &len);
	assert_int_equal(len, big_len);
	assert_memory_equal(back, big, big_len);
	free(back);
	free(path);
	free(name);
	free(big);
}

/* An empty message is a message. */
static void test_empty_message(void **state)
{
	struct fixture *f = *state;
	char token[DELIVER_TOKEN_MAX], *name, *path, *back;
	size_t len = 99;

	deliver_one(f->d, "", 0, 1, token);
	assert_int_equal(tu_count_entries(f->new, &name), 1);
	path = tu_join(f->new, name);
	back = tu_read_file(path, &len);
	assert_int_equal(len, 0);
	free(back);
	free(path);
	free(name);
}

/* Commits run in the background: many messages committed without a sync
 * in between (more than the workers' queue holds) all arrive whole, and
 * sync() returns only when every one of them is in new/. */
static void test_background_many(void **state)
{
	struct fixture *f = *state;
	char tok[200][DELIVER_TOKEN_MAX];
	const struct deliver_ops *ops = f->d->ops;
	struct error err;
	size_t i;

	error_clear(&err);
	for (i = 0; i < 200; i++) {
		char msg[64], *path, *back;
		size_t len;
		int n = snprintf(msg, sizeof(msg), "Subject: %zu\n\nbody\n", i);

		if (i == 100) {
			/* half-way, one sync: it waits for the first 100 */
			assert_int_equal(ops->sync(f->d, &err), PF_OK);
			assert_int_equal(tu_count_entries(f->new, NULL), 100);
			assert_int_equal(tu_count_entries(f->tmp, NULL), 0);
			path = tu_join(f->new, tok[42]);
			back = tu_read_file(path, &len);
			assert_non_null(back);
			assert_int_equal(len, strlen("Subject: 42\n\nbody\n"));
			assert_memory_equal(back, "Subject: 42\n", 12);
			free(back);
			free(path);
		}
		assert_int_equal(ops->begin(f->d, tok[i], &err), PF_OK);
		assert_int_equal(ops->write(f->d, msg, (size_t)n, &err), PF_OK);
		assert_int_equal(ops->commit(f->d, &err), PF_OK);
	}
	assert_int_equal(ops->sync(f->d, &err), PF_OK);
	assert_int_equal(tu_count_entries(f->new, NULL), 200);
	assert_int_equal(tu_count_entries(f->tmp, NULL), 0);
	for (i = 0; i < 200; i++) {
		bool arrived = false;

		assert_int_equal(ops->recover(f->d, tok[i], &arrived, &err),
				 PF_OK);
		assert_true(arrived);
	}
}

/* A commit that fails in the background (here: new/ is gone, so the
 * rename fails) is reported by sync(), leaves nothing in tmp/, and stays
 * reported: every later commit and sync fails, so that no batch can be
 * recorded across a lost message. */
static void test_background_failure(void **state)
{
	struct fixture *f = *state;
	const struct deliver_ops *ops = f->d->ops;
	char token[DELIVER_TOKEN_MAX];
	struct error err;
	bool arrived = true;

	error_clear(&err);
	assert_int_equal(rmdir(f->new), 0);
	assert_int_equal(ops->begin(f->d, token, &err), PF_OK);
	assert_int_equal(ops->write(f->d, "a\n", 2, &err), PF_OK);
	assert_int_equal(ops->commit(f->d, &err), PF_OK);
	assert_int_equal(ops->sync(f->d, &err), PF_IOERR);
	assert_non_null(strstr(err.text, "cannot move into new/"));
	assert_non_null(strstr(err.text, token));
	assert_int_equal(tu_count_entries(f->tmp, NULL), 0);
	assert_int_equal(ops->recover(f->d, token, &arrived, &err), PF_OK);
	assert_false(arrived);

	/* sticky: the next message is refused at commit, abort cleans up */
	error_clear(&err);
	assert_int_equal(ops->begin(f->d, token, &err), PF_OK);
	assert_int_equal(ops->write(f->d, "b\n", 2, &err), PF_OK);
	assert_int_equal(ops->commit(f->d, &err), PF_IOERR);
	ops->abort(f->d);
	assert_int_equal(tu_count_entries(f->tmp, NULL), 0);
	error_clear(&err);
	assert_int_equal(ops->sync(f->d, &err), PF_IOERR);
	assert_non_null(strstr(err.text, "cannot move into new/"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name),
		cmocka_unit_test(test_name_short_buffer),
		T(test_open_creates),
		T(test_open_nested),
		T(test_open_fails),
		T(test_commit),
		T(test_reserve),
		T(test_recover_after_move),
		T(test_abort),
		T(test_recover_unknown),
		T(test_recover_all),
		T(test_recover_after_crash),
		T(test_many),
		T(test_big),
		T(test_empty_message),
		T(test_background_many),
		T(test_background_failure),
	};

	return cmocka_run_group_tests_name("maildir", tests, NULL, NULL);
}
