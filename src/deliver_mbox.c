/*
 * deliver_mbox.c - mboxrd delivery.
 *
 * Each message: take PATH.lock (dotlock, so mutt, procmail and Dovecot
 * see it) and an fcntl lock, remember the file size (the token), append
 * "From SENDER DATE", the message with every line matching ^>*From  given
 * one more '>', and a blank line, fsync, unlock.  Any failure truncates
 * the file back to where it was: an mbox never keeps half a message.
 * SENDER comes from Return-Path, so the header is buffered (up to
 * MBOX_HEADER_MAX bytes) before the separator line can be written.
 */
#include "deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crash.h"
#include "util.h"

#define MBOX_HEADER_MAX 65536
#define MBOX_OUT_SIZE 65536
#define MBOX_SENDER_MAX 256
#define DOTLOCK_STALE_SECONDS 600

enum quote_state { Q_START, Q_GT, Q_FROM, Q_BODY };

struct mbox {
	struct deliver base;
	char *path, *lockpath;
	int timeout_ms;
	int fd;
	bool active, dotlocked, fcntl_locked;
	off_t offset;			/* file size before this message */
	char *hdr;			/* header buffered until its end */
	size_t hdrlen;
	bool header_done;
	enum quote_state q;
	size_t ngt, fidx;		/* '>'s and "From " bytes held back */
	char last;			/* last message byte written */
	char out[MBOX_OUT_SIZE];
	size_t outlen;
	bool failed;			/* a write failed: only abort remains */
};

/* ---- locking ---- */

