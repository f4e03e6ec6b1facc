/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * events.h - the daemon's event thread: a GLib main loop that runs the
 * break timer, the pin poll, the control socket, and the layout changes
 * resumed other than by a release.
 */
#ifndef PINFS_EVENTS_H
#define PINFS_EVENTS_H

#include <glib.h>
#include <stdbool.h>

struct events;

/* The loop's context, without its thread yet. */
struct events *events_new(void);
/* Start the thread (after fuse_daemonize: it forks); false and *error
 * if it cannot be. */
bool events_start(struct events *ev, GError **error);
GMainContext *events_context(struct events *ev);
/* Run fn(data) on the event thread later, never at once: for callers that
 * hold locks, even on the event thread. */
void events_defer(struct events *ev, GSourceFunc fn, gpointer data);
/* Stop the loop and wait for the thread; the context stays, to drain. */
void events_stop(struct events *ev);
/* After events_stop: run what is still queued, here. */
void events_drain(struct events *ev);
void events_free(struct events *ev);

#endif /* PINFS_EVENTS_H */
