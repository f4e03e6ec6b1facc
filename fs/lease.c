// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lease.c - the layout lease table (see lease.h and docs/leases.md).
 *
 * Objects
 *   struct lt_open    one open file description (fh) the table has heard of.
 *                     It carries the fh's lease (at most one), its pins, its
 *                     F_SETSIG setting and the end reason of its last lease.
 *                     It lives from the first call naming fh to lt_close(fh).
 *   struct lt_file    one inode with at least one lease, pin or waiter: the
 *                     list of its opens that hold a lease or pins, and the
 *                     list of its parked waiters.
 *   struct lt_waiter  one parked layout change (lt_break returned 1).
 *
 * Lease states (lt_open.state)
 *
 *        lt_setlease(R/W)               lt_break by another fh
 *   NONE ---------------> ACTIVE ---------------------------> BREAKING
 *    ^                    |  ^ |  lt_setlease on the same fh    |  |
 *    |   F_UNLCK/lt_close |  +-+  changes type/range            |  |
 *    +--------------------+                                     |  |
 *    +----------------------- F_UNLCK / lt_close ---------------+  |
 *    |                                                             |
 *    |   last lt_unpin / lt_close          lt_expire (deadline) or |
 *    +----------------------- REVOKED <--- lt_revoke (also ACTIVE) +
 *                             (only while the fh still has pins;
 *                              without pins a revoked lease goes
 *                              straight to NONE)
 *
 *   A lease that ends (released, closed or revoked) sets end_reason, which
 *   lt_getlease reports until the next lease of that fh ends.  Pins belong
 *   to the fh, not to the lease: they stay registered after F_UNLCK or a
 *   revocation and keep blocking layout changes on their range until
 *   lt_unpin or lt_close (rule 11).  New pins need an ACTIVE lease (rule 13).
 *
 * Waiters
 *   lt_break (the FUSE layer, before truncate/fallocate/...) either answers
 *   at once or parks a waiter.  A waiter is blocked while (a) a lease of
 *   another fh that is ACTIVE or BREAKING overlaps its range, or (b) a pin
 *   of another fh overlaps it, or (c) hooks->unregistered_pins reports pinned
 *   bytes in it.  When (a) is gone but (b)/(c) remain the waiter is
 *   "pins_only": with cfg.pinned_fail it is resumed with ETXTBSY, otherwise
 *   it waits for the pins (lt_unpin, lt_close; lt_recheck for (c)).
 *   Every event that can unblock a waiter (release, close, revoke, unpin)
 *   re-evaluates the waiters of that one file.  Each waiter is resumed
 *   exactly once: 0 (go ahead), ETXTBSY (pinned_fail), the lt_cancel error,
 *   or EIO from lt_destroy.
 *
 *   Who calls what: the FUSE handlers call lt_setlease/lt_getlease/lt_setsig
 *   /lt_pin/lt_unpin (ioctls), lt_break (layout changes), lt_cancel
 *   (interrupts), lt_close (release); a timer calls lt_expire at
 *   lt_next_deadline() and lt_recheck while lt_has_pin_waiters(); the
 *   control channel calls lt_revoke and the lt_foreach_* listings.
 *
 * Quotas
 *   t->users counts, per uid, the live leases and the pins that uid is
 *   charged for (struct lt_user_usage), so that no user can grow the table
 *   without bound (cfg.max_leases_per_user, max_pins_per_user; uid 0 is
 *   exempt).  A lease is charged to lt_open.uid from its grant until
 *   lease_end; changing a live lease charges nothing more.  A pin is charged
 *   to the uid of the lease it was registered under (lt_pin.uid) until
 *   lt_unpin or the open's lt_close, even if the lease ends first.  An
 *   entry exists exactly while its counts are not both zero.
 *
 * Effects
 *   All work is done under t->lock.  What the world must hear of (log
 *   lines, notifications, resumed waiters, the new earliest deadline) goes
 *   into the caller's struct lt_effects, for the caller to carry out once
 *   it holds no lock.  The unregistered pin checks a call needs are queued
 *   in its struct lt_batch and asked of hooks->unregistered_pins after the
 *   lock is dropped; their answers are applied under the lock once more
 *   before the call returns.  Only hooks->file_active runs under the lock.
 *
 * Cost
 *   Leases, waiters and files are found through hash tables (by fh, lease
 *   id, waiter id, ino); everything else walks the lists of one file.  The
 *   breaking leases with a deadline sit on one list in deadline order (the
 *   deadline is break start + a fixed break_time, so it is a FIFO), which
 *   makes lt_next_deadline and lt_expire O(1) per lease revoked.  Lists are
 *   intrusive and the hash tables store the key pointer as the value, to
 *   keep each lease small.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "clock.h"
#include "lease.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* A minimal intrusive doubly linked list (like the kernel's list_head). */
struct lt_link {
	struct lt_link *next, *prev;
};

static void link_init(struct lt_link *l)
{
	l->next = l;
	l->prev = l;
}

static bool link_empty(const struct lt_link *l)
{
	return l->next == l;
}

static void link_add_after(struct lt_link *n, struct lt_link *pos)
{
	n->prev = pos;
	n->next = pos->next;
	pos->next->prev = n;
	pos->next = n;
}

static void link_add_tail(struct lt_link *n, struct lt_link *head)
{
	link_add_after(n, head->prev);
}

static void link_del(struct lt_link *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	link_init(n);
}

#define link_for_each_safe(pos, tmp, head)                                               \
	for (pos = (head)->next, tmp = pos->next; pos != (head);                         \
	     pos = tmp, tmp = pos->next)

struct lt_pin {
	struct lt_pin *next;
	uint64_t id, off, len;
	uid_t uid; /* charged for this pin */
};

/* All fields are protected by lease_table.lock. */
struct lt_open {
	uint64_t fh;	   /* key of t->by_fh: must stay the first member */
	uint64_t lease_id; /* key of t->by_id while state != LT_NONE, else 0 */
	uint64_t ino;
	uint64_t off, len; /* the lease range */
	uint64_t granted_ns, break_start_ns;
	struct lt_link file_link;  /* on lt_file.opens while it has a lease or pins */
	struct lt_link break_link; /* on t->breaking while BREAKING with a deadline */
	struct lt_pin *pins;
	pid_t pid;     /* the holder, for notify and rule 7 */
	uid_t pid_uid; /* the fsuid pid asked with: who may be signalled */
	uid_t uid;     /* charged for the lease while it is live (quotas) */
	int signal, fd;
	uint8_t type, state, exclusive, end_reason;
};

