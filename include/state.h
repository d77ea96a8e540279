/*
 * state.h - what popfetch remembers per account: the UIDs already
 * delivered, kept so that no message is ever delivered twice.
 *
 * Files in the state directory, per account NAME:
 *   NAME.lock     held with flock() for the whole run (one popfetch per
 *                 account at a time)
 *   NAME.state    snapshot: "popfetch-state 1" then "UID FIRST_SEEN" lines
 *                 ("UID FIRST_SEEN big" for a message left on the server
 *                 because of max_size, reported once);
 *                 replaced atomically (temp file, fsync, rename, fsync dir)
 *   NAME.journal  append-only records since the snapshot:
 *                   "I UID TOKEN"  a delivery of UID is about to happen;
 *                                  TOKEN tells the delivery how to find it
 *                   "D UID TIME"   UID is delivered
 *                   "X UID"        the delivery of UID did not happen
 *                   "B UID TIME"   UID is too big; reported, left alone
 *
 * Exactly-once: an "I" record is written and fsynced before the message
 * can become visible in the mailbox.  After a crash, an "I" without its "D"
 * is pending: the runner asks the delivery whether TOKEN arrived and calls
 * state_resolve().  The journal is folded into the snapshot by state_save().
 */
#ifndef POPFETCH_STATE_H
#define POPFETCH_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

struct state;

/* An interrupted delivery found in the journal. */
struct state_pending {
	const char *uid;
	const char *token;
};

/*
 * Creates dir (0700) if missing, takes the account lock, loads the
 * snapshot and replays the journal (a last journal line cut off by a crash
 * is dropped).  Errors: PF_TEMPFAIL when another popfetch holds the lock;
 * PF_CANTCREAT for a directory or file that cannot be created; PF_IOERR
 * for a damaged state file (naming the line) or a failed read.
 */
enum pf_status state_open(const char *dir, const char *account,
			  struct state **st_r, struct error *err);

/* Number of UIDs known delivered. */
/*
 * For --check and --dry-run: loads ACCOUNT.state and ACCOUNT.journal from
 * dir, if they exist, without creating, locking, repairing or writing
 * anything (a missing dir is an empty state).  state_save() is then a
 * no-op, and recording an intent or a delivery is PF_SOFTWARE.
 */
enum pf_status state_open_readonly(const char *dir, const char *account,
				   struct state **st_r, struct error *err);

size_t state_count(const struct state *st);

/* True if uid is recorded as delivered. */
bool state_has(const struct state *st, const char *uid);

enum state_presence {
	STATE_UNKNOWN = 0,	/* not delivered (maybe noted as too big) */
	STATE_DELIVERED,	/* delivered earlier; *first_seen_r set */
	STATE_DUPLICATE		/* listed twice in this session */
};

/* Makes room for n UIDs in all (e.g. the message count from STAT, before
 * the listing), so that the listing does not grow the state by steps. */
void state_reserve(struct state *st, size_t n);

/* Marks uid as present in this session's server listing and says what we
 * know of it.  Entries never marked are dropped by state_save() after
 * state_prune_absent().  For STATE_UNKNOWN and STATE_DELIVERED, sets
 * *id_r (unless NULL) to a handle of the UID held by the state, for
 * state_uid(): an unknown UID is kept (as not delivered, never saved
 * unless delivered or noted too big), so that listing it again in the
 * session gives STATE_DUPLICATE, and the caller need not copy it. */
enum state_presence state_mark_present(struct state *st, const char *uid,
				       time_t *first_seen_r, uint32_t *id_r);

/* The UID of a handle from state_mark_present() (handles stay valid until
 * state_close()).  The string is owned by st and moves when a UID is added
 * (state_mark_present() of an unknown one): copy it to keep it.  It may be
 * passed to the functions below for its own UID, which add nothing. */
const char *state_uid(const struct state *st, uint32_t id);

/* Call once the whole server listing was marked: state_save() then drops
 * the UIDs the server no longer has, so the state does not grow forever. */
void state_prune_absent(struct state *st);

/* Notes that uid is too big to fetch (journaled, not fsynced).  Returns
 * true if it had been noted before (already reported to the user). */
bool state_note_big(struct state *st, const char *uid, struct error *err);

/* Interrupted deliveries from the journal (valid until the next call that
 * changes st).  Sets *n_r. */
const struct state_pending *state_pending(const struct state *st,
					  size_t *n_r);

/* Settles a pending delivery: delivered or not (then forgotten). */
enum pf_status state_resolve(struct state *st, const char *uid,
			     bool delivered, struct error *err);

/* Writes and fsyncs "I uid token": call before the message can appear in
 * the mailbox. */
enum pf_status state_intent(struct state *st, const char *uid,
			    const char *token, struct error *err);

/* Writes "I uid token" without the fsync: for the intents of a batch of
 * messages, made durable together by one state_sync() that must return
 * before any of them can appear in the mailbox. */
enum pf_status state_intent_batch(struct state *st, const char *uid,
				  const char *token, struct error *err);

/* Records uid as delivered ("D" record, written but not yet fsynced;
 * the "I" record plus the delivery make it durable already). */
enum pf_status state_delivered(struct state *st, const char *uid,
			       time_t when, struct error *err);

/* fsyncs the journal (call before acting on the server, e.g. DELE);
 * writes gathered lines first (see state_gather()). */
enum pf_status state_sync(struct state *st, struct error *err);

/* Journal lines written from now on are gathered in memory (STATE_JBUF
 * bytes at a time) instead of one write(2) each, until state_flush(),
 * state_sync(), state_save() or state_close() writes them.  Until then a
 * kill -9 loses them, as a power cut loses unsynced ones: use it only for
 * the lines of a batch that recovery can do without (intents not yet
 * synced, delivered records of messages whose intent and file are
 * durable). */
#define STATE_JBUF 8192
void state_gather(struct state *st);

/* Writes the gathered lines and ends gathering. */
enum pf_status state_flush(struct state *st, struct error *err);

/* Writes a new snapshot atomically and empties the journal. */
enum pf_status state_save(struct state *st, struct error *err);

/* Releases the lock and frees *st (no save), setting it NULL. */
void state_close(struct state **st);

#endif
