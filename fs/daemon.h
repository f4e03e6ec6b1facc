/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon.h - what the pinfs daemon's files share: the mount's state, the
 * inode table, open files, and the lease glue's entry points.
 */
#ifndef PINFS_DAEMON_H
#define PINFS_DAEMON_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <stddef.h>
#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "lease.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/*
 * A backing inode.  Identity is (dev, ino) of the backing file, so hard
 * links share one inode and renames keep it.  Its FUSE node id is made from
 * the backing file's own handle where that fits (inode.c), so that file
 * handles outlive the daemon; its address is its key in the lease table.
 */
struct pinfs_inode {
	int fd; /* O_PATH descriptor of the backing inode; -1 only for none */
	dev_t dev;
	ino_t ino;
	fuse_ino_t nodeid; /* fixed for the inode's life */
	mode_t type;	   /* S_IFMT bits: fixed for the inode's life */
	/* Protected by pinfs.inode_lock: the kernel's lookup count, and for a
	 * symlink the directory and name it was last looked up by (the only
	 * way to reach its own extended attributes). */
	uint64_t nlookup;
	/* FUSE's generation of this node id: 0 for a node id made from the
	 * backing handle, else unique to this allocation, so that a file
	 * handle naming a node id given out before is refused. */
	uint32_t generation;
	/* Once forgotten, a "tombstone" (inode.c): fd is -1 and this is the
	 * backing file's handle, by which a file handle of ours is resolved
	 * again; tomb_link is its place in the queue of tombstones.  Both
	 * protected by pinfs.inode_lock. */
	struct file_handle *backing_fh;
	GList *tomb_link;
	int link_dir_fd;
	char *link_name;
	/* Set by the lease table (lt_hooks.file_active) while the file has a
	 * lease, pin or parked waiter: layout changes test it without a lock. */
	atomic_bool lease_active;
	/* The last mode the daemon saw had a set-ID bit (perm.c): writes by
	 * ordinary users look at the file's mode only then. */
	atomic_bool setid;
	/* Read-held by a layout change from its check until it is made, write-
	 * held by a lease grant: a lease cannot be granted between a change's
	 * check and the change itself (see layout_change). */
	pthread_rwlock_t layout_lock;
	/* The thread that last opened this file with O_NONBLOCK, and when
	 * (g_get_monotonic_time, us): links the kernel's truncate after an
	 * open(O_TRUNC), which carries no file handle, to the open's
	 * O_NONBLOCK (nonblock.c).  Lock-free: a lost race
	 * only makes such an open wait instead of failing at once. */
	atomic_int nb_open_tid;
	atomic_int_least64_t nb_open_us;
	/* Staging windows of this file that the daemon still writes back
	 * (window.c); read without a lock by the I/O paths. */
	atomic_int windows;
	/* Open files of this inode opened O_RDWR, and the thread that opened
	 * the last of them: only those can be mapped shared and writable, so
	 * only those can hold pages a device writes into (layout.c,
	 * may_be_mapped).  Counted on open and release, read without a lock. */
	atomic_uint rw_opens;
	atomic_int rw_open_tid;
	/* FUSE passthrough (passthrough.c), protected by passthrough_lock:
	 * the backing id the kernel serves this inode's passthrough opens
	 * from (0: none, the inode is not in passthrough mode), how many
	 * open files use it, and how many open files do not. */
	int pt_backing;
	unsigned int pt_opens;
	unsigned int cached_opens;
	/* The passthrough opens whose reads and writes bypass the daemon (not
	 * direct I/O), struct pinfs_file; also under passthrough_lock.  A
	 * staging window needs them all to be its holder's (window.c). */
	GList *pt_bypass;
	/* Set once the inode entered passthrough mode, never cleared: its
	 * mappings may be the backing file's, whose pages a device may have
	 * pinned (layout.c asks the pinfs_dma module about those too). */
	atomic_bool pt_used;
	/* The daemon thread now opening this file as a write-back guard
	 * (wbguard.c), 0 for none: its open is marked pinfs_file.wb_guard. */
	atomic_int guard_tid;
	/* The detached copy of the mount that guard opens through, handed to
	 * its pinfs_file by lo_open; -1 for none. */
	atomic_int guard_mnt;
	/* Released guard files, freed once the kernel forgets the inode
	 * (pinfs_file.wb_guard).  Protected by pinfs.inode_lock. */
	struct pinfs_file *retired;
};

