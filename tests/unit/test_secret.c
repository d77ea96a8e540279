/*
 * test_secret.c - where a password comes from: inline, password_file
 * (first line, CR/LF stripped, private mode required), password_command
 * run for real without a shell (first line, exit statuses, signals, a
 * missing program, endless or huge output, a timeout, stdin /dev/null, no
 * inherited descriptors, stderr passed through), and the prompt on a
 * pseudo-terminal (no echo, echo restored after Enter and after Ctrl-C).
 * No error text may ever hold the secret or the command's output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
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

#include "config.h"
#include "error.h"
#include "secret.h"
#include "testutil.h"
#include "util.h"

#define N(t) (sizeof(t) / sizeof((t)[0]))

/* What every command that prints something prints, so that error texts
 * can be checked for it. */
#define MARK "Mk7sEcReT"

struct fixture {
	char *dir;
	char *file;	/* dir/pw */
	struct account a;
	pid_t child;	/* a prompt child still to reap (after a failure) */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->dir = tu_mkdtemp();
	f->file = tu_join(f->dir, "pw");
	f->a.name = "work";
	f->a.user = "alice";
	f->a.host = "pop.example.com";
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	secret_test_set_timeout(0);
	/* A failed assertion left it waiting on its terminal. */
	if (f->child > 0) {
		kill(f->child, SIGKILL);
		waitpid(f->child, NULL, 0);
	}
	tu_rm_rf(f->dir);
	free(f->dir);
	free(f->file);
	free(f);
	return 0;
}

/* A new string of n copies of c. */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- inline password, needs_prompt ---- */

static void test_password_copy(void **state)
{
	struct fixture *f = *state;
	struct error err;
	char *s = NULL;

	f->a.password = "p4ss w0rd";
	error_clear(&err);
	assert_int_equal(secret_get(&f->a, &s, &err), PF_OK);
	assert_string_equal(s, "p4ss w0rd");
	assert_ptr_not_equal(s, f->a.password);
	assert_false(secret_needs_prompt(&f->a));
	secret_free(&s);
	assert_null(s);
	secret_free(&s);	/* NULL is fine */
}

static void test_needs_prompt(void **state)
{
	struct fixture *f = *state;
	struct error err;
	char *s = NULL;

	assert_true(secret_needs_prompt(&f->a));
	error_clear(&err);
	assert_int_equal(secret_get(&f->a, &s, &err), PF_CONFIG);
	assert_null(s);
	assert_non_null(strstr(err.text, "[work]"));
	f->a.password_file = f->file;
	assert_false(secret_needs_prompt(&f->a));
	f->a.password_file = NULL;
	f->a.password_command = "true";
	assert_false(secret_needs_prompt(&f->a));
}

/* ---- password_file ---- */

struct file_case {
	const char *data;
	size_t len;
	mode_t mode;
	enum pf_status status;
	const char *want;	/* the secret, or a piece of the error */
};

#define B(s) s, sizeof(s) - 1

static const struct file_case file_cases[] = {
	{ B("tok\nmore\n"), 0600, PF_OK, "tok" },
	{ B("tok\r\n"), 0600, PF_OK, "tok" },
	{ B("tok\r\r\nmore"), 0600, PF_OK, "tok" },
	{ B("tok"), 0600, PF_OK, "tok" },
	{ B("  sp ace \t\n"), 0400, PF_OK, "  sp ace \t" },
	{ B("t\xc3\xb6k;#\"'\n"), 0600, PF_OK, "t\xc3\xb6k;#\"'" },
	{ B(""), 0600, PF_CONFIG, "is empty" },
	{ B("\n" MARK "\n"), 0600, PF_CONFIG, "is empty" },
	{ B("\r\n"), 0600, PF_CONFIG, "is empty" },
	{ B(MARK "\0x\n"), 0600, PF_CONFIG, "NUL" },
	{ B(MARK "\n"), 0644, PF_NOPERM, "chmod 600" },
	{ B(MARK "\n"), 0640, PF_NOPERM, "readable by group or others (mode 0640)" },
	{ B(MARK "\n"), 0604, PF_NOPERM, "chmod 600" },
	{ B(MARK "\n"), 0610, PF_NOPERM, "chmod 600" },
};

