// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-lease.c - unit tests of the lease table (fs/lease.c), one or more
 * per rule of docs/leases.md that the table decides.  Time is a fake clock
 * that the tests advance by hand; the effects every call returns, and every
 * hook call, are recorded in struct fx.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <glib.h>

#include "lease.h"

#define SEC 1000000000ull
#define INO 42
#define PID_A 100
#define PID_B 200
#define UID_A 4242 /* the uid the shorthands charge (no quota unless set) */
#define UID_B 4343

struct resume_rec {
	void *data;
	int err;
};

/* The test fixture: a table plus a record of every effect and hook call. */
struct fx {
	struct lease_table *t;
	uint64_t now;
	GArray *notifies;   /* struct lt_notify */
	GArray *resumes;    /* struct resume_rec */
	GPtrArray *logs;    /* "event lease_id detail" */
	GHashTable *active; /* inos for which file_active(true) is in force */
	unsigned active_calls, deadline_calls;
	uint64_t last_deadline; /* next_deadline of the last deadline change */
	uint64_t unreg;		/* what unregistered_pins reports */
	bool reenter;		/* check that no table lock is held on return */
	pthread_mutex_t mu;	/* calls may come from several threads */
};

static uint64_t fx_now(void *arg)
{
	return ((struct fx *)arg)->now;
}

static uint64_t fx_unreg(void *ctx, uint64_t ino, uint64_t off, uint64_t len)
{
	(void)ino;
	(void)off;
	(void)len;
	return ((struct fx *)ctx)->unreg;
}

static void fx_file_active(void *ctx, uint64_t ino, bool active)
{
	struct fx *fx = ctx;
	uint64_t *key = g_new(uint64_t, 1);

	*key = ino;
	fx->active_calls++;
	/* Transitions must alternate: true only when not active, and back. */
	if (active)
		g_assert_true(g_hash_table_add(fx->active, key));
	else {
		g_assert_true(g_hash_table_remove(fx->active, key));
		g_free(key);
	}
}

static void fx_init_cfg(struct fx *fx, const struct lt_config *cfg, bool with_unreg)
{
	struct lt_clock clock = {.now_ns = fx_now, .arg = fx};
	struct lt_hooks hooks = {
	    .file_active = fx_file_active,
	    .unregistered_pins = with_unreg ? fx_unreg : NULL,
	    .arg = fx,
	};

	memset(fx, 0, sizeof(*fx));
	pthread_mutex_init(&fx->mu, NULL);
	fx->now = 1000;
	fx->notifies = g_array_new(FALSE, FALSE, sizeof(struct lt_notify));
	fx->resumes = g_array_new(FALSE, FALSE, sizeof(struct resume_rec));
	fx->logs = g_ptr_array_new_with_free_func(g_free);
	fx->active = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	fx->t = lt_new(cfg, &clock, &hooks);
}

static void fx_init_full(struct fx *fx, uint64_t break_time, bool pinned_fail,
			 bool with_unreg)
{
	struct lt_config cfg = {.break_time_ns = break_time, .pinned_fail = pinned_fail};

	fx_init_cfg(fx, &cfg, with_unreg);
}

/* A table with per-user quotas (break_time 10 s). */
static void fx_init_quota(struct fx *fx, uint32_t max_leases, uint32_t max_pins)
{
	struct lt_config cfg = {
	    .break_time_ns = 10 * SEC,
	    .max_leases_per_user = max_leases,
	    .max_pins_per_user = max_pins,
	};

	fx_init_cfg(fx, &cfg, false);
}

static void fx_init(struct fx *fx, uint64_t break_time)
{
	fx_init_full(fx, break_time, false, false);
}

/*
 * Record what one call returned, as the daemon would carry it out: the
 * holders it notifies, the waiters it resumes, its log lines and the
 * deadline it re-arms for.
 */
static void fx_absorb(struct fx *fx, struct lt_effects *e)
{
	if (fx->reenter && fx->t) {
		/* No table lock may be held once a call has returned. */
		struct lt_stats s;

		lt_get_stats(fx->t, &s);
	}
	pthread_mutex_lock(&fx->mu);
	if (e->notify)
		g_array_append_vals(fx->notifies, e->notify->data, e->notify->len);
	for (guint i = 0; e->resumed && i < e->resumed->len; i++) {
		struct lt_resumed *r = &g_array_index(e->resumed, struct lt_resumed, i);
		struct resume_rec rec = {r->waiter_data, r->err};

		g_array_append_val(fx->resumes, rec);
	}
	for (guint i = 0; e->log && i < e->log->len; i++) {
		struct lt_log *l = &g_array_index(e->log, struct lt_log, i);

		g_ptr_array_add(fx->logs,
				g_strdup_printf("%s %" G_GUINT64_FORMAT " %s", l->event,
						l->lease_id, l->detail));
	}
	if (e->deadline_changed) {
		fx->deadline_calls++;
		fx->last_deadline = e->next_deadline;
	}
	pthread_mutex_unlock(&fx->mu);
	lt_effects_clear(e);
}

/* The table's calls, each with its effects recorded. */
static int fx_setlease(struct fx *fx, uint64_t ino, uint64_t fh, pid_t pid, uid_t uid,
		       enum lt_type type, bool exclusive, uint64_t off, uint64_t len,
		       bool owner_ok)
{
	struct lt_effects e = LT_EFFECTS_INIT;
	int r = lt_setlease(fx->t, ino, fh, pid, uid, type, exclusive, off, len, owner_ok,
			    &e);

	fx_absorb(fx, &e);
	return r;
}

static int fx_pin(struct fx *fx, uint64_t ino, uint64_t fh, uint64_t off, uint64_t len,
		  uint64_t *pin_id)
{
	struct lt_effects e = LT_EFFECTS_INIT;
	int r = lt_pin(fx->t, ino, fh, off, len, pin_id, &e);

	fx_absorb(fx, &e);
	return r;
}

static int fx_unpin(struct fx *fx, uint64_t ino, uint64_t fh, uint64_t pin_id)
{
	struct lt_effects e = LT_EFFECTS_INIT;
	int r = lt_unpin(fx->t, ino, fh, pin_id, &e);

	fx_absorb(fx, &e);
	return r;
}

static int fx_break(struct fx *fx, uint64_t ino, uint64_t breaker_fh, pid_t breaker_pid,
		    uint64_t off, uint64_t len, bool nonblock, void *waiter_data,
		    uint64_t *waiter_id)
{
	struct lt_effects e = LT_EFFECTS_INIT;
	int r = lt_break(fx->t, ino, breaker_fh, breaker_pid, off, len, nonblock,
			 waiter_data, waiter_id, &e);

	fx_absorb(fx, &e);
	return r;
}

static void fx_cancel(struct fx *fx, uint64_t waiter_id, int err)
{
	struct lt_effects e = LT_EFFECTS_INIT;

	lt_cancel(fx->t, waiter_id, err, &e);
	fx_absorb(fx, &e);
}

static void fx_close(struct fx *fx, uint64_t ino, uint64_t fh)
{
	struct lt_effects e = LT_EFFECTS_INIT;

	lt_close(fx->t, ino, fh, &e);
	fx_absorb(fx, &e);
}

static int fx_revoke(struct fx *fx, uint64_t lease_id)
{
	struct lt_effects e = LT_EFFECTS_INIT;
	int r = lt_revoke(fx->t, lease_id, &e);

	fx_absorb(fx, &e);
	return r;
}

static void fx_expire(struct fx *fx)
{
	struct lt_effects e = LT_EFFECTS_INIT;

	lt_expire(fx->t, &e);
	fx_absorb(fx, &e);
}

static void fx_recheck(struct fx *fx)
{
	struct lt_effects e = LT_EFFECTS_INIT;

	lt_recheck(fx->t, &e);
	fx_absorb(fx, &e);
}

/* lt_destroy, whose effects outlive the table. */
static void fx_destroy(struct fx *fx)
{
	struct lt_effects e = LT_EFFECTS_INIT;

	lt_destroy(fx->t, &e);
	fx->t = NULL;
	fx_absorb(fx, &e);
}

static void fx_fini(struct fx *fx)
{
	fx_destroy(fx);
	g_array_free(fx->notifies, TRUE);
	g_array_free(fx->resumes, TRUE);
	g_ptr_array_free(fx->logs, TRUE);
	g_hash_table_destroy(fx->active);
	pthread_mutex_destroy(&fx->mu);
}

static struct resume_rec *resume_at(struct fx *fx, guint i)
{
	g_assert_cmpuint(i, <, fx->resumes->len);
	return &g_array_index(fx->resumes, struct resume_rec, i);
}

static struct lt_notify *notify_at(struct fx *fx, guint i)
{
	g_assert_cmpuint(i, <, fx->notifies->len);
	return &g_array_index(fx->notifies, struct lt_notify, i);
}

static unsigned count_logs(struct fx *fx, const char *event)
{
	unsigned n = 0;
	size_t len = strlen(event);

	for (guint i = 0; i < fx->logs->len; i++) {
		const char *s = g_ptr_array_index(fx->logs, i);

		if (!strncmp(s, event, len) && s[len] == ' ')
			n++;
	}
	return n;
}

static bool is_active(struct fx *fx, uint64_t ino)
{
	return g_hash_table_contains(fx->active, &ino);
}

/* Shorthands: whole-file leases by the file's owner. */
static int take(struct fx *fx, uint64_t fh, pid_t pid, enum lt_type type)
{
	return fx_setlease(fx, INO, fh, pid, UID_A, type, false, 0, LT_LEN_EOF, true);
}

static int take_range(struct fx *fx, uint64_t fh, pid_t pid, enum lt_type type,
		      uint64_t off, uint64_t len)
{
	return fx_setlease(fx, INO, fh, pid, UID_A, type, false, off, len, true);
}

static int unlock(struct fx *fx, uint64_t fh)
{
	return fx_setlease(fx, INO, fh, 0, UID_A, LT_UNLOCK, false, 0, 0, true);
}

/* A truncate to size 0 by path (no breaker fh), waiter data tag. */
static int trunc0(struct fx *fx, pid_t pid, int tag, uint64_t *wid)
{
	return fx_break(fx, INO, 0, pid, 0, LT_LEN_EOF, false, GINT_TO_POINTER(tag), wid);
}

static struct lt_status status(struct fx *fx, uint64_t fh)
{
	struct lt_status st;

