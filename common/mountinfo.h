/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mountinfo.h - the one reader of the mount table (/proc/self/mountinfo,
 * through util-linux's libmount) for the daemon, pinfsctl and the tests.
 * Mount points come unescaped ("a b", not "a\040b").  Nothing here looks
 * at a mount point itself: a FUSE mount may be unable to answer (its own
 * daemon asking during INIT, another user without allow_other).
 */
#ifndef PINFS_MOUNTINFO_H
#define PINFS_MOUNTINFO_H

#include <stdbool.h>
#include <sys/types.h>

/* One mount, valid during the callback only. */
struct mountinfo_entry {
	dev_t dev;
	const char *target; /* the mount point */
	const char *fstype; /* e.g. "fuse", "fuse.pinfs" */
	const char *source;
	const char *root; /* what of its filesystem is mounted: "/" for all */
};

/*
 * Call fn for every mount, in the table's order (lower mounts first), until
 * it returns false.  False if the table cannot be read.
 */
bool mountinfo_foreach(bool (*fn)(const struct mountinfo_entry *m, void *arg), void *arg);

/*
 * The mount at target whose type starts with fstype_prefix (NULL: any
 * type): the first (lowest) one, or with topmost the last.  Sets *dev and
 * returns its type (g_free), or NULL if there is none.
 */
char *mountinfo_by_target(const char *target, const char *fstype_prefix, bool topmost,
			  dev_t *dev);

/* The type (g_free) of the first mount of device dev, or NULL. */
char *mountinfo_by_dev(dev_t dev);

#endif /* PINFS_MOUNTINFO_H */
