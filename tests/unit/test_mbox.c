/*
 * test_mbox.c - mboxrd delivery through deliver_mbox_open() and the
 * deliver vtable, into real files in a private directory: quoting fed
 * whole, one byte at a time and at random split points; a round trip
 * through an mboxrd reader written here; the separator line; locking
 * against other processes (fcntl and PATH.lock); abort, write failures and
 * recover() leaving the file byte-identical.
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include "deliver.h"
#include "error.h"
#include "testutil.h"
#include "util.h"

#define N(t) (sizeof(t) / sizeof((t)[0]))
#define DATE_LEN 24	/* "Mon Nov 23 00:01:52 2026" */
#define OLD_DATE "Mon Jan  1 00:00:00 2024"	/* of hand-made mail */

struct fixture {
	char *dir;	/* private temp dir */
	char *path;	/* dir/Mail/inbox, not yet created by the test */
	char *lockpath;	/* path.lock */
	struct deliver *d;
	pid_t child;	/* a helper process to kill in teardown, or 0 */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct error err;

	if (f == NULL)
		return -1;
	f->dir = tu_mkdtemp();
	f->path = tu_join(f->dir, "Mail/inbox");
	f->lockpath = malloc(strlen(f->path) + 6);
	if (f->lockpath == NULL)
		return -1;
	snprintf(f->lockpath, strlen(f->path) + 6, "%s.lock", f->path);
	error_clear(&err);
	if (deliver_mbox_open(f->path, 1, &f->d, &err) != PF_OK) {
		print_error("# deliver_mbox_open: %s\n", err.text);
		return -1;
	}
	*state = f;
	return 0;
}

static void kill_child(pid_t *pid)
{
	int status;

	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, &status, 0);
	}
	*pid = 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kill_child(&f->child);
	deliver_free(&f->d);
	tu_rm_rf(f->dir);
	free(f->dir);
	free(f->path);
	free(f->lockpath);
	free(f);
	return 0;
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

/* ---- feeding a message ---- */

enum feed { FEED_WHOLE, FEED_BYTES, FEED_RANDOM };
static const char *const feed_name[] = { "whole", "bytes", "random" };

static enum pf_status feed(struct deliver *d, const char *msg, size_t len,
			   enum feed how, struct error *err)
{
	size_t off = 0;

	if (how == FEED_WHOLE)
		return d->ops->write(d, msg, len, err);
	while (off < len) {
		size_t n = 1;

		if (how == FEED_RANDOM) {
			uint32_t r = rnd();

			/* mostly small pieces, some big, some empty */
			n = r % 8 == 0 ? 0 : r % 8 == 1 ? r % 100000
			    : (r >> 4) % 17 + 1;
			if (n > len - off)
				n = len - off;
		}
		if (d->ops->write(d, msg + off, n, err) != PF_OK)
			return err->status;
		off += n;
	}
	return PF_OK;
}

/* begin + write + commit; the token goes to token_r (may be NULL). */
static void deliver_msg(struct deliver *d, const char *msg, size_t len,
			enum feed how, char *token_r)
{
	char token[DELIVER_TOKEN_MAX];
	struct error err;

	error_clear(&err);
	memset(token, 0, sizeof(token));
	if (d->ops->begin(d, token, &err) != PF_OK)
		fail_msg("begin: %s", err.text);
	assert_true(token[0] != '\0');
	if (feed(d, msg, len, how, &err) != PF_OK)
		fail_msg("write (%s): %s", feed_name[how], err.text);
	if (d->ops->commit(d, &err) != PF_OK)
		fail_msg("commit: %s", err.text);
	if (token_r != NULL)
		memcpy(token_r, token, DELIVER_TOKEN_MAX);
}

static void deliver_str(struct deliver *d, const char *msg)
{
	deliver_msg(d, msg, strlen(msg), FEED_WHOLE, NULL);
}

