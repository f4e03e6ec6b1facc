/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lease.h - the layout lease table: the state machine behind every rule of
 * docs/leases.md, in plain C with no FUSE in it.
 *
 * The daemon's lease glue (fs/layout.c) turns FUSE requests into calls
 * here.  Every call that changes the table returns what it did that the
 * world must hear of in a caller-owned struct lt_effects: holders to
 * notify, parked waiters finished, log lines, the new earliest deadline.
 * The caller carries them out once it holds no lock of its own (and runs
 * finished waiters after its own reply), like fs/locks.c's dispose lists.
 * Time comes from struct lt_clock so that tests drive it by hand.
 *
 * Identities:
 *   ino  - the file (the daemon's inode key; any unique 64-bit value)
 *   fh   - the open file description (the FUSE file handle).  A lease and
 *          its pins belong to an fh: dup() and fork() share it, and it ends
 *          with lt_close(fh) (FUSE release), never with a flush.
 *   pid  - a process id (tgid), used only to notify, to report, and to spot
 *          a holder breaking its own lease (rule 7).
 *
 * Locking: one mutex inside the table protects everything in it.  It is
 * never held on return, and the only hook called with it held is
 * file_active (struct lt_hooks).
 *
 * Fast path: the table tells the daemon, through hooks->file_active, when
 * a file gains its first or loses its last lease, pin or waiter.  The
 * daemon keeps that as an atomic flag in its own inode and calls lt_break
 * only when the flag is set, so a file without leases costs one relaxed
 * atomic load and no lock.  The daemon makes a grant wait for changes past
 * that check (struct pinfs_inode's layout_lock), so a lease granted after
 * the check is granted after the change too.
 */
#ifndef PINFS_LEASE_H
#define PINFS_LEASE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define LT_LEN_EOF UINT64_MAX /* a range that runs to infinity */

enum lt_type { LT_READ = 0, LT_WRITE = 1, LT_UNLOCK = 2 };

enum lt_state { LT_NONE = 0, LT_ACTIVE = 1, LT_BREAKING = 2, LT_REVOKED = 3 };

/* "read", "write", "unlock"; "none", "active", "breaking", "revoked": the
 * names the log, the control channel and the cluster listings use. */
const char *lt_type_name(enum lt_type type);
const char *lt_state_name(enum lt_state state);

enum lt_end {
	LT_END_NONE = 0,
	LT_END_RELEASED = 1,
	LT_END_CLOSED = 2,
	LT_END_REVOKED_TIMEOUT = 3,
	LT_END_REVOKED_ADMIN = 4,
};

struct lt_clock {
	uint64_t (*now_ns)(void *arg); /* monotonic nanoseconds */
	void *arg;
};

/*
 * Per-user quotas (no user may grow the daemon's memory without bound).  A lease is
 * charged to the uid that took it, for as long as it is ACTIVE or BREAKING; a pin to the
 * uid charged for the lease it was registered under, until lt_unpin or lt_close.  0 means
 * unlimited; uid 0 (root) is counted but never limited.
 */
struct lt_config {
	uint64_t break_time_ns;	      /* 0: never revoke (rule 10) */
	bool pinned_fail;	      /* rule 11: fail with ETXTBSY instead of waiting */
	uint32_t max_leases_per_user; /* over it: lt_setlease -ENOLCK */
	uint32_t max_pins_per_user;   /* over it: lt_pin -ENOMEM */
};

/* What a holder must be told when its lease starts breaking (rule 8). */
struct lt_notify {
	uint64_t lease_id;
	uint64_t ino;
	uint64_t fh;
	pid_t pid;  /* the holder process to signal */
	uid_t uid;  /* and the fsuid it took or changed the lease with */
	int signal; /* 0: SIGIO; otherwise F_SETSIG's signal, with si_fd */
	int fd;	    /* the holder's descriptor number for si_fd, -1 unknown */
};

/* A parked waiter is finished: err 0 means "make the change now",
 * otherwise it is a positive errno for the reply (EINTR, ETXTBSY, EIO). */
struct lt_resumed {
	void *waiter_data; /* as given to lt_break */
	int err;
};

/* One structured log line: a grant, break, revocation, release or refusal
 * ("event" is "grant", "break", "revoke", "release" or "refuse"). */
struct lt_log {
	const char *event; /* a string constant */
	uint64_t lease_id, ino;
	pid_t pid;
	char detail[64];
};

/*
 * What a call did that the world must hear of, filled by every call that
 * takes one, for the caller to carry out once it has dropped its own
 * locks.  The caller owns it: start with LT_EFFECTS_INIT, let any number
 * of calls add to it, carry it out, and lt_effects_clear() it.
 *
 *   notify    holders whose lease began to break (rule 8), in order
 *   resumed   parked waiters finished, each exactly once over the table's
 *             life (by a release, close, unpin, revoke, lt_expire,
 *             lt_cancel, lt_recheck or lt_destroy)
 *   log       log lines, in order
 *   deadline_changed, next_deadline: the earliest break deadline changed;
 *             next_deadline is the new one (UINT64_MAX: none) as it was
 *             when the call returned
 *
 * Passing NULL for it drops everything but is only fit for callers that
 * never park a waiter.
 */
struct lt_effects {
	GArray *notify;	 /* struct lt_notify, or NULL if none */
	GArray *resumed; /* struct lt_resumed, or NULL */
	GArray *log;	 /* struct lt_log, or NULL */
	bool deadline_changed;
	uint64_t next_deadline;
};

#define LT_EFFECTS_INIT                                                                  \
	{                                                                                \
		NULL, NULL, NULL, false, UINT64_MAX                                      \
	}

/* Free what fx holds and make it LT_EFFECTS_INIT again. */
void lt_effects_clear(struct lt_effects *fx);

/*
 * The two questions the table asks its user, both optional.  Neither may
 * call into the table.
 */
struct lt_hooks {
	/* Called WITH the table lock held, when ino gains its first (active
	 * true) or loses its last (false) lease, pin or waiter: the daemon's
	 * lock-free fast path.  It may only store a flag. */
	void (*file_active)(void *arg, uint64_t ino, bool active);
	/* Bytes in [off, off+len) of ino that are DMA-pinned by anyone (the
	 * pinfs_dma module), for rule 11 on unregistered pins.  Called without
	 * the table lock. */
	uint64_t (*unregistered_pins)(void *arg, uint64_t ino, uint64_t off,
				      uint64_t len);
	void *arg;
};

struct lease_table;

/* hooks may be NULL; cfg, clock and hooks are copied. */
struct lease_table *lt_new(const struct lt_config *cfg, const struct lt_clock *clock,
			   const struct lt_hooks *hooks);
/* Fails every parked waiter with EIO (unmount, into fx) and frees
 * everything. */
void lt_destroy(struct lease_table *t, struct lt_effects *fx);

/*
 * Take, change or release the lease of open file fh on ino (rules 1, 3, 4).
 * owner_ok: the caller owns the file or is root (the FUSE layer checks).
 * uid: the caller's fsuid; a new lease is charged to it (struct lt_config).
 * Returns 0 or a negative errno:
 *   -EACCES  !owner_ok (also for exclusive leases: rule 12)
 *   -EAGAIN  conflicts with another open file's lease (write vs any,
 *            read vs write) on an overlapping range, or the file has a
 *            lease breaking
 *   -ENOLCK  a new lease would take uid past max_leases_per_user (changing
 *            the live lease of fh is not a new lease and is never refused so)
 *   -EINVAL  bad type, flags or range (off + len overflows)
 * LT_UNLOCK without a lease is 0.  Releasing a breaking lease may resume
 * waiters.
 */
int lt_setlease(struct lease_table *t, uint64_t ino, uint64_t fh, pid_t pid, uid_t uid,
		enum lt_type type, bool exclusive, uint64_t off, uint64_t len,
		bool owner_ok, struct lt_effects *fx);

/*
 * F_UNLCK for a caller that must know whether there was anything to
 * release (the preload shim, which otherwise hands F_UNLCK to the kernel):
 * 0 if fh had a lease (live: released now; revoked: nothing to do),
 * -EAGAIN if it had none.
 */
int lt_release_held(struct lease_table *t, uint64_t fh, struct lt_effects *fx);

struct lt_status {
	enum lt_state state;
	enum lt_type type; /* F_GETLEASE: LT_UNLOCK while breaking (rule 5) */
	bool exclusive;
	uint64_t off, len;
	uint64_t lease_id;
	uint64_t pinned_bytes;
	enum lt_end end_reason; /* of the last lease on fh that ended */
	int signal;
};
void lt_getlease(struct lease_table *t, uint64_t ino, uint64_t fh, struct lt_status *st);

/* F_SETSIG for fh's notifications: signal 0 is SIGIO; fd for si_fd. */
int lt_setsig(struct lease_table *t, uint64_t ino, uint64_t fh, int signal, int fd);

/*
 * Register a pinned range on fh (rule 13): it must lie inside fh's own
 * lease, which must be active (not breaking, not revoked), else -EPERM.
 * -EINVAL for len 0 or overflow.  -ENOMEM if the uid charged for that
 * lease already has max_pins_per_user pins (like RLIMIT_MEMLOCK for
 * ibv_reg_mr).  On success *pin_id is set.
 */
int lt_pin(struct lease_table *t, uint64_t ino, uint64_t fh, uint64_t off, uint64_t len,
	   uint64_t *pin_id, struct lt_effects *fx);
/* -ENOENT if fh has no such pin.  May resume waiters (rule 11). */
int lt_unpin(struct lease_table *t, uint64_t ino, uint64_t fh, uint64_t pin_id,
	     struct lt_effects *fx);

/* lt_break's answer for a change that must wait (like fs/locks.c's
 * FILE_LOCK_DEFERRED). */
#define LT_PARKED 1

/*
 * A layout change of [off, off+len) of ino is about to happen through
 * open file breaker_fh (0 if none, e.g. truncate(2) by path) by process
 * breaker_pid.  Rules 6-12.  Returns:
 *   0              go ahead now
 *   LT_PARKED      parked: waiter_data comes back once, in the resumed
 *                  effects of a later call; *waiter_id is set for lt_cancel
 *   -EWOULDBLOCK   nonblock and a breakable lease conflicts (the break
 *                  still starts, rule 9), or the breaker's own process
 *                  holds the lease through another open file (rule 7)
 *   -ETXTBSY       an exclusive lease conflicts, or pinned=fail and pins
 *                  block the range (rules 11, 12)
 *   -EDEADLK       an exclusive lease held by the breaker's own process
 * Leases held through breaker_fh itself never conflict (rule 7).
 */
int lt_break(struct lease_table *t, uint64_t ino, uint64_t breaker_fh, pid_t breaker_pid,
	     uint64_t off, uint64_t len, bool nonblock, void *waiter_data,
	     uint64_t *waiter_id, struct lt_effects *fx);

/* Give up a parked wait (FUSE interrupt, the caller died): the waiter is
 * resumed with err.  The break goes on.  No-op if the waiter was already
 * resumed. */
void lt_cancel(struct lease_table *t, uint64_t waiter_id, int err, struct lt_effects *fx);

/* The open file is gone (FUSE release): drop its lease and pins, resume
 * whatever that unblocks. */
void lt_close(struct lease_table *t, uint64_t ino, uint64_t fh, struct lt_effects *fx);

/* Revoke by lease id (pinfsctl revoke; the caller checked permission).
 * -ENOENT if there is no such lease. */
int lt_revoke(struct lease_table *t, uint64_t lease_id, struct lt_effects *fx);
/* The owner and ino of a lease, for permission checks; -ENOENT. */
int lt_lease_ino(struct lease_table *t, uint64_t lease_id, uint64_t *ino);

/* Earliest break deadline in ns (UINT64_MAX: none), and the timer tick
 * that revokes every lease whose break_time has passed (rule 10). */
uint64_t lt_next_deadline(struct lease_table *t);
void lt_expire(struct lease_table *t, struct lt_effects *fx);

/*
 * Unregistered pins come and go without a word to the table, so with
 * hooks->unregistered_pins set someone must ask again: lt_recheck re-asks
 * for every waiter that only pins block.  lt_has_pin_waiters says whether
 * there is one now; but a waiter parked behind a lease becomes one when
 * that lease ends, so the daemon simply calls lt_recheck every 50 ms
 * while any waiter is parked (fs/dma.c).
 */
bool lt_has_pin_waiters(struct lease_table *t);
void lt_recheck(struct lease_table *t, struct lt_effects *fx);

/* ---- Listing, for pinfsctl and tests (rule 14) ---- */

struct lt_lease_info {
	uint64_t lease_id, ino, fh;
	pid_t pid;
	uid_t uid; /* charged for the lease (each pin: for its lease's) */
	enum lt_type type;
	bool exclusive;
	enum lt_state state;
	uint64_t off, len;
	uint64_t granted_ns;	 /* clock time of the grant */
	uint64_t break_start_ns; /* 0 unless breaking or revoked */
	uint64_t pinned_bytes;
	unsigned npins;
};

struct lt_waiter_info {
	uint64_t waiter_id, ino, breaker_fh;
	pid_t pid;
	uint64_t off, len;
	uint64_t parked_ns;
	bool pins_only; /* every lease is gone; only pins hold it (rule 11) */
};

struct lt_stats {
	uint64_t granted, released, broken, revoked, refused, parked;
	uint64_t resumed, cancelled;
	uint64_t active_leases, parked_now;
	uint64_t wait_max_ns, wait_total_ns, wait_count;
};

/* Call fn for every lease (waiter) with the table locked: fn must not
 * call back into the table. */
void lt_foreach_lease(struct lease_table *t,
		      void (*fn)(const struct lt_lease_info *, void *), void *arg);
void lt_foreach_waiter(struct lease_table *t,
		       void (*fn)(const struct lt_waiter_info *, void *), void *arg);
void lt_get_stats(struct lease_table *t, struct lt_stats *s);

/* What one uid is charged for now (struct lt_config). */
struct lt_user_usage {
	uid_t uid;
	uint64_t leases; /* ACTIVE or BREAKING leases */
	uint64_t pins;	 /* registered pins, including those outliving a lease */
};

/* Call fn for every uid charged for at least one lease or pin, with the
 * table locked: fn must not call back into the table. */
void lt_foreach_user(struct lease_table *t,
		     void (*fn)(const struct lt_user_usage *, void *), void *arg);
/* The usage of one uid (all zero if it holds nothing). */
void lt_user_usage(struct lease_table *t, uid_t uid, struct lt_user_usage *u);

#endif /* PINFS_LEASE_H */
