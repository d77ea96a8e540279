/*
 * state.c - per-account UID state: snapshot + journal + lock.
 *
 * Memory, a few dozen bytes per UID: each UID is one record in a single
 * arena (first-seen time, flags, the UID and its NUL; no per-UID
 * allocation), and an open-addressing hash table of 32-bit arena offsets,
 * sized exactly (not to a power of two) at a load of at most 3/4.  A UID
 * the server lists and we do not know is kept as a record too: the runner
 * holds its 32-bit offset instead of a second copy of the string.
 */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crash.h"
#include "util.h"

#define STATE_MAGIC "popfetch-state 1"
#define STATE_MAX_LINE 1024
/* Records are at most 5 + 70 + 1 bytes: this many from the files plus
 * POP3_MAX_MESSAGES listed in a session keep every offset in 32 bits. */
#define STATE_MAX_ENTRIES 40000000u

/* A record in the arena: first-seen time (4 bytes, host order, Unix time
 * that fits until 2106), flags (1 byte), the UID, NUL. */
#define REC_TIME 0
#define REC_FLAGS 4
#define REC_UID 5

#define ENTRY_PRESENT 1u	/* listed by the server this session */
#define ENTRY_BIG 2u		/* not delivered: too big, reported */
#define ENTRY_NEW 4u		/* not delivered: listed, not fetched yet */
#define ENTRY_UNDELIVERED (ENTRY_BIG | ENTRY_NEW)

struct state {
	char *account;
	int dirfd, lockfd, journalfd;
	char *arena;		/* records; offset 0 is no record */
	size_t arena_len, arena_cap;
	uint32_t nentries;
	uint32_t *table;	/* arena offsets; 0 = empty */
	uint32_t table_cap;
	struct state_pending *pending;
	size_t npending;
	bool journal_dirty;	/* written since the last fsync */
	bool gather;		/* state_gather(): lines wait in jbuf */
	char *jbuf;
	size_t jlen;
	bool journal_nonempty;	/* records not yet folded into the snapshot */
	bool prune;		/* drop entries not present at save */
	bool readonly;		/* state_open_readonly(): never written */
};

