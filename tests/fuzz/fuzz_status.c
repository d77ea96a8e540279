/*
 * fuzz_status.c - the pure reply parsers of pop3.c against small
 * references written from pop3.h and RFC 1939.
 *
 * Input: LINE [ "\n" MAX ] where LINE goes to every parser (without its
 * LF, with its CR if any: a parser must cope) and MAX, a decimal number,
 * is the message count for the UIDL and LIST range checks (default
 * 10000000 = POP3_MAX_MESSAGES).  Each parser gets LINE in a heap buffer
 * of exactly its length, so ASan sees any read past it.  LINE also goes
 * through util_sanitize(), which every server string shown to a person
 * passes, into buffers of a few sizes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "pop3.h"
#include "util.h"
#include "fuzzutil.h"

static bool starts_word(const char *s, size_t len, const char *word)
{
	size_t wl = strlen(word);

	return len >= wl && strncasecmp(s, word, wl) == 0 &&
	       (len == wl || s[wl] == ' ');
}

/* Reads decimal digits at *pos; false on overflow of max or no digit. */
static bool ref_number(const char *s, size_t len, size_t *pos,
		       unsigned long long max, unsigned long long *v_r)
{
	unsigned long long v = 0;
	size_t p = *pos;

	if (p >= len || s[p] < '0' || s[p] > '9')
		return false;
	for (; p < len && s[p] >= '0' && s[p] <= '9'; p++) {
		unsigned d = (unsigned)(s[p] - '0');

		if (v > (max - d) / 10 || d > max)
			return false;
		v = v * 10 + d;
	}
	*pos = p;
	*v_r = v;
	return true;
}

static void check_status(const char *line, size_t len)
{
	struct error err;
	enum pop3_resp_code code = (enum pop3_resp_code)99;
	const char *text = NULL;
	size_t textlen = 99;
	bool ok = false;
	bool want_ok = starts_word(line, len, "+OK");
	bool want_err = starts_word(line, len, "-ERR");
	bool has_nul = memchr(line, '\0', len) != NULL;
	enum pf_status ret;

	error_clear(&err);
	ret = pop3_parse_status(line, len, &ok, &code, &text, &textlen, &err);
	if (has_nul || (!want_ok && !want_err)) {
		FUZZ_CHECK(ret == PF_PROTOCOL);
		FUZZ_CHECK(err.status == PF_PROTOCOL);
		FUZZ_CHECK(memchr(err.reply, '\0', sizeof(err.reply)) != NULL);
		for (size_t i = 0; err.reply[i] != '\0'; i++)
			FUZZ_CHECK((unsigned char)err.reply[i] >= 0x20 &&
				   (unsigned char)err.reply[i] < 0x7f);
		return;
	}
	FUZZ_CHECK(ret == PF_OK);
	FUZZ_CHECK(ok == want_ok);
	FUZZ_CHECK(text >= line && text <= line + len);
	FUZZ_CHECK(text + textlen == line + len);
	FUZZ_CHECK((size_t)(text - line) == (ok ? 3u : 4u) + (len > (ok ? 3u : 4u)));
	if (ok || textlen == 0 || text[0] != '[')
		FUZZ_CHECK(code == POP3_RESP_NONE);
	else
		FUZZ_CHECK(code == POP3_RESP_NONE || code == POP3_RESP_OTHER ||
			   (code >= POP3_RESP_IN_USE && code <= POP3_RESP_AUTH));
	(void)pop3_resp_code_status(code, PF_PROTOCOL);
}

static void check_capa(const char *line, size_t len)
{
	static const char *const names[] = { "STLS", "UIDL", "TOP", "USER",
		"PIPELINING", "RESP-CODES", "SASL", "AUTH-RESP-CODE" };
	unsigned capa = 0, want = 0;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (starts_word(line, len, names[i]))
			want |= 1u << i;
	pop3_parse_capa_line(line, len, &capa);
	FUZZ_CHECK(capa == want);
	/* It only ever adds flags. */
	capa = POP3_CAPA_STLS;
	pop3_parse_capa_line(line, len, &capa);
	FUZZ_CHECK(capa == (want | POP3_CAPA_STLS));
}

