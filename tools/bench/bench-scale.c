// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench-scale.c - "scale": latency and daemon cost against size.
 *
 *   leases   N read leases, one per file, held by the bench (N open files:
 *            a lease belongs to an open file description).  At each N:
 *            take/release latency of one more lease, and the daemon's
 *            VmRSS growth per open file and per lease.
 *   holders  H read leases on ONE file, held by a child process.  At each
 *            H: take/release latency of one more lease on that file, and
 *            the time of a truncate that breaks all H (the child releases
 *            them all on SIGIO).
 *   parked   P truncates, each of its own leased file, parked at once (a
 *            child with P threads); the bench then releases the P leases.
 *            Reports the daemon's threads while they are parked and the
 *            time until the last truncate returned.
 *
 * Every lease on a file of its own costs the daemon two descriptors (the
 * inode's O_PATH descriptor and the open file's), and the bench one, so
 * RLIMIT_NOFILE (which the daemon inherits) caps N and P near half of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "pinfs_abi.h"

/* Create name in the backing dir (no FUSE), open it through the mount. */
static int open_new(struct bmount *m, const char *name)
{
	g_autofree char *bp = g_build_filename(m->backing, name, NULL);
	g_autofree char *mp = g_build_filename(m->mnt, name, NULL);
	int fd = open(bp, O_WRONLY | O_CREAT, 0644);

	if (fd < 0)
		return -1;
	close(fd);
	return open(mp, O_RDONLY);
}

/* rounds x iters (noop, take, release) on fd, into (suite "scale") series.
 * The no-op ioctl is timed next to each lease so that a change of load
 * between two sizes does not pass for a change of the lease's cost. */
static struct ratio *probe_latency(int fd, const char *variant, double x, int iters)
{
	struct series *st = series_get("scale", "take", variant, x, "us");
	struct series *sr = series_get("scale", "release", variant, x, "us");
	struct series *sn = series_get("scale", "noop", variant, x, "us");

	for (int r = 0; r < opt.rounds; r++) {
		guint t0 = st->samples->len, r0 = sr->samples->len, n0 = sn->samples->len;

		for (int i = 0; i < iters; i++) {
			uint64_t z = now_ns(), a, b, c;

			ioc_noop(fd);
			a = now_ns();
			if (ioc_setlease(fd, PINFS_LEASE_READ) < 0)
				return NULL;
			b = now_ns();
			if (ioc_setlease(fd, PINFS_LEASE_UNLOCK) < 0)
				return NULL;
			c = now_ns();
			series_add(sn, (a - z) / 1e3);
			series_add(st, (b - a) / 1e3);
			series_add(sr, (c - b) / 1e3);
		}
		series_end_round(st, t0);
		series_end_round(sr, r0);
		series_end_round(sn, n0);
	}
	return ratio_add("scale",
			 variant[0] == 'l' ? "take / noop ioctl, N leases held"
					   : "take / noop ioctl, H holders of the file",
			 x, st, sn);
}

static int nofile_limit(void)
{
	struct rlimit rl;

	getrlimit(RLIMIT_NOFILE, &rl);
	return (int)rl.rlim_cur;
}

/* ---- leases over files ---- */

/* Most files the daemon can hold open at once: two descriptors each. */
static int file_limit(void)
{
	return (nofile_limit() - 1000) / 2;
}

/* 1, 10, 100 ... and max itself last. */
static int next_size(int n, int max)
{
	if (n == max)
		return max + 1;
	return n * 10 > max ? max : n * 10;
}