	lt_getlease(fx->t, INO, fh, &st);
	return st;
}

static struct lt_stats stats(struct fx *fx)
{
	struct lt_stats s;

	lt_get_stats(fx->t, &s);
	return s;
}

/* ---- rule 1: types ---- */

static void test_read_share(void)
{
	struct fx fx;

	fx_init(&fx, 45 * SEC);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(take(&fx, 2, PID_B, LT_READ), ==, 0);
	g_assert_cmpint(status(&fx, 1).type, ==, LT_READ);
	g_assert_cmpint(status(&fx, 2).type, ==, LT_READ);
	g_assert_cmpuint(status(&fx, 1).lease_id, !=, status(&fx, 2).lease_id);
	g_assert_cmpint(take(&fx, 3, PID_B, LT_WRITE), ==, -EAGAIN);
	g_assert_cmpint(status(&fx, 3).state, ==, LT_NONE);
	g_assert_cmpuint(stats(&fx).granted, ==, 2);
	g_assert_cmpuint(stats(&fx).active_leases, ==, 2);
	g_assert_cmpuint(stats(&fx).refused, ==, 1);
	g_assert_cmpuint(count_logs(&fx, "grant"), ==, 2);
	g_assert_cmpuint(count_logs(&fx, "refuse"), ==, 1);
	fx_fini(&fx);
}

static void test_write_conflicts(void)
{
	struct fx fx;

	fx_init(&fx, 45 * SEC);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_WRITE), ==, 0);
	g_assert_cmpint(take(&fx, 2, PID_B, LT_READ), ==, -EAGAIN);
	g_assert_cmpint(take(&fx, 2, PID_B, LT_WRITE), ==, -EAGAIN);
	/* The same process through another open file conflicts too. */
	g_assert_cmpint(take(&fx, 3, PID_A, LT_READ), ==, -EAGAIN);
	/* Another file is independent. */
	g_assert_cmpint(fx_setlease(&fx, INO + 1, 2, PID_B, UID_A, LT_WRITE, false, 0,
				    LT_LEN_EOF, true),
			==, 0);
	g_assert_cmpint(unlock(&fx, 1), ==, 0);
	g_assert_cmpint(take(&fx, 2 + 10, PID_B, LT_READ), ==, 0);
	fx_fini(&fx);
}

static void test_upgrade_downgrade(void)
{
	struct fx fx;
	uint64_t id;

	fx_init(&fx, 45 * SEC);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	id = status(&fx, 1).lease_id;
	g_assert_cmpint(take(&fx, 1, PID_A, LT_WRITE), ==, 0);
	g_assert_cmpint(status(&fx, 1).type, ==, LT_WRITE);
	g_assert_cmpuint(status(&fx, 1).lease_id, ==, id); /* the same lease */
	g_assert_cmpint(take(&fx, 2, PID_B, LT_READ), ==, -EAGAIN);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0); /* downgrade */
	g_assert_cmpint(take(&fx, 2, PID_B, LT_READ), ==, 0);
	/* Upgrade fails while another open file shares the range. */
	g_assert_cmpint(take(&fx, 1, PID_A, LT_WRITE), ==, -EAGAIN);
	g_assert_cmpint(status(&fx, 1).type, ==, LT_READ);
	/* A range change that leaves fh 2's range makes the upgrade fine. */
	g_assert_cmpint(unlock(&fx, 2), ==, 0);
	g_assert_cmpint(take_range(&fx, 2, PID_B, LT_READ, 8192, 4096), ==, 0);
	g_assert_cmpint(take_range(&fx, 1, PID_A, LT_WRITE, 0, 8192), ==, 0);
	g_assert_cmpuint(status(&fx, 1).len, ==, 8192);
	g_assert_cmpuint(stats(&fx).granted, ==, 3); /* changes are not grants */
	g_assert_cmpuint(stats(&fx).active_leases, ==, 2);
	fx_fini(&fx);
}

static void test_invalid(void)
{
	struct fx fx;

	fx_init(&fx, 45 * SEC);
	g_assert_cmpint(
	    fx_setlease(&fx, INO, 1, PID_A, UID_A, (enum lt_type)7, false, 0, 1, true),
	    ==, -EINVAL);
	g_assert_cmpint(take_range(&fx, 1, PID_A, LT_READ, 0, 0), ==, -EINVAL);
	g_assert_cmpint(take_range(&fx, 1, PID_A, LT_READ, UINT64_MAX - 1, 5), ==,
			-EINVAL);
	g_assert_cmpint(take_range(&fx, 1, PID_A, LT_READ, UINT64_MAX - 1, LT_LEN_EOF),
			==, 0);
	g_assert_cmpint(unlock(&fx, 1), ==, 0);
	g_assert_cmpint(unlock(&fx, 1), ==, 0); /* no lease: still 0 */
	g_assert_cmpint(unlock(&fx, 99), ==, 0);
	/* rule 3: only the owner or root. */
	g_assert_cmpint(
	    fx_setlease(&fx, INO, 1, PID_A, UID_A, LT_READ, false, 0, LT_LEN_EOF, false),
	    ==, -EACCES);
	g_assert_cmpint(status(&fx, 1).state, ==, LT_NONE);
	g_assert_cmpuint(stats(&fx).active_leases, ==, 0);
	g_assert_false(is_active(&fx, INO));
	fx_fini(&fx);
}

/* ---- rule 4: byte ranges ---- */

static void test_ranges(void)
{
	struct fx fx;
	uint64_t wid = 0;

	fx_init(&fx, 45 * SEC);
	g_assert_cmpint(take_range(&fx, 1, PID_A, LT_WRITE, 0, 4096), ==, 0);
	g_assert_cmpint(take_range(&fx, 2, PID_A, LT_WRITE, 8192, 4096), ==, 0);
	g_assert_cmpint(take_range(&fx, 3, PID_A, LT_WRITE, 4096, 4096), ==, 0);
	g_assert_cmpint(take_range(&fx, 4, PID_A, LT_READ, 4095, 2), ==, -EAGAIN);

	/* A hole punch that touches no lease goes ahead. */
	g_assert_cmpint(fx_break(&fx, INO, 0, PID_B, 16384, 4096, false, NULL, &wid), ==,
			0);
	g_assert_cmpuint(fx.notifies->len, ==, 0);

	/* A truncate to 10000 touches [10000, inf): only fh 2. */
	g_assert_cmpint(fx_break(&fx, INO, 0, PID_B, 10000, LT_LEN_EOF, false,
				 GINT_TO_POINTER(7), &wid),
			==, 1);
	g_assert_cmpuint(fx.notifies->len, ==, 1);
	g_assert_cmpuint(notify_at(&fx, 0)->fh, ==, 2);
	g_assert_cmpint(status(&fx, 1).state, ==, LT_ACTIVE);
	g_assert_cmpint(status(&fx, 2).state, ==, LT_BREAKING);
	g_assert_cmpint(status(&fx, 3).state, ==, LT_ACTIVE);

	/* A new lease beside the parked range is fine, on it is not. */
	g_assert_cmpint(unlock(&fx, 1), ==, 0);
	g_assert_cmpint(take_range(&fx, 1, PID_A, LT_READ, 0, 4096), ==, 0);
	g_assert_cmpint(take_range(&fx, 5, PID_A, LT_READ, 20000, 1), ==, -EAGAIN);

	/* Releasing the lease the truncate waits for lets it go. */
	g_assert_cmpuint(fx.resumes->len, ==, 0);
	g_assert_cmpint(unlock(&fx, 2), ==, 0);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	g_assert_cmpint(resume_at(&fx, 0)->err, ==, 0);
	g_assert_true(resume_at(&fx, 0)->data == GINT_TO_POINTER(7));
	fx_fini(&fx);
}

/* ---- rule 8: the holder to signal is the last caller, with its uid ---- */

/* A change of the lease through the same open file (passed to another
 * process, maybe of another user) moves the notification to that process,
 * checked against that process's uid; the quota charge stays with the
 * uid that took the lease. */
static void test_notify_uid(void)
{
	struct fx fx;
	uint64_t w = 0;
	struct lt_notify *n;

	fx_init(&fx, 45 * SEC);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(
	    fx_setlease(&fx, INO, 1, PID_B, UID_B, LT_WRITE, false, 0, LT_LEN_EOF, true),
	    ==, 0);
	g_assert_cmpint(trunc0(&fx, PID_A + 1000, 2, &w), ==, 1);
	g_assert_cmpuint(fx.notifies->len, ==, 1);
	n = notify_at(&fx, 0);
	g_assert_cmpint(n->pid, ==, PID_B);
	g_assert_cmpuint(n->uid, ==, UID_B);
	g_assert_cmpint(unlock(&fx, 1), ==, 0);
	fx_fini(&fx);
}

/* ---- rule 8: notify once ---- */

static void test_break_notify_once(void)
{
	struct fx fx;
	uint64_t w1 = 0, w2 = 0;
	struct lt_notify *n;

	fx_init(&fx, 45 * SEC);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(lt_setsig(fx.t, INO, 1, 40, 7), ==, 0);
	g_assert_cmpint(lt_setsig(fx.t, INO, 1, -1, 7), ==, -EINVAL);
	g_assert_cmpint(trunc0(&fx, PID_B, 1, &w1), ==, 1);
	g_assert_cmpuint(fx.notifies->len, ==, 1);
	n = notify_at(&fx, 0);
	g_assert_cmpuint(n->lease_id, ==, status(&fx, 1).lease_id);
	g_assert_cmpuint(n->ino, ==, INO);
	g_assert_cmpuint(n->fh, ==, 1);
	g_assert_cmpint(n->pid, ==, PID_A);
	g_assert_cmpuint(n->uid, ==, UID_A); /* the signal's target must be UID_A's */
	g_assert_cmpint(n->signal, ==, 40);
	g_assert_cmpint(n->fd, ==, 7);

	/* A second breaker waits too, but the holder is told only once. */
	g_assert_cmpint(trunc0(&fx, PID_B, 2, &w2), ==, 1);
	g_assert_cmpuint(w1, !=, w2);
	g_assert_cmpuint(fx.notifies->len, ==, 1);
	g_assert_cmpuint(stats(&fx).broken, ==, 1);
	g_assert_cmpuint(stats(&fx).parked, ==, 2);
	g_assert_cmpuint(stats(&fx).parked_now, ==, 2);
	g_assert_cmpuint(count_logs(&fx, "break"), ==, 1);

	/* Both are resumed, in park order, by the release. */
	g_assert_cmpint(unlock(&fx, 1), ==, 0);
	g_assert_cmpuint(fx.resumes->len, ==, 2);
	g_assert_true(resume_at(&fx, 0)->data == GINT_TO_POINTER(1));
	g_assert_true(resume_at(&fx, 1)->data == GINT_TO_POINTER(2));
	g_assert_cmpuint(stats(&fx).parked_now, ==, 0);
	fx_fini(&fx);
}

