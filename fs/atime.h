/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * atime.h - the pinfs mount's noatime and nodiratime, kept by the daemon's
 * own descriptors of backing files.
 */
#ifndef PINFS_ATIME_H
#define PINFS_ATIME_H

#include <stdbool.h>

/*
 * Set relatime or strictatime (rule 1 or 2; 0 neither) and nodiratime on
 * the mount at mountpoint, keeping its other flags: libfuse refuses these
 * options when it mounts.  0 or an errno (EPERM without CAP_SYS_ADMIN).
 */
int atime_set_mount_flags(const char *mountpoint, int rule, bool nodiratime);

/* Learn the mount's atime flags (at INIT, once the mount exists). */
void atime_init(const char *mountpoint);

/*
 * Flags to add to the open of a backing file (dir: a directory) that the
 * daemon will read for a caller: O_NOATIME if the mount says noatime (or
 * nodiratime for a directory), else 0.  Re-reads the mount's flags at most
 * once a second, so a remount takes effect.
 */
int atime_open_flags(bool dir);

/* openat() with atime_open_flags(dir) added, and without O_NOATIME again
 * if the daemon may not use it on that file (EPERM: not its owner). */
int atime_openat(int dirfd, const char *name, int flags, unsigned mode, bool dir);

#endif /* PINFS_ATIME_H */
