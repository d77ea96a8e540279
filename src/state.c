/*
 * state.c - per-account UID state: snapshot + journal + lock.
 *
 * Memory: UIDs live in one arena (no per-UID allocation) indexed by an
 * open-addressing hash table of 32-bit entry numbers, so a mailbox of
 * 100,000 messages costs a few megabytes at most.
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
#define STATE_MAX_ENTRIES 50000000u

struct entry {
	uint32_t uid_off;	/* into arena */
	uint32_t first_seen;	/* Unix time (fits until 2106) */
	uint32_t flags;		/* ENTRY_* */
};

#define ENTRY_PRESENT 1u	/* listed by the server this session */
#define ENTRY_BIG 2u		/* not delivered: too big, reported */

struct state {
	char *account;
	int dirfd, lockfd, journalfd;
	char *arena;
	size_t arena_len, arena_cap;
	struct entry *entries;
	uint32_t nentries, entries_cap;
	uint32_t *table;	/* entry index + 1; 0 = empty */
	uint32_t table_cap;	/* power of two */
	struct state_pending *pending;
	size_t npending;
	bool journal_dirty;	/* written since the last fsync */
	bool journal_nonempty;	/* records not yet folded into the snapshot */
	bool prune;		/* drop entries not present at save */
	bool readonly;		/* state_open_readonly(): never written */
};

