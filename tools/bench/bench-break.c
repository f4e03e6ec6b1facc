// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench-break.c - "break": how fast a lease break reaches its holder, and
 * how fast the breaking truncate finishes once the holder lets go.
 *
 * A holder process (forked; one per mode) takes a read lease, says so on a
 * pipe, and blocks until it is told of the break:
 *   pinfs-signal   SIGIO from the daemon; the handler stamps the time
 *   pinfs-pollpri  poll(POLLPRI) on the leased descriptor returns
 *   pinfs-setsig   the F_SETSIG signal (SIGRTMIN + 2, PINFS_IOC_SETSIG, sent
 *                  with si_fd); the handler stamps the time
 *   pinfs-written  SIGIO, as pinfs-signal, but the bench writes one byte of the
 *                  file through pinfs before each truncate: the kernel then
 *                  knows the file has no capabilities to drop (S_NOSEC, with
 *                  FUSE_HANDLE_KILLPRIV_V2) and sends no GETXATTR first
 *   kernel-signal  a classic kernel lease (F_SETLEASE F_RDLCK) on a file of
 *                  a plain directory, SIGIO from the kernel
 * It then stamps the time and releases.  The bench process stamps the
 * start of its truncate() and its return.  The stamps are CLOCK_MONOTONIC
 * and live in shared memory.  Before each truncate the bench waits until
 * the holder says it is about to block, and 200 us more, so the holder is
 * asleep in sigsuspend() or poll() when the break starts, as a real holder
 * would be.  Just before each truncate, the bench times a no-op pinfs
 * ioctl and a getxattr("security.capability") of a pinfs file, each after
 * the same 200 us pause: the baseline, measured under the same load as the
 * break, and the GETXATTR round trip the kernel makes before every truncate
 * of a FUSE file (to learn whether it must drop file capabilities).
 *
 *   notify  = holder notified - truncate start
 *   resume  = truncate returned - holder starts its release
 *   total   = truncate returned - truncate start
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "bench.h"
#include "pinfs_abi.h"

enum mode { M_SIGNAL, M_POLL, M_SETSIG, M_WRITTEN, M_KERNEL, M_COUNT };

static const char *const mode_name[] = {"pinfs-signal", "pinfs-pollpri", "pinfs-setsig",
					"pinfs-written", "kernel-signal"};

/* In the F_SETSIG holder: its shared page, and the signal's handler. */
static struct holder_shm *setsig_shm;
static int setsig_fd;

static void on_setsig(int sig, siginfo_t *si, void *ctx)
{
	uint64_t zero = 0;

	(void)sig;
	(void)ctx;
	if (si->si_fd == setsig_fd)
		atomic_compare_exchange_strong(&setsig_shm->t_notify, &zero, now_ns());
}

/* Like holder_catch_sigio, for SIGRTMIN + 2 with its siginfo. */
static void catch_setsig(struct holder_shm *shm, int fd, sigset_t *old)
{
	struct sigaction sa = {.sa_sigaction = on_setsig, .sa_flags = SA_SIGINFO};
	sigset_t block;

	setsig_shm = shm;
	setsig_fd = fd;
	sigemptyset(&block);
	sigaddset(&block, SIGRTMIN + 2);
	sigaction(SIGRTMIN + 2, &sa, NULL);
	sigprocmask(SIG_BLOCK, &block, old);
	sigdelset(old, SIGRTMIN + 2);
}

static int ioc_setsig(int fd, int sig)
{
	struct pinfs_setsig s = {.size = sizeof(s), .signal = sig, .fd = fd};

	return ioctl(fd, PINFS_IOC_SETSIG, &s);
}

struct holder {
	enum mode mode;
	char *path;
	struct holder_proc p; /* its process, pipes and shared page */
	int wfd;	      /* M_WRITTEN: the bench's O_RDWR descriptor of it */
	off_t size;	      /* of the leased file: each truncate must change it, or it
			       * breaks nothing (pinfs drops a size change to the same size) */
};

