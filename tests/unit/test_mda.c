/*
 * test_mda.c - delivery to a command through deliver_mda_open() and the
 * deliver vtable, with real commands: bytes arrive exactly, %u %a %% are
 * substituted as single words without a shell, exit statuses map to
 * verdicts, abort kills the command before it can see the end of its
 * input, and the command gets no password and none of our descriptors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include "config.h"
#include "deliver.h"
#include "error.h"
#include "state.h"
#include "testutil.h"
#include "util.h"

#define N(t) (sizeof(t) / sizeof((t)[0]))

struct fixture {
	char *dir;	/* private temp dir */
	char *out;	/* dir/out: where commands write */
	char *script;	/* dir/args.sh: writes its arguments to $1 */
	struct deliver *d;
};

/* Writes "argc=N" then one "[arg]" line per argument after $1 into $1,
 * then reads its input to the end. */
static const char args_script[] =
	"#!/bin/sh\n"
	"out=$1\n"
	"shift\n"
	"printf 'argc=%s\\n' \"$#\" > \"$out\"\n"
	"for a in \"$@\"; do printf '[%s]\\n' \"$a\" >> \"$out\"; done\n"
	"exec cat > /dev/null\n";

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->dir = tu_mkdtemp();
	f->out = tu_join(f->dir, "out");
	f->script = tu_join(f->dir, "args.sh");
	if (tu_write_file(f->script, args_script, sizeof(args_script) - 1,
			  0700) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	deliver_free(&f->d);
	tu_rm_rf(f->dir);
	free(f->dir);
	free(f->out);
	free(f->script);
	free(f);
	return 0;
}

static struct deliver *mda_open(struct fixture *f, const char *command,
				const char *user, const char *account)
{
	struct error err;

	deliver_free(&f->d);
	error_clear(&err);
	if (deliver_mda_open(command, user, account, &f->d, &err) != PF_OK)
		fail_msg("deliver_mda_open(%s): %s", command, err.text);
	assert_non_null(f->d);
	return f->d;
}

