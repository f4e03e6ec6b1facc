/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cluster.h - layout leases across several pinfs daemons over one shared
 * backing directory, coordinated through etcd (docs/cluster.md).
 *
 * The daemon's lease glue (layout.c) calls in at three places:
 *   - a grant (under the inode's layout lock held for writing) asks
 *     cluster_grant(): local and cheap once this node has announced its
 *     interest in the file;
 *   - a layout change asks cluster_change_begin() before the local lease
 *     table: it announces an intent and waits, parked without a thread,
 *     until every node that may hold leases on the file has answered;
 *     cluster_change_done() once the change is made (or failed);
 *   - the lease table's resume callback hands waiters that cluster.c
 *     parked for other nodes' changes (cluster_is_remote) to
 *     cluster_remote_resumed().
 */
#ifndef PINFS_CLUSTER_H
#define PINFS_CLUSTER_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

struct pinfs;
struct pinfs_inode;
struct cluster;
struct cluster_change;

/* Join the cluster named by fs->cfg (etcd=, node=, cluster=, etcd_ttl=):
 * registers the node under an etcd lease and starts watching.  NULL with
 * error if etcd cannot be reached or the node name is taken. */
struct cluster *cluster_new(struct pinfs *fs, GError **error);
/* Unmount, first step (before the lease table goes): stop watching and
 * every thread and timer that uses the table, and fail the changes parked
 * on other nodes with EIO. */
void cluster_stop(struct cluster *cl);
/* Leave: revoke the node's etcd lease (every key of ours goes with it). */
void cluster_free(struct cluster *cl);

/*
 * May a lease on [off, off+len) of inode be granted?  Called with
 * inode->layout_lock held for writing.  0, -EAGAIN (a change on another
 * node overlaps and is being checked or made), or -ENOLCK (this node's
 * first lease on the file must be announced, and etcd cannot be reached).
 */
int cluster_grant(struct cluster *cl, struct pinfs_inode *inode, uint64_t off,
		  uint64_t len);

/*
 * Check a layout change of [off, off+len) of inode against the cluster.
 * Returns 0: go ahead (then *ch is set, and cluster_change_done(*ch) must
 * follow); 1: parked, resume(arg, err) will be called exactly once from a
 * cluster thread with no lock held (err 0: *ch is set, go ahead); or a
 * negative errno: -ENOLCK (etcd unreachable or quorum lost: the change
 * cannot be checked), -EWOULDBLOCK (nonblock and other nodes must be asked),
 * -ETXTBSY (another node holds an exclusive lease or pinned=fail pins).
 */
int cluster_change_begin(struct cluster *cl, struct pinfs_inode *inode, uint64_t off,
			 uint64_t len, bool nonblock, void (*resume)(void *arg, int err),
			 void *arg, struct cluster_change **ch);
/*
 * The change is made (after cluster_change_begin let it go): 0, reply at
 * once; or 1, parked until every node that answered has dropped its cached
 * pages of the file, then resume(arg, err) is called exactly once, from a
 * cluster thread with no lock held (err is informative only: the change is
 * made, so the caller replies with its outcome).  cluster_change_done
 * follows either way.
 */
int cluster_change_made(struct cluster *cl, struct cluster_change *ch,
			void (*resume)(void *arg, int err), void *arg);
/* Give up a parked change (interrupt): resume(arg, err) if not yet. */
void cluster_change_cancel(struct cluster *cl, struct cluster_change *ch, int err);
/* The change is made, or failed: withdraw its intent.  NULL is a no-op. */
void cluster_change_done(struct cluster *cl, struct cluster_change *ch);

/* Lease table waiters parked for other nodes' changes. */
bool cluster_is_remote(const void *waiter_data);
void cluster_remote_resumed(void *waiter_data, int err);

/* For pinfsctl: this node's name and the cluster's. */
const char *cluster_node(struct cluster *cl);

/* The leases of inode changed (a grant, release, break, revocation): its
 * l/ key is rewritten a moment later, for pinfsctl on every node.  Any
 * thread, any lock; one hash insertion. */
void cluster_note(struct cluster *cl, struct pinfs_inode *inode);

/* For the control channel: add member "cluster" to the open JSON object of
 * a "leases" reply (every node's leases, with their node) or a "waiters"
 * reply (every node's parked changes and the nodes they wait for). */
struct _JsonBuilder;
void cluster_describe(struct cluster *cl, const char *what, struct _JsonBuilder *b);

#endif /* PINFS_CLUSTER_H */