static void test_setsig_default(void)
{
	struct fx fx;
	uint64_t wid;

	fx_init(&fx, 45 * SEC);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(status(&fx, 1).signal, ==, 0);
	g_assert_cmpint(trunc0(&fx, PID_B, 1, &wid), ==, 1);
	g_assert_cmpint(notify_at(&fx, 0)->signal, ==, 0); /* SIGIO */
	g_assert_cmpint(notify_at(&fx, 0)->fd, ==, -1);
	/* setsig without a lease is stored for the next one. */
	g_assert_cmpint(lt_setsig(fx.t, INO, 5, 34, 9), ==, 0);
	g_assert_cmpint(status(&fx, 5).signal, ==, 34);
	g_assert_cmpint(status(&fx, 5).state, ==, LT_NONE);
	fx_fini(&fx);
}

/* ---- rule 7: the holder's own open file, the holder's own process ---- */

static void test_own_fh_does_not_break(void)
{
	struct fx fx;
	uint64_t wid = 0;

	fx_init(&fx, 45 * SEC);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_WRITE), ==, 0);
	g_assert_cmpint(fx_break(&fx, INO, 1, PID_A, 0, LT_LEN_EOF, false, NULL, &wid),
			==, 0);
	/* Even another process sharing the description (fork) goes ahead. */
	g_assert_cmpint(fx_break(&fx, INO, 1, PID_B, 0, LT_LEN_EOF, false, NULL, &wid),
			==, 0);
	g_assert_cmpuint(fx.notifies->len, ==, 0);
	g_assert_cmpint(status(&fx, 1).state, ==, LT_ACTIVE);
	g_assert_cmpuint(stats(&fx).broken, ==, 0);

	/*
	 * Shared with another reader: the truncate through fh 1 breaks only
	 * fh 2's lease, and waits only for it (not for its own lease/pins).
	 */
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 0, 4096, NULL), ==, 0);
	g_assert_cmpint(take(&fx, 2, PID_B, LT_READ), ==, 0);
	g_assert_cmpint(
	    fx_break(&fx, INO, 1, PID_A, 0, LT_LEN_EOF, false, GINT_TO_POINTER(3), &wid),
	    ==, 1);
	g_assert_cmpuint(fx.notifies->len, ==, 1);
	g_assert_cmpuint(notify_at(&fx, 0)->fh, ==, 2);
	g_assert_cmpint(status(&fx, 1).state, ==, LT_ACTIVE);
	g_assert_cmpint(unlock(&fx, 2), ==, 0);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	g_assert_cmpint(resume_at(&fx, 0)->err, ==, 0);
	fx_fini(&fx);
}

static void test_self_break(void)
{
	struct fx fx;
	uint64_t wid = 0;

	fx_init(&fx, 45 * SEC);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(fx_break(&fx, INO, 2, PID_A, 0, LT_LEN_EOF, false, NULL, &wid),
			==, -EWOULDBLOCK);
	/* The break still started (fs/locks.c does the same). */
	g_assert_cmpint(status(&fx, 1).state, ==, LT_BREAKING);
	g_assert_cmpuint(fx.notifies->len, ==, 1);
	g_assert_cmpuint(stats(&fx).parked, ==, 0);
	g_assert_false(wid);
	fx_fini(&fx);
}

/* ---- rule 9: nonblock ---- */

static void test_nonblock(void)
{
	struct fx fx;
	uint64_t wid = 0;

	fx_init(&fx, 45 * SEC);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(fx_break(&fx, INO, 0, PID_B, 0, LT_LEN_EOF, true, NULL, &wid), ==,
			-EWOULDBLOCK);
	g_assert_cmpint(status(&fx, 1).state, ==, LT_BREAKING);
	g_assert_cmpint(status(&fx, 1).type, ==, LT_UNLOCK);
	g_assert_cmpuint(fx.notifies->len, ==, 1);
	g_assert_cmpuint(stats(&fx).parked_now, ==, 0);
	/* The break carries on: no new lease while it does, and it times out. */
	g_assert_cmpint(take(&fx, 2, PID_B, LT_READ), ==, -EAGAIN);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, -EAGAIN);
	g_assert_cmpuint(lt_next_deadline(fx.t), ==, 1000 + 45 * SEC);
	fx.now += 45 * SEC;
	fx_expire(&fx);
	g_assert_cmpint(status(&fx, 1).state, ==, LT_NONE);
	g_assert_cmpint(status(&fx, 1).end_reason, ==, LT_END_REVOKED_TIMEOUT);
	g_assert_cmpuint(fx.resumes->len, ==, 0);
	/* A nonblocking break of nothing goes ahead. */
	g_assert_cmpint(fx_break(&fx, INO, 0, PID_B, 0, LT_LEN_EOF, true, NULL, &wid), ==,
			0);
	fx_fini(&fx);
}

static void test_release_resumes(void)
{
	struct fx fx;
	uint64_t wid = 0;
	struct lt_stats s;

	fx_init(&fx, 45 * SEC);
	fx.reenter = true;
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(take(&fx, 2, PID_B, LT_READ), ==, 0);
	g_assert_cmpint(trunc0(&fx, 300, 5, &wid), ==, 1);
	g_assert_cmpuint(fx.notifies->len, ==, 2);
	fx.now += 3 * SEC;
	g_assert_cmpint(unlock(&fx, 1), ==, 0);
	g_assert_cmpuint(fx.resumes->len, ==, 0); /* fh 2 still holds it */
	fx.now += 2 * SEC;
	g_assert_cmpint(unlock(&fx, 2), ==, 0);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	g_assert_cmpint(resume_at(&fx, 0)->err, ==, 0);
	g_assert_cmpint(status(&fx, 1).end_reason, ==, LT_END_RELEASED);
	s = stats(&fx);
	g_assert_cmpuint(s.released, ==, 2);
	g_assert_cmpuint(s.resumed, ==, 1);
	g_assert_cmpuint(s.wait_count, ==, 1);
	g_assert_cmpuint(s.wait_max_ns, ==, 5 * SEC);
	g_assert_cmpuint(s.wait_total_ns, ==, 5 * SEC);
	g_assert_cmpuint(s.active_leases, ==, 0);
	g_assert_cmpuint(lt_next_deadline(fx.t), ==, UINT64_MAX);
	g_assert_false(is_active(&fx, INO));
	fx_fini(&fx);
}

/* ---- rule 10: time out ---- */

static void test_timeout_exact(void)
{
	struct fx fx;
	uint64_t wid = 0, deadline;

	fx_init(&fx, 45 * SEC);
	g_assert_cmpuint(lt_next_deadline(fx.t), ==, UINT64_MAX);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_WRITE), ==, 0);
	fx.now = 5000;
	g_assert_cmpint(trunc0(&fx, PID_B, 1, &wid), ==, 1);
	deadline = 5000 + 45 * SEC;
	g_assert_cmpuint(lt_next_deadline(fx.t), ==, deadline);
	g_assert_cmpuint(fx.deadline_calls, >=, 1);
	g_assert_cmpuint(fx.last_deadline, ==, deadline);

	fx.now = deadline - 1;
	fx_expire(&fx);
	g_assert_cmpint(status(&fx, 1).state, ==, LT_BREAKING);
	g_assert_cmpuint(fx.resumes->len, ==, 0);
	g_assert_cmpuint(stats(&fx).revoked, ==, 0);

	fx.now = deadline;
	fx_expire(&fx);
	g_assert_cmpint(status(&fx, 1).state, ==, LT_NONE);
	g_assert_cmpint(status(&fx, 1).type, ==, LT_UNLOCK);
	g_assert_cmpint(status(&fx, 1).end_reason, ==, LT_END_REVOKED_TIMEOUT);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	g_assert_cmpint(resume_at(&fx, 0)->err, ==, 0);
	g_assert_cmpuint(stats(&fx).revoked, ==, 1);
	g_assert_cmpuint(count_logs(&fx, "revoke"), ==, 1);
	g_assert_cmpuint(lt_next_deadline(fx.t), ==, UINT64_MAX);
	g_assert_cmpuint(stats(&fx).wait_max_ns, ==, 45 * SEC);
	g_assert_cmpuint(fx.last_deadline, ==, UINT64_MAX);
	fx_fini(&fx);
}

static void test_timeout_order(void)
{
	struct fx fx;
	uint64_t wid;

	fx_init(&fx, 10 * SEC);
	g_assert_cmpint(
	    fx_setlease(&fx, 1, 1, PID_A, UID_A, LT_READ, false, 0, LT_LEN_EOF, true), ==,
	    0);
	g_assert_cmpint(
	    fx_setlease(&fx, 2, 2, PID_A, UID_A, LT_READ, false, 0, LT_LEN_EOF, true), ==,
	    0);
	g_assert_cmpint(fx_break(&fx, 1, 0, PID_B, 0, 1, false, GINT_TO_POINTER(1), &wid),
			==, 1);
	fx.now += 4 * SEC;
	g_assert_cmpint(fx_break(&fx, 2, 0, PID_B, 0, 1, false, GINT_TO_POINTER(2), &wid),
			==, 1);
	g_assert_cmpuint(lt_next_deadline(fx.t), ==, 1000 + 10 * SEC);
	fx.now = 1000 + 10 * SEC;
	fx_expire(&fx);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	g_assert_true(resume_at(&fx, 0)->data == GINT_TO_POINTER(1));
	g_assert_cmpuint(lt_next_deadline(fx.t), ==, 1000 + 14 * SEC);
	fx.now = 1000 + 14 * SEC;
	fx_expire(&fx);
	g_assert_cmpuint(fx.resumes->len, ==, 2);
	g_assert_cmpuint(lt_next_deadline(fx.t), ==, UINT64_MAX);
	fx_fini(&fx);
}

