/*
 * test_transport.c - TLS of the transport against a local OpenSSL server
 * run in a child process: strict verification, certificate and public key
 * pins, tls_verify = no, --serverinfo's inspect mode, TLS 1.3 as minimum,
 * client certificates (required by the server, missing, wrong, broken
 * files) and the peer information.
 *
 * The certificates are made by the openssl command at start-up; the pins
 * transport computes are compared with the ones the openssl command line
 * computes, the form users are told to paste into the configuration.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "transport.h"
#include "util.h"
#include "testutil.h"

static char *dir;		/* the certificates */
static char fp_ca[80], pk_ca[56];	/* pins of server.pem (openssl CLI) */
static char fp_self[80], pk_self[56];	/* pins of self.pem */

#define WRONG_FP "sha256:00112233445566778899aabbccddeeff" \
		 "00112233445566778899aabbccddeeff"
#define WRONG_PK "sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

/* Run with sh -e DIR: CAs, server certificates and client certificates. */
static const char certs_script[] =
	"cd \"$1\"\n"
	"ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
	"ca() { openssl req -x509 $ec -days 3650 -keyout $1.key -out $1.pem"
	" -subj \"/O=popfetch tests/CN=$1\""
	" -addext 'basicConstraints = critical, CA:TRUE'"
	" -addext 'keyUsage = critical, keyCertSign, cRLSign'; }\n"
	/* leaf NAME CA EKU SAN */
	"leaf() { printf 'basicConstraints = critical, CA:FALSE\\n"
	"keyUsage = critical, digitalSignature\\nextendedKeyUsage = %s\\n"
	"subjectAltName = %s\\n' \"$3\" \"$4\" >$1.ext;"
	" openssl req -new $ec -keyout $1.key -out $1.csr"
	" -subj \"/O=popfetch tests/CN=popfetch test $1\" &&"
	" openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key"
	" -CAcreateserial -days 3650 -extfile $1.ext -out $1.pem; }\n"
	"ca ca; ca wrong-ca; ca client-ca\n"
	"leaf server ca serverAuth DNS:localhost\n"
	"many=DNS:localhost,IP:127.0.0.1,IP:::1\n"
	"for i in 1 2 3 4 5 6 7 8 9 10 11 12; do"
	" many=$many,DNS:host-number-$i.popfetch.test; done\n"
	"leaf manysan ca serverAuth $many\n"
	"openssl req -x509 $ec -days 3650 -keyout self.key -out self.pem"
	" -subj '/CN=localhost' -addext 'subjectAltName = DNS:localhost'\n"
	"leaf client client-ca clientAuth DNS:client.popfetch.test\n"
	"leaf other wrong-ca clientAuth DNS:other.popfetch.test\n"
	"cat client.pem client.key >combined.pem\n"
	"openssl pkey -in client.key -aes256 -passout pass:secret"
	" -out encrypted.key\n"
	"echo 'not a certificate' >garbage.pem\n";

/* The first word of what cmd prints, into buf. */
static void first_word(const char *cmd, char *buf, size_t size)
{
	FILE *p = popen(cmd, "r");
	size_t n;

	if (p == NULL)
		abort();
	n = fread(buf, 1, size - 1, p);
	buf[n] = '\0';
	buf[strcspn(buf, " \n")] = '\0';
	if (pclose(p) != 0)
		abort();
}

/* The two pins as the documentation tells users to compute them. */
static void pins_of(const char *pem, char fp[80], char pk[56])
{
	char cmd[1024], word[80];

	snprintf(cmd, sizeof(cmd),
		 "openssl x509 -in %s/%s -outform der | sha256sum", dir, pem);
	first_word(cmd, word, 65);
	snprintf(fp, 80, "sha256:%.64s", word);
	snprintf(cmd, sizeof(cmd),
		 "openssl x509 -in %s/%s -pubkey -noout | "
		 "openssl pkey -pubin -outform der | "
		 "openssl dgst -sha256 -binary | base64", dir, pem);
	first_word(cmd, word, 45);
	snprintf(pk, 56, "sha256:%.44s", word);
}

