/*
 * sasl.c - POP3 login mechanisms, client side; pure (no I/O).
 *
 * This file includes OpenSSL's libcrypto headers (EVP digests, HMAC,
 * PKCS5_PBKDF2_HMAC, RAND_bytes, CRYPTO_memcmp) for hashing only: TLS
 * stays in transport.c.  Only calls that are not deprecated in OpenSSL 3.0
 * are used (the one-shot HMAC() is not; MD5() is, hence EVP_Digest with
 * EVP_md5()).
 */
#include "sasl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "util.h"

/* A POP3 line is at most 1024 bytes with CRLF (pop3.h's POP3_MAX_LINE);
 * the timestamp is part of the greeting line.  Not taken from pop3.h:
 * sasl sits beside pop3, not under it. */
#define SASL_MAX_TIMESTAMP (1024 - 2)
#define SASL_OAUTH_ERROR_MAX 200
#define SASL_SCRAM_MAX_ITER 1000000ull
/* 18 random bytes are 24 base64 characters, no padding: RFC 5802 wants a
 * nonce of printable characters without ',' and base64 has none. */
#define SASL_NONCE_BYTES 18
#define SASL_NONCE_MAX 128

enum scram_state {
	SCRAM_WAIT_FIRST = 0,	/* client-first sent */
	SCRAM_WAIT_FINAL,	/* client-final (the proof) sent */
	SCRAM_VERIFIED,		/* server signature checked */
};

struct sasl {
	enum sasl_mech mech;
	char *user;
	char *secret;		/* wiped on free */
	unsigned nchallenges;	/* challenges answered so far */
	bool failed;		/* a step failed: no further steps */
	bool secret_sent;
	/* LOGIN */
	bool login_user_sent;
	bool login_secret_sent;
	/* OAuth2 */
	bool has_oauth_error;
	char oauth_error[SASL_OAUTH_ERROR_MAX + 1];
	/* SCRAM */
	enum scram_state scram;
	const EVP_MD *md;
	size_t hlen;
	char nonce[SASL_NONCE_MAX + 1];
	char *client_first_bare;
	unsigned char server_sig[EVP_MAX_MD_SIZE];	/* wiped on free */
};

/* ---- names ---- */

static const char *const config_names[SASL_MECH_COUNT] = {
	[SASL_AUTO] = "auto",
	[SASL_USER] = "user",
	[SASL_LOGIN] = "login",
	[SASL_PLAIN] = "plain",
	[SASL_APOP] = "apop",
	[SASL_CRAM_MD5] = "cram-md5",
	[SASL_SCRAM_SHA_1] = "scram-sha-1",
	[SASL_SCRAM_SHA_256] = "scram-sha-256",
	[SASL_XOAUTH2] = "xoauth2",
	[SASL_OAUTHBEARER] = "oauthbearer",
};

static const char *const wire_names[SASL_MECH_COUNT] = {
	[SASL_AUTO] = "AUTO",
	[SASL_USER] = "USER",
	[SASL_LOGIN] = "LOGIN",
	[SASL_PLAIN] = "PLAIN",
	[SASL_APOP] = "APOP",
	[SASL_CRAM_MD5] = "CRAM-MD5",
	[SASL_SCRAM_SHA_1] = "SCRAM-SHA-1",
	[SASL_SCRAM_SHA_256] = "SCRAM-SHA-256",
	[SASL_XOAUTH2] = "XOAUTH2",
	[SASL_OAUTHBEARER] = "OAUTHBEARER",
};

static bool mech_valid(enum sasl_mech m)
{
	return (unsigned)m < SASL_MECH_COUNT;
}

const char *sasl_config_name(enum sasl_mech m)
{
	return mech_valid(m) ? config_names[m] : "?";
}

const char *sasl_wire_name(enum sasl_mech m)
{
	return mech_valid(m) ? wire_names[m] : "?";
}

int sasl_parse_config_name(const char *name, enum sasl_mech *m_r)
{
	unsigned i;

	if (name == NULL)
		return -1;
	for (i = 0; i < SASL_MECH_COUNT; i++) {
		if (strcasecmp(name, config_names[i]) == 0) {
			*m_r = (enum sasl_mech)i;
			return 0;
		}
	}
	return -1;
}

/* Only the SASL mechanisms: "USER" or "APOP" in a SASL list would be a
 * server's confusion, not an offer of those commands. */
static bool mech_is_sasl(enum sasl_mech m)
{
	return mech_valid(m) && m != SASL_AUTO && m != SASL_USER &&
	       m != SASL_APOP;
}

