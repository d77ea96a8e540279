/*
 * test_sasl.c - the login mechanisms against their RFC examples (RFC 5802
 * and 7677 SCRAM, RFC 2195 CRAM-MD5, RFC 1939 APOP, RFC 4616 PLAIN, RFC
 * 7628 OAUTHBEARER, Google's XOAUTH2), hostile SCRAM servers, the choice
 * of auth = auto, CAPA SASL parsing, APOP timestamps and strict base64.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "error.h"
#include "sasl.h"
#include "util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define B(s) s, sizeof(s) - 1

/* ---- helpers ---- */

/* Decodes base64 that must be valid; new NUL-terminated buffer. */
static char *unb64(const char *text, size_t *len_r)
{
	unsigned char *out = NULL;
	size_t len = 0;

	if (sasl_base64_decode(text, strlen(text), &out, &len) < 0)
		fail_msg("not base64: '%s'", text);
	if (len_r != NULL)
		*len_r = len;
	return (char *)out;
}

static char *b64(const char *text)
{
	return sasl_base64_encode(text, strlen(text));
}

/* Our words never contain the secret. */
static void assert_no_secret(const struct error *err, const char *secret)
{
	if (strstr(err->text, secret) != NULL)
		fail_msg("secret in error text: '%s'", err->text);
}

/* One step with a plain-text challenge; returns the status and the
 * response decoded (NULL on error or when undecodable). */
static enum pf_status step_textn(struct sasl *s, const char *plain,
				 size_t len, char **resp_r, struct error *err)
{
	char *chal = sasl_base64_encode(plain, len);
	char *resp = NULL;
	enum pf_status ret;

	error_clear(err);
	ret = sasl_step(s, chal, strlen(chal), &resp, err);
	free(chal);
	*resp_r = NULL;
	if (ret == PF_OK) {
		assert_non_null(resp);
		*resp_r = unb64(resp, NULL);
	} else {
		assert_null(resp);
		assert_int_equal(err->status, ret);
		assert_true(err->text[0] != '\0');
	}
	sasl_free_response(&resp);
	return ret;
}

static enum pf_status step_text(struct sasl *s, const char *plain,
				char **resp_r, struct error *err)
{
	return step_textn(s, plain, strlen(plain), resp_r, err);
}

/* ---- names ---- */

static void test_names(void **state)
{
	static const struct {
		enum sasl_mech m;
		const char *config, *wire;
	} cases[] = {
		{ SASL_AUTO, "auto", "AUTO" },
		{ SASL_USER, "user", "USER" },
		{ SASL_LOGIN, "login", "LOGIN" },
		{ SASL_PLAIN, "plain", "PLAIN" },
		{ SASL_APOP, "apop", "APOP" },
		{ SASL_CRAM_MD5, "cram-md5", "CRAM-MD5" },
		{ SASL_SCRAM_SHA_1, "scram-sha-1", "SCRAM-SHA-1" },
		{ SASL_SCRAM_SHA_256, "scram-sha-256", "SCRAM-SHA-256" },
		{ SASL_XOAUTH2, "xoauth2", "XOAUTH2" },
		{ SASL_OAUTHBEARER, "oauthbearer", "OAUTHBEARER" },
	};
	static const char *const bad[] = { "", "scram", "scram-sha-512",
		"plain ", " plain", "cram_md5", "scram-sha-1-plus", "md5" };
	enum sasl_mech m;
	size_t i;

	(void)state;
	assert_int_equal(N(cases), SASL_MECH_COUNT);
	for (i = 0; i < N(cases); i++) {
		assert_string_equal(sasl_config_name(cases[i].m),
				    cases[i].config);
		assert_string_equal(sasl_wire_name(cases[i].m), cases[i].wire);
		m = SASL_MECH_COUNT;
		assert_int_equal(sasl_parse_config_name(cases[i].config, &m),
				 0);
		assert_int_equal(m, cases[i].m);
		/* case-insensitive: the wire name parses too */
		m = SASL_MECH_COUNT;
		assert_int_equal(sasl_parse_config_name(cases[i].wire, &m), 0);
		assert_int_equal(m, cases[i].m);
	}
	for (i = 0; i < N(bad); i++) {
		m = SASL_PLAIN;
		assert_int_equal(sasl_parse_config_name(bad[i], &m), -1);
		assert_int_equal(m, SASL_PLAIN);
	}
	assert_int_equal(sasl_parse_config_name(NULL, &m), -1);
	assert_string_equal(sasl_config_name(SASL_MECH_COUNT), "?");
	assert_string_equal(sasl_wire_name((enum sasl_mech)99), "?");
}

static void test_exposes(void **state)
{
	unsigned exposing = SASL_BIT(SASL_USER) | SASL_BIT(SASL_LOGIN) |
			    SASL_BIT(SASL_PLAIN) | SASL_BIT(SASL_XOAUTH2) |
			    SASL_BIT(SASL_OAUTHBEARER);
	unsigned m;

	(void)state;
	for (m = 0; m < SASL_MECH_COUNT; m++)
		assert_int_equal(sasl_mech_exposes_secret((enum sasl_mech)m),
				 (exposing & SASL_BIT(m)) != 0);
}

/* ---- CAPA SASL ---- */

static void test_parse_capa(void **state)
{
	static const struct {
		const char *list;
		unsigned bits;
	} cases[] = {
		{ "", 0 },
		{ "PLAIN", SASL_BIT(SASL_PLAIN) },
		{ "plain login", SASL_BIT(SASL_PLAIN) | SASL_BIT(SASL_LOGIN) },
		{ "PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256 XOAUTH2 "
		  "OAUTHBEARER",
		  SASL_BIT(SASL_PLAIN) | SASL_BIT(SASL_LOGIN) |
		  SASL_BIT(SASL_CRAM_MD5) | SASL_BIT(SASL_SCRAM_SHA_1) |
		  SASL_BIT(SASL_SCRAM_SHA_256) | SASL_BIT(SASL_XOAUTH2) |
		  SASL_BIT(SASL_OAUTHBEARER) },
		{ "  Scram-Sha-256\tcram-md5  ",
		  SASL_BIT(SASL_SCRAM_SHA_256) | SASL_BIT(SASL_CRAM_MD5) },
		/* unknown and look-alike names are ignored */
		{ "SCRAM-SHA-1-PLUS SCRAM-SHA-256-PLUS GSSAPI NTLM", 0 },
		{ "PLAINX XPLAIN PLAI SCRAM-SHA-2 SCRAM-SHA-", 0 },
		{ "DIGEST-MD5 PLAIN", SASL_BIT(SASL_PLAIN) },
		/* not SASL mechanisms, whatever a server lists */
		{ "USER APOP AUTO", 0 },
		{ "PLAIN PLAIN", SASL_BIT(SASL_PLAIN) },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(cases); i++) {
		unsigned bits = sasl_parse_capa(cases[i].list,
						strlen(cases[i].list));

		if (bits != cases[i].bits)
			fail_msg("'%s': 0x%x, want 0x%x", cases[i].list, bits,
				 cases[i].bits);
	}
	/* The length is honoured; NUL is not a separator. */
	assert_int_equal(sasl_parse_capa("PLAIN LOGIN", 5),
			 SASL_BIT(SASL_PLAIN));
	assert_int_equal(sasl_parse_capa(B("PLA\0IN LOGIN")),
			 SASL_BIT(SASL_LOGIN));
	assert_int_equal(sasl_parse_capa(B("PLAIN\0")), 0);
}

