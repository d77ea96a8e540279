/*
 * deliver_maildir.c - Maildir delivery (cr.yp.to/proto/maildir.html).
 *
 * A message is written to tmp/NAME (created O_EXCL on the first write),
 * fsynced and renamed to new/NAME (commit); new/ is fsynced once for all
 * the messages committed since the last time (sync).
 *
 * commit() hands the fsync and the rename to a few worker threads and
 * returns, so that the session reads the next message from the socket
 * while the disk makes this one durable (and several fsyncs in flight
 * share the file system's journal commits).  sync() waits for every
 * handed-over message, fails if any of them failed, and only then syncs
 * new/: a caller that records a message after sync() returned PF_OK still
 * records only what is durable.  A failure is sticky: every later commit
 * and sync fails too, so that no batch can be recorded across it.
 *
 * NAME is the token,
 * which reserve() may choose before the message starts:
 * after a crash, recover() finds it in new/ or cur/ (where a mail reader
 * may have moved it as NAME:2,FLAGS), or removes what is left in tmp/.
 * All paths are relative to directory descriptors: no chdir, no umask.
 */
#include "deliver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "crash.h"
#include "util.h"

/* Worker threads making committed messages durable (4 measured best with
 * make bench; -DMD_WORKERS=N to experiment), and how many committed
 * messages may wait for one (each holds an open descriptor). */
#ifndef MD_WORKERS
#define MD_WORKERS 4
#endif
#define MD_QUEUE 16
/* Bytes of small writes gathered before one write(2). */
#define MD_WBUF (32 * 1024)

/* A committed message: its written, still open tmp file. */
struct md_job {
	int fd;
	char name[DELIVER_TOKEN_MAX];
};

struct md_workers {
	pthread_mutex_t lock;
	pthread_mutex_t rename_lock;
	pthread_cond_t work;		/* a job was queued, or stop */
	pthread_cond_t done;		/* a job was taken or finished */
	struct md_job queue[MD_QUEUE];	/* ring */
	size_t head, queued, busy;
	bool stop;
	/* The first failure, sticky (see the top of this file). */
	bool failed;
	int fail_errno;
	const char *fail_step;
	char fail_name[DELIVER_TOKEN_MAX];
	pthread_t thread[MD_WORKERS];
	size_t nthreads;		/* 0: not started (or cannot be) */
};

struct maildir {
	struct deliver base;
	char *path;
	int dirfd, tmpfd, newfd, curfd;
	int fd;				/* open tmp file, or -1 */
	bool active;			/* between begin and commit/abort */
	bool new_dirty;			/* renamed into new/ since the sync */
	char name[DELIVER_TOKEN_MAX];
	unsigned long seq;
	long pid;
	/* Small writes (our Received: line, the pieces of a body that
	 * straddle socket reads) are gathered here: most messages then
	 * take one write(2). */
	char *wbuf;
	size_t wlen;
	struct md_workers w;
	bool workers_init;		/* w's lock and conditions exist */
};

void deliver_maildir_name(char *buf, size_t size, long sec, long usec,
			  long pid, unsigned long seq, const char *host)
{
	char enc[256];
	size_t j = 0;

	/* The specification reserves '/' and ':' in names; encode them as
	 * octal escapes, as it suggests. */
	for (; *host != '\0' && j + 5 < sizeof(enc); host++) {
		if (*host == '/' || *host == ':') {
			snprintf(enc + j, sizeof(enc) - j, "\\%03o",
				 (unsigned char)*host);
			j += 4;
		} else {
			enc[j++] = *host;
		}
	}
	enc[j] = '\0';
	snprintf(buf, size, "%ld.M%ldP%ldQ%lu.%s", sec, usec, pid, seq, enc);
}

static enum pf_status md_reserve(struct deliver *d, char *token_r,
				 struct error *err)
{
	struct maildir *m = (struct maildir *)d;
	struct timeval tv;

	(void)err;
	/* Unique without touching the disk: the sequence number tells apart
	 * names reserved in the same microsecond. */
	gettimeofday(&tv, NULL);
	deliver_maildir_name(token_r, DELIVER_TOKEN_MAX, (long)tv.tv_sec,
			     (long)tv.tv_usec, m->pid, ++m->seq,
			     util_hostname());
	return PF_OK;
}

static enum pf_status md_begin_reserved(struct deliver *d, const char *token,
					struct error *err)
{
	struct maildir *m = (struct maildir *)d;

	if (m->active)
		return error_set(err, PF_SOFTWARE, "delivery already started");
	if (token[0] == '\0' || token[0] == '.' || strchr(token, '/') != NULL ||
	    util_strlcpy(m->name, token, sizeof(m->name)) >= sizeof(m->name))
		return error_set(err, PF_SOFTWARE, "bad Maildir name %s", token);
	m->active = true;
	return PF_OK;
}

