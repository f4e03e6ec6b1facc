// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * layout.c - the glue between FUSE requests and the lease table.
 *
 * The lease table (lease.c) decides; this file turns requests into its
 * questions and carries out its answers:
 *
 *   - layout_change(): a size change, O_TRUNC, fallocate or
 *     copy_file_range asks lt_break().  It goes ahead at once (the
 *     change's own make and reply functions), is refused, or
 *     waits as a struct parked: a copy of the change and its request, and
 *     nothing else.  No thread waits for it.
 *   - every lease table call returns its effects (struct lt_effects); the
 *     caller carries them out once it holds no lock: it signals the holders
 *     (notify.c), writes the log lines (leaselog.c), re-arms the break
 *     timer (breaktimer.c) and, after its own reply, runs the changes the
 *     call resumed (parked_resume), each checked again from the start.  A
 *     release (an unlock or unpin ioctl, a close) runs them on the worker
 *     that served it; a timeout, revoke or pin recheck on the event thread
 *     (events.c); an interrupt hands them to the event thread, since
 *     libfuse calls it with the request's lock held.
 *   - layout_ioctl() hands the PINFS_IOC_* ABI of lib/pinfs_abi.h to abi.c
 *     and replies; layout_poll() and layout_release() are the holder's
 *     poll() and close().
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "abi.h"
#include "breaktimer.h"
#include "cluster.h"
#include "clock.h"
#include "control.h"
#include "daemon.h"
#include "dma.h"
#include "events.h"
#include "leaselog.h"
#include "notify.h"
#include "passthrough.h"
#include "pinfs_abi.h"
#include "proc.h"
#include "wbguard.h"
#include "window.h"

struct layout {
	struct pinfs *fs;
	struct lease_table *t; /* NULL with leases=off */
	/* The event thread: the break_time timer, the pin poll, the control
	 * socket, and what interrupts hand over, run there. */
	struct events *ev;
	struct break_timer *timer; /* NULL with leases=off */
	struct dma *dma;	   /* the pinfs_dma module's view; NULL with leases=off */
	struct wbguard *guard;	   /* write-back guards; NULL with leases=off */
	struct control *ctl;	   /* NULL: no control channel */
	struct notify *notify;
};

/*
 * A layout change waiting for the lease table: a copy of the caller's
 * change (size bytes of it, the struct layout_change first) and its
 * request.  lock is held by the worker thread that parked it from
 * lt_break() until the interrupt callback is registered, so that whoever
 * runs the resumed change (parked_resume) cannot reply (and free req)
 * before that.  waiter_id is set once, before lock is dropped.
 *
 * Lock order (a lock is only taken while holding those to its left):
 *
 *   inode->layout_lock -> p->lock -> libfuse's request lock -> table lock
 *
 * layout_change takes layout_lock, then p->lock, then calls lt_break
 * (table lock) and registers on_interrupt (request lock).  libfuse calls
 * on_interrupt with the request lock held, and it calls lt_cancel (table
 * lock).  A grant (layout_ioctl) takes layout_lock for writing around
 * lt_setlease.  The table returns with its lock dropped, and effects are
 * carried out holding none of these (notify.c's lock is taken alone), so
 * parked_resume, which takes p->lock, the request lock and layout_lock,
 * always runs holding nothing.
 */
struct parked {
	uint32_t kind; /* 0: never cluster.c's tag (cluster_is_remote) */
	fuse_req_t req;
	struct layout *l;
	GMutex lock;
	atomic_uint_least64_t waiter_id;
	atomic_bool on_cluster; /* parked on other nodes (cluster.c), not the table */
	size_t size;
	max_align_t change[]; /* struct layout_change and what follows it */
};

static struct layout_change *parked_change(struct parked *p)
{
	return (struct layout_change *)p->change;
}

static uint64_t now_ns(void *arg)
{
	(void)arg;
	return clock_mono_ns();
}

static uint64_t fh_of(struct pinfs_file *pf)
{
	return (uint64_t)(uintptr_t)pf;
}

static uint64_t ino_of(struct pinfs_inode *inode)
{
	return (uint64_t)(uintptr_t)inode;
}

/* ---- carrying out what the lease table did ---- */

/* Tell the world, holding no lock: holders first (each wakes and sends
 * its release at once), then the log, then the timer. */
static void effects_announce(struct layout *l, struct lt_effects *fx)
{
	notify_holders(l->notify, fx->notify);
	leaselog_write(fx->log);
	/* Every change of a lease logs: pinfsctl on the other nodes shows it. */
	for (guint i = 0; l->fs->cluster && fx->log && i < fx->log->len; i++) {
		struct lt_log *e = &g_array_index(fx->log, struct lt_log, i);

		if (e->lease_id)
			cluster_note(l->fs->cluster,
				     (struct pinfs_inode *)(uintptr_t)e->ino);
	}
	if (fx->deadline_changed && l->timer)
		break_timer_deadline_changed(l->timer, fx->next_deadline);
}

static void parked_resume(struct parked *p, int err);
static bool may_be_mapped(fuse_req_t req, const struct layout_change *c);

/*
 * Run the changes fx resumed, in the order the table resumed them.  The
 * caller has replied to its own request and holds no lock.  One release
 * may resume many changes (every waiter of a file): each is one system
 * call or so on the backing file, and while this thread is busy libfuse
 * starts another for new requests, so nothing waits behind them but each
 * other.
 */
static void effects_resume(struct lt_effects *fx)
{
	for (guint i = 0; fx->resumed && i < fx->resumed->len; i++) {
		struct lt_resumed *r = &g_array_index(fx->resumed, struct lt_resumed, i);

		/* The table also parks waiters for other nodes' changes. */
		if (cluster_is_remote(r->waiter_data))
			cluster_remote_resumed(r->waiter_data, r->err);
		else
			parked_resume(r->waiter_data, r->err);
	}
}

/* Both, for a caller that has replied (or has nothing to reply). */
void layout_effects_run(struct layout *l, struct lt_effects *fx)
{
	effects_announce(l, fx);
	effects_resume(fx);
}

/* Effects handed to the event thread. */
struct handoff {
	struct layout *l;
	struct lt_effects fx;
};

static gboolean run_handoff(gpointer data)
{
	struct handoff *h = data;

	layout_effects_run(h->l, &h->fx);
	lt_effects_clear(&h->fx);
	g_free(h);
	return G_SOURCE_REMOVE;
}

/* Hand fx (emptied here) to the event thread, for a caller that holds
 * locks it cannot drop first. */
static void effects_hand_off(struct layout *l, struct lt_effects *fx)
{
	struct handoff *h;

	if (!fx->notify && !fx->resumed && !fx->log && !fx->deadline_changed)
		return;
	h = g_new(struct handoff, 1);
	h->l = l;
	h->fx = *fx;
	*fx = (struct lt_effects)LT_EFFECTS_INIT;
	events_defer(l->ev, run_handoff, h);
}

/* On the event thread: a timeout, a revoke or a pin recheck. */
static void effects_on_event_thread(void *arg, struct lt_effects *fx)
{
	layout_effects_run(arg, fx);
}

/* ---- layout changes ---- */

/* Interrupt callback, called by libfuse with the request's lock held. */
static void on_interrupt(fuse_req_t req, void *data)
{
	struct parked *p = data;
	struct lt_effects fx = LT_EFFECTS_INIT;
	uint64_t id = atomic_load(&p->waiter_id);

	(void)req;
	if (atomic_load(&p->on_cluster)) {
		cluster_change_cancel(p->l->fs->cluster, parked_change(p)->cc, EINTR);
		return;
	}
	if (!id)
		return;
	lt_cancel(p->l->t, id, EINTR, &fx);
	effects_hand_off(p->l, &fx);
}

static struct parked *parked_new(fuse_req_t req, struct layout *l,
				 const struct layout_change *c, size_t size)
{
	struct parked *p = g_malloc0(sizeof(*p) + size);

	p->req = req;
	p->l = l;
	p->size = size;
	memcpy(p->change, c, size);
	g_mutex_init(&p->lock);
	return p;
}

static void parked_free(struct parked *p)
{
	g_mutex_clear(&p->lock);
	g_free(p);
}

/*
 * A parked change the table let go (err 0) or failed.  Holding no lock:
 * on the worker whose request resumed it, or on the event thread.
 */
static void parked_resume(struct parked *p, int err)
{
	/* Wait for the worker that parked it to let go; then no interrupt
	 * callback can run any more once this returns. */
	g_mutex_lock(&p->lock);
	g_mutex_unlock(&p->lock);
	fuse_req_interrupt_func(p->req, NULL, NULL);

	if (err) {
		fuse_reply_err(p->req, err);
		if (parked_change(p)->cc)
			cluster_change_done(p->l->fs->cluster, parked_change(p)->cc);
	} else
		/* From the start, under the layout lock: a lease granted since
		 * the table let it go would otherwise not stop it.  Usually it
		 * goes ahead at once; it may also park again. */
		layout_change(p->req, parked_change(p), p->size);
	parked_free(p);
}

/* cluster.c decided a change parked on other nodes: on the event thread,
 * since it may call this from anywhere. */
static void on_cluster_resume(void *arg, int err)
{
	struct parked *p = arg;
	struct lt_effects fx = LT_EFFECTS_INIT;
	struct lt_resumed r = {p, err};

	fx.resumed = g_array_new(FALSE, FALSE, sizeof(struct lt_resumed));
	g_array_append_val(fx.resumed, r);
	effects_hand_off(p->l, &fx);
}

/*
 * On a cluster mount, a change is checked against the other nodes first
 * (cluster_change_begin): false to go on with the local check (c->cc is
 * then set, and withdrawn once the change is made or fails), or true when
 * the change was taken over: parked without a thread until the other
 * nodes answer, or failed.
 */
/* cluster.c: the other nodes have dropped their cached pages of the file
 * made (or gave up on them): the change's outcome is the reply. */
static void on_cluster_made(void *arg, int err)
{
	struct parked *p = arg;
	struct layout_change *c = parked_change(p);

	(void)err;
	c->reply(p->req, c);
	cluster_change_done(p->l->fs->cluster, c->cc);
	parked_free(p);
}

/*
 * A change checked against the other nodes is made: reply once every node
 * that held leases on the file has dropped its cached pages (so that its
 * readers see the change as soon as the caller returns), then withdraw the
 * intent.  No lock held; no thread waits.
 */
static void cluster_reply(fuse_req_t req, struct layout_change *c, size_t size)
{
	struct pinfs *fs = pinfs_data(req);
	struct parked *p;

	if (!c->err) {
		p = parked_new(req, fs->layout, c, size);
		if (cluster_change_made(fs->cluster, c->cc, on_cluster_made, p) == 1)
			return; /* on_cluster_made replies */
		parked_free(p);
	}
	c->reply(req, c);
	cluster_change_done(fs->cluster, c->cc);
}

static bool cluster_check(fuse_req_t req, struct layout_change *c, size_t size)
{
	struct pinfs *fs = pinfs_data(req);
	uint64_t off = c->off;
	struct parked *p;
	struct stat st;
	int ret;

	if (c->resize) {
		if (fstatat(c->inode->fd, "", &st, AT_EMPTY_PATH) < 0)
			return false; /* the change itself will report it */
		if ((uint64_t)st.st_size == off)
			return false; /* the size stays: nothing to break */
		if ((uint64_t)st.st_size < off)
			off = (uint64_t)st.st_size;
	}
	p = parked_new(req, fs->layout, c, size);
	g_mutex_lock(&p->lock);
	ret = cluster_change_begin(fs->cluster, c->inode, off, c->len, c->nonblock,
				   on_cluster_resume, p, &parked_change(p)->cc);
	if (ret == 1) {
		atomic_store(&p->on_cluster, true);
		fuse_req_interrupt_func(req, on_interrupt, p);
		g_mutex_unlock(&p->lock);
		return true;
	}
	c->cc = parked_change(p)->cc;
	g_mutex_unlock(&p->lock);
	parked_free(p);
	if (ret < 0) {
		cluster_change_done(fs->cluster, c->cc);
		c->cc = NULL;
		fuse_reply_err(req, -ret);
		return true;
	}
	return false;
}

void layout_change(fuse_req_t req, struct layout_change *c, size_t size)
{
	struct pinfs *fs = pinfs_data(req);
	struct layout *l = fs->layout;
	struct pinfs_inode *inode = c->inode;
	struct lt_effects fx = LT_EFFECTS_INIT;
	uint64_t off = c->off, id = 0;
	bool watched, mapped, parked = false;
	struct parked *p;
	struct stat st;
	int ret;

	if (!fs->leases)
		goto apply_unlocked;
	if (fs->cluster && !c->cc && S_ISREG(inode->type) && cluster_check(req, c, size))
		return;
	/* Held until the change is made, so that no lease is granted between
	 * this check and the change itself.  The change replies first, and
	 * after a reply the kernel may forget the inode: hold it until then. */
	inode_hold(fs, inode);
	pthread_rwlock_rdlock(&inode->layout_lock);

	/*
	 * With the module, any file may have pages a device pinned (even
	 * after the mapping is gone: a registration outlives munmap), so
	 * every change asks it.  Without it, a file with no lease, pin or
	 * waiter has nothing to wait for, unless it may be mapped: then the
	 * change needs the module's answer (see below).
	 */
	watched = dma_watched(l->dma);
	mapped = !watched && may_be_mapped(req, c);
	if (mapped && dma_recheck(l->dma)) {
		watched = true; /* it came without /dev telling us */
		mapped = false;
	}
	if (!watched && !(mapped && fs->cfg.dma_require) &&
	    !atomic_load_explicit(&inode->lease_active, memory_order_relaxed))
		goto apply;
	if (c->resize) {
		if (fstatat(inode->fd, "", &st, AT_EMPTY_PATH) < 0)
			goto apply; /* the change itself will report it */
		if ((uint64_t)st.st_size == off) {
			/* The size stays (e.g. O_TRUNC of an empty file): no
			 * break, and nothing to cut. */
			c->size_stays = true;
			goto apply;
		}
		if ((uint64_t)st.st_size < off)
			off = (uint64_t)st.st_size; /* growing: from the old end */
	}

	/* With dma_module=require, a file that may be mapped is not changed
	 * while the module that would see its pins is absent. */
	if (mapped && fs->cfg.dma_require) {
		dma_note_refusal(l->dma, c->name);
		pthread_rwlock_unlock(&inode->layout_lock);
		inode_forget(fs, inode, 1);
		fuse_reply_err(req, ENOPKG);
		goto done;
	}

	p = parked_new(req, l, c, size);
	g_mutex_lock(&p->lock);
	ret = lt_break(fs->leases, ino_of(inode), c->pf ? fh_of(c->pf) : 0,
		       proc_tid_to_tgid(fuse_req_ctx(req)->pid), off, c->len, c->nonblock,
		       p, &id, &fx);
	if (ret == 0) {
		g_mutex_unlock(&p->lock);
		parked_free(p);
		goto apply;
	}
	pthread_rwlock_unlock(&inode->layout_lock);
	inode_forget(fs, inode, 1); /* the request still holds it */
	if (ret == LT_PARKED) {
		atomic_store(&p->waiter_id, id);
		/* Pages a device pinned must stay writable back after their
		 * holder's death: an open file of our own (wbguard.c). */
		wbguard_take(l->guard, inode, false);
		fuse_req_interrupt_func(req, on_interrupt, p);
		g_mutex_unlock(&p->lock);
		parked = true;
		goto out; /* the parked copy carries c->cc */
	}
	g_mutex_unlock(&p->lock);
	parked_free(p);
	fuse_reply_err(req, -ret); /* a refusal may still start a break (rule 9) */
	goto done;

apply:
	/* Staging windows of the range reach the file first, even those of a
	 * lease revoked after break_time. */
	if (!c->size_stays)
		window_before_change(fs, inode, c->off, c->len);
	c->make(req, c);
	if (c->cc) {
		pthread_rwlock_unlock(&inode->layout_lock);
		inode_forget(fs, inode, 1); /* the request still holds it */
		cluster_reply(req, c, size);
		goto out;
	}
	c->reply(req, c); /* req is gone now */
	pthread_rwlock_unlock(&inode->layout_lock);
	inode_forget(fs, inode, 1);
done:
	if (c->cc)
		cluster_change_done(fs->cluster, c->cc);
out:
	layout_effects_run(l, &fx);
	lt_effects_clear(&fx);
	/* After the holders are told: this may wake the event thread. */
	if (parked)
		dma_start_poll(l->dma);
	return;

apply_unlocked:
	window_before_change(fs, inode, c->off, c->len);
	c->make(req, c);
	c->reply(req, c);
}

/* ---- the holder's side: lease ioctls, poll, close ---- */

static int owner_ok(fuse_req_t req, struct pinfs_inode *inode)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat st;

	if (ctx->uid == 0)
		return 1;
	if (fstatat(inode->fd, "", &st, AT_EMPTY_PATH) < 0)
		return 0;
	return st.st_uid == ctx->uid;
}

