/*
 * test_log.c - where log lines go and how they look: the log file line
 * (timestamp, PID, one write on O_APPEND, never torn by a second writer),
 * colour only on the terminal, the progress line cleared before a line on
 * the same terminal, log_summary() and the levels.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "ptyutil.h"
#include "testutil.h"

/* ---- capturing stdout/stderr ---------------------------------------- */

struct capture {
	int fd;		/* the redirected descriptor (1 or 2) */
	int saved;	/* its original, restored by cap_end() */
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
	assert_true(c->saved >= 0);
	assert_true(dup2(f, fd) == fd);
	close(f);
}

/* Restores the descriptor and returns what was written (a new string). */
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

/* ---- a pseudo-terminal as stderr (and maybe stdout) ----------------- */

/* Puts the pty's slave on the descriptors in fds (terminated by -1). */
static void pty_begin(struct pty *p, const int *fds)
{
	pty_open_on(p, fds, 0);
}

/* ---- fixture ---------------------------------------------------------- */

struct fix {
	char *dir;
	char *logpath;
	int logfd;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = tu_mkdtemp();
	f->logpath = tu_join(f->dir, "popfetch.log");
	f->logfd = open(f->logpath, O_WRONLY | O_APPEND | O_CREAT, 0600);
	assert_true(f->logfd >= 0);
	log_set_level(LOG_QUIET);
	log_set_file(-1);
	log_set_syslog(0);
	log_set_progress_active(0);
	log_set_color(0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	log_set_file(-1);
	log_set_progress_active(0);
	log_set_color(0);
	log_set_level(LOG_QUIET);
	close(f->logfd);
	tu_rm_rf(f->dir);
	free(f->logpath);
	free(f->dir);
	free(f);
	return 0;
}

static char *read_log(const struct fix *f)
{
	size_t len;
	char *text = tu_read_file(f->logpath, &len);

	assert_non_null(text);
	return text;
}

/* Splits text into lines (in place); returns how many, at most max. */
static size_t split_lines(char *text, char **lines, size_t max)
{
	size_t n = 0;
	char *p = text, *nl;

	while (*p != '\0' && n < max && (nl = strchr(p, '\n')) != NULL) {
		*nl = '\0';
		lines[n++] = p;
		p = nl + 1;
	}
	return n;
}

/* "2026-11-23T03:04:05Z popfetch[PID]: " and the time within a few seconds
 * of now; returns what follows. */
static const char *check_stamp(const char *line, pid_t pid)
{
	regex_t re;
	regmatch_t m[2];
	struct tm tm;
	char want[32];
	const char *rest;
	time_t t;

	assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
				 "[0-9]{2}:[0-9]{2}Z popfetch\\[([0-9]+)\\]: ",
				 REG_EXTENDED), 0);
	if (regexec(&re, line, 2, m, 0) != 0)
		fail_msg("log line without stamp: '%s'", line);
	regfree(&re);
	snprintf(want, sizeof(want), "%ld", (long)pid);
	assert_int_equal((size_t)(m[1].rm_eo - m[1].rm_so), strlen(want));
	assert_memory_equal(line + m[1].rm_so, want, strlen(want));
	memset(&tm, 0, sizeof(tm));
	rest = strptime(line, "%Y-%m-%dT%H:%M:%SZ", &tm);
	assert_non_null(rest);
	t = timegm(&tm);
	assert_true(labs((long)(time(NULL) - t)) <= 5);
	return line + m[0].rm_eo;
}

/* ---- tests ------------------------------------------------------------ */

/* Errors, warnings and summaries always; -v lines only at -v; trace
 * never; the terminal output keeps its old shape. */
