/*
 * runner.c - one account, one function per phase:
 *   lock -> recover -> connect -> greeting -> CAPA -> [STLS -> CAPA] ->
 *   auth -> listing + plan -> pending deletes -> fetch loop (per-message
 *   DELE) -> batch DELE -> state save -> QUIT.
 *
 * Where a byte of a message goes: pop3_read_body() (dot-unstuffed, LF
 * endings) -> deliver write -> commit (fsync, rename) -> sync (fsync dir);
 * the UID is journaled before the message can appear and recorded after it
 * did.  For a Maildir, intents are journaled for a batch of coming messages
 * with one fsync, and stored messages recorded as a batch after one sync
 * of new/ (see phase_fetch()).
 */
#include "runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crash.h"
#include "deliver.h"
#include "log.h"
#include "plan.h"
#include "pop3.h"
#include "state.h"
#include "transport.h"
#include "util.h"

/* RETRs in flight at once when the server offers PIPELINING (RFC 2449).
 * Commands are a dozen bytes, so a window this size always fits in the
 * socket buffers and neither side can block the other. */
#define RUNNER_WINDOW 64
#define RUNNER_PENDING_MAX (2 * RUNNER_WINDOW)
/* Messages whose intents share one journal fsync, and whose records share
 * one sync of the mailbox, when the delivery allows (reserve, sync).  A
 * crash leaves at most this many intents for the next run to look up. */
#define RUNNER_BATCH RUNNER_WINDOW
/* Reserved tokens, by want index modulo: at most a window in flight plus
 * a batch ahead. */
#define RUNNER_TOKENS (RUNNER_WINDOW + RUNNER_BATCH)

/* A reply we are waiting for, in the order the commands went out. */
struct pending {
	enum { P_RETR, P_DELE } kind;
	uint32_t arg;		/* P_RETR: index into want; P_DELE: number */
};

/* A message to fetch: 8 bytes, its UID stays in the state (state_uid()). */
struct msg {
	uint32_t num;
	uint32_t id;		/* state_mark_present(); 0: left out */
};

/* A message stored (committed) whose record waits for the batch sync. */
struct stored {
	uint32_t index;		/* into want */
	uint64_t bytes;
};

struct session {
	const struct account *acct;
	struct plan_policy policy;
	struct run_result *res;
	struct state *st;
	struct deliver *dlv;
	struct pop3 *pop;
	unsigned capa;
	uint32_t count;		/* messages on the server (STAT) */
	struct msg *want;	/* new messages, by number */
	size_t nwant;
	uint32_t *dele;		/* delivered earlier, to delete now */
	size_t ndele, dele_cap;
	uint32_t *fetched;	/* delivered this session (batch DELE) */
	size_t nfetched, nfetched_cap;
	char (*tokens)[DELIVER_TOKEN_MAX];	/* reserved, see want_token() */
	size_t reserved;	/* want[0..reserved) have a journaled intent */
	size_t handled;		/* want[0..handled) had their RETR reply */
	struct stored stored[RUNNER_BATCH];
	size_t nstored;
	bool body_read;		/* no RETR body is partly read */
	bool pipelining;	/* the server offers PIPELINING */
	struct pending pending[RUNNER_PENDING_MAX];	/* ring */
	size_t pend_head, npending, nretr_pending;
	enum pf_status msg_failure;	/* first per-message failure */
	unsigned nmsg_failed;
};

static const char *want_uid(const struct session *s, const struct msg *m)
{
	return state_uid(s->st, m->id);
}

/* ---- local side ---- */

static enum pf_status phase_lock(struct session *s, struct error *err)
{
	const struct account *a = s->acct;
	enum pf_status ret;

	ret = state_open(a->state_dir, a->name, &s->st, err);
	if (ret != PF_OK)
		return ret;
	if (a->maildir != NULL)
		return deliver_maildir_open(a->maildir, &s->dlv, err);
	if (a->mbox != NULL)
		return deliver_mbox_open(a->mbox, a->timeout, &s->dlv, err);
	return deliver_mda_open(a->mda, a->user, a->name, &s->dlv, err);
}

/* Settles deliveries that a killed run left half-done, before anything
 * is fetched: a message that reached the mailbox counts as delivered. */
static enum pf_status phase_recover(struct session *s, struct error *err)
{
	const struct state_pending *p;
	size_t n;
	enum pf_status ret;

