/*
 * secret.c - an account's password or token: inline, from a file, from a
 * command's output, or typed at the terminal without echo.
 *
 * Every buffer that held a byte of the secret is wiped before it is freed
 * or goes out of scope.  Errors name the account ("[NAME] ...") and the
 * key, never the secret nor what the command printed.
 */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

/* How long a password_command may take; only tests change it. */
static int command_timeout = SECRET_COMMAND_TIMEOUT;

/* After SIGTERM, how long a command gets to exit before SIGKILL. */
#define KILL_GRACE_MS 2000
#define READ_CHUNK 4096

void secret_test_set_timeout(int seconds)
{
	command_timeout = seconds > 0 ? seconds : SECRET_COMMAND_TIMEOUT;
}

bool secret_needs_prompt(const struct account *a)
{
	return a->password == NULL && a->password_command == NULL &&
	       a->password_file == NULL;
}

void secret_free(char **secret)
{
	if (*secret == NULL)
		return;
	util_wipe(*secret, strlen(*secret));
	free(*secret);
	*secret = NULL;
}

/* ---- the first line of a stream ---- */

/*
 * Collects the first line of bytes fed in arbitrary chunks; everything
 * after its LF is discarded.  A line longer than SECRET_MAX is not
 * collected (too_long), and neither is anything after a NUL (has_nul):
 * the secret is used as a C string.
 */
struct first_line {
	char *buf;		/* SECRET_MAX + 1 bytes, wiped when freed */
	size_t len;
	bool done;		/* LF seen (or given up): ignore the rest */
	bool too_long;
	bool has_nul;
};

static void first_line_init(struct first_line *l)
{
	memset(l, 0, sizeof(*l));
	l->buf = xmalloc(SECRET_MAX + 1);
}

static void first_line_feed(struct first_line *l, const char *data,
			    size_t n)
{
	const char *lf;
	size_t take;

	if (l->done)
		return;
	lf = memchr(data, '\n', n);
	take = lf != NULL ? (size_t)(lf - data) : n;
	if (take > SECRET_MAX - l->len) {
		l->too_long = true;
		l->done = true;
		return;
	}
	if (memchr(data, '\0', take) != NULL)
		l->has_nul = true;
	memcpy(l->buf + l->len, data, take);
	l->len += take;
	l->done = lf != NULL;
}

/* Hands the line over as a string, without trailing CRs, or NULL if it is
 * empty.  The collector is left empty. */
static char *first_line_take(struct first_line *l)
{
	char *s;

	while (l->len > 0 && l->buf[l->len - 1] == '\r')
		l->len--;
	if (l->len == 0)
		return NULL;
	s = xstrndup(l->buf, l->len);
	util_wipe(l->buf, SECRET_MAX + 1);
	l->len = 0;
	return s;
}

static void first_line_free(struct first_line *l)
{
	if (l->buf != NULL) {
		util_wipe(l->buf, SECRET_MAX + 1);
		free(l->buf);
	}
	l->buf = NULL;
}

/* ---- password_file ---- */

static enum pf_status from_file(const struct account *a, char **secret_r,
				struct error *err)
{
	const char *path = a->password_file;
	struct first_line line;
	char chunk[READ_CHUNK];
	enum pf_status ret = PF_OK;
	struct stat st;
	ssize_t n;
	int fd;