/* Who is asking, for abi_ioctl's callbacks. */
struct ioctl_caller {
	fuse_req_t req;
	struct pinfs_inode *inode;
	struct pinfs_file *pf;
};

/*
 * The caller's process.  A thread id seen before on this open file maps
 * to the same process (a thread id is not reused while its thread lives,
 * and an open file outliving a thread is rare enough to pay a /proc read).
 */
static pid_t caller_pid(void *arg)
{
	struct ioctl_caller *c = arg;
	pid_t tid = fuse_req_ctx(c->req)->pid, tgid;
	uint64_t last;

	if (!c->pf)
		return proc_tid_to_tgid(tid);
	last = atomic_load_explicit(&c->pf->last_tid_tgid, memory_order_relaxed);
	if (last && (pid_t)(last >> 32) == tid)
		return (pid_t)(uint32_t)last;
	tgid = proc_tid_to_tgid(tid);
	atomic_store_explicit(&c->pf->last_tid_tgid,
			      ((uint64_t)(uint32_t)tid << 32) | (uint32_t)tgid,
			      memory_order_relaxed);
	return tgid;
}

static bool caller_owner_ok(void *arg)
{
	struct ioctl_caller *c = arg;

	return owner_ok(c->req, c->inode);
}

static void caller_in_table(void *arg)
{
	struct ioctl_caller *c = arg;

	atomic_store(&c->pf->in_table, true);
}