static int scale_leases(void)
{
	int limit = file_limit();
	int max = opt.max_leases ? MIN(opt.max_leases, limit) : limit;
	struct bmount *m = bm_mount("leases=on");
	GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
	int probe = open_new(m, "probe"), ret = 0;
	int iters = MAX(opt.iters / 4, 50);
	double mem_open = -1, mem_lease = -1, lat1 = -1, latn = -1;
	int latn_x = 0;
	struct ratio *norm1 = NULL, *normn = NULL;

	if (opt.max_leases > limit || (!opt.max_leases && !opt.quick))
		note_add(
		    "scale: at most %d leases over as many files: RLIMIT_NOFILE is %d "
		    "(hard limit; no CAP_SYS_RESOURCE to raise it) and the daemon "
		    "keeps two descriptors per open file",
		    limit, nofile_limit());
	for (int n = 1; n <= max; n = next_size(n, max)) {
		long rss0, rss1, rss2;
		int first = fds->len;

		if (budget_left() < 0) {
			note_add("scale: leases stopped before %d: time budget spent", n);
			break;
		}
		progress("scale: %d leases over %d files", n, n);
		rss0 = proc_status_kb(m->pid, "VmRSS");
		while ((int)fds->len < n) {
			g_autofree char *name = g_strdup_printf("f%u", fds->len);
			int fd = open_new(m, name);

			if (fd < 0) {
				note_add("scale: open #%u failed: %s", fds->len,
					 g_strerror(errno));
				ret = -1;
				goto out;
			}
			g_array_append_val(fds, fd);
		}
		rss1 = proc_status_kb(m->pid, "VmRSS");
		for (guint i = first; i < fds->len; i++) {
			if (ioc_setlease(g_array_index(fds, int, i), PINFS_LEASE_READ) <
			    0) {
				note_add("scale: lease #%u failed: %s", i,
					 g_strerror(errno));
				ret = -1;
				goto out;
			}
		}
		rss2 = proc_status_kb(m->pid, "VmRSS");
		/* Memory is measured once per step; small steps are below the
		 * page granularity of VmRSS and are not reported. */
		if (n - first >= 1000) {
			double po = (rss1 - rss0) * 1024.0 / (n - first);
			double pl = (rss2 - rss1) * 1024.0 / (n - first);

			series_add(series_get("scale", "daemon_bytes_per_open_file",
					      "leases", n, "bytes"),
				   po);
			series_add(series_get("scale", "daemon_bytes_per_lease", "leases",
					      n, "bytes"),
				   pl);
			series_add(series_get("scale", "daemon_rss", "leases", n, "KiB"),
				   rss2);
			mem_open = po;
			mem_lease = pl;
		}
		normn = probe_latency(probe, "leases", n, iters);
		if (!normn) {
			note_add("scale: probe lease failed: %s", g_strerror(errno));
			ret = -1;
			goto out;
		}
		series_finish(series_find("scale", "take", "leases", n));
		if (n == 1) {
			lat1 = series_find("scale", "take", "leases", n)->median;
			norm1 = normn;
		}
		latn = series_find("scale", "take", "leases", n)->median;
		latn_x = n;
	}
	if (lat1 > 0 && latn_x > 1) {
		struct series *t1 = series_find("scale", "take", "leases", 1);
		struct series *tn = series_find("scale", "take", "leases", latn_x);
		double norm;

		ratio_add("scale", "take at max leases / take at 1 lease", latn_x, tn,
			  t1);
		/* (take/noop at N) / (take/noop at 1), each the median of
		 * per-round ratios: the least sensitive to the machine's load */
		norm = normn->median / norm1->median;
		target_add(
		    "lease latency flat from 1 to 1,000,000 leases",
		    norm <= 1.2 ? (latn_x >= 1000000 ? "met" : "met up to the limit")
				: "missed",
		    "take median %.1f us at 1 lease, %.1f us at %d leases (%.2fx raw, "
		    "%.2fx relative to the no-op ioctl timed beside it); 1,000,000 "
		    "not reachable here (RLIMIT_NOFILE %d)",
		    lat1, latn, latn_x, latn / lat1, norm, nofile_limit());
	}
	if (mem_lease >= 0)
		target_add("<= 256 bytes of daemon memory per lease",
			   mem_lease <= 256 ? "met" : "missed",
			   "%.0f bytes per lease (VmRSS growth over the last step), plus "
			   "%.0f bytes per open file that any open costs",
			   mem_lease, mem_open);
out:
	for (guint i = 0; i < fds->len; i++)
		close(g_array_index(fds, int, i));
	g_array_free(fds, TRUE);
	if (probe >= 0)
		close(probe);
	bm_unmount(m);
	return ret;
}