static char *read_all(const char *path, size_t *len_r)
{
	char *buf = tu_read_file(path, len_r);

	if (buf == NULL)
		fail_msg("cannot read %s", path);
	return buf;
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ---- reading an mbox back ---- */

/* Checks a separator's date: asctime() form, C locale, local time, close
 * to now. */
static void check_date(const char *date)
{
	char copy[DATE_LEN + 1], again[64];
	struct tm tm;
	time_t t, now = time(NULL);
	const char *end;

	memcpy(copy, date, DATE_LEN);
	copy[DATE_LEN] = '\0';
	memset(&tm, 0, sizeof(tm));
	end = strptime(copy, "%a %b %e %H:%M:%S %Y", &tm);
	if (end == NULL || *end != '\0')
		fail_msg("separator date '%s' is not in asctime form", copy);
	/* exactly asctime's spacing: "%e" pads the day with a blank */
	strftime(again, sizeof(again), "%a %b %e %H:%M:%S %Y", &tm);
	if (strcmp(again, copy) != 0)
		fail_msg("separator date '%s', asctime form is '%s'", copy,
			 again);
	/* the old mail the tests put in place is from another time */
	if (strcmp(copy, OLD_DATE) == 0)
		return;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	if (t < now - 120 || t > now + 5)
		fail_msg("separator date '%s' is not the local time now "
			 "(%lld s off)", copy, (long long)(t - now));
}

struct msg {
	char *sender;
	char *data;
	size_t len, cap;
};

struct mbox_file {
	struct msg *m;
	size_t n;
};

static void mbox_file_free(struct mbox_file *mf)
{
	size_t i;

	for (i = 0; i < mf->n; i++) {
		free(mf->m[i].sender);
		free(mf->m[i].data);
	}
	free(mf->m);
	memset(mf, 0, sizeof(*mf));
}

static void append(struct msg *m, const char *p, size_t len)
{
	if (m->len + len + 1 > m->cap) {
		m->cap = (m->len + len + 1) * 2;
		m->data = realloc(m->data, m->cap);
		assert_non_null(m->data);
	}
	memcpy(m->data + m->len, p, len);
	m->len += len;
	m->data[m->len] = '\0';
}

/* Every message ends with its blank line, which is not part of it. */
static void finish_msg(struct msg *m)
{
	if (m == NULL)
		return;
	if (m->len == 0 || m->data[m->len - 1] != '\n' ||
	    (m->len > 1 && m->data[m->len - 2] != '\n'))
		fail_msg("message from %s does not end with a blank line",
			 m->sender);
	m->len--;
	m->data[m->len] = '\0';
}

/* An mboxrd reader: a message starts at each "From " line (the writer
 * quotes every other one); ^>+From  lines lose one '>'. */
static struct mbox_file mbox_parse(const char *buf, size_t len)
{
	struct mbox_file mf = { NULL, 0 };
	struct msg *cur = NULL;
	size_t pos = 0;

	while (pos < len) {
		const char *line = buf + pos;
		const char *eol = memchr(line, '\n', len - pos);
		size_t ll, gt;

		if (eol == NULL)
			fail_msg("the mbox does not end with a newline");
		ll = (size_t)(eol - line);
		pos += ll + 1;
		if (ll >= 5 && memcmp(line, "From ", 5) == 0) {
			size_t slen;

			finish_msg(cur);
			if (ll < 5 + 1 + 1 + DATE_LEN ||
			    line[ll - DATE_LEN - 1] != ' ')
				fail_msg("bad separator line '%.*s'", (int)ll,
					 line);
			slen = ll - 5 - 1 - DATE_LEN;
			check_date(line + ll - DATE_LEN);
			mf.m = realloc(mf.m, (mf.n + 1) * sizeof(*mf.m));
			assert_non_null(mf.m);
			cur = &mf.m[mf.n++];
			memset(cur, 0, sizeof(*cur));
			cur->sender = strndup(line + 5, slen);
			cur->data = calloc(1, 1);
			if (memchr(cur->sender, ' ', slen) != NULL ||
			    slen == 0)
				fail_msg("bad sender in '%.*s'", (int)ll, line);
			continue;
		}
		if (cur == NULL)
			fail_msg("the mbox does not start with 'From '");
		for (gt = 0; gt < ll && line[gt] == '>'; gt++)
			;
		if (gt > 0 && ll - gt >= 5 && memcmp(line + gt, "From ", 5) == 0)
			append(cur, line + 1, ll);	/* unquote one '>' */
		else
			append(cur, line, ll + 1);
	}
	finish_msg(cur);
	return mf;
}

static struct mbox_file mbox_parse_file(const char *path)
{
	size_t len;
	char *buf = read_all(path, &len);
	struct mbox_file mf = mbox_parse(buf, len);

	free(buf);
	return mf;
}

/* The file with every separator's date replaced by "DATE", so that files
 * written at different seconds compare equal. */
static char *normalized(const char *path, size_t *len_r)
{
	size_t len, pos = 0, olen = 0;
	char *buf = read_all(path, &len);
	char *out = malloc(len + 1);

	assert_non_null(out);
	while (pos < len) {
		const char *line = buf + pos;
		const char *eol = memchr(line, '\n', len - pos);
		size_t ll = eol != NULL ? (size_t)(eol - line) + 1 : len - pos;

		if (ll >= 5 + DATE_LEN + 1 && memcmp(line, "From ", 5) == 0) {
			check_date(line + ll - 1 - DATE_LEN);
			memcpy(out + olen, line, ll - 1 - DATE_LEN);
			olen += ll - 1 - DATE_LEN;
			memcpy(out + olen, "DATE\n", 5);
			olen += 5;
		} else {
			memcpy(out + olen, line, ll);
			olen += ll;
		}
		pos += ll;
	}
	out[olen] = '\0';
	free(buf);
	*len_r = olen;
	return out;
}

/* What a message reads back as: a missing final newline is added (mbox
 * cannot tell), the rest is byte-exact. */
static void expect_msg(const struct msg *got, const char *want, size_t len)
{
	size_t wl = len + (len > 0 && want[len - 1] != '\n');

	if (got->len != wl || memcmp(got->data, want, len) != 0 ||
	    (wl > len && got->data[len] != '\n')) {
		print_error("# want %zu bytes: '%.*s'\n# got %zu bytes: '%.*s'\n",
			    wl, (int)(len > 300 ? 300 : len), want, got->len,
			    (int)(got->len > 300 ? 300 : got->len), got->data);
		fail_msg("message not read back byte-exact");
	}
}

/* ---- opening ---- */

static void test_open_creates(void **state)
{
	struct fixture *f = *state;
	char *mail = tu_join(f->dir, "Mail");
	struct stat st;

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 0);
	assert_true(tu_is_dir_with_mode(mail, 0700));
	assert_false(exists(f->lockpath));	/* no lock before begin */
	free(mail);
}

/* 0600 whatever the umask, and an existing file is appended to, its
 * mode left alone. */
