// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * perm.c - the permission rules the kernel's FUSE client leaves to pinfs,
 * applied as the backing filesystem would apply them to the caller.
 *
 * The daemon works on the backing files as root, and root keeps what an
 * ordinary user loses: a write, truncate or fallocate by a user without
 * CAP_FSETID clears the file's set-user-ID bit, and its set-group-ID bit if
 * the group may execute the file or the user is not in its group; an ACL set
 * by a user who is not in the file's group clears set-group-ID.  The kernel's
 * FUSE client does part of this with an older rule and nothing on O_DIRECT
 * writes, so pinfs does it all here (FUSE_CAP_HANDLE_KILLPRIV).  "Without
 * CAP_FSETID" is judged by the caller's fsuid: 0 keeps the bits.
 *
 * New nodes: with FUSE_CAP_DONT_MASK the kernel leaves the caller's umask
 * to pinfs, which applies it unless the parent directory has a default ACL
 * (then the backing filesystem applies the ACL and no umask, as it does for
 * its own callers; the daemon's own umask is 0).  With FUSE_CAP_POSIX_ACL the
 * kernel checks access against the ACLs too, not just the mode bits.
 *
 * Hot path: a write asks only whether the inode's last seen mode had a set-ID
 * bit (pinfs_inode.setid, one relaxed atomic load); only then does it stat.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "daemon.h"

static bool dont_mask; /* FUSE_CAP_DONT_MASK was granted: the umask is ours */

void perm_init(struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_HANDLE_KILLPRIV)
		conn->want |= FUSE_CAP_HANDLE_KILLPRIV;
#ifdef FUSE_CAP_HANDLE_KILLPRIV_V2
	/* Older libfuse: wire.c. */
	if (conn->capable & FUSE_CAP_HANDLE_KILLPRIV_V2)
		conn->want |= FUSE_CAP_HANDLE_KILLPRIV_V2;
#endif
	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	if (conn->capable & FUSE_CAP_DONT_MASK) {
		conn->want |= FUSE_CAP_DONT_MASK;
		dont_mask = true;
	}
}

void perm_note(struct pinfs_inode *inode, mode_t mode)
{
	bool setid = S_ISREG(mode) && (mode & (S_ISUID | S_ISGID));

	if (atomic_load_explicit(&inode->setid, memory_order_relaxed) != setid)
		atomic_store_explicit(&inode->setid, setid, memory_order_relaxed);
}

/* Is the caller of req in group gid (its fsgid or a supplementary group)? */
static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t small[32], *list = small;
	bool in = false;
	int n;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	n = fuse_req_getgroups(req, G_N_ELEMENTS(small), small);
	if (n > (int)G_N_ELEMENTS(small)) {
		list = g_new(gid_t, n);
		n = MIN(n, fuse_req_getgroups(req, n, list));
	}
	for (int i = 0; i < n && !in; i++)
		in = list[i] == gid;
	if (list != small)
		g_free(list);
	return in;
}

static int chmod_inode(struct pinfs_inode *inode, mode_t mode)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", inode->fd);
	return chmod(path, mode) < 0 ? errno : 0;
}

/*
 * A write, truncate or fallocate by the caller of req is about to change
 * inode's data or size: clear the set-ID bits the caller must not keep.
 * Returns 0 or an errno.
 */
int perm_kill_priv(fuse_req_t req, struct pinfs_inode *inode)
{
	struct stat st;
	mode_t kill = 0;

	if (!atomic_load_explicit(&inode->setid, memory_order_relaxed) ||
	    fuse_req_ctx(req)->uid == 0)
		return 0;
	if (fstatat(inode->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	perm_note(inode, st.st_mode);
	if (!S_ISREG(st.st_mode))
		return 0;
	if (st.st_mode & S_ISUID)
		kill |= S_ISUID;
	if ((st.st_mode & S_ISGID) &&
	    ((st.st_mode & S_IXGRP) || !caller_in_group(req, st.st_gid)))
		kill |= S_ISGID;
	if (!kill)
		return 0;
	perm_note(inode, st.st_mode & ~kill);
	return chmod_inode(inode, st.st_mode & 07777 & ~kill);
}

/*
 * A SETATTR that sets nothing, on a regular file: how the kernel passes on
 * chown(f, -1, -1) when the daemon drops privileges itself
 * (FUSE_HANDLE_KILLPRIV_V2, wire.c).  As for any chown of a
 * non-directory, set-user-ID goes, and set-group-ID if the group may
 * execute or the caller (not fsuid 0) is outside the file's group.
 * Returns 0 or an errno.
 */
int perm_kill_chown(fuse_req_t req, struct pinfs_inode *inode)
{
	struct stat st;
	mode_t kill = 0;

	if (fstatat(inode->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	if (!S_ISREG(st.st_mode))
		return 0;
	if (st.st_mode & S_ISUID)
		kill |= S_ISUID;
	if ((st.st_mode & S_ISGID) &&
	    ((st.st_mode & S_IXGRP) ||
	     (fuse_req_ctx(req)->uid != 0 && !caller_in_group(req, st.st_gid))))
		kill |= S_ISGID;
	if (!kill)
		return 0;
	perm_note(inode, st.st_mode & ~kill);
	return chmod_inode(inode, st.st_mode & 07777 & ~kill);
}

/* An access ACL was just set on inode by the caller of req: a caller not in
 * the file's group (and not root) loses its set-group-ID bit. */
int perm_acl_set(fuse_req_t req, struct pinfs_inode *inode)
{
	struct stat st;

	if (fuse_req_ctx(req)->uid == 0 || S_ISLNK(inode->type))
		return 0;
	if (fstatat(inode->fd, "", &st, AT_EMPTY_PATH) < 0)
		return errno;
	if (!(st.st_mode & S_ISGID) || caller_in_group(req, st.st_gid))
		return 0;
	perm_note(inode, st.st_mode & ~S_ISGID);
	return chmod_inode(inode, st.st_mode & 07777 & ~S_ISGID);
}

/* The mode to create a node with in parent for the caller of req. */
mode_t perm_create_mode(fuse_req_t req, struct pinfs_inode *parent, mode_t mode)
{
	char path[64];

	if (!dont_mask)
		return mode; /* the kernel applied the umask already */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", parent->fd);
	if (getxattr(path, "system.posix_acl_default", NULL, 0) > 0)
		return mode;
	return mode & ~fuse_req_ctx(req)->umask;
}

/*
 * A node was just created in parent by a caller that is not the daemon's
 * own user: give it the caller's uid, and the caller's gid unless the
 * directory is set-group-ID (then the backing filesystem already chose).
 * The chown, made by root, clears the set-ID bits of a non-directory,
 * which a caller creating its own file keeps: they are put back.
 */
int perm_chown_new(fuse_req_t req, struct pinfs_inode *parent, const char *name)
{
	struct pinfs *fs = pinfs_data(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat pst, st;
	gid_t gid = ctx->gid;

	if (!fs->running_as_root || (ctx->uid == 0 && ctx->gid == 0))
		return 0;
	if (fstatat(parent->fd, "", &pst, AT_EMPTY_PATH) == 0 && (pst.st_mode & S_ISGID))
		gid = (gid_t)-1;
	if (fstatat(parent->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	if (fchownat(parent->fd, name, ctx->uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	if (!S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode) &&
	    (st.st_mode & (S_ISUID | S_ISGID)) &&
	    fchmodat(parent->fd, name, st.st_mode & 07777, 0) < 0)
		return errno;
	return 0;
}