/* All fields are protected by lease_table.lock. */
struct lt_file {
	uint64_t ino;		/* key of t->by_ino: must stay the first member */
	struct lt_link opens;	/* lt_open.file_link */
	struct lt_link waiters; /* lt_waiter.file_link, in park order */
	bool active;		/* the last value passed to ops->file_active */
};

/* All fields are protected by lease_table.lock. */
struct lt_waiter {
	uint64_t id; /* key of t->waiters: must stay the first member */
	uint64_t breaker_fh;
	uint64_t off, len;
	uint64_t parked_ns;
	void *data;
	struct lt_file *file;
	struct lt_link file_link; /* on file->waiters */
	struct lt_link pin_link;  /* on t->pin_waiters while pins_only */
	pid_t pid;
	bool pins_only;
};

struct lease_table {
	/*
	 * lock protects every field below it and every lt_open, lt_file,
	 * lt_waiter and lt_pin reachable from them.  Never held on return, nor
	 * while calling a hook other than file_active.
	 */
	pthread_mutex_t lock;
	GHashTable *by_fh;	    /* fh -> lt_open (every open the table knows) */
	GHashTable *by_id;	    /* lease id -> lt_open (ACTIVE/BREAKING/REVOKED) */
	GHashTable *by_ino;	    /* ino -> lt_file (files with lease/pin/waiter) */
	GHashTable *waiters;	    /* waiter id -> lt_waiter */
	GHashTable *users;	    /* uid -> lt_user_usage (quotas), never 0/0 */
	struct lt_link breaking;    /* lt_open.break_link, earliest deadline first */
	struct lt_link pin_waiters; /* lt_waiter.pin_link */
	uint64_t last_lease_id, last_pin_id, last_waiter_id;
	/*
	 * granted: new leases; released: leases ended by F_UNLCK or close;
	 * broken: leases that started breaking; revoked: by timeout or admin;
	 * refused: EAGAIN/EACCES/EPERM/ETXTBSY/EDEADLK/EWOULDBLOCK answers,
	 * and ENOLCK/ENOMEM (quotas);
	 * active_leases: leases now ACTIVE or BREAKING (not REVOKED);
	 * parked: waiters parked; resumed: waiters resumed with 0; cancelled:
	 * waiters ended by lt_cancel; wait_*: park to resume of every waiter.
	 */
	struct lt_stats stats;
	bool deadline_dirty; /* the head of breaking changed */

	/* Set by lt_new, read-only afterwards: no lock needed. */
	struct lt_config cfg;
	struct lt_clock clock;
	struct lt_hooks hooks;
};

/*
 * One call's work in progress: the caller's effects record (or a private
 * one, dropped, for a caller that passed NULL) and the unregistered pin
 * checks to make once the lock is dropped (batch_run_checks).  Local to
 * one call, so no locking.
 */
struct lt_check {
	uint64_t waiter_id, ino, off, len, unreg;
};

struct lt_batch {
	struct lt_effects *fx;
	struct lt_effects dropped;
	GArray *checks;
};

static void batch_begin(struct lt_batch *b, struct lt_effects *fx)
{
	b->dropped = (struct lt_effects)LT_EFFECTS_INIT;
	b->fx = fx ? fx : &b->dropped;
	b->checks = NULL;
}

/* ---- helpers ---- */

static uint64_t default_now_ns(void *arg)
{
	(void)arg;
	return clock_mono_ns();
}

static uint64_t now_ns(struct lease_table *t)
{
	return t->clock.now_ns(t->clock.arg);
}

/* End of [off, off+len): UINT64_MAX stands for infinity. */
static uint64_t range_end(uint64_t off, uint64_t len)
{
	if (len == LT_LEN_EOF || len > UINT64_MAX - off)
		return UINT64_MAX;
	return off + len;
}

/* A lease or pin range: not empty and not wrapping (LT_LEN_EOF is fine). */
static bool range_valid(uint64_t off, uint64_t len)
{
	return len != 0 && (len == LT_LEN_EOF || len <= UINT64_MAX - off);
}

static bool overlaps(uint64_t off1, uint64_t len1, uint64_t off2, uint64_t len2)
{
	return off1 < range_end(off2, len2) && off2 < range_end(off1, len1);
}

static bool contains(uint64_t off1, uint64_t len1, uint64_t off2, uint64_t len2)
{
	return off2 >= off1 && range_end(off2, len2) <= range_end(off1, len1);
}

/* Is fh the breaker's own open file?  breaker_fh 0 means "none". */
static bool is_breaker(uint64_t breaker_fh, uint64_t fh)
{
	return breaker_fh != 0 && breaker_fh == fh;
}

static bool lease_live(const struct lt_open *o)
{
	return o->state == LT_ACTIVE || o->state == LT_BREAKING;
}

const char *lt_type_name(enum lt_type type)
{
	switch (type) {
	case LT_READ:
		return "read";
	case LT_WRITE:
		return "write";
	default:
		return "unlock";
	}
}

const char *lt_state_name(enum lt_state state)
{
	switch (state) {
	case LT_ACTIVE:
		return "active";
	case LT_BREAKING:
		return "breaking";
	case LT_REVOKED:
		return "revoked";
	default:
		return "none";
	}
}

static void batch_push(GArray **a, size_t size, const void *v)
{
	if (!*a)
		*a = g_array_sized_new(FALSE, FALSE, size, 4);
	g_array_append_vals(*a, v, 1);
}

static void batch_log(struct lease_table *t, struct lt_batch *b, const char *event,
		      uint64_t lease_id, uint64_t ino, pid_t pid, const char *fmt, ...)
    G_GNUC_PRINTF(7, 8);

/* Add one log line to the effects. */
static void batch_log(struct lease_table *t, struct lt_batch *b, const char *event,
		      uint64_t lease_id, uint64_t ino, pid_t pid, const char *fmt, ...)
{
	struct lt_log e = {event, lease_id, ino, pid, ""};
	va_list ap;

	(void)t;
	va_start(ap, fmt);
	vsnprintf(e.detail, sizeof(e.detail), fmt, ap);
	va_end(ap);
	batch_push(&b->fx->log, sizeof(e), &e);
}

