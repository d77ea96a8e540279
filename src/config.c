/*
 * config.c - the INI file: read, inherit [defaults], validate.
 *
 * The only file that includes <iniparser.h>.  Keys are described once, in
 * keys[]; a value is looked up in the account's section, then in
 * [defaults], then the built-in default applies.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iniparser.h>

#include "util.h"

#define DEFAULTS_SECTION "defaults"
#define ACCOUNT_NAME_MAX 64

enum key_type {
	K_STRING, K_PATH, K_BOOL, K_TIMEOUT, K_PORT, K_TLS, K_COMMAND,
	K_DELETE, K_DAYS, K_SIZE, K_ARGV, K_AUTH, K_FINGERPRINT, K_PUBKEY,
	K_TLS_VERSION
};

struct key_def {
	const char *name;
	enum key_type type;
	size_t offset;		/* in struct account */
	bool required;
	const char *dflt;	/* NULL: none (or computed) */
};

#define ACC(field) offsetof(struct account, field)

static const struct key_def keys[] = {
	{ "host", K_STRING, ACC(host), true, NULL },
	{ "port", K_PORT, ACC(port), false, NULL },
	{ "tls", K_TLS, ACC(tls), false, "implicit" },
	{ "ca_file", K_PATH, ACC(ca_file), false, NULL },
	{ "user", K_STRING, ACC(user), true, NULL },
	/* The three secret sources are looked up as a group (see
	 * lookup_secret()). */
	{ "password", K_STRING, ACC(password), false, NULL },
	{ "password_command", K_ARGV, ACC(password_command), false, NULL },
	{ "password_file", K_PATH, ACC(password_file), false, NULL },
	{ "auth", K_AUTH, ACC(auth), false, "auto" },
	{ "allow_plaintext", K_BOOL, ACC(allow_plaintext), false, "no" },
	{ "tls_fingerprint", K_FINGERPRINT, ACC(tls_fingerprint), false, NULL },
	{ "tls_pubkey", K_PUBKEY, ACC(tls_pubkey), false, NULL },
	{ "tls_cert_file", K_PATH, ACC(tls_cert_file), false, NULL },
	{ "tls_key_file", K_PATH, ACC(tls_key_file), false, NULL },
	{ "tls_min_version", K_TLS_VERSION, ACC(tls_min_version), false, "1.2" },
	{ "tls_verify", K_BOOL, ACC(tls_verify), false, "yes" },
	{ "maildir", K_PATH, ACC(maildir), false, NULL },
	{ "mbox", K_PATH, ACC(mbox), false, NULL },
	{ "mda", K_COMMAND, ACC(mda), false, NULL },
	{ "delete", K_DELETE, ACC(del), false, "no" },
	{ "keep_days", K_DAYS, ACC(keep_days), false, NULL },
	{ "max_size", K_SIZE, ACC(max_size), false, NULL },
	{ "received_header", K_BOOL, ACC(received_header), false, "yes" },
	{ "state_dir", K_PATH, ACC(state_dir), false, NULL },
	{ "timeout", K_TIMEOUT, ACC(timeout), false, "60" },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* iniparser reports syntax errors through a callback; keep the last one. */
static char ini_error[512];

static int ini_error_cb(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ini_error, sizeof(ini_error), fmt, ap);
	va_end(ap);
	return 0;
}

char *config_default_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");

	/* XDG base directory spec: relative values are to be ignored. */
	if (xdg != NULL && xdg[0] == '/')
		return xasprintf("%s/popfetch/popfetch.ini", xdg);
	if (home != NULL && home[0] != '\0')
		return xasprintf("%s/.config/popfetch/popfetch.ini", home);
	return NULL;
}

static char *default_state_dir(void)
{
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");

	if (xdg != NULL && xdg[0] == '/')
		return xasprintf("%s/popfetch", xdg);
	if (home != NULL && home[0] != '\0')
		return xasprintf("%s/.local/state/popfetch", home);
	return NULL;
}

static const struct key_def *find_key(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int parse_bool(const char *v, bool *b_r)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*b_r = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*b_r = false;
			return 0;
		}
	}
	return -1;
}