static void test_open_mode(void **state)
{
	static const char old_mail[] = "From a Mon Jan  1 00:00:00 2024\n"
				       "old\n\n";
	struct fixture *f = *state;
	char *p = tu_join(f->dir, "deep/er/box"), *q = tu_join(f->dir, "old");
	struct deliver *d = NULL;
	struct error err;
	struct stat st;
	mode_t old = umask(0);
	size_t len;
	char *back;

	error_clear(&err);
	assert_int_equal(deliver_mbox_open(p, 1, &d, &err), PF_OK);
	umask(old);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	deliver_free(&d);
	assert_null(d);

	assert_int_equal(tu_write_file(q, old_mail, strlen(old_mail), 0640),
			 0);
	assert_int_equal(deliver_mbox_open(q, 1, &d, &err), PF_OK);
	deliver_str(d, "new\n");
	deliver_free(&d);
	assert_int_equal(stat(q, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	back = read_all(q, &len);
	assert_true(len > strlen(old_mail) + 19);
	assert_memory_equal(back, old_mail, strlen(old_mail));
	assert_memory_equal(back + strlen(old_mail), "From MAILER-DAEMON ", 19);
	free(back);
	free(p);
	free(q);
}

static void test_open_fails(void **state)
{
	struct fixture *f = *state;
	char *file = tu_join(f->dir, "file");
	char *under = tu_join(file, "box");
	struct deliver *d = NULL;
	struct error err;

	assert_int_equal(tu_write_file(file, "x", 1, 0600), 0);
	error_clear(&err);
	assert_int_equal(deliver_mbox_open(under, 1, &d, &err), PF_CANTCREAT);
	assert_null(d);
	assert_int_equal(err.status, PF_CANTCREAT);
	assert_non_null(strstr(err.text, under));
	/* a directory where the mbox should be */
	assert_int_equal(deliver_mbox_open(f->dir, 1, &d, &err),
			 PF_CANTCREAT);
	assert_null(d);
	free(file);
	free(under);
}

/* ---- quoting ---- */

struct quote_case {
	const char *line;	/* a body line as received */
	const char *stored;	/* how it must appear in the file */
};

static const struct quote_case quote_cases[] = {
	{ "From x", ">From x" },
	{ ">From x", ">>From x" },
	{ ">>From x", ">>>From x" },
	{ "From ", ">From " },
	{ ">From ", ">>From " },
	{ "From", "From" },
	{ ">From", ">From" },
	{ "From\tx", "From\tx" },
	{ " From x", " From x" },
	{ "\tFrom x", "\tFrom x" },
	{ "> From x", "> From x" },
	{ ">>x>From x", ">>x>From x" },
	{ "Fromage", "Fromage" },
	{ "from x", "from x" },
	{ "FROM x", "FROM x" },
	{ "Fro", "Fro" },
	{ ">Fro", ">Fro" },
	{ ">", ">" },
	{ ">>>", ">>>" },
	{ "", "" },
	{ "x From y", "x From y" },
	{ "From From x", ">From From x" },
};

/* The same line first in the message (where the header starts), in the
 * body, and last without a newline. */
static void quote_message(const char *line, int where, char *buf,
			  size_t size)
{
	switch (where) {
	case 0:
		snprintf(buf, size, "%s\nSubject: q\n\nbody\n", line);
		break;
	case 1:
		snprintf(buf, size, "Subject: q\n\n%s\nend\n", line);
		break;
	default:
		snprintf(buf, size, "Subject: q\n\nend\n%s", line);
		break;
	}
}

static void test_quoting(void **state)
{
	struct fixture *f = *state;
	char *paths[3];
	struct deliver *d[3];
	struct error err;
	size_t i, k, len[3];
	char *norm[3], msg[4096], want[4096], *p;
	int where;

	for (k = 0; k < 3; k++) {
		char name[32];

		snprintf(name, sizeof(name), "box-%s", feed_name[k]);
		paths[k] = tu_join(f->dir, name);
		error_clear(&err);
		assert_int_equal(deliver_mbox_open(paths[k], 1, &d[k], &err),
				 PF_OK);
	}
	for (i = 0; i < N(quote_cases); i++)
		for (where = 0; where < 3; where++) {
			quote_message(quote_cases[i].line, where, msg,
				      sizeof(msg));
			for (k = 0; k < 3; k++)
				deliver_msg(d[k], msg, strlen(msg), (enum feed)k,
					    NULL);
		}
	for (k = 0; k < 3; k++) {
		deliver_free(&d[k]);
		norm[k] = normalized(paths[k], &len[k]);
	}
	/* whole, one byte at a time, random pieces: the same file */
	assert_int_equal(len[0], len[1]);
	assert_memory_equal(norm[0], norm[1], len[0]);
	assert_int_equal(len[0], len[2]);
	assert_memory_equal(norm[0], norm[2], len[0]);

	/* and exactly the expected bytes */
	p = norm[0];
	for (i = 0; i < N(quote_cases); i++)
		for (where = 0; where < 3; where++) {
			char stored[4096];
			size_t wl;

			quote_message(quote_cases[i].stored, where, stored,
				      sizeof(stored));
			wl = (size_t)snprintf(want, sizeof(want),
					      "From MAILER-DAEMON DATE\n%s%s\n",
					      stored,
					      where == 2 &&
					      quote_cases[i].stored[0] != '\0'
					      ? "\n" : "");
			if ((size_t)(norm[0] + len[0] - p) < wl ||
			    memcmp(p, want, wl) != 0)
				fail_msg("line '%s' (place %d): want\n%s\ngot\n%.*s",
					 quote_cases[i].line, where, want,
					 (int)((size_t)(norm[0] + len[0] - p) <
					       wl ? (size_t)(norm[0] + len[0] - p)
					       : wl), p);
			p += wl;
		}
	assert_ptr_equal(p, norm[0] + len[0]);

	/* the reader gets every message back */
	{
		struct mbox_file mf = mbox_parse_file(paths[1]);
		size_t n = 0;

		assert_int_equal(mf.n, N(quote_cases) * 3);
		for (i = 0; i < N(quote_cases); i++)
			for (where = 0; where < 3; where++) {
				quote_message(quote_cases[i].line, where, msg,
					      sizeof(msg));
				expect_msg(&mf.m[n++], msg, strlen(msg));
			}
		mbox_file_free(&mf);
	}
	for (k = 0; k < 3; k++) {
		free(norm[k]);
		free(paths[k]);
	}
}

/* A line of 1000 '>' then "From ": one more, whatever the pieces. */
static void test_quoting_long_run(void **state)
{
	struct fixture *f = *state;
	size_t k, n = 1000, len;
	char *msg = malloc(2 * n + 64), *want = malloc(2 * n + 128), *norm;
	size_t ml, wl;

	assert_non_null(msg);
	assert_non_null(want);
	ml = (size_t)snprintf(msg, 64, "Subject: gt\n\n");
	memset(msg + ml, '>', n);
	ml += n;
	ml += (size_t)snprintf(msg + ml, 64, "From x\n>%s", "");
	memset(msg + ml, '>', n);	/* and the same without a newline */
	ml += n;
	memcpy(msg + ml, "From ", 5);
	ml += 5;

	wl = (size_t)snprintf(want, 128, "From MAILER-DAEMON DATE\n"
			      "Subject: gt\n\n>");
	memset(want + wl, '>', n);
	wl += n;
	wl += (size_t)snprintf(want + wl, 64, "From x\n>>");
	memset(want + wl, '>', n);
	wl += n;
	memcpy(want + wl, "From \n\n", 7);
	wl += 7;

	for (k = 0; k < 3; k++) {
		struct mbox_file mf;

		assert_int_equal(truncate(f->path, 0), 0);
		deliver_msg(f->d, msg, ml, (enum feed)k, NULL);
		norm = normalized(f->path, &len);
		if (len != wl || memcmp(norm, want, wl) != 0)
			fail_msg("feeding %s: wrong quoting of a long '>' run",
				 feed_name[k]);
		free(norm);
		mf = mbox_parse_file(f->path);
		assert_int_equal(mf.n, 1);
		expect_msg(&mf.m[0], msg, ml);
		mbox_file_free(&mf);
	}
	free(msg);
	free(want);
}

/* ---- round trip of random messages ---- */

#define W(s) { s, sizeof(s) - 1 }

static const struct {
	const char *s;
	size_t len;
} vocab[] = {
	W("From x"), W(">From x"), W(">>From x"), W(">>>>>>>>>>From y"),
	W("From"), W("From "), W(" From x"), W("Fromage"), W(">"), W(">>"),
	W(">>>From"), W(">Fro"), W("F"), W("Fr"), W("Fro"), W("Fron"), W(""),
	W(""), W("Return-Path: <r@example.org>"), W("Subject: hello"),
	W("\xff\xfe\x80 8-bit \xc3\xa9"), W("tab\there"), W("From\0x"),
	W("\0From x"), W("."), W(".."), W("Received: from a by b"), W("\0"),
};

static size_t random_message(char *buf, size_t cap)
{
	size_t len = 0, nlines, i;
	uint32_t shape = rnd();

	if (shape % 23 == 0)
		return 0;	/* empty */
	nlines = rnd() % 14;
	if (shape % 29 == 1)
		nlines = 2500;	/* over the 64 KiB buffers */
	if (shape % 5 == 2)
		buf[len++] = '\n';	/* no header at all */
	for (i = 0; i < nlines; i++) {
		uint32_t kind = rnd() % 4;

		if (i > 0 && len < cap)
			buf[len++] = '\n';
		if (kind != 0) {
			size_t w = rnd() % N(vocab);

			if (len + vocab[w].len <= cap) {
				memcpy(buf + len, vocab[w].s, vocab[w].len);
				len += vocab[w].len;
			}
		}
		if (kind != 1) {
			size_t n = rnd() % 40, j;

			for (j = 0; j < n && len < cap; j++) {
				char c = (char)(rnd() & 0xff);

				/* LF line ends, no CR LF */
				if (c == '\n' || c == '\r')
					c = ' ';
				buf[len++] = c;
			}
		}
	}
	if (nlines > 0 && rnd() % 4 != 0 && len < cap)
		buf[len++] = '\n';	/* else: no final newline */
	return len;
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	enum { NMSG = 300, CAP = 200000 };
	char *msgs[NMSG];
	size_t lens[NMSG], i, k, len[3];
	char *paths[3], *norm[3];
	struct deliver *d[3];
	struct error err;

	rng = 0x2545f4914f6cdd1dull;
	for (i = 0; i < NMSG; i++) {
		msgs[i] = malloc(CAP);
		assert_non_null(msgs[i]);
		lens[i] = random_message(msgs[i], CAP);
	}
	/* the cases that matter most, for sure */
	lens[0] = 0;
	memcpy(msgs[1], "Subject: no newline", 19);
	lens[1] = 19;
	memcpy(msgs[2], "\n>>Fro", 6);
	lens[2] = 6;
	memcpy(msgs[3], "\nFrom", 5);
	lens[3] = 5;
	memcpy(msgs[4], "\n\n\n", 3);
	lens[4] = 3;

	for (k = 0; k < 3; k++) {
		char name[32];

		snprintf(name, sizeof(name), "rt-%s", feed_name[k]);
		paths[k] = tu_join(f->dir, name);
		error_clear(&err);
		assert_int_equal(deliver_mbox_open(paths[k], 1, &d[k], &err),
				 PF_OK);
		for (i = 0; i < NMSG; i++)
			deliver_msg(d[k], msgs[i], lens[i], (enum feed)k, NULL);
		deliver_free(&d[k]);
		norm[k] = normalized(paths[k], &len[k]);
	}
	assert_int_equal(len[0], len[1]);
	assert_memory_equal(norm[0], norm[1], len[0]);
	assert_int_equal(len[0], len[2]);
	assert_memory_equal(norm[0], norm[2], len[0]);

	for (k = 0; k < 3; k++) {
		struct mbox_file mf = mbox_parse_file(paths[k]);

		assert_int_equal(mf.n, NMSG);
		for (i = 0; i < NMSG; i++) {
			if (i < 5 || k == 0)
				expect_msg(&mf.m[i], msgs[i], lens[i]);
			assert_string_equal(mf.m[i].sender,
					    mf.m[i].sender[0] == 'r'
					    ? "r@example.org" : "MAILER-DAEMON");
		}
		mbox_file_free(&mf);
		free(norm[k]);
		free(paths[k]);
	}
	for (i = 0; i < NMSG; i++)
		free(msgs[i]);
}

/* ---- the separator line ---- */

static void test_sender(void **state)
{
	static const struct {
		const char *msg, *sender;
	} t[] = {
		{ "Return-Path: <a@b>\nFrom: x\n\nbody\n", "a@b" },
		{ "Return-Path: a@b\n\nbody\n", "a@b" },
		{ "Return-Path:<a@b>\n\n", "a@b" },
		{ "Return-Path:\t<tab@b>\n\n", "tab@b" },
		{ "Return-Path: <>\nFrom: x\n\nbody\n", "MAILER-DAEMON" },
		{ "From: x\nSubject: y\n\nbody\n", "MAILER-DAEMON" },
		{ "From: x\nReturn-Path: <late@b>\n\nbody\n", "late@b" },
		{ "return-path: <lower@b>\n\n", "lower@b" },
		{ "RETURN-PATH: <upper@b>\n\n", "upper@b" },
		{ "Subject: x\n\nReturn-Path: <body@b>\n", "MAILER-DAEMON" },
		{ "\nReturn-Path: <body@b>\n", "MAILER-DAEMON" },
		{ "Return-Path: <first@b>\nReturn-Path: <second@b>\n\n",
		  "first@b" },
		{ "Return-Path-X: <no@b>\n\n", "MAILER-DAEMON" },
		{ "X-Return-Path: <no@b>\n\n", "MAILER-DAEMON" },
		{ "Return-Path: <a b@c>\n\n", NULL },	/* no blank in it */
		{ "Return-Path: <\x01@c>\n\n", NULL },
		{ "Return-Path: <", "MAILER-DAEMON" },
		{ "Return-Path: <x@y>", "x@y" },	/* header only */
		{ "", "MAILER-DAEMON" },
	};
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < N(t); i++) {
		size_t k;

		for (k = 0; k < 3; k++) {
			struct mbox_file mf;

			assert_int_equal(truncate(f->path, 0), 0);
			deliver_msg(f->d, t[i].msg, strlen(t[i].msg),
				    (enum feed)k, NULL);
			mf = mbox_parse_file(f->path);
			assert_int_equal(mf.n, 1);
			if (t[i].sender != NULL &&
			    strcmp(mf.m[0].sender, t[i].sender) != 0)
				fail_msg("'%s' (%s): sender '%s', want '%s'",
					 t[i].msg, feed_name[k], mf.m[0].sender,
					 t[i].sender);
			/* the reader checked: non-empty, no blank */
			for (const char *s = mf.m[0].sender; *s != '\0'; s++)
				assert_true((unsigned char)*s > ' ' &&
					    (unsigned char)*s < 0x7f);
			expect_msg(&mf.m[0], t[i].msg, strlen(t[i].msg));
			mbox_file_free(&mf);
		}
	}
}

/* A header larger than the 64 KiB that are buffered to find the
 * Return-Path: the message still arrives whole. */
static void test_sender_big_header(void **state)
{
	struct fixture *f = *state;
	size_t big = 70000, k, ml;
	char *msg = malloc(big + 200);

	assert_non_null(msg);
	for (k = 0; k < 3; k++) {
		struct mbox_file mf;

		/* Return-Path first: found */
		ml = (size_t)snprintf(msg, 100, "Return-Path: <big@x>\nX-Big: ");
		memset(msg + ml, 'a', big);
		ml += big;
		ml += (size_t)snprintf(msg + ml, 100, "\nFrom: x\n\nFrom body\n");
		assert_int_equal(truncate(f->path, 0), 0);
		deliver_msg(f->d, msg, ml, (enum feed)k, NULL);
		mf = mbox_parse_file(f->path);
		assert_int_equal(mf.n, 1);
		assert_string_equal(mf.m[0].sender, "big@x");
		expect_msg(&mf.m[0], msg, ml);
		mbox_file_free(&mf);

		/* Return-Path beyond 64 KiB: whichever sender, a sound file
		 * and the message byte-exact */
		ml = (size_t)snprintf(msg, 100, "X-Big: ");
		memset(msg + ml, 'a', big);
		ml += big;
		ml += (size_t)snprintf(msg + ml, 100,
				       "\nReturn-Path: <late@x>\n\nFrom body\n");
		assert_int_equal(truncate(f->path, 0), 0);
		deliver_msg(f->d, msg, ml, (enum feed)k, NULL);
		mf = mbox_parse_file(f->path);
		assert_int_equal(mf.n, 1);
		assert_true(strcmp(mf.m[0].sender, "late@x") == 0 ||
			    strcmp(mf.m[0].sender, "MAILER-DAEMON") == 0);
		expect_msg(&mf.m[0], msg, ml);
		mbox_file_free(&mf);
	}
	free(msg);
}

/* The date is local time: under a zone 14 hours east of UTC the
 * separator must say so (check_date compares with mktime()). */
static void test_date_local_time(void **state)
{
	struct fixture *f = *state;
	static const char *const zones[] = { "UTC0", "XXX-14", "YYY+11" };
	char *saved = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
	size_t i;

	for (i = 0; i < N(zones); i++) {
		struct mbox_file mf;

		setenv("TZ", zones[i], 1);
		tzset();
		assert_int_equal(truncate(f->path, 0), 0);
		deliver_str(f->d, "Subject: tz\n\nx\n");
		mf = mbox_parse_file(f->path);	/* checks the date */
		assert_int_equal(mf.n, 1);
		mbox_file_free(&mf);
	}
	if (saved != NULL)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
}

/* ---- appending ---- */

static void test_two_messages(void **state)
{
	struct fixture *f = *state;
	struct mbox_file mf;
	char t1[DELIVER_TOKEN_MAX], t2[DELIVER_TOKEN_MAX];
	off_t size1;
	size_t len;
	char *text;

	deliver_msg(f->d, "Subject: one\n\n1\n", 16, FEED_WHOLE, t1);
	size1 = file_size(f->path);
	deliver_msg(f->d, "Subject: two\n\n2", 15, FEED_BYTES, t2);
	/* the token is the file size before the message */
	assert_string_equal(t1, "0");
	{
		char want[32];

		snprintf(want, sizeof(want), "%lld", (long long)size1);
		assert_string_equal(t2, want);
	}
	mf = mbox_parse_file(f->path);
	assert_int_equal(mf.n, 2);
	expect_msg(&mf.m[0], "Subject: one\n\n1\n", 16);
	expect_msg(&mf.m[1], "Subject: two\n\n2", 15);
	mbox_file_free(&mf);

	/* exactly: separator, message, blank line */
	text = normalized(f->path, &len);
	assert_string_equal(text,
			    "From MAILER-DAEMON DATE\nSubject: one\n\n1\n\n"
			    "From MAILER-DAEMON DATE\nSubject: two\n\n2\n\n");
	free(text);
	assert_false(exists(f->lockpath));
}

/* An mbox whose last message lacks its final newline (written by a
 * careless program, or cut by a crash): our separator must still start a
 * line of its own, or every reader glues our message onto that one. */
static void test_append_after_unterminated(void **state)
{
	static const char old[] = "From a " OLD_DATE "\nSubject: old\n\nno newline";
	struct fixture *f = *state;
	struct mbox_file mf;
	size_t len, pos;
	char *back;

	assert_int_equal(tu_write_file(f->path, old, sizeof(old) - 1, 0600), 0);
	deliver_str(f->d, "Subject: new\n\nbody\n");
	back = read_all(f->path, &len);
	/* the old bytes are left as they were, then a newline or two (a
	 * blank line, as mboxrd wants) end that line */
	assert_memory_equal(back, old, sizeof(old) - 1);
	pos = sizeof(old) - 1;
	while (pos < len && back[pos] == '\n' && pos < sizeof(old) + 1)
		pos++;
	if (pos == sizeof(old) - 1)
		print_error("# our separator is glued to the last line of the "
			    "old message: '%.40s'\n", back + pos - 10);
	assert_true(pos > sizeof(old) - 1);
	mf = mbox_parse(back + pos, len - pos);
	assert_int_equal(mf.n, 1);
	expect_msg(&mf.m[0], "Subject: new\n\nbody\n", 19);
	mbox_file_free(&mf);
	free(back);
}

/* A message bigger than every buffer, in uneven pieces. */
static void test_big_message(void **state)
{
	struct fixture *f = *state;
	size_t big = 3u << 20, i, k;
	char *msg = malloc(big);

	assert_non_null(msg);
	for (i = 0; i < big; i++)
		msg[i] = i % 61 == 60 ? '\n' : (char)('A' + i % 26);
	memcpy(msg, "Subject: big\n\n", 14);
	for (k = 0; k < 3; k += 2) {
		struct mbox_file mf;

		assert_int_equal(truncate(f->path, 0), 0);
		deliver_msg(f->d, msg, big, (enum feed)k, NULL);
		mf = mbox_parse_file(f->path);
		assert_int_equal(mf.n, 1);
		expect_msg(&mf.m[0], msg, big);
		mbox_file_free(&mf);
	}
	free(msg);
}

/* ---- abort and failures ---- */

static char *before_text = "From someone Mon Jan  1 00:00:00 2024\n"
			   "Subject: old\n\nold mail\n\n";

static void put_old_mail(struct fixture *f)
{
	assert_int_equal(tu_write_file(f->path, before_text,
				       strlen(before_text), 0600), 0);
}

static void assert_unchanged(struct fixture *f, const char *what)
{
	size_t len;
	char *now = read_all(f->path, &len);

	if (len != strlen(before_text) || memcmp(now, before_text, len) != 0)
		fail_msg("%s: the mbox changed (%zu bytes, was %zu)", what, len,
			 strlen(before_text));
	free(now);
}

/* A big body line, so that the 64 KiB output buffer is flushed. */
static char *filler(size_t n)
{
	char *p = malloc(n);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < n; i++)
		p[i] = i % 70 == 69 ? '\n' : (char)('a' + i % 26);
	memcpy(p, "Subject: f\n\n", 12);
	return p;
}