static void test_file_cases(void **state)
{
	struct fixture *f = *state;
	unsigned nfail = 0;
	size_t i;

	f->a.password_file = f->file;
	for (i = 0; i < N(file_cases); i++) {
		const struct file_case *c = &file_cases[i];
		struct error err;
		enum pf_status st;
		char *s = NULL;

		unlink(f->file);
		assert_int_equal(tu_write_file(f->file, c->data, c->len,
					       c->mode), 0);
		error_clear(&err);
		st = secret_get(&f->a, &s, &err);
		if (st != c->status) {
			print_error("# file case %zu: status %d, want %d (%s)\n",
				    i, st, c->status, err.text);
			nfail++;
		} else if (st == PF_OK && strcmp(s, c->want) != 0) {
			print_error("# file case %zu: got '%s', want '%s'\n", i,
				    s, c->want);
			nfail++;
		} else if (st != PF_OK &&
			   (strstr(err.text, c->want) == NULL ||
			    strstr(err.text, "[work] password_file: ") == NULL ||
			    strstr(err.text, f->file) == NULL ||
			    strstr(err.text, MARK) != NULL || s != NULL)) {
			print_error("# file case %zu: error '%s' lacks '%s', the "
				    "account or the path, or shows the secret\n",
				    i, err.text, c->want);
			nfail++;
		}
		secret_free(&s);
	}
	assert_int_equal(nfail, 0);
}

static void test_file_missing(void **state)
{
	struct fixture *f = *state;
	struct error err;
	char *s = NULL;

	f->a.password_file = f->file;
	error_clear(&err);
	assert_int_equal(secret_get(&f->a, &s, &err), PF_CONFIG);
	assert_null(s);
	assert_non_null(strstr(err.text, "[work] password_file: "));
	assert_non_null(strstr(err.text, f->file));
	assert_non_null(strstr(err.text, "No such file or directory"));

	/* a directory is not a password file */
	f->a.password_file = f->dir;
	assert_int_equal(secret_get(&f->a, &s, &err), PF_CONFIG);
	assert_non_null(strstr(err.text, "not a regular file"));
}

/* A symbolic link is followed, and the mode checked is the target's. */
static void test_file_symlink(void **state)
{
	struct fixture *f = *state;
	char *link = tu_join(f->dir, "link");
	struct error err;
	char *s = NULL;

	assert_int_equal(tu_write_file(f->file, B("tok\n"), 0600), 0);
	assert_int_equal(symlink(f->file, link), 0);
	f->a.password_file = link;
	error_clear(&err);
	assert_int_equal(secret_get(&f->a, &s, &err), PF_OK);
	assert_string_equal(s, "tok");
	secret_free(&s);
	assert_int_equal(chmod(f->file, 0644), 0);
	assert_int_equal(secret_get(&f->a, &s, &err), PF_NOPERM);
	free(link);
}

/* Exactly SECRET_MAX bytes is a secret; one more is refused. */
static void test_file_long(void **state)
{
	struct fixture *f = *state;
	char *big = repeat('x', SECRET_MAX + 1);
	struct error err;
	char *s = NULL;

	f->a.password_file = f->file;
	big[SECRET_MAX] = '\n';
	assert_int_equal(tu_write_file(f->file, big, SECRET_MAX + 1, 0600), 0);
	error_clear(&err);
	assert_int_equal(secret_get(&f->a, &s, &err), PF_OK);
	assert_int_equal(strlen(s), SECRET_MAX);
	secret_free(&s);
	big[SECRET_MAX] = 'x';
	assert_int_equal(tu_write_file(f->file, big, SECRET_MAX + 1, 0600), 0);
	assert_int_equal(secret_get(&f->a, &s, &err), PF_CONFIG);
	assert_null(s);
	assert_non_null(strstr(err.text, "too long"));
	assert_null(strstr(err.text, "xxxxxxxx"));
	free(big);
}

/* ---- password_command ---- */

struct command_case {
	const char *cmd;
	enum pf_status status;
	const char *want;	/* the secret, or a piece of the error */
};

