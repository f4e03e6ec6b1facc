// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * passthrough.c - which opens the kernel serves from the backing file itself.
 *
 * With FUSE passthrough (Linux 6.9+, -o passthrough=auto) the daemon
 * registers a backing file with the kernel (FUSE_DEV_IOC_BACKING_OPEN on
 * /dev/fuse) and names its id in the open reply (wire.c).  The kernel then
 * sends read(), write(), splice and mmap() of that open file straight to a
 * file it opens on the backing file's path, with the daemon's credentials,
 * and never asks the daemon.  Everything else (truncate, fallocate,
 * setattr, copy_file_range, lease ioctls, release) still comes to the
 * daemon, so layout changes break and park behind leases as before.
 *
 * The kernel's rules (fs/fuse/iomode.c): an inode is either in cached mode
 * (opens that use its page cache) or in passthrough mode (opens with
 * FOPEN_PASSTHROUGH, all on one backing file) while any open file exists;
 * an open that does not match fails with EIO.  So the choice is per inode:
 * the first open decides, and every open while the inode has open files
 * follows it.  A passthrough open may not ask to keep the page cache.  The
 * daemon's counts lag the kernel's only in the safe direction: the kernel
 * leaves a mode before it sends the release that lets the daemon count it
 * out.
 *
 * An inode enters passthrough mode only if nothing it promises needs the
 * daemon on the read or write path:
 *   - no lease, pin or parked waiter, and the pinfs_dma module is not
 *     loaded (layout_keep_cache; with leases=off, dma_module_present):
 *     pages a device may have pinned stay in the FUSE page cache they were
 *     pinned in, and the module finds them there;
 *   - no staging window: reads and writes of a staged range must reach
 *     the daemon.  A window is made on an inode already in passthrough
 *     mode only if every open that bypasses the daemon is its holder's
 *     (passthrough_window_check; pt_bypass lists them, with the thread
 *     that opened each); opens made while it exists are direct I/O;
 *   - not set-ID: the daemon drops the bits for a write by an ordinary
 *     user judged by the backing file's own mode (perm_kill_priv), where
 *     the kernel would judge by the mode it cached;
 *   - not O_DIRECT: the daemon gives the backing file aligned buffers;
 *   - not while the mount says noatime: the kernel reads the backing file
 *     without O_NOATIME (atime.c), and its atime would move.
 * An O_DIRECT open or a window's direct-I/O open of an inode already in
 * passthrough mode gets FOPEN_DIRECT_IO with it: its reads and writes still
 * reach the daemon, only mmap() maps the backing file.
 *
 * A file that becomes set-ID while open through passthrough: the kernel
 * drops the bits itself before a passthrough write, judged by the writer's
 * own credentials (file_remove_privs on the FUSE file, which becomes a
 * SETATTR to the daemon), as for any write.
 *
 * Backing files are registered with CAP_SYS_RESOURCE out of the registering
 * thread's effective set, so the kernel's writes through them respect disk
 * quotas and reserved blocks like an ordinary user's.
 *
 * Pins of a passthrough mapping: mmap() of a file in passthrough mode maps
 * the backing file, so a device that pins such a mapping pins the backing
 * file's pages, not the FUSE inode's.  The pinfs_dma module is kept from
 * seeing no pin by refusing passthrough while it is loaded (above); a file
 * that entered passthrough mode before the module came is marked
 * (pt_used), and the pin check asks the module about its backing inode too
 * (layout.c).  The mark lives as long as the daemon's inode; when that is
 * freed the backing file is remembered here (gone), so that the inode made
 * for it later is marked again, up to GONE_MAX files, after which every
 * file's backing inode is asked about (gone_all).
 *
 * Locking: passthrough.lock protects every inode's pt_backing, pt_opens,
 * cached_opens and pt_bypass, and the counts below; it is taken on open
 * and release only
 * (never on the read or write path), and not at all with passthrough off.
 * It is not held over the registration ioctl: an open registers the
 * backing file first and then, under the lock, either installs the id or,
 * when another open of the inode decided meanwhile, closes it again.
 * gone_lock protects gone; it is taken only when an inode that was in
 * passthrough mode is freed, and by the pin check while gone is not empty.
 */
#ifndef G_LOG_DOMAIN
#define G_LOG_DOMAIN "pinfs"
#endif

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/fuse.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "atime.h"
#include "lease.h"
#include "passthrough.h"
#include "pinfs_dma_abi.h"
#include "proc.h"
#include "window.h"
#include "wire.h"

/* Protocol 7.40 pieces that Debian 12's <linux/fuse.h> (7.38) lacks, with
 * the kernel's values. */
