/*
 * runner.c - one account, one function per phase:
 *   lock -> recover -> connect -> greeting -> CAPA -> [STLS -> CAPA] ->
 *   auth -> listing + plan -> pending deletes -> fetch loop (per-message
 *   DELE) -> batch DELE -> state save -> QUIT.
 *
 * Where a byte of a message goes: pop3_read_body() (dot-unstuffed, LF
 * endings) -> deliver write -> commit (fsync, rename; a Maildir does them
 * in worker threads while this one reads on) -> sync (waits for them,
 * fsyncs the directory);
 * the UID is journaled before the message can appear and recorded after it
 * did.  For a Maildir, intents are journaled for a batch of coming messages
 * with one fsync, and stored messages recorded as a batch after one sync
 * of new/ (see phase_fetch()).
 */
#include "runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "crash.h"
#include "deliver.h"
#include "log.h"
#include "login.h"
#include "plan.h"
#include "pop3.h"
#include "report.h"
#include "sasl.h"
#include "secret.h"
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
	/* --check or --dry-run: look, change nothing (state read-only, no
	 * delivery opened, no RETR, no DELE). */
	bool look_only;
	bool dry_run;
	uint8_t *dry_act;	/* --dry-run: enum plan_action by number */
	uint64_t *dry_size;	/* by number, from LIST */
	char **dry_uid;		/* by number */
	uint64_t new_bytes;	/* LIST size of the messages to fetch */
	struct run_result *res;
	struct state *st;
	struct deliver *dlv;
	struct pop3 *pop;
	unsigned capa;
	bool capa_answered;	/* CAPA got "+OK" */
	unsigned sasl_offered;	/* SASL_BIT()s of CAPA SASL */
	char *greeting;		/* for APOP */
	size_t greeting_len;
	char *secret;		/* password or token; wiped after login */
	char *capa_text;	/* --serverinfo: the CAPA lines, "; "-joined */
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

	if (s->look_only)
		return state_open_readonly(a->state_dir, a->name, &s->st, err);
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
 * is fetched: a message that reached the mailbox counts as delivered.
 * All are looked up first, with one call when the delivery can (a Maildir
 * reads cur/ once for all of them), then resolved. */
static enum pf_status phase_recover(struct session *s, struct error *err)
{
	size_t n, i;
	const struct state_pending *p = state_pending(s->st, &n);
	char **uids, **tokens;
	bool *arrived;
	enum pf_status ret = PF_OK;

	if (p == NULL || n == 0)
		return PF_OK;
	uids = xcalloc(n, sizeof(*uids));
	tokens = xcalloc(n, sizeof(*tokens));
	arrived = xcalloc(n, sizeof(*arrived));
	/* Copies: p is valid only until the state changes. */
	for (i = 0; i < n; i++) {
		uids[i] = xstrdup(p[i].uid);
		tokens[i] = xstrdup(p[i].token);
	}
	if (s->dlv->ops->recover_all != NULL)
		ret = s->dlv->ops->recover_all(s->dlv,
					       (const char *const *)tokens, n,
					       arrived, err);
	else
		for (i = 0; ret == PF_OK && i < n; i++)
			ret = s->dlv->ops->recover(s->dlv, tokens[i],
						   &arrived[i], err);
	for (i = 0; i < n; i++) {
		if (ret == PF_OK) {
			log_verbose(s->acct->name,
				    "interrupted delivery of UID %s: %s", uids[i],
				    arrived[i] ? "it arrived"
					       : "it will be fetched again");
			ret = state_resolve(s->st, uids[i], arrived[i], err);
		}
		free(uids[i]);
		free(tokens[i]);
	}
	free(uids);
	free(tokens);
	free(arrived);
	return ret;
}

/* ---- session setup ---- */

/* The secret comes before the connection: a password_command that fails
 * must not leave a half-opened session (or a failed login) behind. */
static enum pf_status phase_secret(struct session *s, struct error *err)
{
	return secret_get(s->acct, &s->secret, err);
}

static struct tls_params tls_params_of(const struct account *a,
				       bool inspect_only)
{
	struct tls_params tp = {
		.host = a->host,
		.ca_file = a->ca_file,
		.fingerprint = a->tls_fingerprint,
		.pubkey = a->tls_pubkey,
		.cert_file = a->tls_cert_file,
		.key_file = a->tls_key_file,
		.min_version = a->tls_min_version,
		.verify = a->tls_verify,
		.inspect_only = inspect_only,
	};

	return tp;
}

