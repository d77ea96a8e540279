/*
 * sasl.h - client side of the POP3 login mechanisms: USER/PASS, APOP
 * (RFC 1939) and the SASL mechanisms of AUTH (RFC 5034, RFC 4422): PLAIN
 * (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195), SCRAM-SHA-1 and SCRAM-SHA-256
 * (RFC 5802, RFC 7677), XOAUTH2 (Google/Microsoft) and OAUTHBEARER
 * (RFC 7628).
 *
 * Pure: no I/O.  The runner sends "AUTH MECH [initial]" and each response,
 * and feeds each "+ challenge" to sasl_step().  Challenges and responses
 * cross this interface base64-encoded, exactly as on the wire (without the
 * "+ " and without CRLF).  Every buffer that held the secret or something
 * derived from it (salted password, keys, proofs, payloads) is wiped
 * before it is freed.
 */
#ifndef POPFETCH_SASL_H
#define POPFETCH_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* In order of strength for auth = auto (strongest last). */
enum sasl_mech {
	SASL_AUTO = 0,		/* config only: pick with sasl_choose() */
	SASL_USER,		/* USER/PASS (RFC 1939) */
	SASL_LOGIN,
	SASL_PLAIN,
	SASL_APOP,		/* APOP (RFC 1939), needs the greeting's <...@...> */
	SASL_CRAM_MD5,
	SASL_SCRAM_SHA_1,
	SASL_SCRAM_SHA_256,
	SASL_XOAUTH2,		/* never chosen by auto: the secret is a token */
	SASL_OAUTHBEARER,	/* never chosen by auto */
	SASL_MECH_COUNT
};

#define SASL_BIT(m) (1u << (m))

/* The config name ("scram-sha-256") of m, and its wire name for AUTH
 * ("SCRAM-SHA-256"; "USER" and "APOP" for the two that are not SASL).
 * Static strings; "auto"/"AUTO" for SASL_AUTO, "?" out of range. */
const char *sasl_config_name(enum sasl_mech m);
const char *sasl_wire_name(enum sasl_mech m);

/* Parses a config name (case-insensitive).  0, or -1 if unknown. */
int sasl_parse_config_name(const char *name, enum sasl_mech *m_r);

/* Bits (SASL_BIT) of the mechanisms named in the argument of a CAPA
 * "SASL" line ("PLAIN LOGIN SCRAM-SHA-256 ..."; case-insensitive; unknown
 * names ignored). */
unsigned sasl_parse_capa(const char *list, size_t len);

/* True if m sends the secret itself (or a token) where an eavesdropper
 * could read it: USER, LOGIN, PLAIN, XOAUTH2, OAUTHBEARER.  Those need
 * TLS or allow_plaintext. */
bool sasl_mech_exposes_secret(enum sasl_mech m);

/*
 * auth = auto: the strongest of SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, APOP,
 * PLAIN, LOGIN, USER that is offered (offered: SASL_BIT set of what CAPA
 * SASL listed, plus SASL_APOP if the greeting has a timestamp, plus
 * SASL_USER unless CAPA was answered and lacks USER) and allowed
 * (exposing mechanisms only if plaintext_ok).  Mechanisms in `exclude`
 * (bits) are not considered (used after a refusal).  Returns SASL_AUTO if
 * none qualifies.
 */
enum sasl_mech sasl_choose(unsigned offered, bool plaintext_ok,
			   unsigned exclude);

/* ---- APOP ---- */

/* Finds the APOP timestamp "<...@...>" in a greeting line (no CRLF): the
 * first '<' to the next '>', which must hold exactly one '@', only
 * printable ASCII and no spaces, 3..POP3 line length.  Sets *ts_r and
 * *len_r (pointing into greeting, '<' and '>' included) and returns true;
 * false if there is none or it is malformed. */
bool sasl_apop_timestamp(const char *greeting, size_t len, const char **ts_r,
			 size_t *len_r);

/* The APOP digest: lowercase hex MD5(timestamp || secret), into
 * hex_r[33].  hex_r is "" if MD5 is unavailable (an OpenSSL in FIPS
 * mode): the caller must not send an empty digest. */
void sasl_apop_digest(const char *ts, size_t tslen, const char *secret,
		      char hex_r[33]);

/* ---- SASL exchange ---- */

struct sasl;

struct sasl_params {
	const char *user;	/* authentication identity */
	const char *secret;	/* password, or the OAuth2 access token */
	const char *host;	/* OAUTHBEARER "host=" (may be NULL) */
	const char *port;	/* OAUTHBEARER "port=" (may be NULL) */
};

