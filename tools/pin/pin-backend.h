/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pin-backend.h - what a pinning backend implements (internal to tools/pin).
 *
 * pin.c does the bookkeeping common to all backends: argument checks,
 * backend lookup, and, for backends without native_delay, a worker thread
 * per region that runs device writes at their due time.  A backend only
 * pins, unpins, and writes synchronously.
 */
#ifndef PINFS_PIN_BACKEND_H
#define PINFS_PIN_BACKEND_H

#include "pin.h"

struct pin_ops {
	const char *name;
	gboolean is_dma;
	/*
	 * TRUE when the "device" queues delayed writes itself (kmod); then
	 * write() takes delay_ms, and wait() and counts() are required.
	 * Otherwise write() is called with delay_ms 0 from the region's worker
	 * thread, when the write is due.
	 */
	gboolean native_delay;

	/* Probe the machine; fill be->priv and be->describe.  arg: the part
	 * after "name:" or NULL. */
	gboolean (*open)(struct pin_backend *be, const char *arg, GError **err);
	void (*close)(struct pin_backend *be);
	/* Pin r->addr, r->len; fill r->priv. */
	gboolean (*pin)(struct pin_region *r, GError **err);
	/* Undo pin(), free r->priv; after every write has landed. */
	gboolean (*unpin)(struct pin_region *r, GError **err);
	gboolean (*write)(struct pin_region *r, size_t off, size_t len, uint8_t byte,
			  unsigned delay_ms, GError **err);
	/* native_delay only */
	gboolean (*wait)(struct pin_region *r, GError **err);
	void (*counts)(struct pin_region *r, uint64_t *done, uint64_t *pending);
	/* Optional: read back through the device; default: through the CPU. */
	gboolean (*verify)(struct pin_region *r, size_t off, size_t len, uint8_t byte,
			   uint64_t *mismatches, int64_t *first_bad, GError **err);
};

struct pin_backend {
	const struct pin_ops *ops;
	char *describe; /* g_free()d by pin_backend_close() */
	void *priv;
};

struct pin_write;

struct pin_region {
	struct pin_backend *be;
	uint8_t *addr;
	size_t len;
	void *priv;

	/* The worker thread of backends without native_delay. */
	GThread *worker;
	GMutex lock;
	/* Protected by lock; cond is signalled on every change: */
	GCond cond;
	GQueue queue;	   /* struct pin_write, sorted by due time */
	gboolean flush;	   /* run queued writes now, do not wait for due */
	gboolean stop;	   /* worker: exit once the queue is empty */
	uint64_t done;	   /* writes landed (or failed) */
	uint64_t pending;  /* queued or being written */
	GError *async_err; /* first failure of a delayed write */
};

extern const struct pin_ops pin_kmod_ops, pin_rdma_ops, pin_iouring_ops, pin_mlock_ops;

/* g_set_error() with PIN_ERROR_FAILED and ": strerror (ENAME)" appended. */
void pin_set_errno(GError **err, int code, int errnum, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

#endif /* PINFS_PIN_BACKEND_H */