static int group_setup(void **state)
{
	char cmd[4096], *script;
	int ret = 0;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	dir = tu_mkdtemp();
	script = tu_join(dir, "certs.sh");
	if (tu_write_file(script, certs_script, sizeof(certs_script) - 1,
			  0600) < 0)
		abort();
	snprintf(cmd, sizeof(cmd), "sh -e %s %s >%s/openssl.log 2>&1",
		 script, dir, dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "# cannot make certificates, see %s/openssl.log\n",
			dir);
		ret = -1;
	} else {
		pins_of("server.pem", fp_ca, pk_ca);
		pins_of("self.pem", fp_self, pk_self);
	}
	free(script);
	return ret;
}

static int group_teardown(void **state)
{
	(void)state;
	tu_rm_rf(dir);
	free(dir);
	return 0;
}

/* ---- the server child ---- */

struct server {
	const char *cert;	/* "server" (signed by ca), "self", ... */
	int max_version;	/* 0 or TLS1_2_VERSION */
	bool client_cert;	/* require one signed by client-ca */
};

static void serve(int lfd, const struct server *s)
{
	char path[4096], buf[256];
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;

	alarm(20);
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		_exit(2);
	ctx = SSL_CTX_new(TLS_server_method());
	snprintf(path, sizeof(path), "%s/%s.pem", dir, s->cert);
	if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, path) != 1)
		_exit(3);
	snprintf(path, sizeof(path), "%s/%s.key", dir, s->cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1)
		_exit(3);
	if (s->max_version != 0)
		SSL_CTX_set_max_proto_version(ctx, s->max_version);
	if (s->client_cert) {
		snprintf(path, sizeof(path), "%s/client-ca.pem", dir);
		if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1)
			_exit(3);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
				   SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1)
		_exit(1);
	SSL_write(ssl, "+OK hello\r\n", 11);
	while (SSL_read(ssl, buf, sizeof(buf)) > 0)
		;
	_exit(0);
}

/* Starts a server child for one connection; its port into port_r. */
static pid_t server_start(const struct server *s, char *port_r, size_t size)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	pid_t pid;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	snprintf(port_r, size, "%u", ntohs(sa.sin_port));
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		serve(lfd, s);
	close(lfd);
	return pid;
}

static void server_reap(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
}

/* ---- table ---- */

enum pin { PIN_NONE, PIN_RIGHT, PIN_WRONG };

struct tcase {
	const char *name;
	struct server srv;
	const char *host;	/* default "localhost" */
	const char *ca;		/* CA file in dir, NULL: system store */
	enum pin fp, pk;
	const char *cert_file, *key_file;	/* in dir */
	int min_version;
	bool no_verify, inspect;
	/* Outcome of transport_start_tls(), then of reading "+OK hello". */
	enum pf_status start, read;
	const char *text;	/* in err.text of the failure */
	const char *version;	/* TLS version of a session */
	const char *verify_result;	/* prefix, for a session */
};

#define SRV(c) { .cert = c }
#define SRV12(c) { .cert = c, .max_version = TLS1_2_VERSION }
#define SRV_CC { .cert = "server", .client_cert = true }
#define SRV12_CC { .cert = "server", .max_version = TLS1_2_VERSION, \
		   .client_cert = true }

