// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cluster.c - layout leases across pinfs daemons, through etcd.
 *
 * docs/cluster.md describes the protocol for users; in short, under the
 * prefix /pinfs/CLUSTER/:
 *
 *   n/NODE                  the node is alive (under its etcd lease)
 *   i/FILE/NODE             NODE may hold leases on FILE ("interest")
 *   x/FILE/NODE/SEQ         NODE wants to change FILE: an intent, whose
 *                           value is "OFF LEN NONBLOCK MADE" (MADE 1 once
 *                           the change is made)
 *   a/FILE/NODE/SEQ/PEER    PEER's answer to that intent: an errno, 0 = go
 *   c/FILE/NODE/SEQ/PEER    PEER dropped its cached pages of FILE after the
 *                           change was made
 *   l/FILE/NODE             NODE's leases on FILE, for pinfsctl only (JSON,
 *                           written a moment after they change)
 *
 * Every key a node writes lives under that node's etcd lease, so a dead
 * node's keys vanish after its TTL.  FILE is the backing inode number.
 *
 * Invariants (each node keeps a mirror of the prefix, fed by one watch):
 *   I1  A node grants a lease on FILE only while its interest key for FILE
 *       exists, and the key was written (in the same transaction that read
 *       the file's intents) before its first lease on the file.
 *   I2  A node grants no lease overlapping an intent of another node that
 *       it has seen, either in that transaction or through its watch.
 *   I3  A change goes ahead only once every node whose interest existed at
 *       the revision of its intent has answered 0, or lost that interest.
 *   I4  A node answers an intent only after breaking (and waiting for) its
 *       conflicting leases, with its grants for the file blocked by I2.
 *   I5  A node that cannot renew its etcd lease for (almost) its TTL
 *       revokes all its leases: after the TTL the others no longer ask it.
 *   I6  A change is reported done only once every node that I3 waited for
 *       has dropped its cached pages of the file after the change was made
 *       (its c/ key), or lost its interest.
 * A grant on A racing with B's intent: both are single etcd transactions
 * (A: put interest + read intents; B: put intent + read interests), so
 * one sees the other (I1, I3); once A's interest exists, A's watch delivers
 * the intent, A breaks under the file's layout lock (I2, I4), and B waits
 * for A's answer.
 *
 * Threads: the watch thread applies events to the mirror and runs the
 * remote breaks; the cluster thread (a GLib main loop) renews the node's
 * etcd lease, writes answers, and drops idle interest.  Neither blocks a
 * FUSE request: a parked change is a struct cluster_change on a list.
 *
 * Locking: cl->lock protects the mirror (files, keys, rev) and pending.
 * It is the innermost lock (taken under an inode's layout_lock, never
 * around an etcd request or a lease table call).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cluster.h"
#include "daemon.h"
#include "etcd.h"
#include "jsonmember.h"

#define REMOTE_TAG 0x434c5553u /* never a layout_op: see cluster_is_remote */

enum cl_state {
	CL_UP,	    /* the node's etcd lease is alive */
	CL_FENCING, /* revoking every local lease (fence) */
	CL_DOWN,    /* fenced: the live thread is joining again */
};

struct cluster {
	struct pinfs *fs;
	struct etcd *etcd;
	char *node, *name, *prefix;
	int64_t ttl; /* seconds */

	/* The node's etcd lease, renewed by the live thread through its own
	 * client (live: short timeouts, no retries). */
	struct etcd *live;
	GThread *live_thread;
	atomic_int_least64_t lease;
	atomic_int state;		 /* enum cl_state */
	atomic_int_least64_t last_ok_us; /* monotonic send time of the last renewal */
	atomic_bool lease_gone;		 /* etcd said it expired */
	atomic_uint_least64_t seq;	 /* intent numbers */

	GMutex lock;
	GHashTable *files; /* FILE -> struct mfile */
	GHashTable *keys;  /* every key in the mirror (relative), for resync */
	int64_t rev;	   /* the mirror is complete up to this revision */
	/* dirty_lock protects dirty: FILE -> the lease table's ino of files
	 * whose leases changed since on_publish last wrote them to l/. */
	GMutex dirty_lock;
	GHashTable *dirty;
	GList *pending;		   /* struct cluster_change parked on other nodes */
	GPtrArray *withdraw_later; /* intent keys to delete once etcd answers */

	GThread *watch_thread;
	volatile bool stop;

	GMainContext *ctx;
	GMainLoop *loop;
	GThread *thread;
	/* on_watchdog, on_publish, on_idle_scan: they use the lease table, so
	 * cluster_stop destroys them before it goes. */
	GSource *timers[3];
};

/* What the mirror knows of one file. */
struct mfile {
	char *id;
	GHashTable *interest; /* NODE -> int64_t* create revision */
	GHashTable *intents;  /* "NODE/SEQ" -> struct mintent */
	GHashTable *leases;   /* NODE -> its l/ value (JSON text), for pinfsctl */
	/* This node's interest: local set (and inode held) from the
	 * transaction that wrote it until it is dropped. */
	bool local;
	struct pinfs_inode *inode;
	gint64 idle_since_us;
};

struct mintent {
	char *node;
	uint64_t off, len;
	bool nonblock;
	GHashTable *answers; /* PEER -> GINT_TO_POINTER(errno + 1) */
	GHashTable *cleared; /* PEER, for each c/ key */
	struct rwaiter *rw;  /* our break for it, until answered */
	bool answered;	     /* by us: delete our answer when it goes */
	bool made;	     /* the change is made (MADE in the value) */
	bool clearing;	     /* job_clear queued: our pages not dropped yet */
	bool cleared_by_us;  /* our c/ key is written: delete it too */
};

/* A lease table waiter parked for another node's intent. */
struct rwaiter {
	uint32_t tag;
	struct cluster *cl;
	char *file, *ikey; /* FILE and "NODE/SEQ" */
	struct pinfs_inode *inode;
	uint64_t waiter_id;
	int err; /* the answer, once the lease table resumed it */
};

struct cluster_change {
	struct cluster *cl;
	char *file, *ikey; /* ikey: "NODE/SEQ" */
	int64_t rev;
	GHashTable *required; /* PEER -> int64_t* its interest's create rev */
	void (*resume)(void *arg, int err);
	void *arg;
	bool parked; /* on cl->pending, resume not yet called */
	/* Made (cluster_change_made): rev is then the revision of the MADE
	 * put, and it waits for the c/ keys instead of the answers. */
	bool made;
	/* quorum=wait: parked until etcd answers (retry_quorum), then it is
	 * announced again; evaluate() leaves it alone meanwhile. */
	bool quorum;
	gint refs;   /* its owner's, and retry_quorum's while it announces it */
	bool unsure; /* announcing it failed: etcd is in trouble */
	uint64_t off, len;
	bool nonblock;
};

static void i64_free(gpointer p)
{
	g_free(p);
}

static gint64 now_us(void)
{
	return g_get_monotonic_time();
}

static char *file_id(struct pinfs_inode *inode)
{
	return g_strdup_printf("%016" PRIx64, (uint64_t)inode->ino);
}

static char *key(struct cluster *cl, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static char *key(struct cluster *cl, const char *fmt, ...)
{
	va_list ap;
	char *rel, *k;

	va_start(ap, fmt);
	rel = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	k = g_strconcat(cl->prefix, rel, NULL);
	g_free(rel);
	return k;
}

static bool overlaps(uint64_t o1, uint64_t l1, uint64_t o2, uint64_t l2)
{
	uint64_t e1 = l1 == UINT64_MAX || o1 + l1 < o1 ? UINT64_MAX : o1 + l1;
	uint64_t e2 = l2 == UINT64_MAX || o2 + l2 < o2 ? UINT64_MAX : o2 + l2;

	return o1 < e2 && o2 < e1;
}

/* ---- the mirror (cl->lock held) ---- */

static void mintent_free(gpointer p)
{
	struct mintent *mi = p;

	g_free(mi->node);
	g_hash_table_destroy(mi->answers);
	g_hash_table_destroy(mi->cleared);
	g_free(mi);
}

static struct mfile *mfile_get(struct cluster *cl, const char *id, bool create)
{
	struct mfile *mf = g_hash_table_lookup(cl->files, id);

	if (mf || !create)
		return mf;
	mf = g_new0(struct mfile, 1);
	mf->id = g_strdup(id);
	mf->interest = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, i64_free);
	mf->intents =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, mintent_free);
	mf->leases = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_hash_table_insert(cl->files, mf->id, mf);
	return mf;
}