/* The holder's loop: 'g' take a lease and wait for its break; 'q' quit. */
static void holder_main(void *arg, int cmd, int reply)
{
	struct holder *h = arg;
	sigset_t old;
	int fd = holder_open(h->path);
	char c;

	if (h->mode == M_POLL)
		signal(SIGIO, SIG_IGN);
	else if (h->mode == M_SETSIG)
		catch_setsig(h->p.shm, fd, &old);
	else
		holder_catch_sigio(h->p.shm, &old);
	while (read(cmd, &c, 1) == 1 && c == 'g') {
		int r;

		atomic_store(&h->p.shm->t_notify, 0);
		if (h->mode == M_KERNEL)
			r = fcntl(fd, F_SETLEASE, F_RDLCK);
		else
			r = ioc_setlease(fd, PINFS_LEASE_READ);
		if (r == 0 && h->mode == M_SETSIG)
			r = ioc_setsig(fd, SIGRTMIN + 2);
		holder_answer(h->p.shm, reply, r);
		if (h->mode == M_POLL) {
			struct pollfd p = {.fd = fd, .events = POLLPRI};

			while (poll(&p, 1, -1) < 0 || !(p.revents & POLLPRI))
				;
			atomic_store(&h->p.shm->t_notify, now_ns());
		} else {
			while (!atomic_load(&h->p.shm->t_notify))
				sigsuspend(&old);
		}
		holder_woken(h->p.shm);
		if (h->mode == M_KERNEL)
			r = fcntl(fd, F_SETLEASE, F_UNLCK);
		else
			r = ioc_setlease(fd, PINFS_LEASE_UNLOCK);
		if (r < 0)
			_exit(3);
	}
	_exit(0);
}

static int holder_start(struct holder *h)
{
	return holder_fork(&h->p, holder_main, h);
}

/* The series of one holder mode. */
struct break_series {
	struct series *noop, *getxattr, *notify, *resume, *total;
};

/* One break: returns 0, or -1 with a message.  noop_path is a pinfs file
 * (noop_fd open on it). */
static int one_break(struct holder *h, int noop_fd, const char *noop_path,
		     struct break_series *s)
{
	uint64_t t0, t1, tn, tr;
	double gx;

	if (holder_take(&h->p) < 0) {
		progress("break: %s holder could not take its lease", mode_name[h->mode]);
		return -1;
	}
	if (h->mode == M_WRITTEN && pwrite(h->wfd, "x", 1, 0) != 1) {
		progress("break: write %s: %s", h->path, g_strerror(errno));
		return -1;
	}
	/* The baselines, timed next to the break they are compared with,
	 * after the same pause: all start with the daemon's threads asleep. */
	g_usleep(200);
	t0 = now_ns();
	ioc_noop(noop_fd);
	series_add(s->noop, (now_ns() - t0) / 1e3);
	g_usleep(200);
	t0 = now_ns();
	if (getxattr(noop_path, "security.capability", NULL, 0) >= 0 ||
	    errno != ENODATA) {
		progress("break: getxattr %s: not ENODATA", noop_path);
		return -1;
	}
	gx = (now_ns() - t0) / 1e3;
	series_add(s->getxattr, gx);
	g_usleep(200);
	h->size = h->size ? 0 : 4096;
	t0 = now_ns();
	if (truncate(h->path, h->size) < 0) {
		progress("break: truncate %s: %s", h->path, g_strerror(errno));
		return -1;
	}
	t1 = now_ns();
	tn = atomic_load(&h->p.shm->t_notify);
	tr = atomic_load(&h->p.shm->t_release);
	if (!tn || tr < t0) {
		progress("break: %s: the truncate returned before the holder released",
			 mode_name[h->mode]);
		return -1;
	}
	series_add(s->notify, (double)((int64_t)(tn - t0)) / 1e3);
	series_add(s->resume, (t1 - tr) / 1e3);
	series_add(s->total, (t1 - t0) / 1e3);
	return 0;
}

