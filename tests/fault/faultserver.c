/*
 * faultserver.c - a scripted, fault-injecting POP3 server for popfetch's
 * tests (tests/fault/run; the case format is in tests/fault/README).
 *
 *   faultserver -c CASE [-l LOG] [-P PORTFILE] [-n CONNECTIONS]
 *               [-t SECONDS] [--cert PEM --key PEM] [-u USER] [-w PASSWORD]
 *   faultserver -c CASE --dump DIR
 *
 * By default it is a correct POP3 server (RFC 1939 with CAPA, STLS, UIDL,
 * TOP, USER/PASS, APOP; RFC 5034 AUTH with PLAIN, LOGIN, XOAUTH2 and
 * OAUTHBEARER, as Gmail or Microsoft 365 answer it; DELE takes effect at
 * QUIT) over the mailbox declared in
 * the case's [server] section, so a case only states where it misbehaves:
 * its "on" rules replace a reply, cut it short, send it in pieces, drop
 * the connection or stall.  It listens on 127.0.0.1 on a port the kernel
 * picks ("PORT n" on stdout or in PORTFILE), serves CONNECTIONS (default 1)
 * connections one after the other and exits.  Every client line goes to
 * LOG ("C: ..."; secrets as "****": PASS, AUTH responses, the APOP
 * digest), with the first line of each reply ("S: ...") and events
 * ("*: ...").
 *
 * Every wait goes through poll() against one deadline for the whole run
 * (-t, default 30 s): whatever a test does, the server exits by itself.
 * --dump writes each message of the case as the client must store it
 * (LF line endings) to DIR/1, DIR/2, ..., the case's token (if any) to
 * DIR/token, and exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define MAX_CMD_LINE 8192	/* a client line longer than this is dropped */
/* A client line inside an AUTH exchange: OAuth2 tokens are several KB and
 * go on a line of their own (RFC 5034 sets no limit there). */
#define MAX_AUTH_LINE 65536
/* RFC 5034 section 4: an initial response must not make the AUTH command
 * longer than this (CRLF not counted here: a client may count it or not). */
#define MAX_AUTH_COMMAND 255
#define MAX_REPEAT 10000000L	/* \{TEXT*N}: N at most */
#define MAX_CONNECTIONS 100
#define MAX_TIMEOUT 3600

/* ---- growing byte buffers ---- */

struct buf {
	char *p;
	size_t len, cap;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						     noreturn));

static void buf_add(struct buf *b, const void *data, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap == 0 ? 256 : b->cap;

		while (cap < b->len + len + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (b->p == NULL)
			die("out of memory");
		b->cap = cap;
	}
	if (len > 0)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

static void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_addf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void buf_addf(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		die("internal: formatted text too long");
	buf_add(b, tmp, (size_t)n);
}

static void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		die("out of memory");
	return d;
}

/* ---- the log ---- */

static FILE *log_fp;
static const char *case_path = "?";

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "faultserver: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (log_fp != NULL && log_fp != stderr) {
		fprintf(log_fp, "*: error: ");
		va_start(ap, fmt);
		vfprintf(log_fp, fmt, ap);
		va_end(ap);
		fputc('\n', log_fp);
		fflush(log_fp);
	}
	exit(2);
}

static void log_event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void log_event(const char *fmt, ...)
{
	va_list ap;

	fputs("*: ", log_fp);
	va_start(ap, fmt);
	vfprintf(log_fp, fmt, ap);
	va_end(ap);
	fputc('\n', log_fp);
	fflush(log_fp);
}

/* Writes data with every byte outside 0x20-0x7e (and the backslash)
 * escaped, so that one logged line is one line whatever was received. */
static void log_escaped(const char *data, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)data[i];

		if (ch == '\\')
			fputs("\\\\", log_fp);
		else if (ch == '\r')
			fputs("\\r", log_fp);
		else if (ch == '\n')
			fputs("\\n", log_fp);
		else if (ch == '\t')
			fputs("\\t", log_fp);
		else if (ch < 0x20 || ch > 0x7e)
			fprintf(log_fp, "\\x%02x", ch);
		else
			fputc(ch, log_fp);
	}
}

/* Length of the first n words of line (and the spaces between them): the
 * part of a command that may be logged before its secret. */
static size_t words_len(const char *line, size_t len, int n)
{
	size_t i = 0;

	while (n-- > 0) {
		while (i < len && line[i] != ' ')
			i++;
		if (n > 0 && i < len)
			i++;
	}
	return i;
}

static void log_client(const char *line, size_t len)
{
	size_t keep = len;

	/* The password must never reach a log the tests may print: PASS
	 * and the initial response of AUTH (a token, or the password in
	 * base64) become "****", and so does the APOP digest. */
	if (len >= 4 && strncasecmp(line, "PASS", 4) == 0 &&
	    (len == 4 || line[4] == ' '))
		keep = 4;
	else if (len >= 5 && strncasecmp(line, "AUTH ", 5) == 0)
		keep = words_len(line, len, 2);
	else if (len >= 5 && strncasecmp(line, "APOP ", 5) == 0)
		keep = words_len(line, len, 2);
	fputs("C: ", log_fp);
	log_escaped(line, keep);
	if (keep < len)
		fputs(" ****", log_fp);
	fputc('\n', log_fp);
	fflush(log_fp);
}

/* A client line inside an AUTH exchange: "****", unless it is one that
 * holds nothing secret and that a case may want to see (an empty line,
 * "*" to cancel, and "AQ==" that ends an OAUTHBEARER error exchange). */
static void log_client_auth(const char *line, size_t len, bool show_aq)
{
	fputs("C: ", log_fp);
	if (len == 0 || (len == 1 && line[0] == '*') ||
	    (show_aq && len == 4 && memcmp(line, "AQ==", 4) == 0))
		log_escaped(line, len);
	else
		fputs("****", log_fp);
	fputc('\n', log_fp);
	fflush(log_fp);
}

/* Logs the first line of a reply and how much followed it. */
static void log_reply(const char *data, size_t len)
{
	const char *nl = memchr(data, '\n', len);
	size_t first = nl != NULL ? (size_t)(nl - data) + 1 : len;

	fputs("S: ", log_fp);
	log_escaped(data, first);
	if (first < len)
		fprintf(log_fp, " [+%zu bytes]", len - first);
	fputc('\n', log_fp);
	fflush(log_fp);
}

/* ---- the case: mailbox, capabilities, rules ---- */

struct line {
	char *p;
	size_t len;
	bool noeol;	/* ended with \c: no line ending appended */
};

struct block {
	struct line *v;
	size_t n, cap;
};

struct message {
	struct buf uid;
	struct buf data;	/* the message, LF line endings, ends in LF */
	struct block lines;	/* inline "|" lines, before data is built */
	char *file;		/* file=PATH, relative to the case file */
	long generate;		/* generate=N: about N bytes of text */
	long long listsize;	/* listsize=N: what LIST and STAT claim */
	bool expunged;		/* deleted at a QUIT: gone for good */
};

enum point { POINT_COMMAND, POINT_GREETING, POINT_HANDSHAKE };

struct rule {
	int lineno;		/* in the case file, for the log */
	int conn;		/* 0: every connection */
	unsigned nth;		/* 0: every match */
	enum point point;
	char *verb;		/* NULL: any command */
	char *arg;		/* NULL: any argument */
	bool reply, deflt, noterm, lf, drop, stall;
	long cut;		/* -1: the whole reply */
	long pieces;		/* -1: as the [server] section says */
	long delay_ms;		/* -1: as the [server] section says */
	struct block text;	/* the "|" lines of "reply" */
	unsigned seen;		/* matches in this connection */
};

/* Whose replies the AUTH exchanges imitate (see auth_reply()). */
enum auth_style { STYLE_GMAIL, STYLE_MICROSOFT };

static struct {
	bool implicit_tls;
	bool lf;
	long pieces, delay_ms;
	bool capa_set, capa_none;
	char **capa;
	size_t ncapa;
	char **auth;		/* "auth": the mechanisms CAPA SASL offers */
	size_t nauth;
	struct buf token;	/* "token": the valid OAuth2 access token */
	bool have_token;
	enum auth_style style;
	bool apop;		/* "apop": timestamp greeting, APOP accepted */
	struct message *msgs;
	size_t nmsgs;
	struct rule *rules;
	size_t nrules;
} cs;

static void block_add(struct block *bl, const char *p, size_t len,
		      bool noeol)
{
	if (bl->n == bl->cap) {
		bl->cap = bl->cap == 0 ? 16 : bl->cap * 2;
		bl->v = realloc(bl->v, bl->cap * sizeof(*bl->v));
		if (bl->v == NULL)
			die("out of memory");
	}
	bl->v[bl->n].p = malloc(len + 1);
	if (bl->v[bl->n].p == NULL)
		die("out of memory");
	memcpy(bl->v[bl->n].p, p, len);
	bl->v[bl->n].p[len] = '\0';
	bl->v[bl->n].len = len;
	bl->v[bl->n].noeol = noeol;
	bl->n++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Appends what the case text s stands for to out.  Escapes: \\ \r \n \t
 * \0 \s (a space, for trailing ones) \xNN, \{TEXT*N} (TEXT, itself
 * unescaped, N times) and \c at the very end (no line ending after this
 * line).
 */
static void unescape(const char *s, int lineno, struct buf *out,
		     bool *noeol_r)
{
	*noeol_r = false;
	while (*s != '\0') {
		char ch;

		if (*s != '\\') {
			buf_add(out, s++, 1);
			continue;
		}
		s++;
		switch (*s) {
		case '\\': ch = '\\'; break;
		case 'r': ch = '\r'; break;
		case 'n': ch = '\n'; break;
		case 't': ch = '\t'; break;
		case '0': ch = '\0'; break;
		case 's': ch = ' '; break;
		case 'x': {
			int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);

			if (lo < 0)
				die("%s: line %d: \\x needs two hex digits",
				    case_path, lineno);
			ch = (char)(hi * 16 + lo);
			s += 2;
			break;
		}
		case 'c':
			if (s[1] != '\0')
				die("%s: line %d: \\c must end the line",
				    case_path, lineno);
			*noeol_r = true;
			return;
		case '{': {
			const char *rbrace = strchr(s, '}'), *star = NULL, *q;
			char *end;
			long n, i;

			for (q = s + 1; rbrace != NULL && q < rbrace; q++)
				if (*q == '*')
					star = q;
			if (rbrace == NULL || star == NULL)
				die("%s: line %d: \\{ needs TEXT*COUNT}",
				    case_path, lineno);
			errno = 0;
			n = strtol(star + 1, &end, 10);
			if (errno != 0 || end != rbrace || n < 0 ||
			    n > MAX_REPEAT)
				die("%s: line %d: bad count in \\{...}",
				    case_path, lineno);
			{
				/* TEXT may hold escapes itself (not \{). */
				char *t = strndup(s + 1, (size_t)(star - s - 1));
				struct buf one = { 0 };
				bool ignored;

				if (t == NULL)
					die("out of memory");
				if (strstr(t, "\\{") != NULL)
					die("%s: line %d: \\{ cannot nest",
					    case_path, lineno);
				unescape(t, lineno, &one, &ignored);
				for (i = 0; i < n; i++)
					buf_add(out, one.p, one.len);
				buf_free(&one);
				free(t);
			}
			s = rbrace + 1;
			continue;
		}
		default:
			die("%s: line %d: unknown escape \\%c", case_path,
			    lineno, *s != '\0' ? *s : ' ');
		}
		buf_add(out, &ch, 1);
		s++;
	}
}

