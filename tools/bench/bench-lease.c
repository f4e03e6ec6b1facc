// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench-lease.c - "lease": the cost of taking and releasing a lease.
 *
 * For 1, 2, 4 ... max_threads threads, each on a file of its own, every
 * round runs:
 *   mixed   latency: each iteration times a PINFS_IOC_NOOP (the FUSE ioctl
 *           round trip, the floor of any design that decides leases in the
 *           daemon), a PINFS_IOC_SETLEASE read and a SETLEASE unlock, back
 *           to back on the same pinfs file; then the same take and release
 *           through libpinfs (pinfs_setlease, pinfs_release) and through the
 *           preload shim's fcntl (F_SETLEASE F_LAYOUT, then a classic
 *           F_UNLCK, as an unmodified program calls it).  Interleaving them
 *           means every lease and its baseline see the same load on the
 *           machine, so their ratio holds even when other work comes and
 *           goes;
 *   kernel  latency of fcntl(F_SETLEASE, F_RDLCK), then F_UNLCK, on a file
 *           of the backing directory (the kernel's own lease, no FUSE);
 *   noop, pinfs (take+release), kernel: throughput, each kind alone, all
 *           threads together (operations / wall time of the round).
 *
 * The shim is dlopen()ed (its fcntl found with dlsym), so the bench itself
 * runs without LD_PRELOAD: $PINFS_PRELOAD, else ../../lib/ beside this
 * binary (the build tree), else the installed libpinfs-preload.so.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "pinfs.h"

enum kind { K_NOOP, K_PINFS, K_KERNEL, K_MIXED };

static const char *const kind_name[] = {"noop", "pinfs", "kernel", "pinfs"};

/* The latencies a mixed iteration takes, in this order. */
enum op { OP_NOOP, OP_TAKE, OP_REL, OP_LTAKE, OP_LREL, OP_STAKE, OP_SREL, N_OP };

static const struct {
	const char *metric, *variant;
} op_series[N_OP] = {
    [OP_NOOP] = {"noop", "pinfs"},	 [OP_TAKE] = {"take", "pinfs"},
    [OP_REL] = {"release", "pinfs"},	 [OP_LTAKE] = {"take", "libpinfs"},
    [OP_LREL] = {"release", "libpinfs"}, [OP_STAKE] = {"take", "shim"},
    [OP_SREL] = {"release", "shim"},
};

typedef int (*fcntl_fn)(int fd, int cmd, ...);
static fcntl_fn shim_fcntl; /* NULL: no shim found, no shim rows */

struct worker {
	pthread_t thread;
	pthread_barrier_t *bar;
	enum kind kind;
	int fd;
	int n;
	double *lat[N_OP]; /* n latencies each, in microseconds */
	uint64_t end;
	int err;
};

static int take(enum kind k, int fd)
{
	if (k != K_KERNEL)
		return ioc_setlease(fd, PINFS_LEASE_READ);
	return fcntl(fd, F_SETLEASE, F_RDLCK);
}

static int release(enum kind k, int fd)
{
	if (k != K_KERNEL)
		return ioc_setlease(fd, PINFS_LEASE_UNLOCK);
	return fcntl(fd, F_SETLEASE, F_UNLCK);
}

/* Time one call into lat[i], keeping the first error. */
#define TIME_OP(w, o, i, call)                                                           \
	do {                                                                             \
		uint64_t t0_ = now_ns();                                                 \
		if ((call) < 0 && !(w)->err)                                             \
			(w)->err = errno;                                                \
		(w)->lat[o][i] = (now_ns() - t0_) / 1e3;                                 \
	} while (0)

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(w->bar);
	for (int i = 0; i < w->n; i++) {
		if (w->kind == K_NOOP) {
			TIME_OP(w, OP_TAKE, i, ioc_noop(w->fd));
			continue;
		}
		if (w->kind == K_MIXED)
			TIME_OP(w, OP_NOOP, i, ioc_noop(w->fd));
		TIME_OP(w, OP_TAKE, i, take(w->kind, w->fd));
		TIME_OP(w, OP_REL, i, release(w->kind, w->fd));
		if (w->kind != K_MIXED)
			continue;
		TIME_OP(w, OP_LTAKE, i,
			pinfs_setlease(w->fd, PINFS_LEASE_READ, 0, 0, PINFS_LEN_EOF));
		TIME_OP(w, OP_LREL, i, pinfs_release(w->fd));
		if (!shim_fcntl)
			continue;
		TIME_OP(w, OP_STAKE, i,
			shim_fcntl(w->fd, F_SETLEASE, F_LAYOUT | F_RDLCK));
		TIME_OP(w, OP_SREL, i, shim_fcntl(w->fd, F_SETLEASE, F_UNLCK));
	}
	w->end = now_ns();
	return NULL;
}

