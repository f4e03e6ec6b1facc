// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * stamps.c - open stamps.  An open drops the file's cached pages, so that
 * changes made directly in the backing directory show; but re-reading a
 * file nobody changed should not go through the daemon again.  So an open
 * keeps them if the backing file is as it was at the previous open: same
 * ctime, mtime and size.  Every change to a file's data or size, through
 * pinfs or not, moves its ctime.  A stamp is only trusted if its ctime was
 * already STAMP_SETTLED_NS old when taken, longer than a tick of the
 * kernel's coarse clock, so that a later change cannot carry the same
 * ctime.  Stamps live in a small table indexed by the backing inode (one
 * per slot): a file whose slot another took simply drops its pages.
 */
#include <glib.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "stamps.h"

#define STAMP_SLOTS 1024
#define STAMP_SETTLED_NS 10000000 /* 10 ms */

struct open_stamp {
	dev_t dev;
	ino_t ino;
	struct timespec ctime, mtime;
	off_t size;
	bool settled;
};

static GMutex stamp_lock; /* protects stamps */
static struct open_stamp stamps[STAMP_SLOTS];

static bool ts_equal(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

bool stamps_unchanged_since_last_open(int fd)
{
	struct open_stamp now = {0}, *slot;
	struct timespec rt;
	struct stat st;
	bool same;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	clock_gettime(CLOCK_REALTIME, &rt);
	now.dev = st.st_dev;
	now.ino = st.st_ino;
	now.ctime = st.st_ctim;
	now.mtime = st.st_mtim;
	now.size = st.st_size;
	now.settled = (int64_t)(rt.tv_sec - st.st_ctim.tv_sec) * 1000000000 +
			  (rt.tv_nsec - st.st_ctim.tv_nsec) >=
		      STAMP_SETTLED_NS;
	slot = &stamps[(st.st_ino ^ st.st_dev) % STAMP_SLOTS];
	g_mutex_lock(&stamp_lock);
	same = slot->settled && slot->dev == now.dev && slot->ino == now.ino &&
	       ts_equal(&slot->ctime, &now.ctime) && ts_equal(&slot->mtime, &now.mtime) &&
	       slot->size == now.size;
	*slot = now;
	g_mutex_unlock(&stamp_lock);
	return same;
}