static bool dotlock_is_stale(const char *lockpath)
{
	char buf[32];
	struct stat st;
	ssize_t n;
	long pid;
	int fd = open(lockpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	if (fstat(fd, &st) < 0)
		st.st_mtime = time(NULL);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	pid = strtol(buf, NULL, 10);
	/* Our own dotlocks hold the locker's pid: one whose process is
	 * gone (a crash, a kill -9) is stale at once.  Others are judged by
	 * age, as procmail and mutt do. */
	if (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return true;
	return time(NULL) - st.st_mtime > DOTLOCK_STALE_SECONDS;
}

static void nap(void)
{
	struct timespec ts = { .tv_nsec = 50 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/* Takes PATH.lock the way liblockfile does: the pid goes into a private
 * file that is then link()ed to the lock name, so the lock never exists
 * without the pid that tells whether it is stale (a kill between creating
 * the lock and writing into it would otherwise leave an empty lock that
 * blocks everyone for DOTLOCK_STALE_SECONDS). */
static enum pf_status take_dotlock(struct mbox *m, int64_t deadline,
				   struct error *err)
{
	char *tmp = xasprintf("%s.%ld.tmp", m->lockpath, (long)getpid());
	char pid[32];
	enum pf_status ret = PF_OK;
	int fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = error_set_errno(err, PF_CANTCREAT, errno,
				      "cannot create lock file %s", tmp);
		goto out;
	}
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (util_write_all(fd, pid, strlen(pid)) < 0) {
		ret = error_set_errno(err, PF_IOERR, errno,
				      "cannot write lock file %s", tmp);
		close(fd);
		goto out;
	}
	close(fd);
	while (link(tmp, m->lockpath) < 0) {
		if (errno != EEXIST) {
			ret = error_set_errno(err, PF_CANTCREAT, errno,
					      "cannot create lock file %s",
					      m->lockpath);
			goto out;
		}
		if (dotlock_is_stale(m->lockpath)) {
			unlink(m->lockpath);
			continue;
		}
		if (util_now_ms() >= deadline) {
			ret = error_set(err, PF_TEMPFAIL,
					"%s is locked by another program (%s)",
					m->path, m->lockpath);
			goto out;
		}
		nap();
	}
	m->dotlocked = true;
out:
	unlink(tmp);
	free(tmp);
	return ret;
}

static enum pf_status mbox_lock(struct mbox *m, struct error *err)
{
	int64_t deadline = util_now_ms() + m->timeout_ms;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	enum pf_status ret = take_dotlock(m, deadline, err);

	if (ret != PF_OK)
		return ret;
	while (fcntl(m->fd, F_SETLK, &fl) < 0) {
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			return error_set_errno(err, PF_IOERR, errno,
					       "cannot lock %s", m->path);
		if (util_now_ms() >= deadline)
			return error_set(err, PF_TEMPFAIL,
					 "%s is locked by another program "
					 "(fcntl lock)", m->path);
		nap();
	}
	m->fcntl_locked = true;
	return PF_OK;
}

static void mbox_unlock(struct mbox *m)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

	if (m->fcntl_locked)
		(void)fcntl(m->fd, F_SETLK, &fl);
	m->fcntl_locked = false;
	if (m->dotlocked)
		(void)unlink(m->lockpath);
	m->dotlocked = false;
}

/* ---- output ---- */

static enum pf_status flush_out(struct mbox *m, struct error *err)
{
	if (m->outlen > 0 && util_write_all(m->fd, m->out, m->outlen) < 0) {
		m->failed = true;
		return error_set_errno(err, PF_IOERR, errno,
				       "cannot write to %s", m->path);
	}
	m->outlen = 0;
	return PF_OK;
}

static enum pf_status put(struct mbox *m, const char *p, size_t len,
			  struct error *err)
{
	while (len > 0) {
		size_t n = MBOX_OUT_SIZE - m->outlen;

		if (n == 0) {
			if (flush_out(m, err) != PF_OK)
				return PF_IOERR;
			continue;
		}
		if (n > len)
			n = len;
		memcpy(m->out + m->outlen, p, n);
		m->outlen += n;
		p += n;
		len -= n;
	}
	return PF_OK;
}

static enum pf_status put_gts(struct mbox *m, size_t n, struct error *err)
{
	static const char gts[64] =
		">>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>";

	while (n > 0) {
		size_t k = n < sizeof(gts) ? n : sizeof(gts);

		if (put(m, gts, k, err) != PF_OK)
			return PF_IOERR;
		n -= k;
	}
	return PF_OK;
}

/* mboxrd: a line matching ^>*From  gets one more '>'.  A state machine
 * over arbitrary chunks; line bodies are copied with memchr. */
static enum pf_status put_quoted(struct mbox *m, const char *p, size_t len,
				 struct error *err)
{
	static const char from[] = "From ";
	const char *end = p + len;

	if (len > 0)
		m->last = end[-1];
	while (p < end) {
		switch (m->q) {
		case Q_BODY: {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *stop = nl != NULL ? nl + 1 : end;

			if (put(m, p, (size_t)(stop - p), err) != PF_OK)
				return PF_IOERR;
			p = stop;
			if (nl != NULL)
				m->q = Q_START;
			break;
		}
		case Q_START:
		case Q_GT:
			if (*p == '>') {
				m->ngt++;
				m->q = Q_GT;
				p++;
				break;
			}
			m->q = Q_FROM;
			m->fidx = 0;
			/* fall through */
		case Q_FROM:
			if (*p == from[m->fidx]) {
				p++;
				if (++m->fidx < 5)
					break;
				/* A whole ">*From ": quote it. */
				if (put_gts(m, m->ngt + 1, err) != PF_OK ||
				    put(m, from, 5, err) != PF_OK)
					return PF_IOERR;
			} else if (put_gts(m, m->ngt, err) != PF_OK ||
				   put(m, from, m->fidx, err) != PF_OK) {
				return PF_IOERR;
			}
			m->ngt = m->fidx = 0;
			m->q = Q_BODY;
			break;
		}
	}
	return PF_OK;
}

/* ---- the separator line ---- */

static void sender_from_header(const char *hdr, size_t len, char *out,
			       size_t size)
{
	const char *p = hdr, *end = hdr + len;

	util_strlcpy(out, "MAILER-DAEMON", size);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t l = (size_t)((eol != NULL ? eol : end) - p);

		if (l == 0)
			break;	/* end of the header */
		if (l > 12 && strncasecmp(p, "Return-Path:", 12) == 0) {
			const char *v = p + 12, *ve = p + l;
			size_t j = 0;

			while (v < ve && (*v == ' ' || *v == '\t' || *v == '<'))
				v++;
			for (; v < ve && j + 1 < size; v++) {
				unsigned char c = (unsigned char)*v;

				if (c == '>' || c <= ' ' || c >= 0x7f)
					break;
				out[j++] = (char)c;
			}
			if (j > 0) {
				out[j] = '\0';
				return;
			}
		}
		p += l + 1;
	}
}

static enum pf_status put_separator(struct mbox *m, struct error *err)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed",
					    "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
					      "May", "Jun", "Jul", "Aug",
					      "Sep", "Oct", "Nov", "Dec" };
	char sender[MBOX_SENDER_MAX], line[MBOX_SENDER_MAX + 64];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	sender_from_header(m->hdr, m->hdrlen, sender, sizeof(sender));
	localtime_r(&now, &tm);
	/* asctime() form, without depending on the locale. */
	n = snprintf(line, sizeof(line), "From %s %s %s %2d %02d:%02d:%02d %d\n",
		     sender, days[tm.tm_wday % 7], months[tm.tm_mon % 12],
		     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     tm.tm_year + 1900);
	return put(m, line, (size_t)n, err);
}