static uint32_t hash_uid(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	/* Mixed so that the high bits, which pick the slot, depend on
	 * every byte (MurmurHash3's finalizer). */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static const char *rec_uid(const struct state *st, uint32_t off)
{
	return st->arena + off + REC_UID;
}

static unsigned rec_flags(const struct state *st, uint32_t off)
{
	return (unsigned char)st->arena[off + REC_FLAGS];
}

static void rec_set_flags(struct state *st, uint32_t off, unsigned flags)
{
	st->arena[off + REC_FLAGS] = (char)flags;
}

static uint32_t rec_time(const struct state *st, uint32_t off)
{
	uint32_t t;

	memcpy(&t, st->arena + off + REC_TIME, sizeof(t));
	return t;
}

static void rec_set_time(struct state *st, uint32_t off, uint32_t t)
{
	memcpy(st->arena + off + REC_TIME, &t, sizeof(t));
}

/* The record after off (records are walked from offset 1). */
static uint32_t rec_next(const struct state *st, uint32_t off)
{
	return off + REC_UID + (uint32_t)strlen(rec_uid(st, off)) + 1;
}

/* Returns the slot for uid: holding it, or the empty one to use.  The
 * table is never full (load <= 3/4), so the probe ends. */
static uint32_t *find_slot(const struct state *st, const char *uid)
{
	uint32_t i = (uint32_t)(((uint64_t)hash_uid(uid) * st->table_cap) >> 32);

	while (st->table[i] != 0 && strcmp(rec_uid(st, st->table[i]), uid) != 0)
		if (++i == st->table_cap)
			i = 0;
	return &st->table[i];
}

/* Rebuilds the table with room for n entries at a load of 3/4. */
static void resize_table(struct state *st, uint64_t n)
{
	uint64_t cap = n + n / 3 + 1;
	uint32_t off;

	if (cap < 64)
		cap = 64;
	if (cap > UINT32_MAX)
		cap = UINT32_MAX;	/* unreachable: STATE_MAX_ENTRIES */
	free(st->table);
	st->table_cap = (uint32_t)cap;
	st->table = xcalloc(st->table_cap, sizeof(*st->table));
	for (off = 1; off < st->arena_len; off = rec_next(st, off))
		*find_slot(st, rec_uid(st, off)) = off;
}

/* Makes room in the table for n entries in all. */
static void reserve_table(struct state *st, uint64_t n)
{
	if (st->table_cap == 0 || n * 4 > (uint64_t)st->table_cap * 3)
		resize_table(st, n);
}

void state_reserve(struct state *st, size_t n)
{
	uint64_t want = n > st->nentries ? n : st->nentries;

	reserve_table(st, want);
}

/* Adds uid with flags, or updates a known uid: a delivery (flags without
 * ENTRY_UNDELIVERED) of an undelivered one sets its time and clears
 * ENTRY_UNDELIVERED; noting a new one as too big makes it ENTRY_BIG.
 * Returns the record's offset. */
static uint32_t add_uid(struct state *st, const char *uid, uint32_t when,
			unsigned flags)
{
	size_t len = strlen(uid) + 1;
	uint32_t *slot, off;

	/* Grows by half, not double: the table is most of a large state. */
	if ((uint64_t)(st->nentries + 1) * 4 > (uint64_t)st->table_cap * 3)
		reserve_table(st, (uint64_t)st->nentries + st->nentries / 2 + 1);
	slot = find_slot(st, uid);
	if (*slot != 0) {
		unsigned old;

		off = *slot;
		old = rec_flags(st, off);
		if ((old & ENTRY_UNDELIVERED) && !(flags & ENTRY_UNDELIVERED)) {
			rec_set_time(st, off, when);
			old &= ~ENTRY_UNDELIVERED;
		} else if ((old & ENTRY_NEW) && (flags & ENTRY_BIG)) {
			rec_set_time(st, off, when);
			old = (old & ~ENTRY_NEW) | ENTRY_BIG;
		}
		rec_set_flags(st, off, old | (flags & ENTRY_PRESENT));
		return off;
	}
	if (st->arena_len + REC_UID + len > UINT32_MAX) {
		/* Unreachable within STATE_MAX_ENTRIES and POP3_MAX_MESSAGES. */
		fprintf(stderr, "popfetch: state of %s over 4 GB\n", st->account);
		abort();
	}
	if (st->arena_len + REC_UID + len > st->arena_cap) {
		st->arena_cap = st->arena_len + REC_UID + len;
		st->arena_cap += st->arena_cap / 2;
		st->arena = xrealloc(st->arena, st->arena_cap);
	}
	off = (uint32_t)st->arena_len;
	rec_set_time(st, off, when);
	rec_set_flags(st, off, flags);
	memcpy(st->arena + off + REC_UID, uid, len);
	st->arena_len += REC_UID + len;
	st->nentries++;
	*slot = off;
	return off;
}

size_t state_count(const struct state *st)
{
	size_t n = 0;
	uint32_t off;

	/* Notes of too-big or not yet fetched messages are not deliveries. */
	for (off = 1; off < st->arena_len; off = rec_next(st, off))
		if (!(rec_flags(st, off) & ENTRY_UNDELIVERED))
			n++;
	return n;
}

/* The offset of uid's record, or 0. */
static uint32_t find_entry(const struct state *st, const char *uid)
{
	return st->table_cap != 0 ? *find_slot(st, uid) : 0;
}

bool state_has(const struct state *st, const char *uid)
{
	uint32_t off = find_entry(st, uid);

	return off != 0 && !(rec_flags(st, off) & ENTRY_UNDELIVERED);
}

enum state_presence state_mark_present(struct state *st, const char *uid,
				       time_t *first_seen_r, uint32_t *id_r)
{
	uint32_t off = find_entry(st, uid);
	unsigned flags;

	if (off == 0)
		off = add_uid(st, uid, 0, ENTRY_NEW | ENTRY_PRESENT);
	else if ((flags = rec_flags(st, off)) & ENTRY_PRESENT)
		return STATE_DUPLICATE;
	else
		rec_set_flags(st, off, flags | ENTRY_PRESENT);
	if (id_r != NULL)
		*id_r = off;
	if (rec_flags(st, off) & ENTRY_UNDELIVERED)
		return STATE_UNKNOWN;
	*first_seen_r = (time_t)rec_time(st, off);
	return STATE_DELIVERED;
}

const char *state_uid(const struct state *st, uint32_t id)
{
	return rec_uid(st, id);
}

void state_prune_absent(struct state *st)
{
	st->prune = true;
}

static void pending_drop(struct state *st, const char *uid)
{
	size_t i;

	for (i = 0; i < st->npending; i++) {
		if (strcmp(st->pending[i].uid, uid) == 0) {
			free((char *)st->pending[i].uid);
			free((char *)st->pending[i].token);
			st->pending[i] = st->pending[--st->npending];
			return;
		}
	}
}

static void pending_add(struct state *st, const char *uid, const char *token)
{
	pending_drop(st, uid);
	st->pending = xrealloc(st->pending,
			       (st->npending + 1) * sizeof(*st->pending));
	st->pending[st->npending].uid = xstrdup(uid);
	st->pending[st->npending].token = xstrdup(token);
	st->npending++;
}

const struct state_pending *state_pending(const struct state *st,
					  size_t *n_r)
{
	*n_r = st->npending;
	return st->pending;
}

static bool valid_word(const char *s, size_t maxlen)
{
	size_t len = strlen(s);

	if (len == 0 || len > maxlen)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* Splits "A B C" in place at single spaces into at most 3 words; returns
 * the count, or 4 if there are more. */
static int split(char *line, char **w)
{
	int n = 0;
	char *p = line;

	while (*p != '\0') {
		char *sp = strchr(p, ' ');

		if (n == 3)
			return 4;
		w[n++] = p;
		if (sp == NULL)
			break;
		*sp = '\0';
		p = sp + 1;
	}
	return n;
}

static int parse_time(const char *s, uint32_t *t_r)
{
	unsigned long long v;

	if (util_parse_ull(s, 0, UINT32_MAX, &v) < 0)
		return -1;
	*t_r = (uint32_t)v;
	return 0;
}

/* Applies one snapshot or journal line.  -1 if malformed. */
static int apply_line(struct state *st, char *line, bool journal)
{
	char *w[3];
	int n = split(line, w);
	uint32_t t;

	if (!journal) {
		bool big = n == 3 && strcmp(w[2], "big") == 0;

		if ((n != 2 && !big) || !valid_word(w[0], 70) ||
		    parse_time(w[1], &t) < 0)
			return -1;
		add_uid(st, w[0], t, big ? ENTRY_BIG : 0);
		return 0;
	}
	if (n == 3 && strcmp(w[0], "B") == 0 && valid_word(w[1], 70) &&
	    parse_time(w[2], &t) == 0) {
		add_uid(st, w[1], t, ENTRY_BIG);
		return 0;
	}
	if (n == 3 && strcmp(w[0], "I") == 0 && valid_word(w[1], 70) &&
	    valid_word(w[2], 255)) {
		if (!state_has(st, w[1]))
			pending_add(st, w[1], w[2]);
		return 0;
	}
	if (n == 3 && strcmp(w[0], "D") == 0 && valid_word(w[1], 70) &&
	    parse_time(w[2], &t) == 0) {
		add_uid(st, w[1], t, 0);
		pending_drop(st, w[1]);
		return 0;
	}
	if (n == 2 && strcmp(w[0], "X") == 0 && valid_word(w[1], 70)) {
		pending_drop(st, w[1]);
		return 0;
	}
	return -1;
}

/* Sizes the arena and the table for a snapshot of fd's size and lines
 * before it is read: no growth by steps, no old and new table at once.
 * Only a guess from a file that may be damaged: the load still checks. */
static void reserve_for_file(struct state *st, int fd)
{
	char buf[65536];
	uint64_t lines = 0;
	off_t pos = 0;
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), pos)) > 0) {
		const char *p = buf, *end = buf + n;

		while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			lines++;
			p++;
		}
		pos += n;
	}
	if (lines > STATE_MAX_ENTRIES)
		lines = STATE_MAX_ENTRIES;
	/* A record is 4 bytes shorter than its line when the time has 8
	 * digits or more, as all times since 1973 have. */
	if ((uint64_t)pos + 1 > st->arena_cap && (uint64_t)pos < UINT32_MAX) {
		st->arena_cap = (size_t)pos + 1;
		st->arena = xrealloc(st->arena, st->arena_cap);
	}
	reserve_table(st, lines);
}

