// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pin-mlock.c - the mlock backend: NOT a DMA pin.
 *
 * mlock() keeps the pages resident, but it takes no page reference that a
 * truncate respects: truncate removes locked pages from the file like any
 * others.  The "device write" is a memset() by the CPU on the region's
 * worker thread.  It is here to compare against the real pins.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "pin-backend.h"

static gboolean mlock_open(struct pin_backend *be, const char *arg, GError **err)
{
	(void)arg;
	(void)err;
	be->describe = g_strdup("mlock (NOT a DMA pin: pages are only locked in memory)");
	return TRUE;
}

static void mlock_close(struct pin_backend *be)
{
	(void)be;
}

static gboolean mlock_pin(struct pin_region *r, GError **err)
{
	if (mlock(r->addr, r->len) < 0) {
		pin_set_errno(err,
			      errno == ENOMEM || errno == EPERM ? PIN_ERROR_REFUSED
								: PIN_ERROR_FAILED,
			      errno, "mlock of %zu bytes (RLIMIT_MEMLOCK?)", r->len);
		return FALSE;
	}
	return TRUE;
}

static gboolean mlock_unpin(struct pin_region *r, GError **err)
{
	if (munlock(r->addr, r->len) < 0) {
		pin_set_errno(err, PIN_ERROR_FAILED, errno, "munlock");
		return FALSE;
	}
	return TRUE;
}

static gboolean mlock_write(struct pin_region *r, size_t off, size_t len, uint8_t byte,
			    unsigned delay_ms, GError **err)
{
	(void)delay_ms;
	(void)err;
	memset(r->addr + off, byte, len);
	return TRUE;
}

const struct pin_ops pin_mlock_ops = {
    .name = "mlock",
    .is_dma = FALSE,
    .open = mlock_open,
    .close = mlock_close,
    .pin = mlock_pin,
    .unpin = mlock_unpin,
    .write = mlock_write,
};