#ifndef FUSE_DEV_IOC_BACKING_OPEN
struct fuse_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define FUSE_DEV_IOC_BACKING_OPEN _IOW(FUSE_DEV_IOC_MAGIC, 1, struct fuse_backing_map)
#define FUSE_DEV_IOC_BACKING_CLOSE _IOW(FUSE_DEV_IOC_MAGIC, 2, uint32_t)
#endif

struct passthrough {
	pthread_mutex_t lock;
	int devfd;	/* the session's /dev/fuse descriptor */
	atomic_bool on; /* new opens may use passthrough */
	char why[128];	/* for the log and pinfsctl status; under lock */
	uint64_t opens; /* passthrough opens since the mount; under lock */
	uint64_t files; /* open files in passthrough mode now; under lock */
	bool told_loop; /* the stack-depth refusal was logged; under lock */
	/* Backing files (dev, ino) of freed inodes that were in passthrough
	 * mode; see the top. */
	pthread_mutex_t gone_lock;
	GHashTable *gone;	/* of struct dev_ino, under gone_lock */
	atomic_uint gone_count; /* its size, read without the lock */
	atomic_bool gone_all;	/* gone overflowed: ask for every file */
};

/* Files remembered in passthrough.gone at most. */
#define GONE_MAX 65536

struct dev_ino {
	dev_t dev;
	ino_t ino;
};

static guint dev_ino_hash(gconstpointer p)
{
	const struct dev_ino *k = p;

	return g_int64_hash(&k->ino) ^ (guint)k->dev;
}

static gboolean dev_ino_equal(gconstpointer a, gconstpointer b)
{
	const struct dev_ino *x = a, *y = b;

	return x->dev == y->dev && x->ino == y->ino;
}

/* Does this thread have cap in its effective set? */
static bool have_cap(int cap)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) != 0)
		return false;
	return d[CAP_TO_INDEX(cap)].effective & CAP_TO_MASK(cap);
}

void passthrough_init(struct pinfs *fs)
{
	struct passthrough *pt = g_new0(struct passthrough, 1);
	const char *why = "in use";

	pthread_mutex_init(&pt->lock, NULL);
	pthread_mutex_init(&pt->gone_lock, NULL);
	pt->gone = g_hash_table_new_full(dev_ino_hash, dev_ino_equal, g_free, NULL);
	pt->devfd = fuse_session_fd(fs->se);
	if (!fs->cfg.passthrough)
		why = "off (passthrough=off)";
	else if (!wire_passthrough_offered())
		why = "off (the kernel does not offer FUSE passthrough)";
	else if (fs->writeback_cache)
		why = "off (writeback_cache)";
	else if (!have_cap(CAP_SYS_ADMIN))
		why = "off (registering backing files needs CAP_SYS_ADMIN)";
	else
		atomic_store(&pt->on, true);
	g_strlcpy(pt->why, why, sizeof(pt->why));
	wire_want_passthrough(atomic_load(&pt->on));
	fs->pt = pt;
	g_message("passthrough: %s", why);
}

void passthrough_free(struct pinfs *fs)
{
	if (!fs->pt)
		return;
	pthread_mutex_destroy(&fs->pt->lock);
	pthread_mutex_destroy(&fs->pt->gone_lock);
	g_hash_table_destroy(fs->pt->gone);
	g_free(fs->pt);
	fs->pt = NULL;
}

/* Turn passthrough off for the rest of the mount.  Called with pt->lock. */
static void pt_give_up(struct passthrough *pt, const char *why, int err)
{
	atomic_store(&pt->on, false);
	g_snprintf(pt->why, sizeof(pt->why), "off (%s: %s)", why, g_strerror(err));
	g_message("passthrough: %s", pt->why);
}

/*
 * Register fd's file as a backing file: its id (> 0), or -errno.  The id's
 * credentials are this thread's, without CAP_SYS_RESOURCE (see the top).
 */
static int register_backing(struct passthrough *pt, int fd)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct saved[2], d[2];
	struct fuse_backing_map map = {.fd = fd};
	bool dropped = false;
	int id, err = 0;

	if (syscall(SYS_capget, &h, saved) == 0) {
		memcpy(d, saved, sizeof(d));
		d[0].effective &= ~CAP_TO_MASK(CAP_SYS_RESOURCE);
		dropped = syscall(SYS_capset, &h, d) == 0;
	}
	id = ioctl(pt->devfd, FUSE_DEV_IOC_BACKING_OPEN, &map);
	if (id < 0)
		err = errno;
	if (dropped && syscall(SYS_capset, &h, saved) != 0)
		g_error("passthrough: cannot restore this thread's capabilities: %s",
			g_strerror(errno));
	return id > 0 ? id : -(err ? err : EIO);
}

