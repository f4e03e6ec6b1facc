/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wbguard.h - the daemon's own writable open file of a file whose pages a
 * device holds pinned while a layout change of it waits, so that the kernel
 * can still write those pages back once the device lets them go, dirty,
 * after the last open file of the process that pinned them is gone
 * (wbguard.c, docs/dma.md).
 */
#ifndef PINFS_WBGUARD_H
#define PINFS_WBGUARD_H

#include <glib.h>
#include <stdbool.h>

#include "daemon.h"
#include "dma.h"

struct wbguard;

/* The guards of the mount fs, checked on the event thread (ctx) against
 * the pinfs_dma module's view d. */
struct wbguard *wbguard_new(struct pinfs *fs, struct dma *d, GMainContext *ctx);
/*
 * Hold a guard of inode, if the module is there and the daemon has none:
 * when a lease is granted on an open file that can be mapped shared and
 * writable (leased true), or when a change of inode was parked and the
 * module sees pinned pages in it.  Any thread: the open is made by a
 * thread of wbguard.c's own, soon after.  The guard goes once the file
 * has no lease, pin or waiter and no page pinned.
 */
void wbguard_take(struct wbguard *g, struct pinfs_inode *inode, bool leased);
/* Unmount, once the event thread has stopped: close every guard. */
void wbguard_free(struct wbguard *g);

#endif /* PINFS_WBGUARD_H */
