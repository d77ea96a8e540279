/*
 * deliver_mda.c - pipe each message to a command (an MDA such as
 * procmail, maildrop or dovecot-lda), run without a shell.
 *
 * The command's exit status is its verdict on that message: 0 delivered,
 * 75 (EX_TEMPFAIL) try again next run, anything else a failure of that
 * message.  An unfinished message is never handed over as if complete:
 * abort kills the command before closing its input.
 */
#include "deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"

struct mda {
	struct deliver base;
	char **words;		/* the command, split, before substitution */
	char *user, *account;
	pid_t pid;
	int fd;			/* the command's stdin, or -1 */
	bool active;
};

/* Expands %u, %a and %% in one word. */
static char *expand(const struct mda *m, const char *word)
{
	size_t cap = strlen(word) + strlen(m->user) + strlen(m->account) + 1;
	char *out;
	size_t j = 0;

	for (const char *p = word; *p != '\0'; p++)
		if (*p == '%')
			cap += strlen(m->user) + strlen(m->account);
	out = xmalloc(cap);
	for (const char *p = word; *p != '\0'; p++) {
		const char *sub = NULL;

		if (*p == '%' && p[1] == 'u')
			sub = m->user;
		else if (*p == '%' && p[1] == 'a')
			sub = m->account;
		else if (*p == '%' && p[1] == '%')
			sub = "%";
		if (sub != NULL) {
			memcpy(out + j, sub, strlen(sub));
			j += strlen(sub);
			p++;
		} else {
			out[j++] = *p;
		}
	}
	out[j] = '\0';
	return out;
}

static enum pf_status mda_begin(struct deliver *d, char *token_r,
				struct error *err)
{
	struct mda *m = (struct mda *)d;
	size_t n, i;
	char **argv;
	int pfd[2];

	if (m->active)
		return error_set(err, PF_SOFTWARE, "delivery already started");
	for (n = 0; m->words[n] != NULL; n++)
		;
	argv = xcalloc(n + 1, sizeof(*argv));
	for (i = 0; i < n; i++)
		argv[i] = expand(m, m->words[i]);
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		util_free_words(argv);
		return error_set_errno(err, PF_IOERR, errno, "cannot create pipe");
	}
	m->pid = fork();
	if (m->pid == 0) {
		/* The child gets the message on stdin, our stdout/stderr,
		 * nothing else: every other descriptor is close-on-exec. */
		if (dup2(pfd[0], STDIN_FILENO) < 0)
			_exit(EX_OSERR);
		/* Descriptors popfetch was given without close-on-exec
		 * (by cron, a shell) are not the MDA's either. */
		if (close_range(STDERR_FILENO + 1, ~0U, 0) < 0)
			for (int fd = STDERR_FILENO + 1; fd < 1024; fd++)
				close(fd);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGXFSZ, SIG_DFL);
		execvp(argv[0], argv);
		_exit(errno == ENOENT ? EX_UNAVAILABLE : EX_OSERR);
	}
	close(pfd[0]);
	util_free_words(argv);
	if (m->pid < 0) {
		close(pfd[1]);
		return error_set_errno(err, PF_IOERR, errno, "cannot start MDA");
	}
	m->fd = pfd[1];
	m->active = true;
	util_strlcpy(token_r, "mda", DELIVER_TOKEN_MAX);
	return PF_OK;
}

static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

/* The MDA's exit status as our verdict on the message. */
static enum pf_status verdict(const struct mda *m, int status,
			      struct error *err)
{
	if (status < 0)
		return error_set_errno(err, PF_IOERR, errno,
				       "cannot wait for MDA %s", m->words[0]);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return PF_OK;
	if (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL)
		return error_set(err, PF_TEMPFAIL,
				 "MDA %s asked to try again later (exit status 75)",
				 m->words[0]);
	if (WIFEXITED(status))
		return error_set(err, PF_UNAVAILABLE,
				 "MDA %s failed with exit status %d",
				 m->words[0], WEXITSTATUS(status));
	return error_set(err, PF_UNAVAILABLE, "MDA %s killed by signal %d",
			 m->words[0], WTERMSIG(status));
}

/* Closes the MDA's input and waits for its verdict. */
static enum pf_status finish(struct mda *m, struct error *err)
{
	int status;

