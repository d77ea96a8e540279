/* error.c - the error type and the one mapping to sysexits.h. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "util.h"

void error_clear(struct error *err)
{
	err->status = PF_OK;
	err->text[0] = '\0';
	err->reply[0] = '\0';
}

/* Sets status and text; the reply is left to the caller. */
static void error_vset(struct error *err, enum pf_status status,
		       const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void error_vset(struct error *err, enum pf_status status,
		       const char *fmt, va_list ap)
{
	err->status = status;
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
}

enum pf_status error_set(struct error *err, enum pf_status status,
			 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(err, status, fmt, ap);
	va_end(ap);
	err->reply[0] = '\0';
	return status;
}

enum pf_status error_reword(struct error *err, enum pf_status status,
			    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(err, status, fmt, ap);
	va_end(ap);
	return status;
}

enum pf_status error_set_errno(struct error *err, enum pf_status status,
			       int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	error_vset(err, status, fmt, ap);
	va_end(ap);
	err->reply[0] = '\0';
	len = strlen(err->text);
	snprintf(err->text + len, sizeof(err->text) - len, ": %s",
		 strerror(errnum));
	return status;
}

void error_set_reply(struct error *err, const char *reply, size_t len)
{
	util_sanitize(err->reply, sizeof(err->reply), reply, len);
}

void error_format(const struct error *err, char *buf, size_t size)
{
	if (err->reply[0] != '\0')
		snprintf(buf, size, "%s (server said: %s)", err->text,
			 err->reply);
	else
		snprintf(buf, size, "%s", err->text);
}

int error_exit_code(enum pf_status status)
{
	static const int codes[PF_STATUS_COUNT] = {
		[PF_OK] = EX_OK,
		[PF_USAGE] = EX_USAGE,
		[PF_CONFIG] = EX_CONFIG,
		[PF_NOHOST] = EX_NOHOST,
		[PF_UNAVAILABLE] = EX_UNAVAILABLE,
		[PF_TEMPFAIL] = EX_TEMPFAIL,
		[PF_PROTOCOL] = EX_PROTOCOL,
		[PF_NOPERM] = EX_NOPERM,
		[PF_CANTCREAT] = EX_CANTCREAT,
		[PF_IOERR] = EX_IOERR,
		[PF_SOFTWARE] = EX_SOFTWARE,
	};

	if ((unsigned)status >= PF_STATUS_COUNT)
		return EX_SOFTWARE;
	return codes[status];
}

enum pf_status error_combine(enum pf_status acc, enum pf_status next,
			     unsigned *nfailed)
{
	if (next == PF_OK)
		return acc;
	(*nfailed)++;
	if (*nfailed == 1)
		return next;
	/* Different causes cannot be told by one code: "try again later"
	 * is the only honest summary for cron. */
	return acc == next ? acc : PF_TEMPFAIL;
}

const char *error_status_name(enum pf_status status)
{
	static const char *const names[PF_STATUS_COUNT] = {
		[PF_OK] = "success",
		[PF_USAGE] = "usage error",
		[PF_CONFIG] = "configuration error",
		[PF_NOHOST] = "unknown host",
		[PF_UNAVAILABLE] = "service unavailable",
		[PF_TEMPFAIL] = "temporary failure",
		[PF_PROTOCOL] = "protocol error",
		[PF_NOPERM] = "permission denied",
		[PF_CANTCREAT] = "cannot create file",
		[PF_IOERR] = "input/output error",
		[PF_SOFTWARE] = "internal error",
	};

	if ((unsigned)status >= PF_STATUS_COUNT)
		return "unknown error";
	return names[status];
}
