/*
 * test_report.c - the progress line (text, rate limit, terminal width,
 * when it is drawn at all), the final lines, the combined line of
 * parallel accounts, the records children send through the pipe (partial
 * reads, real child processes, a child that dies without a result), JSON
 * escaping and the JSON summary, and the summary lines in the log file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "report.h"
#include "ptyutil.h"
#include "testutil.h"

/* ---- a clock the tests move ----------------------------------------- */

static int64_t fake_ms;

static int64_t fake_clock(void)
{
	return fake_ms;
}

/* ---- capturing a descriptor into a file ----------------------------- */

struct capture {
	int fd;
	int saved;
	char *path;
};

static void cap_begin(struct capture *c, int fd, const char *dir,
		      const char *name)
{
	int f;

	c->fd = fd;
	c->path = tu_join(dir, name);
	f = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(f >= 0);
	fflush(NULL);
	c->saved = dup(fd);
	assert_true(dup2(f, fd) == fd);
	close(f);
}

static char *cap_end(struct capture *c)
{
	size_t len;
	char *text;

	fflush(NULL);
	dup2(c->saved, c->fd);
	close(c->saved);
	text = tu_read_file(c->path, &len);
	assert_non_null(text);
	free(c->path);
	return text;
}

/* ---- a raw pseudo-terminal as stderr -------------------------------- */

/* Puts a pty cols columns wide on stderr. */
static void pty_begin(struct pty *p, unsigned short cols)
{
	static const int fds[] = { STDERR_FILENO, -1 };

	pty_open_on(p, fds, cols);
}

/* ---- fixture ---------------------------------------------------------- */

struct fix {
	char *dir;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = tu_mkdtemp();
	setenv("TERM", "xterm", 1);
	unsetenv("NO_COLOR");
	fake_ms = 1000;
	report_set_clock(fake_clock);
	log_set_level(LOG_QUIET);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	struct error err;