/* A refusal: counted and logged. */
static int refuse(struct lease_table *t, struct lt_batch *b, int err, uint64_t lease_id,
		  uint64_t ino, pid_t pid, const char *what)
{
	t->stats.refused++;
	batch_log(t, b, "refuse", lease_id, ino, pid, "%s: %s", what, strerror(-err));
	return err;
}

void lt_effects_clear(struct lt_effects *fx)
{
	if (fx->notify)
		g_array_free(fx->notify, TRUE);
	if (fx->resumed)
		g_array_free(fx->resumed, TRUE);
	if (fx->log)
		g_array_free(fx->log, TRUE);
	*fx = (struct lt_effects)LT_EFFECTS_INIT;
}

/* ---- files and opens (called with t->lock held) ---- */

static struct lt_file *file_find(struct lease_table *t, uint64_t ino)
{
	return g_hash_table_lookup(t->by_ino, &ino);
}

static struct lt_file *file_get(struct lease_table *t, uint64_t ino)
{
	struct lt_file *f = file_find(t, ino);

	if (f)
		return f;
	f = g_new0(struct lt_file, 1);
	f->ino = ino;
	link_init(&f->opens);
	link_init(&f->waiters);
	g_hash_table_add(t->by_ino, &f->ino);
	return f;
}

/*
 * Tell ops->file_active when f gains its first or loses its last lease,
 * pin or waiter, and free f once it has none.  f must not be used after.
 */
static void file_update(struct lease_table *t, struct lt_file *f)
{
	bool active = !link_empty(&f->opens) || !link_empty(&f->waiters);

	if (active != f->active) {
		f->active = active;
		if (t->hooks.file_active)
			t->hooks.file_active(t->hooks.arg, f->ino, active);
	}
	if (!active) {
		g_hash_table_remove(t->by_ino, &f->ino);
		g_free(f);
	}
}

static struct lt_open *open_find(struct lease_table *t, uint64_t fh)
{
	return g_hash_table_lookup(t->by_fh, &fh);
}

static struct lt_open *open_get(struct lease_table *t, uint64_t ino, uint64_t fh)
{
	struct lt_open *o = open_find(t, fh);

	if (o)
		return o;
	o = g_new0(struct lt_open, 1);
	o->fh = fh;
	o->ino = ino;
	o->fd = -1;
	o->type = LT_UNLOCK;
	link_init(&o->file_link);
	link_init(&o->break_link);
	g_hash_table_add(t->by_fh, &o->fh);
	return o;
}

/* Keep o on f->opens exactly while it has a lease or pins. */
static void open_sync(struct lt_open *o, struct lt_file *f)
{
	bool want = o->state != LT_NONE || o->pins;
	bool on = !link_empty(&o->file_link);

	if (want && !on)
		link_add_tail(&o->file_link, &f->opens);
	else if (!want && on)
		link_del(&o->file_link);
}

static uint64_t pinned_bytes(const struct lt_open *o, unsigned *npins)
{
	uint64_t sum = 0;
	unsigned n = 0;

	for (const struct lt_pin *p = o->pins; p; p = p->next, n++) {
		uint64_t len = range_end(p->off, p->len) - p->off;

		sum = len > UINT64_MAX - sum ? UINT64_MAX : sum + len;
	}
	if (npins)
		*npins = n;
	return sum;
}

static bool pins_overlap(const struct lt_open *o, uint64_t off, uint64_t len)
{
	for (const struct lt_pin *p = o->pins; p; p = p->next)
		if (overlaps(p->off, p->len, off, len))
			return true;
	return false;
}

/* ---- per-uid quotas (called with t->lock held) ---- */

static struct lt_user_usage *usage_find(struct lease_table *t, uid_t uid)
{
	return g_hash_table_lookup(t->users, GUINT_TO_POINTER(uid));
}

/*
 * Charge uid dleases leases and dpins pins (negative: give them back), and
 * forget uid once it is charged for nothing.  Giving back more than was
 * charged is a bug: it is logged (like the kernel's WARN_ON) and the count
 * stops at zero, rather than taking every lease of the mount down.
 */
static void usage_charge(struct lease_table *t, uid_t uid, int dleases, int dpins)
{
	struct lt_user_usage *u = usage_find(t, uid);
	int64_t leases, pins;

	if (!u) {
		u = g_new0(struct lt_user_usage, 1);
		u->uid = uid;
		g_hash_table_insert(t->users, GUINT_TO_POINTER(uid), u);
	}
	leases = (int64_t)u->leases + dleases;
	pins = (int64_t)u->pins + dpins;
	if (leases < 0 || pins < 0) {
		g_critical("lease table: uid %u gives back more than it holds "
			   "(%" G_GINT64_FORMAT " leases, %" G_GINT64_FORMAT " pins)",
			   (unsigned)uid, leases, pins);
		leases = MAX(leases, 0);
		pins = MAX(pins, 0);
	}
	u->leases = (uint64_t)leases;
	u->pins = (uint64_t)pins;
	if (!u->leases && !u->pins)
		g_hash_table_remove(t->users, GUINT_TO_POINTER(uid));
}

/* Refuse with a quota errno (ENOLCK, ENOMEM), naming the uid in the log. */
static int refuse_quota(struct lease_table *t, struct lt_batch *b, int err,
			uint64_t lease_id, uint64_t ino, pid_t pid, uid_t uid,
			const char *what)
{
	char why[40];

	snprintf(why, sizeof(why), "%s quota of uid %u", what, (unsigned)uid);
	return refuse(t, b, err, lease_id, ino, pid, why);
}

/* Would one more lease (pins false) or pin (true) take uid over its limit? */
static bool over_quota(struct lease_table *t, uid_t uid, bool pins)
{
	uint32_t max = pins ? t->cfg.max_pins_per_user : t->cfg.max_leases_per_user;
	struct lt_user_usage *u;

	if (uid == 0 || max == 0)
		return false;
	u = usage_find(t, uid);
	return u && (pins ? u->pins : u->leases) >= max;
}

/* ---- the breaking list (deadline order) ---- */

static uint64_t deadline_of(struct lease_table *t, const struct lt_open *o)
{
	return o->break_start_ns + t->cfg.break_time_ns;
}

static void breaking_add(struct lease_table *t, struct lt_open *o)
{
	struct lt_link *pos = t->breaking.prev;

	/* Deadlines arrive in order; walk back only if the clock did not. */
	while (pos != &t->breaking &&
	       deadline_of(t, container_of(pos, struct lt_open, break_link)) >
		   deadline_of(t, o))
		pos = pos->prev;
	link_add_after(&o->break_link, pos);
	if (t->breaking.next == &o->break_link)
		t->deadline_dirty = true;
}