/* ---- holders of one file ---- */

static volatile sig_atomic_t got_sigio;

static void on_sigio(int sig)
{
	(void)sig;
	got_sigio = 1;
}

/* Child: hold h leases on path; 'g' takes them all and releases them all
 * on the next SIGIO; 'q' quits. */
static void holders_main(const char *path, int h, int cmd, int reply)
{
	struct sigaction sa = {.sa_handler = on_sigio};
	int *fds = g_new(int, h);
	sigset_t block, old;
	char c;

	bm_forked_child();
	sigaction(SIGIO, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGIO);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigdelset(&old, SIGIO);
	for (int i = 0; i < h; i++) {
		fds[i] = open(path, O_RDONLY);
		if (fds[i] < 0)
			_exit(1);
	}
	while (read(cmd, &c, 1) == 1 && c == 'g') {
		got_sigio = 0;
		for (int i = 0; i < h; i++) {
			if (ioc_setlease(fds[i], PINFS_LEASE_READ) < 0)
				_exit(2);
		}
		if (write(reply, "r", 1) != 1)
			_exit(3);
		while (!got_sigio)
			sigsuspend(&old);
		for (int i = 0; i < h; i++)
			ioc_setlease(fds[i], PINFS_LEASE_UNLOCK);
	}
	_exit(0);
}

static int scale_holders(void)
{
	struct bmount *m = bm_mount("leases=on,break_time=30");
	g_autofree char *path = bm_path(m, "shared");
	int probe = open_new(m, "shared"), ret = 0;
	int iters = MAX(opt.iters / 10, 20);
	off_t size = 0; /* of "shared": a truncate to its size breaks nothing */

	for (int h = 1; h <= opt.max_holders && !ret; h *= 10) {
		int cmd[2], reply[2];
		pid_t pid;
		char c;

		if (budget_left() < 0) {
			note_add("scale: holders stopped before %d: time budget spent",
				 h);
			break;
		}
		progress("scale: %d holder(s) of one file", h);
		if (pipe(cmd) < 0 || pipe(reply) < 0)
			return -1;
		pid = fork();
		if (pid == 0) {
			close(cmd[1]);
			close(reply[0]);
			holders_main(path, h, cmd[0], reply[1]);
		}
		close(cmd[0]);
		close(reply[1]);
		for (int r = 0; r < opt.rounds; r++) {
			struct series *st =
			    series_get("scale", "take", "holders", h, "us");
			struct series *sr =
			    series_get("scale", "release", "holders", h, "us");
			struct series *sb =
			    series_get("scale", "break_all", "holders", h, "us");
			struct series *sn =
			    series_get("scale", "noop", "holders", h, "us");
			guint t0 = st->samples->len, r0 = sr->samples->len,
			      n0 = sn->samples->len;
			uint64_t a;

			if (write(cmd[1], "g", 1) != 1 || read(reply[0], &c, 1) != 1) {
				note_add(
				    "scale: the %d holders could not take their leases",
				    h);
				ret = -1;
				break;
			}
			for (int i = 0; i < iters; i++) {
				uint64_t w = now_ns(), x, y, z;

				ioc_noop(probe);
				x = now_ns();
				ioc_setlease(probe, PINFS_LEASE_READ);
				y = now_ns();
				ioc_setlease(probe, PINFS_LEASE_UNLOCK);
				z = now_ns();
				series_add(sn, (x - w) / 1e3);
				series_add(st, (y - x) / 1e3);
				series_add(sr, (z - y) / 1e3);
			}
			series_end_round(st, t0);
			series_end_round(sr, r0);
			series_end_round(sn, n0);
			size = size ? 0 : 4096;
			a = now_ns();
			if (truncate(path, size) < 0) {
				note_add("scale: truncate with %d holders: %s", h,
					 g_strerror(errno));
				ret = -1;
				break;
			}
			series_add(sb, (now_ns() - a) / 1e3);
			series_end_round(sb, sb->samples->len - 1);
		}
		ratio_add("scale", "take / noop ioctl, H holders of the file", h,
			  series_find("scale", "take", "holders", h),
			  series_find("scale", "noop", "holders", h));
		if (write(cmd[1], "q", 1) != 1 || ret)
			kill(pid, SIGKILL);
		close(cmd[1]);
		close(reply[0]);
		waitpid(pid, NULL, 0);
	}
	close(probe);
	bm_unmount(m);
	return ret;
}

