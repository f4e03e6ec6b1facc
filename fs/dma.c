// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dma.c - the pinfs_dma module's view of the mount: the pins no process
 * registered with a lease, asked for when a layout change is checked and,
 * while any change is parked, every 50 ms on the event thread (the module
 * cannot tell us when a pin goes).
 *
 * The module may be loaded after the mount (DKMS, modprobe), unloaded and
 * loaded again.  So the daemon never keeps /dev/pinfs_dma open (that would
 * keep the module from unloading): it opens it for each question.  Whether
 * it is there is followed with inotify on /dev (the node appears and goes
 * with the module), and checked again by opening it when a layout change
 * needs the answer and inotify cannot tell (no watch, or a node without a
 * module behind it).  Every change of state is logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <glib-unix.h>

#include "dma.h"
#include "pinfs_dma_abi.h"

#define DEV_DIR "/dev"
#define DEV_NAME "pinfs_dma"

struct dma {
	char *mountpoint;
	bool require; /* dma_module=require */
	struct lease_table *t;
	void (*done)(void *arg, struct lt_effects *fx);
	void *arg;
	GMainContext *ctx;
	GSource *pin_poll; /* event thread: rechecks pins-only waiters */
	/* True while pin_poll runs: read by any thread (dma_start_poll),
	 * written on the event thread. */
	atomic_bool pin_polling;
	bool stopping; /* set at unmount, before the table goes away */

	/* inotify on /dev, read on the event thread.  dev_watched is true
	 * while the watch stands: then an absent node is known absent. */
	int ifd;
	GSource *isrc;
	atomic_bool dev_watched;

	/* The state, read without a lock on every layout change.  state_lock
	 * serialises looking (open, QUERY) with setting it and logging the
	 * change, and protects the rest. */
	atomic_int state; /* enum dma_state */
	GMutex state_lock;
	char detail[192];
	uint64_t since_ns;
	uint64_t changes;
	bool refusal_logged; /* since the module was last seen */
	bool perm_logged;    /* a QUERY was refused (EPERM) */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static gboolean start_pin_poll(gpointer data);

/*
 * Set the state and say so: at mount (first), and on every change.
 * Called with state_lock held.
 */
static void set_state(struct dma *d, enum dma_state s, const char *detail, bool first)
{
	enum dma_state old = atomic_load(&d->state);

	if (!first && old == s) {
		g_strlcpy(d->detail, detail, sizeof(d->detail));
		return;
	}
	g_strlcpy(d->detail, detail, sizeof(d->detail));
	d->since_ns = mono_ns();
	if (!first)
		d->changes++;
	atomic_store(&d->state, s);
	if (s == DMA_WATCHED) {
		d->refusal_logged = false;
		d->perm_logged = false;
		g_message("%s: undeclared DMA pins are watched%s: %s", d->mountpoint,
			  first ? "" : " from now on", detail);
		/* Changes parked before the module came may wait for pins
		 * alone now or later: poll for them. */
		if (d->ctx && !d->stopping)
			g_main_context_invoke(d->ctx, start_pin_poll, d);
	} else if (first || old == DMA_WATCHED) {
		g_message("%s: undeclared DMA pins are %s watched: %s; %s", d->mountpoint,
			  first ? "not" : "no longer", detail,
			  d->require ? "dma_module=require: layout changes of files open "
				       "for writing fail with ENOPKG until the module "
				       "is loaded"
				     : "layout changes no lease or registered pin holds "
				       "back go ahead at once (load pinfs_dma to have "
				       "them wait for DMA pins)");
	} else {
		g_message("%s: undeclared DMA pins are still not watched: %s",
			  d->mountpoint, detail);
	}
}

/* What an open() of the device failing with err means. */
static void set_open_failed(struct dma *d, int err, bool first)
{
	char why[160];
	enum dma_state s = DMA_UNUSABLE;

	/* ENXIO, ENODEV: a node left without its module (a static /dev). */
	if (err == ENOENT || err == ENXIO || err == ENODEV)
		s = DMA_ABSENT;
	snprintf(why, sizeof(why), "%s: %s", PINFS_DMA_DEVICE, g_strerror(err));
	set_state(d, s, why, first);
}

/* QUERY dev about [off, off+len) of inode ino on fd's superblock (ino 0:
 * fd's own inode): the pinned bytes in *bytes, or an errno. */
static int query_pinned(int dev, int fd, ino_t ino, uint64_t off, uint64_t len,
			uint64_t *bytes)
{
	struct pinfs_dma_query q;

	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.fd = fd;
	q.ino = ino;
	q.offset = off;
	q.len = len == LT_LEN_EOF ? 0 : len;
	if (ioctl(dev, PINFS_DMA_IOC_QUERY, &q) < 0)
		return errno;
	*bytes = q.pinned * (uint64_t)sysconf(_SC_PAGESIZE);
	return 0;
}

/*
 * Ask the module about the inode of our mount's root, to see that it
 * answers us, and set the state from what happens.  Called with state_lock
 * held.
 */
static void probe(struct dma *d, bool first)
{
	uint64_t bytes;
	char why[160];
	int dev, root, err;

	dev = open(PINFS_DMA_DEVICE, O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		set_open_failed(d, errno, first);
		return;
	}
	root = open(d->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		snprintf(why, sizeof(why), "cannot open the mount's root: %s",
			 g_strerror(errno));
		set_state(d, DMA_UNUSABLE, why, first);
		close(dev);
		return;
	}
	err = query_pinned(dev, root, 0, 0, LT_LEN_EOF, &bytes);
	if (err == 0) {
		set_state(d, DMA_WATCHED, "the pinfs_dma module answers", first);
	} else if (err == EPERM) {
		/* It answers, but not about an inode the daemon's user does
		 * not own: a daemon not running as root, whose mount root the
		 * kernel still gives to root until its first GETATTR.  The
		 * files the daemon creates are its user's. */
		set_state(d, DMA_WATCHED,
			  "the pinfs_dma module answers about the files the daemon's "
			  "user owns",
			  first);
	} else {
		snprintf(why, sizeof(why), "%s does not answer QUERY: %s%s",
			 PINFS_DMA_DEVICE, g_strerror(err),
			 err == ENOTTY || err == EINVAL ? " (another module version?)"
							: "");
		set_state(d, DMA_UNUSABLE, why, first);
	}
	close(root);
	close(dev);
}

struct dma *dma_new(const char *mountpoint, bool require)
{
	struct dma *d = g_new0(struct dma, 1);

