// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wbguard.c - write-back guards: the daemon's own writable open file of a
 * leased file, or of one whose page-cache pages a device holds pinned
 * while a layout change of it waits.
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
 * writable (opened soon after the grant), and
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
 * open_by_handle_at(), on a detached copy of the mount (open_tree) so that
 * the guard does not keep the mount busy; the copy goes when the daemon
 * serves the guard's release (inode_retire_file), so that a superblock
 * whose mount is gone ends as after an ordinary unmount.  That needs CAP_DAC_READ_SEARCH
 * and CAP_SYS_ADMIN: a daemon without them holds no guard and says so
 * once.  The opens are made by a thread of their own (opener), never by
 * a thread that serves requests: a worker waiting for its own open could
 * hold up the others, or all of them.
 *
 * Locking: lock protects guards (pinfs_inode -> struct guard), poll and
 * stopping.  It is never held across an open, a close or a question to
 * the module.  A guard whose open is under way (fd -1) belongs to the
 * opener; refs counts the opener's tasks and the mount's own reference,
 * so that an open still under way at unmount finds g.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
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
	int fd;			   /* O_RDWR on the mount, mapped once; -1: opening */
	bool leased;		   /* taken for a lease grant, not for pins seen */
};

struct wbguard {
	struct pinfs *fs;
	struct dma *dma;
	GMainContext *ctx;
	GThreadPool *opener; /* one thread: makes the opens */
	GMutex lock;
	GHashTable *guards; /* pinfs_inode * -> struct guard * */
	GSource *poll;	    /* runs while guards is not empty */
	bool stopping;	    /* unmount: the opener touches nothing more */
	gint refs;
	atomic_bool refused_logged;
};

static void opener_run(gpointer data, gpointer user_data);

struct wbguard *wbguard_new(struct pinfs *fs, struct dma *d, GMainContext *ctx)
{
	struct wbguard *g = g_new0(struct wbguard, 1);

	g->fs = fs;
	g->dma = d;
	g->ctx = ctx;
	g->refs = 1;
	g_mutex_init(&g->lock);
	g->guards = g_hash_table_new(g_direct_hash, g_direct_equal);
	g->opener = g_thread_pool_new(opener_run, g, 1, FALSE, NULL);
	return g;
}

static void wbguard_unref(struct wbguard *g)
{
	if (!g_atomic_int_dec_and_test(&g->refs))
		return;
	g_hash_table_destroy(g->guards);
	g_mutex_clear(&g->lock);
	g_free(g);
}

/*
 * Open inode through the mount by its FUSE file handle and map it once:
 * the descriptor, or -1 with errno.  Opened on a detached copy of the
 * mount (open_tree), not on the mount itself, so that the guard never
 * makes the mount busy: an unmount goes through, and the superblock (and
 * the daemon, whose session ends with it) lives on until the guard is
 * closed.
 */
