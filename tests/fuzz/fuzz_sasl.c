/*
 * fuzz_sasl.c - the SASL exchanges of sasl.c fed hostile challenges, and
 * the greeting, CAPA and base64 parsers against references written from
 * sasl.h.
 *
 * Input: HEADER [ "\n" CHALLENGE ]...
 *   HEADER     a mechanism's config name ("scram-sha-1"), optionally
 *              followed by " raw"; any other header picks the mechanism
 *              from its first byte.
 *   CHALLENGE  one line per "+ " challenge, at most 8: the decoded text,
 *              base64-encoded here before sasl_step() sees it (so that
 *              the fuzzer works on what the mechanism parses), or with
 *              " raw" passed as it is (so that it works on the base64
 *              decoder too).
 * The account is "user" / "pencil" and the SCRAM client nonces those of
 * RFC 5802 and RFC 7677, so that the RFC exchanges in the seeds reach the
 * server-final.  Every step must end in PF_OK with a base64 response, or
 * PF_PROTOCOL / PF_NOPERM (SCRAM only) with no response, and nothing is
 * answered after a failure.  The whole input also goes to
 * sasl_apop_timestamp(), sasl_parse_capa() and the base64 functions, each
 * checked against a reference.  FUZZ_VERBOSE=1 shows each step.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "sasl.h"
#include "util.h"
#include "fuzzutil.h"

#define MAX_CHALLENGES 8
/* PBKDF2 costs i hashes: a fuzzer that finds i=1000000 would run at one
 * input a second.  The limit itself is tested in test_sasl. */
#define MAX_FUZZ_ITER 10000

static bool verbose;	/* FUZZ_VERBOSE=1: each step on stderr */
static const char user[] = "user";
static const char secret[] = "pencil";

static const enum sasl_mech mechs[] = {
	SASL_PLAIN, SASL_LOGIN, SASL_CRAM_MD5, SASL_SCRAM_SHA_1,
	SASL_SCRAM_SHA_256, SASL_XOAUTH2, SASL_OAUTHBEARER,
};

static bool is_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* Decodes base64 that must be valid; new buffer. */
static char *must_decode(const char *text, size_t *len_r)
{
	unsigned char *out = NULL;

	FUZZ_CHECK(sasl_base64_decode(text, strlen(text), &out, len_r) == 0);
	return (char *)out;
}

/* ---- references ---- */

static bool ref_apop(const char *g, size_t len, size_t *start_r,
		     size_t *len_r)
{
	size_t lt, gt, i, nat = 0;

	for (lt = 0; lt < len && g[lt] != '<'; lt++)
		;
	for (gt = lt; gt < len && g[gt] != '>'; gt++)
		;
	if (gt >= len || gt - lt + 1 < 3 || gt - lt + 1 > 1022)
		return false;
	for (i = lt + 1; i < gt; i++) {
		unsigned char c = (unsigned char)g[i];

		if (c < 0x21 || c > 0x7e)
			return false;
		nat += c == '@';
	}
	if (nat != 1)
		return false;
	*start_r = lt;
	*len_r = gt - lt + 1;
	return true;
}

static void check_apop(const char *in, size_t len)
{
	const char *ts = NULL;
	size_t tslen = 0, wstart = 0, wlen = 0;
	bool want = ref_apop(in, len, &wstart, &wlen);
	char hex[33];

	FUZZ_CHECK(sasl_apop_timestamp(in, len, &ts, &tslen) == want);
	if (!want)
		return;
	FUZZ_CHECK(ts == in + wstart && tslen == wlen);
	sasl_apop_digest(ts, tslen, secret, hex);
	FUZZ_CHECK(strlen(hex) == 32 &&
		   strspn(hex, "0123456789abcdef") == 32);
}