static void breaking_del(struct lease_table *t, struct lt_open *o)
{
	if (link_empty(&o->break_link))
		return;
	if (t->breaking.next == &o->break_link)
		t->deadline_dirty = true;
	link_del(&o->break_link);
}

/* ---- lease transitions (called with t->lock held) ---- */

/* ACTIVE -> BREAKING: notify the holder once (rule 8). */
static void lease_start_break(struct lease_table *t, struct lt_open *o, uint64_t now,
			      pid_t breaker_pid, struct lt_batch *b)
{
	struct lt_notify n = {
	    .lease_id = o->lease_id,
	    .ino = o->ino,
	    .fh = o->fh,
	    .pid = o->pid,
	    .uid = o->pid_uid,
	    .signal = o->signal,
	    .fd = o->fd,
	};

	o->state = LT_BREAKING;
	o->break_start_ns = now;
	if (t->cfg.break_time_ns)
		breaking_add(t, o);
	t->stats.broken++;
	batch_push(&b->fx->notify, sizeof(n), &n);
	batch_log(t, b, "break", o->lease_id, o->ino, o->pid, "by pid %d",
		  (int)breaker_pid);
}

/*
 * End the ACTIVE or BREAKING lease of o for reason why.  A revoked lease
 * whose fh still has pins stays listed as REVOKED; otherwise o goes back to
 * NONE.  The caller then runs open_sync, file_wake and file_update.
 */
static void lease_end(struct lease_table *t, struct lt_open *o, enum lt_end why,
		      struct lt_batch *b)
{
	bool revoked = why == LT_END_REVOKED_TIMEOUT || why == LT_END_REVOKED_ADMIN;

	breaking_del(t, o);
	t->stats.active_leases--;
	usage_charge(t, o->uid, -1, 0);
	o->end_reason = why;
	if (revoked) {
		t->stats.revoked++;
		batch_log(t, b, "revoke", o->lease_id, o->ino, o->pid, "%s",
			  why == LT_END_REVOKED_ADMIN ? "admin" : "break timeout");
	} else {
		t->stats.released++;
		batch_log(t, b, "release", o->lease_id, o->ino, o->pid, "%s",
			  why == LT_END_CLOSED ? "close" : "unlock");
	}
	if (revoked && o->pins) {
		o->state = LT_REVOKED;
		return;
	}
	g_hash_table_remove(t->by_id, &o->lease_id);
	o->lease_id = 0;
	o->state = LT_NONE;
}

/* A REVOKED lease whose last pin went away: forget it. */
static void revoked_drop(struct lease_table *t, struct lt_open *o)
{
	if (o->state != LT_REVOKED || o->pins)
		return;
	g_hash_table_remove(t->by_id, &o->lease_id);
	o->lease_id = 0;
	o->state = LT_NONE;
}

/* ---- waiters (called with t->lock held) ---- */

enum wblock { W_FREE, W_PINS, W_LEASE };

/* What (registered) still blocks w: a live lease, only pins, or nothing. */
static enum wblock waiter_blocked(const struct lt_waiter *w)
{
	enum wblock s = W_FREE;
	struct lt_link *l, *tmp;

	link_for_each_safe(l, tmp, &w->file->opens) {
		struct lt_open *o = container_of(l, struct lt_open, file_link);

		if (is_breaker(w->breaker_fh, o->fh))
			continue;
		if (lease_live(o) && overlaps(o->off, o->len, w->off, w->len))
			return W_LEASE;
		if (pins_overlap(o, w->off, w->len))
			s = W_PINS;
	}
	return s;
}

static void waiter_set_pins_only(struct lease_table *t, struct lt_waiter *w)
{
	if (w->pins_only)
		return;
	w->pins_only = true;
	link_add_tail(&w->pin_link, &t->pin_waiters);
}

/* Unpark w and hand it back, resumed with err, in the effects.  The caller
 * runs file_update(w's file). */
static void waiter_resolve(struct lease_table *t, struct lt_waiter *w, int err,
			   struct lt_batch *b)
{
	struct lt_resumed r = {w->data, err};
	uint64_t now = now_ns(t);
	uint64_t waited = now > w->parked_ns ? now - w->parked_ns : 0;

	link_del(&w->file_link);
	if (w->pins_only)
		link_del(&w->pin_link);
	t->stats.wait_total_ns += waited;
	t->stats.wait_count++;
	if (waited > t->stats.wait_max_ns)
		t->stats.wait_max_ns = waited;
	if (err == 0)
		t->stats.resumed++;
	batch_push(&b->fx->resumed, sizeof(r), &r);
	g_hash_table_remove(t->waiters, &w->id);
	g_free(w);
}

/*
 * Decide a waiter that no lease blocks any more: unreg is what
 * hooks->unregistered_pins reported for its range.
 */
static void waiter_decide(struct lease_table *t, struct lt_waiter *w, enum wblock s,
			  uint64_t unreg, struct lt_batch *b)
{
	if (s == W_FREE && unreg == 0) {
		waiter_resolve(t, w, 0, b);
	} else if (t->cfg.pinned_fail) {
		refuse(t, b, -ETXTBSY, 0, w->file->ino, w->pid, "pinned range");
		waiter_resolve(t, w, ETXTBSY, b);
	} else {
		waiter_set_pins_only(t, w);
	}
}

/*
 * Re-evaluate the waiters of f after something that may unblock them.
 * Those that only unregistered pins could still block are queued in
 * b->checks: batch_run_checks asks hooks->unregistered_pins without the lock.
 */
static void file_wake(struct lease_table *t, struct lt_file *f, struct lt_batch *b)
{
	struct lt_link *l, *tmp;

	link_for_each_safe(l, tmp, &f->waiters) {
		struct lt_waiter *w = container_of(l, struct lt_waiter, file_link);
		enum wblock s = waiter_blocked(w);

		if (s == W_LEASE)
			continue;
		if (s == W_FREE && t->hooks.unregistered_pins) {
			struct lt_check c = {w->id, f->ino, w->off, w->len, 0};

			batch_push(&b->checks, sizeof(c), &c);
			continue;
		}
		waiter_decide(t, w, s, 0, b);
	}
}

/* The earliest deadline into the effects, if it changed.  Called with
 * t->lock held. */
