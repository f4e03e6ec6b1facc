/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pinfs_abi.h - the one definition of the pinfs ioctl ABI.
 *
 * Included by the daemon (fs/), libpinfs, the preload shim and the tools.
 * Regular-file ioctls on FUSE are "restricted": every request is a
 * fixed-size struct whose size is encoded in the command (_IOC_SIZE), with
 * no pointers inside, and the same layout for 32- and 64-bit callers.
 *
 * Every struct starts with a __u32 'size' that the caller sets to
 * sizeof(struct) as it knows it.  The daemon rejects a size it does not
 * know (EINVAL), so the ABI can grow by adding fields at the end under a new
 * command number while old callers keep working.
 *
 * Commands that return data are _IOWR, not _IOR, so that the daemon sees
 * the caller's size field too.
 *
 * Errors, for every command:
 *   EINVAL     size field unknown, unknown flag or type, reserved not 0
 *   EOVERFLOW  offset + length does not fit in a signed 64-bit file offset
 *   EISDIR     a lease or pin command on a directory
 *   EOPNOTSUPP a lease or pin command on a mount with leases=off
 *   ENOTTY     a command pinfs does not know
 * and the command's own errors (see pinfs(8) and the man pages).
 */
#ifndef PINFS_ABI_H
#define PINFS_ABI_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* The 2019 layout lease RFC's fcntl values (never merged into Linux). */
#ifndef F_LAYOUT
#define F_LAYOUT 16
#endif
#ifndef F_EXCLUSIVE
#define F_EXCLUSIVE 32
#endif

#define PINFS_ABI_VERSION 1

/* Private ioctl magic: unused in Linux 6.1's uapi headers. */
#define PINFS_IOC_MAGIC 0xE9

/* Lease types: the same numbers as F_RDLCK, F_WRLCK and F_UNLCK. */
#define PINFS_LEASE_READ 0
#define PINFS_LEASE_WRITE 1
#define PINFS_LEASE_UNLOCK 2

/* pinfs_lease.flags */
#define PINFS_LEASE_EXCLUSIVE (1u << 0) /* unbreakable (RFC v2 F_EXCLUSIVE) */
/* With PINFS_LEASE_UNLOCK only: fail with EAGAIN if the open file has no
 * lease (active, breaking or revoked) instead of succeeding. */
#define PINFS_LEASE_IF_HELD (1u << 1)
#define PINFS_LEASE_FLAGS_ALL (PINFS_LEASE_EXCLUSIVE | PINFS_LEASE_IF_HELD)

/* A length of PINFS_LEN_EOF means "to the end of the file, however it grows". */
#define PINFS_LEN_EOF 0ULL

/* pinfs_lease_status.state */
#define PINFS_STATE_NONE 0 /* no lease on this open file */
#define PINFS_STATE_ACTIVE 1
#define PINFS_STATE_BREAKING 2 /* a layout change waits for the release */
#define PINFS_STATE_REVOKED 3  /* removed by force; pins may still block */

/* pinfs_lease_status.end_reason: why the last lease of this open file ended */
#define PINFS_END_NONE 0
#define PINFS_END_RELEASED 1	    /* F_UNLCK by the holder */
#define PINFS_END_CLOSED 2	    /* the open file description was closed */
#define PINFS_END_REVOKED_TIMEOUT 3 /* break_time passed without a release */
#define PINFS_END_REVOKED_ADMIN 4   /* pinfsctl revoke */

/* PINFS_IOC_VERSION: is this a pinfs file, and which ABI does it speak? */
struct pinfs_version {
	__u32 size;
	__u32 abi_version; /* out: PINFS_ABI_VERSION */
	__u32 features;	   /* out: PINFS_FEAT_* */
	__u32 reserved;
};
#define PINFS_FEAT_LEASES (1u << 0) /* leases=on at mount */
#define PINFS_FEAT_KMOD (1u << 1)   /* pinfs_dma is loaded (set by libpinfs) */
#define PINFS_FEAT_WINDOW (1u << 2) /* staging windows (window= not never) */

/* PINFS_IOC_SETLEASE: take, change (type or range) or release (UNLOCK). */
struct pinfs_lease {
	__u32 size;
	__u32 type;	/* PINFS_LEASE_READ, _WRITE or _UNLOCK */
	__u32 flags;	/* PINFS_LEASE_EXCLUSIVE */
	__u32 reserved; /* must be 0 */
	__u64 offset;
	__u64 length; /* PINFS_LEN_EOF: to the end of the file */
};

/* PINFS_IOC_GETLEASE: the state of this open file's lease. */
struct pinfs_lease_status {
	__u32 size;
	__u32 type;	    /* out: F_GETLEASE's answer: UNLOCK while breaking (rule 5) */
	__u32 flags;	    /* out: PINFS_LEASE_EXCLUSIVE */
	__u32 state;	    /* out: PINFS_STATE_* */
	__u64 offset;	    /* out */
	__u64 length;	    /* out */
	__u64 lease_id;	    /* out: as pinfsctl shows it; 0 without a lease */
	__u64 pinned_bytes; /* out: bytes registered with PINFS_IOC_PIN */
	__u32 end_reason;   /* out: PINFS_END_* of the last lease that ended */
	__s32 signal;	    /* out: the break signal (0: SIGIO) */
};

