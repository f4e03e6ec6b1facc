// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * layout-demo - an "unmodified program" written against the 2019 layout
 * lease RFC: plain fcntl() with its own F_LAYOUT, no pinfs header, no
 * libpinfs.  Under LD_PRELOAD=libpinfs-preload.so on a pinfs mount, pinfs
 * serves the lease.
 *
 *   layout-demo [-r] [-w] [-x] [-s SIG] [-H] [-t SECONDS] FILE
 *
 *   -r  open FILE read-only (default read-write)
 *   -w  take F_WRLCK|F_LAYOUT (default F_RDLCK|F_LAYOUT)
 *   -x  add F_EXCLUSIVE (an unbreakable lease)
 *   -s  break signal, set with F_SETSIG (default SIGIO)
 *   -H  release inside the signal handler, not after it returns
 *   -t  give up waiting for the break after SECONDS (default 30)
 *
 * One line per step on stdout (errors as errno names):
 *   setsig OK|<errno>           with -s
 *   setlease OK|<errno>
 *   getlease <value>            what F_GETLEASE says while the lease is held
 *   waiting                     the lease is held; break it now
 *   signal <signo> fd <si_fd>   the break notification arrived
 *   getlease <value>            while breaking (before the release;
 *                               not printed with -H)
 *   unlock OK|<errno>           F_SETLEASE F_UNLCK
 *   getlease <value>            after the release
 * or "timeout" instead of "signal" if no break came.  Exit status 0 when
 * the lease was taken, broken and released; 1 otherwise; 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The 2019 layout lease RFC (never merged into Linux). */
#define F_LAYOUT 16
#define F_EXCLUSIVE 32

static int lease_fd = -1;
static int release_in_handler;
static volatile sig_atomic_t got_sig, got_fd = -1, handler_unlock = -1, timed_out;

static const char *result(int ok)
{
	const char *n;

	if (ok)
		return "OK";
	n = strerrorname_np(errno);
	return n ? n : "E???";
}

/* The break notification: note it, and release here if asked to (fcntl
 * is async-signal-safe, and so must the shim's path be). */
static void on_break(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;

	(void)uc;
	if (sig == SIGALRM) {
		timed_out = 1;
		return;
	}
	got_fd = si->si_fd;
	if (release_in_handler)
		handler_unlock = fcntl(lease_fd, F_SETLEASE, F_UNLCK) == 0 ? 0 : errno;
	got_sig = sig;
	errno = saved;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-r] [-w] [-x] [-s SIG] [-H] [-t SECONDS] FILE\n",
		prog);
	exit(2);
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_sigaction = on_break, .sa_flags = SA_SIGINFO};
	int oflags = O_RDWR, type = F_RDLCK, excl = 0, sig = 0, timeout = 30;
	int opt, r, ok = 1;
	sigset_t block, wait;

	while ((opt = getopt(argc, argv, "rwxs:Ht:")) != -1) {
		switch (opt) {
		case 'r':
			oflags = O_RDONLY;
			break;
		case 'w':
			type = F_WRLCK;
			break;
		case 'x':
			excl = F_EXCLUSIVE;
			break;
		case 's':
			sig = atoi(optarg);
			break;
		case 'H':
			release_in_handler = 1;
			break;
		case 't':
			timeout = atoi(optarg);
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc - 1)
		usage(argv[0]);
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* The break signal is blocked except inside sigsuspend(). */
	sigemptyset(&block);
	sigaddset(&block, sig ? sig : SIGIO);
	sigaddset(&block, SIGALRM);
	sigprocmask(SIG_BLOCK, &block, &wait);
	sigdelset(&wait, sig ? sig : SIGIO);
	sigdelset(&wait, SIGALRM);
	sigemptyset(&sa.sa_mask);
	sigaction(sig ? sig : SIGIO, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);

	lease_fd = open(argv[optind], oflags);
	if (lease_fd < 0) {
		printf("open %s\n", result(0));
		return 1;
	}
	if (sig) {
		r = fcntl(lease_fd, F_SETSIG, sig);
		printf("setsig %s\n", result(r == 0));
		if (r != 0)
			return 1;
	}
	r = fcntl(lease_fd, F_SETLEASE, type | F_LAYOUT | excl);
	printf("setlease %s\n", result(r == 0));
	if (r != 0)
		return 1;
	printf("getlease %d\n", fcntl(lease_fd, F_GETLEASE));

	printf("waiting\n");
	alarm(timeout);
	while (!got_sig && !timed_out)
		sigsuspend(&wait);
	alarm(0);
	if (!got_sig) {
		printf("timeout\n");
		ok = 0;
	} else {
		printf("signal %d fd %d\n", (int)got_sig, (int)got_fd);
	}

	if (release_in_handler && got_sig) {
		errno = handler_unlock;
		printf("unlock %s\n", result(handler_unlock == 0));
		ok = ok && handler_unlock == 0;
	} else {
		printf("getlease %d\n", fcntl(lease_fd, F_GETLEASE));
		r = fcntl(lease_fd, F_SETLEASE, F_UNLCK);
		printf("unlock %s\n", result(r == 0));
		ok = ok && r == 0;
	}
	printf("getlease %d\n", fcntl(lease_fd, F_GETLEASE));
	close(lease_fd);
	return ok ? 0 : 1;
}