static void mfile_free(gpointer p)
{
	struct mfile *mf = p;

	g_hash_table_destroy(mf->interest);
	g_hash_table_destroy(mf->intents);
	g_hash_table_destroy(mf->leases);
	g_free(mf->id);
	g_free(mf);
}

static void mfile_maybe_drop(struct cluster *cl, struct mfile *mf)
{
	if (!mf->local && !g_hash_table_size(mf->interest) &&
	    !g_hash_table_size(mf->intents) && !g_hash_table_size(mf->leases))
		g_hash_table_remove(cl->files, mf->id);
}

/* Does another node's intent overlap [off, off+len) of mf?  One whose
 * change is made no longer counts once our pages are dropped after it: a
 * lease may come then, before the intent is withdrawn. */
static bool foreign_intent(struct cluster *cl, struct mfile *mf, uint64_t off,
			   uint64_t len)
{
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, mf->intents);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct mintent *mi = v;

		if (mi->made && !mi->clearing)
			continue;
		if (strcmp(mi->node, cl->node) && overlaps(mi->off, mi->len, off, len))
			return true;
	}
	return false;
}

/* Work found while applying events, done once cl->lock is dropped. */
struct actions {
	GPtrArray *breaks;  /* struct rwaiter to hand to lt_break */
	GArray *cancels;    /* lease table waiter ids */
	GPtrArray *gone;    /* struct gone: intents answered and withdrawn */
	GPtrArray *resumes; /* struct resume */
	GPtrArray *clears;  /* struct gone: intents made, to drop pages for */
};

struct gone {
	struct cluster *cl;
	char *file, *ikey;
	struct pinfs_inode *inode; /* held, or NULL */
	bool answered, cleared;
};

struct resume {
	void (*fn)(void *arg, int err);
	void *arg;
	int err;
};

struct rbreak {
	struct rwaiter *rw;
	uint64_t off, len;
	bool nonblock;
};

static void actions_init(struct actions *a)
{
	a->breaks = g_ptr_array_new();
	a->cancels = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	a->gone = g_ptr_array_new();
	a->resumes = g_ptr_array_new();
	a->clears = g_ptr_array_new();
}

/* Queue ch's resume with err, to run once cl->lock is dropped.  The caller
 * holds cl->lock and takes ch off cl->pending. */
static void queue_resume(struct actions *a, struct cluster_change *ch, int err)
{
	struct resume *r = g_new(struct resume, 1);

	r->fn = ch->resume;
	r->arg = ch->arg;
	r->err = err;
	ch->parked = false;
	g_ptr_array_add(a->resumes, r);
}

/* Fail every change parked on other nodes with err.  Caller holds cl->lock. */
static void fail_pending(struct cluster *cl, struct actions *a, int err)
{
	while (cl->pending) {
		queue_resume(a, cl->pending->data, err);
		cl->pending = g_list_delete_link(cl->pending, cl->pending);
	}
}

static bool parse_intent(const char *value, uint64_t *off, uint64_t *len, bool *nb,
			 bool *made)
{
	unsigned long long o, l;
	int n, m = 0;

	if (sscanf(value, "%llu %llu %d %d", &o, &l, &n, &m) < 3)
		return false;
	*off = o;
	*len = l;
	*nb = n != 0;
	*made = m != 0;
	return true;
}

/* A job for the cluster thread about intent ikey of mf: inode held. */
static struct gone *gone_new(struct cluster *cl, struct mfile *mf, const char *ikey)
{
	struct gone *g = g_new0(struct gone, 1);

	g->cl = cl;
	g->file = g_strdup(mf->id);
	g->ikey = g_strdup(ikey);
	if (mf->local && mf->inode) {
		g->inode = mf->inode;
		inode_hold(cl->fs, mf->inode);
	}
	return g;
}

/* The intent an a/ or c/ key (KIND/FILE/NODE/SEQ/PEER) is about, if the
 * mirror has it. */
static struct mintent *peer_key_intent(struct cluster *cl, char **parts)
{
	g_autofree char *ikey = g_strdup_printf("%s/%s", parts[2], parts[3]);
	struct mfile *mf = mfile_get(cl, parts[1], false);

	return mf ? g_hash_table_lookup(mf->intents, ikey) : NULL;
}

/*
 * Apply one event to the mirror.  rel is the key below the prefix.
 * Idempotent: a put of a key the mirror has is a no-op (a resync replays).
 */
static void apply(struct cluster *cl, bool put, const char *rel, const char *value,
		  int64_t create_rev, struct actions *a)
{
	char **parts = g_strsplit(rel, "/", 6);
	guint n = g_strv_length(parts);
	struct mfile *mf;

	if (put)
		g_hash_table_add(cl->keys, g_strdup(rel));
	else
		g_hash_table_remove(cl->keys, rel);

	if (n == 3 && !strcmp(parts[0], "i")) { /* i/FILE/NODE */
		mf = mfile_get(cl, parts[1], put);
		if (!mf)
			goto out;
		if (put) {
			int64_t *r = g_new(int64_t, 1);

			*r = create_rev;
			g_hash_table_replace(mf->interest, g_strdup(parts[2]), r);
		} else {
			g_hash_table_remove(mf->interest, parts[2]);
			mfile_maybe_drop(cl, mf);
		}
	} else if (n == 4 && !strcmp(parts[0], "x")) { /* x/FILE/NODE/SEQ */
		char *ikey = g_strdup_printf("%s/%s", parts[2], parts[3]);
		struct mintent *mi;

		mf = mfile_get(cl, parts[1], put);
		if (!mf) {
			g_free(ikey);
			goto out;
		}
		mi = g_hash_table_lookup(mf->intents, ikey);
		if (put && mi && !mi->made) {
			uint64_t o, l;
			bool nb, made;

			/* The change is made: drop our cached pages and say so
			 * (I6).  The intent's holder waits for that only from
			 * the nodes that answered it, but any node with
			 * interest drops them. */
			if (parse_intent(value, &o, &l, &nb, &made) && made) {
				mi->made = true;
				if (strcmp(mi->node, cl->node) && mf->local &&
				    mf->inode) {
					mi->clearing = true;
					g_ptr_array_add(a->clears,
							gone_new(cl, mf, ikey));
				}
			}
		} else if (put && !mi) {
			mi = g_new0(struct mintent, 1);
			mi->node = g_strdup(parts[2]);
			mi->answers =
			    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
			mi->cleared =
			    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
			if (!parse_intent(value, &mi->off, &mi->len, &mi->nonblock,
					  &mi->made)) {
				mi->off = 0;
				mi->len = UINT64_MAX;
			}
			g_hash_table_insert(mf->intents, g_strdup(ikey), mi);
			if (mi->made && strcmp(mi->node, cl->node) && mf->local &&
			    mf->inode) {
				/* Made already (seen late, by a resync): nothing
				 * left to break, only pages to drop. */
				mi->clearing = true;
				g_ptr_array_add(a->clears, gone_new(cl, mf, ikey));
			} else if (strcmp(mi->node, cl->node) && mf->local && mf->inode) {
				/* Another node's change on a file we may hold
				 * leases on: break them (I4).  No local interest
				 * means no local lease (I1), and I2 keeps it so. */
				struct rbreak *rb = g_new0(struct rbreak, 1);

				rb->rw = g_new0(struct rwaiter, 1);
				rb->rw->tag = REMOTE_TAG;
				rb->rw->cl = cl;
				rb->rw->file = g_strdup(mf->id);
				rb->rw->ikey = g_strdup(ikey);
				rb->rw->inode = mf->inode;
				inode_hold(cl->fs, mf->inode);
				rb->off = mi->off;
				rb->len = mi->len;
				rb->nonblock = mi->nonblock;
				mi->rw = rb->rw;
				g_ptr_array_add(a->breaks, rb);
			}
		} else if (!put && mi) {
			struct gone *g = g_new0(struct gone, 1);

			g->cl = cl;
			if (mi->rw) {
				g_array_append_val(a->cancels, mi->rw->waiter_id);
				mi->rw = NULL;
			}
			g->file = g_strdup(mf->id);
			g->ikey = g_strdup(ikey);
			g->answered = mi->answered;
			g->cleared = mi->cleared_by_us;
			if (mf->local && mf->inode && strcmp(mi->node, cl->node)) {
				g->inode = mf->inode;
				inode_hold(cl->fs, mf->inode);
			}
			g_ptr_array_add(a->gone, g);
			g_hash_table_remove(mf->intents, ikey);
			mfile_maybe_drop(cl, mf);
		}
		g_free(ikey);
	} else if (n == 3 && !strcmp(parts[0], "l")) { /* l/FILE/NODE */
		mf = mfile_get(cl, parts[1], put);
		if (mf && put) {
			g_hash_table_replace(mf->leases, g_strdup(parts[2]),
					     g_strdup(value));
		} else if (mf) {
			g_hash_table_remove(mf->leases, parts[2]);
			mfile_maybe_drop(cl, mf);
		}
	} else if (n == 5 && !strcmp(parts[0], "a")) { /* a/FILE/NODE/SEQ/PEER */
		struct mintent *mi = peer_key_intent(cl, parts);

		if (mi && put)
			g_hash_table_replace(mi->answers, g_strdup(parts[4]),
					     GINT_TO_POINTER(atoi(value) + 1));
		else if (mi)
			g_hash_table_remove(mi->answers, parts[4]);
	} else if (n == 5 && !strcmp(parts[0], "c")) { /* c/FILE/NODE/SEQ/PEER */
		struct mintent *mi = peer_key_intent(cl, parts);

		if (mi && put)
			g_hash_table_add(mi->cleared, g_strdup(parts[4]));
		else if (mi)
			g_hash_table_remove(mi->cleared, parts[4]);
	}
out:
	g_strfreev(parts);
}

