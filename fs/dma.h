/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dma.h - pins nobody registered (rule 11): the pinfs_dma module's answer
 * to "how much of this range is DMA-pinned", and the poll that asks again
 * while changes are parked.
 */
#ifndef PINFS_DMA_H
#define PINFS_DMA_H

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#include "lease.h"

struct dma;

/* Open the module's device for the mount at mountpoint: NULL without it. */
struct dma *dma_open(const char *mountpoint);
/* The table whose waiters the poll rechecks, and the event thread's context. */
void dma_watch(struct dma *d, struct lease_table *t, GMainContext *ctx);
/* Bytes of [off, off+len) (len LT_LEN_EOF: to the end) of the backing
 * inode ino that a device has pinned. */
uint64_t dma_pinned_bytes(struct dma *d, ino_t ino, uint64_t off, uint64_t len);
/* Any thread, after a change was parked: poll until none is. */
void dma_start_poll(struct dma *d);
/* Once the event thread has stopped, before lt_destroy. */
void dma_stop(struct dma *d);
void dma_close(struct dma *d);

#endif /* PINFS_DMA_H */
