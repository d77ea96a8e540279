/*
 * report.c - the progress line on a terminal, the per-account results and
 * their JSON summary; the records account processes send to the parent.
 *
 * One table of accounts, in the order they appeared, lives in the process
 * that draws and writes the JSON (the only process, or the parent of -j).
 * A child keeps only what it needs for its own rate and sends the rest.
 */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define REPORT_DRAW_INTERVAL_MS 100	/* at most 10 redraws a second */
#define REPORT_RATE_MIN_MS 500		/* a rate over less is noise */
#define REPORT_END_WAIT_MS 30000	/* a child's wait for pipe room */
#define REPORT_DEFAULT_WIDTH 80
#define REPORT_LINE_MAX 1024
#define REPORT_MAGIC 0x52667050u	/* "PpfR" on little-endian */

#define CLEAR_LINE "\r\033[K"
#define CLEAR_EOL "\033[K"

enum report_role { ROLE_SINGLE = 0, ROLE_PARENT, ROLE_CHILD };
enum record_type { REC_PROGRESS = 1, REC_END = 2 };

struct progress {
	char account[80];
	uint32_t done, total;
	uint64_t bytes, total_bytes;
	int64_t elapsed_ms;	/* since the account's first progress call */
};

/* Parent and children are the same program (fork without exec), so the
 * records are plain structs; a fixed size makes partial reads simple. */
struct record {
	uint32_t magic;
	uint32_t type;
	union {
		struct progress p;
		struct report_result end;
	} u;
};

_Static_assert(sizeof(struct record) <= PIPE_BUF,
	       "a record must fit one atomic pipe write");

struct slot {
	bool have_progress;
	bool ended;
	int64_t first_ms;	/* this process's clock at the first progress */
	struct progress p;
	struct report_result result;	/* valid when ended */
};

struct report_state {
	struct report_options o;	/* paths not kept: see json_path */
	char *json_path;
	enum report_role role;
	bool draw;		/* this process draws the progress line */
	bool drawn;		/* a progress line is on the screen */
	bool drew_once;
	int64_t last_draw_ms;
	int64_t last_send_ms;
	int pipe_r, pipe_w;
	int log_fd;
	bool syslog_open;
	struct slot *slots;
	size_t nslots, cap;
	unsigned naccounts;
	unsigned char in[sizeof(struct record)];	/* a partial record */
	size_t inlen;
	time_t started;
	int64_t start_ms;
};

#define REPORT_STATE_INIT { .pipe_r = -1, .pipe_w = -1, .log_fd = -1 }

static struct report_state R = REPORT_STATE_INIT;
static int64_t (*clock_fn)(void);

static int64_t now_ms(void)
{
	return clock_fn != NULL ? clock_fn() : util_now_ms();
}