	(void)report_finish(PF_OK, &err);
	report_set_clock(NULL);
	log_set_color(0);
	log_set_level(LOG_QUIET);
	tu_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void init_opts(const struct report_options *o)
{
	struct error err;

	assert_int_equal(report_init(o, &err), PF_OK);
}

static void init_default(void)
{
	struct report_options o = { .color = REPORT_COLOR_NEVER };

	init_opts(&o);
}

static struct report_result result(const char *account, enum pf_status st,
				   const char *error, unsigned fetched,
				   uint64_t bytes, double seconds)
{
	struct report_result r;

	memset(&r, 0, sizeof(r));
	snprintf(r.account, sizeof(r.account), "%s", account);
	r.status = st;
	snprintf(r.error, sizeof(r.error), "%s", error);
	r.res.fetched = fetched;
	r.res.bytes = bytes;
	r.res.new_msgs = fetched;
	r.res.new_bytes = bytes;
	r.res.total = fetched;
	r.seconds = seconds;
	return r;
}

/* ---- the progress line text ----------------------------------------- */

struct progress_case {
	const char *account;
	uint32_t done, total;
	uint64_t bytes, total_bytes;
	int64_t elapsed_ms;
	const char *want;
};

static const struct progress_case progress_cases[] = {
	/* the example of the design: 5 MB in 5 s, 43.1 MB to go */
	{ "work", 120, 1000, 5000000, 48100000, 5000,
	  "work: 120/1000 messages, 5.0/48.1 MB, 1.0 MB/s, ETA 0:43" },
	/* no rate over less than half a second, nor without bytes */
	{ "work", 0, 1000, 0, 48100000, 0,
	  "work: 0/1000 messages, 0.0/48.1 MB" },
	{ "work", 1, 1000, 100000, 48100000, 499,
	  "work: 1/1000 messages, 0.1/48.1 MB" },
	{ "work", 0, 1000, 0, 48100000, 9000,
	  "work: 0/1000 messages, 0.0/48.1 MB" },
	/* units follow the total: B, kB, GB */
	{ "x", 1, 2, 500, 900, 100, "x: 1/2 messages, 500/900 B" },
	{ "x", 1, 2, 1500, 20000, 2000,
	  "x: 1/2 messages, 1.5/20.0 kB, 750 B/s, ETA 0:25" },
	/* hours in the ETA */
	{ "big", 1, 3, 1000000, 4000000000ULL, 1000,
	  "big: 1/3 messages, 0.0/4.0 GB, 1.0 MB/s, ETA 1:06:39" },
	/* done: the rate, no ETA */
	{ "work", 10, 10, 2000000, 2000000, 2000,
	  "work: 10/10 messages, 2.0/2.0 MB, 1.0 MB/s" },
	{ "empty", 0, 0, 0, 0, 0, "empty: 0/0 messages, 0/0 B" },
};

static void test_format_progress(void **state)
{
	size_t i;
	unsigned nfail = 0;

	(void)state;
	for (i = 0; i < sizeof(progress_cases) / sizeof(progress_cases[0]);
	     i++) {
		const struct progress_case *c = &progress_cases[i];
		char buf[256];
		size_t n = report_format_progress(buf, sizeof(buf), c->account,
						  c->done, c->total, c->bytes,
						  c->total_bytes,
						  c->elapsed_ms);

		if (strcmp(buf, c->want) != 0 || n != strlen(c->want)) {
			print_error("# case %zu: got '%s' (%zu), want '%s'\n",
				    i, buf, n, c->want);
			nfail++;
		}
	}
	assert_int_equal(nfail, 0);
}

/* Like snprintf: the length it needed, the text cut and terminated. */
static void test_format_progress_short_buffer(void **state)
{
	char buf[8];
	size_t n;

	(void)state;
	memset(buf, 'Z', sizeof(buf));
	n = report_format_progress(buf, 6, "work", 1, 2, 3, 4, 0);
	assert_int_equal(n, strlen("work: 1/2 messages, 3/4 B"));
	assert_string_equal(buf, "work:");
	assert_int_equal(buf[6], 'Z');
}

struct final_case {
	int mode;	/* 0 run, 1 --check, 2 --dry-run */
	struct report_result r;
	const char *want;
};

static void test_format_final(void **state)
{
	struct final_case cases[] = {
		{ 0, result("work", PF_OK, "", 1000, 48100000, 3.62),
		  "work: 1000 messages, 48.1 MB in 3.6 s" },
		{ 0, result("one", PF_OK, "", 1, 512, 0.04),
		  "one: 1 message, 512 B in 0.0 s" },
		{ 0, result("work", PF_OK, "", 0, 0, 0.3),
		  "work: no new messages" },
		{ 0, result("work", PF_TEMPFAIL, "connection lost", 0, 0, 1),
		  "work: failed (temporary failure)" },
		{ 0, result("work", PF_IOERR, "disk full", 3, 3000000, 1),
		  "work: failed (input/output error) after 3 messages, 3.0 MB" },
		{ 1, result("work", PF_OK, "", 3, 1200000, 1),
		  "work: 3 new messages, 1.2 MB" },
		{ 1, result("work", PF_OK, "", 0, 0, 1),
		  "work: no new messages" },
		{ 2, result("work", PF_OK, "", 1, 2000, 1),
		  "work: dry run: would fetch 1 message, 2.0 kB" },
		{ 2, result("work", PF_NOPERM, "login refused", 0, 0, 1),
		  "work: failed (permission denied)" },
	};
	size_t i;
	unsigned nfail = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct report_options o = { .color = REPORT_COLOR_NEVER,
					    .check = cases[i].mode == 1,
					    .dry_run = cases[i].mode == 2 };
		char buf[256];
		size_t n;

		init_opts(&o);
		n = report_format_final(buf, sizeof(buf), &cases[i].r);
		if (strcmp(buf, cases[i].want) != 0 ||
		    n != strlen(cases[i].want)) {
			print_error("# case %zu: got '%s', want '%s'\n", i,
				    buf, cases[i].want);
			nfail++;
		}
	}
	assert_int_equal(nfail, 0);
}

/* ---- drawing on a terminal ------------------------------------------ */

/* At most one redraw per 100 ms; the first call of an account and the
 * last (done == total) always; the final line replaces the progress line
 * and ends with a newline. */