static void test_break_time_zero(void)
{
	struct fx fx;
	uint64_t wid = 0;

	fx_init(&fx, 0);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(trunc0(&fx, PID_B, 1, &wid), ==, 1);
	g_assert_cmpuint(lt_next_deadline(fx.t), ==, UINT64_MAX);
	fx.now += 1000000 * SEC;
	fx_expire(&fx);
	g_assert_cmpint(status(&fx, 1).state, ==, LT_BREAKING);
	g_assert_cmpuint(fx.resumes->len, ==, 0);
	g_assert_cmpuint(stats(&fx).revoked, ==, 0);
	g_assert_cmpint(unlock(&fx, 1), ==, 0);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	fx_fini(&fx);
}

/* ---- rule 5: F_GETLEASE ---- */

static void test_getlease(void)
{
	struct fx fx;
	struct lt_status st;
	uint64_t wid = 0, id;

	fx_init(&fx, 45 * SEC);
	st = status(&fx, 1);
	g_assert_cmpint(st.state, ==, LT_NONE);
	g_assert_cmpint(st.type, ==, LT_UNLOCK);
	g_assert_cmpint(st.end_reason, ==, LT_END_NONE);

	g_assert_cmpint(take_range(&fx, 1, PID_A, LT_WRITE, 100, 200), ==, 0);
	st = status(&fx, 1);
	g_assert_cmpint(st.state, ==, LT_ACTIVE);
	g_assert_cmpint(st.type, ==, LT_WRITE);
	g_assert_cmpuint(st.off, ==, 100);
	g_assert_cmpuint(st.len, ==, 200);
	g_assert_cmpuint(st.lease_id, ==, 1);
	id = st.lease_id;

	g_assert_cmpint(trunc0(&fx, PID_B, 1, &wid), ==, 1);
	st = status(&fx, 1);
	g_assert_cmpint(st.state, ==, LT_BREAKING);
	g_assert_cmpint(st.type, ==, LT_UNLOCK);
	g_assert_cmpuint(st.lease_id, ==, id);

	g_assert_cmpint(unlock(&fx, 1), ==, 0);
	st = status(&fx, 1);
	g_assert_cmpint(st.state, ==, LT_NONE);
	g_assert_cmpint(st.end_reason, ==, LT_END_RELEASED);

	/* A new lease gets a new id; admin revocation shows as such. */
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpuint(status(&fx, 1).lease_id, ==, 2);
	g_assert_cmpint(status(&fx, 1).end_reason, ==, LT_END_RELEASED);
	g_assert_cmpint(fx_revoke(&fx, 2), ==, 0);
	st = status(&fx, 1);
	g_assert_cmpint(st.state, ==, LT_NONE);
	g_assert_cmpint(st.type, ==, LT_UNLOCK);
	g_assert_cmpint(st.end_reason, ==, LT_END_REVOKED_ADMIN);
	fx_fini(&fx);
}

/* ---- rule 12: exclusive ---- */

static void test_exclusive(void)
{
	struct fx fx;
	uint64_t wid = 0;

	fx_init(&fx, 45 * SEC);
	g_assert_cmpint(
	    fx_setlease(&fx, INO, 1, PID_A, UID_A, LT_WRITE, true, 0, LT_LEN_EOF, false),
	    ==, -EACCES);
	g_assert_cmpint(
	    fx_setlease(&fx, INO, 1, PID_A, UID_A, LT_WRITE, true, 0, LT_LEN_EOF, true),
	    ==, 0);
	g_assert_true(status(&fx, 1).exclusive);
	g_assert_cmpint(trunc0(&fx, PID_B, 1, &wid), ==, -ETXTBSY);
	g_assert_cmpint(fx_break(&fx, INO, 0, PID_B, 0, 1, true, NULL, &wid), ==,
			-ETXTBSY);
	g_assert_cmpint(fx_break(&fx, INO, 2, PID_A, 0, LT_LEN_EOF, false, NULL, &wid),
			==, -EDEADLK);
	g_assert_cmpint(fx_break(&fx, INO, 1, PID_A, 0, LT_LEN_EOF, false, NULL, &wid),
			==, 0);
	g_assert_cmpint(status(&fx, 1).state, ==, LT_ACTIVE);
	g_assert_cmpuint(fx.notifies->len, ==, 0);
	g_assert_cmpuint(stats(&fx).broken, ==, 0);
	g_assert_cmpuint(stats(&fx).parked, ==, 0);
	g_assert_cmpuint(stats(&fx).refused, ==, 4);
	/* Nothing started breaking, even a breakable lease beside it. */
	g_assert_cmpint(unlock(&fx, 1), ==, 0);
	g_assert_cmpint(take_range(&fx, 3, PID_B, LT_READ, 0, 10), ==, 0);
	g_assert_cmpint(
	    fx_setlease(&fx, INO, 1, PID_A, UID_A, LT_READ, true, 10, 10, true), ==, 0);
	g_assert_cmpint(trunc0(&fx, PID_B, 1, &wid), ==, -ETXTBSY);
	g_assert_cmpint(status(&fx, 3).state, ==, LT_ACTIVE);
	fx_fini(&fx);
}

/* ---- rule 13: pins need a lease ---- */

static void test_pins_need_lease(void)
{
	struct fx fx;
	uint64_t pid1 = 0, pid2 = 0, wid = 0;

	fx_init(&fx, 45 * SEC);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 0, 100, &pid1), ==, -EPERM);
	g_assert_cmpint(take_range(&fx, 1, PID_A, LT_READ, 0, 4096), ==, 0);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 0, 0, &pid1), ==, -EINVAL);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 4000, 200, &pid1), ==, -EPERM);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 0, 100, &pid1), ==, 0);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 100, 100, &pid2), ==, 0);
	g_assert_cmpuint(pid1, ==, 1);
	g_assert_cmpuint(pid2, ==, 2);
	g_assert_cmpuint(status(&fx, 1).pinned_bytes, ==, 200);
	g_assert_cmpint(fx_pin(&fx, INO, 2, 0, 100, &pid1), ==, -EPERM); /* other fh */
	g_assert_cmpint(fx_unpin(&fx, INO, 1, 77), ==, -ENOENT);
	g_assert_cmpint(fx_unpin(&fx, INO, 1, pid2), ==, 0);
	g_assert_cmpint(fx_unpin(&fx, INO, 1, pid2), ==, -ENOENT);
	g_assert_cmpuint(status(&fx, 1).pinned_bytes, ==, 100);
	/* No new pins while breaking or after release. */
	g_assert_cmpint(trunc0(&fx, PID_B, 1, &wid), ==, 1);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 200, 100, &pid2), ==, -EPERM);
	fx_cancel(&fx, wid, EINTR);
	g_assert_cmpint(unlock(&fx, 1), ==, 0);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 200, 100, &pid2), ==, -EPERM);
	g_assert_cmpuint(status(&fx, 1).pinned_bytes, ==, 100); /* the old pin stays */
	/* A new lease allows pins again. */
	g_assert_cmpint(take_range(&fx, 1, PID_A, LT_READ, 0, 4096), ==, 0);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 200, 100, &pid2), ==, 0);
	g_assert_cmpuint(pid2, ==, 3);
	fx_fini(&fx);
}

struct listing {
	unsigned n, breaking, revoked, none;
	uint64_t pinned;
};

static void count_lease(const struct lt_lease_info *li, void *arg)
{
	struct listing *l = arg;

	l->n++;
	l->pinned += li->pinned_bytes;
	if (li->state == LT_BREAKING)
		l->breaking++;
	else if (li->state == LT_REVOKED)
		l->revoked++;
	else if (li->state == LT_NONE)
		l->none++;
}

/* ---- rule 11: pinned ranges ---- */

static void test_pins_after_revoke(void)
{
	struct fx fx;
	uint64_t pin = 0, wid = 0;
	struct lt_status st;

	fx_init(&fx, 10 * SEC);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 0, 4096, &pin), ==, 0);
	g_assert_cmpint(trunc0(&fx, PID_B, 1, &wid), ==, 1);
	fx.now += 10 * SEC;
	fx_expire(&fx);
	st = status(&fx, 1);
	g_assert_cmpint(st.state, ==, LT_REVOKED);
	g_assert_cmpint(st.type, ==, LT_UNLOCK);
	g_assert_cmpint(st.end_reason, ==, LT_END_REVOKED_TIMEOUT);
	g_assert_cmpuint(st.pinned_bytes, ==, 4096);
	/* Revoking did not make the truncate safe: it still waits. */
	g_assert_cmpuint(fx.resumes->len, ==, 0);
	g_assert_cmpuint(stats(&fx).parked_now, ==, 1);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 0, 1, NULL), ==, -EPERM);
	/* No time limit any more. */
	g_assert_cmpuint(lt_next_deadline(fx.t), ==, UINT64_MAX);
	fx.now += 1000 * SEC;
	fx_expire(&fx);
	g_assert_cmpuint(fx.resumes->len, ==, 0);
	/* F_UNLCK of a revoked lease changes nothing. */
	g_assert_cmpint(unlock(&fx, 1), ==, 0);
	g_assert_cmpuint(fx.resumes->len, ==, 0);
	g_assert_cmpint(fx_unpin(&fx, INO, 1, pin), ==, 0);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	g_assert_cmpint(resume_at(&fx, 0)->err, ==, 0);
	st = status(&fx, 1);
	g_assert_cmpint(st.state, ==, LT_NONE);
	g_assert_cmpint(st.end_reason, ==, LT_END_REVOKED_TIMEOUT);
	g_assert_cmpuint(st.lease_id, ==, 0);
	g_assert_false(is_active(&fx, INO));
	fx_fini(&fx);
}