void report_set_clock(int64_t (*now)(void))
{
	clock_fn = now;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void report_reset(void)
{
	/* log.c must not keep writing to a descriptor closed here. */
	log_set_file(-1);
	log_set_syslog(0);
	if (R.syslog_open)
		closelog();
	free(R.slots);
	free(R.json_path);
	close_fd(&R.pipe_r);
	close_fd(&R.pipe_w);
	close_fd(&R.log_fd);
	R = (struct report_state)REPORT_STATE_INIT;
}

/* ---- the table of accounts -------------------------------------------- */

static struct slot *slot_find(const char *account)
{
	char name[sizeof(R.slots->p.account)];
	size_t i;

	util_strlcpy(name, account, sizeof(name));
	for (i = 0; i < R.nslots; i++)
		if (strcmp(R.slots[i].p.account, name) == 0)
			return &R.slots[i];
	return NULL;
}

static struct slot *slot_get(const char *account)
{
	struct slot *s = slot_find(account);

	if (s != NULL)
		return s;
	if (R.nslots == R.cap) {
		R.cap = R.cap != 0 ? R.cap * 2 : 16;
		R.slots = xrealloc(R.slots, R.cap * sizeof(*R.slots));
	}
	s = &R.slots[R.nslots++];
	memset(s, 0, sizeof(*s));
	util_strlcpy(s->p.account, account, sizeof(s->p.account));
	return s;
}

const struct report_result *report_result_of(const char *account)
{
	struct slot *s = slot_find(account);

	return s != NULL && s->ended ? &s->result : NULL;
}

void report_set_accounts(unsigned naccounts)
{
	R.naccounts = naccounts;
}

/* ---- formatting ----------------------------------------------------- */

static size_t clamp_len(int n)
{
	return n > 0 ? (size_t)n : 0;
}

/* SI units, so that the numbers match what people compare them with
 * (df -H, network rates). */
static const char *unit_for(uint64_t v, double *div_r)
{
	if (v < 1000) {
		*div_r = 1;
		return "B";
	}
	if (v < 1000000) {
		*div_r = 1e3;
		return "kB";
	}
	if (v < 1000000000) {
		*div_r = 1e6;
		return "MB";
	}
	*div_r = 1e9;
	return "GB";
}

static void format_size(char *buf, size_t size, uint64_t v)
{
	double div;
	const char *unit = unit_for(v, &div);

	if (div == 1)
		snprintf(buf, size, "%llu B", (unsigned long long)v);
	else
		snprintf(buf, size, "%.1f %s", (double)v / div, unit);
}

/* "5.2/48.1 MB": both in the unit of the larger. */
static void format_size_pair(char *buf, size_t size, uint64_t v, uint64_t of)
{
	double div;
	const char *unit = unit_for(v > of ? v : of, &div);

	if (div == 1)
		snprintf(buf, size, "%llu/%llu B", (unsigned long long)v,
			 (unsigned long long)of);
	else
		snprintf(buf, size, "%.1f/%.1f %s", (double)v / div,
			 (double)of / div, unit);
}

/* The rate in bytes per second, or a negative number while unknown. */
static double rate_of(uint64_t bytes, int64_t elapsed_ms)
{
	if (elapsed_ms < REPORT_RATE_MIN_MS || bytes == 0)
		return -1;
	return (double)bytes * 1000.0 / (double)elapsed_ms;
}

static void format_rate(char *buf, size_t size, double rate)
{
	double div;
	const char *unit = unit_for((uint64_t)rate, &div);

	if (div == 1)
		snprintf(buf, size, "%.0f B/s", rate);
	else
		snprintf(buf, size, "%.1f %s/s", rate / div, unit);
}

size_t report_format_progress(char *buf, size_t size, const char *account,
			      uint32_t done, uint32_t total, uint64_t bytes,
			      uint64_t total_bytes, int64_t elapsed_ms)
{
	char sizes[64], rate_text[40] = "", eta[40] = "", r[32];
	double rate = rate_of(bytes, elapsed_ms);

	format_size_pair(sizes, sizeof(sizes), bytes, total_bytes);
	if (rate > 0) {
		format_rate(r, sizeof(r), rate);
		snprintf(rate_text, sizeof(rate_text), ", %s", r);
		if (done < total && total_bytes > bytes) {
			unsigned long long s = (unsigned long long)
				((double)(total_bytes - bytes) / rate + 0.5);

			if (s < 3600)
				snprintf(eta, sizeof(eta), ", ETA %llu:%02llu",
					 s / 60, s % 60);
			else
				snprintf(eta, sizeof(eta),
					 ", ETA %llu:%02llu:%02llu", s / 3600,
					 s / 60 % 60, s % 60);
		}
	}
	return clamp_len(snprintf(buf, size, "%s: %u/%u messages, %s%s%s",
				  account, done, total, sizes, rate_text,
				  eta));
}

size_t report_format_final(char *buf, size_t size,
			   const struct report_result *r)
{
	const struct run_result *s = &r->res;
	char sz[32];

	if (r->status != PF_OK) {
		format_size(sz, sizeof(sz), s->bytes);
		if (s->fetched > 0)
			return clamp_len(snprintf(buf, size,
				"%s: failed (%s) after %u message%s, %s",
				r->account, error_status_name(r->status),
				s->fetched, s->fetched == 1 ? "" : "s", sz));
		return clamp_len(snprintf(buf, size, "%s: failed (%s)",
					  r->account,
					  error_status_name(r->status)));
	}
	if (R.o.check || R.o.dry_run) {
		format_size(sz, sizeof(sz), s->new_bytes);
		if (s->new_msgs == 0)
			return clamp_len(snprintf(buf, size,
						  "%s: no new messages",
						  r->account));
		if (R.o.check)
			return clamp_len(snprintf(buf, size,
				"%s: %u new message%s, %s", r->account,
				s->new_msgs, s->new_msgs == 1 ? "" : "s", sz));
		return clamp_len(snprintf(buf, size,
			"%s: dry run: would fetch %u message%s, %s",
			r->account, s->new_msgs, s->new_msgs == 1 ? "" : "s",
			sz));
	}
	if (s->fetched == 0)
		return clamp_len(snprintf(buf, size, "%s: no new messages",
					  r->account));
	format_size(sz, sizeof(sz), s->bytes);
	return clamp_len(snprintf(buf, size, "%s: %u message%s, %s in %.1f s",
				  r->account, s->fetched,
				  s->fetched == 1 ? "" : "s", sz, r->seconds));
}

/* Cuts text at max bytes, never inside a UTF-8 sequence (an account name
 * may hold one).  A character takes at most as many columns as bytes, so
 * the line never gets wider than max columns. */
static size_t cut_text(char *text, size_t len, size_t max)
{
	if (len <= max)
		return len;
	len = max;
	while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
		len--;
	text[len] = '\0';
	return len;
}

size_t report_format_running(char *buf, size_t size, unsigned width)
{
	char line[REPORT_LINE_MAX];
	size_t len, i, max = width > 1 ? width - 1 : 1;
	unsigned running = 0, ended = 0;
	bool first = true;

	for (i = 0; i < R.nslots; i++) {
		if (R.slots[i].ended)
			ended++;
		else
			running++;
	}
	if (R.naccounts > 0)
		len = clamp_len(snprintf(line, sizeof(line),
					 "[%u running, %u/%u done]", running,
					 ended, R.naccounts));
	else
		len = clamp_len(snprintf(line, sizeof(line),
					 "[%u running, %u done]", running,
					 ended));
	for (i = 0; i < R.nslots && len < sizeof(line) && len <= max; i++) {
		const struct slot *s = &R.slots[i];
		char counts[48] = "", rate[40] = "";
		double bps = rate_of(s->p.bytes, s->p.elapsed_ms);

		if (s->ended)
			continue;
		if (s->have_progress)
			snprintf(counts, sizeof(counts), " %u/%u", s->p.done,
				 s->p.total);
		if (s->have_progress && bps > 0) {
			rate[0] = ' ';
			format_rate(rate + 1, sizeof(rate) - 1, bps);
		}
		len += clamp_len(snprintf(line + len, sizeof(line) - len,
					  "%s%s%s%s", first ? " " : " | ",
					  s->p.account, counts, rate));
		first = false;
	}
	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	(void)cut_text(line, len, max);
	return clamp_len(snprintf(buf, size, "%s", line));
}

/* ---- JSON ----------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlong forms,
 * no surrogates, at most U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

static void put_bytes(char *dst, size_t size, size_t *out, const char *s,
		      size_t n)
{
	size_t i;

	for (i = 0; i < n; i++, (*out)++)
		if (size > 0 && *out < size - 1)
			dst[*out] = s[i];
}

size_t report_json_escape(char *dst, size_t size, const char *src)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t out = 0, n;
	char tmp[8];

	while (*p != '\0') {
		if (*p == '"' || *p == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)*p;
			n = 2;
		} else if (*p == '\n' || *p == '\r' || *p == '\t') {
			tmp[0] = '\\';
			tmp[1] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
			n = 2;
		} else if (*p < 0x20 || *p == 0x7f) {
			n = clamp_len(snprintf(tmp, sizeof(tmp), "\\u%04x",
					       (unsigned)*p));
		} else if (*p < 0x80) {
			tmp[0] = (char)*p;
			n = 1;
		} else if ((n = utf8_len(p)) > 0) {
			put_bytes(dst, size, &out, (const char *)p, n);
			p += n;
			continue;
		} else {
			util_strlcpy(tmp, "\\ufffd", sizeof(tmp));
			n = 6;
		}
		put_bytes(dst, size, &out, tmp, n);
		p++;
	}
	if (size > 0)
		dst[out < size ? out : size - 1] = '\0';
	return out;
}

static void json_put_string(FILE *f, const char *s)
{
	size_t n = report_json_escape(NULL, 0, s);
	char *buf = xmalloc(n + 1);

	report_json_escape(buf, n + 1, s);
	fprintf(f, "\"%s\"", buf);
	free(buf);
}

static void json_put_account(FILE *f, const struct report_result *r)
{
	const struct run_result *s = &r->res;

	fputs("{\"account\":", f);
	json_put_string(f, r->account);
	fprintf(f, ",\"status\":\"%s\",\"exit_status\":%d,\"error\":",
		r->status == PF_OK ? "ok" : "error",
		error_exit_code(r->status));
	if (r->status == PF_OK && r->error[0] == '\0')
		fputs("null", f);
	else
		json_put_string(f, r->error);
	fprintf(f, ",\"fetched\":%u,\"skipped\":%u,\"deleted\":%u,"
		"\"total\":%u,\"bytes\":%llu,\"new_messages\":%u,"
		"\"new_bytes\":%llu,\"seconds\":%.2f}", s->fetched, s->skipped,
		s->deleted, s->total, (unsigned long long)s->bytes,
		s->new_msgs, (unsigned long long)s->new_bytes,
		r->seconds >= 0 ? r->seconds : 0.0);
}

/* An account that started but never ended: its process is gone without a
 * word (report_account_lost() was not called for it). */
static void fill_lost(struct report_result *r, const struct slot *s,
		      enum pf_status st)
{
	memset(r, 0, sizeof(*r));
	util_strlcpy(r->account, s->p.account, sizeof(r->account));
	r->status = st;
	if (st != PF_OK)
		snprintf(r->error, sizeof(r->error),
			 "its process ended without a result (%s)",
			 error_status_name(st));
	if (s->have_progress) {
		r->res.fetched = s->p.done;
		r->res.bytes = s->p.bytes;
		r->res.new_msgs = s->p.total;
		r->res.new_bytes = s->p.total_bytes;
		r->seconds = (double)s->p.elapsed_ms / 1000.0;
	}
}

static char *json_build(enum pf_status run_status, size_t *len_r)
{
	char stamp[32] = "1970-01-01T00:00:00Z";
	char *text = NULL;
	struct tm tm;
	FILE *f;
	size_t i;

	f = open_memstream(&text, len_r);
	if (f == NULL)
		return NULL;
	if (gmtime_r(&R.started, &tm) != NULL)
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "{\"popfetch\":\"%s\",\"started\":\"%s\",\"seconds\":%.2f,"
		"\"exit_status\":%d,\"accounts\":[", POPFETCH_VERSION, stamp,
		(double)(now_ms() - R.start_ms) / 1000.0,
		error_exit_code(run_status));
	for (i = 0; i < R.nslots; i++) {
		struct report_result lost;
		const struct report_result *r = &R.slots[i].result;

		if (!R.slots[i].ended) {
			fill_lost(&lost, &R.slots[i], PF_SOFTWARE);
			r = &lost;
		}
		fputs(i > 0 ? ",\n  " : "\n  ", f);
		json_put_account(f, r);
	}
	fputs(R.nslots > 0 ? "\n]}\n" : "]}\n", f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* The directory of path as a new string ("." for a bare name). */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

static enum pf_status json_check_dir(const char *path, struct error *err)
{
	char *dir = dir_of(path);
	char shown[256];
	struct stat st;
	enum pf_status ret = PF_OK;

	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		util_sanitize(shown, sizeof(shown), path, strlen(path));
		ret = error_set(err, PF_CANTCREAT,
				"--json %s: the directory does not exist",
				shown);
	}
	free(dir);
	return ret;
}

/* Temp file in the same directory, fsync, rename, fsync the directory:
 * a reader (a monitoring job) sees the old summary or the new one, never
 * half of one. */
static enum pf_status json_save(const char *path, const char *text,
				size_t len, struct error *err)
{
	char *tmp = xasprintf("%s.XXXXXX", path);
	char *dir = dir_of(path);
	char shown[256];
	enum pf_status ret = PF_OK;
	int fd;

	util_sanitize(shown, sizeof(shown), path, strlen(path));
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = error_set_errno(err, PF_CANTCREAT, errno,
				      "cannot create a temporary file for %s",
				      shown);
		goto out;
	}
	if (fchmod(fd, 0644) < 0 || util_write_all(fd, text, len) < 0 ||
	    fsync(fd) < 0) {
		ret = error_set_errno(err, PF_IOERR, errno,
				      "cannot write the JSON summary %s", shown);
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		ret = error_set_errno(err, PF_IOERR, errno,
				      "cannot write the JSON summary %s", shown);
		unlink(tmp);
		goto out;
	}
	if (util_fsync_dir(-1, dir) < 0)
		ret = error_set_errno(err, PF_IOERR, errno,
				      "cannot write the JSON summary %s", shown);
out:
	free(dir);
	free(tmp);
	return ret;
}