unsigned sasl_parse_capa(const char *list, size_t len)
{
	unsigned bits = 0;
	size_t pos = 0;

	while (pos < len) {
		size_t start, wl;
		unsigned i;

		while (pos < len && (list[pos] == ' ' || list[pos] == '\t'))
			pos++;
		start = pos;
		while (pos < len && list[pos] != ' ' && list[pos] != '\t')
			pos++;
		wl = pos - start;
		if (wl == 0)
			continue;
		for (i = 0; i < SASL_MECH_COUNT; i++) {
			enum sasl_mech m = (enum sasl_mech)i;

			/* A NUL in the word makes strncasecmp stop early
			 * only where wire_names[i] has a non-NUL, so it
			 * cannot match. */
			if (mech_is_sasl(m) && strlen(wire_names[i]) == wl &&
			    strncasecmp(list + start, wire_names[i], wl) == 0)
				bits |= SASL_BIT(m);
		}
	}
	return bits;
}

bool sasl_mech_exposes_secret(enum sasl_mech m)
{
	switch (m) {
	case SASL_USER:
	case SASL_LOGIN:
	case SASL_PLAIN:
	case SASL_XOAUTH2:
	case SASL_OAUTHBEARER:
		return true;
	default:
		return false;
	}
}

enum sasl_mech sasl_choose(unsigned offered, bool plaintext_ok,
			   unsigned exclude)
{
	/* Strongest first; XOAUTH2 and OAUTHBEARER never: their secret is
	 * a token, which only an explicit auth = says we have. */
	static const enum sasl_mech order[] = {
		SASL_SCRAM_SHA_256, SASL_SCRAM_SHA_1, SASL_CRAM_MD5, SASL_APOP,
		SASL_PLAIN, SASL_LOGIN, SASL_USER,
	};
	size_t i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		enum sasl_mech m = order[i];

		if (!(offered & SASL_BIT(m)) || (exclude & SASL_BIT(m)))
			continue;
		if (sasl_mech_exposes_secret(m) && !plaintext_ok)
			continue;
		return m;
	}
	return SASL_AUTO;
}

/* ---- base64 ---- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *sasl_base64_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	size_t i, j = 0;
	char *out;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		abort();	/* cannot happen for anything in memory */
	out = xmalloc((len + 2) / 3 * 4 + 1);
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];

		out[j++] = b64_alphabet[v >> 18 & 63];
		out[j++] = b64_alphabet[v >> 12 & 63];
		out[j++] = b64_alphabet[v >> 6 & 63];
		out[j++] = b64_alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		out[j++] = b64_alphabet[v >> 18 & 63];
		out[j++] = b64_alphabet[v >> 12 & 63];
		out[j++] = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
		out[j++] = '=';
	}
	out[j] = '\0';
	return out;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int sasl_base64_decode(const char *text, size_t len, unsigned char **out_r,
		       size_t *outlen_r)
{
	unsigned char *out = NULL;
	size_t i, j = 0, pad = 0;

	if (len % 4 != 0)
		return -1;
	if (len > 0 && text[len - 1] == '=')
		pad = len > 1 && text[len - 2] == '=' ? 2 : 1;
	out = xmalloc(len / 4 * 3 + 1);
	for (i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		size_t nchar = last ? 4 - pad : 4;
		uint32_t v = 0;
		size_t k;

		for (k = 0; k < 4; k++) {
			int d = k < nchar ? b64_value(text[i + k]) : 0;

			if (d < 0)
				goto bad;
			v = v << 6 | (uint32_t)d;
		}
		out[j++] = (unsigned char)(v >> 16);
		if (nchar > 2)
			out[j++] = (unsigned char)(v >> 8);
		if (nchar > 3)
			out[j++] = (unsigned char)v;
		/* Strict: the bits under the padding must be zero, so that
		 * every byte string has exactly one encoding. */
		if ((nchar == 2 && (v & 0xffff) != 0) ||
		    (nchar == 3 && (v & 0xff) != 0))
			goto bad;
	}
	out[j] = '\0';
	*out_r = out;
	*outlen_r = j;
	return 0;
bad:
	util_wipe(out, len / 4 * 3 + 1);
	free(out);
	return -1;
}

/* ---- small helpers ---- */

