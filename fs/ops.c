// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ops.c - the FUSE handlers: a passthrough of the backing directory.
 *
 * Each handler translates one request into calls on the backing inode's
 * descriptor and one reply.  Errors are the backing filesystem's own errno.
 * Layout changes (size changes, O_TRUNC, fallocate, copy_file_range) are
 * handed to layout_change() with the functions that make them and reply
 * (the *_make and *_reply functions); for a file without leases that is
 * one atomic load and the change is made at once.
 *
 * Permission checks are the kernel's (pinfs always mounts with
 * default_permissions), made against the backing file's own mode and
 * owner; new files are given the caller's uid and gid.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "atime.h"
#include "daemon.h"
#include "handles.h"
#include "wire.h"
#include "nonblock.h"
#include "passthrough.h"
#include "perm.h"
#include "readahead.h"
#include "stamps.h"
#include "window.h"

#define PROC_FD_PATH_MAX 64

static void proc_path(char buf[PROC_FD_PATH_MAX], int fd)
{
	snprintf(buf, PROC_FD_PATH_MAX, "/proc/self/fd/%d", fd);
}

static struct pinfs_inode *req_inode(fuse_req_t req, fuse_ino_t ino)
{
	return inode_get(pinfs_data(req), ino);
}

static struct pinfs_file *fi_file(struct fuse_file_info *fi)
{
	return fi ? (struct pinfs_file *)(uintptr_t)fi->fh : NULL;
}

static int inode_stat(struct pinfs_inode *inode, struct stat *st)
{
	if (fstatat(inode->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	perm_note(inode, st->st_mode);
	return 0;
}

static void lo_init(void *userdata, struct fuse_conn_info *conn)
{
	struct pinfs *fs = userdata;

	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	readahead_init(conn, fs->cfg.mountpoint);
	perm_init(conn);
	/* File handles: the kernel may look up "." and ".." (inode.c). */
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	atime_init(fs->cfg.mountpoint);
	/*
	 * No writeback cache unless asked for (docs/design.md, "Writes"):
	 * with it the kernel owns a regular file's size and times, so a
	 * change made in the backing directory may not show.  Only with
	 * FUSE_HANDLE_KILLPRIV_V2 (wire.c): without it, a cached write
	 * to a set-ID file reaches the daemon as page writeback, which
	 * cannot tell who wrote, and the set-ID bits would stay.
	 */
	fs->writeback_cache = fs->cfg.writeback_cache &&
			      (conn->capable & FUSE_CAP_WRITEBACK_CACHE) &&
			      killpriv_v2_offered();
	if (fs->cfg.writeback_cache && !fs->writeback_cache)
		fprintf(stderr, "pinfs: this kernel or libfuse cannot do writeback_cache "
				"safely; writing through\n");
	if (fs->writeback_cache)
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/*
	 * No atomic O_TRUNC: with it the daemon truncates inside the OPEN, but
	 * the kernel sets its own size to 0 and drops the page cache later,
	 * in the opener's handle_truncate(), with no request to the daemon.
	 * A lease granted in between (and pages written, mapped or pinned
	 * under it) were cut behind the lease's back: seen as a holder's
	 * reads ending at 0 in security-soak.  Without it, open(O_TRUNC) is an
	 * OPEN and then a SETATTR(size 0) made under the kernel's inode lock,
	 * which the lease code checks like any truncate.  O_NONBLOCK: see
	 * nonblock_open_trunc().
	 */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	/*
	 * Never let the kernel throw away cached pages behind our back: a page
	 * a device has pinned for DMA would leave the file while the device
	 * keeps writing into it, the very loss pinfs exists to prevent.  With
	 * auto_inval_data the kernel drops a file's pages whenever it sees the
	 * mtime change; and an open drops them unless it says keep_cache
	 * (fill_open_reply).  Size changes still truncate the cache, as they
	 * must.
	 */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	passthrough_init(fs);
}

static void lo_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int err;

	if (!strcmp(name, "."))
		err = inode_lookup_self(pinfs_data(req), parent, &e);
	else
		err = inode_lookup(pinfs_data(req), req_inode(req, parent), name, &e);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

/* After a mknodat, mkdirat or symlinkat that returned res (-1 with errno):
 * give the new node to the caller (or remove it, with unlinkat's flags
 * unlink_flags, if that fails), look it up and reply. */
static void reply_new_node(fuse_req_t req, struct pinfs_inode *parent, const char *name,
			   int res, int unlink_flags)
{
	struct fuse_entry_param e;
	int err = 0;

	if (res < 0) {
		err = errno;
		goto out;
	}
	err = perm_chown_new(req, parent, name);
	if (err) {
		unlinkat(parent->fd, name, unlink_flags);
		goto out;
	}
	err = inode_lookup(pinfs_data(req), parent, name, &e);
out:
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void lo_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	struct pinfs_inode *dir = req_inode(req, parent);

	reply_new_node(req, dir, name,
		       mknodat(dir->fd, name, perm_create_mode(req, dir, mode), rdev), 0);
}

static void lo_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct pinfs_inode *dir = req_inode(req, parent);

	reply_new_node(req, dir, name,
		       mkdirat(dir->fd, name, perm_create_mode(req, dir, mode)),
		       AT_REMOVEDIR);
}

static void lo_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	struct pinfs_inode *dir = req_inode(req, parent);

	reply_new_node(req, dir, name, symlinkat(link, dir->fd, name), 0);
}