static enum pf_status json_write(enum pf_status run_status,
				 struct error *err)
{
	enum pf_status ret = PF_OK;
	size_t len = 0;
	char *text = json_build(run_status, &len);

	if (text == NULL)
		return error_set_errno(err, PF_SOFTWARE, errno,
				       "cannot build the JSON summary");
	if (strcmp(R.json_path, "-") == 0) {
		if (util_write_all(STDOUT_FILENO, text, len) < 0)
			ret = error_set_errno(err, PF_IOERR, errno,
					      "cannot write the JSON summary "
					      "to stdout");
	} else {
		ret = json_save(R.json_path, text, len, err);
	}
	free(text);
	return ret;
}

/* ---- the terminal --------------------------------------------------- */

static unsigned term_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return REPORT_DEFAULT_WIDTH;
}

/* Redraws in place: "\r", the text, erase to the end of the line.  The
 * cursor stays on the line, so that whatever comes next (a log line
 * starting with "\r\033[K", or the next redraw) takes its place. */
static void draw_text(const char *text)
{
	char out[REPORT_LINE_MAX + 16];
	int n = snprintf(out, sizeof(out), "\r%s" CLEAR_EOL, text);

	if (n > 0)
		(void)util_write_all(STDERR_FILENO, out,
				     (size_t)n < sizeof(out) ? (size_t)n
							     : sizeof(out) - 1);
	R.drawn = true;
}

