// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * inode.c - the daemon's inode table.
 *
 * Backing inodes are identified by (st_dev, st_ino) and held open with an
 * O_PATH descriptor, so that hard links share one pinfs inode, renames keep
 * it, and a file that is unlinked while open still works.  The kernel's
 * lookup count decides the inode's life: lookup adds one, forget takes n.
 *
 * Locking: fs->inode_lock protects the table and every nlookup.  It is
 * taken only on lookup, forget and their kin, never on read or write.
 *
 * File handles (name_to_handle_at, NFS export) carry our node id and its
 * generation; the kernel resolves one it no longer caches with a lookup of
 * "." in that node id.  Where the backing filesystem's own handles fit in
 * 64 bits (ext4, and xfs or tmpfs with 32-bit inode numbers), the node id
 * is the backing handle itself and the generation 0, so that such a lookup
 * can reopen the file with open_by_handle_at even in a daemon that never
 * saw it (after a restart).  The file must be inside the backing directory:
 * a directory is checked by walking "..", and any other file only when the
 * backing directory is the root of its filesystem.  Other files get node
 * ids from a counter, and a generation that is never 0.
 *
 * A forgotten inode is not freed at once either: it becomes a tombstone,
 * its descriptor closed and the backing file's own handle kept, and a
 * lookup of "." reopens it.  The TOMBS_MAX most recently forgotten are
 * kept.  Both need the daemon to run as root (open_by_handle_at).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "mountinfo.h"
#include "passthrough.h"
#include "perm.h"

static guint inode_hash(gconstpointer p)
{
	const struct pinfs_inode *i = p;

	return (guint)(i->ino ^ (i->ino >> 32) ^ ((uint64_t)i->dev * 0x9e3779b1u));
}

static gboolean inode_equal(gconstpointer a, gconstpointer b)
{
	const struct pinfs_inode *x = a, *y = b;

	return x->ino == y->ino && x->dev == y->dev;
}

static struct file_handle *backing_handle(int fd);

struct whole_fs_query {
	const char *target;
	dev_t dev;
	bool whole;
};

static bool match_backing_mount(const struct mountinfo_entry *m, void *arg)
{
	struct whole_fs_query *q = arg;

	if (m->dev == q->dev && !strcmp(m->target, q->target))
		q->whole = m->root && !strcmp(m->root, "/"); /* the topmost one counts */
	return true;
}

/* Can node ids be made from backing handles, and is every file of the
 * backing filesystem inside the backing directory? */
static void handles_init_format(struct pinfs *fs)
{
	struct file_handle *fh = backing_handle(fs->root.fd);
	struct whole_fs_query q = {fs->cfg.backing, fs->root.dev, false};

	fs->fh_type = -1;
	if (fh && fh->handle_bytes <= 12) {
		fs->fh_type = fh->handle_type;
		fs->fh_bytes = fh->handle_bytes;
	}
	g_free(fh);
	if (fs->cfg.backing && mountinfo_foreach(match_backing_mount, &q))
		fs->whole_fs = q.whole;
}

