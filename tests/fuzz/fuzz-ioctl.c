// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-ioctl.c - the PINFS_IOC_* decoder (fs/abi.c) against a real lease
 * table (fs/lease.c) on a fake clock.
 *
 * The input is a program, one step after another:
 *   op byte, low 3 bits:
 *     0, 7  ioctl: a known command (next byte % 7), exact buffer sizes
 *     1     ioctl: any cmd (next 4 bytes, little endian), sizes from cmd
 *     2     ioctl: any cmd, then in_bufsz and out_bufsz (1 byte each)
 *     3     a layout change (lt_break) of file (op >> 3) & 1 by another
 *           process: offset and length bytes in pages, nonblock bit 4
 *     4     the clock moves by the next byte * 100 ms; lt_expire
 *     5     close open file (op >> 3) & 3
 *     6     cancel the last parked waiter (EINTR)
 *   ioctl ops: bits 3-4 pick the open file (3: a directory), bit 5 says
 *   the caller owns the file, bits 6-7 both set: a leases=off mount.  The
 *   request's bytes follow (zeros when the input ends).
 *
 * Checked after every ioctl: the errno is one lib/pinfs_abi.h allows for
 * the command; bad headers get exactly the errno the ABI promises; a
 * refused request, and any GETLEASE/VERSION/NOOP, leaves the table as it
 * was (leases, waiters, every open file's status, stats but the refusal
 * count); the table only changes for an open file the daemon was told
 * about (in_table); replies carry what the table says.  Per-user quotas
 * are small (one lease, two pins per uid; open files 11 and 21 belong to
 * one uid, 12 to root), and once every file is closed no uid is charged.
 */
#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>

#include <glib.h>

#include "abi.h"
#include "fuzz.h"

#define NFILES 3 /* open regular files; index NFILES is a directory */
#define BUF_MAX 256

struct fake_file {
	uint64_t ino, fh;
	pid_t pid;
	uid_t uid;
	bool in_table; /* what pinfs_file.in_table would say */
};

struct world {
	struct lease_table *t;
	uint64_t now;
	struct fake_file files[NFILES + 1];
	uint64_t last_waiter;
	unsigned resumed;
	struct lt_effects fx; /* what the current call did */
	/* for the callbacks of the current ioctl */
	struct fake_file *cur;
	bool owner;
};

static uint64_t fake_now(void *arg)
{
	struct world *w = arg;

	return w->now;
}

/* Count the waiters the last call resumed, and drop its other effects. */
static void absorb(struct world *w)
{
	if (w->fx.resumed)
		w->resumed += w->fx.resumed->len;
	lt_effects_clear(&w->fx);
}

static pid_t cb_pid(void *arg)
{
	return ((struct world *)arg)->cur->pid;
}

static bool cb_owner_ok(void *arg)
{
	return ((struct world *)arg)->owner;
}

static void cb_in_table(void *arg)
{
	((struct world *)arg)->cur->in_table = true;
}

/* ---- Snapshots of everything the table shows ---- */

struct snapshot {
	GArray *leases, *waiters;
	struct lt_status status[NFILES];
	struct lt_stats stats;
};

static void add_lease(const struct lt_lease_info *li, void *arg)
{
	g_array_append_vals(arg, li, 1);
}

static void add_waiter(const struct lt_waiter_info *wi, void *arg)
{
	g_array_append_vals(arg, wi, 1);
}

static gint by_lease_id(gconstpointer a, gconstpointer b)
{
	const struct lt_lease_info *x = a, *y = b;

	return x->lease_id < y->lease_id ? -1 : x->lease_id > y->lease_id;
}

static gint by_waiter_id(gconstpointer a, gconstpointer b)
{
	const struct lt_waiter_info *x = a, *y = b;

	return x->waiter_id < y->waiter_id ? -1 : x->waiter_id > y->waiter_id;
}

/* The table's view, in id order (its hash tables have none). */
static void snap(struct world *w, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->leases = g_array_new(FALSE, TRUE, sizeof(struct lt_lease_info));
	s->waiters = g_array_new(FALSE, TRUE, sizeof(struct lt_waiter_info));
	lt_foreach_lease(w->t, add_lease, s->leases);
	lt_foreach_waiter(w->t, add_waiter, s->waiters);
	g_array_sort(s->leases, by_lease_id);
	g_array_sort(s->waiters, by_waiter_id);
	for (int i = 0; i < NFILES; i++) {
		memset(&s->status[i], 0, sizeof(s->status[i]));
		lt_getlease(w->t, w->files[i].ino, w->files[i].fh, &s->status[i]);
	}
	lt_get_stats(w->t, &s->stats);
}