static bool draw_due(bool force, int64_t now)
{
	if (!R.draw)
		return false;
	if (!force && R.drew_once && now - R.last_draw_ms < REPORT_DRAW_INTERVAL_MS)
		return false;
	R.drew_once = true;
	R.last_draw_ms = now;
	return true;
}

static unsigned count_running(void)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < R.nslots; i++)
		n += !R.slots[i].ended;
	return n;
}

static void draw_running(bool force)
{
	char line[REPORT_LINE_MAX];

	if (!draw_due(force, now_ms()))
		return;
	if (count_running() == 0) {
		if (R.drawn)
			(void)util_write_all(STDERR_FILENO, CLEAR_LINE,
					     strlen(CLEAR_LINE));
		R.drawn = false;
		return;
	}
	report_format_running(line, sizeof(line), term_width());
	draw_text(line);
}

static void draw_single(const struct slot *s, bool force)
{
	char line[REPORT_LINE_MAX];
	size_t len;

	if (!draw_due(force, now_ms()))
		return;
	len = report_format_progress(line, sizeof(line), s->p.account,
				     s->p.done, s->p.total, s->p.bytes,
				     s->p.total_bytes, s->p.elapsed_ms);
	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	cut_text(line, len, term_width() - 1);
	draw_text(line);
}