static const struct command_case command_cases[] = {
	{ "printf '" MARK "\\nmore'", PF_OK, MARK },
	{ "/usr/bin/printf '" MARK "\\r\\n'", PF_OK, MARK },
	{ "printf '" MARK "'", PF_OK, MARK },
	{ "echo hello  \"big world\"", PF_OK, "hello big world" },
	{ "echo 'a;b|c$HOME`x`'", PF_OK, "a;b|c$HOME`x`" },
	{ "sh -c 'echo " MARK "; exit 3'", PF_CONFIG,
	  "[work] password_command failed (exit status 3)" },
	{ "sh -c 'echo " MARK "; exit 1'", PF_CONFIG, "(exit status 1)" },
	{ "sh -c 'echo " MARK "; exit 75'", PF_TEMPFAIL, "(exit status 75)" },
	{ "sh -c 'exit 75'", PF_TEMPFAIL, "try again later" },
	{ "sh -c 'echo " MARK "; kill -9 $$'", PF_CONFIG,
	  "[work] password_command killed by signal 9" },
	{ "sh -c 'kill -TERM $$'", PF_CONFIG, "killed by signal 15" },
	/* popfetch ignores SIGPIPE; the command gets the default */
	{ "sh -c 'kill -PIPE $$'", PF_CONFIG, "killed by signal 13" },
	{ "popfetch-no-such-command " MARK, PF_CONFIG,
	  "[work] password_command: cannot run 'popfetch-no-such-command': "
	  "No such file or directory" },
	{ "/nonexistent/dir/cmd", PF_CONFIG,
	  "cannot run '/nonexistent/dir/cmd': No such file or directory" },
	{ "/etc/passwd", PF_CONFIG, "cannot run '/etc/passwd': Permission denied" },
	{ "true", PF_CONFIG, "[work] password_command printed an empty first line" },
	{ "printf '\\n" MARK "'", PF_CONFIG, "empty first line" },
	{ "printf '" MARK "\\0x\\n'", PF_CONFIG, "NUL" },
	{ "printf '" MARK, PF_CONFIG, "[work] password_command: " },
	{ "   ", PF_CONFIG, "[work] password_command: " },
	/* it exits but a background child keeps the pipe open: its line is
	 * taken at once, not after the child (or the timeout) */
	{ "sh -c 'echo " MARK "; sleep 5 &'", PF_OK, MARK },
	/* 1 MB after the first line must not block it on a full pipe */
	{ "sh -c 'echo " MARK "; head -c 1048576 /dev/zero'", PF_OK, MARK },
	{ "sh -c 'echo " MARK "; yes | head -c 1048576'", PF_OK, MARK },
	{ "sh -c 'echo " MARK "; exec 1>&-; sleep 0.2; exit 0'", PF_OK, MARK },
	{ "sh -c \"yes x | tr -d '\\\\n' | head -c 70000\"", PF_CONFIG,
	  "[work] password_command output line too long" },
	{ "sh -c \"yes x | tr -d '\\\\n' | head -c 70000; exit 4\"", PF_CONFIG,
	  "(exit status 4)" },
};

static void test_command_cases(void **state)
{
	struct fixture *f = *state;
	unsigned nfail = 0;
	size_t i;

	for (i = 0; i < N(command_cases); i++) {
		const struct command_case *c = &command_cases[i];
		struct error err;
		enum pf_status st;
		int64_t t0 = util_now_ms(), ms;
		char *s = NULL;

		f->a.password_command = (char *)c->cmd;
		error_clear(&err);
		st = secret_get(&f->a, &s, &err);
		ms = util_now_ms() - t0;
		if (st != c->status) {
			print_error("# [%s]: status %d, want %d (%s)\n", c->cmd,
				    st, c->status, err.text);
			nfail++;
		} else if (st == PF_OK && strcmp(s, c->want) != 0) {
			print_error("# [%s]: got '%s', want '%s'\n", c->cmd, s,
				    c->want);
			nfail++;
		} else if (st != PF_OK &&
			   (strstr(err.text, c->want) == NULL ||
			    strstr(err.text, MARK) != NULL ||
			    strstr(err.text, "xxxxxxxx") != NULL || s != NULL)) {
			print_error("# [%s]: error '%s' lacks '%s' or shows the "
				    "output\n", c->cmd, err.text, c->want);
			nfail++;
		}
		/* none of these comes anywhere near the timeout */
		if (ms > 10000) {
			print_error("# [%s]: took %lld ms\n", c->cmd,
				    (long long)ms);
			nfail++;
		}
		secret_free(&s);
	}
	assert_int_equal(nfail, 0);
}

