/*
 * test_dot.c - the dot-unstuffer must give the same result however its
 * input is chunked: every case is fed whole, one byte at a time, split at
 * every one and every two positions, and at random split points.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dot.h"

/* Byte strings with their length, so that NULs are part of them. */
#define B(s) s, sizeof(s) - 1

struct dot_case {
	const char *name;
	const char *in;
	size_t inlen;
	const char *out;
	size_t outlen;
	bool end;		/* terminator seen */
	size_t consumed;	/* input used (inlen when !end) */
	bool line_start;	/* dot_at_line_start() afterwards */
};

#define END(n) true, (n), true
#define MORE_AT_LINE_START(n) false, (n), true
#define MORE_MID_LINE(n) false, (n), false

static const struct dot_case cases[] = {
	{ "empty body", B(".\r\n"), B(""), END(3) },
	{ "empty body, LF only", B(".\n"), B(""), END(2) },
	{ "one line", B("hello\r\n.\r\n"), B("hello\n"), END(10) },
	{ "stuffed lone dot", B("..\r\n.\r\n"), B(".\n"), END(7) },
	{ "stuffed two dots", B("...\r\n.\r\n"), B("..\n"), END(8) },
	{ "stuffed ...x", B("....x\r\n.\r\n"), B("...x\n"), END(10) },
	{ "wire ...x", B("...x\r\n.\r\n"), B("..x\n"), END(9) },
	{ "dot in the middle of a line", B("a.b\r\na.\r\n.\r\n"),
	  B("a.b\na.\n"), END(12) },
	{ "dot then space is not the end", B(". \r\n.\r\n"), B(" \n"),
	  END(7) },
	{ "dot then text: dot dropped", B(".x\r\n.\r\n"), B("x\n"), END(7) },
	{ "dot CR text: dot dropped, CR kept", B(".\rx\r\n.\r\n"),
	  B("\rx\n"), END(8) },
	{ "dot CR CR LF", B(".\r\r\n.\r\n"), B("\r\n"), END(7) },
	{ "dot CR dot", B(".\r.\r\n.\r\n"), B("\r.\n"), END(8) },
	{ "empty lines", B("\r\n\r\n.\r\n"), B("\n\n"), END(7) },
	{ "headers and body", B("Subject: x\r\n\r\nbody\r\n.\r\n"),
	  B("Subject: x\n\nbody\n"), END(23) },
	{ "no final newline: server adds CRLF", B("abc\r\n.\r\n"),
	  B("abc\n"), END(8) },
	{ "LF only", B("a\n..b\n\n.\n"), B("a\n.b\n\n"), END(9) },
	{ "mixed CRLF and LF", B("a\r\nb\n.c\r\n.\n"), B("a\nb\nc\n"),
	  END(11) },
	{ "bare CR", B("a\rb\r\n.\r\n"), B("a\rb\n"), END(8) },
	{ "CR at line start", B("\rb\r\n.\r\n"), B("\rb\n"), END(7) },
	{ "CR CR LF", B("a\r\r\n.\r\n"), B("a\r\n"), END(7) },
	{ "many CRs", B("\r\r\r\r\n\r.\r\n.\r\n"), B("\r\r\r\n\r.\n"),
	  END(12) },
	{ "after the terminator", B("a\r\n.\r\n+OK next\r\n"), B("a\n"),
	  END(6) },
	{ "after an empty body", B(".\r\n.\r\n"), B(""), END(3) },
	{ "after an LF terminator", B("a\n.\nX"), B("a\n"), END(4) },
	{ "8-bit bytes", B("\x80\xff\xfe\r\n\xc3\xa9t\xc3\xa9\r\n.\r\n"),
	  B("\x80\xff\xfe\n\xc3\xa9t\xc3\xa9\n"), END(15) },
	{ "NUL bytes", B("a\0b\r\n\0\r\n.\0\r\n.\r\n"),
	  B("a\0b\n\0\n\0\n"), END(15) },
	{ "a dot-CRLF inside a line is data", B("x.\r\n.\r\n"),
	  B("x.\n"), END(7) },
	{ "missing terminator at line start", B("a\r\nb\r\n"),
	  B("a\nb\n"), MORE_AT_LINE_START(6) },
	{ "missing terminator mid-line", B("a\r\nb"), B("a\nb"),
	  MORE_MID_LINE(4) },
	{ "missing terminator after CR", B("a\r\nb\r"), B("a\nb"),
	  MORE_MID_LINE(5) },
	{ "missing terminator after dot", B("a\r\n."), B("a\n"),
	  MORE_MID_LINE(4) },
	{ "missing terminator after dot CR", B("a\r\n.\r"), B("a\n"),
	  MORE_MID_LINE(5) },
	{ "stuffed line, no terminator", B("..\r\n"), B(".\n"),
	  MORE_AT_LINE_START(4) },
	{ "nothing at all", B(""), B(""), MORE_AT_LINE_START(0) },
};