/* The account's final line takes the place of the progress line; in the
 * parent the combined line of the others follows it, all in one write. */
static void draw_final(const struct report_result *r)
{
	char final[REPORT_LINE_MAX], running[REPORT_LINE_MAX] = "";
	char out[2 * REPORT_LINE_MAX + 32];
	bool more = R.role == ROLE_PARENT && count_running() > 0;
	int n;

	if (!R.draw)
		return;
	report_format_final(final, sizeof(final), r);
	if (more)
		report_format_running(running, sizeof(running), term_width());
	n = snprintf(out, sizeof(out), CLEAR_LINE "%s\n%s%s", final, running,
		     more ? CLEAR_EOL : "");
	if (n > 0)
		(void)util_write_all(STDERR_FILENO, out,
				     (size_t)n < sizeof(out) ? (size_t)n
							     : sizeof(out) - 1);
	R.drawn = more;
	R.drew_once = true;
	R.last_draw_ms = now_ms();
}

/* ---- records between the processes ---------------------------------- */

size_t report_record_size(void)
{
	return sizeof(struct record);
}

int report_record_fd(void)
{
	return R.pipe_w;
}

void report_encode_progress(void *rec, const char *account, uint32_t done,
			    uint32_t total, uint64_t bytes,
			    uint64_t total_bytes, int64_t elapsed_ms)
{
	struct record r;

	/* Zeroed whole, padding included: nothing stale crosses the pipe. */
	memset(&r, 0, sizeof(r));
	r.magic = REPORT_MAGIC;
	r.type = REC_PROGRESS;
	util_strlcpy(r.u.p.account, account, sizeof(r.u.p.account));
	r.u.p.done = done;
	r.u.p.total = total;
	r.u.p.bytes = bytes;
	r.u.p.total_bytes = total_bytes;
	r.u.p.elapsed_ms = elapsed_ms;
	memcpy(rec, &r, sizeof(r));
}