static void test_abort(void **state)
{
	struct fixture *f = *state;
	char token[DELIVER_TOKEN_MAX];
	struct error err;
	size_t n = 300000;
	char *body = filler(n);

	put_old_mail(f);
	error_clear(&err);
	/* abort after writes that reached the file */
	assert_int_equal(f->d->ops->begin(f->d, token, &err), PF_OK);
	assert_true(exists(f->lockpath));
	assert_int_equal(f->d->ops->write(f->d, body, n, &err), PF_OK);
	assert_true(file_size(f->path) > (off_t)strlen(before_text));
	f->d->ops->abort(f->d);
	assert_unchanged(f, "abort after writes");
	assert_false(exists(f->lockpath));

	/* abort with only a little written, and right after begin */
	assert_int_equal(f->d->ops->begin(f->d, token, &err), PF_OK);
	assert_int_equal(f->d->ops->write(f->d, "Subject: x\n\nab", 14, &err),
			 PF_OK);
	f->d->ops->abort(f->d);
	assert_unchanged(f, "abort after a small write");
	assert_int_equal(f->d->ops->begin(f->d, token, &err), PF_OK);
	f->d->ops->abort(f->d);
	f->d->ops->abort(f->d);	/* twice is harmless */
	assert_unchanged(f, "abort after begin");
	assert_false(exists(f->lockpath));

	/* the delivery is usable again */
	deliver_str(f->d, "Subject: after\n\nok\n");
	{
		struct mbox_file mf = mbox_parse_file(f->path);

		assert_int_equal(mf.n, 2);
		assert_string_equal(mf.m[0].sender, "someone");
		expect_msg(&mf.m[1], "Subject: after\n\nok\n", 19);
		mbox_file_free(&mf);
	}
	free(body);
}

