/*
 * transport.c - TCP and TLS.  The only file that includes OpenSSL.
 *
 * The socket is non-blocking; every wait goes through poll() with the
 * account's timeout, so a stalled server can never hang a cron job (no
 * alarm(), no longjmp).
 */
#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "util.h"

struct transport {
	int fd;
	int timeout_ms;
	SSL_CTX *ctx;
	SSL *ssl;
	char tls_info[128];
};

/* Waits until fd is ready for events; PF_TEMPFAIL on timeout. */
static enum pf_status wait_fd(struct transport *t, short events,
			      const char *what, struct error *err)
{
	struct pollfd pfd = { .fd = t->fd, .events = events };
	int64_t deadline = util_now_ms() + t->timeout_ms;

	for (;;) {
		int64_t left = deadline - util_now_ms();
		int n;

		if (left <= 0)
			return error_set(err, PF_TEMPFAIL,
					 "timed out after %d s %s",
					 t->timeout_ms / 1000, what);
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return PF_OK;
		if (n < 0 && errno != EINTR)
			return error_set_errno(err, PF_TEMPFAIL, errno,
					       "poll failed %s", what);
	}
}

static enum pf_status connect_one(const struct addrinfo *ai, int timeout_s,
				  int *fd_r, struct error *err)
{
	struct transport tmp = { .timeout_ms = timeout_s * 1000 };
	socklen_t len = sizeof(int);
	int fd, soerr = 0;
	enum pf_status ret;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return error_set_errno(err, PF_TEMPFAIL, errno,
				       "cannot create socket");
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			soerr = errno;
			goto failed;
		}
		tmp.fd = fd;
		ret = wait_fd(&tmp, POLLOUT, "connecting", err);
		if (ret != PF_OK) {
			close(fd);
			return ret;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			soerr = errno;
		if (soerr != 0)
			goto failed;
	}
	*fd_r = fd;
	return PF_OK;
failed:
	close(fd);
	return error_set_errno(err, soerr == ECONNREFUSED ? PF_UNAVAILABLE
							   : PF_TEMPFAIL,
			       soerr, "cannot connect");
}

enum pf_status transport_connect(const char *host, const char *port,
				 int timeout_s, struct transport **t_r,
				 struct error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_family = AF_UNSPEC,
				  .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL, *ai;
	struct transport *t;
	enum pf_status ret = PF_UNAVAILABLE;
	int fd = -1, gai, one = 1;

	gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0)
		return error_set(err, gai == EAI_NONAME || gai == EAI_NODATA
				      ? PF_NOHOST : PF_TEMPFAIL,
				 "cannot resolve %s: %s", host,
				 gai_strerror(gai));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		char addr[INET6_ADDRSTRLEN] = "?";
		const void *a = ai->ai_family == AF_INET6
			? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
			: (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;

		inet_ntop(ai->ai_family, a, addr, sizeof(addr));
		ret = connect_one(ai, timeout_s, &fd, err);
		if (ret == PF_OK)
			break;
		/* Keep the reason of the last address tried, naming it. */
		char reason[ERROR_TEXT_MAX];

		util_strlcpy(reason, err->text, sizeof(reason));
		error_set(err, ret, "%s to %s port %s", reason, addr, port);
	}
	freeaddrinfo(res);
	if (ret != PF_OK)
		return ret;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	t = xcalloc(1, sizeof(*t));
	t->fd = fd;
	t->timeout_ms = timeout_s * 1000;
	*t_r = t;
	return PF_OK;
}

/* Drains OpenSSL's error queue into one readable reason. */
static void ssl_reason(char *buf, size_t size)
{
	unsigned long e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last != 0)
		ERR_error_string_n(last, buf, size);
	else
		util_strlcpy(buf, "unknown TLS error", size);
}

/* Runs one SSL operation to completion within the timeout.  Returns the
 * operation's result (> 0 success, 0 clean close) or -1 with err set. */
static int ssl_io(struct transport *t, int (*op)(SSL *, void *, int),
		  void *buf, int len, const char *what,
		  enum pf_status tls_fail, struct error *err)
{
	for (;;) {
		int n, e;
		short ev;

		ERR_clear_error();
		n = op(t->ssl, buf, len);
		if (n > 0)
			return n;
		e = SSL_get_error(t->ssl, n);
		if (e == SSL_ERROR_WANT_READ)
			ev = POLLIN;
		else if (e == SSL_ERROR_WANT_WRITE)
			ev = POLLOUT;
		else if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
			if (n == 0 || errno == 0 || errno == ECONNRESET)
				error_set(err, PF_TEMPFAIL,
					  "connection closed by server %s",
					  what);
			else
				error_set_errno(err, PF_TEMPFAIL, errno,
						"connection failed %s", what);
			return -1;
		} else if (ERR_GET_REASON(ERR_peek_last_error()) ==
			   SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			/* The peer closed the TCP connection without a TLS
			 * close_notify: a dropped connection, said plainly. */
			ERR_clear_error();
			error_set(err, PF_TEMPFAIL,
				  "connection closed by server %s", what);
			return -1;
		} else {
			char reason[256];

			ssl_reason(reason, sizeof(reason));
			error_set(err, tls_fail, "TLS error %s: %s", what,
				  reason);
			return -1;
		}
		if (wait_fd(t, ev, what, err) != PF_OK)
			return -1;
	}
}

