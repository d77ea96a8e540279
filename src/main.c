/*
 * main.c - command line, account selection, exit status of the run.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "log.h"
#include "runner.h"
#include "secret.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: popfetch [OPTION]... [ACCOUNT]...\n"
"Download new mail from POP3 servers into Maildirs, mboxes or an MDA.\n"
"\n"
"Without ACCOUNT, every account of the configuration file is fetched\n"
"(started in file order).  Messages already fetched are recognised by their\n"
"UIDL and never fetched twice; an account's delete setting says whether\n"
"they are deleted on the server once stored.\n"
"\n"
"  -c, --config FILE   read FILE instead of\n"
"                      $XDG_CONFIG_HOME/popfetch/popfetch.ini\n"
"  -j, --jobs N        run up to N accounts at once (default: jobs in\n"
"                      [defaults], else 4)\n"
"  -k, --keep          delete nothing on any server in this run\n"
"  -v, --verbose       one line per message and a summary per account\n"
"      --trace         also show the POP3 dialogue on stderr (passwords\n"
"                      are shown as ****)\n"
"      --serverinfo ACCOUNT\n"
"                      connect, show the greeting, capabilities, TLS\n"
"                      session, certificate and its pins, and quit\n"
"                      without logging in\n"
"  -h, --help          show this help and exit\n"
"  -V, --version       show the version and exit\n"
"\n"
"Exit status: 0 success; 64 usage; 78 configuration; 68 unknown host;\n"
"69 unavailable; 75 temporary failure (try again later); 76 protocol;\n"
"77 permission (login refused, certificate not trusted); 73 cannot create;\n"
"74 I/O error; 70 internal error.  See popfetch(1) and popfetch.ini(5).\n");
}

struct options {
	struct run_options run;
	unsigned jobs;			/* -j; 0: from the config */
	char *config_path;
	char *serverinfo;		/* --serverinfo ACCOUNT */
	char **accounts;
	int naccounts;
};

static enum pf_status parse_args(int argc, char **argv, struct options *o,
				 bool *exit_now_r)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "trace", no_argument, NULL, 'T' },
		{ "keep", no_argument, NULL, 'k' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "serverinfo", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*exit_now_r = false;
	while ((c = getopt_long(argc, argv, "c:j:kvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			free(o->config_path);
			o->config_path = xstrdup(optarg);
			break;
		case 'v':
			if (log_get_level() < LOG_VERBOSE)
				log_set_level(LOG_VERBOSE);
			break;
		case 'T':
			log_set_level(LOG_TRACE);
			break;
		case 'k':
			o->run.keep = true;
			break;
		case 'S':
			free(o->serverinfo);
			o->serverinfo = xstrdup(optarg);
			break;
		case 'j': {
			unsigned long long n;

			if (util_parse_ull(optarg, 1, CONFIG_MAX_JOBS, &n) < 0) {
				fprintf(stderr, "popfetch: -j takes a number "
					"from 1 to %d\n", CONFIG_MAX_JOBS);
				return PF_USAGE;
			}
			o->jobs = (unsigned)n;
			break;
		}
		case 'h':
			usage(stdout);
			*exit_now_r = true;
			return PF_OK;
		case 'V':
			printf("popfetch %s\n", POPFETCH_VERSION);
			*exit_now_r = true;
			return PF_OK;
		default:
			fprintf(stderr, "Try 'popfetch --help' for more information.\n");
			return PF_USAGE;
		}
	}
	o->accounts = argv + optind;
	o->naccounts = argc - optind;
	if (o->serverinfo != NULL && o->naccounts > 0) {
		fprintf(stderr, "popfetch: --serverinfo takes one account and no "
			"other account names\n");
		return PF_USAGE;
	}
	return PF_OK;
}

static void report(const char *account, const struct error *err)
{
	char line[ERROR_TEXT_MAX + ERROR_REPLY_MAX + 32];

	error_format(err, line, sizeof(line));
	log_error(account, "%s", line);
}

/* Every account named on the command line must exist, before any
 * connection is made. */
static enum pf_status select_accounts(const struct config *cfg,
				      const struct options *o,
				      const struct account ***sel_r,
				      size_t *n_r, struct error *err)
{
	const struct account **sel;
	size_t i, n = 0;

	sel = xcalloc(cfg->naccounts + (size_t)o->naccounts, sizeof(*sel));
	if (o->naccounts == 0) {
		for (i = 0; i < cfg->naccounts; i++)
			sel[n++] = &cfg->accounts[i];
	}
	for (i = 0; i < (size_t)o->naccounts; i++) {
		const struct account *a = config_find(cfg, o->accounts[i]);
		char shown[80];
		size_t j;
		bool dup = false;

		if (a == NULL) {
			util_sanitize(shown, sizeof(shown), o->accounts[i],
				      strlen(o->accounts[i]));
			free(sel);
			return error_set(err, PF_USAGE, "%s: no account named '%s'",
					 cfg->path, shown);
		}
		for (j = 0; j < n; j++)
			dup = dup || sel[j] == a;
		if (!dup)
			sel[n++] = a;
	}
	*sel_r = sel;
	*n_r = n;
	return PF_OK;
}

/* --serverinfo ACCOUNT */
static enum pf_status serverinfo(const struct config *cfg, const char *name)
{
	const struct account *a = config_find(cfg, name);
	struct error err;
	enum pf_status ret;

	if (a == NULL) {
		char shown[80];

		util_sanitize(shown, sizeof(shown), name, strlen(name));
		error_set(&err, PF_USAGE, "%s: no account named '%s'", cfg->path,
			  shown);
		report(NULL, &err);
		return PF_USAGE;
	}
	ret = runner_serverinfo(a, &err);
	if (ret != PF_OK)
		report(a->name, &err);
	return ret;
}

/*
 * Accounts without a password source ask for it on the terminal, one
 * after the other and before any account runs (accounts run side by side
 * in child processes, which must not fight over the terminal).  The
 * answer becomes the account's password for this run.
 */
static enum pf_status prompt_secrets(struct config *cfg,
				     const struct account **sel, size_t n,
				     struct error *err)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct account *a = &cfg->accounts[sel[i] - cfg->accounts];
		enum pf_status ret;

		if (!secret_needs_prompt(a))
			continue;
		ret = secret_prompt(a, &a->password, err);
		if (ret != PF_OK)
			return ret;
	}
	return PF_OK;
}