/* Reads a snapshot (journal = false) or a journal.  A journal's last line
 * without its newline is the trace of a write cut off by a crash: its
 * record never counted, so it is ignored. */
static enum pf_status load_file(struct state *st, const char *name,
				bool journal, off_t *good_len_r,
				struct error *err)
{
	char path_line[STATE_MAX_LINE + 2];
	unsigned long lineno = 0;
	off_t good = 0;
	enum pf_status ret = PF_OK;
	FILE *f;
	int fd;

	fd = openat(st->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return PF_OK;
		return error_set_errno(err, PF_IOERR, errno, "cannot open %s",
				       name);
	}
	if (!journal)
		reserve_for_file(st, fd);
	f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		return error_set_errno(err, PF_IOERR, errno, "cannot read %s",
				       name);
	}
	while (fgets(path_line, sizeof(path_line), f) != NULL) {
		size_t len = strlen(path_line);

		lineno++;
		if (len == 0 || path_line[len - 1] != '\n') {
			if (journal && feof(f))
				break;
			goto corrupt;
		}
		good += (off_t)len;
		path_line[len - 1] = '\0';
		if (!journal && lineno == 1) {
			if (strcmp(path_line, STATE_MAGIC) != 0)
				goto corrupt;
			continue;
		}
		if (st->nentries >= STATE_MAX_ENTRIES ||
		    apply_line(st, path_line, journal) < 0)
			goto corrupt;
	}
	if (ferror(f))
		ret = error_set_errno(err, PF_IOERR, errno, "cannot read %s",
				      name);
	fclose(f);
	if (good_len_r != NULL)
		*good_len_r = good;
	return ret;