/* One round of one kind with nthreads threads on fds[]. */
static int one_round(enum kind k, int nthreads, const int *fds, int per_thread)
{
	struct worker *w = g_new0(struct worker, nthreads);
	pthread_barrier_t bar;
	uint64_t start, end = 0;
	int err = 0;

	pthread_barrier_init(&bar, NULL, nthreads + 1);
	for (int i = 0; i < nthreads; i++) {
		w[i].bar = &bar;
		w[i].kind = k;
		w[i].fd = fds[i];
		w[i].n = per_thread;
		for (int o = 0; o < N_OP; o++)
			w[i].lat[o] = g_new(double, per_thread);
		pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
	}
	start = now_ns();
	pthread_barrier_wait(&bar);
	for (int i = 0; i < nthreads; i++) {
		pthread_join(w[i].thread, NULL);
		end = MAX(end, w[i].end);
		if (w[i].err)
			err = w[i].err;
	}
	pthread_barrier_destroy(&bar);

	for (int o = 0; o < N_OP; o++) {
		const char *variant = op_series[o].variant;
		struct series *sr;
		guint s0;

		if (k == K_KERNEL && (o == OP_TAKE || o == OP_REL))
			variant = "kernel";
		else if (k != K_MIXED || (o >= OP_STAKE && !shim_fcntl))
			continue;
		sr = series_get("lease", op_series[o].metric, variant, nthreads, "us");
		s0 = sr->samples->len;
		for (int i = 0; i < nthreads; i++)
			for (int j = 0; j < per_thread; j++)
				series_add(sr, w[i].lat[o][j]);
		series_end_round(sr, s0);
	}
	if (k != K_MIXED) {
		double ops = (double)nthreads * per_thread * (k == K_NOOP ? 1 : 2);
		struct series *tp;

		tp = series_get("lease", "throughput", kind_name[k], nthreads, "ops/s");
		series_add(tp, ops / ((end - start) / 1e9));
		series_end_round(tp, tp->samples->len - 1);
	}
	for (int i = 0; i < nthreads; i++) {
		for (int o = 0; o < N_OP; o++)
			g_free(w[i].lat[o]);
	}
	g_free(w);
	if (err) {
		progress("lease: %s failed: %s", kind_name[k], g_strerror(err));
		return -1;
	}
	return 0;
}

/* Find the preload shim's fcntl (see the top of this file). */
static void shim_load(void)
{
	const char *env = g_getenv("PINFS_PRELOAD");
	g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
	g_autofree char *dir = self ? g_path_get_dirname(self) : NULL;
	g_autofree char *built =
	    dir ? g_build_filename(dir, "../../lib/libpinfs-preload.so", NULL) : NULL;
	const char *cand[] = {env && *env ? env : NULL, built, "libpinfs-preload.so"};
	void *h = NULL;

	for (size_t i = 0; i < G_N_ELEMENTS(cand) && !h; i++) {
		if (cand[i] && (i == 2 || access(cand[i], R_OK) == 0)) {
			h = dlopen(cand[i], RTLD_NOW | RTLD_LOCAL);
			if (h)
				meta_set("preload_shim", cand[i]);
		}
	}
	if (h)
		shim_fcntl = (fcntl_fn)dlsym(h, "fcntl");
	if (!shim_fcntl)
		note_add("lease: no libpinfs-preload.so found (set PINFS_PRELOAD): "
			 "no shim rows");
}

static int open_files(const char *dir, const char *prefix, int n, int *fds)
{
	for (int i = 0; i < n; i++) {
		g_autofree char *p = g_strdup_printf("%s/%s%d", dir, prefix, i);
		int fd = open(p, O_RDWR | O_CREAT, 0644);

		if (fd < 0)
			return -1;
		close(fd);
		/* A read lease needs a read-only open (kernel) and pinfs
		 * takes one on any open. */
		fds[i] = open(p, O_RDONLY);
		if (fds[i] < 0)
			return -1;
	}
	return 0;
}

static void verdict(const char *what, double limit, struct ratio *r1, double worst,
		    int worst_x)
{
	if (!r1)
		return;
	target_add(what, r1->median <= limit ? "met" : "missed",
		   "%.2fx the no-op ioctl at 1 thread (median of per-round ratios); "
		   "worst %.2fx at %d threads",
		   r1->median, worst, worst_x);
}

static void via_verdict(const char *what, struct ratio *r)
{
	if (!r)
		return;
	target_add(what, r->median <= 1.2 ? "met" : "missed",
		   "%.2fx the no-op ioctl at 1 thread (median of per-round ratios, "
		   "p99 of them %.2fx)",
		   r->median, r->p99);
}

