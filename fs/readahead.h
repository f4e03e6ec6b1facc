/* SPDX-License-Identifier: GPL-2.0-or-later */
/* readahead.h - the mount's read-ahead window, set at INIT. */
#ifndef PINFS_READAHEAD_H
#define PINFS_READAHEAD_H

#include "daemon.h"

/* At INIT: ask the kernel for the window, and set the mount's own. */
/*
 * The largest read request (the max_read mount option; libfuse wants it in
 * both the mount options and conn->max_read).  A reply must fit the pipe
 * libfuse splices it through, which an unprivileged daemon cannot grow
 * past fs.pipe-max-size (1 MiB by default): a 1 MiB read, which the
 * kernel sends after posix_fadvise(POSIX_FADV_SEQUENTIAL) doubles the
 * read-ahead window, plus its header does not fit, and libfuse then copies
 * it through a buffer it maps and unmaps for every request, at a tenth of
 * the speed.  Writes stay up to 1 MiB per request.
 */
#define PINFS_MAX_READ (512u * 1024u)

void readahead_init(struct fuse_conn_info *conn, const char *mountpoint);

#endif /* PINFS_READAHEAD_H */