corrupt:
	fclose(f);
	return error_set(err, PF_IOERR,
			 "state file %s is damaged at line %lu; move it away to "
			 "start over (messages still on the server would then be "
			 "fetched again)", name, lineno);
}

/* An empty state, no file open. */
static struct state *state_alloc(const char *account)
{
	struct state *st = xcalloc(1, sizeof(*st));

	st->account = xstrdup(account);
	st->arena_cap = 1024;
	st->arena = xmalloc(st->arena_cap);
	st->arena[0] = '\0';	/* offset 0 is no record */
	st->arena_len = 1;
	st->lockfd = st->journalfd = st->dirfd = -1;
	return st;
}

enum pf_status state_open(const char *dir, const char *account,
			  struct state **st_r, struct error *err)
{
	struct state *st;
	char name[128];
	enum pf_status ret;
	struct stat sb;
	off_t good = 0;

	if (util_mkdir_p(dir, 0700) < 0)
		return error_set_errno(err, PF_CANTCREAT, errno,
				       "cannot create state directory %s", dir);
	st = state_alloc(account);
	st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		ret = error_set_errno(err, PF_CANTCREAT, errno,
				      "cannot open state directory %s", dir);
		goto fail;
	}
	snprintf(name, sizeof(name), "%s.lock", account);
	st->lockfd = openat(st->dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC,
			    0600);
	if (st->lockfd < 0) {
		ret = error_set_errno(err, PF_CANTCREAT, errno,
				      "cannot create lock file %s/%s", dir, name);
		goto fail;
	}
	if (flock(st->lockfd, LOCK_EX | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK
			? error_set(err, PF_TEMPFAIL,
				    "another popfetch is running for this account "
				    "(lock %s/%s held)", dir, name)
			: error_set_errno(err, PF_IOERR, errno,
					  "cannot lock %s/%s", dir, name);
		goto fail;
	}
	snprintf(name, sizeof(name), "%s.state", account);
	ret = load_file(st, name, false, NULL, err);
	if (ret != PF_OK)
		goto fail;
	snprintf(name, sizeof(name), "%s.journal", account);
	ret = load_file(st, name, true, &good, err);
	if (ret != PF_OK)
		goto fail;
	st->journalfd = openat(st->dirfd, name,
			       O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (st->journalfd < 0) {
		ret = error_set_errno(err, PF_CANTCREAT, errno,
				      "cannot open journal %s/%s", dir, name);
		goto fail;
	}
	/* A record cut off by a crash never counted; cut it away so that
	 * the next record starts on a line of its own. */
	if (fstat(st->journalfd, &sb) == 0 && sb.st_size > good &&
	    (ftruncate(st->journalfd, good) < 0 ||
	     fdatasync(st->journalfd) < 0)) {
		ret = error_set_errno(err, PF_IOERR, errno,
				      "cannot repair journal %s/%s", dir, name);
		goto fail;
	}
	st->journal_nonempty = good > 0;
	reserve_table(st, st->nentries);
	*st_r = st;
	return PF_OK;
fail:
	state_close(&st);
	return ret;
}

static enum pf_status journal_write(struct state *st, const char *buf,
				    size_t len, struct error *err)
{
	if (util_write_all(st->journalfd, buf, len) < 0)
		return error_set_errno(err, PF_IOERR, errno,
				       "cannot write the state journal of %s",
				       st->account);
	return PF_OK;
}

void state_gather(struct state *st)
{
	if (st->jbuf == NULL)
		st->jbuf = xmalloc(STATE_JBUF);
	st->gather = true;
}

enum pf_status state_flush(struct state *st, struct error *err)
{
	size_t len = st->jlen;

	st->gather = false;
	st->jlen = 0;
	return len > 0 ? journal_write(st, st->jbuf, len, err) : PF_OK;
}

static enum pf_status journal_append(struct state *st, const char *line,
				     struct error *err)
{
	size_t len = strlen(line);

	st->journal_dirty = true;
	st->journal_nonempty = true;
	if (!st->gather)
		return journal_write(st, line, len, err);
	if (st->jlen + len > STATE_JBUF) {
		enum pf_status ret = journal_write(st, st->jbuf, st->jlen, err);

		st->jlen = 0;
		if (ret != PF_OK)
			return ret;
	}
	memcpy(st->jbuf + st->jlen, line, len);
	st->jlen += len;
	return PF_OK;
}

enum pf_status state_sync(struct state *st, struct error *err)
{
	enum pf_status ret = state_flush(st, err);

	if (ret != PF_OK)
		return ret;
	if (!st->journal_dirty)
		return PF_OK;
	crash_point("journal-before-sync");
	if (fdatasync(st->journalfd) < 0)
		return error_set_errno(err, PF_IOERR, errno,
				       "cannot sync the state journal of %s",
				       st->account);
	st->journal_dirty = false;
	return PF_OK;
}

enum pf_status state_intent_batch(struct state *st, const char *uid,
				  const char *token, struct error *err)
{
	if (st->readonly)
		return error_set(err, PF_SOFTWARE, "state opened read-only");
	char line[STATE_MAX_LINE];

	if (!valid_word(uid, 70) || !valid_word(token, 255))
		return error_set(err, PF_SOFTWARE, "bad UID or token");
	snprintf(line, sizeof(line), "I %s %s\n", uid, token);
	return journal_append(st, line, err);
}

enum pf_status state_intent(struct state *st, const char *uid,
			    const char *token, struct error *err)
{
	enum pf_status ret = state_intent_batch(st, uid, token, err);

	if (ret != PF_OK)
		return ret;
	/* Order is important: this record must be on disk before the
	 * message can appear in the mailbox, or a crash in between would
	 * leave a message that the next run fetches again. */
	return state_sync(st, err);
}

/* Journals "D uid when" and adds uid with flags. */
static enum pf_status record_delivered(struct state *st, const char *uid,
				       time_t when, uint32_t flags,
				       struct error *err)
{
	char line[STATE_MAX_LINE];
	uint32_t t = when < 0 ? 0 : when > (time_t)UINT32_MAX
		? UINT32_MAX : (uint32_t)when;
	enum pf_status ret;

	snprintf(line, sizeof(line), "D %s %u\n", uid, t);
	ret = journal_append(st, line, err);
	if (ret != PF_OK)
		return ret;
	add_uid(st, uid, t, flags);
	pending_drop(st, uid);
	return PF_OK;
}

enum pf_status state_delivered(struct state *st, const char *uid,
			       time_t when, struct error *err)
{
	if (st->readonly)
		return error_set(err, PF_SOFTWARE, "state opened read-only");
	/* Just delivered from the server: it is present there. */
	return record_delivered(st, uid, when, ENTRY_PRESENT, err);
}

bool state_note_big(struct state *st, const char *uid, struct error *err)
{
	char line[STATE_MAX_LINE];
	uint32_t off = find_entry(st, uid);
	uint32_t now = (uint32_t)time(NULL);

	if (off != 0 && (rec_flags(st, off) & ENTRY_BIG))
		return true;
	snprintf(line, sizeof(line), "B %s %u\n", uid, now);
	/* Losing this record only means reporting the message once more. */
	(void)journal_append(st, line, err);
	add_uid(st, uid, now, ENTRY_BIG | ENTRY_PRESENT);
	return false;
}

enum pf_status state_resolve(struct state *st, const char *uid,
			     bool delivered, struct error *err)
{
	char line[STATE_MAX_LINE];
	enum pf_status ret;

	/* Recovery runs before the server listing, which marks presence. */
	if (delivered)
		return record_delivered(st, uid, time(NULL), 0, err);
	snprintf(line, sizeof(line), "X %s\n", uid);
	ret = journal_append(st, line, err);
	if (ret == PF_OK)
		pending_drop(st, uid);
	return ret;
}

/* Writes the snapshot to NAME.state.tmp and fsyncs it. */
static enum pf_status write_snapshot(struct state *st, const char *tmpname,
				     struct error *err)
{
	char *buf = xmalloc(65536);
	size_t len = 0;
	uint32_t off;
	int fd, saved;

	fd = openat(st->dirfd, tmpname,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	len = (size_t)snprintf(buf, 65536, "%s\n", STATE_MAGIC);
	for (off = 1; off < st->arena_len; off = rec_next(st, off)) {
		unsigned flags = rec_flags(st, off);

		if ((flags & ENTRY_NEW) ||
		    (st->prune && !(flags & ENTRY_PRESENT)))
			continue;
		if (len > 65536 - 100) {
			if (util_write_all(fd, buf, len) < 0)
				goto fail;
			len = 0;
		}
		len += (size_t)snprintf(buf + len, 65536 - len, "%s %u%s\n",
					rec_uid(st, off), rec_time(st, off),
					(flags & ENTRY_BIG) ? " big" : "");
	}
	if (util_write_all(fd, buf, len) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	free(buf);
	return PF_OK;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(st->dirfd, tmpname, 0);
	free(buf);
	return error_set_errno(err, PF_IOERR, saved,
			       "cannot write the state of %s", st->account);
}

static bool prunes_something(const struct state *st)
{
	uint32_t off;

	if (!st->prune)
		return false;
	for (off = 1; off < st->arena_len; off = rec_next(st, off))
		if (!(rec_flags(st, off) & ENTRY_PRESENT))
			return true;
	return false;
}

enum pf_status state_save(struct state *st, struct error *err)
{
	if (st->readonly)
		return PF_OK;	/* --check, --dry-run: nothing to keep */
	char tmpname[128], name[128], line[STATE_MAX_LINE];
	enum pf_status ret = state_flush(st, err);
	size_t i;

	if (ret != PF_OK)
		return ret;

	/* A run that recorded nothing and prunes nothing leaves the snapshot
	 * as it is: no rewrite and fsync of a large state on every poll. */
	if (!st->journal_nonempty && !prunes_something(st))
		return PF_OK;
	snprintf(tmpname, sizeof(tmpname), "%s.state.tmp", st->account);
	snprintf(name, sizeof(name), "%s.state", st->account);
	ret = write_snapshot(st, tmpname, err);
	if (ret != PF_OK)
		return ret;
	crash_point("state-before-rename");
	/* Order is important: the new snapshot is durable under its final
	 * name before the journal it absorbs is emptied.  A crash between
	 * the two replays the journal onto the new snapshot, which changes
	 * nothing. */
	if (renameat(st->dirfd, tmpname, st->dirfd, name) < 0 ||
	    util_fsync_dir(st->dirfd, NULL) < 0) {
		unlinkat(st->dirfd, tmpname, 0);
		return error_set_errno(err, PF_IOERR, errno,
				       "cannot replace the state of %s",
				       st->account);
	}
	crash_point("state-before-truncate");
	if (ftruncate(st->journalfd, 0) < 0)
		return error_set_errno(err, PF_IOERR, errno,
				       "cannot empty the state journal of %s",
				       st->account);
	st->journal_dirty = true;
	st->journal_nonempty = false;
	/* Unresolved deliveries stay in the journal. */
	for (i = 0; i < st->npending; i++) {
		snprintf(line, sizeof(line), "I %s %s\n", st->pending[i].uid,
			 st->pending[i].token);
		ret = journal_append(st, line, err);
		if (ret != PF_OK)
			return ret;
	}
	return state_sync(st, err);
}

void state_close(struct state **stp)
{
	struct state *st = *stp;

	if (st == NULL)
		return;
	if (st->jlen > 0) {
		struct error ignored;

		(void)state_flush(st, &ignored);
	}
	free(st->jbuf);
	while (st->npending > 0)
		pending_drop(st, st->pending[0].uid);
	free(st->pending);
	if (st->journalfd >= 0)
		close(st->journalfd);
	if (st->lockfd >= 0)
		close(st->lockfd);	/* releases the flock */
	if (st->dirfd >= 0)
		close(st->dirfd);
	free(st->arena);
	free(st->table);
	free(st->account);
	free(st);
	*stp = NULL;
}

enum pf_status state_open_readonly(const char *dir, const char *account,
				   struct state **st_r, struct error *err)
{
	struct state *st;
	char name[128];
	enum pf_status ret = PF_OK;

	st = state_alloc(account);
	st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0 && errno != ENOENT) {
		ret = error_set_errno(err, PF_IOERR, errno,
				      "cannot open state directory %s", dir);
		goto fail;
	}
	/* No directory yet: nothing was ever delivered. */
	if (st->dirfd >= 0) {
		snprintf(name, sizeof(name), "%s.state", account);
		ret = load_file(st, name, false, NULL, err);
		snprintf(name, sizeof(name), "%s.journal", account);
		if (ret == PF_OK)
			ret = load_file(st, name, true, NULL, err);
		if (ret != PF_OK)
			goto fail;
	}
	st->readonly = true;
	reserve_table(st, st->nentries);
	*st_r = st;
	return PF_OK;
fail:
	state_close(&st);
	return ret;
}
