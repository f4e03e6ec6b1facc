// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench-cluster.c - "cluster": what joining daemons through etcd costs.
 *
 * Starts a 3-member etcd on loopback ports (temporary data directories),
 * two pinfs daemons A and B over one backing directory joined through it,
 * and a third, L, with no etcd=.  Each round, interleaved:
 *
 *   take+release  a read lease taken and released on one open file, on A
 *                 ("etcd") and on L ("local"): the target is the same cost
 *   break         a holder on A (SIGIO) and a truncate through B ("cross-
 *                 node") against a holder on L and a truncate through L
 *                 ("local"): notify = holder notified - truncate start,
 *                 total = truncate returned - truncate start
 *   etcd-rtt      one etcd transaction (a put) from the bench: the floor
 *                 of any cross-node step
 *   2, 3 holder nodes  the cross-node break with read leases on A and on
 *                 a third daemon C (and a fourth, D), the truncate through
 *                 B: notify is when the last of the holders was told
 */
#include <errno.h>
#include <fcntl.h>
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
#include "etcd.h"
#include "etcd3.h"
#include "pinfs_abi.h"

/* ---- a holder: takes a read lease, waits for SIGIO, stamps, releases ---- */

struct holder {
	char *path;
	struct holder_proc p; /* its process, pipes and shared page */
};

static void holder_main(void *arg, int cmd, int reply)
{
	struct holder *h = arg;
	sigset_t old;
	int fd = holder_open(h->path);
	char c;

	holder_catch_sigio(h->p.shm, &old);
	while (read(cmd, &c, 1) == 1 && c == 'g') {
		int r;

		/* Until the last change's intent is withdrawn (its node tells
		 * etcd after the change, and this node hears through its
		 * watch), a new lease is refused with EAGAIN. */
		for (int i = 0; (r = ioc_setlease(fd, PINFS_LEASE_READ)) < 0 &&
				errno == EAGAIN && i < 10000;
		     i++)
			g_usleep(100);

		atomic_store(&h->p.shm->t_notify, 0);
		holder_answer(h->p.shm, reply, r);
		while (!atomic_load(&h->p.shm->t_notify))
			sigsuspend(&old);
		holder_woken(h->p.shm);
		if (ioc_setlease(fd, PINFS_LEASE_UNLOCK) < 0)
			_exit(3);
	}
	_exit(0);
}

static int holder_start(struct holder *h)
{
	return holder_fork(&h->p, holder_main, h);
}

/* One break of the leases of holders h[0..nh) by a truncate of path (their
 * file, maybe through another mount) to size.  notify: when the last
 * holder was told. */
static int one_break_n(struct holder **h, int nh, const char *path, off_t size,
		       struct series *notify, struct series *total)
{
	uint64_t t0, t1, tn = 0;

	for (int i = 0; i < nh; i++) {
		if (holder_take(&h[i]->p) < 0) {
			progress("cluster: a holder could not take its lease");
			return -1;
		}
	}
	g_usleep(200);
	t0 = now_ns();
	if (truncate(path, size) < 0) {
		progress("cluster: truncate %s: %s", path, g_strerror(errno));
		return -1;
	}
	t1 = now_ns();
	for (int i = 0; i < nh; i++) {
		uint64_t n = atomic_load(&h[i]->p.shm->t_notify);

		if (!n || atomic_load(&h[i]->p.shm->t_release) < t0) {
			progress(
			    "cluster: the truncate returned before a holder released");
			return -1;
		}
		tn = MAX(tn, n);
	}
	series_add(notify, (double)(int64_t)(tn - t0) / 1e3);
	series_add(total, (double)(t1 - t0) / 1e3);
	return 0;
}

static int one_break(struct holder *h, const char *path, off_t size,
		     struct series *notify, struct series *total)
{
	return one_break_n(&h, 1, path, size, notify, total);
}

/* n take+release pairs on fd into s, in us per pair. */
static int take_release(int fd, int n, struct series *s)
{
	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		if (ioc_setlease(fd, PINFS_LEASE_READ) < 0 ||
		    ioc_setlease(fd, PINFS_LEASE_UNLOCK) < 0) {
			progress("cluster: lease: %s", g_strerror(errno));
			return -1;
		}
		series_add(s, (double)(now_ns() - t0) / 1e3);
	}
	return 0;
}

