/*
 * fuzz_session.c - the reply side of a whole POP3 session through the real
 * pop3.c and transport.c, checked against a model of the byte stream.
 *
 * struct transport is opaque, so the "server" is a real TCP peer: one
 * listener on 127.0.0.1, made once per process; per input the client
 * connects with transport_connect(), we accept, write the server's bytes
 * and close our side.  Inputs up to the socket buffer are written at once;
 * the rest (large bodies) goes from a thread while the session reads.
 *
 * Input:  SCRIPT "\n" SERVER-BYTES
 * SCRIPT names what the client reads, one letter per reply, cycled:
 *   S  a status line (pop3_read_status)
 *   L  a status line, then if +OK a multi-line listing (pop3_read_line)
 *   B  a status line, then if +OK a message body (pop3_read_body)
 *   E  pop3_expect_ok()
 * Any other letter reads a status line.  Without a newline in the first
 * 65 bytes the whole input is server bytes, read with the script "SLLB".
 *
 * The model knows where every line ends (the first LF) and decodes bodies
 * with one dot_feed() call, so each line, each body byte and each error
 * must match what the session reports, whatever pop3.c's buffering did.
 * At the end of the input the next read must fail with PF_TEMPFAIL.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "dot.h"
#include "error.h"
#include "pop3.h"
#include "transport.h"
#include "fuzzutil.h"

#define SCRIPT_MAX 64

static int listen_fd = -1;
static char listen_port[16];
static bool verbose;	/* FUZZ_VERBOSE=1: one line per reply read */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	(void)argc;
	(void)argv;
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	/* A write to a client that already hung up must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 ||
	    bind(listen_fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(listen_fd, 16) < 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&sin, &len) < 0) {
		perror("fuzz_session: listener on 127.0.0.1");
		abort();
	}
	snprintf(listen_port, sizeof(listen_port), "%u",
		 (unsigned)ntohs(sin.sin_port));
	return 0;
}

/* ---- the server side ---- */

struct server {
	int fd;
	const char *data;
	size_t len, sent;
	pthread_t thread;
	bool threaded;
};

static void *server_rest(void *arg)
{
	struct server *s = arg;

	fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) & ~O_NONBLOCK);
	while (s->sent < s->len) {
		ssize_t n = send(s->fd, s->data + s->sent, s->len - s->sent,
				 MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* the client gave up and hung up */
		s->sent += (size_t)n;
	}
	shutdown(s->fd, SHUT_WR);
	return NULL;
}

static void server_start(struct server *s, const char *data, size_t len)
{
	s->fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	FUZZ_CHECK(s->fd >= 0);
	s->data = data;
	s->len = len;
	s->sent = 0;
	s->threaded = false;
	while (s->sent < s->len) {
		ssize_t n = send(s->fd, data + s->sent, len - s->sent,
				 MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			FUZZ_CHECK(pthread_create(&s->thread, NULL,
						  server_rest, s) == 0);
			s->threaded = true;
			return;
		}
		FUZZ_CHECK(n > 0);
		s->sent += (size_t)n;
	}
	shutdown(s->fd, SHUT_WR);
}

/* Call after the client has closed its end. */
static void server_stop(struct server *s)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (s->threaded)
		pthread_join(s->thread, NULL);
	/* A reset instead of a FIN: no TIME_WAIT piling up over a run of
	 * millions of connections. */
	setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(s->fd);
}

/* ---- the model of the byte stream ---- */

struct model {
	const char *s;
	size_t len, pos;
};

/* What read_raw_line() must do next: PF_OK with the line (CR LF
 * stripped) at *line_r, PF_PROTOCOL, or PF_TEMPFAIL at the end. */
