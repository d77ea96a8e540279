/*
 * test_config.c - config_load() on INI files written to a private
 * directory: inheritance from [defaults], defaults by TLS mode, quoting,
 * "~" expansion, and every kind of bad file, whose error must name the
 * file, the section and the key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "error.h"
#include "testutil.h"

/* A complete account, to add one key to or take one key from. */
#define HOST "host = pop.example.com\n"
#define USER "user = alice\n"
#define PASS "password = s3cret\n"
#define MDIR "maildir = /var/mail/alice\n"
#define GOOD HOST USER PASS MDIR

struct fixture {
	char *dir;
	char *path;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->dir = tu_mkdtemp();
	f->path = tu_join(f->dir, "popfetch.ini");
	/* a known environment: ~ is the private directory */
	setenv("HOME", f->dir, 1);
	unsetenv("XDG_STATE_HOME");
	unsetenv("XDG_CONFIG_HOME");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tu_rm_rf(f->dir);
	free(f->dir);
	free(f->path);
	free(f);
	return 0;
}

static enum pf_status load(struct fixture *f, const char *text, mode_t mode,
			   struct config *cfg, struct error *err)
{
	enum pf_status ret;

	assert_int_equal(tu_write_file(f->path, text, strlen(text), mode), 0);
	memset(cfg, 0, sizeof(*cfg));
	error_clear(err);
	ret = config_load(f->path, cfg, err);
	return ret;
}

static struct config load_ok(struct fixture *f, const char *text)
{
	struct config cfg;
	struct error err;

	if (load(f, text, 0600, &cfg, &err) != PF_OK)
		fail_msg("unexpected error: %s", err.text);
	assert_int_equal(err.status, PF_OK);
	assert_string_equal(cfg.path, f->path);
	return cfg;
}

/* A mistyped password line is a syntax error whose text must not be
 * echoed: found by fuzz_config. */
static void test_syntax_error_hides_password(void **state)
{
	static const char *const texts[] = {
		"[a]\npassword: Sekr3tPw\n",
		"[a]\nhost = h\n\"password\" \"Sekr3tPw\"\n",
		"[a]\nPassWord Sekr3tPw\n",
	};
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct config cfg;
		struct error err;
		char line[ERROR_TEXT_MAX + ERROR_REPLY_MAX + 32];

		assert_int_equal(load(f, texts[i], 0600, &cfg, &err), PF_CONFIG);
		error_format(&err, line, sizeof(line));
		if (strstr(line, "Sekr3tPw") != NULL)
			fail_msg("case %zu: the password is in the error: %s", i,
				 line);
		assert_non_null(strstr(line, "line "));
	}
}

/* ---- good files ---- */

static void test_minimal(void **state)
{
	struct fixture *f = *state;
	struct config cfg = load_ok(f, "[work]\n" GOOD);
	const struct account *a;
	char *sd = tu_join(f->dir, ".local/state/popfetch");

	assert_int_equal(cfg.naccounts, 1);
	a = &cfg.accounts[0];
	assert_string_equal(a->name, "work");
	assert_string_equal(a->host, "pop.example.com");
	assert_string_equal(a->port, "995");
	assert_int_equal(a->tls, TLS_IMPLICIT);
	assert_null(a->ca_file);
	assert_string_equal(a->user, "alice");
	assert_string_equal(a->password, "s3cret");
	assert_false(a->allow_plaintext);
	assert_string_equal(a->maildir, "/var/mail/alice");
	assert_true(a->received_header);
	assert_string_equal(a->state_dir, sd);
	assert_int_equal(a->timeout, 60);
	config_free(&cfg);
	free(sd);
}

static void test_every_key(void **state)
{
	struct fixture *f = *state;
	struct config cfg = load_ok(f,
		"[work]\n"
		"host = mail.example.org\n"
		"port = 1995\n"
		"tls = starttls\n"
		"ca_file = /etc/ssl/my-ca.pem\n"
		"user = bob@example.org\n"
		"password = pw\n"
		"allow_plaintext = yes\n"
		"maildir = /srv/mail/bob\n"
		"received_header = no\n"
		"state_dir = /srv/state\n"
		"timeout = 3600\n");
	const struct account *a = &cfg.accounts[0];

	assert_int_equal(cfg.naccounts, 1);
	assert_string_equal(a->host, "mail.example.org");
	assert_string_equal(a->port, "1995");
	assert_int_equal(a->tls, TLS_STARTTLS);
	assert_string_equal(a->ca_file, "/etc/ssl/my-ca.pem");
	assert_string_equal(a->user, "bob@example.org");
	assert_string_equal(a->password, "pw");
	assert_true(a->allow_plaintext);
	assert_string_equal(a->maildir, "/srv/mail/bob");
	assert_false(a->received_header);
	assert_string_equal(a->state_dir, "/srv/state");
	assert_int_equal(a->timeout, 3600);
	config_free(&cfg);
}