static const struct tcase cases[] = {
	{ .name = "strict, right CA: accepted, verify ok",
	  .srv = SRV("server"), .ca = "ca.pem", .verify_result = "ok" },
	{ .name = "strict, wrong CA: PF_NOPERM",
	  .srv = SRV("server"), .ca = "wrong-ca.pem", .start = PF_NOPERM,
	  .text = "not accepted: unable to get local issuer certificate" },
	{ .name = "strict, 127.0.0.1 with a certificate for localhost",
	  .srv = SRV("server"), .host = "127.0.0.1", .ca = "ca.pem",
	  .start = PF_NOPERM, .text = "not accepted" },
	{ .name = "strict, self-signed, system store: PF_NOPERM",
	  .srv = SRV("self"), .start = PF_NOPERM, .text = "not accepted" },
	{ .name = "fingerprint pin right, wrong CA: accepted",
	  .srv = SRV("server"), .ca = "wrong-ca.pem", .fp = PIN_RIGHT,
	  .verify_result = "unable to get local issuer certificate" },
	{ .name = "fingerprint pin right, no CA file, self-signed: accepted",
	  .srv = SRV("self"), .fp = PIN_RIGHT, .verify_result = "self" },
	{ .name = "fingerprint pin right, host name mismatch: accepted",
	  .srv = SRV("server"), .host = "127.0.0.1", .ca = "ca.pem",
	  .fp = PIN_RIGHT, .verify_result = "IP address mismatch" },
	{ .name = "fingerprint pin wrong, right CA: PF_NOPERM naming both",
	  .srv = SRV("server"), .ca = "ca.pem", .fp = PIN_WRONG,
	  .start = PF_NOPERM,
	  .text = "certificate pin mismatch: the server's certificate is "
		  "%FP (tls_fingerprint expects " WRONG_FP ")" },
	{ .name = "pubkey pin right, wrong CA: accepted",
	  .srv = SRV("server"), .ca = "wrong-ca.pem", .pk = PIN_RIGHT,
	  .verify_result = "unable" },
	{ .name = "pubkey pin wrong: PF_NOPERM naming both",
	  .srv = SRV("server"), .ca = "ca.pem", .pk = PIN_WRONG,
	  .start = PF_NOPERM,
	  .text = "certificate pin mismatch: the server's public key is "
		  "%PK (tls_pubkey expects " WRONG_PK ")" },
	{ .name = "both pins right: accepted",
	  .srv = SRV("self"), .fp = PIN_RIGHT, .pk = PIN_RIGHT,
	  .verify_result = "self" },
	{ .name = "fingerprint right, pubkey wrong: PF_NOPERM",
	  .srv = SRV("server"), .ca = "ca.pem", .fp = PIN_RIGHT,
	  .pk = PIN_WRONG, .start = PF_NOPERM, .text = "tls_pubkey expects" },
	{ .name = "verify off, wrong CA and host: accepted",
	  .srv = SRV("server"), .host = "127.0.0.1", .ca = "wrong-ca.pem",
	  .no_verify = true, .verify_result = "unable" },
	{ .name = "verify off, wrong pin: PF_NOPERM (pins still apply)",
	  .srv = SRV("server"), .ca = "wrong-ca.pem", .no_verify = true,
	  .fp = PIN_WRONG, .start = PF_NOPERM, .text = "pin mismatch" },
	{ .name = "inspect only, wrong CA: accepted, reason recorded",
	  .srv = SRV("server"), .ca = "wrong-ca.pem", .inspect = true,
	  .verify_result = "unable to get local issuer certificate" },
	{ .name = "inspect only, wrong pin: accepted (shows, never refuses)",
	  .srv = SRV("server"), .ca = "ca.pem", .inspect = true,
	  .fp = PIN_WRONG, .verify_result = "ok" },
	{ .name = "inspect only, host mismatch: reason recorded",
	  .srv = SRV("server"), .host = "127.0.0.1", .ca = "ca.pem",
	  .inspect = true, .verify_result = "IP address mismatch" },
	{ .name = "min_version 13 against TLS 1.3: TLSv1.3",
	  .srv = SRV("server"), .ca = "ca.pem", .min_version = 13,
	  .version = "TLSv1.3", .verify_result = "ok" },
	{ .name = "min_version 13 against a TLS 1.2 server: PF_PROTOCOL",
	  .srv = SRV12("server"), .ca = "ca.pem",
	  .min_version = 13, .start = PF_PROTOCOL, .text = "TLS error" },
	{ .name = "min_version 12 against a TLS 1.2 server: TLSv1.2",
	  .srv = SRV12("server"), .ca = "ca.pem",
	  .min_version = 12, .version = "TLSv1.2", .verify_result = "ok" },
	{ .name = "client certificate required and given (separate key)",
	  .srv = SRV_CC, .ca = "ca.pem",
	  .cert_file = "client.pem", .key_file = "client.key",
	  .verify_result = "ok" },
	{ .name = "client certificate and key in one file",
	  .srv = SRV_CC, .ca = "ca.pem",
	  .cert_file = "combined.pem", .verify_result = "ok" },
	{ .name = "client certificate required, TLS 1.2, given",
	  .srv = SRV12_CC, .ca = "ca.pem",
	  .cert_file = "client.pem", .key_file = "client.key",
	  .version = "TLSv1.2", .verify_result = "ok" },
	{ .name = "client certificate required, none (TLS 1.3: on read)",
	  .srv = SRV_CC, .ca = "ca.pem",
	  .read = PF_NOPERM, .text = "refused the TLS client certificate" },
	{ .name = "client certificate required, wrong one (TLS 1.3)",
	  .srv = SRV_CC, .ca = "ca.pem",
	  .cert_file = "other.pem", .key_file = "other.key",
	  .read = PF_NOPERM, .text = "refused the TLS client certificate" },
	{ .name = "client certificate required, none (TLS 1.2: handshake)",
	  .srv = SRV12_CC, .ca = "ca.pem",
	  .start = PF_NOPERM,
	  .text = "refused the TLS client certificate (it asked for one and "
		  "none is configured)" },
	{ .name = "client certificate required, wrong one (TLS 1.2)",
	  .srv = SRV12_CC, .ca = "ca.pem",
	  .cert_file = "other.pem", .key_file = "other.key",
	  .start = PF_NOPERM, .text = "refused the TLS client certificate" },
	{ .name = "tls_cert_file missing: PF_CONFIG naming it",
	  .srv = SRV("server"), .ca = "ca.pem", .cert_file = "missing.pem",
	  .start = PF_CONFIG,
	  .text = "tls_cert_file %D/missing.pem: cannot load the client "
		  "certificate: No such file or directory" },
	{ .name = "tls_cert_file not PEM: PF_CONFIG naming it",
	  .srv = SRV("server"), .ca = "ca.pem", .cert_file = "garbage.pem",
	  .start = PF_CONFIG, .text = "tls_cert_file %D/garbage.pem: " },
	{ .name = "no key in tls_cert_file, no tls_key_file: PF_CONFIG",
	  .srv = SRV("server"), .ca = "ca.pem", .cert_file = "client.pem",
	  .start = PF_CONFIG, .text = "tls_cert_file %D/client.pem: cannot "
				      "load the private key" },
	{ .name = "tls_key_file missing: PF_CONFIG naming it",
	  .srv = SRV("server"), .ca = "ca.pem", .cert_file = "client.pem",
	  .key_file = "missing.key", .start = PF_CONFIG,
	  .text = "tls_key_file %D/missing.key: cannot load the private key" },
	{ .name = "tls_key_file of another certificate: PF_CONFIG",
	  .srv = SRV("server"), .ca = "ca.pem", .cert_file = "client.pem",
	  .key_file = "other.key", .start = PF_CONFIG,
	  .text = "tls_key_file %D/other.key: the private key does not "
		  "belong to the certificate in tls_cert_file %D/client.pem" },
	{ .name = "encrypted tls_key_file: PF_CONFIG, no passphrase prompt",
	  .srv = SRV("server"), .ca = "ca.pem", .cert_file = "client.pem",
	  .key_file = "encrypted.key", .start = PF_CONFIG,
	  .text = "tls_key_file %D/encrypted.key: cannot load the private "
		  "key (it must be PEM and not encrypted)" },
};