/* A line of exactly SECRET_MAX bytes is a secret. */
static void test_command_max(void **state)
{
	struct fixture *f = *state;
	struct error err;
	char *s = NULL, *cmd;

	cmd = xasprintf("sh -c \"yes x | tr -d '\\\\n' | head -c %d; echo\"",
			SECRET_MAX);
	f->a.password_command = cmd;
	error_clear(&err);
	assert_int_equal(secret_get(&f->a, &s, &err), PF_OK);
	assert_int_equal(strlen(s), SECRET_MAX);
	secret_free(&s);
	free(cmd);
}

static void test_command_timeout(void **state)
{
	struct fixture *f = *state;
	struct error err;
	int64_t t0, ms;
	char *s = NULL;

	secret_test_set_timeout(1);
	f->a.password_command = "sleep 10";
	error_clear(&err);
	t0 = util_now_ms();
	assert_int_equal(secret_get(&f->a, &s, &err), PF_TEMPFAIL);
	ms = util_now_ms() - t0;
	assert_null(s);
	assert_non_null(strstr(err.text, "[work] password_command did not "
				"finish within 1 s"));
	assert_true(ms >= 900 && ms < 5000);

	/* a line already printed does not help a command that hangs on */
	f->a.password_command = "sh -c 'echo " MARK "; exec sleep 10'";
	assert_int_equal(secret_get(&f->a, &s, &err), PF_TEMPFAIL);
	assert_null(s);
	assert_null(strstr(err.text, MARK));

	/* one that ignores SIGTERM gets SIGKILL */
	f->a.password_command = "sh -c 'trap \"\" TERM; sleep 10; sleep 10'";
	t0 = util_now_ms();
	assert_int_equal(secret_get(&f->a, &s, &err), PF_TEMPFAIL);
	ms = util_now_ms() - t0;
	assert_true(ms < 8000);

	/* it exited, but what it left behind writes on and on: its line
	 * counts, at the deadline at the latest */
	f->a.password_command = "sh -c 'echo " MARK "; "
				"(yes & sleep 3; kill $! 2>/dev/null) &'";
	assert_int_equal(secret_get(&f->a, &s, &err), PF_OK);
	assert_string_equal(s, MARK);
	secret_free(&s);

	/* no zombie left behind by any of them */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* The command gets none of our descriptors, also none popfetch was given
 * without close-on-exec. */
static void test_command_no_descriptors(void **state)
{
	struct fixture *f = *state;
	struct error err;
	char *s = NULL, *cmd;
	int fd;

	fd = open("/dev/null", O_RDONLY);	/* no O_CLOEXEC */
	assert_true(fd > 2);
	assert_int_equal(dup2(fd, fd + 10), fd + 10);
	cmd = xasprintf("sh -c 'for n in 3 4 5 6 7 8 9 %d; do "
			"[ -e /proc/$$/fd/$n ] && printf \"fd%%s \" $n; done; "
			"echo end'", fd + 10);
	f->a.password_command = cmd;
	error_clear(&err);
	assert_int_equal(secret_get(&f->a, &s, &err), PF_OK);
	assert_string_equal(s, "end");
	secret_free(&s);
	close(fd);
	close(fd + 10);
	free(cmd);
}

/* Its stdin is /dev/null, not ours: here a pipe nobody writes to, where
 * cat would wait until the timeout. */
static void test_command_stdin(void **state)
{
	struct fixture *f = *state;
	struct error err;
	char *s = NULL;
	int pfd[2], saved;

	assert_int_equal(pipe(pfd), 0);
	saved = dup(STDIN_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(pfd[0], STDIN_FILENO), STDIN_FILENO);
	secret_test_set_timeout(3);
	f->a.password_command = "sh -c 'cat; read x; echo \"" MARK "[$x]\"'";
	error_clear(&err);
	assert_int_equal(secret_get(&f->a, &s, &err), PF_OK);
	assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
	close(pfd[0]);
	close(pfd[1]);
	assert_string_equal(s, MARK "[]");
	secret_free(&s);
}

/* Its stderr is ours: what gpg or pass say there reaches the person. */
static void test_command_stderr(void **state)
{
	struct fixture *f = *state;
	char *log = tu_join(f->dir, "stderr");
	struct error err;
	char *s = NULL, *back;
	size_t len;
	int fd, saved;

	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	f->a.password_command = "sh -c 'echo unlock please >&2; echo tok'";
	error_clear(&err);
	assert_int_equal(secret_get(&f->a, &s, &err), PF_OK);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	close(fd);
	assert_string_equal(s, "tok");
	back = tu_read_file(log, &len);
	assert_non_null(back);
	assert_string_equal(back, "unlock please\n");
	secret_free(&s);
	free(back);
	free(log);
}

/* ---- the prompt ---- */

static void test_prompt_not_a_tty(void **state)
{
	struct fixture *f = *state;
	struct error err;
	char *s = NULL;
	int saved = dup(STDIN_FILENO), fd = open("/dev/null", O_RDONLY);

	assert_true(saved >= 0 && fd >= 0);
	assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
	error_clear(&err);
	assert_int_equal(secret_prompt(&f->a, &s, &err), PF_CONFIG);
	assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
	close(fd);
	assert_null(s);
	assert_string_equal(err.text,
			    "[work] no password, password_command or "
			    "password_file, and standard input is not a terminal "
			    "to ask");
}

/*
 * A child on a fresh pseudo-terminal (its controlling terminal, as stdin
 * and stderr) runs secret_prompt() and writes "STATUS SECRET" to a pipe;
 * the test plays the person at the keyboard on the master side.
 */
struct pty_child {
	pid_t pid;
	int master;
	int result;	/* read end of the child's report */
};

static void pty_start(struct fixture *f, struct pty_child *p)
{
	const struct account *a = &f->a;
	int pipefd[2];
	char *name;

	p->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(p->master >= 0);
	assert_int_equal(grantpt(p->master), 0);
	assert_int_equal(unlockpt(p->master), 0);
	name = ptsname(p->master);
	assert_non_null(name);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	fflush(NULL);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		struct error err;
		char *s = NULL, buf[ERROR_TEXT_MAX + 16];
		enum pf_status st;
		int fd;

		setsid();
		fd = open(name, O_RDWR);	/* becomes the controlling tty */
		if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 2) < 0)
			_exit(100);
		error_clear(&err);
		st = secret_prompt(a, &s, &err);
		snprintf(buf, sizeof(buf), "%d %s", (int)st,
			 st == PF_OK ? s : err.text);
		(void)util_write_all(pipefd[1], buf, strlen(buf));
		secret_free(&s);
		_exit(0);
	}
	f->child = p->pid;
	close(pipefd[1]);
	p->result = pipefd[0];
}