static void lo_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	struct pinfs_inode *inode = req_inode(req, ino);
	struct pinfs_inode *dir = req_inode(req, parent);
	char path[PROC_FD_PATH_MAX];
	struct fuse_entry_param e;
	int err = 0;

	proc_path(path, inode->fd);
	if (linkat(AT_FDCWD, path, dir->fd, name, AT_SYMLINK_FOLLOW) < 0) {
		err = errno;
		goto out;
	}
	err = inode_lookup(pinfs_data(req), dir, name, &e);
out:
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void lo_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct pinfs_inode *dir = req_inode(req, parent);

	fuse_reply_err(req, unlinkat(dir->fd, name, 0) < 0 ? errno : 0);
}

static void lo_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct pinfs_inode *dir = req_inode(req, parent);

	fuse_reply_err(req, unlinkat(dir->fd, name, AT_REMOVEDIR) < 0 ? errno : 0);
}

static void lo_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct pinfs_inode *dir = req_inode(req, parent);
	struct pinfs_inode *newdir = req_inode(req, newparent);
	int res = renameat2(dir->fd, name, newdir->fd, newname, flags);

	fuse_reply_err(req, res < 0 ? errno : 0);
}

static void lo_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inode_forget(pinfs_data(req), req_inode(req, ino), nlookup);
	fuse_reply_none(req);
}

static void lo_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	struct pinfs *fs = pinfs_data(req);

	for (size_t i = 0; i < count; i++)
		inode_forget(fs, inode_get(fs, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void lo_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int err;

	(void)fi;
	err = inode_stat(req_inode(req, ino), &st);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, pinfs_data(req)->cfg.timeout);
}

static int set_times(struct pinfs_inode *inode, struct pinfs_file *pf,
		     const struct stat *attr, int valid)
{
	struct timespec tv[2];
	char path[PROC_FD_PATH_MAX];

	tv[0].tv_nsec = UTIME_OMIT;
	tv[1].tv_nsec = UTIME_OMIT;
	if (valid & FUSE_SET_ATTR_ATIME_NOW)
		tv[0].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_ATIME)
		tv[0] = attr->st_atim;
	if (valid & FUSE_SET_ATTR_MTIME_NOW)
		tv[1].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_MTIME)
		tv[1] = attr->st_mtim;

	if (pf)
		return futimens(pf->fd, tv) < 0 ? errno : 0;
	if (S_ISLNK(inode->type)) {
		/* The magic link would follow the symlink: name it by its O_PATH
		 * descriptor instead (kernels that refuse that say EINVAL). */
		if (utimensat(inode->fd, "", tv, AT_EMPTY_PATH) == 0)
			return 0;
		return errno == EINVAL ? EPERM : errno;
	}
	proc_path(path, inode->fd);
	return utimensat(AT_FDCWD, path, tv, 0) < 0 ? errno : 0;
}

/* The work of setattr, once any layout check has passed: 0 and the new
 * attributes in *st, or an errno. */