static void batch_deadline(struct lease_table *t, struct lt_batch *b)
{
	if (!t->deadline_dirty)
		return;
	t->deadline_dirty = false;
	b->fx->deadline_changed = true;
	b->fx->next_deadline =
	    link_empty(&t->breaking)
		? UINT64_MAX
		: deadline_of(t,
			      container_of(t->breaking.next, struct lt_open, break_link));
}

/*
 * Make the unregistered pin checks the locked part queued: ask
 * hooks->unregistered_pins without the lock, then take it once more to
 * decide their waiters.  Called without the lock.
 */
static void batch_run_checks(struct lease_table *t, struct lt_batch *b)
{
	GArray *checks = b->checks;

	if (!checks)
		return;
	b->checks = NULL;
	for (guint i = 0; i < checks->len; i++) {
		struct lt_check *c = &g_array_index(checks, struct lt_check, i);

		c->unreg =
		    t->hooks.unregistered_pins(t->hooks.arg, c->ino, c->off, c->len);
	}
	pthread_mutex_lock(&t->lock);
	for (guint i = 0; i < checks->len; i++) {
		struct lt_check *c = &g_array_index(checks, struct lt_check, i);
		struct lt_waiter *w = g_hash_table_lookup(t->waiters, &c->waiter_id);
		struct lt_file *f;
		enum wblock s;

		if (!w)
			continue; /* resolved meanwhile */
		s = waiter_blocked(w);
		if (s == W_LEASE)
			continue;
		f = w->file;
		waiter_decide(t, w, s, c->unreg, b);
		file_update(t, f);
	}
	batch_deadline(t, b);
	pthread_mutex_unlock(&t->lock);
	g_array_free(checks, TRUE);
}

/* End a call: drop the lock, make the checks, and drop what a caller that
 * passed no effects record would have been given. */
static void unlock_and_run(struct lease_table *t, struct lt_batch *b)
{
	batch_deadline(t, b);
	pthread_mutex_unlock(&t->lock);
	batch_run_checks(t, b);
	lt_effects_clear(&b->dropped);
}

/* ---- public API ---- */

struct lease_table *lt_new(const struct lt_config *cfg, const struct lt_clock *clock,
			   const struct lt_hooks *hooks)
{
	struct lease_table *t = g_new0(struct lease_table, 1);

	pthread_mutex_init(&t->lock, NULL);
	t->by_fh = g_hash_table_new(g_int64_hash, g_int64_equal);
	t->by_id = g_hash_table_new(g_int64_hash, g_int64_equal);
	t->by_ino = g_hash_table_new(g_int64_hash, g_int64_equal);
	t->waiters = g_hash_table_new(g_int64_hash, g_int64_equal);
	t->users = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	link_init(&t->breaking);
	link_init(&t->pin_waiters);
	if (cfg)
		t->cfg = *cfg;
	if (clock && clock->now_ns)
		t->clock = *clock;
	else
		t->clock.now_ns = default_now_ns;
	if (hooks)
		t->hooks = *hooks;
	return t;
}

/* Free o and its pins, giving back what the pins were charged. */
static void open_free(struct lease_table *t, struct lt_open *o)
{
	while (o->pins) {
		struct lt_pin *p = o->pins;

		o->pins = p->next;
		usage_charge(t, p->uid, 0, -1);
		g_free(p);
	}
	g_free(o);
}

void lt_destroy(struct lease_table *t, struct lt_effects *fx)
{
	struct lt_batch b;
	GHashTableIter it;
	gpointer key;

	if (!t)
		return;
	batch_begin(&b, fx);
	pthread_mutex_lock(&t->lock);
	g_hash_table_iter_init(&it, t->waiters);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		struct lt_waiter *w = key;
		struct lt_resumed r = {w->data, EIO};

		batch_push(&b.fx->resumed, sizeof(r), &r);
		g_free(w);
	}
	g_hash_table_iter_init(&it, t->by_fh);
	while (g_hash_table_iter_next(&it, &key, NULL))
		open_free(t, key);
	g_hash_table_iter_init(&it, t->by_ino);
	while (g_hash_table_iter_next(&it, &key, NULL))
		g_free(key);
	g_hash_table_destroy(t->waiters);
	g_hash_table_destroy(t->by_fh);
	g_hash_table_destroy(t->by_id);
	g_hash_table_destroy(t->by_ino);
	g_hash_table_destroy(t->users);
	pthread_mutex_unlock(&t->lock);
	lt_effects_clear(&b.dropped);
	pthread_mutex_destroy(&t->lock);
	g_free(t);
}

/*
 * Would a lease of type on [off, off+len) by fh conflict on f?  Another
 * fh's live overlapping lease conflicts if it is breaking or either side is
 * a write lease; a parked waiter on the range always does (no starvation).
 */
static bool grant_conflicts(struct lt_file *f, uint64_t fh, enum lt_type type,
			    uint64_t off, uint64_t len)
{
	struct lt_link *l, *tmp;

	link_for_each_safe(l, tmp, &f->opens) {
		struct lt_open *o = container_of(l, struct lt_open, file_link);

		if (o->fh == fh || !lease_live(o) || !overlaps(o->off, o->len, off, len))
			continue;
		if (o->state == LT_BREAKING || type == LT_WRITE || o->type == LT_WRITE)
			return true;
	}
	link_for_each_safe(l, tmp, &f->waiters) {
		struct lt_waiter *w = container_of(l, struct lt_waiter, file_link);

		if (!is_breaker(w->breaker_fh, fh) && overlaps(w->off, w->len, off, len))
			return true;
	}
	return false;
}

/*
 * F_UNLCK: end fh's live lease (pins stay) and wake what that frees.
 * if_held: -EAGAIN when fh has no lease at all (neither live nor revoked).
 */
static int lease_unlock(struct lease_table *t, uint64_t fh, bool if_held,
			struct lt_effects *fx)
{
	struct lt_batch b;
	struct lt_open *o;
	struct lt_file *f;
	int ret = 0;

	batch_begin(&b, fx);
	pthread_mutex_lock(&t->lock);
	o = open_find(t, fh);
	if (if_held && (!o || o->state == LT_NONE))
		ret = -EAGAIN;
	if (!o || !lease_live(o))
		goto out;
	f = file_find(t, o->ino);
	lease_end(t, o, LT_END_RELEASED, &b);
	open_sync(o, f);
	file_wake(t, f, &b);
	file_update(t, f);
out:
	unlock_and_run(t, &b);
	return ret;
}

