/*
 * main.c - command line, account selection, exit status of the run.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "log.h"
#include "report.h"
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
"      --check         log in and report how many new messages and bytes\n"
"                      wait per account; change nothing (exit 0: new mail\n"
"                      somewhere, 1: none)\n"
"      --dry-run       show what a run would do per message (fetch, skip,\n"
"                      delete) and change nothing, here or on the server\n"
"  -v, --verbose       one line per message and a summary per account\n"
"  -q, --quiet         no progress line on the terminal\n"
"      --trace         also show the POP3 dialogue on stderr (passwords\n"
"                      are shown as ****)\n"
"      --color=WHEN    colour the trace and errors: auto (on a terminal,\n"
"                      the default), always or never\n"
"      --json FILE     write a summary per account as JSON to FILE (- for\n"
"                      standard output)\n"
"      --log-file FILE append timestamped summary and error lines to FILE\n"
"      --syslog        log a summary line per account and each error to\n"
"                      syslog (facility mail)\n"
"      --serverinfo ACCOUNT\n"
"                      connect, show the greeting, capabilities, TLS\n"
"                      session, certificate and its pins, and quit\n"
"                      without logging in\n"
"  -h, --help          show this help and exit\n"
"  -V, --version       show the version and exit\n"
"\n"
"On a terminal, a progress line per account shows messages, bytes, rate\n"
"and time left; nothing is printed under cron unless something fails.\n"
"\n"
"Exit status: 0 success; 64 usage; 78 configuration; 68 unknown host;\n"
"69 unavailable; 75 temporary failure (try again later); 76 protocol;\n"
"77 permission (login refused, certificate not trusted); 73 cannot create;\n"
"74 I/O error; 70 internal error; with --check, 1 when no account has new\n"
"mail.  See popfetch(1) and popfetch.ini(5).\n");
}

struct options {
	struct run_options run;
	struct report_options report;
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
		{ "quiet", no_argument, NULL, 'q' },
		{ "check", no_argument, NULL, 'C' },
		{ "dry-run", no_argument, NULL, 'D' },
		{ "color", required_argument, NULL, 'O' },
		{ "colour", required_argument, NULL, 'O' },
		{ "json", required_argument, NULL, 'J' },
		{ "log-file", required_argument, NULL, 'L' },
		{ "syslog", no_argument, NULL, 'Y' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*exit_now_r = false;
	while ((c = getopt_long(argc, argv, "c:j:kqvhV", longopts, NULL)) != -1) {
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
		case 'q':
			o->report.quiet = true;
			break;
		case 'C':
			o->run.check = true;
			break;
		case 'D':
			o->run.dry_run = true;
			break;
		case 'O':
			if (strcmp(optarg, "auto") == 0)
				o->report.color = REPORT_COLOR_AUTO;
			else if (strcmp(optarg, "always") == 0)
				o->report.color = REPORT_COLOR_ALWAYS;
			else if (strcmp(optarg, "never") == 0)
				o->report.color = REPORT_COLOR_NEVER;
			else {
				fprintf(stderr, "popfetch: --color takes auto, "
					"always or never\n");
				return PF_USAGE;
			}
			break;
		case 'J':
			o->report.json_path = optarg;
			break;
		case 'L':
			o->report.log_file = optarg;
			break;
		case 'Y':
			o->report.syslog = true;
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
	if (o->run.check + o->run.dry_run + (o->serverinfo != NULL) > 1) {
		fprintf(stderr, "popfetch: --check, --dry-run and --serverinfo "
			"exclude each other\n");
		return PF_USAGE;
	}
	o->report.check = o->run.check;
	o->report.dry_run = o->run.dry_run;
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
		if (ret != PF_OK) {
			char text[ERROR_TEXT_MAX];

			/* Name the file too: the fix goes there. */
			util_strlcpy(text, err->text, sizeof(text));
			return error_set(err, ret, "%s: %s", cfg->path, text);
		}
	}
	return PF_OK;
}

static enum pf_status run_one(const struct account *a,
			      const struct options *o)
{
	struct report_result r;
	struct error err;
	int64_t start = util_now_ms();
	enum pf_status ret;

	memset(&r, 0, sizeof(r));
	ret = runner_run_account(a, &o->run, &r.res, &err);
	if (ret != PF_OK) {
		report(a->name, &err);
		error_format(&err, r.error, sizeof(r.error));
	}
	util_strlcpy(r.account, a->name, sizeof(r.account));
	r.status = ret;
	r.seconds = (double)(util_now_ms() - start) / 1000.0;
	report_account_end(&r);
	return ret;
}

