/*
 * crash.h - a test-only hook that kills the process at a named point.
 *
 * With POPFETCH_CRASH_AT=POINT[:N] in the environment, the Nth time
 * (default 1st) that crash_point(POINT) is reached the process sends
 * itself SIGKILL: no cleanup, no flush, as in a power cut or a kill -9.
 * POINT "any" counts every crash point, so that a test can kill a run at
 * its 1st, 2nd, ... durable step until a run completes.
 * The crash-recovery tests use it to stop popfetch between any two durable
 * steps.  Without the variable it costs one getenv at start-up.
 */
#ifndef POPFETCH_CRASH_H
#define POPFETCH_CRASH_H

void crash_point(const char *point);

#endif
