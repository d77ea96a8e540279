/*
 * dot.h - pure streaming decoder of a POP3 multi-line reply body.
 *
 * RFC 1939 section 3: lines end in CRLF, a line starting with "." has one
 * more "." prepended ("dot-stuffing"), and the body ends with ".CRLF".
 * The decoder removes the stuffing, turns CRLF into LF (popfetch stores
 * mail with local line endings), passes a bare CR through unchanged, and
 * also accepts LF-only lines from broken servers.  It does no I/O and gives
 * the same output however the input is split into chunks, even one byte at
 * a time.  The stream starts just after the CRLF of the "+OK" status line.
 */
#ifndef POPFETCH_DOT_H
#define POPFETCH_DOT_H

#include <stdbool.h>
#include <stddef.h>

struct dot {
	int state;		/* private: where in a line we are */
};

/* Starts a new body. */
void dot_init(struct dot *d);

/*
 * Decodes up to inlen bytes of in into out.  out must have room for
 * inlen + 1 bytes (a CR held back from the previous chunk may be emitted).
 * Sets *outlen_r to the bytes written and *consumed_r to the input bytes
 * used.  Returns true when the terminating ".CRLF" has been consumed:
 * input after it (the next pipelined reply) is not consumed.  Returns false
 * when all input was consumed and more is needed.
 */
bool dot_feed(struct dot *d, const char *in, size_t inlen, char *out,
	      size_t *outlen_r, size_t *consumed_r);

/* True if the decoder is at the start of a line (used to tell a body that
 * ended cleanly from one cut off mid-line at EOF, for messages). */
bool dot_at_line_start(const struct dot *d);

#endif