static void snap_free(struct snapshot *s)
{
	g_array_free(s->leases, TRUE);
	g_array_free(s->waiters, TRUE);
}

/* Field by field: the structs have padding. */
static bool lease_same(const struct lt_lease_info *a, const struct lt_lease_info *b)
{
	return a->lease_id == b->lease_id && a->ino == b->ino && a->fh == b->fh &&
	       a->pid == b->pid && a->type == b->type && a->exclusive == b->exclusive &&
	       a->state == b->state && a->off == b->off && a->len == b->len &&
	       a->granted_ns == b->granted_ns && a->break_start_ns == b->break_start_ns &&
	       a->pinned_bytes == b->pinned_bytes && a->npins == b->npins;
}

static bool waiter_same(const struct lt_waiter_info *a, const struct lt_waiter_info *b)
{
	return a->waiter_id == b->waiter_id && a->ino == b->ino &&
	       a->breaker_fh == b->breaker_fh && a->pid == b->pid && a->off == b->off &&
	       a->len == b->len && a->parked_ns == b->parked_ns &&
	       a->pins_only == b->pins_only;
}

static bool status_same(const struct lt_status *a, const struct lt_status *b)
{
	return a->state == b->state && a->type == b->type &&
	       a->exclusive == b->exclusive && a->off == b->off && a->len == b->len &&
	       a->lease_id == b->lease_id && a->pinned_bytes == b->pinned_bytes &&
	       a->end_reason == b->end_reason && a->signal == b->signal;
}

/* Equal in everything; the refusal count may have grown by one. */
static bool snap_same(const struct snapshot *a, const struct snapshot *b)
{
	struct lt_stats sa = a->stats, sb = b->stats;

	if (sb.refused != sa.refused && sb.refused != sa.refused + 1)
		return false;
	sb.refused = sa.refused;
	if (memcmp(&sa, &sb, sizeof(sa)) || a->leases->len != b->leases->len ||
	    a->waiters->len != b->waiters->len)
		return false;
	for (guint i = 0; i < a->leases->len; i++)
		if (!lease_same(&g_array_index(a->leases, struct lt_lease_info, i),
				&g_array_index(b->leases, struct lt_lease_info, i)))
			return false;
	for (guint i = 0; i < a->waiters->len; i++)
		if (!waiter_same(&g_array_index(a->waiters, struct lt_waiter_info, i),
				 &g_array_index(b->waiters, struct lt_waiter_info, i)))
			return false;
	for (int i = 0; i < NFILES; i++)
		if (!status_same(&a->status[i], &b->status[i]))
			return false;
	return true;
}

/* ---- The ioctl step ---- */

static const unsigned known_cmds[] = {
    PINFS_IOC_NOOP,   PINFS_IOC_VERSION, PINFS_IOC_SETLEASE, PINFS_IOC_GETLEASE,
    PINFS_IOC_SETSIG, PINFS_IOC_PIN,	 PINFS_IOC_UNPIN,
};

static bool is_lease_cmd(unsigned cmd)
{
	return cmd == PINFS_IOC_SETLEASE || cmd == PINFS_IOC_GETLEASE ||
	       cmd == PINFS_IOC_SETSIG || cmd == PINFS_IOC_PIN || cmd == PINFS_IOC_UNPIN;
}

/* The errnos lib/pinfs_abi.h lets cmd answer. */
static bool errno_allowed(unsigned cmd, int err)
{
	switch (err) {
	case EINVAL:
	case EOVERFLOW:
	case EISDIR:
	case EOPNOTSUPP:
	case ENOTTY:
		return true;
	case EACCES:
	case EAGAIN:
		return cmd == PINFS_IOC_SETLEASE;
	case ENOLCK: /* the lease quota */
		return cmd == PINFS_IOC_SETLEASE;
	case EPERM:
	case ENOMEM: /* the pin quota */
		return cmd == PINFS_IOC_PIN;
	case ENOENT:
		return cmd == PINFS_IOC_UNPIN;
	default:
		return false;
	}
}

/* The first __u32 of every request is its size field. */
static uint32_t size_field(const uint8_t *buf, size_t n)
{
	uint32_t v = 0;

	if (n >= 4)
		memcpy(&v, buf, 4);
	return v;
}