/* Reaps the account processes that ended; -1 when none is left. */
static int reap(pid_t *pids, const struct account **sel, size_t n,
		enum pf_status *all, unsigned *nfailed)
{
	int status, reaped = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		enum pf_status st = WIFEXITED(status) &&
				    WEXITSTATUS(status) < PF_STATUS_COUNT
				    ? (enum pf_status)WEXITSTATUS(status)
				    : PF_SOFTWARE;
		size_t i;

		for (i = 0; i < n; i++) {
			if (pids[i] != pid)
				continue;
			pids[i] = 0;
			report_account_lost(sel[i]->name, st);
		}
		*all = error_combine(*all, st, nfailed);
		reaped++;
	}
	if (pid < 0 && errno == ECHILD)
		return -1;
	return reaped;
}

/* Runs the accounts, up to jobs at once, each in its own process so that
 * one account's failure, stall or crash never holds up or takes down
 * another.  A child's exit status is its enum pf_status; its progress and
 * result reach the parent through report.c's pipe. */
static enum pf_status run_accounts(const struct account **sel, size_t n,
				   const struct options *o, unsigned jobs)
{
	enum pf_status all = PF_OK;
	unsigned nfailed = 0, running = 0;
	pid_t *pids;
	size_t next = 0;

	report_set_accounts((unsigned)n);
	if (jobs <= 1 || n <= 1) {
		for (next = 0; next < n; next++) {
			report_account_start(sel[next]->name);
			all = error_combine(all, run_one(sel[next], o), &nfailed);
		}
		return all;
	}
	pids = xcalloc(n, sizeof(*pids));
	report_begin_parallel();
	/* Output already written by the parent must not be written again by
	 * a child's copy of the stdio buffers. */
	fflush(NULL);
	while (next < n || running > 0) {
		struct pollfd pfd = { .fd = report_parent_fd(), .events = POLLIN };
		int r;

		if (next < n && running < jobs) {
			pid_t pid;

			report_account_start(sel[next]->name);
			pid = fork();
			if (pid == 0) {
				report_child();
				_exit((int)run_one(sel[next], o));
			}
			if (pid < 0) {
				log_error(sel[next]->name, "cannot start: %s",
					  strerror(errno));
				report_account_lost(sel[next]->name, PF_SOFTWARE);
				all = error_combine(all, PF_SOFTWARE, &nfailed);
			} else {
				pids[next] = pid;
				running++;
			}
			next++;
			continue;
		}
		/* Wake for progress records, and at least every 100 ms to
		 * reap (no SIGCHLD handler: signals only set flags here). */
		if (poll(&pfd, pfd.fd >= 0 ? 1 : 0, 100) > 0)
			report_parent_read();
		r = reap(pids, sel, n, &all, &nfailed);
		if (r < 0)
			break;
		running -= (unsigned)r;
	}
	free(pids);
	return all;
}

/* --check: 0 if an account has new mail, 1 if none (for scripts: "if
 * popfetch --check; then ..."); a failure keeps its own status. */
static int check_exit(const struct account **sel, size_t n,
		      enum pf_status ret)
{
	size_t i;

	if (ret != PF_OK)
		return error_exit_code(ret);
	for (i = 0; i < n; i++) {
		const struct report_result *r = report_result_of(sel[i]->name);

		if (r != NULL && r->res.new_msgs > 0)
			return 0;
	}
	return 1;
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
	int code = -1;		/* --check's own exit status */
	bool reporting = false;	/* report_init() done */

	/* A server or MDA that closes on us must not kill the run with
	 * SIGPIPE, nor a file size limit with SIGXFSZ: the write fails with
	 * EPIPE or EFBIG instead, and that account reports it. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	error_clear(&err);
	ret = parse_args(argc, argv, &o, &exit_now);
	if (ret != PF_OK || exit_now)
		goto out;
	/* First, so that a configuration error reaches the log file,
	 * syslog and the JSON summary too. */
	ret = report_init(&o.report, &err);
	if (ret != PF_OK) {
		report(NULL, &err);
		goto out;
	}
	reporting = true;
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
	if (o.run.check)
		code = check_exit(sel, nsel, ret);
out:
	if (reporting && report_finish(ret, &err) != PF_OK) {
		report(NULL, &err);
		if (ret == PF_OK)
			ret = err.status;
	}
	free(sel);
	config_free(&cfg);
	free(o.config_path);
	free(o.serverinfo);
	return code >= 0 ? code : error_exit_code(ret);
}