/* Every key may sit in [defaults]; accounts inherit and override it, and
 * come out in file order. */
static void test_defaults(void **state)
{
	struct fixture *f = *state;
	struct config cfg = load_ok(f,
		"[defaults]\n"
		"host = pop.example.com\n"
		"user = alice\n"
		"password = common\n"
		"timeout = 30\n"
		"tls = starttls\n"
		"state_dir = /srv/state\n"
		"received_header = no\n"
		"\n"
		"[zeta]\n"
		"maildir = /m/zeta\n"
		"timeout = 10\n"
		"\n"
		"[alpha]\n"
		"maildir = /m/alpha\n"
		"host = other.example.com\n"
		"tls = implicit\n"
		"password = own\n"
		"received_header = yes\n");
	const struct account *z, *a;

	assert_int_equal(cfg.naccounts, 2);
	z = &cfg.accounts[0];
	a = &cfg.accounts[1];
	assert_string_equal(z->name, "zeta");
	assert_string_equal(z->host, "pop.example.com");
	assert_string_equal(z->user, "alice");
	assert_string_equal(z->password, "common");
	assert_int_equal(z->timeout, 10);
	assert_int_equal(z->tls, TLS_STARTTLS);
	assert_string_equal(z->port, "110");
	assert_string_equal(z->state_dir, "/srv/state");
	assert_false(z->received_header);
	assert_string_equal(z->maildir, "/m/zeta");

	assert_string_equal(a->name, "alpha");
	assert_string_equal(a->host, "other.example.com");
	assert_string_equal(a->user, "alice");
	assert_string_equal(a->password, "own");
	assert_int_equal(a->timeout, 30);
	assert_int_equal(a->tls, TLS_IMPLICIT);
	assert_string_equal(a->port, "995");
	assert_true(a->received_header);
	assert_string_equal(a->maildir, "/m/alpha");

	assert_ptr_equal(config_find(&cfg, "alpha"), a);
	assert_ptr_equal(config_find(&cfg, "ZETA"), z);
	assert_ptr_equal(config_find(&cfg, "Zeta"), z);
	assert_null(config_find(&cfg, "defaults"));
	assert_null(config_find(&cfg, "nope"));
	assert_null(config_find(&cfg, "zet"));
	config_free(&cfg);
}

static void test_section_case(void **state)
{
	struct fixture *f = *state;
	struct config cfg = load_ok(f, "[My.Work_Box-2]\n" GOOD);

	assert_string_equal(cfg.accounts[0].name, "my.work_box-2");
	assert_non_null(config_find(&cfg, "MY.WORK_BOX-2"));
	config_free(&cfg);
}

/* Quotes keep ';' and '#' (comment characters) inside a password. */
static void test_quoted_password(void **state)
{
	static const struct {
		const char *line, *want;
	} t[] = {
		{ "password = \"pa;ss#w=rd\"\n", "pa;ss#w=rd" },
		{ "password = 'pa;ss#w=rd'\n", "pa;ss#w=rd" },
		{ "password = \"two words\"\n", "two words" },
		{ "password = \"it's\"\n", "it's" },
		{ "password = plain ; a comment\n", "plain" },
	};
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char text[512];
		struct config cfg;

		snprintf(text, sizeof(text), "[work]\n" HOST USER MDIR "%s",
			 t[i].line);
		cfg = load_ok(f, text);
		assert_string_equal(cfg.accounts[0].password, t[i].want);
		config_free(&cfg);
	}
}

static void test_port_by_tls(void **state)
{
	static const struct {
		const char *keys, *port;
		enum tls_mode tls;
	} t[] = {
		{ "", "995", TLS_IMPLICIT },
		{ "tls = implicit\n", "995", TLS_IMPLICIT },
		{ "tls = starttls\n", "110", TLS_STARTTLS },
		{ "tls = none\nallow_plaintext = yes\n", "110", TLS_NONE },
		{ "tls = starttls\nport = 995\n", "995", TLS_STARTTLS },
		{ "tls = implicit\nport = 110\n", "110", TLS_IMPLICIT },
		{ "port = 1\n", "1", TLS_IMPLICIT },
		{ "port = 65535\n", "65535", TLS_IMPLICIT },
	};
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char text[512];
		struct config cfg;

		snprintf(text, sizeof(text), "[work]\n" GOOD "%s", t[i].keys);
		cfg = load_ok(f, text);
		assert_string_equal(cfg.accounts[0].port, t[i].port);
		assert_int_equal(cfg.accounts[0].tls, t[i].tls);
		config_free(&cfg);
	}
}

