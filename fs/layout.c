// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * layout.c - the glue between FUSE requests and the lease table.
 *
 * The lease table (lease.c) decides; this file turns requests into its
 * questions and its answers into replies:
 *
 *   - layout_check(): a size change, O_TRUNC, fallocate or copy_file_range
 *     asks lt_break().  A change that must wait becomes a struct parked: the
 *     request, what to do once it may go ahead, and nothing else.  No thread
 *     waits for it.
 *   - lt_ops.resume: a change resumed by a release (an unlock or unpin
 *     ioctl, a close) is performed by the worker thread that served the
 *     release, after its reply (struct resumed); one resumed any other way
 *     (break_time timer, control channel, interrupt, unmount) by the event
 *     thread, a GLib main loop that also runs the timer and the control
 *     socket.  Either way it is checked again under the layout lock first.
 *   - lt_ops.notify signals the holder (SIGIO, or its F_SETSIG signal with
 *     si_fd) and wakes its poll() with POLLPRI, from the breaking worker
 *     once it has dropped its locks (struct later).
 *   - layout_ioctl() hands the PINFS_IOC_* ABI of lib/pinfs_abi.h to abi.c
 *     and replies.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "cluster.h"
#include "breaktimer.h"
#include "clock.h"
#include "control.h"
#include "daemon.h"
#include "dma.h"
#include "events.h"
#include "pinfs_abi.h"
#include "proc.h"
#include "window.h"

struct layout {
	struct pinfs *fs;
	struct lease_table *t;

	/* The event thread: the break_time timer, the pin poll, the control
	 * socket and changes resumed other than by a release run there. */
	struct events *ev;
	struct break_timer *timer; /* NULL with leases=off */
	struct dma *dma;	   /* NULL: no pinfs_dma module, no pin queries */
	struct ctl_server *ctl;

	/* poll_lock protects polls: fh -> the fuse_pollhandle of the last
	 * poll() that wants to hear of a break on that open file. */
	GMutex poll_lock;
	GHashTable *polls;
};

/*
 * A layout change waiting for the lease table.  lock is held by the worker
 * thread that parked it from lt_break() until the interrupt callback is
 * registered, so that whoever runs the resumed change (run_parked) cannot
 * reply (and free req) before that.  err and next are written by on_resume,
 * once, after which the lease table never hands p out again.
 *
 * Lock order (a lock is only taken while holding those to its left):
 *
 *   inode->layout_lock -> p->lock -> libfuse's request lock -> table lock
 *                                 -> l->poll_lock
 *
 * layout_check takes layout_lock, then p->lock, then calls lt_break (table
 * lock) and registers on_interrupt (request lock); notifications take
 * poll_lock once all of those are dropped (under layout_lock and p->lock
 * only if struct later overflows).  libfuse calls on_interrupt with the
 * request lock held, and it calls lt_cancel (table lock).  A grant
 * (layout_ioctl) takes layout_lock for writing around lt_setlease.  The
 * table calls on_resume with no table lock, but possibly under any of the
 * others (lt_break under layout_lock and p->lock, lt_cancel under the
 * request lock, a release under layout_lock): so on_resume only queues,
 * and run_parked, which takes p->lock, the request lock and layout_lock,
 * always runs holding nothing.
 */
struct parked {
	struct layout_change c;
	fuse_req_t req;
	struct layout *l;
	GMutex lock;
	atomic_uint_least64_t waiter_id;
	atomic_bool on_cluster; /* parked on other nodes (cluster.c), not the table */
	int err;
	struct parked *next; /* on a struct resumed */
};

/*
 * Where on_resume puts the changes it resumes.  A worker serving a request
 * that can let parked changes go (a lease release or unpin ioctl, a FUSE
 * release) points resumed_here at its own list for the length of its lease
 * table call; once it has replied and holds no lock it runs them itself
 * (run_resumed), with no hand-off to another thread.  NULL anywhere else:
 * then on_resume hands the change to the event thread (timer, control
 * channel, interrupts, lt_break's own pin checks, unmount).
 */
