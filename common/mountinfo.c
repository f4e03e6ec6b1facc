// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mountinfo.c - the mount table through libmount.  The table is parsed
 * afresh at each call (no cache: mounts come and go), and entries are
 * matched by plain string or device comparison: libmount's own
 * mnt_table_find_target() would canonicalize the path, which stats it.
 */
#include <glib.h>
#include <libmount.h>
#include <string.h>

#include "mountinfo.h"

bool mountinfo_foreach(bool (*fn)(const struct mountinfo_entry *m, void *arg), void *arg)
{
	struct libmnt_table *tb = mnt_new_table_from_file("/proc/self/mountinfo");
	struct libmnt_iter *it;
	struct libmnt_fs *fs;

	if (!tb)
		return false;
	it = mnt_new_iter(MNT_ITER_FORWARD);
	if (!it) {
		mnt_unref_table(tb);
		return false;
	}
	while (mnt_table_next_fs(tb, it, &fs) == 0) {
		struct mountinfo_entry m = {
		    .dev = mnt_fs_get_devno(fs),
		    .target = mnt_fs_get_target(fs),
		    .fstype = mnt_fs_get_fstype(fs),
		    .source = mnt_fs_get_source(fs),
		    .root = mnt_fs_get_root(fs),
		};

		if (!m.target || !m.fstype)
			continue;
		if (!fn(&m, arg))
			break;
	}
	mnt_free_iter(it);
	mnt_unref_table(tb);
	return true;
}

struct by_target {
	const char *target, *prefix;
	bool topmost;
	dev_t dev;
	char *fstype;
};

static bool match_target(const struct mountinfo_entry *m, void *arg)
{
	struct by_target *q = arg;

	if (strcmp(m->target, q->target) ||
	    (q->prefix && strncmp(m->fstype, q->prefix, strlen(q->prefix))))
		return true;
	g_free(q->fstype);
	q->fstype = g_strdup(m->fstype);
	q->dev = m->dev;
	return q->topmost; /* the first match, or go on to the last */
}

char *mountinfo_by_target(const char *target, const char *fstype_prefix, bool topmost,
			  dev_t *dev)
{
	struct by_target q = {target, fstype_prefix, topmost, 0, NULL};

	if (!mountinfo_foreach(match_target, &q) || !q.fstype)
		return NULL;
	*dev = q.dev;
	return q.fstype;
}

struct by_dev {
	dev_t dev;
	char *fstype;
};

static bool match_dev(const struct mountinfo_entry *m, void *arg)
{
	struct by_dev *q = arg;

	if (m->dev != q->dev)
		return true;
	q->fstype = g_strdup(m->fstype);
	return false;
}

char *mountinfo_by_dev(dev_t dev)
{
	struct by_dev q = {dev, NULL};

	mountinfo_foreach(match_dev, &q);
	return q.fstype;
}
