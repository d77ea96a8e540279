/*
 * faultserver.c - a scripted, fault-injecting POP3 server for popfetch's
 * tests (tests/fault/run; the case format is in tests/fault/README).
 *
 *   faultserver -c CASE [-l LOG] [-P PORTFILE] [-n CONNECTIONS]
 *               [-t SECONDS] [--cert PEM --key PEM] [-u USER] [-w PASSWORD]
 *   faultserver -c CASE --dump DIR
 *
 * By default it is a correct POP3 server (RFC 1939 with CAPA, STLS, UIDL,
 * TOP, USER/PASS; DELE takes effect at QUIT) over the mailbox declared in
 * the case's [server] section, so a case only states where it misbehaves:
 * its "on" rules replace a reply, cut it short, send it in pieces, drop
 * the connection or stall.  It listens on 127.0.0.1 on a port the kernel
 * picks ("PORT n" on stdout or in PORTFILE), serves CONNECTIONS (default 1)
 * connections one after the other and exits.  Every client line goes to
 * LOG ("C: ..."; PASS as "PASS ****"), with the first line of each reply
 * ("S: ...") and events ("*: ...").
 *
 * Every wait goes through poll() against one deadline for the whole run
 * (-t, default 30 s): whatever a test does, the server exits by itself.
 * --dump writes each message of the case as the client must store it
 * (LF line endings) to DIR/1, DIR/2, ... and exits.
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
#include <openssl/ssl.h>

#define MAX_CMD_LINE 8192	/* a client line longer than this is dropped */
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

static void log_client(const char *line, size_t len)
{
	/* The password must never reach a log the tests may print. */
	if (len >= 4 && strncasecmp(line, "PASS", 4) == 0 &&
	    (len == 4 || line[4] == ' ')) {
		fputs("C: PASS ****\n", log_fp);
	} else {
		fputs("C: ", log_fp);
		log_escaped(line, len);
		fputc('\n', log_fp);
	}
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

static struct {
	bool implicit_tls;
	bool lf;
	long pieces, delay_ms;
	bool capa_set, capa_none;
	char **capa;
	size_t ncapa;
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

enum auth_state { ST_AUTHORIZATION, ST_TRANSACTION };

struct conn {
	int fd;
	SSL *ssl;
	int num;		/* 1 for the first connection */
	char in[MAX_CMD_LINE + 1];
	size_t inlen;
	enum auth_state state;
	char user[256];
	bool have_user;
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

/* Reads one client line (without CR LF) into out.  1: a line; 0: the
 * client closed; -1: a line longer than MAX_CMD_LINE. */
static int read_line(struct conn *c, char *out, size_t *len_r)
{
	for (;;) {
		char *nl = memchr(c->in, '\n', c->inlen);
		ssize_t n;

		if (nl != NULL) {
			size_t len = (size_t)(nl - c->in), used = len + 1;

			if (len > 0 && c->in[len - 1] == '\r')
				len--;
			memcpy(out, c->in, len);
			out[len] = '\0';
			*len_r = len;
			memmove(c->in, c->in + used, c->inlen - used);
			c->inlen -= used;
			return 1;
		}
		if (c->inlen == MAX_CMD_LINE)
			return -1;
		n = conn_read(c, c->in + c->inlen, MAX_CMD_LINE - c->inlen);
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
	char line[MAX_CMD_LINE + 1];
	size_t len;
	int r;

	log_event("stalling (reading, never answering)");
	while ((r = read_line(c, line, &len)) == 1)
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
		     (r->arg != NULL && strcmp(r->arg, arg) != 0)))
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

static void add_capa(struct conn *c, struct buf *out, const char *eol,
		     bool noterm)
{
	static const char *const dflt[] = { "TOP", "USER", "UIDL",
					    "RESP-CODES", "PIPELINING" };
	size_t i;

	add_status(out, eol, "+OK Capability list follows");
	if (cs.capa_set) {
		for (i = 0; i < cs.ncapa; i++) {
			/* RFC 2595: no STLS once TLS is on. */
			if (c->ssl != NULL && strcasecmp(cs.capa[i], "STLS") == 0)
				continue;
			add_status(out, eol, "%s", cs.capa[i]);
		}
	} else {
		for (i = 0; i < sizeof(dflt) / sizeof(dflt[0]); i++)
			add_status(out, eol, "%s", dflt[i]);
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
		if (r == NULL || r->deflt)
			add_status(&out, eol_for(r),
				   "+OK faultserver ready <%ld.%ld@localhost>",
				   (long)getpid(), (long)time(NULL));
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
	}
	if (r != NULL && r->reply)
		for (i = 0; i < r->text.n; i++) {
			buf_add(&out, r->text.v[i].p, r->text.v[i].len);
			if (!r->text.v[i].noeol)
				buf_adds(&out, eol_for(r));
		}
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

static void serve(int fd, int num)
{
	struct conn *c = calloc(1, sizeof(*c));
	char line[MAX_CMD_LINE + 1];
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
		size_t vl;

		r = read_line(c, line, &len);
		if (r == 0) {
			log_event("the client closed the connection");
			break;
		}
		if (r < 0) {
			log_event("client line over %d bytes: dropping the "
				  "connection", MAX_CMD_LINE);
			break;
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
	write_port(port_file, ntohs(sin.sin_port));

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