static long parse_long(const char *s, long min, long max, const char *what,
		       int lineno)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		die("%s: line %d: bad %s '%s' (%ld-%ld)", case_path, lineno,
		    what, s, min, max);
	return v;
}

/* Splits s in place at every byte of seps (runs of them count as one);
 * returns the number of pieces, at most max. */
static size_t split(char *s, const char *seps, char **w, size_t max)
{
	size_t n = 0;

	for (;;) {
		s += strspn(s, seps);
		if (*s == '\0' || n == max)
			return n;
		w[n++] = s;
		s += strcspn(s, seps);
		if (*s == '\0')
			return n;
		*s++ = '\0';
	}
}

static size_t split_words(char *s, char **w, size_t max)
{
	return split(s, " \t", w, max);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* "3rd" -> 3; 0 if the word is not an ordinal. */
static unsigned ordinal(const char *w)
{
	char *end;
	unsigned long v;

	if (*w < '1' || *w > '9')
		return 0;
	v = strtoul(w, &end, 10);
	if (v > 100000 || (strcmp(end, "st") != 0 && strcmp(end, "nd") != 0 &&
			   strcmp(end, "rd") != 0 && strcmp(end, "th") != 0))
		return 0;
	return (unsigned)v;
}

/* on [connection N] [Nth] VERB|command|greeting|handshake [ARG]: ACTIONS */
static struct rule *parse_rule(char *rest, int lineno)
{
	char *colon = strchr(rest, ':'), *w[32];
	size_t n, i = 0, j;
	struct rule *r;
	struct buf arg = { 0 };

	if (colon == NULL)
		die("%s: line %d: 'on' needs a ':' before the actions",
		    case_path, lineno);
	*colon = '\0';
	cs.rules = realloc(cs.rules, (cs.nrules + 1) * sizeof(*cs.rules));
	if (cs.rules == NULL)
		die("out of memory");
	r = &cs.rules[cs.nrules++];
	memset(r, 0, sizeof(*r));
	r->lineno = lineno;
	r->cut = -1;
	r->pieces = -1;
	r->delay_ms = -1;

	n = split_words(rest, w, 32);
	if (n >= 2 && strcmp(w[0], "connection") == 0) {
		r->conn = (int)parse_long(w[1], 1, MAX_CONNECTIONS,
					  "connection", lineno);
		i = 2;
	}
	if (i < n && (r->nth = ordinal(w[i])) != 0)
		i++;
	if (i >= n)
		die("%s: line %d: 'on' needs a command, 'command', "
		    "'greeting' or 'handshake'", case_path, lineno);
	if (strcmp(w[i], "greeting") == 0) {
		r->point = POINT_GREETING;
	} else if (strcmp(w[i], "handshake") == 0) {
		r->point = POINT_HANDSHAKE;
	} else {
		r->point = POINT_COMMAND;
		if (strcmp(w[i], "command") != 0) {
			r->verb = xstrdup(w[i]);
			for (j = 0; r->verb[j] != '\0'; j++)
				if (r->verb[j] >= 'a' && r->verb[j] <= 'z')
					r->verb[j] = (char)(r->verb[j] - 32);
		}
	}
	for (j = i + 1; j < n; j++) {
		if (r->point != POINT_COMMAND)
			die("%s: line %d: greeting and handshake take no "
			    "argument", case_path, lineno);
		if (arg.len > 0)
			buf_add(&arg, " ", 1);
		buf_adds(&arg, w[j]);
	}
	if (arg.len > 0)
		r->arg = arg.p;

	n = split_words(colon + 1, w, 32);
	for (i = 0; i < n; i++) {
		const char *a = w[i];

		if (strcmp(a, "reply") == 0)
			r->reply = true;
		else if (strcmp(a, "default") == 0)
			r->deflt = true;
		else if (strcmp(a, "noterm") == 0)
			r->noterm = true;
		else if (strcmp(a, "lf") == 0)
			r->lf = true;
		else if (strcmp(a, "drop") == 0)
			r->drop = true;
		else if (strcmp(a, "stall") == 0)
			r->stall = true;
		else if (i + 1 < n && strcmp(a, "cut") == 0)
			r->cut = parse_long(w[++i], 0, 1L << 30, "cut", lineno);
		else if (i + 1 < n && strcmp(a, "pieces") == 0)
			r->pieces = parse_long(w[++i], 1, 1L << 30, "pieces",
					       lineno);
		else if (i + 1 < n && strcmp(a, "delay") == 0)
			r->delay_ms = parse_long(w[++i], 0, 60000, "delay",
						 lineno);
		else
			die("%s: line %d: unknown action '%s'", case_path,
			    lineno, a);
	}
	if (r->reply && r->deflt)
		die("%s: line %d: 'reply' or 'default', not both", case_path,
		    lineno);
	if (r->drop && r->stall)
		die("%s: line %d: 'drop' or 'stall', not both", case_path,
		    lineno);
	if (!r->reply && !r->deflt && !r->drop && !r->stall) {
		if (r->cut < 0 && r->pieces < 0 && r->delay_ms < 0 &&
		    !r->noterm && !r->lf)
			die("%s: line %d: 'on' without an action", case_path,
			    lineno);
		r->deflt = true;
	}
	if (!r->reply && (r->cut >= 0 || r->pieces > 0 || r->delay_ms >= 0 ||
			  r->noterm || r->lf))
		r->deflt = true;
	if (r->point == POINT_HANDSHAKE && (r->reply || r->deflt))
		die("%s: line %d: a handshake can only 'drop' or 'stall'",
		    case_path, lineno);
	return r;
}

/* The mechanisms AUTH implements; others may be offered ("auth" takes
 * any name) for a case that answers them with its own rules. */
static const char *const known_mechs[] = { "PLAIN", "LOGIN", "XOAUTH2",
					   "OAUTHBEARER" };
enum mech { MECH_PLAIN, MECH_LOGIN, MECH_XOAUTH2, MECH_OAUTHBEARER,
	    MECH_UNKNOWN };

/* "auth PLAIN, XOAUTH2": what CAPA's SASL line offers, in this order. */
static void parse_auth_list(char *list, int lineno)
{
	char *item[32];
	size_t k, j, nitems = split(list, ", \t", item, 32);

	if (nitems == 0)
		die("%s: line %d: 'auth' needs mechanism names", case_path,
		    lineno);
	cs.auth = realloc(cs.auth, (cs.nauth + nitems) * sizeof(*cs.auth));
	if (cs.auth == NULL)
		die("out of memory");
	for (k = 0; k < nitems; k++) {
		for (j = 0; item[k][j] != '\0'; j++) {
			char ch = item[k][j];

			if (ch >= 'a' && ch <= 'z')
				item[k][j] = (char)(ch - 32);
			else if (!((ch >= 'A' && ch <= 'Z') ||
				   (ch >= '0' && ch <= '9') || ch == '-' ||
				   ch == '_'))
				die("%s: line %d: bad mechanism name '%s'",
				    case_path, lineno, item[k]);
		}
		cs.auth[cs.nauth++] = xstrdup(item[k]);
	}
}

static void parse_message(char **w, size_t n, int lineno)
{
	struct message *m;
	bool noeol;
	size_t i;

	cs.msgs = realloc(cs.msgs, (cs.nmsgs + 1) * sizeof(*cs.msgs));
	if (cs.msgs == NULL)
		die("out of memory");
	m = &cs.msgs[cs.nmsgs++];
	memset(m, 0, sizeof(*m));
	m->listsize = -1;
	if (n < 2)
		die("%s: line %d: 'message' needs a UID", case_path, lineno);
	unescape(w[1], lineno, &m->uid, &noeol);
	for (i = 2; i < n; i++) {
		if (strncmp(w[i], "listsize=", 9) == 0)
			m->listsize = parse_long(w[i] + 9, 0, 1L << 40,
						 "listsize", lineno);
		else if (strncmp(w[i], "generate=", 9) == 0)
			m->generate = parse_long(w[i] + 9, 1, 1L << 28,
						 "generate", lineno);
		else if (strncmp(w[i], "file=", 5) == 0 && w[i][5] != '\0')
			m->file = xstrdup(w[i] + 5);
		else
			die("%s: line %d: unknown message option '%s'",
			    case_path, lineno, w[i]);
	}
}

static void read_whole(const char *path, struct buf *out)
{
	char chunk[65536];
	size_t n;
	FILE *f = fopen(path, "rb");

	if (f == NULL)
		die("cannot open %s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(out, chunk, n);
	if (ferror(f))
		die("cannot read %s", path);
	fclose(f);
}

/* Builds m->data: the message as the client must store it. */
static void build_message(struct message *m, const char *dir)
{
	size_t i;

	if ((m->file != NULL) + (m->generate > 0) + (m->lines.n > 0) != 1)
		die("%s: message '%s' needs exactly one of: '|' lines, file=, "
		    "generate=", case_path, m->uid.p);
	if (m->file != NULL) {
		struct buf raw = { 0 }, path = { 0 };

		if (m->file[0] != '/') {
			buf_adds(&path, dir);
			buf_add(&path, "/", 1);
		}
		buf_adds(&path, m->file);
		read_whole(path.p, &raw);
		buf_free(&path);
		/* Lines end in LF in the store, whatever the file has. */
		for (i = 0; i < raw.len; i++) {
			if (raw.p[i] == '\r' && i + 1 < raw.len &&
			    raw.p[i + 1] == '\n')
				continue;
			buf_add(&m->data, raw.p + i, 1);
		}
		buf_free(&raw);
	} else if (m->generate > 0) {
		long n = 0;

		buf_addf(&m->data, "From: generator@faultserver.test\n"
			 "To: fault@faultserver.test\n"
			 "Subject: generated, about %ld bytes\n"
			 "Message-ID: <gen-%ld-%zu@faultserver.test>\n\n",
			 m->generate, m->generate, cs.nmsgs);
		while ((long)m->data.len < m->generate) {
			/* Every tenth line starts with a dot: stuffing is
			 * exercised on every big message. */
			buf_addf(&m->data, "%sline %06ld: the quick brown fox "
				 "jumps over the lazy dog 0123456789\n",
				 n % 10 == 9 ? "." : "", n);
			n++;
		}
	} else {
		for (i = 0; i < m->lines.n; i++) {
			buf_add(&m->data, m->lines.v[i].p, m->lines.v[i].len);
			buf_add(&m->data, "\n", 1);
		}
	}
	if (m->data.len == 0 || m->data.p[m->data.len - 1] != '\n')
		buf_add(&m->data, "\n", 1);
}

static void parse_case(const char *path)
{
	struct buf text = { 0 };
	struct block *cur = NULL;
	char *line, *next, dir[4096];
	const char *slash;
	bool in_server = false;
	int lineno = 0;
	size_t i;

	read_whole(path, &text);
	for (line = text.p; line != NULL && *line != '\0'; line = next) {
		char *nl = strchr(line, '\n'), *s, *w[64];
		size_t n;

		next = nl != NULL ? nl + 1 : NULL;
		if (nl != NULL)
			*nl = '\0';
		if (nl != NULL && nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		lineno++;
		if (line[0] == '[') {
			in_server = strcmp(trim(line), "[server]") == 0;
			cur = NULL;
			continue;
		}
		if (!in_server)
			continue;
		if (line[0] == '|') {
			struct buf b = { 0 };
			bool noeol;

			if (cur == NULL)
				die("%s: line %d: a '|' line must follow "
				    "'message' or 'on ...: reply'", case_path,
				    lineno);
			s = line + 1;
			if (*s == ' ')
				s++;
			unescape(s, lineno, &b, &noeol);
			block_add(cur, b.p != NULL ? b.p : "", b.len, noeol);
			buf_free(&b);
			continue;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		cur = NULL;
		if (strncmp(s, "on ", 3) == 0) {
			struct rule *r = parse_rule(s + 3, lineno);

			if (r->reply)
				cur = &r->text;
			continue;
		}
		if (strncmp(s, "auth ", 5) == 0) {
			parse_auth_list(trim(s + 5), lineno);
			continue;
		}
		if (strncmp(s, "token ", 6) == 0) {
			bool noeol;

			if (cs.have_token)
				die("%s: line %d: one 'token' only", case_path,
				    lineno);
			unescape(trim(s + 6), lineno, &cs.token, &noeol);
			if (cs.token.len == 0 ||
			    memchr(cs.token.p, '\0', cs.token.len) != NULL ||
			    memchr(cs.token.p, '\n', cs.token.len) != NULL)
				die("%s: line %d: a token is one line, not empty, "
				    "without NUL", case_path, lineno);
			cs.have_token = true;
			continue;
		}
		if (strncmp(s, "capa ", 5) == 0) {
			char *list = trim(s + 5), *item[64];
			size_t k, nitems;

			cs.capa_set = true;
			if (strcmp(list, "none") == 0) {
				cs.capa_none = true;
				continue;
			}
			nitems = split(list, ",", item, 64);
			cs.capa = realloc(cs.capa, (cs.ncapa + nitems + 1) *
					  sizeof(*cs.capa));
			if (cs.capa == NULL)
				die("out of memory");
			for (k = 0; k < nitems; k++)
				if (*trim(item[k]) != '\0')
					cs.capa[cs.ncapa++] = xstrdup(trim(item[k]));
			continue;
		}
		n = split_words(s, w, 64);
		if (strcmp(w[0], "message") == 0) {
			parse_message(w, n, lineno);
			cur = &cs.msgs[cs.nmsgs - 1].lines;
		} else if (strcmp(w[0], "tls") == 0 && n == 2 &&
			   (strcmp(w[1], "implicit") == 0 ||
			    strcmp(w[1], "none") == 0)) {
			cs.implicit_tls = strcmp(w[1], "implicit") == 0;
		} else if (strcmp(w[0], "cert") == 0 && n == 2) {
			/* read by the test runner, which passes --cert */
		} else if (strcmp(w[0], "lf") == 0 && n == 1) {
			cs.lf = true;
		} else if (strcmp(w[0], "apop") == 0 && n == 1) {
			cs.apop = true;
		} else if (strcmp(w[0], "auth-style") == 0 && n == 2 &&
			   (strcmp(w[1], "gmail") == 0 ||
			    strcmp(w[1], "microsoft") == 0)) {
			cs.style = w[1][0] == 'g' ? STYLE_GMAIL
						  : STYLE_MICROSOFT;
		} else if (strcmp(w[0], "pieces") == 0 && n == 2) {
			cs.pieces = parse_long(w[1], 1, 1L << 30, "pieces",
					       lineno);
		} else if (strcmp(w[0], "delay") == 0 && n == 2) {
			cs.delay_ms = parse_long(w[1], 0, 60000, "delay",
						 lineno);
		} else {
			die("%s: line %d: unknown [server] line '%s'",
			    case_path, lineno, w[0]);
		}
	}
	for (i = 0; i < cs.nrules; i++)
		if (cs.rules[i].reply && cs.rules[i].text.n == 0)
			die("%s: line %d: 'reply' needs '|' lines after it",
			    case_path, cs.rules[i].lineno);
	slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	for (i = 0; i < cs.nmsgs; i++)
		build_message(&cs.msgs[i], dir);
	buf_free(&text);
}

/* ---- time: one deadline for the whole run ---- */

static int64_t deadline_ms;
static int timeout_s = 30;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void deadline_passed(void) __attribute__((noreturn));

static void deadline_passed(void)
{
	log_event("timeout: %d s have passed, exiting", timeout_s);
	exit(3);
}

/* Waits until fd is ready; exits the server at the deadline.  Returns the
 * revents (POLLHUP/POLLERR included). */
static short wait_fd(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline_ms - now_ms();
		int n;

		if (left <= 0)
			deadline_passed();
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return pfd.revents;
		if (n < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
	}
}

static void sleep_ms(long ms)
{
	int64_t until = now_ms() + ms;

	if (until > deadline_ms)
		deadline_passed();
	while (now_ms() < until)
		(void)poll(NULL, 0, (int)(until - now_ms()));
}

/* ---- one connection ---- */

static SSL_CTX *tls_ctx;
static const char *want_user = "fault";
static const char *want_password = "secret";

static int listen_port;		/* what OAUTHBEARER's port= must say */

enum auth_state { ST_AUTHORIZATION, ST_TRANSACTION };

/* Where an AUTH exchange stands: what the next client line must be. */
enum sasl_step {
	SX_NONE,		/* no exchange: the next line is a command */
	SX_RESPONSE,		/* the (first) response, after "+ " */
	SX_LOGIN_PASSWORD,	/* LOGIN: the password, after the user name */
	SX_OAUTH_ERROR		/* the client's answer to a JSON error */
};

struct conn {
	int fd;
	SSL *ssl;
	int num;		/* 1 for the first connection */
	char in[MAX_AUTH_LINE + 1];
	size_t inlen;
	enum auth_state state;
	char user[256];
	bool have_user;
	char timestamp[256];	/* the greeting's <...>, for APOP; "" if none */
	enum sasl_step sx;
	enum mech sx_mech;
	char sx_user[256];	/* LOGIN: the user name of the first step */
	size_t *map;		/* message number - 1 -> index in cs.msgs */
	size_t nmap;
	bool *deleted;		/* by index in cs.msgs, this session */
};

/* What happens if the reply sent for a command starts with "+OK". */
enum effect { EF_NONE, EF_USER, EF_AUTH, EF_STLS, EF_DELE, EF_RSET, EF_QUIT };

enum next { NEXT_GO_ON, NEXT_END };

static void ssl_log_errors(const char *what)
{
	unsigned long e;
	char reason[256];
	bool any = false;

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, reason, sizeof(reason));
		log_event("%s: %s", what, reason);
		any = true;
	}
	if (!any)
		log_event("%s", what);
}

/* Reads what is there (waiting for something): > 0 bytes, 0 at EOF or on
 * a broken connection. */
static ssize_t conn_read(struct conn *c, void *p, size_t len)
{
	for (;;) {
		if (c->ssl != NULL) {
			int n, e;

			ERR_clear_error();
			n = SSL_read(c->ssl, p, (int)len);
			if (n > 0)
				return n;
			e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_READ)
				(void)wait_fd(c->fd, POLLIN);
			else if (e == SSL_ERROR_WANT_WRITE)
				(void)wait_fd(c->fd, POLLOUT);
			else {
				if (e != SSL_ERROR_ZERO_RETURN)
					ssl_log_errors("TLS read failed");
				return 0;
			}
		} else {
			ssize_t n = read(c->fd, p, len);

			if (n >= 0)
				return n;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				(void)wait_fd(c->fd, POLLIN);
			else if (errno != EINTR) {
				log_event("read failed: %s", strerror(errno));
				return 0;
			}
		}
	}
}

static bool conn_write(struct conn *c, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n;

		if (c->ssl != NULL) {
			int w, e;

			ERR_clear_error();
			w = SSL_write(c->ssl, p, (int)len);
			if (w <= 0) {
				e = SSL_get_error(c->ssl, w);
				if (e == SSL_ERROR_WANT_READ)
					(void)wait_fd(c->fd, POLLIN);
				else if (e == SSL_ERROR_WANT_WRITE)
					(void)wait_fd(c->fd, POLLOUT);
				else {
					ssl_log_errors("TLS write failed");
					return false;
				}
				continue;
			}
			n = w;
		} else {
			n = write(c->fd, p, len);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					(void)wait_fd(c->fd, POLLOUT);
				else if (errno != EINTR) {
					log_event("write failed: %s",
						  strerror(errno));
					return false;
				}
				continue;
			}
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads one client line (without CR LF) into out (max + 1 bytes).  1: a
 * line; 0: the client closed; -1: a line longer than max. */
static int read_line(struct conn *c, char *out, size_t *len_r, size_t max)
{
	for (;;) {
		char *nl = memchr(c->in, '\n', c->inlen);
		ssize_t n;

		if (nl != NULL) {
			size_t len = (size_t)(nl - c->in), used = len + 1;

			if (len > 0 && c->in[len - 1] == '\r')
				len--;
			if (len > max)
				return -1;
			memcpy(out, c->in, len);
			out[len] = '\0';
			*len_r = len;
			memmove(c->in, c->in + used, c->inlen - used);
			c->inlen -= used;
			return 1;
		}
		if (c->inlen >= max + 2 || c->inlen == MAX_AUTH_LINE)
			return -1;
		n = conn_read(c, c->in + c->inlen, MAX_AUTH_LINE - c->inlen);
		if (n == 0) {
			if (c->inlen > 0) {
				fputs("*: the client closed after an "
				      "unfinished line: ", log_fp);
				log_escaped(c->in, c->inlen);
				fputc('\n', log_fp);
				fflush(log_fp);
			}
			return 0;
		}
		c->inlen += (size_t)n;
	}
}

/* Stops answering: reads (and logs) whatever the client sends until it
 * closes; the deadline ends the whole server if it never does. */
static enum next stall(struct conn *c)
{
	static char line[MAX_CMD_LINE + 1];
	size_t len;
	int r;

	log_event("stalling (reading, never answering)");
	while ((r = read_line(c, line, &len, MAX_CMD_LINE)) == 1)
		log_client(line, len);
	if (r < 0) {
		log_event("the client sent a line over %d bytes while we "
			  "stalled", MAX_CMD_LINE);
		while (conn_read(c, c->in, MAX_CMD_LINE) > 0)
			;
	}
	log_event("the client closed the connection while we stalled");
	return NEXT_END;
}

/* Sends data as the rule (or the case) says: in pieces with delays. */
static bool send_reply(struct conn *c, const char *data, size_t len,
		       long pieces, long delay_ms)
{
	size_t off = 0;

	if (len == 0)
		return true;
	log_reply(data, len);
	if (pieces <= 0)
		return conn_write(c, data, len);
	while (off < len) {
		size_t n = len - off < (size_t)pieces ? len - off
						       : (size_t)pieces;

		if (off > 0 && delay_ms > 0)
			sleep_ms(delay_ms);
		if (!conn_write(c, data + off, n))
			return false;
		off += n;
	}
	return true;
}

/* "on AUTH XOAUTH2" names the mechanism (what follows it is a secret,
 * sent or not); every other ARG is the whole argument. */
static bool rule_arg_matches(const struct rule *r, const char *verb,
			     const char *arg)
{
	if (strcmp(verb, "AUTH") == 0)
		return strlen(r->arg) == strcspn(arg, " ") &&
		       strncasecmp(r->arg, arg, strlen(r->arg)) == 0;
	return strcmp(r->arg, arg) == 0;
}

/* Finds the rule for this point of the dialogue, counting the matches of
 * every rule: "on 2nd RETR" is the second RETR of the connection. */
static struct rule *find_rule(struct conn *c, enum point point,
			      const char *verb, const char *arg)
{
	struct rule *found = NULL;
	size_t i;

	for (i = 0; i < cs.nrules; i++) {
		struct rule *r = &cs.rules[i];

		if (r->point != point || (r->conn != 0 && r->conn != c->num))
			continue;
		if (point == POINT_COMMAND &&
		    ((r->verb != NULL && strcmp(r->verb, verb) != 0) ||
		     (r->arg != NULL && !rule_arg_matches(r, verb, arg))))
			continue;
		r->seen++;
		if (found == NULL && (r->nth == 0 || r->seen == r->nth))
			found = r;
	}
	if (found != NULL)
		log_event("rule of line %d applies", found->lineno);
	return found;
}

static void handshake_failed(struct conn *c)
{
	ssl_log_errors("TLS handshake failed");
	SSL_free(c->ssl);
	c->ssl = NULL;
}

/* The TLS handshake (implicit TLS, or after STLS), unless a rule stalls or
 * drops it. */
static enum next handshake(struct conn *c)
{
	struct rule *r = find_rule(c, POINT_HANDSHAKE, NULL, NULL);

	if (r != NULL && r->drop) {
		log_event("dropping the connection instead of the handshake");
		return NEXT_END;
	}
	if (r != NULL && r->stall) {
		char junk[4096];
		ssize_t n;
		size_t total = 0;

		log_event("stalling the TLS handshake");
		while ((n = conn_read(c, junk, sizeof(junk))) > 0)
			total += (size_t)n;
		log_event("the client closed the connection while we stalled "
			  "(%zu handshake bytes ignored)", total);
		return NEXT_END;
	}
	if (tls_ctx == NULL) {
		log_event("TLS wanted but no --cert/--key given");
		return NEXT_END;
	}
	if (c->inlen > 0) {
		/* A client that sends before the handshake is broken. */
		log_event("%zu bytes received before the handshake, dropped",
			  c->inlen);
		c->inlen = 0;
	}
	c->ssl = SSL_new(tls_ctx);
	if (c->ssl == NULL || !SSL_set_fd(c->ssl, c->fd))
		die("cannot set up TLS");
	for (;;) {
		int n, e;

		ERR_clear_error();
		n = SSL_accept(c->ssl);
		if (n == 1)
			break;
		e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_READ)
			(void)wait_fd(c->fd, POLLIN);
		else if (e == SSL_ERROR_WANT_WRITE)
			(void)wait_fd(c->fd, POLLOUT);
		else {
			handshake_failed(c);
			return NEXT_END;
		}
	}
	log_event("TLS handshake done: %s %s", SSL_get_version(c->ssl),
		  SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)));
	return NEXT_GO_ON;
}