static int setattr_make(fuse_req_t req, struct pinfs_inode *inode, struct stat *attr,
			int valid, struct pinfs_file *pf, struct stat *st)
{
	char path[PROC_FD_PATH_MAX];
	int err = 0;

	proc_path(path, inode->fd);
	if (!(valid & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
		       FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		       FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW))) {
		/* chown(f, -1, -1): the caller's set-ID bits to kill, and the
		 * backing file's own chown for its ctime, as on ext4. */
		if (S_ISREG(inode->type)) {
			err = perm_kill_chown(req, inode);
			if (err)
				goto out;
		}
		if (fchownat(inode->fd, "", (uid_t)-1, (gid_t)-1,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			err = errno;
			goto out;
		}
	}
	if (valid & FUSE_SET_ATTR_MODE) {
		if ((pf ? fchmod(pf->fd, attr->st_mode) : chmod(path, attr->st_mode)) <
		    0) {
			err = errno;
			goto out;
		}
	}
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;

		if (fchownat(inode->fd, "", uid, gid,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			err = errno;
			goto out;
		}
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		err = perm_kill_priv(req, inode);
		if (err)
			goto out;
		if ((pf ? ftruncate(pf->fd, attr->st_size)
			: truncate(path, attr->st_size)) < 0) {
			err = errno;
			goto out;
		}
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		err = set_times(inode, pf, attr, valid);
		if (err)
			goto out;
	}
	err = inode_stat(inode, st);
out:
	return err;
}

static void setattr_reply(fuse_req_t req, int err, const struct stat *st)
{
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, st, pinfs_data(req)->cfg.timeout);
}

/* A size change, with the rest of its setattr. */
struct setattr_change {
	struct layout_change c;
	struct stat attr;
	int valid;
	struct stat st; /* the attributes after it */
};

static void setattr_change_make(fuse_req_t req, struct layout_change *c)
{
	struct setattr_change *sc = container_of(c, struct setattr_change, c);
	int valid = sc->valid;

	if (c->size_stays)
		valid &= ~FUSE_SET_ATTR_SIZE;
	c->err = setattr_make(req, c->inode, &sc->attr, valid, c->pf, &sc->st);
}

static void setattr_change_reply(fuse_req_t req, struct layout_change *c)
{
	setattr_reply(req, c->err, &container_of(c, struct setattr_change, c)->st);
}

static void lo_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		       struct fuse_file_info *fi)
{
	struct pinfs_inode *inode = req_inode(req, ino);
	struct pinfs_file *pf = fi_file(fi);
	struct setattr_change sc;

	if (!(valid & FUSE_SET_ATTR_SIZE)) {
		struct stat st;

		setattr_reply(req, setattr_make(req, inode, attr, valid, pf, &st), &st);
		return;
	}
	sc = (struct setattr_change){
	    .c =
		{
		    .inode = inode,
		    .pf = pf,
		    .off = (uint64_t)attr->st_size,
		    .len = LT_LEN_EOF,
		    .nonblock = pf ? pf->flags & O_NONBLOCK
				   : nonblock_open_trunc(req, inode, attr),
		    .resize = true,
		    .name = "a truncate",
		    .make = setattr_change_make,
		    .reply = setattr_change_reply,
		},
	    .attr = *attr,
	    .valid = valid,
	};
	layout_change(req, &sc.c, sizeof(sc));
}