/* How many leases A can hold besides the others: the daemon keeps two
 * descriptors per open, and inherits our RLIMIT_NOFILE, which is raised
 * first as far as allowed (past the hard limit only with CAP_SYS_RESOURCE,
 * up to fs.nr_open). */
static int bulk_count(void)
{
	struct rlimit rl;
	int limit, want = opt.max_leases ? opt.max_leases : 10000;
	rlim_t need = (rlim_t)want * 2 + 1000;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_cur < need) {
		struct rlimit up = {need, MAX(need, rl.rlim_max)};

		if (setrlimit(RLIMIT_NOFILE, &up) < 0) {
			up.rlim_cur = MIN(need, rl.rlim_max);
			up.rlim_max = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &up) < 0)
				progress("cluster: RLIMIT_NOFILE: %s", g_strerror(errno));
		}
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return 0;
	}
	limit = ((int)MIN(rl.rlim_cur, (rlim_t)G_MAXINT) - 1000) / 2;
	if (want > limit)
		note_add("cluster: %d leases held, not %d: RLIMIT_NOFILE could be raised "
			 "to %d only (its hard limit; raising that needs "
			 "CAP_SYS_RESOURCE), and the daemon keeps two descriptors per "
			 "open",
			 limit, want, (int)rl.rlim_cur);
	return MAX(MIN(want, limit), 0);
}

/* Take (type PINFS_LEASE_READ) or drop (PINFS_LEASE_UNLOCK) a lease on
 * each of fds[0..n). */
static int bulk_leases(const int *fds, int n, int type)
{
	for (int i = 0; i < n; i++) {
		if (ioc_setlease(fds[i], type) < 0) {
			progress("cluster: lease %d of %d: %s", i, n, g_strerror(errno));
			return -1;
		}
	}
	return 0;
}

