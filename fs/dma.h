/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dma.h - pins nobody registered (rule 11): the pinfs_dma module's answer
 * to "how much of this range is DMA-pinned", whether the module is there
 * at all (it may come and go while the mount lives), and the poll that
 * asks again while changes are parked.
 */
#ifndef PINFS_DMA_H
#define PINFS_DMA_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lease.h"

struct dma;

/* Whether undeclared pins are watched, as pinfsctl status shows it. */
enum dma_state {
	DMA_ABSENT,   /* no /dev/pinfs_dma */
	DMA_WATCHED,  /* the module is there and answers */
	DMA_UNUSABLE, /* /dev/pinfs_dma is there but cannot be asked */
};

struct dma_status {
	enum dma_state state;
	bool require;	   /* dma_module=require */
	char detail[192];  /* why not watched, or what answers */
	uint64_t since_ns; /* CLOCK_MONOTONIC of the last change (or mount) */
	uint64_t changes;  /* state changes since the mount */
};

/*
 * The module's view of the mount at mountpoint.  Looks for the module once
 * now and logs what it found; dma_watch() then follows /dev for it.
 */
struct dma *dma_new(const char *mountpoint, bool require);
/* The table whose waiters the poll rechecks, and the event thread's
 * context, where /dev is watched (inotify) from now on.  Each
 * lt_recheck()'s effects go to done(arg, fx) there, which carries them
 * out. */
void dma_watch(struct dma *d, struct lease_table *t, GMainContext *ctx,
	       void (*done)(void *arg, struct lt_effects *fx), void *arg);
/* Is the module there and answering?  One atomic load: for every layout
 * change. */
bool dma_watched(struct dma *d);
/*
 * For a layout change that needs the answer while dma_watched() says no:
 * look again (one open() of the device), unless /dev is watched and the
 * device is known to be absent.  True if the module answers now.
 */
bool dma_recheck(struct dma *d);
/*
 * Bytes of [off, off+len) (len LT_LEN_EOF: to the end) of the file whose
 * FUSE inode is ino that a device has pinned: pages of the FUSE inode, and
 * with backing_fd >= 0 (a descriptor of the backing file, O_PATH will do)
 * those of the backing inode as well, where mappings of a file in FUSE
 * passthrough mode pin.  If the module cannot be asked, 0, or, when
 * must_know (dma_module=require and a file that may be mapped shared), one
 * page: "may be pinned", so the change waits until it can be told.
 */
uint64_t dma_pinned_bytes(struct dma *d, ino_t ino, int backing_fd, uint64_t off,
			  uint64_t len, bool must_know);
/* Any thread, after a change was parked: poll until none is. */
void dma_start_poll(struct dma *d);
/* The state, for the control channel. */
void dma_get_status(struct dma *d, struct dma_status *st);
/* Log (once per absence) that a change was refused for want of the module. */
void dma_note_refusal(struct dma *d, const char *what);
/* Once the event thread has stopped, before lt_destroy. */
void dma_stop(struct dma *d);
void dma_close(struct dma *d);

#endif /* PINFS_DMA_H */
