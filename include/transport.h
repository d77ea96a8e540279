/*
 * transport.h - a TCP connection, optionally wrapped in TLS.
 *
 * The only module that knows about sockets and OpenSSL.  Every connect,
 * read and write is bounded by the timeout given to transport_connect();
 * the socket is non-blocking and waits are done with poll(2).
 *
 * TLS is strict: TLS 1.2 or newer, the peer certificate verified against the
 * system trust store or a given CA file, the host name (or IP address)
 * checked by OpenSSL, SNI sent for host names.
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
};

/* Resolves host, tries each address (IPv6 and IPv4) until one connects
 * within timeout_s seconds.  Errors: PF_NOHOST (name does not resolve),
 * PF_UNAVAILABLE (refused), PF_TEMPFAIL (timeout, unreachable). */
enum pf_status transport_connect(const char *host, const char *port,
				 int timeout_s, struct transport **t_r,
				 struct error *err);

/* Performs the TLS handshake on a connected transport (implicit TLS right
 * after connect, or after STLS).  Errors: PF_NOPERM (certificate not
 * trusted, wrong host name, expired...), PF_PROTOCOL (not TLS, handshake
 * failure), PF_TEMPFAIL (timeout, connection lost). */
enum pf_status transport_start_tls(struct transport *t,
				   const struct tls_params *params,
				   struct error *err);

/* True once TLS is active. */
bool transport_is_tls(const struct transport *t);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" or "" without TLS.  Owned by t. */
const char *transport_tls_info(const struct transport *t);

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