/* ---- default replies (a correct POP3 server) ---- */

static const char *eol_for(const struct rule *r)
{
	return cs.lf || (r != NULL && r->lf) ? "\n" : "\r\n";
}

static uint64_t msg_octets(const struct message *m)
{
	uint64_t octets = 0;
	size_t i;

	/* RFC 1939 counts the message with CRLF line endings. */
	for (i = 0; i < m->data.len; i++)
		octets += m->data.p[i] == '\n' ? 2 : 1;
	return octets;
}

static uint64_t msg_listsize(const struct message *m)
{
	return m->listsize >= 0 ? (uint64_t)m->listsize : msg_octets(m);
}

/* Appends the message's lines (all, or the header and max_body lines of
 * the body), dot-stuffed, with the given line ending. */
static void add_body(struct buf *out, const struct message *m,
		     const char *eol, long max_body)
{
	const char *p = m->data.p, *end = m->data.p + m->data.len;
	bool in_body = false;
	long body_lines = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)(nl - p);

		if (in_body && max_body >= 0 && body_lines++ >= max_body)
			break;
		if (len > 0 && p[0] == '.')
			buf_add(out, ".", 1);
		buf_add(out, p, len);
		buf_adds(out, eol);
		if (len == 0)
			in_body = true;
		p = nl + 1;
	}
}

