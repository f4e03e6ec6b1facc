// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench-break.c - "break": how fast a lease break reaches its holder, and
 * how fast the breaking truncate finishes once the holder lets go.
 *
 * A holder process (forked; one per mode) takes a read lease, says so on a
 * pipe, and blocks until it is told of the break:
 *   pinfs-signal   SIGIO from the daemon; the handler stamps the time
 *   pinfs-pollpri  poll(POLLPRI) on the leased descriptor returns
 *   kernel-signal  a classic kernel lease (F_SETLEASE F_RDLCK) on a file of
 *                  a plain directory, SIGIO from the kernel
 * It then stamps the time and releases.  The bench process stamps the
 * start of its truncate() and its return.  The stamps are CLOCK_MONOTONIC
 * and live in shared memory.  Before each truncate the bench waits until
 * the holder says it is about to block, and 200 us more, so the holder is
 * asleep in sigsuspend() or poll() when the break starts, as a real holder
 * would be.  Just before each truncate, the bench times a no-op pinfs
 * ioctl: the baseline, measured under the same load as the break.
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
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "pinfs_abi.h"

enum mode { M_SIGNAL, M_POLL, M_KERNEL, M_COUNT };

static const char *const mode_name[] = {"pinfs-signal", "pinfs-pollpri", "kernel-signal"};

struct shm {
	_Atomic uint64_t t_notify;
	_Atomic uint64_t t_release;
	_Atomic int blocking; /* the holder is about to sleep for the break */
};

struct holder {
	enum mode mode;
	char *path;
	pid_t pid;
	int cmd, reply; /* pipe ends in the bench */
	struct shm *shm;
	off_t size; /* of the leased file: each truncate must change it, or it
		     * breaks nothing (pinfs drops a size change to the same size) */
};

static struct shm *child_shm;

static void on_sigio(int sig)
{
	uint64_t zero = 0;

	(void)sig;
	atomic_compare_exchange_strong(&child_shm->t_notify, &zero, now_ns());
}