static enum pf_status start_tls(struct session *s, bool inspect_only,
				struct error *err)
{
	struct tls_params tp = tls_params_of(s->acct, inspect_only);

	if (!s->acct->tls_verify && !inspect_only)
		log_warn(s->acct->name, "tls_verify = no: the server's "
			 "certificate is not checked, so anyone on the path "
			 "can read and change this session%s",
			 s->acct->tls_fingerprint != NULL ||
			 s->acct->tls_pubkey != NULL ? " (the pin still is)" : "");
	return transport_start_tls(pop3_transport(s->pop), &tp, err);
}

static enum pf_status connect_inspect(struct session *s, bool inspect_only,
				      struct error *err)
{
	const struct account *a = s->acct;
	struct transport *t;
	enum pf_status ret;

	ret = transport_connect(a->host, a->port, a->timeout, &t, err);
	if (ret != PF_OK)
		return ret;
	s->pop = pop3_new(t, a->name);
	if (a->tls == TLS_IMPLICIT)
		ret = start_tls(s, inspect_only, err);
	return ret;
}

static enum pf_status phase_connect(struct session *s, struct error *err)
{
	return connect_inspect(s, false, err);
}

static enum pf_status phase_greeting(struct session *s, struct error *err)
{
	const char *line;
	enum pf_status ret;

	ret = pop3_expect_ok(s->pop, PF_UNAVAILABLE,
			     "server refused the session", err);
	if (ret != PF_OK)
		return ret;
	/* Kept for APOP, whose digest covers the greeting's timestamp. */
	line = pop3_last_line(s->pop, &s->greeting_len);
	s->greeting = xstrndup(line, s->greeting_len);
	return PF_OK;
}

static void capa_text_add(struct session *s, const char *line, size_t len)
{
	char clean[POP3_MAX_LINE];
	char *joined;

	util_sanitize(clean, sizeof(clean), line, len);
	joined = xasprintf("%s%s%s", s->capa_text,
			   s->capa_text[0] != '\0' ? "; " : "", clean);
	free(s->capa_text);
	s->capa_text = joined;
}

/* CAPA is optional (RFC 2449): a -ERR just means no capabilities. */
static enum pf_status phase_capa(struct session *s, struct error *err)
{
	enum pop3_resp_code code;
	enum pf_status ret;
	unsigned lines = 0;
	bool ok, end = false;

	s->capa = 0;
	s->sasl_offered = 0;
	s->capa_answered = false;
	ret = pop3_cmd(s->pop, err, "CAPA");
	if (ret == PF_OK)
		ret = pop3_read_status(s->pop, &ok, &code, err);
	if (ret != PF_OK || !ok)
		return ret;
	s->capa_answered = true;
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
		if (s->capa_text != NULL)
			capa_text_add(s, line, len);
		if (len > 5 && strncasecmp(line, "SASL ", 5) == 0)
			s->sasl_offered |= sasl_parse_capa(line + 5, len - 5);
	}
	return ret;
}

static enum pf_status stls_inspect(struct session *s, bool inspect_only,
				   struct error *err)
{
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
	ret = start_tls(s, inspect_only, err);
	if (ret != PF_OK)
		return ret;
	/* RFC 2595 section 4: capabilities may change under TLS. */
	return phase_capa(s, err);
}

static enum pf_status phase_stls(struct session *s, struct error *err)
{
	return stls_inspect(s, false, err);
}

static enum pf_status phase_auth(struct session *s, struct error *err)
{
	struct login_params lp = {
		.acct = s->acct,
		.secret = s->secret,
		.greeting = s->greeting,
		.greeting_len = s->greeting_len,
		.capa = s->capa,
		.capa_answered = s->capa_answered,
		.sasl_offered = s->sasl_offered,
	};
	enum pf_status ret = login_run(s->pop, &lp, err);

