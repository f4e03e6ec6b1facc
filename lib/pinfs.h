/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pinfs.h - libpinfs, the client library of pinfs layout leases.
 *
 * Every call works on a descriptor of a file on a pinfs mount and sends one
 * PINFS_IOC_* ioctl (lib/pinfs_abi.h) to the daemon.  Every int-returning
 * call returns 0 on success, or -1 with errno set, as system calls do (not
 * the error number itself, as libibverbs calls do).  Arguments are checked
 * here first (EINVAL, EOVERFLOW) and again by the daemon.
 *
 * Errors common to every call taking a descriptor:
 *   EBADF      fd is not an open descriptor (or was opened with O_PATH)
 *   ENOTTY     fd is not on a FUSE mount, so cannot be pinfs; no ioctl is
 *              sent to such a file.  A FUSE file system that is not pinfs
 *              answers ENOTTY (or ENOSYS, passed on as ENOTTY) itself.
 *   EOPNOTSUPP the pinfs mount runs with leases=off
 *   EISDIR     a lease or pin call on a directory
 *   ENOTCONN   the pinfs daemon has gone away
 * and the errors each call lists in its man page (pinfs_setlease(3), ...).
 *
 * The lease and pin calls keep no state: they are thread-safe and
 * async-signal-safe (an fstatfs() and an ioctl()).  The staging window
 * calls allocate a struct pinfs_window and are thread-safe, but not
 * async-signal-safe.
 */
#ifndef PINFS_H
#define PINFS_H

#include <linux/magic.h>
#include <stdint.h>

#include "pinfs_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* f_type of every FUSE mount (statfs(2)); pinfs is one of them. */
#define PINFS_FUSE_SUPER_MAGIC FUSE_SUPER_MAGIC

/*
 * Is fd a file on a pinfs mount?  On success fills *v (if v is not NULL)
 * with the daemon's ABI version and features, and PINFS_FEAT_KMOD when the
 * pinfs_dma module is loaded (/dev/pinfs_dma exists).
 * ENOTTY: not pinfs.  EPROTO: the daemon answered with an ABI version of 0.
 */
int pinfs_probe(int fd, struct pinfs_version *v);

/*
 * Take, change or release (type PINFS_LEASE_UNLOCK) the layout lease of the
 * open file description of fd on [offset, offset+length); length
 * PINFS_LEN_EOF (0) means to the end of the file, however it grows.
 * type: PINFS_LEASE_READ, _WRITE or _UNLOCK; flags: PINFS_LEASE_EXCLUSIVE,
 * or PINFS_LEASE_IF_HELD with _UNLOCK (EAGAIN if there was no lease).
 * EINVAL bad type or flags; EOVERFLOW the range passes INT64_MAX;
 * EAGAIN a conflicting lease or a pending break; EACCES not the owner.
 */
int pinfs_setlease(int fd, int type, unsigned int flags, uint64_t offset,
		   uint64_t length);

/* pinfs_setlease(fd, PINFS_LEASE_UNLOCK, 0, 0, 0).  No lease: not an error. */
int pinfs_release(int fd);

/* The state of the lease of fd's open file description.  EINVAL: st NULL. */
int pinfs_getlease(int fd, struct pinfs_lease_status *st);

/*
 * The break signal of fd's lease, as F_SETSIG: 0 restores SIGIO, another
 * signal is sent with si_fd = fd.  EINVAL: sig < 0 or above SIGRTMAX.
 * The kernel's F_SETSIG is not changed: call fcntl(fd, F_SETSIG) as well if
 * F_GETSIG should agree (libpinfs-preload.so does both).
 */
int pinfs_setsig(int fd, int sig);

/*
 * Register [off, off+len) of the file as pinned (for DMA); the daemon then
 * keeps layout changes of that range waiting while the pin stays, even past
 * a lease revocation.  *pin_id receives the id to unpin with.
 * EINVAL len 0 or pin_id NULL; EOVERFLOW the range passes INT64_MAX;
 * EPERM no layout lease of this open file covers the range.
 */
int pinfs_pin(int fd, uint64_t off, uint64_t len, uint64_t *pin_id);

/* Remove a pin.  ENOENT: no pin pin_id on this open file. */
int pinfs_unpin(int fd, uint64_t pin_id);

/*
 * A staging window: shared memory holding bytes [offset, offset+length) of
 * the file, which devices may pin (ibv_reg_mr, io_uring fixed buffers)
 * where the kernel refuses to pin the file's own pages (Linux 6.5 and
 * later).  The daemon writes what changed in it back to the file at every
 * sync point: pinfs_window_sync(), fsync(2) of the file,
 * pinfs_window_unmap(), the release of the lease, the holder's exit, and
 * before any layout change of the range.  See docs/dma.md.
 */
struct pinfs_window {
	void *addr;	     /* the window's memory */
	uint64_t offset;     /* file offset of addr */
	uint64_t length;     /* bytes of the file it holds (whole pages) */
	uint64_t map_length; /* bytes mapped at addr */
	uint64_t id;	     /* as "pinfsctl windows" lists it */
	int fd;		     /* the library's duplicate of the descriptor */
};

/*
 * Map [offset, offset+length) of fd's file as a staging window.  offset
 * must be a multiple of the page size; the range must lie inside the
 * active layout lease of fd's open file, which must be open for writing.
 * flags: 0, or PINFS_WINDOW_AUTO to get a window only where the mount's
 * window= option says the kernel would refuse to pin the file's pages
 * (EOPNOTSUPP otherwise).
 * EINVAL bad offset, length, flags or win; EOVERFLOW the range passes
 * INT64_MAX; EPERM no active lease of this open file covers the range;
 * EAGAIN the lease is breaking; EACCES fd is not open for writing;
 * EOPNOTSUPP windows are off (window=never) or not needed (AUTO);
 * ENOMEM over the caller's RLIMIT_MEMLOCK; EDQUOT over the user_pins
 * quota; ECONNREFUSED the daemon cannot reach the caller's socket (another
 * network namespace).
 */
int pinfs_window_map(int fd, uint64_t offset, uint64_t length, unsigned int flags,
		     struct pinfs_window **win);

/* Write what changed in the window back to the file.  ENOLCK: the lease
 * ended (what the window held then was written back; nothing since). */
int pinfs_window_sync(struct pinfs_window *win);

/* Write back, end the window and unmap it; win is freed, even on error. */
int pinfs_window_unmap(struct pinfs_window *win);

/*
 * Not part of the stable ABI (symbol version PINFS_PRIVATE): a round trip
 * to the daemon that does nothing, for pinfs's own latency measurements.
 */
int pinfs_noop(int fd);

/* "none", "active", "breaking", "revoked"; "unknown" for other values. */
const char *pinfs_state_str(unsigned int state);

/* "none", "released", "closed", "revoked-timeout", "revoked-admin";
 * "unknown" for other values. */
const char *pinfs_end_reason_str(unsigned int reason);

#ifdef __cplusplus
}
#endif

#endif /* PINFS_H */