static void test_bools(void **state)
{
	static const struct {
		const char *word;
		bool value;
	} t[] = {
		{ "yes", true }, { "no", false }, { "true", true },
		{ "false", false }, { "1", true }, { "0", false },
		{ "on", true }, { "off", false },
	};
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char text[512];
		struct config cfg;

		snprintf(text, sizeof(text),
			 "[work]\n" GOOD "allow_plaintext = %s\n"
			 "received_header = %s\n", t[i].word, t[i].word);
		cfg = load_ok(f, text);
		assert_int_equal(cfg.accounts[0].allow_plaintext, t[i].value);
		assert_int_equal(cfg.accounts[0].received_header, t[i].value);
		config_free(&cfg);
	}
}

static void test_timeouts(void **state)
{
	struct fixture *f = *state;
	struct config cfg = load_ok(f, "[work]\n" GOOD "timeout = 1\n");

	assert_int_equal(cfg.accounts[0].timeout, 1);
	config_free(&cfg);
}

static void test_home_expansion(void **state)
{
	struct fixture *f = *state;
	struct config cfg = load_ok(f,
		"[defaults]\nstate_dir = ~/st\n"
		"[work]\n" HOST USER PASS "maildir = ~/Mail/work\n"
		"ca_file = ~/ca.pem\n");
	char *md = tu_join(f->dir, "Mail/work");
	char *sd = tu_join(f->dir, "st");
	char *ca = tu_join(f->dir, "ca.pem");

	assert_string_equal(cfg.accounts[0].maildir, md);
	assert_string_equal(cfg.accounts[0].state_dir, sd);
	assert_string_equal(cfg.accounts[0].ca_file, ca);
	config_free(&cfg);
	free(md);
	free(sd);
	free(ca);
}

static void test_xdg_state_home(void **state)
{
	struct fixture *f = *state;
	struct config cfg;

	setenv("XDG_STATE_HOME", "/xdg/state", 1);
	cfg = load_ok(f, "[work]\n" GOOD);
	unsetenv("XDG_STATE_HOME");
	assert_string_equal(cfg.accounts[0].state_dir, "/xdg/state/popfetch");
	config_free(&cfg);
}

static void test_default_path(void **state)
{
	struct fixture *f = *state;
	char *p, *want = tu_join(f->dir, ".config/popfetch/popfetch.ini");

	p = config_default_path();
	assert_non_null(p);
	assert_string_equal(p, want);
	free(p);
	setenv("XDG_CONFIG_HOME", "/xdg/config", 1);
	p = config_default_path();
	assert_string_equal(p, "/xdg/config/popfetch/popfetch.ini");
	free(p);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("HOME");
	assert_null(config_default_path());
	setenv("HOME", f->dir, 1);
	free(want);
}

/* config_free() on an empty config is fine, and twice too. */
static void test_free_empty(void **state)
{
	struct config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	config_free(&cfg);
	config_free(&cfg);
}

/* ---- bad files ---- */

struct bad_case {
	const char *name;
	const char *text;
	mode_t mode;
	enum pf_status status;
	const char *section;	/* must appear in the error; NULL: none */
	const char *key;	/* must appear; "a|b": one of them */
};

#define BAD(name, text, section, key) \
	{ name, text, 0600, PF_CONFIG, section, key }