static enum pf_status md_begin(struct deliver *d, char *token_r,
			       struct error *err)
{
	enum pf_status ret = md_reserve(d, token_r, err);

	return ret == PF_OK ? md_begin_reserved(d, token_r, err) : ret;
}

static enum pf_status md_create(struct maildir *m, struct error *err)
{
	m->fd = openat(m->tmpfd, m->name,
		       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (m->fd < 0)
		return error_set_errno(err, errno == ENOSPC || errno == EDQUOT
				       ? PF_IOERR : PF_CANTCREAT, errno,
				       "cannot create %s/tmp/%s", m->path,
				       m->name);
	return PF_OK;
}

/* Writes len bytes to the tmp file, creating it on the first write. */
static enum pf_status md_write_out(struct maildir *m, const char *buf,
				   size_t len, struct error *err)
{
	if (m->fd < 0 && md_create(m, err) != PF_OK)
		return err->status;
	if (util_write_all(m->fd, buf, len) < 0)
		return error_set_errno(err, PF_IOERR, errno,
				       "cannot write %s/tmp/%s", m->path,
				       m->name);
	return PF_OK;
}

static enum pf_status md_flush(struct maildir *m, struct error *err)
{
	size_t len = m->wlen;

	m->wlen = 0;
	return len > 0 ? md_write_out(m, m->wbuf, len, err) : PF_OK;
}

static enum pf_status md_write(struct deliver *d, const char *buf,
			       size_t len, struct error *err)
{
	struct maildir *m = (struct maildir *)d;

	if (!m->active)
		return error_set(err, PF_SOFTWARE, "write outside a delivery");
	if (m->wbuf == NULL)
		m->wbuf = xmalloc(MD_WBUF);
	if (m->wlen + len > MD_WBUF && md_flush(m, err) != PF_OK)
		return err->status;
	if (len >= MD_WBUF)
		return md_write_out(m, buf, len, err);
	memcpy(m->wbuf + m->wlen, buf, len);
	m->wlen += len;
	return PF_OK;
}

/* Makes one written tmp file durable and moves it into new/; on failure
 * removes it and returns the failed step with errno set. */
static const char *md_finish(struct maildir *m, int fd, const char *name)
{
	const char *step = "sync";
	int ret, saved;

	/* Order is important: data durable, then visible; the directory
	 * entry is made durable by md_sync(). */
	ret = fsync(fd);
	if (ret == 0) {
		step = "close";
		ret = close(fd);
		fd = -1;
	}
	if (ret == 0) {
		crash_point("maildir-before-rename");
		step = "move into new/";
		/* One rename at a time: renames that meet in the kernel
		 * spin on the two directories' locks, burning CPU (perf:
		 * a fifth of popfetch's time with four workers). */
		if (m->workers_init)
			pthread_mutex_lock(&m->w.rename_lock);
		ret = renameat(m->tmpfd, name, m->newfd, name);
		if (m->workers_init)
			pthread_mutex_unlock(&m->w.rename_lock);
	}
	if (ret == 0)
		return NULL;
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(m->tmpfd, name, 0);
	errno = saved;
	return step;
}

static void *md_worker(void *arg)
{
	struct maildir *m = arg;
	struct md_workers *w = &m->w;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct md_job job;
		const char *step;
		int saved;

		while (w->queued == 0 && !w->stop)
			pthread_cond_wait(&w->work, &w->lock);
		if (w->queued == 0)
			break;	/* stopping, and nothing left to do */
		job = w->queue[w->head];
		w->head = (w->head + 1) % MD_QUEUE;
		w->queued--;
		w->busy++;
		pthread_cond_broadcast(&w->done);	/* room in the queue */
		pthread_mutex_unlock(&w->lock);

		step = md_finish(m, job.fd, job.name);
		saved = errno;

		pthread_mutex_lock(&w->lock);
		if (step != NULL && !w->failed) {
			w->failed = true;
			w->fail_errno = saved;
			w->fail_step = step;
			util_strlcpy(w->fail_name, job.name,
				     sizeof(w->fail_name));
		}
		w->busy--;
		pthread_cond_broadcast(&w->done);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Starts the workers on the first commit; false if none could start (the
 * caller then finishes messages itself). */
static bool md_workers_start(struct maildir *m)
{
	struct md_workers *w = &m->w;
	sigset_t all, old;
	pthread_attr_t attr;

	if (m->workers_init)
		return w->nthreads > 0;
	m->workers_init = true;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->rename_lock, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->done, NULL);
	if (pthread_attr_init(&attr) != 0)
		return false;
	/* They call fsync, close and renameat: a small stack is plenty. */
	pthread_attr_setstacksize(&attr, 64 * 1024);
	/* The workers block every signal (they inherit this mask), so that
	 * a signal always reaches the thread that runs the session. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (w->nthreads < MD_WORKERS &&
	       pthread_create(&w->thread[w->nthreads], &attr, md_worker,
			      m) == 0)
		w->nthreads++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return w->nthreads > 0;
}

/* Waits until every committed message is finished; returns false (with
 * err set) if one of them, now or earlier, failed. */
static bool md_workers_drain(struct maildir *m, struct error *err)
{
	struct md_workers *w = &m->w;
	bool ok;

	if (!m->workers_init)
		return true;
	pthread_mutex_lock(&w->lock);
	while (w->queued > 0 || w->busy > 0)
		pthread_cond_wait(&w->done, &w->lock);
	ok = !w->failed;
	if (!ok)
		error_set_errno(err, PF_IOERR, w->fail_errno,
				"cannot %s %s/tmp/%s", w->fail_step, m->path,
				w->fail_name);
	pthread_mutex_unlock(&w->lock);
	return ok;
}

/* Stops the workers after they finished what was committed. */
static void md_workers_stop(struct maildir *m)
{
	struct md_workers *w = &m->w;
	size_t i;

	if (!m->workers_init)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->work);
	pthread_mutex_unlock(&w->lock);
	for (i = 0; i < w->nthreads; i++)
		pthread_join(w->thread[i], NULL);
	pthread_cond_destroy(&w->done);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->rename_lock);
	pthread_mutex_destroy(&w->lock);
	m->workers_init = false;
	w->nthreads = 0;
}