	d->mountpoint = g_strdup(mountpoint);
	d->require = require;
	d->ifd = -1;
	g_mutex_init(&d->state_lock);
	g_mutex_lock(&d->state_lock);
	probe(d, true);
	g_mutex_unlock(&d->state_lock);
	return d;
}

bool dma_watched(struct dma *d)
{
	return atomic_load_explicit(&d->state, memory_order_relaxed) == DMA_WATCHED;
}

bool dma_recheck(struct dma *d)
{
	if (dma_watched(d))
		return true;
	if (atomic_load(&d->dev_watched) && atomic_load(&d->state) == DMA_ABSENT)
		return false;
	g_mutex_lock(&d->state_lock);
	probe(d, false);
	g_mutex_unlock(&d->state_lock);
	return dma_watched(d);
}

/* A question failed with err: look again, which logs a change. */
static void lost(struct dma *d, int err)
{
	g_mutex_lock(&d->state_lock);
	if (err == EPERM) {
		/* The module is there; it refuses to tell about this file
		 * (a daemon not running as root asking about another user's
		 * file): say so once. */
		if (!d->perm_logged)
			g_message("%s: the pinfs_dma module refuses to say which pages "
				  "of files the daemon's user does not own are pinned "
				  "(run pinfs as root)",
				  d->mountpoint);
		d->perm_logged = true;
	} else {
		probe(d, false);
	}
	g_mutex_unlock(&d->state_lock);
}

/*
 * The module needs a descriptor on our own superblock; an O_PATH open of
 * the mount root asks the daemon nothing, and is not kept, so that the
 * mount never looks busy to umount.  The device is not kept open either,
 * so that the module can be unloaded.
 */
uint64_t dma_pinned_bytes(struct dma *d, ino_t ino, int backing_fd, uint64_t off,
			  uint64_t len, bool must_know)
{
	const uint64_t unknown = must_know ? (uint64_t)sysconf(_SC_PAGESIZE) : 0;
	uint64_t bytes = 0, more = 0;
	int dev, root, err;

	if (!dma_watched(d) && !dma_recheck(d))
		return unknown;
	dev = open(PINFS_DMA_DEVICE, O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		lost(d, errno);
		return unknown;
	}
	root = open(d->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		close(dev);
		return unknown;
	}
	err = query_pinned(dev, root, ino, off, len, &bytes);
	if (err == ENOENT)
		err = 0; /* not in the inode cache: no cached page, no pin */
	/* The backing file's own pages, which mappings of a file in
	 * passthrough mode map. */
	if (!err && backing_fd >= 0) {
		err = query_pinned(dev, backing_fd, 0, off, len, &more);
		bytes += more;
	}
	close(root);
	close(dev);
	if (err) {
		lost(d, err);
		return unknown;
	}
	return bytes;
}

/*
 * Event thread: while any change is parked, look at unregistered pins
 * again.  Not only while some waiter waits for pins alone: a change parked
 * behind a lease starts waiting for pins alone when the lease goes, and
 * nothing would restart the poll then.
 */
static gboolean on_pin_poll(gpointer data)
{
	struct dma *d = data;
	struct lt_effects fx = LT_EFFECTS_INIT;
	struct lt_stats st;

	/* Cleared before the look: a change parked after it sees the flag
	 * clear and restarts the poll; one parked before it is seen. */
	atomic_store(&d->pin_polling, false);
	lt_get_stats(d->t, &st);
	if (d->stopping || st.parked_now == 0) {
		g_source_unref(d->pin_poll);
		d->pin_poll = NULL;
		return G_SOURCE_REMOVE;
	}
	atomic_store(&d->pin_polling, true);
	lt_recheck(d->t, &fx);
	d->done(d->arg, &fx);
	lt_effects_clear(&fx);
	return G_SOURCE_CONTINUE;
}

static gboolean start_pin_poll(gpointer data)
{
	struct dma *d = data;

	if (d->stopping || !d->t)
		return G_SOURCE_REMOVE;
	atomic_store(&d->pin_polling, true);
	if (d->pin_poll)
		return G_SOURCE_REMOVE;
	d->pin_poll = g_timeout_source_new(50);
	g_source_set_callback(d->pin_poll, on_pin_poll, d, NULL);
	g_source_attach(d->pin_poll, d->ctx);
	return G_SOURCE_REMOVE;
}

/* Any thread, after parking a change: the event thread is woken only if
 * the poll does not run already. */
void dma_start_poll(struct dma *d)
{
	/* Without the module nothing would change the answer, unless
	 * dma_module=require holds changes until it comes. */
	if (d->ctx && (dma_watched(d) || d->require) && !atomic_load(&d->pin_polling))
		g_main_context_invoke(d->ctx, start_pin_poll, d);
}

/* Event thread: something happened in /dev. */
static gboolean on_dev_event(gint fd, GIOCondition cond, gpointer data)
{
	struct dma *d = data;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool ours = false, gone = false;
	ssize_t n;

	(void)cond;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & IN_Q_OVERFLOW)
				ours = true;
			if (ev->mask & IN_IGNORED)
				gone = true;
			if (ev->len && !strcmp(ev->name, DEV_NAME))
				ours = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (gone) {
		/* /dev went away under us (unmounted): from now on, look
		 * whenever a change needs the answer. */
		atomic_store(&d->dev_watched, false);
		g_message("%s: no longer watching %s for the pinfs_dma module; "
			  "looking for it at layout changes instead",
			  d->mountpoint, DEV_DIR);
	}
	if (ours || gone) {
		g_mutex_lock(&d->state_lock);
		probe(d, false);
		g_mutex_unlock(&d->state_lock);
	}
	if (gone) {
		g_source_unref(d->isrc);
		d->isrc = NULL;
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

void dma_watch(struct dma *d, struct lease_table *t, GMainContext *ctx,
	       void (*done)(void *arg, struct lt_effects *fx), void *arg)
{
	d->t = t;
	d->ctx = ctx;
	d->done = done;
	d->arg = arg;
	d->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->ifd < 0 ||
	    inotify_add_watch(d->ifd, DEV_DIR,
			      IN_CREATE | IN_DELETE | IN_ATTRIB | IN_MOVED_TO |
				  IN_MOVED_FROM | IN_ONLYDIR) < 0) {
		g_message("%s: cannot watch %s (%s): looking for the pinfs_dma module "
			  "at layout changes instead",
			  d->mountpoint, DEV_DIR, g_strerror(errno));
		if (d->ifd >= 0)
			close(d->ifd);
		d->ifd = -1;
		return;
	}
	d->isrc = g_unix_fd_source_new(d->ifd, G_IO_IN);
	g_source_set_callback(d->isrc, (GSourceFunc)(void (*)(void))on_dev_event, d,
			      NULL);
	g_source_attach(d->isrc, ctx);
	atomic_store(&d->dev_watched, true);
	/* The module may have come between dma_new() and the watch. */
	g_mutex_lock(&d->state_lock);
	probe(d, false);
	g_mutex_unlock(&d->state_lock);
}

void dma_get_status(struct dma *d, struct dma_status *st)
{
	/* Without inotify nobody tells us: look now. */
	if (!atomic_load(&d->dev_watched))
		dma_recheck(d);
	g_mutex_lock(&d->state_lock);
	st->state = atomic_load(&d->state);
	st->require = d->require;
	g_strlcpy(st->detail, d->detail, sizeof(st->detail));
	st->since_ns = d->since_ns;
	st->changes = d->changes;
	g_mutex_unlock(&d->state_lock);
}

void dma_note_refusal(struct dma *d, const char *what)
{
	bool log;

	g_mutex_lock(&d->state_lock);
	log = !d->refusal_logged;
	d->refusal_logged = true;
	g_mutex_unlock(&d->state_lock);
	if (log)
		g_message("%s: %s refused with ENOPKG (dma_module=require, and the "
			  "pinfs_dma module is not there to watch undeclared DMA "
			  "pins); further refusals are not logged until it comes",
			  d->mountpoint, what);
}

void dma_stop(struct dma *d)
{
	d->stopping = true;
	if (d->pin_poll) {
		g_source_destroy(d->pin_poll);
		g_source_unref(d->pin_poll);
		d->pin_poll = NULL;
	}
	if (d->isrc) {
		g_source_destroy(d->isrc);
		g_source_unref(d->isrc);
		d->isrc = NULL;
	}
}

void dma_close(struct dma *d)
{
	if (d->ifd >= 0)
		close(d->ifd);
	g_mutex_clear(&d->state_lock);
	g_free(d->mountpoint);
	g_free(d);
}
