/*
 * test_pop3_parse.c - the pure parsers of server replies in pop3.c, fed
 * good and hostile lines (RFC 1939, RFC 2449, RFC 3206).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "error.h"
#include "pop3.h"

#define B(s) s, sizeof(s) - 1

/* ---- status lines ---- */

struct status_case {
	const char *line;
	size_t len;
	enum pf_status ret;
	bool ok;
	enum pop3_resp_code code;
	const char *text;	/* expected text; NULL: not checked */
};

static const struct status_case status_cases[] = {
	{ B("+OK"), PF_OK, true, POP3_RESP_NONE, "" },
	{ B("+OK "), PF_OK, true, POP3_RESP_NONE, "" },
	{ B("+OK POP3 server ready"), PF_OK, true, POP3_RESP_NONE,
	  "POP3 server ready" },
	{ B("+OK 2 320"), PF_OK, true, POP3_RESP_NONE, "2 320" },
	{ B("-ERR"), PF_OK, false, POP3_RESP_NONE, "" },
	{ B("-ERR no such message"), PF_OK, false, POP3_RESP_NONE,
	  "no such message" },
	/* whether the text includes the "[CODE]" is not fixed by pop3.h */
	{ B("-ERR [IN-USE] x"), PF_OK, false, POP3_RESP_IN_USE, NULL },
	{ B("-ERR [IN-USE]"), PF_OK, false, POP3_RESP_IN_USE, NULL },
	{ B("-ERR [LOGIN-DELAY] wait"), PF_OK, false,
	  POP3_RESP_LOGIN_DELAY, NULL },
	{ B("-ERR [SYS/TEMP] disk trouble"), PF_OK, false,
	  POP3_RESP_SYS_TEMP, NULL },
	{ B("-ERR [SYS/TEMP]"), PF_OK, false, POP3_RESP_SYS_TEMP, NULL },
	{ B("-ERR [SYS/PERM] gone"), PF_OK, false, POP3_RESP_SYS_PERM,
	  NULL },
	{ B("-ERR [AUTH] bad password"), PF_OK, false, POP3_RESP_AUTH,
	  NULL },
	{ B("-ERR [XYZZY] who knows"), PF_OK, false, POP3_RESP_OTHER,
	  NULL },
	{ B("-ERR [IN-USEFUL] x"), PF_OK, false, POP3_RESP_OTHER, NULL },
	/* a code is only a code at the start of the text */
	{ B("-ERR bad [AUTH]"), PF_OK, false, POP3_RESP_NONE,
	  "bad [AUTH]" },
	/* anything but exactly "+OK" / "-ERR" then space or end */
	{ B("+OKAY"), PF_PROTOCOL, false, POP3_RESP_NONE, NULL },
	{ B("-ERROR"), PF_PROTOCOL, false, POP3_RESP_NONE, NULL },
	{ B("+OK\tx"), PF_PROTOCOL, false, POP3_RESP_NONE, NULL },
	{ B("OK"), PF_PROTOCOL, false, POP3_RESP_NONE, NULL },
	{ B("+O"), PF_PROTOCOL, false, POP3_RESP_NONE, NULL },
	{ B("+"), PF_PROTOCOL, false, POP3_RESP_NONE, NULL },
	{ B("-"), PF_PROTOCOL, false, POP3_RESP_NONE, NULL },
	{ B(""), PF_PROTOCOL, false, POP3_RESP_NONE, NULL },
	{ B(" +OK"), PF_PROTOCOL, false, POP3_RESP_NONE, NULL },
	{ B("* OK IMAP"), PF_PROTOCOL, false, POP3_RESP_NONE, NULL },
	{ B("+OK a\0b"), PF_PROTOCOL, false, POP3_RESP_NONE, NULL },
	{ B("-ERR \0"), PF_PROTOCOL, false, POP3_RESP_NONE, NULL },
	{ B("+OK\0"), PF_PROTOCOL, false, POP3_RESP_NONE, NULL },
};