/* A command that splits into words and uses only %u, %a and %%. */
static bool valid_command(const char *v)
{
	const char *why = NULL;
	char **words = util_split_words(v, &why);
	bool ok = words != NULL;
	size_t i;

	for (i = 0; ok && words[i] != NULL; i++) {
		const char *pc = words[i];

		while (ok && (pc = strchr(pc, '%')) != NULL) {
			ok = pc[1] == 'u' || pc[1] == 'a' || pc[1] == '%';
			pc += 2;
		}
	}
	util_free_words(words);
	return ok;
}

/* "1000", "64k", "10M", "2G" (binary multiples). */
static int parse_size(const char *v, unsigned long long *n_r)
{
	char digits[32];
	size_t len = strlen(v);
	unsigned shift = 0;

	if (len == 0 || len >= sizeof(digits))
		return -1;
	memcpy(digits, v, len + 1);
	switch (digits[len - 1]) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	}
	if (shift != 0)
		digits[len - 1] = '\0';
	if (util_parse_ull(digits, 1, ULLONG_MAX >> shift, n_r) < 0)
		return -1;
	*n_r <<= shift;
	return 0;
}

/* A command line that splits into words (no % expansion: password_command). */
static bool valid_argv(const char *v)
{
	const char *why = NULL;
	char **words = util_split_words(v, &why);
	bool ok = words != NULL;

	util_free_words(words);
	return ok;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "sha256:" and 32 bytes of hex, with or without ':' between the bytes
 * (as `openssl x509 -fingerprint -sha256` prints them), any case.
 * Returns the normal form "sha256:" + 64 lowercase hex digits, or NULL. */
static char *parse_fingerprint(const char *v)
{
	char out[7 + 64 + 1];
	size_t n = 0;

	if (strncasecmp(v, "sha256:", 7) != 0)
		return NULL;
	memcpy(out, "sha256:", 7);
	for (v += 7; *v != '\0'; v++) {
		if (*v == ':' && n > 0 && n % 2 == 0 && v[1] != '\0')
			continue;
		if (hexval((unsigned char)*v) < 0 || n == 64)
			return NULL;
		out[7 + n++] = "0123456789abcdef"[hexval((unsigned char)*v)];
	}
	if (n != 64)
		return NULL;
	out[7 + n] = '\0';
	return xstrdup(out);
}

/* "sha256:" and the base64 of 32 bytes (44 characters, one '=' pad). */
static char *parse_pubkey(const char *v)
{
	size_t len;

	if (strncasecmp(v, "sha256:", 7) != 0)
		return NULL;
	v += 7;
	len = strlen(v);
	if (len != 44 || v[43] != '=' ||
	    strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		   "0123456789+/") != 43)
		return NULL;
	return xasprintf("sha256:%s", v);
}

static bool is_printable(const char *v)
{
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return false;
	return true;
}