static void unregister_backing(struct passthrough *pt, int id)
{
	uint32_t u = (uint32_t)id;

	if (ioctl(pt->devfd, FUSE_DEV_IOC_BACKING_CLOSE, &u) < 0)
		g_warning("passthrough: closing backing id %d: %s", id,
			  g_strerror(errno));
}

/* With leases=off nothing watches the pinfs_dma module (layout.c): is it
 * there?  One access() per inode entering passthrough mode. */
static bool dma_module_present(struct pinfs *fs)
{
	return !fs->leases && access(PINFS_DMA_DEVICE, F_OK) == 0;
}

/* May this open put its inode in passthrough mode, as far as the inode's
 * state tells?  See the top.  Called with pt->lock, before and after the
 * registration. */
static bool may_start(struct pinfs *fs, struct pinfs_file *pf, struct fuse_file_info *fi)
{
	struct pinfs_inode *inode = pf->inode;

	return !inode->cached_opens && !(pf->flags & O_DIRECT) && !fi->direct_io &&
	       !atime_open_flags(false) &&
	       !atomic_load_explicit(&inode->setid, memory_order_relaxed) &&
	       !atomic_load_explicit(&inode->windows, memory_order_relaxed) &&
	       !layout_keep_cache(fs, inode);
}

/* A registration failed with -id: give up on EPERM, log ELOOP (a backing
 * file on a stacking filesystem) once.  Called with pt->lock. */
static void registration_failed(struct passthrough *pt, int id)
{
	if (id == -EPERM) {
		pt_give_up(pt, "the kernel refused a backing file", EPERM);
	} else if (!pt->told_loop) {
		pt->told_loop = true;
		g_message("passthrough: not for some files: %s", g_strerror(-id));
	}
}

/*
 * The backing id for pf's open: the inode's, if it is in passthrough mode;
 * else a new one, if the inode may enter it (registered without the lock,
 * see the top); else 0.  Counts the open in either mode.
 */
static int choose_mode(struct pinfs *fs, struct pinfs_file *pf, struct fuse_file_info *fi)
{
	struct passthrough *pt = fs->pt;
	struct pinfs_inode *inode = pf->inode;
	int id = 0, mine = 0;

	pthread_mutex_lock(&pt->lock);
	pf->pt_counted = true;
	id = inode->pt_backing;
	if (id || !atomic_load(&pt->on) || !may_start(fs, pf, fi))
		goto out;
	pthread_mutex_unlock(&pt->lock);

	/* dma_module_present: an access() at most, outside the lock too. */
	if (!dma_module_present(fs))
		mine = register_backing(pt, pf->fd);

	pthread_mutex_lock(&pt->lock);
	if (mine < 0)
		registration_failed(pt, mine);
	id = inode->pt_backing; /* another open decided meanwhile? */
	if (!id && mine > 0 && atomic_load(&pt->on) && may_start(fs, pf, fi)) {
		id = inode->pt_backing = mine;
		mine = 0;
		atomic_store_explicit(&inode->pt_used, true, memory_order_relaxed);
	}
out:
	/* A window made since fill_open_reply looked: this open must reach
	 * the daemon too (window.c counts the window before it asks
	 * passthrough_window_check, which takes this lock; so this look and
	 * the pt_bypass entry below are one step for it). */
	if (atomic_load(&inode->windows)) {
		fi->direct_io = 1;
		pf->direct_io = true;
	}
	if (id > 0) {
		inode->pt_opens++;
		pf->passthrough = true;
		pt->files++;
		pt->opens++;
		if (!pf->direct_io)
			inode->pt_bypass = g_list_prepend(inode->pt_bypass, pf);
	} else {
		inode->cached_opens++;
	}
	pthread_mutex_unlock(&pt->lock);
	if (mine > 0)
		unregister_backing(pt, mine);
	return id;
}

void passthrough_open(struct pinfs *fs, struct pinfs_file *pf, struct fuse_file_info *fi,
		      bool create)
{
	struct passthrough *pt = fs->pt;
	int id;

	if (!pt || !atomic_load_explicit(&pt->on, memory_order_relaxed))
		return;
	id = choose_mode(fs, pf, fi);
	if (id <= 0)
		return;
	/* The kernel refuses FOPEN_KEEP_CACHE with passthrough; it drops the
	 * FUSE page cache on open, which the checks above allow. */
	fi->keep_cache = 0;
	if (pf->direct_io)
		fi->direct_io = 1;
	wire_next_open_passthrough(fi->fh, id, create);
}

