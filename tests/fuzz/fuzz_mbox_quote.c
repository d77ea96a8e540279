/*
 * fuzz_mbox_quote.c - mboxrd delivery must be reversible.
 *
 * The input is one message (LF line endings, any bytes).  It is delivered
 * twice into an mbox that is empty or already holds another program's
 * message (whose last line may lack its newline), written in chunks whose
 * sizes come from the first bytes of the input, with an aborted delivery
 * in between.  Then:
 *   - the aborted delivery left the file exactly as it was;
 *   - an independent mboxrd reader finds the other message (if any) and
 *     then exactly two messages, each equal to the input plus a final
 *     newline if the input lacked one (the empty message stays empty);
 *   - recover() of the second message's token, as after a crash before
 *     its "D" record, sees no foreign mail after it (quoting keeps
 *     "\nFrom " out of our own bodies) and cuts the file back to the end
 *     of the first message;
 *   - for some inputs the second message is delivered again and another
 *     program appends a message after it: now recover() must refuse to
 *     cut and leave the file alone.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver.h"
#include "error.h"
#include "fuzzutil.h"

static char mbox_path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(mbox_path, sizeof(mbox_path), "%s/mbox", fuzz_scratch_dir());
	return 0;
}

static off_t file_size(void)
{
	struct stat sb;

	FUZZ_CHECK(stat(mbox_path, &sb) == 0);
	return sb.st_size;
}

/* Writes in[0..len) as one message; chunk sizes cycle through sizes[]. */
static void deliver(struct deliver *d, const char *in, size_t len,
		    const size_t *sizes, size_t nsizes, bool commit,
		    char *token)
{
	struct error err;
	size_t pos = 0, i = 0;

	error_clear(&err);
	FUZZ_CHECK(d->ops->begin(d, token, &err) == PF_OK);
	while (pos < len) {
		size_t n = sizes[i++ % nsizes];

		if (n > len - pos)
			n = len - pos;
		FUZZ_CHECK(d->ops->write(d, in + pos, n, &err) == PF_OK);
		pos += n;
	}
	if (commit)
		FUZZ_CHECK(d->ops->commit(d, &err) == PF_OK);
	else
		d->ops->abort(d);
}

/* Is [p, end) a line of the form ">*From "? */
static bool quoted_from(const char *p, const char *end)
{
	while (p < end && *p == '>')
		p++;
	return end - p >= 5 && memcmp(p, "From ", 5) == 0;
}

/* Another program's message at the start of the file. */
static const char *const foreign[] = {
	"",
	"From other@example.org Thu Jan  1 00:00:00 1970\nX: y\n\nno newline",
	"From other@example.org Thu Jan  1 00:00:00 1970\nX: y\n\none newline\n",
};

/*
 * An mboxrd reader, independent of deliver_mbox.c: a line starting with
 * "From " starts a message; the blank line before the next one (or the
 * end of file) belongs to the format; one '>' is removed from lines of
 * the form ">+From ".  Checks that every message after the first skip
 * ones equals want; returns how many there are.
 */
static size_t check_messages(const char *f, size_t flen, size_t skip,
			     const char *want, size_t wantlen)
{
	const char *p = f, *end = f + flen;
	size_t nmsg = 0;
	char *msg = malloc(flen + 1);

	FUZZ_CHECK(msg != NULL);
	FUZZ_CHECK(flen >= 5 && memcmp(f, "From ", 5) == 0);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t mlen = 0;

		/* The separator line: one line, ending in LF. */
		FUZZ_CHECK(nl != NULL);
		p = nl + 1;
		while (p < end) {
			const char *e = memchr(p, '\n', (size_t)(end - p));
			const char *le = e != NULL ? e + 1 : end;

			if (le - p >= 5 && memcmp(p, "From ", 5) == 0)
				break;
			if (quoted_from(p, le) && *p == '>')
				p++;
			memcpy(msg + mlen, p, (size_t)(le - p));
			mlen += (size_t)(le - p);
			p = le;
		}
		/* The blank line that closes a message. */
		FUZZ_CHECK(mlen >= 1 && msg[mlen - 1] == '\n');
		mlen--;
		if (nmsg++ < skip)
			continue;
		FUZZ_CHECK(mlen == wantlen);
		FUZZ_CHECK(memcmp(msg, want, mlen) == 0);
	}
	free(msg);
	return nmsg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t sizes_a[3], sizes_b[3], big = 65536 + 3, i;
	char token1[DELIVER_TOKEN_MAX], token2[DELIVER_TOKEN_MAX];
	char tokenx[DELIVER_TOKEN_MAX];
	struct deliver *d = NULL;
	struct error err;
	const char *prefix;
	char *want, *f;
	size_t wantlen, flen, skip;
	off_t after1;
	bool arrived = true;

	for (i = 0; i < 3; i++) {
		unsigned b = i < size ? data[i] : 7;

		/* Small sizes split "\nFrom " and ">>From "; 0xf0.. gives
		 * large ones, across the 64 KiB header and output buffers. */
		sizes_a[i] = b >= 0xf0 ? (b - 0xef) * 4099 : b % 9 + 1;
		sizes_b[i] = b % 3 == 0 ? big : (b >> 4) + 1;
	}

	prefix = foreign[(size > 3 ? data[3] : 0) % 3];
	fuzz_write_file(mbox_path, prefix, strlen(prefix), 0600);
	error_clear(&err);
	FUZZ_CHECK(deliver_mbox_open(mbox_path, 5, &d, &err) == PF_OK);

	deliver(d, in, size, sizes_a, 3, true, token1);
	FUZZ_CHECK(strtoll(token1, NULL, 10) == (long long)strlen(prefix));
	after1 = file_size();
	deliver(d, in, size / 2, sizes_b, 3, false, tokenx);
	FUZZ_CHECK(file_size() == after1);
	deliver(d, in, size, sizes_b, 3, true, token2);
	FUZZ_CHECK(strtoll(token2, NULL, 10) == (long long)after1);

	/* The final-newline rule. */
	want = malloc(size + 1);
	FUZZ_CHECK(want != NULL);
	memcpy(want, in, size);
	wantlen = size;
	if (size > 0 && in[size - 1] != '\n')
		want[wantlen++] = '\n';

	f = fuzz_read_file(mbox_path, &flen);
	FUZZ_CHECK(f != NULL);
	skip = prefix[0] != '\0';
	FUZZ_CHECK(check_messages(f, flen, skip, want, wantlen) == skip + 2);
	free(f);

	error_clear(&err);
	FUZZ_CHECK(d->ops->recover(d, token2, &arrived, &err) == PF_OK);
	FUZZ_CHECK(!arrived);
	FUZZ_CHECK(file_size() == after1);

	if (size > 4 && data[4] % 4 == 0) {
		static const char other[] =
			"From other@example.org Thu Jan  1 00:00:00 1970\n\nx\n\n";
		off_t before;
		int fd;

		deliver(d, in, size, sizes_a, 3, true, token2);
		fd = open(mbox_path, O_WRONLY | O_APPEND | O_CLOEXEC);
		FUZZ_CHECK(fd >= 0);
		FUZZ_CHECK(write(fd, other, sizeof(other) - 1) ==
			   (ssize_t)sizeof(other) - 1);
		close(fd);
		before = file_size();
		error_clear(&err);
		FUZZ_CHECK(d->ops->recover(d, token2, &arrived, &err) ==
			   PF_IOERR);
		FUZZ_CHECK(file_size() == before);
	}

	deliver_free(&d);
	free(want);
	return 0;
}