int run_break(void)
{
	struct bmount *pm = bm_mount("leases=on,break_time=10");
	struct bmount *plain = bm_plain();
	struct holder h[M_COUNT] = {0};
	int n = MAX(opt.iters / 4, 20), ret = 0, nfd = -1;
	g_autofree char *noop_path = bm_path(pm, "noop");

	for (int m = 0; m < M_COUNT; m++) {
		h[m].mode = m;
		h[m].path = m == M_KERNEL ? bm_path(plain, "leased")
					  : bm_path(pm, "leased-%d", m);
		holder_file(h[m].path);
		h[m].size = 4096;
		h[m].wfd = m == M_WRITTEN ? open(h[m].path, O_RDWR) : -1;
		if (holder_start(&h[m]) < 0) {
			progress("break: cannot start holder: %s", g_strerror(errno));
			ret = -1;
			goto out;
		}
	}
	holder_file(noop_path);
	nfd = open(noop_path, O_RDONLY);
	for (int r = 0; r < opt.rounds && !ret; r++) {
		progress("break: round %d/%d, %d breaks per mode", r + 1, opt.rounds, n);
		for (int m = 0; m < M_COUNT && !ret; m++) {
			struct break_series s = {
			    .noop = series_get("break", "noop", mode_name[m], 1, "us"),
			    .getxattr =
				series_get("break", "getxattr", mode_name[m], 1, "us"),
			    .notify =
				series_get("break", "notify", mode_name[m], 1, "us"),
			    .resume =
				series_get("break", "resume", mode_name[m], 1, "us"),
			    .total = series_get("break", "total", mode_name[m], 1, "us"),
			};
			struct series *all[] = {s.noop, s.getxattr, s.notify, s.resume,
						s.total};
			guint len0[G_N_ELEMENTS(all)];

			series_rounds_begin(all, G_N_ELEMENTS(all), len0);
			for (int i = 0; i < n; i++) {
				if (one_break(&h[m], nfd, noop_path, &s) < 0) {
					ret = -1;
					break;
				}
			}
			series_rounds_end(all, G_N_ELEMENTS(all), len0);
		}
	}
	if (!ret) {
		struct series *ks = series_find("break", "notify", "kernel-signal", 1);
		struct ratio *sig, *pol, *gs, *gp;

		sig = ratio_add("break", "pinfs signal notify / noop ioctl", 1,
				series_find("break", "notify", "pinfs-signal", 1),
				series_find("break", "noop", "pinfs-signal", 1));
		pol = ratio_add("break", "pinfs POLLPRI notify / noop ioctl", 1,
				series_find("break", "notify", "pinfs-pollpri", 1),
				series_find("break", "noop", "pinfs-pollpri", 1));
		ratio_add("break", "pinfs signal notify after a write / noop ioctl", 1,
			  series_find("break", "notify", "pinfs-written", 1),
			  series_find("break", "noop", "pinfs-written", 1));
		ratio_add("break", "pinfs F_SETSIG notify / noop ioctl", 1,
			  series_find("break", "notify", "pinfs-setsig", 1),
			  series_find("break", "noop", "pinfs-setsig", 1));
		/* The GETXATTR share of each: the rest is notify - it. */
		gs =
		    ratio_add("break", "getxattr round trip / noop ioctl (signal rounds)",
			      1, series_find("break", "getxattr", "pinfs-signal", 1),
			      series_find("break", "noop", "pinfs-signal", 1));
		gp = ratio_add("break",
			       "getxattr round trip / noop ioctl (POLLPRI rounds)", 1,
			       series_find("break", "getxattr", "pinfs-pollpri", 1),
			       series_find("break", "noop", "pinfs-pollpri", 1));
		ratio_add("break", "pinfs signal notify / kernel signal notify", 1,
			  series_find("break", "notify", "pinfs-signal", 1), ks);
		ratio_add("break", "pinfs POLLPRI notify / kernel signal notify", 1,
			  series_find("break", "notify", "pinfs-pollpri", 1), ks);
		ratio_add("break", "pinfs resume / kernel resume", 1,
			  series_find("break", "resume", "pinfs-signal", 1),
			  series_find("break", "resume", "kernel-signal", 1));
		ratio_add("break", "pinfs total / kernel total", 1,
			  series_find("break", "total", "pinfs-signal", 1),
			  series_find("break", "total", "kernel-signal", 1));
		target_add(
		    "break notification by signal and by POLLPRI <= 2x a no-op ioctl "
		    "(median)",
		    sig->median <= 2 && pol->median <= 2 ? "met" : "missed",
		    "signal %.2fx, POLLPRI %.2fx the no-op ioctl; the kernel's GETXATTR "
		    "round trip beside them %.2fx and %.2fx, so the rest is %.2fx "
		    "(signal) and %.2fx (POLLPRI); signal %.0f us vs kernel SIGIO %.0f "
		    "us",
		    sig->median, pol->median, gs->median, gp->median,
		    sig->median - gs->median, pol->median - gp->median,
		    series_find("break", "notify", "pinfs-signal", 1)->median,
		    ks->median);
	}
out:
	if (nfd >= 0)
		close(nfd);
	for (int m = 0; m < M_COUNT; m++) {
		holder_stop(&h[m].p);
		if (h[m].wfd > 0)
			close(h[m].wfd);
		g_free(h[m].path);
	}
	bm_unmount(pm);
	bm_unmount(plain);
	return ret;
}
