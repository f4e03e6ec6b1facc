/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * etcd.h - a small client for etcd's v3 JSON gateway (/v3/...), over
 * libcurl and json-glib.  No FUSE, no pinfs state: cluster.c builds the
 * lease protocol on top of it, and tests can drive it alone.
 *
 * Requests are synchronous and may be made from any thread: each takes a
 * curl handle from a pool (so connections are reused) and tries the
 * endpoints in turn, starting with the last one that answered.  Keys and
 * values are byte strings; the gateway's base64 is handled here.
 *
 * Errors: a request no endpoint answered within the timeout, or that etcd
 * refused ("etcdserver: request timed out", "no leader"...), fails with
 * an ETCD_ERROR GError.  Callers map that to ENOLCK.
 */
#ifndef PINFS_ETCD_H
#define PINFS_ETCD_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

#define ETCD_ERROR (etcd_error_quark())
GQuark etcd_error_quark(void);
enum etcd_error {
	ETCD_ERROR_UNREACHABLE, /* no endpoint answered */
	ETCD_ERROR_SERVER,	/* etcd answered with an error */
	ETCD_ERROR_PROTOCOL,	/* an answer we cannot parse */
	ETCD_ERROR_CANCELLED,	/* etcd_watch: stopped by its caller */
	ETCD_ERROR_UNAVAILABLE, /* etcd answered "unavailable" (gRPC code 14: no
				   leader, timed out, stopped...): ask again */
};

struct etcd;

/* endpoints: "http://127.0.0.1:2379+http://..." ('+' or ',' between). */
struct etcd *etcd_new(const char *endpoints, GError **error);
void etcd_free(struct etcd *e);
/* Per-attempt timeout (default 3000 ms), and how long a request goes on
 * trying the endpoints again (default 0: one round). */
void etcd_set_timeout(struct etcd *e, unsigned ms);
void etcd_set_retry(struct etcd *e, unsigned ms);

/* One key-value pair as etcd reports it. */
struct etcd_kv {
	char *key, *value; /* NUL-terminated copies (value may hold NULs: vlen) */
	size_t vlen;
	int64_t create_rev, mod_rev, lease;
};
void etcd_kv_clear(struct etcd_kv *kv);

/* Leases. */
int etcd_lease_grant(struct etcd *e, int64_t ttl, int64_t *id, GError **error);
/* *ttl_left is 0 if the lease is gone (expired or revoked). */
int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_left, GError **error);
int etcd_lease_revoke(struct etcd *e, int64_t id, GError **error);

/*
 * A transaction without compares: the operations run atomically at one
 * revision.  Build it with etcd_txn_*; etcd_txn_run returns the revision
 * (*rev) and, for each range operation in order, its key-values.
 */
struct etcd_txn;
struct etcd_txn *etcd_txn_new(void);
void etcd_txn_put(struct etcd_txn *t, const char *key, const char *value, int64_t lease);
void etcd_txn_delete(struct etcd_txn *t, const char *key, bool prefix);
void etcd_txn_range(struct etcd_txn *t, const char *key, bool prefix);
/* ranges: a GPtrArray (per range op) of GArray of struct etcd_kv, or NULL.
 * Frees t. */
int etcd_txn_run(struct etcd *e, struct etcd_txn *t, int64_t *rev, GPtrArray **ranges,
		 GError **error);
void etcd_txn_free(struct etcd_txn *t);

/* Plain one-operation helpers. */
int etcd_put(struct etcd *e, const char *key, const char *value, int64_t lease,
	     GError **error);
int etcd_delete(struct etcd *e, const char *key, bool prefix, GError **error);
/* kvs: a GArray of struct etcd_kv (free with etcd_kvs_free). */
int etcd_range(struct etcd *e, const char *key, bool prefix, int64_t *rev, GArray **kvs,
	       GError **error);
void etcd_kvs_free(GArray *kvs);

/*
 * Watch every key under prefix from revision start_rev on, calling fn for
 * each event in revision order (put true: a put, false: a delete; kv->value
 * empty on deletes) and then batch_done(rev) once a message's events are
 * delivered, rev being the revision the watch has surely reached (the last
 * event's; 0 when a message tells nothing of it).  Blocks until
 * the stream ends or *stop becomes true; returns -1 with the error
 * (ETCD_ERROR_CANCELLED when stopped).  *compacted is set when start_rev
 * was compacted away: the caller must read the prefix afresh.  One
 * endpoint per call: the caller reconnects, from its last revision + 1.
 */
struct etcd_watch_cb {
	void (*event)(void *arg, bool put, const struct etcd_kv *kv);
	void (*batch_done)(void *arg, int64_t rev);
	void *arg;
};
int etcd_watch(struct etcd *e, const char *prefix, int64_t start_rev,
	       const struct etcd_watch_cb *cb, volatile bool *stop, bool *compacted,
	       GError **error);

#endif /* PINFS_ETCD_H */
