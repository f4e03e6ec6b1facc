/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl.h - the daemon's control channel: a unix stream socket that answers
 * pinfsctl (and scripts) with the lease table's contents (rule 14) and
 * revokes leases for root or the file's owner.  docs/control.md describes
 * the channel, the protocol and its permissions.
 *
 * The socket path helpers at the end are header-only so that pinfsctl
 * computes the same path as the daemon without linking the server.
 */
#ifndef PINFS_CTL_H
#define PINFS_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/sysmacros.h>

#include <glib.h>

#include "lease.h"

#define CTL_PROTOCOL_VERSION 1
#define CTL_MAX_REQUEST (64 * 1024) /* bytes in one request line */
#define CTL_MAX_CLIENTS 32	    /* connections served at once */
#define CTL_MAX_USER_CLIENTS 8	    /* of them, by one uid other than root */
#define CTL_ROOT_CLIENTS 4	    /* of them, kept for root alone */
#define CTL_IDLE_TIMEOUT_S 30	    /* a silent client is dropped after this */
#define CTL_OUT_HIGH (1024 * 1024)  /* answers waiting: stop answering above */
#define CTL_READ_CHUNK 16384	    /* bytes read from a connection at once */

/*
 * What the server asks the daemon.  Every hook may be NULL and is called
 * on the thread that iterates the GMainContext given to ctl_start, never
 * with the lease table's lock held.  So the lease that named ino may have
 * ended, and its file been closed and forgotten, by the time a hook runs:
 * a hook must look ino up safely (and may answer NULL / -ENOENT), never
 * trust it as a live pointer.
 */
struct _JsonBuilder;
/*
 * What "status" reports beside the lease table: the mount's options and
 * whether pins nobody declared (no lease, no registered pin) are watched,
 * which needs the pinfs_dma module.
 */
struct ctl_status {
	bool leases;	     /* leases=on: declared pins hold changes back */
	bool pinned_fail;    /* pinned=fail */
	uint32_t break_time; /* seconds */
	bool dma_watched;    /* undeclared pins are watched */
	bool dma_require;    /* dma_module=require */
	char dma_module[16]; /* "loaded", "absent" or "unusable" */
	char dma_detail[192];
	uint64_t dma_since_ns; /* on the lease clock: the last change, or mount */
	uint64_t dma_changes;  /* changes since the mount */
	char passthrough[128]; /* "in use" or "off (why)" */
	uint64_t passthrough_files; /* open files in passthrough mode now */
	uint64_t passthrough_opens; /* passthrough opens since the mount */
};

struct ctl_hooks {
	/* path of ino as seen inside the mount (g_free'd by the caller), or
	 * NULL if unknown */
	char *(*ino_path)(void *ctx, uint64_t ino);
	/* owner uid of ino: 0 on success, else a negative errno.  NULL: only
	 * root may revoke. */
	int (*ino_owner)(void *ctx, uint64_t ino, uid_t *uid);
	/* command name of pid (g_free'd by the caller), or NULL.  NULL hook:
	 * read /proc/PID/comm. */
	char *(*pid_comm)(void *ctx, pid_t pid);
	/* "windows": append one object per staging window to the open JSON
	 * array of b (a JsonBuilder).  NULL: an empty list. */
	void (*windows)(void *ctx, struct _JsonBuilder *b);
	/* the mount's protections, for "status" (NULL: only what the
	 * lease table knows) */
	void (*status)(void *ctx, struct ctl_status *st);
	/* "leases" and "waiters" ("what"): add members about the other nodes
	 * of a cluster to the open JSON object of the reply.  NULL: none. */
	void (*cluster)(void *ctx, const char *what, struct _JsonBuilder *b);
	/* What a revoke did to the lease table (holders to notify, parked
	 * changes resumed, log lines, the new deadline), for the daemon to
	 * carry out; the server clears fx afterwards.  NULL: dropped. */
	void (*effects)(void *ctx, struct lt_effects *fx);
};

struct ctl_server;

/*
 * Listen on socket_path and serve requests from sources attached to mc.
 * The parent directory is created if missing (0755 when running as root,
 * else 0700) and must not be writable by others unless it is sticky.  A
 * stale socket at socket_path is replaced; a live one (another daemon
 * answers) or a non-socket file is an error.  The socket is made 0666:
 * anyone may list.
 *
 * clock: the lease table's clock, for ages (granted_ns, parked_ns); NULL
 * means CLOCK_MONOTONIC, which is what the daemon's table uses.
 * hooks and clock are copied; hook_ctx and t must outlive the server.
 */
struct ctl_server *ctl_start(GMainContext *mc, struct lease_table *t,
			     const char *socket_path, const struct lt_clock *clock,
			     const struct ctl_hooks *hooks, void *hook_ctx,
			     GError **error);

