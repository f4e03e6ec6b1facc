// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * nonblock.c - is a SETATTR(size 0) without a file handle the truncate of
 * an open(O_TRUNC | O_NONBLOCK)?  The kernel sends the OPEN (without
 * O_TRUNC) and then, from the same thread, blocked in the same open()
 * call, the truncate without a file handle; so the open's O_NONBLOCK is
 * taken from an O_NONBLOCK open of this file by the same thread an instant
 * before (rule 9: such a caller gets EWOULDBLOCK, not a wait).  A
 * truncate(2) by path right after an O_NONBLOCK open of the same file by
 * the same thread looks the same and is taken as non-blocking too.
 *
 * Lock-free (struct pinfs_inode's nb_open_tid, nb_open_us): a lost race
 * only makes such an open wait instead of failing at once.
 */
#include "nonblock.h"

#define NONBLOCK_OPEN_TRUNC_US G_USEC_PER_SEC /* 1 s */

void nonblock_note_open(struct pinfs_inode *inode, pid_t tid)
{
	atomic_store_explicit(&inode->nb_open_us, g_get_monotonic_time(),
			      memory_order_relaxed);
	atomic_store_explicit(&inode->nb_open_tid, tid, memory_order_relaxed);
}

bool nonblock_open_trunc(fuse_req_t req, struct pinfs_inode *inode,
			 const struct stat *attr)
{
	pid_t tid = fuse_req_ctx(req)->pid;

	if (attr->st_size != 0 || tid == 0 ||
	    atomic_load_explicit(&inode->nb_open_tid, memory_order_relaxed) != tid)
		return false;
	atomic_store_explicit(&inode->nb_open_tid, 0, memory_order_relaxed);
	return g_get_monotonic_time() -
		   atomic_load_explicit(&inode->nb_open_us, memory_order_relaxed) <
	       NONBLOCK_OPEN_TRUNC_US;
}