/* deliver_free() in the middle of a message is an abort. */
static void test_free_mid_message(void **state)
{
	struct fixture *f = *state;
	char token[DELIVER_TOKEN_MAX];
	struct error err;
	size_t n = 200000;
	char *body = filler(n);

	put_old_mail(f);
	error_clear(&err);
	assert_int_equal(f->d->ops->begin(f->d, token, &err), PF_OK);
	assert_int_equal(f->d->ops->write(f->d, body, n, &err), PF_OK);
	deliver_free(&f->d);
	assert_null(f->d);
	assert_unchanged(f, "free mid-message");
	assert_false(exists(f->lockpath));
	free(body);
}

/* A file-size limit makes a write fail with EFBIG (SIGXFSZ ignored, as
 * popfetch does): the message is cut away, the file as before.  In a child,
 * so that the limit does not outlive the case. */
static void test_write_failure(void **state)
{
	struct fixture *f = *state;
	static const struct {
		size_t msglen;	/* message size */
		rlim_t room;	/* bytes allowed beyond the old mail */
	} t[] = {
		{ 400000, 100000 },	/* fails in write() */
		{ 5000, 100 },		/* fails in commit() */
		{ 100, 0 },		/* not a byte more */
	};
	size_t i;

	for (i = 0; i < N(t); i++) {
		int status;
		pid_t pid;

		put_old_mail(f);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct rlimit rl;
			struct deliver *d = NULL;
			struct error err;
			char token[DELIVER_TOKEN_MAX];
			char *body = filler(t[i].msglen);
			enum pf_status ret;

			signal(SIGXFSZ, SIG_IGN);
			rl.rlim_cur = rl.rlim_max = strlen(before_text) +
						    t[i].room;
			error_clear(&err);
			if (setrlimit(RLIMIT_FSIZE, &rl) < 0 ||
			    deliver_mbox_open(f->path, 1, &d, &err) != PF_OK ||
			    d->ops->begin(d, token, &err) != PF_OK)
				_exit(10);
			ret = d->ops->write(d, body, t[i].msglen, &err);
			if (ret == PF_OK)
				ret = d->ops->commit(d, &err);
			if (ret == PF_OK)
				_exit(11);	/* the limit went unnoticed */
			if (ret != PF_IOERR || strstr(err.text, f->path) == NULL)
				_exit(12);
			/* after a failure, commit must not succeed either */
			if (d->ops->commit(d, &err) == PF_OK)
				_exit(13);
			d->ops->abort(d);
			deliver_free(&d);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("case %zu: child status 0x%x", i, status);
		assert_unchanged(f, "failed write");
		assert_false(exists(f->lockpath));
	}
}