/* An open file: its address is the FUSE file handle (fi->fh). */
struct pinfs_file {
	int fd;	   /* backing descriptor, opened with the caller's flags */
	int flags; /* open flags, for O_NONBLOCK on layout changes */
	struct pinfs_inode *inode;
	/* Set once this open file has been handed to the lease table, so that
	 * release only calls lt_close for files that ever talked to it. */
	atomic_bool in_table;
	/* The last (thread id << 32 | thread group id) that asked about a
	 * lease through this open file: saves reading /proc on every ioctl. */
	atomic_uint_least64_t last_tid_tgid;
	/* Opened with FOPEN_DIRECT_IO because the file had a staging window,
	 * or with O_DIRECT: its reads and writes bypass the page cache. */
	bool direct_io;
	/* Counted by passthrough.c (in pt_opens if passthrough, else in
	 * cached_opens); both fixed at open. */
	bool pt_counted;
	bool passthrough;
	/* The thread that opened it (the FUSE caller, 0 outside the daemon's
	 * pid namespace), resolved to its process only when a staging window
	 * asks whose passthrough opens the inode has. */
	pid_t opener;
	/* The daemon's own write-back guard (wbguard.c).  Linux 6.1 may still
	 * name it in a page write-back after its release (a write queued
	 * behind another open file's in-flight write of the same page carries
	 * the handle it was gathered with), so its release does not free it:
	 * it joins inode->retired (next: the list's link) until the kernel
	 * forgets the inode. */
	bool wb_guard;
	struct pinfs_file *retired_next;
	/* A guard's detached copy of the mount (inode.guard_mnt), closed once
	 * the kernel released the guard, so that after an unmount the
	 * superblock goes only when its release has been served; -1 none. */
	int guard_mnt;
};

struct pinfs_config {
	char *backing;
	char *mountpoint;
	uint32_t break_time; /* seconds; 0 never revokes */
	char *dma_module;    /* "auto" or "require" */
	double timeout;	     /* attribute and entry cache seconds */
	/* Numeric options as given (NULL: not given), checked by opts_check:
	 * fuse_opt's %u and %lf would take "-1" and "1x" without a word. */
	char *break_time_opt;
	char *timeout_opt;
	char *user_leases_opt;
	char *user_pins_opt;
	char *window; /* "auto", "always" or "never" */
	/* leases=on|off and pinned=wait|fail: ints, as fuse_opt's value keys
	 * store them (opts.c). */
	int leases_on;
	int pinned_fail;
	/* relatime, strictatime and nodiratime, which libfuse refuses at
	 * mount time: set on the mount once it exists (atime.c).  atime_rule
	 * is 0 (not given), 1 relatime or 2 strictatime. */
	int atime_rule;
	int nodiratime;
	/* writeback_cache: the kernel caches writes and owns regular files'
	 * size and times (docs/design.md, "Writes"). */
	int writeback_cache;
	/* passthrough=auto (1) or off (0) */
	int passthrough;
	unsigned window_mode; /* enum window_mode (window.h) */
	/* dma_module=require: without the pinfs_dma module, layout changes of
	 * files that may be mapped shared fail (ENOPKG) instead of going
	 * ahead unprotected. */
	bool dma_require;
	uint32_t user_leases; /* leases per non-root uid; 0 unlimited */
	uint32_t user_pins;   /* pins per non-root uid; 0 unlimited */
	/* Cluster (docs/cluster.md): etcd endpoints, NULL for none. */
	char *etcd;
	char *node;
	char *cluster;
	char *etcd_ttl_opt;
	uint32_t etcd_ttl; /* seconds */
	/* quorum=wait (1) or fail (0; -1 while parsing: not given): a layout
	 * change etcd cannot check waits for it instead of ENOLCK. */
	int quorum_wait;
};

struct pinfs {
	struct pinfs_config cfg;
	struct pinfs_inode root;
	bool running_as_root;
	bool single_thread;	/* -s: one thread serves every request */
	bool writeback_cache;	/* negotiated at INIT (lo_init) */
	struct passthrough *pt; /* FUSE passthrough (passthrough.c) */

	/* inode_lock protects inodes (the (dev, ino) -> inode map) and every
	 * inode's nlookup.  It is taken by lookup and forget only, never on
	 * the read or write path. */
	pthread_mutex_t inode_lock;
	GHashTable *inodes;
	GHashTable *live;    /* the same inodes by address: which ones exist */
	GQueue tombs;	     /* forgotten inodes kept for file handles, oldest first */
	int handle_mount_fd; /* the backing root, for open_by_handle_at */
	/* The same inodes by node id.  Changed with inode_lock held and
	 * nodeid_lock write-held; inode_get read-holds nodeid_lock only. */
	pthread_rwlock_t nodeid_lock;
	GHashTable *by_nodeid;
	uint64_t next_nodeid; /* for node ids not made from a handle */
	/* The backing filesystem's file handles, if they fit in a node id:
	 * their type (-1: they do not) and length.  whole_fs: the backing
	 * directory is the root of its filesystem, so every file a handle
	 * names is inside it. */
	int fh_type;
	unsigned int fh_bytes;
	bool whole_fs;

	/* handle_lock protects handles: every open file and directory handle
	 * (address -> its free function), so that handles whose release never
	 * came are closed at unmount.  Taken on open and release only. */
	pthread_mutex_t handle_lock;
	GHashTable *handles;