static void test_file_lines(void **state)
{
	struct fix *f = *state;
	struct capture out, err;
	char *lines[16], *text, *so, *se;
	static const char *const want[] = {
		"work: boom 42",
		"warning: home: careful",
		"no account here",
		"work: fetched 1, skipped 0",
		"lists: a -v line",
		"lists: summary at -v",
	};
	size_t n, i;

	log_set_file(f->logfd);
	cap_begin(&out, STDOUT_FILENO, f->dir, "out");
	cap_begin(&err, STDERR_FILENO, f->dir, "err");
	log_error("work", "boom %d", 42);
	log_warn("home", "careful");
	log_error(NULL, "no account here");
	log_summary("work", "fetched %u, skipped %u", 1u, 0u);
	log_verbose("work", "not at the default level");
	log_set_level(LOG_VERBOSE);
	log_verbose("lists", "a -v line");
	log_summary("lists", "summary at -v");
	log_set_level(LOG_TRACE);
	log_trace("lists", '>', "USER alice", 10);
	se = cap_end(&err);
	so = cap_end(&out);

	assert_string_equal(se, "popfetch: work: boom 42\n"
			    "popfetch: warning: home: careful\n"
			    "popfetch: no account here\n"
			    "lists: POP> USER alice\n");
	assert_string_equal(so, "lists: a -v line\nlists: summary at -v\n");
	text = read_log(f);
	n = split_lines(text, lines, 16);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < n; i++)
		assert_string_equal(check_stamp(lines[i], getpid()), want[i]);
	free(text);
	free(so);
	free(se);
}

/* Two runs that overlap open the file each on their own (O_APPEND) and
 * write long lines as fast as they can: every line arrives whole, each
 * writer's lines in order. */
#define APPEND_LINES 1500
#define APPEND_PAD 1500

static void append_writer(const char *path, char tag)
{
	char pad[APPEND_PAD + 1];
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600), i;

	if (fd < 0)
		_exit(2);
	memset(pad, tag, APPEND_PAD);
	pad[APPEND_PAD] = '\0';
	if (dup2(open("/dev/null", O_WRONLY), STDERR_FILENO) < 0)
		_exit(2);
	log_set_file(fd);
	for (i = 0; i < APPEND_LINES; i++)
		log_error("acct", "%c %d %s", tag, i, pad);
	_exit(0);
}

static void test_append_two_writers(void **state)
{
	struct fix *f = *state;
	pid_t pids[2];
	char **lines, *text;
	int next[2] = { 0, 0 }, k, status;
	size_t n, i;

	for (k = 0; k < 2; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0)
			append_writer(f->logpath, k == 0 ? 'A' : 'B');
	}
	for (k = 0; k < 2; k++) {
		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	text = read_log(f);
	lines = calloc(2 * APPEND_LINES + 1, sizeof(*lines));
	assert_non_null(lines);
	n = split_lines(text, lines, 2 * APPEND_LINES + 1);
	assert_int_equal(n, 2 * APPEND_LINES);
	for (i = 0; i < n; i++) {
		char tag;
		int seq, end = 0;
		const char *rest;
		size_t j, padlen;

		/* which writer: the tag after "acct: " */
		tag = strstr(lines[i], "acct: ") != NULL
		      ? strstr(lines[i], "acct: ")[6] : '?';
		k = tag == 'A' ? 0 : tag == 'B' ? 1 : -1;
		if (k < 0)
			fail_msg("line %zu is torn: '%.80s'", i, lines[i]);
		rest = check_stamp(lines[i], pids[k]);
		if (sscanf(rest, "acct: %c %d %n", &tag, &seq, &end) != 2 ||
		    end == 0)
			fail_msg("line %zu is torn: '%.80s'", i, lines[i]);
		assert_int_equal(seq, next[k]);
		next[k]++;
		padlen = strlen(rest + end);
		assert_int_equal(padlen, APPEND_PAD);
		for (j = 0; j < padlen; j++)
			assert_int_equal(rest[end + j], tag);
	}
	assert_int_equal(next[0], APPEND_LINES);
	assert_int_equal(next[1], APPEND_LINES);
	free(lines);
	free(text);
}

/* Colour on: errors red, warnings yellow, client and server trace lines in
 * two colours, the -v line on stdout and the log file plain.  Off: no
 * escape anywhere. */
static void test_color(void **state)
{
	struct fix *f = *state;
	struct capture out, err;
	char *so, *se, *text;
	int on;

	log_set_file(f->logfd);
	log_set_level(LOG_TRACE);
	for (on = 1; on >= 0; on--) {
		log_set_color(on);
		cap_begin(&out, STDOUT_FILENO, f->dir, "out");
		cap_begin(&err, STDERR_FILENO, f->dir, "err");
		log_error("work", "bad");
		log_warn("work", "odd");
		log_trace("work", '>', "STAT", 4);
		log_trace("work", '<', "+OK 2 320\r\n", 11);
		log_verbose("work", "plain");
		se = cap_end(&err);
		so = cap_end(&out);
		if (on)
			assert_string_equal(se,
				"\033[31mpopfetch: work: bad\033[0m\n"
				"\033[33mpopfetch: warning: work: odd\033[0m\n"
				"work: \033[36mPOP> STAT\033[0m\n"
				"work: \033[32mPOP< +OK 2 320\033[0m\n");
		else
			assert_string_equal(se,
				"popfetch: work: bad\n"
				"popfetch: warning: work: odd\n"
				"work: POP> STAT\n"
				"work: POP< +OK 2 320\n");
		assert_string_equal(so, "work: plain\n");
		free(so);
		free(se);
	}
	text = read_log(f);
	assert_null(strchr(text, '\033'));
	free(text);
}

