/* crash.c - the test-only kill hook; see crash.h. */
#include "crash.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The first call comes from the main thread, before deliver_maildir.c
 * starts its workers; later calls may come from any thread, so the count
 * is atomic. */
void crash_point(const char *point)
{
	static bool init;
	static const char *want;
	static size_t wantlen;
	static atomic_ulong remaining = 1;
	const char *colon;

	if (!init) {
		init = true;
		want = getenv("POPFETCH_CRASH_AT");
		if (want != NULL) {
			colon = strchr(want, ':');
			wantlen = colon != NULL ? (size_t)(colon - want)
						: strlen(want);
			if (colon != NULL)
				remaining = strtoul(colon + 1, NULL, 10);
		}
	}
	if (want == NULL)
		return;
	/* "any" counts every point: the crash loops walk N = 1, 2, ... */
	if (!(wantlen == 3 && strncmp(want, "any", 3) == 0) &&
	    (strlen(point) != wantlen || strncmp(point, want, wantlen) != 0))
		return;
	if (atomic_fetch_sub(&remaining, 1) <= 1)
		raise(SIGKILL);
}