/* A fixed-seed generator, so that "random" splits are the same on every
 * libc and every run. */
static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
	rng_state = seed ? seed : 0x9e3779b97f4a7c15u;
}

static uint32_t rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

struct result {
	char *out;
	size_t outlen;
	bool end;
	size_t consumed;
	bool line_start;
};

/*
 * Feeds in to a fresh decoder in chunks ending at the (sorted) cut points,
 * checking the per-call contract: output within inlen + 1 (each out
 * buffer is allocated at exactly that size so that ASan catches any
 * overrun), all input consumed unless the end was found.
 */
static void feed(const char *in, size_t inlen, const size_t *cuts,
		 size_t ncuts, struct result *r)
{
	struct dot d;
	size_t pos = 0, i;

	r->out = malloc(inlen + 1);
	assert_non_null(r->out);
	r->outlen = 0;
	r->end = false;
	dot_init(&d);
	assert_true(dot_at_line_start(&d));
	for (i = 0; i <= ncuts && !r->end; i++) {
		size_t stop = i < ncuts ? cuts[i] : inlen;
		size_t len = stop - pos, outlen = 12345, consumed = 12345;
		/* a fresh copy so ASan sees reads past the chunk, too */
		char *chunk = malloc(len ? len : 1);
		char *out = malloc(len + 1);

		assert_non_null(chunk);
		assert_non_null(out);
		memcpy(chunk, in + pos, len);
		r->end = dot_feed(&d, chunk, len, out, &outlen, &consumed);
		assert_true(outlen <= len + 1);
		assert_true(consumed <= len);
		if (!r->end)
			assert_int_equal(consumed, len);
		memcpy(r->out + r->outlen, out, outlen);
		r->outlen += outlen;
		pos += consumed;
		free(chunk);
		free(out);
	}
	r->consumed = pos;
	r->line_start = dot_at_line_start(&d);
	if (r->end) {
		/* a finished decoder takes nothing more */
		char out[8];
		size_t outlen = 1, consumed = 1;

		assert_true(dot_feed(&d, "x\r\n", 3, out, &outlen, &consumed));
		assert_int_equal(outlen, 0);
		assert_int_equal(consumed, 0);
	}
}

static void check(const struct dot_case *c, const size_t *cuts, size_t ncuts)
{
	struct result r;

	feed(c->in, c->inlen, cuts, ncuts, &r);
	if (r.outlen != c->outlen || memcmp(r.out, c->out, c->outlen) != 0 ||
	    r.end != c->end || r.consumed != c->consumed ||
	    r.line_start != c->line_start) {
		size_t i;

		print_error("# case '%s', cuts:", c->name);
		for (i = 0; i < ncuts; i++)
			print_error(" %zu", cuts[i]);
		print_error("# \n  got outlen %zu end %d consumed %zu "
			    "line_start %d\n", r.outlen, r.end, r.consumed,
			    r.line_start);
		free(r.out);
		fail();
	}
	free(r.out);
}

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void test_whole(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NCASES; i++)
		check(&cases[i], NULL, 0);
}

static void test_byte_at_a_time(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < NCASES; i++) {
		size_t cuts[64];

		assert_true(cases[i].inlen <= 64);
		for (k = 0; k < cases[i].inlen; k++)
			cuts[k] = k + 1;
		check(&cases[i], cuts, cases[i].inlen);
	}
}

/* Every split into two and three chunks, empty chunks included: covers
 * the terminator split at every position. */
