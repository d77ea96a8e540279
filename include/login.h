/*
 * login.h - the AUTHORIZATION state of a POP3 session: picks the login
 * mechanism (auth = auto or the configured one) and runs USER/PASS, APOP
 * or an AUTH exchange (RFC 5034) over the session, with the mechanisms of
 * sasl.h.
 *
 * A mechanism that sends the password or a token readable on the wire
 * (USER, PLAIN, LOGIN, XOAUTH2, OAUTHBEARER) is used only under TLS or
 * with allow_plaintext.  auto never retries a weaker mechanism once the
 * secret (or a proof of it) went out: a refusal then means the
 * credentials were checked.  Only a mechanism the server refused before
 * any secret was sent is replaced by the next weaker one, and -v says so.
 */
#ifndef POPFETCH_LOGIN_H
#define POPFETCH_LOGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "error.h"
#include "pop3.h"

#define LOGIN_MAX_STEPS 16	/* challenges in one AUTH exchange */
#define LOGIN_MAX_INLINE 255	/* RFC 5034: longest AUTH command with an
				 * initial response on the same line */

struct login_params {
	const struct account *acct;
	const char *secret;	/* password or OAuth2 access token */
	const char *greeting;	/* the server greeting, for APOP */
	size_t greeting_len;
	unsigned capa;		/* POP3_CAPA_* flags */
	bool capa_answered;	/* CAPA was answered "+OK" */
	unsigned sasl_offered;	/* SASL_BIT()s from the CAPA SASL line */
};

/*
 * Logs in.  Errors: PF_NOPERM (refused, or a mechanism that would expose
 * the secret without TLS; "refresh the token" for OAuth2), PF_PROTOCOL
 * (APOP without a valid greeting timestamp, malformed exchange),
 * PF_TEMPFAIL and PF_UNAVAILABLE from the server's response codes
 * ([IN-USE], [LOGIN-DELAY], [SYS/TEMP], [SYS/PERM]).
 */
enum pf_status login_run(struct pop3 *p, const struct login_params *lp,
			 struct error *err);

#endif