static char ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static void check_capa(const char *in, size_t len)
{
	static const char *const names[] = { "PLAIN", "LOGIN", "CRAM-MD5",
		"SCRAM-SHA-1", "SCRAM-SHA-256", "XOAUTH2", "OAUTHBEARER" };
	unsigned want = 0;
	size_t pos = 0, i;

	while (pos < len) {
		size_t start;

		while (pos < len && (in[pos] == ' ' || in[pos] == '\t'))
			pos++;
		start = pos;
		while (pos < len && in[pos] != ' ' && in[pos] != '\t')
			pos++;
		for (i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++) {
			size_t n = strlen(names[i]), k;

			if (pos - start != n)
				continue;
			for (k = 0; k < n; k++)
				if (ascii_upper(in[start + k]) != names[i][k])
					break;
			if (k == n)
				want |= SASL_BIT(mechs[i]);
		}
	}
	FUZZ_CHECK(sasl_parse_capa(in, len) == want);
}

/* Strict base64 means one encoding per byte string: whatever decodes
 * must encode back to the same text, and every encoding decodes. */
static void check_base64(const char *in, size_t len)
{
	unsigned char *out = NULL;
	size_t outlen = 0;
	char *enc;

	if (sasl_base64_decode(in, len, &out, &outlen) == 0) {
		FUZZ_CHECK(len % 4 == 0 && outlen == len / 4 * 3 -
			   (len > 0 && in[len - 1] == '=') -
			   (len > 1 && in[len - 2] == '='));
		FUZZ_CHECK(out[outlen] == '\0');
		enc = sasl_base64_encode(out, outlen);
		FUZZ_CHECK(strlen(enc) == len && memcmp(enc, in, len) == 0);
		free(enc);
		free(out);
	}
	enc = sasl_base64_encode(in, len);
	FUZZ_CHECK(strlen(enc) == (len + 2) / 3 * 4);
	FUZZ_CHECK(sasl_base64_decode(enc, strlen(enc), &out, &outlen) == 0);
	FUZZ_CHECK(outlen == len && memcmp(out, in, len) == 0);
	free(out);
	free(enc);
}

/* ---- the exchange ---- */

/* Does the text ask for more PBKDF2 rounds than a fuzzer can afford? */
static bool too_costly(const char *t, size_t len)
{
	size_t i;

	for (i = 0; i + 2 < len; i++) {
		unsigned long long v = 0;
		size_t k;

		if (t[i] != 'i' || t[i + 1] != '=')
			continue;
		for (k = i + 2; k < len && t[k] >= '0' && t[k] <= '9'; k++)
			if ((v = v * 10 + (unsigned)(t[k] - '0')) >
			    MAX_FUZZ_ITER)
				return true;
	}
	return false;
}

struct chal {
	char *wire;	/* what sasl_step() gets */
	size_t wlen;
	char *text;	/* what it decodes to, or NULL if not base64 */
	size_t tlen;
};

/* The value of "r=" at the start of a SCRAM server-first, or NULL. */
static const char *scram_server_nonce(const struct chal *c, size_t *len_r)
{
	const char *end;

	if (c->text == NULL || c->tlen < 2 || c->text[0] != 'r' ||
	    c->text[1] != '=')
		return NULL;
	end = memchr(c->text + 2, ',', c->tlen - 2);
	if (end == NULL)
		return NULL;
	*len_r = (size_t)(end - c->text - 2);
	return c->text + 2;
}

