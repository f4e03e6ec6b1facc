/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * window.h - staging windows: shared memory (a memfd) that holds a leased
 * range of a file for a lease holder whose kernel refuses to pin the
 * file's own pages for DMA, written back to the file at sync points.
 * See docs/dma.md, "Staging windows".
 *
 * The rest of the daemon calls the window_* hooks below; each costs one
 * atomic load for a file that has no window.
 */
#ifndef PINFS_WINDOW_H
#define PINFS_WINDOW_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-glib/json-glib.h>

#include "daemon.h"

/* The window= mount option (struct pinfs_config.window_mode). */
enum window_mode {
	WINDOW_AUTO = 0, /* where the kernel refuses writable long-term pins */
	WINDOW_ALWAYS,	 /* for every F_LAYOUT holder's shared mapping */
	WINDOW_NEVER,	 /* no windows at all */
};

/* Does this kernel refuse FOLL_LONGTERM|FOLL_WRITE pins of shared,
 * dirty-tracked file mappings (Linux 6.5 and later)? */
bool window_kernel_refuses_pins(void);

struct windows *windows_new(struct pinfs *fs, enum window_mode mode);
/* Unmount: write every window back and free them. */
void windows_free(struct windows *w);

/* Are windows offered on this mount (PINFS_FEAT_WINDOW)? */
bool window_enabled(struct windows *w);

/* Is cmd one of PINFS_IOC_WINDOW_*? */
bool window_is_ioctl(unsigned int cmd);
/* Serve a PINFS_IOC_WINDOW_* request and reply to it.  pid is the
 * calling process. */
void window_ioctl(fuse_req_t req, struct pinfs_inode *inode, struct pinfs_file *pf,
		  pid_t pid, unsigned int cmd, const void *in_buf, size_t in_bufsz,
		  size_t out_bufsz);

/*
 * Hooks.  window_before_change: a layout change of [off, off+len) of
 * inode is about to be carried out; windows overlapping it are written
 * back and detached first.  window_lease_ended: fh released its lease;
 * its windows are written back and detached.  window_file_closed: fh is
 * gone (its holder closed it or died); its windows are written back and
 * freed.
 */
void window_before_change(struct pinfs *fs, struct pinfs_inode *inode, uint64_t off,
			  uint64_t len);
void window_lease_ended(struct pinfs *fs, struct pinfs_inode *inode, uint64_t fh);
/* fsync of the file: write back every window of inode.  0 or an errno. */
int window_sync_inode(struct pinfs *fs, struct pinfs_inode *inode);
void window_file_closed(struct pinfs *fs, struct pinfs_file *pf);

/*
 * Coherence hooks for I/O through pinfs (docs/dma.md).
 * window_open_direct: must a new open of inode bypass the page cache?
 * window_read: serve a read that touches a staged range (true: replied).
 * window_write_check: 0, or EBUSY for a write(2) through an open file
 * that caches pages (writepage true: page writeback, always allowed).
 * window_write_done: n bytes were written at off: copy them into the
 * windows that stage them.
 */
static inline bool window_file_staged(struct pinfs_inode *inode)
{
	return atomic_load_explicit(&inode->windows, memory_order_relaxed) != 0;
}
bool window_open_direct(struct pinfs_inode *inode);
bool window_read(fuse_req_t req, struct pinfs_file *pf, size_t size, off_t off);
int window_write_check(struct pinfs *fs, struct pinfs_file *pf, off_t off, size_t size,
		       bool writepage);
void window_write_done(struct pinfs *fs, struct pinfs_file *pf, off_t off, size_t n);

/* The control channel's "windows" listing: one object per window. */
void window_list_json(struct windows *w, JsonBuilder *b);

#endif /* PINFS_WINDOW_H */