void inode_table_init(struct pinfs *fs)
{
	pthread_mutex_init(&fs->inode_lock, NULL);
	g_queue_init(&fs->tombs);
	/* open_by_handle_at wants a real descriptor on the backing fs, not
	 * an O_PATH one. */
	fs->handle_mount_fd =
	    openat(fs->root.fd, ".", O_RDONLY | O_DIRECTORY | O_NOATIME | O_CLOEXEC);
	if (fs->handle_mount_fd < 0)
		fs->handle_mount_fd =
		    openat(fs->root.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fs->inodes = g_hash_table_new(inode_hash, inode_equal);
	fs->live = g_hash_table_new(g_direct_hash, g_direct_equal);
	pthread_rwlock_init(&fs->nodeid_lock, NULL);
	fs->by_nodeid = g_hash_table_new(g_int64_hash, g_int64_equal);
	fs->next_nodeid = FUSE_ROOT_ID + 1;
	fs->root.nodeid = FUSE_ROOT_ID;
	handles_init_format(fs);
}

#define TOMBS_MAX 65536

static atomic_uint next_generation = 1;

/* Free the released guard files of inode (pinfs_file.wb_guard): the
 * kernel holds no reference to the inode any more, so no request can name
 * them.  Called with inode_lock held, or at unmount. */
static void retired_free(struct pinfs_inode *inode)
{
	while (inode->retired) {
		struct pinfs_file *pf = inode->retired;

		inode->retired = pf->retired_next;
		if (pf->guard_mnt >= 0)
			close(pf->guard_mnt);
		close(pf->fd);
		g_free(pf);
	}
}

static void inode_free(struct pinfs_inode *inode)
{
	retired_free(inode);
	if (inode->fd >= 0)
		close(inode->fd);
	g_free(inode->backing_fh);
	if (inode->link_dir_fd >= 0)
		close(inode->link_dir_fd);
	g_free(inode->link_name);
	pthread_rwlock_destroy(&inode->layout_lock);
	g_free(inode);
}

/* ---- Node ids ---- */

/* The node id made from backing handle fh, or 0 if it makes none. */
static fuse_ino_t nodeid_of_handle(struct pinfs *fs, const struct file_handle *fh)
{
	unsigned char b[12] = {0};
	fuse_ino_t id;

	if (!fh || fs->fh_type < 0 || fh->handle_type != fs->fh_type ||
	    fh->handle_bytes != fs->fh_bytes)
		return 0;
	memcpy(b, fh->f_handle, fh->handle_bytes);
	for (int i = 8; i < 12; i++)
		if (b[i])
			return 0;
	memcpy(&id, b, sizeof(id));
	return id > FUSE_ROOT_ID ? id : 0;
}

/* The backing handle (g_free) that node id id was made from, or NULL if
 * it cannot be one. */
static struct file_handle *handle_of_nodeid(struct pinfs *fs, fuse_ino_t id)
{
	unsigned char b[12] = {0};
	struct file_handle *fh;

	if (fs->fh_type < 0 || id <= FUSE_ROOT_ID)
		return NULL;
	memcpy(b, &id, sizeof(id));
	for (unsigned int i = fs->fh_bytes; i < sizeof(id); i++)
		if (b[i])
			return NULL;
	fh = g_malloc0(sizeof(*fh) + fs->fh_bytes);
	fh->handle_type = fs->fh_type;
	fh->handle_bytes = fs->fh_bytes;
	memcpy(fh->f_handle, b, fs->fh_bytes);
	return fh;
}

/* Make an inode for backing descriptor fd (which it takes) with node id
 * nodeid if that is free, else one from the counter.  inode_lock held. */
static struct pinfs_inode *inode_new(struct pinfs *fs, int fd, const struct stat *st,
				     fuse_ino_t nodeid)
{
	struct pinfs_inode *inode = g_new0(struct pinfs_inode, 1);

	inode->fd = fd;
	inode->dev = st->st_dev;
	inode->ino = st->st_ino;
	inode->type = st->st_mode & S_IFMT;
	inode->link_dir_fd = -1;
	inode->guard_mnt = -1;
	pthread_rwlock_init(&inode->layout_lock, NULL);
	if (nodeid && !g_hash_table_contains(fs->by_nodeid, &nodeid)) {
		inode->nodeid = nodeid;
		inode->generation = 0;
	} else {
		/* Counter ids start high, away from most handle-made ones;
		 * their generation is never 0, so no handle-made handle
		 * matches them. */
		do
			inode->nodeid = (1ULL << 63) | fs->next_nodeid++;
		while (g_hash_table_contains(fs->by_nodeid, &inode->nodeid));
		do
			inode->generation = atomic_fetch_add(&next_generation, 1);
		while (!inode->generation);
	}
	g_hash_table_add(fs->inodes, inode);
	g_hash_table_add(fs->live, inode);
	pthread_rwlock_wrlock(&fs->nodeid_lock);
	g_hash_table_insert(fs->by_nodeid, &inode->nodeid, inode);
	pthread_rwlock_unlock(&fs->nodeid_lock);
	return inode;
}

/* Take inode out of every table.  inode_lock held. */
static void inode_unlist(struct pinfs *fs, struct pinfs_inode *inode)
{
	g_hash_table_remove(fs->inodes, inode);
	g_hash_table_remove(fs->live, inode);
	pthread_rwlock_wrlock(&fs->nodeid_lock);
	g_hash_table_remove(fs->by_nodeid, &inode->nodeid);
	pthread_rwlock_unlock(&fs->nodeid_lock);
}

/* Is directory fd the backing root or below it?  Walks "..". */
static bool dir_inside(struct pinfs *fs, int fd)
{
	int cur = fcntl(fd, F_DUPFD_CLOEXEC, 0), next;
	struct stat st, up;
	bool inside = false;

	for (int depth = 0; cur >= 0 && depth < 4096; depth++) {
		if (fstat(cur, &st) < 0)
			break;
		if (st.st_dev == fs->root.dev && st.st_ino == fs->root.ino) {
			inside = true;
			break;
		}
		next = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (next < 0)
			break;
		if (fstat(next, &up) < 0 || up.st_dev != st.st_dev ||
		    up.st_ino == st.st_ino) {
			close(next); /* another mount, or the filesystem's root */
			break;
		}
		close(cur);
		cur = next;
	}
	if (cur >= 0)
		close(cur);
	return inside;
}

/* ---- Tombstones: forgotten inodes that file handles can still name.
 * All with inode_lock held. ---- */

/* The backing handle of descriptor fd, g_free() it; NULL if it has none. */
static struct file_handle *backing_handle(int fd)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
	int mount_id;

	u.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", &u.fh, &mount_id, AT_EMPTY_PATH) < 0)
		return NULL;
	return g_memdup2(&u.fh, sizeof(u.fh) + u.fh.handle_bytes);
}