int run_cluster(void)
{
	struct etcd3 e = {0};
	struct bmount *a = NULL, *b = NULL, *l = NULL, *c3 = NULL, *d4 = NULL;
	struct holder ha = {0}, hl = {0}, h2a = {0}, h2c = {0}, h3a = {0}, h3c = {0},
		      h3d = {0};
	g_autofree char *oa = NULL, *ob = NULL, *oc = NULL, *od = NULL, *f2a = NULL,
			*f2b = NULL, *f2c = NULL, *f3a = NULL, *f3b = NULL, *f3c = NULL,
			*f3d = NULL;
	g_autofree char *fa = NULL, *fb = NULL, *fl = NULL, *ta = NULL, *tl = NULL;
	g_autoptr(GError) err = NULL;
	struct etcd *c = NULL;
	int n = opt.iters, nb = MAX(opt.iters / 20, 20), ret = -1, fda = -1, fdl = -1;
	off_t size = 4096;
	int nbulk = bulk_count(), nfiles = MAX(nbulk / 100, 1), *bulk = NULL, nopen = 0;

	if (etcd3_start(&e, &err) < 0) {
		progress("cluster: %s", err->message);
		goto out;
	}
	oa = g_strdup_printf("etcd=%s,node=a,cluster=bench%d,break_time=10", e.urls,
			     (int)getpid());
	ob = g_strdup_printf("etcd=%s,node=b,cluster=bench%d,break_time=10", e.urls,
			     (int)getpid());
	oc = g_strdup_printf("etcd=%s,node=c,cluster=bench%d,break_time=10", e.urls,
			     (int)getpid());
	od = g_strdup_printf("etcd=%s,node=d,cluster=bench%d,break_time=10", e.urls,
			     (int)getpid());
	a = bm_mount(oa);
	b = bm_mount_on(a->backing, ob);
	c3 = bm_mount_on(a->backing, oc);
	d4 = bm_mount_on(a->backing, od);
	f2a = bm_path(a, "leased2");
	f2b = bm_path(b, "leased2");
	f2c = bm_path(c3, "leased2");
	holder_file(f2a);
	h2a.path = f2a;
	h2c.path = f2c;
	f3a = bm_path(a, "leased3");
	f3b = bm_path(b, "leased3");
	f3c = bm_path(c3, "leased3");
	f3d = bm_path(d4, "leased3");
	holder_file(f3a);
	h3a.path = f3a;
	h3c.path = f3c;
	h3d.path = f3d;
	l = bm_mount("break_time=10");
	fa = bm_path(a, "leased");
	fb = bm_path(b, "leased");
	fl = bm_path(l, "leased");
	ta = bm_path(a, "takes");
	tl = bm_path(l, "takes");
	holder_file(fa);
	holder_file(fl);
	holder_file(ta);
	holder_file(tl);
	fda = open(ta, O_RDONLY);
	fdl = open(tl, O_RDONLY);
	ha.path = fa;
	hl.path = fl;
	c = etcd_new(e.urls, &err);
	if (fda < 0 || fdl < 0 || !c || holder_start(&ha) < 0 || holder_start(&hl) < 0 ||
	    holder_start(&h2a) < 0 || holder_start(&h2c) < 0 || holder_start(&h3a) < 0 ||
	    holder_start(&h3c) < 0 || holder_start(&h3d) < 0)
		goto out;
	/* nbulk opens on A over nfiles files, for leases held while measuring */
	bulk = g_new(int, MAX(nbulk, 1));
	for (int i = 0; i < nfiles; i++) {
		g_autofree char *name = g_strdup_printf("bulk%d", i);
		g_autofree char *path = bm_path(a, name);

		holder_file(path);
	}
	for (; nopen < nbulk; nopen++) {
		g_autofree char *name = g_strdup_printf("bulk%d", nopen % nfiles);
		g_autofree char *path = bm_path(a, name);

		bulk[nopen] = open(path, O_RDONLY);
		if (bulk[nopen] < 0) {
			progress("cluster: open %s: %s", path, g_strerror(errno));
			goto out;
		}
	}
	/* Warm up: A's first lease on each file announces its interest. */
	if (take_release(fda, 10, series_get("cluster", "warmup", "etcd", 1, "us")) < 0)
		goto out;

	for (int r = 0; r < opt.rounds; r++) {
		struct series *te =
		    series_get("cluster", "take+release", "etcd", 1, "us");
		struct series *tlo =
		    series_get("cluster", "take+release", "local", 1, "us");
		struct series *nx =
		    series_get("cluster", "break notify", "cross-node", 1, "us");
		struct series *nl =
		    series_get("cluster", "break notify", "local", 1, "us");
		struct series *tx =
		    series_get("cluster", "break total", "cross-node", 1, "us");
		struct series *tlb =
		    series_get("cluster", "break total", "local", 1, "us");
		struct series *rt = series_get("cluster", "etcd-rtt", "put", 1, "us");
		struct series *n2 = series_get("cluster", "break notify",
					       "cross-node, 2 holder nodes", 2, "us");
		struct series *t2 = series_get("cluster", "break total",
					       "cross-node, 2 holder nodes", 2, "us");
		struct series *n3 = series_get("cluster", "break notify",
					       "cross-node, 3 holder nodes", 3, "us");
		struct series *t3 = series_get("cluster", "break total",
					       "cross-node, 3 holder nodes", 3, "us");
		struct series *all[] = {te, tlo, nx, nl, tx, tlb, rt, n2, t2, n3, t3};
		guint s0[G_N_ELEMENTS(all)];
		struct holder *two[2] = {&h2a, &h2c}, *three[3] = {&h3a, &h3c, &h3d};

		series_rounds_begin(all, G_N_ELEMENTS(all), s0);
		progress("cluster: round %d/%d: %d take+release, %d breaks each", r + 1,
			 opt.rounds, n, nb);
		if (take_release(fda, n / 2, te) < 0 ||
		    take_release(fdl, n / 2, tlo) < 0 ||
		    take_release(fda, n / 2, te) < 0 || take_release(fdl, n / 2, tlo) < 0)
			goto out;
		for (int i = 0; i < nb; i++) {
			uint64_t t0;

			size = size ? 0 : 4096;
			if (one_break(&ha, fb, size, nx, tx) < 0 ||
			    one_break(&hl, fl, size, nl, tlb) < 0 ||
			    one_break_n(two, 2, f2b, size, n2, t2) < 0 ||
			    one_break_n(three, 3, f3b, size, n3, t3) < 0)
				goto out;
			t0 = now_ns();
			if (etcd_put(c, "/bench/rtt", "x", 0, &err) < 0) {
				progress("cluster: etcd: %s", err->message);
				goto out;
			}
			series_add(rt, (double)(now_ns() - t0) / 1e3);
		}
		series_rounds_end(all, G_N_ELEMENTS(all), s0);

		/* The same on A with nbulk more leases held there, over nfiles
		 * files (taken and dropped each round, in this round). */
		if (nbulk) {
			struct series *tb = series_get("cluster", "take+release",
						       "etcd, leases held", nbulk, "us");
			struct series *nxb =
			    series_get("cluster", "break notify",
				       "cross-node, leases held", nbulk, "us");
			struct series *txb =
			    series_get("cluster", "break total",
				       "cross-node, leases held", nbulk, "us");
			struct series *held[] = {tb, nxb, txb};
			guint b0[G_N_ELEMENTS(held)];

			series_rounds_begin(held, G_N_ELEMENTS(held), b0);
			if (bulk_leases(bulk, nbulk, PINFS_LEASE_READ) < 0 ||
			    take_release(fda, n, tb) < 0)
				goto out;
			for (int i = 0; i < nb; i++) {
				size = size ? 0 : 4096;
				if (one_break(&ha, fb, size, nxb, txb) < 0)
					goto out;
			}
			if (bulk_leases(bulk, nbulk, PINFS_LEASE_UNLOCK) < 0)
				goto out;
			series_rounds_end(held, G_N_ELEMENTS(held), b0);
		}
	}
	{
		struct ratio *take =
		    ratio_add("cluster", "take+release etcd= / without", 1,
			      series_find("cluster", "take+release", "etcd", 1),
			      series_find("cluster", "take+release", "local", 1));

		ratio_add("cluster", "cross-node break notify / local break notify", 1,
			  series_find("cluster", "break notify", "cross-node", 1),
			  series_find("cluster", "break notify", "local", 1));
		ratio_add("cluster", "cross-node break notify / etcd put", 1,
			  series_find("cluster", "break notify", "cross-node", 1),
			  series_find("cluster", "etcd-rtt", "put", 1));
		ratio_add("cluster", "cross-node break total / local break total", 1,
			  series_find("cluster", "break total", "cross-node", 1),
			  series_find("cluster", "break total", "local", 1));
		ratio_add("cluster", "break total, 2 holder nodes / 1 holder node", 2,
			  series_find("cluster", "break total",
				      "cross-node, 2 holder nodes", 2),
			  series_find("cluster", "break total", "cross-node", 1));
		ratio_add("cluster", "break total, 3 holder nodes / 1 holder node", 3,
			  series_find("cluster", "break total",
				      "cross-node, 3 holder nodes", 3),
			  series_find("cluster", "break total", "cross-node", 1));
		if (nbulk) {
			ratio_add("cluster", "take+release, leases held / none", nbulk,
				  series_find("cluster", "take+release",
					      "etcd, leases held", nbulk),
				  series_find("cluster", "take+release", "etcd", 1));
			ratio_add(
			    "cluster", "cross-node break notify, leases held / none",
			    nbulk,
			    series_find("cluster", "break notify",
					"cross-node, leases held", nbulk),
			    series_find("cluster", "break notify", "cross-node", 1));
			ratio_add("cluster", "cross-node break total, leases held / none",
				  nbulk,
				  series_find("cluster", "break total",
					      "cross-node, leases held", nbulk),
				  series_find("cluster", "break total", "cross-node", 1));
		}
		target_add("lease take+release with etcd= costs the same as without",
			   take->median <= 1.1 ? "met" : "missed",
			   "%.2fx (median of per-round ratios, p99 %.2fx)", take->median,
			   take->p99);
	}
	ret = 0;
out:
	for (int i = 0; i < nopen; i++)
		close(bulk[i]);
	g_free(bulk);
	if (fda >= 0)
		close(fda);
	if (fdl >= 0)
		close(fdl);
	holder_stop(&ha.p);
	holder_stop(&hl.p);
	holder_stop(&h2a.p);
	holder_stop(&h2c.p);
	holder_stop(&h3a.p);
	holder_stop(&h3c.p);
	holder_stop(&h3d.p);
	etcd_free(c);
	if (d4)
		bm_unmount(d4);
	if (c3)
		bm_unmount(c3);
	if (b)
		bm_unmount(b);
	if (a)
		bm_unmount(a);
	if (l)
		bm_unmount(l);
	etcd3_stop(&e);
	return ret;
}