/*
 * On a cluster mount, may this PINFS_IOC_SETLEASE take a lease?  A positive
 * errno (cluster_grant) or 0; a malformed request is left to abi.c.
 */
static int cluster_grant_check(struct pinfs *fs, struct pinfs_inode *inode,
			       struct pinfs_file *pf, const void *in_buf, size_t in_bufsz)
{
	struct pinfs_lease req;

	if (!fs->cluster || !pf || !S_ISREG(inode->type) || in_bufsz < sizeof(req))
		return 0;
	memcpy(&req, in_buf, sizeof(req));
	if (req.type != PINFS_LEASE_READ && req.type != PINFS_LEASE_WRITE)
		return 0;
	return -cluster_grant(fs->cluster, inode, req.offset,
			      req.length == PINFS_LEN_EOF ? LT_LEN_EOF : req.length);
}

/* One PINFS_IOC_* request: abi.c decodes and performs it; we reply. */
void layout_ioctl(fuse_req_t req, struct pinfs_inode *inode, struct pinfs_file *pf,
		  unsigned int cmd, const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	struct pinfs *fs = pinfs_data(req);
	struct lt_effects fx = LT_EFFECTS_INIT;
	struct ioctl_caller caller = {.req = req, .inode = inode, .pf = pf};
	struct abi_file f = {
	    .t = fs->leases,
	    .regular = pf && S_ISREG(inode->type),
	    .ino = ino_of(inode),
	    .fh = pf ? fh_of(pf) : 0,
	    .uid = fuse_req_ctx(req)->uid, /* charged for quotas */
	    .pid = caller_pid,
	    .owner_ok = caller_owner_ok,
	    .in_table = caller_in_table,
	    .arg = &caller,
	    .fx = &fx,
	};
	union abi_buf u;
	size_t out_size;
	int err;

	if (window_is_ioctl(cmd)) {
		window_ioctl(req, inode, pf, pf ? caller_pid(&caller) : 0, cmd, in_buf,
			     in_bufsz, out_bufsz);
		return;
	}
	/* A grant waits for layout changes that passed their check and are
	 * still being made (layout_change); see struct pinfs_inode. */
	if (cmd == PINFS_IOC_SETLEASE) {
		if (pf && fs->leases)
			atomic_store(&pf->in_table, true); /* release cleans up */
		pthread_rwlock_wrlock(&inode->layout_lock);
		err = cluster_grant_check(fs, inode, pf, in_buf, in_bufsz);
		if (!err)
			err = abi_ioctl(&f, cmd, in_buf, in_bufsz, out_bufsz, &u,
					&out_size);
		pthread_rwlock_unlock(&inode->layout_lock);
	} else {
		err = abi_ioctl(&f, cmd, in_buf, in_bufsz, out_bufsz, &u, &out_size);
	}
	effects_announce(fs->layout, &fx);
	/* A released lease's windows are written back before the changes
	 * it lets go run (effects_resume). */
	if (!err && cmd == PINFS_IOC_SETLEASE && pf && u.l.type == PINFS_LEASE_UNLOCK)
		window_lease_ended(fs, inode, fh_of(pf));
	if (!err && cmd == PINFS_IOC_VERSION && window_enabled(fs->windows))
		u.v.features |= PINFS_FEAT_WINDOW;
	/* A holder that may map the file shared and writable, and pin it: its
	 * pages stay writable back should it die before its device lets them
	 * go (wbguard.c): opened soon after by a thread of its own. */
	if (!err && cmd == PINFS_IOC_SETLEASE && pf && u.l.type != PINFS_LEASE_UNLOCK &&
	    (pf->flags & O_ACCMODE) == O_RDWR)
		wbguard_take(fs->layout->guard, inode, true);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_ioctl(req, 0, out_size ? &u : NULL, out_size);
	/* A release or unpin may have let parked changes go: this worker
	 * makes them itself, after its reply. */
	effects_resume(&fx);
	lt_effects_clear(&fx);
}

