// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wbguard.c - write-back guards: the daemon's own writable open file of a
 * file whose page-cache pages a device holds pinned while a layout change
 * of the file waits.
 *
 * Without the writeback cache, FUSE writes a file's dirty pages back only
 * through an open file that was mapped shared and writable: mmap() puts it
 * on the inode's list of writable files and its release takes it off.  A
 * device that pinned pages of such a mapping may let them go, marking them
 * dirty, after the last of those files was released: the RDMA core does so
 * when a killed process's verbs file is released (ib_umem_release), after
 * its open file of the pinfs file if that has the lower descriptor.  The
 * pages then cannot be written back: when the parked truncate drops them
 * the kernel (Linux 6.1) warns in FUSE write-back, returns EIO to the next
 * fsync(), and the device's bytes are lost.  The daemon hears of the
 * release only after the kernel took the file off that list.
 *
 * So the daemon holds an open file of its own, opened O_RDWR through the
 * mount and mapped once, which keeps it on the list until it is closed:
 * from the grant of a lease on an open file that can be mapped shared and
 * writable (before the grant's reply, so before the holder can pin), and
 * from the parking of a change of a file in which the pinfs_dma module
 * sees pinned pages (pins nobody declared).  Every 100 ms the event
 * thread looks again; once the file has no lease, pin or waiter and the
 * module sees no page of it pinned (an unpin marks each page dirty before
 * it lets it go), it starts the write-back of the file through that file
 * and closes it.  sync_file_range(), not fsync(): fsync takes the inode
 * lock, which a parked truncate holds; the write-back is queued behind it
 * instead.  The daemon's open replies say noflush, so the close does not
 * wait for that lock either.  Only with the module: without it the daemon
 * cannot tell when the device lets the pages go.
 *
 * The daemon knows no path of the file, so it opens it by FUSE's own file
 * handle (node id and generation, as the kernel gives them to NFS) with
 * open_by_handle_at() on the mount, which needs CAP_DAC_READ_SEARCH: a
 * daemon without it holds no guard and says so once.  A single-threaded
 * daemon (-s) holds none either: it could not serve its own open.
 *
 * Locking: lock protects guards (pinfs_inode -> struct guard) and poll.  It
 * is never held across an open, a close or a question to the module.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wbguard.h"

#define POLL_MS 100
/* FUSE's file handle of a file (fuse_encode_fh): 32-bit words of the node
 * id, high then low, and the generation; type FILEID_INO64_GEN. */
#define FUSE_FH_TYPE 0x81
#define FUSE_FH_WORDS 3

struct guard {
	struct pinfs_inode *inode; /* held (inode_hold) while the guard is */
	int fd;			   /* O_RDWR on the mount, mapped once */
};

struct wbguard {
	struct pinfs *fs;
	struct dma *dma;
	GMainContext *ctx;
	GMutex lock;
	GHashTable *guards; /* pinfs_inode * -> struct guard * */
	GSource *poll;	    /* runs while guards is not empty */
	atomic_bool refused_logged;
};

struct wbguard *wbguard_new(struct pinfs *fs, struct dma *d, GMainContext *ctx)
{
	struct wbguard *g = g_new0(struct wbguard, 1);

	g->fs = fs;
	g->dma = d;
	g->ctx = ctx;
	g_mutex_init(&g->lock);
	g->guards = g_hash_table_new(g_direct_hash, g_direct_equal);
	return g;
}

/* Open inode through the mount by its FUSE file handle and map it once:
 * the descriptor, or -1 with errno. */
static int open_on_mount(struct wbguard *g, struct pinfs_inode *inode)
{
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t nodeid = inode_nodeid(g->fs, inode);
	uint32_t words[FUSE_FH_WORDS] = {(uint32_t)(nodeid >> 32), (uint32_t)nodeid,
					 inode->generation};
	struct file_handle *fh = g_malloc(sizeof(*fh) + sizeof(words));
	int root, fd = -1, err = 0;
	void *map;

	fh->handle_bytes = sizeof(words);
	fh->handle_type = FUSE_FH_TYPE;
	memcpy(fh->f_handle, words, sizeof(words));
	/* Not O_PATH, which open_by_handle_at() refuses (EBADF). */
	root = open(g->fs->cfg.mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		err = errno;
		goto out;
	}
	/* Our open, marked as a guard by lo_open (pinfs_file.wb_guard). */
	atomic_store(&inode->guard_tid, (int)gettid());
	fd = open_by_handle_at(root, fh, O_RDWR | O_CLOEXEC);
	atomic_store(&inode->guard_tid, 0);
	if (fd < 0) {
		err = errno;
		goto out;
	}
	/* A shared mapping of a file opened for writing (VM_MAYWRITE) puts it
	 * on the writable list for good; the mapping itself is not needed. */
	map = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		err = errno;
		close(fd);
		fd = -1;
		goto out;
	}
	munmap(map, page);
out:
	if (root >= 0)
		close(root);
	g_free(fh);
	errno = err;
	return fd;
}