/* While a progress line is drawn on the terminal, each line on it starts
 * by clearing it; -v lines too when stdout is that terminal, not when it
 * is a file; the log file never. */
static void test_progress_clear(void **state)
{
	struct fix *f = *state;
	static const int both[] = { STDOUT_FILENO, STDERR_FILENO, -1 };
	static const int err_only[] = { STDERR_FILENO, -1 };
	struct capture out;
	struct pty p;
	char *t, *so, *text;

	log_set_file(f->logfd);
	log_set_level(LOG_TRACE);

	pty_begin(&p, both);
	log_set_progress_active(1);
	log_error("work", "bad");
	log_verbose("work", "info");
	log_trace("work", '<', "+OK", 3);
	log_set_progress_active(0);
	log_error("work", "after");
	t = pty_end(&p);
	assert_string_equal(t, "\r\033[Kpopfetch: work: bad\n"
			    "\r\033[Kwork: info\n"
			    "\r\033[Kwork: POP< +OK\n"
			    "popfetch: work: after\n");
	free(t);

	pty_begin(&p, err_only);
	cap_begin(&out, STDOUT_FILENO, f->dir, "out");
	log_set_progress_active(1);
	log_warn(NULL, "w");
	log_verbose("work", "to a file");
	log_summary("work", "sum");
	log_set_progress_active(0);
	so = cap_end(&out);
	t = pty_end(&p);
	assert_string_equal(t, "\r\033[Kpopfetch: warning: w\n");
	assert_string_equal(so, "work: to a file\nwork: sum\n");
	free(so);
	free(t);

	text = read_log(f);
	assert_null(strchr(text, '\033'));
	assert_null(strchr(text, '\r'));
	free(text);
}

/* log_summary(): stdout only at -v, the log file always;
 * log_summary_record(): the log file only. */
static void test_summary_levels(void **state)
{
	struct fix *f = *state;
	struct capture out;
	char *so, *text, *lines[4];

	log_set_file(f->logfd);
	cap_begin(&out, STDOUT_FILENO, f->dir, "out");
	log_summary("a", "quiet %s", "run");
	log_set_level(LOG_VERBOSE);
	log_summary("b", "verbose run");
	log_summary_record("c", "not on %s", "stdout");
	so = cap_end(&out);
	assert_string_equal(so, "b: verbose run\n");
	text = read_log(f);
	assert_int_equal(split_lines(text, lines, 4), 3);
	assert_string_equal(check_stamp(lines[0], getpid()), "a: quiet run");
	assert_string_equal(check_stamp(lines[1], getpid()), "b: verbose run");
	assert_string_equal(check_stamp(lines[2], getpid()), "c: not on stdout");
	free(text);
	free(so);
}

/* A line longer than LOG_LINE_MAX is cut, still one line with its newline
 * (and its colour reset). */
static void test_long_line(void **state)
{
	struct fix *f = *state;
	struct capture err;
	char *big = malloc(3 * LOG_LINE_MAX), *se;
	size_t len;

	assert_non_null(big);
	memset(big, 'x', 3 * LOG_LINE_MAX - 1);
	big[3 * LOG_LINE_MAX - 1] = '\0';
	log_set_color(1);
	cap_begin(&err, STDERR_FILENO, f->dir, "err");
	log_error("work", "%s", big);
	se = cap_end(&err);
	len = strlen(se);
	assert_true(len > LOG_LINE_MAX / 2 && len < LOG_LINE_MAX + 64);
	assert_int_equal(strchr(se, '\n') - se, (ptrdiff_t)len - 1);
	assert_memory_equal(se + len - 5, "\033[0m\n", 5);
	free(se);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_lines, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_append_two_writers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_color, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress_clear, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_summary_levels, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_long_line, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