static void test_pins_after_release(void)
{
	struct fx fx;
	struct listing ll = {0};
	uint64_t pin = 0, wid = 0;

	fx_init(&fx, 10 * SEC);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 8192, 4096, &pin), ==, 0);
	/* A punch beside the pin is only held by the lease. */
	g_assert_cmpint(
	    fx_break(&fx, INO, 0, PID_B, 0, 4096, false, GINT_TO_POINTER(1), &wid), ==,
	    1);
	g_assert_cmpint(trunc0(&fx, PID_B, 2, &wid), ==, 1);
	g_assert_cmpint(unlock(&fx, 1), ==, 0);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	g_assert_true(resume_at(&fx, 0)->data == GINT_TO_POINTER(1));
	/* A pin-only open stays visible and keeps the file active. */
	g_assert_true(is_active(&fx, INO));
	g_assert_cmpuint(stats(&fx).parked_now, ==, 1);
	/* A new lease on the waiting range is refused (no starvation). */
	g_assert_cmpint(take(&fx, 2, PID_A, LT_READ), ==, -EAGAIN);
	/* The pins are still listed, without a lease (rule 14). */
	lt_foreach_lease(fx.t, count_lease, &ll);
	g_assert_cmpuint(ll.n, ==, 1);
	g_assert_cmpuint(ll.none, ==, 1);
	g_assert_cmpuint(ll.pinned, ==, 4096);
	fx_close(&fx, INO, 1);
	g_assert_cmpuint(fx.resumes->len, ==, 2);
	g_assert_true(resume_at(&fx, 1)->data == GINT_TO_POINTER(2));
	g_assert_false(is_active(&fx, INO));
	fx_fini(&fx);
}

static void test_pins_own_fh(void)
{
	struct fx fx;
	uint64_t pin = 0, wid = 0;

	fx_init(&fx, 10 * SEC);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_WRITE), ==, 0);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 0, 4096, &pin), ==, 0);
	g_assert_cmpint(fx_break(&fx, INO, 1, PID_A, 0, LT_LEN_EOF, false, NULL, &wid),
			==, 0);
	fx_fini(&fx);
}

static void test_pinned_fail(void)
{
	struct fx fx;
	uint64_t pin = 0, wid = 0;

	fx_init_full(&fx, 10 * SEC, true, false);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 0, 4096, &pin), ==, 0);
	g_assert_cmpint(trunc0(&fx, PID_B, 1, &wid), ==, 1);
	fx.now += 10 * SEC;
	fx_expire(&fx);
	g_assert_cmpint(status(&fx, 1).state, ==, LT_REVOKED);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	g_assert_cmpint(resume_at(&fx, 0)->err, ==, ETXTBSY);
	g_assert_cmpuint(stats(&fx).resumed, ==, 0);
	/* A new truncate fails at once, one beside the pin goes ahead. */
	g_assert_cmpint(trunc0(&fx, PID_B, 2, &wid), ==, -ETXTBSY);
	g_assert_cmpint(fx_break(&fx, INO, 0, PID_B, 4096, LT_LEN_EOF, false, NULL, &wid),
			==, 0);
	g_assert_cmpint(fx_unpin(&fx, INO, 1, pin), ==, 0);
	g_assert_cmpint(trunc0(&fx, PID_B, 3, &wid), ==, 0);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	fx_fini(&fx);
}

/* ---- rule 9: interruptible wait ---- */

static void test_cancel(void)
{
	struct fx fx;
	uint64_t wid = 0;

	fx_init(&fx, 10 * SEC);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(trunc0(&fx, PID_B, 9, &wid), ==, 1);
	fx_cancel(&fx, wid, EINTR);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	g_assert_cmpint(resume_at(&fx, 0)->err, ==, EINTR);
	fx_cancel(&fx, wid, EINTR);
	fx_cancel(&fx, 12345, EINTR);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	/* The break goes on. */
	g_assert_cmpint(status(&fx, 1).state, ==, LT_BREAKING);
	g_assert_cmpint(unlock(&fx, 1), ==, 0);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	g_assert_cmpuint(stats(&fx).cancelled, ==, 1);
	g_assert_cmpuint(stats(&fx).resumed, ==, 0);
	g_assert_cmpuint(stats(&fx).wait_count, ==, 1);
	/* A negative or zero error still cancels (never "go ahead"). */
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(trunc0(&fx, PID_B, 10, &wid), ==, 1);
	fx_cancel(&fx, wid, 0);
	g_assert_cmpint(resume_at(&fx, 1)->err, ==, EINTR);
	g_assert_cmpint(trunc0(&fx, PID_B, 11, &wid), ==, 1);
	fx_cancel(&fx, wid, -EIO);
	g_assert_cmpint(resume_at(&fx, 2)->err, ==, EIO);
	fx_fini(&fx);
}

/* ---- rule 2: the lease ends with the open file ---- */

static void test_close(void)
{
	struct fx fx;
	uint64_t pin = 0, wid = 0;
	unsigned n = 0;

	fx_init(&fx, 10 * SEC);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(lt_setsig(fx.t, INO, 1, 40, 3), ==, 0);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 0, 4096, &pin), ==, 0);
	g_assert_cmpint(trunc0(&fx, PID_B, 1, &wid), ==, 1);
	g_assert_true(is_active(&fx, INO));
	fx_close(&fx, INO, 1);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	g_assert_cmpint(resume_at(&fx, 0)->err, ==, 0);
	g_assert_cmpint(status(&fx, 1).state, ==, LT_NONE);
	g_assert_cmpint(status(&fx, 1).signal, ==, 0); /* forgotten */
	g_assert_cmpuint(status(&fx, 1).pinned_bytes, ==, 0);
	g_assert_cmpuint(stats(&fx).released, ==, 1);
	g_assert_cmpuint(stats(&fx).active_leases, ==, 0);
	g_assert_false(is_active(&fx, INO));
	g_assert_cmpuint(lt_next_deadline(fx.t), ==, UINT64_MAX);
	for (guint i = 0; i < fx.logs->len; i++)
		if (strstr(g_ptr_array_index(fx.logs, i), "release") &&
		    strstr(g_ptr_array_index(fx.logs, i), "close"))
			n++;
	g_assert_cmpuint(n, ==, 1);
	fx_close(&fx, INO, 1); /* twice, or unknown: harmless */
	fx_close(&fx, INO, 77);
	fx_fini(&fx);
}

static void test_revoke_admin(void)
{
	struct fx fx;
	uint64_t wid = 0, ino = 0, id1, id2;

	fx_init(&fx, 0);
	g_assert_cmpint(take_range(&fx, 1, PID_A, LT_READ, 0, 100), ==, 0);
	g_assert_cmpint(take_range(&fx, 2, PID_A, LT_READ, 200, 100), ==, 0);
	id1 = status(&fx, 1).lease_id;
	id2 = status(&fx, 2).lease_id;
	g_assert_cmpint(lt_lease_ino(fx.t, id1, &ino), ==, 0);
	g_assert_cmpuint(ino, ==, INO);
	g_assert_cmpint(lt_lease_ino(fx.t, 999, &ino), ==, -ENOENT);
	g_assert_cmpint(fx_revoke(&fx, 999), ==, -ENOENT);
	/* An active lease. */
	g_assert_cmpint(fx_revoke(&fx, id1), ==, 0);
	g_assert_cmpint(status(&fx, 1).end_reason, ==, LT_END_REVOKED_ADMIN);
	g_assert_cmpint(fx_revoke(&fx, id1), ==, -ENOENT);
	/* A breaking one with break_time 0 (never times out). */
	g_assert_cmpint(trunc0(&fx, PID_B, 4, &wid), ==, 1);
	g_assert_cmpuint(fx.notifies->len, ==, 1);
	g_assert_cmpint(fx_revoke(&fx, id2), ==, 0);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	g_assert_cmpint(resume_at(&fx, 0)->err, ==, 0);
	g_assert_cmpuint(stats(&fx).revoked, ==, 2);
	g_assert_cmpuint(count_logs(&fx, "revoke"), ==, 2);
	g_assert_false(is_active(&fx, INO));
	fx_fini(&fx);
}

/* ---- rule 11 with pins the table did not register ---- */

static void test_unregistered_pins(void)
{
	struct fx fx;
	uint64_t wid = 0;
	struct lt_stats s;

	fx_init_full(&fx, 10 * SEC, false, true);
	g_assert_false(lt_has_pin_waiters(fx.t));
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	fx.unreg = 4096;
	g_assert_cmpint(trunc0(&fx, PID_B, 1, &wid), ==, 1);
	g_assert_false(lt_has_pin_waiters(fx.t)); /* a lease holds it */
	g_assert_cmpint(unlock(&fx, 1), ==, 0);
	g_assert_cmpuint(fx.resumes->len, ==, 0);
	g_assert_true(lt_has_pin_waiters(fx.t));
	g_assert_true(is_active(&fx, INO)); /* the waiter keeps it active */
	fx_recheck(&fx);
	g_assert_cmpuint(fx.resumes->len, ==, 0);
	fx.unreg = 0;
	fx_recheck(&fx);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	g_assert_cmpint(resume_at(&fx, 0)->err, ==, 0);
	g_assert_false(lt_has_pin_waiters(fx.t));
	g_assert_false(is_active(&fx, INO));

	/* Unregistered pins alone park a breaker, even with no lease. */
	fx.unreg = 1;
	g_assert_cmpint(trunc0(&fx, PID_B, 2, &wid), ==, 1);
	g_assert_true(lt_has_pin_waiters(fx.t));
	g_assert_cmpint(fx_break(&fx, INO, 0, PID_B, 0, 1, true, NULL, &wid), ==,
			-EWOULDBLOCK);
	fx.unreg = 0;
	g_assert_cmpint(fx_break(&fx, INO, 0, PID_B, 0, 1, true, NULL, &wid), ==, 0);
	fx_recheck(&fx);
	g_assert_cmpuint(fx.resumes->len, ==, 2);
	s = stats(&fx);
	g_assert_cmpuint(s.resumed, ==, 2);
	g_assert_cmpuint(s.parked_now, ==, 0);
	fx_fini(&fx);
}

static void test_unregistered_pins_fail(void)
{
	struct fx fx;
	uint64_t wid = 0;

	fx_init_full(&fx, 10 * SEC, true, true);
	fx.unreg = 1;
	g_assert_cmpint(trunc0(&fx, PID_B, 1, &wid), ==, -ETXTBSY);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(trunc0(&fx, PID_B, 2, &wid), ==, 1);
	g_assert_cmpint(unlock(&fx, 1), ==, 0);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	g_assert_cmpint(resume_at(&fx, 0)->err, ==, ETXTBSY);
	fx_fini(&fx);
}

/* ---- the fast-path flag ---- */