static const struct bad_case bad_cases[] = {
	BAD("missing host", "[work]\n" USER PASS MDIR, "work", "host"),
	BAD("missing user", "[work]\n" HOST PASS MDIR, "work", "user"),
	BAD("missing maildir", "[work]\n" HOST USER PASS, "work", "maildir"),
	BAD("empty host", "[work]\nhost =\n" USER PASS MDIR, "work", "host"),
	BAD("unknown key", "[work]\n" GOOD "colour = blue\n", "work",
	    "colour"),
	BAD("unknown key in defaults",
	    "[defaults]\ncolour = blue\n[work]\n" GOOD, "defaults", "colour"),
	BAD("bad tls", "[work]\n" GOOD "tls = ssl\n", "work", "tls"),
	BAD("empty tls", "[work]\n" GOOD "tls =\n", "work", "tls"),
	BAD("port 0", "[work]\n" GOOD "port = 0\n", "work", "port"),
	BAD("port 65536", "[work]\n" GOOD "port = 65536\n", "work", "port"),
	BAD("port abc", "[work]\n" GOOD "port = abc\n", "work", "port"),
	BAD("port -1", "[work]\n" GOOD "port = -1\n", "work", "port"),
	BAD("port 99999999999999999999", "[work]\n" GOOD
	    "port = 99999999999999999999\n", "work", "port"),
	BAD("port 110x", "[work]\n" GOOD "port = 110x\n", "work", "port"),
	BAD("port pop3s", "[work]\n" GOOD "port = pop3s\n", "work", "port"),
	BAD("timeout 0", "[work]\n" GOOD "timeout = 0\n", "work", "timeout"),
	BAD("timeout 3601", "[work]\n" GOOD "timeout = 3601\n", "work",
	    "timeout"),
	BAD("timeout abc", "[work]\n" GOOD "timeout = abc\n", "work",
	    "timeout"),
	BAD("timeout -5", "[work]\n" GOOD "timeout = -5\n", "work",
	    "timeout"),
	BAD("timeout 1.5", "[work]\n" GOOD "timeout = 1.5\n", "work",
	    "timeout"),
	BAD("bad timeout in defaults",
	    "[defaults]\ntimeout = never\n[work]\n" GOOD, NULL, "timeout"),
	BAD("bad allow_plaintext", "[work]\n" GOOD "allow_plaintext = maybe\n",
	    "work", "allow_plaintext"),
	BAD("bad received_header", "[work]\n" GOOD "received_header = 2\n",
	    "work", "received_header"),
	BAD("tls none, auth user, without allow_plaintext",
	    "[work]\n" GOOD "tls = none\nauth = user\n", "work",
	    "tls|allow_plaintext"),
	BAD("tls none, auth plain, allow_plaintext no",
	    "[work]\n" GOOD "tls = none\nauth = plain\nallow_plaintext = no\n",
	    "work", "tls|allow_plaintext"),
	BAD("section with a space", "[bad name]\n" GOOD, "bad name", NULL),
	BAD("section with a slash", "[a/b]\n" GOOD, "a/b", NULL),
	BAD("section with a '!'", "[x!]\n" GOOD, "x!", NULL),
	BAD("no accounts", "[defaults]\ntimeout = 5\n", NULL, NULL),
	BAD("empty file", "", NULL, NULL),
	BAD("comments only", "; nothing\n# here\n", NULL, NULL),
	BAD("syntax error", "[work]\n" GOOD "this is not a key value\n", NULL,
	    NULL),
	BAD("one bad account spoils the file",
	    "[good]\n" GOOD "[bad]\n" GOOD "port = 0\n", "bad", "port"),
	{ "password readable by others", "[work]\n" GOOD, 0644, PF_NOPERM,
	  NULL, NULL },
	{ "password readable by group", "[work]\n" GOOD, 0640, PF_NOPERM,
	  NULL, NULL },
	{ "password readable by others only", "[work]\n" GOOD, 0604,
	  PF_NOPERM, NULL, NULL },
};

static bool has_one_of(const char *text, const char *alternatives)
{
	const char *p = alternatives;

	for (;;) {
		const char *bar = strchr(p, '|');
		char word[64];

		snprintf(word, sizeof(word), "%.*s",
			 (int)(bar ? (size_t)(bar - p) : strlen(p)), p);
		if (strstr(text, word) != NULL)
			return true;
		if (bar == NULL)
			return false;
		p = bar + 1;
	}
}

static void test_bad(void **state)
{
	struct fixture *f = *state;
	unsigned nfail = 0;
	size_t i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct config cfg;
		struct error err;
		enum pf_status ret = load(f, c->text, c->mode, &cfg, &err);
		bool good = ret == c->status && err.status == c->status &&
			    strstr(err.text, f->path) != NULL &&
			    (c->section == NULL ||
			     strstr(err.text, c->section) != NULL) &&
			    (c->key == NULL || has_one_of(err.text, c->key)) &&
			    (c->status != PF_NOPERM ||
			     strstr(err.text, "chmod 600") != NULL);

		if (!good) {
			print_error("# %s: got %d '%s', want %d naming "
				    "[%s] %s\n", c->name, ret, err.text,
				    c->status, c->section ? c->section : "",
				    c->key ? c->key : "");
			nfail++;
		}
		/* nothing half-validated comes back */
		if (ret != PF_OK) {
			assert_int_equal(cfg.naccounts, 0);
			assert_null(cfg.accounts);
		}
		config_free(&cfg);
	}
	assert_int_equal(nfail, 0);
}

static void test_missing_file(void **state)
{
	struct fixture *f = *state;
	struct config cfg;
	struct error err;
	char *path = tu_join(f->dir, "nope.ini");

	memset(&cfg, 0, sizeof(cfg));
	error_clear(&err);
	assert_int_equal(config_load(path, &cfg, &err), PF_CONFIG);
	assert_non_null(strstr(err.text, path));
	assert_int_equal(cfg.naccounts, 0);
	config_free(&cfg);
	free(path);
}

/* ---- mbox, mda, delete, keep_days, max_size ---- */

#define ACCT "[work]\n" HOST USER PASS	/* without a delivery */

