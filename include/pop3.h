/*
 * pop3.h - a POP3 session (RFC 1939, 2449, 2595) over a transport, and the
 * pure parsers of server replies.
 *
 * Sending and reading are separate calls so that the runner can pipeline
 * commands (RFC 2449 PIPELINING); a reply is read with pop3_read_status()
 * and, for multi-line replies, pop3_read_line() until the end, or
 * pop3_read_body() for a message.  Everything the server sends is bounded:
 * status and listing lines by POP3_MAX_LINE; only message lines stream
 * unbounded.
 */
#ifndef POPFETCH_POP3_H
#define POPFETCH_POP3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dot.h"
#include "error.h"
#include "transport.h"

#define POP3_MAX_LINE 1024	/* status and listing lines, CRLF included */
#define POP3_MAX_ARG 255	/* one command argument */
#define POP3_MAX_UID 70		/* RFC 1939 section 7 */
#define POP3_MAX_MESSAGES 10000000u
#define POP3_MAX_CAPA_LINES 100
#define POP3_BUF_SIZE 65536

/* Capabilities (RFC 2449), as flags. */
enum pop3_capa {
	POP3_CAPA_STLS = 1 << 0,
	POP3_CAPA_UIDL = 1 << 1,
	POP3_CAPA_TOP = 1 << 2,
	POP3_CAPA_USER = 1 << 3,
	POP3_CAPA_PIPELINING = 1 << 4,
	POP3_CAPA_RESP_CODES = 1 << 5,
	POP3_CAPA_SASL = 1 << 6,
	POP3_CAPA_AUTH_RESP_CODE = 1 << 7,
};

/* What a "-ERR [CODE]" says (RFC 2449 section 8, RFC 3206). */
enum pop3_resp_code {
	POP3_RESP_NONE = 0,
	POP3_RESP_IN_USE,
	POP3_RESP_LOGIN_DELAY,
	POP3_RESP_SYS_TEMP,
	POP3_RESP_SYS_PERM,
	POP3_RESP_AUTH,
	POP3_RESP_OTHER
};

/* ---- pure parsers (no I/O; unit-tested) ---- */

/* Parses a status line without its CRLF.  Sets *ok_r (true for "+OK"),
 * *code_r from a leading "[CODE]" after -ERR, *text_r and *textlen_r to the
 * text after the indicator (including any "[CODE]").  PF_PROTOCOL if it starts with neither "+OK"
 * nor "-ERR" (followed by space or end of line) or contains NUL. */
enum pf_status pop3_parse_status(const char *line, size_t len, bool *ok_r,
				 enum pop3_resp_code *code_r,
				 const char **text_r, size_t *textlen_r,
				 struct error *err);

/* Adds the capability named by one CAPA line (no CRLF) to *capa. */
void pop3_parse_capa_line(const char *line, size_t len, unsigned *capa);

/* Parses "NUM UID" from a UIDL listing line.  UID must be 1..70 bytes of
 * 0x21..0x7e; NUM 1..max_num.  uid_r receives a NUL-terminated copy
 * (room for POP3_MAX_UID + 1).  PF_PROTOCOL otherwise. */
enum pf_status pop3_parse_uidl_line(const char *line, size_t len,
				    uint32_t max_num, uint32_t *num_r,
				    char *uid_r, struct error *err);

/* Parses "NUM SIZE" from a LIST line or a STAT reply text ("COUNT SIZE").
 * NUM within min_num..max_num, SIZE a 64-bit decimal.  Text after SIZE is
 * ignored as RFC 1939 allows.  PF_PROTOCOL otherwise. */
enum pf_status pop3_parse_list_line(const char *line, size_t len,
				    uint32_t min_num, uint32_t max_num,
				    uint32_t *num_r, uint64_t *size_r,
				    struct error *err);

/* Checks that a command argument is 1..POP3_MAX_ARG bytes with no control
 * character (spaces and UTF-8 bytes are allowed).  0 if fine, -1 otherwise. */
int pop3_check_arg(const char *arg);

/* Maps a -ERR response code to our status, given the default for a -ERR
 * without one ([IN-USE], [LOGIN-DELAY], [SYS/TEMP] -> PF_TEMPFAIL, [AUTH]
 * -> PF_NOPERM, [SYS/PERM] -> PF_UNAVAILABLE). */
enum pf_status pop3_resp_code_status(enum pop3_resp_code code,
				     enum pf_status dflt);

/* ---- session ---- */

struct pop3;

/* Wraps a connected transport; account names the session in trace lines.
 * The session owns t from now on. */
struct pop3 *pop3_new(struct transport *t, const char *account);