static void test_every_split(void **state)
{
	size_t i, a, b;

	(void)state;
	for (i = 0; i < NCASES; i++) {
		size_t n = cases[i].inlen;

		for (a = 0; a <= n; a++) {
			size_t one[1] = { a };

			check(&cases[i], one, 1);
			for (b = a; b <= n; b++) {
				size_t two[2] = { a, b };

				check(&cases[i], two, 2);
			}
		}
	}
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static size_t random_cuts(size_t inlen, size_t *cuts, size_t max)
{
	size_t n = rng_next() % (max + 1), k;

	for (k = 0; k < n; k++)
		cuts[k] = inlen ? rng_next() % (inlen + 1) : 0;
	qsort(cuts, n, sizeof(*cuts), cmp_size);
	return n;
}

static void test_random_splits(void **state)
{
	size_t i, round;

	(void)state;
	rng_seed(1939);
	for (i = 0; i < NCASES; i++) {
		for (round = 0; round < 500; round++) {
			size_t cuts[16];
			size_t n = random_cuts(cases[i].inlen, cuts, 16);

			check(&cases[i], cuts, n);
		}
	}
}

/* A CR that ends a chunk is held back and comes out with the next chunk:
 * then one input byte yields two output bytes. */
static void test_cr_at_chunk_end(void **state)
{
	struct dot d;
	char out[4];
	size_t outlen, consumed;

	(void)state;
	dot_init(&d);
	assert_false(dot_feed(&d, "a\r", 2, out, &outlen, &consumed));
	assert_int_equal(consumed, 2);
	assert_int_equal(outlen, 1);
	assert_memory_equal(out, "a", 1);
	assert_false(dot_at_line_start(&d));
	assert_false(dot_feed(&d, "b", 1, out, &outlen, &consumed));
	assert_int_equal(outlen, 2);
	assert_memory_equal(out, "\rb", 2);

	assert_false(dot_feed(&d, "\r", 1, out, &outlen, &consumed));
	assert_int_equal(outlen, 0);
	assert_false(dot_feed(&d, "\n", 1, out, &outlen, &consumed));
	assert_int_equal(outlen, 1);
	assert_memory_equal(out, "\n", 1);
	assert_true(dot_at_line_start(&d));

	/* ".\r" at a chunk end: neither terminator nor data yet */
	assert_false(dot_feed(&d, ".\r", 2, out, &outlen, &consumed));
	assert_int_equal(outlen, 0);
	assert_false(dot_feed(&d, "z", 1, out, &outlen, &consumed));
	assert_int_equal(outlen, 2);
	assert_memory_equal(out, "\rz", 2);
}

static void test_empty_chunks(void **state)
{
	struct dot d;
	char out[1];
	size_t outlen = 9, consumed = 9;

	(void)state;
	dot_init(&d);
	assert_false(dot_feed(&d, "", 0, out, &outlen, &consumed));
	assert_int_equal(outlen, 0);
	assert_int_equal(consumed, 0);
	assert_true(dot_at_line_start(&d));
}

/* dot_init() restarts a decoder, whatever state it was left in. */
static void test_reinit(void **state)
{
	struct dot d;
	char out[16];
	size_t outlen, consumed;

	(void)state;
	dot_init(&d);
	assert_false(dot_feed(&d, "abc\r", 4, out, &outlen, &consumed));
	dot_init(&d);
	assert_true(dot_feed(&d, ".\r\n", 3, out, &outlen, &consumed));
	assert_int_equal(outlen, 0);
	dot_init(&d);
	assert_true(dot_feed(&d, "..\r\n.\r\n", 7, out, &outlen, &consumed));
	assert_int_equal(outlen, 2);
	assert_memory_equal(out, ".\n", 2);
}

/*
 * Round trip: random messages over an alphabet rich in '.', CR and LF
 * are stuffed and CRLF-encoded as a server would send them (followed by
 * the next reply), then decoded in random chunks.  A message line ending
 * in CR comes back as it was, since the wire "CR CR LF" decodes to "CR LF".
 */
static size_t encode(const char *msg, size_t len, char *wire)
{
	size_t i, w = 0;
	bool bol = true;

	for (i = 0; i < len; i++) {
		if (bol && msg[i] == '.')
			wire[w++] = '.';
		bol = msg[i] == '\n';
		if (msg[i] == '\n')
			wire[w++] = '\r';
		wire[w++] = msg[i];
	}
	memcpy(wire + w, ".\r\n+OK\r\n", 8);
	return w + 8;
}

static void test_round_trip(void **state)
{
	static const char alphabet[] = ".\r\n\n.a\0\xff";
	char msg[200], wire[500];
	size_t round;

	(void)state;
	rng_seed(2449);
	for (round = 0; round < 20000; round++) {
		size_t len = rng_next() % sizeof(msg), i, wlen, ncuts;
		size_t cuts[32];
		struct result r;

		for (i = 0; i < len; i++)
			msg[i] = alphabet[rng_next() % (sizeof(alphabet) - 1)];
		if (len > 0)
			msg[len - 1] = '\n';	/* the server ends it so */
		wlen = encode(msg, len, wire);
		ncuts = random_cuts(wlen, cuts, 32);
		feed(wire, wlen, cuts, ncuts, &r);
		assert_true(r.end);
		assert_int_equal(r.consumed, wlen - 5);
		assert_int_equal(r.outlen, len);
		assert_memory_equal(r.out, msg, len);
		free(r.out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_random_splits),
		cmocka_unit_test(test_cr_at_chunk_end),
		cmocka_unit_test(test_empty_chunks),
		cmocka_unit_test(test_reinit),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests_name("dot", tests, NULL, NULL);
}
