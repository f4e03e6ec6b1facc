// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dma.c - the pinfs_dma module's view of the mount: the pins no process
 * registered with a lease, asked for when a layout change is checked and,
 * while any change is parked, every 50 ms on the event thread (the module
 * cannot tell us when a pin goes).
 */
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dma.h"
#include "pinfs_dma_abi.h"

struct dma {
	int fd; /* /dev/pinfs_dma */
	char *mountpoint;
	struct lease_table *t;
	GMainContext *ctx;
	GSource *pin_poll; /* event thread: rechecks pins-only waiters */
	bool stopping;	   /* set at unmount, before the table goes away */
};

struct dma *dma_open(const char *mountpoint)
{
	struct dma *d;
	int fd = open(PINFS_DMA_DEVICE, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	g_message("pinfs_dma module found: layout changes wait for DMA pins");
	d = g_new0(struct dma, 1);
	d->fd = fd;
	d->mountpoint = g_strdup(mountpoint);
	return d;
}

void dma_watch(struct dma *d, struct lease_table *t, GMainContext *ctx)
{
	d->t = t;
	d->ctx = ctx;
}

/*
 * The module needs a descriptor on our own superblock; an O_PATH open of
 * the mount root asks the daemon nothing, and is not kept, so that the
 * mount never looks busy to umount.
 */
uint64_t dma_pinned_bytes(struct dma *d, ino_t ino, uint64_t off, uint64_t len)
{
	struct pinfs_dma_query q;
	uint64_t bytes = 0;
	int root;

	root = open(d->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return 0;
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.fd = root;
	q.ino = ino;
	q.offset = off;
	q.len = len == LT_LEN_EOF ? 0 : len;
	if (ioctl(d->fd, PINFS_DMA_IOC_QUERY, &q) == 0)
		bytes = q.pinned * (uint64_t)sysconf(_SC_PAGESIZE);
	close(root);
	return bytes;
}

/*
 * Event thread: while any change is parked, look at unregistered pins
 * again.  Not only while some waiter waits for pins alone: a change parked
 * behind a lease starts waiting for pins alone when the lease goes, and
 * nothing would restart the poll then.
 */
static gboolean on_pin_poll(gpointer data)
{
	struct dma *d = data;
	struct lt_stats st;

	lt_get_stats(d->t, &st);
	if (d->stopping || st.parked_now == 0) {
		g_source_unref(d->pin_poll);
		d->pin_poll = NULL;
		return G_SOURCE_REMOVE;
	}
	lt_recheck(d->t);
	return G_SOURCE_CONTINUE;
}

static gboolean start_pin_poll(gpointer data)
{
	struct dma *d = data;

	if (d->pin_poll || d->stopping)
		return G_SOURCE_REMOVE;
	d->pin_poll = g_timeout_source_new(50);
	g_source_set_callback(d->pin_poll, on_pin_poll, d, NULL);
	g_source_attach(d->pin_poll, d->ctx);
	return G_SOURCE_REMOVE;
}

void dma_start_poll(struct dma *d)
{
	g_main_context_invoke(d->ctx, start_pin_poll, d);
}

void dma_stop(struct dma *d)
{
	d->stopping = true;
	if (d->pin_poll) {
		g_source_destroy(d->pin_poll);
		g_source_unref(d->pin_poll);
		d->pin_poll = NULL;
	}
}

void dma_close(struct dma *d)
{
	close(d->fd);
	g_free(d->mountpoint);
	g_free(d);
}
