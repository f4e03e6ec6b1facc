// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pin.c - the backend-independent part of the pinning library (pin.h):
 * lookup by name, argument checks, and the per-region worker thread that
 * plays delayed device writes for backends that cannot queue them.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "pin-backend.h"

G_DEFINE_QUARK(pinfs - pin - error - quark, pin_error)

const char *const pin_backend_names[] = {"kmod", "rdma", "iouring", "mlock", NULL};

static const struct pin_ops *const all_ops[] = {
    &pin_kmod_ops,
    &pin_rdma_ops,
    &pin_iouring_ops,
    &pin_mlock_ops,
};

void pin_set_errno(GError **err, int code, int errnum, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	const char *name = strerrorname_np(errnum);
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(err, PIN_ERROR, code, "%s: %s (%s)", msg, g_strerror(errnum),
		    name ? name : "?");
}

static struct pin_backend *open_ops(const struct pin_ops *ops, const char *arg,
				    GError **err)
{
	struct pin_backend *be = g_new0(struct pin_backend, 1);

	be->ops = ops;
	if (!ops->open(be, arg, err)) {
		g_free(be->describe);
		g_free(be);
		return NULL;
	}
	if (!be->describe)
		be->describe = g_strdup(ops->name);
	return be;
}

/* "auto": the first DMA backend that opens; the error lists why each did not. */
static struct pin_backend *open_auto(GError **err)
{
	g_autoptr(GString) why = g_string_new("no DMA pinning backend available:");

	for (size_t i = 0; i < G_N_ELEMENTS(all_ops); i++) {
		g_autoptr(GError) e = NULL;
		struct pin_backend *be;

		if (!all_ops[i]->is_dma)
			continue;
		be = open_ops(all_ops[i], NULL, &e);
		if (be)
			return be;
		g_string_append_printf(why, "\n  %s: %s", all_ops[i]->name, e->message);
	}
	g_set_error_literal(err, PIN_ERROR, PIN_ERROR_UNAVAILABLE, why->str);
	return NULL;
}

struct pin_backend *pin_backend_open(const char *name, GError **err)
{
	g_autofree char *base = NULL;
	const char *arg = NULL;
	const char *colon;

	if (!name || !strcmp(name, "auto"))
		return open_auto(err);
	colon = strchr(name, ':');
	if (colon) {
		base = g_strndup(name, colon - name);
		arg = colon + 1;
	} else {
		base = g_strdup(name);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(all_ops); i++) {
		if (strcmp(base, all_ops[i]->name))
			continue;
		if (arg && all_ops[i] != &pin_rdma_ops) {
			g_set_error(err, PIN_ERROR, PIN_ERROR_INVAL,
				    "backend %s takes no argument (\"%s\")", base, name);
			return NULL;
		}
		return open_ops(all_ops[i], arg, err);
	}
	g_set_error(err, PIN_ERROR, PIN_ERROR_INVAL,
		    "unknown backend \"%s\" (kmod, rdma[:DEVICE], iouring, mlock, auto)",
		    name);
	return NULL;
}

void pin_backend_close(struct pin_backend *be)
{
	if (!be)
		return;
	be->ops->close(be);
	g_free(be->describe);
	g_free(be);
}

const char *pin_backend_name(const struct pin_backend *be)
{
	return be->ops->name;
}

const char *pin_backend_describe(const struct pin_backend *be)
{
	return be->describe;
}

gboolean pin_backend_is_dma(const struct pin_backend *be)
{
	return be->ops->is_dma;
}

/* One device write waiting in a region's queue (worker backends). */
struct pin_write {
	size_t off, len;
	uint8_t byte;
	gint64 due;	 /* g_get_monotonic_time() */
	gboolean sync;	 /* the caller waits for it and frees it */
	gboolean landed; /* sync: set by the worker */
	GError *err;	 /* sync: the write's failure */
};

static gint by_due(gconstpointer a, gconstpointer b, gpointer data)
{
	const struct pin_write *x = a, *y = b;

	(void)data;
	return x->due < y->due ? -1 : x->due > y->due;
}

/*
 * The worker: takes the earliest write once it is due (or at once while
 * flushing), runs it without the lock held, and counts it.  Exits when
 * stop is set and the queue is empty.
 */
static gpointer worker_main(gpointer data)
{
	struct pin_region *r = data;

	g_mutex_lock(&r->lock);
	for (;;) {
		struct pin_write *w = g_queue_peek_head(&r->queue);
		GError *e = NULL;
		gboolean ok;

		if (!w) {
			if (r->stop)
				break;
			g_cond_wait(&r->cond, &r->lock);
			continue;
		}
		if (!r->flush && w->due > g_get_monotonic_time()) {
			g_cond_wait_until(&r->cond, &r->lock, w->due);
			continue;
		}
		g_queue_pop_head(&r->queue);
		g_mutex_unlock(&r->lock);
		ok = r->be->ops->write(r, w->off, w->len, w->byte, 0, &e);
		g_mutex_lock(&r->lock);
		r->done++;
		r->pending--;
		if (w->sync) {
			w->err = e;
			w->landed = TRUE;
		} else {
			if (!ok && !r->async_err)
				r->async_err = e;
			else
				g_clear_error(&e);
			g_free(w);
		}
		g_cond_broadcast(&r->cond);
	}
	g_mutex_unlock(&r->lock);
	return NULL;
}