/* Message number argument -> index in cs.msgs, or -1. */
static long msg_arg(const struct conn *c, const char *arg)
{
	char *end;
	unsigned long v;

	if (arg[0] < '0' || arg[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno != 0 || (*end != '\0' && *end != ' ') || v < 1 ||
	    v > c->nmap || c->deleted[c->map[v - 1]])
		return -1;
	return (long)c->map[v - 1];
}

static void add_status(struct buf *out, const char *eol, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add_status(struct buf *out, const char *eol, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	buf_adds(out, tmp);
	buf_adds(out, eol);
}

/* "SASL PLAIN XOAUTH2" (RFC 2449 section 6.3) if the case offers AUTH. */
static void add_sasl(struct buf *out, const char *eol)
{
	size_t i;

	if (cs.nauth == 0)
		return;
	buf_adds(out, "SASL");
	for (i = 0; i < cs.nauth; i++) {
		buf_add(out, " ", 1);
		buf_adds(out, cs.auth[i]);
	}
	buf_adds(out, eol);
}

static void add_capa(struct conn *c, struct buf *out, const char *eol,
		     bool noterm)
{
	static const char *const dflt[] = { "TOP", "USER", "UIDL",
					    "RESP-CODES", "PIPELINING" };
	size_t i;

	bool sasl_listed = false;

	add_status(out, eol, "+OK Capability list follows");
	if (cs.capa_set) {
		for (i = 0; i < cs.ncapa; i++) {
			/* RFC 2595: no STLS once TLS is on. */
			if (c->ssl != NULL && strcasecmp(cs.capa[i], "STLS") == 0)
				continue;
			if (strncasecmp(cs.capa[i], "SASL", 4) == 0 &&
			    (cs.capa[i][4] == ' ' || cs.capa[i][4] == '\0'))
				sasl_listed = true;
			add_status(out, eol, "%s", cs.capa[i]);
		}
		if (!sasl_listed)
			add_sasl(out, eol);
	} else {
		for (i = 0; i < sizeof(dflt) / sizeof(dflt[0]); i++)
			add_status(out, eol, "%s", dflt[i]);
		add_sasl(out, eol);
		if (tls_ctx != NULL && c->ssl == NULL && !cs.implicit_tls &&
		    c->state == ST_AUTHORIZATION)
			add_status(out, eol, "STLS");
	}
	if (!noterm)
		add_status(out, eol, ".");
}

/* The listing of one message: "N SIZE" or "N UID". */
static void add_listing(struct conn *c, struct buf *out, const char *eol,
			bool uidl, size_t num)
{
	const struct message *m = &cs.msgs[c->map[num - 1]];

	if (uidl) {
		buf_addf(out, "%zu ", num);
		buf_add(out, m->uid.p, m->uid.len);
		buf_adds(out, eol);
	} else {
		add_status(out, eol, "%zu %llu", num,
			   (unsigned long long)msg_listsize(m));
	}
}

/* ---- AUTH (RFC 5034) and APOP (RFC 1939) ---- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64_encode(struct buf *out, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		char q[4] = { b64_alphabet[p[i] >> 2],
			      b64_alphabet[((p[i] & 3) << 4) | (p[i + 1] >> 4)],
			      b64_alphabet[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)],
			      b64_alphabet[p[i + 2] & 63] };

		buf_add(out, q, 4);
	}
	if (i < len) {
		char q[4] = { b64_alphabet[p[i] >> 2], '=', '=', '=' };

		if (i + 1 < len) {
			q[1] = b64_alphabet[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			q[2] = b64_alphabet[(p[i + 1] & 15) << 2];
		} else {
			q[1] = b64_alphabet[(p[i] & 3) << 4];
		}
		buf_add(out, q, 4);
	}
	if (out->p == NULL)
		buf_add(out, "", 0);
}

/* Strict base64: a multiple of 4 characters, padding only at the end,
 * no whitespace, no stray bits.  False on anything else. */
static bool base64_decode(const char *text, size_t len, struct buf *out)
{
	size_t i, k;

	buf_add(out, "", 0);
	if (len % 4 != 0)
		return false;
	for (i = 0; i < len; i += 4) {
		unsigned v[4], pad = 0;
		unsigned char b[3];

		for (k = 0; k < 4; k++) {
			const char *at = text[i + k] == '\0' ? NULL :
				strchr(b64_alphabet, text[i + k]);

			if (text[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (at == NULL || pad > 0) {
				return false;
			} else {
				v[k] = (unsigned)(at - b64_alphabet);
			}
		}
		if ((pad == 1 && (v[2] & 3) != 0) ||
		    (pad == 2 && (v[1] & 15) != 0))
			return false;
		b[0] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		b[1] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		b[2] = (unsigned char)((v[2] & 3) << 6 | v[3]);
		buf_add(out, b, 3 - pad);
	}
	return true;
}

/* Lowercase hex MD5 of a then b (APOP: timestamp then password). */
static void md5_hex(const char *a, const char *b, char hex_r[33])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, a, strlen(a)) != 1 ||
	    EVP_DigestUpdate(ctx, b, strlen(b)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &n) != 1 || n != 16)
		die("MD5 is not available");
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < 16; i++)
		snprintf(hex_r + 2 * i, 3, "%02x", md[i]);
}