static void step_ioctl(struct world *w, uint8_t op, struct fuzz_in *in)
{
	unsigned kind = op & 7, which = (op >> 3) & 3, cmd;
	bool leases_off = (op & 0xc0) == 0xc0;
	uint8_t buf[BUF_MAX];
	size_t in_sz, out_sz, out_size = 0;
	struct snapshot before, after;
	struct fake_file *ff = &w->files[which];
	bool exact;
	union abi_buf u;
	int err;

	if (kind == 1 || kind == 2)
		cmd = fuzz_u32(in);
	else
		cmd = known_cmds[fuzz_u8(in) % G_N_ELEMENTS(known_cmds)];
	in_sz = (_IOC_DIR(cmd) & _IOC_WRITE) ? _IOC_SIZE(cmd) : 0;
	out_sz = (_IOC_DIR(cmd) & _IOC_READ) ? _IOC_SIZE(cmd) : 0;
	if (kind == 2) {
		in_sz = fuzz_u8(in);
		out_sz = fuzz_u8(in);
	}
	/* The sizes the command's direction bits ask for, as FUSE passes them
	 * for restricted ioctls (a size a direction does not use is not read). */
	exact = (!(_IOC_DIR(cmd) & _IOC_WRITE) || in_sz == _IOC_SIZE(cmd)) &&
		(!(_IOC_DIR(cmd) & _IOC_READ) || out_sz == _IOC_SIZE(cmd));
	/* The request's bytes: in_sz of them, as FUSE would pass them. */
	fuzz_bytes(in, buf, in_sz < sizeof(buf) ? in_sz : sizeof(buf));
	if (in_sz > sizeof(buf))
		in_sz = sizeof(buf);

	struct abi_file f = {
	    .t = leases_off ? NULL : w->t,
	    .regular = which < NFILES,
	    .ino = ff->ino,
	    .fh = ff->fh,
	    .uid = ff->uid,
	    .pid = cb_pid,
	    .owner_ok = cb_owner_ok,
	    .in_table = cb_in_table,
	    .arg = w,
	    .fx = &w->fx,
	};
	w->cur = ff;
	w->owner = op & 0x20;

	snap(w, &before);
	err = abi_ioctl(&f, cmd, buf, in_sz, out_sz, &u, &out_size);
	absorb(w);
	snap(w, &after);

	FUZZ_CHECK(err >= 0, "cmd %#x: negative errno %d", cmd, err);
	if (err) {
		FUZZ_CHECK(errno_allowed(cmd, err), "cmd %#x: errno %d (%s)", cmd, err,
			   g_strerror(err));
		FUZZ_CHECK(snap_same(&before, &after),
			   "cmd %#x: refused with %d but the table changed", cmd, err);
	}
	/* The ABI's promises about headers, checked independently. */
	if (_IOC_TYPE(cmd) != PINFS_IOC_MAGIC)
		FUZZ_CHECK(err == ENOTTY, "foreign cmd %#x: errno %d", cmd, err);
	if (exact && is_lease_cmd(cmd) && leases_off)
		FUZZ_CHECK(err == EOPNOTSUPP, "leases=off cmd %#x: errno %d", cmd, err);
	if (exact && is_lease_cmd(cmd) && !leases_off && which == NFILES)
		FUZZ_CHECK(err == EISDIR, "directory cmd %#x: errno %d", cmd, err);
	if (exact && _IOC_TYPE(cmd) == PINFS_IOC_MAGIC && (_IOC_DIR(cmd) & _IOC_WRITE) &&
	    (cmd == PINFS_IOC_VERSION ||
	     (is_lease_cmd(cmd) && !leases_off && which < NFILES)) &&
	    size_field(buf, in_sz) != _IOC_SIZE(cmd))
		FUZZ_CHECK(err == EINVAL, "cmd %#x with size field %u: errno %d", cmd,
			   size_field(buf, in_sz), err);
	if (!exact && _IOC_TYPE(cmd) == PINFS_IOC_MAGIC)
		FUZZ_CHECK(err == EINVAL, "cmd %#x, sizes %zu/%zu: errno %d", cmd, in_sz,
			   out_sz, err);

	if (!err) {
		FUZZ_CHECK(out_size <= out_sz, "cmd %#x: reply of %zu bytes into %zu",
			   cmd, out_size, out_sz);
		if (cmd == PINFS_IOC_NOOP || cmd == PINFS_IOC_VERSION ||
		    cmd == PINFS_IOC_GETLEASE)
			FUZZ_CHECK(snap_same(&before, &after),
				   "read-only cmd %#x changed the table", cmd);
		if (cmd == PINFS_IOC_VERSION)
			FUZZ_CHECK(u.v.abi_version == PINFS_ABI_VERSION &&
				       u.v.features ==
					   (leases_off ? 0 : PINFS_FEAT_LEASES),
				   "version reply %u/%u", u.v.abi_version, u.v.features);
		if (cmd == PINFS_IOC_GETLEASE) {
			const struct lt_status *st = &after.status[which];

			FUZZ_CHECK(u.s.size == sizeof(u.s) &&
				       u.s.state == (uint32_t)st->state &&
				       u.s.lease_id == st->lease_id &&
				       u.s.pinned_bytes == st->pinned_bytes &&
				       u.s.offset == st->off,
				   "GETLEASE reply differs from the table");
		}
		if (cmd == PINFS_IOC_PIN)
			FUZZ_CHECK(u.pin.pin_id != 0, "PIN succeeded without a pin id");
		if (!snap_same(&before, &after))
			FUZZ_CHECK(ff->in_table,
				   "cmd %#x changed the table for an open file "
				   "release would not report",
				   cmd);
	}
	snap_free(&before);
	snap_free(&after);
}