	first_line_init(&line);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = error_set_errno(err, PF_CONFIG, errno,
				      "[%s] password_file: cannot open %s",
				      a->name, path);
		goto out;
	}
	/* The mode of the file actually opened, not of whatever the path
	 * names a moment later; a FIFO or device could block forever. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = error_set(err, PF_CONFIG,
				"[%s] password_file: %s is not a regular file",
				a->name, path);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		ret = error_set(err, PF_NOPERM,
				"[%s] password_file: %s is readable by group or "
				"others (mode %04o); fix it with: chmod 600 %s",
				a->name, path, (unsigned)(st.st_mode & 07777),
				path);
		goto out;
	}
	while (!line.done) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = error_set_errno(err, PF_IOERR, errno,
					      "[%s] password_file: cannot read %s",
					      a->name, path);
			goto out;
		}
		if (n == 0)
			break;
		first_line_feed(&line, chunk, (size_t)n);
	}
	if (line.too_long) {
		ret = error_set(err, PF_CONFIG,
				"[%s] password_file: the first line of %s is too "
				"long (over %d bytes)", a->name, path, SECRET_MAX);
		goto out;
	}
	if (line.has_nul) {
		ret = error_set(err, PF_CONFIG,
				"[%s] password_file: the first line of %s holds a "
				"NUL byte", a->name, path);
		goto out;
	}
	*secret_r = first_line_take(&line);
	if (*secret_r == NULL)
		ret = error_set(err, PF_CONFIG,
				"[%s] password_file: the first line of %s is empty",
				a->name, path);
out:
	util_wipe(chunk, sizeof(chunk));
	first_line_free(&line);
	if (fd >= 0)
		close(fd);
	return ret;
}

/* ---- password_command ---- */

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Waits for pid until deadline (util_now_ms() time).  Returns true and
 * sets *status_r once it has exited, false at the deadline. */
static bool wait_until(pid_t pid, int64_t deadline, int *status_r)
{
	int pause = 1;

	for (;;) {
		pid_t r = waitpid(pid, status_r, WNOHANG);

		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR) {
			/* Not our child any more (reaped elsewhere):
			 * nothing left to wait for. */
			*status_r = -1;
			return true;
		}
		if (util_now_ms() >= deadline)
			return false;
		sleep_ms(pause);
		if (pause < 50)
			pause *= 2;
	}
}

/* SIGTERM, a grace period, then SIGKILL; always reaps pid. */
static void kill_child(pid_t pid)
{
	int status;

	kill(pid, SIGTERM);
	if (wait_until(pid, util_now_ms() + KILL_GRACE_MS, &status))
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/*
 * Starts words as a child without a shell: stdin /dev/null, stdout the
 * write end out_fd, stderr ours, no other descriptor.  posix_spawnp()
 * reports a command that cannot be executed as its return value (glibc
 * waits for the exec), so "not found" is told apart from an exit status
 * 127.  Returns 0 or an errno value.
 */
static int spawn(char **words, int out_fd, pid_t *pid_r)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t deflt, none;
	int rc;

	sigemptyset(&none);
	/* popfetch ignores these (main.c); a command expects the defaults. */
	sigemptyset(&deflt);
	sigaddset(&deflt, SIGPIPE);
	sigaddset(&deflt, SIGXFSZ);
	sigaddset(&deflt, SIGINT);
	sigaddset(&deflt, SIGTERM);
	sigaddset(&deflt, SIGHUP);
	sigaddset(&deflt, SIGQUIT);
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
		return rc;
	if ((rc = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return rc;
	}
	/* Order is important: stdout first, then close everything else
	 * (descriptors popfetch inherited from cron or a shell are not the
	 * command's either), then stdin. */
	rc = posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa,
							      STDERR_FILENO + 1);
	if (rc == 0)
		rc = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO,
						      "/dev/null", O_RDONLY, 0);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&attr, &deflt);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(&attr, &none);
	if (rc == 0)
		rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF |
					      POSIX_SPAWN_SETSIGMASK);
	if (rc == 0)
		rc = posix_spawnp(pid_r, words[0], &fa, &attr, words, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/*
 * Reads the command's output into line until EOF or, once the command
 * has exited, until nothing more is waiting (a background grandchild may
 * hold the pipe open for ever), and reaps it: PF_OK and *status_r (its
 * waitpid status).  At the deadline, or if its output cannot be read,
 * the command is killed and reaped, and the error returned.
 */
static enum pf_status collect(const struct account *a, pid_t pid, int fd,
			      struct first_line *line, int *status_r,
			      struct error *err)
{
	int64_t deadline = util_now_ms() + (int64_t)command_timeout * 1000;
	enum pf_status ret = PF_OK;
	char chunk[READ_CHUNK];
	bool exited = false;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - util_now_ms();
		int r;
		ssize_t n;

		/* Also once it has exited: a grandchild may write on. */
		if (left <= 0)
			break;
		/* While it runs, look at its status now and then; once it
		 * has exited, only what is already in the pipe counts. */
		r = poll(&pfd, 1, exited ? 0 : (int)(left < 50 ? left : 50));
		if (r > 0) {
			n = read(fd, chunk, sizeof(chunk));
			if (n == 0)
				break;
			if (n > 0)
				first_line_feed(line, chunk, (size_t)n);
			else if (errno != EINTR)
				ret = error_set_errno(err, PF_IOERR, errno,
						      "[%s] password_command: "
						      "cannot read its output",
						      a->name);
		} else if (r < 0 && errno != EINTR) {
			ret = error_set_errno(err, PF_IOERR, errno,
					      "[%s] password_command: cannot "
					      "wait for its output", a->name);
		} else if (exited) {
			break;
		} else if (waitpid(pid, status_r, WNOHANG) == pid) {
			exited = true;
		}
		if (ret != PF_OK)
			break;
	}
	util_wipe(chunk, sizeof(chunk));
	/* EOF: it closed its stdout, but may still be running. */
	if (ret == PF_OK && !exited)
		exited = wait_until(pid, deadline, status_r);
	if (exited)
		return ret;
	kill_child(pid);
	if (ret != PF_OK)
		return ret;
	return error_set(err, PF_TEMPFAIL,
			 "[%s] password_command did not finish within %d s "
			 "(killed)", a->name, command_timeout);
}

