/*
 * pop3.c - a POP3 session over a transport, and the pure reply parsers.
 *
 * One receive buffer of POP3_BUF_SIZE bytes serves status lines, listing
 * lines and message bodies alike, so bytes of a pipelined reply that arrive
 * with the previous one are never lost, and memory does not grow with
 * message size.
 */
#include "pop3.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "util.h"

struct pop3 {
	struct transport *t;
	char *account;
	char buf[POP3_BUF_SIZE];	/* received, not yet parsed: [start,end) */
	size_t start, end;
	char line[POP3_MAX_LINE + 1];	/* last line read, NUL-terminated */
	size_t linelen;
	char *wq;			/* queued commands not yet sent */
	size_t wqlen, wqcap;
	struct dot dot;
	char body[POP3_BUF_SIZE + 1];	/* decoded body piece */
};

/* ---- pure parsers ---- */

static bool word_is(const char *s, size_t len, const char *word)
{
	size_t wl = strlen(word);

	return len >= wl && strncasecmp(s, word, wl) == 0 &&
	       (len == wl || s[wl] == ' ');
}

static enum pop3_resp_code parse_resp_code(const char *text, size_t len)
{
	static const struct {
		const char *name;
		enum pop3_resp_code code;
	} codes[] = {
		{ "IN-USE", POP3_RESP_IN_USE },
		{ "LOGIN-DELAY", POP3_RESP_LOGIN_DELAY },
		{ "SYS/TEMP", POP3_RESP_SYS_TEMP },
		{ "SYS/PERM", POP3_RESP_SYS_PERM },
		{ "AUTH", POP3_RESP_AUTH },
	};
	const char *close;
	size_t i, clen;

	if (len < 2 || text[0] != '[')
		return POP3_RESP_NONE;
	close = memchr(text, ']', len);
	if (close == NULL)
		return POP3_RESP_NONE;
	clen = (size_t)(close - text) - 1;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		size_t nl = strlen(codes[i].name);

		/* Codes are hierarchical (RFC 2449 section 8): "SYS/TEMP"
		 * also covers "SYS/TEMP/SOMETHING". */
		if (clen >= nl && strncasecmp(text + 1, codes[i].name, nl) == 0
		    && (clen == nl || text[1 + nl] == '/'))
			return codes[i].code;
	}
	return POP3_RESP_OTHER;
}

enum pf_status pop3_parse_status(const char *line, size_t len, bool *ok_r,
				 enum pop3_resp_code *code_r,
				 const char **text_r, size_t *textlen_r,
				 struct error *err)
{
	size_t skip;

	*code_r = POP3_RESP_NONE;
	if (memchr(line, '\0', len) != NULL)
		goto bad;
	if (word_is(line, len, "+OK")) {
		*ok_r = true;
		skip = 3;
	} else if (word_is(line, len, "-ERR")) {
		*ok_r = false;
		skip = 4;
	} else {
		goto bad;
	}
	if (skip < len)
		skip++;
	*text_r = line + skip;
	*textlen_r = len - skip;
	if (!*ok_r)
		*code_r = parse_resp_code(*text_r, *textlen_r);
	return PF_OK;
bad:
	error_set(err, PF_PROTOCOL, "server reply is neither +OK nor -ERR");
	error_set_reply(err, line, len);
	return PF_PROTOCOL;
}

