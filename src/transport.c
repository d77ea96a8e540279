/*
 * transport.c - TCP and TLS.  The only file that includes OpenSSL.
 *
 * The socket is non-blocking; every wait goes through poll() with the
 * account's timeout, so a stalled server can never hang a cron job (no
 * alarm(), no longjmp).
 *
 * OpenSSL is initialised only when the first TLS context is made: an
 * account with tls = none never touches libcrypto beyond loading it.
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

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "util.h"

struct transport {
	int fd;
	int timeout_ms;
	SSL_CTX *ctx;
	SSL *ssl;
	/* The first chain or host name failure that verify_record() let
	 * pass, else X509_V_OK; after a strict handshake OpenSSL's verdict. */
	int verify_error;
	/* The server asked for a client certificate and we have none. */
	bool cert_requested;
	char tls_info[128];
	char fingerprint[80];	/* pins of the peer certificate, */
	char pubkey[56];	/* struct tls_peer_info form */
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

/* Like ssl_reason(), for loading a file: the first error is the cause
 * ("No such file or directory", "no start line"); the later ones only
 * say which OpenSSL layer passed it on ("PEM lib", "system lib"). */
static void ssl_file_reason(char *buf, size_t size)
{
	unsigned long e = ERR_get_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	if (e != 0 && ERR_SYSTEM_ERROR(e))
		util_strlcpy(buf, strerror(ERR_GET_REASON(e)), size);
	else if (r != NULL)
		util_strlcpy(buf, r, size);
	else if (e != 0)
		ERR_error_string_n(e, buf, size);
	else
		util_strlcpy(buf, "unknown error", size);
	ERR_clear_error();
}

/* True for the alerts a server sends about our client certificate
 * (none sent, unknown CA, rejected): the server refused to authenticate
 * us, which a retry will not change. */
static bool is_client_cert_alert(unsigned long e)
{
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return false;
	switch (ERR_GET_REASON(e)) {
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
		return true;
	default:
		return false;
	}
}

static int op_connect(SSL *ssl, void *buf, int len);

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
			/* With TLS 1.3 the server checks our certificate
			 * after our side of the handshake is done, so its
			 * refusal may arrive with the first read.  With TLS
			 * 1.2 a server that insists on a certificate may
			 * just say "handshake failure". */
			bool refused = is_client_cert_alert(ERR_peek_last_error());
			bool missing = op == op_connect && t->cert_requested;

			ssl_reason(reason, sizeof(reason));
			if (refused || missing)
				error_set(err, PF_NOPERM,
					  "server refused the TLS client "
					  "certificate%s %s: %s",
					  missing ? " (it asked for one and "
						    "none is configured)"
						  : "",
					  what, reason);
			else
				error_set(err, tls_fail, "TLS error %s: %s",
					  what, reason);
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

/*
 * Called on the first handshake only, and no OpenSSL function is called
 * before it (transport_close() of a plain connection included): any call
 * initialises libcrypto, about 1.5 MB of peak RSS that a tls = none
 * account logging in with USER/PASS does not need (5.2 -> 3.7 MB).  No
 * atexit() cleanup either: the kernel frees it all at exit anyway.
 */
static enum pf_status tls_init(struct error *err)
{
	if (OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT |
			     OPENSSL_INIT_LOAD_SSL_STRINGS |
			     OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL) != 1)
		return error_set(err, PF_SOFTWARE,
				 "cannot initialise OpenSSL");
	return PF_OK;
}

/* Whether the handshake must go on whatever the chain and host name
 * checks say: a pin decides, or nothing does. */
static bool tls_relaxed(const struct tls_params *params)
{
	return params->fingerprint != NULL || params->pubkey != NULL ||
	       !params->verify || params->inspect_only;
}

/* Verify callback of relaxed handshakes: remembers the first failure
 * (the most telling one: later ones often follow from it) and lets
 * OpenSSL carry on, so that the host name is checked too. */