int lt_release_held(struct lease_table *t, uint64_t fh, struct lt_effects *fx)
{
	return lease_unlock(t, fh, true, fx);
}

int lt_setlease(struct lease_table *t, uint64_t ino, uint64_t fh, pid_t pid, uid_t uid,
		enum lt_type type, bool exclusive, uint64_t off, uint64_t len,
		bool owner_ok, struct lt_effects *fx)
{
	struct lt_batch b;
	struct lt_open *o;
	struct lt_file *f;
	int ret = 0;

	if (type != LT_READ && type != LT_WRITE && type != LT_UNLOCK)
		return -EINVAL;
	if (type == LT_UNLOCK)
		return lease_unlock(t, fh, false, fx);
	if (!range_valid(off, len))
		return -EINVAL;
	batch_begin(&b, fx);
	pthread_mutex_lock(&t->lock);
	o = open_find(t, fh);
	if (o && o->ino != ino) {
		ret = -EINVAL; /* one fh is one open file of one inode */
		goto out;
	}
	if (!owner_ok) {
		ret = refuse(t, &b, -EACCES, 0, ino, pid, "setlease");
		goto out;
	}
	f = file_find(t, ino);
	if ((o && o->state == LT_BREAKING) ||
	    (f && grant_conflicts(f, fh, type, off, len))) {
		ret = refuse(t, &b, -EAGAIN, o ? o->lease_id : 0, ino, pid, "setlease");
		goto out;
	}
	/* Only a new lease is charged: changing the live one costs nothing. */
	if ((!o || o->state != LT_ACTIVE) && over_quota(t, uid, false)) {
		ret = refuse_quota(t, &b, -ENOLCK, 0, ino, pid, uid, "lease");
		goto out;
	}

	if (!o)
		o = open_get(t, ino, fh);
	if (o->state == LT_ACTIVE) {
		/* Upgrade, downgrade or new range of the same lease. */
		batch_log(t, &b, "grant", o->lease_id, ino, pid,
			  "change %s%s -> %s%s %" PRIu64 "+%" PRIu64,
			  lt_type_name(o->type), o->exclusive ? " exclusive" : "",
			  lt_type_name(type), exclusive ? " exclusive" : "", off, len);
	} else {
		if (o->state == LT_REVOKED) /* a new lease replaces it */
			g_hash_table_remove(t->by_id, &o->lease_id);
		o->lease_id = ++t->last_lease_id;
		g_hash_table_add(t->by_id, &o->lease_id);
		o->state = LT_ACTIVE;
		o->uid = uid;
		usage_charge(t, uid, 1, 0);
		o->granted_ns = now_ns(t);
		o->break_start_ns = 0;
		t->stats.granted++;
		t->stats.active_leases++;
		batch_log(t, &b, "grant", o->lease_id, ino, pid,
			  "%s%s %" PRIu64 "+%" PRIu64, lt_type_name(type),
			  exclusive ? " exclusive" : "", off, len);
	}
	o->type = type;
	o->exclusive = exclusive;
	o->off = off;
	o->len = len;
	o->pid = pid;
	o->pid_uid = uid;
	f = file_get(t, ino);
	open_sync(o, f);
	file_update(t, f);
out:
	unlock_and_run(t, &b);
	return ret;
}

void lt_getlease(struct lease_table *t, uint64_t ino, uint64_t fh, struct lt_status *st)
{
	struct lt_open *o;

	memset(st, 0, sizeof(*st));
	st->state = LT_NONE;
	st->type = LT_UNLOCK;
	pthread_mutex_lock(&t->lock);
	o = open_find(t, fh);
	if (o && o->ino == ino) {
		st->state = o->state;
		if (o->state == LT_ACTIVE)
			st->type = o->type; /* LT_UNLOCK while breaking: rule 5 */
		if (o->state != LT_NONE) {
			st->exclusive = o->exclusive;
			st->off = o->off;
			st->len = o->len;
			st->lease_id = o->lease_id;
		}
		st->pinned_bytes = pinned_bytes(o, NULL);
		st->end_reason = o->end_reason;
		st->signal = o->signal;
	}
	pthread_mutex_unlock(&t->lock);
}

int lt_setsig(struct lease_table *t, uint64_t ino, uint64_t fh, int signal, int fd)
{
	struct lt_open *o;
	int ret = 0;

	if (signal < 0 || signal >= _NSIG)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	o = open_get(t, ino, fh);
	if (o->ino != ino) {
		ret = -EINVAL;
		goto out;
	}
	o->signal = signal;
	o->fd = fd;
out:
	pthread_mutex_unlock(&t->lock);
	return ret;
}

int lt_pin(struct lease_table *t, uint64_t ino, uint64_t fh, uint64_t off, uint64_t len,
	   uint64_t *pin_id, struct lt_effects *fx)
{
	struct lt_batch b;
	struct lt_open *o;
	struct lt_pin *p;
	int ret = 0;

	if (!range_valid(off, len))
		return -EINVAL;
	batch_begin(&b, fx);
	pthread_mutex_lock(&t->lock);
	o = open_find(t, fh);
	if (!o || o->ino != ino || o->state != LT_ACTIVE ||
	    !contains(o->off, o->len, off, len)) {
		ret = refuse(t, &b, -EPERM, o ? o->lease_id : 0, ino, o ? o->pid : 0,
			     "pin outside an active lease");
		goto out;
	}
	if (over_quota(t, o->uid, true)) {
		ret =
		    refuse_quota(t, &b, -ENOMEM, o->lease_id, ino, o->pid, o->uid, "pin");
		goto out;
	}
	p = g_new(struct lt_pin, 1);
	p->id = ++t->last_pin_id;
	p->off = off;
	p->len = len;
	p->uid = o->uid;
	usage_charge(t, p->uid, 0, 1);
	p->next = o->pins;
	o->pins = p;
	if (pin_id)
		*pin_id = p->id;
out:
	unlock_and_run(t, &b);
	return ret;
}

int lt_unpin(struct lease_table *t, uint64_t ino, uint64_t fh, uint64_t pin_id,
	     struct lt_effects *fx)
{
	struct lt_batch b;
	struct lt_pin **pp, *p = NULL;
	struct lt_open *o;
	struct lt_file *f;
	int ret = -ENOENT;