static void lo_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	ssize_t n = readlinkat(req_inode(req, ino)->fd, "", buf, sizeof(buf));

	if (n < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	if (n == (ssize_t)sizeof(buf)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

/* ---- Open files ---- */

static void file_free(void *h)
{
	struct pinfs_file *pf = h;

	close(pf->fd);
	g_free(pf);
}

static struct pinfs_file *file_new(struct pinfs *fs, struct pinfs_inode *inode, int fd,
				   int flags)
{
	struct pinfs_file *pf = g_new0(struct pinfs_file, 1);

	pf->fd = fd;
	pf->flags = flags;
	pf->inode = inode;
	handle_add(fs, pf, file_free);
	return pf;
}

/* The kernel will never release this handle (its open was interrupted),
 * or has released it.  A write-back guard is kept until the kernel forgets
 * its inode (pinfs_file.wb_guard). */
static void file_drop(struct pinfs *fs, struct pinfs_file *pf)
{
	passthrough_release(fs, pf);
	layout_note_release(pf->inode, pf->flags);
	handle_remove(fs, pf);
	if (pf->wb_guard)
		inode_retire_file(fs, pf);
	else
		file_free(pf);
}

/*
 * Flags for the backing open: O_NOFOLLOW would refuse the /proc magic link.
 * With the writeback cache the kernel reads pages to fill partly written
 * ones, also through a write-only handle, and it keeps the end of file
 * itself: O_WRONLY becomes O_RDWR, O_APPEND goes (the kernel already
 * turned every append into a write at its end of file).
 */
static int backing_flags(fuse_req_t req, int flags)
{
	flags &= ~O_NOFOLLOW;
	if (pinfs_data(req)->writeback_cache) {
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		flags &= ~O_APPEND;
	}
	return flags;
}

static void fill_open_reply(fuse_req_t req, struct fuse_file_info *fi,
			    struct pinfs_file *pf)
{
	fi->fh = (uint64_t)(uintptr_t)pf;
	pf->opener = fuse_req_ctx(req)->pid;
	/* No FLUSH on close(): on Linux 6.1 fuse_flush may take the inode lock
	 * and then a holder's close() would wait behind a parked truncate. */
	fi->noflush = 1;
	/* An open normally drops the file's cached pages, so that changes
	 * made directly in the backing directory show.  Not while the file
	 * has a lease, a pin or a waiter, or while the pinfs_dma module may
	 * have pinned any page: that would orphan DMA-pinned pages.  Nor if
	 * the file did not change since its last open. */
	fi->keep_cache = stamps_unchanged_since_last_open(pf->fd);
	fi->keep_cache |= layout_keep_cache(pinfs_data(req), pf->inode);
	/* O_DIRECT is left to the kernel (no direct_io for it): its reads
	 * and writes then bypass the page cache, and the file can still be
	 * mapped, which a direct_io open refuses (ENODEV).  The daemon reads
	 * and writes such files through aligned buffers (direct_read,
	 * lo_write_buf), so the backing file judges only the caller's offsets
	 * and sizes. */
	/* While the file has a staging window, no new page cache: reads and
	 * writes reach the daemon, which keeps them coherent with the
	 * window (docs/dma.md). */
	if (window_open_direct(pf->inode))
		fi->direct_io = 1;
	/* For the window, an O_DIRECT handle's reads and writes do not go
	 * through the page cache either. */
	pf->direct_io = fi->direct_io || (pf->flags & O_DIRECT);
}

static void do_open(fuse_req_t req, struct pinfs_inode *inode, struct fuse_file_info *fi)
{
	char path[PROC_FD_PATH_MAX];
	int fd;

	proc_path(path, inode->fd);
	fd = atime_openat(AT_FDCWD, path, backing_flags(req, fi->flags) | O_CLOEXEC, 0,
			  false);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	layout_note_open(inode, fi->flags, fuse_req_ctx(req)->pid);
	fill_open_reply(req, fi, file_new(pinfs_data(req), inode, fd, fi->flags));
	/* pid 0: a caller outside our pid namespace, never a guard. */
	fi_file(fi)->wb_guard =
	    fuse_req_ctx(req)->pid != 0 &&
	    atomic_load_explicit(&inode->guard_tid, memory_order_relaxed) ==
		fuse_req_ctx(req)->pid;
	fi_file(fi)->guard_mnt =
	    fi_file(fi)->wb_guard ? atomic_exchange(&inode->guard_mnt, -1) : -1;
	passthrough_open(pinfs_data(req), fi_file(fi), fi, false);
	if (fuse_reply_open(req, fi) == -ENOENT) /* the caller is gone */
		file_drop(pinfs_data(req), fi_file(fi));
}

static void lo_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pinfs_inode *inode = req_inode(req, ino);

	/* O_TRUNC comes as a SETATTR after this (no atomic O_TRUNC). */
	if (fi->flags & O_NONBLOCK)
		nonblock_note_open(inode, fuse_req_ctx(req)->pid);
	do_open(req, inode, fi);
}

static void lo_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct pinfs_inode *dir = req_inode(req, parent);
	struct fuse_entry_param e;
	int fd, err = 0;

	fd = atime_openat(dir->fd, name,
			  backing_flags(req, fi->flags | O_CREAT) | O_CLOEXEC,
			  perm_create_mode(req, dir, mode), false);
	if (fd < 0) {
		err = errno;
		goto out;
	}
	err = perm_chown_new(req, dir, name);
	if (!err)
		err = inode_lookup(pinfs_data(req), dir, name, &e);
	if (err) {
		close(fd);
		goto out;
	}
	layout_note_open(inode_get(pinfs_data(req), e.ino), fi->flags,
			 fuse_req_ctx(req)->pid);
	fill_open_reply(
	    req, fi,
	    file_new(pinfs_data(req), inode_get(pinfs_data(req), e.ino), fd, fi->flags));
	passthrough_open(pinfs_data(req), fi_file(fi), fi, true);
out:
	if (err)
		fuse_reply_err(req, err);
	else if (fuse_reply_create(req, &e, fi) == -ENOENT)
		file_drop(pinfs_data(req), fi_file(fi));
}