static int verify_record(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(
		store, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct transport *t = ssl != NULL ? SSL_get_app_data(ssl) : NULL;

	if (!ok && t != NULL && t->verify_error == X509_V_OK)
		t->verify_error = X509_STORE_CTX_get_error(store);
	return 1;
}

/* Client certificate callback when there is none to give: notes the
 * request for the error message, and sends none. */
static int cert_requested(SSL *ssl, X509 **cert_r, EVP_PKEY **key_r)
{
	struct transport *t = SSL_get_app_data(ssl);

	(void)cert_r;
	(void)key_r;
	if (t != NULL)
		t->cert_requested = true;
	return 0;
}

/* An encrypted key must fail, not make OpenSSL ask for a passphrase on
 * the terminal of a cron job. */
static int no_passphrase(char *buf, int size, int rwflag, void *data)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)data;
	return -1;
}

static enum pf_status load_client_cert(SSL_CTX *ctx,
				       const struct tls_params *params,
				       struct error *err)
{
	const char *key = params->key_file != NULL ? params->key_file
						   : params->cert_file;
	const char *key_name = params->key_file != NULL ? "tls_key_file"
							: "tls_cert_file";
	char reason[256];

	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, params->cert_file) != 1) {
		ssl_file_reason(reason, sizeof(reason));
		return error_set(err, PF_CONFIG,
				 "tls_cert_file %s: cannot load the client "
				 "certificate: %s", params->cert_file, reason);
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		/* OpenSSL compares the key with the certificate as it loads
		 * it; a mismatch is a different mistake from a bad file. */
		unsigned long e = ERR_peek_error();
		bool mismatch = ERR_GET_LIB(e) == ERR_LIB_X509 &&
				(ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
				 ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH);

		ssl_file_reason(reason, sizeof(reason));
		if (mismatch)
			goto mismatch;
		return error_set(err, PF_CONFIG,
				 "%s %s: cannot load the private key "
				 "(it must be PEM and not encrypted): %s",
				 key_name, key, reason);
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_file_reason(reason, sizeof(reason));
		goto mismatch;
	}
	return PF_OK;
mismatch:
	return error_set(err, PF_CONFIG,
			 "%s %s: the private key does not belong to "
			 "the certificate in tls_cert_file %s: %s",
			 key_name, key, params->cert_file, reason);
}

static enum pf_status tls_setup(struct transport *t,
				const struct tls_params *params,
				struct error *err)
{
	char reason[256];
	enum pf_status ret;

	ret = tls_init(err);
	if (ret != PF_OK)
		return ret;
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (t->ctx == NULL)
		goto ssl_failed;
	if (!SSL_CTX_set_min_proto_version(t->ctx,
					   params->min_version == 13
					   ? TLS1_3_VERSION : TLS1_2_VERSION))
		goto ssl_failed;
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER,
			   tls_relaxed(params) ? verify_record : NULL);
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
	if (params->cert_file != NULL) {
		ret = load_client_cert(t->ctx, params, err);
		if (ret != PF_OK)
			return ret;
	} else {
		SSL_CTX_set_client_cert_cb(t->ctx, cert_requested);
	}
	t->ssl = SSL_new(t->ctx);
	if (t->ssl == NULL || !SSL_set_fd(t->ssl, t->fd))
		goto ssl_failed;
	SSL_set_app_data(t->ssl, t);
	/* The host name is checked in relaxed mode too: its result goes
	 * into verify_error for --serverinfo. */
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

/* "sha256:" + lowercase hex of the certificate's DER, and "sha256:" +
 * base64 of its SubjectPublicKeyInfo's DER (the HPKP pin form). */