/* A new command string (printf-like). */
static char *cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *cmd(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

/* ---- a small PRNG, so that failures can be replayed ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

enum feed { FEED_WHOLE, FEED_BYTES, FEED_RANDOM };

/* One message the way the runner does it: begin, write until a write
 * fails, commit if none did, abort after any failure.  Returns the first
 * failure, or PF_OK. */
static enum pf_status run_mda(struct deliver *d, const char *msg, size_t len,
			      enum feed how, struct error *err)
{
	char token[DELIVER_TOKEN_MAX];
	enum pf_status ret;
	size_t off = 0;

	error_clear(err);
	memset(token, 0, sizeof(token));
	ret = d->ops->begin(d, token, err);
	if (ret != PF_OK)
		return ret;
	assert_true(token[0] != '\0');
	while (ret == PF_OK && off < len) {
		size_t n = how == FEED_WHOLE ? len - off
			   : how == FEED_BYTES ? 1 : rnd() % 70000 + 1;

		if (n > len - off)
			n = len - off;
		ret = d->ops->write(d, msg + off, n, err);
		off += n;
	}
	if (ret == PF_OK)
		ret = d->ops->commit(d, err);
	if (ret != PF_OK) {
		assert_int_equal(err->status, ret);
		assert_true(err->text[0] != '\0');
		d->ops->abort(d);
	}
	return ret;
}

static void run_ok(struct deliver *d, const char *msg, size_t len,
		   enum feed how)
{
	struct error err;

	if (run_mda(d, msg, len, how, &err) != PF_OK)
		fail_msg("delivery failed: %s", err.text);
}

/* No child is left behind (neither running nor a zombie). */
static void assert_no_children(void)
{
	int status;

	errno = 0;
	assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static char *read_out(struct fixture *f, size_t *len_r)
{
	char *buf = tu_read_file(f->out, len_r);

	if (buf == NULL)
		fail_msg("the command wrote no %s", f->out);
	return buf;
}

/* ---- bytes ---- */

static void test_bytes_exact(void **state)
{
	struct fixture *f = *state;
	char *c = cmd("sh -c 'cat > \"$0\"' '%s'", f->out);
	struct deliver *d = mda_open(f, c, "alice", "work");
	size_t big = 3u << 20, lens[5], i, k;
	char *msgs[5];

	rng = 0x1234567887654321ull;
	/* 8-bit, NUL, "From " and dots: nothing is quoted or changed */
	msgs[0] = strdup("Subject: x\n\nFrom me\n.\n..\n>From\n");
	lens[0] = strlen(msgs[0]);
	msgs[1] = malloc(4096);
	assert_non_null(msgs[1]);
	for (i = 0; i < 4096; i++)
		msgs[1][i] = (char)(rnd() & 0xff);
	lens[1] = 4096;
	msgs[2] = strdup("");
	lens[2] = 0;
	msgs[3] = strdup("no final newline");
	lens[3] = strlen(msgs[3]);
	msgs[4] = malloc(big);	/* far more than a pipe holds */
	assert_non_null(msgs[4]);
	for (i = 0; i < big; i++)
		msgs[4][i] = i % 71 == 70 ? '\n' : (char)(rnd() & 0xff);
	lens[4] = big;

	for (i = 0; i < N(msgs); i++) {
		for (k = 0; k < 3; k++) {
			size_t len;
			char *back;

			if (k == FEED_BYTES && lens[i] > 100000)
				continue;
			unlink(f->out);
			run_ok(d, msgs[i], lens[i], (enum feed)k);
			back = read_out(f, &len);
			if (len != lens[i] || memcmp(back, msgs[i], len) != 0)
				fail_msg("message %zu fed %zu: %zu bytes arrived, "
					 "want %zu", i, k, len, lens[i]);
			free(back);
			assert_no_children();
		}
	}
	for (i = 0; i < N(msgs); i++)
		free(msgs[i]);
	free(c);
}

/* ---- arguments ---- */

struct args_case {
	const char *words;	/* after "SCRIPT OUT " */
	const char *user, *account;
	const char *want;	/* what the script writes */
};

static const struct args_case args_cases[] = {
	{ "%u %a", "alice", "work", "argc=2\n[alice]\n[work]\n" },
	/* a user name with a blank stays one word */
	{ "%u", "john doe", "work", "argc=1\n[john doe]\n" },
	{ "-d %u", "  two  blanks ", "a", "argc=2\n[-d]\n[  two  blanks ]\n" },
	/* inside a word, several times */
	{ "--for=%u@%a x%uy%u", "u", "acc",
	  "argc=2\n[--for=u@acc]\n[xuyu]\n" },
	/* %% is a %, and what follows it is not expanded */
	{ "100%% %%u %%%u %%%%", "bob", "w",
	  "argc=4\n[100%]\n[%u]\n[%bob]\n[%%]\n" },
	/* substituted text is not expanded again, nor split, nor globbed */
	{ "%u", "x%ay", "acc", "argc=1\n[x%ay]\n" },
	{ "%u", "o'neil \"q\" $HOME `id` \\ * ;|&", "a",
	  "argc=1\n[o'neil \"q\" $HOME `id` \\ * ;|&]\n" },
	{ "%a", "u", "my.work_box-2", "argc=1\n[my.work_box-2]\n" },
	/* quoting in the command itself */
	{ "'a b' \"c d\" e\\ f 'it''s' \"x\\\"y\" ''", "u", "a",
	  "argc=6\n[a b]\n[c d]\n[e f]\n[its]\n[x\"y]\n[]\n" },
	{ "'%u and %a'", "me", "box", "argc=1\n[me and box]\n" },
	/* no shell: these are words, not syntax */
	{ "$HOME ; x | y > z && `id` *", "u", "a",
	  "argc=10\n[$HOME]\n[;]\n[x]\n[|]\n[y]\n[>]\n[z]\n[&&]\n[`id`]\n"
	  "[*]\n" },
	{ "", "u", "a", "argc=0\n" },
};

static void test_arguments(void **state)
{
	struct fixture *f = *state;
	unsigned nfail = 0;
	size_t i;

	for (i = 0; i < N(args_cases); i++) {
		const struct args_case *c = &args_cases[i];
		char *command = cmd("'%s' '%s' %s", f->script, f->out, c->words);
		struct deliver *d = mda_open(f, command, c->user, c->account);
		char *back;
		size_t len;

		unlink(f->out);
		run_ok(d, "Subject: a\n\nx\n", 14, FEED_WHOLE);
		back = read_out(f, &len);
		if (strcmp(back, c->want) != 0) {
			print_error("# command \"%s\" user \"%s\": got\n%s# want\n"
				    "%s", c->words, c->user, back, c->want);
			nfail++;
		}
		free(back);
		free(command);
	}
	/* the "*" case above did not glob: there are files here to match */
	assert_int_equal(nfail, 0);
}

/* The command is found on PATH, as execvp() does. */
static void test_path_lookup(void **state)
{
	struct fixture *f = *state;
	char *c = cmd("sh -c 'printf %%%%s \"$0\" > \"$1\"' %%a '%s'", f->out);
	struct deliver *d = mda_open(f, c, "u", "acct");
	char *back;
	size_t len;

	run_ok(d, "x\n", 2, FEED_WHOLE);
	back = read_out(f, &len);
	assert_string_equal(back, "acct");
	free(back);
	free(c);
}

/* ---- verdicts ---- */

static void test_exit_status(void **state)
{
	static const struct {
		const char *script;
		enum pf_status want;
	} t[] = {
		{ "cat >/dev/null; exit 0", PF_OK },
		{ "cat >/dev/null; exit 75", PF_TEMPFAIL },
		{ "cat >/dev/null; exit 1", PF_UNAVAILABLE },
		{ "cat >/dev/null; exit 64", PF_UNAVAILABLE },
		{ "cat >/dev/null; exit 67", PF_UNAVAILABLE },
		{ "cat >/dev/null; exit 69", PF_UNAVAILABLE },
		{ "cat >/dev/null; exit 74", PF_UNAVAILABLE },
		{ "cat >/dev/null; exit 76", PF_UNAVAILABLE },
		{ "cat >/dev/null; exit 255", PF_UNAVAILABLE },
		{ "cat >/dev/null; kill -9 $$", PF_UNAVAILABLE },
		{ "cat >/dev/null; kill -15 $$", PF_UNAVAILABLE },
	};
	struct fixture *f = *state;
	unsigned nfail = 0;
	size_t i;

	for (i = 0; i < N(t); i++) {
		char *c = cmd("sh -c '%s'", t[i].script);
		struct deliver *d = mda_open(f, c, "u", "a");
		struct error err;
		enum pf_status ret;

		ret = run_mda(d, "Subject: s\n\nx\n", 14, FEED_WHOLE, &err);
		if (ret != t[i].want) {
			print_error("# '%s': status %d '%s', want %d\n",
				    t[i].script, ret, err.text, t[i].want);
			nfail++;
		}
		if (ret != PF_OK && strstr(err.text, "sh") == NULL) {
			print_error("# '%s': error does not name the command: "
				    "'%s'\n", t[i].script, err.text);
			nfail++;
		}
		assert_no_children();
		free(c);
	}
	assert_int_equal(nfail, 0);
}

/* An MDA that gives its verdict before reading a message larger than
 * the pipe: the write fails (EPIPE, SIGPIPE ignored as popfetch does), and
 * the verdict must still be the command's: 75 is "try again later". */
static void test_exit_without_reading(void **state)
{
	static const struct {
		const char *script;
		enum pf_status want;
		size_t len;
	} t[] = {
		{ "exit 75", PF_TEMPFAIL, 1u << 20 },
		{ "exit 1", PF_UNAVAILABLE, 1u << 20 },
		{ "exit 0", PF_UNAVAILABLE, 1u << 20 },	/* did not take it */
		{ "head -c 1000 >/dev/null; exit 75", PF_TEMPFAIL, 1u << 20 },
		/* a small message: whether the command is gone before we
		 * write is a race, the verdict must not depend on it */
		{ "exit 75", PF_TEMPFAIL, 14 },
		{ "exit 1", PF_UNAVAILABLE, 14 },
	};
	struct fixture *f = *state;
	size_t big = 1u << 20, i;
	char *msg = malloc(big);
	unsigned nfail = 0;

	assert_non_null(msg);
	memset(msg, 'x', big);
	for (i = 0; i < N(t); i++) {
		char *c = cmd("sh -c '%s'", t[i].script);
		struct deliver *d = mda_open(f, c, "u", "a");
		struct error err;
		enum pf_status ret = run_mda(d, msg, t[i].len, FEED_WHOLE,
					     &err);

		if (ret != t[i].want) {
			print_error("# '%s' before reading %zu bytes: status %d "
				    "'%s', want %d\n", t[i].script, t[i].len, ret,
				    err.text, t[i].want);
			nfail++;
		}
		assert_no_children();
		free(c);
	}
	free(msg);
	assert_int_equal(nfail, 0);
}

/* A command that is not there fails the account before any mail is
 * fetched: deliver_mda_open() looks it up as execvp() would. */
static void test_not_found(void **state)
{
	struct fixture *f = *state;
	char *plain = tu_join(f->dir, "not-executable");
	char *gone = tu_join(f->dir, "gone.sh");
	const char *commands[] = {
		"/nonexistent/popfetch-no-such-mda -x",
		"popfetch-no-such-mda-on-path %u",
		plain,
	};
	size_t i, k;
	char *msg = malloc(300000);

	assert_non_null(msg);
	memset(msg, 'y', 300000);
	assert_int_equal(tu_write_file(plain, "#!/bin/sh\n", 10, 0600), 0);
	for (i = 0; i < N(commands); i++) {
		struct deliver *d = NULL;
		struct error err;
		char word[256];

		error_clear(&err);
		if (deliver_mda_open(commands[i], "u", "a", &d, &err) == PF_OK)
			fail_msg("'%s' accepted", commands[i]);
		assert_null(d);
		assert_int_equal(err.status, PF_UNAVAILABLE);
		snprintf(word, sizeof(word), "%s", commands[i]);
		if (strchr(word, ' ') != NULL)
			*strchr(word, ' ') = '\0';
		assert_non_null(strstr(err.text, word));
	}
	/* one that vanishes after the account started: each message fails,
	 * a small one and one that fills the pipe, without a crash */
	assert_int_equal(tu_write_file(gone, "#!/bin/sh\ncat\n", 14, 0700), 0);
	for (k = 0; k < 2; k++) {
		struct deliver *d = mda_open(f, gone, "u", "a");
		struct error err;

		assert_int_equal(unlink(gone), 0);
		assert_int_equal(run_mda(d, msg, k ? 300000 : 10, FEED_WHOLE,
					 &err), PF_UNAVAILABLE);
		assert_no_children();
		assert_int_equal(tu_write_file(gone, "#!/bin/sh\ncat\n", 14,
					       0700), 0);
	}
	free(msg);
	free(plain);
	free(gone);
}

/* A directory passes access(X_OK) but is no program: execvp() fails
 * with EACCES for every message instead of failing the account. */
static void test_not_found_directory(void **state)
{
	struct fixture *f = *state;
	char *sub = tu_join(f->dir, "mda-dir");
	struct deliver *d = NULL;
	struct error err;

	assert_int_equal(mkdir(sub, 0700), 0);
	error_clear(&err);
	if (deliver_mda_open(sub, "u", "a", &d, &err) == PF_OK) {
		deliver_free(&d);
		fail_msg("a directory was accepted as the MDA program");
	}
	assert_null(d);
	assert_int_equal(err.status, PF_UNAVAILABLE);
	assert_non_null(strstr(err.text, sub));
	free(sub);
}

/* ---- abort ---- */

/* Reads its input to EOF with the shell itself (so that killing it
 * leaves no reader behind), then creates the marker file. */
static char *marker_command(struct fixture *f, char **marker_r)
{
	*marker_r = tu_join(f->dir, "marker");
	return cmd("sh -c 'while IFS= read -r l; do :; done; : > \"$0\"' '%s'",
		   *marker_r);
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void test_abort_kills(void **state)
{
	struct fixture *f = *state;
	char *marker, *c = marker_command(f, &marker);
	struct deliver *d = mda_open(f, c, "u", "a");
	char token[DELIVER_TOKEN_MAX];
	struct error err;
	struct stat st;
	int round;

	/* control: a whole message does make the marker */
	run_ok(d, "Subject: m\n\nline\n", 17, FEED_WHOLE);
	assert_int_equal(stat(marker, &st), 0);
	assert_int_equal(unlink(marker), 0);

	for (round = 0; round < 3; round++) {
		error_clear(&err);
		assert_int_equal(d->ops->begin(d, token, &err), PF_OK);
		if (round > 0)
			assert_int_equal(d->ops->write(d, "Subject: m\n\npart",
						       16, &err), PF_OK);
		if (round > 1)
			pause_ms(200);	/* the command is waiting for more */
		d->ops->abort(d);
		assert_no_children();	/* killed and reaped */
		pause_ms(100);
		if (stat(marker, &st) == 0)
			fail_msg("round %d: the command saw the end of a cut-off "
				 "message", round);
	}
	/* deliver_free() mid-message is an abort too */
	assert_int_equal(d->ops->begin(d, token, &err), PF_OK);
	assert_int_equal(d->ops->write(d, "Subject: m\n\n", 12, &err), PF_OK);
	pause_ms(100);
	deliver_free(&f->d);
	assert_null(f->d);
	assert_no_children();
	pause_ms(100);
	assert_int_not_equal(stat(marker, &st), 0);
	free(marker);
	free(c);
}

/* ---- the rest of the vtable ---- */

static void test_vtable(void **state)
{
	struct fixture *f = *state;
	struct deliver *d = mda_open(f, "cat", "u", "a");
	char token[DELIVER_TOKEN_MAX];
	struct error err;
	bool arrived = true;

	/* a failed command concerns that message only */
	assert_true(d->per_message_verdict);
	/* whether an MDA finished before a crash cannot be known: the
	 * message is fetched again */
	error_clear(&err);
	assert_int_equal(d->ops->recover(d, "mda", &arrived, &err), PF_OK);
	assert_false(arrived);
	arrived = true;
	assert_int_equal(d->ops->recover(d, "anything", &arrived, &err),
			 PF_OK);
	assert_false(arrived);
	/* out-of-order calls fail instead of misbehaving */
	assert_true(d->ops->write(d, "x", 1, &err) != PF_OK);
	assert_true(d->ops->commit(d, &err) != PF_OK);
	d->ops->abort(d);
	assert_int_equal(d->ops->begin(d, token, &err), PF_OK);
	assert_true(d->ops->begin(d, token, &err) != PF_OK);
	d->ops->abort(d);
	assert_no_children();
}

static void test_open_errors(void **state)
{
	static const char *const bad[] = {
		"", "   ", "\t", "'unterminated", "\"unterminated",
		"procmail 'a", "x \"y\\\"",
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(bad); i++) {
		struct deliver *d = NULL;
		struct error err;

		error_clear(&err);
		if (deliver_mda_open(bad[i], "u", "a", &d, &err) != PF_CONFIG)
			fail_msg("command \"%s\" accepted", bad[i]);
		assert_null(d);
		assert_int_equal(err.status, PF_CONFIG);
		assert_true(err.text[0] != '\0');
	}
}

/* ---- what the command must not get ---- */

/*
 * The deliver API has no password, so the MDA could only get one through
 * what popfetch leaves in the process: its environment (were config
 * loading to export values) or its argument list.  So: load a real config
 * with a password, open the MDA from that account the way the runner
 * does, and check that the password appears in neither the command's
 * environment nor its arguments.
 */
static const char env_script[] =
	"#!/bin/sh\n"
	"out=$1\n"
	"shift\n"
	"cat /proc/$$/environ > \"$out\"\n"
	"printf '\\n%s' \"$0\" \"$@\" >> \"$out\"\n"
	"exec cat > /dev/null\n";

static void test_no_password(void **state)
{
	static const char password[] = "pw-Zq81-never-shown";
	struct fixture *f = *state;
	char *ini = tu_join(f->dir, "popfetch.ini");
	char *script = tu_join(f->dir, "env.sh");
	char *text, *back;
	struct config cfg;
	struct error err;
	const struct account *a;
	size_t len;

	assert_int_equal(tu_write_file(script, env_script,
				       sizeof(env_script) - 1, 0700), 0);
	text = cmd("[work]\nhost = pop.example.com\nuser = alice\n"
		   "password = %s\nmda = \"'%s' '%s' %%u %%a\"\n"
		   "state_dir = %s\n",
		   password, script, f->out, f->dir);
	assert_int_equal(tu_write_file(ini, text, strlen(text), 0600), 0);
	error_clear(&err);
	if (config_load(ini, &cfg, &err) != PF_OK)
		fail_msg("config_load: %s", err.text);
	a = config_find(&cfg, "work");
	assert_non_null(a);
	assert_string_equal(a->password, password);
	assert_int_equal(deliver_mda_open(a->mda, a->user, a->name, &f->d,
					  &err), PF_OK);
	run_ok(f->d, "Subject: p\n\nx\n", 14, FEED_WHOLE);
	back = read_out(f, &len);
	/* it ran, with the environment first and then its arguments */
	assert_non_null(memmem(back, len, "\nalice\nwork", 11));
	assert_non_null(memmem(back, len, "PATH=", 5));
	if (memmem(back, len, password, strlen(password)) != NULL)
		fail_msg("the MDA got the password");
	free(back);
	config_free(&cfg);
	free(ini);
	free(script);
	free(text);
}

/* The descriptors popfetch holds while delivering (state lock and
 * journal, an mbox, the pipe to the command itself) are not inherited. */
static void test_no_descriptors(void **state)
{
	struct fixture *f = *state;
	char *sd = tu_join(f->dir, "state"), *mbox = tu_join(f->dir, "mbox");
	struct state *st = NULL;
	struct deliver *mb = NULL;
	struct error err;
	char list[512] = "", *c, *back;
	size_t len, used = 0;
	int lo, hi, fd;

	lo = dup(0);
	assert_true(lo >= 0);
	close(lo);
	error_clear(&err);
	assert_int_equal(state_open(sd, "work", &st, &err), PF_OK);
	assert_int_equal(deliver_mbox_open(mbox, 1, &mb, &err), PF_OK);
	hi = dup(0);	/* the pipe will take about this number */
	assert_true(hi >= 0);
	close(hi);
	for (fd = lo; fd <= hi + 2; fd++)
		used += (size_t)snprintf(list + used, sizeof(list) - used,
					 " %d", fd);
	c = cmd("sh -c 'for n in%s; do [ -e /proc/$$/fd/$n ] && echo fd $n "
		">> \"$0\"; done; echo done >> \"$0\"; cat > /dev/null' '%s'",
		list, f->out);
	mda_open(f, c, "u", "a");
	run_ok(f->d, "x\n", 2, FEED_WHOLE);
	back = read_out(f, &len);
	if (strcmp(back, "done\n") != 0)
		fail_msg("the MDA inherited descriptors (of%s):\n%s", list, back);
	free(back);
	deliver_free(&mb);
	state_close(&st);
	free(sd);
	free(mbox);
	free(c);
}

/* deliver.h: "no inherited descriptors beyond stdin/stdout/stderr" - also
 * one that popfetch itself was given without close-on-exec (by cron, a
 * shell, a supervisor). */
static void test_no_stray_descriptors(void **state)
{
	struct fixture *f = *state;
	char *c, *back;
	size_t len;
	int fd = open("/dev/null", O_RDONLY);	/* no O_CLOEXEC */

	assert_true(fd >= 0);
	assert_int_equal(dup2(fd, 40), 40);
	close(fd);
	c = cmd("sh -c '[ -e /proc/$$/fd/40 ] && echo fd 40 >> \"$0\"; "
		"echo done >> \"$0\"; cat > /dev/null' '%s'", f->out);
	mda_open(f, c, "u", "a");
	run_ok(f->d, "x\n", 2, FEED_WHOLE);
	close(40);
	back = read_out(f, &len);
	if (strcmp(back, "done\n") != 0)
		fail_msg("the MDA inherited a stray descriptor:\n%s", back);
	free(back);
	free(c);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_bytes_exact),
		T(test_arguments),
		T(test_path_lookup),
		T(test_exit_status),
		T(test_exit_without_reading),
		T(test_not_found),
		T(test_not_found_directory),
		T(test_abort_kills),
		T(test_vtable),
		cmocka_unit_test(test_open_errors),
		T(test_no_password),
		T(test_no_descriptors),
		T(test_no_stray_descriptors),
	};

	/* as popfetch does (main.c): a command that stops reading is a
	 * failed write, not a fatal SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("mda", tests, NULL, NULL);
}