struct pin_region *pin_region(struct pin_backend *be, void *addr, size_t len,
			      unsigned flags, GError **err)
{
	struct pin_region *r;

	if (!addr || len == 0 || (uintptr_t)addr + len < (uintptr_t)addr) {
		g_set_error(err, PIN_ERROR, PIN_ERROR_INVAL, "bad range %p+%zu", addr,
			    len);
		return NULL;
	}
	if (flags) {
		g_set_error(err, PIN_ERROR, PIN_ERROR_INVAL, "unknown flags 0x%x", flags);
		return NULL;
	}
	r = g_new0(struct pin_region, 1);
	r->be = be;
	r->addr = addr;
	r->len = len;
	g_mutex_init(&r->lock);
	g_cond_init(&r->cond);
	g_queue_init(&r->queue);
	if (!be->ops->pin(r, err)) {
		g_mutex_clear(&r->lock);
		g_cond_clear(&r->cond);
		g_free(r);
		return NULL;
	}
	if (!be->ops->native_delay)
		r->worker = g_thread_new("pin-device", worker_main, r);
	return r;
}

gboolean pin_dma_write(struct pin_region *r, size_t off, size_t len, uint8_t byte,
		       unsigned delay_ms, GError **err)
{
	struct pin_write *w;
	gboolean ok = TRUE;

	if (len == 0 || off > r->len || len > r->len - off) {
		g_set_error(err, PIN_ERROR, PIN_ERROR_INVAL,
			    "device write %zu+%zu outside the region (%zu bytes)", off,
			    len, r->len);
		return FALSE;
	}
	if (r->be->ops->native_delay)
		return r->be->ops->write(r, off, len, byte, delay_ms, err);

	w = g_new0(struct pin_write, 1);
	w->off = off;
	w->len = len;
	w->byte = byte;
	w->due = g_get_monotonic_time() + (gint64)delay_ms * 1000;
	w->sync = delay_ms == 0;
	g_mutex_lock(&r->lock);
	g_queue_insert_sorted(&r->queue, w, by_due, NULL);
	r->pending++;
	g_cond_broadcast(&r->cond);
	if (w->sync) {
		while (!w->landed)
			g_cond_wait(&r->cond, &r->lock);
		if (w->err) {
			g_propagate_error(err, w->err);
			ok = FALSE;
		}
		g_free(w);
	}
	g_mutex_unlock(&r->lock);
	return ok;
}

/* Worker backends: wait for the queue to drain; report a delayed failure. */
static gboolean drain(struct pin_region *r, gboolean flush, GError **err)
{
	gboolean ok = TRUE;

	g_mutex_lock(&r->lock);
	r->flush = flush;
	g_cond_broadcast(&r->cond);
	while (r->pending)
		g_cond_wait(&r->cond, &r->lock);
	r->flush = FALSE;
	if (r->async_err) {
		g_propagate_error(err, r->async_err);
		r->async_err = NULL;
		ok = FALSE;
	}
	g_mutex_unlock(&r->lock);
	return ok;
}

gboolean pin_dma_wait(struct pin_region *r, GError **err)
{
	if (r->be->ops->native_delay)
		return r->be->ops->wait(r, err);
	return drain(r, FALSE, err);
}

void pin_dma_counts(struct pin_region *r, uint64_t *done, uint64_t *pending)
{
	if (r->be->ops->native_delay) {
		r->be->ops->counts(r, done, pending);
		return;
	}
	g_mutex_lock(&r->lock);
	*done = r->done;
	*pending = r->pending;
	g_mutex_unlock(&r->lock);
}

gboolean pin_dma_verify(struct pin_region *r, size_t off, size_t len, uint8_t byte,
			uint64_t *mismatches, int64_t *first_bad, GError **err)
{
	if (len == 0 || off > r->len || len > r->len - off) {
		g_set_error(err, PIN_ERROR, PIN_ERROR_INVAL,
			    "verify %zu+%zu outside the region (%zu bytes)", off, len,
			    r->len);
		return FALSE;
	}
	if (r->be->ops->verify)
		return r->be->ops->verify(r, off, len, byte, mismatches, first_bad, err);
	*mismatches = 0;
	*first_bad = -1;
	for (size_t i = off; i < off + len; i++) {
		if (r->addr[i] == byte)
			continue;
		if (*first_bad < 0)
			*first_bad = (int64_t)(i - off);
		(*mismatches)++;
	}
	return TRUE;
}

gboolean pin_release(struct pin_region *r, GError **err)
{
	GError *e = NULL;
	gboolean ok = TRUE;

	if (!r)
		return TRUE;
	if (r->worker) {
		ok = drain(r, TRUE, &e);
		g_mutex_lock(&r->lock);
		r->stop = TRUE;
		g_cond_broadcast(&r->cond);
		g_mutex_unlock(&r->lock);
		g_thread_join(r->worker);
	}
	/* Unpin even when a write failed; report the first error. */
	if (!r->be->ops->unpin(r, e ? NULL : &e))
		ok = FALSE;
	if (e)
		g_propagate_error(err, e);
	g_mutex_clear(&r->lock);
	g_cond_clear(&r->cond);
	g_free(r);
	return ok;
}