struct resumed {
	struct parked *head, **tail;
};

static __thread struct resumed *resumed_here;

/*
 * What lt_break asks of us that can wait until layout_check has let go of
 * its locks: notifying the holders, and log lines.  A holder we signal
 * wakes at once and sends its release, which takes the layout lock for
 * writing and then p->lock to run the resumed change: signalled while we
 * still held them, it would only wait for us (and, on two CPUs, take the
 * CPU we need to finish).  A log line (a write to stderr, ~5 us) should not
 * delay the signal either.  layout_check points later_here at its own
 * struct later around lt_break and, once its locks are dropped, sends the
 * notifications and then writes the log lines (later_notify_all,
 * later_log_all), each in the table's order.  Past LATER_MAX of either (a
 * break of many holders) the queue is emptied on the spot, under the locks.
 */
#define LATER_MAX 8

struct later {
	struct layout *l;
	unsigned nnotify, nlog;
	struct lt_notify notify[LATER_MAX];
	struct {
		char *event, *detail;
		uint64_t lease_id, ino;
		pid_t pid;
	} log[LATER_MAX];
};

static __thread struct later *later_here;

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

/* ---- lease table callbacks ---- */

static void notify_poll(struct layout *l, uint64_t fh)
{
	struct fuse_pollhandle *ph;

	g_mutex_lock(&l->poll_lock);
	ph = g_hash_table_lookup(l->polls, &fh);
	if (ph)
		fuse_lowlevel_notify_poll(ph);
	g_mutex_unlock(&l->poll_lock);
}

/* Rule 8: tell the holder.  F_SETSIG's signal carries si_fd, as the
 * kernel's lease break does; si_code is SI_QUEUE, since only the kernel may
 * send POLL_MSG to another process. */
static void notify_holder(struct layout *l, const struct lt_notify *n)
{
	if (!proc_may_signal(n->pid, n->uid)) {
		g_message("lease %" PRIu64
			  ": holder pid %d is gone or not uid %u: not signalled",
			  n->lease_id, (int)n->pid, (unsigned)n->uid);
	} else if (n->signal == 0) {
		kill(n->pid, SIGIO);
	} else {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		si.si_signo = n->signal;
		si.si_code = SI_QUEUE;
		si.si_band = POLLIN | POLLRDNORM | POLLMSG;
		si.si_fd = n->fd;
		if (syscall(SYS_rt_sigqueueinfo, n->pid, n->signal, &si) < 0)
			g_message("cannot signal lease holder %d: %s", (int)n->pid,
				  g_strerror(errno));
	}
	notify_poll(l, n->fh);
}

static void later_notify_all(struct later *lt)
{
	for (unsigned i = 0; i < lt->nnotify; i++)
		notify_holder(lt->l, &lt->notify[i]);
	lt->nnotify = 0;
}

/* Called by the table without its lock: see struct later. */
static void on_notify(void *ctx, const struct lt_notify *n)
{
	struct later *lt = later_here;

	if (!lt || lt->l != ctx) {
		notify_holder(ctx, n);
		return;
	}
	if (lt->nnotify == LATER_MAX)
		later_notify_all(lt);
	lt->notify[lt->nnotify++] = *n;
}

/*
 * Perform a resumed change, or fail it.  Runs holding no lock: in the
 * worker whose request resumed it (run_resumed) or on the event thread.
 */
