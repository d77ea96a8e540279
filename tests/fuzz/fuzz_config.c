/*
 * fuzz_config.c - the INI loader on arbitrary files.
 *
 * The input is written as a private (0600) popfetch.ini in a scratch
 * directory that is also $HOME, and loaded.  A success must hold only
 * validated accounts (config.h's promises); a failure must leave the
 * config empty and explain itself in printable text.  The input (up to a
 * NUL) is also split as an mda command line by util_split_words().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "util.h"
#include "fuzzutil.h"

static char ini_path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = fuzz_scratch_dir();

	(void)argc;
	(void)argv;
	/* "~/..." and the default state_dir come from here, not from the
	 * person running the fuzzer. */
	setenv("HOME", dir, 1);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("XDG_STATE_HOME");
	snprintf(ini_path, sizeof(ini_path), "%s/popfetch.ini", dir);
	return 0;
}

static void check_text(const char *s, size_t size)
{
	FUZZ_CHECK(memchr(s, '\0', size) != NULL);
}

static bool printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void check_account(const struct config *cfg, const struct account *a)
{
	unsigned long port;
	char *end;
	int ndelivery;

	FUZZ_CHECK(a->name != NULL && a->name[0] != '\0' &&
		   a->name[0] != '.' && strlen(a->name) <= 64);
	FUZZ_CHECK(strspn(a->name, "abcdefghijklmnopqrstuvwxyz0123456789._-")
		   == strlen(a->name));
	FUZZ_CHECK(strcmp(a->name, "defaults") != 0);
	FUZZ_CHECK(config_find(cfg, a->name) != NULL);
	FUZZ_CHECK(a->host != NULL && a->host[0] != '\0' && printable(a->host));
	FUZZ_CHECK(a->user != NULL && a->user[0] != '\0' && printable(a->user));
	/* At most one secret source; none means a prompt. */
	FUZZ_CHECK((a->password != NULL) + (a->password_command != NULL) +
		   (a->password_file != NULL) <= 1);
	FUZZ_CHECK(a->password == NULL || printable(a->password));
	FUZZ_CHECK(a->port != NULL);
	port = strtoul(a->port, &end, 10);
	FUZZ_CHECK(*end == '\0' && port >= 1 && port <= 65535);
	FUZZ_CHECK(a->tls == TLS_IMPLICIT || a->tls == TLS_STARTTLS ||
		   a->tls == TLS_NONE);
	FUZZ_CHECK(a->tls != TLS_NONE || a->allow_plaintext ||
		   !sasl_mech_exposes_secret(a->auth));
	FUZZ_CHECK(a->tls_min_version == 12 || a->tls_min_version == 13);
	FUZZ_CHECK(a->tls_key_file == NULL || a->tls_cert_file != NULL);
	FUZZ_CHECK(a->tls_fingerprint == NULL ||
		   strlen(a->tls_fingerprint) == 7 + 64);
	FUZZ_CHECK(a->tls_pubkey == NULL || strlen(a->tls_pubkey) == 7 + 44);
	ndelivery = (a->maildir != NULL) + (a->mbox != NULL) +
		    (a->mda != NULL);
	FUZZ_CHECK(ndelivery == 1);
	FUZZ_CHECK(a->del == DELETE_NO || a->del == DELETE_PER_MESSAGE ||
		   a->del == DELETE_BATCH);
	FUZZ_CHECK(a->keep_days == 0 || a->del == DELETE_NO);
	FUZZ_CHECK(a->keep_days <= 36500);
	FUZZ_CHECK(a->state_dir != NULL && a->state_dir[0] != '\0');
	FUZZ_CHECK(a->timeout >= 1 && a->timeout <= CONFIG_MAX_TIMEOUT);
}

static void check_split(const uint8_t *data, size_t size)
{
	char *cmd = malloc(size + 1);
	const char *why = NULL;
	char **words;
	size_t len, total = 0, i;

	FUZZ_CHECK(cmd != NULL);
	memcpy(cmd, data, size);
	cmd[size] = '\0';
	len = strlen(cmd);
	words = util_split_words(cmd, &why);
	if (words == NULL) {
		FUZZ_CHECK(why != NULL);
	} else {
		FUZZ_CHECK(words[0] != NULL);
		for (i = 0; words[i] != NULL; i++)
			total += strlen(words[i]) + 1;
		/* Quotes, escapes and blanks only ever remove bytes. */
		FUZZ_CHECK(total <= len + 1);
	}
	util_free_words(words);
	free(cmd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct error err;
	enum pf_status ret;
	size_t i;

	fuzz_write_file(ini_path, data, size, 0600);
	error_clear(&err);
	ret = config_load(ini_path, &cfg, &err);
	if (ret == PF_OK) {
		FUZZ_CHECK(cfg.naccounts >= 1 &&
			   cfg.naccounts <= CONFIG_MAX_ACCOUNTS);
		FUZZ_CHECK(cfg.path != NULL && strcmp(cfg.path, ini_path) == 0);
		FUZZ_CHECK(cfg.jobs >= 1 && cfg.jobs <= CONFIG_MAX_JOBS);
		for (i = 0; i < cfg.naccounts; i++)
			check_account(&cfg, &cfg.accounts[i]);
	} else {
		/* A 0600 file is private: only a config error is possible. */
		FUZZ_CHECK(ret == PF_CONFIG);
		FUZZ_CHECK(err.status == PF_CONFIG && err.text[0] != '\0');
		FUZZ_CHECK(cfg.naccounts == 0 && cfg.accounts == NULL &&
			   cfg.path == NULL);
	}
	check_text(err.text, sizeof(err.text));
	config_free(&cfg);
	config_free(&cfg);	/* an empty config may be freed again */
	check_split(data, size);
	return 0;
}
