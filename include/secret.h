/*
 * secret.h - where an account's password (or OAuth2 access token) comes
 * from: `password` inline, `password_command` (run without a shell, first
 * line of its stdout), `password_file` (first line), or a prompt without
 * echo on the terminal when none is configured.
 *
 * A secret is obtained once per run per account, never logged, and wiped
 * from memory when freed.
 */
#ifndef POPFETCH_SECRET_H
#define POPFETCH_SECRET_H

#include <stdbool.h>

#include "config.h"
#include "error.h"

#define SECRET_MAX 65536	/* bytes of a secret (tokens are a few KB) */
#define SECRET_COMMAND_TIMEOUT 60	/* seconds a password_command may take */

/* True if the account has no password source configured, so that the
 * secret must be asked for on the terminal. */
bool secret_needs_prompt(const struct account *a);

/*
 * Asks for the secret of account a on the controlling terminal: prompt
 * "Password for NAME (USER@HOST): " on stderr, echo off (restored, also
 * when interrupted by a signal that was raised while reading), one line
 * read from stdin a byte at a time (nothing after the line is consumed).
 * PF_CONFIG ("[NAME] no password, password_command or password_file, and
 * standard input is not a terminal to ask") when stdin is not a terminal;
 * PF_CONFIG on EOF or an empty line; PF_TEMPFAIL if SIGINT, SIGTERM,
 * SIGHUP or SIGQUIT arrived and did not end the process (their original
 * disposition is applied with echo back on; after SIGTSTP and SIGCONT the
 * prompt is shown again).  *secret_r: free with secret_free().
 */
enum pf_status secret_prompt(const struct account *a, char **secret_r,
			     struct error *err);

/*
 * Obtains the secret of account a from its configured source:
 *   password          a copy of it
 *   password_file     its first line (without CR/LF); the file must not be
 *                     readable by group or others (PF_NOPERM), and must
 *                     not be empty (PF_CONFIG)
 *   password_command  split with util_split_words() and run without a
 *                     shell (stdin /dev/null, stderr inherited, other fds
 *                     closed); its first stdout line, any further output
 *                     read and discarded; killed after
 *                     SECRET_COMMAND_TIMEOUT s (PF_TEMPFAIL).  Exit status
 *                     0 required: otherwise PF_CONFIG "password_command
 *                     failed (exit status N)" (75 -> PF_TEMPFAIL), or
 *                     "killed by signal N"; empty first line -> PF_CONFIG.
 * Every error names the account and the key, as "[NAME] password_file:
 * ..." or "[NAME] password_command ..." (never the secret or the
 * command's output).  PF_TEMPFAIL also when it cannot be started for lack
 * of resources; "cannot run 'CMD': No such file or directory" (PF_CONFIG)
 * when it cannot be executed at all.  Returns PF_CONFIG when nothing is
 * configured (call secret_prompt() for that case).  *secret_r: free with
 * secret_free().
 */
enum pf_status secret_get(const struct account *a, char **secret_r,
			  struct error *err);

/* Wipes and frees *secret, sets it NULL; *secret may be NULL. */
void secret_free(char **secret);

/* For tests only: the password_command timeout in seconds instead of
 * SECRET_COMMAND_TIMEOUT (0 or less: back to the default). */
void secret_test_set_timeout(int seconds);

#endif