static enum pf_status cert_pins(X509 *cert, char *fp, size_t fp_size,
				char *pk, size_t pk_size, struct error *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
	unsigned mdlen = 0, i;
	size_t pos;
	int derlen, ok;

	if (X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 ||
	    fp_size < sizeof("sha256:") + 2 * (size_t)mdlen)
		goto failed;
	pos = (size_t)snprintf(fp, fp_size, "sha256:");
	for (i = 0; i < mdlen; i++) {
		fp[pos++] = hex[md[i] >> 4];
		fp[pos++] = hex[md[i] & 0x0f];
	}
	fp[pos] = '\0';

	derlen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (derlen <= 0)
		goto failed;
	ok = EVP_Digest(der, (size_t)derlen, md, &mdlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	if (ok != 1)
		goto failed;
	EVP_EncodeBlock(b64, md, (int)mdlen);
	if ((size_t)snprintf(pk, pk_size, "sha256:%s", (char *)b64) >= pk_size)
		goto failed;
	return PF_OK;
failed:
	ERR_clear_error();
	return error_set(err, PF_SOFTWARE,
			 "cannot compute the certificate's SHA-256 pins");
}

/* After the handshake: the pins of the certificate, and whether the
 * certificate is accepted (see struct tls_params). */
static enum pf_status check_peer(struct transport *t,
				 const struct tls_params *params,
				 struct error *err)
{
	X509 *cert = SSL_get0_peer_certificate(t->ssl);
	enum pf_status ret;

	if (cert == NULL)
		return error_set(err, PF_NOPERM,
				 "server %s sent no TLS certificate",
				 params->host);
	ret = cert_pins(cert, t->fingerprint, sizeof(t->fingerprint),
			t->pubkey, sizeof(t->pubkey), err);
	if (ret != PF_OK)
		return ret;
	if (!tls_relaxed(params)) {
		/* OpenSSL has already refused anything it did not trust. */
		t->verify_error = (int)SSL_get_verify_result(t->ssl);
		return PF_OK;
	}
	if (params->inspect_only)
		return PF_OK;
	if (params->fingerprint != NULL &&
	    strcmp(params->fingerprint, t->fingerprint) != 0)
		return error_set(err, PF_NOPERM,
				 "certificate pin mismatch: the server's "
				 "certificate is %s (tls_fingerprint expects %s)",
				 t->fingerprint, params->fingerprint);
	if (params->pubkey != NULL &&
	    strcmp(params->pubkey, t->pubkey) != 0)
		return error_set(err, PF_NOPERM,
				 "certificate pin mismatch: the server's "
				 "public key is %s (tls_pubkey expects %s)",
				 t->pubkey, params->pubkey);
	return PF_OK;
}

enum pf_status transport_start_tls(struct transport *t,
				   const struct tls_params *params,
				   struct error *err)
{
	enum pf_status ret;
	long verify;

	if (t->ssl != NULL || t->ctx != NULL)
		return error_set(err, PF_SOFTWARE, "TLS already active");
	t->verify_error = X509_V_OK;
	t->cert_requested = false;
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
		return check_peer(t, params, err);
	}
	verify = SSL_get_verify_result(t->ssl);
	if (!tls_relaxed(params) && verify != X509_V_OK)
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

/* X509_NAME in the one-line RFC 2253 form, sanitized. */
static enum pf_status name_text(const X509_NAME *name, char *buf,
				size_t size, struct error *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;

	if (bio == NULL ||
	    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) < 0) {
		BIO_free(bio);
		ERR_clear_error();
		return error_set(err, PF_SOFTWARE,
				 "cannot format a certificate name");
	}
	len = BIO_get_mem_data(bio, &data);
	util_sanitize(buf, size, data, len > 0 ? (size_t)len : 0);
	BIO_free(bio);
	return PF_OK;
}

/* "YYYY-MM-DD HH:MM:SS UTC", or "" if OpenSSL cannot read the time. */
static void time_text(const ASN1_TIME *tm, char *buf, size_t size)
{
	struct tm t;

	buf[0] = '\0';
	if (tm == NULL || ASN1_TIME_to_tm(tm, &t) != 1 ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &t) == 0)
		buf[0] = '\0';
}