/* Stores one value into acct per its key definition. */
static enum pf_status set_value(const struct config *cfg, const char *section,
				struct account *acct, const struct key_def *k,
				const char *v, struct error *err)
{
	char *field = (char *)acct + k->offset;
	unsigned long long n;

	switch (k->type) {
	case K_STRING:
		if (v[0] == '\0' || !is_printable(v) || strlen(v) > 255)
			goto bad;
		*(char **)field = xstrdup(v);
		return PF_OK;
	case K_PATH:
		if (v[0] == '\0')
			goto bad;
		*(char **)field = util_expand_home(v);
		if (*(char **)field == NULL)
			return error_set(err, PF_CONFIG,
					 "%s: [%s] %s: cannot expand '~': HOME is not set",
					 cfg->path, section, k->name);
		return PF_OK;
	case K_BOOL:
		if (parse_bool(v, (bool *)field) < 0)
			goto bad;
		return PF_OK;
	case K_TIMEOUT:
		if (util_parse_ull(v, 1, CONFIG_MAX_TIMEOUT, &n) < 0)
			goto bad;
		*(int *)field = (int)n;
		return PF_OK;
	case K_PORT:
		if (util_parse_ull(v, 1, 65535, &n) < 0)
			goto bad;
		*(char **)field = xasprintf("%llu", n);
		return PF_OK;
	case K_COMMAND:
		if (!valid_command(v))
			goto bad;
		*(char **)field = xstrdup(v);
		return PF_OK;
	case K_DELETE:
		if (strcasecmp(v, "no") == 0)
			*(enum delete_mode *)field = DELETE_NO;
		else if (strcasecmp(v, "per-message") == 0)
			*(enum delete_mode *)field = DELETE_PER_MESSAGE;
		else if (strcasecmp(v, "batch") == 0)
			*(enum delete_mode *)field = DELETE_BATCH;
		else
			goto bad;
		return PF_OK;
	case K_DAYS:
		if (util_parse_ull(v, 1, 36500, &n) < 0)
			goto bad;
		*(unsigned *)field = (unsigned)n;
		return PF_OK;
	case K_SIZE:
		if (parse_size(v, &n) < 0)
			goto bad;
		*(unsigned long long *)field = n;
		return PF_OK;
	case K_ARGV:
		if (!valid_argv(v))
			goto bad;
		*(char **)field = xstrdup(v);
		return PF_OK;
	case K_AUTH:
		if (sasl_parse_config_name(v, (enum sasl_mech *)field) < 0)
			goto bad;
		return PF_OK;
	case K_FINGERPRINT:
		if ((*(char **)field = parse_fingerprint(v)) == NULL)
			goto bad;
		return PF_OK;
	case K_PUBKEY:
		if ((*(char **)field = parse_pubkey(v)) == NULL)
			goto bad;
		return PF_OK;
	case K_TLS_VERSION:
		if (strcmp(v, "1.2") == 0)
			*(int *)field = 12;
		else if (strcmp(v, "1.3") == 0)
			*(int *)field = 13;
		else
			goto bad;
		return PF_OK;
	case K_TLS:
		if (strcasecmp(v, "implicit") == 0)
			*(enum tls_mode *)field = TLS_IMPLICIT;
		else if (strcasecmp(v, "starttls") == 0)
			*(enum tls_mode *)field = TLS_STARTTLS;
		else if (strcasecmp(v, "none") == 0)
			*(enum tls_mode *)field = TLS_NONE;
		else
			goto bad;
		return PF_OK;
	}
bad:;
	static const char *const expect[] = {
		[K_STRING] = "a non-empty value of printable characters (at most 255)",
		[K_PATH] = "a path",
		[K_BOOL] = "yes or no",
		[K_TIMEOUT] = "seconds from 1 to 3600",
		[K_PORT] = "a port number from 1 to 65535",
		[K_TLS] = "implicit, starttls or none",
		[K_COMMAND] = "a command with balanced quotes, using only %u, %a "
			      "and %% (an unquoted ';' or '#' starts a comment: "
			      "put the whole value in double quotes)",
		[K_DELETE] = "no, per-message or batch",
		[K_DAYS] = "days from 1 to 36500",
		[K_SIZE] = "a size in bytes, optionally with k, M or G (at least 1)",
		[K_ARGV] = "a command with balanced quotes (an unquoted ';' or "
			   "'#' starts a comment: put the whole value in "
			   "double quotes)",
		[K_AUTH] = "auto, user, apop, plain, login, cram-md5, "
			   "scram-sha-1, scram-sha-256, xoauth2 or oauthbearer",
		[K_FINGERPRINT] = "sha256: and 64 hex digits (popfetch "
				  "--serverinfo prints it)",
		[K_PUBKEY] = "sha256: and 44 base64 characters (popfetch "
			     "--serverinfo prints it)",
		[K_TLS_VERSION] = "1.2 or 1.3",
	};
	char shown[64];

	/* Never echo a password back, not even a malformed one (nor a
	 * command line, which may hold one). */
	if (strncmp(k->name, "password", 8) == 0)
		util_strlcpy(shown, "****", sizeof(shown));
	else
		util_sanitize(shown, sizeof(shown), v, strlen(v));
	return error_set(err, PF_CONFIG, "%s: [%s] %s: '%s' is not valid: expected %s",
			 cfg->path, section, k->name, shown, expect[k->type]);
}

/* Every key of a section must be one we know. */
static enum pf_status check_keys(const struct config *cfg, dictionary *d,
				 const char *section, struct error *err)
{
	int i, n = iniparser_getsecnkeys(d, section);
	const char **names;
	enum pf_status ret = PF_OK;

	if (n <= 0)
		return PF_OK;
	names = xcalloc((size_t)n, sizeof(*names));
	if (iniparser_getseckeys(d, section, names) == NULL)
		n = 0;
	for (i = 0; i < n; i++) {
		const char *key = strchr(names[i], ':');

		key = key != NULL ? key + 1 : names[i];
		/* Run-wide keys belong in [defaults] only. */
		if (strcmp(key, "jobs") == 0) {
			if (strcmp(section, DEFAULTS_SECTION) == 0)
				continue;
			ret = error_set(err, PF_CONFIG,
					"%s: [%s] jobs: belongs in [defaults] (it is "
					"how many accounts run at once)",
					cfg->path, section);
			break;
		}
		if (find_key(key) == NULL) {
			ret = error_set(err, PF_CONFIG, "%s: [%s] %s: unknown key",
					cfg->path, section, key);
			break;
		}
	}
	free(names);
	return ret;
}

