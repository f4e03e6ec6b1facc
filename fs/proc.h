/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proc.h - what the daemon reads from /proc: the mount table, and the
 * thread groups and credentials of its callers.
 */
#ifndef PINFS_PROC_H
#define PINFS_PROC_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * Device major:minor of the FUSE mount at mountpoint, from the mount table
 * (common/mountinfo.h; a stat of our own mountpoint would ask ourselves).
 * The first such mount: a later mount on top is not ours.
 */
bool proc_mount_dev(const char *mountpoint, unsigned *major, unsigned *minor);

/* The per-mount options of that mount ("rw,nosuid,relatime"), g_free()
 * it; NULL if there is none. */
char *proc_mount_opts(const char *mountpoint);

/* The thread group of a thread id, as FUSE reports the calling thread. */
pid_t proc_tid_to_tgid(pid_t tid);

/*
 * May a holder that took its lease as uid be signalled at pid?  Like the
 * kernel's sigio_perm(): root's leases may signal anyone, others only
 * processes whose real or saved uid is theirs.
 */
bool proc_may_signal(pid_t pid, uid_t uid);

#endif /* PINFS_PROC_H */