/* poll(): a regular file is always readable and writable; POLLPRI says
 * this open file's lease is breaking (rule 8). */
void layout_poll(fuse_req_t req, struct pinfs_file *pf, struct fuse_pollhandle *ph)
{
	struct pinfs *fs = pinfs_data(req);
	unsigned revents = POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;

	if (!fs->leases) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		goto out;
	}
	if (ph) {
		atomic_store(&pf->in_table, true);
		notify_poll_add(fs->layout->notify, fh_of(pf), ph);
	}
	if (atomic_load(&pf->in_table)) {
		struct lt_status st;

		lt_getlease(fs->leases, ino_of(pf->inode), fh_of(pf), &st);
		if (st.state == LT_BREAKING)
			revents |= POLLPRI;
	}
out:
	fuse_reply_poll(req, revents);
}

/* Must an open keep the file's cached pages?  Yes while pages may be
 * pinned for DMA: the file has a lease, pin or waiter, or the pinfs_dma
 * module is there to pin pages nobody registered. */
bool layout_keep_cache(struct pinfs *fs, struct pinfs_inode *inode)
{
	if (!fs->leases)
		return false;
	return dma_watched(fs->layout->dma) ||
	       atomic_load_explicit(&inode->lease_active, memory_order_relaxed);
}