static enum pf_status model_line(struct model *m, const char **line_r,
				 size_t *len_r)
{
	const char *p = m->s + m->pos;
	size_t rest = m->len - m->pos;
	const char *nl = memchr(p, '\n', rest);
	size_t l;

	if (nl == NULL)
		return rest > POP3_MAX_LINE ? PF_PROTOCOL : PF_TEMPFAIL;
	l = (size_t)(nl - p);
	m->pos += l + 1;
	if (l > 0 && p[l - 1] == '\r')
		l--;
	if (l > POP3_MAX_LINE - 2 || memchr(p, '\0', l) != NULL)
		return PF_PROTOCOL;
	*line_r = p;
	*len_r = l;
	return PF_OK;
}

static void check_sanitized(const char *s, size_t size)
{
	FUZZ_CHECK(memchr(s, '\0', size) != NULL);
	for (; *s != '\0'; s++)
		FUZZ_CHECK((unsigned char)*s >= 0x20 &&
			   (unsigned char)*s < 0x7f);
}

static void check_error(const struct error *err, enum pf_status want)
{
	FUZZ_CHECK(err->status == want);
	check_sanitized(err->text, sizeof(err->text));
	check_sanitized(err->reply, sizeof(err->reply));
}

/* ---- driving the session ---- */

/* Reads a status line (or runs pop3_expect_ok).  Returns false when the
 * session is over (an error, checked against the model). */
static bool do_status(struct pop3 *p, struct model *m, bool expect_ok,
		      bool *ok_r)
{
	struct error err, perr;
	enum pop3_resp_code code = POP3_RESP_NONE, pcode;
	const char *line = NULL, *text;
	size_t len = 0, textlen, got_len;
	enum pf_status want, ret;
	bool ok = false, pok = false;

	want = model_line(m, &line, &len);
	error_clear(&perr);
	if (want == PF_OK)
		want = pop3_parse_status(line, len, &pok, &pcode, &text,
					 &textlen, &perr);
	error_clear(&err);
	if (expect_ok) {
		ret = pop3_expect_ok(p, PF_NOPERM, "refused", &err);
		ok = ret == PF_OK;
		if (want == PF_OK && !pok) {
			/* -ERR becomes an error of its response code, and
			 * the session goes on. */
			FUZZ_CHECK(ret == pop3_resp_code_status(pcode,
								 PF_NOPERM));
			check_error(&err, ret);
			ret = PF_OK;
		}
	} else {
		ret = pop3_read_status(p, &ok, &code, &err);
	}
	FUZZ_CHECK(ret == want);
	if (ret != PF_OK) {
		check_error(&err, ret);
		return false;
	}
	FUZZ_CHECK(ok == pok);
	if (!expect_ok) {
		FUZZ_CHECK(code == pcode);
		if (!ok)
			check_sanitized(err.reply, sizeof(err.reply));
	}
	FUZZ_CHECK(memcmp(pop3_last_line(p, &got_len), line, len) == 0);
	FUZZ_CHECK(got_len == len);
	*ok_r = ok;
	return true;
}

static bool do_listing(struct pop3 *p, struct model *m)
{
	for (;;) {
		struct error err;
		const char *line = NULL, *want_line = NULL;
		size_t len = 99, want_len = 0;
		bool end = false;
		enum pf_status want, ret;

		want = model_line(m, &want_line, &want_len);
		error_clear(&err);
		ret = pop3_read_line(p, &line, &len, &end, &err);
		FUZZ_CHECK(ret == want);
		if (ret != PF_OK) {
			check_error(&err, ret);
			return false;
		}
		if (want_len == 1 && want_line[0] == '.') {
			FUZZ_CHECK(end && line == NULL && len == 0);
			return true;
		}
		FUZZ_CHECK(!end);
		if (want_len > 0 && want_line[0] == '.') {
			want_line++;
			want_len--;
		}
		FUZZ_CHECK(len == want_len);
		FUZZ_CHECK(len <= POP3_MAX_LINE - 2);
		FUZZ_CHECK(memcmp(line, want_line, len) == 0);
		FUZZ_CHECK(pop3_buffered(p) <= m->len - m->pos);

		/* What the runner does with such lines. */
		char uid[POP3_MAX_UID + 1];
		uint32_t num;
		uint64_t size;

		(void)pop3_parse_uidl_line(line, len, 1000, &num, uid, &err);
		(void)pop3_parse_list_line(line, len, 1, 1000, &num, &size,
					   &err);
	}
}