/* PINFS_IOC_SETSIG: F_SETSIG.  sig 0 restores SIGIO without siginfo. */
struct pinfs_setsig {
	__u32 size;
	__s32 signal;	/* 0, or a signal number to send with si_fd set */
	__s32 fd;	/* the caller's descriptor number, reported in si_fd */
	__u32 reserved; /* must be 0 */
};

/* PINFS_IOC_PIN / PINFS_IOC_UNPIN: register pinned ranges (rule 13). */
struct pinfs_pin {
	__u32 size;
	__u32 flags; /* must be 0 */
	__u64 offset;
	__u64 length; /* > 0 */
	__u64 pin_id; /* out for PIN, in for UNPIN */
};

/*
 * PINFS_IOC_WINDOW_MAP / _SYNC / _UNMAP: a staging window, shared memory
 * (a memfd) holding [offset, offset+length) of the file under this open
 * file's lease, which the kernel lets devices pin where it refuses to pin
 * the file's own pages.  MAP: the caller listens on the abstract unix
 * socket named by sock (sock_len bytes, the leading NUL included); the
 * daemon connects, checks that the listener is the caller's process, and
 * sends the memfd with SCM_RIGHTS and the 8 bytes of cookie before it
 * replies (so the caller can tell the daemon's connection from others).  SYNC writes what
 * changed back to the file; UNMAP writes back and ends the window.
 */
struct pinfs_window_io {
	__u32 size;
	__u32 flags;	 /* PINFS_WINDOW_*; 0 for SYNC and UNMAP */
	__u64 offset;	 /* MAP: a multiple of the page size */
	__u64 length;	 /* MAP: > 0; rounded up to whole pages */
	__u64 window_id; /* out for MAP, in for SYNC and UNMAP */
	__u64 synced;	 /* out for SYNC and UNMAP: bytes written back */
	__u64 cookie;	 /* out for MAP: also the 8 bytes sent with the memfd */
	__u32 sock_len;	 /* MAP: bytes of sock used, 2 to 104 */
	__u32 reserved;	 /* must be 0 */
	char sock[104];	 /* MAP: the abstract socket address (sun_path) */
};
/* pinfs_window_io.flags for MAP: only where the mount's window= option
 * says the kernel would refuse a long-term writable pin of the file's own
 * mapping; otherwise EOPNOTSUPP, and the caller maps the file itself. */
#define PINFS_WINDOW_AUTO (1u << 0)
#define PINFS_WINDOW_FLAGS_ALL (PINFS_WINDOW_AUTO)

#define PINFS_IOC_NOOP _IO(PINFS_IOC_MAGIC, 0x00)
#define PINFS_IOC_VERSION _IOWR(PINFS_IOC_MAGIC, 0x01, struct pinfs_version)
#define PINFS_IOC_SETLEASE _IOW(PINFS_IOC_MAGIC, 0x02, struct pinfs_lease)
#define PINFS_IOC_GETLEASE _IOWR(PINFS_IOC_MAGIC, 0x03, struct pinfs_lease_status)
#define PINFS_IOC_SETSIG _IOW(PINFS_IOC_MAGIC, 0x04, struct pinfs_setsig)
#define PINFS_IOC_PIN _IOWR(PINFS_IOC_MAGIC, 0x05, struct pinfs_pin)
#define PINFS_IOC_UNPIN _IOW(PINFS_IOC_MAGIC, 0x06, struct pinfs_pin)
#define PINFS_IOC_WINDOW_MAP _IOWR(PINFS_IOC_MAGIC, 0x07, struct pinfs_window_io)
#define PINFS_IOC_WINDOW_SYNC _IOWR(PINFS_IOC_MAGIC, 0x08, struct pinfs_window_io)
#define PINFS_IOC_WINDOW_UNMAP _IOWR(PINFS_IOC_MAGIC, 0x09, struct pinfs_window_io)

/* Same layout for 32- and 64-bit callers: sizes are multiples of 8 and no
 * field straddles an alignment a 32-bit ABI would place differently. */
#ifdef __cplusplus
#define PINFS_ABI_ASSERT(c, m) static_assert(c, m)
#else
#define PINFS_ABI_ASSERT(c, m) _Static_assert(c, m)
#endif
PINFS_ABI_ASSERT(sizeof(struct pinfs_version) == 16, "pinfs_version size");
PINFS_ABI_ASSERT(sizeof(struct pinfs_lease) == 32, "pinfs_lease size");
PINFS_ABI_ASSERT(sizeof(struct pinfs_lease_status) == 56, "pinfs_lease_status size");
PINFS_ABI_ASSERT(sizeof(struct pinfs_setsig) == 16, "pinfs_setsig size");
PINFS_ABI_ASSERT(sizeof(struct pinfs_pin) == 32, "pinfs_pin size");
PINFS_ABI_ASSERT(sizeof(struct pinfs_window_io) == 160, "pinfs_window_io size");

#endif /* PINFS_ABI_H */