/* The command's verdict: its exit status, then what it printed. */
static enum pf_status command_verdict(const struct account *a, int status,
				      struct first_line *line, char **secret_r,
				      struct error *err)
{
	if (status == -1)
		return error_set(err, PF_SOFTWARE,
				 "[%s] password_command: cannot get its exit status",
				 a->name);
	if (WIFSIGNALED(status))
		return error_set(err, PF_CONFIG,
				 "[%s] password_command killed by signal %d",
				 a->name, WTERMSIG(status));
	if (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL)
		return error_set(err, PF_TEMPFAIL,
				 "[%s] password_command asked to try again later "
				 "(exit status %d)", a->name, EX_TEMPFAIL);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return error_set(err, PF_CONFIG,
				 "[%s] password_command failed (exit status %d)",
				 a->name, WEXITSTATUS(status));
	if (line->too_long)
		return error_set(err, PF_CONFIG,
				 "[%s] password_command output line too long "
				 "(over %d bytes)", a->name, SECRET_MAX);
	if (line->has_nul)
		return error_set(err, PF_CONFIG,
				 "[%s] password_command printed a NUL byte in its "
				 "first line", a->name);
	*secret_r = first_line_take(line);
	if (*secret_r == NULL)
		return error_set(err, PF_CONFIG,
				 "[%s] password_command printed an empty first line",
				 a->name);
	return PF_OK;
}

static enum pf_status from_command(const struct account *a, char **secret_r,
				   struct error *err)
{
	struct first_line line;
	const char *why = NULL;
	char **words;
	enum pf_status ret = PF_OK;
	int pfd[2] = { -1, -1 };
	int rc, status = -1;
	pid_t pid;

	first_line_init(&line);
	words = util_split_words(a->password_command, &why);
	if (words == NULL) {
		ret = error_set(err, PF_CONFIG, "[%s] password_command: %s",
				a->name, why);
		goto out;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		ret = error_set_errno(err, PF_IOERR, errno,
				      "[%s] password_command: cannot create a pipe",
				      a->name);
		goto out;
	}
	rc = spawn(words, pfd[1], &pid);
	close(pfd[1]);
	pfd[1] = -1;
	if (rc != 0) {
		ret = error_set_errno(err, rc == EAGAIN || rc == ENOMEM
				      ? PF_TEMPFAIL : PF_CONFIG, rc,
				      "[%s] password_command: cannot run '%s'",
				      a->name, words[0]);
		goto out;
	}
	ret = collect(a, pid, pfd[0], &line, &status, err);
	if (ret == PF_OK)
		ret = command_verdict(a, status, &line, secret_r, err);
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	util_free_words(words);
	first_line_free(&line);
	return ret;
}