static bool same_handle(const struct file_handle *a, const struct file_handle *b)
{
	return a && b && a->handle_type == b->handle_type &&
	       a->handle_bytes == b->handle_bytes &&
	       !memcmp(a->f_handle, b->f_handle, a->handle_bytes);
}

/* Free a tombstone now. */
static void tomb_drop(struct pinfs *fs, struct pinfs_inode *inode)
{
	g_queue_delete_link(&fs->tombs, inode->tomb_link);
	inode->tomb_link = NULL;
	inode_unlist(fs, inode);
	passthrough_inode_gone(fs, inode);
	inode_free(inode);
}

/* inode's lookup count reached 0: keep it as a tombstone if it can be
 * reopened by handle later.  False: free it. */
static bool tomb_make(struct pinfs *fs, struct pinfs_inode *inode)
{
	if (!fs->running_as_root || fs->handle_mount_fd < 0 || inode->lease_active)
		return false;
	inode->backing_fh = backing_handle(inode->fd);
	if (!inode->backing_fh)
		return false;
	close(inode->fd);
	inode->fd = -1;
	if (inode->link_dir_fd >= 0)
		close(inode->link_dir_fd);
	inode->link_dir_fd = -1;
	g_free(inode->link_name);
	inode->link_name = NULL;
	g_queue_push_tail(&fs->tombs, inode);
	inode->tomb_link = g_queue_peek_tail_link(&fs->tombs);
	while (fs->tombs.length > TOMBS_MAX)
		tomb_drop(fs, g_queue_peek_head(&fs->tombs));
	return true;
}

/* Bring tombstone inode back with descriptor fd, if fd is the same file
 * (inode numbers are reused, handles are not).  False: it is not. */
static bool tomb_revive(struct pinfs *fs, struct pinfs_inode *inode, int fd)
{
	struct file_handle *fh = backing_handle(fd);
	bool same = same_handle(fh, inode->backing_fh);

	g_free(fh);
	if (!same)
		return false;
	g_queue_delete_link(&fs->tombs, inode->tomb_link);
	inode->tomb_link = NULL;
	g_free(inode->backing_fh);
	inode->backing_fh = NULL;
	inode->fd = fd;
	return true;
}