static void lo_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pinfs_file *pf = fi_file(fi);

	(void)ino;
	layout_release(pinfs_data(req), pf);
	file_drop(pinfs_data(req), pf);
	fuse_reply_err(req, 0);
}

static void lo_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	/* Open replies set noflush, so this runs only for kernels that
	 * ignore it; locks are the kernel's, there is nothing to flush. */
	fuse_reply_err(req, 0);
}

static void lo_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	int fd = fi_file(fi)->fd;
	int err = window_sync_inode(pinfs_data(req), fi_file(fi)->inode);

	(void)ino;
	if (!err && (datasync ? fdatasync(fd) : fsync(fd)) < 0)
		err = errno;
	fuse_reply_err(req, err);
}

#define DIRECT_ALIGN 4096

/* O_DIRECT read into a block-aligned buffer: FUSE's own are not aligned. */
static void direct_read(fuse_req_t req, struct pinfs_file *pf, size_t size, off_t off)
{
	void *buf = NULL;
	ssize_t n;

	if (posix_memalign(&buf, DIRECT_ALIGN, size ? size : 1) != 0) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = pread(pf->fd, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void lo_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	(void)ino;
	if (window_file_staged(fi_file(fi)->inode) &&
	    window_read(req, fi_file(fi), size, off))
		return;
	if (fi_file(fi)->flags & O_DIRECT) {
		direct_read(req, fi_file(fi), size, off);
		return;
	}
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fi_file(fi)->fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

/*
 * Page writeback of a shared mapping (fi->writepage) never extends a file:
 * the kernel clips it to the size it knows.  With atomic O_TRUNC (off now,
 * see lo_init) the daemon truncated before the kernel's page cache did,
 * and pages written back in between brought truncated data back; the
 * kernel's SETATTR path holds writeback off around a truncate.  The clip
 * to the backing file's size stays as a guard: one fstat per writeback
 * request.  Returns how many bytes to write, 0 for none, or -errno.
 */
static ssize_t clip_writepage(struct pinfs_file *pf, off_t off, size_t size)
{
	struct stat st;

	if (fstat(pf->fd, &st) < 0)
		return -errno;
	if (off >= st.st_size)
		return 0;
	return (ssize_t)MIN((uint64_t)size, (uint64_t)(st.st_size - off));
}

/*
 * An O_DIRECT write went to the backing file: drop the kernel's cached
 * pages of that range, so that no buffered reader of this file sees what
 * was there before.  The kernel drops them itself around a synchronous
 * direct write, but not after an asynchronous one (io_submit, io_uring),
 * and a buffered read racing it may have cached the old data meanwhile.
 * Sent before the reply; not in single-threaded mode, where a read
 * holding a page lock while it waits for this thread would deadlock it.
 */
static void drop_cached_range(fuse_req_t req, struct pinfs_file *pf, off_t off,
			      size_t len)
{
	struct pinfs *fs = pinfs_data(req);

	if (!fs->single_thread)
		fuse_lowlevel_notify_inval_inode(fs->se, inode_nodeid(fs, pf->inode), off,
						 (off_t)len);
}

/* A new descriptor of pf's file without O_DIRECT, for page writeback. */
static int reopen_buffered(struct pinfs_file *pf)
{
	char path[PROC_FD_PATH_MAX];

	proc_path(path, pf->fd);
	return open(path, O_WRONLY | O_CLOEXEC);
}

static void lo_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in_buf,
			 off_t off, struct fuse_file_info *fi)
{
	size_t size = fuse_buf_size(in_buf);
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(size);
	struct pinfs_file *pf = fi_file(fi);
	int fd = pf->fd, tmp_fd = -1;
	void *bounce = NULL;
	ssize_t n;

	(void)ino;
	if (window_file_staged(pf->inode)) {
		n = -window_write_check(pinfs_data(req), pf, off, size, fi->writepage);
		if (n < 0)
			goto reply;
	}
	if (!fi->writepage) {
		n = -perm_kill_priv(req, pf->inode);
		if (n < 0)
			goto reply;
	}
	if ((pf->flags & O_DIRECT) && !fi->writepage) {
		/* Gather into an aligned buffer, then one pwrite. */
		if (posix_memalign(&bounce, DIRECT_ALIGN, size ? size : 1) != 0) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		out.buf[0].mem = bounce;
		n = fuse_buf_copy(&out, in_buf, 0);
		if (n >= 0) {
			n = pwrite(pf->fd, bounce, (size_t)n, off);
			if (n < 0)
				n = -errno;
		}
		free(bounce);
		if (n > 0)
			drop_cached_range(req, pf, off, (size_t)n);
		goto reply;
	}
	if (fi->writepage) {
		if (pf->flags & O_DIRECT) {
			/* Writeback of a shared mapping of an O_DIRECT file:
			 * whole pages, clipped below, through a descriptor
			 * without O_DIRECT. */
			tmp_fd = reopen_buffered(pf);
			if (tmp_fd < 0) {
				n = -errno;
				goto reply;
			}
			fd = tmp_fd;
		}
		/* With the writeback cache every buffered write comes this
		 * way, extending ones too; the kernel clips them to its size. */
		n = pinfs_data(req)->writeback_cache
			? (ssize_t)size
			: clip_writepage(fi_file(fi), off, size);
		if (n < 0)
			goto reply;
		if (n == 0) { /* truncated off completely: nothing to write */
			n = (ssize_t)size;
			goto reply;
		}
		out.buf[0].size = (size_t)n;
	}
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fd;
	out.buf[0].pos = off;
	n = fuse_buf_copy(&out, in_buf, 0);
	if (fi->writepage && n >= 0)
		n = (ssize_t)size; /* what was clipped off is gone, as it should be */
reply:
	if (tmp_fd >= 0)
		close(tmp_fd);
	if (n > 0 && window_file_staged(pf->inode))
		window_write_done(pinfs_data(req), pf, off, (size_t)n);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

struct fallocate_change {
	struct layout_change c;
	int mode;
	off_t off, len;
};

static void fallocate_make(fuse_req_t req, struct layout_change *c)
{
	struct fallocate_change *fc = container_of(c, struct fallocate_change, c);

	c->err = perm_kill_priv(req, c->pf->inode);
	if (!c->err && fallocate(c->pf->fd, fc->mode, fc->off, fc->len) < 0)
		c->err = errno;
}

static void reply_err(fuse_req_t req, struct layout_change *c)
{
	fuse_reply_err(req, c->err);
}

static void lo_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct pinfs_file *pf = fi_file(fi);
	/* Collapse and insert move every byte after off: they touch to EOF. */
	bool shifts = mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE);
	struct fallocate_change fc = {
	    .c =
		{
		    .inode = req_inode(req, ino),
		    .pf = pf,
		    .off = (uint64_t)off,
		    .len = shifts ? LT_LEN_EOF : (uint64_t)len,
		    .nonblock = pf->flags & O_NONBLOCK,
		    .name = "an fallocate",
		    .make = fallocate_make,
		    .reply = reply_err,
		},
	    .mode = mode,
	    .off = off,
	    .len = len,
	};

	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	layout_change(req, &fc.c, sizeof(fc));
}

