/*
 * test_util.c - the small helpers: sanitizing hostile text, strict number
 * parsing, bounded copies, "~" expansion, directory creation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "util.h"
#include "testutil.h"

#define B(s) s, sizeof(s) - 1

/* ---- util_sanitize ---- */

struct sanitize_case {
	const char *in;
	size_t len;
	size_t size;
	const char *out;
};

static const struct sanitize_case sanitize_cases[] = {
	{ B("hello"), 64, "hello" },
	{ B(""), 64, "" },
	{ B("+OK ready\r\n"), 64, "+OK ready" },
	{ B("+OK ready\n"), 64, "+OK ready" },
	{ B("+OK ready\r"), 64, "+OK ready" },
	{ B("a\x01z"), 64, "a?z" },
	{ B("a\tz"), 64, "a?z" },
	{ B("a\rz"), 64, "a?z" },
	{ B("a\nz"), 64, "a?z" },
	{ B("a\x1b[31mred"), 64, "a?[31mred" },
	{ B("a\x7fz"), 64, "a?z" },
	{ B("\x80\xff"), 64, "??" },
	{ B("caf\xc3\xa9"), 64, "caf??" },
	{ B("a\0z"), 64, "a?z" },
	{ B("~ !"), 64, "~ !" },
	{ B("abcdef"), 4, "abc" },
	{ B("abcdef"), 1, "" },
	{ B("abc"), 4, "abc" },
};

static void test_sanitize(void **state)
{
	size_t i;
	unsigned nfail = 0;

	(void)state;
	for (i = 0; i < sizeof(sanitize_cases) / sizeof(sanitize_cases[0]);
	     i++) {
		const struct sanitize_case *c = &sanitize_cases[i];
		char buf[80];

		memset(buf, 'Z', sizeof(buf));
		util_sanitize(buf, c->size, c->in, c->len);
		if (strcmp(buf, c->out) != 0) {
			print_error("# case %zu: got '%s', want '%s'\n", i, buf,
				    c->out);
			nfail++;
		}
		/* nothing written beyond size */
		assert_int_equal(buf[c->size], 'Z');
	}
	assert_int_equal(nfail, 0);
}

/* The length is honoured: text need not be NUL-terminated. */
static void test_sanitize_len(void **state)
{
	char buf[16];

	(void)state;
	util_sanitize(buf, sizeof(buf), "abcdef", 3);
	assert_string_equal(buf, "abc");
}

/* ---- util_parse_ull ---- */

struct ull_case {
	const char *s;
	unsigned long long min, max;
	int ret;
	unsigned long long value;
};

static const struct ull_case ull_cases[] = {
	{ "0", 0, 10, 0, 0 },
	{ "10", 0, 10, 0, 10 },
	{ "11", 0, 10, -1, 0 },
	{ "5", 6, 10, -1, 0 },
	{ "6", 6, 10, 0, 6 },
	{ "007", 0, 10, 0, 7 },
	{ "65535", 1, 65535, 0, 65535 },
	{ "65536", 1, 65535, -1, 0 },
	{ "0", 1, 65535, -1, 0 },
	{ "18446744073709551615", 0, ULLONG_MAX, 0, ULLONG_MAX },
	{ "18446744073709551616", 0, ULLONG_MAX, -1, 0 },
	{ "99999999999999999999999", 0, ULLONG_MAX, -1, 0 },
	{ "", 0, 10, -1, 0 },
	{ "-1", 0, ULLONG_MAX, -1, 0 },
	{ "-0", 0, 10, -1, 0 },
	{ "+1", 0, 10, -1, 0 },
	{ " 1", 0, 10, -1, 0 },
	{ "1 ", 0, 10, -1, 0 },
	{ "\t1", 0, 10, -1, 0 },
	{ "1\n", 0, 10, -1, 0 },
	{ "1a", 0, 10, -1, 0 },
	{ "a1", 0, 10, -1, 0 },
	{ "0x1", 0, 10, -1, 0 },
	{ "1.0", 0, 10, -1, 0 },
	{ "1e3", 0, 100000, -1, 0 },
};

static void test_parse_ull(void **state)
{
	size_t i;
	unsigned nfail = 0;

	(void)state;
	for (i = 0; i < sizeof(ull_cases) / sizeof(ull_cases[0]); i++) {
		const struct ull_case *c = &ull_cases[i];
		unsigned long long v = 4242;
		int ret = util_parse_ull(c->s, c->min, c->max, &v);

		if (ret != c->ret || (ret == 0 && v != c->value)) {
			print_error("# '%s' in %llu..%llu: ret %d value %llu, "
				    "want %d %llu\n", c->s, c->min, c->max,
				    ret, v, c->ret, c->value);
			nfail++;
		}
	}
	assert_int_equal(nfail, 0);
}

/* ---- util_strlcpy ---- */

