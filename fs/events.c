// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * events.c - the event thread: one GMainContext, one GMainLoop and the
 * thread that runs it.  Its users attach their own sources (breaktimer.c,
 * dma.c, ctl.c) or hand it work with events_defer().
 */
#include "events.h"

struct events {
	GMainContext *ctx;
	GMainLoop *loop;
	GThread *thread; /* NULL until events_start */
};

struct events *events_new(void)
{
	struct events *ev = g_new0(struct events, 1);

	ev->ctx = g_main_context_new();
	ev->loop = g_main_loop_new(ev->ctx, FALSE);
	return ev;
}

static gpointer event_thread(gpointer data)
{
	struct events *ev = data;

	g_main_context_push_thread_default(ev->ctx);
	g_main_loop_run(ev->loop);
	g_main_context_pop_thread_default(ev->ctx);
	return NULL;
}

bool events_start(struct events *ev, GError **error)
{
	/* GLib makes its global default context (and its eventfd) the first
	 * time a thread pushes a context: do it now, not at a random moment
	 * after start-up (the fd-leak test counts descriptors). */
	g_main_context_default();
	ev->thread = g_thread_try_new("pinfs-events", event_thread, ev, error);
	return ev->thread != NULL;
}

GMainContext *events_context(struct events *ev)
{
	return ev->ctx;
}

void events_defer(struct events *ev, GSourceFunc fn, gpointer data)
{
	GSource *src = g_idle_source_new();

	g_source_set_priority(src, G_PRIORITY_DEFAULT);
	g_source_set_callback(src, fn, data, NULL);
	g_source_attach(src, ev->ctx);
	g_source_unref(src);
}

static gboolean quit_loop(gpointer data)
{
	g_main_loop_quit(data);
	return G_SOURCE_REMOVE;
}

void events_stop(struct events *ev)
{
	if (!ev->thread)
		return;
	g_main_context_invoke(ev->ctx, quit_loop, ev->loop);
	g_thread_join(ev->thread);
	ev->thread = NULL;
}

void events_drain(struct events *ev)
{
	while (g_main_context_iteration(ev->ctx, FALSE))
		;
}

void events_free(struct events *ev)
{
	g_main_loop_unref(ev->loop);
	g_main_context_unref(ev->ctx);
	g_free(ev);
}
