// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench-window.c - "window": what a staging window costs (docs/dma.md,
 * "Staging windows"), for windows of 1, 16 and 256 MiB (quick: 1 and 16).
 * Each round, interleaved, on one pinfs mount (window=always):
 *
 *   map          pinfs_window_map(): the daemon makes the memfd, reads
 *                the range from the backing file into it and hands it
 *                over; the caller maps it
 *   touch        the first write to every page of the new window
 *   touch-anon   the same on fresh anonymous memory of the same size
 *                (the floor)
 *   sync-all     pinfs_window_sync() after every page changed: checksums
 *                and one pwrite of the whole window
 *   pwrite       one pwrite() of the same bytes to the backing file (the
 *                floor of sync-all); both start with the file's pages clean
 *   sync-clean   pinfs_window_sync() with nothing changed (the checksum
 *                scan alone)
 *   unmap        pinfs_window_unmap() of a clean window
 *
 * With an RDMA device (soft-RoCE in the guest): the throughput of RDMA
 * WRITEs (tools/pin's rdma backend: 1 MiB writes over a loopback RC queue
 * pair) into a registered window and into registered anonymous memory of
 * the same size, alternating, in MB/s.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "pin.h"
#include "pinfs.h"

#define PAGE 4096

static double ms_since(uint64_t t0)
{
	return (now_ns() - t0) / 1e6;
}

static void add(const char *metric, const char *variant, double mib, double v,
		const char *unit)
{
	struct series *s = series_get("window", metric, variant, mib, unit);
	guint first = s->samples->len;

	series_add(s, v);
	series_end_round(s, first);
}

static void touch(volatile char *p, size_t len)
{
	for (size_t i = 0; i < len; i += PAGE)
		p[i] = 1;
}

/* One round of the cost measurements at size len.  0 or -1. */
static int cost_round(int fd, int backing_fd, size_t len, double mib)
{
	struct pinfs_window *w;
	uint64_t t0;
	char *anon;

	t0 = now_ns();
	if (pinfs_window_map(fd, 0, len, 0, &w) < 0) {
		note_add("window: pinfs_window_map of %.0f MiB: %s", mib,
			 g_strerror(errno));
		return -1;
	}
	add("map", "window", mib, ms_since(t0), "ms");

	t0 = now_ns();
	touch(w->addr, len);
	add("touch", "window", mib, ms_since(t0), "ms");

	anon =
	    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g_assert(anon != MAP_FAILED);
	t0 = now_ns();
	touch(anon, len);
	add("touch", "anon", mib, ms_since(t0), "ms");

	/* Each timed write starts with the file's pages clean, so neither
	 * pays for the other's dirty pages (balance_dirty_pages). */
	memset(w->addr, (int)(now_ns() & 0x7f) + 1, len);
	fdatasync(backing_fd);
	t0 = now_ns();
	if (pinfs_window_sync(w) < 0)
		g_error("pinfs_window_sync: %s", g_strerror(errno));
	add("sync-all", "window", mib, ms_since(t0), "ms");

	memset(anon, 3, len);
	fdatasync(backing_fd);
	t0 = now_ns();
	g_assert_cmpint(pwrite(backing_fd, anon, len, 0), ==, (ssize_t)len);
	add("sync-all", "pwrite", mib, ms_since(t0), "ms");
	munmap(anon, len);

	t0 = now_ns();
	if (pinfs_window_sync(w) < 0)
		g_error("pinfs_window_sync: %s", g_strerror(errno));
	add("sync-clean", "window", mib, ms_since(t0), "ms");

	t0 = now_ns();
	if (pinfs_window_unmap(w) < 0)
		g_error("pinfs_window_unmap: %s", g_strerror(errno));
	add("unmap", "window", mib, ms_since(t0), "ms");
	return 0;
}