static void test_rate_limit(void **state)
{
	struct report_result r = result("a", PF_OK, "", 4, 4000, 1.03);
	struct error err;
	struct pty p;
	char *t;

	(void)state;
	pty_begin(&p, 200);
	init_default();
	fake_ms = 0;
	report_progress("a", 0, 4, 0, 4000);		/* first: drawn */
	fake_ms = 50;
	report_progress("a", 1, 4, 1000, 4000);		/* too soon */
	fake_ms = 99;
	report_progress("a", 2, 4, 2000, 4000);		/* too soon */
	fake_ms = 100;
	report_progress("a", 2, 4, 2000, 4000);		/* drawn */
	fake_ms = 150;
	report_progress("a", 3, 4, 2500, 4000);		/* too soon */
	fake_ms = 1000;
	report_progress("a", 3, 4, 3000, 4000);		/* drawn, rate */
	fake_ms = 1020;
	report_progress("a", 4, 4, 4000, 4000);		/* last: drawn */
	fake_ms = 1030;
	report_account_end(&r);
	fake_ms = 1040;
	report_progress("b", 0, 1, 0, 10);		/* first: drawn */
	fake_ms = 1045;
	report_progress("b", 1, 1, 10, 10);		/* last: drawn */
	assert_int_equal(report_finish(PF_OK, &err), PF_OK);	/* clears */
	t = pty_end(&p);
	assert_string_equal(t,
		"\ra: 0/4 messages, 0.0/4.0 kB\033[K"
		"\ra: 2/4 messages, 2.0/4.0 kB\033[K"
		"\ra: 3/4 messages, 3.0/4.0 kB, 3.0 kB/s, ETA 0:00\033[K"
		"\ra: 4/4 messages, 4.0/4.0 kB, 3.9 kB/s\033[K"
		"\r\033[Ka: 4 messages, 4.0 kB in 1.0 s\n"
		"\rb: 0/1 messages, 0/10 B\033[K"
		"\rb: 1/1 messages, 10/10 B\033[K"
		"\r\033[K");
	free(t);
}

#define E13 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9" \
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"

/* The line never reaches the last column (no wrap) and is cut between
 * characters; report_finish() clears what is left. */
static void test_width(void **state)
{
	struct error err;
	struct pty p;
	char *t;

	(void)state;
	pty_begin(&p, 30);
	init_default();
	/* 30 bytes of name: 29 would split the last e-acute, so 28 */
	report_progress("ca" E13 "\xc3\xa9", 1, 2, 3, 4);
	assert_int_equal(report_finish(PF_OK, &err), PF_OK);
	t = pty_end(&p);
	assert_string_equal(t, "\rca" E13 "\033[K\r\033[K");
	free(t);
}

/* Nothing at all when stderr is not a terminal, with -q, with TERM=dumb
 * or without TERM; colour as --color and NO_COLOR say. */