	close(m->fd);
	m->fd = -1;
	status = wait_child(m->pid);
	m->active = false;
	return verdict(m, status, err);
}

static enum pf_status mda_write(struct deliver *d, const char *buf,
				size_t len, struct error *err)
{
	struct mda *m = (struct mda *)d;

	if (!m->active)
		return error_set(err, PF_SOFTWARE, "write outside a delivery");
	if (util_write_all(m->fd, buf, len) == 0)
		return PF_OK;
	if (errno != EPIPE)
		return error_set_errno(err, PF_IOERR, errno,
				       "cannot write to MDA %s", m->words[0]);
	/* It stopped reading: its exit status says why.  If it says 0
	 * the message was still not all handed over: not delivered. */
	if (finish(m, err) == PF_OK)
		return error_set(err, PF_UNAVAILABLE,
				 "MDA %s exited before reading the whole message",
				 m->words[0]);
	return err->status;
}

static enum pf_status mda_commit(struct deliver *d, struct error *err)
{
	struct mda *m = (struct mda *)d;

	if (!m->active)
		return error_set(err, PF_SOFTWARE, "commit outside a delivery");
	return finish(m, err);
}

static void mda_abort(struct deliver *d)
{
	struct mda *m = (struct mda *)d;

	if (!m->active)
		return;
	/* Order is important: kill first, so the MDA never sees the end of
	 * its input and takes a cut-off message for a whole one. */
	kill(m->pid, SIGKILL);
	close(m->fd);
	m->fd = -1;
	(void)wait_child(m->pid);
	m->active = false;
}

static enum pf_status mda_recover(struct deliver *d, const char *token,
				  bool *arrived_r, struct error *err)
{
	(void)d;
	(void)token;
	(void)err;
	/* Whether the MDA finished before the crash cannot be known; the
	 * message was not deleted (its delivery was never recorded), so it
	 * is fetched again: possibly twice, never lost. */
	*arrived_r = false;
	return PF_OK;
}

static void mda_free(struct deliver *d)
{
	struct mda *m = (struct mda *)d;

	mda_abort(d);
	util_free_words(m->words);
	free(m->user);
	free(m->account);
	free(m);
}

static const struct deliver_ops mda_ops = {
	.begin = mda_begin,
	.write = mda_write,
	.commit = mda_commit,
	.abort = mda_abort,
	.recover = mda_recover,
	.free = mda_free,
};

/* What execve() can run: an executable regular file (a directory passes
 * access(X_OK) too). */
static bool is_program(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

/* True if name (with a '/') is executable, or (without) is found in
 * PATH as execvp() would: caught before connecting, not per message. */
static bool find_program(const char *name)
{
	const char *path = getenv("PATH"), *dir, *colon;
	bool found = false;

	if (strchr(name, '/') != NULL)
		return is_program(name);
	if (path == NULL)
		path = "/usr/bin:/bin";
	for (dir = path; !found; dir = colon + 1) {
		size_t len;
		char *full;

		colon = strchr(dir, ':');
		len = colon != NULL ? (size_t)(colon - dir) : strlen(dir);
		/* An empty PATH element means the current directory. */
		full = len == 0 ? xasprintf("./%s", name)
				: xasprintf("%.*s/%s", (int)len, dir, name);
		found = is_program(full);
		free(full);
		if (colon == NULL)
			break;
	}
	return found;
}

enum pf_status deliver_mda_open(const char *command, const char *user,
				const char *account, struct deliver **d_r,
				struct error *err)
{
	const char *why = NULL;
	char **words = util_split_words(command, &why);
	struct mda *m;

	if (words == NULL)
		return error_set(err, PF_CONFIG, "bad mda command: %s", why);
	if (!find_program(words[0])) {
		error_set(err, PF_UNAVAILABLE, "MDA program %s not found or "
			  "not executable", words[0]);
		util_free_words(words);
		return PF_UNAVAILABLE;
	}
	m = xcalloc(1, sizeof(*m));
	m->base.ops = &mda_ops;
	m->base.per_message_verdict = true;
	m->words = words;
	m->user = xstrdup(user);
	m->account = xstrdup(account);
	m->fd = -1;
	*d_r = &m->base;
	return PF_OK;
}