static enum pf_status md_commit(struct deliver *d, struct error *err)
{
	struct maildir *m = (struct maildir *)d;
	struct md_workers *w = &m->w;
	const char *step;
	bool failed;

	if (!m->active)
		return error_set(err, PF_SOFTWARE, "commit outside a delivery");
	if (md_flush(m, err) != PF_OK ||
	    (m->fd < 0 && md_create(m, err) != PF_OK))
		return err->status;
	if (md_workers_start(m)) {
		pthread_mutex_lock(&w->lock);
		while (w->queued == MD_QUEUE && !w->failed)
			pthread_cond_wait(&w->done, &w->lock);
		failed = w->failed;
		if (!failed) {
			struct md_job *job =
				&w->queue[(w->head + w->queued) % MD_QUEUE];

			job->fd = m->fd;
			memcpy(job->name, m->name, sizeof(job->name));
			w->queued++;
			pthread_cond_signal(&w->work);
		}
		pthread_mutex_unlock(&w->lock);
		/* A message that failed before stops the mailbox; this one
		 * is still active, for abort() to remove. */
		if (failed) {
			md_workers_drain(m, err);
			return err->status;
		}
		m->fd = -1;
	} else {
		step = md_finish(m, m->fd, m->name);
		m->fd = -1;
		if (step != NULL) {
			m->active = false;
			return error_set_errno(err, PF_IOERR, errno,
					       "cannot %s %s/tmp/%s", step,
					       m->path, m->name);
		}
	}
	m->active = false;
	m->new_dirty = true;
	return PF_OK;
}

static enum pf_status md_sync(struct deliver *d, struct error *err)
{
	struct maildir *m = (struct maildir *)d;

	if (!md_workers_drain(m, err))
		return err->status;
	if (!m->new_dirty)
		return PF_OK;
	crash_point("maildir-before-dirsync");
	if (util_fsync_dir(m->newfd, NULL) < 0)
		return error_set_errno(err, PF_IOERR, errno, "cannot sync %s/new",
				       m->path);
	m->new_dirty = false;
	return PF_OK;
}

static void md_abort(struct deliver *d)
{
	struct maildir *m = (struct maildir *)d;

	if (!m->active)
		return;
	m->wlen = 0;
	if (m->fd >= 0) {
		close(m->fd);
		m->fd = -1;
	}
	unlinkat(m->tmpfd, m->name, 0);
	m->active = false;
}

/* A token that recover_all() looks for in cur/. */
struct md_missing {
	const char *token;
	size_t index;			/* into tokens and arrived_r */
};

static int cmp_missing(const void *a, const void *b)
{
	return strcmp(((const struct md_missing *)a)->token,
		      ((const struct md_missing *)b)->token);
}

/* One pass through cur/: marks arrived each of miss[0..n) (sorted) that
 * cur/ holds, plain or with an info suffix ":2,..." (a mail reader moved
 * it there). */
