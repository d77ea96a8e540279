/*
 * deliver_maildir.c - Maildir delivery (cr.yp.to/proto/maildir.html).
 *
 * A message is written to tmp/NAME (created O_EXCL on the first write),
 * fsynced and renamed to new/NAME (commit); new/ is fsynced once for all
 * the messages committed since the last time (sync).  NAME is the token,
 * which reserve() may choose before the message starts:
 * after a crash, recover() finds it in new/ or cur/ (where a mail reader
 * may have moved it as NAME:2,FLAGS), or removes what is left in tmp/.
 * All paths are relative to directory descriptors: no chdir, no umask.
 */
#include "deliver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "crash.h"
#include "util.h"

struct maildir {
	struct deliver base;
	char *path;
	int dirfd, tmpfd, newfd, curfd;
	int fd;				/* open tmp file, or -1 */
	bool active;			/* between begin and commit/abort */
	bool new_dirty;			/* renamed into new/ since the sync */
	char name[DELIVER_TOKEN_MAX];
	unsigned long seq;
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
			     (long)tv.tv_usec, (long)getpid(), ++m->seq,
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

static enum pf_status md_write(struct deliver *d, const char *buf,
			       size_t len, struct error *err)
{
	struct maildir *m = (struct maildir *)d;

	if (!m->active)
		return error_set(err, PF_SOFTWARE, "write outside a delivery");
	if (m->fd < 0 && md_create(m, err) != PF_OK)
		return err->status;
	if (util_write_all(m->fd, buf, len) < 0)
		return error_set_errno(err, PF_IOERR, errno,
				       "cannot write %s/tmp/%s", m->path,
				       m->name);
	return PF_OK;
}

static enum pf_status md_commit(struct deliver *d, struct error *err)
{
	struct maildir *m = (struct maildir *)d;
	const char *step;
	int ret;

	if (!m->active)
		return error_set(err, PF_SOFTWARE, "commit outside a delivery");
	if (m->fd < 0 && md_create(m, err) != PF_OK)
		return err->status;
	/* Order is important: data durable, then visible; the directory
	 * entry is made durable by md_sync(). */
	step = "sync";
	ret = fsync(m->fd);
	if (ret == 0) {
		step = "close";
		ret = close(m->fd);
		m->fd = -1;
	}
	if (ret == 0) {
		crash_point("maildir-before-rename");
		step = "move into new/";
		ret = renameat(m->tmpfd, m->name, m->newfd, m->name);
	}
	if (ret < 0)
		return error_set_errno(err, PF_IOERR, errno, "cannot %s %s/tmp/%s",
				       step, m->path, m->name);
	m->active = false;
	m->new_dirty = true;
	return PF_OK;
}

static enum pf_status md_sync(struct deliver *d, struct error *err)
{
	struct maildir *m = (struct maildir *)d;

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
	if (m->fd >= 0) {
		close(m->fd);
		m->fd = -1;
	}
	unlinkat(m->tmpfd, m->name, 0);
	m->active = false;
}

/* True if cur/ holds token, plain or with an info suffix ":2,...". */
static bool in_cur(struct maildir *m, const char *token)
{
	size_t len = strlen(token);
	struct dirent *e;
	bool found = false;
	DIR *dir;
	int fd = dup(m->curfd);

	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	rewinddir(dir);
	while (!found && (e = readdir(dir)) != NULL)
		found = strncmp(e->d_name, token, len) == 0 &&
			(e->d_name[len] == '\0' || e->d_name[len] == ':');
	closedir(dir);
	return found;
}

static enum pf_status md_recover(struct deliver *d, const char *token,
				 bool *arrived_r, struct error *err)
{
	struct maildir *m = (struct maildir *)d;
	struct stat st;

	if (strchr(token, '/') != NULL || token[0] == '.')
		return error_set(err, PF_IOERR, "bad Maildir name in state: %s",
				 token);
	*arrived_r = fstatat(m->newfd, token, &st, 0) == 0 ||
		     in_cur(m, token);
	if (!*arrived_r && unlinkat(m->tmpfd, token, 0) < 0 && errno != ENOENT)
		return error_set_errno(err, PF_IOERR, errno,
				       "cannot remove %s/tmp/%s", m->path, token);
	return PF_OK;
}

static void md_free(struct deliver *d)
{
	struct maildir *m = (struct maildir *)d;

	md_abort(d);
	if (m->curfd >= 0)
		close(m->curfd);
	if (m->newfd >= 0)
		close(m->newfd);
	if (m->tmpfd >= 0)
		close(m->tmpfd);
	if (m->dirfd >= 0)
		close(m->dirfd);
	free(m->path);
	free(m);
}

static const struct deliver_ops maildir_ops = {
	.begin = md_begin,
	.write = md_write,
	.commit = md_commit,
	.abort = md_abort,
	.recover = md_recover,
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