/*
 * Decide the parked changes the mirror now answers (I3).  A change waits
 * until the mirror has reached its intent's revision; then for each node
 * that held interest then: its interest gone (or a new one, created after
 * the intent: that node saw the intent, I2) lets it go; an answer decides.
 * A change made waits the same way, from its MADE put, for each such
 * node's c/ key (I6).
 */
static void evaluate(struct cluster *cl, struct actions *a)
{
	GList *l, *next;

	for (l = cl->pending; l; l = next) {
		struct cluster_change *ch = l->data;
		struct mfile *mf = mfile_get(cl, ch->file, false);
		struct mintent *mi =
		    mf ? g_hash_table_lookup(mf->intents, ch->ikey) : NULL;
		GHashTableIter it;
		gpointer k, v;
		bool wait = false;
		int err = 0;

		next = l->next;
		if (ch->quorum || cl->rev < ch->rev)
			continue;
		if (!mi && !ch->made && cl->fs->cfg.quorum_wait) {
			ch->quorum = true; /* announced again once etcd answers */
			continue;
		}
		if (!mi) {
			err = ENOLCK; /* our own intent vanished: our lease expired */
			goto decided;
		}
		g_hash_table_iter_init(&it, ch->required);
		while (g_hash_table_iter_next(&it, &k, &v)) {
			int64_t *now = g_hash_table_lookup(mf->interest, k);
			gpointer ans;

			if (!now || *now != *(int64_t *)v)
				continue; /* gone: dead, or idle without leases */
			if (ch->made) {
				if (!g_hash_table_contains(mi->cleared, k))
					wait = true;
				continue;
			}
			ans = g_hash_table_lookup(mi->answers, k);
			if (!ans) {
				wait = true;
			} else if (GPOINTER_TO_INT(ans) - 1) {
				err = GPOINTER_TO_INT(ans) - 1;
				break;
			}
		}
		if (wait && !err)
			continue;
	decided:
		queue_resume(a, ch, err);
		cl->pending = g_list_delete_link(cl->pending, l);
	}
}

static gboolean job_gone(gpointer data);
static gboolean job_answer(gpointer data);
static gboolean job_clear(gpointer data);

/* Run what apply() and evaluate() found, holding no lock. */
static void actions_run(struct cluster *cl, struct actions *a)
{
	struct pinfs *fs = cl->fs;
	struct lt_effects fx = LT_EFFECTS_INIT;

	for (guint i = 0; i < a->cancels->len; i++)
		lt_cancel(fs->leases, g_array_index(a->cancels, uint64_t, i), ECANCELED,
			  &fx);
	for (guint i = 0; i < a->breaks->len; i++) {
		struct rbreak *rb = a->breaks->pdata[i];
		struct rwaiter *rw = rb->rw;
		uint64_t ino = (uint64_t)(uintptr_t)rw->inode;
		int ret;

		/* Under the layout lock: a grant that missed the intent in
		 * the mirror has finished, so lt_break sees its lease. */
		pthread_rwlock_rdlock(&rw->inode->layout_lock);
		ret = lt_break(fs->leases, ino, 0, 0, rb->off, rb->len, rb->nonblock, rw,
			       &rw->waiter_id, &fx);
		pthread_rwlock_unlock(&rw->inode->layout_lock);
		if (ret != LT_PARKED)
			cluster_remote_resumed(rw, ret < 0 ? -ret : 0);
		g_free(rb);
	}
	for (guint i = 0; i < a->clears->len; i++)
		g_main_context_invoke(cl->ctx, job_clear, a->clears->pdata[i]);
	for (guint i = 0; i < a->gone->len; i++)
		g_main_context_invoke(cl->ctx, job_gone, a->gone->pdata[i]);
	for (guint i = 0; i < a->resumes->len; i++) {
		struct resume *r = a->resumes->pdata[i];

		r->fn(r->arg, r->err);
		g_free(r);
	}
	/* The holders those breaks notify, and what the cancels resumed. */
	layout_effects_run(fs->layout, &fx);
	lt_effects_clear(&fx);
	g_ptr_array_free(a->breaks, TRUE);
	g_array_free(a->cancels, TRUE);
	g_ptr_array_free(a->gone, TRUE);
	g_ptr_array_free(a->resumes, TRUE);
	g_ptr_array_free(a->clears, TRUE);
}

/* ---- the watch thread ---- */

struct wbatch {
	struct cluster *cl;
	struct actions a;
	bool started;
};

static void on_event(void *arg, bool put, const struct etcd_kv *kv)
{
	struct wbatch *w = arg;
	struct cluster *cl = w->cl;
	size_t plen = strlen(cl->prefix);

	if (strncmp(kv->key, cl->prefix, plen))
		return;
	if (!w->started) {
		actions_init(&w->a);
		g_mutex_lock(&cl->lock);
		w->started = true;
	}
	apply(cl, put, kv->key + plen, kv->value, kv->create_rev, &w->a);
}

static void on_batch_done(void *arg, int64_t rev)
{
	struct wbatch *w = arg;
	struct cluster *cl = w->cl;

	if (!w->started) {
		actions_init(&w->a);
		g_mutex_lock(&cl->lock);
	}
	if (rev > cl->rev)
		cl->rev = rev;
	evaluate(cl, &w->a);
	g_mutex_unlock(&cl->lock);
	w->started = false;
	actions_run(cl, &w->a);
}

/* Read the whole prefix and make the mirror equal to it: keys it lost are
 * applied as deletes, so nothing a missed event would have done is lost. */
static int resync(struct cluster *cl, GError **error)
{
	GArray *kvs = NULL;
	GHashTable *now;
	GPtrArray *stale;
	struct actions a;
	size_t plen = strlen(cl->prefix);
	int64_t rev;
	GHashTableIter it;
	gpointer k;

	if (etcd_range(cl->etcd, cl->prefix, true, &rev, &kvs, error) < 0)
		return -1;
	now = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < kvs->len; i++)
		g_hash_table_add(now, g_array_index(kvs, struct etcd_kv, i).key + plen);
	actions_init(&a);
	g_mutex_lock(&cl->lock);
	stale = g_ptr_array_new_with_free_func(g_free);
	g_hash_table_iter_init(&it, cl->keys);
	while (g_hash_table_iter_next(&it, &k, NULL))
		if (!g_hash_table_contains(now, k))
			g_ptr_array_add(stale, g_strdup(k));
	/* Answers before intents before interest: deletes in that order
	 * leave no answer to an intent already gone. */
	for (int pass = 0; pass < 4; pass++)
		for (guint i = 0; i < stale->len; i++) {
			const char *rel = stale->pdata[i];

			if (rel[0] == "acxi"[pass])
				apply(cl, false, rel, "", 0, &a);
		}
	for (int pass = 0; pass < 4; pass++)
		for (guint i = 0; i < kvs->len; i++) {
			struct etcd_kv *kv = &g_array_index(kvs, struct etcd_kv, i);

			if (kv->key[plen] == "ixac"[pass] ||
			    (pass == 0 && kv->key[plen] == 'n'))
				apply(cl, true, kv->key + plen, kv->value, kv->create_rev,
				      &a);
		}
	cl->rev = rev;
	evaluate(cl, &a);
	g_mutex_unlock(&cl->lock);
	actions_run(cl, &a);
	g_ptr_array_free(stale, TRUE);
	g_hash_table_destroy(now);
	etcd_kvs_free(kvs);
	return 0;
}