static void test_when_drawn(void **state)
{
	struct fix *f = *state;
	struct report_result r = result("a", PF_OK, "", 1, 10, 0.1);
	struct report_options o = { .color = REPORT_COLOR_AUTO };
	struct capture err;
	struct error e;
	struct pty p;
	char *t;
	int i;

	/* a file */
	cap_begin(&err, STDERR_FILENO, f->dir, "err");
	init_opts(&o);
	report_progress("a", 0, 1, 0, 10);
	report_account_end(&r);
	log_error("a", "plain");
	(void)report_finish(PF_OK, &e);
	t = cap_end(&err);
	assert_string_equal(t, "popfetch: a: plain\n");
	free(t);

	/* a terminal, but -q, TERM=dumb, no TERM */
	for (i = 0; i < 3; i++) {
		struct report_options q = { .quiet = i == 0,
					    .color = REPORT_COLOR_NEVER };

		if (i == 1)
			setenv("TERM", "dumb", 1);
		if (i == 2)
			unsetenv("TERM");
		pty_begin(&p, 80);
		init_opts(&q);
		report_progress("a", 0, 1, 0, 10);
		report_account_end(&r);
		(void)report_finish(PF_OK, &e);
		t = pty_end(&p);
		assert_string_equal(t, "");
		free(t);
		setenv("TERM", "xterm", 1);
	}

	/* colour: auto on a terminal yes, unless NO_COLOR; always even in a
	 * file; never never */
	for (i = 0; i < 5; i++) {
		struct report_options c = {
			.quiet = true,
			.color = i == 3 ? REPORT_COLOR_ALWAYS
				 : i == 4 ? REPORT_COLOR_NEVER
				 : REPORT_COLOR_AUTO };
		bool want = i == 0 || i == 3;

		if (i == 1)
			setenv("NO_COLOR", "1", 1);
		if (i == 2)
			setenv("NO_COLOR", "", 1);	/* empty: unset */
		if (i == 3)
			cap_begin(&err, STDERR_FILENO, f->dir, "err");
		else
			pty_begin(&p, 80);
		init_opts(&c);
		log_error("a", "x");
		(void)report_finish(PF_OK, &e);
		t = i == 3 ? cap_end(&err) : pty_end(&p);
		if (i == 2)
			want = true;
		if (want != (strstr(t, "\033[31m") != NULL))
			fail_msg("colour case %d: '%s'", i, t);
		free(t);
		unsetenv("NO_COLOR");
	}
	log_set_color(0);
}

/* ---- JSON ------------------------------------------------------------- */

struct escape_case {
	const char *in;
	const char *out;
};

static const struct escape_case escape_cases[] = {
	{ "plain text", "plain text" },
	{ "", "" },
	{ "a\"b", "a\\\"b" },
	{ "back\\slash", "back\\\\slash" },
	{ "\n\r\t", "\\n\\r\\t" },
	{ "\x01\x1f\x7f", "\\u0001\\u001f\\u007f" },
	{ "\b\f", "\\u0008\\u000c" },
	{ "/<>", "/<>" },
	{ "caf\xc3\xa9", "caf\xc3\xa9" },
	{ "\xe2\x82\xac", "\xe2\x82\xac" },
	{ "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
	{ "\xff", "\\ufffd" },
	{ "x\xc3", "x\\ufffd" },			/* cut sequence */
	{ "\xc3(", "\\ufffd(" },
	{ "\xc0\xaf", "\\ufffd\\ufffd" },		/* overlong '/' */
	{ "\xe0\x80\x80", "\\ufffd\\ufffd\\ufffd" },	/* overlong */
	{ "\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd" },	/* surrogate */
	{ "\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd" }, /* > U+10FFFF */
	{ "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf" },	/* U+10FFFF */
};

static void test_json_escape(void **state)
{
	size_t i;
	unsigned nfail = 0;
	char small[4];

	(void)state;
	for (i = 0; i < sizeof(escape_cases) / sizeof(escape_cases[0]); i++) {
		char buf[128];
		size_t n = report_json_escape(buf, sizeof(buf),
					      escape_cases[i].in);

		if (strcmp(buf, escape_cases[i].out) != 0 ||
		    n != strlen(escape_cases[i].out) ||
		    report_json_escape(NULL, 0, escape_cases[i].in) != n) {
			print_error("# case %zu: got '%s'\n", i, buf);
			nfail++;
		}
	}
	assert_int_equal(nfail, 0);
	assert_int_equal(report_json_escape(small, sizeof(small), "a\"bc"), 5);
	assert_string_equal(small, "a\\\"");
}

/* Replaces the "started" time (checked for its form) by "T" and returns
 * the text. */
static char *mask_started(char *json)
{
	regex_t re;
	regmatch_t m[1];
	char *p = strstr(json, "\"started\":\"");

	assert_non_null(p);
	p += strlen("\"started\":\"");
	assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
				 "[0-9]{2}:[0-9]{2}Z\"", REG_EXTENDED), 0);
	assert_int_equal(regexec(&re, p, 1, m, 0), 0);
	regfree(&re);
	*p = 'T';
	memmove(p + 1, p + 20, strlen(p + 20) + 1);
	return json;
}

