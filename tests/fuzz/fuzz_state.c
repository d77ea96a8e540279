/*
 * fuzz_state.c - loading an account's state: snapshot and journal.
 *
 * Input: JOURNAL, or SNAPSHOT "\0" JOURNAL (split at the first NUL).
 * They are written as fuzz.state and fuzz.journal into a scratch state
 * directory and opened with state_open().  On success:
 *   - every pending delivery has a UID of 1-70 and a token of 1-255
 *     printable characters, and its UID is not known delivered;
 *   - the journal on disk ends at a line boundary (a torn last record
 *     was cut away);
 *   - state_save() and a second state_open() give the same count and the
 *     same pending deliveries: nothing is lost or invented on the way.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "state.h"
#include "fuzzutil.h"

static char state_dir[512];
static char state_file[600], journal_file[600], tmp_file[600];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = fuzz_scratch_dir();

	(void)argc;
	(void)argv;
	snprintf(state_dir, sizeof(state_dir), "%s/state", dir);
	snprintf(state_file, sizeof(state_file), "%s/fuzz.state", state_dir);
	snprintf(journal_file, sizeof(journal_file), "%s/fuzz.journal",
		 state_dir);
	snprintf(tmp_file, sizeof(tmp_file), "%s/fuzz.state.tmp", state_dir);
	fuzz_rm_rf(state_dir);
	FUZZ_CHECK(mkdir(state_dir, 0700) == 0);
	return 0;
}

static bool word_ok(const char *s, size_t max)
{
	size_t n = strlen(s), i;

	if (n < 1 || n > max)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* The pending deliveries as sorted "UID TOKEN" strings, to compare them
 * across a reopen. */
struct pend {
	char **pairs;
	size_t n;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void pend_take(const struct state *st, struct pend *pd)
{
	const struct state_pending *p = state_pending(st, &pd->n);
	size_t i;

	pd->pairs = calloc(pd->n + 1, sizeof(char *));
	FUZZ_CHECK(pd->pairs != NULL);
	for (i = 0; i < pd->n; i++) {
		size_t ul = strlen(p[i].uid), tl = strlen(p[i].token);

		FUZZ_CHECK(word_ok(p[i].uid, 70));
		FUZZ_CHECK(word_ok(p[i].token, 255));
		FUZZ_CHECK(!state_has(st, p[i].uid));
		pd->pairs[i] = malloc(ul + tl + 2);
		FUZZ_CHECK(pd->pairs[i] != NULL);
		memcpy(pd->pairs[i], p[i].uid, ul);
		pd->pairs[i][ul] = ' ';
		memcpy(pd->pairs[i] + ul + 1, p[i].token, tl + 1);
	}
	/* A space sorts below every UID character: this sorts by UID. */
	qsort(pd->pairs, pd->n, sizeof(char *), cmp_str);
	for (i = 1; i < pd->n; i++) {
		size_t a = strcspn(pd->pairs[i - 1], " ");
		size_t b = strcspn(pd->pairs[i], " ");

		/* A UID is pending at most once. */
		FUZZ_CHECK(a != b || memcmp(pd->pairs[i - 1], pd->pairs[i],
					    a) != 0);
	}
}

static void pend_free(struct pend *pd)
{
	size_t i;

	for (i = 0; i < pd->n; i++)
		free(pd->pairs[i]);
	free(pd->pairs);
}

static void check_journal_whole(void)
{
	size_t len = 0;
	char *j = fuzz_read_file(journal_file, &len);

	FUZZ_CHECK(j != NULL);
	FUZZ_CHECK(len == 0 || j[len - 1] == '\n');
	free(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nul = memchr(in, '\0', size);
	struct state *st = NULL;
	struct error err;
	struct pend before, after;
	size_t count, i;
	enum pf_status ret;

	unlink(tmp_file);
	if (nul != NULL) {
		fuzz_write_file(state_file, in, (size_t)(nul - in), 0600);
		fuzz_write_file(journal_file, nul + 1,
				size - (size_t)(nul - in) - 1, 0600);
	} else {
		unlink(state_file);
		fuzz_write_file(journal_file, in, size, 0600);
	}

	error_clear(&err);
	ret = state_open(state_dir, "fuzz", &st, &err);
	if (ret != PF_OK) {
		/* Only a damaged file can make it fail here. */
		FUZZ_CHECK(ret == PF_IOERR && err.status == PF_IOERR);
		FUZZ_CHECK(st == NULL);
		FUZZ_CHECK(memchr(err.text, '\0', sizeof(err.text)) != NULL);
		return 0;
	}
	check_journal_whole();
	count = state_count(st);
	pend_take(st, &before);

	/* Fold the journal into a new snapshot and read it all back. */
	error_clear(&err);
	FUZZ_CHECK(state_save(st, &err) == PF_OK);
	state_close(&st);
	FUZZ_CHECK(st == NULL);
	error_clear(&err);
	FUZZ_CHECK(state_open(state_dir, "fuzz", &st, &err) == PF_OK);
	FUZZ_CHECK(state_count(st) == count);
	pend_take(st, &after);
	FUZZ_CHECK(before.n == after.n);
	for (i = 0; i < before.n; i++)
		FUZZ_CHECK(strcmp(before.pairs[i], after.pairs[i]) == 0);
	state_close(&st);
	pend_free(&before);
	pend_free(&after);
	return 0;
}