static void log_event_text(const char *what, const char *text, size_t len)
{
	fprintf(log_fp, "*: %s", what);
	log_escaped(text, len);
	fputc('\n', log_fp);
	fflush(log_fp);
}

static const char *mech_name(enum mech m)
{
	return m < MECH_UNKNOWN ? known_mechs[m] : "?";
}

/* The mechanism of an AUTH argument's first word, if the case offers it
 * (MECH_UNKNOWN otherwise); *offered_r says whether it is offered. */
static enum mech mech_lookup(const char *name, size_t len, bool *offered_r)
{
	size_t i;

	*offered_r = false;
	for (i = 0; i < cs.nauth; i++)
		if (strlen(cs.auth[i]) == len &&
		    strncasecmp(cs.auth[i], name, len) == 0)
			*offered_r = true;
	for (i = 0; i < MECH_UNKNOWN; i++)
		if (strlen(known_mechs[i]) == len &&
		    strncasecmp(known_mechs[i], name, len) == 0)
			return (enum mech)i;
	return MECH_UNKNOWN;
}

/* The words of the server imitated ("auth-style"). */
static const char *auth_text_ok(void)
{
	return cs.style == STYLE_MICROSOFT
		? "+OK User successfully authenticated."
		: "+OK Welcome.";
}

static const char *auth_text_bad_password(void)
{
	return cs.style == STYLE_MICROSOFT
		? "-ERR Authentication failure: unknown user name or bad password."
		: "-ERR [AUTH] Username and password not accepted.";
}

static const char *auth_text_bad_token(void)
{
	return cs.style == STYLE_MICROSOFT
		? "-ERR Authentication failure: unknown user name or bad password."
		: "-ERR [AUTH] Invalid credentials.";
}

/* The OAuth2 error that goes, base64-encoded, in the "+ " challenge after a
 * refused token: Google's form for XOAUTH2, RFC 7628 section 3.2.2's for
 * OAUTHBEARER. */
static const char *auth_oauth_error_json(enum mech m)
{
	if (cs.style == STYLE_MICROSOFT)
		return "{\"status\":\"invalid_token\",\"scope\":"
		       "\"https://outlook.office.com/POP.AccessAsUser.All\"}";
	if (m == MECH_XOAUTH2)
		return "{\"status\":\"400\",\"schemes\":\"Bearer\",\"scope\":"
		       "\"https://mail.google.com/\"}";
	return "{\"status\":\"invalid_token\",\"schemes\":\"Bearer\","
	       "\"scope\":\"https://mail.google.com/\"}";
}

static bool is_user(const char *p, size_t len)
{
	return strlen(want_user) == len && memcmp(p, want_user, len) == 0;
}

static bool is_password(const char *p, size_t len)
{
	return strlen(want_password) == len &&
	       memcmp(p, want_password, len) == 0;
}

/* "Bearer TOKEN" holds the valid token. */
static bool is_bearer_token(const char *p, size_t len)
{
	return cs.have_token && len == 7 + cs.token.len &&
	       memcmp(p, "Bearer ", 7) == 0 &&
	       memcmp(p + 7, cs.token.p, cs.token.len) == 0;
}

/* PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd. */
static bool check_plain(const char *d, size_t len)
{
	const char *n1 = memchr(d, '\0', len), *n2;
	size_t zlen, ulen, plen;

	n2 = n1 == NULL ? NULL : memchr(n1 + 1, '\0', len - (size_t)(n1 + 1 - d));
	if (n1 == NULL || n2 == NULL ||
	    memchr(n2 + 1, '\0', len - (size_t)(n2 + 1 - d)) != NULL) {
		log_event("AUTH PLAIN: malformed response (not authzid NUL "
			  "authcid NUL password)");
		return false;
	}
	zlen = (size_t)(n1 - d);
	ulen = (size_t)(n2 - n1 - 1);
	plen = len - (size_t)(n2 + 1 - d);
	if (zlen != 0 && !is_user(d, zlen)) {
		log_event_text("AUTH PLAIN: refused: authorization identity is ",
			       d, zlen);
		return false;
	}
	if (!is_user(n1 + 1, ulen)) {
		log_event_text("AUTH PLAIN: refused: unknown user ", n1 + 1,
			       ulen);
		return false;
	}
	if (!is_password(n2 + 1, plen)) {
		log_event("AUTH PLAIN: refused: wrong password (%zu bytes)",
			  plen);
		return false;
	}
	return true;
}

/* XOAUTH2 (Google's and Microsoft's documentation):
 * "user=" USER ^A "auth=Bearer " TOKEN ^A ^A, nothing else. */
static bool check_xoauth2(const char *d, size_t len)
{
	const char *end = d + len, *u, *ue, *a, *ae;

	if (len < 5 || memcmp(d, "user=", 5) != 0)
		goto malformed;
	u = d + 5;
	ue = memchr(u, '\x01', (size_t)(end - u));
	if (ue == NULL || end - ue < 6 || memcmp(ue + 1, "auth=", 5) != 0)
		goto malformed;
	a = ue + 6;
	ae = memchr(a, '\x01', (size_t)(end - a));
	if (ae == NULL || end - ae != 2 || ae[1] != '\x01')
		goto malformed;
	if (!is_user(u, (size_t)(ue - u))) {
		log_event_text("AUTH XOAUTH2: refused: user= is ", u,
			       (size_t)(ue - u));
		return false;
	}
	if (!is_bearer_token(a, (size_t)(ae - a))) {
		log_event("AUTH XOAUTH2: refused: auth= is not \"Bearer \" and "
			  "the valid token (%zu bytes given, %zu wanted)",
			  (size_t)(ae - a), cs.token.len + 7);
		return false;
	}
	return true;
malformed:
	log_event("AUTH XOAUTH2: malformed payload (%zu bytes; not user=...^A"
		  "auth=Bearer ...^A^A)", len);
	return false;
}

/* OAUTHBEARER (RFC 7628 section 3.1): gs2-header "n,a=USER," ^A, then
 * key=value ^A pairs (auth, and host and port if the client sends them),
 * then ^A.  Host and port, when present, must name this server. */