static const char *const json_want =
	"{\"popfetch\":\"" POPFETCH_VERSION "\",\"started\":\"T\","
	"\"seconds\":2.50,\"exit_status\":75,\"accounts\":[\n"
	"  {\"account\":\"lists\",\"status\":\"error\",\"exit_status\":70,"
	"\"error\":\"its process ended without a result (internal error)\","
	"\"fetched\":2,\"skipped\":0,\"deleted\":0,\"total\":0,\"bytes\":200,"
	"\"new_messages\":7,\"new_bytes\":700,\"seconds\":1.50},\n"
	"  {\"account\":\"work\",\"status\":\"ok\",\"exit_status\":0,"
	"\"error\":null,\"fetched\":3,\"skipped\":1,\"deleted\":2,"
	"\"total\":4,\"bytes\":12345,\"new_messages\":3,\"new_bytes\":12345,"
	"\"seconds\":1.25},\n"
	"  {\"account\":\"h\\\"o\\\\me\",\"status\":\"error\","
	"\"exit_status\":77,\"error\":\"login \\\"refused\\\"\\n\\u0001 "
	"caf\xc3\xa9 \\ufffd (server said: -ERR no)\",\"fetched\":0,"
	"\"skipped\":0,\"deleted\":0,\"total\":0,\"bytes\":0,"
	"\"new_messages\":0,\"new_bytes\":0,\"seconds\":0.07}\n"
	"]}\n";

static void run_json_accounts(void)
{
	struct report_result work = result("work", PF_OK, "", 3, 12345, 1.25);
	struct report_result home = result("h\"o\\me", PF_NOPERM,
		"login \"refused\"\n\x01 caf\xc3\xa9 \xff (server said: -ERR no)",
		0, 0, 0.07);

	work.res.skipped = 1;
	work.res.deleted = 2;
	work.res.total = 4;
	/* lists starts first, reports, and never ends */
	report_account_start("lists");
	fake_ms = 1500;
	report_progress("lists", 0, 7, 0, 700);
	fake_ms = 3000;
	report_progress("lists", 2, 7, 200, 700);
	report_account_end(&work);
	report_account_end(&home);
	fake_ms = 3500;
}

static void test_json_file(void **state)
{
	struct fix *f = *state;
	char *path = tu_join(f->dir, "sub/summary.json"), *sub;
	struct report_options o = { .json_path = path,
				    .color = REPORT_COLOR_NEVER };
	struct capture err;
	struct error e;
	struct stat st;
	size_t len;
	char *text;

	sub = tu_join(f->dir, "sub");
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(tu_write_file(path, "old", 3, 0600), 0);
	cap_begin(&err, STDERR_FILENO, f->dir, "err");
	init_opts(&o);
	run_json_accounts();
	assert_int_equal(report_finish(PF_TEMPFAIL, &e), PF_OK);
	free(cap_end(&err));
	text = tu_read_file(path, &len);
	assert_non_null(text);
	assert_string_equal(mask_started(text), json_want);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* the temp file is gone: only summary.json is there */
	assert_int_equal(tu_count_entries(sub, NULL), 1);
	free(text);
	free(sub);
	free(path);
}

static void test_json_stdout(void **state)
{
	struct fix *f = *state;
	struct report_options o = { .json_path = "-",
				    .color = REPORT_COLOR_NEVER };
	struct capture out, err;
	struct error e;
	char *text;

	cap_begin(&err, STDERR_FILENO, f->dir, "err");
	cap_begin(&out, STDOUT_FILENO, f->dir, "out");
	init_opts(&o);
	run_json_accounts();
	assert_int_equal(report_finish(PF_TEMPFAIL, &e), PF_OK);
	text = cap_end(&out);
	free(cap_end(&err));
	assert_string_equal(mask_started(text), json_want);
	free(text);

	/* no account at all */
	cap_begin(&out, STDOUT_FILENO, f->dir, "out");
	init_opts(&o);
	assert_int_equal(report_finish(PF_CONFIG, &e), PF_OK);
	text = cap_end(&out);
	assert_string_equal(mask_started(text),
			    "{\"popfetch\":\"" POPFETCH_VERSION "\",\"started\":"
			    "\"T\",\"seconds\":0.00,\"exit_status\":78,"
			    "\"accounts\":[]}\n");
	free(text);
}