static void check_response(enum sasl_mech m, struct sasl *s, unsigned nok,
			   const struct chal *c, const char *resp)
{
	size_t len = 0, nlen = 0;
	char *dec = must_decode(resp, &len);
	const char *nonce;

	FUZZ_CHECK(strlen(dec) == len);
	switch (m) {
	case SASL_LOGIN:
		FUZZ_CHECK(strcmp(dec, user) == 0 || strcmp(dec, secret) == 0);
		FUZZ_CHECK(sasl_secret_sent(s) ==
			   (strcmp(dec, secret) == 0 || nok == 1));
		break;
	case SASL_CRAM_MD5:
		FUZZ_CHECK(nok == 0 && c->tlen > 0);
		FUZZ_CHECK(len == strlen(user) + 33 &&
			   strncmp(dec, "user ", 5) == 0 &&
			   strspn(dec + 5, "0123456789abcdef") == 32);
		FUZZ_CHECK(sasl_secret_sent(s));
		break;
	case SASL_SCRAM_SHA_1:
	case SASL_SCRAM_SHA_256:
		FUZZ_CHECK(nok <= 1);
		if (nok == 1) {
			FUZZ_CHECK(len == 0);
			FUZZ_CHECK(c->tlen > 2 && c->text[0] == 'v' &&
				   c->text[1] == '=');
			break;
		}
		/* "c=biws,r=" the server's nonce ",p=" the proof */
		nonce = scram_server_nonce(c, &nlen);
		FUZZ_CHECK(nonce != NULL);
		FUZZ_CHECK(len > 9 + nlen + 3 &&
			   memcmp(dec, "c=biws,r=", 9) == 0 &&
			   memcmp(dec + 9, nonce, nlen) == 0 &&
			   memcmp(dec + 9 + nlen, ",p=", 3) == 0);
		FUZZ_CHECK(strlen(dec + 12 + nlen) ==
			   (m == SASL_SCRAM_SHA_1 ? 28u : 44u));
		FUZZ_CHECK(sasl_secret_sent(s));
		break;
	case SASL_XOAUTH2:
	case SASL_OAUTHBEARER:
		FUZZ_CHECK(nok == 0);
		FUZZ_CHECK(strcmp(resp, m == SASL_XOAUTH2 ? "" : "AQ==") == 0);
		FUZZ_CHECK(sasl_oauth_error(s) != NULL &&
			   strlen(sasl_oauth_error(s)) <= 200 &&
			   is_printable(sasl_oauth_error(s)));
		break;
	default:
		FUZZ_CHECK(!"a response for PLAIN");
	}
	free(dec);
}