static gpointer watch_thread(gpointer data)
{
	struct cluster *cl = data;
	bool need_resync = true;

	while (!cl->stop) {
		struct wbatch w = {.cl = cl};
		struct etcd_watch_cb cb = {on_event, on_batch_done, &w};
		GError *error = NULL;
		bool compacted = false;
		int64_t from;

		if (need_resync) {
			if (resync(cl, &error) < 0) {
				g_message("cluster: %s", error->message);
				g_clear_error(&error);
				g_usleep(200000);
				continue;
			}
			need_resync = false;
		}
		g_mutex_lock(&cl->lock);
		from = cl->rev + 1;
		g_mutex_unlock(&cl->lock);
		/* From the revision after the last one applied: a reconnect
		 * misses nothing, unless etcd compacted it away (resync). */
		etcd_watch(cl->etcd, cl->prefix, from, &cb, &cl->stop, &compacted,
			   &error);
		if (w.started) { /* a message cut short: apply what came */
			g_mutex_unlock(&cl->lock);
			actions_run(cl, &w.a);
		}
		if (compacted)
			need_resync = true;
		if (!cl->stop)
			g_message(
			    "cluster: %s; watching again from revision %" G_GINT64_FORMAT,
			    error->message, from);
		g_clear_error(&error);
		if (!cl->stop)
			g_usleep(100000);
	}
	return NULL;
}

/* ---- answers and withdrawn intents (cluster thread) ---- */

static void inval(struct cluster *cl, struct pinfs_inode *inode)
{
	if (cl->fs->se)
		fuse_lowlevel_notify_inval_inode(cl->fs->se, inode_nodeid(cl->fs, inode),
						 0, 0);
}

/* Our break for another node's intent is over: drop the file's cached
 * pages (the change comes next) and answer. */
static gboolean job_answer(gpointer data)
{
	struct rwaiter *rw = data;
	struct cluster *cl = rw->cl;
	int err = rw->err;
	struct mfile *mf;
	struct mintent *mi = NULL;
	GError *error = NULL;
	bool ok = false;
	char *k;

	g_mutex_lock(&cl->lock);
	mf = mfile_get(cl, rw->file, false);
	if (mf)
		mi = g_hash_table_lookup(mf->intents, rw->ikey);
	if (mi && mi->rw == rw) {
		mi->rw = NULL;
		mi->answered = true;
		ok = true;
	}
	g_mutex_unlock(&cl->lock);
	if (ok && err != ECANCELED) {
		char val[16];

		inval(cl, rw->inode);
		g_snprintf(val, sizeof(val), "%d", err);
		k = key(cl, "a/%s/%s/%s", rw->file, rw->ikey, cl->node);
		if (etcd_put(cl->etcd, k, val, atomic_load(&cl->lease), &error) < 0) {
			g_message("cluster: cannot answer %s: %s", rw->ikey,
				  error->message);
			g_clear_error(&error);
		}
		g_free(k);
	}
	inode_forget(cl->fs, rw->inode, 1);
	g_free(rw->file);
	g_free(rw->ikey);
	g_free(rw);
	return G_SOURCE_REMOVE;
}

static void gone_free(struct gone *g)
{
	if (g->inode)
		inode_forget(g->cl->fs, g->inode, 1);
	g_free(g->file);
	g_free(g->ikey);
	g_free(g);
}

/* Another node's change is made: drop our cached pages of the file, then
 * say so (I6), unless the intent went meanwhile (then nobody waits). */
static gboolean job_clear(gpointer data)
{
	struct gone *g = data;
	struct cluster *cl = g->cl;
	struct mintent *mi = NULL;
	GError *error = NULL;
	struct mfile *mf;
	char *k;

	if (g->inode)
		inval(cl, g->inode);
	g_mutex_lock(&cl->lock);
	mf = mfile_get(cl, g->file, false);
	if (mf)
		mi = g_hash_table_lookup(mf->intents, g->ikey);
	if (mi) {
		mi->cleared_by_us = true;
		mi->clearing = false;
	}
	g_mutex_unlock(&cl->lock);
	if (mi) {
		k = key(cl, "c/%s/%s/%s", g->file, g->ikey, cl->node);
		if (etcd_put(cl->etcd, k, "", atomic_load(&cl->lease), &error) < 0) {
			g_message("cluster: cannot report %s's pages dropped: %s",
				  g->ikey, error->message);
			g_clear_error(&error);
		}
		g_free(k);
	}
	gone_free(g);
	return G_SOURCE_REMOVE;
}

/* Another node's intent is withdrawn: its change is made (or given up).
 * Drop our cached pages once more unless job_clear did after the change
 * (leases may have come since), and our answer. */
static gboolean job_gone(gpointer data)
{
	struct gone *g = data;
	struct cluster *cl = g->cl;
	GError *error = NULL;

	if (g->inode) {
		if (!g->cleared)
			inval(cl, g->inode);
		inode_forget(cl->fs, g->inode, 1);
	}
	if (g->answered || g->cleared) {
		struct etcd_txn *t = etcd_txn_new();
		char *ak = key(cl, "a/%s/%s/%s", g->file, g->ikey, cl->node);
		char *ck = key(cl, "c/%s/%s/%s", g->file, g->ikey, cl->node);

		etcd_txn_delete(t, ak, false);
		etcd_txn_delete(t, ck, false);
		if (etcd_txn_run(cl->etcd, t, NULL, NULL, &error) < 0)
			g_clear_error(&error); /* they go with our lease anyway */
		g_free(ak);
		g_free(ck);
	}
	g_free(g->file);
	g_free(g->ikey);
	g_free(g);
	return G_SOURCE_REMOVE;
}

bool cluster_is_remote(const void *waiter_data)
{
	return *(const uint32_t *)waiter_data == REMOTE_TAG;
}

/* From the lease table's resume callback, maybe under its callers' locks:
 * only queue. */
void cluster_remote_resumed(void *waiter_data, int err)
{
	struct rwaiter *rw = waiter_data;

	rw->err = err;
	g_main_context_invoke(rw->cl->ctx, job_answer, rw);
}

/* ---- grants ---- */

/* rel is "x/FILE/NODE/SEQ": is NODE us? */
static bool intent_is_ours(struct cluster *cl, const char *rel)
{
	char **parts = g_strsplit(rel, "/", 5);
	bool ours = g_strv_length(parts) == 4 && !strcmp(parts[2], cl->node);

	g_strfreev(parts);
	return ours;
}

int cluster_grant(struct cluster *cl, struct pinfs_inode *inode, uint64_t off,
		  uint64_t len)
{
	char *id = file_id(inode), *ik = NULL, *xk = NULL;
	struct etcd_txn *t;
	GPtrArray *ranges = NULL;
	GError *error = NULL;
	struct actions seed;
	struct mfile *mf;
	int64_t rev;
	int ret = 0;

	g_mutex_lock(&cl->lock);
	mf = mfile_get(cl, id, false);
	if (mf && mf->local) {
		ret = foreign_intent(cl, mf, off, len) ? -EAGAIN : 0;
		g_mutex_unlock(&cl->lock);
		goto out;
	}
	g_mutex_unlock(&cl->lock);
	if (atomic_load(&cl->state) != CL_UP) {
		ret = -ENOLCK;
		goto out;
	}
	/* The file's first lease here: announce interest and read the
	 * intents in one transaction (I1). */
	ik = key(cl, "i/%s/%s", id, cl->node);
	xk = key(cl, "x/%s/", id);
	t = etcd_txn_new();
	etcd_txn_put(t, ik, "", atomic_load(&cl->lease));
	etcd_txn_range(t, xk, true);
	if (etcd_txn_run(cl->etcd, t, &rev, &ranges, &error) < 0) {
		g_message("cluster: lease on %s refused: %s", id, error->message);
		g_clear_error(&error);
		ret = -ENOLCK;
		goto out;
	}
	actions_init(&seed);
	g_mutex_lock(&cl->lock);
	mf = mfile_get(cl, id, true);
	if (ranges->len) {
		GArray *kvs = ranges->pdata[0];
		size_t plen = strlen(cl->prefix);

		for (guint i = 0; i < kvs->len; i++) {
			struct etcd_kv *kv = &g_array_index(kvs, struct etcd_kv, i);
			uint64_t o, l;
			bool nb, made;

			/* Seed the mirror only while its watch is behind this
			 * transaction: it will replay the intent's delete.
			 * (Before mf->local is set: no break for it, as its
			 * change does not wait for us.) */
			if (cl->rev < rev)
				apply(cl, true, kv->key + plen, kv->value, kv->create_rev,
				      &seed);
			if (parse_intent(kv->value, &o, &l, &nb, &made) && !made &&
			    overlaps(o, l, off, len) &&
			    !intent_is_ours(cl, kv->key + plen))
				ret = -EAGAIN;
		}
	}
	mf = mfile_get(cl, id, true);
	if (!mf->local) {
		mf->local = true;
		mf->inode = inode;
		inode_hold(cl->fs, inode);
	}
	mf->idle_since_us = 0;
	g_mutex_unlock(&cl->lock);
	actions_run(cl, &seed); /* empty: puts of intents we do not break */
	g_ptr_array_free(ranges, TRUE);
out:
	g_free(id);
	g_free(ik);
	g_free(xk);
	return ret;
}