/* A JSON file in a missing directory and a log file that cannot be
 * opened are refused before anything runs. */
static void test_init_errors(void **state)
{
	struct fix *f = *state;
	char *json = tu_join(f->dir, "missing/x.json");
	struct report_options o = { .json_path = json,
				    .color = REPORT_COLOR_NEVER };
	struct error err;

	assert_int_equal(report_init(&o, &err), PF_CANTCREAT);
	assert_non_null(strstr(err.text, "missing/x.json"));
	o.json_path = NULL;
	o.log_file = f->dir;	/* a directory */
	assert_int_equal(report_init(&o, &err), PF_CANTCREAT);
	assert_non_null(strstr(err.text, "log file"));
	assert_non_null(strstr(err.text, f->dir));
	free(json);
}

/* ---- records between processes -------------------------------------- */

static void write_all(int fd, const void *p, size_t n)
{
	assert_int_equal(write(fd, p, n), (ssize_t)n);
}

/* Four records written in pieces of every kind of size: a result shows up
 * exactly when its record is complete, never before. */
static void test_records_partial(void **state)
{
	static const size_t splits[][6] = {
		{ 1, 0 },			/* a byte at a time */
		{ 7, 0 },
		{ 1, 2, 300, 1, 5000, 0 },	/* cycled */
		{ 4096, 0 },
		{ 1023, 1025, 0 },
	};
	struct report_result a = result("a", PF_OK, "", 5, 500, 1.5);
	struct report_result b = result("b", PF_TEMPFAIL, "timed out", 1, 9, 2);
	size_t rs = report_record_size(), k;
	unsigned char *buf = malloc(4 * rs);
	struct capture err;
	struct fix *f = *state;

	(void)state;
	assert_non_null(buf);
	assert_true(rs <= 4096);
	report_encode_progress(buf, "a", 1, 5, 100, 500, 700);
	report_encode_end(buf + rs, &a);
	report_encode_progress(buf + 2 * rs, "b", 0, 1, 0, 9, 0);
	report_encode_end(buf + 3 * rs, &b);
	cap_begin(&err, STDERR_FILENO, f->dir, "err");
	for (k = 0; k < sizeof(splits) / sizeof(splits[0]); k++) {
		size_t off = 0, j = 0;
		struct error e;

		init_default();
		report_begin_parallel();
		assert_true(report_parent_fd() >= 0);
		assert_true(report_record_fd() >= 0);
		while (off < 4 * rs) {
			size_t n = splits[k][j];

			if (n == 0) {
				j = 0;
				continue;
			}
			j++;
			if (n > 4 * rs - off)
				n = 4 * rs - off;
			write_all(report_record_fd(), buf + off, n);
			off += n;
			report_parent_read();
			if ((report_result_of("a") != NULL) != (off >= 2 * rs) ||
			    (report_result_of("b") != NULL) != (off == 4 * rs))
				fail_msg("split %zu: wrong results at %zu "
					 "bytes", k, off);
		}
		assert_memory_equal(report_result_of("a"), &a, sizeof(a));
		assert_memory_equal(report_result_of("b"), &b, sizeof(b));
		(void)report_finish(PF_OK, &e);
	}
	free(cap_end(&err));
	free(buf);
}

/* Junk before a record (which atomic writes never make) costs only the
 * junk. */
static void test_records_resync(void **state)
{
	struct report_result a = result("a", PF_OK, "", 5, 500, 1.5);
	size_t rs = report_record_size();
	unsigned char *buf = malloc(rs + 3);

	(void)state;
	assert_non_null(buf);
	memcpy(buf, "\x01\x02\x03", 3);
	report_encode_end(buf + 3, &a);
	init_default();
	report_begin_parallel();
	write_all(report_record_fd(), buf, rs + 3);
	report_parent_read();
	assert_non_null(report_result_of("a"));
	assert_int_equal(report_result_of("a")->res.fetched, 5);
	free(buf);
}

