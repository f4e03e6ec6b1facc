/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pin.h - pin a user memory range "for DMA" and play the device that writes
 * into it, through one of several backends (docs/pinning.md):
 *
 *   kmod     /dev/pinfs_dma (kernel/pinfs_dma_abi.h): pin_user_pages_fast()
 *            with FOLL_WRITE | FOLL_LONGTERM; the module writes the pattern
 *            through kernel mappings, at once or later from a workqueue.
 *   rdma     rdma-core: ibv_reg_mr() on the range; a device write is an RDMA
 *            WRITE over a loopback RC queue pair into that memory region.
 *   iouring  io_uring_register_buffers() on the range (a long-term pin); a
 *            device write is an IORING_OP_READ_FIXED from a pattern memfd.
 *   mlock    mlock() and a memset(): NOT a DMA pin, for comparison only.
 *
 * Every backend is detected at run time: pin_backend_open() fails with
 * PIN_ERROR_UNAVAILABLE and a message saying why (no module loaded, no RDMA
 * device, io_uring disabled, not built in).
 *
 * Typical use:
 *
 *	be = pin_backend_open("kmod", &err);
 *	r = pin_region(be, addr, len, 0, &err);
 *	pin_dma_write(r, 0, len, 0xa5, 1000, &err);	// lands in 1 s
 *	pin_dma_wait(r, &err);				// until it has landed
 *	pin_release(r, &err);				// unpin
 *	pin_backend_close(be);
 *
 * Threads: a backend and its regions may be used from one thread at a
 * time.  Delayed writes of the rdma, iouring and mlock backends run on a
 * worker thread per region; the kmod backend queues them in the kernel.
 */
#ifndef PINFS_PIN_H
#define PINFS_PIN_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#define PIN_ERROR (pin_error_quark())
GQuark pin_error_quark(void);

enum pin_error {
	PIN_ERROR_UNAVAILABLE, /* the backend cannot be used on this machine */
	PIN_ERROR_INVAL,       /* bad argument (unknown backend, bad range) */
	PIN_ERROR_REFUSED,     /* the kernel refused to pin this memory */
	PIN_ERROR_FAILED,      /* anything else; the message has the errno */
};

struct pin_backend;
struct pin_region;

/* The backends' names, NULL-terminated, in the order "auto" tries them. */
extern const char *const pin_backend_names[];

/*
 * Open a backend by name: "kmod", "rdma" or "rdma:DEVICE" (default: the
 * first RDMA device), "iouring", "mlock", or "auto" (the first of kmod,
 * rdma, iouring that is available; never mlock).
 */
struct pin_backend *pin_backend_open(const char *name, GError **err);
void pin_backend_close(struct pin_backend *be);

/* "kmod", "rdma", ... */
const char *pin_backend_name(const struct pin_backend *be);
/* A line for humans: the device, port, GID index, ... */
const char *pin_backend_describe(const struct pin_backend *be);
/* FALSE for mlock: its "pin" does not keep pages in the file. */
gboolean pin_backend_is_dma(const struct pin_backend *be);

/*
 * Pin [addr, addr + len) for device writes.  addr need not be aligned.
 * flags: 0 (reserved).  Fails with PIN_ERROR_REFUSED when the kernel
 * refuses the memory (e.g. io_uring and a FUSE or ext4 MAP_SHARED mapping
 * on Linux >= 6.5: EFAULT), with a message saying so.
 */
struct pin_region *pin_region(struct pin_backend *be, void *addr, size_t len,
			      unsigned flags, GError **err);

/*
 * A device write of pattern_byte into [off, off + len) of the region, at
 * once (delay_ms 0: it has landed when this returns) or delay_ms later.
 * A delayed write that fails is reported by pin_dma_wait()/pin_release().
 */
gboolean pin_dma_write(struct pin_region *r, size_t off, size_t len, uint8_t pattern_byte,
		       unsigned delay_ms, GError **err);

/* Wait until every queued device write has landed (on its own schedule). */
gboolean pin_dma_wait(struct pin_region *r, GError **err);

/*
 * Read [off, off + len) back as the device sees it and count the bytes that
 * are not pattern_byte (*first_bad: offset of the first, or -1).
 */
gboolean pin_dma_verify(struct pin_region *r, size_t off, size_t len,
			uint8_t pattern_byte, uint64_t *mismatches, int64_t *first_bad,
			GError **err);

/* Writes that have landed so far, and that are still queued. */
void pin_dma_counts(struct pin_region *r, uint64_t *done, uint64_t *pending);

/*
 * Unpin and free the region.  Queued writes land at once first (a driver
 * quiesces its device before deregistering memory).  The region is freed
 * even when this fails.
 */
gboolean pin_release(struct pin_region *r, GError **err);

#endif /* PINFS_PIN_H */