/* ---- parked operations ---- */

/* libfuse's multi-threaded loop starts workers on demand, up to its
 * max_threads (10 by default): that pool is not a cost per parked op. */
#define FUSE_WORKERS 10

struct parked_shm {
	_Atomic int started, failed;
	_Atomic uint64_t last_end;
	off_t size; /* what every thread truncates to */
};

struct parked_arg {
	struct parked_shm *shm;
	char *path;
};

static void *truncater(void *p)
{
	struct parked_arg *a = p;
	uint64_t end, cur;

	atomic_fetch_add(&a->shm->started, 1);
	if (truncate(a->path, a->shm->size) < 0)
		atomic_fetch_add(&a->shm->failed, 1);
	end = now_ns();
	cur = atomic_load(&a->shm->last_end);
	while (end > cur && !atomic_compare_exchange_weak(&a->shm->last_end, &cur, end))
		;
	return NULL;
}

/* Child: one thread per path, each truncating its own file. */
static void truncaters_main(struct parked_shm *shm, char **paths, int n)
{
	pthread_t *t = g_new(pthread_t, n);
	struct parked_arg *a = g_new(struct parked_arg, n);
	pthread_attr_t attr;
	int made = 0;

	bm_forked_child();
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (int i = 0; i < n; i++) {
		a[i].shm = shm;
		a[i].path = paths[i];
		if (pthread_create(&t[i], &attr, truncater, &a[i]) != 0) {
			atomic_fetch_add(&shm->failed, n - i);
			break;
		}
		made++;
	}
	for (int i = 0; i < made; i++)
		pthread_join(t[i], NULL);
	_exit(0);
}

/* Wait until every lease in fds is breaking (its truncate is parked). */
static int wait_all_breaking(const int *fds, int n, struct parked_shm *shm)
{
	uint64_t deadline = now_ns() + 60000000000ull;
	int i = 0;

	while (i < n) {
		if (ioc_state(fds[i]) == PINFS_STATE_BREAKING) {
			i++;
			continue;
		}
		if (atomic_load(&shm->failed) || now_ns() > deadline)
			return -1;
		g_usleep(1000);
	}
	return 0;
}