static bool check_oauthbearer(const char *d, size_t len)
{
	const char *end = d + len, *p, *comma;
	bool have_auth = false, good_auth = false, ok = true;

	if (len < 3 || (memcmp(d, "n,", 2) != 0 && memcmp(d, "y,", 2) != 0))
		goto malformed;
	p = d + 2;
	comma = memchr(p, ',', (size_t)(end - p));
	if (comma == NULL || comma + 1 >= end || comma[1] != '\x01')
		goto malformed;
	if (comma == p) {
		log_event("AUTH OAUTHBEARER: no a= in the gs2 header");
	} else if (end - p < 2 || memcmp(p, "a=", 2) != 0) {
		goto malformed;
	} else if (!is_user(p + 2, (size_t)(comma - p - 2))) {
		log_event_text("AUTH OAUTHBEARER: refused: a= is ", p + 2,
			       (size_t)(comma - p - 2));
		ok = false;
	}
	p = comma + 2;
	/* Pairs, each ended by ^A; an empty one (^A ^A) ends the message. */
	for (;;) {
		const char *e = memchr(p, '\x01', (size_t)(end - p)), *eq;
		size_t klen, vlen;

		if (e == NULL)
			goto malformed;
		if (e == p) {
			if (e + 1 != end)
				goto malformed;
			break;
		}
		eq = memchr(p, '=', (size_t)(e - p));
		if (eq == NULL)
			goto malformed;
		klen = (size_t)(eq - p);
		vlen = (size_t)(e - eq - 1);
		if (klen == 4 && memcmp(p, "auth", 4) == 0) {
			have_auth = true;
			good_auth = is_bearer_token(eq + 1, vlen);
		} else if (klen == 4 && memcmp(p, "host", 4) == 0) {
			log_event_text("AUTH OAUTHBEARER: host=", eq + 1, vlen);
			if (!((vlen == 9 && memcmp(eq + 1, "localhost", 9) == 0) ||
			      (vlen == 9 && memcmp(eq + 1, "127.0.0.1", 9) == 0))) {
				log_event("AUTH OAUTHBEARER: refused: host= "
					  "is not this server");
				ok = false;
			}
		} else if (klen == 4 && memcmp(p, "port", 4) == 0) {
			char want[16];

			log_event_text("AUTH OAUTHBEARER: port=", eq + 1, vlen);
			snprintf(want, sizeof(want), "%d", listen_port);
			if (vlen != strlen(want) ||
			    memcmp(eq + 1, want, vlen) != 0) {
				log_event("AUTH OAUTHBEARER: refused: port= is "
					  "not %s", want);
				ok = false;
			}
		} else {
			log_event_text("AUTH OAUTHBEARER: unknown key ", p, klen);
		}
		p = e + 1;
	}
	if (!have_auth) {
		log_event("AUTH OAUTHBEARER: refused: no auth=");
		return false;
	}
	if (!good_auth) {
		log_event("AUTH OAUTHBEARER: refused: auth= is not \"Bearer \" "
			  "and the valid token");
		return false;
	}
	return ok;
malformed:
	log_event("AUTH OAUTHBEARER: malformed payload (%zu bytes)", len);
	return false;
}

/* The answer to a refused token: the JSON error in a challenge, which the
 * client must answer before the -ERR (RFC 7628 section 3.2.3; Google does
 * the same for XOAUTH2), or at once -ERR (Microsoft, for XOAUTH2). */
static void oauth_refuse(struct conn *c, struct buf *out, const char *eol)
{
	const char *json = auth_oauth_error_json(c->sx_mech);

	if (cs.style == STYLE_MICROSOFT && c->sx_mech == MECH_XOAUTH2) {
		add_status(out, eol, "%s", auth_text_bad_token());
		c->sx = SX_NONE;
		return;
	}
	log_event("AUTH %s: error challenge %s", mech_name(c->sx_mech), json);
	buf_adds(out, "+ ");
	base64_encode(out, json, strlen(json));
	buf_adds(out, eol);
	c->sx = SX_OAUTH_ERROR;
}

/* One decoded client response of the exchange: appends the reply to out
 * and sets c->sx to what comes next. */
static void sasl_response(struct conn *c, const char *d, size_t len,
			  struct buf *out, const char *eol)
{
	bool good = false;

	c->sx = SX_NONE;
	switch (c->sx_mech) {
	case MECH_PLAIN:
		good = check_plain(d, len);
		break;
	case MECH_LOGIN:
		if (c->sx_user[0] == '\0' && len == 0) {
			log_event("AUTH LOGIN: empty user name");
		} else if (c->sx_user[0] == '\0') {
			snprintf(c->sx_user, sizeof(c->sx_user), "%.*s",
				 (int)len, d);
			/* "Password:", as every LOGIN server asks. */
			add_status(out, eol, "+ UGFzc3dvcmQ6");
			c->sx = SX_LOGIN_PASSWORD;
			return;
		} else if (!is_user(c->sx_user, strlen(c->sx_user))) {
			log_event_text("AUTH LOGIN: refused: unknown user ",
				       c->sx_user, strlen(c->sx_user));
		} else if (!is_password(d, len)) {
			log_event("AUTH LOGIN: refused: wrong password (%zu "
				  "bytes)", len);
		} else {
			good = true;
		}
		break;
	case MECH_XOAUTH2:
	case MECH_OAUTHBEARER:
		if (c->sx_mech == MECH_XOAUTH2 ? check_xoauth2(d, len)
					       : check_oauthbearer(d, len)) {
			good = true;
			break;
		}
		oauth_refuse(c, out, eol);
		return;
	case MECH_UNKNOWN:
		break;
	}
	if (good) {
		log_event("AUTH %s: accepted", mech_name(c->sx_mech));
		add_status(out, eol, "%s", auth_text_ok());
	} else {
		add_status(out, eol, "%s",
			   c->sx_mech == MECH_XOAUTH2 ||
			   c->sx_mech == MECH_OAUTHBEARER
			   ? auth_text_bad_token() : auth_text_bad_password());
	}
}

/* "AUTH [MECH [INITIAL-RESPONSE]]" (RFC 5034): the first reply of the
 * exchange. */
static void auth_command(struct conn *c, const char *arg, struct buf *out,
			 const char *eol)
{
	size_t mlen = strcspn(arg, " "), i;
	const char *ir = arg[mlen] == ' ' ? arg + mlen + 1 : NULL;
	struct buf data = { 0 };
	enum mech m;
	bool offered;

	c->sx = SX_NONE;
	c->sx_user[0] = '\0';
	if (arg[0] == '\0') {
		/* RFC 1734's listing, which some clients still ask for. */
		add_status(out, eol, "+OK");
		for (i = 0; i < cs.nauth; i++)
			add_status(out, eol, "%s", cs.auth[i]);
		add_status(out, eol, ".");
		return;
	}
	if (5 + strlen(arg) > MAX_AUTH_COMMAND) {
		log_event("AUTH: a command of %zu octets, over RFC 5034's %d: "
			  "refused", 5 + strlen(arg), MAX_AUTH_COMMAND);
		add_status(out, eol, "-ERR AUTH command line too long (RFC "
			   "5034: send the response on a line of its own)");
		return;
	}
	m = mech_lookup(arg, mlen, &offered);
	if (!offered || m == MECH_UNKNOWN) {
		log_event_text(offered ? "AUTH: offered but not implemented "
			       "here (script it with a rule): "
			       : "AUTH: not offered: ", arg, mlen);
		add_status(out, eol, "-ERR Unsupported authentication "
			   "mechanism.");
		return;
	}
	c->sx_mech = m;
	if (ir == NULL) {
		log_event("AUTH %s: no initial response, asking for it",
			  mech_name(m));
		/* LOGIN asks "Username:"; the others send an empty
		 * challenge, "+" SP (RFC 5034 section 4). */
		add_status(out, eol, m == MECH_LOGIN ? "+ VXNlcm5hbWU6" : "+ ");
		c->sx = SX_RESPONSE;
		return;
	}
	log_event("AUTH %s: initial response inline (a command of %zu "
		  "octets)", mech_name(m), 5 + strlen(arg));
	if (cs.style == STYLE_MICROSOFT && m == MECH_XOAUTH2) {
		/* Microsoft documents only the two-step form: a client that
		 * sends the token inline must be told so here. */
		log_event("AUTH XOAUTH2: inline initial response refused "
			  "(microsoft style)");
		add_status(out, eol, "-ERR Protocol error: initial response "
			   "not accepted, send AUTH XOAUTH2 alone.");
		return;
	}
	/* "=" is an empty initial response (RFC 5034 section 4). */
	if (strcmp(ir, "=") != 0 && !base64_decode(ir, strlen(ir), &data)) {
		log_event("AUTH %s: initial response is not base64",
			  mech_name(m));
		add_status(out, eol, "-ERR Invalid base64 data in initial "
			   "response.");
		buf_free(&data);
		return;
	}
	sasl_response(c, data.p != NULL ? data.p : "", data.len, out, eol);
	buf_free(&data);
}

/* A client line inside an exchange (after a "+ " challenge). */
static void auth_continue(struct conn *c, const char *line, size_t len,
			  struct buf *out, const char *eol)
{
	struct buf data = { 0 };

	if (len == 1 && line[0] == '*') {
		log_event("AUTH %s: the client cancelled", mech_name(c->sx_mech));
		add_status(out, eol, "-ERR Authentication cancelled.");
		c->sx = SX_NONE;
		return;
	}
	if (c->sx == SX_OAUTH_ERROR) {
		/* XOAUTH2 wants an empty line, OAUTHBEARER ^A ("AQ=="). */
		bool as_it_should = c->sx_mech == MECH_XOAUTH2
			? len == 0
			: len == 4 && memcmp(line, "AQ==", 4) == 0;

		log_event("AUTH %s: the client answered the error challenge "
			  "%s (%zu bytes)", mech_name(c->sx_mech),
			  as_it_should ? "as it should" : "WRONGLY", len);
		add_status(out, eol, "%s", auth_text_bad_token());
		c->sx = SX_NONE;
		return;
	}
	if (!base64_decode(line, len, &data)) {
		log_event("AUTH %s: response is not base64 (%zu bytes)",
			  mech_name(c->sx_mech), len);
		add_status(out, eol, "-ERR Invalid base64 data in continued "
			   "response.");
		c->sx = SX_NONE;
		buf_free(&data);
		return;
	}
	log_event("AUTH %s: response on a line of its own (%zu octets)",
		  mech_name(c->sx_mech), len);
	sasl_response(c, data.p, data.len, out, eol);
	buf_free(&data);
}