/* Writes the separator and the buffered header once the header is
 * complete (or too long to wait for). */
static enum pf_status finish_header(struct mbox *m, struct error *err)
{
	m->header_done = true;
	if (put_separator(m, err) != PF_OK ||
	    put_quoted(m, m->hdr, m->hdrlen, err) != PF_OK)
		return PF_IOERR;
	m->hdrlen = 0;
	return PF_OK;
}

/* Only the bytes just added (and the one before them) can complete the
 * header: scanning all of it on each write would be quadratic. */
static bool header_complete(const struct mbox *m, size_t from)
{
	if (from > 0)
		from--;
	return (m->hdrlen > 0 && m->hdr[0] == '\n') ||
	       memmem(m->hdr + from, m->hdrlen - from, "\n\n", 2) != NULL ||
	       m->hdrlen >= MBOX_HEADER_MAX;
}

/* ---- the vtable ---- */

static enum pf_status mb_begin(struct deliver *d, char *token_r,
			       struct error *err)
{
	struct mbox *m = (struct mbox *)d;
	enum pf_status ret;

	if (m->active)
		return error_set(err, PF_SOFTWARE, "delivery already started");
	ret = mbox_lock(m, err);
	if (ret != PF_OK) {
		mbox_unlock(m);
		return ret;
	}
	m->offset = lseek(m->fd, 0, SEEK_END);
	if (m->offset < 0) {
		mbox_unlock(m);
		return error_set_errno(err, PF_IOERR, errno, "cannot seek %s",
				       m->path);
	}
	m->active = true;
	m->failed = false;
	m->header_done = false;
	m->hdrlen = m->outlen = m->ngt = m->fidx = 0;
	m->q = Q_START;
	m->last = '\n';
	/* A file whose last line is unterminated (another program's, or a
	 * message of ours cut by a crash) would swallow our separator: start
	 * with the newlines that make it a blank line, so that readers and
	 * recover() see a "\nFrom " here. */
	if (m->offset > 0) {
		char tail[2] = { '\n', '\n' };
		size_t have = m->offset >= 2 ? 2 : 1, add = 0;
		ssize_t n = pread(m->fd, tail + 2 - have, have,
				  m->offset - (off_t)have);

		if (n < 0) {
			mbox_unlock(m);
			m->active = false;
			return error_set_errno(err, PF_IOERR, errno,
					       "cannot read %s", m->path);
		}
		if (tail[1] != '\n')
			add = 2;
		else if (tail[0] != '\n')
			add = 1;
		(void)put(m, "\n\n", add, err);
	}
	snprintf(token_r, DELIVER_TOKEN_MAX, "%jd", (intmax_t)m->offset);
	return PF_OK;
}

static enum pf_status mb_write(struct deliver *d, const char *buf, size_t len,
			       struct error *err)
{
	struct mbox *m = (struct mbox *)d;

	if (!m->active || m->failed)
		return error_set(err, PF_SOFTWARE, "write outside a delivery");
	if (m->header_done)
		return put_quoted(m, buf, len, err);
	while (len > 0 && !m->header_done) {
		size_t n = MBOX_HEADER_MAX - m->hdrlen, from = m->hdrlen;

		if (n > len)
			n = len;
		memcpy(m->hdr + m->hdrlen, buf, n);
		m->hdrlen += n;
		buf += n;
		len -= n;
		if (header_complete(m, from) && finish_header(m, err) != PF_OK)
			return PF_IOERR;
	}
	return len > 0 ? put_quoted(m, buf, len, err) : PF_OK;
}

static void truncate_back(struct mbox *m)
{
	/* ftruncate needs no free space, so this works on a full disk. */
	if (ftruncate(m->fd, m->offset) == 0)
		(void)fsync(m->fd);
}

static enum pf_status mb_commit(struct deliver *d, struct error *err)
{
	struct mbox *m = (struct mbox *)d;
	enum pf_status ret = PF_OK;

	if (!m->active || m->failed)
		return error_set(err, PF_SOFTWARE, "commit outside a delivery");
	if (!m->header_done)
		ret = finish_header(m, err);
	/* Bytes held back at the end (">>Fro" without a newline) are data. */
	if (ret == PF_OK && m->q != Q_BODY && m->q != Q_START)
		ret = put_gts(m, m->ngt, err) == PF_OK
		      ? put(m, "From ", m->fidx, err) : PF_IOERR;
	if (ret == PF_OK && m->last != '\n')
		ret = put(m, "\n", 1, err);
	if (ret == PF_OK)
		ret = put(m, "\n", 1, err);
	if (ret == PF_OK)
		ret = flush_out(m, err);
	crash_point("mbox-before-fsync");
	if (ret == PF_OK && fsync(m->fd) < 0)
		ret = error_set_errno(err, PF_IOERR, errno, "cannot sync %s",
				      m->path);
	if (ret != PF_OK) {
		m->failed = true;
		return ret;
	}
	mbox_unlock(m);
	m->active = false;
	return PF_OK;
}