/* Appends ", " (unless first) and item to the list in buf; a list that
 * does not fit ends in "...".  Returns false once full. */
static bool list_append(char *buf, size_t size, const char *item)
{
	size_t len = strlen(buf);
	int n = snprintf(buf + len, size - len, "%s%s",
			 len > 0 ? ", " : "", item);

	if (n >= 0 && (size_t)n < size - len)
		return true;
	if (size >= 4)
		memcpy(buf + size - 4, "...", 4);
	return false;
}

/* The DNS and IP subjectAltNames, "DNS:a, IP:127.0.0.1". */
static void san_text(X509 *cert, char *buf, size_t size)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name,
						NULL, NULL);
	int i;

	buf[0] = '\0';
	for (i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		char item[300], text[INET6_ADDRSTRLEN];
		const unsigned char *d;
		int len;

		if (gn->type == GEN_DNS) {
			d = ASN1_STRING_get0_data(gn->d.dNSName);
			len = ASN1_STRING_length(gn->d.dNSName);
			util_strlcpy(item, "DNS:", sizeof(item));
			util_sanitize(item + 4, sizeof(item) - 4,
				      (const char *)d, len > 0 ? (size_t)len : 0);
		} else if (gn->type == GEN_IPADD) {
			d = ASN1_STRING_get0_data(gn->d.iPAddress);
			len = ASN1_STRING_length(gn->d.iPAddress);
			if ((len != 4 && len != 16) ||
			    inet_ntop(len == 4 ? AF_INET : AF_INET6, d, text,
				      sizeof(text)) == NULL)
				util_strlcpy(text, "?", sizeof(text));
			snprintf(item, sizeof(item), "IP:%s", text);
		} else {
			continue;
		}
		if (!list_append(buf, size, item))
			break;
	}
	GENERAL_NAMES_free(names);
	ERR_clear_error();
}

enum pf_status transport_peer_info(const struct transport *t,
				   struct tls_peer_info *info,
				   struct error *err)
{
	const SSL_CIPHER *cipher;
	X509 *cert;
	enum pf_status ret;

	memset(info, 0, sizeof(*info));
	if (t->ssl == NULL)
		return error_set(err, PF_SOFTWARE, "no TLS session");
	util_strlcpy(info->version, SSL_get_version(t->ssl),
		     sizeof(info->version));
	cipher = SSL_get_current_cipher(t->ssl);
	if (cipher != NULL)
		util_strlcpy(info->cipher, SSL_CIPHER_get_name(cipher),
			     sizeof(info->cipher));
	cert = SSL_get0_peer_certificate(t->ssl);
	if (cert != NULL) {
		ret = name_text(X509_get_subject_name(cert), info->subject,
				sizeof(info->subject), err);
		if (ret == PF_OK)
			ret = name_text(X509_get_issuer_name(cert),
					info->issuer, sizeof(info->issuer),
					err);
		if (ret != PF_OK)
			return ret;
		time_text(X509_get0_notBefore(cert), info->not_before,
			  sizeof(info->not_before));
		time_text(X509_get0_notAfter(cert), info->not_after,
			  sizeof(info->not_after));
		san_text(cert, info->subject_alt_names,
			 sizeof(info->subject_alt_names));
	}
	util_strlcpy(info->fingerprint, t->fingerprint,
		     sizeof(info->fingerprint));
	util_strlcpy(info->pubkey, t->pubkey, sizeof(info->pubkey));
	util_strlcpy(info->verify_result,
		     t->verify_error == X509_V_OK
		     ? "ok" : X509_verify_cert_error_string(t->verify_error),
		     sizeof(info->verify_result));
	return PF_OK;
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
	/* Not for plain connections: any OpenSSL call would initialise
	 * it. */
	if (t->ctx != NULL)
		ERR_clear_error();
	free(t);
	*tp = NULL;
}