void pop3_parse_capa_line(const char *line, size_t len, unsigned *capa)
{
	static const struct {
		const char *name;
		unsigned flag;
	} names[] = {
		{ "STLS", POP3_CAPA_STLS },
		{ "UIDL", POP3_CAPA_UIDL },
		{ "TOP", POP3_CAPA_TOP },
		{ "USER", POP3_CAPA_USER },
		{ "PIPELINING", POP3_CAPA_PIPELINING },
		{ "RESP-CODES", POP3_CAPA_RESP_CODES },
		{ "SASL", POP3_CAPA_SASL },
		{ "AUTH-RESP-CODE", POP3_CAPA_AUTH_RESP_CODE },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (word_is(line, len, names[i].name))
			*capa |= names[i].flag;
}

/* Parses a decimal number at *pp (advancing it) within [min, max]. */
static int parse_number(const char **pp, const char *end,
			unsigned long long min, unsigned long long max,
			unsigned long long *value_r)
{
	const char *p = *pp;
	unsigned long long v = 0;

	if (p == end || *p < '0' || *p > '9')
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (d > max || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min)
		return -1;
	*pp = p;
	*value_r = v;
	return 0;
}

static const char *skip_spaces(const char *p, const char *end)
{
	while (p < end && *p == ' ')
		p++;
	return p;
}

/* Listing lines end where trailing white space starts. */
static const char *trim_end(const char *line, size_t len)
{
	const char *end = line + len;

	while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return end;
}

enum pf_status pop3_parse_uidl_line(const char *line, size_t len,
				    uint32_t max_num, uint32_t *num_r,
				    char *uid_r, struct error *err)
{
	const char *p = line, *end = trim_end(line, len), *uid;
	unsigned long long num;
	size_t i, uidlen;

	if (parse_number(&p, end, 1, max_num, &num) < 0 || p == end ||
	    *p != ' ')
		goto bad;
	uid = p = skip_spaces(p, end);
	uidlen = (size_t)(end - uid);
	if (uidlen < 1 || uidlen > POP3_MAX_UID)
		goto bad;
	for (i = 0; i < uidlen; i++)
		if ((unsigned char)uid[i] < 0x21 ||
		    (unsigned char)uid[i] > 0x7e)
			goto bad;
	memcpy(uid_r, uid, uidlen);
	uid_r[uidlen] = '\0';
	*num_r = (uint32_t)num;
	return PF_OK;
bad:
	error_set(err, PF_PROTOCOL,
		  "bad UIDL line (need a message number 1-%u and a unique-id "
		  "of 1-70 printable characters)", max_num);
	error_set_reply(err, line, len);
	return PF_PROTOCOL;
}

enum pf_status pop3_parse_list_line(const char *line, size_t len,
				    uint32_t min_num, uint32_t max_num,
				    uint32_t *num_r, uint64_t *size_r,
				    struct error *err)
{
	const char *p = line, *end = line + len;
	unsigned long long num, size;

	if (parse_number(&p, end, min_num, max_num, &num) < 0 || p == end ||
	    *p != ' ')
		goto bad;
	p = skip_spaces(p, end);
	if (parse_number(&p, end, 0, UINT64_MAX, &size) < 0 ||
	    (p != end && *p != ' '))
		goto bad;
	*num_r = (uint32_t)num;
	*size_r = size;
	return PF_OK;
bad:
	error_set(err, PF_PROTOCOL,
		  "bad message number or size (need a number %u-%u and a "
		  "size)", min_num, max_num);
	error_set_reply(err, line, len);
	return PF_PROTOCOL;
}

int pop3_check_arg(const char *arg)
{
	size_t i, len = strlen(arg);

	if (len < 1 || len > POP3_MAX_ARG)
		return -1;
	for (i = 0; i < len; i++)
		if ((unsigned char)arg[i] < 0x20 || arg[i] == 0x7f)
			return -1;
	return 0;
}

enum pf_status pop3_resp_code_status(enum pop3_resp_code code,
				     enum pf_status dflt)
{
	switch (code) {
	case POP3_RESP_IN_USE:
	case POP3_RESP_LOGIN_DELAY:
	case POP3_RESP_SYS_TEMP:
		return PF_TEMPFAIL;
	case POP3_RESP_SYS_PERM:
		return PF_UNAVAILABLE;
	case POP3_RESP_AUTH:
		return PF_NOPERM;
	case POP3_RESP_NONE:
	case POP3_RESP_OTHER:
		break;
	}
	return dflt;
}

/* ---- session ---- */

struct pop3 *pop3_new(struct transport *t, const char *account)
{
	struct pop3 *p = xcalloc(1, sizeof(*p));

	p->t = t;
	p->account = xstrdup(account);
	return p;
}

void pop3_free(struct pop3 **pp)
{
	struct pop3 *p = *pp;

	if (p == NULL)
		return;
	transport_close(&p->t);
	free(p->account);
	free(p->wq);
	free(p);
	*pp = NULL;
}

struct transport *pop3_transport(struct pop3 *p)
{
	return p->t;
}

size_t pop3_buffered(const struct pop3 *p)
{
	return p->end - p->start;
}

/* Formats a command line into buf (with CRLF); checks it. */
static enum pf_status format_cmd(char *buf, size_t size, size_t *len_r,
				 struct error *err, const char *fmt,
				 va_list ap) __attribute__((format(printf, 5, 0)));

static enum pf_status format_cmd(char *buf, size_t size, size_t *len_r,
				 struct error *err, const char *fmt,
				 va_list ap)
{
	int n = vsnprintf(buf, size - 2, fmt, ap);

	if (n < 0 || (size_t)n >= size - 2)
		return error_set(err, PF_SOFTWARE, "command too long");
	if (strpbrk(buf, "\r\n") != NULL)
		return error_set(err, PF_SOFTWARE,
				 "refusing to send a command with CR or LF");
	buf[n] = '\r';
	buf[n + 1] = '\n';
	*len_r = (size_t)n + 2;
	return PF_OK;
}

static void wq_append(struct pop3 *p, const char *data, size_t len)
{
	if (p->wqlen + len > p->wqcap) {
		p->wqcap = (p->wqlen + len) * 2;
		p->wq = xrealloc(p->wq, p->wqcap);
	}
	memcpy(p->wq + p->wqlen, data, len);
	p->wqlen += len;
}

static enum pf_status vqueue(struct pop3 *p, struct error *err,
			     const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static enum pf_status vqueue(struct pop3 *p, struct error *err,
			     const char *fmt, va_list ap)
{
	char cmd[POP3_MAX_LINE];
	size_t len = 0;
	enum pf_status ret;

	ret = format_cmd(cmd, sizeof(cmd), &len, err, fmt, ap);
	if (ret != PF_OK)
		return ret;
	log_trace(p->account, '>', cmd, len - 2);
	wq_append(p, cmd, len);
	return PF_OK;
}

enum pf_status pop3_queue(struct pop3 *p, struct error *err, const char *fmt,
			  ...)
{
	enum pf_status ret;
	va_list ap;

	va_start(ap, fmt);
	ret = vqueue(p, err, fmt, ap);
	va_end(ap);
	return ret;
}

enum pf_status pop3_flush(struct pop3 *p, struct error *err)
{
	enum pf_status ret;

	if (p->wqlen == 0)
		return PF_OK;
	ret = transport_write(p->t, p->wq, p->wqlen, err);
	p->wqlen = 0;
	return ret;
}

enum pf_status pop3_cmd(struct pop3 *p, struct error *err, const char *fmt,
			...)
{
	enum pf_status ret;
	va_list ap;

	va_start(ap, fmt);
	ret = vqueue(p, err, fmt, ap);
	va_end(ap);
	return ret == PF_OK ? pop3_flush(p, err) : ret;
}

enum pf_status pop3_cmd_secret(struct pop3 *p, const char *verb,
			       const char *secret, struct error *err)
{
	char cmd[POP3_MAX_LINE];
	char shown[64];
	size_t vlen = strlen(verb), slen = strlen(secret);
	enum pf_status ret;

	if (vlen + 1 + slen + 2 > sizeof(cmd) ||
	    strpbrk(secret, "\r\n") != NULL)
		return error_set(err, PF_CONFIG,
				 "the %s argument is too long or holds a line break",
				 verb);
	ret = pop3_flush(p, err);
	if (ret != PF_OK)
		return ret;
	memcpy(cmd, verb, vlen);
	cmd[vlen] = ' ';
	memcpy(cmd + vlen + 1, secret, slen);
	memcpy(cmd + vlen + 1 + slen, "\r\n", 2);
	snprintf(shown, sizeof(shown), "%s ****", verb);
	log_trace(p->account, '>', shown, strlen(shown));
	/* Straight to the transport: the secret never enters the queue. */
	ret = transport_write(p->t, cmd, vlen + slen + 3, err);
	util_wipe(cmd, sizeof(cmd));
	return ret;
}

enum pf_status pop3_send_secret_line(struct pop3 *p, const char *line,
				     size_t len, const char *shown,
				     struct error *err)
{
	char *buf;
	enum pf_status ret;

	if (memchr(line, '\r', len) != NULL || memchr(line, '\n', len) != NULL ||
	    memchr(line, '\0', len) != NULL)
		return error_set(err, PF_SOFTWARE,
				 "refusing to send a line holding CR, LF or NUL");
	ret = pop3_flush(p, err);
	if (ret != PF_OK)
		return ret;
	buf = xmalloc(len + 2);
	memcpy(buf, line, len);
	memcpy(buf + len, "\r\n", 2);
	log_trace(p->account, '>', shown, strlen(shown));
	ret = transport_write(p->t, buf, len + 2, err);
	util_wipe(buf, len + 2);
	free(buf);
	return ret;
}

/* Reads more bytes into the buffer, compacting it first.  EOF is
 * PF_TEMPFAIL with "what" naming where it happened. */
static enum pf_status fill(struct pop3 *p, const char *what,
			   struct error *err)
{
	ssize_t n;

	if (p->start > 0) {
		memmove(p->buf, p->buf + p->start, p->end - p->start);
		p->end -= p->start;
		p->start = 0;
	}
	if (p->end == sizeof(p->buf))
		return error_set(err, PF_SOFTWARE, "receive buffer full");
	n = transport_read(p->t, p->buf + p->end, sizeof(p->buf) - p->end,
			   err);
	if (n < 0)
		return err->status;
	if (n == 0)
		return error_set(err, PF_TEMPFAIL,
				 "connection closed by the server %s", what);
	p->end += (size_t)n;
	return PF_OK;
}

/* Reads one CRLF- (or LF-) terminated line into p->line. */
static enum pf_status read_raw_line(struct pop3 *p, const char *what,
				    struct error *err)
{
	size_t scanned = 0;

	for (;;) {
		char *nl = memchr(p->buf + p->start + scanned, '\n',
				  p->end - p->start - scanned);

		if (nl != NULL) {
			size_t len = (size_t)(nl - (p->buf + p->start));

			if (len > 0 && p->buf[p->start + len - 1] == '\r')
				len--;
			if (len > POP3_MAX_LINE - 2)
				goto too_long;
			memcpy(p->line, p->buf + p->start, len);
			p->line[len] = '\0';
			p->linelen = len;
			p->start = (size_t)(nl - p->buf) + 1;
			if (memchr(p->line, '\0', len) != NULL) {
				error_set(err, PF_PROTOCOL,
					  "server sent a NUL byte %s", what);
				error_set_reply(err, p->line, len);
				return PF_PROTOCOL;
			}
			return PF_OK;
		}
		scanned = p->end - p->start;
		if (scanned > POP3_MAX_LINE)
			goto too_long;
		enum pf_status ret = fill(p, what, err);

		if (ret != PF_OK)
			return ret;
	}
too_long:
	error_set(err, PF_PROTOCOL,
		  "server sent a line longer than %d bytes %s",
		  POP3_MAX_LINE, what);
	error_set_reply(err, p->buf + p->start, 80);
	return PF_PROTOCOL;
}

enum pf_status pop3_read_status(struct pop3 *p, bool *ok_r,
				enum pop3_resp_code *code_r,
				struct error *err)
{
	const char *text;
	size_t textlen;
	enum pf_status ret;

	ret = read_raw_line(p, "while waiting for a reply", err);
	if (ret != PF_OK)
		return ret;
	log_trace(p->account, '<', p->line, p->linelen);
	ret = pop3_parse_status(p->line, p->linelen, ok_r, code_r, &text,
				&textlen, err);
	if (ret == PF_OK && !*ok_r)
		error_set_reply(err, p->line, p->linelen);
	return ret;
}

enum pf_status pop3_read_auth_reply(struct pop3 *p,
				    enum pop3_auth_reply *kind_r,
				    const char **text_r, size_t *len_r,
				    enum pop3_resp_code *code_r,
				    struct error *err)
{
	const char *text;
	size_t textlen;
	bool ok;
	enum pf_status ret;

	*code_r = POP3_RESP_NONE;
	ret = read_raw_line(p, "while waiting for a reply", err);
	if (ret != PF_OK)
		return ret;
	/* RFC 5034 section 4: a continuation is "+" SP base64, and some
	 * servers send a bare "+" for an empty challenge. */
	if (p->line[0] == '+' && (p->linelen == 1 || p->line[1] == ' ')) {
		log_trace(p->account, '<', p->line, p->linelen);
		if (memchr(p->line, '\0', p->linelen) != NULL)
			return error_set(err, PF_PROTOCOL,
					 "server sent a NUL byte in a challenge");
		*kind_r = POP3_AUTH_CONT;
		*text_r = p->linelen > 2 ? p->line + 2 : "";
		*len_r = p->linelen > 2 ? p->linelen - 2 : 0;
		return PF_OK;
	}
	log_trace(p->account, '<', p->line, p->linelen);
	ret = pop3_parse_status(p->line, p->linelen, &ok, code_r, &text,
				&textlen, err);
	if (ret != PF_OK)
		return ret;
	if (!ok)
		error_set_reply(err, p->line, p->linelen);
	*kind_r = ok ? POP3_AUTH_OK : POP3_AUTH_ERR;
	*text_r = text;
	*len_r = textlen;
	return PF_OK;
}

const char *pop3_last_line(const struct pop3 *p, size_t *len_r)
{
	*len_r = p->linelen;
	return p->line;
}

enum pf_status pop3_read_line(struct pop3 *p, const char **line_r,
			      size_t *len_r, bool *end_r, struct error *err)
{
	enum pf_status ret;

	ret = read_raw_line(p, "in a multi-line reply", err);
	if (ret != PF_OK)
		return ret;
	log_trace(p->account, '<', p->line, p->linelen);
	*end_r = p->linelen == 1 && p->line[0] == '.';
	if (*end_r) {
		*line_r = NULL;
		*len_r = 0;
		return PF_OK;
	}
	/* RFC 1939 section 3: a leading "." is byte-stuffing. */
	*line_r = p->line[0] == '.' ? p->line + 1 : p->line;
	*len_r = p->line[0] == '.' ? p->linelen - 1 : p->linelen;
	return PF_OK;
}

void pop3_body_begin(struct pop3 *p)
{
	dot_init(&p->dot);
}

enum pf_status pop3_read_body(struct pop3 *p, const char **data_r,
			      size_t *len_r, bool *end_r, struct error *err)
{
	size_t outlen, consumed;
	enum pf_status ret;

	if (p->start == p->end) {
		ret = fill(p, "in the middle of a message", err);
		if (ret != PF_OK)
			return ret;
	}
	/* The decoder's output is at most its input plus one held-back CR,
	 * so body[] (one byte larger than buf[]) always has room. */
	*end_r = dot_feed(&p->dot, p->buf + p->start, p->end - p->start,
			  p->body, &outlen, &consumed);
	p->start += consumed;
	*data_r = p->body;
	*len_r = outlen;
	return PF_OK;
}

enum pf_status pop3_expect_ok(struct pop3 *p, enum pf_status dflt,
			      const char *what, struct error *err)
{
	enum pop3_resp_code code;
	enum pf_status ret;
	bool ok;

	ret = pop3_read_status(p, &ok, &code, err);
	if (ret != PF_OK || ok)
		return ret;
	return error_reword(err, pop3_resp_code_status(code, dflt), "%s", what);
}
