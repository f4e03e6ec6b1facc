/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * perm.h - the permission rules the kernel's FUSE client leaves to pinfs:
 * set-ID bits lost by writes, the umask under default ACLs, new nodes'
 * owners.
 */
#ifndef PINFS_PERM_H
#define PINFS_PERM_H

#include "daemon.h"

/* At INIT: ask for HANDLE_KILLPRIV, POSIX_ACL and DONT_MASK. */
void perm_init(struct fuse_conn_info *conn);

/* The daemon saw inode's mode: remember whether it has a set-ID bit. */
void perm_note(struct pinfs_inode *inode, mode_t mode);

/* Before a write, truncate, fallocate or copy into inode by req's caller:
 * clear the set-ID bits that caller may not keep.  0 or an errno. */
int perm_kill_priv(fuse_req_t req, struct pinfs_inode *inode);
int perm_kill_chown(fuse_req_t req, struct pinfs_inode *inode);

/* After req's caller set inode's access ACL: clear set-group-ID if the
 * caller is not in the file's group.  0 or an errno. */
int perm_acl_set(fuse_req_t req, struct pinfs_inode *inode);

/* The mode to create a node with in parent: the caller's umask applied,
 * unless parent has a default ACL. */
mode_t perm_create_mode(fuse_req_t req, struct pinfs_inode *parent, mode_t mode);

/* Node name was just created in parent by req's caller: give it to the
 * caller as the backing filesystem would have.  0 or an errno. */
int perm_chown_new(fuse_req_t req, struct pinfs_inode *parent, const char *name);

#endif /* PINFS_PERM_H */