/* ---- changes ---- */

static void change_unref(struct cluster_change *ch)
{
	if (!g_atomic_int_dec_and_test(&ch->refs))
		return;
	g_free(ch->file);
	g_free(ch->ikey);
	if (ch->required)
		g_hash_table_destroy(ch->required);
	g_free(ch);
}

/* Announce ch's intent and read who may hold leases on the file, at one
 * revision (I1, I3): fills ch->required and ch->rev.  The caller keeps
 * ch out of evaluate() meanwhile (not parked yet, or ch->quorum). */
static int announce(struct cluster *cl, struct etcd *e, struct cluster_change *ch,
		    GError **error)
{
	char *xk = key(cl, "x/%s/%s", ch->file, ch->ikey);
	char *ik = key(cl, "i/%s/", ch->file);
	size_t plen = strlen(cl->prefix);
	GPtrArray *ranges = NULL;
	struct etcd_txn *t;
	char val[80];
	int ret;

	g_snprintf(val, sizeof(val), "%" PRIu64 " %" PRIu64 " %d 0", ch->off, ch->len,
		   ch->nonblock);
	t = etcd_txn_new();
	etcd_txn_put(t, xk, val, atomic_load(&cl->lease));
	etcd_txn_range(t, ik, true);
	ret = etcd_txn_run(e, t, &ch->rev, &ranges, error);
	g_free(xk);
	g_free(ik);
	if (ret < 0)
		return -1;
	g_hash_table_remove_all(ch->required);
	for (guint i = 0; ranges->len && i < ((GArray *)ranges->pdata[0])->len; i++) {
		struct etcd_kv *kv =
		    &g_array_index((GArray *)ranges->pdata[0], struct etcd_kv, i);
		const char *peer = strrchr(kv->key + plen, '/') + 1;
		int64_t *r;

		if (!strcmp(peer, cl->node))
			continue;
		r = g_new(int64_t, 1);
		*r = kv->create_rev;
		g_hash_table_replace(ch->required, g_strdup(peer), r);
	}
	g_ptr_array_free(ranges, TRUE);
	return 0;
}

/* With quorum=wait: park ch until etcd answers again (retry_quorum). */
static int wait_quorum(struct cluster *cl, struct cluster_change *ch)
{
	g_mutex_lock(&cl->lock);
	ch->quorum = true;
	ch->parked = true;
	cl->pending = g_list_append(cl->pending, ch);
	g_mutex_unlock(&cl->lock);
	return 1;
}

static gboolean job_withdraw(gpointer data);

int cluster_change_begin(struct cluster *cl, struct pinfs_inode *inode, uint64_t off,
			 uint64_t len, bool nonblock, void (*resume)(void *arg, int err),
			 void *arg, struct cluster_change **chp)
{
	struct cluster_change *ch = g_new0(struct cluster_change, 1);
	GError *error = NULL;
	struct actions a;
	int ret;

	*chp = NULL;
	ch->cl = cl;
	ch->refs = 1;
	ch->file = file_id(inode);
	ch->ikey =
	    g_strdup_printf("%s/%" PRIu64, cl->node, atomic_fetch_add(&cl->seq, 1));
	ch->resume = resume;
	ch->arg = arg;
	ch->off = off;
	ch->len = len;
	ch->nonblock = nonblock;
	ch->required = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, i64_free);
	if (atomic_load(&cl->state) != CL_UP) {
		if (cl->fs->cfg.quorum_wait) {
			*chp = ch;
			return wait_quorum(cl, ch);
		}
		change_unref(ch);
		return -ENOLCK;
	}
	if (announce(cl, cl->etcd, ch, &error) < 0) {
		g_message("cluster: change of %s %s: %s", ch->file,
			  cl->fs->cfg.quorum_wait ? "waits for etcd" : "refused",
			  error->message);
		g_clear_error(&error);
		ch->unsure = true;
		*chp = ch; /* the caller withdraws it: the put may have landed */
		if (cl->fs->cfg.quorum_wait)
			return wait_quorum(cl, ch);
		return -ENOLCK;
	}
	*chp = ch;
	if (!g_hash_table_size(ch->required))
		return 0;
	/* O_NONBLOCK waits too, but only for the answers: each node breaks
	 * without waiting (rule 9) and answers EWOULDBLOCK if a lease of
	 * its own conflicts, 0 if none does. */
	actions_init(&a);
	g_mutex_lock(&cl->lock);
	ch->parked = true;
	cl->pending = g_list_append(cl->pending, ch);
	ret = 1;
	evaluate(cl, &a); /* the mirror may be past ch->rev already */
	g_mutex_unlock(&cl->lock);
	actions_run(cl, &a);
	return ret;
}

/*
 * Live thread, with quorum=wait: announce the changes parked for etcd
 * again (through the live client, whose requests fail fast), and let them
 * go on as if announced at first.  A change cancelled meanwhile (EINTR)
 * has its intent deleted again here, as its withdrawal may have come
 * before this put.
 */
static void retry_quorum(struct cluster *cl)
{
	GPtrArray *todo = g_ptr_array_new();
	bool down = false;
	GList *l;

	g_mutex_lock(&cl->lock);
	for (l = cl->pending; l; l = l->next) {
		struct cluster_change *ch = l->data;

		if (ch->quorum) {
			g_atomic_int_inc(&ch->refs);
			g_ptr_array_add(todo, ch);
		}
	}
	g_mutex_unlock(&cl->lock);
	for (guint i = 0; i < todo->len; i++) {
		struct cluster_change *ch = todo->pdata[i];
		GError *error = NULL;
		struct actions a;

		if (down || cl->stop || atomic_load(&cl->state) != CL_UP ||
		    announce(cl, cl->live, ch, &error) < 0) {
			g_clear_error(&error);
			down = true;
			change_unref(ch);
			continue;
		}
		actions_init(&a);
		g_mutex_lock(&cl->lock);
		if (!ch->parked) {
			char *k = key(cl, "x/%s/%s", ch->file, ch->ikey);

			g_mutex_unlock(&cl->lock);
			if (etcd_delete(cl->live, k, false, &error) < 0)
				g_clear_error(&error); /* it goes with our lease */
			g_free(k);
		} else {
			g_message("cluster: etcd answers again: change %s goes on",
				  ch->ikey);
			ch->quorum = false;
			if (!g_hash_table_size(ch->required)) {
				cl->pending = g_list_remove(cl->pending, ch);
				queue_resume(&a, ch, 0);
			}
			evaluate(cl, &a);
			g_mutex_unlock(&cl->lock);
		}
		actions_run(cl, &a);
		change_unref(ch);
	}
	g_ptr_array_free(todo, TRUE);
}

/* Live thread: delete the intents withdrawn while etcd did not answer. */
static void withdraw_again(struct cluster *cl)
{
	GPtrArray *keys;

	g_mutex_lock(&cl->lock);
	keys = cl->withdraw_later;
	cl->withdraw_later = g_ptr_array_new_with_free_func(g_free);
	g_mutex_unlock(&cl->lock);
	for (guint i = 0; i < keys->len; i++) {
		GError *error = NULL;

		if (etcd_delete(cl->live, keys->pdata[i], false, &error) < 0) {
			g_clear_error(&error);
			g_mutex_lock(&cl->lock);
			g_ptr_array_add(cl->withdraw_later, g_strdup(keys->pdata[i]));
			g_mutex_unlock(&cl->lock);
		}
	}
	g_ptr_array_free(keys, TRUE);
}

static bool quorum_waiting(struct cluster *cl)
{
	bool any = false;

	g_mutex_lock(&cl->lock);
	for (GList *l = cl->pending; l && !any; l = l->next)
		any = ((struct cluster_change *)l->data)->quorum;
	g_mutex_unlock(&cl->lock);
	return any;
}