static int op_read(SSL *ssl, void *buf, int len)
{
	return SSL_read(ssl, buf, len);
}

static int op_write(SSL *ssl, void *buf, int len)
{
	return SSL_write(ssl, buf, len);
}

static int op_connect(SSL *ssl, void *buf, int len)
{
	(void)buf;
	(void)len;
	return SSL_connect(ssl);
}

static bool is_ip_literal(const char *host)
{
	unsigned char addr[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, addr) == 1 ||
	       inet_pton(AF_INET6, host, addr) == 1;
}

static enum pf_status tls_setup(struct transport *t,
				const struct tls_params *params,
				struct error *err)
{
	char reason[256];

	t->ctx = SSL_CTX_new(TLS_client_method());
	if (t->ctx == NULL)
		goto ssl_failed;
	if (!SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION))
		goto ssl_failed;
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	if (params->ca_file != NULL) {
		if (!SSL_CTX_load_verify_locations(t->ctx, params->ca_file,
						   NULL)) {
			ssl_reason(reason, sizeof(reason));
			return error_set(err, PF_NOPERM,
					 "cannot load CA file %s: %s",
					 params->ca_file, reason);
		}
	} else if (!SSL_CTX_set_default_verify_paths(t->ctx)) {
		goto ssl_failed;
	}
	t->ssl = SSL_new(t->ctx);
	if (t->ssl == NULL || !SSL_set_fd(t->ssl, t->fd))
		goto ssl_failed;
	if (is_ip_literal(params->host)) {
		/* An address is checked against the certificate's IP SANs;
		 * SNI must not carry an address (RFC 6066). */
		if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl),
						   params->host))
			goto ssl_failed;
	} else {
		if (!SSL_set1_host(t->ssl, params->host) ||
		    !SSL_set_tlsext_host_name(t->ssl, params->host))
			goto ssl_failed;
	}
	return PF_OK;
ssl_failed:
	ssl_reason(reason, sizeof(reason));
	return error_set(err, PF_SOFTWARE, "cannot set up TLS: %s", reason);
}

enum pf_status transport_start_tls(struct transport *t,
				   const struct tls_params *params,
				   struct error *err)
{
	enum pf_status ret;
	long verify;

	if (t->ssl != NULL)
		return error_set(err, PF_SOFTWARE, "TLS already active");
	ret = tls_setup(t, params, err);
	if (ret != PF_OK)
		return ret;
	/* A failed handshake without a verification verdict means no TLS at
	 * all on the other side or no common protocol: a protocol error. */
	if (ssl_io(t, op_connect, NULL, 0, "during the TLS handshake",
		   PF_PROTOCOL, err) > 0) {
		snprintf(t->tls_info, sizeof(t->tls_info), "%s %s",
			 SSL_get_version(t->ssl),
			 SSL_CIPHER_get_name(SSL_get_current_cipher(t->ssl)));
		return PF_OK;
	}
	verify = SSL_get_verify_result(t->ssl);
	if (verify != X509_V_OK)
		return error_set(err, PF_NOPERM,
				 "TLS certificate of %s not accepted: %s",
				 params->host,
				 X509_verify_cert_error_string(verify));
	return err->status;
}

bool transport_is_tls(const struct transport *t)
{
	return t->ssl != NULL;
}

const char *transport_tls_info(const struct transport *t)
{
	return t->tls_info;
}

ssize_t transport_read(struct transport *t, void *buf, size_t len,
		       struct error *err)
{
	if (len > INT32_MAX)
		len = INT32_MAX;
	if (t->ssl != NULL) {
		int n = ssl_io(t, op_read, buf, (int)len, "reading", PF_TEMPFAIL, err);

		return n < 0 ? -1 : n;
	}
	for (;;) {
		ssize_t n = read(t->fd, buf, len);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			error_set_errno(err, PF_TEMPFAIL, errno,
					"connection failed while reading");
			return -1;
		}
		if (wait_fd(t, POLLIN, "waiting for the server", err) != PF_OK)
			return -1;
	}
}

enum pf_status transport_write(struct transport *t, const void *buf,
			       size_t len, struct error *err)
{
	const char *p = buf;

	while (len > 0) {
		size_t chunk = len > INT32_MAX ? INT32_MAX : len;
		ssize_t n;

		if (t->ssl != NULL) {
			int w = ssl_io(t, op_write, (void *)p, (int)chunk,
				       "writing", PF_TEMPFAIL, err);

			if (w <= 0)
				return w < 0 ? err->status
					     : error_set(err, PF_TEMPFAIL,
							 "connection closed by server while writing");
			n = w;
		} else {
			n = write(t->fd, p, chunk);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					return error_set_errno(err, PF_TEMPFAIL, errno,
							       "connection failed while writing");
				if (wait_fd(t, POLLOUT, "sending to the server",
					    err) != PF_OK)
					return err->status;
				continue;
			}
		}
		p += n;
		len -= (size_t)n;
	}
	return PF_OK;
}

void transport_close(struct transport **tp)
{
	struct transport *t = *tp;

	if (t == NULL)
		return;
	if (t->ssl != NULL) {
		/* Best effort, never waiting: the session is over. */
		ERR_clear_error();
		(void)SSL_shutdown(t->ssl);
		SSL_free(t->ssl);
	}
	SSL_CTX_free(t->ctx);
	if (t->fd >= 0)
		close(t->fd);
	free(t);
	*tp = NULL;
	ERR_clear_error();
}