static void test_file_active(void)
{
	struct fx fx;
	uint64_t pin = 0, wid = 0;

	fx_init(&fx, 10 * SEC);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_true(is_active(&fx, INO));
	g_assert_cmpuint(fx.active_calls, ==, 1);
	g_assert_cmpint(take(&fx, 2, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(take(&fx, 2, PID_A, LT_READ), ==, 0);
	g_assert_cmpuint(fx.active_calls, ==, 1);
	g_assert_cmpint(unlock(&fx, 1), ==, 0);
	g_assert_true(is_active(&fx, INO));
	g_assert_cmpint(fx_pin(&fx, INO, 2, 0, 10, &pin), ==, 0);
	g_assert_cmpint(unlock(&fx, 2), ==, 0);
	g_assert_true(is_active(&fx, INO)); /* the pin */
	g_assert_cmpuint(fx.active_calls, ==, 1);
	g_assert_cmpint(trunc0(&fx, PID_B, 1, &wid), ==, 1);
	g_assert_cmpint(fx_unpin(&fx, INO, 2, pin), ==, 0);
	g_assert_false(is_active(&fx, INO));
	g_assert_cmpuint(fx.active_calls, ==, 2);
	/* Refused or invalid requests do not flip it. */
	g_assert_cmpint(
	    fx_setlease(&fx, INO, 1, PID_A, UID_A, LT_READ, false, 0, 1, false), ==,
	    -EACCES);
	g_assert_cmpint(lt_setsig(fx.t, INO, 3, 0, 1), ==, 0);
	g_assert_cmpuint(fx.active_calls, ==, 2);
	/* Each file separately. */
	g_assert_cmpint(fx_setlease(&fx, 7, 10, PID_A, UID_A, LT_READ, false, 0, 1, true),
			==, 0);
	g_assert_cmpint(fx_setlease(&fx, 8, 11, PID_A, UID_A, LT_READ, false, 0, 1, true),
			==, 0);
	g_assert_true(is_active(&fx, 7));
	g_assert_true(is_active(&fx, 8));
	g_assert_false(is_active(&fx, INO));
	fx_close(&fx, 7, 10);
	g_assert_false(is_active(&fx, 7));
	g_assert_true(is_active(&fx, 8));
	fx_fini(&fx);
}

/* ---- rule 14: listings, and the stats ---- */

static void count_waiter(const struct lt_waiter_info *wi, void *arg)
{
	struct listing *l = arg;

	l->n++;
	if (wi->pins_only)
		l->none++;
	g_assert_cmpuint(wi->ino, ==, INO);
	g_assert_cmpint(wi->pid, ==, PID_B);
}

static void test_listing_stats(void)
{
	struct fx fx;
	struct listing ll = {0}, wl = {0};
	uint64_t pin = 0, wid = 0;
	struct lt_stats s;

	fx_init(&fx, 10 * SEC);
	g_assert_cmpint(take_range(&fx, 1, PID_A, LT_READ, 0, 4096), ==, 0);
	g_assert_cmpint(take_range(&fx, 2, PID_A, LT_READ, 0, 4096), ==, 0);
	g_assert_cmpint(take_range(&fx, 3, PID_A, LT_WRITE, 4096, 4096), ==, 0);
	g_assert_cmpint(take_range(&fx, 4, PID_A, LT_WRITE, 0, 4096), ==, -EAGAIN);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 0, 512, &pin), ==, 0);
	g_assert_cmpint(fx_break(&fx, INO, 0, PID_B, 0, 100, false, NULL, &wid), ==, 1);
	fx.now += 10 * SEC;
	fx_expire(&fx); /* fh 1 revoked (pinned), fh 2 gone; waiter stays */
	lt_foreach_lease(fx.t, count_lease, &ll);
	g_assert_cmpuint(ll.n, ==, 2);
	g_assert_cmpuint(ll.revoked, ==, 1);
	g_assert_cmpuint(ll.pinned, ==, 512);
	lt_foreach_waiter(fx.t, count_waiter, &wl);
	g_assert_cmpuint(wl.n, ==, 1);
	g_assert_cmpuint(wl.none, ==, 1); /* pins only */
	s = stats(&fx);
	g_assert_cmpuint(s.granted, ==, 3);
	g_assert_cmpuint(s.broken, ==, 2);
	g_assert_cmpuint(s.revoked, ==, 2);
	g_assert_cmpuint(s.refused, ==, 1);
	g_assert_cmpuint(s.parked, ==, 1);
	g_assert_cmpuint(s.parked_now, ==, 1);
	g_assert_cmpuint(s.active_leases, ==, 1);
	g_assert_cmpuint(s.resumed, ==, 0);
	fx_close(&fx, INO, 1);
	s = stats(&fx);
	g_assert_cmpuint(s.resumed, ==, 1);
	g_assert_cmpuint(s.parked_now, ==, 0);
	g_assert_cmpuint(s.released, ==, 0); /* the revoked lease was not released */
	memset(&ll, 0, sizeof(ll));
	lt_foreach_lease(fx.t, count_lease, &ll);
	g_assert_cmpuint(ll.n, ==, 1);
	fx_fini(&fx);
}

/* ---- unmount ---- */

static void test_destroy_eio(void)
{
	struct fx fx;
	uint64_t wid = 0;
	int eio = 0;

	fx_init(&fx, 10 * SEC);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(fx_pin(&fx, INO, 1, 0, 1, NULL), ==, 0);
	for (int i = 0; i < 3; i++)
		g_assert_cmpint(trunc0(&fx, PID_B, i, &wid), ==, 1);
	g_assert_cmpuint(fx.resumes->len, ==, 0);
	fx_destroy(&fx);
	g_assert_cmpuint(fx.resumes->len, ==, 3);
	for (guint i = 0; i < 3; i++)
		if (resume_at(&fx, i)->err == EIO)
			eio++;
	g_assert_cmpint(eio, ==, 3);
	fx_fini(&fx); /* lt_destroy(NULL) is a no-op */
}

/* ---- per-user quotas ---- */

/* Whole-file read lease of fh on its own file (ino 100 + fh), as uid. */
static int take_as(struct fx *fx, uint64_t fh, uid_t uid)
{
	return fx_setlease(fx, 100 + fh, fh, PID_A, uid, LT_READ, false, 0, LT_LEN_EOF,
			   true);
}

static struct lt_status status_of(struct fx *fx, uint64_t fh)
{
	struct lt_status st;

	lt_getlease(fx->t, 100 + fh, fh, &st);
	return st;
}

static int pin_as(struct fx *fx, uint64_t fh, uint64_t off, uint64_t *pin)
{
	return fx_pin(fx, 100 + fh, fh, off, 1, pin);
}

static struct lt_user_usage usage(struct fx *fx, uid_t uid)
{
	struct lt_user_usage u;

	lt_user_usage(fx->t, uid, &u);
	g_assert_cmpuint(u.uid, ==, uid);
	return u;
}

static void count_user(const struct lt_user_usage *u, void *arg)
{
	g_assert_true(u->leases || u->pins); /* no entry lingers at zero */
	(*(unsigned *)arg)++;
}

static unsigned nusers(struct fx *fx)
{
	unsigned n = 0;

	lt_foreach_user(fx->t, count_user, &n);
	return n;
}

static unsigned count_logs_with(struct fx *fx, const char *needle)
{
	unsigned n = 0;

	for (guint i = 0; i < fx->logs->len; i++)
		if (strstr(g_ptr_array_index(fx->logs, i), needle))
			n++;
	return n;
}

static void test_quota_leases(void)
{
	struct fx fx;
	uint64_t wid = 0;

	fx_init_quota(&fx, 3, 0);
	for (uint64_t fh = 1; fh <= 3; fh++)
		g_assert_cmpint(take_as(&fx, fh, UID_A), ==, 0);
	g_assert_cmpuint(usage(&fx, UID_A).leases, ==, 3);

	/* The fourth is refused, counted, logged, and leaves nothing behind. */
	g_assert_cmpint(take_as(&fx, 4, UID_A), ==, -ENOLCK);
	g_assert_cmpint(status_of(&fx, 4).state, ==, LT_NONE);
	g_assert_cmpuint(usage(&fx, UID_A).leases, ==, 3);
	g_assert_cmpuint(stats(&fx).refused, ==, 1);
	g_assert_cmpuint(stats(&fx).active_leases, ==, 3);
	g_assert_cmpuint(count_logs_with(&fx, "lease quota of uid 4242"), ==, 1);

	/* Another uid has a quota of its own. */
	for (uint64_t fh = 11; fh <= 13; fh++)
		g_assert_cmpint(take_as(&fx, fh, UID_B), ==, 0);
	g_assert_cmpint(take_as(&fx, 14, UID_B), ==, -ENOLCK);
	g_assert_cmpuint(usage(&fx, UID_B).leases, ==, 3);
	g_assert_cmpuint(nusers(&fx), ==, 2);

	/* F_UNLCK gives one back. */
	g_assert_cmpint(
	    fx_setlease(&fx, 101, 1, PID_A, UID_A, LT_UNLOCK, false, 0, 0, true), ==, 0);
	g_assert_cmpuint(usage(&fx, UID_A).leases, ==, 2);
	g_assert_cmpint(take_as(&fx, 4, UID_A), ==, 0);
	g_assert_cmpint(take_as(&fx, 5, UID_A), ==, -ENOLCK);

	/* So does close. */
	fx_close(&fx, 102, 2);
	g_assert_cmpuint(usage(&fx, UID_A).leases, ==, 2);
	g_assert_cmpint(take_as(&fx, 5, UID_A), ==, 0);

	/* An admin revocation, and a break that times out (lease 3, file 103). */
	g_assert_cmpint(fx_revoke(&fx, status_of(&fx, 5).lease_id), ==, 0);
	g_assert_cmpuint(usage(&fx, UID_A).leases, ==, 2);
	g_assert_cmpint(fx_break(&fx, 103, 0, PID_B, 0, LT_LEN_EOF, false, NULL, &wid),
			==, 1);
	g_assert_cmpint(status_of(&fx, 3).state, ==, LT_BREAKING);
	g_assert_cmpuint(usage(&fx, UID_A).leases, ==, 2); /* breaking still counts */
	g_assert_cmpint(take_as(&fx, 6, UID_A), ==, 0);
	g_assert_cmpint(take_as(&fx, 7, UID_A), ==, -ENOLCK);
	fx.now += 10 * SEC;
	fx_expire(&fx);
	g_assert_cmpint(status_of(&fx, 3).end_reason, ==, LT_END_REVOKED_TIMEOUT);
	g_assert_cmpuint(usage(&fx, UID_A).leases, ==, 2);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	g_assert_cmpint(take_as(&fx, 7, UID_A), ==, 0);

	/* Everything closed: no uid is charged for anything. */
	for (uint64_t fh = 1; fh <= 14; fh++)
		fx_close(&fx, 100 + fh, fh);
	g_assert_cmpuint(usage(&fx, UID_A).leases, ==, 0);
	g_assert_cmpuint(usage(&fx, UID_B).leases, ==, 0);
	g_assert_cmpuint(nusers(&fx), ==, 0);
	g_assert_cmpuint(stats(&fx).active_leases, ==, 0);
	fx_fini(&fx);
}

