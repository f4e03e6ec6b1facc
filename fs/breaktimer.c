// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * breaktimer.c - one GLib timeout on the event thread, armed for the lease
 * table's earliest break deadline; when it fires, lt_expire() revokes what
 * is due and the timer is armed for the next deadline.
 */
#include <stdatomic.h>
#include <stdbool.h>

#include "breaktimer.h"
#include "clock.h"

struct break_timer {
	struct lease_table *t;
	void (*done)(void *arg, struct lt_effects *fx);
	void *arg;
	GMainContext *ctx;
	GSource *timer; /* only touched on the event thread */
	/* The timer's expiry (0: none); written by rearm_timer on the event
	 * thread, read by break_timer_deadline_changed anywhere. */
	atomic_uint_least64_t armed_ns;
	bool stopping; /* set at unmount, before the table goes away */
};

struct break_timer *break_timer_new(GMainContext *ctx, struct lease_table *t,
				    void (*done)(void *arg, struct lt_effects *fx),
				    void *arg)
{
	struct break_timer *bt = g_new0(struct break_timer, 1);

	bt->ctx = ctx;
	bt->t = t;
	bt->done = done;
	bt->arg = arg;
	return bt;
}

static gboolean on_timer(gpointer data);

/*
 * Event thread: arm the timer for the table's next break deadline, and say
 * so in armed_ns before looking at the table a second time: a deadline
 * added after the first look was added by a thread that then reads
 * armed_ns (break_timer_deadline_changed), and either that thread sees the
 * new value and asks again, or the second look sees its deadline.
 */
static gboolean rearm_timer(gpointer data)
{
	struct break_timer *bt = data;
	uint64_t next, now = clock_mono_ns();
	guint ms;

	if (bt->stopping)
		return G_SOURCE_REMOVE;
	do {
		next = lt_next_deadline(bt->t);
		atomic_store(&bt->armed_ns, next == UINT64_MAX ? 0 : next);
	} while (lt_next_deadline(bt->t) < next);
	if (bt->timer) {
		g_source_destroy(bt->timer);
		g_source_unref(bt->timer);
		bt->timer = NULL;
	}
	if (next == UINT64_MAX)
		return G_SOURCE_REMOVE;
	ms = next <= now ? 0 : (guint)MIN((next - now + 999999) / 1000000, G_MAXUINT);
	bt->timer = g_timeout_source_new(ms);
	g_source_set_callback(bt->timer, on_timer, bt, NULL);
	g_source_attach(bt->timer, bt->ctx);
	return G_SOURCE_REMOVE;
}

static gboolean on_timer(gpointer data)
{
	struct break_timer *bt = data;
	struct lt_effects fx = LT_EFFECTS_INIT;

	if (bt->stopping)
		return G_SOURCE_REMOVE;
	lt_expire(bt->t, &fx);
	bt->done(bt->arg, &fx);
	lt_effects_clear(&fx);
	rearm_timer(bt); /* replaces this source */
	return G_SOURCE_REMOVE;
}

/*
 * Wake the event thread only if the earliest deadline is now before the
 * armed timer: a timer that fires early finds nothing to revoke and
 * re-arms, which is cheaper than waking the event thread on every break
 * and release (two CPUs are shared by the breaker, the holder and the
 * daemon).  next may be stale by now: a later change came with effects of
 * its own, and rearm_timer reads the table itself.
 */
void break_timer_deadline_changed(struct break_timer *bt, uint64_t next)
{
	uint64_t armed = atomic_load(&bt->armed_ns);

	if (armed && next >= armed)
		return;
	g_main_context_invoke(bt->ctx, rearm_timer, bt);
}

void break_timer_stop(struct break_timer *bt)
{
	bt->stopping = true;
	if (bt->timer) {
		g_source_destroy(bt->timer);
		g_source_unref(bt->timer);
		bt->timer = NULL;
	}
}

void break_timer_free(struct break_timer *bt)
{
	g_free(bt);
}