	while ((p = state_pending(s->st, &n)) != NULL && n > 0) {
		char uid[POP3_MAX_UID + 1];
		bool arrived;

		util_strlcpy(uid, p[0].uid, sizeof(uid));
		ret = s->dlv->ops->recover(s->dlv, p[0].token, &arrived, err);
		if (ret != PF_OK)
			return ret;
		log_verbose(s->acct->name,
			    "interrupted delivery of UID %s: %s", uid,
			    arrived ? "it arrived" : "it will be fetched again");
		ret = state_resolve(s->st, uid, arrived, err);
		if (ret != PF_OK)
			return ret;
	}
	return PF_OK;
}

/* ---- session setup ---- */

static enum pf_status phase_connect(struct session *s, struct error *err)
{
	const struct account *a = s->acct;
	struct transport *t;
	enum pf_status ret;

	ret = transport_connect(a->host, a->port, a->timeout, &t, err);
	if (ret != PF_OK)
		return ret;
	s->pop = pop3_new(t, a->name);
	if (a->tls == TLS_IMPLICIT) {
		struct tls_params tp = { .host = a->host, .ca_file = a->ca_file };

		ret = transport_start_tls(t, &tp, err);
	}
	return ret;
}

static enum pf_status phase_greeting(struct session *s, struct error *err)
{
	return pop3_expect_ok(s->pop, PF_UNAVAILABLE,
			      "server refused the session", err);
}

/* CAPA is optional (RFC 2449): a -ERR just means no capabilities. */
static enum pf_status phase_capa(struct session *s, struct error *err)
{
	enum pop3_resp_code code;
	enum pf_status ret;
	unsigned lines = 0;
	bool ok, end = false;

	s->capa = 0;
	ret = pop3_cmd(s->pop, err, "CAPA");
	if (ret == PF_OK)
		ret = pop3_read_status(s->pop, &ok, &code, err);
	if (ret != PF_OK || !ok)
		return ret;
	while (ret == PF_OK) {
		const char *line;
		size_t len;

		ret = pop3_read_line(s->pop, &line, &len, &end, err);
		if (ret != PF_OK || end)
			break;
		if (++lines > POP3_MAX_CAPA_LINES)
			return error_set(err, PF_PROTOCOL,
					 "CAPA reply has more than %d lines",
					 POP3_MAX_CAPA_LINES);
		pop3_parse_capa_line(line, len, &s->capa);
	}
	return ret;
}

static enum pf_status phase_stls(struct session *s, struct error *err)
{
	struct tls_params tp = { .host = s->acct->host,
				 .ca_file = s->acct->ca_file };
	enum pf_status ret;

	if (s->acct->tls != TLS_STARTTLS)
		return PF_OK;
	if (!(s->capa & POP3_CAPA_STLS))
		return error_set(err, PF_UNAVAILABLE,
				 "server does not offer STLS, and tls = starttls "
				 "requires it; nothing was sent");
	ret = pop3_cmd(s->pop, err, "STLS");
	if (ret == PF_OK)
		ret = pop3_expect_ok(s->pop, PF_UNAVAILABLE,
				     "server refused STLS", err);
	if (ret != PF_OK)
		return ret;
	/* Anything already received came in clear text after "+OK" and
	 * would be taken as protected data: a STARTTLS injection attack. */
	if (pop3_buffered(s->pop) != 0)
		return error_set(err, PF_PROTOCOL,
				 "server sent data after the STLS reply, before "
				 "the TLS handshake (possible injection attack)");
	ret = transport_start_tls(pop3_transport(s->pop), &tp, err);
	if (ret != PF_OK)
		return ret;
	/* RFC 2595 section 4: capabilities may change under TLS. */
	return phase_capa(s, err);
}

static enum pf_status phase_auth(struct session *s, struct error *err)
{
	const struct account *a = s->acct;
	enum pf_status ret;

	if (!transport_is_tls(pop3_transport(s->pop)) && !a->allow_plaintext)
		return error_set(err, PF_NOPERM,
				 "refusing to send the password without TLS "
				 "(allow_plaintext = no)");
	ret = pop3_cmd(s->pop, err, "USER %s", a->user);
	if (ret == PF_OK)
		ret = pop3_expect_ok(s->pop, PF_NOPERM,
				     "server refused the user name", err);
	if (ret == PF_OK)
		ret = pop3_cmd_secret(s->pop, "PASS", a->password, err);
	if (ret == PF_OK)
		ret = pop3_expect_ok(s->pop, PF_NOPERM,
				     "login failed (user name or password refused)",
				     err);
	return ret;
}