void report_encode_end(void *rec, const struct report_result *res)
{
	struct record r;

	memset(&r, 0, sizeof(r));
	r.magic = REPORT_MAGIC;
	r.type = REC_END;
	r.u.end = *res;
	memcpy(rec, &r, sizeof(r));
}

/* One write of the whole record: a pipe write of at most PIPE_BUF bytes
 * is atomic, so it is all there or not at all, never mixed with another
 * child's.  wait: an end record waits for room in the pipe. */
static bool send_record(const struct record *rec, bool wait)
{
	int64_t deadline = util_now_ms() + REPORT_END_WAIT_MS;

	for (;;) {
		ssize_t n = write(R.pipe_w, rec, sizeof(*rec));
		struct pollfd pfd = { .fd = R.pipe_w, .events = POLLOUT };
		int64_t left;

		if (n == (ssize_t)sizeof(*rec))
			return true;
		if (n >= 0 || (errno != EINTR && errno != EAGAIN))
			return false;
		if (errno == EINTR)
			continue;
		left = deadline - util_now_ms();
		if (!wait || left <= 0)
			return false;
		(void)poll(&pfd, 1, left > 1000 ? 1000 : (int)left);
	}
}

/* ---- what the parent receives --------------------------------------- */

static void end_local(const struct report_result *r)
{
	struct slot *s = slot_get(r->account);

	s->result = *r;
	util_strlcpy(s->result.account, s->p.account,
		     sizeof(s->result.account));
	s->ended = true;
	draw_final(&s->result);
}

static void received_progress(struct progress *p)
{
	struct slot *s;
	bool first;

	p->account[sizeof(p->account) - 1] = '\0';
	s = slot_get(p->account);
	if (s->ended)
		return;
	first = !s->have_progress;
	s->have_progress = true;
	s->p = *p;
	draw_running(first || p->done >= p->total);
}

