/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * control.h - the daemon's side of the control channel: where its socket
 * lives, and the answers about inodes that only the daemon knows.
 */
#ifndef PINFS_CONTROL_H
#define PINFS_CONTROL_H

#include <glib.h>

#include "ctl.h"
#include "daemon.h"

/* Serve the control channel for t on ctx; NULL (and a log line) if it
 * cannot be. */
struct ctl_server *control_start(struct pinfs *fs, GMainContext *ctx,
				 struct lease_table *t);

#endif /* PINFS_CONTROL_H */