/* The holder's loop: 'g' take a lease and wait for its break; 'q' quit. */
static void holder_main(struct holder *h, int cmd, int reply)
{
	sigset_t block, old;
	struct sigaction sa = {.sa_handler = on_sigio};
	char c;
	int fd;

	bm_forked_child();
	child_shm = h->shm;
	fd = open(h->path, O_RDONLY);
	if (fd < 0)
		_exit(1);
	sigemptyset(&block);
	sigaddset(&block, SIGIO);
	if (h->mode == M_POLL) {
		signal(SIGIO, SIG_IGN);
	} else {
		sigaction(SIGIO, &sa, NULL);
		sigprocmask(SIG_BLOCK, &block, &old);
		sigdelset(&old, SIGIO);
	}
	while (read(cmd, &c, 1) == 1 && c == 'g') {
		int r;

		atomic_store(&h->shm->t_notify, 0);
		if (h->mode == M_KERNEL)
			r = fcntl(fd, F_SETLEASE, F_RDLCK);
		else
			r = ioc_setlease(fd, PINFS_LEASE_READ);
		c = r < 0 ? 'e' : 'r';
		if (write(reply, &c, 1) != 1 || r < 0)
			_exit(2);
		atomic_store(&h->shm->blocking, 1);
		if (h->mode == M_POLL) {
			struct pollfd p = {.fd = fd, .events = POLLPRI};

			while (poll(&p, 1, -1) < 0 || !(p.revents & POLLPRI))
				;
			atomic_store(&h->shm->t_notify, now_ns());
		} else {
			while (!atomic_load(&h->shm->t_notify))
				sigsuspend(&old);
		}
		atomic_store(&h->shm->blocking, 0);
		atomic_store(&h->shm->t_release, now_ns());
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
	int cmd[2], reply[2];

	h->shm = mmap(NULL, sizeof(struct shm), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (h->shm == MAP_FAILED || pipe(cmd) < 0 || pipe(reply) < 0)
		return -1;
	h->pid = fork();
	if (h->pid < 0)
		return -1;
	if (h->pid == 0) {
		close(cmd[1]);
		close(reply[0]);
		holder_main(h, cmd[0], reply[1]);
	}
	close(cmd[0]);
	close(reply[1]);
	h->cmd = cmd[1];
	h->reply = reply[0];
	return 0;
}

static void holder_stop(struct holder *h)
{
	if (h->pid <= 0)
		return;
	/* A holder still waiting for a break (after an error) never reads
	 * its pipe again: give it a moment, then kill it. */
	if (write(h->cmd, "q", 1) == 1) {
		for (int i = 0; i < 100; i++) {
			if (waitpid(h->pid, NULL, WNOHANG) == h->pid)
				goto reaped;
			g_usleep(10000);
		}
	}
	kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
reaped:
	close(h->cmd);
	close(h->reply);
	munmap(h->shm, sizeof(struct shm));
	h->pid = 0;
}

/* One break: returns 0, or -1 with a message. */
static int one_break(struct holder *h, int noop_fd, struct series *noop,
		     struct series *notify, struct series *resume, struct series *total)
{
	uint64_t t0, t1, tn, tr;
	char c;

	if (write(h->cmd, "g", 1) != 1 || read(h->reply, &c, 1) != 1 || c != 'r') {
		progress("break: %s holder could not take its lease", mode_name[h->mode]);
		return -1;
	}
	while (!atomic_load(&h->shm->blocking))
		;
	/* The baseline, timed next to the break it is compared with. */
	t0 = now_ns();
	ioc_noop(noop_fd);
	series_add(noop, (now_ns() - t0) / 1e3);
	g_usleep(200);
	h->size = h->size ? 0 : 4096;
	t0 = now_ns();
	if (truncate(h->path, h->size) < 0) {
		progress("break: truncate %s: %s", h->path, g_strerror(errno));
		return -1;
	}
	t1 = now_ns();
	tn = atomic_load(&h->shm->t_notify);
	tr = atomic_load(&h->shm->t_release);
	if (!tn || tr < t0) {
		progress("break: %s: the truncate returned before the holder released",
			 mode_name[h->mode]);
		return -1;
	}
	series_add(notify, (double)((int64_t)(tn - t0)) / 1e3);
	series_add(resume, (t1 - tr) / 1e3);
	series_add(total, (t1 - t0) / 1e3);
	return 0;
}

static void write_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char buf[4096] = {1};

	if (fd >= 0) {
		if (write(fd, buf, sizeof(buf)) < 0)
			progress("write %s: %s", path, g_strerror(errno));
		close(fd);
	}
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
		write_file(h[m].path);
		h[m].size = 4096;
		if (holder_start(&h[m]) < 0) {
			progress("break: cannot start holder: %s", g_strerror(errno));
			ret = -1;
			goto out;
		}
	}
	write_file(noop_path);
	nfd = open(noop_path, O_RDONLY);
	for (int r = 0; r < opt.rounds && !ret; r++) {
		progress("break: round %d/%d, %d breaks per mode", r + 1, opt.rounds, n);
		for (int m = 0; m < M_COUNT && !ret; m++) {
			struct series *sn =
			    series_get("break", "notify", mode_name[m], 1, "us");
			struct series *sr =
			    series_get("break", "resume", mode_name[m], 1, "us");
			struct series *st =
			    series_get("break", "total", mode_name[m], 1, "us");
			struct series *so =
			    series_get("break", "noop", mode_name[m], 1, "us");
			guint n0 = sn->samples->len, r0 = sr->samples->len,
			      t0 = st->samples->len, o0 = so->samples->len;

			for (int i = 0; i < n; i++) {
				if (one_break(&h[m], nfd, so, sn, sr, st) < 0) {
					ret = -1;
					break;
				}
			}
			series_end_round(sn, n0);
			series_end_round(sr, r0);
			series_end_round(st, t0);
			series_end_round(so, o0);
		}
	}
	if (!ret) {
		struct series *ks = series_find("break", "notify", "kernel-signal", 1);
		struct ratio *sig, *pol;

		sig = ratio_add("break", "pinfs signal notify / noop ioctl", 1,
				series_find("break", "notify", "pinfs-signal", 1),
				series_find("break", "noop", "pinfs-signal", 1));
		pol = ratio_add("break", "pinfs POLLPRI notify / noop ioctl", 1,
				series_find("break", "notify", "pinfs-pollpri", 1),
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
		    "signal %.2fx, POLLPRI %.2fx the no-op ioctl; signal %.0f us vs "
		    "kernel SIGIO %.0f us (%.1fx)",
		    sig->median, pol->median,
		    series_find("break", "notify", "pinfs-signal", 1)->median, ks->median,
		    series_find("break", "notify", "pinfs-signal", 1)->median /
			ks->median);
	}
out:
	if (nfd >= 0)
		close(nfd);
	for (int m = 0; m < M_COUNT; m++) {
		holder_stop(&h[m]);
		g_free(h[m].path);
	}
	bm_unmount(pm);
	bm_unmount(plain);
	return ret;
}
