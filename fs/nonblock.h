/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nonblock.h - the O_NONBLOCK of an open(O_TRUNC | O_NONBLOCK), whose
 * truncate reaches the daemon without a file handle.
 */
#ifndef PINFS_NONBLOCK_H
#define PINFS_NONBLOCK_H

#include "daemon.h"

/* An open with O_NONBLOCK by thread tid: remember who, and when. */
void nonblock_note_open(struct pinfs_inode *inode, pid_t tid);

/* Is this SETATTR(size) without a file handle the truncate of such an
 * open? */
bool nonblock_open_trunc(fuse_req_t req, struct pinfs_inode *inode,
			 const struct stat *attr);

#endif /* PINFS_NONBLOCK_H */