/* The expected text with %D (the certificate dir), %FP and %PK (the
 * server's real pins) filled in. */
static void expand(const char *in, char *out, size_t size)
{
	size_t n = 0;

	while (*in != '\0' && n + 1 < size) {
		const char *sub = NULL;

		if (strncmp(in, "%D", 2) == 0)
			sub = dir, in += 2;
		else if (strncmp(in, "%FP", 3) == 0)
			sub = fp_ca, in += 3;
		else if (strncmp(in, "%PK", 3) == 0)
			sub = pk_ca, in += 3;
		if (sub != NULL)
			n += util_strlcpy(out + n, sub, size - n);
		else
			out[n++] = *in++;
		if (n >= size)
			n = size - 1;
	}
	out[n] = '\0';
}

static char *in_dir(const char *name)
{
	return name != NULL ? tu_join(dir, name) : NULL;
}

static void test_case(void **state)
{
	const struct tcase *c = *state;
	struct tls_params tp = { .host = c->host ? c->host : "localhost",
				 .min_version = c->min_version,
				 .verify = !c->no_verify,
				 .inspect_only = c->inspect };
	bool self = strcmp(c->srv.cert, "self") == 0;
	char *ca = in_dir(c->ca), *cert = in_dir(c->cert_file);
	char *key = in_dir(c->key_file);
	char port[16], want[1024], buf[64];
	struct transport *t = NULL;
	struct tls_peer_info info;
	struct error err;
	enum pf_status ret;
	pid_t pid;
	ssize_t n;

	error_clear(&err);
	tp.ca_file = ca;
	tp.cert_file = cert;
	tp.key_file = key;
	if (c->fp != PIN_NONE)
		tp.fingerprint = c->fp == PIN_WRONG ? WRONG_FP
			       : self ? fp_self : fp_ca;
	if (c->pk != PIN_NONE)
		tp.pubkey = c->pk == PIN_WRONG ? WRONG_PK
			  : self ? pk_self : pk_ca;
	pid = server_start(&c->srv, port, sizeof(port));
	assert_int_equal(transport_connect(tp.host, port, 10, &t, &err),
			 PF_OK);
	ret = transport_start_tls(t, &tp, &err);
	if (ret != c->start)
		fail_msg("transport_start_tls: status %d, expected %d: %s",
			 ret, c->start, err.text);
	if (ret == PF_OK) {
		n = transport_read(t, buf, sizeof(buf) - 1, &err);
		if (c->read == PF_OK) {
			if (n != 11)
				fail_msg("read %zd bytes: %s", n, err.text);
			assert_memory_equal(buf, "+OK hello\r\n", 11);
		} else {
			assert_int_equal(n, -1);
			assert_int_equal(err.status, c->read);
		}
		assert_int_equal(transport_peer_info(t, &info, &err), PF_OK);
		if (c->version != NULL)
			assert_string_equal(info.version, c->version);
		if (c->verify_result != NULL &&
		    strncmp(info.verify_result, c->verify_result,
			    strlen(c->verify_result)) != 0)
			fail_msg("verify_result '%s', expected '%s...'",
				 info.verify_result, c->verify_result);
		assert_string_equal(info.fingerprint, self ? fp_self : fp_ca);
		assert_string_equal(info.pubkey, self ? pk_self : pk_ca);
	}
	if (c->text != NULL) {
		expand(c->text, want, sizeof(want));
		if (strstr(err.text, want) == NULL)
			fail_msg("error '%s' lacks '%s'", err.text, want);
	}
	transport_close(&t);
	assert_null(t);
	server_reap(pid);
	free(ca);
	free(cert);
	free(key);
}