	batch_begin(&b, fx);
	pthread_mutex_lock(&t->lock);
	o = open_find(t, fh);
	if (!o || o->ino != ino)
		goto out;
	for (pp = &o->pins; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == pin_id) {
			p = *pp;
			*pp = p->next;
			break;
		}
	}
	if (!p)
		goto out;
	usage_charge(t, p->uid, 0, -1);
	g_free(p);
	ret = 0;
	revoked_drop(t, o);
	f = file_find(t, ino);
	open_sync(o, f);
	file_wake(t, f, &b);
	file_update(t, f);
out:
	unlock_and_run(t, &b);
	return ret;
}

/*
 * Exclusive leases never break (rule 12): -EDEADLK if the breaker's own
 * process holds a conflicting one, -ETXTBSY if another does, else 0.
 */
static int exclusive_conflict(struct lt_file *f, uint64_t breaker_fh, pid_t breaker_pid,
			      uint64_t off, uint64_t len, struct lt_open **holder)
{
	struct lt_link *l, *tmp;
	int ret = 0;

	link_for_each_safe(l, tmp, &f->opens) {
		struct lt_open *o = container_of(l, struct lt_open, file_link);

		if (!o->exclusive || o->state != LT_ACTIVE ||
		    is_breaker(breaker_fh, o->fh) || !overlaps(o->off, o->len, off, len))
			continue;
		*holder = o;
		if (o->pid == breaker_pid)
			return -EDEADLK;
		ret = -ETXTBSY;
	}
	return ret;
}

int lt_break(struct lease_table *t, uint64_t ino, uint64_t breaker_fh, pid_t breaker_pid,
	     uint64_t off, uint64_t len, bool nonblock, void *waiter_data,
	     uint64_t *waiter_id, struct lt_effects *fx)
{
	bool self = false, leases = false, pins = false;
	struct lt_batch b;
	struct lt_open *holder = NULL;
	struct lt_waiter *w;
	struct lt_link *l, *tmp;
	struct lt_file *f;
	uint64_t unreg = 0, now;
	int ret = 0;

	if (len == 0)
		return 0; /* touches nothing */
	if (t->hooks.unregistered_pins)
		unreg = t->hooks.unregistered_pins(t->hooks.arg, ino, off, len);

	batch_begin(&b, fx);
	pthread_mutex_lock(&t->lock);
	now = now_ns(t);
	f = file_find(t, ino);
	if (f) {
		ret = exclusive_conflict(f, breaker_fh, breaker_pid, off, len, &holder);
		if (ret) {
			refuse(t, &b, ret, holder->lease_id, ino, breaker_pid,
			       "break of an exclusive lease");
			goto out;
		}
		link_for_each_safe(l, tmp, &f->opens) {
			struct lt_open *o = container_of(l, struct lt_open, file_link);

			if (is_breaker(breaker_fh, o->fh))
				continue;
			if (pins_overlap(o, off, len))
				pins = true;
			if (!lease_live(o) || !overlaps(o->off, o->len, off, len))
				continue;
			leases = true;
			if (o->pid == breaker_pid)
				self = true;
			if (o->state == LT_ACTIVE)
				lease_start_break(t, o, now, breaker_pid, &b);
		}
	}
	if (unreg)
		pins = true;

	if (self) {
		ret = refuse(t, &b, -EWOULDBLOCK, 0, ino, breaker_pid,
			     "break of own lease (rule 7)");
		goto out;
	}
	if (!leases && !pins)
		goto out; /* ret 0: go ahead */
	if (!leases && t->cfg.pinned_fail) {
		ret = refuse(t, &b, -ETXTBSY, 0, ino, breaker_pid, "pinned range");
		goto out;
	}
	if (nonblock) {
		ret =
		    refuse(t, &b, -EWOULDBLOCK, 0, ino, breaker_pid, "nonblocking break");
		goto out;
	}

	f = file_get(t, ino);
	w = g_new0(struct lt_waiter, 1);
	w->id = ++t->last_waiter_id;
	w->breaker_fh = breaker_fh;
	w->pid = breaker_pid;
	w->off = off;
	w->len = len;
	w->parked_ns = now;
	w->data = waiter_data;
	w->file = f;
	link_init(&w->pin_link);
	link_add_tail(&w->file_link, &f->waiters);
	g_hash_table_add(t->waiters, &w->id);
	if (!leases)
		waiter_set_pins_only(t, w);
	t->stats.parked++;
	if (waiter_id)
		*waiter_id = w->id;
	file_update(t, f);
	ret = LT_PARKED;
out:
	unlock_and_run(t, &b);
	return ret;
}

void lt_cancel(struct lease_table *t, uint64_t waiter_id, int err, struct lt_effects *fx)
{
	struct lt_batch b;
	struct lt_waiter *w;
	struct lt_file *f;

	if (err < 0)
		err = -err;
	if (err == 0)
		err = EINTR; /* a cancelled change must never go ahead */
	batch_begin(&b, fx);
	pthread_mutex_lock(&t->lock);
	w = g_hash_table_lookup(t->waiters, &waiter_id);
	if (w) {
		f = w->file;
		t->stats.cancelled++;
		waiter_resolve(t, w, err, &b);
		file_update(t, f);
	}
	unlock_and_run(t, &b);
}

void lt_close(struct lease_table *t, uint64_t ino, uint64_t fh, struct lt_effects *fx)
{
	struct lt_batch b;
	struct lt_file *f = NULL;
	struct lt_open *o;

	(void)ino; /* fh alone names the open file */
	batch_begin(&b, fx);
	pthread_mutex_lock(&t->lock);
	o = open_find(t, fh);
	if (!o)
		goto out;
	if (!link_empty(&o->file_link))
		f = file_find(t, o->ino);
	if (lease_live(o))
		lease_end(t, o, LT_END_CLOSED, &b);
	else if (o->state == LT_REVOKED)
		g_hash_table_remove(t->by_id, &o->lease_id);
	if (f)
		link_del(&o->file_link);
	g_hash_table_remove(t->by_fh, &o->fh);
	open_free(t, o);
	if (f) {
		file_wake(t, f, &b);
		file_update(t, f);
	}
out:
	unlock_and_run(t, &b);
}

/* Revoke o's live lease (rule 10 or admin) and wake its file's waiters. */
static void lease_revoke(struct lease_table *t, struct lt_open *o, enum lt_end why,
			 struct lt_batch *b)
{
	struct lt_file *f = file_find(t, o->ino);