/* ---- auth = auto ---- */

#define O(m) SASL_BIT(SASL_##m)
#define ALL_AUTO (O(SCRAM_SHA_256) | O(SCRAM_SHA_1) | O(CRAM_MD5) | \
		  O(APOP) | O(PLAIN) | O(LOGIN) | O(USER))

static void test_choose(void **state)
{
	static const struct {
		unsigned offered;
		bool plaintext_ok;	/* TLS, or allow_plaintext */
		unsigned exclude;
		enum sasl_mech want;
	} cases[] = {
		{ 0, true, 0, SASL_AUTO },
		{ 0, false, 0, SASL_AUTO },
		{ ALL_AUTO, true, 0, SASL_SCRAM_SHA_256 },
		{ ALL_AUTO, false, 0, SASL_SCRAM_SHA_256 },
		{ ALL_AUTO, true, O(SCRAM_SHA_256), SASL_SCRAM_SHA_1 },
		{ ALL_AUTO, true, O(SCRAM_SHA_256) | O(SCRAM_SHA_1),
		  SASL_CRAM_MD5 },
		{ ALL_AUTO, true,
		  O(SCRAM_SHA_256) | O(SCRAM_SHA_1) | O(CRAM_MD5), SASL_APOP },
		{ ALL_AUTO, true,
		  O(SCRAM_SHA_256) | O(SCRAM_SHA_1) | O(CRAM_MD5) | O(APOP),
		  SASL_PLAIN },
		{ ALL_AUTO, false,
		  O(SCRAM_SHA_256) | O(SCRAM_SHA_1) | O(CRAM_MD5) | O(APOP),
		  SASL_AUTO },
		{ O(PLAIN) | O(LOGIN) | O(USER), true, 0, SASL_PLAIN },
		{ O(PLAIN) | O(LOGIN) | O(USER), true, O(PLAIN), SASL_LOGIN },
		{ O(PLAIN) | O(LOGIN) | O(USER), true, O(PLAIN) | O(LOGIN),
		  SASL_USER },
		{ O(PLAIN) | O(LOGIN) | O(USER), true, ALL_AUTO, SASL_AUTO },
		/* without TLS, nothing that shows the password */
		{ O(PLAIN) | O(LOGIN) | O(USER), false, 0, SASL_AUTO },
		{ O(USER), false, 0, SASL_AUTO },
		{ O(USER), true, 0, SASL_USER },
		{ O(USER) | O(CRAM_MD5), false, 0, SASL_CRAM_MD5 },
		/* APOP only when offered (the greeting had a timestamp) */
		{ O(USER) | O(APOP), false, 0, SASL_APOP },
		{ O(USER), false, O(APOP), SASL_AUTO },
		{ O(USER) | O(PLAIN), true, 0, SASL_PLAIN },
		/* OAuth2 never by auto: the secret would be a password */
		{ O(XOAUTH2), true, 0, SASL_AUTO },
		{ O(OAUTHBEARER), true, 0, SASL_AUTO },
		{ O(XOAUTH2) | O(OAUTHBEARER) | O(LOGIN), true, 0, SASL_LOGIN },
		{ O(XOAUTH2) | O(OAUTHBEARER) | O(SCRAM_SHA_1), false, 0,
		  SASL_SCRAM_SHA_1 },
		/* excluding something not offered changes nothing */
		{ O(SCRAM_SHA_1), false, O(SCRAM_SHA_256), SASL_SCRAM_SHA_1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(cases); i++) {
		enum sasl_mech m = sasl_choose(cases[i].offered,
					       cases[i].plaintext_ok,
					       cases[i].exclude);

		if (m != cases[i].want)
			fail_msg("case %zu: chose %s, want %s", i,
				 sasl_config_name(m),
				 sasl_config_name(cases[i].want));
	}
}

/* ---- APOP ---- */

static void test_apop_timestamp(void **state)
{
	static const struct {
		const char *greeting;
		const char *ts;		/* NULL: none found */
	} cases[] = {
		{ "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
		  "<1896.697170952@dbc.mtview.ca.us>" },
		{ "+OK <a@b>", "<a@b>" },
		{ "+OK <@>", "<@>" },
		{ "+OK Dovecot ready. <2f1.1.5f9a@host> more text",
		  "<2f1.1.5f9a@host>" },
		{ "+OK <x@y>z<p@q>", "<x@y>" },
		{ "+OK <a<b@c>", "<a<b@c>" },
		{ "+OK Dovecot ready.", NULL },
		{ "+OK <>", NULL },
		{ "+OK <no.at.sign>", NULL },
		{ "+OK <two@at@signs>", NULL },
		{ "+OK <sp ace@host>", NULL },
		{ "+OK <a@host name>", NULL },
		{ "+OK <tab\t@host>", NULL },
		{ "+OK <ctl\x01@host>", NULL },
		{ "+OK <del\x7f@host>", NULL },
		{ "+OK <hi\xc3\xa9@host>", NULL },
		{ "+OK <missing@gt", NULL },
		{ "+OK missing@lt>", NULL },
		/* the first '<' decides: its '>' closes a malformed one */
		{ "+OK <hello> <1@host>", NULL },
		{ "", NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(cases); i++) {
		const char *g = cases[i].greeting, *ts = NULL;
		size_t len = 0;
		bool found = sasl_apop_timestamp(g, strlen(g), &ts, &len);

		if (found != (cases[i].ts != NULL))
			fail_msg("'%s': found %d", g, found);
		if (!found)
			continue;
		assert_true(ts >= g && ts + len <= g + strlen(g));
		if (len != strlen(cases[i].ts) ||
		    memcmp(ts, cases[i].ts, len) != 0)
			fail_msg("'%s': '%.*s', want '%s'", g, (int)len, ts,
				 cases[i].ts);
	}
}

/* Lengths: NUL inside, the bound given, the line-length limit. */
static void test_apop_timestamp_limits(void **state)
{
	const char *ts;
	size_t len, n;
	char *big;

	(void)state;
	assert_false(sasl_apop_timestamp(B("+OK <a\0b@c>"), &ts, &len));
	/* the '>' is past the given length */
	assert_false(sasl_apop_timestamp("+OK <a@b>", 8, &ts, &len));
	assert_true(sasl_apop_timestamp("+OK <a@b>", 9, &ts, &len));
	assert_int_equal(len, 5);

	/* 1022 bytes fit a POP3 line (1024 with CRLF); 1023 do not */
	for (n = 1022; n <= 1023; n++) {
		big = malloc(n + 5);
		assert_non_null(big);
		memcpy(big, "+OK <", 5);
		memset(big + 5, 'x', n - 2);
		big[5 + n / 2] = '@';
		big[5 + n - 2] = '>';
		assert_int_equal(sasl_apop_timestamp(big, n + 4, &ts, &len),
				 n == 1022);
		if (n == 1022) {
			assert_int_equal(len, n);
			assert_ptr_equal(ts, big + 4);
		}
		free(big);
	}
}

static void test_apop_digest(void **state)
{
	static const char ts[] = "<1896.697170952@dbc.mtview.ca.us>";
	char hex[33];

	(void)state;
	/* RFC 1939 section 7 */
	memset(hex, 'Z', sizeof(hex));
	sasl_apop_digest(ts, strlen(ts), "tanstaaf", hex);
	assert_string_equal(hex, "c4c9334bac560ecc979e58001b3e22fb");
	/* only tslen bytes of the timestamp count */
	sasl_apop_digest("<1896.697170952@dbc.mtview.ca.us>JUNK", strlen(ts),
			 "tanstaaf", hex);
	assert_string_equal(hex, "c4c9334bac560ecc979e58001b3e22fb");
	/* MD5("") */
	sasl_apop_digest("", 0, "", hex);
	assert_string_equal(hex, "d41d8cd98f00b204e9800998ecf8427e");
}

/* ---- base64 ---- */

static void test_base64_vectors(void **state)
{
	/* RFC 4648 section 10 */
	static const struct {
		const char *plain, *enc;
	} cases[] = {
		{ "", "" },
		{ "f", "Zg==" },
		{ "fo", "Zm8=" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
		{ "\xfb\xff\xbf", "+/+/" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(cases); i++) {
		char *enc = b64(cases[i].plain), *dec;
		size_t len = 99;

		assert_string_equal(enc, cases[i].enc);
		dec = unb64(cases[i].enc, &len);
		assert_int_equal(len, strlen(cases[i].plain));
		assert_string_equal(dec, cases[i].plain);	/* NUL-terminated */
		free(enc);
		free(dec);
	}
}

static void test_base64_roundtrip(void **state)
{
	unsigned char buf[300];
	size_t len, i;

	(void)state;
	srand(1);
	for (len = 0; len < sizeof(buf); len++) {
		unsigned char *dec = NULL;
		size_t dlen = 0;
		char *enc;

		for (i = 0; i < len; i++)
			buf[i] = (unsigned char)rand();
		enc = sasl_base64_encode(buf, len);
		assert_int_equal(strlen(enc), (len + 2) / 3 * 4);
		assert_int_equal(sasl_base64_decode(enc, strlen(enc), &dec,
						    &dlen), 0);
		assert_int_equal(dlen, len);
		assert_memory_equal(dec, buf, len);
		assert_int_equal(dec[dlen], 0);
		free(enc);
		free(dec);
	}
}

static void test_base64_rejects(void **state)
{
	static const struct {
		const char *text;
		size_t len;
	} cases[] = {
		{ B("Z") }, { B("Zg") }, { B("Zg=") },	/* padding required */
		{ B("Zm9") },
		{ B("=") }, { B("====") }, { B("Z===") },
		{ B("Zg==Zg==") },	/* padding in the middle */
		{ B("Z=g=") }, { B("Zm=v") },
		{ B("Zm9v Zm9v") }, { B("Zm9v\r\n") }, { B(" Zm9v") },
		{ B("Zm9\nv") }, { B("Zm9v\0\0\0\0") },
		{ B("Zm9-") }, { B("Zm9_") },	/* URL alphabet */
		{ B("Zm9v!===") }, { B("Zm\xc3\xa9") },
		/* bits under the padding not zero: not canonical */
		{ B("Zh==") }, { B("Zm9=") },
		{ B("+") }, { B("ab=c") },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(cases); i++) {
		unsigned char *out = (unsigned char *)"unchanged";
		size_t len = 42;

		if (sasl_base64_decode(cases[i].text, cases[i].len, &out,
				       &len) != -1)
			fail_msg("case %zu '%.*s' accepted", i,
				 (int)cases[i].len, cases[i].text);
		assert_string_equal((char *)out, "unchanged");
		assert_int_equal(len, 42);
	}
}

/* ---- PLAIN, XOAUTH2, OAUTHBEARER: everything in the initial response */

static void test_initial_payloads(void **state)
{
	static const struct {
		enum sasl_mech m;
		struct sasl_params p;
		const char *payload;
		size_t payload_len;
		const char *b64;	/* exact, when known from a spec */
	} cases[] = {
		{ SASL_PLAIN, { "tim", "tanstaaftanstaaf", NULL, NULL },
		  B("\0tim\0tanstaaftanstaaf"),
		  "AHRpbQB0YW5zdGFhZnRhbnN0YWFm" },
		/* RFC 4616 leaves the password's bytes alone */
		{ SASL_PLAIN, { "a=b,c", "p w\xc3\xa9", "h", "1" },
		  B("\0a=b,c\0p w\xc3\xa9"), NULL },
		/* Google's documented example */
		{ SASL_XOAUTH2,
		  { "someuser@example.com",
		    "ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg", NULL,
		    NULL },
		  B("user=someuser@example.com\001auth=Bearer "
		    "ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg\001\001"),
		  "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5Ln"
		  "ZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2cBAQ==" },
		/* RFC 7628 section 4.1 */
		{ SASL_OAUTHBEARER,
		  { "user@example.com",
		    "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
		    "server.example.com", "143" },
		  B("n,a=user@example.com,\001host=server.example.com\001"
		    "port=143\001auth=Bearer "
		    "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\001\001"),
		  "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY2"
		  "9tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNr"
		  "QmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB" },
		{ SASL_OAUTHBEARER, { "u", "tok", NULL, NULL },
		  B("n,a=u,\001auth=Bearer tok\001\001"), NULL },
		{ SASL_OAUTHBEARER, { "u", "tok", "h.example", NULL },
		  B("n,a=u,\001host=h.example\001auth=Bearer tok\001\001"),
		  NULL },
		{ SASL_OAUTHBEARER, { "u", "tok", NULL, "995" },
		  B("n,a=u,\001port=995\001auth=Bearer tok\001\001"), NULL },
		/* the authzid is a saslname: '=' and ',' escaped */
		{ SASL_OAUTHBEARER, { "a=b,c", "tok", NULL, NULL },
		  B("n,a=a=3Db=2Cc,\001auth=Bearer tok\001\001"), NULL },
		/* XOAUTH2 has no escaping */
		{ SASL_XOAUTH2, { "a=b,c", "tok", "h", "1" },
		  B("user=a=b,c\001auth=Bearer tok\001\001"), NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(cases); i++) {
		struct sasl *s = NULL;
		char *initial = NULL, *dec;
		struct error err;
		size_t len;

		error_clear(&err);
		assert_int_equal(sasl_new(cases[i].m, &cases[i].p, &s,
					  &initial, &err), PF_OK);
		assert_non_null(s);
		assert_non_null(initial);
		if (cases[i].b64 != NULL)
			assert_string_equal(initial, cases[i].b64);
		dec = unb64(initial, &len);
		if (len != cases[i].payload_len ||
		    memcmp(dec, cases[i].payload, len) != 0)
			fail_msg("case %zu: payload differs", i);
		assert_true(sasl_secret_sent(s));
		assert_null(sasl_oauth_error(s));
		assert_int_equal(sasl_finish(s, &err), PF_OK);
		free(dec);
		sasl_free_response(&initial);
		assert_null(initial);
		sasl_free(&s);
		assert_null(s);
	}
}

/* PLAIN expects no challenge at all. */
static void test_plain_extra_challenge(void **state)
{
	struct sasl_params p = { "tim", "tanstaaf", NULL, NULL };
	struct sasl *s = NULL;
	char *initial = NULL, *resp = (char *)"x";
	struct error err;

	(void)state;
	error_clear(&err);
	assert_int_equal(sasl_new(SASL_PLAIN, &p, &s, &initial, &err), PF_OK);
	assert_int_equal(sasl_step(s, "", 0, &resp, &err), PF_PROTOCOL);
	assert_null(resp);
	assert_no_secret(&err, "tanstaaf");
	sasl_free_response(&initial);
	sasl_free(&s);
}

/* The JSON error is kept (sanitized, at most 200 bytes) and answered with
 * what ends the exchange; a second challenge is a protocol error. */
static void test_oauth_error(void **state)
{
	static const struct {
		enum sasl_mech m;
		const char *json;
		size_t len;
		const char *kept;
		const char *response;
	} cases[] = {
		{ SASL_XOAUTH2,
		  B("{\"status\":\"400\",\"schemes\":\"Bearer\",\"scope\":"
		    "\"https://mail.google.com/\"}"),
		  "{\"status\":\"400\",\"schemes\":\"Bearer\",\"scope\":"
		  "\"https://mail.google.com/\"}", "" },
		{ SASL_OAUTHBEARER,
		  B("{\"status\":\"invalid_token\",\"scope\":\"x\"}"),
		  "{\"status\":\"invalid_token\",\"scope\":\"x\"}", "AQ==" },
		{ SASL_OAUTHBEARER, B("{\"a\":\n\"\x1b[31m\0\xff\"}"),
		  "{\"a\":?\"?[31m??\"}", "AQ==" },
		{ SASL_XOAUTH2, B(""), "", "" },
	};
	struct sasl_params p = { "u@example.com", "secret-token", "h", "995" };
	size_t i;

	(void)state;
	for (i = 0; i < N(cases); i++) {
		struct sasl *s = NULL;
		char *initial = NULL, *chal, *resp = NULL;
		struct error err;

		error_clear(&err);
		assert_int_equal(sasl_new(cases[i].m, &p, &s, &initial, &err),
				 PF_OK);
		chal = sasl_base64_encode(cases[i].json, cases[i].len);
		assert_int_equal(sasl_step(s, chal, strlen(chal), &resp, &err),
				 PF_OK);
		assert_string_equal(resp, cases[i].response);
		assert_non_null(sasl_oauth_error(s));
		assert_string_equal(sasl_oauth_error(s), cases[i].kept);
		sasl_free_response(&resp);
		/* a second challenge */
		assert_int_equal(sasl_step(s, chal, strlen(chal), &resp, &err),
				 PF_PROTOCOL);
		assert_null(resp);
		assert_no_secret(&err, "secret-token");
		free(chal);
		sasl_free_response(&initial);
		sasl_free(&s);
	}
}

static void test_oauth_error_limits(void **state)
{
	struct sasl_params p = { "u", "tok", NULL, NULL };
	struct sasl *s = NULL;
	char *initial = NULL, *chal, *resp = NULL;
	char json[1000];
	struct error err;

	(void)state;
	memset(json, 'j', sizeof(json));
	chal = sasl_base64_encode(json, sizeof(json));
	error_clear(&err);
	assert_int_equal(sasl_new(SASL_XOAUTH2, &p, &s, &initial, &err),
			 PF_OK);
	assert_int_equal(sasl_step(s, chal, strlen(chal), &resp, &err), PF_OK);
	assert_int_equal(strlen(sasl_oauth_error(s)), 200);
	assert_memory_equal(sasl_oauth_error(s), json, 200);
	sasl_free_response(&resp);
	sasl_free_response(&initial);
	sasl_free(&s);
	free(chal);

	/* not base64: a protocol error, nothing kept */
	assert_int_equal(sasl_new(SASL_OAUTHBEARER, &p, &s, &initial, &err),
			 PF_OK);
	assert_int_equal(sasl_step(s, B("{\"status\":\"401\"}"), &resp, &err),
			 PF_PROTOCOL);
	assert_null(resp);
	assert_null(sasl_oauth_error(s));
	assert_string_equal(err.reply, "{\"status\":\"401\"}");
	sasl_free_response(&initial);
	sasl_free(&s);
}

/* Tokens of 8 KB (Microsoft's are several KB) go through whole. */
static void test_big_token(void **state)
{
	static const enum sasl_mech mechs[] = { SASL_XOAUTH2,
		SASL_OAUTHBEARER, SASL_PLAIN };
	size_t tlen = 8192, i;
	char *token = malloc(tlen + 1);

	(void)state;
	assert_non_null(token);
	for (i = 0; i < tlen; i++)
		token[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			   "0123456789-._~+/"[i % 68];
	token[tlen] = '\0';
	for (i = 0; i < N(mechs); i++) {
		struct sasl_params p = { "user@example.com", token, NULL,
					 NULL };
		struct sasl *s = NULL;
		char *initial = NULL, *dec;
		struct error err;
		size_t len;

		error_clear(&err);
		assert_int_equal(sasl_new(mechs[i], &p, &s, &initial, &err),
				 PF_OK);
		dec = unb64(initial, &len);
		assert_true(len > tlen);
		/* the token is there whole, followed by its terminator */
		if (mechs[i] == SASL_PLAIN) {
			assert_memory_equal(dec + len - tlen, token, tlen);
		} else {
			assert_memory_equal(dec + len - tlen - 2, token, tlen);
			assert_memory_equal(dec + len - 2, "\001\001", 2);
		}
		free(dec);
		sasl_free_response(&initial);
		sasl_free(&s);
	}
	free(token);
}

/* ^A separates OAuth fields: no value may hold a control character. */
static void test_oauth_bad_params(void **state)
{
	static const struct sasl_params cases[] = {
		{ "u", "tok\001en", NULL, NULL },
		{ "u\001auth=Bearer x", "token", NULL, NULL },
		{ "u", "token", "host\001x", NULL },
		{ "u", "token", NULL, "99\n" },
		{ "u", "tok\ren", NULL, NULL },
	};
	size_t i, k;

	(void)state;
	for (k = 0; k < 2; k++) {
		enum sasl_mech m = k == 0 ? SASL_XOAUTH2 : SASL_OAUTHBEARER;

		for (i = 0; i < N(cases); i++) {
			struct sasl *s = (struct sasl *)&k;
			char *initial = (char *)"x";
			struct error err;

			error_clear(&err);
			assert_int_equal(sasl_new(m, &cases[i], &s, &initial,
						  &err), PF_CONFIG);
			assert_null(s);
			assert_null(initial);
			assert_no_secret(&err, cases[i].secret);
		}
	}
}

static void test_new_errors(void **state)
{
	static const enum sasl_mech not_sasl[] = { SASL_AUTO, SASL_USER,
		SASL_APOP, SASL_MECH_COUNT };
	struct sasl_params p = { "u", "pw", NULL, NULL };
	struct sasl_params no_user = { NULL, "pw", NULL, NULL };
	struct sasl_params no_secret = { "u", NULL, NULL, NULL };
	struct sasl *s = NULL;
	char *initial = NULL, *resp = NULL;
	struct error err;
	size_t i;

	(void)state;
	for (i = 0; i < N(not_sasl); i++) {
		error_clear(&err);
		assert_int_equal(sasl_new(not_sasl[i], &p, &s, &initial, &err),
				 PF_SOFTWARE);
		assert_int_equal(err.status, PF_SOFTWARE);
		assert_null(s);
		assert_null(initial);
	}
	assert_int_equal(sasl_new(SASL_PLAIN, NULL, &s, &initial, &err),
			 PF_SOFTWARE);
	assert_int_equal(sasl_new(SASL_PLAIN, &no_user, &s, &initial, &err),
			 PF_SOFTWARE);
	assert_int_equal(sasl_new(SASL_LOGIN, &no_secret, &s, &initial, &err),
			 PF_SOFTWARE);
	assert_int_equal(sasl_step(NULL, "", 0, &resp, &err), PF_SOFTWARE);
	assert_int_equal(sasl_finish(NULL, &err), PF_SOFTWARE);
	assert_null(sasl_oauth_error(NULL));
	assert_false(sasl_secret_sent(NULL));
	/* free functions take NULL */
	sasl_free(&s);
	sasl_free_response(&initial);
}

/* ---- LOGIN ---- */

static void test_login(void **state)
{
	static const struct {
		const char *c1, *c2;
		const char *r1, *r2;
	} cases[] = {
		{ "Username:", "Password:", "tim", "tanstaaf" },
		/* by the text, case-insensitively */
		{ "Password:", "Username:", "tanstaaf", "tim" },
		{ "USERNAME:", "password:", "tim", "tanstaaf" },
		{ "User Name", "Password", "tim", "tanstaaf" },
		/* unknown prompts: user name first, then the password */
		{ "", "", "tim", "tanstaaf" },
		{ "Who are you?", "Prove it", "tim", "tanstaaf" },
		{ "Username:", "Secret?", "tim", "tanstaaf" },
		{ "Identify", "Password:", "tim", "tanstaaf" },
	};
	struct sasl_params p = { "tim", "tanstaaf", NULL, NULL };
	size_t i;

	(void)state;
	for (i = 0; i < N(cases); i++) {
		struct sasl *s = NULL;
		char *initial = (char *)"x", *r = NULL;
		struct error err;

		error_clear(&err);
		assert_int_equal(sasl_new(SASL_LOGIN, &p, &s, &initial, &err),
				 PF_OK);
		assert_null(initial);	/* the server speaks first */
		assert_false(sasl_secret_sent(s));
		assert_int_equal(step_text(s, cases[i].c1, &r, &err), PF_OK);
		assert_string_equal(r, cases[i].r1);
		assert_int_equal(sasl_secret_sent(s),
				 strcmp(cases[i].r1, "tanstaaf") == 0);
		free(r);
		assert_int_equal(step_text(s, cases[i].c2, &r, &err), PF_OK);
		assert_string_equal(r, cases[i].r2);
		assert_true(sasl_secret_sent(s));
		free(r);
		/* a third challenge */
		assert_int_equal(step_text(s, "Password:", &r, &err),
				 PF_PROTOCOL);
		assert_no_secret(&err, "tanstaaf");
		assert_int_equal(sasl_finish(s, &err), PF_OK);
		sasl_free(&s);
	}
}

/* Asking twice for one thing, or a challenge that is not base64. */
static void test_login_bad(void **state)
{
	struct sasl_params p = { "tim", "tanstaaf", NULL, NULL };
	struct sasl *s = NULL;
	char *initial = NULL, *r = NULL;
	struct error err;

	(void)state;
	error_clear(&err);
	assert_int_equal(sasl_new(SASL_LOGIN, &p, &s, &initial, &err), PF_OK);
	assert_int_equal(step_text(s, "Username:", &r, &err), PF_OK);
	free(r);
	assert_int_equal(step_text(s, "Username:", &r, &err), PF_PROTOCOL);
	assert_false(sasl_secret_sent(s));
	/* and after a failure nothing more */
	assert_int_equal(step_text(s, "Password:", &r, &err), PF_PROTOCOL);
	assert_false(sasl_secret_sent(s));
	sasl_free(&s);

	assert_int_equal(sasl_new(SASL_LOGIN, &p, &s, &initial, &err), PF_OK);
	assert_int_equal(sasl_step(s, B("Username:"), &r, &err), PF_PROTOCOL);
	assert_null(r);
	assert_string_equal(err.reply, "Username:");
	sasl_free(&s);
}

/* ---- CRAM-MD5 ---- */

static void test_cram_md5(void **state)
{
	/* RFC 2195 section 2 */
	struct sasl_params p = { "tim", "tanstaaftanstaaf", NULL, NULL };
	static const char chal[] =
		"PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+";
	struct sasl *s = NULL;
	char *initial = (char *)"x", *resp = NULL, *dec;
	struct error err;

	(void)state;
	error_clear(&err);
	dec = unb64(chal, NULL);
	assert_string_equal(dec,
			    "<1896.697170952@postoffice.reston.mci.net>");
	free(dec);
	assert_int_equal(sasl_new(SASL_CRAM_MD5, &p, &s, &initial, &err),
			 PF_OK);
	assert_null(initial);
	assert_false(sasl_secret_sent(s));
	assert_int_equal(sasl_step(s, chal, strlen(chal), &resp, &err), PF_OK);
	assert_string_equal(resp,
			    "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
	assert_true(sasl_secret_sent(s));
	sasl_free_response(&resp);
	assert_int_equal(sasl_step(s, chal, strlen(chal), &resp, &err),
			 PF_PROTOCOL);
	assert_null(resp);
	assert_int_equal(sasl_finish(s, &err), PF_OK);
	sasl_free(&s);
}

static void test_cram_md5_bad(void **state)
{
	static const struct {
		const char *chal;
		size_t len;
	} cases[] = {
		{ B("") },		/* no nonce: a replayable answer */
		{ B("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ") },
		{ B("<1896.697170952@postoffice.reston.mci.net>") },
	};
	struct sasl_params p = { "tim", "tanstaaftanstaaf", NULL, NULL };
	size_t i;

	(void)state;
	for (i = 0; i < N(cases); i++) {
		struct sasl *s = NULL;
		char *initial = NULL, *resp = NULL;
		struct error err;

		error_clear(&err);
		assert_int_equal(sasl_new(SASL_CRAM_MD5, &p, &s, &initial,
					  &err), PF_OK);
		assert_int_equal(sasl_step(s, cases[i].chal, cases[i].len,
					   &resp, &err), PF_PROTOCOL);
		assert_null(resp);
		assert_false(sasl_secret_sent(s));
		assert_no_secret(&err, p.secret);
		sasl_free(&s);
	}
}

/* ---- SCRAM ---- */

struct scram_vector {
	enum sasl_mech m;
	const char *nonce;
	const char *client_first;
	const char *server_first;
	const char *client_final;
	const char *server_final;
};

static const struct scram_vector scram_rfc[] = {
	/* RFC 5802 section 5 */
	{ SASL_SCRAM_SHA_1, "fyko+d2lbbFgONRv9qkxdawL",
	  "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	  "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,"
	  "i=4096",
	  "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	  "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	  "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=" },
	/* RFC 7677 section 3 */
	{ SASL_SCRAM_SHA_256, "rOprNGfwEbeRWgbNEkqO",
	  "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	  "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	  "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	  "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	  "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" },
};

static const struct sasl_params pencil = { "user", "pencil", NULL, NULL };

/* Starts SCRAM with the vector's nonce and checks the client-first. */
static struct sasl *scram_start(const struct scram_vector *v,
				const struct sasl_params *p)
{
	struct sasl *s = NULL;
	char *initial = NULL, *dec;
	struct error err;

	error_clear(&err);
	sasl_test_set_nonce(v->nonce);
	assert_int_equal(sasl_new(v->m, p, &s, &initial, &err), PF_OK);
	sasl_test_set_nonce(NULL);
	dec = unb64(initial, NULL);
	if (p == &pencil)
		assert_string_equal(dec, v->client_first);
	assert_false(sasl_secret_sent(s));
	free(dec);
	sasl_free_response(&initial);
	return s;
}

static void test_scram_rfc(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N(scram_rfc); i++) {
		const struct scram_vector *v = &scram_rfc[i];
		struct sasl *s = scram_start(v, &pencil);
		struct error err;
		char *r = NULL;

		assert_int_equal(step_text(s, v->server_first, &r, &err),
				 PF_OK);
		assert_string_equal(r, v->client_final);
		assert_true(sasl_secret_sent(s));
		free(r);
		/* accepted by the server before it proved itself: no */
		assert_int_equal(sasl_finish(s, &err), PF_NOPERM);
		assert_int_equal(step_text(s, v->server_final, &r, &err),
				 PF_OK);
		assert_string_equal(r, "");
		free(r);
		assert_int_equal(sasl_finish(s, &err), PF_OK);
		/* nothing after the server-final */
		assert_int_equal(step_text(s, v->server_final, &r, &err),
				 PF_PROTOCOL);
		sasl_free(&s);
	}
}

/* The server-final may carry extensions after v=. */
static void test_scram_final_extension(void **state)
{
	const struct scram_vector *v = &scram_rfc[0];
	struct sasl *s = scram_start(v, &pencil);
	struct error err;
	char *r = NULL, *final = NULL;

	(void)state;
	assert_int_equal(step_text(s, v->server_first, &r, &err), PF_OK);
	free(r);
	final = xasprintf("%s,x=ext", v->server_final);
	assert_int_equal(step_text(s, final, &r, &err), PF_OK);
	free(r);
	free(final);
	assert_int_equal(sasl_finish(s, &err), PF_OK);
	sasl_free(&s);
}

/* Malformed server-first messages: PF_PROTOCOL, no proof sent. */
static void test_scram_bad_server_first(void **state)
{
	static const char *const cases[] = {
		"",
		"r=fyko+d2lbbFgONRv9qkxdawL",
		/* our nonce without the server's part */
		"r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096",
		/* not starting with ours */
		"r=fyko+d2lbbFgONRv9qkxdawX3rfcNHYJY1ZVvWVs7j,"
		"s=QSXCR+Q6sek8bf92,i=4096",
		"r=3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"r=,s=QSXCR+Q6sek8bf92,i=4096",
		/* nonce with a non-printable */
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc NHYJ,s=QSXCR+Q6sek8bf92,"
		"i=4096",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc\x7fNHYJ,s=QSXCR+Q6sek8bf92,"
		"i=4096",
		/* iteration counts */
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=0",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=1000001",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,"
		"i=99999999999999999999",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=-1",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=+1",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i= 1",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096 ",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=abc",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=0x10",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92",
		/* salts */
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=,i=4096",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf9,i=4096",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR Q6sek8bf92,i=4096",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,i=4096",
		/* order and shape */
		"s=QSXCR+Q6sek8bf92,r=fyko+d2lbbFgONRv9qkxdawL3rfc,i=4096",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,i=4096,s=QSXCR+Q6sek8bf92",
		"R=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096",
		" r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096,",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096,junk",
		/* a mandatory extension we do not know */
		"m=must-understand,r=fyko+d2lbbFgONRv9qkxdawL3rfc,"
		"s=QSXCR+Q6sek8bf92,i=4096",
		/* an e= instead: still malformed at this point */
		"e=unknown-user",
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(cases); i++) {
		struct sasl *s = scram_start(&scram_rfc[0], &pencil);
		struct error err;
		char *r = NULL;

		if (step_text(s, cases[i], &r, &err) != PF_PROTOCOL)
			fail_msg("case %zu '%s' not refused", i, cases[i]);
		assert_false(sasl_secret_sent(s));
		assert_no_secret(&err, "pencil");
		/* after a failure no step succeeds */
		assert_int_equal(step_text(s, scram_rfc[0].server_first, &r,
					   &err), PF_PROTOCOL);
		assert_int_equal(sasl_finish(s, &err), PF_NOPERM);
		sasl_free(&s);
	}
}

/* What the server-first may hold: i at its limits, extensions, a nonce
 * full of punctuation. */
static void test_scram_server_first_ok(void **state)
{
	static const char *const cases[] = {
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=1",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=1000000",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=0004096",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096,"
		"x=ext,y=more",
		"r=fyko+d2lbbFgONRv9qkxdawL!\"#$%&'()*+-./:;<=>?@[\\]^_`{|}~,"
		"s=QQ==,i=2",
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(cases); i++) {
		struct sasl *s = scram_start(&scram_rfc[0], &pencil);
		struct error err;
		char *r = NULL;

		if (step_text(s, cases[i], &r, &err) != PF_OK)
			fail_msg("case %zu '%s' refused: %s", i, cases[i],
				 err.text);
		assert_true(strncmp(r, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL",
				    33) == 0);
		assert_non_null(strstr(r, ",p="));
		free(r);
		sasl_free(&s);
	}
}

/* Bad server-final messages. */
static void test_scram_bad_server_final(void **state)
{
	static const struct {
		const char *final;
		enum pf_status ret;
		const char *reply;	/* expected err.reply, or NULL */
	} cases[] = {
		/* a well-formed but wrong signature: an impostor */
		{ "v=rmF9pqV8S7suAoZWja4dJRkFsKA=", PF_NOPERM, NULL },
		/* the SHA-256 signature for the SHA-1 exchange */
		{ "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", PF_NOPERM,
		  NULL },
		/* truncated */
		{ "v=rmF9pqV8S7suAoZWja4dJRkF", PF_NOPERM, NULL },
		{ "v=", PF_NOPERM, NULL },
		/* the server refused us */
		{ "e=invalid-proof", PF_NOPERM, "invalid-proof" },
		{ "e=other-error,x=y", PF_NOPERM, "other-error" },
		{ "e=\x1b[2J\x07", PF_NOPERM, "?[2J?" },
		/* malformed */
		{ "v=rmF9pqV8S7suAoZWja4dJRkFsKQ", PF_PROTOCOL, NULL },
		{ "", PF_PROTOCOL, NULL },
		{ "x=rmF9pqV8S7suAoZWja4dJRkFsKQ=", PF_PROTOCOL, NULL },
		{ "V=rmF9pqV8S7suAoZWja4dJRkFsKQ=", PF_PROTOCOL, NULL },
		{ "rmF9pqV8S7suAoZWja4dJRkFsKQ=", PF_PROTOCOL, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(cases); i++) {
		struct sasl *s = scram_start(&scram_rfc[0], &pencil);
		struct error err;
		char *r = NULL;

		assert_int_equal(step_text(s, scram_rfc[0].server_first, &r,
					   &err), PF_OK);
		free(r);
		if (step_text(s, cases[i].final, &r, &err) != cases[i].ret)
			fail_msg("case %zu '%s': %s", i, cases[i].final,
				 err.text);
		if (cases[i].reply != NULL)
			assert_string_equal(err.reply, cases[i].reply);
		assert_no_secret(&err, "pencil");
		assert_true(sasl_secret_sent(s));
		assert_int_equal(sasl_finish(s, &err), PF_NOPERM);
		assert_int_equal(err.status, PF_NOPERM);
		sasl_free(&s);
	}
}

/* The challenge not base64 or not text, in either SCRAM step. */
static void test_scram_not_base64(void **state)
{
	struct sasl *s = scram_start(&scram_rfc[1], &pencil);
	struct error err;
	char *r = NULL, *final;

	(void)state;
	error_clear(&err);
	assert_int_equal(sasl_step(s, B("r=rOprNGfwEbeRWgbNEkqOx,s=QQ==,i=1"),
				   &r, &err), PF_PROTOCOL);
	assert_null(r);
	sasl_free(&s);

	s = scram_start(&scram_rfc[1], &pencil);
	assert_int_equal(step_text(s, scram_rfc[1].server_first, &r, &err),
			 PF_OK);
	free(r);
	/* the right server-final, its padding cut off */
	final = b64(scram_rfc[1].server_final);
	assert_int_equal(final[strlen(final) - 1], '=');
	assert_int_equal(sasl_step(s, final, strlen(final) - 1, &r, &err),
			 PF_PROTOCOL);
	assert_null(r);
	assert_int_equal(sasl_finish(s, &err), PF_NOPERM);
	free(final);
	sasl_free(&s);

	/* the right server-final followed by a NUL: not text */
	s = scram_start(&scram_rfc[1], &pencil);
	assert_int_equal(step_text(s, scram_rfc[1].server_first, &r, &err),
			 PF_OK);
	free(r);
	final = xasprintf("%s", scram_rfc[1].server_final);
	assert_int_equal(step_textn(s, final, strlen(final) + 1, &r, &err),
			 PF_PROTOCOL);
	assert_int_equal(sasl_finish(s, &err), PF_NOPERM);
	free(final);
	sasl_free(&s);
}

/* Missing server-final: the server said +OK right after our proof. */
static void test_scram_missing_final(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N(scram_rfc); i++) {
		struct sasl *s = scram_start(&scram_rfc[i], &pencil);
		struct error err;
		char *r = NULL;

		error_clear(&err);
		/* +OK before anything at all */
		assert_int_equal(sasl_finish(s, &err), PF_NOPERM);
		assert_int_equal(step_text(s, scram_rfc[i].server_first, &r,
					   &err), PF_OK);
		free(r);
		error_clear(&err);
		assert_int_equal(sasl_finish(s, &err), PF_NOPERM);
		assert_int_equal(err.status, PF_NOPERM);
		sasl_free(&s);
	}
}

/* saslname escaping; a different password gives a different proof and
 * the RFC's server signature no longer matches. */
static void test_scram_user_and_password(void **state)
{
	static const struct sasl_params odd = { "a=b,c", "pencil", NULL,
						NULL };
	static const struct sasl_params other = { "user", "pencil2", NULL,
						  NULL };
	struct sasl *s;
	struct error err;
	char *initial = NULL, *dec, *r = NULL;

	(void)state;
	error_clear(&err);
	sasl_test_set_nonce("abc");
	assert_int_equal(sasl_new(SASL_SCRAM_SHA_1, &odd, &s, &initial, &err),
			 PF_OK);
	sasl_test_set_nonce(NULL);
	dec = unb64(initial, NULL);
	assert_string_equal(dec, "n,,n=a=3Db=2Cc,r=abc");
	free(dec);
	sasl_free_response(&initial);
	sasl_free(&s);

	s = scram_start(&scram_rfc[0], &other);
	assert_int_equal(step_text(s, scram_rfc[0].server_first, &r, &err),
			 PF_OK);
	assert_true(strncmp(r, scram_rfc[0].client_final,
			    strlen(scram_rfc[0].client_final) - 28) == 0);
	assert_string_not_equal(r, scram_rfc[0].client_final);
	free(r);
	assert_int_equal(step_text(s, scram_rfc[0].server_final, &r, &err),
			 PF_NOPERM);
	sasl_free(&s);
}

/* UTF-8: refused when invalid (PF_CONFIG, secret not shown), passed
 * through as-is when valid. */
static void test_scram_utf8(void **state)
{
	static const struct {
		const char *user, *secret;
		enum pf_status ret;
	} cases[] = {
		{ "user", "p\xc3\xa9ncil", PF_OK },
		{ "\xe2\x82\xac", "\xf0\x9f\x94\x91", PF_OK },
		{ "user", "p\xe9ncil", PF_CONFIG },	/* Latin-1 */
		{ "us\xe9r", "pencil", PF_CONFIG },
		{ "user", "\xc0\xae", PF_CONFIG },	/* overlong */
		{ "user", "\xed\xa0\x80", PF_CONFIG },	/* surrogate */
		{ "user", "\xf4\x90\x80\x80", PF_CONFIG },	/* > U+10FFFF */
		{ "user", "\xe2\x82", PF_CONFIG },	/* truncated */
		{ "user", "\x80", PF_CONFIG },
		{ "user", "\xff", PF_CONFIG },
	};
	size_t i, k;

	(void)state;
	for (k = 0; k < 2; k++) {
		for (i = 0; i < N(cases); i++) {
			struct sasl_params p = { cases[i].user,
						 cases[i].secret, NULL, NULL };
			struct sasl *s = NULL;
			char *initial = NULL;
			struct error err;

			error_clear(&err);
			assert_int_equal(sasl_new(k == 0 ? SASL_SCRAM_SHA_1
							 : SASL_SCRAM_SHA_256,
						  &p, &s, &initial, &err),
					 cases[i].ret);
			assert_int_equal(s == NULL, cases[i].ret != PF_OK);
			assert_int_equal(initial == NULL,
					 cases[i].ret != PF_OK);
			assert_no_secret(&err, cases[i].secret);
			sasl_free_response(&initial);
			sasl_free(&s);
		}
	}
}

/* Without the test hook the nonce is random: 24 base64 characters. */
static void test_scram_random_nonce(void **state)
{
	char *nonce[2] = { NULL, NULL };
	size_t i, k;

	(void)state;
	for (k = 0; k < 2; k++) {
		struct sasl *s = NULL;
		char *initial = NULL, *dec, *r;
		struct error err;

		error_clear(&err);
		assert_int_equal(sasl_new(SASL_SCRAM_SHA_256, &pencil, &s,
					  &initial, &err), PF_OK);
		dec = unb64(initial, NULL);
		assert_true(strncmp(dec, "n,,n=user,r=", 12) == 0);
		r = dec + 12;
		assert_int_equal(strlen(r), 24);
		for (i = 0; i < 24; i++)
			assert_true(r[i] > 0x20 && r[i] < 0x7f && r[i] != ',');
		nonce[k] = xstrdup(r);
		free(dec);
		sasl_free_response(&initial);
		sasl_free(&s);
	}
	assert_string_not_equal(nonce[0], nonce[1]);
	free(nonce[0]);
	free(nonce[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_exposes),
		cmocka_unit_test(test_parse_capa),
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_apop_timestamp),
		cmocka_unit_test(test_apop_timestamp_limits),
		cmocka_unit_test(test_apop_digest),
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_roundtrip),
		cmocka_unit_test(test_base64_rejects),
		cmocka_unit_test(test_initial_payloads),
		cmocka_unit_test(test_plain_extra_challenge),
		cmocka_unit_test(test_oauth_error),
		cmocka_unit_test(test_oauth_error_limits),
		cmocka_unit_test(test_big_token),
		cmocka_unit_test(test_oauth_bad_params),
		cmocka_unit_test(test_new_errors),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_login_bad),
		cmocka_unit_test(test_cram_md5),
		cmocka_unit_test(test_cram_md5_bad),
		cmocka_unit_test(test_scram_rfc),
		cmocka_unit_test(test_scram_final_extension),
		cmocka_unit_test(test_scram_bad_server_first),
		cmocka_unit_test(test_scram_server_first_ok),
		cmocka_unit_test(test_scram_bad_server_final),
		cmocka_unit_test(test_scram_not_base64),
		cmocka_unit_test(test_scram_missing_final),
		cmocka_unit_test(test_scram_user_and_password),
		cmocka_unit_test(test_scram_utf8),
		cmocka_unit_test(test_scram_random_nonce),
	};

	return cmocka_run_group_tests_name("sasl", tests, NULL, NULL);
}