static void test_parse_status(void **state)
{
	size_t i;
	unsigned nfail = 0;

	(void)state;
	for (i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
		const struct status_case *c = &status_cases[i];
		struct error err;
		bool ok = !c->ok;
		enum pop3_resp_code code = POP3_RESP_OTHER + 1;
		const char *text = NULL;
		size_t textlen = 9999;
		enum pf_status ret;

		error_clear(&err);
		ret = pop3_parse_status(c->line, c->len, &ok, &code, &text,
					&textlen, &err);
		if (ret != c->ret) {
			print_error("# '%.*s': returned %d, want %d\n",
				    (int)c->len, c->line, ret, c->ret);
			nfail++;
			continue;
		}
		if (ret != PF_OK) {
			assert_int_equal(err.status, PF_PROTOCOL);
			assert_true(err.text[0] != '\0');
			continue;
		}
		if (ok != c->ok || code != c->code)
			fail_msg("'%s': ok %d code %d, want %d %d", c->line,
				 ok, code, c->ok, c->code);
		assert_non_null(text);
		/* the text points into the line */
		assert_true(text >= c->line && text + textlen <= c->line + c->len);
		if (c->text != NULL &&
		    (textlen != strlen(c->text) ||
		     memcmp(text, c->text, textlen) != 0))
			fail_msg("'%s': text '%.*s', want '%s'", c->line,
				 (int)textlen, text, c->text);
		if (c->text == NULL && c->len > 0 && c->line[c->len - 1] == 'x')
			/* the free text after a code is in the text */
			assert_true(textlen > 0 && text[textlen - 1] == 'x');
	}
	assert_int_equal(nfail, 0);
}

/* The length is honoured: no reading up to a NUL. */
static void test_parse_status_len(void **state)
{
	static const char buf[] = "+OK hello\r\nJUNK";
	struct error err;
	bool ok = false;
	enum pop3_resp_code code;
	const char *text;
	size_t textlen;

	(void)state;
	error_clear(&err);
	assert_int_equal(pop3_parse_status(buf, 9, &ok, &code, &text,
					   &textlen, &err), PF_OK);
	assert_true(ok);
	assert_int_equal(textlen, 5);
	assert_memory_equal(text, "hello", 5);
	assert_int_equal(pop3_parse_status(buf, 2, &ok, &code, &text,
					   &textlen, &err), PF_PROTOCOL);
}

/* ---- CAPA ---- */

struct capa_case {
	const char *line;
	unsigned capa;
};

static const struct capa_case capa_cases[] = {
	{ "STLS", POP3_CAPA_STLS },
	{ "stls", POP3_CAPA_STLS },
	{ "StLs", POP3_CAPA_STLS },
	{ "UIDL", POP3_CAPA_UIDL },
	{ "uidl", POP3_CAPA_UIDL },
	{ "TOP", POP3_CAPA_TOP },
	{ "USER", POP3_CAPA_USER },
	{ "PIPELINING", POP3_CAPA_PIPELINING },
	{ "pipelining", POP3_CAPA_PIPELINING },
	{ "RESP-CODES", POP3_CAPA_RESP_CODES },
	{ "AUTH-RESP-CODE", POP3_CAPA_AUTH_RESP_CODE },
	{ "SASL PLAIN LOGIN", POP3_CAPA_SASL },
	{ "sasl plain", POP3_CAPA_SASL },
	{ "SASL", POP3_CAPA_SASL },
	{ "IMPLEMENTATION Dovecot", 0 },
	{ "EXPIRE NEVER", 0 },
	{ "LOGIN-DELAY 900", 0 },
	{ "STLSX", 0 },
	{ "XSTLS", 0 },
	{ "UIDLIST", 0 },
	{ "TOPS", 0 },
	{ "RESP-CODESX", 0 },
	{ "", 0 },
	{ "IMPLEMENTATION STLS", 0 },
};

static void test_parse_capa(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(capa_cases) / sizeof(capa_cases[0]); i++) {
		unsigned capa = 0;

		pop3_parse_capa_line(capa_cases[i].line,
				     strlen(capa_cases[i].line), &capa);
		if (capa != capa_cases[i].capa)
			fail_msg("'%s': capa 0x%x, want 0x%x",
				 capa_cases[i].line, capa, capa_cases[i].capa);
	}
}