static void test_delivery_keys(void **state)
{
	struct fixture *f = *state;
	struct config cfg;
	const struct account *a;
	char *mbox = tu_join(f->dir, "Mail/inbox");

	/* the defaults of the new keys */
	cfg = load_ok(f, "[work]\n" GOOD);
	a = &cfg.accounts[0];
	assert_null(a->mbox);
	assert_null(a->mda);
	assert_int_equal(a->del, DELETE_NO);
	assert_int_equal(a->keep_days, 0);
	assert_int_equal(a->max_size, 0);
	config_free(&cfg);

	cfg = load_ok(f, ACCT "mbox = ~/Mail/inbox\n");
	a = &cfg.accounts[0];
	assert_string_equal(a->mbox, mbox);
	assert_null(a->maildir);
	assert_null(a->mda);
	config_free(&cfg);

	cfg = load_ok(f, ACCT "mbox = /var/mail/alice\n");
	assert_string_equal(cfg.accounts[0].mbox, "/var/mail/alice");
	config_free(&cfg);

	/* the command is kept as written; it is split when it runs */
	cfg = load_ok(f, ACCT "mda = /usr/bin/procmail -d %u\n");
	a = &cfg.accounts[0];
	assert_string_equal(a->mda, "/usr/bin/procmail -d %u");
	assert_null(a->maildir);
	assert_null(a->mbox);
	config_free(&cfg);

	cfg = load_ok(f, ACCT "mda = \"sh -c 'exec procmail; x' sh %a%%u\"\n");
	assert_string_equal(cfg.accounts[0].mda,
			    "sh -c 'exec procmail; x' sh %a%%u");
	config_free(&cfg);

	/* the delivery may come from [defaults] */
	cfg = load_ok(f, "[defaults]\nmda = deliver -d %u\n" ACCT);
	assert_string_equal(cfg.accounts[0].mda, "deliver -d %u");
	config_free(&cfg);
	cfg = load_ok(f, "[defaults]\nmbox = /m/box\n" ACCT);
	assert_string_equal(cfg.accounts[0].mbox, "/m/box");
	config_free(&cfg);
	free(mbox);
}

static void test_delete_keep_days(void **state)
{
	static const struct {
		const char *keys;
		enum delete_mode del;
		unsigned days;
	} t[] = {
		{ "delete = no\n", DELETE_NO, 0 },
		{ "delete = per-message\n", DELETE_PER_MESSAGE, 0 },
		{ "delete = batch\n", DELETE_BATCH, 0 },
		{ "delete = BATCH\n", DELETE_BATCH, 0 },
		{ "delete = Per-Message\n", DELETE_PER_MESSAGE, 0 },
		{ "delete = NO\n", DELETE_NO, 0 },
		{ "keep_days = 1\n", DELETE_NO, 1 },
		{ "keep_days = 30\n", DELETE_NO, 30 },
		{ "keep_days = 36500\n", DELETE_NO, 36500 },
		{ "delete = no\nkeep_days = 7\n", DELETE_NO, 7 },
	};
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char text[512];
		struct config cfg;

		snprintf(text, sizeof(text), "[work]\n" GOOD "%s", t[i].keys);
		cfg = load_ok(f, text);
		assert_int_equal(cfg.accounts[0].del, t[i].del);
		assert_int_equal(cfg.accounts[0].keep_days, t[i].days);
		config_free(&cfg);
	}
	/* inherited, and overridden */
	{
		struct config cfg = load_ok(f,
			"[defaults]\ndelete = batch\n"
			"[a]\n" GOOD
			"[b]\n" GOOD "delete = no\nkeep_days = 3\n");

		assert_int_equal(cfg.accounts[0].del, DELETE_BATCH);
		assert_int_equal(cfg.accounts[1].del, DELETE_NO);
		assert_int_equal(cfg.accounts[1].keep_days, 3);
		config_free(&cfg);
	}
}

static void test_max_size(void **state)
{
	static const struct {
		const char *value;
		unsigned long long bytes;
	} t[] = {
		{ "1", 1 },
		{ "1000", 1000 },
		{ "64k", 65536 },
		{ "64K", 65536 },
		{ "10M", 10485760 },
		{ "10m", 10485760 },
		{ "1G", 1073741824ull },
		{ "2g", 2147483648ull },
		{ "17179869183G", 17179869183ull << 30 },
		{ "18446744073709551615", 18446744073709551615ull },
	};
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char text[512];
		struct config cfg;

		snprintf(text, sizeof(text), "[work]\n" GOOD "max_size = %s\n",
			 t[i].value);
		cfg = load_ok(f, text);
		if (cfg.accounts[0].max_size != t[i].bytes)
			fail_msg("max_size = %s: %llu, want %llu", t[i].value,
				 cfg.accounts[0].max_size, t[i].bytes);
		config_free(&cfg);
	}
}