/* Real children: one reports and ends; one reports and dies.  The parent
 * has both results (the lost one failed, with what its progress said),
 * the child wrote its own summary line to the log file. */
static void test_children(void **state)
{
	struct fix *f = *state;
	char *logpath = tu_join(f->dir, "run.log");
	struct report_options o = { .log_file = logpath,
				    .color = REPORT_COLOR_NEVER };
	const struct report_result *r;
	struct capture err;
	pid_t one, two;
	char *text, want[160];
	size_t len;
	int status;

	cap_begin(&err, STDERR_FILENO, f->dir, "err");
	init_opts(&o);
	report_begin_parallel();
	report_account_start("one");
	report_account_start("two");
	one = fork();
	assert_true(one >= 0);
	if (one == 0) {
		struct report_result res = result("one", PF_OK, "", 2, 200,
						  0.5);

		report_child();
		report_progress("one", 0, 2, 0, 200);
		report_progress("one", 1, 2, 100, 200);
		report_progress("one", 2, 2, 200, 200);
		report_account_end(&res);
		_exit(0);
	}
	two = fork();
	assert_true(two >= 0);
	if (two == 0) {
		report_child();
		report_progress("two", 1, 5, 100, 500);
		_exit(PF_TEMPFAIL);	/* main.c: a child exits with its status */
	}
	assert_int_equal(waitpid(two, &status, 0), two);
	report_account_lost("two", (enum pf_status)WEXITSTATUS(status));
	assert_int_equal(waitpid(one, &status, 0), one);
	report_account_lost("one", (enum pf_status)WEXITSTATUS(status));
	free(cap_end(&err));

	r = report_result_of("one");
	assert_non_null(r);
	assert_int_equal(r->status, PF_OK);
	assert_int_equal(r->res.fetched, 2);
	assert_int_equal(r->res.bytes, 200);
	r = report_result_of("two");
	assert_non_null(r);
	assert_int_equal(r->status, PF_TEMPFAIL);
	assert_string_equal(r->error, "its process ended without a result "
			    "(temporary failure)");
	assert_int_equal(r->res.fetched, 1);
	assert_int_equal(r->res.bytes, 100);

	text = tu_read_file(logpath, &len);
	assert_non_null(text);
	snprintf(want, sizeof(want), "popfetch[%ld]: one: fetched 2, "
		 "skipped 0, deleted 0 of 2 messages, 200 bytes\n", (long)one);
	assert_non_null(strstr(text, want));
	snprintf(want, sizeof(want), "popfetch[%ld]: two: its process ended "
		 "without a result (temporary failure)\n", (long)getpid());
	assert_non_null(strstr(text, want));
	snprintf(want, sizeof(want), "popfetch[%ld]: two: failed (temporary "
		 "failure): fetched 1, skipped 0, deleted 0 of 0 messages, "
		 "100 bytes\n", (long)getpid());
	assert_non_null(strstr(text, want));
	free(text);
	free(logpath);
}

/* The summary lines: the log file for every account, in the wording of
 * the mode; stdout at -v unless the account failed before its listing. */