static void check_uidl(const char *line, size_t len, uint32_t max_num)
{
	struct error err;
	char *uid = malloc(POP3_MAX_UID + 1);
	uint32_t num = 0;
	unsigned long long wnum = 0;
	size_t end = len, pos = 0, ulen, i;
	bool want = true;
	enum pf_status ret;

	FUZZ_CHECK(uid != NULL);
	/* Reference: NUM, spaces, UID; trailing blanks ignored. */
	while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	if (!ref_number(line, end, &pos, max_num, &wnum) || wnum < 1 ||
	    pos >= end || line[pos] != ' ')
		want = false;
	while (want && pos < end && line[pos] == ' ')
		pos++;
	ulen = want ? end - pos : 0;
	if (ulen < 1 || ulen > POP3_MAX_UID)
		want = false;
	for (i = 0; want && i < ulen; i++)
		if ((unsigned char)line[pos + i] < 0x21 ||
		    (unsigned char)line[pos + i] > 0x7e)
			want = false;

	error_clear(&err);
	ret = pop3_parse_uidl_line(line, len, max_num, &num, uid, &err);
	FUZZ_CHECK((ret == PF_OK) == want);
	if (ret == PF_OK) {
		size_t n = strlen(uid);

		FUZZ_CHECK(n >= 1 && n <= POP3_MAX_UID);
		for (i = 0; i < n; i++)
			FUZZ_CHECK((unsigned char)uid[i] >= 0x21 &&
				   (unsigned char)uid[i] <= 0x7e);
		FUZZ_CHECK(num >= 1 && num <= max_num);
		FUZZ_CHECK(num == wnum);
		FUZZ_CHECK(n == ulen && memcmp(uid, line + pos, n) == 0);
	} else {
		FUZZ_CHECK(ret == PF_PROTOCOL && err.status == PF_PROTOCOL);
	}
	free(uid);
}

static void check_list(const char *line, size_t len, uint32_t min_num,
		       uint32_t max_num)
{
	struct error err;
	uint32_t num = 0;
	uint64_t size = 0;
	unsigned long long wnum = 0, wsize = 0;
	size_t pos = 0;
	bool want = true;
	enum pf_status ret;

	if (!ref_number(line, len, &pos, max_num, &wnum) || wnum < min_num ||
	    pos >= len || line[pos] != ' ')
		want = false;
	while (want && pos < len && line[pos] == ' ')
		pos++;
	if (want && (!ref_number(line, len, &pos, UINT64_MAX, &wsize) ||
		     (pos < len && line[pos] != ' ')))
		want = false;

	error_clear(&err);
	ret = pop3_parse_list_line(line, len, min_num, max_num, &num, &size,
				   &err);
	FUZZ_CHECK((ret == PF_OK) == want);
	if (ret == PF_OK) {
		FUZZ_CHECK(num >= min_num && num <= max_num);
		FUZZ_CHECK(num == wnum && size == wsize);
	} else {
		FUZZ_CHECK(ret == PF_PROTOCOL && err.status == PF_PROTOCOL);
	}
}

static void check_arg(const char *line, size_t len)
{
	char *arg = malloc(len + 1);
	size_t n, i;
	bool want;

	FUZZ_CHECK(arg != NULL);
	memcpy(arg, line, len);
	arg[len] = '\0';
	n = strlen(arg);
	want = n >= 1 && n <= POP3_MAX_ARG;
	for (i = 0; want && i < n; i++)
		if ((unsigned char)arg[i] < 0x20 || arg[i] == 0x7f)
			want = false;
	FUZZ_CHECK((pop3_check_arg(arg) == 0) == want);
	free(arg);
}

/* Control characters and bytes >= 0x7f become '?', trailing CR/LF go,
 * the output is cut to fit and always terminated. */
static void check_sanitize(const char *line, size_t len, size_t size)
{
	char *out = malloc(size != 0 ? size : 1);
	size_t keep = len, i;

	FUZZ_CHECK(out != NULL);
	memset(out, 'Z', size != 0 ? size : 1);
	util_sanitize(out, size, line, len);
	if (size == 0) {
		free(out);
		return;
	}
	while (keep > 0 && (line[keep - 1] == '\n' || line[keep - 1] == '\r'))
		keep--;
	if (keep > size - 1)
		keep = size - 1;
	FUZZ_CHECK(strlen(out) == keep);
	for (i = 0; i < keep; i++) {
		unsigned char c = (unsigned char)line[i];

		FUZZ_CHECK(out[i] == ((c < 0x20 || c >= 0x7f) ? '?' : (char)c));
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nl = memchr(in, '\n', size);
	size_t len = nl != NULL ? (size_t)(nl - in) : size;
	uint32_t max_num = POP3_MAX_MESSAGES;
	char *line;

	if (nl != NULL) {
		const char *p = nl + 1, *end = in + size;
		uint64_t v = 0;

		for (; p < end && *p >= '0' && *p <= '9' && v <= UINT32_MAX; p++)
			v = v * 10 + (uint64_t)(*p - '0');
		max_num = (uint32_t)v;
	}
	/* Exactly len bytes: no terminator for a parser to lean on. */
	line = malloc(len != 0 ? len : 1);
	FUZZ_CHECK(line != NULL);
	memcpy(line, in, len);

	check_status(line, len);
	check_capa(line, len);
	check_uidl(line, len, max_num);
	check_list(line, len, 1, max_num);
	check_list(line, len, 0, max_num);	/* STAT's "COUNT SIZE" */
	check_arg(line, len);
	check_sanitize(line, len, 0);
	check_sanitize(line, len, 1);
	check_sanitize(line, len, 16);
	check_sanitize(line, len, ERROR_REPLY_MAX);
	free(line);
	return 0;
}
