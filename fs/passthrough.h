/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * passthrough.h - FUSE passthrough: which opens the kernel serves from the
 * backing file itself (passthrough.c).
 */
#ifndef PINFS_PASSTHROUGH_H
#define PINFS_PASSTHROUGH_H

#include "daemon.h"

/* From lo_init: decide whether this mount uses passthrough (-o
 * passthrough=, what the kernel offered, the daemon's capabilities), ask
 * for it in the INIT reply and log the outcome. */
void passthrough_init(struct pinfs *fs);
void passthrough_free(struct pinfs *fs);

/* Just before fuse_reply_open (create false) or fuse_reply_create with
 * fi->fh set: choose pf's mode, adjust fi and announce the reply (wire.c).
 * Nothing at all with passthrough off. */
void passthrough_open(struct pinfs *fs, struct pinfs_file *pf, struct fuse_file_info *fi,
		      bool create);

/* pf is released (or its open failed after passthrough_open). */
void passthrough_release(struct pinfs *fs, struct pinfs_file *pf);

/*
 * May holder (a process) have a staging window on inode, asked through its
 * open file pf?  0 if every open of inode whose reads and writes bypass the
 * daemon (a passthrough open that is not direct I/O) is pf or was opened
 * by a thread of holder; else EBUSY, with *other the thread that opened
 * one that is not (0: unknown).  *mode: is the inode in passthrough mode?
 * The caller has counted the window in inode->windows first, so that
 * opens made from here on are direct I/O.
 */
int passthrough_window_check(struct pinfs *fs, struct pinfs_inode *inode,
			     struct pinfs_file *pf, pid_t holder, pid_t *other,
			     bool *mode);

/* The daemon is about to free inode (forgotten, no tombstone kept): if it
 * was in passthrough mode, remember its backing file (see
 * passthrough_maps_backing).  Called with the inode table's lock. */
void passthrough_inode_gone(struct pinfs *fs, struct pinfs_inode *inode);

/* May mappings of inode map its backing file (it is or was in passthrough
 * mode, under this or an earlier daemon inode of the same file)?  Then a
 * device's pins of it are pins of the backing file's pages.  One relaxed
 * load for a file that never was; for the pin check (layout.c). */
bool passthrough_maps_backing(struct pinfs *fs, struct pinfs_inode *inode);

/* For pinfsctl status: "in use" or "off (why)", open files in passthrough
 * mode now, passthrough opens since the mount. */
void passthrough_status(struct pinfs *fs, char *why, size_t len, uint64_t *files,
			uint64_t *opens);

#endif