/*
 * Remove the socket file at socket_path even though a daemon still answers
 * there, so that ctl_start can bind the name.  Only for a name that cannot
 * be that daemon's any more (the device number of a mount that is gone,
 * now reused by ours); that daemon leaves the new socket alone when it
 * stops.  Anything but a socket is left and is an error.
 */
bool ctl_take_over(const char *socket_path, GError **error);

/*
 * Close every connection, remove the socket file (if it is still ours) and
 * free s.  Call it from the thread iterating mc, from any thread while
 * that thread is still iterating mc (it waits for the teardown there), or
 * once nothing iterates mc any more.  Call it before lt_destroy.
 */
void ctl_stop(struct ctl_server *s);

/*
 * Answer one request line (without its newline) as the socket would for a
 * client with peer_uid ((uid_t)-1: unknown), appending the response line
 * to reply.  No socket and no GMainContext: for tests and fuzzers.  t,
 * clock and hooks are as for ctl_start.
 */
void ctl_handle_request(struct lease_table *t, const struct lt_clock *clock,
			const struct ctl_hooks *hooks, void *hook_ctx, uid_t peer_uid,
			const char *line, size_t len, GString *reply);

/*
 * What the server holds for its connections, for tests: ctl_get_usage.
 * "in" is bytes received and not yet answered, "out" answer bytes not yet
 * sent.  The peaks are the most one connection held at any time since
 * ctl_start.
 */
struct ctl_usage {
	unsigned clients;
	size_t in_bytes, out_bytes; /* now, summed over the connections */
	size_t in_peak, out_peak;
};

/*
 * Fill u.  Call it from the thread iterating mc, from any thread while
 * that thread is iterating mc (it waits for the answer from there), or
 * once nothing iterates mc any more; as ctl_stop.
 */
void ctl_get_usage(struct ctl_server *s, struct ctl_usage *u);

/*
 * How ctl_feed_stream delivers a byte stream and takes the answers, in
 * the place of a socket; and what the connection held meanwhile.
 */
struct ctl_stream {
	/* in: the sizes successive reads return, used in turn and then
	 * again from the first; a 0 entry, or no entries, reads all that is
	 * left at once */
	const size_t *chunks;
	size_t nchunks;
	size_t send_max;    /* bytes the peer reads each time; 0: all */
	size_t max_request; /* the line limit; 0: CTL_MAX_REQUEST */
	size_t out_high;    /* the back-pressure mark; 0: CTL_OUT_HIGH */
	/* out: the most the connection held, as in struct ctl_usage */
	size_t in_peak, out_peak;
};

/*
 * Feed the byte stream data to a connection that exists only for this
 * call, as the socket would for a client with peer_uid: read by read as
 * how->chunks says, then end of input (the peer's shutdown(SHUT_WR)), and
 * append everything the server sends back to replies.  The connection is
 * served by the same code as a socket's (framing, line limit,
 * back-pressure): only reading and sending are replaced.  Like a socket
 * the peer reads answers (how->send_max bytes at a time) whenever the
 * server has some waiting, and it is sent nothing new to read until then.
 * For tests and fuzzers; t, clock and hooks are as for ctl_start.
 */
void ctl_feed_stream(struct lease_table *t, const struct lt_clock *clock,
		     const struct ctl_hooks *hooks, void *hook_ctx, uid_t peer_uid,
		     const char *data, size_t len, struct ctl_stream *how,
		     GString *replies);

/* ---- Socket path, shared with pinfsctl ---- */

/*
 * The runtime directory of a daemon running as uid: /run for root, else
 * $XDG_RUNTIME_DIR, else /tmp/pinfs-<uid>.  g_free the result.
 */
static inline char *ctl_runtime_dir(uid_t uid)
{
	const char *xdg;

	if (uid == 0)
		return g_strdup("/run");
	xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg && xdg[0] == '/')
		return g_strdup(xdg);
	return g_strdup_printf("/tmp/pinfs-%u", (unsigned)uid);
}

/* <rundir>/pinfs/<major>:<minor>.sock for the mount whose st_dev is dev. */
static inline char *ctl_socket_path_in(const char *rundir, dev_t dev)
{
	return g_strdup_printf("%s/pinfs/%u:%u.sock", rundir, major(dev), minor(dev));
}

/* The socket path a daemon running as daemon_uid uses for mount dev. */
static inline char *ctl_socket_path_for_dev(dev_t dev, uid_t daemon_uid)
{
	char *rundir = ctl_runtime_dir(daemon_uid);
	char *path = ctl_socket_path_in(rundir, dev);

	g_free(rundir);
	return path;
}

#endif /* PINFS_CTL_H */
