// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * control.c - starts the control channel (ctl.c) for this mount: its
 * socket is named after the mount's device, and its hooks answer with the
 * path and owner of an inode.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster.h"
#include "control.h"
#include "dma.h"
#include "passthrough.h"
#include "proc.h"
#include "window.h"

struct control {
	struct pinfs *fs;
	void (*done)(void *arg, struct lt_effects *fx);
	void *arg;
	struct ctl_server *ctl;
};

/* The path of an inode inside the mount, from its backing descriptor.
 * ino may name an inode that is gone by now: inode_dup_fd checks. */
static char *hook_ino_path(void *ctx, uint64_t ino)
{
	struct pinfs *fs = ((struct control *)ctx)->fs;
	char proc[64], *target, *res = NULL;
	size_t blen = strlen(fs->cfg.backing);
	int fd = inode_dup_fd(fs, ino);

	if (fd < 0)
		return NULL;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	target = g_file_read_link(proc, NULL);
	close(fd);
	if (!target)
		return NULL;
	if (!strncmp(target, fs->cfg.backing, blen) &&
	    (target[blen] == '/' || target[blen] == '\0'))
		res = g_strconcat(fs->cfg.mountpoint, target + blen, NULL);
	else
		res = g_strdup(target);
	g_free(target);
	return res;
}

static int hook_ino_owner(void *ctx, uint64_t ino, uid_t *uid)
{
	struct pinfs *fs = ((struct control *)ctx)->fs;
	int fd = inode_dup_fd(fs, ino), err = 0;
	struct stat st;

	if (fd < 0)
		return -ENOENT;
	if (fstat(fd, &st) < 0)
		err = -errno;
	else
		*uid = st.st_uid;
	close(fd);
	return err;
}

static void hook_windows(void *ctx, struct _JsonBuilder *b)
{
	struct pinfs *fs = ((struct control *)ctx)->fs;

	window_list_json(fs->windows, b);
}

static void hook_cluster(void *ctx, const char *what, struct _JsonBuilder *b)
{
	struct pinfs *fs = ((struct control *)ctx)->fs;

	if (fs->cluster)
		cluster_describe(fs->cluster, what, b);
}

static void hook_status(void *ctx, struct ctl_status *st)
{
	struct pinfs *fs = ((struct control *)ctx)->fs;
	struct dma *d = layout_dma(fs->layout);
	struct dma_status ds;

	st->leases = fs->cfg.leases_on;
	st->pinned_fail = fs->cfg.pinned_fail;
	st->break_time = fs->cfg.break_time;
	passthrough_status(fs, st->passthrough, sizeof(st->passthrough),
			   &st->passthrough_files, &st->passthrough_opens);
	if (!d)
		return;
	dma_get_status(d, &ds);
	st->dma_watched = ds.state == DMA_WATCHED;
	st->dma_require = ds.require;
	g_strlcpy(st->dma_module,
		  ds.state == DMA_WATCHED  ? "loaded"
		  : ds.state == DMA_ABSENT ? "absent"
					   : "unusable",
		  sizeof(st->dma_module));
	g_strlcpy(st->dma_detail, ds.detail, sizeof(st->dma_detail));
	st->dma_since_ns = ds.since_ns;
	st->dma_changes = ds.changes;
}

/* A revoke's effects, on the event thread, which holds no lock. */
static void hook_effects(void *ctx, struct lt_effects *fx)
{
	struct control *c = ctx;

	c->done(c->arg, fx);
}

struct control *control_start(struct pinfs *fs, GMainContext *ctx, struct lease_table *t,
			      void (*done)(void *arg, struct lt_effects *fx), void *arg)
{
	static const struct ctl_hooks hooks = {
	    .ino_path = hook_ino_path,
	    .ino_owner = hook_ino_owner,
	    .windows = hook_windows,
	    .status = hook_status,
	    .cluster = hook_cluster,
	    .effects = hook_effects,
	};
	struct control *c;
	GError *error = NULL;
	unsigned maj, min;
	char *path;

	if (!proc_mount_dev(fs->cfg.mountpoint, &maj, &min)) {
		g_message("control channel off: mount not found in /proc/self/mountinfo");
		return NULL;
	}
	c = g_new0(struct control, 1);
	c->fs = fs;
	c->done = done;
	c->arg = arg;
	path = ctl_socket_path_for_dev(makedev(maj, min), geteuid());
	c->ctl = ctl_start(ctx, t, path, NULL, &hooks, c, &error);
	/*
	 * A device number belongs to one live mount at a time, and this one
	 * is ours: a daemon still answering at its name served an earlier
	 * mount that got the same number and is gone, and that daemon has
	 * not finished stopping.  The name is ours now.
	 */
	if (!c->ctl && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE)) {
		g_message("ctl: %s is still held by the daemon of an earlier mount "
			  "with this device number; taking it over",
			  path);
		g_clear_error(&error);
		if (ctl_take_over(path, &error))
			c->ctl = ctl_start(ctx, t, path, NULL, &hooks, c, &error);
	}
	g_free(path);
	if (!c->ctl) {
		g_message("control channel off: %s", error->message);
		g_error_free(error);
		g_free(c);
		return NULL;
	}
	return c;
}

void control_stop(struct control *c)
{
	ctl_stop(c->ctl);
	g_free(c);
}