/* Closes the transport and frees *p, setting it to NULL. */
void pop3_free(struct pop3 **p);

struct transport *pop3_transport(struct pop3 *p);

/* Bytes received but not yet parsed (after STLS "+OK" this must be 0). */
size_t pop3_buffered(const struct pop3 *p);

/* Formats a command, appends CRLF and sends it.  Refuses (PF_SOFTWARE) a
 * command containing CR, LF or NUL or longer than POP3_MAX_LINE - 2.
 * Traced as sent. */
enum pf_status pop3_cmd(struct pop3 *p, struct error *err, const char *fmt,
			...) __attribute__((format(printf, 3, 4)));

/* Sends "VERB SECRET" and traces "VERB ****".  The formatted command is
 * wiped from memory after sending. */
enum pf_status pop3_cmd_secret(struct pop3 *p, const char *verb,
			       const char *secret, struct error *err);

/* Queues a command without sending it (for pipelining); pop3_flush()
 * sends everything queued.  Same checks as pop3_cmd(). */
enum pf_status pop3_queue(struct pop3 *p, struct error *err, const char *fmt,
			  ...) __attribute__((format(printf, 3, 4)));
enum pf_status pop3_flush(struct pop3 *p, struct error *err);

/*
 * Reads one status line.  On "+OK" returns PF_OK with *ok_r true; on
 * "-ERR" returns PF_OK with *ok_r false and err->reply holding the
 * sanitized line and *code_r its response code.  Line text without CRLF is
 * available from pop3_last_line() until the next read.  Errors:
 * PF_PROTOCOL (too long, NUL, not +OK/-ERR), PF_TEMPFAIL (EOF, timeout).
 */
enum pf_status pop3_read_status(struct pop3 *p, bool *ok_r,
				enum pop3_resp_code *code_r,
				struct error *err);

/* The last status or listing line read (no CRLF), and its length. */
const char *pop3_last_line(const struct pop3 *p, size_t *len_r);

/*
 * Reads one line of a multi-line reply (CAPA, UIDL, LIST), dot-unstuffed,
 * without CRLF.  Sets *end_r at the terminating "." (then *line_r is
 * NULL).  The line is valid until the next read.  PF_PROTOCOL for a line
 * over POP3_MAX_LINE or containing NUL; PF_TEMPFAIL at EOF or timeout.
 */
enum pf_status pop3_read_line(struct pop3 *p, const char **line_r,
			      size_t *len_r, bool *end_r, struct error *err);

/*
 * Reads the next piece of a message body (after RETR's "+OK"): decoded
 * message bytes (LF line endings) in *data_r / *len_r, valid until the next
 * call.  Sets *end_r once the terminating ".CRLF" was read (*len_r may be 0
 * then).  Start each body with pop3_body_begin().  EOF before the
 * terminator is PF_TEMPFAIL ("connection closed in the middle of a
 * message"), never a short message.
 */
void pop3_body_begin(struct pop3 *p);
enum pf_status pop3_read_body(struct pop3 *p, const char **data_r,
			      size_t *len_r, bool *end_r, struct error *err);

/*
 * Sends one line of any length (a SASL response, RFC 5034: continuation
 * lines are not bound by the command length limit) straight to the
 * transport, after flushing the queue; traces `shown` instead of the line
 * and wipes its copy.  PF_SOFTWARE if the line holds CR, LF or NUL.
 */
enum pf_status pop3_send_secret_line(struct pop3 *p, const char *line,
				     size_t len, const char *shown,
				     struct error *err);

enum pop3_auth_reply {
	POP3_AUTH_OK,		/* "+OK": logged in */
	POP3_AUTH_ERR,		/* "-ERR": err->reply holds the line */
	POP3_AUTH_CONT		/* "+ challenge" */
};

/*
 * Reads a reply during AUTH: "+OK", "-ERR" (err->reply set, *code_r its
 * response code) or a continuation "+ BASE64" (also a bare "+"), whose
 * text after "+ " is in *text_r / *len_r until the next read.  Errors as
 * pop3_read_status().
 */
enum pf_status pop3_read_auth_reply(struct pop3 *p,
				    enum pop3_auth_reply *kind_r,
				    const char **text_r, size_t *len_r,
				    enum pop3_resp_code *code_r,
				    struct error *err);

/* Reads a greeting or status line and turns "-ERR" into an error whose
 * status comes from the response code (dflt without one) and whose text
 * is "what".  A convenience for the simple command/answer steps. */
enum pf_status pop3_expect_ok(struct pop3 *p, enum pf_status dflt,
			      const char *what, struct error *err);

#endif