static void run_exchange(enum sasl_mech m, struct chal *chals, size_t n)
{
	struct sasl_params p = { user, secret, "imap.example.com", "993" };
	bool scram = m == SASL_SCRAM_SHA_1 || m == SASL_SCRAM_SHA_256;
	struct sasl *s = NULL;
	char *initial = NULL;
	struct error err;
	unsigned nok = 0;
	bool failed = false, login_secret = false;
	size_t i;

	error_clear(&err);
	sasl_test_set_nonce(m == SASL_SCRAM_SHA_1 ? "fyko+d2lbbFgONRv9qkxdawL"
						  : "rOprNGfwEbeRWgbNEkqO");
	FUZZ_CHECK(sasl_new(m, &p, &s, &initial, &err) == PF_OK);
	FUZZ_CHECK(s != NULL);
	FUZZ_CHECK((initial == NULL) ==
		   (m == SASL_LOGIN || m == SASL_CRAM_MD5));
	if (initial != NULL) {
		size_t len;

		free(must_decode(initial, &len));
	}
	FUZZ_CHECK(sasl_secret_sent(s) == (!scram && initial != NULL));

	for (i = 0; i < n; i++) {
		char *resp = (char *)"unset";
		enum pf_status ret;

		error_clear(&err);
		ret = sasl_step(s, chals[i].wire, chals[i].wlen, &resp, &err);
		if (ret == PF_OK) {
			FUZZ_CHECK(!failed);
			FUZZ_CHECK(resp != NULL);
			check_response(m, s, nok, &chals[i], resp);
			/* LOGIN answers "Password:" first if asked so */
			login_secret |= m == SASL_LOGIN &&
					strcmp(resp, "cGVuY2ls") == 0;
			nok++;
		} else {
			FUZZ_CHECK(resp == NULL);
			FUZZ_CHECK(err.status == ret);
			FUZZ_CHECK(ret == PF_PROTOCOL ||
				   (ret == PF_NOPERM && scram && nok == 1 &&
				    !failed));
			FUZZ_CHECK(err.text[0] != '\0' &&
				   is_printable(err.text) &&
				   strstr(err.text, secret) == NULL);
			FUZZ_CHECK(is_printable(err.reply));
			/* a challenge that is not base64 never gets in */
			if (chals[i].text == NULL)
				FUZZ_CHECK(ret == PF_PROTOCOL);
			failed = true;
		}
		if (verbose)
			fprintf(stderr, "%s step %zu: %s%s%s\n",
				sasl_wire_name(m), i + 1,
				ret == PF_OK ? "ok " : err.text,
				ret == PF_OK ? resp : " / ",
				ret == PF_OK ? "" : err.reply);
		sasl_free_response(&resp);
	}

	error_clear(&err);
	if (verbose)
		fprintf(stderr, "%s finish: %s\n", sasl_wire_name(m),
			sasl_finish(s, &err) == PF_OK ? "ok" : err.text);
	if (sasl_finish(s, &err) == PF_OK) {
		/* SCRAM: only after the server proved itself */
		FUZZ_CHECK(!scram || nok == 2);
	} else {
		FUZZ_CHECK(scram && err.status == PF_NOPERM);
	}
	if (m == SASL_LOGIN)
		FUZZ_CHECK(sasl_secret_sent(s) == login_secret);
	if (m == SASL_CRAM_MD5 || scram)
		FUZZ_CHECK(sasl_secret_sent(s) == (nok >= 1));
	if (m != SASL_XOAUTH2 && m != SASL_OAUTHBEARER)
		FUZZ_CHECK(sasl_oauth_error(s) == NULL);
	sasl_free_response(&initial);
	sasl_free(&s);
	FUZZ_CHECK(s == NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *end = in + size;
	const char *nl = memchr(in, '\n', size);
	size_t hlen = nl != NULL ? (size_t)(nl - in) : size;
	struct chal chals[MAX_CHALLENGES];
	enum sasl_mech m = mechs[size > 0 ? data[0] % 7 : 0];
	bool raw = false, costly = false;
	size_t n = 0, i;
	char *copy;

	/* Exactly size bytes: no terminator for a parser to lean on. */
	copy = malloc(size != 0 ? size : 1);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, in, size);
	check_apop(copy, size);
	check_capa(copy, size);
	check_base64(copy, size);
	free(copy);

	if (hlen > 4 && memcmp(in + hlen - 4, " raw", 4) == 0) {
		raw = true;
		hlen -= 4;
	}
	if (hlen < 32) {
		char name[32];
		enum sasl_mech pm;

		memcpy(name, in, hlen);
		name[hlen] = '\0';
		if (sasl_parse_config_name(name, &pm) == 0 &&
		    pm != SASL_AUTO && pm != SASL_USER && pm != SASL_APOP) {
			m = pm;
			FUZZ_CHECK(strcasecmp(sasl_config_name(m), name) == 0);
		}
	}

	for (const char *p = nl; p != NULL && n < MAX_CHALLENGES; n++) {
		const char *start = p + 1;
		const char *next = memchr(start, '\n', (size_t)(end - start));
		size_t len = (size_t)((next != NULL ? next : end) - start);
		struct chal *c = &chals[n];
		unsigned char *dec = NULL;

		if (raw) {
			c->wire = malloc(len != 0 ? len : 1);
			FUZZ_CHECK(c->wire != NULL);
			memcpy(c->wire, start, len);
			c->wlen = len;
			c->text = NULL;
			c->tlen = 0;
			if (sasl_base64_decode(start, len, &dec, &c->tlen) == 0)
				c->text = (char *)dec;
		} else {
			c->wire = sasl_base64_encode(start, len);
			c->wlen = strlen(c->wire);
			c->text = malloc(len + 1);
			FUZZ_CHECK(c->text != NULL);
			memcpy(c->text, start, len);
			c->text[len] = '\0';
			c->tlen = len;
		}
		if (c->text != NULL && too_costly(c->text, c->tlen))
			costly = true;
		p = next;
	}

	if (!costly)
		run_exchange(m, chals, n);
	for (i = 0; i < n; i++) {
		free(chals[i].wire);
		free(chals[i].text);
	}
	return 0;
}
