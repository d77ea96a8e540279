/*
 * config.h - reads the INI file and yields validated accounts.
 *
 * The only module that includes <iniparser.h>.  [defaults] holds values
 * that every account inherits; each other section is one account named by
 * the section (iniparser lowercases section names).  Every problem is a
 * PF_CONFIG error naming the file, the section and the key; nothing is
 * returned half-validated.
 */
#ifndef POPFETCH_CONFIG_H
#define POPFETCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "sasl.h"

enum tls_mode {
	TLS_IMPLICIT = 0,	/* TLS from the first byte (port 995) */
	TLS_STARTTLS,		/* plain connect, then STLS (RFC 2595) */
	TLS_NONE		/* no TLS at all */
};

enum delete_mode {
	DELETE_NO = 0,		/* leave every message on the server */
	DELETE_PER_MESSAGE,	/* RETR 1, DELE 1, RETR 2, DELE 2 ... ("Foxmail") */
	DELETE_BATCH		/* RETR 1..n, then DELE 1..n ("Outlook") */
};

struct account {
	char *name;		/* section name */
	char *host;
	char *port;		/* numeric string; default from tls */
	enum tls_mode tls;
	char *ca_file;		/* NULL: system trust store */
	char *user;
	/* At most one of password, password_command and password_file is
	 * set; with none, the secret is asked for on the terminal (see
	 * secret.h).  The secret is the OAuth2 access token for xoauth2 and
	 * oauthbearer. */
	char *password;		/* NULL if not configured; wiped on free */
	char *password_command;	/* run without a shell */
	char *password_file;	/* ~ expanded */
	enum sasl_mech auth;	/* SASL_AUTO by default */
	bool allow_plaintext;
	/* TLS (see transport.h, struct tls_params) */
	char *tls_fingerprint;	/* "sha256:" + 64 lowercase hex, or NULL */
	char *tls_pubkey;	/* "sha256:" + 44 base64 chars, or NULL */
	char *tls_cert_file;	/* client certificate (~ expanded), or NULL */
	char *tls_key_file;	/* its key; defaults to tls_cert_file */
	int tls_min_version;	/* 12 or 13 (TLS 1.2, 1.3) */
	bool tls_verify;	/* false: tls_verify = no (warned on every run) */
	char *maildir;		/* ~ expanded; exactly one of maildir, */
	char *mbox;		/* mbox (~ expanded) and */
	char *mda;		/* mda (a command, run without a shell) is set */
	enum delete_mode del;
	unsigned keep_days;	/* 0: off; only with DELETE_NO */
	unsigned long long max_size;	/* bytes; 0: no limit */
	bool received_header;
	char *state_dir;	/* ~ expanded */
	int timeout;		/* seconds */
};

struct config {
	char *path;			/* the file read */
	unsigned jobs;			/* [defaults] jobs: accounts at once */
	struct account *accounts;	/* in file order */
	size_t naccounts;
};

#define CONFIG_MAX_ACCOUNTS 10000
#define CONFIG_DEFAULT_JOBS 4
#define CONFIG_MAX_JOBS 64
#define CONFIG_MAX_TIMEOUT 3600

/*
 * The default configuration path: $XDG_CONFIG_HOME/popfetch/popfetch.ini,
 * else ~/.config/popfetch/popfetch.ini.  Returns a new string, or NULL when
 * neither XDG_CONFIG_HOME nor HOME is set.
 */
char *config_default_path(void);

/*
 * Loads and validates path into *cfg.  Errors (all PF_CONFIG, or
 * PF_NOPERM when a file holding a password is readable by group/others):
 * unreadable file, syntax error, unknown section key, missing or bad value,
 * no account.  On error *cfg is left empty.
 */
enum pf_status config_load(const char *path, struct config *cfg,
			   struct error *err);

/* Finds an account by name (case-insensitive), or NULL. */
const struct account *config_find(const struct config *cfg,
				  const char *name);

/* Frees everything in cfg (passwords wiped); cfg may be empty. */
void config_free(struct config *cfg);

#endif