/* ---- locking ---- */

/* A child that holds an fcntl write lock on path until killed. */
static pid_t spawn_fcntl_locker(const char *path, unsigned hold_ms)
{
	int p[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd = open(path, O_RDWR);

		close(p[0]);
		if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		if (hold_ms > 0) {
			struct timespec ts = { hold_ms / 1000,
					       (long)(hold_ms % 1000) * 1000000 };

			nanosleep(&ts, NULL);
			_exit(0);
		}
		for (;;)
			pause();
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

static pid_t spawn_sleeper(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		for (;;)
			pause();
	return pid;
}

static void write_dotlock(struct fixture *f, long pid)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld\n", pid);
	assert_int_equal(tu_write_file(f->lockpath, buf, strlen(buf), 0600),
			 0);
}

/* begin() gives up after the 1 s timeout with PF_TEMPFAIL, having
 * written nothing. */
static void expect_locked_out(struct fixture *f, const char *what)
{
	char token[DELIVER_TOKEN_MAX];
	struct error err;
	int64_t t0, ms;

	error_clear(&err);
	t0 = util_now_ms();
	if (f->d->ops->begin(f->d, token, &err) != PF_TEMPFAIL)
		fail_msg("%s: begin did not fail with PF_TEMPFAIL: '%s'", what,
			 err.text);
	ms = util_now_ms() - t0;
	assert_int_equal(err.status, PF_TEMPFAIL);
	assert_non_null(strstr(err.text, f->path));
	if (ms < 900 || ms > 5000)
		fail_msg("%s: gave up after %lld ms, want about 1000", what,
			 (long long)ms);
	assert_unchanged(f, what);
	/* and the failed begin left no delivery running */
	assert_int_equal(f->d->ops->commit(f->d, &err) == PF_OK, 0);
	assert_unchanged(f, what);
}

static void test_lock_fcntl(void **state)
{
	struct fixture *f = *state;

	put_old_mail(f);
	f->child = spawn_fcntl_locker(f->path, 0);
	expect_locked_out(f, "fcntl lock held");
	/* our dotlock is gone again: the other locker may want it */
	assert_false(exists(f->lockpath));
	kill_child(&f->child);
	deliver_str(f->d, "Subject: now\n\nx\n");
	assert_false(exists(f->lockpath));

	/* a lock released within the timeout is waited for */
	put_old_mail(f);
	f->child = spawn_fcntl_locker(f->path, 300);
	deliver_str(f->d, "Subject: waited\n\nx\n");
	kill_child(&f->child);
	{
		struct mbox_file mf = mbox_parse_file(f->path);

		assert_int_equal(mf.n, 2);
		expect_msg(&mf.m[1], "Subject: waited\n\nx\n", 19);
		mbox_file_free(&mf);
	}
}

static void test_lock_dotlock_live(void **state)
{
	struct fixture *f = *state;
	char buf[32];
	char *text;
	size_t len;

	put_old_mail(f);
	f->child = spawn_sleeper();
	write_dotlock(f, (long)f->child);
	expect_locked_out(f, "dotlock of a live process");
	/* someone else's lock is left alone */
	snprintf(buf, sizeof(buf), "%ld\n", (long)f->child);
	text = read_all(f->lockpath, &len);
	assert_string_equal(text, buf);
	free(text);
	kill_child(&f->child);
	/* once that process is gone, its lock is stale */
	deliver_str(f->d, "Subject: now\n\nx\n");
	assert_false(exists(f->lockpath));

	/* a fresh lock without a pid (another program's) is honoured */
	put_old_mail(f);
	assert_int_equal(tu_write_file(f->lockpath, "", 0, 0600), 0);
	expect_locked_out(f, "fresh empty dotlock");
	assert_true(exists(f->lockpath));
	assert_int_equal(unlink(f->lockpath), 0);
}

static void test_lock_dotlock_stale(void **state)
{
	struct fixture *f = *state;
	char token[DELIVER_TOKEN_MAX];
	struct timespec old[2];
	struct error err;
	int status;
	int64_t t0;
	pid_t dead;

	/* the pid of a process that is gone */
	dead = fork();
	assert_true(dead >= 0);
	if (dead == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, &status, 0), dead);
	put_old_mail(f);
	write_dotlock(f, (long)dead);
	error_clear(&err);
	t0 = util_now_ms();
	assert_int_equal(f->d->ops->begin(f->d, token, &err), PF_OK);
	assert_true(util_now_ms() - t0 < 900);	/* broken at once */
	assert_int_equal(f->d->ops->write(f->d, "Subject: stale\n\nx\n", 18,
					  &err), PF_OK);
	assert_int_equal(f->d->ops->commit(f->d, &err), PF_OK);
	assert_false(exists(f->lockpath));

	/* a lock older than 10 minutes, without a pid, is stale too */
	put_old_mail(f);
	assert_int_equal(tu_write_file(f->lockpath, "", 0, 0600), 0);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 11 * 60;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, f->lockpath, old, 0), 0);
	deliver_str(f->d, "Subject: old lock\n\nx\n");
	assert_false(exists(f->lockpath));
	{
		struct mbox_file mf = mbox_parse_file(f->path);

		assert_int_equal(mf.n, 2);
		expect_msg(&mf.m[1], "Subject: old lock\n\nx\n", 21);
		mbox_file_free(&mf);
	}
}