/*
 * Starts mech m (a SASL mechanism: not USER, APOP or AUTO -> PF_SOFTWARE).
 * Copies what it needs from params.  *initial_r: the base64 initial
 * response to send (for PLAIN, SCRAM-*, XOAUTH2, OAUTHBEARER; "=" would be
 * an empty one), or NULL for mechanisms without one (LOGIN, CRAM-MD5).
 * The caller frees *initial_r with sasl_free_response().  SCRAM refuses
 * (PF_CONFIG) a user name or secret that is not valid UTF-8 or contains
 * NUL; the nonce comes from a cryptographic RNG (PF_SOFTWARE if it
 * fails).  XOAUTH2 and OAUTHBEARER refuse (PF_CONFIG) control characters
 * in the user, token, host or port: ^A separates their fields.
 * RFC 5034 section 4: when "AUTH MECH initial" would be longer than 255
 * octets (tokens are), send "AUTH MECH" alone and answer the server's
 * empty "+ " with *initial_r yourself, without sasl_step().
 */
enum pf_status sasl_new(enum sasl_mech m, const struct sasl_params *params,
			struct sasl **s_r, char **initial_r,
			struct error *err);

/*
 * Answers one "+ " challenge (base64 text as received, possibly empty).
 * *response_r: the base64 response line to send (possibly ""), freed with
 * sasl_free_response().  Errors:
 *   PF_PROTOCOL  challenge not base64, malformed SCRAM server-first
 *                (missing r/s/i, nonce not extending ours, iteration count
 *                0 or over 1,000,000, "m=" extension) or server-final,
 *                an empty CRAM-MD5 challenge, unexpected extra challenge
 *                (any for PLAIN; a LOGIN prompt for what was already
 *                answered)
 *   PF_SOFTWARE  OpenSSL could not compute a hash (MD5 under FIPS)
 *   PF_NOPERM    SCRAM server-final with a wrong signature ("v=") or an
 *                error ("e=...") - the server is not who it claims or
 *                refused us
 * For XOAUTH2 and OAUTHBEARER, a challenge is the server's JSON error: it
 * is kept (see sasl_oauth_error()) and the response is the one that ends
 * the exchange ("" for XOAUTH2, "AQ==" i.e. ^A for OAUTHBEARER); the
 * server then answers -ERR.  A second challenge is PF_PROTOCOL.
 * For SCRAM, the challenge after the client-final is the server-final;
 * the response is "" once its signature checked out.
 * Error texts never hold the secret; the server's words (a sanitized
 * challenge, the "e=" text) go to err->reply.  After an error the caller
 * cancels the exchange ("*" line, RFC 5034) and every later step fails.
 */
enum pf_status sasl_step(struct sasl *s, const char *challenge, size_t len,
			 char **response_r, struct error *err);

/*
 * After the server's "+OK": PF_OK, or PF_NOPERM for SCRAM if the server
 * never proved its signature (a server that knows nothing of our password
 * must not be trusted).
 */
enum pf_status sasl_finish(struct sasl *s, struct error *err);

/* The OAuth2 error the server sent (its JSON, sanitized, at most 200
 * bytes; e.g. {"status":"401","schemes":"bearer"}), or NULL. */
const char *sasl_oauth_error(const struct sasl *s);

/* True once a response carrying the secret or a proof of it was produced
 * (after that, a refusal means the credentials were checked and a weaker
 * mechanism must not be tried). */
bool sasl_secret_sent(const struct sasl *s);

/* Wipes and frees. */
void sasl_free_response(char **response);
void sasl_free(struct sasl **s);

/* ---- base64 (RFC 4648, no line breaks), exposed for tests and pins ---- */

/* New NUL-terminated base64 of len bytes. */
char *sasl_base64_encode(const void *data, size_t len);

/* Decodes strict base64 (padding required, no whitespace) into a new
 * buffer (*out_r, *outlen_r; NUL-terminated for convenience).  -1 on bad
 * input. */
int sasl_base64_decode(const char *text, size_t len, unsigned char **out_r,
		       size_t *outlen_r);

/* ---- for tests only ---- */

/* Makes every later SCRAM sasl_new() use nonce (printable ASCII without
 * ',') instead of a random one, so that tests can replay the RFC 5802 and
 * RFC 7677 examples and fuzzers can reach the later steps; NULL restores
 * the RNG.  Never called by popfetch itself. */
void sasl_test_set_nonce(const char *nonce);

#endif