void cluster_change_cancel(struct cluster *cl, struct cluster_change *ch, int err)
{
	bool was = false;

	g_mutex_lock(&cl->lock);
	if (ch->parked) {
		ch->parked = false;
		cl->pending = g_list_remove(cl->pending, ch);
		was = true;
	}
	g_mutex_unlock(&cl->lock);
	if (was)
		ch->resume(ch->arg, err);
}

int cluster_change_made(struct cluster *cl, struct cluster_change *ch,
			void (*resume)(void *arg, int err), void *arg)
{
	GError *error = NULL;
	struct etcd_txn *t;
	struct actions a;
	char *xk, val[80];
	int64_t rev;
	int ret;

	if (!g_hash_table_size(ch->required) || atomic_load(&cl->state) != CL_UP)
		return 0;
	xk = key(cl, "x/%s/%s", ch->file, ch->ikey);
	g_snprintf(val, sizeof(val), "%" PRIu64 " %" PRIu64 " %d 1", ch->off, ch->len,
		   ch->nonblock);
	t = etcd_txn_new();
	etcd_txn_put(t, xk, val, atomic_load(&cl->lease));
	ret = etcd_txn_run(cl->etcd, t, &rev, NULL, &error);
	g_free(xk);
	if (ret < 0) {
		/* The nodes that answered cannot hear it: they drop their
		 * pages when the intent goes, or fence themselves. */
		g_message("cluster: cannot mark %s made: %s", ch->ikey, error->message);
		g_clear_error(&error);
		return 0;
	}
	actions_init(&a);
	g_mutex_lock(&cl->lock);
	ch->made = true;
	ch->rev = rev;
	ch->resume = resume;
	ch->arg = arg;
	ch->parked = true;
	cl->pending = g_list_append(cl->pending, ch);
	evaluate(cl, &a);
	g_mutex_unlock(&cl->lock);
	actions_run(cl, &a);
	return 1;
}

static gboolean job_withdraw(gpointer data)
{
	struct cluster_change *ch = data;
	struct cluster *cl = ch->cl;
	GError *error = NULL;
	char *k = key(cl, "x/%s/%s", ch->file, ch->ikey);

	/* While etcd is in trouble, through the live client (it fails fast,
	 * so the watchdog on this thread is not held up), and again later. */
	if (etcd_delete(atomic_load(&cl->state) == CL_UP && !ch->unsure ? cl->etcd
									: cl->live,
			k, false, &error) < 0) {
		g_message("cluster: cannot withdraw %s yet: %s", ch->ikey,
			  error->message);
		g_clear_error(&error);
		g_mutex_lock(&cl->lock);
		g_ptr_array_add(cl->withdraw_later, k);
		g_mutex_unlock(&cl->lock);
		k = NULL;
	}
	g_free(k);
	change_unref(ch);
	return G_SOURCE_REMOVE;
}

void cluster_change_done(struct cluster *cl, struct cluster_change *ch)
{
	if (!ch)
		return;
	g_main_context_invoke(cl->ctx, job_withdraw, ch);
}

const char *cluster_node(struct cluster *cl)
{
	return cl->node;
}

/* ---- node liveness (cluster thread) ---- */

/*
 * We may have been declared dead (or soon will be): the others no longer
 * wait for our answers, so our leases must end now (I5).  Holders are told
 * as for any break (signal, POLLPRI), then every lease is revoked; parked
 * changes of ours fail with ENOLCK.
 */
struct fence_collect {
	GArray *ids;
	GHashTable *inos;
};

static void collect_lease(const struct lt_lease_info *li, void *arg)
{
	struct fence_collect *fc = arg;

	g_array_append_val(fc->ids, li->lease_id);
	g_hash_table_add(fc->inos, GSIZE_TO_POINTER((gsize)li->ino));
}

static void fence(struct cluster *cl, const char *why)
{
	struct lt_effects fx = LT_EFFECTS_INIT;
	struct fence_collect fc;
	GPtrArray *inodes = g_ptr_array_new();
	struct actions a;
	GHashTableIter it;
	gpointer v;

	int up = CL_UP;

	if (!atomic_compare_exchange_strong(&cl->state, &up, CL_FENCING))
		return;
	g_warning("cluster: %s: revoking every lease of node %s", why, cl->node);
	actions_init(&a);
	g_mutex_lock(&cl->lock);
	g_hash_table_iter_init(&it, cl->files);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct mfile *mf = v;

		if (mf->local && mf->inode)
			g_ptr_array_add(inodes, mf->inode);
		mf->local = false;
		mf->inode = NULL;
	}
	if (cl->fs->cfg.quorum_wait) {
		/* Changes not made yet wait for etcd; their intents went
		 * with our lease, or will. */
		GList *l, *next;

		for (l = cl->pending; l; l = next) {
			struct cluster_change *ch = l->data;

			next = l->next;
			if (!ch->made) {
				ch->quorum = true;
				continue;
			}
			queue_resume(&a, ch, ENOLCK);
			cl->pending = g_list_delete_link(cl->pending, l);
		}
	} else {
		fail_pending(cl, &a, ENOLCK);
	}
	g_mutex_unlock(&cl->lock);
	actions_run(cl, &a);

	fc.ids = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	fc.inos = g_hash_table_new(g_direct_hash, g_direct_equal);
	lt_foreach_lease(cl->fs->leases, collect_lease, &fc);
	/* Tell the holders (a non-blocking break starts each break and
	 * refuses), then revoke. */
	g_hash_table_iter_init(&it, fc.inos);
	while (g_hash_table_iter_next(&it, &v, NULL))
		lt_break(cl->fs->leases, (uint64_t)GPOINTER_TO_SIZE(v), 0, 0, 0,
			 UINT64_MAX, true, NULL, NULL, &fx);
	for (guint i = 0; i < fc.ids->len; i++)
		lt_revoke(cl->fs->leases, g_array_index(fc.ids, uint64_t, i), &fx);
	layout_effects_run(cl->fs->layout, &fx);
	lt_effects_clear(&fx);
	g_array_free(fc.ids, TRUE);
	g_hash_table_destroy(fc.inos);
	for (guint i = 0; i < inodes->len; i++)
		inode_forget(cl->fs, inodes->pdata[i], 1);
	g_ptr_array_free(inodes, TRUE);
	atomic_store(&cl->state, CL_DOWN);
}

/* Live thread: a fresh etcd lease and node key; the old lease (and with it
 * any key a fenced node left) is revoked first, best effort. */
static int register_node(struct cluster *cl, GError **error)
{
	int64_t lease, old = atomic_load(&cl->lease);
	char *k, *v;
	int ret;

	if (old)
		etcd_lease_revoke(cl->live, old, NULL);
	if (etcd_lease_grant(cl->live, cl->ttl, &lease, error) < 0)
		return -1;
	k = key(cl, "n/%s", cl->node);
	v = g_strdup_printf("%d %s", (int)getpid(), cl->fs->cfg.mountpoint);
	ret = etcd_put(cl->live, k, v, lease, error);
	g_free(k);
	g_free(v);
	if (ret < 0) {
		etcd_lease_revoke(cl->live, lease, NULL);
		return -1;
	}
	atomic_store(&cl->lease, lease);
	atomic_store(&cl->last_ok_us, now_us());
	atomic_store(&cl->lease_gone, false);
	return 0;
}

/*
 * Renew the node's etcd lease every TTL/3, or join again once fenced.  A
 * thread of its own, so that a renewal hanging on a member without quorum
 * never delays the watchdog (on_watchdog) that fences the node.
 */
static gpointer live_thread(gpointer data)
{
	struct cluster *cl = data;
	bool complained = false;

	while (!cl->stop) {
		GError *error = NULL;
		gint64 sent = now_us(), until;
		int64_t left = 0;

		if (atomic_load(&cl->state) == CL_DOWN) {
			if (register_node(cl, &error) == 0) {
				g_message("cluster: node %s joined again", cl->node);
				atomic_store(&cl->state, CL_UP);
				complained = false;
			}
		} else if (atomic_load(&cl->state) == CL_UP) {
			if (etcd_lease_keepalive(cl->live, atomic_load(&cl->lease), &left,
						 &error) == 0) {
				if (left > 0)
					atomic_store(&cl->last_ok_us, sent);
				else
					atomic_store(&cl->lease_gone, true);
				complained = false;
			} else if (!complained) {
				g_message(
				    "cluster: cannot renew the node's etcd lease: %s",
				    error->message);
				complained = true;
			}
		}
		g_clear_error(&error);
		if (atomic_load(&cl->state) == CL_UP && quorum_waiting(cl))
			retry_quorum(cl);
		if (atomic_load(&cl->state) == CL_UP && cl->withdraw_later->len)
			withdraw_again(cl);
		/* Changes waiting for etcd: try again soon. */
		until = sent + (quorum_waiting(cl) ? G_USEC_PER_SEC / 2
						   : cl->ttl * G_USEC_PER_SEC / 3);
		while (!cl->stop && now_us() < until)
			g_usleep(50000);
	}
	return NULL;
}