/* Every field of the peer information, for a certificate with many
 * subjectAltNames (the list is cut with "..."). */
static void test_peer_info(void **state)
{
	static const struct server srv = { .cert = "manysan" };
	struct tls_params tp = { .host = "localhost", .verify = true };
	struct transport *t = NULL;
	struct tls_peer_info info;
	struct error err;
	char port[16], fp[80], pk[56], want[96];
	size_t len;
	pid_t pid;

	(void)state;
	tp.ca_file = in_dir("ca.pem");
	pins_of("manysan.pem", fp, pk);
	pid = server_start(&srv, port, sizeof(port));
	assert_int_equal(transport_connect("localhost", port, 10, &t, &err),
			 PF_OK);
	assert_int_equal(transport_start_tls(t, &tp, &err), PF_OK);
	assert_int_equal(transport_peer_info(t, &info, &err), PF_OK);
	assert_string_equal(info.version, "TLSv1.3");
	assert_true(strncmp(info.cipher, "TLS_", 4) == 0);
	assert_string_equal(info.subject,
			    "CN=popfetch test manysan,O=popfetch tests");
	assert_string_equal(info.issuer, "CN=ca,O=popfetch tests");
	assert_int_equal(strlen(info.not_before), 23);
	assert_int_equal(strlen(info.not_after), 23);
	assert_true(strcmp(info.not_before + 19, " UTC") == 0);
	assert_true(info.not_before[4] == '-' && info.not_before[10] == ' ');
	/* 3650 days later. */
	assert_int_equal(strtol(info.not_after, NULL, 10) -
			 strtol(info.not_before, NULL, 10), 10);
	assert_true(strncmp(info.subject_alt_names,
			    "DNS:localhost, IP:127.0.0.1, IP:::1, "
			    "DNS:host-number-1.popfetch.test, ", 66) == 0);
	len = strlen(info.subject_alt_names);
	assert_int_equal(len, sizeof(info.subject_alt_names) - 1);
	assert_string_equal(info.subject_alt_names + len - 3, "...");
	assert_string_equal(info.fingerprint, fp);
	assert_string_equal(info.pubkey, pk);
	assert_int_equal(strlen(info.fingerprint), 71);
	assert_int_equal(strlen(info.pubkey), 51);
	assert_string_equal(info.verify_result, "ok");
	snprintf(want, sizeof(want), "TLSv1.3 %s", info.cipher);
	assert_string_equal(transport_tls_info(t), want);
	transport_close(&t);
	server_reap(pid);
	free((char *)tp.ca_file);
}