static enum pf_status run_one(const struct account *a,
			      const struct options *o)
{
	struct run_result res;
	struct error err;
	enum pf_status ret = runner_run_account(a, &o->run, &res, &err);

	if (ret != PF_OK)
		report(a->name, &err);
	return ret;
}

/* Runs the accounts, up to jobs at once, each in its own process so that
 * one account's failure, stall or crash never holds up or takes down
 * another.  A child's exit status is its enum pf_status. */
static enum pf_status run_accounts(const struct account **sel, size_t n,
				   const struct options *o, unsigned jobs)
{
	enum pf_status all = PF_OK;
	unsigned nfailed = 0, running = 0;
	size_t next = 0;

	if (jobs <= 1 || n <= 1) {
		for (next = 0; next < n; next++)
			all = error_combine(all, run_one(sel[next], o), &nfailed);
		return all;
	}
	/* Output already written by the parent must not be written again by
	 * a child's copy of the stdio buffers. */
	fflush(NULL);
	while (next < n || running > 0) {
		int status;
		pid_t pid;

		if (next < n && running < jobs) {
			pid = fork();
			if (pid == 0)
				_exit((int)run_one(sel[next], o));
			if (pid < 0) {
				log_error(sel[next]->name, "cannot start: %s",
					  strerror(errno));
				all = error_combine(all, PF_SOFTWARE, &nfailed);
			} else {
				running++;
			}
			next++;
			continue;
		}
		pid = wait(&status);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		running--;
		all = error_combine(all, WIFEXITED(status) &&
				    WEXITSTATUS(status) < PF_STATUS_COUNT
				    ? (enum pf_status)WEXITSTATUS(status)
				    : PF_SOFTWARE, &nfailed);
	}
	return all;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct config cfg = { 0 };
	const struct account **sel = NULL;
	struct error err;
	enum pf_status ret;
	size_t nsel = 0;
	bool exit_now;

	/* A server or MDA that closes on us must not kill the run with
	 * SIGPIPE, nor a file size limit with SIGXFSZ: the write fails with
	 * EPIPE or EFBIG instead, and that account reports it. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	error_clear(&err);
	ret = parse_args(argc, argv, &o, &exit_now);
	if (ret != PF_OK || exit_now)
		goto out;
	if (o.config_path == NULL) {
		o.config_path = config_default_path();
		if (o.config_path == NULL) {
			ret = error_set(&err, PF_CONFIG,
					"neither XDG_CONFIG_HOME nor HOME is set; "
					"name the configuration file with -c FILE");
			report(NULL, &err);
			goto out;
		}
	}
	ret = config_load(o.config_path, &cfg, &err);
	if (ret != PF_OK) {
		report(NULL, &err);
		goto out;
	}
	if (o.serverinfo != NULL) {
		ret = serverinfo(&cfg, o.serverinfo);
		goto out;
	}
	ret = select_accounts(&cfg, &o, &sel, &nsel, &err);
	if (ret == PF_OK)
		ret = prompt_secrets(&cfg, sel, nsel, &err);
	if (ret != PF_OK) {
		report(NULL, &err);
		goto out;
	}
	ret = run_accounts(sel, nsel, &o, o.jobs != 0 ? o.jobs : cfg.jobs);
out:
	free(sel);
	config_free(&cfg);
	free(o.config_path);
	free(o.serverinfo);
	return error_exit_code(ret);
}