static int scale_parked(void)
{
	int limit = file_limit();
	int max = MIN(opt.max_parked, limit);
	struct bmount *m = bm_mount("leases=on,break_time=60");
	int *fds = g_new0(int, max);
	char **paths = g_new0(char *, max + 1);
	int nfds = 0, ret = 0;
	off_t gen = 0; /* rounds so far: every round truncates to a new size */
	double res_max = -1, thr_max = -1;
	long thr_mount = proc_status_kb(m->pid, "Threads");
	int res_x = 0;

	if (max < opt.max_parked)
		note_add(
		    "scale: at most %d parked truncates: each needs a leased file of its "
		    "own, two daemon descriptors each, RLIMIT_NOFILE %d",
		    max, nofile_limit());
	for (int p = 1; p <= max && !ret; p = next_size(p, max)) {
		int rounds = p >= 1000 ? MIN(opt.rounds, 3) : opt.rounds;

		if (budget_left() < 0) {
			note_add("scale: parked stopped before %d: time budget spent", p);
			break;
		}
		progress("scale: %d parked truncate(s), %d rounds", p, rounds);
		while (nfds < p) {
			g_autofree char *name = g_strdup_printf("p%d", nfds);
			g_autofree char *bp = g_build_filename(m->backing, name, NULL);

			if (!g_file_set_contents(bp, "0123456789", 10, NULL)) {
				ret = -1;
				break;
			}
			paths[nfds] = bm_path(m, "%s", name);
			fds[nfds] = open(paths[nfds], O_RDONLY);
			if (fds[nfds] < 0) {
				note_add("scale: open %s: %s", paths[nfds],
					 g_strerror(errno));
				ret = -1;
				break;
			}
			nfds++;
		}
		for (int r = 0; r < rounds && !ret; r++) {
			struct parked_shm *shm;
			long idle, parked;
			uint64_t r0, r1;
			pid_t pid;

			for (int i = 0; i < p; i++) {
				if (ioc_setlease(fds[i], PINFS_LEASE_READ) < 0) {
					note_add("scale: lease for parking: %s",
						 g_strerror(errno));
					ret = -1;
					goto out;
				}
			}
			idle = proc_status_kb(m->pid, "Threads");
			shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
			memset(shm, 0, sizeof(*shm));
			/* A real size change for every file, old or new (created with
			 * 10 bytes), each round: a truncate to the size a file has
			 * already breaks nothing, and would never park. */
			shm->size = 11 + gen++;
			pid = fork();
			if (pid == 0)
				truncaters_main(shm, paths, p);
			if (wait_all_breaking(fds, p, shm) < 0) {
				note_add(
				    "scale: %d truncates did not all park (%d failed)", p,
				    atomic_load(&shm->failed));
				ret = -1;
			}
			parked = proc_status_kb(m->pid, "Threads");
			r0 = now_ns();
			for (int i = 0; i < p; i++)
				ioc_setlease(fds[i], PINFS_LEASE_UNLOCK);
			r1 = now_ns();
			waitpid(pid, NULL, 0);
			if (!ret && atomic_load(&shm->failed)) {
				note_add("scale: %d of %d parked truncates failed",
					 atomic_load(&shm->failed), p);
				ret = -1;
			}
			if (!ret) {
				uint64_t last = atomic_load(&shm->last_end);
				struct series *s;

				s = series_get("scale", "resolve", "parked", p, "ms");
				series_add(s, (last - r0) / 1e6);
				series_end_round(s, s->samples->len - 1);
				s = series_get("scale", "release_all", "parked", p, "ms");
				series_add(s, (r1 - r0) / 1e6);
				series_end_round(s, s->samples->len - 1);
				s = series_get("scale", "after_last_release", "parked", p,
					       "ms");
				series_add(s, last > r1 ? (last - r1) / 1e6 : 0);
				series_end_round(s, s->samples->len - 1);
				series_add(series_get("scale", "daemon_threads_idle",
						      "parked", p, "threads"),
					   idle);
				s = series_get("scale", "daemon_threads_parked", "parked",
					       p, "threads");
				series_add(s, parked);
				series_end_round(s, s->samples->len - 1);
			}
			munmap(shm, sizeof(*shm));
		}
		if (!ret) {
			struct series *a =
			    series_find("scale", "after_last_release", "parked", p);
			struct series *t =
			    series_find("scale", "daemon_threads_parked", "parked", p);
			struct series *i =
			    series_find("scale", "daemon_threads_idle", "parked", p);

			series_finish(a);
			series_finish(t);
			series_finish(i);
			(void)i;
			res_max = a->median;
			thr_max = t->max;
			res_x = p;
		}
	}
	if (res_x)
		target_add(
		    "10,000 parked operations cost no threads and resolve within 1 s",
		    thr_max > thr_mount + FUSE_WORKERS || res_max > 1000 ? "missed"
		    : res_x >= 10000					 ? "met"
				     : "met up to the limit",
		    "%d parked: at most %.0f daemon threads while parked (%ld after "
		    "mount; libfuse may add up to %d workers); last truncate "
		    "returned %.1f ms after the last release (median)",
		    res_x, thr_max, thr_mount, FUSE_WORKERS, res_max);
out:
	for (int i = 0; i < nfds; i++) {
		close(fds[i]);
		g_free(paths[i]);
	}
	g_free(fds);
	g_free(paths);
	bm_unmount(m);
	return ret;
}

int run_scale(void)
{
	int ret = 0;

	ret |= scale_leases();
	ret |= scale_holders();
	ret |= scale_parked();
	return ret;
}