/* While a message is being appended, other programs see both locks. */
static void test_lock_visible(void **state)
{
	struct fixture *f = *state;
	char token[DELIVER_TOKEN_MAX], buf[32], *text;
	struct error err;
	int status;
	size_t len;
	pid_t pid;

	error_clear(&err);
	assert_int_equal(f->d->ops->begin(f->d, token, &err), PF_OK);
	text = read_all(f->lockpath, &len);
	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	assert_string_equal(text, buf);
	free(text);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd = open(f->path, O_RDWR);

		if (fd < 0 || fcntl(fd, F_GETLK, &fl) < 0)
			_exit(1);
		_exit(fl.l_type == F_WRLCK && fl.l_pid == getppid() ? 0 : 2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(f->d->ops->write(f->d, "x\n", 2, &err), PF_OK);
	assert_int_equal(f->d->ops->commit(f->d, &err), PF_OK);
	assert_false(exists(f->lockpath));
	/* the fcntl lock is gone too */
	f->child = spawn_fcntl_locker(f->path, 0);
	kill_child(&f->child);
}

/* ---- recover() ---- */

static void recover_expect(struct fixture *f, const char *token,
			   enum pf_status want)
{
	struct error err;
	bool arrived = true;
	enum pf_status ret;

	error_clear(&err);
	ret = f->d->ops->recover(f->d, token, &arrived, &err);
	if (ret != want)
		fail_msg("recover(%s): status %d '%s', want %d", token, ret,
			 err.text, want);
	if (ret != PF_OK)
		assert_true(err.text[0] != '\0');
	else
		assert_false(arrived);
	assert_false(exists(f->lockpath));
}

static void test_recover_nothing_after(void **state)
{
	struct fixture *f = *state;
	char token[32];

	put_old_mail(f);
	snprintf(token, sizeof(token), "%zu", strlen(before_text));
	recover_expect(f, token, PF_OK);
	assert_unchanged(f, "recover at the end");
	/* a token beyond the end (the file was cut by someone) */
	recover_expect(f, "999999", PF_OK);
	assert_unchanged(f, "recover beyond the end");
	/* a token that is not an offset */
	{
		struct error err;
		bool arrived = true;

		error_clear(&err);
		assert_true(f->d->ops->recover(f->d, "abc", &arrived, &err) !=
			    PF_OK);
		assert_unchanged(f, "recover with a bad token");
	}
}

/* Crashes (exits without commit or abort) in a child mid-message, after
 * at least `n` bytes of message; returns the token. */
static void crash_mid_message(struct fixture *f, size_t n, char *token)
{
	int p[2], status;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct deliver *d = NULL;
		struct error err;
		char tok[DELIVER_TOKEN_MAX];
		char *body = filler(n);

		close(p[0]);
		error_clear(&err);
		if (deliver_mbox_open(f->path, 1, &d, &err) != PF_OK ||
		    d->ops->begin(d, tok, &err) != PF_OK ||
		    d->ops->write(d, body, n, &err) != PF_OK ||
		    write(p[1], tok, sizeof(tok)) != (ssize_t)sizeof(tok))
			_exit(1);
		_exit(0);	/* "crash": no commit, no abort */
	}
	close(p[1]);
	assert_int_equal(read(p[0], token, DELIVER_TOKEN_MAX),
			 DELIVER_TOKEN_MAX);
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* some of it reached the file; the dead process's dotlock stays */
	assert_true(file_size(f->path) > (off_t)strlen(before_text));
	assert_true(exists(f->lockpath));
}