static void handle_record(void)
{
	struct record rec;
	uint32_t magic = REPORT_MAGIC;
	size_t i;

	memcpy(&rec, R.in, sizeof(rec));
	if (rec.magic != REPORT_MAGIC) {
		/* Cannot happen with atomic writes; resynchronise on the
		 * next magic rather than misread everything after. */
		for (i = 1; i + sizeof(magic) <= R.inlen; i++)
			if (memcmp(R.in + i, &magic, sizeof(magic)) == 0)
				break;
		memmove(R.in, R.in + i, R.inlen - i);
		R.inlen -= i;
		return;
	}
	R.inlen = 0;
	if (rec.type == REC_PROGRESS) {
		received_progress(&rec.u.p);
	} else if (rec.type == REC_END) {
		rec.u.end.account[sizeof(rec.u.end.account) - 1] = '\0';
		rec.u.end.error[sizeof(rec.u.end.error) - 1] = '\0';
		end_local(&rec.u.end);
	}
}

static void feed(const unsigned char *p, size_t n)
{
	while (n > 0) {
		size_t take = sizeof(R.in) - R.inlen;

		if (take > n)
			take = n;
		memcpy(R.in + R.inlen, p, take);
		R.inlen += take;
		p += take;
		n -= take;
		if (R.inlen == sizeof(R.in))
			handle_record();
	}
}

void report_parent_read(void)
{
	unsigned char buf[8 * sizeof(struct record)];

	while (R.pipe_r >= 0) {
		ssize_t n = read(R.pipe_r, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		feed(buf, (size_t)n);
	}
}

int report_parent_fd(void)
{
	return R.pipe_r;
}

void report_begin_parallel(void)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_warn(NULL, "cannot make a pipe for the accounts' progress "
			 "and results: %s", strerror(errno));
		return;
	}
	R.pipe_r = fds[0];
	R.pipe_w = fds[1];
	R.role = ROLE_PARENT;
}

void report_child(void)
{
	close_fd(&R.pipe_r);
	R.role = ROLE_CHILD;
	/* The parent draws; the child's log lines still clear its line
	 * (log.c keeps progress active). */
	R.draw = false;
	R.drawn = false;
	R.inlen = 0;
}

/* ---- the calls of a run --------------------------------------------- */

enum pf_status report_init(const struct report_options *o, struct error *err)
{
	const char *term = getenv("TERM"), *no_color = getenv("NO_COLOR");
	bool ansi = term != NULL && *term != '\0' && strcmp(term, "dumb") != 0;
	bool tty = isatty(STDERR_FILENO);
	enum pf_status ret = PF_OK;
	char shown[256];

	error_clear(err);
	report_reset();
	R.o = *o;
	R.o.json_path = NULL;
	R.o.log_file = NULL;
	R.started = time(NULL);
	R.start_ms = now_ms();
	if (o->json_path != NULL) {
		if (strcmp(o->json_path, "-") != 0) {
			ret = json_check_dir(o->json_path, err);
			if (ret != PF_OK)
				goto out;
		}
		R.json_path = xstrdup(o->json_path);
	}
	if (o->log_file != NULL) {
		R.log_fd = open(o->log_file, O_WRONLY | O_APPEND | O_CREAT |
				O_CLOEXEC | O_NOCTTY, 0600);
		if (R.log_fd < 0) {
			util_sanitize(shown, sizeof(shown), o->log_file,
				      strlen(o->log_file));
			ret = error_set_errno(err, PF_CANTCREAT, errno,
					      "cannot open the log file %s",
					      shown);
			goto out;
		}
		log_set_file(R.log_fd);
	}
	if (o->syslog) {
		openlog("popfetch", LOG_PID, LOG_MAIL);
		R.syslog_open = true;
		log_set_syslog(1);
	}
	R.draw = !o->quiet && tty && ansi;
	log_set_progress_active(R.draw);
	log_set_color(o->color == REPORT_COLOR_ALWAYS ||
		      (o->color == REPORT_COLOR_AUTO && tty && ansi &&
		       (no_color == NULL || *no_color == '\0')));
out:
	return ret;
}

void report_account_start(const char *account)
{
	slot_get(account);
	if (R.role == ROLE_PARENT)
		draw_running(false);
}

