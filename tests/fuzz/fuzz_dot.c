/*
 * fuzz_dot.c - the dot-unstuffer against itself and against a reference.
 *
 * The input is a server's byte stream just after a "+OK" line.  It is
 * decoded three ways: in one call, in chunks whose sizes come from the
 * first bytes of the input, and one byte at a time.  All three must give
 * the same bytes, the same consumed count and the same end flag, and agree
 * with a line-by-line reference written from dot.h's contract.  Every
 * output buffer is a separate allocation of exactly chunk + 1 bytes, so
 * ASan catches a decoder that writes past what dot.h promises.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dot.h"
#include "fuzzutil.h"

struct result {
	char *out;
	size_t outlen;
	size_t consumed;
	bool end;
	bool line_start;
};

/*
 * The reference: whole lines, as RFC 1939 and dot.h describe them.  A line
 * is everything up to and including LF.  ".CRLF" or ".LF" ends the body;
 * otherwise one leading "." is dropped and a final CRLF becomes LF.  An
 * unfinished last line yields what is certain so far: its leading dot and
 * one trailing CR are held back.
 */
static void reference(const char *in, size_t len, struct result *r)
{
	size_t pos = 0;

	r->out = malloc(len + 1);
	FUZZ_CHECK(r->out != NULL);
	r->outlen = 0;
	r->end = false;
	r->line_start = true;
	while (pos < len) {
		const char *nl = memchr(in + pos, '\n', len - pos);
		size_t linelen = nl != NULL ? (size_t)(nl - (in + pos)) + 1
					    : len - pos;
		const char *line = in + pos;

		if (nl != NULL && ((linelen == 2 && line[0] == '.') ||
				   (linelen == 3 && line[0] == '.' &&
				    line[1] == '\r'))) {
			pos += linelen;
			r->end = true;
			break;
		}
		pos += linelen;
		if (nl == NULL)
			r->line_start = false;
		if (line[0] == '.') {
			line++;
			linelen--;
		}
		if (nl != NULL && linelen >= 2 && line[linelen - 2] == '\r') {
			memcpy(r->out + r->outlen, line, linelen - 2);
			r->outlen += linelen - 2;
			r->out[r->outlen++] = '\n';
		} else {
			if (nl == NULL && linelen > 0 &&
			    line[linelen - 1] == '\r')
				linelen--;
			memcpy(r->out + r->outlen, line, linelen);
			r->outlen += linelen;
		}
	}
	if (r->end)
		r->line_start = true;
	r->consumed = pos;
}

/* Feeds in[0..len) in chunks of the sizes given (cycled); sizes[i] == 0
 * means "the rest". */
static void chunked(const char *in, size_t len, const size_t *sizes,
		    size_t nsizes, struct result *r)
{
	struct dot d;
	size_t pos = 0, i = 0, outsize = 0;
	char *out = NULL;

	dot_init(&d);
	r->out = malloc(len + 1);
	FUZZ_CHECK(r->out != NULL);
	r->outlen = 0;
	r->end = false;
	do {
		size_t n = sizes[i++ % nsizes], outlen = 99, consumed = 99;

		if (n == 0 || n > len - pos)
			n = len - pos;
		/* Exactly what dot.h asks for, inlen + 1, so that ASan
		 * sees a byte more; reallocated only when n changes. */
		if (outsize != n + 1) {
			free(out);
			outsize = n + 1;
			out = malloc(outsize);
			FUZZ_CHECK(out != NULL);
		}
		r->end = dot_feed(&d, in + pos, n, out, &outlen, &consumed);
		FUZZ_CHECK(consumed <= n);
		FUZZ_CHECK(outlen <= n + 1);
		FUZZ_CHECK(r->end || consumed == n);
		/* Output + one held CR never outgrows the input so far. */
		FUZZ_CHECK(r->outlen + outlen <= pos + consumed);
		memcpy(r->out + r->outlen, out, outlen);
		r->outlen += outlen;
		pos += consumed;
	} while (!r->end && pos < len);
	free(out);
	r->consumed = pos;
	r->line_start = dot_at_line_start(&d);

	/* Once the terminator is consumed, nothing more is. */
	if (r->end) {
		char tail[4];
		size_t outlen = 99, consumed = 99;

		FUZZ_CHECK(dot_feed(&d, "x\r\n", 3, tail, &outlen, &consumed));
		FUZZ_CHECK(outlen == 0 && consumed == 0);
	}
}

static void same(const struct result *a, const struct result *b)
{
	FUZZ_CHECK(a->end == b->end);
	FUZZ_CHECK(a->consumed == b->consumed);
	FUZZ_CHECK(a->outlen == b->outlen);
	FUZZ_CHECK(memcmp(a->out, b->out, a->outlen) == 0);
	FUZZ_CHECK(a->line_start == b->line_start);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct result whole, ref, parts, bytes;
	size_t zero = 0, one = 1, sizes[4];
	size_t i;

	/* Chunk sizes from the first bytes: small ones to land splits
	 * inside "\r\n" and ".\r\n", an occasional large one. */
	for (i = 0; i < 4; i++) {
		unsigned b = i < size ? data[i] : 1;

		sizes[i] = b >= 0xf0 ? (b - 0xf0) * 97 + 1 : b % 7 + 1;
	}

	chunked(in, size, &zero, 1, &whole);
	FUZZ_CHECK(whole.consumed <= size);
	reference(in, size, &ref);
	same(&whole, &ref);
	chunked(in, size, sizes, 4, &parts);
	same(&whole, &parts);
	chunked(in, size, &one, 1, &bytes);
	same(&whole, &bytes);
	free(bytes.out);
	free(whole.out);
	free(ref.out);
	free(parts.out);
	return 0;
}