enum pf_status secret_get(const struct account *a, char **secret_r,
			  struct error *err)
{
	*secret_r = NULL;
	if (a->password != NULL) {
		*secret_r = xstrdup(a->password);
		return PF_OK;
	}
	if (a->password_file != NULL)
		return from_file(a, secret_r, err);
	if (a->password_command != NULL)
		return from_command(a, secret_r, err);
	return error_set(err, PF_CONFIG,
			 "[%s] no password, password_command or password_file",
			 a->name);
}

/* ---- the prompt ---- */

/* Signals that end or stop the process while the terminal has echo off:
 * echo goes back on before they take effect. */
static const int prompt_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT,
				      SIGTSTP };
#define NSIGNALS (sizeof(prompt_signals) / sizeof(prompt_signals[0]))

static volatile sig_atomic_t caught_signal;

static void on_signal(int sig)
{
	caught_signal = sig;
}

struct prompt_state {
	struct sigaction old[NSIGNALS];
	bool installed[NSIGNALS];
	sigset_t oldmask;
	struct termios saved;
	bool caught;		/* handlers installed, signals blocked */
	bool echo_off;
};

/* Blocks the signals and catches those not ignored; they are delivered
 * only inside ppoll(), so none is lost between a check and a read. */
static void prompt_catch(struct prompt_state *ps)
{
	struct sigaction sa;
	sigset_t block;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	caught_signal = 0;
	for (i = 0; i < NSIGNALS; i++) {
		sigaddset(&block, prompt_signals[i]);
	}
	sigprocmask(SIG_BLOCK, &block, &ps->oldmask);
	ps->caught = true;
	for (i = 0; i < NSIGNALS; i++) {
		ps->installed[i] = false;
		if (sigaction(prompt_signals[i], NULL, &ps->old[i]) < 0 ||
		    ps->old[i].sa_handler == SIG_IGN)
			continue;
		ps->installed[i] = sigaction(prompt_signals[i], &sa, NULL) == 0;
	}
}

static void prompt_uncatch(struct prompt_state *ps)
{
	size_t i;

	if (!ps->caught)
		return;
	for (i = 0; i < NSIGNALS; i++)
		if (ps->installed[i])
			sigaction(prompt_signals[i], &ps->old[i], NULL);
	sigprocmask(SIG_SETMASK, &ps->oldmask, NULL);
	ps->caught = false;
}

static int echo_off(struct prompt_state *ps)
{
	struct termios t;

	if (tcgetattr(STDIN_FILENO, &ps->saved) < 0)
		return -1;
	t = ps->saved;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	/* TCSAFLUSH: nothing typed before the prompt is taken as the
	 * password. */
	while (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) < 0)
		if (errno != EINTR)
			return -1;
	ps->echo_off = true;
	return 0;
}

static void echo_restore(struct prompt_state *ps)
{
	if (!ps->echo_off)
		return;
	while (tcsetattr(STDIN_FILENO, TCSAFLUSH, &ps->saved) < 0 &&
	       errno == EINTR)
		;
	ps->echo_off = false;
	/* The Enter that ended the line was not echoed. */
	(void)util_write_all(STDERR_FILENO, "\n", 1);
}

enum read_result { READ_LINE, READ_EOF, READ_SIGNAL, READ_ERROR,
		   READ_TOO_LONG };

/*
 * Reads one line from stdin, a byte at a time so that nothing after the
 * line is consumed (stdio would buffer it away from whoever reads next).
 * Caught signals interrupt it (READ_SIGNAL, caught_signal says which).
 */