/* Cluster thread, every 100 ms: fence once the etcd lease is gone or may
 * be.  etcd counts the TTL from when it got our last renewal, after we sent
 * it: fence a little before the TTL runs out (I5). */
static gboolean on_watchdog(gpointer data)
{
	struct cluster *cl = data;

	if (atomic_load(&cl->state) != CL_UP)
		return G_SOURCE_CONTINUE;
	if (atomic_load(&cl->lease_gone))
		fence(cl, "the node's etcd lease expired");
	else if (now_us() - atomic_load(&cl->last_ok_us) >=
		 cl->ttl * G_USEC_PER_SEC - 300000)
		fence(cl, "etcd unreachable for the node's TTL");
	return G_SOURCE_CONTINUE;
}

/* Drop interest in files without leases for a while, so that changes of
 * them need not ask us; under the layout lock, so no grant is racing. */
static gboolean on_idle_scan(gpointer data)
{
	struct cluster *cl = data;
	GPtrArray *cand = g_ptr_array_new_with_free_func(g_free);
	GHashTableIter it;
	gpointer v;
	gint64 now = now_us();

	g_mutex_lock(&cl->lock);
	g_hash_table_iter_init(&it, cl->files);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct mfile *mf = v;

		if (!mf->local || atomic_load(&mf->inode->lease_active)) {
			mf->idle_since_us = 0;
			continue;
		}
		if (!mf->idle_since_us)
			mf->idle_since_us = now;
		else if (now - mf->idle_since_us > 2 * G_USEC_PER_SEC)
			g_ptr_array_add(cand, g_strdup(mf->id));
	}
	g_mutex_unlock(&cl->lock);
	for (guint i = 0; i < cand->len; i++) {
		struct pinfs_inode *inode = NULL;
		struct mfile *mf;
		GError *error = NULL;
		char *k;

		g_mutex_lock(&cl->lock);
		mf = mfile_get(cl, cand->pdata[i], false);
		if (mf && mf->local)
			inode = mf->inode;
		if (inode)
			inode_hold(cl->fs, inode);
		g_mutex_unlock(&cl->lock);
		if (!inode)
			continue;
		pthread_rwlock_wrlock(&inode->layout_lock);
		g_mutex_lock(&cl->lock);
		mf = mfile_get(cl, cand->pdata[i], false);
		if (!mf || !mf->local || mf->inode != inode ||
		    atomic_load(&inode->lease_active) ||
		    g_hash_table_size(mf->intents) /* answering */) {
			g_mutex_unlock(&cl->lock);
			pthread_rwlock_unlock(&inode->layout_lock);
			inode_forget(cl->fs, inode, 1);
			continue;
		}
		g_mutex_unlock(&cl->lock);
		k = key(cl, "i/%s/%s", (char *)cand->pdata[i], cl->node);
		if (etcd_delete(cl->etcd, k, false, &error) == 0) {
			g_mutex_lock(&cl->lock);
			mf->local = false;
			mf->inode = NULL;
			mf->idle_since_us = 0;
			g_mutex_unlock(&cl->lock);
			inode_forget(cl->fs, inode, 1); /* interest's hold */
		} else {
			g_clear_error(&error);
		}
		g_free(k);
		pthread_rwlock_unlock(&inode->layout_lock);
		inode_forget(cl->fs, inode, 1);
	}
	g_ptr_array_free(cand, TRUE);
	return G_SOURCE_CONTINUE;
}

/* ---- visibility: l/ keys and pinfsctl ---- */

void cluster_note(struct cluster *cl, struct pinfs_inode *inode)
{
	char id[17];

	g_snprintf(id, sizeof(id), "%016" PRIx64, (uint64_t)inode->ino);
	g_mutex_lock(&cl->dirty_lock);
	if (!g_hash_table_contains(cl->dirty, id))
		g_hash_table_insert(cl->dirty, g_strdup(id), inode);
	g_mutex_unlock(&cl->dirty_lock);
}

struct publish_collect {
	uint64_t ino;
	JsonBuilder *b;
	unsigned n;
};

static void collect_file_lease(const struct lt_lease_info *li, void *arg)
{
	struct publish_collect *pc = arg;

	if (li->ino != pc->ino)
		return;
	json_builder_begin_object(pc->b);
	json_member_u64(pc->b, "id", li->lease_id);
	json_member_int(pc->b, "pid", li->pid);
	json_member_str(pc->b, "type", lt_type_name(li->type));
	json_member_bool(pc->b, "exclusive", li->exclusive);
	json_member_str(pc->b, "state", lt_state_name(li->state));
	json_member_u64(pc->b, "offset", li->off);
	json_member_len(pc->b, "length", li->len);
	json_builder_end_object(pc->b);
	pc->n++;
}

/*
 * Cluster thread, every 250 ms: write the leases of the files whose leases
 * changed to l/FILE/NODE (or delete it), so that pinfsctl on any node
 * lists them.  For display only: the protocol never reads l/ keys, and a
 * lease call costs one hash insertion for it (cluster_note).
 */
static gboolean on_publish(gpointer data)
{
	struct cluster *cl = data;
	GHashTable *dirty;
	GHashTableIter it;
	gpointer k, v;

	if (atomic_load(&cl->state) != CL_UP)
		return G_SOURCE_CONTINUE;
	g_mutex_lock(&cl->dirty_lock);
	if (!g_hash_table_size(cl->dirty)) {
		g_mutex_unlock(&cl->dirty_lock);
		return G_SOURCE_CONTINUE;
	}
	dirty = cl->dirty;
	cl->dirty = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_mutex_unlock(&cl->dirty_lock);
	g_hash_table_iter_init(&it, dirty);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		struct publish_collect pc = {.ino = (uint64_t)(uintptr_t)v};
		char *lk = key(cl, "l/%s/%s", (char *)k, cl->node), *text;
		GError *error = NULL;
		int ret;

		pc.b = json_builder_new();
		json_builder_begin_array(pc.b);
		lt_foreach_lease(cl->fs->leases, collect_file_lease, &pc);
		json_builder_end_array(pc.b);
		text = json_text_of(pc.b, NULL);
		if (pc.n)
			ret =
			    etcd_put(cl->etcd, lk, text, atomic_load(&cl->lease), &error);
		else
			ret = etcd_delete(cl->etcd, lk, false, &error);
		if (ret < 0)
			g_clear_error(&error); /* shown stale; it goes with our lease */
		g_free(text);
		g_object_unref(pc.b);
		g_free(lk);
	}
	g_hash_table_destroy(dirty);
	return G_SOURCE_CONTINUE;
}

/* One node's l/ value: its leases on mf, each as an object with node and
 * file added. */
static void describe_leases(JsonBuilder *b, struct mfile *mf, const char *node,
			    const char *text)
{
	JsonParser *p = json_parser_new();
	JsonArray *a = NULL;

	if (json_parser_load_from_data(p, text, -1, NULL) &&
	    JSON_NODE_HOLDS_ARRAY(json_parser_get_root(p)))
		a = json_node_get_array(json_parser_get_root(p));
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonNode *e = json_array_get_element(a, i);
		JsonObjectIter oi;
		const char *name;
		JsonNode *val;

		if (!JSON_NODE_HOLDS_OBJECT(e))
			continue;
		json_builder_begin_object(b);
		json_member_str(b, "node", node);
		json_member_str(b, "file", mf->id);
		json_object_iter_init(&oi, json_node_get_object(e));
		while (json_object_iter_next(&oi, &name, &val)) {
			json_builder_set_member_name(b, name);
			json_builder_add_value(b, json_node_copy(val));
		}
		json_builder_end_object(b);
	}
	g_object_unref(p);
}

/* One intent: a change parked (or being made) on its node. */
static void describe_change(JsonBuilder *b, struct mfile *mf, const char *ikey,
			    struct mintent *mi)
{
	GHashTableIter it;
	gpointer k;