static const struct bad_case bad_issue3[] = {
	/* where mail goes: exactly one of maildir, mbox, mda */
	BAD("no delivery", ACCT, "work", "maildir"),
	BAD("no delivery names mbox", ACCT, "work", "mbox"),
	BAD("no delivery names mda", ACCT, "work", "mda"),
	BAD("maildir and mbox", ACCT MDIR "mbox = /m/box\n", "work", "mbox"),
	BAD("maildir and mbox name maildir", ACCT MDIR "mbox = /m/box\n",
	    "work", "maildir"),
	BAD("maildir and mda", ACCT MDIR "mda = procmail\n", "work", "mda"),
	BAD("mbox and mda", ACCT "mbox = /m/box\nmda = procmail\n", "work",
	    "mda"),
	BAD("all three", ACCT MDIR "mbox = /m/box\nmda = procmail\n", "work",
	    "mbox"),
	BAD("one in defaults, one in the account",
	    "[defaults]\nmbox = /m/box\n" ACCT MDIR, "work", "mbox"),
	BAD("two in defaults", "[defaults]\nmbox = /m/box\nmda = x\n" ACCT,
	    "work", "mda"),
	BAD("empty mbox", ACCT "mbox =\n", "work", "mbox"),
	/* delete */
	BAD("delete yes", "[work]\n" GOOD "delete = yes\n", "work", "delete"),
	BAD("delete empty", "[work]\n" GOOD "delete =\n", "work", "delete"),
	BAD("delete all", "[work]\n" GOOD "delete = all\n", "work", "delete"),
	BAD("delete per_message", "[work]\n" GOOD "delete = per_message\n",
	    "work", "delete"),
	BAD("delete batches", "[work]\n" GOOD "delete = batches\n", "work",
	    "delete"),
	/* keep_days: a number of days, and only with delete = no */
	BAD("keep_days 0", "[work]\n" GOOD "keep_days = 0\n", "work",
	    "keep_days"),
	BAD("keep_days 36501", "[work]\n" GOOD "keep_days = 36501\n", "work",
	    "keep_days"),
	BAD("keep_days -1", "[work]\n" GOOD "keep_days = -1\n", "work",
	    "keep_days"),
	BAD("keep_days 7d", "[work]\n" GOOD "keep_days = 7d\n", "work",
	    "keep_days"),
	BAD("keep_days with per-message",
	    "[work]\n" GOOD "delete = per-message\nkeep_days = 7\n", "work",
	    "keep_days"),
	BAD("keep_days with batch",
	    "[work]\n" GOOD "delete = batch\nkeep_days = 7\n", "work",
	    "keep_days"),
	BAD("keep_days in defaults, delete in the account",
	    "[defaults]\nkeep_days = 7\n[work]\n" GOOD
	    "delete = per-message\n", "work", "keep_days"),
	/* max_size */
	BAD("max_size 0", "[work]\n" GOOD "max_size = 0\n", "work",
	    "max_size"),
	BAD("max_size 0k", "[work]\n" GOOD "max_size = 0k\n", "work",
	    "max_size"),
	BAD("max_size 12x", "[work]\n" GOOD "max_size = 12x\n", "work",
	    "max_size"),
	BAD("max_size k", "[work]\n" GOOD "max_size = k\n", "work",
	    "max_size"),
	BAD("max_size empty", "[work]\n" GOOD "max_size =\n", "work",
	    "max_size"),
	BAD("max_size -1", "[work]\n" GOOD "max_size = -1\n", "work",
	    "max_size"),
	BAD("max_size 1.5M", "[work]\n" GOOD "max_size = 1.5M\n", "work",
	    "max_size"),
	BAD("max_size 10MB", "[work]\n" GOOD "max_size = 10MB\n", "work",
	    "max_size"),
	BAD("max_size 1T", "[work]\n" GOOD "max_size = 1T\n", "work",
	    "max_size"),
	BAD("max_size overflows with G",
	    "[work]\n" GOOD "max_size = 17179869184G\n", "work", "max_size"),
	BAD("max_size overflows with k",
	    "[work]\n" GOOD "max_size = 18014398509481984k\n", "work",
	    "max_size"),
	BAD("max_size overflows",
	    "[work]\n" GOOD "max_size = 18446744073709551616\n", "work",
	    "max_size"),
	/* mda */
	BAD("mda unterminated single quote", ACCT "mda = procmail 'a\n",
	    "work", "mda"),
	BAD("mda unterminated double quote", ACCT "mda = procmail \"-d %u\n",
	    "work", "mda"),
	BAD("mda unterminated quote inside quotes",
	    ACCT "mda = \"sh -c 'exec procmail\"\n", "work", "mda"),
	BAD("mda %x", ACCT "mda = procmail -d %x\n", "work", "mda"),
	BAD("mda %U", ACCT "mda = procmail -d %U\n", "work", "mda"),
	BAD("mda % at the end", ACCT "mda = procmail -d %\n", "work", "mda"),
	BAD("mda %p (no password)", ACCT "mda = procmail %p\n", "work",
	    "mda"),
	BAD("mda %x after %%", ACCT "mda = procmail %%%x\n", "work", "mda"),
	BAD("mda blanks only", ACCT "mda = \"   \"\n", "work", "mda"),
	BAD("mda empty", ACCT "mda =\n", "work", "mda"),
	BAD("bad mda in defaults",
	    "[defaults]\nmda = x %z\n" ACCT, "defaults", "mda"),
};