int run_lease(void)
{
	struct bmount *pm = bm_mount("leases=on");
	int *pfds = g_new(int, opt.max_threads), *kfds = g_new(int, opt.max_threads);
	struct ratio *take1 = NULL, *rel1 = NULL, *via_take[2] = {0}, *via_rel[2] = {0};
	double worst_take = 0, worst_rel = 0;
	int worst_take_x = 1, worst_rel_x = 1, ret = 0;

	shim_load();
	for (int i = 0; i < opt.max_threads; i++)
		pfds[i] = kfds[i] = -1;
	if (open_files(pm->mnt, "p", opt.max_threads, pfds) < 0 ||
	    open_files(pm->backing, "k", opt.max_threads, kfds) < 0) {
		progress("lease: cannot open files: %s", g_strerror(errno));
		ret = -1;
		goto out;
	}
	for (int t = 1; t <= opt.max_threads; t *= 2) {
		int per = MAX(opt.iters / t, 100);

		if (budget_left() < 0) {
			note_add("lease: stopped before %d threads: time budget spent",
				 t);
			break;
		}
		progress("lease: %d thread(s), %d rounds of %d take+release each", t,
			 opt.rounds, per);
		for (int r = 0; r < opt.rounds; r++) {
			if (one_round(K_MIXED, t, pfds, per) < 0 ||
			    one_round(K_NOOP, t, pfds, per) < 0 ||
			    one_round(K_PINFS, t, pfds, per) < 0 ||
			    one_round(K_KERNEL, t, kfds, per) < 0) {
				ret = -1;
				goto out;
			}
		}
		{
			struct series *noop = series_find("lease", "noop", "pinfs", t);
			struct ratio *a, *b;

			a = ratio_add("lease", "pinfs take / noop ioctl", t,
				      series_find("lease", "take", "pinfs", t), noop);
			b = ratio_add("lease", "pinfs release / noop ioctl", t,
				      series_find("lease", "release", "pinfs", t), noop);
			for (int v = 0; v < 2; v++) {
				const char *var = v ? "shim" : "libpinfs";
				g_autofree char *tn =
				    g_strdup_printf("%s take / noop ioctl", var);
				g_autofree char *rn =
				    g_strdup_printf("%s release / noop ioctl", var);
				struct ratio *lt, *lr;

				if (v && !shim_fcntl)
					continue;
				lt =
				    ratio_add("lease", tn, t,
					      series_find("lease", "take", var, t), noop);
				lr = ratio_add("lease", rn, t,
					       series_find("lease", "release", var, t),
					       noop);
				if (t == 1) {
					via_take[v] = lt;
					via_rel[v] = lr;
				}
			}
			ratio_add("lease", "pinfs take / kernel take", t,
				  series_find("lease", "take", "pinfs", t),
				  series_find("lease", "take", "kernel", t));
			ratio_add("lease", "pinfs release / kernel release", t,
				  series_find("lease", "release", "pinfs", t),
				  series_find("lease", "release", "kernel", t));
			ratio_add("lease", "pinfs throughput / kernel throughput", t,
				  series_find("lease", "throughput", "pinfs", t),
				  series_find("lease", "throughput", "kernel", t));
			if (t == 1) {
				take1 = a;
				rel1 = b;
			}
			if (a->median > worst_take) {
				worst_take = a->median;
				worst_take_x = t;
			}
			if (b->median > worst_rel) {
				worst_rel = b->median;
				worst_rel_x = t;
			}
		}
	}
	verdict("taking a lease <= 1.2x a no-op ioctl", 1.2, take1, worst_take,
		worst_take_x);
	verdict("releasing a lease <= 1.2x a no-op ioctl", 1.2, rel1, worst_rel,
		worst_rel_x);
	via_verdict("through libpinfs: taking a lease <= 1.2x a no-op ioctl",
		    via_take[0]);
	via_verdict("through libpinfs: releasing a lease <= 1.2x a no-op ioctl",
		    via_rel[0]);
	via_verdict("through the preload shim: F_SETLEASE F_LAYOUT <= 1.2x a no-op ioctl",
		    via_take[1]);
	via_verdict("through the preload shim: F_SETLEASE F_UNLCK <= 1.2x a no-op ioctl",
		    via_rel[1]);
out:
	for (int i = 0; i < opt.max_threads; i++) {
		if (pfds[i] >= 0)
			close(pfds[i]);
		if (kfds[i] >= 0)
			close(kfds[i]);
	}
	g_free(pfds);
	g_free(kfds);
	bm_unmount(pm);
	return ret;
}