/* Lines add to what is known; the length bounds the name. */
static void test_parse_capa_accumulates(void **state)
{
	unsigned capa = POP3_CAPA_TOP;

	(void)state;
	pop3_parse_capa_line("UIDL", 4, &capa);
	pop3_parse_capa_line("IMPLEMENTATION x", 16, &capa);
	pop3_parse_capa_line("STLSJUNK", 4, &capa);
	assert_int_equal(capa, POP3_CAPA_TOP | POP3_CAPA_UIDL | POP3_CAPA_STLS);
	capa = 0;
	pop3_parse_capa_line("PIPELINING", 4, &capa);	/* "PIPE" */
	assert_int_equal(capa, 0);
}

/* ---- UIDL ---- */

struct uidl_case {
	const char *line;
	size_t len;
	uint32_t max;
	enum pf_status ret;
	uint32_t num;
	const char *uid;
};

#define U_OK(l, max, num, uid) { B(l), max, PF_OK, num, uid }
#define U_BAD(l, max) { B(l), max, PF_PROTOCOL, 0, NULL }

#define UID70 \
	"0123456789012345678901234567890123456789012345678901234567890123456789"

static const struct uidl_case uidl_cases[] = {
	U_OK("1 abc", 10, 1, "abc"),
	U_OK("10 QhdPYR:00WBw1Ph7x7", 10, 10, "QhdPYR:00WBw1Ph7x7"),
	U_OK("1 !", 1, 1, "!"),
	U_OK("1 ~", 1, 1, "~"),
	U_OK("1 " UID70, 1, 1, UID70),
	U_BAD("1 " UID70 "x", 1),
	/* leading zeros are still a decimal number */
	U_OK("007 abc", 10, 7, "abc"),
	U_BAD("1 a b", 10),		/* 0x20 inside, or junk after */
	U_BAD("1 abc def", 10),
	/* tolerated: more than one space, trailing blanks (a UID cannot
	 * hold a blank, so nothing is ambiguous) */
	U_OK("1 abc ", 10, 1, "abc"),
	U_OK("1  abc", 10, 1, "abc"),
	U_OK("1 ab\t", 10, 1, "ab"),
	U_BAD(" 1 abc", 10),
	U_BAD("1\tabc", 10),
	U_BAD("1 ab\x7f", 10),
	U_BAD("1 ab\x01", 10),
	U_BAD("1 ab\r", 10),
	U_BAD("1 \xc3\xa9t\xc3\xa9", 10),
	U_BAD("1 \xff", 10),
	U_BAD("1 a\0b", 10),
	U_BAD("0 abc", 10),
	U_BAD("11 abc", 10),
	U_BAD("4 abc", 3),
	U_BAD("9 abc", 3),
	U_BAD("1 abc", 0),
	U_BAD("1", 10),
	U_BAD("1 ", 10),
	U_BAD("", 10),
	U_BAD(" abc", 10),
	U_BAD("abc", 10),
	U_BAD("x abc", 10),
	U_BAD("1x abc", 10),
	U_BAD("-1 abc", 10),
	U_BAD("+1 abc", 10),
	U_BAD("0x1 abc", 10),
	/* 2^32 + 1 must not wrap round to 1 */
	U_BAD("4294967297 abc", POP3_MAX_MESSAGES),
	U_BAD("18446744073709551617 abc", POP3_MAX_MESSAGES),
	U_BAD("99999999999999999999999999999999 abc", POP3_MAX_MESSAGES),
	U_OK("10000000 abc", POP3_MAX_MESSAGES, 10000000, "abc"),
};

static void test_parse_uidl(void **state)
{
	size_t i;
	unsigned nfail = 0;

	(void)state;
	for (i = 0; i < sizeof(uidl_cases) / sizeof(uidl_cases[0]); i++) {
		const struct uidl_case *c = &uidl_cases[i];
		char uid[POP3_MAX_UID + 1 + 8];
		uint32_t num = 4242;
		struct error err;
		enum pf_status ret;

		memset(uid, 'Z', sizeof(uid));
		error_clear(&err);
		ret = pop3_parse_uidl_line(c->line, c->len, c->max, &num, uid,
					   &err);
		if (ret != c->ret) {
			print_error("# case %zu '%.*s' (max %u): returned %d, "
				    "want %d\n", i, (int)c->len, c->line,
				    c->max, ret, c->ret);
			nfail++;
			continue;
		}
		if (ret != PF_OK) {
			assert_int_equal(err.status, PF_PROTOCOL);
			assert_true(err.text[0] != '\0');
			continue;
		}
		assert_int_equal(num, c->num);
		assert_string_equal(uid, c->uid);
		/* nothing written past POP3_MAX_UID + 1 bytes */
		assert_int_equal(uid[POP3_MAX_UID + 1], 'Z');
	}
	assert_int_equal(nfail, 0);
}