static void test_bad_issue3(void **state)
{
	struct fixture *f = *state;
	unsigned nfail = 0;
	size_t i;

	for (i = 0; i < sizeof(bad_issue3) / sizeof(bad_issue3[0]); i++) {
		const struct bad_case *c = &bad_issue3[i];
		struct config cfg;
		struct error err;
		enum pf_status ret = load(f, c->text, c->mode, &cfg, &err);
		bool good = ret == c->status && err.status == c->status &&
			    strstr(err.text, f->path) != NULL &&
			    (c->section == NULL ||
			     strstr(err.text, c->section) != NULL) &&
			    (c->key == NULL || has_one_of(err.text, c->key));

		if (!good) {
			print_error("# %s: got %d '%s', want %d naming "
				    "[%s] %s\n", c->name, ret, err.text,
				    c->status, c->section ? c->section : "",
				    c->key ? c->key : "");
			nfail++;
		}
		if (ret != PF_OK) {
			assert_int_equal(cfg.naccounts, 0);
			assert_null(cfg.accounts);
		}
		config_free(&cfg);
	}
	assert_int_equal(nfail, 0);
}

/* ---- issue 6: authentication and TLS keys ---- */

#define FP_HEX "07b9f24b7748de1db83546dd521d7a82bfcaa57a454b2ca031a4dee2f1bff1d0"
#define PUBKEY "9Z7JUA+gmV6GO0zFGDP5Wj1hO9TpZDH9wivEBpOS3rc="

static void test_auth_tls_keys(void **state)
{
	struct fixture *f = *state;
	struct config cfg = load_ok(f,
		"[defaults]\n"
		"password_command = pass show mail\n"
		"auth = SCRAM-SHA-256\n"
		"[a]\n" HOST USER MDIR
		"tls_fingerprint = SHA256:07:B9:F2:4B:77:48:DE:1D:B8:35:46:DD:52:"
		"1D:7A:82:BF:CA:A5:7A:45:4B:2C:A0:31:A4:DE:E2:F1:BF:F1:D0\n"
		"tls_pubkey = sha256:" PUBKEY "\n"
		"tls_cert_file = ~/client.pem\n"
		"tls_min_version = 1.3\n"
		"tls_verify = no\n"
		"[b]\n" HOST USER MDIR
		"password_file = ~/pw\n"
		"auth = xoauth2\n"
		"[c]\n" GOOD);
	const struct account *a = config_find(&cfg, "a");
	const struct account *b = config_find(&cfg, "b");
	const struct account *c = config_find(&cfg, "c");
	char *pem = tu_join(f->dir, "client.pem");
	char *pw = tu_join(f->dir, "pw");

	assert_non_null(a);
	assert_int_equal(a->auth, SASL_SCRAM_SHA_256);
	assert_string_equal(a->password_command, "pass show mail");
	assert_null(a->password);
	assert_string_equal(a->tls_fingerprint, "sha256:" FP_HEX);
	assert_string_equal(a->tls_pubkey, "sha256:" PUBKEY);
	assert_string_equal(a->tls_cert_file, pem);
	assert_null(a->tls_key_file);
	assert_int_equal(a->tls_min_version, 13);
	assert_false(a->tls_verify);
	/* the account's own source overrides all three of [defaults] */
	assert_int_equal(b->auth, SASL_XOAUTH2);
	assert_string_equal(b->password_file, pw);
	assert_null(b->password_command);
	assert_string_equal(c->password, "s3cret");
	assert_null(c->password_command);
	assert_int_equal(c->tls_min_version, 12);
	assert_true(c->tls_verify);
	free(pem);
	free(pw);
	config_free(&cfg);
}

/* No source at all is fine (the secret is asked for on the terminal);
 * tls = none with auth = auto is fine (only challenge-response then). */