/* MB/s of len bytes of RDMA WRITE into the pinned region r. */
static double rdma_mbps(struct pin_region *r, size_t len)
{
	GError *err = NULL;
	uint64_t t0 = now_ns();

	if (!pin_dma_write(r, 0, len, 0x5a, 0, &err))
		g_error("RDMA WRITE: %s", err->message);
	return len / ((now_ns() - t0) / 1e9) / 1e6;
}

/* RDMA WRITE into a window beside anonymous memory, alternating. */
static void rdma_rounds(struct pin_backend *be, int fd, size_t len, double mib)
{
	struct pinfs_window *w;
	struct pin_region *rw, *ra;
	GError *err = NULL;
	void *anon;

	if (pinfs_window_map(fd, 0, len, 0, &w) < 0)
		g_error("pinfs_window_map: %s", g_strerror(errno));
	anon =
	    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g_assert(anon != MAP_FAILED);
	rw = pin_region(be, w->addr, len, 0, &err);
	if (!rw)
		g_error("registering the window: %s", err->message);
	ra = pin_region(be, anon, len, 0, &err);
	if (!ra)
		g_error("registering anonymous memory: %s", err->message);
	for (int r = 0; r < opt.rounds; r++) {
		add("rdma-write", "window", mib, rdma_mbps(rw, len), "MB/s");
		add("rdma-write", "anon", mib, rdma_mbps(ra, len), "MB/s");
	}
	pin_release(rw, NULL);
	pin_release(ra, NULL);
	pinfs_window_unmap(w);
	munmap(anon, len);
}

int run_window(void)
{
	static const double sizes[] = {1, 16, 256};
	struct bmount *m = bm_mount("window=always,break_time=0");
	g_autofree char *path = bm_path(m, "window");
	g_autofree char *bpath = g_build_filename(m->backing, "window", NULL);
	struct pin_backend *be;
	GError *err = NULL;
	int nsizes = opt.quick ? 2 : 3, fd, bfd, ret = 0;

	bfd = open(bpath, O_RDWR | O_CREAT | O_TRUNC, 0644);
	g_assert_cmpint(bfd, >=, 0);
	g_assert_cmpint(ftruncate(bfd, (off_t)sizes[nsizes - 1] << 20), ==, 0);
	fd = open(path, O_RDWR);
	g_assert_cmpint(fd, >=, 0);
	if (pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, 0) < 0)
		g_error("pinfs_setlease: %s", g_strerror(errno));

	for (int i = 0; i < nsizes; i++) {
		size_t len = (size_t)sizes[i] << 20;

		progress("window: %.0f MiB, %d rounds", sizes[i], opt.rounds);
		for (int r = 0; r < opt.rounds && !ret; r++)
			ret = cost_round(fd, bfd, len, sizes[i]);
		ratio_add("window", "touch: window / anon", sizes[i],
			  series_find("window", "touch", "window", sizes[i]),
			  series_find("window", "touch", "anon", sizes[i]));
		ratio_add("window", "sync-all: window / pwrite", sizes[i],
			  series_find("window", "sync-all", "window", sizes[i]),
			  series_find("window", "sync-all", "pwrite", sizes[i]));
	}

	be = pin_backend_open("rdma", &err);
	if (!be) {
		note_add("window: no RDMA WRITE figures: %s", err->message);
		g_error_free(err);
	} else {
		for (int i = 0; i < nsizes; i++) {
			progress("window: RDMA WRITE, %.0f MiB", sizes[i]);
			rdma_rounds(be, fd, (size_t)sizes[i] << 20, sizes[i]);
			ratio_add("window", "rdma-write: window / anon", sizes[i],
				  series_find("window", "rdma-write", "window", sizes[i]),
				  series_find("window", "rdma-write", "anon", sizes[i]));
		}
		pin_backend_close(be);
	}
	pinfs_release(fd);
	close(fd);
	close(bfd);
	bm_unmount(m);
	return ret ? 1 : 0;
}