struct copy_change {
	struct layout_change c; /* c.pf: the file copied to */
	struct pinfs_file *in;
	off_t off_in, off_out;
	size_t len;
	int flags;
	size_t copied;
};

static void copy_make(fuse_req_t req, struct layout_change *c)
{
	struct copy_change *cc = container_of(c, struct copy_change, c);
	off_t off_in = cc->off_in, off_out = cc->off_out;
	ssize_t n;

	c->err = perm_kill_priv(req, c->pf->inode);
	if (c->err)
		return;
	n = copy_file_range(cc->in->fd, &off_in, c->pf->fd, &off_out, cc->len,
			    (unsigned)cc->flags);
	if (n < 0)
		c->err = errno;
	else
		cc->copied = (size_t)n;
}

static void copy_reply(fuse_req_t req, struct layout_change *c)
{
	if (c->err)
		fuse_reply_err(req, c->err);
	else
		fuse_reply_write(req, container_of(c, struct copy_change, c)->copied);
}

static void lo_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			       off_t off_out, struct fuse_file_info *fi_out, size_t len,
			       int flags)
{
	struct pinfs_file *out = fi_file(fi_out);
	struct copy_change cc = {
	    .c =
		{
		    .inode = req_inode(req, ino_out),
		    .pf = out,
		    .off = (uint64_t)off_out,
		    .len = len ? (uint64_t)len : 1,
		    .nonblock = out->flags & O_NONBLOCK,
		    .pf_src = fi_file(fi_in),
		    .name = "a copy_file_range",
		    .make = copy_make,
		    .reply = copy_reply,
		},
	    .in = fi_file(fi_in),
	    .off_in = off_in,
	    .off_out = off_out,
	    .len = len,
	    .flags = flags,
	};

	(void)ino_in;
	if (off_out < 0 || (uint64_t)off_out + len < (uint64_t)off_out) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	layout_change(req, &cc.c, sizeof(cc));
}