static const char *lookup(dictionary *d, const char *section,
			  const char *key, const char **from_r)
{
	char full[256];
	const char *v;

	snprintf(full, sizeof(full), "%s:%s", section, key);
	v = iniparser_getstring(d, full, NULL);
	*from_r = section;
	if (v == NULL) {
		snprintf(full, sizeof(full), DEFAULTS_SECTION ":%s", key);
		v = iniparser_getstring(d, full, NULL);
		*from_r = DEFAULTS_SECTION;
	}
	return v;
}

static bool is_secret_key(const char *key)
{
	return strcmp(key, "password") == 0 ||
	       strcmp(key, "password_command") == 0 ||
	       strcmp(key, "password_file") == 0;
}

/* The secret sources form one setting: an account that sets any of them
 * overrides all three of [defaults] (a password in the section and a
 * password_command in [defaults] is not a conflict). */
static const char *lookup_secret(dictionary *d, const char *section,
				 const char *key, const char **from_r)
{
	static const char *const group[] = { "password", "password_command",
					     "password_file" };
	char full[256];
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(full, sizeof(full), "%s:%s", section, group[i]);
		if (iniparser_find_entry(d, full)) {
			snprintf(full, sizeof(full), "%s:%s", section, key);
			*from_r = section;
			return iniparser_getstring(d, full, NULL);
		}
	}
	snprintf(full, sizeof(full), DEFAULTS_SECTION ":%s", key);
	*from_r = DEFAULTS_SECTION;
	return iniparser_getstring(d, full, NULL);
}

static enum pf_status check_name(const struct config *cfg, const char *name,
				 struct error *err)
{
	size_t len = strlen(name);

	if (len == 0 || len > ACCOUNT_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") != len ||
	    name[0] == '.')
		return error_set(err, PF_CONFIG,
				 "%s: [%s]: an account name may hold only letters, digits, "
				 "'.', '_' and '-' (at most %d, not starting with '.')",
				 cfg->path, name, ACCOUNT_NAME_MAX);
	return PF_OK;
}

/* The combinations of auth and TLS keys that cannot work. */
static enum pf_status check_auth_tls(const struct config *cfg,
				     const char *section,
				     const struct account *acct,
				     struct error *err)
{
	int nsecret = (acct->password != NULL) +
		      (acct->password_command != NULL) +
		      (acct->password_file != NULL);

	if (nsecret > 1)
		return error_set(err, PF_CONFIG,
				 "%s: [%s] password, password_command, "
				 "password_file: set only one of them",
				 cfg->path, section);
	if (acct->tls == TLS_NONE && sasl_mech_exposes_secret(acct->auth) &&
	    !acct->allow_plaintext)
		return error_set(err, PF_CONFIG,
				 "%s: [%s] tls: 'none' with auth = %s would send "
				 "the password in clear text; use tls = implicit or "
				 "starttls, a challenge-response auth (auto, "
				 "scram-sha-256, cram-md5, apop), or set "
				 "allow_plaintext = yes to accept that",
				 cfg->path, section, sasl_config_name(acct->auth));
	if (acct->tls == TLS_NONE &&
	    (acct->tls_fingerprint != NULL || acct->tls_pubkey != NULL ||
	     acct->tls_cert_file != NULL))
		return error_set(err, PF_CONFIG,
				 "%s: [%s] tls: 'none' cannot go with tls_fingerprint, "
				 "tls_pubkey or tls_cert_file", cfg->path, section);
	if (acct->tls_key_file != NULL && acct->tls_cert_file == NULL)
		return error_set(err, PF_CONFIG,
				 "%s: [%s] tls_key_file: needs tls_cert_file",
				 cfg->path, section);
	return PF_OK;
}

static enum pf_status load_account(const struct config *cfg, dictionary *d,
				   const char *section, struct account *acct,
				   struct error *err)
{
	size_t i;
	enum pf_status ret;

