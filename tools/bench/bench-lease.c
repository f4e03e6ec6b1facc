// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench-lease.c - "lease": the cost of taking and releasing a lease.
 *
 * For 1, 2, 4 ... max_threads threads, each on a file of its own, every
 * round runs:
 *   mixed   latency: each iteration times a PINFS_IOC_NOOP (the FUSE ioctl
 *           round trip, the floor of any design that decides leases in the
 *           daemon), a PINFS_IOC_SETLEASE read and a SETLEASE unlock, back
 *           to back on the same pinfs file.  Interleaving them means the
 *           lease and its baseline see the same load on the machine, so
 *           their ratio holds even when other work comes and goes;
 *   kernel  latency of fcntl(F_SETLEASE, F_RDLCK), then F_UNLCK, on a file
 *           of the backing directory (the kernel's own lease, no FUSE);
 *   noop, pinfs (take+release), kernel: throughput, each kind alone, all
 *           threads together (operations / wall time of the round).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "pinfs_abi.h"

enum kind { K_NOOP, K_PINFS, K_KERNEL, K_MIXED };

static const char *const kind_name[] = {"noop", "pinfs", "kernel", "pinfs"};

struct worker {
	pthread_t thread;
	pthread_barrier_t *bar;
	enum kind kind;
	int fd;
	int n;
	double *take, *rel, *noop; /* n latencies each, in microseconds */
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

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(w->bar);
	for (int i = 0; i < w->n; i++) {
		uint64_t t0, t1, t2;

		if (w->kind == K_MIXED) {
			t0 = now_ns();
			if (ioc_noop(w->fd) < 0)
				w->err = errno;
			w->noop[i] = (now_ns() - t0) / 1e3;
		}
		t0 = now_ns();
		if (w->kind == K_NOOP) {
			if (ioc_noop(w->fd) < 0)
				w->err = errno;
			w->take[i] = (now_ns() - t0) / 1e3;
			continue;
		}
		if (take(w->kind, w->fd) < 0)
			w->err = errno;
		t1 = now_ns();
		if (release(w->kind, w->fd) < 0)
			w->err = errno;
		t2 = now_ns();
		w->take[i] = (t1 - t0) / 1e3;
		w->rel[i] = (t2 - t1) / 1e3;
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
		w[i].take = g_new(double, per_thread);
		w[i].rel = g_new(double, per_thread);
		w[i].noop = g_new(double, per_thread);
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

	if (k == K_MIXED || k == K_KERNEL) {
		struct series *st =
		    series_get("lease", "take", kind_name[k], nthreads, "us");
		struct series *sr =
		    series_get("lease", "release", kind_name[k], nthreads, "us");
		struct series *sn = series_get("lease", "noop", "pinfs", nthreads, "us");
		guint st0 = st->samples->len, sr0 = sr->samples->len,
		      sn0 = sn->samples->len;

		for (int i = 0; i < nthreads; i++) {
			for (int j = 0; j < per_thread; j++) {
				series_add(st, w[i].take[j]);
				series_add(sr, w[i].rel[j]);
				if (k == K_MIXED)
					series_add(sn, w[i].noop[j]);
			}
		}
		series_end_round(st, st0);
		series_end_round(sr, sr0);
		series_end_round(sn, sn0);
	}
	if (k != K_MIXED) {
		double ops = (double)nthreads * per_thread * (k == K_NOOP ? 1 : 2);
		struct series *tp;

		tp = series_get("lease", "throughput", kind_name[k], nthreads, "ops/s");
		series_add(tp, ops / ((end - start) / 1e9));
		series_end_round(tp, tp->samples->len - 1);
	}
	for (int i = 0; i < nthreads; i++) {
		g_free(w[i].take);
		g_free(w[i].rel);
		g_free(w[i].noop);
	}
	g_free(w);
	if (err) {
		progress("lease: %s failed: %s", kind_name[k], g_strerror(err));
		return -1;
	}
	return 0;
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

int run_lease(void)
{
	struct bmount *pm = bm_mount("leases=on");
	int *pfds = g_new(int, opt.max_threads), *kfds = g_new(int, opt.max_threads);
	struct ratio *take1 = NULL, *rel1 = NULL;
	double worst_take = 0, worst_rel = 0;
	int worst_take_x = 1, worst_rel_x = 1, ret = 0;

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
