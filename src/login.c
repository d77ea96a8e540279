/*
 * login.c - USER/PASS, APOP and AUTH (RFC 1939, RFC 5034) over a session.
 */
#include "login.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sasl.h"
#include "transport.h"
#include "util.h"

/* The message for a refused login, by mechanism. */
static enum pf_status refused(enum sasl_mech m, enum pop3_resp_code code,
			      const struct sasl *sa, struct error *err)
{
	enum pf_status st = pop3_resp_code_status(code, PF_NOPERM);
	const char *json = sa != NULL ? sasl_oauth_error(sa) : NULL;

	if (st != PF_NOPERM)
		return error_reword(err, st, "login with %s refused for now",
				    sasl_wire_name(m));
	if (m == SASL_XOAUTH2 || m == SASL_OAUTHBEARER)
		return error_reword(err, PF_NOPERM,
				    "login with %s failed: the server refused the "
				    "OAuth2 access token (expired or revoked?%s%s); "
				    "refresh the token (for example with "
				    "contrib/oauth2-token in password_command) and "
				    "try again", sasl_wire_name(m),
				    json != NULL ? " it said " : "",
				    json != NULL ? json : "");
	return error_reword(err, PF_NOPERM,
			    "login with %s failed (user name or password "
			    "refused)", sasl_wire_name(m));
}

static enum pf_status login_user(struct pop3 *p, const struct login_params *lp,
				 struct error *err)
{
	enum pf_status ret;

	ret = pop3_cmd(p, err, "USER %s", lp->acct->user);
	if (ret == PF_OK)
		ret = pop3_expect_ok(p, PF_NOPERM, "server refused the user name",
				     err);
	if (ret == PF_OK)
		ret = pop3_cmd_secret(p, "PASS", lp->secret, err);
	if (ret == PF_OK)
		ret = pop3_expect_ok(p, PF_NOPERM,
				     "login with USER/PASS failed (user name or "
				     "password refused)", err);
	return ret;
}

/*
 * Many servers put a timestamp in their greeting without taking APOP (or
 * without the clear-text password it needs): a plain -ERR without an
 * [AUTH] response code sets *retry_r, and auto moves on, saying so in -v.
 */
static enum pf_status login_apop(struct pop3 *p, const struct login_params *lp,
				 bool *retry_r, struct error *err)
{
	char verb[POP3_MAX_ARG + 8];
	char digest[33];
	const char *ts;
	size_t tslen;
	enum pop3_resp_code code;
	enum pf_status ret;
	bool ok;

	if (!sasl_apop_timestamp(lp->greeting, lp->greeting_len, &ts, &tslen))
		return error_set(err, PF_PROTOCOL,
				 "auth = apop, but the server greeting holds no "
				 "valid APOP timestamp <...@...>; nothing was sent");
	sasl_apop_digest(ts, tslen, lp->secret, digest);
	if (digest[0] == '\0')
		return error_set(err, PF_SOFTWARE,
				 "APOP needs MD5, which this OpenSSL does not "
				 "provide (FIPS mode?); set another auth");
	snprintf(verb, sizeof(verb), "APOP %s", lp->acct->user);
	ret = pop3_cmd_secret(p, verb, digest, err);
	util_wipe(digest, sizeof(digest));
	if (ret == PF_OK)
		ret = pop3_read_status(p, &ok, &code, err);
	if (ret != PF_OK || ok)
		return ret;
	*retry_r = code == POP3_RESP_NONE || code == POP3_RESP_OTHER;
	return refused(SASL_APOP, code, NULL, err);
}

/* Sends a SASL response; traced as **** unless empty. */
static enum pf_status send_response(struct pop3 *p, const char *resp,
				    struct error *err)
{
	return pop3_send_secret_line(p, resp, strlen(resp),
				     resp[0] == '\0' ? "" : "****", err);
}

/*
 * One AUTH exchange.  *retry_r is set when the server refused the
 * mechanism before any secret went out (auto may then try a weaker one).
 */
static enum pf_status login_sasl(struct pop3 *p, const struct login_params *lp,
				 enum sasl_mech m, bool *retry_r,
				 struct error *err)
{
	const struct account *a = lp->acct;
	struct sasl_params sp = { .user = a->user, .secret = lp->secret,
				  .host = a->host, .port = a->port };
	struct sasl *sa = NULL;
	char *initial = NULL, *resp = NULL;
	const char *name = sasl_wire_name(m);
	enum pf_status ret;
	unsigned steps = 0;
	bool initial_pending = false;

