/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pinfs_dma_compat.h: the few kernel interfaces pinfs_dma uses that changed
 * between the kernels it is built for (Linux 6.1 to 6.12).  Each change is
 * wrapped here once, so pinfs_dma.c reads the same on every kernel.
 */
#ifndef PINFS_DMA_COMPAT_H
#define PINFS_DMA_COMPAT_H

#include <linux/version.h>
#include <linux/fs.h>
#include <linux/mount.h>

/*
 * pdma_owner_or_capable - may the caller act as the owner of @inode, seen
 * through the mount @file was opened on?  Linux 6.3 replaced the mount's
 * user namespace (file_mnt_user_ns) with its ID mapping (file_mnt_idmap).
 */
static inline bool pdma_owner_or_capable(struct file *file, struct inode *inode)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	return inode_owner_or_capable(file_mnt_idmap(file), inode);
#else
	return inode_owner_or_capable(file_mnt_user_ns(file), inode);
#endif
}

#endif /* PINFS_DMA_COMPAT_H */
