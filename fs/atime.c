// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * atime.c - the pinfs mount's atime flags, applied to the daemon's reads.
 *
 * The kernel's FUSE client never updates atime itself: a file's atime is
 * whatever the backing file's is, and that moves when the daemon reads the
 * backing file, by the rule of the backing mount (relatime by default).  So
 * on a pinfs mount with noatime, the daemon opens the backing files it reads
 * with O_NOATIME (and directories with nodiratime too), and their atime stays.
 * relatime and strictatime follow the backing mount's own rule (see pinfs(8):
 * setting atime explicitly would move ctime, which a read must not).
 *
 * The mount's flags come from /proc/self/mountinfo (FUSE does not pass them
 * to the daemon), at INIT and again at most once a second when a backing
 * file is opened, so "mount -o remount,bind,noatime" takes effect.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mount.h>

#include "atime.h"
#include "proc.h"

#define ATIME_RECHECK_US G_USEC_PER_SEC

static char *mountpoint;		 /* set once at INIT */
static atomic_int file_flags, dir_flags; /* O_NOATIME or 0 */
static atomic_int_least64_t checked_us;	 /* g_get_monotonic_time of the last look */

static void atime_read_flags(void)
{
	g_autofree char *opts = proc_mount_opts(mountpoint);
	g_auto(GStrv) words = g_strsplit(opts ? opts : "", ",", -1);
	bool noatime = false, nodiratime = false;

	for (char **w = words; *w; w++) {
		noatime |= !strcmp(*w, "noatime");
		nodiratime |= !strcmp(*w, "nodiratime");
	}
	atomic_store_explicit(&file_flags, noatime ? O_NOATIME : 0, memory_order_relaxed);
	atomic_store_explicit(&dir_flags, noatime || nodiratime ? O_NOATIME : 0,
			      memory_order_relaxed);
	atomic_store_explicit(&checked_us, g_get_monotonic_time(), memory_order_relaxed);
}

int atime_set_mount_flags(const char *mnt, int rule, bool nodiratime)
{
	static const struct {
		const char *word;
		unsigned long flag;
	} keep[] = {{"ro", MS_RDONLY},	      {"nosuid", MS_NOSUID},
		    {"nodev", MS_NODEV},      {"noexec", MS_NOEXEC},
		    {"noatime", MS_NOATIME},  {"nodiratime", MS_NODIRATIME},
		    {"relatime", MS_RELATIME}};
	g_autofree char *opts = proc_mount_opts(mnt);
	g_auto(GStrv) words = NULL;
	unsigned long flags = MS_REMOUNT | MS_BIND;

	if (!opts)
		return ENOENT;
	/* A bind remount sets every per-mount flag: start from today's. */
	words = g_strsplit(opts, ",", -1);
	for (char **w = words; *w; w++)
		for (size_t i = 0; i < G_N_ELEMENTS(keep); i++)
			if (!strcmp(*w, keep[i].word))
				flags |= keep[i].flag;
	if (rule) {
		flags &= ~(MS_NOATIME | MS_RELATIME);
		flags |= rule == 2 ? MS_STRICTATIME : MS_RELATIME;
	}
	if (nodiratime)
		flags |= MS_NODIRATIME;
	return mount(NULL, mnt, NULL, flags, NULL) < 0 ? errno : 0;
}

void atime_init(const char *mnt)
{
	g_free(mountpoint);
	mountpoint = g_strdup(mnt);
	atime_read_flags();
}

int atime_open_flags(bool dir)
{
	int64_t now = g_get_monotonic_time();

	if (mountpoint && now - atomic_load_explicit(&checked_us, memory_order_relaxed) >=
			      ATIME_RECHECK_US)
		atime_read_flags();
	return atomic_load_explicit(dir ? &dir_flags : &file_flags, memory_order_relaxed);
}

int atime_openat(int dirfd, const char *name, int flags, unsigned mode, bool dir)
{
	int extra = (flags & O_PATH) ? 0 : atime_open_flags(dir);
	int fd = openat(dirfd, name, flags | extra, mode);

	if (fd < 0 && errno == EPERM && extra)
		fd = openat(dirfd, name, flags, mode);
	return fd;
}