	acct->name = xstrdup(section);
	for (i = 0; i < NKEYS; i++) {
		const char *from, *v;

		if (is_secret_key(keys[i].name))
			v = lookup_secret(d, section, keys[i].name, &from);
		else
			v = lookup(d, section, keys[i].name, &from);

		if (v == NULL)
			v = keys[i].dflt;
		if (v == NULL) {
			if (keys[i].required)
				return error_set(err, PF_CONFIG,
						 "%s: [%s] %s: missing (required)",
						 cfg->path, section, keys[i].name);
			continue;
		}
		ret = set_value(cfg, from, acct, &keys[i], v, err);
		if (ret != PF_OK)
			return ret;
	}
	if (acct->port == NULL)
		acct->port = xstrdup(acct->tls == TLS_IMPLICIT ? "995" : "110");
	if (acct->state_dir == NULL) {
		acct->state_dir = default_state_dir();
		if (acct->state_dir == NULL)
			return error_set(err, PF_CONFIG,
					 "%s: [%s] state_dir: not set, and neither "
					 "XDG_STATE_HOME nor HOME is set",
					 cfg->path, section);
	}
	int ndelivery = (acct->maildir != NULL) + (acct->mbox != NULL) +
			(acct->mda != NULL);

	if (ndelivery != 1)
		return error_set(err, PF_CONFIG,
				 "%s: [%s] maildir, mbox, mda: %s (a value in "
				 "[defaults] counts too)", cfg->path, section,
				 ndelivery == 0 ? "missing: set one of them to say "
				 "where mail goes" : "set only one of them");
	if (acct->keep_days != 0 && acct->del != DELETE_NO)
		return error_set(err, PF_CONFIG,
				 "%s: [%s] keep_days: only applies with delete = no "
				 "(with delete set, messages go as soon as they "
				 "are stored)", cfg->path, section);
	return check_auth_tls(cfg, section, acct, err);
}

/* A file holding a password must be private to its owner. */
static enum pf_status check_private(const struct config *cfg, dictionary *d,
				    const struct stat *st, struct error *err)
{
	int i, nsec = iniparser_getnsec(d);
	bool has_password = false;

	for (i = 0; i < nsec && !has_password; i++) {
		char full[256];

		snprintf(full, sizeof(full), "%s:password",
			 iniparser_getsecname(d, i));
		has_password = iniparser_find_entry(d, full);
	}
	if (has_password && (st->st_mode & 077) != 0)
		return error_set(err, PF_NOPERM,
				 "%s: holds a password but is accessible by group or "
				 "others (mode %04o); fix it with: chmod 600 %s",
				 cfg->path, (unsigned)(st->st_mode & 07777),
				 cfg->path);
	return PF_OK;
}

static enum pf_status load_dict(struct config *cfg, dictionary **d_r,
				struct stat *st, struct error *err)
{
	char fdpath[64];
	int fd;

	fd = open(cfg->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set_errno(err, PF_CONFIG, errno, "%s: cannot open",
				       cfg->path);
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return error_set(err, PF_CONFIG, "%s: not a regular file",
				 cfg->path);
	}
	/* Parse the very file whose mode was checked, not whatever the path
	 * names a moment later. */
	snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", fd);
	ini_error[0] = '\0';
	iniparser_set_error_callback(ini_error_cb);
	*d_r = iniparser_load(fdpath);
	close(fd);
	if (*d_r == NULL) {
		/* iniparser says "...syntax error in FILE (LINE):\n-> TEXT". */
		const char *at = strstr(ini_error, fdpath);
		const char *text = strstr(ini_error, "-> ");
		char clean[128];
		int lineno = 0;

		if (at != NULL)
			sscanf(at + strlen(fdpath), " (%d)", &lineno);
		text = text != NULL ? text + 3 : "";
		/* The offending line may be a mistyped password line: never
		 * echo one that mentions a password. */
		if (strcasestr(text, "pass") != NULL)
			util_strlcpy(clean, "(line not shown: it may hold a "
				     "password)", sizeof(clean));
		else
			util_sanitize(clean, sizeof(clean), text, strlen(text));
		if (lineno > 0)
			return error_set(err, PF_CONFIG,
					 "%s: line %d: %s%s%s", cfg->path, lineno,
					 strstr(ini_error, "too long") != NULL
					 ? "line too long" : "syntax error",
					 clean[0] != '\0' ? ": " : "", clean);
		return error_set(err, PF_CONFIG, "%s: cannot parse", cfg->path);
	}
	return PF_OK;
}