void passthrough_release(struct pinfs *fs, struct pinfs_file *pf)
{
	struct passthrough *pt = fs->pt;
	struct pinfs_inode *inode = pf->inode;

	if (!pf->pt_counted)
		return;
	pthread_mutex_lock(&pt->lock);
	if (!pf->passthrough) {
		inode->cached_opens--;
	} else {
		pt->files--;
		inode->pt_bypass = g_list_remove(inode->pt_bypass, pf);
		if (--inode->pt_opens == 0) {
			/* The kernel holds its own reference to the backing
			 * file while it has passthrough files of the inode;
			 * the id only lets new opens join them. */
			unregister_backing(pt, inode->pt_backing);
			inode->pt_backing = 0;
		}
	}
	pthread_mutex_unlock(&pt->lock);
}

int passthrough_window_check(struct pinfs *fs, struct pinfs_inode *inode,
			     struct pinfs_file *pf, pid_t holder, pid_t *other,
			     bool *mode)
{
	struct passthrough *pt = fs->pt;
	GArray *tids;
	int err = 0;

	*other = 0;
	*mode = false;
	if (!pt)
		return 0;
	tids = g_array_new(FALSE, FALSE, sizeof(pid_t));
	pthread_mutex_lock(&pt->lock);
	*mode = inode->pt_backing != 0;
	for (GList *l = inode->pt_bypass; l; l = l->next) {
		struct pinfs_file *o = l->data;

		if (o != pf)
			g_array_append_val(tids, o->opener);
	}
	pthread_mutex_unlock(&pt->lock);
	/* Outside the lock: /proc is read for each.  An open released
	 * meanwhile no longer matters; one made meanwhile is direct I/O. */
	for (guint i = 0; i < tids->len && !err; i++) {
		pid_t tid = g_array_index(tids, pid_t, i);

		if (tid <= 0 || proc_tid_to_tgid(tid) != holder) {
			*other = tid;
			err = EBUSY;
		}
	}
	g_array_free(tids, TRUE);
	return err;
}

void passthrough_status(struct pinfs *fs, char *why, size_t len, uint64_t *files,
			uint64_t *opens)
{
	struct passthrough *pt = fs->pt;

	*files = *opens = 0;
	if (!pt) {
		g_strlcpy(why, "off (not negotiated yet)", len);
		return;
	}
	pthread_mutex_lock(&pt->lock);
	g_strlcpy(why, pt->why, len);
	*files = pt->files;
	*opens = pt->opens;
	pthread_mutex_unlock(&pt->lock);
}

void passthrough_inode_gone(struct pinfs *fs, struct pinfs_inode *inode)
{
	struct passthrough *pt = fs->pt;
	struct dev_ino *k;

	if (!pt || !atomic_load_explicit(&inode->pt_used, memory_order_relaxed) ||
	    atomic_load(&pt->gone_all))
		return;
	k = g_new(struct dev_ino, 1);
	k->dev = inode->dev;
	k->ino = inode->ino;
	pthread_mutex_lock(&pt->gone_lock);
	if (g_hash_table_size(pt->gone) >= GONE_MAX) {
		/* Too many to remember: from now on every file counts. */
		atomic_store(&pt->gone_all, true);
		g_hash_table_remove_all(pt->gone);
		g_free(k);
		g_message("passthrough: more than %d files that were in passthrough mode "
			  "were forgotten; pin checks ask about every file's backing "
			  "inode from now on",
			  GONE_MAX);
	} else {
		g_hash_table_add(pt->gone, k);
	}
	atomic_store(&pt->gone_count, g_hash_table_size(pt->gone));
	pthread_mutex_unlock(&pt->gone_lock);
}

bool passthrough_maps_backing(struct pinfs *fs, struct pinfs_inode *inode)
{
	struct passthrough *pt = fs->pt;
	struct dev_ino k = {inode->dev, inode->ino};
	bool was;

	if (atomic_load_explicit(&inode->pt_used, memory_order_relaxed))
		return true;
	if (!pt || inode->type != S_IFREG)
		return false;
	if (atomic_load(&pt->gone_all))
		return true;
	if (!atomic_load(&pt->gone_count))
		return false;
	pthread_mutex_lock(&pt->gone_lock);
	/* Found: the mark moves back to the inode. */
	was = g_hash_table_remove(pt->gone, &k);
	atomic_store(&pt->gone_count, g_hash_table_size(pt->gone));
	pthread_mutex_unlock(&pt->gone_lock);
	if (was)
		atomic_store_explicit(&inode->pt_used, true, memory_order_relaxed);
	return was;
}