	lease_end(t, o, why, b);
	open_sync(o, f);
	file_wake(t, f, b);
	file_update(t, f);
}

int lt_revoke(struct lease_table *t, uint64_t lease_id, struct lt_effects *fx)
{
	struct lt_batch b;
	struct lt_open *o = NULL;
	uint64_t *key;
	int ret = 0;

	batch_begin(&b, fx);
	pthread_mutex_lock(&t->lock);
	key = g_hash_table_lookup(t->by_id, &lease_id);
	if (key)
		o = container_of(key, struct lt_open, lease_id);
	if (!o)
		ret = -ENOENT;
	else if (lease_live(o)) /* a REVOKED lease is revoked already */
		lease_revoke(t, o, LT_END_REVOKED_ADMIN, &b);
	unlock_and_run(t, &b);
	return ret;
}

int lt_lease_ino(struct lease_table *t, uint64_t lease_id, uint64_t *ino)
{
	uint64_t *key;
	int ret = -ENOENT;

	pthread_mutex_lock(&t->lock);
	key = g_hash_table_lookup(t->by_id, &lease_id);
	if (key) {
		*ino = container_of(key, struct lt_open, lease_id)->ino;
		ret = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

uint64_t lt_next_deadline(struct lease_table *t)
{
	uint64_t d = UINT64_MAX;

	pthread_mutex_lock(&t->lock);
	if (!link_empty(&t->breaking))
		d = deadline_of(
		    t, container_of(t->breaking.next, struct lt_open, break_link));
	pthread_mutex_unlock(&t->lock);
	return d;
}

void lt_expire(struct lease_table *t, struct lt_effects *fx)
{
	struct lt_batch b;
	uint64_t now;

	batch_begin(&b, fx);
	pthread_mutex_lock(&t->lock);
	now = now_ns(t);
	while (!link_empty(&t->breaking)) {
		struct lt_open *o =
		    container_of(t->breaking.next, struct lt_open, break_link);

		if (deadline_of(t, o) > now)
			break;
		lease_revoke(t, o, LT_END_REVOKED_TIMEOUT, &b);
	}
	unlock_and_run(t, &b);
}

bool lt_has_pin_waiters(struct lease_table *t)
{
	bool ret;

	if (!t->hooks.unregistered_pins)
		return false;
	pthread_mutex_lock(&t->lock);
	ret = !link_empty(&t->pin_waiters);
	pthread_mutex_unlock(&t->lock);
	return ret;
}

void lt_recheck(struct lease_table *t, struct lt_effects *fx)
{
	struct lt_batch b;
	struct lt_link *l, *tmp;

	batch_begin(&b, fx);
	pthread_mutex_lock(&t->lock);
	link_for_each_safe(l, tmp, &t->pin_waiters) {
		struct lt_waiter *w = container_of(l, struct lt_waiter, pin_link);
		struct lt_file *f = w->file;
		enum wblock s = waiter_blocked(w);

		if (s != W_FREE)
			continue;
		if (t->hooks.unregistered_pins) {
			struct lt_check c = {w->id, f->ino, w->off, w->len, 0};

			batch_push(&b.checks, sizeof(c), &c);
			continue;
		}
		waiter_resolve(t, w, 0, &b);
		file_update(t, f);
	}
	unlock_and_run(t, &b);
}

void lt_foreach_lease(struct lease_table *t,
		      void (*fn)(const struct lt_lease_info *, void *), void *arg)
{
	GHashTableIter it;
	gpointer key;

	pthread_mutex_lock(&t->lock);
	g_hash_table_iter_init(&it, t->by_ino);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		struct lt_file *f = key;
		struct lt_link *l, *tmp;

		/* Also lists opens that only have pins left (state LT_NONE). */
		link_for_each_safe(l, tmp, &f->opens) {
			struct lt_open *o = container_of(l, struct lt_open, file_link);
			struct lt_lease_info li = {
			    .lease_id = o->lease_id,
			    .ino = o->ino,
			    .fh = o->fh,
			    .pid = o->pid,
			    .uid = o->uid,
			    .type = o->state == LT_NONE ? LT_UNLOCK : o->type,
			    .exclusive = o->exclusive,
			    .state = o->state,
			    .off = o->off,
			    .len = o->len,
			    .granted_ns = o->granted_ns,
			    .break_start_ns = o->break_start_ns,
			};

			if (o->state == LT_NONE)
				li.off = li.len = 0; /* no lease: only pins */
			li.pinned_bytes = pinned_bytes(o, &li.npins);
			fn(&li, arg);
		}
	}
	pthread_mutex_unlock(&t->lock);
}

void lt_foreach_waiter(struct lease_table *t,
		       void (*fn)(const struct lt_waiter_info *, void *), void *arg)
{
	GHashTableIter it;
	gpointer key;

	pthread_mutex_lock(&t->lock);
	g_hash_table_iter_init(&it, t->waiters);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		struct lt_waiter *w = key;
		struct lt_waiter_info wi = {
		    .waiter_id = w->id,
		    .ino = w->file->ino,
		    .breaker_fh = w->breaker_fh,
		    .pid = w->pid,
		    .off = w->off,
		    .len = w->len,
		    .parked_ns = w->parked_ns,
		    .pins_only = w->pins_only,
		};

		fn(&wi, arg);
	}
	pthread_mutex_unlock(&t->lock);
}

void lt_get_stats(struct lease_table *t, struct lt_stats *s)
{
	pthread_mutex_lock(&t->lock);
	*s = t->stats;
	s->parked_now = g_hash_table_size(t->waiters);
	pthread_mutex_unlock(&t->lock);
}

void lt_foreach_user(struct lease_table *t,
		     void (*fn)(const struct lt_user_usage *, void *), void *arg)
{
	GHashTableIter it;
	gpointer value;

	pthread_mutex_lock(&t->lock);
	g_hash_table_iter_init(&it, t->users);
	while (g_hash_table_iter_next(&it, NULL, &value))
		fn(value, arg);
	pthread_mutex_unlock(&t->lock);
}

void lt_user_usage(struct lease_table *t, uid_t uid, struct lt_user_usage *u)
{
	struct lt_user_usage *found;

	pthread_mutex_lock(&t->lock);
	found = usage_find(t, uid);
	if (found)
		*u = *found;
	else
		*u = (struct lt_user_usage){.uid = uid};
	pthread_mutex_unlock(&t->lock);
}
