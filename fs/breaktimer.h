/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * breaktimer.h - the break_time timer: revokes the leases whose break has
 * lasted break_time (rule 10), on the event thread.
 */
#ifndef PINFS_BREAKTIMER_H
#define PINFS_BREAKTIMER_H

#include <glib.h>

#include "lease.h"

struct break_timer;

/* On ctx's thread, each lt_expire()'s effects go to done(arg, fx), which
 * carries them out (the timer clears fx afterwards). */
struct break_timer *break_timer_new(GMainContext *ctx, struct lease_table *t,
				    void (*done)(void *arg, struct lt_effects *fx),
				    void *arg);
/* Any thread, once a call's effects say the earliest deadline changed to
 * next (UINT64_MAX: none). */
void break_timer_deadline_changed(struct break_timer *bt, uint64_t next);
/* Once the event thread has stopped, before lt_destroy: no more timers. */
void break_timer_stop(struct break_timer *bt);
void break_timer_free(struct break_timer *bt);

#endif /* PINFS_BREAKTIMER_H */