static void hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* Frees a string that may hold secret material, wiping it first. */
static void free_secret_str(char **p)
{
	if (*p != NULL) {
		util_wipe(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF. */
static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		uint32_t cp;
		size_t n, k;

		if (p[0] < 0x80) {
			p++;
			continue;
		} else if (p[0] >= 0xc2 && p[0] <= 0xdf) {
			n = 1;
			cp = p[0] & 0x1f;
		} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
			n = 2;
			cp = p[0] & 0x0f;
		} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
			n = 3;
			cp = p[0] & 0x07;
		} else {
			return false;
		}
		for (k = 1; k <= n; k++) {
			if ((p[k] & 0xc0) != 0x80)
				return false;	/* also stops at the NUL */
			cp = cp << 6 | (p[k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		p += n + 1;
	}
	return true;
}

static bool has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* RFC 5802 saslname: '=' and ',' become "=3D" and "=2C".  New string. */
static char *saslname_escape(const char *name)
{
	size_t n = 0;
	const char *p;
	char *out, *q;

	for (p = name; *p != '\0'; p++)
		n += (*p == '=' || *p == ',') ? 3 : 1;
	out = q = xmalloc(n + 1);
	for (p = name; *p != '\0'; p++) {
		if (*p == '=' || *p == ',') {
			*q++ = '=';
			*q++ = *p == '=' ? '3' : '2';
			*q++ = *p == '=' ? 'D' : 'C';
		} else {
			*q++ = *p;
		}
	}
	*q = '\0';
	return out;
}

/* Base64 of len bytes at buf, which held secret material: buf is wiped
 * (not freed). */
static char *encode_secret(char *buf, size_t len)
{
	char *b64 = sasl_base64_encode(buf, len);

	util_wipe(buf, len);
	return b64;
}

/* Decodes a challenge; PF_PROTOCOL (with the challenge as the reply) if it
 * is not strict base64 or holds a NUL where text is expected. */
static enum pf_status decode_challenge(const struct sasl *s,
				       const char *challenge, size_t len,
				       bool text, unsigned char **out_r,
				       size_t *outlen_r, struct error *err)
{
	if (sasl_base64_decode(challenge, len, out_r, outlen_r) < 0) {
		error_set(err, PF_PROTOCOL,
			  "%s: the server's challenge is not base64",
			  wire_names[s->mech]);
		error_set_reply(err, challenge, len);
		return PF_PROTOCOL;
	}
	if (text && memchr(*out_r, '\0', *outlen_r) != NULL) {
		error_set(err, PF_PROTOCOL,
			  "%s: the server's challenge contains NUL",
			  wire_names[s->mech]);
		error_set_reply(err, (const char *)*out_r, *outlen_r);
		free(*out_r);
		*out_r = NULL;
		return PF_PROTOCOL;
	}
	return PF_OK;
}

/* ---- APOP ---- */

bool sasl_apop_timestamp(const char *greeting, size_t len, const char **ts_r,
			 size_t *len_r)
{
	const char *lt = memchr(greeting, '<', len);
	const char *gt;
	size_t tslen, i, nat = 0;

	if (lt == NULL)
		return false;
	gt = memchr(lt, '>', len - (size_t)(lt - greeting));
	if (gt == NULL)
		return false;
	tslen = (size_t)(gt - lt) + 1;
	if (tslen < 3 || tslen > SASL_MAX_TIMESTAMP)
		return false;
	for (i = 1; i + 1 < tslen; i++) {
		unsigned char c = (unsigned char)lt[i];

		/* Printable, no space: the digest covers these bytes, and
		 * anything else is not an RFC 822 msg-id a server meant. */
		if (c <= 0x20 || c >= 0x7f)
			return false;
		if (c == '@')
			nat++;
	}
	if (nat != 1)
		return false;
	*ts_r = lt;
	*len_r = tslen;
	return true;
}

void sasl_apop_digest(const char *ts, size_t tslen, const char *secret,
		      char hex_r[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	hex_r[0] = '\0';
	/* Two updates: the secret is never copied next to the timestamp. */
	if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, ts, tslen) == 1 &&
	    EVP_DigestUpdate(ctx, secret, strlen(secret)) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 16)
		hex_encode(md, 16, hex_r);
	EVP_MD_CTX_free(ctx);
	util_wipe(md, sizeof(md));
}

/* ---- the test hook ---- */

static char test_nonce[SASL_NONCE_MAX + 1];

void sasl_test_set_nonce(const char *nonce)
{
	if (nonce == NULL)
		test_nonce[0] = '\0';
	else
		util_strlcpy(test_nonce, nonce, sizeof(test_nonce));
}

/* ---- starting an exchange ---- */

static enum pf_status new_plain(struct sasl *s, char **initial_r)
{
	size_t ul = strlen(s->user), sl = strlen(s->secret);
	size_t n = ul + sl + 2;
	char *buf = xmalloc(n);

	/* RFC 4616: authzid (empty: act as ourselves) NUL authcid NUL
	 * passwd. */
	buf[0] = '\0';
	memcpy(buf + 1, s->user, ul);
	buf[1 + ul] = '\0';
	memcpy(buf + 2 + ul, s->secret, sl);
	*initial_r = encode_secret(buf, n);
	free(buf);
	s->secret_sent = true;
	return PF_OK;
}

static enum pf_status check_oauth_params(const struct sasl *s,
					 const struct sasl_params *p,
					 struct error *err)
{
	/* ^A separates the fields of the payload: one inside a value
	 * would let it forge fields. */
	if (has_control(s->user))
		return error_set(err, PF_CONFIG,
				 "%s: the user name contains a control "
				 "character", wire_names[s->mech]);
	if (has_control(s->secret))
		return error_set(err, PF_CONFIG,
				 "%s: the access token contains a control "
				 "character", wire_names[s->mech]);
	if ((p->host != NULL && has_control(p->host)) ||
	    (p->port != NULL && has_control(p->port)))
		return error_set(err, PF_CONFIG,
				 "%s: the host or port contains a control "
				 "character", wire_names[s->mech]);
	return PF_OK;
}

static enum pf_status new_xoauth2(struct sasl *s, char **initial_r)
{
	char *buf = xasprintf("user=%s\001auth=Bearer %s\001\001", s->user,
			      s->secret);

	*initial_r = encode_secret(buf, strlen(buf));
	free(buf);
	s->secret_sent = true;
	return PF_OK;
}

static enum pf_status new_oauthbearer(struct sasl *s,
				      const struct sasl_params *p,
				      char **initial_r)
{
	char *name = saslname_escape(s->user);
	char *host = p->host != NULL ? xasprintf("\001host=%s", p->host)
				     : xstrdup("");
	char *port = p->port != NULL ? xasprintf("\001port=%s", p->port)
				     : xstrdup("");
	/* RFC 7628 section 3.1: gs2-header "n,a=USER," then kvpairs, each
	 * ^A-separated, ending with ^A^A. */
	char *buf = xasprintf("n,a=%s,%s%s\001auth=Bearer %s\001\001", name,
			      host, port, s->secret);

	*initial_r = encode_secret(buf, strlen(buf));
	free(buf);
	free(name);
	free(host);
	free(port);
	s->secret_sent = true;
	return PF_OK;
}

static enum pf_status new_scram(struct sasl *s, char **initial_r,
				struct error *err)
{
	unsigned char rnd[SASL_NONCE_BYTES];
	char *name = NULL, *first = NULL;

	/*
	 * SASLprep (RFC 4013), the ASCII subset: ASCII passes unchanged
	 * (SASLprep maps none of it), non-UTF-8 is refused, and non-ASCII
	 * UTF-8 is passed through as-is without the mapping and
	 * normalization of the full profile.  A server that applies full
	 * SASLprep to a non-ASCII password may then disagree with us; for
	 * already-normalized (NFKC) text without special spaces, which is
	 * what people type, it agrees.  NUL cannot occur in a C string.
	 */
	if (!utf8_valid(s->user))
		return error_set(err, PF_CONFIG,
				 "%s: the user name is not valid UTF-8",
				 wire_names[s->mech]);
	if (!utf8_valid(s->secret))
		return error_set(err, PF_CONFIG,
				 "%s: the password is not valid UTF-8",
				 wire_names[s->mech]);
	if (s->mech == SASL_SCRAM_SHA_1) {
		s->md = EVP_sha1();
	} else {
		s->md = EVP_sha256();
	}
	s->hlen = (size_t)EVP_MD_get_size(s->md);
	if (test_nonce[0] != '\0') {
		util_strlcpy(s->nonce, test_nonce, sizeof(s->nonce));
	} else {
		char *b64;

		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return error_set(err, PF_SOFTWARE,
					 "%s: no random bytes for the nonce",
					 wire_names[s->mech]);
		b64 = sasl_base64_encode(rnd, sizeof(rnd));
		util_strlcpy(s->nonce, b64, sizeof(s->nonce));
		free(b64);
	}
	name = saslname_escape(s->user);
	s->client_first_bare = xasprintf("n=%s,r=%s", name, s->nonce);
	/* gs2-header "n,,": no channel binding, no authzid. */
	first = xasprintf("n,,%s", s->client_first_bare);
	*initial_r = sasl_base64_encode(first, strlen(first));
	free(first);
	free(name);
	return PF_OK;
}

enum pf_status sasl_new(enum sasl_mech m, const struct sasl_params *params,
			struct sasl **s_r, char **initial_r,
			struct error *err)
{
	struct sasl *s = NULL;
	enum pf_status ret = PF_OK;

	*s_r = NULL;
	*initial_r = NULL;
	if (!mech_is_sasl(m))
		return error_set(err, PF_SOFTWARE,
				 "sasl_new: %s is not a SASL mechanism",
				 sasl_config_name(m));
	if (params == NULL || params->user == NULL || params->secret == NULL)
		return error_set(err, PF_SOFTWARE,
				 "sasl_new: no user name or secret");
	s = xcalloc(1, sizeof(*s));
	s->mech = m;
	s->user = xstrdup(params->user);
	s->secret = xstrdup(params->secret);
	switch (m) {
	case SASL_PLAIN:
		ret = new_plain(s, initial_r);
		break;
	case SASL_XOAUTH2:
		ret = check_oauth_params(s, params, err);
		if (ret == PF_OK)
			ret = new_xoauth2(s, initial_r);
		break;
	case SASL_OAUTHBEARER:
		ret = check_oauth_params(s, params, err);
		if (ret == PF_OK)
			ret = new_oauthbearer(s, params, initial_r);
		break;
	case SASL_SCRAM_SHA_1:
	case SASL_SCRAM_SHA_256:
		ret = new_scram(s, initial_r, err);
		break;
	default:		/* LOGIN, CRAM-MD5: the server speaks first */
		break;
	}
	if (ret != PF_OK) {
		sasl_free_response(initial_r);
		sasl_free(&s);
	}
	*s_r = s;
	return ret;
}

/* ---- the steps ---- */

static enum pf_status extra_challenge(struct sasl *s, const char *challenge,
				      size_t len, struct error *err)
{
	error_set(err, PF_PROTOCOL, "%s: unexpected challenge from the server",
		  wire_names[s->mech]);
	error_set_reply(err, challenge, len);
	return PF_PROTOCOL;
}

/* Is the prompt (case-insensitive, trailing ':' and blanks ignored) one
 * of the words? */
static bool prompt_is(const char *text, size_t len, const char *const *words)
{
	while (len > 0 && (text[len - 1] == ':' || text[len - 1] == ' ' ||
			   text[len - 1] == '\t' || text[len - 1] == '\r' ||
			   text[len - 1] == '\n'))
		len--;
	for (; *words != NULL; words++)
		if (strlen(*words) == len &&
		    strncasecmp(text, *words, len) == 0)
			return true;
	return false;
}

static enum pf_status step_login(struct sasl *s, const char *challenge,
				 size_t len, char **response_r,
				 struct error *err)
{
	static const char *const user_words[] = { "username", "user name",
						  "user", NULL };
	static const char *const pass_words[] = { "password", NULL };
	unsigned char *text = NULL;
	size_t tlen = 0;
	bool want_secret;
	enum pf_status ret;

	ret = decode_challenge(s, challenge, len, false, &text, &tlen, err);
	if (ret != PF_OK)
		goto out;
	/* The prompt says what it wants ("Username:", "Password:"); a
	 * prompt we do not know gets the next answer in the usual order.
	 * Asking for the same thing twice is a broken exchange. */
	if (prompt_is((const char *)text, tlen, user_words))
		want_secret = false;
	else if (prompt_is((const char *)text, tlen, pass_words))
		want_secret = true;
	else
		want_secret = s->login_user_sent;
	if (want_secret ? s->login_secret_sent : s->login_user_sent) {
		ret = extra_challenge(s, challenge, len, err);
		goto out;
	}
	if (want_secret) {
		*response_r = sasl_base64_encode(s->secret, strlen(s->secret));
		s->login_secret_sent = true;
		s->secret_sent = true;
	} else {
		*response_r = sasl_base64_encode(s->user, strlen(s->user));
		s->login_user_sent = true;
	}
out:
	free(text);
	return ret;
}

static enum pf_status step_cram_md5(struct sasl *s, const char *challenge,
				    size_t len, char **response_r,
				    struct error *err)
{
	unsigned char *text = NULL, mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	size_t tlen = 0;
	char hex[33];
	char *buf = NULL;
	enum pf_status ret;

	ret = decode_challenge(s, challenge, len, false, &text, &tlen, err);
	if (ret != PF_OK)
		goto out;
	/* The challenge is the server's nonce: without one, the answer
	 * could be replayed by anyone who saw it. */
	if (tlen == 0) {
		ret = error_set(err, PF_PROTOCOL,
				"CRAM-MD5: the server's challenge is empty");
		goto out;
	}
	if (HMAC(EVP_md5(), s->secret, (int)strlen(s->secret), text, tlen, mac,
		 &maclen) == NULL || maclen != 16) {
		ret = error_set(err, PF_SOFTWARE,
				"CRAM-MD5: HMAC-MD5 is not available");
		goto out;
	}
	hex_encode(mac, 16, hex);
	/* RFC 2195: "user SP digest"; the server splits at the last
	 * space. */
	buf = xasprintf("%s %s", s->user, hex);
	*response_r = encode_secret(buf, strlen(buf));
	s->secret_sent = true;
out:
	util_wipe(mac, sizeof(mac));
	util_wipe(hex, sizeof(hex));
	free(buf);
	free(text);
	return ret;
}

static enum pf_status step_oauth(struct sasl *s, const char *challenge,
				 size_t len, char **response_r,
				 struct error *err)
{
	unsigned char *text = NULL;
	size_t tlen = 0;
	enum pf_status ret;

	if (s->nchallenges > 0) {
		ret = extra_challenge(s, challenge, len, err);
		goto out;
	}
	ret = decode_challenge(s, challenge, len, false, &text, &tlen, err);
	if (ret != PF_OK)
		goto out;
	/* The challenge is the server's JSON error (RFC 7628 section 3.2.2;
	 * Google's XOAUTH2 the same): keep it for the message, and answer
	 * with what ends the exchange so that the server sends -ERR. */
	util_sanitize(s->oauth_error, sizeof(s->oauth_error),
		      (const char *)text, tlen);
	s->has_oauth_error = true;
	*response_r = xstrdup(s->mech == SASL_XOAUTH2 ? "" : "AQ==");
out:
	free(text);
	return ret;
}

/* Splits the next "a=value" attribute off the SCRAM message at *pos:
 * the attribute letter must be `attr`; the value runs to the next ',' or
 * the end.  Moves *pos past the ',' if there is one. */
static bool scram_attr(const char *msg, size_t len, size_t *pos, char attr,
		       const char **val_r, size_t *vlen_r)
{
	size_t p = *pos, start;

	if (len - p < 2 || msg[p] != attr || msg[p + 1] != '=')
		return false;
	start = p + 2;
	for (p = start; p < len && msg[p] != ','; p++)
		;
	*val_r = msg + start;
	*vlen_r = p - start;
	*pos = p < len ? p + 1 : p;
	return true;
}

static enum pf_status scram_bad(struct sasl *s, const char *what,
				const char *msg, size_t len,
				struct error *err)
{
	error_set(err, PF_PROTOCOL, "%s: malformed server message: %s",
		  wire_names[s->mech], what);
	error_set_reply(err, msg, len);
	return PF_PROTOCOL;
}

/* HMAC with the mechanism's hash; false if OpenSSL cannot. */
static bool scram_hmac(const struct sasl *s, const unsigned char *key,
		       size_t keylen, const void *data, size_t len,
		       unsigned char *out)
{
	unsigned outlen = 0;

	return HMAC(s->md, key, (int)keylen, data, len, out, &outlen) != NULL &&
	       outlen == s->hlen;
}

/*
 * RFC 5802 section 3, from the salt and iteration count: the client proof
 * into proof[hlen], and the server signature we must later see into
 * s->server_sig.
 */
static bool scram_compute(struct sasl *s, const unsigned char *salt,
			  size_t saltlen, unsigned iter, const char *authmsg,
			  unsigned char *proof)
{
	unsigned char salted[EVP_MAX_MD_SIZE], client_key[EVP_MAX_MD_SIZE];
	unsigned char stored_key[EVP_MAX_MD_SIZE], client_sig[EVP_MAX_MD_SIZE];
	unsigned char server_key[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	size_t alen = strlen(authmsg), i;
	bool ok = false;

	if (PKCS5_PBKDF2_HMAC(s->secret, (int)strlen(s->secret), salt,
			      (int)saltlen, (int)iter, s->md, (int)s->hlen,
			      salted) != 1)
		goto out;
	if (!scram_hmac(s, salted, s->hlen, "Client Key", 10, client_key) ||
	    EVP_Digest(client_key, s->hlen, stored_key, &dlen, s->md, NULL) !=
		    1 ||
	    dlen != s->hlen ||
	    !scram_hmac(s, stored_key, s->hlen, authmsg, alen, client_sig) ||
	    !scram_hmac(s, salted, s->hlen, "Server Key", 10, server_key) ||
	    !scram_hmac(s, server_key, s->hlen, authmsg, alen, s->server_sig))
		goto out;
	for (i = 0; i < s->hlen; i++)
		proof[i] = client_key[i] ^ client_sig[i];
	ok = true;
out:
	util_wipe(salted, sizeof(salted));
	util_wipe(client_key, sizeof(client_key));
	util_wipe(stored_key, sizeof(stored_key));
	util_wipe(client_sig, sizeof(client_sig));
	util_wipe(server_key, sizeof(server_key));
	return ok;
}

/* server-first-message = [reserved-mext ","] nonce "," salt ","
 *                        iteration-count ["," extensions] */
static enum pf_status scram_server_first(struct sasl *s, const char *msg,
					 size_t len, char **response_r,
					 struct error *err)
{
	const char *nonce, *salt64, *iter_s;
	size_t nlen, slen, ilen, saltlen = 0, pos = 0, i;
	size_t noncelen = strlen(s->nonce);
	unsigned char *salt = NULL, proof[EVP_MAX_MD_SIZE];
	char iter_buf[16];
	unsigned long long iter = 0;
	char *without_proof = NULL, *authmsg = NULL, *final = NULL;
	char *proof64 = NULL;
	enum pf_status ret = PF_OK;

	if (len >= 2 && msg[0] == 'm' && msg[1] == '=') {
		ret = scram_bad(s, "it requires an extension (m=) we do not "
			        "know", msg, len, err);
		goto out;
	}
	if (!scram_attr(msg, len, &pos, 'r', &nonce, &nlen) ||
	    !scram_attr(msg, len, &pos, 's', &salt64, &slen) ||
	    !scram_attr(msg, len, &pos, 'i', &iter_s, &ilen)) {
		ret = scram_bad(s, "not r=...,s=...,i=...", msg, len, err);
		goto out;
	}
	/* Extensions after i= are allowed and ignored, but only as
	 * ",attr=value". */
	if (iter_s + ilen < msg + len &&
	    (len - pos < 2 || msg[pos + 1] != '=')) {
		ret = scram_bad(s, "junk after the iteration count", msg, len,
				err);
		goto out;
	}
	for (i = 0; i < nlen; i++)
		if ((unsigned char)nonce[i] < 0x21 ||
		    (unsigned char)nonce[i] > 0x7e)
			break;
	/* Our nonce and more: a server that repeats ours without adding its
	 * own would let a recorded exchange be replayed. */
	if (i < nlen || nlen <= noncelen || memcmp(nonce, s->nonce, noncelen)) {
		ret = scram_bad(s, "the nonce does not extend ours", msg, len,
				err);
		goto out;
	}
	if (sasl_base64_decode(salt64, slen, &salt, &saltlen) < 0 ||
	    saltlen == 0) {
		ret = scram_bad(s, "the salt is not base64", msg, len, err);
		goto out;
	}
	if (ilen == 0 || ilen >= sizeof(iter_buf)) {
		ret = scram_bad(s, "bad iteration count", msg, len, err);
		goto out;
	}
	memcpy(iter_buf, iter_s, ilen);
	iter_buf[ilen] = '\0';
	/* Zero iterations is no key stretching; a huge count would keep us
	 * busy for as long as the server likes. */
	if (util_parse_ull(iter_buf, 1, SASL_SCRAM_MAX_ITER, &iter) < 0) {
		ret = scram_bad(s, "iteration count not within 1..1000000",
				msg, len, err);
		goto out;
	}

	/* "biws" is base64 of the gs2 header "n,,". */
	without_proof = xasprintf("c=biws,r=%.*s", (int)nlen, nonce);
	authmsg = xasprintf("%s,%.*s,%s", s->client_first_bare, (int)len, msg,
			    without_proof);
	if (!scram_compute(s, salt, saltlen, (unsigned)iter, authmsg, proof)) {
		ret = error_set(err, PF_SOFTWARE,
				"%s: the hash functions failed",
				wire_names[s->mech]);
		goto out;
	}
	proof64 = sasl_base64_encode(proof, s->hlen);
	final = xasprintf("%s,p=%s", without_proof, proof64);
	*response_r = sasl_base64_encode(final, strlen(final));
	s->secret_sent = true;
	s->scram = SCRAM_WAIT_FINAL;
out:
	util_wipe(proof, sizeof(proof));
	free_secret_str(&proof64);
	free_secret_str(&final);
	free(without_proof);
	free(authmsg);
	free(salt);
	return ret;
}

/* server-final-message = (server-error / verifier) ["," extensions] */
static enum pf_status scram_server_final(struct sasl *s, const char *msg,
					 size_t len, char **response_r,
					 struct error *err)
{
	const char *val;
	size_t vlen, pos = 0, siglen = 0;
	unsigned char *sig = NULL;
	enum pf_status ret = PF_OK;

	if (scram_attr(msg, len, &pos, 'e', &val, &vlen)) {
		error_set(err, PF_NOPERM, "%s: the server refused us",
			  wire_names[s->mech]);
		error_set_reply(err, val, vlen);
		ret = PF_NOPERM;
		goto out;
	}
	if (!scram_attr(msg, len, &pos, 'v', &val, &vlen)) {
		ret = scram_bad(s, "no v= or e= in the final message", msg, len,
				err);
		goto out;
	}
	if (sasl_base64_decode(val, vlen, &sig, &siglen) < 0) {
		ret = scram_bad(s, "the server signature is not base64", msg,
				len, err);
		goto out;
	}
	if (siglen != s->hlen || CRYPTO_memcmp(sig, s->server_sig, siglen)) {
		ret = error_set(err, PF_NOPERM,
				"%s: the server's signature is wrong: it does "
				"not know the password (not the real server?)",
				wire_names[s->mech]);
		goto out;
	}
	s->scram = SCRAM_VERIFIED;
	*response_r = xstrdup("");
out:
	free(sig);
	return ret;
}

static enum pf_status step_scram(struct sasl *s, const char *challenge,
				 size_t len, char **response_r,
				 struct error *err)
{
	unsigned char *text = NULL;
	size_t tlen = 0;
	enum pf_status ret;

	if (s->scram == SCRAM_VERIFIED) {
		ret = extra_challenge(s, challenge, len, err);
		goto out;
	}
	ret = decode_challenge(s, challenge, len, true, &text, &tlen, err);
	if (ret != PF_OK)
		goto out;
	if (s->scram == SCRAM_WAIT_FIRST)
		ret = scram_server_first(s, (const char *)text, tlen,
					 response_r, err);
	else
		ret = scram_server_final(s, (const char *)text, tlen,
					 response_r, err);
out:
	free(text);
	return ret;
}

enum pf_status sasl_step(struct sasl *s, const char *challenge, size_t len,
			 char **response_r, struct error *err)
{
	enum pf_status ret;

	*response_r = NULL;
	if (s == NULL)
		return error_set(err, PF_SOFTWARE, "sasl_step: no exchange");
	if (challenge == NULL) {
		challenge = "";
		len = 0;
	}
	if (s->failed)
		return extra_challenge(s, challenge, len, err);
	switch (s->mech) {
	case SASL_LOGIN:
		ret = step_login(s, challenge, len, response_r, err);
		break;
	case SASL_CRAM_MD5:
		ret = s->nchallenges == 0
			? step_cram_md5(s, challenge, len, response_r, err)
			: extra_challenge(s, challenge, len, err);
		break;
	case SASL_SCRAM_SHA_1:
	case SASL_SCRAM_SHA_256:
		ret = step_scram(s, challenge, len, response_r, err);
		break;
	case SASL_XOAUTH2:
	case SASL_OAUTHBEARER:
		ret = step_oauth(s, challenge, len, response_r, err);
		break;
	default:	/* PLAIN: everything went in the initial response */
		ret = extra_challenge(s, challenge, len, err);
		break;
	}
	if (ret != PF_OK) {
		s->failed = true;
		sasl_free_response(response_r);
	} else {
		s->nchallenges++;
	}
	return ret;
}

enum pf_status sasl_finish(struct sasl *s, struct error *err)
{
	if (s == NULL)
		return error_set(err, PF_SOFTWARE, "sasl_finish: no exchange");
	if ((s->mech == SASL_SCRAM_SHA_1 || s->mech == SASL_SCRAM_SHA_256) &&
	    s->scram != SCRAM_VERIFIED)
		return error_set(err, PF_NOPERM,
				 "%s: the server accepted us without proving "
				 "that it knows the password (not the real "
				 "server?)", wire_names[s->mech]);
	return PF_OK;
}

const char *sasl_oauth_error(const struct sasl *s)
{
	return s != NULL && s->has_oauth_error ? s->oauth_error : NULL;
}

bool sasl_secret_sent(const struct sasl *s)
{
	return s != NULL && s->secret_sent;
}

void sasl_free_response(char **response)
{
	free_secret_str(response);
}

void sasl_free(struct sasl **s)
{
	struct sasl *p = *s;

	if (p == NULL)
		return;
	free_secret_str(&p->secret);
	free(p->user);
	free(p->client_first_bare);
	util_wipe(p, sizeof(*p));
	free(p);
	*s = NULL;
}