static uint32_t hash_uid(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static const char *entry_uid(const struct state *st, uint32_t i)
{
	return st->arena + st->entries[i].uid_off;
}

/* Returns the slot for uid: holding it, or the empty one to use. */
static uint32_t *find_slot(const struct state *st, const char *uid)
{
	uint32_t mask = st->table_cap - 1, i = hash_uid(uid) & mask;

	while (st->table[i] != 0 &&
	       strcmp(entry_uid(st, st->table[i] - 1), uid) != 0)
		i = (i + 1) & mask;
	return &st->table[i];
}

static void grow_table(struct state *st)
{
	uint32_t *old = st->table, oldcap = st->table_cap, i;

	st->table_cap = oldcap == 0 ? 1024 : oldcap * 2;
	st->table = xcalloc(st->table_cap, sizeof(*st->table));
	for (i = 0; i < st->nentries; i++)
		*find_slot(st, entry_uid(st, i)) = i + 1;
	free(old);
}

/* Adds uid with flags, or updates the flags of a known uid: a delivery
 * clears ENTRY_BIG.  Returns the entry. */
static struct entry *add_uid(struct state *st, const char *uid, uint32_t when,
			     uint32_t flags)
{
	size_t len = strlen(uid) + 1;
	uint32_t *slot;

	if ((uint64_t)(st->nentries + 1) * 2 > st->table_cap)
		grow_table(st);
	slot = find_slot(st, uid);
	if (*slot != 0) {
		struct entry *e = &st->entries[*slot - 1];

		if ((e->flags & ENTRY_BIG) && !(flags & ENTRY_BIG)) {
			e->first_seen = when;
			e->flags &= ~ENTRY_BIG;
		}
		e->flags |= flags & ENTRY_PRESENT;
		return e;
	}
	if (st->arena_len + len > st->arena_cap) {
		st->arena_cap = (st->arena_len + len) * 2;
		st->arena = xrealloc(st->arena, st->arena_cap);
	}
	if (st->nentries == st->entries_cap) {
		st->entries_cap = st->entries_cap == 0 ? 256 : st->entries_cap * 2;
		st->entries = xrealloc(st->entries,
				       st->entries_cap * sizeof(*st->entries));
	}
	memcpy(st->arena + st->arena_len, uid, len);
	st->entries[st->nentries].uid_off = (uint32_t)st->arena_len;
	st->entries[st->nentries].first_seen = when;
	st->entries[st->nentries].flags = flags;
	st->arena_len += len;
	*slot = ++st->nentries;
	return &st->entries[st->nentries - 1];
}

size_t state_count(const struct state *st)
{
	size_t n = 0;
	uint32_t i;

	/* Notes of too-big messages are not deliveries. */
	for (i = 0; i < st->nentries; i++)
		if (!(st->entries[i].flags & ENTRY_BIG))
			n++;
	return n;
}

static struct entry *find_entry(const struct state *st, const char *uid)
{
	uint32_t idx = st->table_cap != 0 ? *find_slot(st, uid) : 0;

	return idx != 0 ? &st->entries[idx - 1] : NULL;
}

bool state_has(const struct state *st, const char *uid)
{
	const struct entry *e = find_entry(st, uid);

	return e != NULL && !(e->flags & ENTRY_BIG);
}

enum state_presence state_mark_present(struct state *st, const char *uid,
				       time_t *first_seen_r)
{
	struct entry *e = find_entry(st, uid);

	if (e == NULL)
		return STATE_UNKNOWN;
	if (e->flags & ENTRY_PRESENT)
		return STATE_DUPLICATE;
	e->flags |= ENTRY_PRESENT;
	if (e->flags & ENTRY_BIG)
		return STATE_UNKNOWN;
	*first_seen_r = (time_t)e->first_seen;
	return STATE_DELIVERED;
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
	st = xcalloc(1, sizeof(*st));
	st->account = xstrdup(account);
	st->lockfd = st->journalfd = -1;
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
	if (st->table_cap == 0)
		grow_table(st);
	*st_r = st;
	return PF_OK;
fail:
	state_close(&st);
	return ret;
}

static enum pf_status journal_append(struct state *st, const char *line,
				     struct error *err)
{
	if (util_write_all(st->journalfd, line, strlen(line)) < 0)
		return error_set_errno(err, PF_IOERR, errno,
				       "cannot write the state journal of %s",
				       st->account);
	st->journal_dirty = true;
	st->journal_nonempty = true;
	return PF_OK;
}

enum pf_status state_sync(struct state *st, struct error *err)
{
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

enum pf_status state_intent(struct state *st, const char *uid,
			    const char *token, struct error *err)
{
	if (st->readonly)
		return error_set(err, PF_SOFTWARE, "state opened read-only");
	char line[STATE_MAX_LINE];
	enum pf_status ret;

	if (!valid_word(uid, 70) || !valid_word(token, 255))
		return error_set(err, PF_SOFTWARE, "bad UID or token");
	snprintf(line, sizeof(line), "I %s %s\n", uid, token);
	ret = journal_append(st, line, err);
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
	struct entry *e = find_entry(st, uid);
	uint32_t now = (uint32_t)time(NULL);

	if (e != NULL && (e->flags & ENTRY_BIG))
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
	uint32_t i;
	int fd, saved;

	fd = openat(st->dirfd, tmpname,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	len = (size_t)snprintf(buf, 65536, "%s\n", STATE_MAGIC);
	for (i = 0; i < st->nentries; i++) {
		const struct entry *e = &st->entries[i];

		if (st->prune && !(e->flags & ENTRY_PRESENT))
			continue;
		if (len > 65536 - 100) {
			if (util_write_all(fd, buf, len) < 0)
				goto fail;
			len = 0;
		}
		len += (size_t)snprintf(buf + len, 65536 - len, "%s %u%s\n",
					entry_uid(st, i), e->first_seen,
					(e->flags & ENTRY_BIG) ? " big" : "");
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
	uint32_t i;

	if (!st->prune)
		return false;
	for (i = 0; i < st->nentries; i++)
		if (!(st->entries[i].flags & ENTRY_PRESENT))
			return true;
	return false;
}

enum pf_status state_save(struct state *st, struct error *err)
{
	if (st->readonly)
		return PF_OK;	/* --check, --dry-run: nothing to keep */
	char tmpname[128], name[128], line[STATE_MAX_LINE];
	enum pf_status ret;
	size_t i;

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
	free(st->entries);
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

	st = xcalloc(1, sizeof(*st));
	st->account = xstrdup(account);
	st->lockfd = st->journalfd = -1;
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
	if (st->table_cap == 0)
		grow_table(st);
	*st_r = st;
	return PF_OK;
fail:
	state_close(&st);
	return ret;
}
