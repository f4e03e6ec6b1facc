// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * notify.c - rule 8: a holder whose lease begins to break gets SIGIO, or
 * its F_SETSIG signal with si_fd as the kernel's lease break sends it, and
 * a poll() waiting on the leased file wakes with POLLPRI.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "notify.h"
#include "proc.h"

/* lock protects polls: fh -> the fuse_pollhandle of the last poll() that
 * wants to hear of a break on that open file.  Taken last, after any
 * other lock, and never held while writing to /dev/fuse. */
struct notify {
	GMutex lock;
	GHashTable *polls;
};

struct notify *notify_new(void)
{
	struct notify *n = g_new0(struct notify, 1);

	g_mutex_init(&n->lock);
	n->polls = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
					 (GDestroyNotify)fuse_pollhandle_destroy);
	return n;
}

void notify_free(struct notify *n)
{
	g_hash_table_destroy(n->polls);
	g_mutex_clear(&n->lock);
	g_free(n);
}

void notify_poll_add(struct notify *n, uint64_t fh, struct fuse_pollhandle *ph)
{
	uint64_t *key = g_new(uint64_t, 1);

	*key = fh;
	g_mutex_lock(&n->lock);
	g_hash_table_replace(n->polls, key, ph);
	g_mutex_unlock(&n->lock);
}

void notify_poll_remove(struct notify *n, uint64_t fh)
{
	g_mutex_lock(&n->lock);
	g_hash_table_remove(n->polls, &fh);
	g_mutex_unlock(&n->lock);
}

/*
 * The handle is taken out of the table and used outside the lock: the
 * poller wakes at once and its kernel sends a new POLL, whose handler
 * (notify_poll_add) must not wait for this thread.  A handle serves one
 * wake-up: the kernel polls again after it, with a new handle, for as long
 * as someone waits.
 */
static void wake_poll(struct notify *n, uint64_t fh)
{
	struct fuse_pollhandle *ph = NULL;
	gpointer key;

	g_mutex_lock(&n->lock);
	if (!g_hash_table_steal_extended(n->polls, &fh, &key, (gpointer *)&ph))
		key = NULL;
	g_mutex_unlock(&n->lock);
	if (!ph)
		return;
	fuse_lowlevel_notify_poll(ph);
	fuse_pollhandle_destroy(ph);
	g_free(key);
}

/* si_code is SI_QUEUE, since only the kernel may send POLL_MSG to another
 * process.  The holder's pid may be gone and reused: proc_may_signal. */
static void signal_holder(const struct lt_notify *h)
{
	if (!proc_may_signal(h->pid, h->uid)) {
		g_message("lease %" PRIu64
			  ": holder pid %d is gone or not uid %u: not signalled",
			  h->lease_id, (int)h->pid, (unsigned)h->uid);
	} else if (h->signal == 0) {
		kill(h->pid, SIGIO);
	} else {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		si.si_signo = h->signal;
		si.si_code = SI_QUEUE;
		si.si_band = POLLIN | POLLRDNORM | POLLMSG;
		si.si_fd = h->fd;
		if (syscall(SYS_rt_sigqueueinfo, h->pid, h->signal, &si) < 0)
			g_message("cannot signal lease holder %d: %s", (int)h->pid,
				  g_strerror(errno));
	}
}

void notify_holders(struct notify *n, const GArray *holders)
{
	for (guint i = 0; holders && i < holders->len; i++) {
		const struct lt_notify *h = &g_array_index(holders, struct lt_notify, i);

		/* The poll() first: its wake-up is one write to /dev/fuse,
		 * after which the kernel polls again (a round trip the signal
		 * does not need); a holder that set no poll costs a lookup. */
		wake_poll(n, h->fh);
		signal_holder(h);
	}
}