	/* Needed no longer: do not keep it through the whole download. */
	secret_free(&s->secret);
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

/* --dry-run: what will be shown for message num. */
static void dry_note(struct session *s, uint32_t num, const char *uid,
		     enum plan_action act)
{
	if (!s->dry_run)
		return;
	if (s->dry_act == NULL) {
		s->dry_act = xcalloc((size_t)s->count + 1, sizeof(*s->dry_act));
		s->dry_size = xcalloc((size_t)s->count + 1,
				      sizeof(*s->dry_size));
		s->dry_uid = xcalloc((size_t)s->count + 1, sizeof(*s->dry_uid));
	}
	s->dry_act[num] = (uint8_t)(act + 1);	/* 0: not listed */
	free(s->dry_uid[num]);
	s->dry_uid[num] = xstrdup(uid);
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
			dry_note(s, num, uid, PLAN_FETCH);
			break;
		case STATE_DELIVERED:
			if (plan_known(&s->policy, first_seen) == PLAN_DELETE) {
				num_add(&s->dele, &s->ndele, &s->dele_cap, num);
				dry_note(s, num, uid, PLAN_DELETE);
			} else {
				dry_note(s, num, uid, PLAN_KEEP);
			}
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

	m->id = 0;
	if (s->dry_act != NULL)
		s->dry_act[m->num] = PLAN_SKIP_BIG + 1;
	if (s->look_only)
		return;		/* noting it would write the state */
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
		if (s->dry_size != NULL)
			s->dry_size[num] = size;
		m = want_find(s, num);
		if (m == NULL || m->id == 0)
			continue;
		if (plan_new(&s->policy, size) == PLAN_SKIP_BIG)
			skip_big(s, m, size, err);
		else
			s->new_bytes += size;
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
	if (ret == PF_OK && (s->nwant > 0 || s->dry_act != NULL))
		ret = read_list(s, err);
	if (ret == PF_OK) {
		s->res->total = s->count;
		s->res->skipped = s->count - (uint32_t)s->nwant;
		s->res->new_msgs = (unsigned)s->nwant;
		s->res->new_bytes = s->new_bytes;
		if (!s->look_only)
			report_progress(s->acct->name, 0, (uint32_t)s->nwant, 0,
					s->new_bytes);
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
	report_progress(s->acct->name, s->res->fetched + s->nmsg_failed,
			(uint32_t)s->nwant, s->res->bytes, s->new_bytes);
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

/* Ends a state_gather(): writes the gathered lines, also after a failure
 * (ret), whose error then stays the one returned. */
static enum pf_status end_gather(struct session *s, enum pf_status ret,
				 struct error *err)
{
	struct error ignored;
	enum pf_status fret = state_flush(s->st, ret == PF_OK ? err : &ignored);

	return ret == PF_OK ? fret : ret;
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
	/* One write for the batch's records: the intents and the synced
	 * files prove these deliveries even if the records were lost. */
	state_gather(s->st);
	for (i = 0; ret == PF_OK && i < s->nstored; i++)
		ret = record_message(s, s->stored[i].index, s->stored[i].bytes,
				     err);
	s->nstored = 0;
	return end_gather(s, ret, err);
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
	/* One write for the batch's intents; state_sync() writes them. */
	if (ret == PF_OK)
		state_gather(s->st);
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
	ret = end_gather(s, ret, err);
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

/*
 * --check and --dry-run, after the listing: say what is waiting or what a
 * run would do, then QUIT (no DELE was sent, so nothing changes on the
 * server).
 */
static enum pf_status phase_look(struct session *s, struct error *err)
{
	static const char *const what[] = {
		[PLAN_FETCH] = "fetch", [PLAN_SKIP_BIG] = "skip (too big)",
		[PLAN_KEEP] = "skip (seen)", [PLAN_DELETE] = "delete",
	};
	const char *name = s->acct->name;
	uint32_t num;

	if (!s->dry_run) {
		printf("%s: %u new message%s, %llu bytes\n", name,
		       s->res->new_msgs, s->res->new_msgs == 1 ? "" : "s",
		       (unsigned long long)s->new_bytes);
	}
	for (num = 1; s->dry_act != NULL && num <= s->count; num++) {
		int act = s->dry_act[num] - 1;

		if (act < 0)
			continue;
		/* A message stored earlier and deleted now is also skipped
		 * (not fetched again). */
		printf("%s: %s %s (%llu bytes)\n", name,
		       what[act == PLAN_DELETE ? PLAN_KEEP : act],
		       s->dry_uid[num], (unsigned long long)s->dry_size[num]);
		/* A message fetched now is deleted right after in these
		 * orders (per message, or in the batch at the end). */
		if (act == PLAN_DELETE ||
		    (act == PLAN_FETCH && s->policy.del != DELETE_NO))
			printf("%s: %s %s (%llu bytes)\n", name, what[PLAN_DELETE],
			       s->dry_uid[num],
			       (unsigned long long)s->dry_size[num]);
	}
	if (s->dry_run)
		printf("%s: dry run: %u to fetch (%llu bytes), %u to delete, "
		       "nothing changed\n", name, s->res->new_msgs,
		       (unsigned long long)s->new_bytes,
		       (unsigned)s->ndele + (s->policy.del != DELETE_NO
					     ? s->res->new_msgs : 0));
	fflush(stdout);
	return phase_quit(s, err);
}

static void session_free(struct session *s)
{
	uint32_t num;

	for (num = 0; s->dry_uid != NULL && num <= s->count; num++)
		free(s->dry_uid[num]);
	free(s->dry_uid);
	free(s->dry_act);
	free(s->dry_size);
	pop3_free(&s->pop);
	deliver_free(&s->dlv);
	state_close(&s->st);
	free(s->want);
	free(s->tokens);
	free(s->dele);
	free(s->fetched);
	free(s->greeting);
	free(s->capa_text);
	secret_free(&s->secret);
}

static void print_tls(struct session *s)
{
	struct tls_peer_info info;
	struct error ierr;

	if (transport_peer_info(pop3_transport(s->pop), &info, &ierr) != PF_OK) {
		printf("tls:            none\n");
		return;
	}
	printf("tls:            %s %s\n", info.version, info.cipher);
	printf("subject:        %s\n", info.subject);
	printf("issuer:         %s\n", info.issuer);
	printf("valid:          %s to %s\n", info.not_before, info.not_after);
	printf("names:          %s\n", info.subject_alt_names);
	printf("verification:   %s\n", info.verify_result);
	printf("# to pin this certificate, or its key (survives renewals):\n");
	printf("tls_fingerprint = %s\n", info.fingerprint);
	printf("tls_pubkey = %s\n", info.pubkey);
}

enum pf_status runner_serverinfo(const struct account *acct,
				 struct error *err)
{
	struct session s = { .acct = acct };
	static const char *const mode[] = {
		[TLS_IMPLICIT] = "implicit TLS", [TLS_STARTTLS] = "STLS",
		[TLS_NONE] = "no TLS",
	};
	char clean[POP3_MAX_LINE];
	enum pf_status ret;

	error_clear(err);
	s.capa_text = xstrdup("");
	ret = connect_inspect(&s, true, err);
	if (ret == PF_OK)
		ret = phase_greeting(&s, err);
	if (ret != PF_OK)
		goto out;
	util_sanitize(clean, sizeof(clean), s.greeting, s.greeting_len);
	printf("account:        %s (%s:%s, %s)\n", acct->name, acct->host,
	       acct->port, mode[acct->tls]);
	printf("greeting:       %s\n", clean);
	ret = phase_capa(&s, err);
	if (ret == PF_OK && acct->tls == TLS_STARTTLS) {
		printf("capabilities:   %s\n", s.capa_text);
		s.capa_text[0] = '\0';
		ret = stls_inspect(&s, true, err);
	}
	if (ret != PF_OK)
		goto out;
	printf("capabilities%s %s\n", acct->tls == TLS_STARTTLS
	       ? " after STLS:" : ":  ", s.capa_text[0] != '\0'
	       ? s.capa_text : "(CAPA not answered)");
	print_tls(&s);
	ret = pop3_cmd(s.pop, err, "QUIT");
	if (ret == PF_OK)
		ret = pop3_expect_ok(s.pop, PF_PROTOCOL, "server refused QUIT",
				     err);
out:
	fflush(stdout);
	session_free(&s);
	return ret;
}

enum pf_status runner_run_account(const struct account *acct,
				  const struct run_options *opts,
				  struct run_result *res, struct error *err)
{
	struct session s = { .acct = acct, .res = res, .body_read = true,
			     .look_only = opts->check || opts->dry_run,
			     .dry_run = opts->dry_run };
	enum pf_status ret, save;

	memset(res, 0, sizeof(*res));
	error_clear(err);
	plan_policy_init(&s.policy, acct, opts->keep, time(NULL));
	ret = phase_lock(&s, err);
	/* Settling an interrupted delivery writes the state: not when only
	 * looking (such a message counts as new then). */
	if (ret == PF_OK && !s.look_only)
		ret = phase_recover(&s, err);
	if (ret == PF_OK)
		ret = phase_secret(&s, err);
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
	if (s.look_only) {
		if (ret == PF_OK)
			ret = phase_look(&s, err);
		session_free(&s);
		return ret;
	}
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
	/* The summary line is report.c's (report_account_end()). */
	session_free(&s);
	return ret;
}