/* Changing the live lease of an fh is not a new lease. */
static void test_quota_same_fh(void)
{
	struct fx fx;
	uint64_t pin = 0;

	fx_init_quota(&fx, 1, 0);
	g_assert_cmpint(take_range(&fx, 1, PID_A, LT_READ, 0, 4096), ==, 0);
	g_assert_cmpint(take_range(&fx, 1, PID_A, LT_WRITE, 0, LT_LEN_EOF), ==, 0);
	g_assert_cmpint(take_range(&fx, 1, PID_A, LT_READ, 4096, 100), ==, 0);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpuint(usage(&fx, UID_A).leases, ==, 1);
	g_assert_cmpuint(stats(&fx).granted, ==, 1);
	g_assert_cmpint(take(&fx, 2, PID_A, LT_READ), ==, -ENOLCK);

	/* A lease revoked under pins is gone: the next one on the fh is new. */
	g_assert_cmpint(fx_pin(&fx, INO, 1, 0, 10, &pin), ==, 0);
	g_assert_cmpint(fx_revoke(&fx, status(&fx, 1).lease_id), ==, 0);
	g_assert_cmpint(status(&fx, 1).state, ==, LT_REVOKED);
	g_assert_cmpuint(usage(&fx, UID_A).leases, ==, 0);
	g_assert_cmpuint(usage(&fx, UID_A).pins, ==, 1);
	g_assert_cmpint(take(&fx, 2, PID_A, LT_READ), ==, 0);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, -ENOLCK);
	g_assert_cmpint(unlock(&fx, 2), ==, 0);
	g_assert_cmpint(take(&fx, 1, PID_A, LT_READ), ==, 0);
	g_assert_cmpuint(usage(&fx, UID_A).leases, ==, 1);
	fx_close(&fx, INO, 1);
	fx_close(&fx, INO, 2);
	g_assert_cmpuint(nusers(&fx), ==, 0);
	fx_fini(&fx);
}

static void test_quota_root(void)
{
	struct fx fx;
	uint64_t pin = 0;

	fx_init_quota(&fx, 1, 1);
	for (uint64_t fh = 1; fh <= 5; fh++) {
		g_assert_cmpint(take_as(&fx, fh, 0), ==, 0);
		g_assert_cmpint(pin_as(&fx, fh, 0, &pin), ==, 0);
		g_assert_cmpint(pin_as(&fx, fh, 1, &pin), ==, 0);
	}
	/* Counted, for the listing, but not limited. */
	g_assert_cmpuint(usage(&fx, 0).leases, ==, 5);
	g_assert_cmpuint(usage(&fx, 0).pins, ==, 10);
	/* Root's usage does not eat into anyone else's. */
	g_assert_cmpint(take_as(&fx, 6, UID_A), ==, 0);
	g_assert_cmpint(pin_as(&fx, 6, 0, &pin), ==, 0);
	g_assert_cmpint(take_as(&fx, 7, UID_A), ==, -ENOLCK);
	for (uint64_t fh = 1; fh <= 6; fh++)
		fx_close(&fx, 100 + fh, fh);
	g_assert_cmpuint(nusers(&fx), ==, 0);
	fx_fini(&fx);
}

static void test_quota_pins(void)
{
	struct fx fx;
	uint64_t p1 = 0, p2 = 0, p3 = 0;

	fx_init_quota(&fx, 0, 2);
	g_assert_cmpint(take_as(&fx, 1, UID_A), ==, 0);
	g_assert_cmpint(take_as(&fx, 2, UID_A), ==, 0);
	g_assert_cmpint(pin_as(&fx, 1, 0, &p1), ==, 0);
	g_assert_cmpint(pin_as(&fx, 2, 0, &p2), ==, 0);
	/* The quota is per uid, not per open file. */
	p3 = 777;
	g_assert_cmpint(pin_as(&fx, 1, 1, &p3), ==, -ENOMEM);
	g_assert_cmpint(pin_as(&fx, 2, 1, &p3), ==, -ENOMEM);
	g_assert_cmpuint(p3, ==, 777); /* not written on failure */
	g_assert_cmpuint(status_of(&fx, 1).pinned_bytes, ==, 1);
	g_assert_cmpuint(count_logs_with(&fx, "pin quota of uid 4242"), ==, 2);
	g_assert_cmpuint(usage(&fx, UID_A).pins, ==, 2);

	/* Another uid pins on its own quota. */
	g_assert_cmpint(take_as(&fx, 3, UID_B), ==, 0);
	g_assert_cmpint(pin_as(&fx, 3, 0, &p3), ==, 0);
	g_assert_cmpint(pin_as(&fx, 3, 1, &p3), ==, 0);
	g_assert_cmpint(pin_as(&fx, 3, 2, &p3), ==, -ENOMEM);

	/* Unpin gives one back; a failed unpin gives nothing. */
	g_assert_cmpint(fx_unpin(&fx, 101, 1, p1), ==, 0);
	g_assert_cmpint(fx_unpin(&fx, 101, 1, p1), ==, -ENOENT);
	g_assert_cmpuint(usage(&fx, UID_A).pins, ==, 1);
	g_assert_cmpint(pin_as(&fx, 1, 5, &p1), ==, 0);
	g_assert_cmpint(pin_as(&fx, 1, 6, &p3), ==, -ENOMEM);

	/* Pins outlive F_UNLCK and stay charged until close. */
	g_assert_cmpint(
	    fx_setlease(&fx, 101, 1, PID_A, UID_A, LT_UNLOCK, false, 0, 0, true), ==, 0);
	g_assert_cmpuint(usage(&fx, UID_A).leases, ==, 1);
	g_assert_cmpuint(usage(&fx, UID_A).pins, ==, 2);
	fx_close(&fx, 101, 1);
	g_assert_cmpuint(usage(&fx, UID_A).pins, ==, 1);
	g_assert_cmpuint(usage(&fx, UID_A).leases, ==, 1);
	fx_close(&fx, 102, 2);
	fx_close(&fx, 103, 3);
	g_assert_cmpuint(usage(&fx, UID_A).pins, ==, 0);
	g_assert_cmpuint(nusers(&fx), ==, 0);
	fx_fini(&fx);
}

/* Pins stay charged to the uid of the lease they were taken under. */
static void test_quota_pins_follow_lease(void)
{
	struct fx fx;
	uint64_t pin = 0;

	fx_init_quota(&fx, 0, 1);
	g_assert_cmpint(take_as(&fx, 1, UID_A), ==, 0);
	g_assert_cmpint(pin_as(&fx, 1, 0, &pin), ==, 0);
	g_assert_cmpint(
	    fx_setlease(&fx, 101, 1, PID_A, UID_A, LT_UNLOCK, false, 0, 0, true), ==, 0);
	/* The fh (passed to another user) takes a new lease as UID_B. */
	g_assert_cmpint(take_as(&fx, 1, UID_B), ==, 0);
	g_assert_cmpuint(usage(&fx, UID_B).leases, ==, 1);
	g_assert_cmpuint(usage(&fx, UID_A).leases, ==, 0);
	g_assert_cmpuint(usage(&fx, UID_A).pins, ==, 1);
	g_assert_cmpint(pin_as(&fx, 1, 1, &pin), ==, 0); /* B's first pin */
	g_assert_cmpuint(usage(&fx, UID_B).pins, ==, 1);
	fx_close(&fx, 101, 1);
	g_assert_cmpuint(nusers(&fx), ==, 0);
	fx_fini(&fx);
}

static void test_quota_unlimited(void)
{
	struct fx fx;
	uint64_t pin = 0;

	fx_init_quota(&fx, 0, 0);
	for (uint64_t fh = 1; fh <= 200; fh++) {
		g_assert_cmpint(take_as(&fx, fh, UID_A), ==, 0);
		g_assert_cmpint(pin_as(&fx, fh, 0, &pin), ==, 0);
	}
	g_assert_cmpuint(usage(&fx, UID_A).leases, ==, 200);
	g_assert_cmpuint(usage(&fx, UID_A).pins, ==, 200);
	fx_fini(&fx); /* lt_destroy frees what is still charged */
}

/* Recount what every uid holds from the lease listing. */
struct recount {
	uint64_t leases[3], pins[3];
};

static void recount_lease(const struct lt_lease_info *li, void *arg)
{
	struct recount *r = arg;
	unsigned i = li->uid == 0 ? 0 : li->uid == UID_A ? 1 : 2;

	if (li->state == LT_ACTIVE || li->state == LT_BREAKING)
		r->leases[i]++;
	r->pins[i] += li->npins;
}

/*
 * Random leases, pins, breaks, timeouts, revocations, releases and closes:
 * after every step the counts equal a recount from the listing, no uid is
 * over its quota, and at the end nothing is charged.  Each fh always uses
 * the same uid, so that the listing's uid is also its pins' uid.
 */