static void mb_abort(struct deliver *d)
{
	struct mbox *m = (struct mbox *)d;

	if (!m->active)
		return;
	truncate_back(m);
	mbox_unlock(m);
	m->active = false;
}

/* True if [offset, end of file) holds a "\nFrom " line: someone else
 * appended after the interrupted message.  Ours is up to two newlines
 * (see mb_begin) and then our "From " separator, and quoting keeps
 * "\nFrom " out of its body. */
static bool foreign_message_after(struct mbox *m, off_t offset, off_t size)
{
	char buf[8192];
	off_t pos = offset;
	size_t keep = 0;
	ssize_t n = pread(m->fd, buf, 2, pos);

	/* Skip our own leading newlines so our separator is not taken for
	 * another's. */
	for (ssize_t i = 0; i < n && buf[i] == '\n'; i++)
		pos++;

	while (pos < size) {
		size_t have;

		n = pread(m->fd, buf + keep, sizeof(buf) - keep, pos);
		if (n <= 0)
			return true;	/* cannot tell: do not truncate */
		have = keep + (size_t)n;
		if (memmem(buf, have, "\nFrom ", 6) != NULL)
			return true;
		pos += n;
		/* Keep a tail so that a separator split across reads is seen. */
		keep = have < 5 ? have : 5;
		memmove(buf, buf + have - keep, keep);
	}
	return false;
}

static enum pf_status mb_recover(struct deliver *d, const char *token,
				 bool *arrived_r, struct error *err)
{
	struct mbox *m = (struct mbox *)d;
	unsigned long long off;
	struct stat st;
	enum pf_status ret;

	*arrived_r = false;
	if (util_parse_ull(token, 0, INT64_MAX, &off) < 0)
		return error_set(err, PF_IOERR, "bad mbox offset in state: %s",
				 token);
	ret = mbox_lock(m, err);
	if (ret != PF_OK) {
		mbox_unlock(m);
		return ret;
	}
	/* The message was never recorded as delivered, so it was never
	 * deleted on the server either: cut away whatever of it reached
	 * the file and fetch it again. */
	if (fstat(m->fd, &st) == 0 && st.st_size > (off_t)off) {
		if (foreign_message_after(m, (off_t)off, st.st_size))
			ret = error_set(err, PF_IOERR,
					"%s: an interrupted delivery at offset %llu "
					"is followed by other mail; check the file "
					"by hand, then remove the I records from "
					"the journal", m->path, off);
		else {
			m->offset = (off_t)off;
			truncate_back(m);
		}
	}
	mbox_unlock(m);
	return ret;
}

static void mb_free(struct deliver *d)
{
	struct mbox *m = (struct mbox *)d;

	mb_abort(d);
	if (m->fd >= 0)
		close(m->fd);
	free(m->path);
	free(m->lockpath);
	free(m->hdr);
	free(m);
}

static const struct deliver_ops mbox_ops = {
	.begin = mb_begin,
	.write = mb_write,
	.commit = mb_commit,
	.abort = mb_abort,
	.recover = mb_recover,
	.free = mb_free,
};

enum pf_status deliver_mbox_open(const char *path, int timeout_s,
				 struct deliver **d_r, struct error *err)
{
	struct mbox *m = xcalloc(1, sizeof(*m));
	const char *slash = strrchr(path, '/');

	m->base.ops = &mbox_ops;
	m->path = xstrdup(path);
	m->lockpath = xasprintf("%s.lock", path);
	m->timeout_ms = timeout_s * 1000;
	m->hdr = xmalloc(MBOX_HEADER_MAX);
	m->fd = -1;
	if (slash != NULL && slash != path) {
		char *dir = xstrndup(path, (size_t)(slash - path));
		int r = util_mkdir_p(dir, 0700);

		free(dir);
		if (r < 0)
			goto fail;
	}
	m->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (m->fd < 0)
		goto fail;
	*d_r = &m->base;
	return PF_OK;
fail:
	error_set_errno(err, PF_CANTCREAT, errno, "cannot open mbox %s", path);
	mb_free(&m->base);
	return PF_CANTCREAT;
}