static gboolean run_parked(gpointer data)
{
	struct parked *p = data;
	struct layout_change *c = &p->c;
	struct pinfs *fs = p->l->fs;

	/* Wait for the worker that parked it to let go; then no interrupt
	 * callback can run any more once this returns. */
	g_mutex_lock(&p->lock);
	g_mutex_unlock(&p->lock);
	fuse_req_interrupt_func(p->req, NULL, NULL);

	if (p->err) {
		fuse_reply_err(p->req, p->err);
		if (fs->cluster)
			cluster_change_done(fs->cluster, c->cc);
		goto out;
	}
	/* Check again, under the layout lock: a lease granted since the
	 * table let this change go would otherwise not stop it.  Usually it
	 * goes ahead at once; it may also park again. */
	if (layout_check(p->req, c))
		goto out;
	switch (c->op) {
	case LAYOUT_SETATTR:
		ops_do_setattr(p->req, c->inode, &c->u.setattr.attr, c->u.setattr.valid,
			       c->pf);
		break;
	case LAYOUT_FALLOCATE:
		ops_do_fallocate(p->req, c->pf, c->u.falloc.mode, c->u.falloc.off,
				 c->u.falloc.len);
		break;
	case LAYOUT_COPY:
		ops_do_copy_file_range(p->req, c->u.copy.in, c->u.copy.off_in, c->pf,
				       c->u.copy.off_out, c->u.copy.len, c->u.copy.flags);
		break;
	}
	layout_done(fs, c);
out:
	g_mutex_clear(&p->lock);
	g_free(p);
	return G_SOURCE_REMOVE;
}

/* Called by the table without its lock, but maybe under others: queue only
 * (see struct parked). */
static void on_resume(void *ctx, void *waiter_data, int err)
{
	struct layout *l = ctx;
	struct parked *p = waiter_data;

	/* The table also parks waiters for other nodes' changes. */
	if (cluster_is_remote(waiter_data)) {
		cluster_remote_resumed(waiter_data, err);
		return;
	}
	p->err = err;
	if (resumed_here) {
		p->next = NULL;
		*resumed_here->tail = p;
		resumed_here->tail = &p->next;
		return;
	}
	events_invoke(l->ev, run_parked, p);
}

/* Collect what the lease table resumes from now until resumed_end(). */
static void resumed_begin(struct resumed *r)
{
	r->head = NULL;
	r->tail = &r->head;
	resumed_here = r;
}

static void resumed_end(void)
{
	resumed_here = NULL;
}

/*
 * Run the changes collected between resumed_begin() and resumed_end(), in
 * the order the table resumed them.  The caller has replied to its own
 * request and holds no lock.  One release may resume many changes (every
 * waiter of a file): each is one system call or so on the backing file,
 * and while this worker is busy libfuse starts another for new requests,
 * so nothing waits behind them but each other, as on the event thread.
 */
static void run_resumed(struct resumed *r)
{
	struct parked *p = r->head, *next;

	for (; p; p = next) {
		next = p->next; /* run_parked frees p */
		run_parked(p);
	}
	r->head = NULL;
	r->tail = &r->head;
}

static void on_deadline_changed(void *ctx)
{
	struct layout *l = ctx;

	break_timer_deadline_changed(l->timer);
}

/*
 * May a device be writing into this file's pages?  Only through a shared
 * writable mapping, and FUSE does not tell the daemon of mappings; but a
 * mapping holds its open file, whose release the daemon hears of only once
 * the last descriptor and mapping of it are gone, and a shared writable
 * mapping needs a file opened O_RDWR.  So: does the file have an O_RDWR
 * open file?  Not counting the one a change comes through, nor (for a
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
	if (c->op == LAYOUT_COPY && c->u.copy.in != c->pf &&
	    c->u.copy.in->inode == c->inode &&
	    (c->u.copy.in->flags & O_ACCMODE) == O_RDWR)
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

/* Rule 11 for pins nobody registered: ask the pinfs_dma module.  With
 * dma_module=require, a file that may be mapped waits while it cannot
 * be asked. */
static uint64_t on_unregistered_pins(void *ctx, uint64_t ino, uint64_t off, uint64_t len)
{
	struct layout *l = ctx;
	struct pinfs_inode *inode = (struct pinfs_inode *)(uintptr_t)ino;
	bool must_know = l->fs->cfg.dma_require &&
			 atomic_load_explicit(&inode->rw_opens, memory_order_relaxed);

	return dma_pinned_bytes(l->dma, inode->ino, off, len, must_know);
}

