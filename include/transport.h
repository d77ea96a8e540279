/*
 * transport.h - a TCP connection, optionally wrapped in TLS.
 *
 * The only module that knows about sockets and OpenSSL.  Every connect,
 * read and write is bounded by the timeout given to transport_connect();
 * the socket is non-blocking and waits are done with poll(2).
 *
 * TLS is strict: TLS 1.2 or newer, the peer certificate verified against the
 * system trust store or a given CA file, the host name (or IP address)
 * checked by OpenSSL, SNI sent for host names.  Only a pin the user gave,
 * or tls_verify = no, relaxes the certificate checks (struct tls_params).
 *
 * OpenSSL is initialised on the first transport_start_tls() and not torn
 * down at exit: a process that never uses TLS never initialises it.
 */
#ifndef POPFETCH_TRANSPORT_H
#define POPFETCH_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

struct transport;

struct tls_params {
	const char *host;	/* name to verify and send as SNI */
	const char *ca_file;	/* NULL: the system trust store */
	/*
	 * Pins, NULL when unset: "sha256:HEX" of the certificate (DER), and
	 * "sha256:BASE64" of its SubjectPublicKeyInfo (DER), both in the form
	 * of struct tls_peer_info.  With a pin set, the pin must match
	 * (PF_NOPERM otherwise, naming what the server sent), and then the
	 * chain and host name checks may fail without failing the handshake;
	 * without a matching pin nothing is trusted that would not be
	 * trusted anyway.
	 */
	const char *fingerprint;
	const char *pubkey;
	/* Client certificate (PEM, may be followed by its chain), or NULL.
	 * The key must not be encrypted: there is no one to ask for a
	 * passphrase. */
	const char *cert_file;
	const char *key_file;	/* its private key (PEM); NULL: in cert_file */
	int min_version;	/* 12 (TLS 1.2, also when 0) or 13 */
	/* false: accept any certificate (tls_verify = no; pins still
	 * apply).  The caller warns.  Set it from tls_verify (default yes)
	 * on every path: a zero-initialised struct accepts anything. */
	bool verify;
	/* true (--serverinfo): complete the handshake whatever the
	 * certificate, and record the verification result in the peer info
	 * instead of failing; pins are not enforced either.  Nothing may be
	 * sent over such a connection but CAPA and QUIT. */
	bool inspect_only;
};

/* What --serverinfo shows about the TLS session and the server's
 * certificate.  Strings are NUL-terminated, sanitized, "" if unknown. */
struct tls_peer_info {
	char version[16];	/* "TLSv1.3" */
	char cipher[64];	/* "TLS_AES_256_GCM_SHA384" */
	char subject[256];	/* one-line RFC 2253 form */
	char issuer[256];
	char not_before[32];	/* "2026-11-23 02:00:00 UTC" */
	char not_after[32];
	char subject_alt_names[256];	/* "DNS:localhost, IP:127.0.0.1" */
	char fingerprint[80];	/* "sha256:" + 64 lowercase hex */
	char pubkey[56];	/* "sha256:" + base64 of 32 bytes */
	char verify_result[128];	/* "ok" or OpenSSL's reason */
};

/* Resolves host, tries each address (IPv6 and IPv4) until one connects
 * within timeout_s seconds.  Errors: PF_NOHOST (name does not resolve),
 * PF_UNAVAILABLE (refused), PF_TEMPFAIL (timeout, unreachable). */
enum pf_status transport_connect(const char *host, const char *port,
				 int timeout_s, struct transport **t_r,
				 struct error *err);

/* Performs the TLS handshake on a connected transport (implicit TLS right
 * after connect, or after STLS).  Errors: PF_NOPERM (certificate not
 * trusted, wrong host name, expired..., pin mismatch naming the server's
 * pin and the expected one, the server refusing our client certificate or
 * its absence), PF_CONFIG (client certificate or key file unreadable, not
 * PEM, encrypted or not matching: the text names the tls_cert_file or
 * tls_key_file path), PF_PROTOCOL (not TLS, handshake failure, no common
 * TLS version), PF_TEMPFAIL (timeout, connection lost).
 *
 * With TLS 1.3 a server checks the client certificate after the client's
 * side of the handshake; its refusal then comes as a PF_NOPERM error of
 * the first transport_read(). */
enum pf_status transport_start_tls(struct transport *t,
				   const struct tls_params *params,
				   struct error *err);

/* True once TLS is active. */
bool transport_is_tls(const struct transport *t);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" or "" without TLS.  Owned by t. */
const char *transport_tls_info(const struct transport *t);

/* Fills *info for an active TLS session (verify_result is "ok" for every
 * session that was not relaxed by a pin, tls_verify = no or
 * inspect_only).  PF_SOFTWARE without TLS, *info then all "". */
enum pf_status transport_peer_info(const struct transport *t,
				   struct tls_peer_info *info,
				   struct error *err);

/* Reads up to len bytes (at least 1) into buf, waiting at most the timeout.
 * Returns the count, 0 at a clean end of stream, or -1 with err filled in
 * (PF_TEMPFAIL for timeout or a reset connection). */
ssize_t transport_read(struct transport *t, void *buf, size_t len,
		       struct error *err);

/* Writes all len bytes, waiting at most the timeout for each progress. */
enum pf_status transport_write(struct transport *t, const void *buf,
			       size_t len, struct error *err);

/* Closes and frees *t (TLS close_notify sent best-effort), sets it NULL. */
void transport_close(struct transport **t);

#endif
