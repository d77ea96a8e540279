/*
 * deliver.h - where message bytes go, behind one small vtable.
 *
 * A delivery receives the bytes of one message (LF line endings) between
 * begin and commit.  commit makes the message durable (fsynced, visible)
 * or fails; abort removes every trace of an unfinished message.  A delivery
 * never changes process-global state (no chdir, no umask) and never knows
 * which protocol produced the bytes.
 *
 * Exactly-once: begin returns a token naming where the message will appear
 * (e.g. a Maildir file name); the runner journals it before commit, and
 * after a crash asks recover() whether that token arrived.
 */
#ifndef POPFETCH_DELIVER_H
#define POPFETCH_DELIVER_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define DELIVER_TOKEN_MAX 256

struct deliver;

struct deliver_ops {
	/* Starts a message: chooses where it will go and writes that token
	 * into token_r (DELIVER_TOKEN_MAX bytes).  Creates nothing yet, so
	 * that the caller can journal the token first and a crash right
	 * after begin leaves no file behind. */
	enum pf_status (*begin)(struct deliver *d, char *token_r,
				struct error *err);
	enum pf_status (*write)(struct deliver *d, const char *buf,
				size_t len, struct error *err);
	/* Makes the message durable and visible.  With a sync op this may
	 * finish in the background (Maildir: worker threads fsync and
	 * rename while the caller reads the next message): the message is
	 * durable only once the next sync() returned PF_OK, and a failure
	 * may be reported by that sync() or by a later commit() instead.
	 * After a failed commit, abort() removes what is left. */
	enum pf_status (*commit)(struct deliver *d, struct error *err);
	/* Removes an unfinished message; safe after a failed write/commit. */
	void (*abort)(struct deliver *d);
	/* After a crash: did the message with this token arrive?  Cleans up
	 * leftovers of one that did not.  Sets *arrived_r. */
	enum pf_status (*recover)(struct deliver *d, const char *token,
				  bool *arrived_r, struct error *err);
	/* Optional: recover() for tokens[0..n) at once, setting
	 * arrived_r[i] for tokens[i], with one look through the mailbox for
	 * all of them (a Maildir reads cur/ once, not once per token). */
	enum pf_status (*recover_all)(struct deliver *d,
				      const char *const *tokens, size_t n,
				      bool *arrived_r, struct error *err);
	void (*free)(struct deliver *d);
	/* Optional (NULL when the token is known only at begin, as an
	 * mbox's size is): chooses where a coming message will go and writes
	 * that token into token_r, creating nothing, so that the tokens of
	 * several messages can be journaled with one fsync before any of
	 * them starts.  Each token is for one begin_reserved(). */
	enum pf_status (*reserve)(struct deliver *d, char *token_r,
				  struct error *err);
	/* Starts a message at a token from reserve() (with reserve only). */
	enum pf_status (*begin_reserved)(struct deliver *d, const char *token,
					 struct error *err);
	/* Optional (NULL when commit is durable by itself): waits for every
	 * message committed since the last sync and makes them durable where
	 * they are visible (Maildir: one fsync of new/ for all of them).
	 * Until then a power cut may take a committed message away again,
	 * so it must not be recorded as delivered before this returns PF_OK.
	 * Fails if any committed message failed, now or earlier: once a
	 * sync has failed, every later one fails too. */
	enum pf_status (*sync)(struct deliver *d, struct error *err);
};

struct deliver {
	const struct deliver_ops *ops;
	/* True when a failed commit concerns that message only (an MDA's
	 * verdict), so the next message may still be delivered; false when
	 * it concerns the mailbox (disk full) and the account must stop. */
	bool per_message_verdict;
};

/* Opens (creating with cur/ new/ tmp/, mode 0700, if missing) a Maildir.
 * Errors: PF_CANTCREAT. */
enum pf_status deliver_maildir_open(const char *path, struct deliver **d_r,
				    struct error *err);

/* Opens an mbox file (created 0600 if missing, parent directories 0700)
 * for mboxrd delivery.  Each message is appended under a PATH.lock
 * dotlock and an fcntl lock, waited for at most timeout_s seconds; a
 * failed append is truncated away.  Errors: PF_CANTCREAT. */
enum pf_status deliver_mbox_open(const char *path, int timeout_s,
				 struct deliver **d_r, struct error *err);

/* A delivery that pipes each message to command (split into words
 * without a shell; in each word %u becomes user, %a account, %% a %).
 * Exit 0: delivered; 75 (EX_TEMPFAIL): PF_TEMPFAIL, try next run; other:
 * PF_UNAVAILABLE for that message.  The command gets no password, no
 * inherited descriptors beyond stdin/stdout/stderr. */
enum pf_status deliver_mda_open(const char *command, const char *user,
				const char *account, struct deliver **d_r,
				struct error *err);

/* Frees *d through its vtable and sets it NULL. */
void deliver_free(struct deliver **d);

/* A unique Maildir base name "SEC.MUSECPPIDQN.HOST" (the Maildir
 * specification), with '/' and ':' in HOST encoded as \057 and \072.
 * Pure apart from the arguments; exposed for tests. */
void deliver_maildir_name(char *buf, size_t size, long sec, long usec,
			  long pid, unsigned long seq, const char *host);

#endif