/* "APOP name digest": digest is MD5(greeting timestamp + password). */
static void apop_command(struct conn *c, const char *arg, struct buf *out,
			 const char *eol)
{
	const char *sp = strrchr(arg, ' ');
	char want[33];

	if (!cs.apop) {
		add_status(out, eol, "-ERR APOP not supported here");
		return;
	}
	if (c->timestamp[0] == '\0') {
		log_event("APOP: the greeting had no timestamp");
		add_status(out, eol, "-ERR no APOP timestamp was sent");
		return;
	}
	if (sp == NULL || !is_user(arg, (size_t)(sp - arg))) {
		log_event_text("APOP: refused: unknown user ", arg,
			       sp == NULL ? strlen(arg) : (size_t)(sp - arg));
		add_status(out, eol, "%s", auth_text_bad_password());
		return;
	}
	md5_hex(c->timestamp, want_password, want);
	if (strcmp(sp + 1, want) != 0) {
		log_event("APOP: refused: wrong digest");
		add_status(out, eol, "%s", auth_text_bad_password());
		return;
	}
	log_event("APOP: accepted");
	add_status(out, eol, "%s", auth_text_ok());
}

static void default_reply(struct conn *c, const char *verb, const char *arg,
			  const struct rule *r, struct buf *out,
			  enum effect *eff_r, long *msg_r)
{
	const char *eol = eol_for(r);
	bool noterm = r != NULL && r->noterm;
	size_t i, count = 0;
	uint64_t total = 0;
	long idx;

	*eff_r = EF_NONE;
	*msg_r = -1;
	for (i = 0; i < c->nmap; i++)
		if (!c->deleted[c->map[i]]) {
			count++;
			total += msg_listsize(&cs.msgs[c->map[i]]);
		}

	if (strcmp(verb, "CAPA") == 0) {
		if (cs.capa_none)
			add_status(out, eol, "-ERR unknown command");
		else
			add_capa(c, out, eol, noterm);
		return;
	}
	if (strcmp(verb, "QUIT") == 0) {
		add_status(out, eol, "+OK faultserver signing off");
		*eff_r = EF_QUIT;
		return;
	}
	if (c->state == ST_AUTHORIZATION) {
		if (strcmp(verb, "USER") == 0 && arg[0] != '\0') {
			add_status(out, eol, "+OK send PASS");
			*eff_r = EF_USER;
		} else if (strcmp(verb, "PASS") == 0 && !c->have_user) {
			add_status(out, eol, "-ERR USER first");
		} else if (strcmp(verb, "PASS") == 0) {
			if (strcmp(c->user, want_user) == 0 &&
			    strcmp(arg, want_password) == 0) {
				add_status(out, eol, "+OK %zu messages", count);
				*eff_r = EF_AUTH;
			} else {
				add_status(out, eol,
					   "-ERR [AUTH] invalid user name or password");
			}
		} else if (strcmp(verb, "AUTH") == 0 &&
			   (cs.nauth > 0 || arg[0] != '\0')) {
			auth_command(c, arg, out, eol);
			/* Bare AUTH lists the mechanisms: its +OK is no
			 * login. */
			*eff_r = arg[0] != '\0' ? EF_AUTH : EF_NONE;
		} else if (strcmp(verb, "APOP") == 0) {
			apop_command(c, arg, out, eol);
			*eff_r = EF_AUTH;
		} else if (strcmp(verb, "STLS") == 0) {
			if (c->ssl != NULL || cs.implicit_tls)
				add_status(out, eol, "-ERR TLS already active");
			else if (tls_ctx == NULL)
				add_status(out, eol, "-ERR STLS not available");
			else {
				add_status(out, eol, "+OK Begin TLS negotiation");
				*eff_r = EF_STLS;
			}
		} else {
			add_status(out, eol, "-ERR not in this state (log in first)");
		}
		return;
	}

	if (strcmp(verb, "STAT") == 0) {
		add_status(out, eol, "+OK %zu %llu", count,
			   (unsigned long long)total);
	} else if (strcmp(verb, "LIST") == 0 || strcmp(verb, "UIDL") == 0) {
		bool uidl = verb[0] == 'U';

		if (arg[0] != '\0') {
			idx = msg_arg(c, arg);
			if (idx < 0) {
				add_status(out, eol, "-ERR no such message");
			} else {
				buf_adds(out, "+OK ");
				add_listing(c, out, eol, uidl,
					    strtoul(arg, NULL, 10));
			}
			return;
		}
		add_status(out, eol, "+OK %zu messages", count);
		for (i = 1; i <= c->nmap; i++)
			if (!c->deleted[c->map[i - 1]])
				add_listing(c, out, eol, uidl, i);
		if (!noterm)
			add_status(out, eol, ".");
	} else if (strcmp(verb, "RETR") == 0 || strcmp(verb, "TOP") == 0) {
		long lines = -1;

		idx = msg_arg(c, arg);
		if (idx >= 0 && verb[0] == 'T') {
			const char *sp = strchr(arg, ' ');
			char *end;

			lines = sp == NULL ? -2 : strtol(sp + 1, &end, 10);
			if (sp == NULL || *end != '\0' || lines < 0)
				idx = -1;
		}
		if (idx < 0) {
			add_status(out, eol, "-ERR no such message");
			return;
		}
		add_status(out, eol, "+OK %llu octets",
			   (unsigned long long)msg_octets(&cs.msgs[idx]));
		add_body(out, &cs.msgs[idx], eol, lines);
		if (!noterm)
			add_status(out, eol, ".");
	} else if (strcmp(verb, "DELE") == 0) {
		idx = msg_arg(c, arg);
		if (idx < 0) {
			add_status(out, eol, "-ERR no such message");
		} else {
			add_status(out, eol, "+OK message deleted");
			*eff_r = EF_DELE;
			*msg_r = idx;
		}
	} else if (strcmp(verb, "NOOP") == 0) {
		add_status(out, eol, "+OK");
	} else if (strcmp(verb, "RSET") == 0) {
		add_status(out, eol, "+OK");
		*eff_r = EF_RSET;
	} else {
		add_status(out, eol, "-ERR unknown command");
	}
}

/* QUIT in the TRANSACTION state: the deletions take effect, for the rest
 * of this server's life. */
static void expunge(struct conn *c)
{
	size_t i;

	for (i = 0; i < cs.nmsgs; i++) {
		if (!c->deleted[i])
			continue;
		cs.msgs[i].expunged = true;
		fprintf(log_fp, "*: expunged #%zu ", i + 1);
		log_escaped(cs.msgs[i].uid.p, cs.msgs[i].uid.len);
		fputc('\n', log_fp);
	}
	fflush(log_fp);
}

static enum next apply_effect(struct conn *c, enum effect eff, long msg,
			      bool ok)
{
	switch (eff) {
	case EF_NONE:
		break;
	case EF_USER:
		/* set before the reply was sent; kept only on +OK */
		c->have_user = ok;
		break;
	case EF_AUTH:
		if (ok) {
			c->state = ST_TRANSACTION;
			log_event("logged in");
		}
		break;
	case EF_STLS:
		if (ok)
			return handshake(c);
		break;
	case EF_DELE:
		if (ok)
			c->deleted[msg] = true;
		break;
	case EF_RSET:
		if (ok)
			memset(c->deleted, 0, cs.nmsgs * sizeof(*c->deleted));
		break;
	case EF_QUIT:
		/* A canned -ERR to QUIT: the deletions did not happen. */
		if (c->state == ST_TRANSACTION && ok)
			expunge(c);
		return NEXT_END;
	}
	return NEXT_GO_ON;
}

/* Keeps the "<...>" of the greeting's first line (default or canned) for
 * APOP. */
static void greeting_timestamp(struct conn *c, const char *p, size_t len)
{
	const char *nl = p == NULL ? NULL : memchr(p, '\n', len);
	const char *lt, *gt;

	c->timestamp[0] = '\0';
	if (p == NULL)
		return;
	if (nl != NULL)
		len = (size_t)(nl - p);
	lt = memchr(p, '<', len);
	gt = lt == NULL ? NULL : memchr(lt, '>', len - (size_t)(lt - p));
	if (gt != NULL && (size_t)(gt - lt) + 1 < sizeof(c->timestamp))
		snprintf(c->timestamp, sizeof(c->timestamp), "%.*s",
			 (int)(gt - lt + 1), lt);
}

/* Answers one point of the dialogue: the greeting (def_text given) or a
 * command, by default or as the case's rule says. */
