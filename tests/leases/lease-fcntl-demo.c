// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lease-fcntl-demo - an "unmodified program" for the preload shim test.
 *
 * It knows nothing of pinfs: no pinfs header, no libpinfs, only plain
 * fcntl() with the 2019 RFC's numbers, as a program written against that
 * RFC would.  Run it with LD_PRELOAD=libpinfs-preload.so to have pinfs
 * serve the calls.
 *
 *   lease-fcntl-demo FILE [LEASE [SIG]]
 *
 * opens FILE read-write, calls fcntl(fd, F_SETSIG, SIG) if SIG is given and
 * not 0, then fcntl(fd, F_SETLEASE, LEASE) (default F_LAYOUT | F_RDLCK) and
 * prints "setlease OK" or "setlease <errno name>".  Then it serves commands,
 * one per line on stdin, each answered with one line on stdout:
 *   get     "getlease <fcntl(F_GETLEASE) value or errno name>"
 *   wait    "signal <signo> <si_fd == fd ? 1 : 0>" once the break signal
 *           (SIG, else SIGIO) arrives, "signal timeout" after 30 s
 *   unlock  "unlock OK|<errno name>"  (fcntl(fd, F_SETLEASE, F_UNLCK))
 *   exit    exits 0
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The 2019 layout lease RFC (never merged into Linux). */
#define F_LAYOUT 16

/* "OK" if ok, else the name of errno. */
static const char *result(int ok)
{
	const char *n;

	if (ok)
		return "OK";
	n = strerrorname_np(errno);
	return n ? n : "E???";
}

int main(int argc, char **argv)
{
	int lease = F_LAYOUT | F_RDLCK, sig = 0, fd, r;
	char line[64];
	sigset_t set;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: %s FILE [LEASE [SIG]]\n", argv[0]);
		return 2;
	}
	if (argc > 2)
		lease = atoi(argv[2]);
	if (argc > 3)
		sig = atoi(argv[3]);
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* Take the break signal synchronously. */
	sigemptyset(&set);
	sigaddset(&set, sig ? sig : SIGIO);
	sigprocmask(SIG_BLOCK, &set, NULL);

	fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		printf("open %s\n", result(0));
		return 1;
	}
	if (sig && fcntl(fd, F_SETSIG, sig) < 0) {
		printf("setsig %s\n", result(0));
		return 1;
	}
	r = fcntl(fd, F_SETLEASE, lease);
	printf("setlease %s\n", result(r == 0));

	while (fgets(line, sizeof(line), stdin)) {
		if (!strcmp(line, "get\n")) {
			r = fcntl(fd, F_GETLEASE);
			if (r < 0)
				printf("getlease %s\n", result(0));
			else
				printf("getlease %d\n", r);
		} else if (!strcmp(line, "wait\n")) {
			struct timespec timeout = {.tv_sec = 30};
			siginfo_t si;

			memset(&si, 0, sizeof(si));
			r = sigtimedwait(&set, &si, &timeout);
			if (r < 0)
				printf("signal timeout\n");
			else
				printf("signal %d %d\n", r, si.si_fd == fd);
		} else if (!strcmp(line, "unlock\n")) {
			r = fcntl(fd, F_SETLEASE, F_UNLCK);
			printf("unlock %s\n", result(r == 0));
		} else if (!strcmp(line, "exit\n")) {
			return 0;
		} else {
			printf("unknown command\n");
		}
	}
	return 0;
}
