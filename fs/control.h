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

struct control;

/*
 * Serve the control channel for t on ctx; NULL (and a log line) if it
 * cannot be.  What a revoke did goes to done(arg, fx) on ctx's thread,
 * which carries it out.
 */
struct control *control_start(struct pinfs *fs, GMainContext *ctx, struct lease_table *t,
			      void (*done)(void *arg, struct lt_effects *fx), void *arg);
/* As ctl_stop: before lt_destroy. */
void control_stop(struct control *c);

#endif /* PINFS_CONTROL_H */