static enum pf_status scan_cur(struct maildir *m, const struct md_missing *miss,
			       size_t n, bool *arrived_r, struct error *err)
{
	struct dirent *e;
	DIR *dir;
	int fd = dup(m->curfd);

	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return error_set_errno(err, PF_IOERR, errno, "cannot read %s/cur",
				       m->path);
	}
	rewinddir(dir);
	for (;;) {
		struct md_missing key = { 0 }, *hit;
		char base[DELIVER_TOKEN_MAX];
		size_t len;

		errno = 0;
		if ((e = readdir(dir)) == NULL)
			break;
		len = strcspn(e->d_name, ":");

		if (len >= sizeof(base))
			continue;
		memcpy(base, e->d_name, len);
		base[len] = '\0';
		key.token = base;
		hit = bsearch(&key, miss, n, sizeof(*miss), cmp_missing);
		if (hit != NULL)
			arrived_r[hit->index] = true;
	}
	/* A read cut short could make an arrived message look lost, and
	 * fetching it again would store it twice. */
	if (errno != 0) {
		int saved = errno;

		closedir(dir);
		return error_set_errno(err, PF_IOERR, saved,
				       "cannot read %s/cur", m->path);
	}
	closedir(dir);
	return PF_OK;
}

/* new/ is looked at for every token before cur/ is read: a message that a
 * mail reader moves from new/ to cur/ meanwhile is seen in one of them. */
static enum pf_status md_recover_all(struct deliver *d,
				     const char *const *tokens, size_t n,
				     bool *arrived_r, struct error *err)
{
	struct maildir *m = (struct maildir *)d;
	struct md_missing *miss = xcalloc(n > 0 ? n : 1, sizeof(*miss));
	enum pf_status ret = PF_OK;
	size_t i, nmiss = 0;
	struct stat st;

	for (i = 0; i < n && ret == PF_OK; i++) {
		if (strchr(tokens[i], '/') != NULL || tokens[i][0] == '.' ||
		    tokens[i][0] == '\0') {
			ret = error_set(err, PF_IOERR,
					"bad Maildir name in state: %s",
					tokens[i]);
			break;
		}
		arrived_r[i] = fstatat(m->newfd, tokens[i], &st, 0) == 0;
		if (!arrived_r[i])
			miss[nmiss++] = (struct md_missing){ tokens[i], i };
	}
	if (ret == PF_OK && nmiss > 0) {
		qsort(miss, nmiss, sizeof(*miss), cmp_missing);
		ret = scan_cur(m, miss, nmiss, arrived_r, err);
	}
	/* What did not arrive may have left a file in tmp/. */
	for (i = 0; ret == PF_OK && i < nmiss; i++) {
		if (arrived_r[miss[i].index] ||
		    unlinkat(m->tmpfd, miss[i].token, 0) == 0 || errno == ENOENT)
			continue;
		ret = error_set_errno(err, PF_IOERR, errno,
				      "cannot remove %s/tmp/%s", m->path,
				      miss[i].token);
	}
	free(miss);
	return ret;
}

static enum pf_status md_recover(struct deliver *d, const char *token,
				 bool *arrived_r, struct error *err)
{
	return md_recover_all(d, &token, 1, arrived_r, err);
}

static void md_free(struct deliver *d)
{
	struct maildir *m = (struct maildir *)d;

	md_abort(d);
	md_workers_stop(m);
	if (m->curfd >= 0)
		close(m->curfd);
	if (m->newfd >= 0)
		close(m->newfd);
	if (m->tmpfd >= 0)
		close(m->tmpfd);
	if (m->dirfd >= 0)
		close(m->dirfd);
	free(m->wbuf);
	free(m->path);
	free(m);
}

static const struct deliver_ops maildir_ops = {
	.begin = md_begin,
	.write = md_write,
	.commit = md_commit,
	.abort = md_abort,
	.recover = md_recover,
	.recover_all = md_recover_all,
	.free = md_free,
	.reserve = md_reserve,
	.begin_reserved = md_begin_reserved,
	.sync = md_sync,
};

static int open_sub(struct maildir *m, const char *sub)
{
	if (mkdirat(m->dirfd, sub, 0700) < 0 && errno != EEXIST)
		return -1;
	return openat(m->dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

enum pf_status deliver_maildir_open(const char *path, struct deliver **d_r,
				    struct error *err)
{
	struct maildir *m = xcalloc(1, sizeof(*m));

	m->base.ops = &maildir_ops;
	m->path = xstrdup(path);
	m->pid = (long)getpid();
	m->fd = m->dirfd = m->tmpfd = m->newfd = m->curfd = -1;
	if (util_mkdir_p(path, 0700) < 0 ||
	    (m->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (m->tmpfd = open_sub(m, "tmp")) < 0 ||
	    (m->newfd = open_sub(m, "new")) < 0 ||
	    (m->curfd = open_sub(m, "cur")) < 0) {
		error_set_errno(err, PF_CANTCREAT, errno,
				"cannot create Maildir %s", path);
		md_free(&m->base);
		return PF_CANTCREAT;
	}
	*d_r = &m->base;
	return PF_OK;
}

void deliver_free(struct deliver **d)
{
	if (*d == NULL)
		return;
	(*d)->ops->free(*d);
	*d = NULL;
}
