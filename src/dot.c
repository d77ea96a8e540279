/*
 * dot.c - streaming decoder of a POP3 multi-line reply body (RFC 1939 s.3).
 *
 * The whole decoder is five line positions.  Line bodies are copied with
 * memchr + memcpy; only the first byte or two of a line, and a CR that is
 * the last byte of a chunk, go through the state switch.
 *
 * Decisions where RFC 1939 leaves room:
 *  - The first "." of a line is always a stuffing dot: RFC 1939 says a
 *    server stuffs every line that begins with ".", so a lone first dot
 *    that is not the terminator can only come from stuffing.  ".x" is "x",
 *    and ".\rx" (dot, bare CR, non-LF byte) is "\rx", not ".\rx".
 *  - ".\n" ends the body as ".\r\n" does: some servers send bare LFs.
 *  - A bare LF ends a line (emitted as LF), so the next byte is a line start
 *    for stuffing and for the terminator, as with CRLF.
 *  - A CR not followed by LF is data and is emitted unchanged.  A CR that
 *    ends a chunk is held back until the next byte shows what it is, which
 *    is why out needs inlen + 1 bytes.
 *  - Once the terminator is consumed, further calls consume nothing and
 *    keep returning true; dot_init() starts the next body.
 */
#include <string.h>

#include "dot.h"

enum dot_state {
	DOT_LINE_START = 0,	/* nothing of the current line seen yet */
	DOT_DOT,		/* a line began with "."; it is not emitted */
	DOT_DOT_CR,		/* a line began with ".\r"; neither emitted */
	DOT_BODY,		/* inside a line */
	DOT_CR,			/* inside a line, a CR held back */
	DOT_DONE		/* the terminator was consumed */
};

void dot_init(struct dot *d)
{
	d->state = DOT_LINE_START;
}

bool dot_feed(struct dot *d, const char *in, size_t inlen, char *out,
	      size_t *outlen_r, size_t *consumed_r)
{
	const char *p = in, *end = in + inlen;
	char *o = out;
	int state = d->state;
	bool done = state == DOT_DONE;

	while (!done && p < end) {
		switch (state) {
		case DOT_LINE_START:
			if (*p == '.') {
				state = DOT_DOT;
				p++;
			} else {
				state = DOT_BODY;
			}
			break;
		case DOT_DOT:
			if (*p == '\n') {
				/* ".\n" from an LF-only server */
				p++;
				done = true;
				goto out;
			}
			if (*p == '\r') {
				state = DOT_DOT_CR;
				p++;
			} else {
				/* stuffing dot dropped; *p is line data */
				state = DOT_BODY;
			}
			break;
		case DOT_DOT_CR:
			if (*p == '\n') {
				p++;
				done = true;
				goto out;
			}
			/* ".\r" + other: the dot was stuffing, the CR is data
			 * (see the top of the file); *p is line data. */
			*o++ = '\r';
			state = DOT_BODY;
			break;
		case DOT_CR:
			if (*p == '\n') {
				*o++ = '\n';
				p++;
				state = DOT_LINE_START;
			} else {
				*o++ = '\r';
				state = DOT_BODY;
			}
			break;
		case DOT_BODY: {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *stop = nl != NULL ? nl : end;
			size_t n = (size_t)(stop - p);

			/* A CR just before the LF is the line end; one at
			 * the end of the chunk must wait for the next byte.
			 * Any other CR is followed by a non-LF byte: data. */
			if (n > 0 && stop[-1] == '\r')
				n--;
			memcpy(o, p, n);
			o += n;
			if (nl != NULL) {
				*o++ = '\n';
				p = nl + 1;
				state = DOT_LINE_START;
			} else {
				if (p + n != end)
					state = DOT_CR;
				p = end;
			}
			break;
		}
		default:
			/* DOT_DONE never gets here; anything else is a bug
			 * we must not turn into message bytes. */
			done = true;
			goto out;
		}
	}
out:
	if (done)
		state = DOT_DONE;
	d->state = state;
	*outlen_r = (size_t)(o - out);
	*consumed_r = (size_t)(p - in);
	return done;
}

bool dot_at_line_start(const struct dot *d)
{
	return d->state == DOT_LINE_START || d->state == DOT_DONE;
}