static int open_on_mount(struct wbguard *g, struct pinfs_inode *inode)
{
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t nodeid = inode_nodeid(g->fs, inode);
	uint32_t words[FUSE_FH_WORDS] = {(uint32_t)(nodeid >> 32), (uint32_t)nodeid,
					 inode->generation};
	struct file_handle *fh = g_malloc(sizeof(*fh) + sizeof(words));
	int mnt, copy = -1, root = -1, fd = -1, err = 0;
	void *map;

	fh->handle_bytes = sizeof(words);
	fh->handle_type = FUSE_FH_TYPE;
	memcpy(fh->f_handle, words, sizeof(words));
	mnt = open(g->fs->cfg.mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (mnt >= 0)
		copy = open_tree(mnt, "",
				 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	/* Not O_PATH, which open_by_handle_at() refuses (EBADF). */
	if (copy >= 0)
		root = openat(copy, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		err = errno;
		goto out;
	}
	/* Our open, marked as a guard by lo_open (pinfs_file.wb_guard), which
	 * also takes the copy of the mount (pinfs_file.guard_mnt). */
	atomic_store(&inode->guard_mnt, copy);
	atomic_store(&inode->guard_tid, (int)gettid());
	fd = open_by_handle_at(root, fh, O_RDWR | O_CLOEXEC);
	atomic_store(&inode->guard_tid, 0);
	copy = atomic_exchange(&inode->guard_mnt, -1); /* -1 if taken */
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
	if (copy >= 0)
		close(copy);
	if (mnt >= 0)
		close(mnt);
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

/*
 * Event thread: drop the guards of files with no lease, pin or waiter and
 * no page pinned any more.
 */
static gboolean on_poll(gpointer data)
{
	struct wbguard *g = data;
	GList *open = NULL, *gone = NULL;
	GHashTableIter it;
	gpointer v;
	gboolean again;

	/* Only this thread removes open guards, so those in open stay valid;
	 * guards still opening belong to the opener. */
	g_mutex_lock(&g->lock);
	g_hash_table_iter_init(&it, g->guards);
	while (g_hash_table_iter_next(&it, NULL, &v))
		if (((struct guard *)v)->fd >= 0)
			open = g_list_prepend(open, v);
	g_mutex_unlock(&g->lock);
	for (GList *e = open; e; e = e->next) {
		struct guard *gd = e->data;

		if (!atomic_load_explicit(&gd->inode->lease_active,
					  memory_order_relaxed) &&
		    dma_pinned_bytes(g->dma, gd->inode->ino, -1, 0, LT_LEN_EOF, false) ==
			0)
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
	g_list_free(open);
	return again;
}

/* Called with lock held: check the guards every POLL_MS from now on. */
static void poll_start(struct wbguard *g)
{
	if (g->poll)
		return;
	g->poll = g_timeout_source_new(POLL_MS);
	g_source_set_callback(g->poll, on_poll, g, NULL);
	g_source_attach(g->poll, g->ctx);
}

/*
 * The opener thread: open the guard gd stands for, unless it was taken
 * for pins that are gone already.
 */
static void opener_run(gpointer data, gpointer user_data)
{
	struct wbguard *g = user_data;
	struct guard *gd = data;
	bool want = gd->leased || dma_pinned_bytes(g->dma, gd->inode->ino, -1, 0,
						   LT_LEN_EOF, false) > 0;
	int fd = want ? open_on_mount(g, gd->inode) : -1;
	int err = errno;

	g_mutex_lock(&g->lock);
	if (g->stopping) {
		/* Unmount: the inode table goes too. */
		g_mutex_unlock(&g->lock);
		if (fd >= 0)
			close(fd);
		g_free(gd);
		wbguard_unref(g);
		return;
	}
	if (fd >= 0) {
		gd->fd = fd;
		poll_start(g);
		g_mutex_unlock(&g->lock);
		wbguard_unref(g);
		return;
	}
	g_hash_table_remove(g->guards, gd->inode);
	g_mutex_unlock(&g->lock);
	if (want && !atomic_exchange(&g->refused_logged, true))
		g_message("%s: cannot keep an open file of its own for the write-back "
			  "of pages a device may pin (inode %llu): %s; pages a killed "
			  "holder's device unpins late may be lost",
			  g->fs->cfg.mountpoint, (unsigned long long)gd->inode->ino,
			  g_strerror(err));
	inode_forget(g->fs, gd->inode, 1);
	g_free(gd);
	wbguard_unref(g);
}

void wbguard_take(struct wbguard *g, struct pinfs_inode *inode, bool leased)
{
	struct guard *gd;

	if (!g || !S_ISREG(inode->type) || !dma_watched(g->dma))
		return;
	g_mutex_lock(&g->lock);
	if (g->stopping || g_hash_table_contains(g->guards, inode)) {
		g_mutex_unlock(&g->lock);
		return;
	}
	gd = g_new(struct guard, 1);
	gd->inode = inode;
	gd->fd = -1;
	gd->leased = leased;
	inode_hold(g->fs, inode);
	g_hash_table_insert(g->guards, inode, gd);
	g_atomic_int_inc(&g->refs);
	g_mutex_unlock(&g->lock);
	g_thread_pool_push(g->opener, gd, NULL);
}

void wbguard_free(struct wbguard *g)
{
	GHashTableIter it;
	gpointer v;

	if (!g)
		return;
	g_mutex_lock(&g->lock);
	g->stopping = true;
	if (g->poll) {
		g_source_destroy(g->poll);
		g_source_unref(g->poll);
		g->poll = NULL;
	}
	/* Closed without write-back: the mount is going away.  Guards still
	 * opening are the opener's to free. */
	g_hash_table_iter_init(&it, g->guards);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct guard *gd = v;

		if (gd->fd < 0)
			continue;
		close(gd->fd);
		inode_forget(g->fs, gd->inode, 1);
		g_free(gd);
	}
	g_hash_table_remove_all(g->guards);
	g_mutex_unlock(&g->lock);
	/* An open under way may wait for a request nobody serves any more:
	 * do not wait for it (it ends when the mount does).  With none, the
	 * pool goes at once. */
	g_thread_pool_free(g->opener, TRUE, g_atomic_int_get(&g->refs) == 1);
	wbguard_unref(g);
}
