/* SPDX-License-Identifier: GPL-2.0-or-later WITH Linux-syscall-note */
/*
 * pinfs_dma_abi.h - the ioctl ABI of /dev/pinfs_dma, shared by the kernel
 * module (kernel/pinfs_dma.c) and user space (libpinfs's kmod backend, the
 * tests).
 *
 * /dev/pinfs_dma plays a DMA device: it pins user pages the way RDMA's
 * ib_umem_get() does, writes into them through kernel mappings (at once or
 * later from a workqueue, as a device would), and unpins them the way
 * ib_umem_release() does.  It also answers "how many page-cache pages of
 * inode N on this superblock are DMA-pinned?" for the pinfs daemon.
 *
 * Rules, as in lib/pinfs_abi.h:
 * - every request is a fixed-size struct without pointers, the same layout
 *   for 32- and 64-bit callers (sizes are multiples of 8);
 * - every struct starts with a __u32 'size' the caller sets to
 *   sizeof(struct); another size is EINVAL;
 * - unknown flag bits, unknown modes and non-zero reserved fields are EINVAL.
 *
 * The private magic 0xEA is unused as an ioctl type in Linux 6.1's uapi
 * headers, and differs from pinfs_abi.h's 0xE9.
 */
#ifndef PINFS_DMA_ABI_H
#define PINFS_DMA_ABI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define PINFS_DMA_ABI_VERSION 1
#define PINFS_DMA_DEVICE "/dev/pinfs_dma"
#define PINFS_DMA_IOC_MAGIC 0xEA

/*
 * Default limits; the module's parameters max_pages_per_handle and
 * max_handles_per_file (read-only, in /sys/module/pinfs_dma/parameters/)
 * hold the values in force.  Going over them is E2BIG and ENOSPC.
 */
#define PINFS_DMA_DEF_MAX_PAGES 65536 /* 256 MiB of 4 KiB pages per handle */
#define PINFS_DMA_DEF_MAX_HANDLES 64  /* handles per open file */
#define PINFS_DMA_MAX_PENDING 64      /* delayed writes queued per handle */
#define PINFS_DMA_MAX_DELAY_MS 60000  /* longest delay of a delayed write */

/* pinfs_dma_pin.flags */
#define PINFS_DMA_PIN_WRITE (1u << 0)	 /* FOLL_WRITE: the device may write */
#define PINFS_DMA_PIN_LONGTERM (1u << 1) /* FOLL_LONGTERM, as RDMA does */
#define PINFS_DMA_PIN_FLAGS_ALL (PINFS_DMA_PIN_WRITE | PINFS_DMA_PIN_LONGTERM)

/*
 * PIN: pin the pages backing [addr, addr + len) of the caller's address
 * space; addr need not be page aligned.  The pages are charged to the
 * caller's mm->pinned_vm and limited by RLIMIT_MEMLOCK unless the caller has
 * CAP_IPC_LOCK (ENOMEM when over, as ib_umem_get).  Offsets in later requests
 * are relative to addr.
 */
struct pinfs_dma_pin {
	__u32 size;
	__u32 flags;  /* PINFS_DMA_PIN_* */
	__u64 addr;   /* in: start of the range */
	__u64 len;    /* in: bytes, > 0 */
	__u32 handle; /* out: handle id, > 0 */
	__u32 npages; /* out: pages pinned */
};

/*
 * UNPIN: wait for the handle's queued writes (they land at once instead of
 * after their delay; PINFS_DMA_UNPIN_CANCEL drops them instead), then
 * release the pages with unpin_user_pages_dirty_lock(), marking them dirty
 * if the pin was writable.  Unknown handle: ENOENT.
 *
 * close() of the last reference to the open file (also at process exit)
 * CANCELS queued writes and unpins every handle: a dead process's device
 * stops.
 */
#define PINFS_DMA_UNPIN_CANCEL (1u << 0)
#define PINFS_DMA_UNPIN_FLAGS_ALL (PINFS_DMA_UNPIN_CANCEL)

struct pinfs_dma_unpin {
	__u32 size;
	__u32 handle;
	__u32 flags; /* PINFS_DMA_UNPIN_* */
	__u32 reserved;
	__u64 writes_cancelled; /* out: queued writes dropped */
};

/* Byte patterns a device write produces, and a read can compare against. */
#define PINFS_DMA_MODE_FILL 0 /* every byte is (seed & 0xff) */
#define PINFS_DMA_MODE_MIX 1  /* pinfs_dma_pattern_byte(): depends on offset */
#define PINFS_DMA_MODE_MAX PINFS_DMA_MODE_MIX

/*
 * The byte a device write of (mode, seed) puts at offset 'off' from the
 * handle's start.  MIX makes every byte depend on its offset, so a page that
 * lands in the wrong place is caught.
 */
static inline __u8 pinfs_dma_pattern_byte(__u32 mode, __u32 seed, __u64 off)
{
	__u64 x;

	if (mode == PINFS_DMA_MODE_FILL)
		return (__u8)seed;
	x = off ^ ((__u64)seed << 32) ^ 0x9e3779b97f4a7c15ULL;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (__u8)x;
}

/*
 * WRITE: write [offset, offset + len) of the handle with a pattern, through
 * kmap_local_page(), like a device's DMA.  delay_ms == 0 writes before the
 * ioctl returns; otherwise the write is queued on a workqueue and lands
 * delay_ms later (at most PINFS_DMA_MAX_DELAY_MS, at most
 * PINFS_DMA_MAX_PENDING queued per handle: EBUSY).  A handle pinned without
 * PINFS_DMA_PIN_WRITE is EPERM.  Out of range: EINVAL.
 */