/* Grants and releases are INFO (shown with -d or G_MESSAGES_DEBUG);
 * breaks, revocations and refusals are MESSAGE. */
static void log_event(const char *event, uint64_t lease_id, uint64_t ino, pid_t pid,
		      const char *detail)
{
	GLogLevelFlags level = G_LOG_LEVEL_MESSAGE;
	char id[32], pidbuf[16];

	if (!strcmp(event, "grant") || !strcmp(event, "release"))
		level = G_LOG_LEVEL_INFO;
	/* Every lease take and release logs: do not format what is dropped. */
	if (g_log_writer_default_would_drop(level, "pinfs"))
		return;
	snprintf(id, sizeof(id), "%" PRIu64, lease_id);
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
	g_log_structured(
	    "pinfs", level, "PINFS_EVENT", event, "PINFS_LEASE", id, "PINFS_PID", pidbuf,
	    "MESSAGE", "lease %s: id %" PRIu64 " inode %#" PRIx64 " pid %d%s%s", event,
	    lease_id, ino, (int)pid, detail ? ": " : "", detail ? detail : "");
}

static void later_log_all(struct later *lt)
{
	for (unsigned i = 0; i < lt->nlog; i++) {
		log_event(lt->log[i].event, lt->log[i].lease_id, lt->log[i].ino,
			  lt->log[i].pid, lt->log[i].detail);
		g_free(lt->log[i].event);
		g_free(lt->log[i].detail);
	}
	lt->nlog = 0;
}

/* See struct later. */
static void on_log(void *ctx, const char *event, uint64_t lease_id, uint64_t ino,
		   pid_t pid, const char *detail)
{
	struct later *lt = later_here;
	struct layout *l = ctx;

	/* Every change of a lease logs: pinfsctl on the other nodes shows it. */
	if (l->fs->cluster && lease_id)
		cluster_note(l->fs->cluster, (struct pinfs_inode *)(uintptr_t)ino);

	if (!lt || lt->l != ctx) {
		log_event(event, lease_id, ino, pid, detail);
		return;
	}
	if (lt->nlog == LATER_MAX)
		later_log_all(lt);
	lt->log[lt->nlog].event = g_strdup(event);
	lt->log[lt->nlog].detail = g_strdup(detail);
	lt->log[lt->nlog].lease_id = lease_id;
	lt->log[lt->nlog].ino = ino;
	lt->log[lt->nlog].pid = pid;
	lt->nlog++;
}

static void on_file_active(void *ctx, uint64_t ino, bool active)
{
	struct pinfs_inode *inode = (struct pinfs_inode *)(uintptr_t)ino;

	(void)ctx;
	atomic_store_explicit(&inode->lease_active, active, memory_order_relaxed);
}

static const struct lt_ops layout_lt_ops = {
    .notify = on_notify,
    .resume = on_resume,
    .deadline_changed = on_deadline_changed,
    .log = on_log,
    .file_active = on_file_active,
    .unregistered_pins = on_unregistered_pins,
};

/* ---- requests ---- */

/* Interrupt callback, called by libfuse with the request's lock held. */
static void on_interrupt(fuse_req_t req, void *data)
{
	struct parked *p = data;
	uint64_t id = atomic_load(&p->waiter_id);

	(void)req;
	if (atomic_load(&p->on_cluster))
		cluster_change_cancel(p->l->fs->cluster, p->c.cc, EINTR);
	else if (id)
		lt_cancel(p->l->t, id, EINTR);
}

/* cluster.c decided a change parked on other nodes. */
static void on_cluster_resume(void *arg, int err)
{
	struct parked *p = arg;

	on_resume(p->l, p, err);
}

/*
 * On a cluster mount, a change is checked against the other nodes first
 * (cluster_change_begin): 0 to go on with the local check (c->cc is then
 * set, and withdrawn by layout_done), or 1 when the change was taken over:
 * parked without a thread until the other nodes answer, or failed.
 */