	struct fuse_session *se;
	struct lease_table *leases; /* NULL with leases=off */
	struct layout *layout;	    /* the lease glue (layout.c) */
	struct windows *windows;    /* staging windows (window.c), or NULL */
	struct cluster *cluster;    /* NULL without etcd= (cluster.c) */
};

static inline struct pinfs *pinfs_data(fuse_req_t req)
{
	return (struct pinfs *)fuse_req_userdata(req);
}

/* inode.c */
void inode_table_init(struct pinfs *fs);
void inode_table_destroy(struct pinfs *fs);
struct pinfs_inode *inode_get(struct pinfs *fs, fuse_ino_t ino);
int inode_lookup(struct pinfs *fs, struct pinfs_inode *parent, const char *name,
		 struct fuse_entry_param *e);
int inode_lookup_self(struct pinfs *fs, fuse_ino_t nodeid, struct fuse_entry_param *e);
void inode_forget(struct pinfs *fs, struct pinfs_inode *inode, uint64_t n);
void inode_hold(struct pinfs *fs, struct pinfs_inode *inode);
int inode_dup_fd(struct pinfs *fs, uint64_t nodeid);
fuse_ino_t inode_nodeid(struct pinfs *fs, struct pinfs_inode *inode);
int inode_link_path(struct pinfs *fs, struct pinfs_inode *inode, int *dir_fd,
		    char **name);
void inode_retire_file(struct pinfs *fs, struct pinfs_file *pf);

/* ops.c */
extern const struct fuse_lowlevel_ops lo_ops;

/* layout.c: the lease glue between FUSE requests and the lease table.
 * layout_new sets fs->layout and fs->leases; NULL and *error if it cannot
 * start its thread. */
struct layout *layout_new(struct pinfs *fs, GError **error);
void layout_start_control(struct layout *l);
void layout_free(struct layout *l);

/*
 * A layout change: what it touches, and its continuation.  A handler
 * embeds it first in a struct of its own that holds the request's
 * arguments, and make and reply find them there (container_of).  make makes
 * the change and keeps its outcome in that struct (err, and what the reply
 * carries); reply answers req from it.  They run at once or, after a wait,
 * on another thread, from a copy of the handler's struct; on a cluster
 * mount the reply may wait until the other nodes dropped their cached
 * pages of the file (cluster.c).
 */
struct layout_change {
	struct pinfs_inode *inode;
	struct pinfs_file *pf; /* the open file making the change, or NULL */
	/* Another open file the change comes through (copy_file_range's
	 * source), or NULL: neither counts as a mapping (layout.c). */
	struct pinfs_file *pf_src;
	const char *name; /* "a truncate", for log lines */
	/* Its intent on other nodes (cluster.c): set once they let it go,
	 * withdrawn once it is made or fails. */
	struct cluster_change *cc;
	uint64_t off, len; /* the range it touches; len LT_LEN_EOF */
	bool nonblock;	   /* fail with EWOULDBLOCK instead of waiting */
	/* A size change to off: the range runs from the smaller of the old and
	 * new size, and a new size equal to the old one breaks nothing. */
	bool resize;
	/* Set for apply when a resize leaves the size as it is (O_TRUNC of an
	 * empty file): nothing may be cut then, since no lease was broken. */
	bool size_stays;
	int err; /* make's outcome: 0 or an errno */
	void (*make)(fuse_req_t req, struct layout_change *c);
	void (*reply)(fuse_req_t req, struct layout_change *c);
};

/*
 * Make change c (size bytes: the handler's whole struct) now, or park it
 * until the leases and pins in its way are gone, or refuse it: every way,
 * req is answered (by c->reply or with an error), and layout_change holds
 * the layout lock and a lookup reference of c->inode only while it runs.
 * For a file without leases it costs one atomic load, an uncontended read
 * lock and a lookup reference.
 */
void layout_change(fuse_req_t req, struct layout_change *c, size_t size);

/* Carry out what a lease table call returned (the changes it resumed
 * included), holding no lock: for callers outside layout.c that call the
 * table themselves (cluster.c). */
void layout_effects_run(struct layout *l, struct lt_effects *fx);

void layout_ioctl(fuse_req_t req, struct pinfs_inode *inode, struct pinfs_file *pf,
		  unsigned int cmd, const void *in_buf, size_t in_bufsz,
		  size_t out_bufsz);
void layout_poll(fuse_req_t req, struct pinfs_file *pf, struct fuse_pollhandle *ph);
void layout_release(struct pinfs *fs, struct pinfs_file *pf);
bool layout_keep_cache(struct pinfs *fs, struct pinfs_inode *inode);
/* An open file of inode is made (by thread tid) or released: counts the
 * O_RDWR ones, which are the ones that may be mapped shared. */
void layout_note_open(struct pinfs_inode *inode, int flags, pid_t tid);
void layout_note_release(struct pinfs_inode *inode, int flags);
/* The mount's view of the pinfs_dma module (dma.c), or NULL (leases=off). */
struct dma *layout_dma(struct layout *l);

#endif /* PINFS_DAEMON_H */
