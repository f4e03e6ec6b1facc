/* SPDX-License-Identifier: GPL-2.0-or-later */
/* readahead.h - the mount's read-ahead window, set at INIT. */
#ifndef PINFS_READAHEAD_H
#define PINFS_READAHEAD_H

#include "daemon.h"

/* At INIT: ask the kernel for the window, and set the mount's own. */
void readahead_init(struct fuse_conn_info *conn, const char *mountpoint);

#endif /* PINFS_READAHEAD_H */
