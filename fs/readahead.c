// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * readahead.c - sequential reads: the kernel reads ahead of a FUSE reader
 * by the mount's read_ahead_kb (128 KiB by default), one request per
 * window.  512 KiB windows cut the requests to a quarter and keep more
 * data in flight; much larger ones are slower, because a reply of 1 MiB or
 * more no longer fits the pipe libfuse splices it through
 * (fs.pipe-max-size, 1 MiB) and falls back to copying.  docs/benchmarks.md
 * has the measurements.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "proc.h"
#include "readahead.h"

#define PINFS_READAHEAD_KB 512

/*
 * Set the mount's read_ahead_kb (/sys/class/bdi/MAJ:MIN; root only).
 * Called before the reply to INIT, which can only lower it (to
 * conn->max_readahead).  Best effort: without it reads are slower, not
 * wrong.
 */
static void set_readahead(const char *mountpoint)
{
	char path[64], val[16];
	unsigned maj, min;
	int fd, n;

	if (!proc_mount_dev(mountpoint, &maj, &min))
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
	n = snprintf(val, sizeof(val), "%d", PINFS_READAHEAD_KB);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, (size_t)n) != n)
		g_debug("%s stays: %s", path, g_strerror(errno));
	if (fd >= 0)
		close(fd);
}

void readahead_init(struct fuse_conn_info *conn, const char *mountpoint)
{
	conn->max_readahead = MAX(conn->max_readahead, PINFS_READAHEAD_KB * 1024u);
	conn->max_read = PINFS_MAX_READ;
	set_readahead(mountpoint);
}