/* Every character 0x21..0x7e is allowed in a UID; the line need not be
 * NUL-terminated. */
static void test_parse_uidl_charset(void **state)
{
	char line[64], uid[POP3_MAX_UID + 1];
	int c;

	(void)state;
	for (c = 0; c < 256; c++) {
		struct error err;
		uint32_t num;
		bool good = c >= 0x21 && c <= 0x7e;

		line[0] = '3';
		line[1] = ' ';
		line[2] = 'a';
		line[3] = (char)c;
		line[4] = 'b';
		line[5] = c == 'X' ? 'Y' : 'X';	/* beyond len */
		error_clear(&err);
		if ((pop3_parse_uidl_line(line, 5, 3, &num, uid, &err) ==
		     PF_OK) != good)
			fail_msg("byte 0x%02x: accepted %d", c, !good);
		if (good) {
			assert_int_equal(num, 3);
			assert_int_equal(strlen(uid), 3);
			assert_int_equal((unsigned char)uid[1], c);
		}
	}
}

/* ---- LIST and STAT ---- */

struct list_case {
	const char *line;
	size_t len;
	uint32_t min, max;
	enum pf_status ret;
	uint32_t num;
	uint64_t size;
};

#define L_OK(l, min, max, num, size) { B(l), min, max, PF_OK, num, size }
#define L_BAD(l, min, max) { B(l), min, max, PF_PROTOCOL, 0, 0 }
#define MAXM POP3_MAX_MESSAGES

static const struct list_case list_cases[] = {
	L_OK("1 120", 1, 5, 1, 120),
	L_OK("5 0", 1, 5, 5, 0),
	L_OK("2 320 octets more text", 1, 5, 2, 320),
	L_OK("0 0", 0, MAXM, 0, 0),			/* STAT, empty */
	L_OK("10000000 1", 0, MAXM, 10000000, 1),
	L_OK("1 18446744073709551615", 1, 1, 1, UINT64_MAX),
	L_OK("01 007", 1, 1, 1, 7),
	L_BAD("1 18446744073709551616", 1, 1),	/* 2^64 */
	L_BAD("1 99999999999999999999999999", 1, 1),
	L_BAD("0 120", 1, 5),
	L_BAD("6 120", 1, 5),
	L_BAD("9 120", 1, 5),
	L_BAD("1 120", 0, 0),
	L_BAD("12 120", 1, 11),
	L_BAD("10000001 1", 0, MAXM),
	L_BAD("4294967297 1", 0, MAXM),		/* 2^32 + 1 */
	L_BAD("1 -5", 1, 5),
	L_BAD("-1 5", 1, 5),
	L_BAD("+1 5", 1, 5),
	L_BAD("1 +5", 1, 5),
	L_BAD("1 abc", 1, 5),
	L_BAD("x 5", 1, 5),
	L_BAD("1x 5", 1, 5),
	L_BAD("1 0x10", 1, 5),
	L_BAD("1", 1, 5),
	L_BAD("1 ", 1, 5),
	L_BAD("", 1, 5),
	L_BAD(" 1 5", 1, 5),
	L_OK("1  5", 1, 5, 1, 5),		/* tolerated */
	L_BAD("1\t5", 1, 5),
};

static void test_parse_list(void **state)
{
	size_t i;
	unsigned nfail = 0;

	(void)state;
	for (i = 0; i < sizeof(list_cases) / sizeof(list_cases[0]); i++) {
		const struct list_case *c = &list_cases[i];
		uint32_t num = 4242;
		uint64_t size = 4242;
		struct error err;
		enum pf_status ret;

		error_clear(&err);
		ret = pop3_parse_list_line(c->line, c->len, c->min, c->max,
					   &num, &size, &err);
		if (ret != c->ret) {
			print_error("# case %zu '%.*s' (%u..%u): returned %d, "
				    "want %d\n", i, (int)c->len, c->line,
				    c->min, c->max, ret, c->ret);
			nfail++;
			continue;
		}
		if (ret != PF_OK) {
			assert_int_equal(err.status, PF_PROTOCOL);
			assert_true(err.text[0] != '\0');
			continue;
		}
		assert_int_equal(num, c->num);
		assert_true(size == c->size);
	}
	assert_int_equal(nfail, 0);
}

