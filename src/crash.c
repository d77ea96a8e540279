/* crash.c - the test-only kill hook; see crash.h. */
#include "crash.h"

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void crash_point(const char *point)
{
	static bool init;
	static const char *want;
	static size_t wantlen;
	static unsigned long remaining = 1;
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
	if (remaining <= 1)
		raise(SIGKILL);
	remaining--;
}