static int layout_cluster(fuse_req_t req, struct layout_change *c)
{
	struct pinfs *fs = pinfs_data(req);
	uint64_t off = c->off;
	struct parked *p;
	struct stat st;
	int ret;

	if (c->op == LAYOUT_SETATTR) {
		if (fstatat(c->inode->fd, "", &st, AT_EMPTY_PATH) < 0)
			return 0; /* the operation itself will report it */
		if ((uint64_t)st.st_size == off)
			return 0; /* the size stays: nothing to break */
		if ((uint64_t)st.st_size < off)
			off = (uint64_t)st.st_size;
	}
	p = g_new0(struct parked, 1);
	p->c = *c;
	p->req = req;
	p->l = fs->layout;
	g_mutex_init(&p->lock);
	g_mutex_lock(&p->lock);
	ret = cluster_change_begin(fs->cluster, c->inode, off, c->len, c->nonblock,
				   on_cluster_resume, p, &p->c.cc);
	if (ret == 1) {
		atomic_store(&p->on_cluster, true);
		fuse_req_interrupt_func(req, on_interrupt, p);
		g_mutex_unlock(&p->lock);
		return 1;
	}
	c->cc = p->c.cc;
	g_mutex_unlock(&p->lock);
	g_mutex_clear(&p->lock);
	g_free(p);
	if (ret < 0) {
		cluster_change_done(fs->cluster, c->cc);
		c->cc = NULL;
		fuse_reply_err(req, -ret);
		return 1;
	}
	return 0;
}

static bool check_leases(fuse_req_t req, struct layout_change *c)
{
	struct pinfs *fs = pinfs_data(req);
	struct later later, *prev_later;
	struct parked *p;
	uint64_t off = c->off, id = 0;
	bool watched, mapped;
	struct stat st;
	int ret;

	if (!fs->leases)
		return false;
	if (fs->cluster && !c->cc && S_ISREG(c->inode->type) && layout_cluster(req, c))
		return true;
	/* Held until layout_done() when the change goes ahead, so that no
	 * lease is granted between this check and the change itself.  The
	 * change replies before layout_done(), and after a reply the kernel
	 * may forget the inode: hold it until then. */
	inode_hold(fs, c->inode);
	pthread_rwlock_rdlock(&c->inode->layout_lock);

	/*
	 * With the module, any file may have pages a device pinned (even
	 * after the mapping is gone: a registration outlives munmap), so
	 * every change asks it.  Without it, a file with no lease, pin or
	 * waiter has nothing to wait for, unless it may be mapped: then the
	 * change needs the module's answer (see below).
	 */
	watched = dma_watched(fs->layout->dma);
	mapped = !watched && may_be_mapped(req, c);
	if (mapped && dma_recheck(fs->layout->dma)) {
		watched = true; /* it came without /dev telling us */
		mapped = false;
	}
	if (!watched && !(mapped && fs->cfg.dma_require) &&
	    !atomic_load_explicit(&c->inode->lease_active, memory_order_relaxed))
		return false;

	if (c->op == LAYOUT_SETATTR) {
		if (fstatat(c->inode->fd, "", &st, AT_EMPTY_PATH) < 0)
			return false; /* the operation itself will report it */
		if ((uint64_t)st.st_size == off) {
			/* The size stays (e.g. O_TRUNC of an empty file): no
			 * break, and nothing to truncate. */
			c->u.setattr.valid &= ~FUSE_SET_ATTR_SIZE;
			return false;
		}
		if ((uint64_t)st.st_size < off)
			off = (uint64_t)st.st_size; /* growing: from the old end */
	}

	/* With dma_module=require, a file that may be mapped is not changed
	 * while the module that would see its pins is absent. */
	if (mapped && fs->cfg.dma_require) {
		dma_note_refusal(fs->layout->dma, c->op == LAYOUT_SETATTR ? "a truncate"
						  : c->op == LAYOUT_FALLOCATE
						      ? "an fallocate"
						      : "a copy_file_range");
		pthread_rwlock_unlock(&c->inode->layout_lock);
		inode_forget(fs, c->inode, 1);
		fuse_reply_err(req, ENOPKG);
		if (fs->cluster)
			cluster_change_done(fs->cluster, c->cc);
		return true;
	}

	p = g_new0(struct parked, 1);
	p->c = *c;
	p->req = req;
	p->l = fs->layout;
	g_mutex_init(&p->lock);

	g_mutex_lock(&p->lock);
	later.l = fs->layout;
	later.nnotify = later.nlog = 0;
	prev_later = later_here; /* run_parked on the event thread nests */
	later_here = &later;
	ret = lt_break(fs->leases, ino_of(c->inode), c->pf ? fh_of(c->pf) : 0,
		       proc_tid_to_tgid(fuse_req_ctx(req)->pid), off, c->len, c->nonblock,
		       p, &id);
	later_here = prev_later;
	if (ret == 0) {
		/* Nothing conflicts, so nobody was told: this only logs. */
		g_mutex_unlock(&p->lock);
		g_mutex_clear(&p->lock);
		g_free(p);
		later_notify_all(&later);
		later_log_all(&later);
		return false;
	}
	pthread_rwlock_unlock(&c->inode->layout_lock);
	inode_forget(fs, c->inode, 1); /* the request still holds it */
	if (ret == 1) {
		atomic_store(&p->waiter_id, id);
		fuse_req_interrupt_func(req, on_interrupt, p);
		g_mutex_unlock(&p->lock);
		later_notify_all(&later);
		later_log_all(&later);
		dma_start_poll(fs->layout->dma);
		return true;
	}
	g_mutex_unlock(&p->lock);
	g_mutex_clear(&p->lock);
	g_free(p);
	fuse_reply_err(req, -ret); /* a refusal may still start a break (rule 9) */
	if (fs->cluster)
		cluster_change_done(fs->cluster, c->cc);
	later_notify_all(&later);
	later_log_all(&later);
	return true;
}