static enum next respond(struct conn *c, enum point point, const char *verb,
			 const char *arg)
{
	struct rule *r = find_rule(c, point, verb, arg);
	struct buf out = { 0 };
	enum effect eff = EF_NONE;
	long msg = -1, pieces = cs.pieces, delay = cs.delay_ms;
	bool complete = true, sent;
	enum next nx;
	size_t i;

	if (point == POINT_GREETING) {
		/* The APOP timestamp only when the case asks for APOP: with
		 * one, auth = auto would rightly prefer APOP to USER/PASS. */
		if ((r == NULL || r->deflt) && cs.apop)
			add_status(&out, eol_for(r),
				   "+OK faultserver ready <%ld.%ld@localhost>",
				   (long)getpid(), (long)time(NULL));
		else if (r == NULL || r->deflt)
			add_status(&out, eol_for(r), "+OK faultserver ready");
	} else if (r == NULL || r->deflt) {
		if (strcmp(verb, "USER") == 0)
			snprintf(c->user, sizeof(c->user), "%s", arg);
		default_reply(c, verb, arg, r, &out, &eff, &msg);
	} else {
		/* A canned reply still has the command's effect when it says
		 * +OK (a canned "+OK" to STLS still starts TLS). */
		struct buf ignored = { 0 };

		if (strcmp(verb, "USER") == 0)
			snprintf(c->user, sizeof(c->user), "%s", arg);
		default_reply(c, verb, arg, NULL, &ignored, &eff, &msg);
		buf_free(&ignored);
		/* A canned reply to AUTH ends the exchange there. */
		c->sx = SX_NONE;
	}
	if (r != NULL && r->reply)
		for (i = 0; i < r->text.n; i++) {
			buf_add(&out, r->text.v[i].p, r->text.v[i].len);
			if (!r->text.v[i].noeol)
				buf_adds(&out, eol_for(r));
		}
	if (point == POINT_GREETING)
		greeting_timestamp(c, out.p, out.len);
	if (r != NULL && r->cut >= 0 && (size_t)r->cut < out.len) {
		out.len = (size_t)r->cut;
		complete = false;
	}
	if (r != NULL && r->pieces > 0)
		pieces = r->pieces;
	if (r != NULL && r->delay_ms >= 0)
		delay = r->delay_ms;
	sent = send_reply(c, out.p, out.len, pieces, delay);
	if (!sent) {
		log_event("the client is gone (reply not all sent)");
		buf_free(&out);
		return NEXT_END;
	}
	if (r != NULL && r->stall) {
		buf_free(&out);
		return stall(c);
	}
	/* A cut reply cannot go on: the connection ends there. */
	if (r != NULL && (r->drop || !complete)) {
		log_event("dropping the connection (%zu bytes of reply sent)",
			  out.len);
		buf_free(&out);
		return NEXT_END;
	}
	nx = apply_effect(c, eff, msg, out.len >= 3 &&
			  strncmp(out.p, "+OK", 3) == 0);
	buf_free(&out);
	return nx;
}

/* Answers a client line inside an AUTH exchange; rules do not apply
 * there (a rule on AUTH replaces the whole exchange). */
static enum next auth_reply(struct conn *c, const char *line, size_t len)
{
	struct buf out = { 0 };
	enum next nx;

	auth_continue(c, line, len, &out, eol_for(NULL));
	if (!send_reply(c, out.p, out.len, cs.pieces, cs.delay_ms)) {
		log_event("the client is gone (reply not all sent)");
		buf_free(&out);
		return NEXT_END;
	}
	nx = apply_effect(c, EF_AUTH, -1, out.len >= 3 &&
			  strncmp(out.p, "+OK", 3) == 0);
	buf_free(&out);
	return nx;
}

static void serve(int fd, int num)
{
	struct conn *c = calloc(1, sizeof(*c));
	static char line[MAX_AUTH_LINE + 1];
	size_t len, i;
	int r;

	if (c == NULL)
		die("out of memory");
	c->fd = fd;
	c->num = num;
	c->map = calloc(cs.nmsgs + 1, sizeof(*c->map));
	c->deleted = calloc(cs.nmsgs + 1, sizeof(*c->deleted));
	if (c->map == NULL || c->deleted == NULL)
		die("out of memory");
	for (i = 0; i < cs.nmsgs; i++)
		if (!cs.msgs[i].expunged)
			c->map[c->nmap++] = i;
	for (i = 0; i < cs.nrules; i++)
		cs.rules[i].seen = 0;

	if (cs.implicit_tls && handshake(c) == NEXT_END)
		goto out;
	if (respond(c, POINT_GREETING, NULL, NULL) == NEXT_END)
		goto out;
	for (;;) {
		char verb[16];
		const char *arg;
		size_t vl, max = c->sx != SX_NONE ? MAX_AUTH_LINE
						  : MAX_CMD_LINE;

		r = read_line(c, line, &len, max);
		if (r == 0) {
			log_event("the client closed the connection");
			break;
		}
		if (r < 0) {
			log_event("client line over %zu bytes: dropping the "
				  "connection", max);
			break;
		}
		if (c->sx != SX_NONE) {
			log_client_auth(line, len, c->sx == SX_OAUTH_ERROR);
			if (auth_reply(c, line, len) == NEXT_END)
				break;
			continue;
		}
		log_client(line, len);
		/* The verb, upper-cased; its argument after one space. */
		for (vl = 0; vl < len && line[vl] != ' ' &&
			     vl < sizeof(verb) - 1; vl++)
			verb[vl] = (char)(line[vl] >= 'a' && line[vl] <= 'z'
					  ? line[vl] - 32 : line[vl]);
		verb[vl] = '\0';
		arg = vl < len && line[vl] == ' ' ? line + vl + 1 : "";
		if (strlen(arg) + vl != len && strlen(arg) + vl + 1 != len) {
			log_event("NUL byte in the client's line");
			arg = "";
		}
		if (respond(c, POINT_COMMAND, verb, arg) == NEXT_END)
			break;
	}
out:
	if (c->ssl != NULL) {
		/* No close_notify: "drop" means the TCP connection just ends,
		 * and after a QUIT nobody waits for the alert either. */
		SSL_free(c->ssl);
	}
	close(fd);
	log_event("connection %d ended", num);
	free(c->map);
	free(c->deleted);
	free(c);
}

/* ---- main ---- */

static void dump_messages(const char *dir)
{
	size_t i;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		die("cannot create %s: %s", dir, strerror(errno));
	for (i = 0; i < cs.nmsgs; i++) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%zu", dir, i + 1);
		f = fopen(path, "wb");
		if (f == NULL ||
		    fwrite(cs.msgs[i].data.p, 1, cs.msgs[i].data.len, f) !=
		    cs.msgs[i].data.len || fclose(f) != 0)
			die("cannot write %s", path);
	}
	if (cs.have_token) {
		char path[4096];
		int fd;

		/* The runner gives it to popfetch as a password_file, which
		 * must be private to its owner. */
		snprintf(path, sizeof(path), "%s/token", dir);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || fchmod(fd, 0600) < 0 ||
		    write(fd, cs.token.p, cs.token.len) !=
		    (ssize_t)cs.token.len || write(fd, "\n", 1) != 1 ||
		    close(fd) != 0)
			die("cannot write %s", path);
	}
}

static void write_port(const char *port_file, int port)
{
	char tmp[4096];
	FILE *f;

	if (port_file == NULL) {
		printf("PORT %d\n", port);
		fflush(stdout);
		return;
	}
	/* Renamed into place: a runner polling for the file never reads
	 * half of it. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
	f = fopen(tmp, "w");
	if (f == NULL || fprintf(f, "PORT %d\n", port) < 0 || fclose(f) != 0 ||
	    rename(tmp, port_file) < 0)
		die("cannot write %s: %s", port_file, strerror(errno));
}

static SSL_CTX *make_tls_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_print_errors_fp(stderr);
		die("cannot load the certificate %s and key %s", cert, key);
	}
	return ctx;
}

static void usage(void)
{
	fprintf(stderr,
"usage: faultserver -c CASE [-l LOG] [-P PORTFILE] [-n CONNECTIONS]\n"
"                   [-t SECONDS] [--cert PEM --key PEM] [-u USER] [-w PASSWORD]\n"
"       faultserver -c CASE --dump DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "case", required_argument, NULL, 'c' },
		{ "log", required_argument, NULL, 'l' },
		{ "port-file", required_argument, NULL, 'P' },
		{ "connections", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "user", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'w' },
		{ "dump", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *log_path = NULL, *port_file = NULL, *cert = NULL,
		   *key = NULL, *dump_dir = NULL;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	long connections = 1;
	const char *case_arg = NULL;
	int opt, lfd, one = 1, i;

	case_path = "command line";
	while ((opt = getopt_long(argc, argv, "c:l:P:n:t:u:w:h", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'c': case_arg = optarg; break;
		case 'l': log_path = optarg; break;
		case 'P': port_file = optarg; break;
		case 'n':
			connections = parse_long(optarg, 1, MAX_CONNECTIONS,
						 "connection count", 0);
			break;
		case 't':
			timeout_s = (int)parse_long(optarg, 1, MAX_TIMEOUT,
						    "timeout", 0);
			break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		case 'u': want_user = optarg; break;
		case 'w': want_password = optarg; break;
		case 'D': dump_dir = optarg; break;
		default: usage();
		}
	}
	if (case_arg == NULL || optind != argc || (cert == NULL) != (key == NULL))
		usage();
	deadline_ms = now_ms() + (int64_t)timeout_s * 1000;
	/* A last resort, should a bug ever block outside poll(): SIGALRM's
	 * default action ends the process. */
	alarm((unsigned)timeout_s + 5);
	signal(SIGPIPE, SIG_IGN);
	log_fp = stderr;
	case_path = case_arg;
	parse_case(case_path);
	if (dump_dir != NULL) {
		dump_messages(dump_dir);
		return 0;
	}
	if (log_path != NULL) {
		log_fp = fopen(log_path, "w");
		if (log_fp == NULL) {
			log_fp = stderr;
			die("cannot open %s: %s", log_path, strerror(errno));
		}
	}
	if (cert != NULL)
		tls_ctx = make_tls_ctx(cert, key);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;	/* the kernel picks a free port */
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(lfd, 8) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen) < 0)
		die("cannot listen on 127.0.0.1: %s", strerror(errno));
	log_event("listening on 127.0.0.1 port %d for %ld connection%s, "
		  "%zu messages, timeout %d s", ntohs(sin.sin_port),
		  connections, connections == 1 ? "" : "s", cs.nmsgs,
		  timeout_s);
	listen_port = ntohs(sin.sin_port);
	write_port(port_file, listen_port);

	for (i = 1; i <= connections; i++) {
		int fd;

		(void)wait_fd(lfd, POLLIN);
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == ECONNABORTED) {
				i--;
				continue;
			}
			die("accept: %s", strerror(errno));
		}
		/* Pieces must leave as separate segments. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		log_event("connection %d", i);
		serve(fd, i);
	}
	close(lfd);
	SSL_CTX_free(tls_ctx);
	log_event("done");
	return 0;
}