static void pty_reap(struct fixture *f, struct pty_child *p, int *status_r)
{
	assert_int_equal(waitpid(p->pid, status_r, 0), p->pid);
	f->child = 0;
}

/* Reads what the terminal shows until it holds want (or 5 s pass);
 * returns everything read so far (appended to *all). */
static bool pty_expect(struct pty_child *p, const char *want, char *all,
		       size_t size)
{
	int64_t deadline = util_now_ms() + 5000;
	size_t len = strlen(all);

	while (strstr(all, want) == NULL) {
		struct pollfd pfd = { .fd = p->master, .events = POLLIN };
		int64_t left = deadline - util_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return false;
		n = read(p->master, all + len, size - 1 - len);
		if (n <= 0)
			return false;
		len += (size_t)n;
		all[len] = '\0';
	}
	return true;
}

static void pty_send(struct pty_child *p, const char *s)
{
	assert_int_equal(util_write_all(p->master, s, strlen(s)), 0);
}

/* Reads the rest of the terminal output without blocking on it. */
static void pty_drain(struct pty_child *p, char *all, size_t size)
{
	size_t len = strlen(all);
	struct pollfd pfd = { .fd = p->master, .events = POLLIN };

	while (len < size - 1 && poll(&pfd, 1, 200) > 0) {
		ssize_t n = read(p->master, all + len, size - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
		all[len] = '\0';
	}
}

static bool pty_echo_on(struct pty_child *p)
{
	struct termios t;

	/* Linux: the master reports the terminal's (shared) settings. */
	assert_int_equal(tcgetattr(p->master, &t), 0);
	return (t.c_lflag & ECHO) != 0;
}

static void test_prompt_pty(void **state)
{
	struct fixture *f = *state;
	struct pty_child p;
	char screen[4096] = "", result[256] = "";
	ssize_t n;
	int status;

	pty_start(f, &p);
	if (!pty_expect(&p, "Password for work (alice@pop.example.com): ",
			screen, sizeof(screen)))
		fail_msg("no prompt; the terminal shows: '%s'", screen);
	assert_false(pty_echo_on(&p));
	pty_send(&p, "Typ3d " MARK "\r");
	pty_reap(f, &p, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	n = read(p.result, result, sizeof(result) - 1);
	assert_true(n > 0);
	result[n] = '\0';
	assert_string_equal(result, "0 Typ3d " MARK);
	pty_drain(&p, screen, sizeof(screen));
	if (strstr(screen, MARK) != NULL)
		fail_msg("the password was echoed: '%s'", screen);
	/* the newline after the input, since Enter was not echoed */
	assert_non_null(strstr(screen, "): \r\n"));
	assert_true(pty_echo_on(&p));
	close(p.master);
	close(p.result);
}

/* Ctrl-C while asking: popfetch dies of SIGINT as usual, with echo back
 * on; a Ctrl-D on an empty line is "no password". */
static void test_prompt_interrupted(void **state)
{
	struct fixture *f = *state;
	struct pty_child p;
	char screen[4096] = "", result[256] = "", want[16];
	ssize_t n;
	int status;

	pty_start(f, &p);
	if (!pty_expect(&p, "Password for", screen, sizeof(screen)))
		fail_msg("no prompt; the terminal shows: '%s'", screen);
	pty_send(&p, "half");
	pty_send(&p, "\003");
	pty_reap(f, &p, &status);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGINT);
	assert_true(pty_echo_on(&p));
	close(p.master);
	close(p.result);

	pty_start(f, &p);
	screen[0] = '\0';
	if (!pty_expect(&p, "Password for", screen, sizeof(screen)))
		fail_msg("no prompt; the terminal shows: '%s'", screen);
	pty_send(&p, "\004");
	pty_reap(f, &p, &status);
	n = read(p.result, result, sizeof(result) - 1);
	assert_true(n > 0);
	result[n] = '\0';
	snprintf(want, sizeof(want), "%d [work] ", (int)PF_CONFIG);
	assert_int_equal(strncmp(result, want, strlen(want)), 0);
	assert_non_null(strstr(result, "no password entered"));
	assert_true(pty_echo_on(&p));
	close(p.master);
	close(p.result);
}

/* Ctrl-Z while asking: echo goes back on while stopped, the prompt is
 * shown again after it (here at once: the child's process group is
 * orphaned, where the kernel discards a stop), the password still works. */
static void test_prompt_suspended(void **state)
{
	struct fixture *f = *state;
	struct pty_child p;
	char screen[4096] = "", result[256] = "";
	ssize_t n;
	int status;

	pty_start(f, &p);
	if (!pty_expect(&p, "Password for", screen, sizeof(screen)))
		fail_msg("no prompt; the terminal shows: '%s'", screen);
	pty_send(&p, "lost");
	pty_send(&p, "\032");
	if (!pty_expect(&p, "\nPassword for", screen, sizeof(screen)))
		fail_msg("no second prompt; the terminal shows: '%s'", screen);
	assert_false(pty_echo_on(&p));
	pty_send(&p, MARK "\n");
	pty_reap(f, &p, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	n = read(p.result, result, sizeof(result) - 1);
	assert_true(n > 0);
	result[n] = '\0';
	assert_string_equal(result, "0 " MARK);
	pty_drain(&p, screen, sizeof(screen));
	assert_null(strstr(screen, MARK));
	assert_null(strstr(screen, "lost"));
	assert_true(pty_echo_on(&p));
	close(p.master);
	close(p.result);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_password_copy),
		T(test_needs_prompt),
		T(test_file_cases),
		T(test_file_missing),
		T(test_file_symlink),
		T(test_file_long),
		T(test_command_cases),
		T(test_command_max),
		T(test_command_timeout),
		T(test_command_no_descriptors),
		T(test_command_stdin),
		T(test_command_stderr),
		T(test_prompt_not_a_tty),
		T(test_prompt_pty),
		T(test_prompt_interrupted),
		T(test_prompt_suspended),
	};

	/* as popfetch does (main.c) */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	return cmocka_run_group_tests_name("secret", tests, NULL, NULL);
}