/* ---- The other steps: what other requests do to the table ---- */

static void step_break(struct world *w, uint8_t op, struct fuzz_in *in)
{
	struct fake_file *ff = &w->files[(op >> 3) & 1 ? 2 : 0];
	uint64_t off = (uint64_t)fuzz_u8(in) * 4096, len = fuzz_u8(in);
	uint64_t id = 0;
	int ret;

	len = len == 0 ? LT_LEN_EOF : len * 4096;
	ret = lt_break(w->t, ff->ino, 0, 999, off, len, op & 0x10, NULL, &id, &w->fx);
	absorb(w);
	FUZZ_CHECK(ret == 0 || ret == LT_PARKED || ret == -EWOULDBLOCK || ret == -ETXTBSY,
		   "lt_break: %d", ret);
	if (ret == LT_PARKED)
		w->last_waiter = id;
}

static void run(struct world *w, struct fuzz_in *in)
{
	while (in->left) {
		uint8_t op = fuzz_u8(in);

		switch (op & 7) {
		case 3:
			step_break(w, op, in);
			break;
		case 4:
			w->now += (uint64_t)fuzz_u8(in) * 100000000u;
			lt_expire(w->t, &w->fx);
			absorb(w);
			break;
		case 5:
			if (((op >> 3) & 3) < NFILES) {
				struct fake_file *ff = &w->files[(op >> 3) & 3];

				lt_close(w->t, ff->ino, ff->fh, &w->fx);
				absorb(w);
				ff->in_table = false;
			}
			break;
		case 6:
			if (w->last_waiter) {
				lt_cancel(w->t, w->last_waiter, EINTR, &w->fx);
				absorb(w);
			}
			break;
		default:
			step_ioctl(w, op, in);
			break;
		}
	}
}

static void count_user(const struct lt_user_usage *u, void *arg)
{
	(void)u;
	(*(unsigned *)arg)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lt_config cfg = {
	    .break_time_ns = 5000000000u,
	    .max_leases_per_user = 1,
	    .max_pins_per_user = 2,
	};
	struct world w = {
	    .now = 1000000000u,
	    .files =
		{
		    {.ino = 1, .fh = 11, .pid = 100, .uid = 4242},
		    {.ino = 1, .fh = 12, .pid = 101, .uid = 0},
		    {.ino = 2, .fh = 21, .pid = 100, .uid = 4242},
		    {.ino = 3, .fh = 31, .pid = 100, .uid = 4242}, /* the directory */
		},
	};
	struct lt_clock clock = {.now_ns = fake_now, .arg = &w};
	struct fuzz_in in = {.p = data, .left = size};
	struct lt_stats st;
	unsigned users = 0;

	w.t = lt_new(&cfg, &clock, NULL);
	run(&w, &in);

	/* Every open file closes: no lease may outlive them. */
	for (int i = 0; i < NFILES; i++)
		lt_close(w.t, w.files[i].ino, w.files[i].fh, NULL);
	lt_get_stats(w.t, &st);
	FUZZ_CHECK(st.active_leases == 0,
		   "%" G_GUINT64_FORMAT " leases after every close", st.active_leases);
	lt_foreach_user(w.t, count_user, &users);
	FUZZ_CHECK(users == 0, "%u uids charged after every close", users);
	lt_destroy(w.t, NULL);
	return 0;
}