static void lo_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	off_t res = lseek(fi_file(fi)->fd, off, whence);

	(void)ino;
	if (res < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, res);
}

static void lo_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	(void)ino;
	layout_poll(req, fi_file(fi), ph);
}

static void lo_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		     size_t in_bufsz, size_t out_bufsz)
{
	struct pinfs_inode *inode = req_inode(req, ino);

	(void)arg;
	/* Directory handles are not pinfs_files. */
	layout_ioctl(req, inode, (flags & FUSE_IOCTL_DIR) ? NULL : fi_file(fi), cmd,
		     in_buf, in_bufsz, out_bufsz);
}

/* ---- Directories ---- */

struct pinfs_dir {
	DIR *dp;
	struct dirent *entry; /* read but not yet returned */
	off_t offset;
};

static struct pinfs_dir *fi_dir(struct fuse_file_info *fi)
{
	return (struct pinfs_dir *)(uintptr_t)fi->fh;
}

static void dir_free(void *h)
{
	struct pinfs_dir *d = h;

	closedir(d->dp);
	g_free(d);
}

static void lo_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pinfs_dir *d = g_new0(struct pinfs_dir, 1);
	int fd, err = 0;

	fd = atime_openat(req_inode(req, ino)->fd, ".",
			  O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, true);
	if (fd < 0) {
		err = errno;
		goto out;
	}
	d->dp = fdopendir(fd);
	if (!d->dp) {
		err = errno;
		close(fd);
		goto out;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	handle_add(pinfs_data(req), d, dir_free);
out:
	if (err) {
		g_free(d);
		fuse_reply_err(req, err);
	} else if (fuse_reply_open(req, fi) == -ENOENT) {
		handle_remove(pinfs_data(req), d);
		dir_free(d);
	}
}

/*
 * readdir and readdirplus.  With plus, each entry but "." and ".." is
 * looked up, which the kernel counts like a lookup.
 */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		       struct fuse_file_info *fi, bool plus)
{
	struct pinfs *fs = pinfs_data(req);
	struct pinfs_dir *d = fi_dir(fi);
	char *buf = g_malloc(size);
	size_t used = 0;
	int err = 0;

	if (offset != d->offset) {
		seekdir(d->dp, offset);
		d->entry = NULL;
		d->offset = offset;
	}
	for (;;) {
		struct fuse_entry_param e = {0};
		const char *name;
		size_t n;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				err = errno; /* 0 at the end */
				break;
			}
		}
		name = d->entry->d_name;
		if (plus) {
			bool dot = !strcmp(name, ".") || !strcmp(name, "..");

			if (dot) {
				e.attr.st_ino = d->entry->d_ino;
				e.attr.st_mode = d->entry->d_type << 12;
			} else {
				err = inode_lookup(fs, req_inode(req, ino), name, &e);
				if (err == ENOENT) { /* raced with an unlink */
					err = 0;
					d->entry = NULL;
					continue;
				}
				if (err)
					break;
			}
			n = fuse_add_direntry_plus(req, buf + used, size - used, name, &e,
						   telldir(d->dp));
			if (n > size - used) {
				if (!dot)
					inode_forget(fs, inode_get(fs, e.ino), 1);
				break;
			}
		} else {
			e.attr.st_ino = d->entry->d_ino;
			e.attr.st_mode = d->entry->d_type << 12;
			n = fuse_add_direntry(req, buf + used, size - used, name, &e.attr,
					      telldir(d->dp));
			if (n > size - used)
				break;
		}
		used += n;
		d->entry = NULL;
		d->offset = telldir(d->dp);
	}
	/* An error after some entries is reported on the next call. */
	if (err && used == 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, used);
	g_free(buf);
}

static void lo_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void lo_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void lo_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pinfs_dir *d = fi_dir(fi);

	(void)ino;
	handle_remove(pinfs_data(req), d);
	dir_free(d);
	fuse_reply_err(req, 0);
}

static void lo_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	int fd = dirfd(fi_dir(fi)->dp);

	(void)ino;
	fuse_reply_err(req, (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? errno : 0);
}