/* Remember where a symlink was found (called with inode_lock held). */
static void note_link_name(struct pinfs_inode *inode, struct pinfs_inode *parent,
			   const char *name)
{
	if (inode->link_name && !strcmp(inode->link_name, name) &&
	    inode->link_dir_fd >= 0) {
		struct stat a, b;

		if (fstat(inode->link_dir_fd, &a) == 0 && fstat(parent->fd, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return;
	}
	if (inode->link_dir_fd >= 0)
		close(inode->link_dir_fd);
	g_free(inode->link_name);
	inode->link_dir_fd = fcntl(parent->fd, F_DUPFD_CLOEXEC, 0);
	inode->link_name = g_strdup(name);
}

void inode_table_destroy(struct pinfs *fs)
{
	GHashTableIter it;
	gpointer key;

	g_hash_table_iter_init(&it, fs->inodes);
	while (g_hash_table_iter_next(&it, &key, NULL))
		inode_free(key);
	g_hash_table_destroy(fs->inodes);
	g_hash_table_destroy(fs->live);
	g_hash_table_destroy(fs->by_nodeid);
	pthread_rwlock_destroy(&fs->nodeid_lock);
	g_queue_clear(&fs->tombs);
	if (fs->handle_mount_fd >= 0)
		close(fs->handle_mount_fd);
	pthread_mutex_destroy(&fs->inode_lock);
}

/* The inode of node id ino, which the kernel holds (so it exists). */
struct pinfs_inode *inode_get(struct pinfs *fs, fuse_ino_t ino)
{
	struct pinfs_inode *inode;

	if (ino == FUSE_ROOT_ID)
		return &fs->root;
	pthread_rwlock_rdlock(&fs->nodeid_lock);
	inode = g_hash_table_lookup(fs->by_nodeid, &ino);
	pthread_rwlock_unlock(&fs->nodeid_lock);
	return inode;
}

/*
 * Look name up in parent and fill e for the kernel, adding one to the
 * inode's lookup count.  Returns 0 or an errno.
 */
int inode_lookup(struct pinfs *fs, struct pinfs_inode *parent, const char *name,
		 struct fuse_entry_param *e)
{
	struct pinfs_inode key, *inode;
	int fd, err = 0;

	memset(e, 0, sizeof(*e));
	e->attr_timeout = fs->cfg.timeout;
	e->entry_timeout = fs->cfg.timeout;

	fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		err = errno;
		close(fd);
		return err;
	}

	key.dev = e->attr.st_dev;
	key.ino = e->attr.st_ino;
	pthread_mutex_lock(&fs->inode_lock);
	if (key.dev == fs->root.dev && key.ino == fs->root.ino) {
		/* ".." of a top directory, or a bind mount loop: the root. */
		inode = &fs->root;
	} else {
		inode = g_hash_table_lookup(fs->inodes, &key);
	}
	if (inode && inode->fd < 0 && !tomb_revive(fs, inode, fd)) {
		/* A tombstone of an older file with the same inode number. */
		tomb_drop(fs, inode);
		inode = NULL;
	}
	if (inode) {
		if (inode->fd != fd)
			close(fd);
	} else {
		struct file_handle *fh =
		    key.dev == fs->root.dev ? backing_handle(fd) : NULL;

		inode = inode_new(fs, fd, &e->attr, nodeid_of_handle(fs, fh));
		g_free(fh);
	}
	inode->nlookup++;
	if (S_ISLNK(inode->type))
		note_link_name(inode, parent, name);
	pthread_mutex_unlock(&fs->inode_lock);

	perm_note(inode, e->attr.st_mode);
	e->ino = inode_nodeid(fs, inode);
	e->generation = inode->generation;
	return err;
}

/*
 * Lookup of "." in a node id this daemon does not know (one from before a
 * restart, or a tombstone long freed): open the backing file the node id
 * was made from, if it is inside the backing directory.
 */
static int lookup_by_handle(struct pinfs *fs, fuse_ino_t nodeid,
			    struct fuse_entry_param *e)
{
	struct file_handle *fh = handle_of_nodeid(fs, nodeid), *again = NULL;
	struct pinfs_inode key, *inode;
	int fd = -1, err = ESTALE;

	if (!fh || !fs->running_as_root || fs->handle_mount_fd < 0)
		goto out;
	fd = open_by_handle_at(fs->handle_mount_fd, fh, O_PATH | O_CLOEXEC);
	if (fd < 0 ||
	    fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ||
	    e->attr.st_dev != fs->root.dev)
		goto out;
	again = backing_handle(fd);
	if (nodeid_of_handle(fs, again) != nodeid)
		goto out;
	if (S_ISDIR(e->attr.st_mode) ? !dir_inside(fs, fd) : !fs->whole_fs)
		goto out;

	key.dev = e->attr.st_dev;
	key.ino = e->attr.st_ino;
	pthread_mutex_lock(&fs->inode_lock);
	inode = g_hash_table_lookup(fs->inodes, &key);
	if (inode && inode->fd < 0 && !same_handle(again, inode->backing_fh)) {
		tomb_drop(fs, inode); /* an older file with that inode number */
		inode = NULL;
	}
	if (inode && inode->nodeid != nodeid) {
		inode = NULL; /* known under another node id: not this handle */
	} else if (inode && inode->fd < 0) {
		if (tomb_revive(fs, inode, fd))
			fd = -1;
		else
			inode = NULL;
	} else if (!inode && !g_hash_table_contains(fs->by_nodeid, &nodeid)) {
		inode = inode_new(fs, fd, &e->attr, nodeid);
		fd = -1;
	}
	if (inode) {
		inode->nlookup++;
		e->ino = nodeid;
		e->generation = inode->generation;
		err = 0;
	}
	pthread_mutex_unlock(&fs->inode_lock);
	if (!err)
		perm_note(inode, e->attr.st_mode);
out:
	if (fd >= 0)
		close(fd);
	g_free(fh);
	g_free(again);
	return err;
}

/*
 * Lookup of "." in nodeid: the kernel resolving a file handle of ours
 * whose inode it no longer caches.  The node id may be a tombstone, or not
 * known here at all.
 */
int inode_lookup_self(struct pinfs *fs, fuse_ino_t nodeid, struct fuse_entry_param *e)
{
	struct pinfs_inode *inode;
	struct file_handle *fh = NULL;
	int fd = -1, err = 0;
	bool kept = false; /* fd is now inode's */

	memset(e, 0, sizeof(*e));
	e->attr_timeout = fs->cfg.timeout;
	e->entry_timeout = fs->cfg.timeout;
	pthread_mutex_lock(&fs->inode_lock);
	inode = nodeid == FUSE_ROOT_ID ? &fs->root
				       : g_hash_table_lookup(fs->by_nodeid, &nodeid);
	if (!inode) {
		pthread_mutex_unlock(&fs->inode_lock);
		return lookup_by_handle(fs, nodeid, e);
	}
	if (inode->fd < 0) {
		/* Open it by the backing handle without the lock (it may
		 * read the disk), then check that nobody else did. */
		fh = g_memdup2(inode->backing_fh,
			       sizeof(*fh) + inode->backing_fh->handle_bytes);
		pthread_mutex_unlock(&fs->inode_lock);
		fd = open_by_handle_at(fs->handle_mount_fd, fh, O_PATH | O_CLOEXEC);
		g_free(fh);
		if (fd < 0)
			return ESTALE; /* removed since, or not ours to open */
		pthread_mutex_lock(&fs->inode_lock);
		if (!g_hash_table_contains(fs->live, inode)) {
			err = ESTALE;
			goto unlock;
		}
		if (inode->fd < 0) {
			if (!tomb_revive(fs, inode, fd)) {
				err = ESTALE;
				goto unlock;
			}
			kept = true;
		}
	}
	if (fstatat(inode->fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		err = errno;
		goto unlock;
	}
	if (inode != &fs->root)
		inode->nlookup++;
	e->ino = inode_nodeid(fs, inode);
	e->generation = inode->generation;
unlock:
	if (fd >= 0 && !kept)
		close(fd);
	pthread_mutex_unlock(&fs->inode_lock);
	if (!err)
		perm_note(inode, e->attr.st_mode);
	return err;
}

/* The FUSE node id of inode. */
fuse_ino_t inode_nodeid(struct pinfs *fs, struct pinfs_inode *inode)
{
	(void)fs;
	return inode->nodeid;
}

/* The kernel released pf, a guard file of the daemon's own: keep it (and
 * its backing descriptor) until the kernel forgets its inode. */
void inode_retire_file(struct pinfs *fs, struct pinfs_file *pf)
{
	int mnt = pf->guard_mnt;

	pf->guard_mnt = -1;
	pthread_mutex_lock(&fs->inode_lock);
	pf->retired_next = pf->inode->retired;
	pf->inode->retired = pf;
	pthread_mutex_unlock(&fs->inode_lock);
	/* After an unmount, this may be the last hold on the superblock. */
	if (mnt >= 0)
		close(mnt);
}

/* Add one to the lookup count: the caller keeps inode alive past a reply
 * (after which the kernel may forget it) and drops it with inode_forget. */
void inode_hold(struct pinfs *fs, struct pinfs_inode *inode)
{
	if (inode == &fs->root)
		return;
	pthread_mutex_lock(&fs->inode_lock);
	inode->nlookup++;
	pthread_mutex_unlock(&fs->inode_lock);
}

/* Take n from the lookup count; free the inode when it reaches zero. */
void inode_forget(struct pinfs *fs, struct pinfs_inode *inode, uint64_t n)
{
	bool gone = false;

	if (inode == &fs->root)
		return;
	pthread_mutex_lock(&fs->inode_lock);
	g_assert(inode->nlookup >= n);
	inode->nlookup -= n;
	if (inode->nlookup == 0)
		retired_free(inode);
	if (inode->nlookup == 0 && !tomb_make(fs, inode)) {
		inode_unlist(fs, inode);
		passthrough_inode_gone(fs, inode);
		gone = true;
	}
	pthread_mutex_unlock(&fs->inode_lock);
	if (gone)
		inode_free(inode);
}

/*
 * A duplicate of the O_PATH descriptor of the inode at address key (its
 * key in the lease table), or -1 if that inode is gone.  For callers that
 * hold a key without a reference (the control channel, after the lease
 * that named it may have ended).
 */
int inode_dup_fd(struct pinfs *fs, uint64_t key)
{
	struct pinfs_inode *inode = (struct pinfs_inode *)(uintptr_t)key;
	int fd = -1;

	pthread_mutex_lock(&fs->inode_lock);
	if (inode == &fs->root ||
	    (g_hash_table_contains(fs->live, inode) && inode->fd >= 0))
		fd = fcntl(inode->fd, F_DUPFD_CLOEXEC, 0);
	pthread_mutex_unlock(&fs->inode_lock);
	return fd;
}

/*
 * The directory and name of a symlink inode, checked to still name it:
 * *dir_fd is a new descriptor and *name a new string.  ESTALE if the
 * link was renamed or removed since its last lookup.
 */
int inode_link_path(struct pinfs *fs, struct pinfs_inode *inode, int *dir_fd, char **name)
{
	struct stat st;
	int err = 0;

	pthread_mutex_lock(&fs->inode_lock);
	*dir_fd =
	    inode->link_dir_fd >= 0 ? fcntl(inode->link_dir_fd, F_DUPFD_CLOEXEC, 0) : -1;
	*name = g_strdup(inode->link_name);
	pthread_mutex_unlock(&fs->inode_lock);
	if (*dir_fd < 0 || !*name) {
		err = ESTALE;
		goto out;
	}
	if (fstatat(*dir_fd, *name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_dev != inode->dev || st.st_ino != inode->ino)
		err = ESTALE;
out:
	if (err) {
		if (*dir_fd >= 0)
			close(*dir_fd);
		g_free(*name);
		*dir_fd = -1;
		*name = NULL;
	}
	return err;
}