/* Without TLS there is no peer: PF_SOFTWARE, the struct emptied. */
static void test_peer_info_plain(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	struct transport *t = NULL;
	struct tls_peer_info info;
	struct error err;
	char port[16];
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
	assert_int_equal(transport_connect("127.0.0.1", port, 10, &t, &err),
			 PF_OK);
	memset(&info, 'x', sizeof(info));
	assert_int_equal(transport_peer_info(t, &info, &err), PF_SOFTWARE);
	assert_string_equal(info.fingerprint, "");
	assert_string_equal(info.verify_result, "");
	assert_false(transport_is_tls(t));
	assert_string_equal(transport_tls_info(t), "");
	transport_close(&t);
	close(lfd);
}

int main(void)
{
	enum { N = sizeof(cases) / sizeof(cases[0]) };
	struct CMUnitTest tests[N + 2];
	size_t i;

	for (i = 0; i < N; i++)
		tests[i] = (struct CMUnitTest){ cases[i].name, test_case, NULL,
						NULL, (void *)&cases[i] };
	tests[N] = (struct CMUnitTest)cmocka_unit_test(test_peer_info);
	tests[N + 1] = (struct CMUnitTest)cmocka_unit_test(test_peer_info_plain);
	return cmocka_run_group_tests_name("transport", tests, group_setup,
					   group_teardown);
}