/* Write back what the unpins dirtied, through the guard, and close it. */
static void guard_drop(struct wbguard *g, struct guard *gd)
{
	if (sync_file_range(gd->fd, 0, 0,
			    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				SYNC_FILE_RANGE_WAIT_AFTER) < 0)
		g_warning("%s: write-back of pages a device unpinned (inode %llu) "
			  "failed: %s",
			  g->fs->cfg.mountpoint, (unsigned long long)gd->inode->ino,
			  g_strerror(errno));
	close(gd->fd);
	inode_forget(g->fs, gd->inode, 1);
	g_free(gd);
}

/* Event thread: drop the guards of files with no page pinned any more. */
static gboolean on_poll(gpointer data)
{
	struct wbguard *g = data;
	GList *all, *gone = NULL;
	gboolean again;

	g_mutex_lock(&g->lock);
	all = g_hash_table_get_values(g->guards);
	g_mutex_unlock(&g->lock);
	/* Only this thread removes guards: those in all stay valid. */
	for (GList *e = all; e; e = e->next) {
		struct guard *gd = e->data;

		if (!atomic_load_explicit(&gd->inode->lease_active,
					  memory_order_relaxed) &&
		    dma_pinned_bytes(g->dma, gd->inode->ino, 0, LT_LEN_EOF, false) == 0)
			gone = g_list_prepend(gone, gd);
	}
	g_mutex_lock(&g->lock);
	for (GList *e = gone; e; e = e->next)
		g_hash_table_remove(g->guards, ((struct guard *)e->data)->inode);
	again = g_hash_table_size(g->guards) > 0;
	if (!again) {
		g_source_unref(g->poll);
		g->poll = NULL;
	}
	g_mutex_unlock(&g->lock);
	for (GList *e = gone; e; e = e->next)
		guard_drop(g, e->data);
	g_list_free(gone);
	g_list_free(all);
	return again;
}

void wbguard_take(struct wbguard *g, struct pinfs_inode *inode, bool leased)
{
	struct guard *gd;
	bool have;
	int fd;

	if (!g || g->fs->single_thread || !S_ISREG(inode->type) || !dma_watched(g->dma))
		return;
	g_mutex_lock(&g->lock);
	have = g_hash_table_contains(g->guards, inode);
	g_mutex_unlock(&g->lock);
	if (have ||
	    (!leased && dma_pinned_bytes(g->dma, inode->ino, 0, LT_LEN_EOF, false) == 0))
		return;
	fd = open_on_mount(g, inode);
	if (fd < 0) {
		if (!atomic_exchange(&g->refused_logged, true))
			g_message("%s: cannot keep an open file of its own for the "
				  "write-back of pages a device may pin (inode %llu): "
				  "%s; pages a killed holder's device unpins late may "
				  "be lost",
				  g->fs->cfg.mountpoint, (unsigned long long)inode->ino,
				  g_strerror(errno));
		return;
	}
	gd = g_new(struct guard, 1);
	gd->inode = inode;
	gd->fd = fd;
	inode_hold(g->fs, inode);
	g_mutex_lock(&g->lock);
	if (g_hash_table_contains(g->guards, inode)) {
		/* Another change of the file took one meanwhile. */
		g_mutex_unlock(&g->lock);
		guard_drop(g, gd);
		return;
	}
	g_hash_table_insert(g->guards, inode, gd);
	if (!g->poll) {
		g->poll = g_timeout_source_new(POLL_MS);
		g_source_set_callback(g->poll, on_poll, g, NULL);
		g_source_attach(g->poll, g->ctx);
	}
	g_mutex_unlock(&g->lock);
}

void wbguard_free(struct wbguard *g)
{
	GHashTableIter it;
	gpointer v;

	if (!g)
		return;
	if (g->poll) {
		g_source_destroy(g->poll);
		g_source_unref(g->poll);
	}
	/* Closed without write-back: the mount is going away. */
	g_hash_table_iter_init(&it, g->guards);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct guard *gd = v;

		close(gd->fd);
		inode_forget(g->fs, gd->inode, 1);
		g_free(gd);
	}
	g_hash_table_destroy(g->guards);
	g_mutex_clear(&g->lock);
	g_free(g);
}