static void test_summary_lines(void **state)
{
	struct fix *f = *state;
	char *logpath = tu_join(f->dir, "sum.log");
	struct report_options o = { .log_file = logpath,
				    .color = REPORT_COLOR_NEVER };
	struct report_result ok = result("ok", PF_OK, "", 2, 300, 1);
	struct report_result late = result("late", PF_IOERR, "disk full", 1,
					   100, 1);
	struct report_result early = result("early", PF_NOPERM, "refused", 0,
					    0, 1);
	struct capture out;
	struct error e;
	char *so, *text;
	size_t len;
	int mode;

	ok.res.skipped = 1;
	ok.res.total = 3;
	late.res.total = 4;
	late.res.new_msgs = 3;
	for (mode = 0; mode < 3; mode++) {
		o.check = mode == 1;
		o.dry_run = mode == 2;
		init_opts(&o);
		log_set_level(LOG_VERBOSE);
		cap_begin(&out, STDOUT_FILENO, f->dir, "out");
		report_account_end(&ok);
		report_account_end(&late);
		report_account_end(&early);
		so = cap_end(&out);
		assert_int_equal(report_finish(PF_TEMPFAIL, &e), PF_OK);
		text = tu_read_file(logpath, &len);
		assert_non_null(text);
		switch (mode) {
		case 0:
			assert_string_equal(so,
				"ok: fetched 2, skipped 1, deleted 0 of 3 "
				"messages, 300 bytes\n"
				"late: failed (input/output error): fetched 1, "
				"skipped 0, deleted 0 of 4 messages, 100 "
				"bytes\n");
			assert_non_null(strstr(text, "]: early: failed "
				"(permission denied): fetched 0, skipped 0, "
				"deleted 0 of 0 messages, 0 bytes\n"));
			break;
		case 1:
			/* --check prints its own line (runner.c): the
			 * summary goes to the log file only. */
			assert_string_equal(so, "");
			assert_non_null(strstr(text, "]: ok: check: 2 new "
				"messages, 300 bytes, of 3 messages\n"));
			break;
		case 2:
			assert_string_equal(so, "");
			assert_non_null(strstr(text, "]: late: failed "
				"(input/output error): dry run: would fetch 3 "
				"messages (100 bytes), skip 0, of 4 messages\n"));
			break;
		}
		assert_int_equal(strstr(text, "]: early: ") != NULL, 1);
		free(text);
		free(so);
		assert_int_equal(truncate(logpath, 0), 0);
	}
	free(logpath);
}

/* The parent's combined line: header, running accounts in start order,
 * cut to the width; an ended account's final line goes above it. */
static void test_parallel_drawing(void **state)
{
	struct report_result a = result("a", PF_OK, "", 10, 10000, 2.0);
	size_t rs = report_record_size();
	unsigned char *rec = malloc(rs);
	struct error err;
	char line[256];
	struct pty p;
	char *t;

	(void)state;
	assert_non_null(rec);
	pty_begin(&p, 200);
	init_default();
	report_set_accounts(3);
	report_begin_parallel();
	fake_ms = 0;
	report_account_start("a");		/* drawn: the first */
	report_account_start("b");		/* too soon */
	fake_ms = 10;
	report_encode_progress(rec, "a", 1, 10, 1000, 10000, 1000);
	write_all(report_record_fd(), rec, rs);
	report_parent_read();			/* a's first: drawn */
	fake_ms = 20;
	report_encode_progress(rec, "a", 2, 10, 2000, 10000, 1010);
	write_all(report_record_fd(), rec, rs);
	report_parent_read();			/* too soon */
	assert_int_equal(report_format_running(line, sizeof(line), 200),
			 strlen("[2 running, 0/3 done] a 2/10 2.0 kB/s | b"));
	assert_string_equal(line, "[2 running, 0/3 done] a 2/10 2.0 kB/s | b");
	report_format_running(line, sizeof(line), 20);
	assert_string_equal(line, "[2 running, 0/3 don");
	fake_ms = 30;
	report_encode_end(rec, &a);
	write_all(report_record_fd(), rec, rs);
	report_parent_read();			/* final line + b */
	assert_int_equal(report_finish(PF_OK, &err), PF_OK);	/* clears */
	t = pty_end(&p);
	assert_string_equal(t,
		"\r[1 running, 0/3 done] a\033[K"
		"\r[2 running, 0/3 done] a 1/10 1.0 kB/s | b\033[K"
		"\r\033[Ka: 10 messages, 10.0 kB in 2.0 s\n"
		"[1 running, 1/3 done] b\033[K"
		"\r\033[K");
	free(t);
	free(rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_progress),
		cmocka_unit_test(test_format_progress_short_buffer),
		cmocka_unit_test_setup_teardown(test_format_final, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rate_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_width, setup, teardown),
		cmocka_unit_test_setup_teardown(test_when_drawn, setup,
						teardown),
		cmocka_unit_test(test_json_escape),
		cmocka_unit_test_setup_teardown(test_json_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_json_stdout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_init_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_records_partial, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_records_resync, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_children, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_summary_lines, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_parallel_drawing, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