void layout_release(struct pinfs *fs, struct pinfs_file *pf)
{
	struct lt_effects fx = LT_EFFECTS_INIT;

	/* What the holder's windows hold reaches the file, holder dead or
	 * not, before the changes its close lets go. */
	window_file_closed(fs, pf);
	if (!fs->leases || !atomic_load(&pf->in_table))
		return;
	notify_poll_remove(fs->layout->notify, fh_of(pf));
	lt_close(fs->leases, ino_of(pf->inode), fh_of(pf), &fx);
	/* Changes the close lets go run here, before the release's reply,
	 * which nobody waits for (the kernel sends release in the background). */
	layout_effects_run(fs->layout, &fx);
	lt_effects_clear(&fx);
}

/* ---- open files that may be mapped shared ---- */

/*
 * May a device be writing into this file's pages?  Only through a shared
 * writable mapping, and FUSE does not tell the daemon of mappings; but a
 * mapping holds its open file, whose release the daemon hears of only once
 * the last descriptor and mapping of it are gone, and a shared writable
 * mapping needs a file opened O_RDWR.  So: does the file have an O_RDWR
 * open file?  Not counting those a change comes through, nor (for a
 * change without one, i.e. open(O_RDWR | O_TRUNC)) the latest O_RDWR open
 * if the changing thread made it: a process's own pins are its own
 * business, as with leases (rule 7).
 */