	*retry_r = false;
	ret = sasl_new(m, &sp, &sa, &initial, err);
	if (ret != PF_OK)
		goto out;
	if (initial != NULL &&
	    strlen("AUTH ") + strlen(name) + 1 + strlen(initial) <=
	    LOGIN_MAX_INLINE) {
		char *line = xasprintf("AUTH %s %s", name, initial);
		char shown[64];

		snprintf(shown, sizeof(shown), "AUTH %s ****", name);
		ret = pop3_send_secret_line(p, line, strlen(line), shown, err);
		util_wipe(line, strlen(line));
		free(line);
	} else {
		/* RFC 5034 section 4: an initial response that would make
		 * the command longer than 255 octets goes on its own line,
		 * after an empty challenge (the only form Microsoft 365
		 * accepts for its multi-kilobyte tokens). */
		initial_pending = initial != NULL;
		ret = pop3_cmd(p, err, "AUTH %s", name);
	}
	while (ret == PF_OK) {
		enum pop3_auth_reply kind;
		enum pop3_resp_code code;
		const char *text;
		size_t len;

		ret = pop3_read_auth_reply(p, &kind, &text, &len, &code, err);
		if (ret != PF_OK)
			break;
		if (kind == POP3_AUTH_OK) {
			ret = sasl_finish(sa, err);
			break;
		}
		if (kind == POP3_AUTH_ERR) {
			*retry_r = !sasl_secret_sent(sa) &&
				   (code == POP3_RESP_NONE ||
				    code == POP3_RESP_OTHER);
			ret = refused(m, code, sa, err);
			break;
		}
		if (++steps > LOGIN_MAX_STEPS) {
			ret = error_set(err, PF_PROTOCOL,
					"server sent more than %d challenges "
					"during AUTH %s", LOGIN_MAX_STEPS, name);
			break;
		}
		if (initial_pending) {
			if (len != 0) {
				ret = error_set(err, PF_PROTOCOL,
						"server sent a non-empty first "
						"challenge to AUTH %s", name);
				break;
			}
			initial_pending = false;
			ret = send_response(p, initial, err);
			continue;
		}
		ret = sasl_step(sa, text, len, &resp, err);
		if (ret != PF_OK) {
			/* RFC 5034: "*" cancels; the session ends anyway, so
			 * a failure to send it adds nothing to report. */
			struct error ignored;

			(void)pop3_send_secret_line(p, "*", 1, "*", &ignored);
			break;
		}
		ret = send_response(p, resp, err);
		sasl_free_response(&resp);
	}
out:
	sasl_free_response(&initial);
	sasl_free_response(&resp);
	sasl_free(&sa);
	return ret;
}

/* What the server offers, as SASL_BIT()s, USER and APOP included. */
static unsigned offered_mechs(const struct login_params *lp)
{
	unsigned offered = lp->sasl_offered;
	const char *ts;
	size_t tslen;

	if (sasl_apop_timestamp(lp->greeting, lp->greeting_len, &ts, &tslen))
		offered |= SASL_BIT(SASL_APOP);
	/* RFC 2449: a server that answers CAPA lists USER if it takes it;
	 * one that does not answer CAPA predates it and takes USER. */
	if (!lp->capa_answered || (lp->capa & POP3_CAPA_USER))
		offered |= SASL_BIT(SASL_USER);
	return offered;
}

static enum pf_status login_with(struct pop3 *p, const struct login_params *lp,
				 enum sasl_mech m, bool *retry_r,
				 struct error *err)
{
	*retry_r = false;
	if (m == SASL_USER)
		return login_user(p, lp, err);
	if (m == SASL_APOP)
		return login_apop(p, lp, retry_r, err);
	return login_sasl(p, lp, m, retry_r, err);
}

enum pf_status login_run(struct pop3 *p, const struct login_params *lp,
			 struct error *err)
{
	const struct account *a = lp->acct;
	bool tls = transport_is_tls(pop3_transport(p));
	bool plaintext_ok = tls || a->allow_plaintext;
	unsigned offered = offered_mechs(lp), excluded = 0;
	enum pf_status ret = PF_OK;
	bool retry;

	if (a->auth != SASL_AUTO) {
		if (sasl_mech_exposes_secret(a->auth) && !plaintext_ok)
			return error_set(err, PF_NOPERM,
					 "refusing to log in with %s without TLS: it "
					 "would send the %s in clear text "
					 "(allow_plaintext = no); nothing was sent",
					 sasl_wire_name(a->auth),
					 a->auth == SASL_XOAUTH2 ||
					 a->auth == SASL_OAUTHBEARER ? "token"
					 : "password");
		/* RFC 2449: a server that answers CAPA lists the SASL
		 * mechanisms it takes; the secret is not offered to one that
		 * says it cannot use it.  (Without CAPA, AUTH is tried.) */
		if (a->auth != SASL_USER && a->auth != SASL_APOP &&
		    lp->capa_answered && !(offered & SASL_BIT(a->auth)))
			return error_set(err, PF_UNAVAILABLE,
					 "auth = %s, but the server does not offer "
					 "%s (its CAPA SASL line lists%s%s); nothing "
					 "was sent", sasl_config_name(a->auth),
					 sasl_wire_name(a->auth),
					 lp->sasl_offered != 0 ? " other mechanisms"
					 : " none", lp->sasl_offered != 0 ? ", see "
					 "popfetch --serverinfo" : "");
		return login_with(p, lp, a->auth, &retry, err);
	}
	for (;;) {
		enum sasl_mech m = sasl_choose(offered, plaintext_ok, excluded);

		if (m == SASL_AUTO) {
			if (excluded != 0)
				return ret;	/* the last refusal */
			return error_set(err, PF_NOPERM,
					 "the server offers no login mechanism "
					 "that keeps the password secret without "
					 "TLS; use tls = implicit or starttls (or "
					 "allow_plaintext = yes to accept clear "
					 "text); nothing was sent");
		}
		ret = login_with(p, lp, m, &retry, err);
		if (ret == PF_OK || !retry)
			return ret;
		log_verbose(a->name, "the server refused %s%s; trying a weaker "
			    "mechanism", sasl_wire_name(m),
			    m == SASL_APOP ? "" : " before any password was sent");
		excluded |= SASL_BIT(m);
	}
}