static enum read_result read_line(const sigset_t *waitmask,
				  struct first_line *line, int *errno_r)
{
	for (;;) {
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		ssize_t n;
		char c;

		if (ppoll(&pfd, 1, NULL, waitmask) < 0) {
			if (errno != EINTR) {
				*errno_r = errno;
				return READ_ERROR;
			}
			if (caught_signal != 0)
				return READ_SIGNAL;
			continue;
		}
		n = read(STDIN_FILENO, &c, 1);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			*errno_r = errno;
			return READ_ERROR;
		}
		if (n == 0)
			return line->len > 0 ? READ_LINE : READ_EOF;
		first_line_feed(line, &c, 1);
		util_wipe(&c, 1);
		if (line->too_long)
			return READ_TOO_LONG;
		if (line->done)
			return READ_LINE;
	}
}

/* Lets a caught signal take its original effect with echo back on.
 * Returns true if the prompt should be shown again (after a stop). */
static bool prompt_reraise(struct prompt_state *ps, int sig)
{
	prompt_uncatch(ps);
	raise(sig);	/* with the old disposition and mask back */
	/* Still here: stopped and continued, or a handler of popfetch's
	 * own ran.  Only a stop is worth asking again for. */
	caught_signal = 0;
	if (sig != SIGTSTP)
		return false;
	prompt_catch(ps);
	return true;
}

enum pf_status secret_prompt(const struct account *a, char **secret_r,
			     struct error *err)
{
	struct prompt_state ps;
	struct first_line line;
	enum read_result rr = READ_ERROR;
	enum pf_status ret = PF_OK;
	sigset_t waitmask;
	char *prompt;
	int read_errno = 0;
	size_t i;

	*secret_r = NULL;
	if (!isatty(STDIN_FILENO))
		return error_set(err, PF_CONFIG,
				 "[%s] no password, password_command or "
				 "password_file, and standard input is not a "
				 "terminal to ask", a->name);
	first_line_init(&line);
	memset(&ps, 0, sizeof(ps));
	prompt = xasprintf("Password for %s (%s@%s): ", a->name, a->user,
			   a->host);
	prompt_catch(&ps);
	for (;;) {
		waitmask = ps.oldmask;
		for (i = 0; i < NSIGNALS; i++)
			sigdelset(&waitmask, prompt_signals[i]);
		if (echo_off(&ps) < 0) {
			ret = error_set_errno(err, PF_IOERR, errno,
					      "[%s] cannot turn off echo on the "
					      "terminal", a->name);
			goto out;
		}
		(void)util_write_all(STDERR_FILENO, prompt, strlen(prompt));
		rr = read_line(&waitmask, &line, &read_errno);
		echo_restore(&ps);
		if (rr != READ_SIGNAL)
			break;
		util_wipe(line.buf, SECRET_MAX + 1);
		line.len = 0;
		line.done = false;
		if (!prompt_reraise(&ps, caught_signal)) {
			ret = error_set(err, PF_TEMPFAIL,
					"[%s] interrupted while asking for the "
					"password", a->name);
			goto out;
		}
	}
	switch (rr) {
	case READ_LINE:
		if (line.has_nul) {
			ret = error_set(err, PF_CONFIG,
					"[%s] the password typed holds a NUL byte",
					a->name);
			break;
		}
		*secret_r = first_line_take(&line);
		if (*secret_r == NULL)
			ret = error_set(err, PF_CONFIG,
					"[%s] no password entered", a->name);
		break;
	case READ_EOF:
		ret = error_set(err, PF_CONFIG,
				"[%s] no password entered (end of input)", a->name);
		break;
	case READ_TOO_LONG:
		ret = error_set(err, PF_CONFIG,
				"[%s] the password typed is too long (over %d "
				"bytes)", a->name, SECRET_MAX);
		break;
	default:
		ret = error_set_errno(err, PF_IOERR, read_errno,
				      "[%s] cannot read the password from the "
				      "terminal", a->name);
		break;
	}
out:
	prompt_uncatch(&ps);
	free(prompt);
	first_line_free(&line);
	return ret;
}