static bool may_be_mapped(fuse_req_t req, const struct layout_change *c)
{
	unsigned n = atomic_load_explicit(&c->inode->rw_opens, memory_order_relaxed);

	if (n == 0)
		return false;
	if (c->pf && (c->pf->flags & O_ACCMODE) == O_RDWR)
		n--;
	if (c->pf_src && c->pf_src != c->pf && c->pf_src->inode == c->inode &&
	    (c->pf_src->flags & O_ACCMODE) == O_RDWR)
		n--;
	if (!c->pf && n &&
	    atomic_load_explicit(&c->inode->rw_open_tid, memory_order_relaxed) ==
		fuse_req_ctx(req)->pid)
		n--;
	return n > 0;
}

void layout_note_open(struct pinfs_inode *inode, int flags, pid_t tid)
{
	if ((flags & O_ACCMODE) != O_RDWR)
		return;
	atomic_fetch_add_explicit(&inode->rw_opens, 1, memory_order_relaxed);
	atomic_store_explicit(&inode->rw_open_tid, tid, memory_order_relaxed);
}

void layout_note_release(struct pinfs_inode *inode, int flags)
{
	if ((flags & O_ACCMODE) == O_RDWR)
		atomic_fetch_sub_explicit(&inode->rw_opens, 1, memory_order_relaxed);
}