static void lo_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	if (fstatvfs(req_inode(req, ino)->fd, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/*
 * ---- Extended attributes ----
 *
 * An O_PATH descriptor has no xattr calls, so they go through a path:
 * /proc/self/fd/N for most inodes, and for a symlink (which that magic link
 * would follow) the directory it was found in plus its name, with the l*
 * calls that do not follow the last component.
 */
struct xpath {
	char path[PATH_MAX + PROC_FD_PATH_MAX];
	bool is_link;
	int dir_fd; /* a symlink's directory, open until the reply; or -1 */
};

static int xattr_path(fuse_req_t req, fuse_ino_t ino, struct xpath *xp)
{
	struct pinfs_inode *inode = req_inode(req, ino);
	char *name;
	int err;

	xp->is_link = S_ISLNK(inode->type);
	xp->dir_fd = -1;
	if (!xp->is_link) {
		proc_path(xp->path, inode->fd);
		return 0;
	}
	err = inode_link_path(pinfs_data(req), inode, &xp->dir_fd, &name);
	if (err)
		return err;
	snprintf(xp->path, sizeof(xp->path), "/proc/self/fd/%d/%s", xp->dir_fd, name);
	g_free(name);
	return 0;
}

static void xattr_path_done(struct xpath *xp)
{
	if (xp->dir_fd >= 0)
		close(xp->dir_fd);
}

static void lo_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct xpath xp;
	int err = xattr_path(req, ino, &xp), res;

	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	res = xp.is_link ? lsetxattr(xp.path, name, value, size, flags)
			 : setxattr(xp.path, name, value, size, flags);
	err = res < 0 ? errno : 0;
	if (!err && !strcmp(name, "system.posix_acl_access"))
		err = perm_acl_set(req, req_inode(req, ino));
	fuse_reply_err(req, err);
	xattr_path_done(&xp);
}

/* getxattr and listxattr share their size protocol: size 0 asks for it. */
static void reply_xattr_result(fuse_req_t req, ssize_t n, char *buf, size_t size)
{
	if (n < 0)
		fuse_reply_err(req, errno);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

/* getxattr (name set) and listxattr (name NULL): the same size protocol. */
static void xattr_read(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct xpath xp;
	int err = xattr_path(req, ino, &xp);
	char *buf = NULL;
	ssize_t n;

	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	if (size)
		buf = g_malloc(size);
	if (name)
		n = xp.is_link ? lgetxattr(xp.path, name, buf, size)
			       : getxattr(xp.path, name, buf, size);
	else
		n = xp.is_link ? llistxattr(xp.path, buf, size)
			       : listxattr(xp.path, buf, size);
	reply_xattr_result(req, n, buf, size);
	g_free(buf);
	xattr_path_done(&xp);
}

static void lo_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	xattr_read(req, ino, name, size);
}

static void lo_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	xattr_read(req, ino, NULL, size);
}

static void lo_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct xpath xp;
	int err = xattr_path(req, ino, &xp), res;

	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	res = xp.is_link ? lremovexattr(xp.path, name) : removexattr(xp.path, name);
	fuse_reply_err(req, res < 0 ? errno : 0);
	xattr_path_done(&xp);
}

const struct fuse_lowlevel_ops lo_ops = {
    .init = lo_init,
    .lookup = lo_lookup,
    .forget = lo_forget,
    .forget_multi = lo_forget_multi,
    .getattr = lo_getattr,
    .setattr = lo_setattr,
    .readlink = lo_readlink,
    .mknod = lo_mknod,
    .mkdir = lo_mkdir,
    .unlink = lo_unlink,
    .rmdir = lo_rmdir,
    .symlink = lo_symlink,
    .rename = lo_rename,
    .link = lo_link,
    .open = lo_open,
    .create = lo_create,
    .read = lo_read,
    .write_buf = lo_write_buf,
    .flush = lo_flush,
    .release = lo_release,
    .fsync = lo_fsync,
    .opendir = lo_opendir,
    .readdir = lo_readdir,
    .readdirplus = lo_readdirplus,
    .releasedir = lo_releasedir,
    .fsyncdir = lo_fsyncdir,
    .statfs = lo_statfs,
    .setxattr = lo_setxattr,
    .getxattr = lo_getxattr,
    .listxattr = lo_listxattr,
    .removexattr = lo_removexattr,
    .fallocate = lo_fallocate,
    .copy_file_range = lo_copy_file_range,
    .lseek = lo_lseek,
    .poll = lo_poll,
    .ioctl = lo_ioctl,
};