static void test_parse_list_len(void **state)
{
	uint32_t num;
	uint64_t size;
	struct error err;

	(void)state;
	error_clear(&err);
	/* "1 12" of "1 1234": the length bounds the number */
	assert_int_equal(pop3_parse_list_line("1 1234", 4, 1, 1, &num, &size,
					      &err), PF_OK);
	assert_true(size == 12);
}

/* ---- command arguments ---- */

static void test_check_arg(void **state)
{
	char arg[POP3_MAX_ARG + 2];

	(void)state;
	assert_int_equal(pop3_check_arg("alice"), 0);
	assert_int_equal(pop3_check_arg("alice@example.com"), 0);
	assert_int_equal(pop3_check_arg("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
			 0);
	assert_int_equal(pop3_check_arg(""), -1);
	assert_int_equal(pop3_check_arg("a\rb"), -1);
	assert_int_equal(pop3_check_arg("a\nb"), -1);
	assert_int_equal(pop3_check_arg("ab\r\n"), -1);
	assert_int_equal(pop3_check_arg("\r\nQUIT"), -1);
	assert_int_equal(pop3_check_arg("a\x01"), -1);
	assert_int_equal(pop3_check_arg("a\x7f"), -1);

	memset(arg, 'a', sizeof(arg));
	arg[POP3_MAX_ARG] = '\0';
	assert_int_equal(pop3_check_arg(arg), 0);
	arg[POP3_MAX_ARG] = 'a';
	arg[POP3_MAX_ARG + 1] = '\0';
	assert_int_equal(pop3_check_arg(arg), -1);
}

/* ---- response codes ---- */

static void test_resp_code_status(void **state)
{
	static const struct {
		enum pop3_resp_code code;
		enum pf_status dflt, want;
	} t[] = {
		{ POP3_RESP_NONE, PF_NOPERM, PF_NOPERM },
		{ POP3_RESP_NONE, PF_PROTOCOL, PF_PROTOCOL },
		{ POP3_RESP_OTHER, PF_NOPERM, PF_NOPERM },
		{ POP3_RESP_OTHER, PF_UNAVAILABLE, PF_UNAVAILABLE },
		{ POP3_RESP_IN_USE, PF_NOPERM, PF_TEMPFAIL },
		{ POP3_RESP_LOGIN_DELAY, PF_NOPERM, PF_TEMPFAIL },
		{ POP3_RESP_SYS_TEMP, PF_NOPERM, PF_TEMPFAIL },
		{ POP3_RESP_SYS_TEMP, PF_PROTOCOL, PF_TEMPFAIL },
		{ POP3_RESP_SYS_PERM, PF_NOPERM, PF_UNAVAILABLE },
		{ POP3_RESP_AUTH, PF_UNAVAILABLE, PF_NOPERM },
		{ POP3_RESP_AUTH, PF_NOPERM, PF_NOPERM },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (pop3_resp_code_status(t[i].code, t[i].dflt) != t[i].want)
			fail_msg("code %d default %d: got %d, want %d",
				 t[i].code, t[i].dflt,
				 pop3_resp_code_status(t[i].code, t[i].dflt),
				 t[i].want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_status),
		cmocka_unit_test(test_parse_status_len),
		cmocka_unit_test(test_parse_capa),
		cmocka_unit_test(test_parse_capa_accumulates),
		cmocka_unit_test(test_parse_uidl),
		cmocka_unit_test(test_parse_uidl_charset),
		cmocka_unit_test(test_parse_list),
		cmocka_unit_test(test_parse_list_len),
		cmocka_unit_test(test_check_arg),
		cmocka_unit_test(test_resp_code_status),
	};

	return cmocka_run_group_tests_name("pop3_parse", tests, NULL, NULL);
}