struct dma *layout_dma(struct layout *l)
{
	return l->dma;
}

/* ---- the table's hooks ---- */

/* Called with the table lock held: only store the flag. */
static void on_file_active(void *arg, uint64_t ino, bool active)
{
	struct pinfs_inode *inode = (struct pinfs_inode *)(uintptr_t)ino;

	(void)arg;
	atomic_store_explicit(&inode->lease_active, active, memory_order_relaxed);
}

/* Rule 11 for pins nobody registered: ask the pinfs_dma module, about the
 * backing file's pages too where mappings of the file may be the backing
 * file's (passthrough.c).  With dma_module=require, a file that may be
 * mapped waits while it cannot be asked. */
static uint64_t on_unregistered_pins(void *arg, uint64_t ino, uint64_t off, uint64_t len)
{
	struct layout *l = arg;
	struct pinfs_inode *inode = (struct pinfs_inode *)(uintptr_t)ino;
	bool must_know = l->fs->cfg.dma_require &&
			 atomic_load_explicit(&inode->rw_opens, memory_order_relaxed);

	int backing_fd = passthrough_maps_backing(l->fs, inode) ? inode->fd : -1;

	return dma_pinned_bytes(l->dma, inode->ino, backing_fd, off, len, must_know);
}

/* ---- start and stop ---- */

struct layout *layout_new(struct pinfs *fs, GError **error)
{
	struct layout *l = g_new0(struct layout, 1);
	struct lt_config cfg = {
	    .break_time_ns = (uint64_t)fs->cfg.break_time * 1000000000u,
	    .pinned_fail = fs->cfg.pinned_fail,
	    .max_leases_per_user = fs->cfg.user_leases,
	    .max_pins_per_user = fs->cfg.user_pins,
	};
	struct lt_clock clock = {.now_ns = now_ns};
	struct lt_hooks hooks = {
	    .file_active = on_file_active,
	    .unregistered_pins = on_unregistered_pins,
	    .arg = l,
	};

	l->fs = fs;
	if (fs->cfg.leases_on)
		l->dma = dma_new(fs->cfg.mountpoint, fs->cfg.dma_require);
	l->ev = events_new();
	l->notify = notify_new();
	if (fs->cfg.leases_on) {
		l->t = lt_new(&cfg, &clock, &hooks);
		l->timer = break_timer_new(events_context(l->ev), l->t,
					   effects_on_event_thread, l);
		dma_watch(l->dma, l->t, events_context(l->ev), effects_on_event_thread,
			  l);
		l->guard = wbguard_new(fs, l->dma, events_context(l->ev));
	}
	fs->leases = l->t;
	fs->layout = l;
	if (!events_start(l->ev, error)) {
		layout_free(l);
		fs->leases = NULL;
		fs->layout = NULL;
		return NULL;
	}
	return l;
}

void layout_start_control(struct layout *l)
{
	if (l->t)
		l->ctl = control_start(l->fs, events_context(l->ev), l->t,
				       effects_on_event_thread, l);
}

/*
 * Unmount: stop the event thread and the control channel, then fail every
 * parked change with EIO (lt_destroy) and deliver those replies here.
 */
void layout_free(struct layout *l)
{
	struct lt_effects fx = LT_EFFECTS_INIT;

	/* Changes parked on other nodes fail with EIO (on the event thread,
	 * or in events_drain); no remote break starts any more. */
	cluster_stop(l->fs->cluster);
	events_stop(l->ev);
	if (l->ctl)
		control_stop(l->ctl);
	if (l->timer)
		break_timer_stop(l->timer);
	if (l->dma)
		dma_stop(l->dma);
	wbguard_free(l->guard);
	if (l->t)
		lt_destroy(l->t, &fx);
	layout_effects_run(l, &fx);
	lt_effects_clear(&fx);
	if (l->dma)
		dma_close(l->dma);
	events_drain(l->ev);
	if (l->timer)
		break_timer_free(l->timer);
	notify_free(l->notify);
	events_free(l->ev);
	g_free(l);
}