bool layout_check(fuse_req_t req, struct layout_change *c)
{
	if (check_leases(req, c))
		return true;
	/* Going ahead: staging windows of the range reach the file first,
	 * even those of a lease revoked after break_time. */
	if (c->op != LAYOUT_SETATTR || (c->u.setattr.valid & FUSE_SET_ATTR_SIZE))
		window_before_change(pinfs_data(req), c->inode, c->off, c->len);
	return false;
}

/* A change that layout_check let go ahead is made. */
void layout_done(struct pinfs *fs, struct layout_change *c)
{
	if (!fs->leases)
		return;
	pthread_rwlock_unlock(&c->inode->layout_lock);
	inode_forget(fs, c->inode, 1);
	if (fs->cluster)
		cluster_change_done(fs->cluster, c->cc);
}

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
static int layout_cluster_grant(struct pinfs *fs, struct pinfs_inode *inode,
				struct pinfs_file *pf, const void *in_buf,
				size_t in_bufsz)
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
	};
	struct resumed resumed;
	union abi_buf u;
	size_t out_size;
	int err;

	if (window_is_ioctl(cmd)) {
		window_ioctl(req, inode, pf, pf ? caller_pid(&caller) : 0, cmd, in_buf,
			     in_bufsz, out_bufsz);
		return;
	}
	/* A release or unpin may resume parked changes: this worker makes
	 * them itself, after its reply (struct resumed). */
	resumed_begin(&resumed);
	/* A grant waits for layout changes that passed their check and are
	 * still being made (layout_check); see struct pinfs_inode. */
	if (cmd == PINFS_IOC_SETLEASE) {
		if (pf && fs->leases)
			atomic_store(&pf->in_table, true); /* release cleans up */
		pthread_rwlock_wrlock(&inode->layout_lock);
		err = layout_cluster_grant(fs, inode, pf, in_buf, in_bufsz);
		if (!err)
			err = abi_ioctl(&f, cmd, in_buf, in_bufsz, out_bufsz, &u,
					&out_size);
		pthread_rwlock_unlock(&inode->layout_lock);
	} else {
		err = abi_ioctl(&f, cmd, in_buf, in_bufsz, out_bufsz, &u, &out_size);
	}
	resumed_end();
	/* A released lease's windows are written back before the changes
	 * it lets go run (run_resumed). */
	if (!err && cmd == PINFS_IOC_SETLEASE && pf && u.l.type == PINFS_LEASE_UNLOCK)
		window_lease_ended(fs, inode, fh_of(pf));
	if (!err && cmd == PINFS_IOC_VERSION && window_enabled(fs->windows))
		u.v.features |= PINFS_FEAT_WINDOW;
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_ioctl(req, 0, out_size ? &u : NULL, out_size);
	run_resumed(&resumed);
}