/* ---- listing ---- */

static enum pf_status read_stat(struct session *s, struct error *err)
{
	const char *line;
	size_t len;
	uint64_t size;
	enum pf_status ret;

	ret = pop3_cmd(s->pop, err, "STAT");
	if (ret == PF_OK)
		ret = pop3_expect_ok(s->pop, PF_PROTOCOL, "STAT failed", err);
	if (ret != PF_OK)
		return ret;
	line = pop3_last_line(s->pop, &len);
	/* "+OK COUNT SIZE" */
	if (len < 4)
		goto bad;
	ret = pop3_parse_list_line(line + 4, len - 4, 0, POP3_MAX_MESSAGES,
				   &s->count, &size, err);
	if (ret != PF_OK)
		goto bad;
	return PF_OK;
bad:
	error_set(err, PF_PROTOCOL, "bad STAT reply");
	error_set_reply(err, line, len);
	return PF_PROTOCOL;
}

static void num_add(uint32_t **v, size_t *n, size_t *cap, uint32_t num)
{
	if (*n == *cap) {
		*cap = *cap < 64 ? 64 : *cap + *cap / 2;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = num;
}

static int cmp_num(const void *a, const void *b)
{
	const struct msg *x = a, *y = b;

	return x->num < y->num ? -1 : x->num > y->num;
}

/* Marks message num in a bitmap of the listing; a number listed twice is
 * a protocol error naming the listing and the line. */
static enum pf_status mark_once(unsigned char *bits, uint32_t num,
				const char *listing, const char *line,
				size_t len, struct error *err)
{
	unsigned char bit = (unsigned char)(1u << (num % 8));

	if (bits[num / 8] & bit) {
		error_set(err, PF_PROTOCOL, "%s lists message %u twice",
			  listing, num);
		error_set_reply(err, line, len);
		return PF_PROTOCOL;
	}
	bits[num / 8] |= bit;
	return PF_OK;
}

/* Reads UIDL: each message number once, each UID once (two messages with
 * one UID would be one message to us); every UID is marked present in the
 * state, which keeps the new ones too, and the new ones go to the want
 * list as (number, state handle). */
static enum pf_status read_uidl(struct session *s, struct error *err)
{
	unsigned char *numseen = xcalloc(s->count / 8 + 1, 1);
	enum pf_status ret;
	bool ok, end = false, sorted = true;
	enum pop3_resp_code code;
	uint32_t listed = 0;

	/* At most count new messages: one allocation, whose pages are only
	 * touched as far as the new ones fill it. */
	s->want = xmalloc((size_t)s->count * sizeof(*s->want));
	state_reserve(s->st, s->count);

	ret = pop3_cmd(s->pop, err, "UIDL");
	if (ret == PF_OK)
		ret = pop3_read_status(s->pop, &ok, &code, err);
	if (ret == PF_OK && !ok)
		ret = error_reword(err, PF_UNAVAILABLE,
				   "server does not support UIDL, which popfetch "
				   "needs to recognise messages it already has");
	while (ret == PF_OK) {
		char uid[POP3_MAX_UID + 1];
		const char *line;
		size_t len;
		uint32_t num;

		ret = pop3_read_line(s->pop, &line, &len, &end, err);
		if (ret != PF_OK || end)
			break;
		ret = pop3_parse_uidl_line(line, len, s->count, &num, uid, err);
		if (ret != PF_OK)
			break;
		ret = mark_once(numseen, num, "UIDL", line, len, err);
		if (ret != PF_OK)
			break;
		listed++;
		time_t first_seen = 0;
		uint32_t id = 0;

		switch (state_mark_present(s->st, uid, &first_seen, &id)) {
		case STATE_UNKNOWN:
			if (s->nwant > 0 && s->want[s->nwant - 1].num > num)
				sorted = false;
			s->want[s->nwant++] = (struct msg){ .num = num, .id = id };
			break;
		case STATE_DELIVERED:
			if (plan_known(&s->policy, first_seen) == PLAN_DELETE)
				num_add(&s->dele, &s->ndele, &s->dele_cap, num);
			break;
		case STATE_DUPLICATE:
			ret = error_set(err, PF_PROTOCOL,
					"UIDL lists unique-id %s twice", uid);
			break;
		}
	}
	free(numseen);
	if (ret != PF_OK)
		return ret;
	/* Only a complete listing tells which UIDs are gone from the server
	 * and need not be remembered; forgetting one that is merely missing
	 * from a short listing would fetch it again later. */
	if (listed == s->count)
		state_prune_absent(s->st);
	else
		log_verbose(s->acct->name,
			    "UIDL listed %u of %u messages; state kept whole",
			    listed, s->count);
	/* Servers list in order; the fetch and want_find() need it. */
	if (!sorted)
		qsort(s->want, s->nwant, sizeof(*s->want), cmp_num);
	return PF_OK;
}

static struct msg *want_find(struct session *s, uint32_t num)
{
	struct msg key = { .num = num };

	return bsearch(&key, s->want, s->nwant, sizeof(*s->want), cmp_num);
}

/* Leaves a message over max_size on the server, telling the user once. */
static void skip_big(struct session *s, struct msg *m, uint64_t size,
		     struct error *err)
{
	const char *uid = want_uid(s, m);

	if (!state_note_big(s->st, uid, err))
		log_warn(s->acct->name,
			 "message %u (UID %s) is %llu bytes, over max_size "
			 "%llu: left on the server (reported once)",
			 m->num, uid, (unsigned long long)size,
			 s->acct->max_size);
	else
		log_verbose(s->acct->name,
			    "message %u (UID %s) over max_size, skipped",
			    m->num, uid);
	m->id = 0;
}

/* Reads LIST for the sizes of the new messages and leaves out those over
 * max_size (the sizes are not kept). */
static enum pf_status read_list(struct session *s, struct error *err)
{
	unsigned char *numseen = xcalloc(s->count / 8 + 1, 1);
	enum pf_status ret;
	bool end = false;

	ret = pop3_cmd(s->pop, err, "LIST");
	if (ret == PF_OK)
		ret = pop3_expect_ok(s->pop, PF_PROTOCOL, "LIST failed", err);
	while (ret == PF_OK) {
		const char *line;
		size_t len;
		uint32_t num;
		uint64_t size;
		struct msg *m;

		ret = pop3_read_line(s->pop, &line, &len, &end, err);
		if (ret != PF_OK || end)
			break;
		ret = pop3_parse_list_line(line, len, 1, s->count, &num, &size,
					   err);
		if (ret != PF_OK)
			break;
		ret = mark_once(numseen, num, "LIST", line, len, err);
		if (ret != PF_OK)
			break;
		m = want_find(s, num);
		if (m != NULL && m->id != 0 &&
		    plan_new(&s->policy, size) == PLAN_SKIP_BIG)
			skip_big(s, m, size, err);
	}
	free(numseen);
	if (ret == PF_OK) {
		size_t i, kept = 0;

		for (i = 0; i < s->nwant; i++)
			if (s->want[i].id != 0)
				s->want[kept++] = s->want[i];
		s->nwant = kept;
	}
	return ret;
}

/* ---- the command pipeline ---- */

/* True if another command may go out now: with PIPELINING always (the
 * callers bound the window), without it only when no reply is due. */
static bool may_send(const struct session *s)
{
	return s->npending < RUNNER_PENDING_MAX &&
	       (s->pipelining || s->npending == 0);
}

static enum pf_status queue_cmd(struct session *s, int kind, uint32_t arg,
				uint32_t num, struct error *err)
{
	enum pf_status ret;

	ret = pop3_queue(s->pop, err, "%s %u", kind == P_RETR ? "RETR" : "DELE",
			 num);
	if (ret != PF_OK)
		return ret;
	s->pending[(s->pend_head + s->npending) % RUNNER_PENDING_MAX] =
		(struct pending){ .kind = kind, .arg = arg };
	s->npending++;
	if (kind == P_RETR)
		s->nretr_pending++;
	return PF_OK;
}

/* Queues DELE for a message whose delivery is durable: the journal is
 * synced first, so that no crash can forget a message the server has
 * been told to delete. */
static enum pf_status queue_dele(struct session *s, uint32_t num,
				 struct error *err)
{
	enum pf_status ret = state_sync(s->st, err);

	return ret == PF_OK ? queue_cmd(s, P_DELE, num, num, err) : ret;
}

/* Reads the reply to a DELE.  A refused DELE concerns that message only. */
static enum pf_status dele_reply(struct session *s, uint32_t num,
				 struct error *err)
{
	enum pop3_resp_code code;
	enum pf_status ret;
	bool ok;

	ret = pop3_read_status(s->pop, &ok, &code, err);
	if (ret != PF_OK)
		return ret;
	crash_point("after-dele");
	if (ok) {
		s->res->deleted++;
		return PF_OK;
	}
	log_error(s->acct->name, "message %u not deleted (server said: %s)",
		  num, err->reply);
	if (s->nmsg_failed++ == 0)
		s->msg_failure = pop3_resp_code_status(code, PF_PROTOCOL);
	return PF_OK;
}

static enum pf_status retr_reply(struct session *s, size_t index,
				 struct error *err);

/* Sends what is queued and handles the oldest reply due. */
static enum pf_status next_reply(struct session *s, struct error *err)
{
	struct pending p = s->pending[s->pend_head];
	enum pf_status ret = pop3_flush(s->pop, err);

	if (ret != PF_OK)
		return ret;
	s->pend_head = (s->pend_head + 1) % RUNNER_PENDING_MAX;
	s->npending--;
	if (p.kind == P_DELE)
		return dele_reply(s, p.arg, err);
	s->nretr_pending--;
	return retr_reply(s, p.arg, err);
}

/* DELE for each of nums, pipelined in windows when the server allows. */
static enum pf_status delete_all(struct session *s, const uint32_t *nums,
				 size_t n, struct error *err)
{
	enum pf_status ret = PF_OK;
	size_t next = 0;

	while (ret == PF_OK && (next < n || s->npending > 0)) {
		while (ret == PF_OK && next < n && may_send(s) &&
		       s->npending < RUNNER_WINDOW)
			ret = queue_dele(s, nums[next++], err);
		if (ret == PF_OK)
			ret = next_reply(s, err);
	}
	return ret;
}

static enum pf_status phase_listing(struct session *s, struct error *err)
{
	enum pf_status ret = read_stat(s, err);

	s->pipelining = (s->capa & POP3_CAPA_PIPELINING) != 0;
	if (ret == PF_OK && s->count > 0)
		ret = read_uidl(s, err);
	if (ret == PF_OK && s->nwant > 0)
		ret = read_list(s, err);
	if (ret == PF_OK) {
		s->res->total = s->count;
		s->res->skipped = s->count - (uint32_t)s->nwant;
	}
	return ret;
}

/* Deletes messages delivered in earlier sessions: those whose session
 * ended before QUIT (deletion pending) and, with keep_days, old ones.
 * Their delivery is already durable in the state. */
static enum pf_status phase_delete_pending(struct session *s,
					   struct error *err)
{
	return delete_all(s, s->dele, s->ndele, err);
}

/* ---- fetching ---- */

static enum pf_status write_received(struct session *s, const char *uid,
				     struct error *err)
{
	char date[64], *line;
	time_t now = time(NULL);
	struct tm tm;
	enum pf_status ret;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	line = xasprintf("Received: from %s by %s with POP3 (popfetch %s)\n"
			 "\tid %s for <%s>; %s\n", s->acct->host,
			 util_hostname(), POPFETCH_VERSION, uid,
			 s->acct->user, date);
	ret = s->dlv->ops->write(s->dlv, line, strlen(line), err);
	free(line);
	return ret;
}

/* Streams the current RETR body, after our Received: line, into the open
 * delivery.  The body is always read to its end, even after the delivery
 * failed (the rest is discarded), so that the session stays in step; a
 * delivery failure is returned after that. */
static enum pf_status stream_body(struct session *s, const char *uid,
				  uint64_t *bytes_r, struct error *err)
{
	struct error derr;
	enum pf_status dret = PF_OK, ret;
	bool end = false, mid = false;

	error_clear(&derr);
	*bytes_r = 0;
	s->body_read = false;
	if (s->acct->received_header)
		dret = write_received(s, uid, &derr);
	pop3_body_begin(s->pop);
	while (!end) {
		const char *data;
		size_t len;

		ret = pop3_read_body(s->pop, &data, &len, &end, err);
		if (ret != PF_OK)
			return ret;
		/* Once per message, with part of it written already. */
		if (!mid && *bytes_r > 0) {
			mid = true;
			crash_point("mid-body");
		}
		*bytes_r += len;
		if (dret == PF_OK && len > 0)
			dret = s->dlv->ops->write(s->dlv, data, len, &derr);
	}
	s->body_read = true;
	if (dret != PF_OK)
		*err = derr;
	return dret;
}

/* The token journaled ahead for want[index], or NULL. */
static const char *want_token(const struct session *s, size_t index)
{
	if (s->tokens == NULL || index >= s->reserved)
		return NULL;
	return s->tokens[index % RUNNER_TOKENS];
}

/* Records want[index] as delivered, its delivery being durable; in
 * per-message order queues its DELE. */
static enum pf_status record_message(struct session *s, size_t index,
				     uint64_t bytes, struct error *err)
{
	const struct msg *m = &s->want[index];
	char uid[POP3_MAX_UID + 1];
	enum pf_status ret;

	util_strlcpy(uid, want_uid(s, m), sizeof(uid));
	ret = state_delivered(s->st, uid, time(NULL), err);
	if (ret != PF_OK)
		return ret;
	crash_point("after-delivered");
	s->res->fetched++;
	s->res->bytes += bytes;
	log_verbose(s->acct->name, "fetched message %zu of %zu (UID %s, %llu bytes)",
		    index + 1, s->nwant, uid, (unsigned long long)bytes);
	/* Foxmail order: this DELE goes out with the next RETR, after this
	 * message is durable and recorded. */
	if (s->policy.del == DELETE_PER_MESSAGE)
		return queue_dele(s, m->num, err);
	if (s->policy.del == DELETE_BATCH)
		num_add(&s->fetched, &s->nfetched, &s->nfetched_cap, m->num);
	return PF_OK;
}

/* Makes the messages stored since the last call durable in the mailbox
 * with one sync, then records them.  Order is important: a record written
 * before the sync could outlive, in a power cut, the message it records.
 * A message left unrecorded by a failure here keeps its intent, and the
 * next run finds it in the mailbox. */
static enum pf_status record_stored(struct session *s, struct error *err)
{
	enum pf_status ret;
	size_t i;

	if (s->nstored == 0)
		return PF_OK;
	ret = s->dlv->ops->sync(s->dlv, err);
	for (i = 0; ret == PF_OK && i < s->nstored; i++)
		ret = record_message(s, s->stored[i].index, s->stored[i].bytes,
				     err);
	s->nstored = 0;
	return ret;
}

/* Journals the intents of the next RUNNER_BATCH messages, from
 * want[s->reserved], with one fsync that also covers the records of the
 * messages stored before (record_stored() first). */
static enum pf_status reserve_batch(struct session *s, struct error *err)
{
	size_t end = s->reserved + RUNNER_BATCH;
	enum pf_status ret = record_stored(s, err);

	if (end > s->nwant)
		end = s->nwant;
	while (ret == PF_OK && s->reserved < end) {
		char *token = s->tokens[s->reserved % RUNNER_TOKENS];

		ret = s->dlv->ops->reserve(s->dlv, token, err);
		if (ret == PF_OK)
			ret = state_intent_batch(s->st,
						 want_uid(s, &s->want[s->reserved]),
						 token, err);
		if (ret == PF_OK)
			s->reserved++;
	}
	/* Order is important: these intents are durable before any of
	 * their messages can appear in the mailbox. */
	if (ret == PF_OK)
		ret = state_sync(s->st, err);
	if (ret == PF_OK)
		crash_point("after-reserve");
	return ret;
}

/* Settles the intents journaled ahead for messages whose RETR reply never
 * came (the session failed): nothing was created for them. */
static void release_reserved(struct session *s)
{
	struct error ignored;

	for (; s->reserved > s->handled; s->reserved--) {
		char uid[POP3_MAX_UID + 1];

		util_strlcpy(uid, want_uid(s, &s->want[s->reserved - 1]),
			     sizeof(uid));
		(void)state_resolve(s->st, uid, false, &ignored);
	}
}

/* Handles the reply to RETR of want[index]: delivers the message, and
 * records it at once or with its batch (record_stored()). */
static enum pf_status retr_reply(struct session *s, size_t index,
				 struct error *err)
{
	const struct msg *m = &s->want[index];
	const char *reserved = want_token(s, index);
	char uid[POP3_MAX_UID + 1], token[DELIVER_TOKEN_MAX];
	enum pop3_resp_code code;
	enum pf_status ret;
	uint64_t bytes;
	bool ok;

	util_strlcpy(uid, want_uid(s, m), sizeof(uid));
	ret = pop3_read_status(s->pop, &ok, &code, err);
	if (ret != PF_OK)
		return ret;
	/* From here on this message's intent is settled here, or left for
	 * the next run's recovery when its file may exist. */
	s->handled = index + 1;
	if (!ok) {
		/* One message the server cannot give us (deleted by another
		 * client, damaged) does not stop the others. */
		log_error(s->acct->name,
			  "message %u (UID %s) not retrieved, left on the server "
			  "(server said: %s)", m->num, uid, err->reply);
		if (s->nmsg_failed++ == 0)
			s->msg_failure = pop3_resp_code_status(code, PF_PROTOCOL);
		return reserved != NULL ? state_resolve(s->st, uid, false, err)
					: PF_OK;
	}
	crash_point("after-retr-status");
	if (reserved != NULL) {
		ret = s->dlv->ops->begin_reserved(s->dlv, reserved, err);
	} else {
		ret = s->dlv->ops->begin(s->dlv, token, err);
		if (ret == PF_OK)
			ret = state_intent(s->st, uid, token, err);
	}
	if (ret == PF_OK) {
		crash_point("after-intent");
		ret = stream_body(s, uid, &bytes, err);
	} else {
		/* The body must still be read past, or the next reply would be
		 * taken from the middle of this message. */
		struct error ignored;

		/* (Writes to the aborted delivery fail harmlessly.) */
		s->dlv->ops->abort(s->dlv);
		(void)stream_body(s, uid, &bytes, &ignored);
		return ret;
	}
	if (ret == PF_OK)
		ret = s->dlv->ops->commit(s->dlv, err);
	if (ret != PF_OK) {
		s->dlv->ops->abort(s->dlv);
		/* Go on only if the failure was the delivery's and the
		 * whole body was read, so the session is still in step. */
		if (!s->dlv->per_message_verdict || !s->body_read)
			return ret;
		/* The delivery refused this message only: it stays on the
		 * server, unrecorded, and is tried again next run. */
		char line[ERROR_TEXT_MAX + ERROR_REPLY_MAX + 32];

		error_format(err, line, sizeof(line));
		log_error(s->acct->name, "message %u (UID %s) not delivered: %s",
			  m->num, uid, line);
		if (s->nmsg_failed++ == 0)
			s->msg_failure = ret;
		return state_resolve(s->st, uid, false, err);
	}
	crash_point("after-commit");
	if (s->dlv->ops->sync == NULL)
		return record_message(s, index, bytes, err);
	/* Per-message order: its DELE must not wait for the batch. */
	if (s->policy.del == DELETE_PER_MESSAGE) {
		ret = s->dlv->ops->sync(s->dlv, err);
		return ret == PF_OK ? record_message(s, index, bytes, err) : ret;
	}
	s->stored[s->nstored++] = (struct stored){ .index = (uint32_t)index,
						   .bytes = bytes };
	return s->nstored == RUNNER_BATCH ? record_stored(s, err) : PF_OK;
}

/* RETR every new message: up to RUNNER_WINDOW in flight with PIPELINING
 * (one in per-message order, whose DELE then travels with the next RETR),
 * lock-step without it.  Replies are handled strictly in order, so an -ERR
 * in the middle of a window concerns exactly its own message.
 *
 * When the delivery can name messages ahead (Maildir), the intents of the
 * next RUNNER_BATCH messages are journaled with one fsync before the first
 * of their RETRs goes out, instead of one fsync each; and, but in
 * per-message order, stored messages are recorded in batches after one
 * sync of the mailbox.  So a message costs one fsync (its file) and a
 * batch two more, whether or not the server pipelines. */
static enum pf_status phase_fetch(struct session *s, struct error *err)
{
	size_t window = s->policy.del == DELETE_PER_MESSAGE || !s->pipelining
			? 1 : RUNNER_WINDOW;
	bool ahead = s->dlv->ops->reserve != NULL;
	enum pf_status ret = PF_OK, fret;
	struct error ferr;
	size_t next = 0;

	error_clear(&ferr);

	if (ahead && s->nwant > 0 && s->tokens == NULL)
		s->tokens = xmalloc(RUNNER_TOKENS * sizeof(*s->tokens));
	while (ret == PF_OK && (next < s->nwant || s->npending > 0)) {
		while (ret == PF_OK && next < s->nwant && may_send(s) &&
		       s->nretr_pending < window) {
			if (ahead && next == s->reserved)
				ret = reserve_batch(s, err);
			if (ret == PF_OK)
				ret = queue_cmd(s, P_RETR, (uint32_t)next,
						s->want[next].num, err);
			next++;
		}
		if (ret == PF_OK)
			ret = next_reply(s, err);
	}
	/* What was stored is recorded, even when the session failed. */
	fret = record_stored(s, &ferr);
	if (ret == PF_OK && fret != PF_OK) {
		*err = ferr;
		ret = fret;
	}
	release_reserved(s);
	return ret;
}

/* The Outlook order: every new message retrieved first, then all DELEs. */
static enum pf_status phase_delete_batch(struct session *s,
					 struct error *err)
{
	if (s->policy.del != DELETE_BATCH)
		return PF_OK;
	return delete_all(s, s->fetched, s->nfetched, err);
}

static enum pf_status phase_quit(struct session *s, struct error *err)
{
	enum pf_status ret;

	crash_point("before-quit");
	ret = pop3_cmd(s->pop, err, "QUIT");

	if (ret == PF_OK)
		ret = pop3_expect_ok(s->pop, PF_PROTOCOL, "QUIT failed", err);
	return ret;
}

static void session_free(struct session *s)
{
	pop3_free(&s->pop);
	deliver_free(&s->dlv);
	state_close(&s->st);
	free(s->want);
	free(s->tokens);
	free(s->dele);
	free(s->fetched);
}

enum pf_status runner_run_account(const struct account *acct,
				  const struct run_options *opts,
				  struct run_result *res, struct error *err)
{
	struct session s = { .acct = acct, .res = res, .body_read = true };
	enum pf_status ret, save;

	memset(res, 0, sizeof(*res));
	error_clear(err);
	plan_policy_init(&s.policy, acct, opts->keep, time(NULL));
	ret = phase_lock(&s, err);
	if (ret == PF_OK)
		ret = phase_recover(&s, err);
	if (ret == PF_OK)
		ret = phase_connect(&s, err);
	if (ret == PF_OK)
		ret = phase_greeting(&s, err);
	if (ret == PF_OK)
		ret = phase_capa(&s, err);
	if (ret == PF_OK)
		ret = phase_stls(&s, err);
	if (ret == PF_OK)
		ret = phase_auth(&s, err);
	if (ret == PF_OK)
		ret = phase_listing(&s, err);
	if (ret == PF_OK)
		ret = phase_delete_pending(&s, err);
	if (ret == PF_OK)
		ret = phase_fetch(&s, err);
	if (ret == PF_OK)
		ret = phase_delete_batch(&s, err);
	/* Whatever happened, what was delivered is recorded for good. */
	if (s.st != NULL) {
		struct error serr;

		save = state_save(s.st, &serr);
		if (save != PF_OK && ret == PF_OK) {
			*err = serr;
			ret = save;
		}
	}
	if (ret == PF_OK) {
		ret = phase_quit(&s, err);
	} else if ((ret == PF_IOERR || ret == PF_CANTCREAT) && s.pop != NULL &&
		   s.body_read && s.npending == 0) {
		/* A local failure (disk full) with no reply outstanding leaves
		 * the session in step: end it properly so that deletions
		 * already made take effect. */
		struct error qerr;

		(void)phase_quit(&s, &qerr);
	}
	if (ret == PF_OK && s.nmsg_failed > 0)
		ret = error_set(err, s.msg_failure,
				"%u message%s not retrieved, delivered or deleted "
				"(see above); they stay on the server for the next run",
				s.nmsg_failed, s.nmsg_failed == 1 ? "" : "s");
	if (ret == PF_OK || res->fetched > 0 || res->total > 0)
		log_verbose(acct->name,
			    "fetched %u, skipped %u, deleted %u of %u messages, "
			    "%llu bytes", res->fetched, res->skipped,
			    res->deleted, res->total,
			    (unsigned long long)res->bytes);
	session_free(&s);
	return ret;
}