static void test_no_secret_source(void **state)
{
	struct fixture *f = *state;
	struct config cfg = load_ok(f, "[a]\n" HOST USER MDIR "tls = none\n");

	assert_null(cfg.accounts[0].password);
	assert_null(cfg.accounts[0].password_command);
	assert_null(cfg.accounts[0].password_file);
	assert_int_equal(cfg.accounts[0].auth, SASL_AUTO);
	config_free(&cfg);
}

#define ACCT6 "[work]\n" HOST USER MDIR

static const struct bad_case bad_issue6[] = {
	BAD("two secret sources", ACCT6 PASS "password_file = /x\n", "work",
	    "password_file"),
	BAD("three secret sources", ACCT6 PASS "password_file = /x\n"
	    "password_command = x\n", "work", "password_command"),
	BAD("unbalanced password_command", ACCT6
	    "password_command = pass 'show\n", "work", "password_command"),
	BAD("unknown auth", ACCT6 PASS "auth = kerberos\n", "work", "auth"),
	BAD("empty auth", ACCT6 PASS "auth =\n", "work", "auth"),
	BAD("fingerprint without sha256:", ACCT6 PASS
	    "tls_fingerprint = " FP_HEX "\n", "work", "tls_fingerprint"),
	BAD("fingerprint too short", ACCT6 PASS
	    "tls_fingerprint = sha256:07b9\n", "work", "tls_fingerprint"),
	BAD("fingerprint too long", ACCT6 PASS
	    "tls_fingerprint = sha256:" FP_HEX "00\n", "work",
	    "tls_fingerprint"),
	BAD("fingerprint not hex", ACCT6 PASS
	    "tls_fingerprint = sha256:" "zz" FP_HEX "\n", "work",
	    "tls_fingerprint"),
	BAD("fingerprint trailing colon", ACCT6 PASS
	    "tls_fingerprint = sha256:" FP_HEX ":\n", "work",
	    "tls_fingerprint"),
	BAD("pubkey wrong length", ACCT6 PASS
	    "tls_pubkey = sha256:9Z7JUA+gmV6G\n", "work", "tls_pubkey"),
	BAD("pubkey bad characters", ACCT6 PASS
	    "tls_pubkey = sha256:9Z7JUA+gmV6GO0zFGDP5Wj1hO9TpZDH9wivEBpOS3r!=\n",
	    "work", "tls_pubkey"),
	BAD("pubkey as md5", ACCT6 PASS "tls_pubkey = md5:" PUBKEY "\n",
	    "work", "tls_pubkey"),
	BAD("tls_min_version 1.1", ACCT6 PASS "tls_min_version = 1.1\n",
	    "work", "tls_min_version"),
	BAD("tls_min_version 3", ACCT6 PASS "tls_min_version = 3\n", "work",
	    "tls_min_version"),
	BAD("bad tls_verify", ACCT6 PASS "tls_verify = sometimes\n", "work",
	    "tls_verify"),
	BAD("key without cert", ACCT6 PASS "tls_key_file = /k.pem\n", "work",
	    "tls_key_file"),
	BAD("pin without tls", ACCT6 PASS "tls = none\n"
	    "tls_fingerprint = sha256:" FP_HEX "\n", "work", "tls"),
	BAD("client cert without tls", ACCT6 PASS "tls = none\n"
	    "tls_cert_file = /c.pem\n", "work", "tls"),
	BAD("tls none with xoauth2", ACCT6 PASS "tls = none\n"
	    "auth = xoauth2\n", "work", "allow_plaintext"),
};

static void test_bad_issue6(void **state)
{
	struct fixture *f = *state;
	unsigned nfail = 0;
	size_t i;

	for (i = 0; i < sizeof(bad_issue6) / sizeof(bad_issue6[0]); i++) {
		const struct bad_case *c = &bad_issue6[i];
		struct config cfg;
		struct error err;
		enum pf_status ret = load(f, c->text, c->mode, &cfg, &err);
		bool good = ret == c->status && err.status == c->status &&
			    strstr(err.text, f->path) != NULL &&
			    strstr(err.text, c->section) != NULL &&
			    has_one_of(err.text, c->key) &&
			    strstr(err.text, "s3cret") == NULL;

		if (!good) {
			print_error("# %s: got %d '%s', want %d naming "
				    "[%s] %s\n", c->name, ret, err.text,
				    c->status, c->section, c->key);
			nfail++;
		}
		config_free(&cfg);
	}
	assert_int_equal(nfail, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_minimal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syntax_error_hides_password,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_section_case, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_quoted_password, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_port_by_tls, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bools, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_home_expansion, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_xdg_state_home, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_default_path, setup,
						teardown),
		cmocka_unit_test(test_free_empty),
		cmocka_unit_test_setup_teardown(test_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_delivery_keys, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_delete_keep_days, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_max_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_issue3, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_auth_tls_keys, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_secret_source, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_issue6, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