static void test_quota_random(void)
{
	enum { NFH = 24, MAXL = 4, MAXP = 3 };
	static const uid_t uids[3] = {0, UID_A, UID_B};
	uint64_t pins[NFH + 1][8] = {{0}};
	unsigned nolck = 0, nomem = 0;
	struct fx fx;

	fx_init_quota(&fx, MAXL, MAXP);
	for (int step = 0; step < 20000; step++) {
		uint64_t fh = 1 + (uint64_t)g_test_rand_int_range(0, NFH);
		uint64_t ino = 100 + fh % 4; /* a few shared files */
		uid_t uid = uids[fh % 3];
		uint64_t wid = 0, id = 0;
		int slot = g_test_rand_int_range(0, 8), r;
		struct recount rc = {{0}, {0}};
		struct lt_status st;

		switch (g_test_rand_int_range(0, 16)) {
		case 0 ... 3:
			r = fx_setlease(&fx, ino, fh, PID_A, uid,
					g_test_rand_bit() ? LT_READ : LT_WRITE, false, 0,
					LT_LEN_EOF, true);
			g_assert_true(r == 0 || r == -EAGAIN || r == -ENOLCK ||
				      r == -EINVAL);
			if (r == -ENOLCK) {
				g_assert_cmpuint(usage(&fx, uid).leases, ==, MAXL);
				nolck++;
			}
			break;
		case 4:
			fx_setlease(&fx, ino, fh, PID_A, uid, LT_UNLOCK, false, 0, 0,
				    true);
			break;
		case 5 ... 8:
			if (pins[fh][slot])
				break;
			r = fx_pin(&fx, ino, fh, (uint64_t)slot, 1, &id);
			g_assert_true(r == 0 || r == -EPERM || r == -ENOMEM);
			if (r == 0)
				pins[fh][slot] = id;
			if (r == -ENOMEM) {
				g_assert_cmpuint(usage(&fx, uid).pins, ==, MAXP);
				nomem++;
			}
			break;
		case 9 ... 10:
			if (pins[fh][slot] && fx_unpin(&fx, ino, fh, pins[fh][slot]) == 0)
				pins[fh][slot] = 0;
			break;
		case 11:
			r = fx_break(&fx, ino, 0, PID_B, 0, LT_LEN_EOF, false, NULL,
				     &wid);
			if (r == 1)
				fx_cancel(&fx, wid, EINTR);
			break;
		case 12:
			fx.now += 3 * SEC;
			fx_expire(&fx);
			break;
		case 13:
			lt_getlease(fx.t, ino, fh, &st);
			if (st.lease_id)
				g_assert_cmpint(fx_revoke(&fx, st.lease_id), ==, 0);
			break;
		default:
			fx_close(&fx, ino, fh);
			memset(pins[fh], 0, sizeof(pins[fh]));
			break;
		}
		lt_foreach_lease(fx.t, recount_lease, &rc);
		for (int i = 0; i < 3; i++) {
			struct lt_user_usage u = usage(&fx, uids[i]);

			g_assert_cmpuint(u.leases, ==, rc.leases[i]);
			g_assert_cmpuint(u.pins, ==, rc.pins[i]);
			if (uids[i]) {
				g_assert_cmpuint(u.leases, <=, MAXL);
				g_assert_cmpuint(u.pins, <=, MAXP);
			}
		}
	}
	/* The quotas were reached, or the test tested little. */
	g_assert_cmpuint(nolck, >, 0);
	g_assert_cmpuint(nomem, >, 0);
	for (uint64_t fh = 1; fh <= NFH; fh++)
		fx_close(&fx, 100 + fh % 4, fh);
	g_assert_cmpuint(nusers(&fx), ==, 0);
	g_assert_cmpuint(stats(&fx).active_leases, ==, 0);
	fx_fini(&fx);
}

/* ---- scale: stays linear in the leases touched ---- */

static void test_scale(void)
{
	enum { NFILES = 10000, PER_FILE = 10 };
	struct fx fx;
	struct listing ll = {0};
	uint64_t wid = 0;
	struct lt_stats s;

	fx_init(&fx, 10 * SEC);
	for (uint64_t f = 0; f < NFILES; f++)
		for (uint64_t i = 0; i < PER_FILE; i++)
			g_assert_cmpint(fx_setlease(&fx, 1000 + f, 1 + f * PER_FILE + i,
						    (pid_t)(10 + i), UID_A, LT_READ,
						    false, i * 4096, 4096, true),
					==, 0);
	s = stats(&fx);
	g_assert_cmpuint(s.active_leases, ==, NFILES * PER_FILE);
	g_assert_cmpuint(g_hash_table_size(fx.active), ==, NFILES);
	lt_foreach_lease(fx.t, count_lease, &ll);
	g_assert_cmpuint(ll.n, ==, NFILES * PER_FILE);

	/* A truncate of one file to 5 pages breaks exactly its 5 leases above. */
	g_assert_cmpint(fx_break(&fx, 1000 + 77, 0, PID_B, 5 * 4096, LT_LEN_EOF, false,
				 GINT_TO_POINTER(1), &wid),
			==, 1);
	g_assert_cmpuint(fx.notifies->len, ==, 5);
	for (guint i = 0; i < fx.notifies->len; i++)
		g_assert_cmpuint(notify_at(&fx, i)->ino, ==, 1000 + 77);

	for (uint64_t fh = 1; fh <= NFILES * PER_FILE; fh++)
		fx_close(&fx, 1000 + (fh - 1) / PER_FILE, fh);
	s = stats(&fx);
	g_assert_cmpuint(s.active_leases, ==, 0);
	g_assert_cmpuint(s.released, ==, NFILES * PER_FILE);
	g_assert_cmpuint(s.parked_now, ==, 0);
	g_assert_cmpuint(fx.resumes->len, ==, 1);
	g_assert_cmpuint(g_hash_table_size(fx.active), ==, 0);
	memset(&ll, 0, sizeof(ll));
	lt_foreach_lease(fx.t, count_lease, &ll);
	g_assert_cmpuint(ll.n, ==, 0);
	fx_fini(&fx);
}

/* ---- threads: the table serialises callers, callbacks run unlocked ---- */

struct worker {
	struct fx *fx;
	int i;
	unsigned grants;
};

/*
 * Each worker leases its own file and breaks the other's: every break
 * either goes ahead, or parks and is resumed by the other's close or
 * cancelled here - never both, never neither.
 */
static void *worker_run(void *arg)
{
	struct worker *w = arg;
	uint64_t own = 5000 + w->i, other = 5000 + (1 - w->i);
	pid_t pid = 1000 + w->i;

	for (uint64_t fh = 1 + w->i; fh < 1 + 2 * 3000; fh += 2) {
		uint64_t wid = 0;
		int r;

		r = fx_setlease(w->fx, own, fh, pid, UID_A, LT_READ, false, 0, LT_LEN_EOF,
				true);
		g_assert_true(r == 0 || r == -EAGAIN); /* EAGAIN: the other one waits */
		if (r == 0)
			w->grants++;
		r = fx_break(w->fx, other, fh, pid, 0, LT_LEN_EOF, false, NULL, &wid);
		g_assert_true(r == 0 || r == 1);
		if (r == 1)
			fx_cancel(w->fx, wid, EINTR);
		fx_close(w->fx, own, fh);
	}
	return NULL;
}

static void test_threads(void)
{
	struct fx fx;
	struct worker w[2];
	pthread_t th[2];
	struct lt_stats s;

	fx_init(&fx, 10 * SEC);
	fx.reenter = true;
	for (int i = 0; i < 2; i++) {
		w[i] = (struct worker){&fx, i, 0};
		g_assert_cmpint(pthread_create(&th[i], NULL, worker_run, &w[i]), ==, 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	s = stats(&fx);
	g_assert_cmpuint(s.granted, ==, w[0].grants + w[1].grants);
	g_assert_cmpuint(s.released, ==, s.granted);
	g_assert_cmpuint(s.active_leases, ==, 0);
	g_assert_cmpuint(s.parked_now, ==, 0);
	g_assert_cmpuint(s.parked, ==, s.cancelled + s.resumed);
	g_assert_cmpuint(fx.resumes->len, ==, s.parked);
	g_assert_cmpuint(g_hash_table_size(fx.active), ==, 0);
	fx_fini(&fx);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/lease/types/read-share", test_read_share);
	g_test_add_func("/lease/types/write-conflicts", test_write_conflicts);
	g_test_add_func("/lease/types/upgrade-downgrade", test_upgrade_downgrade);
	g_test_add_func("/lease/types/invalid", test_invalid);
	g_test_add_func("/lease/ranges", test_ranges);
	g_test_add_func("/lease/break/notify-once", test_break_notify_once);
	g_test_add_func("/lease/notify/uid", test_notify_uid);
	g_test_add_func("/lease/break/setsig-default", test_setsig_default);
	g_test_add_func("/lease/break/own-fh", test_own_fh_does_not_break);
	g_test_add_func("/lease/break/self-ewouldblock", test_self_break);
	g_test_add_func("/lease/break/nonblock", test_nonblock);
	g_test_add_func("/lease/break/release-resumes", test_release_resumes);
	g_test_add_func("/lease/timeout/exact", test_timeout_exact);
	g_test_add_func("/lease/timeout/order", test_timeout_order);
	g_test_add_func("/lease/timeout/zero-never", test_break_time_zero);
	g_test_add_func("/lease/getlease", test_getlease);
	g_test_add_func("/lease/exclusive", test_exclusive);
	g_test_add_func("/lease/pins/need-lease", test_pins_need_lease);
	g_test_add_func("/lease/pins/after-revoke", test_pins_after_revoke);
	g_test_add_func("/lease/pins/after-release", test_pins_after_release);
	g_test_add_func("/lease/pins/own-fh", test_pins_own_fh);
	g_test_add_func("/lease/pins/pinned-fail", test_pinned_fail);
	g_test_add_func("/lease/pins/unregistered", test_unregistered_pins);
	g_test_add_func("/lease/pins/unregistered-fail", test_unregistered_pins_fail);
	g_test_add_func("/lease/cancel", test_cancel);
	g_test_add_func("/lease/close", test_close);
	g_test_add_func("/lease/revoke-admin", test_revoke_admin);
	g_test_add_func("/lease/file-active", test_file_active);
	g_test_add_func("/lease/listing-stats", test_listing_stats);
	g_test_add_func("/lease/destroy-eio", test_destroy_eio);
	g_test_add_func("/lease/quota/leases", test_quota_leases);
	g_test_add_func("/lease/quota/same-fh", test_quota_same_fh);
	g_test_add_func("/lease/quota/root-exempt", test_quota_root);
	g_test_add_func("/lease/quota/pins", test_quota_pins);
	g_test_add_func("/lease/quota/pins-follow-lease", test_quota_pins_follow_lease);
	g_test_add_func("/lease/quota/unlimited", test_quota_unlimited);
	g_test_add_func("/lease/quota/random", test_quota_random);
	g_test_add_func("/lease/scale", test_scale);
	g_test_add_func("/lease/threads", test_threads);
	return g_test_run();
}