/* poll(): a regular file is always readable and writable; POLLPRI says
 * this open file's lease is breaking (rule 8). */
void layout_poll(fuse_req_t req, struct pinfs_file *pf, struct fuse_pollhandle *ph)
{
	struct pinfs *fs = pinfs_data(req);
	struct layout *l = fs->layout;
	unsigned revents = POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;

	if (!fs->leases) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		goto out;
	}
	if (ph) {
		uint64_t *key = g_new(uint64_t, 1);

		*key = fh_of(pf);
		atomic_store(&pf->in_table, true);
		g_mutex_lock(&l->poll_lock);
		g_hash_table_replace(l->polls, key, ph);
		g_mutex_unlock(&l->poll_lock);
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
	struct layout *l = fs->layout;
	uint64_t fh = fh_of(pf);
	struct resumed resumed;

	/* What the holder's windows hold reaches the file, holder dead or
	 * not, before the changes its close lets go. */
	window_file_closed(fs, pf);
	if (!fs->leases || !atomic_load(&pf->in_table))
		return;
	g_mutex_lock(&l->poll_lock);
	g_hash_table_remove(l->polls, &fh);
	g_mutex_unlock(&l->poll_lock);
	/* Changes the close lets go run here, before the release's reply,
	 * which nobody waits for (the kernel sends release in the background). */
	resumed_begin(&resumed);
	lt_close(fs->leases, ino_of(pf->inode), fh);
	resumed_end();
	run_resumed(&resumed);
}

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

	(void)error;
	l->fs = fs;
	if (fs->cfg.leases_on)
		l->dma = dma_new(fs->cfg.mountpoint, fs->cfg.dma_require);
	l->ev = events_new();
	g_mutex_init(&l->poll_lock);
	l->polls = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
					 (GDestroyNotify)fuse_pollhandle_destroy);
	if (fs->cfg.leases_on) {
		l->t = lt_new(&cfg, &clock, &layout_lt_ops, l);
		l->timer = break_timer_new(events_context(l->ev), l->t);
		dma_watch(l->dma, l->t, events_context(l->ev));
	}
	fs->leases = l->t;
	fs->layout = l;
	events_start(l->ev);
	return l;
}

void layout_start_control(struct layout *l)
{
	if (l->t)
		l->ctl = control_start(l->fs, events_context(l->ev), l->t);
}

/*
 * Unmount: stop the event thread and the control channel, then fail every
 * parked change with EIO (lt_destroy) and deliver those replies here.
 */
void layout_free(struct layout *l)
{
	/* Changes parked on other nodes fail with EIO (on the event thread,
	 * or in events_drain); no remote break starts any more. */
	cluster_stop(l->fs->cluster);
	events_stop(l->ev);
	if (l->ctl)
		ctl_stop(l->ctl);
	if (l->timer)
		break_timer_stop(l->timer);
	if (l->dma)
		dma_stop(l->dma);
	if (l->t)
		lt_destroy(l->t);
	if (l->dma)
		dma_close(l->dma);
	events_drain(l->ev);
	if (l->timer)
		break_timer_free(l->timer);
	g_hash_table_destroy(l->polls);
	g_mutex_clear(&l->poll_lock);
	events_free(l->ev);
	g_free(l);
}