struct pinfs_dma_write {
	__u32 size;
	__u32 handle;
	__u64 offset;
	__u64 len;  /* > 0 */
	__u32 mode; /* PINFS_DMA_MODE_* */
	__u32 seed;
	__u32 delay_ms;
	__u32 reserved;
};

/*
 * READ: read [offset, offset + len) of the handle through kernel mappings.
 * Returns the first min(len, PINFS_DMA_READ_DATA) bytes in data[], an FNV-1a
 * 64-bit hash of all len bytes (pinfs_dma_fnv1a()), and, with
 * PINFS_DMA_READ_COMPARE, how many bytes differ from the pattern (mode,
 * seed) and the offset of the first that does.
 */
#define PINFS_DMA_READ_DATA 256
#define PINFS_DMA_READ_COMPARE (1u << 0)
#define PINFS_DMA_READ_FLAGS_ALL (PINFS_DMA_READ_COMPARE)

struct pinfs_dma_read {
	__u32 size;
	__u32 handle;
	__u64 offset;
	__u64 len; /* > 0 */
	__u32 flags;
	__u32 mode; /* with PINFS_DMA_READ_COMPARE */
	__u32 seed;
	__u32 reserved;
	__u64 hash;			/* out */
	__u64 mismatches;		/* out, with PINFS_DMA_READ_COMPARE */
	__u64 first_mismatch;		/* out: offset, or ~0ULL when none */
	__u8 data[PINFS_DMA_READ_DATA]; /* out */
};

#define PINFS_DMA_FNV1A_INIT 0xcbf29ce484222325ULL

/* One step of FNV-1a 64 over 'len' bytes, starting from 'h'. */
static inline __u64 pinfs_dma_fnv1a(__u64 h, const void *buf, __u64 len)
{
	const __u8 *p = (const __u8 *)buf;

	while (len--) {
		h ^= *p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * QUERY: how many page-cache pages of an inode, in a byte range, are
 * DMA-pinned (folio_maybe_dma_pinned()), whoever pinned them.  The file is
 * never opened: the inode is looked up by number on the superblock of 'fd'
 * (any open file or directory there, e.g. the root of a FUSE mount opened
 * before serving).  ino == 0 means the inode of 'fd' itself.
 *
 * For FUSE, ino is the st_ino the daemon reports (the kernel inode's i_ino),
 * not the nodeid.  An inode that is not in the inode cache has no cached
 * pages: ENOENT.  The caller must own the inode or have CAP_SYS_ADMIN
 * (EPERM).  len == 0 means "to the end".
 *
 * folio_maybe_dma_pinned() may report false positives for a folio with
 * very many ordinary references; it never misses a pin.
 */
struct pinfs_dma_query {
	__u32 size;
	__s32 fd;
	__u64 ino;
	__u64 offset;
	__u64 len;
	__u64 cached;	    /* out: pages of the range in the page cache */
	__u64 pinned;	    /* out: of those, pages in DMA-pinned folios */
	__u64 first_pinned; /* out: byte offset of the first, or ~0ULL */
	__u64 i_size;	    /* out: the inode's size */
};

/*
 * INFO: the state of a handle (EINVAL/ENOENT as above).
 */
struct pinfs_dma_info {
	__u32 size;
	__u32 handle;
	__u64 addr;
	__u64 len;
	__u32 npages;
	__u32 flags;
	__u64 writes_done;    /* device writes that have landed */
	__u64 writes_pending; /* queued, not yet landed */
	__u64 bytes_written;
};

#define PINFS_DMA_IOC_PIN _IOWR(PINFS_DMA_IOC_MAGIC, 0x01, struct pinfs_dma_pin)
#define PINFS_DMA_IOC_UNPIN _IOWR(PINFS_DMA_IOC_MAGIC, 0x02, struct pinfs_dma_unpin)
#define PINFS_DMA_IOC_WRITE _IOW(PINFS_DMA_IOC_MAGIC, 0x03, struct pinfs_dma_write)
#define PINFS_DMA_IOC_READ _IOWR(PINFS_DMA_IOC_MAGIC, 0x04, struct pinfs_dma_read)
#define PINFS_DMA_IOC_QUERY _IOWR(PINFS_DMA_IOC_MAGIC, 0x05, struct pinfs_dma_query)
#define PINFS_DMA_IOC_INFO _IOWR(PINFS_DMA_IOC_MAGIC, 0x06, struct pinfs_dma_info)

#define PINFS_DMA_ABI_ASSERT(c, m) _Static_assert(c, m)
PINFS_DMA_ABI_ASSERT(sizeof(struct pinfs_dma_pin) == 32, "pinfs_dma_pin size");
PINFS_DMA_ABI_ASSERT(sizeof(struct pinfs_dma_unpin) == 24, "pinfs_dma_unpin size");
PINFS_DMA_ABI_ASSERT(sizeof(struct pinfs_dma_write) == 40, "pinfs_dma_write size");
PINFS_DMA_ABI_ASSERT(sizeof(struct pinfs_dma_read) == 64 + PINFS_DMA_READ_DATA,
		     "pinfs_dma_read size");
PINFS_DMA_ABI_ASSERT(sizeof(struct pinfs_dma_query) == 64, "pinfs_dma_query size");
PINFS_DMA_ABI_ASSERT(sizeof(struct pinfs_dma_info) == 56, "pinfs_dma_info size");

#endif /* PINFS_DMA_ABI_H */