static void test_strlcpy(void **state)
{
	char buf[8];

	(void)state;
	assert_int_equal(util_strlcpy(buf, "abc", sizeof(buf)), 3);
	assert_string_equal(buf, "abc");
	assert_int_equal(util_strlcpy(buf, "abcdefg", sizeof(buf)), 7);
	assert_string_equal(buf, "abcdefg");
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(util_strlcpy(buf, "abcdefgh", sizeof(buf)), 8);
	assert_string_equal(buf, "abcdefg");
	assert_int_equal(util_strlcpy(buf, "", sizeof(buf)), 0);
	assert_string_equal(buf, "");
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(util_strlcpy(buf, "abc", 1), 3);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(buf[1], 'Z');
	/* size 0: nothing written, as BSD strlcpy */
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(util_strlcpy(buf, "abc", 0), 3);
	assert_int_equal(buf[0], 'Z');
}

/* ---- util_expand_home ---- */

static void check_expand(const char *in, const char *want)
{
	char *got = util_expand_home(in);

	if (want == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_expand_home(void **state)
{
	char *saved = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

	(void)state;
	assert_int_equal(setenv("HOME", "/home/alice", 1), 0);
	check_expand("~/Mail", "/home/alice/Mail");
	check_expand("~", "/home/alice");
	check_expand("~/", "/home/alice/");
	check_expand("/var/mail", "/var/mail");
	check_expand("Mail/~/x", "Mail/~/x");
	check_expand("x~", "x~");
	check_expand("~bob/Mail", "~bob/Mail");
	check_expand("", "");

	assert_int_equal(unsetenv("HOME"), 0);
	check_expand("~/Mail", NULL);
	check_expand("~", NULL);
	check_expand("/var/mail", "/var/mail");

	if (saved != NULL) {
		setenv("HOME", saved, 1);
		free(saved);
	}
}

/* ---- odds and ends ---- */

static void test_mkdir_p(void **state)
{
	char *dir = tu_mkdtemp();
	char *deep = tu_join(dir, "a/b/c");
	char *file = tu_join(dir, "f");
	char *under_file = tu_join(dir, "f/x");

	(void)state;
	assert_int_equal(util_mkdir_p(deep, 0700), 0);
	assert_true(tu_is_dir_with_mode(deep, 0700));
	/* existing directories are fine */
	assert_int_equal(util_mkdir_p(deep, 0700), 0);
	assert_int_equal(tu_write_file(file, "x", 1, 0600), 0);
	assert_int_equal(util_mkdir_p(under_file, 0700), -1);
	assert_int_equal(util_mkdir_p(file, 0700), -1);
	tu_rm_rf(dir);
	free(dir);
	free(deep);
	free(file);
	free(under_file);
}

static void test_write_all(void **state)
{
	char *dir = tu_mkdtemp();
	char *path = tu_join(dir, "out");
	static char big[1 << 20];
	size_t i, len;
	char *back;
	int fd;

	(void)state;
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(util_write_all(fd, big, sizeof(big)), 0);
	assert_int_equal(util_write_all(fd, "", 0), 0);
	close(fd);
	back = tu_read_file(path, &len);
	assert_non_null(back);
	assert_int_equal(len, sizeof(big));
	assert_memory_equal(back, big, len);
	free(back);
	assert_int_equal(util_write_all(-1, "x", 1), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(util_fsync_dir(-1, dir), 0);
	tu_rm_rf(dir);
	free(dir);
	free(path);
}

static void test_misc(void **state)
{
	char *s;
	char secret[8] = "s3cret!";
	size_t i;
	int64_t t0, t1;

	(void)state;
	s = xasprintf("%s-%d", "abc", 42);
	assert_string_equal(s, "abc-42");
	free(s);
	s = xstrndup("abcdef", 3);
	assert_string_equal(s, "abc");
	free(s);
	assert_non_null(util_hostname());
	assert_true(util_hostname()[0] != '\0');
	util_wipe(secret, sizeof(secret));
	for (i = 0; i < sizeof(secret) - 1; i++)
		assert_true(secret[i] != "s3cret!"[i]);
	t0 = util_now_ms();
	t1 = util_now_ms();
	assert_true(t1 >= t0);
}

/* ---- util_split_words ---- */

struct split_case {
	const char *cmd;
	const char *words[8];	/* NULL-terminated; words[0] NULL: error */
	const char *why;	/* for errors: a word the reason contains */
};

static const struct split_case split_cases[] = {
	{ "procmail", { "procmail" }, NULL },
	{ "a b c", { "a", "b", "c" }, NULL },
	{ "  a\t b  \t", { "a", "b" }, NULL },
	{ "/usr/bin/procmail -d %u", { "/usr/bin/procmail", "-d", "%u" },
	  NULL },
	/* quotes */
	{ "'a b' c", { "a b", "c" }, NULL },
	{ "\"a b\" c", { "a b", "c" }, NULL },
	{ "a'b c'd", { "ab cd" }, NULL },
	{ "x\"y z\"w", { "xy zw" }, NULL },
	{ "'it''s'", { "its" }, NULL },
	{ "'a\"b'", { "a\"b" }, NULL },
	{ "\"a'b\"", { "a'b" }, NULL },
	{ "'  '", { "  " }, NULL },
	{ "'a\tb'", { "a\tb" }, NULL },
	/* empty words are words */
	{ "''", { "" }, NULL },
	{ "\"\"", { "" }, NULL },
	{ "'' ''", { "", "" }, NULL },
	{ "a '' b", { "a", "", "b" }, NULL },
	/* backslashes: outside quotes and inside "...", not inside '...' */
	{ "a\\ b", { "a b" }, NULL },
	{ "a\\\\b", { "a\\b" }, NULL },
	{ "\\'x", { "'x" }, NULL },
	{ "\\\"x", { "\"x" }, NULL },
	{ "\\a", { "a" }, NULL },
	{ "\"a\\\"b\"", { "a\"b" }, NULL },
	{ "\"a\\\\b\"", { "a\\b" }, NULL },
	{ "\"\\x\"", { "x" }, NULL },
	{ "'a\\b'", { "a\\b" }, NULL },
	{ "'a\\'", { "a\\" }, NULL },
	{ "a\\", { "a\\" }, NULL },	/* nothing to escape: kept */
	/* only blanks and tabs separate words */
	{ "a\nb", { "a\nb" }, NULL },
	/* the shell's syntax is not ours */
	{ "$HOME ; a|b > c", { "$HOME", ";", "a|b", ">", "c" }, NULL },
	{ "*", { "*" }, NULL },
	/* errors */
	{ "", { NULL }, "empty" },
	{ " ", { NULL }, "empty" },
	{ " \t  \t", { NULL }, "empty" },
	{ "'abc", { NULL }, "quote" },
	{ "\"abc", { NULL }, "quote" },
	{ "a 'b", { NULL }, "quote" },
	{ "a b'", { NULL }, "quote" },
	{ "'", { NULL }, "quote" },
	{ "\"", { NULL }, "quote" },
	{ "\"a\\\"", { NULL }, "quote" },	/* the quote is escaped */
	{ "'a''", { NULL }, "quote" },
	{ "\"a'", { NULL }, "quote" },
};

static void test_split_words(void **state)
{
	unsigned nfail = 0;
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		const struct split_case *c = &split_cases[i];
		const char *why = NULL;
		char **w = util_split_words(c->cmd, &why);
		bool good = true;

		if (c->words[0] == NULL) {
			good = w == NULL && why != NULL &&
			       strstr(why, c->why) != NULL;
		} else if (w == NULL) {
			good = false;
		} else {
			for (j = 0; c->words[j] != NULL; j++)
				if (w[j] == NULL || strcmp(w[j], c->words[j]) != 0)
					good = false;
			if (good && w[j] != NULL)
				good = false;
		}
		if (!good) {
			print_error("# split '%s': ", c->cmd);
			if (w == NULL)
				print_error("NULL (%s)", why ? why : "no reason");
			for (j = 0; w != NULL && w[j] != NULL; j++)
				print_error("[%s]", w[j]);
			print_error("\n");
			nfail++;
		}
		util_free_words(w);
	}
	util_free_words(NULL);
	assert_int_equal(nfail, 0);
}

/* Many words, and a long one: the arrays grow. */
static void test_split_words_big(void **state)
{
	size_t n = 1000, i, len = 0;
	char *cmd = malloc(n * 8 + 20000), *big = malloc(10001);
	const char *why = NULL;
	char **w;

	(void)state;
	assert_non_null(cmd);
	assert_non_null(big);
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(cmd + len, 16, " w%zu", i);
	memset(big, 'x', 10000);
	big[10000] = '\0';
	cmd[len++] = ' ';
	cmd[len++] = '\'';
	memcpy(cmd + len, big, 10000);
	len += 10000;
	cmd[len++] = '\'';
	cmd[len] = '\0';
	w = util_split_words(cmd, &why);
	assert_non_null(w);
	for (i = 0; i < n; i++) {
		char want[16];

		snprintf(want, sizeof(want), "w%zu", i);
		assert_string_equal(w[i], want);
	}
	assert_string_equal(w[n], big);
	assert_null(w[n + 1]);
	util_free_words(w);
	free(cmd);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_sanitize_len),
		cmocka_unit_test(test_parse_ull),
		cmocka_unit_test(test_strlcpy),
		cmocka_unit_test(test_expand_home),
		cmocka_unit_test(test_mkdir_p),
		cmocka_unit_test(test_write_all),
		cmocka_unit_test(test_misc),
		cmocka_unit_test(test_split_words),
		cmocka_unit_test(test_split_words_big),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
