// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * breaktimer.c - the break_time timer: a timerfd armed for the lease
 * table's earliest break deadline and watched by the event thread; when it
 * fires, lt_expire() revokes what is due and the timer is armed for the
 * next deadline.
 *
 * Any thread arms the timerfd itself (one timerfd_settime()), so a break
 * never wakes the event thread: that thread would compete for a CPU with
 * the holder the break has just signalled.
 */
#include <errno.h>
#include <glib-unix.h>
#include <stdbool.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "breaktimer.h"

struct break_timer {
	struct lease_table *t;
	void (*done)(void *arg, struct lt_effects *fx);
	void *arg;
	int tfd;	   /* CLOCK_MONOTONIC, the lease table's clock */
	GSource *src;	   /* tfd on the event thread */
	GMutex lock;	   /* protects armed_ns and orders the timerfd_settime calls */
	uint64_t armed_ns; /* the timerfd's expiry; 0: disarmed */
	bool stopping;	   /* set at unmount, before the table goes away */
};

static gboolean on_timer(gint fd, GIOCondition cond, gpointer data);

struct break_timer *break_timer_new(GMainContext *ctx, struct lease_table *t,
				    void (*done)(void *arg, struct lt_effects *fx),
				    void *arg)
{
	struct break_timer *bt = g_new0(struct break_timer, 1);

	bt->t = t;
	bt->done = done;
	bt->arg = arg;
	g_mutex_init(&bt->lock);
	bt->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (bt->tfd < 0)
		g_error("timerfd_create: %s",
			g_strerror(errno)); /* only ENOMEM, EMFILE */
	bt->src = g_unix_fd_source_new(bt->tfd, G_IO_IN);
	g_source_set_callback(bt->src, G_SOURCE_FUNC(on_timer), bt, NULL);
	g_source_attach(bt->src, ctx);
	return bt;
}

/* Arm the timerfd for next (UINT64_MAX: disarm).  Holding bt->lock. */
static void arm(struct break_timer *bt, uint64_t next)
{
	struct itimerspec its = {0};

	if (next != UINT64_MAX) {
		/* 0 would disarm it: a deadline at 0 is long past anyway. */
		next = MAX(next, 1);
		its.it_value.tv_sec = (time_t)(next / 1000000000u);
		its.it_value.tv_nsec = (long)(next % 1000000000u);
	}
	if (timerfd_settime(bt->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		g_warning("break timer: timerfd_settime: %s", g_strerror(errno));
	bt->armed_ns = next == UINT64_MAX ? 0 : next;
}

/*
 * Event thread: revoke what is due, then arm for the table's next
 * deadline, read under bt->lock: a deadline added meanwhile was added by a
 * thread that then takes bt->lock (break_timer_deadline_changed), and
 * either this look saw it or that thread sees this arming and moves it.
 */
static gboolean on_timer(gint fd, GIOCondition cond, gpointer data)
{
	struct break_timer *bt = data;
	struct lt_effects fx = LT_EFFECTS_INIT;
	uint64_t expirations;

	(void)cond;
	if (read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		g_warning("break timer: read: %s", g_strerror(errno));
	if (bt->stopping)
		return G_SOURCE_CONTINUE;
	lt_expire(bt->t, &fx);
	bt->done(bt->arg, &fx);
	lt_effects_clear(&fx);
	g_mutex_lock(&bt->lock);
	arm(bt, lt_next_deadline(bt->t));
	g_mutex_unlock(&bt->lock);
	return G_SOURCE_CONTINUE;
}

/*
 * Move the timer only if the earliest deadline is now before it: a timer
 * that fires early finds nothing to revoke and re-arms.  next may be stale
 * by now: a later change came with effects of its own.
 */
void break_timer_deadline_changed(struct break_timer *bt, uint64_t next)
{
	if (next == UINT64_MAX)
		return;
	g_mutex_lock(&bt->lock);
	if (!bt->stopping && (!bt->armed_ns || next < bt->armed_ns))
		arm(bt, next);
	g_mutex_unlock(&bt->lock);
}

void break_timer_stop(struct break_timer *bt)
{
	g_mutex_lock(&bt->lock);
	bt->stopping = true;
	g_mutex_unlock(&bt->lock);
	g_source_destroy(bt->src);
}

void break_timer_free(struct break_timer *bt)
{
	g_source_unref(bt->src);
	close(bt->tfd);
	g_mutex_clear(&bt->lock);
	g_free(bt);
}