static enum pf_status load_jobs(struct config *cfg, dictionary *d,
				struct error *err)
{
	const char *v = iniparser_getstring(d, DEFAULTS_SECTION ":jobs", NULL);
	unsigned long long n;

	cfg->jobs = CONFIG_DEFAULT_JOBS;
	if (v == NULL)
		return PF_OK;
	if (util_parse_ull(v, 1, CONFIG_MAX_JOBS, &n) < 0) {
		char shown[64];

		util_sanitize(shown, sizeof(shown), v, strlen(v));
		return error_set(err, PF_CONFIG,
				 "%s: [defaults] jobs: '%s' is not valid: expected a "
				 "number from 1 to %d", cfg->path, shown,
				 CONFIG_MAX_JOBS);
	}
	cfg->jobs = (unsigned)n;
	return PF_OK;
}

enum pf_status config_load(const char *path, struct config *cfg,
			   struct error *err)
{
	dictionary *d = NULL;
	struct stat st;
	enum pf_status ret;
	int i, nsec;

	memset(cfg, 0, sizeof(*cfg));
	cfg->path = xstrdup(path);
	ret = load_dict(cfg, &d, &st, err);
	if (ret != PF_OK)
		goto out;
	ret = check_private(cfg, d, &st, err);
	if (ret != PF_OK)
		goto out;
	for (i = 0; i < d->size; i++) {
		if (d->key[i] != NULL && d->key[i][0] == ':') {
			ret = error_set(err, PF_CONFIG,
					"%s: %s: key outside any section",
					cfg->path, d->key[i] + 1);
			goto out;
		}
	}
	ret = load_jobs(cfg, d, err);
	if (ret != PF_OK)
		goto out;
	nsec = iniparser_getnsec(d);
	if (nsec > CONFIG_MAX_ACCOUNTS + 1) {
		ret = error_set(err, PF_CONFIG, "%s: too many sections",
				cfg->path);
		goto out;
	}
	cfg->accounts = xcalloc((size_t)nsec + 1, sizeof(*cfg->accounts));
	for (i = 0; i < nsec; i++) {
		const char *section = iniparser_getsecname(d, i);

		ret = check_keys(cfg, d, section, err);
		if (ret != PF_OK)
			goto out;
		if (strcmp(section, DEFAULTS_SECTION) == 0)
			continue;
		ret = check_name(cfg, section, err);
		if (ret != PF_OK)
			goto out;
		ret = load_account(cfg, d, section,
				   &cfg->accounts[cfg->naccounts++], err);
		if (ret != PF_OK)
			goto out;
	}
	if (cfg->naccounts == 0)
		ret = error_set(err, PF_CONFIG,
				"%s: no account: add a section such as [work] "
				"with host, user, password and maildir", cfg->path);
out:
	if (d != NULL) {
		/* iniparser keeps its own copy of every value, the password
		 * included: wipe them all before they go back to malloc. */
		for (i = 0; i < d->size; i++)
			if (d->val[i] != NULL)
				util_wipe(d->val[i], strlen(d->val[i]));
		iniparser_freedict(d);
	}
	if (ret != PF_OK)
		config_free(cfg);
	return ret;
}

const struct account *config_find(const struct config *cfg,
				  const char *name)
{
	size_t i;

	for (i = 0; i < cfg->naccounts; i++)
		if (strcasecmp(cfg->accounts[i].name, name) == 0)
			return &cfg->accounts[i];
	return NULL;
}

static void account_free(struct account *a)
{
	free(a->name);
	free(a->host);
	free(a->port);
	free(a->ca_file);
	free(a->user);
	if (a->password != NULL)
		util_wipe(a->password, strlen(a->password));
	free(a->password);
	free(a->password_command);
	free(a->password_file);
	free(a->tls_fingerprint);
	free(a->tls_pubkey);
	free(a->tls_cert_file);
	free(a->tls_key_file);
	free(a->maildir);
	free(a->mbox);
	free(a->mda);
	free(a->state_dir);
}

void config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->naccounts; i++)
		account_free(&cfg->accounts[i]);
	free(cfg->accounts);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}