static void test_recover_partial(void **state)
{
	struct fixture *f = *state;
	char token[DELIVER_TOKEN_MAX], want[32];

	put_old_mail(f);
	crash_mid_message(f, 300000, token);
	snprintf(want, sizeof(want), "%zu", strlen(before_text));
	assert_string_equal(token, want);
	/* the stale dotlock is broken, the half message cut away */
	recover_expect(f, token, PF_OK);
	assert_unchanged(f, "recover of a partial message");
	/* and the next delivery is sound */
	deliver_str(f->d, "Subject: again\n\nx\n");
	{
		struct mbox_file mf = mbox_parse_file(f->path);

		assert_int_equal(mf.n, 2);
		expect_msg(&mf.m[1], "Subject: again\n\nx\n", 18);
		mbox_file_free(&mf);
	}
}

/* A whole message of ours, committed but never recorded (a crash before
 * the "D" record): it is cut away too, to be fetched again. */
/* Our own interrupted append began with the newline that ends a file whose
 * last line was unterminated: recovery must take that "\nFrom " for ours
 * and cut it away, not refuse it as someone else's mail. */
static void test_recover_partial_after_unterminated(void **state)
{
	struct fixture *f = *state;
	static const char unterminated[] = "From x Mon Jan  1 00:00:00 2024\n"
					   "Subject: old\n\nno newline";
	char token[DELIVER_TOKEN_MAX];
	size_t len;
	char *now;

	assert_int_equal(tu_write_file(f->path, unterminated,
				       strlen(unterminated), 0600), 0);
	crash_mid_message(f, 300000, token);
	recover_expect(f, token, PF_OK);
	now = read_all(f->path, &len);
	assert_int_equal(len, strlen(unterminated));
	assert_memory_equal(now, unterminated, len);
	free(now);
}

static void test_recover_committed(void **state)
{
	struct fixture *f = *state;
	char token[DELIVER_TOKEN_MAX];

	put_old_mail(f);
	deliver_msg(f->d, "Subject: mine\n\nx\n", 17, FEED_WHOLE, token);
	recover_expect(f, token, PF_OK);
	assert_unchanged(f, "recover of an unrecorded message");
}

/* Other mail after ours: cutting would lose it, so recover() fails and
 * the file is left alone for a person to check. */
static void expect_recover_refused(struct fixture *f, const char *token,
				   const char *what)
{
	size_t len, len2;
	char *before = read_all(f->path, &len), *after;
	struct error err;
	bool arrived = true;
	enum pf_status ret;

	error_clear(&err);
	ret = f->d->ops->recover(f->d, token, &arrived, &err);
	after = read_all(f->path, &len2);
	if (ret == PF_OK)
		print_error("# %s: recover() succeeded, arrived %d\n", what,
			    arrived);
	if (len2 != len || memcmp(before, after, len) != 0)
		print_error("# %s: the mbox went from %zu to %zu bytes: "
			    "the other mail was cut away\n", what, len, len2);
	assert_int_equal(len2, len);
	assert_memory_equal(before, after, len);
	assert_true(ret != PF_OK);
	assert_int_equal(err.status, ret);
	assert_non_null(strstr(err.text, f->path));
	assert_false(exists(f->lockpath));
	free(before);
	free(after);
}

/* Ours ends on a line of its own, then another program's message. */
static void test_recover_other_mail_after_line(void **state)
{
	static const char ours[] = "From popfetch Mon Jan  1 00:00:00 2024\n"
				   "Subject: half\n\nhalf a line\n";
	static const char theirs[] = "From other@x Mon Jan  1 00:00:00 2024\n"
				     "Subject: theirs\n\nkeep me\n\n";
	struct fixture *f = *state;
	char token[32];
	int fd;

	put_old_mail(f);
	snprintf(token, sizeof(token), "%zu", strlen(before_text));
	fd = open(f->path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(util_write_all(fd, ours, sizeof(ours) - 1), 0);
	assert_int_equal(util_write_all(fd, theirs, sizeof(theirs) - 1), 0);
	close(fd);
	expect_recover_refused(f, token, "other mail after a whole line");
}

/* A real crash mid-message (cut anywhere, even mid-line), then another
 * delivery to the same mbox (another account, or another popfetch)
 * before the crashed one recovers. */
static void test_recover_other_mail_after_crash(void **state)
{
	struct fixture *f = *state;
	char token[DELIVER_TOKEN_MAX];

	put_old_mail(f);
	crash_mid_message(f, 300000, token);
	deliver_str(f->d, "Return-Path: <b@x>\nSubject: theirs\n\nkeep me\n");
	expect_recover_refused(f, token, "other mail after a crash");
}

/* ---- misuse ---- */

static void test_misuse(void **state)
{
	struct fixture *f = *state;
	char token[DELIVER_TOKEN_MAX];
	struct error err;

	error_clear(&err);
	assert_true(f->d->ops->write(f->d, "x", 1, &err) != PF_OK);
	assert_true(f->d->ops->commit(f->d, &err) != PF_OK);
	f->d->ops->abort(f->d);
	assert_int_equal(f->d->ops->begin(f->d, token, &err), PF_OK);
	assert_true(f->d->ops->begin(f->d, token, &err) != PF_OK);
	f->d->ops->abort(f->d);
	assert_int_equal(file_size(f->path), 0);
	assert_false(f->d->per_message_verdict);
	deliver_free(&f->d);
	deliver_free(&f->d);	/* NULL is fine */
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_creates),
		T(test_open_mode),
		T(test_open_fails),
		T(test_quoting),
		T(test_quoting_long_run),
		T(test_round_trip),
		T(test_sender),
		T(test_sender_big_header),
		T(test_date_local_time),
		T(test_two_messages),
		T(test_append_after_unterminated),
		T(test_big_message),
		T(test_abort),
		T(test_free_mid_message),
		T(test_write_failure),
		T(test_lock_fcntl),
		T(test_lock_dotlock_live),
		T(test_lock_dotlock_stale),
		T(test_lock_visible),
		T(test_recover_nothing_after),
		T(test_recover_partial),
		T(test_recover_partial_after_unterminated),
		T(test_recover_committed),
		T(test_recover_other_mail_after_line),
		T(test_recover_other_mail_after_crash),
		T(test_misuse),
	};

	/* as popfetch does (main.c): a file-size limit is a write error */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("mbox", tests, NULL, NULL);
}
