/*
 * state.h - what popfetch remembers per account: the UIDs already
 * delivered, kept so that no message is ever delivered twice.
 *
 * Files in the state directory, per account NAME:
 *   NAME.lock     held with flock() for the whole run (one popfetch per
 *                 account at a time)
 *   NAME.state    snapshot: "popfetch-state 1" then "UID FIRST_SEEN" lines;
 *                 replaced atomically (temp file, fsync, rename, fsync dir)
 *   NAME.journal  append-only records since the snapshot:
 *                   "I UID TOKEN"  a delivery of UID is about to happen;
 *                                  TOKEN tells the delivery how to find it
 *                   "D UID TIME"   UID is delivered
 *                   "X UID"        the delivery of UID did not happen
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
size_t state_count(const struct state *st);

/* True if uid is recorded as delivered. */
bool state_has(const struct state *st, const char *uid);

/* Marks a known uid as present in this session's server listing.
 * Returns 0 if uid is unknown, 1 if it was known and is now marked, 2 if it
 * was already marked (the server listed it twice). */
int state_mark_present(struct state *st, const char *uid);

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

/* Records uid as delivered ("D" record, written but not yet fsynced;
 * the "I" record plus the delivery make it durable already). */
enum pf_status state_delivered(struct state *st, const char *uid,
			       time_t when, struct error *err);

/* fsyncs the journal (call before acting on the server, e.g. DELE). */
enum pf_status state_sync(struct state *st, struct error *err);

/* Writes a new snapshot atomically and empties the journal. */
enum pf_status state_save(struct state *st, struct error *err);

/* Releases the lock and frees *st (no save), setting it NULL. */
void state_close(struct state **st);

#endif
