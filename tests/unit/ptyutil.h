/*
 * ptyutil.h - a raw pseudo-terminal in place of stdout/stderr, for the
 * tests of what popfetch draws on a terminal (test_log.c, test_report.c).
 * Include after <cmocka.h>.
 */
#ifndef POPFETCH_PTYUTIL_H
#define POPFETCH_PTYUTIL_H

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

struct pty {
	int master;
	int slave;
	int saved[3];
};

/* Makes a raw pty (bytes as written: no \n -> \r\n), cols columns wide
 * (0: the default size), and puts its slave on the descriptors in fds
 * (terminated by -1). */
static inline void pty_open_on(struct pty *p, const int *fds,
			       unsigned short cols)
{
	struct termios tio;
	const char *name;
	int i;

	p->master = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(p->master >= 0);
	assert_int_equal(grantpt(p->master), 0);
	assert_int_equal(unlockpt(p->master), 0);
	name = ptsname(p->master);
	assert_non_null(name);
	p->slave = open(name, O_RDWR | O_NOCTTY);
	assert_true(p->slave >= 0);
	assert_int_equal(tcgetattr(p->slave, &tio), 0);
	cfmakeraw(&tio);
	assert_int_equal(tcsetattr(p->slave, TCSANOW, &tio), 0);
	if (cols != 0) {
		struct winsize ws = { .ws_row = 24, .ws_col = cols };

		assert_int_equal(ioctl(p->slave, TIOCSWINSZ, &ws), 0);
	}
	fflush(NULL);
	for (i = 0; i < 3; i++)
		p->saved[i] = -1;
	for (i = 0; fds[i] >= 0; i++) {
		p->saved[fds[i]] = dup(fds[i]);
		assert_true(dup2(p->slave, fds[i]) == fds[i]);
	}
}

/* What was written since the last call (a new string). */
static inline char *pty_read(struct pty *p)
{
	size_t len = 0, cap = 8192;
	char *buf = malloc(cap + 1);
	struct pollfd pfd = { .fd = p->master, .events = POLLIN };

	assert_non_null(buf);
	while (poll(&pfd, 1, 50) == 1) {
		ssize_t n;

		if (cap - len < 1024) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		n = read(p->master, buf + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

/* The rest of the output; the descriptors are put back. */
static inline char *pty_end(struct pty *p)
{
	char *text = pty_read(p);
	int i;

	for (i = 0; i < 3; i++) {
		if (p->saved[i] >= 0) {
			dup2(p->saved[i], i);
			close(p->saved[i]);
		}
	}
	close(p->slave);
	close(p->master);
	return text;
}

#endif