	json_builder_begin_object(b);
	json_member_str(b, "node", mi->node);
	json_member_str(b, "file", mf->id);
	json_member_str(b, "intent", ikey);
	json_member_u64(b, "offset", mi->off);
	json_member_len(b, "length", mi->len);
	json_member_bool(b, "nonblock", mi->nonblock);
	/* Nodes with interest in the file that have not answered. */
	json_builder_set_member_name(b, "waiting_for");
	json_builder_begin_array(b);
	g_hash_table_iter_init(&it, mf->interest);
	while (g_hash_table_iter_next(&it, &k, NULL))
		if (strcmp(k, mi->node) && !g_hash_table_contains(mi->answers, k))
			json_builder_add_string_value(b, k);
	json_builder_end_array(b);
	json_builder_end_object(b);
}

void cluster_describe(struct cluster *cl, const char *what, JsonBuilder *b)
{
	bool leases = !strcmp(what, "leases");
	GHashTableIter fit, it;
	gpointer fv, k, v;

	json_builder_set_member_name(b, "cluster");
	json_builder_begin_object(b);
	json_member_str(b, "node", cl->node);
	json_member_str(b, "cluster", cl->name);
	json_member_str(b, "state", atomic_load(&cl->state) == CL_UP ? "up" : "fenced");
	json_builder_set_member_name(b, leases ? "leases" : "changes");
	json_builder_begin_array(b);
	g_mutex_lock(&cl->lock);
	g_hash_table_iter_init(&fit, cl->files);
	while (g_hash_table_iter_next(&fit, NULL, &fv)) {
		struct mfile *mf = fv;

		g_hash_table_iter_init(&it, leases ? mf->leases : mf->intents);
		while (g_hash_table_iter_next(&it, &k, &v)) {
			if (leases)
				describe_leases(b, mf, k, v);
			else
				describe_change(b, mf, k, v);
		}
	}
	g_mutex_unlock(&cl->lock);
	json_builder_end_array(b);
	json_builder_end_object(b);
}

static gpointer cluster_thread(gpointer data)
{
	struct cluster *cl = data;

	g_main_context_push_thread_default(cl->ctx);
	g_main_loop_run(cl->loop);
	g_main_context_pop_thread_default(cl->ctx);
	return NULL;
}

static bool node_name_ok(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!g_ascii_isalnum(*s) && !strchr("._-", *s))
			return false;
	return true;
}

/* Free the etcd clients, the names and cl: what cluster_new sets up first,
 * all there is to free when it fails. */
static void cluster_free_base(struct cluster *cl)
{
	etcd_free(cl->etcd);
	etcd_free(cl->live);
	g_free(cl->node);
	g_free(cl->name);
	g_free(cl->prefix);
	g_free(cl);
}

struct cluster *cluster_new(struct pinfs *fs, GError **error)
{
	struct cluster *cl = g_new0(struct cluster, 1);
	GArray *kvs = NULL;
	GSource *src;
	char *k;

	cl->fs = fs;
	cl->node = g_strdup(fs->cfg.node ? fs->cfg.node : g_get_host_name());
	if (fs->cfg.cluster) {
		cl->name = g_strdup(fs->cfg.cluster);
	} else {
		struct statfs sfs;
		struct stat st;

		if (statfs(fs->cfg.backing, &sfs) < 0 || stat(fs->cfg.backing, &st) < 0) {
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
				    "cluster: %s: %s", fs->cfg.backing,
				    g_strerror(errno));
			goto fail;
		}
		cl->name =
		    g_strdup_printf("fs-%08x%08x-%" PRIx64, (unsigned)sfs.f_fsid.__val[0],
				    (unsigned)sfs.f_fsid.__val[1], (uint64_t)st.st_ino);
	}
	if (!node_name_ok(cl->node) || !node_name_ok(cl->name)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "cluster: node and cluster names may hold only letters, "
			    "digits, '.', '_' and '-' (node \"%s\", cluster \"%s\")",
			    cl->node, cl->name);
		goto fail;
	}
	cl->ttl = fs->cfg.etcd_ttl;
	cl->prefix = g_strdup_printf("/pinfs/%s/", cl->name);
	cl->etcd = etcd_new(fs->cfg.etcd, error);
	if (!cl->etcd)
		goto fail;
	cl->live = etcd_new(fs->cfg.etcd, error);
	if (!cl->live)
		goto fail;
	etcd_set_timeout(cl->live, (unsigned)(cl->ttl * 1000 / 6));
	/* Requests must fail well inside the TTL, so that a node cut off
	 * fences itself before the others give up on it. */
	etcd_set_timeout(cl->etcd, (unsigned)MIN(3000, cl->ttl * 1000 / 3));
	/* ...and go on trying (a leader election, a member restarting) for
	 * most of it: past that, the node fences itself anyway. */
	etcd_set_retry(cl->etcd, (unsigned)(cl->ttl * 1000 - 500));
	k = key(cl, "n/%s", cl->node);
	if (etcd_range(cl->etcd, k, false, NULL, &kvs, error) < 0) {
		g_free(k);
		goto fail;
	}
	g_free(k);
	if (kvs->len) {
		etcd_kvs_free(kvs);
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
			    "cluster %s: node %s is already up (another daemon, or one "
			    "that died less than %" G_GINT64_FORMAT " s ago)",
			    cl->name, cl->node, cl->ttl);
		goto fail;
	}
	etcd_kvs_free(kvs);
	if (register_node(cl, error) < 0)
		goto fail;
	g_mutex_init(&cl->lock);
	g_mutex_init(&cl->dirty_lock);
	cl->dirty = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	cl->files = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, mfile_free);
	cl->keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	cl->withdraw_later = g_ptr_array_new_with_free_func(g_free);
	cl->ctx = g_main_context_new();
	cl->loop = g_main_loop_new(cl->ctx, FALSE);
	src = cl->timers[0] = g_timeout_source_new(100);
	g_source_set_callback(src, on_watchdog, cl, NULL);
	g_source_attach(src, cl->ctx);
	src = cl->timers[1] = g_timeout_source_new(250);
	g_source_set_callback(src, on_publish, cl, NULL);
	g_source_attach(src, cl->ctx);
	src = cl->timers[2] = g_timeout_source_new(1000);
	g_source_set_callback(src, on_idle_scan, cl, NULL);
	g_source_attach(src, cl->ctx);
	cl->thread = g_thread_new("pinfs-cluster", cluster_thread, cl);
	cl->watch_thread = g_thread_new("pinfs-watch", watch_thread, cl);
	cl->live_thread = g_thread_new("pinfs-live", live_thread, cl);
	g_message("cluster %s: node %s joined through %s (TTL %" G_GINT64_FORMAT " s)",
		  cl->name, cl->node, fs->cfg.etcd, cl->ttl);
	return cl;
fail:
	cluster_free_base(cl);
	return NULL;
}

static gboolean quit_loop(gpointer data)
{
	g_main_loop_quit(data);
	return G_SOURCE_REMOVE;
}

void cluster_stop(struct cluster *cl)
{
	struct actions a;

	if (!cl || !cl->watch_thread)
		return;
	cl->stop = true;
	g_thread_join(cl->watch_thread);
	cl->watch_thread = NULL;
	actions_init(&a);
	g_mutex_lock(&cl->lock);
	fail_pending(cl, &a, EIO);
	g_mutex_unlock(&cl->lock);
	actions_run(cl, &a);
	/* Stop the threads and timers that use the lease table.  Answers and
	 * withdrawals queued from now on (the table fails its waiters with
	 * EIO) run in cluster_free, which drains the context. */
	g_thread_join(cl->live_thread);
	cl->live_thread = NULL;
	g_main_context_invoke(cl->ctx, quit_loop, cl->loop);
	g_thread_join(cl->thread);
	cl->thread = NULL;
	for (guint i = 0; i < G_N_ELEMENTS(cl->timers); i++) {
		g_source_destroy(cl->timers[i]);
		g_source_unref(cl->timers[i]);
		cl->timers[i] = NULL;
	}
}

void cluster_free(struct cluster *cl)
{
	GError *error = NULL;

	if (!cl)
		return;
	cluster_stop(cl);
	while (g_main_context_iteration(cl->ctx, FALSE))
		;
	if (atomic_load(&cl->state) == CL_UP &&
	    etcd_lease_revoke(cl->live, atomic_load(&cl->lease), &error) < 0)
		g_clear_error(&error);
	g_hash_table_destroy(cl->files);
	g_hash_table_destroy(cl->keys);
	g_ptr_array_free(cl->withdraw_later, TRUE);
	g_hash_table_destroy(cl->dirty);
	g_mutex_clear(&cl->dirty_lock);
	g_mutex_clear(&cl->lock);
	g_main_loop_unref(cl->loop);
	g_main_context_unref(cl->ctx);
	cluster_free_base(cl);
}