static bool do_body(struct pop3 *p, struct model *m)
{
	struct dot d;
	struct error err;
	char *want = malloc(m->len - m->pos + 1), *got;
	size_t want_len = 0, consumed = 0, got_len = 0, rounds = 0;
	bool want_end, end = false;
	enum pf_status ret = PF_OK;

	FUZZ_CHECK(want != NULL);
	got = malloc(m->len - m->pos + 1);
	FUZZ_CHECK(got != NULL);
	dot_init(&d);
	want_end = dot_feed(&d, m->s + m->pos, m->len - m->pos, want,
			    &want_len, &consumed);
	m->pos += consumed;

	pop3_body_begin(p);
	while (!end) {
		const char *data = NULL;
		size_t len = 0;

		error_clear(&err);
		ret = pop3_read_body(p, &data, &len, &end, &err);
		if (ret != PF_OK)
			break;
		FUZZ_CHECK(len <= POP3_BUF_SIZE + 1);
		FUZZ_CHECK(got_len + len <= want_len);
		memcpy(got + got_len, data, len);
		got_len += len;
		/* Each call makes progress: a read, or all of the buffer. */
		FUZZ_CHECK(++rounds <= m->len + 2);
	}
	FUZZ_CHECK(got_len == want_len);
	FUZZ_CHECK(memcmp(got, want, got_len) == 0);
	if (want_end) {
		FUZZ_CHECK(ret == PF_OK && end);
		FUZZ_CHECK(pop3_buffered(p) <= m->len - m->pos);
	} else {
		/* EOF in the middle of a message: never a short message. */
		FUZZ_CHECK(ret == PF_TEMPFAIL);
		check_error(&err, PF_TEMPFAIL);
	}
	free(want);
	free(got);
	return want_end;
}

static void run_session(struct pop3 *p, struct model *m, const char *script,
			size_t nscript)
{
	size_t step;

	for (step = 0;; step++) {
		char op = script[step % nscript];
		bool ok = false, more;

		more = do_status(p, m, op == 'E', &ok);
		if (verbose)
			fprintf(stderr, "fuzz_session: %c %s\n", op,
				!more ? "end" : ok ? "+OK" : "-ERR");
		if (more && ok && op == 'L')
			more = do_listing(p, m);
		else if (more && ok && op == 'B')
			more = do_body(p, m);
		if (verbose && (op == 'L' || op == 'B') && more && ok)
			fprintf(stderr, "fuzz_session:   %s done, at %zu of "
				"%zu\n", op == 'L' ? "listing" : "body",
				m->pos, m->len);
		if (!more)
			break;
		FUZZ_CHECK(step <= m->len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nl = memchr(in, '\n', size < SCRIPT_MAX + 1 ? size
							       : SCRIPT_MAX + 1);
	const char *script = "SLLB";
	size_t nscript = 4;
	struct model m = { in, size, 0 };
	struct transport *t = NULL;
	struct server srv;
	struct error err;
	struct pop3 *p;

	if (nl != NULL && nl > in) {
		script = in;
		nscript = (size_t)(nl - in);
		m.s = nl + 1;
		m.len = size - nscript - 1;
	}
	error_clear(&err);
	if (transport_connect("127.0.0.1", listen_port, 10, &t, &err) !=
	    PF_OK) {
		fprintf(stderr, "fuzz_session: %s\n", err.text);
		abort();
	}
	server_start(&srv, m.s, m.len);
	p = pop3_new(t, "fuzz");
	run_session(p, &m, script, nscript);
	pop3_free(&p);
	server_stop(&srv);
	return 0;
}