void report_progress(const char *account, uint32_t done, uint32_t total,
		     uint64_t bytes, uint64_t total_bytes)
{
	struct slot *s = slot_get(account);
	int64_t now = now_ms();
	bool first = !s->have_progress, force;
	struct record rec;

	if (first)
		s->first_ms = now;
	s->have_progress = true;
	s->p.done = done;
	s->p.total = total;
	s->p.bytes = bytes;
	s->p.total_bytes = total_bytes;
	s->p.elapsed_ms = now - s->first_ms;
	force = first || done >= total;
	switch (R.role) {
	case ROLE_CHILD:
		if (R.pipe_w < 0 || (!force && now - R.last_send_ms <
					       REPORT_DRAW_INTERVAL_MS))
			return;
		report_encode_progress(&rec, s->p.account, done, total, bytes,
				       total_bytes, s->p.elapsed_ms);
		/* Progress is never worth waiting for: dropped if the
		 * pipe is full, the next one will do. */
		if (send_record(&rec, false))
			R.last_send_ms = now;
		break;
	case ROLE_PARENT:
		draw_running(force);
		break;
	case ROLE_SINGLE:
		draw_single(s, force);
		break;
	}
}

/* The account's summary line: the log file and syslog always; stdout at
 * -v (log_summary) once the account got as far as its listing, as the -v
 * lines always did. */
static void summary(const struct report_result *r)
{
	const struct run_result *s = &r->res;
	char failed[64] = "", text[256];

	if (r->status != PF_OK)
		snprintf(failed, sizeof(failed), "failed (%s): ",
			 error_status_name(r->status));
	if (R.o.check)
		snprintf(text, sizeof(text), "%scheck: %u new messages, %llu "
			 "bytes, of %u messages", failed, s->new_msgs,
			 (unsigned long long)s->new_bytes, s->total);
	else if (R.o.dry_run)
		snprintf(text, sizeof(text), "%sdry run: would fetch %u "
			 "messages (%llu bytes), skip %u, of %u messages",
			 failed, s->new_msgs, (unsigned long long)s->new_bytes,
			 s->skipped, s->total);
	else
		snprintf(text, sizeof(text), "%sfetched %u, skipped %u, "
			 "deleted %u of %u messages, %llu bytes", failed,
			 s->fetched, s->skipped, s->deleted, s->total,
			 (unsigned long long)s->bytes);
	/* --check and --dry-run print their own lines on stdout. */
	if (!R.o.check && !R.o.dry_run &&
	    (r->status == PF_OK || s->fetched > 0 || s->total > 0))
		log_summary(r->account, "%s", text);
	else
		log_summary_record(r->account, "%s", text);
}

void report_account_end(const struct report_result *r)
{
	struct record rec;

	summary(r);
	if (R.role != ROLE_CHILD) {
		end_local(r);
		return;
	}
	if (R.pipe_w < 0)
		return;
	report_encode_end(&rec, r);
	if (!send_record(&rec, true))
		log_warn(r->account, "could not pass the account's result "
			 "to the parent process: %s", strerror(errno));
}

void report_account_lost(const char *account, enum pf_status st)
{
	struct report_result r;
	struct slot *s;

	if (R.role == ROLE_PARENT)
		report_parent_read();
	s = slot_get(account);
	if (s->ended)
		return;
	fill_lost(&r, s, st);
	if (st != PF_OK)
		log_error(r.account, "%s", r.error);
	summary(&r);
	end_local(&r);
}

enum pf_status report_finish(enum pf_status run_status, struct error *err)
{
	enum pf_status ret = PF_OK;

	error_clear(err);
	if (R.role == ROLE_PARENT)
		report_parent_read();
	if (R.draw && R.drawn)
		(void)util_write_all(STDERR_FILENO, CLEAR_LINE,
				     strlen(CLEAR_LINE));
	log_set_progress_active(0);
	if (R.json_path != NULL)
		ret = json_write(run_status, err);
	report_reset();
	return ret;
}
