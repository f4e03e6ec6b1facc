// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libpinfs.c - the client side of the pinfs ioctl ABI (lib/pinfs_abi.h).
 *
 * Each call checks its arguments, makes sure fd is on a FUSE mount (so that
 * a PINFS_IOC_* number never reaches a driver that might give it another
 * meaning), fills the request's size field and sends one ioctl.  The only
 * state is a lock-free cache of which mounts are FUSE (on_fuse()); there is
 * no allocation and no lock: every call is thread-safe and
 * async-signal-safe.  The preload shim (preload.c) compiles this file into
 * itself, with every symbol but fcntl and fcntl64 local.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>

#include "pinfs.h"
#include "window-internal.h"

/* The pinfs_dma module's device (kernel/pinfs_dma_abi.h). */
#define PINFS_DMA_DEVICE_PATH "/dev/pinfs_dma"

/*
 * Is fd on a FUSE mount?  fstatfs() answers, but on FUSE it is a STATFS
 * round trip to the daemon, as long as the ioctl that follows.  So the
 * answer is kept per mount, keyed by the mount's unique id (statx
 * STATX_MNT_ID_UNIQUE, Linux 6.8): the kernel never hands out the same id
 * twice while it runs, and a mount never changes its file system type, so
 * an answer once found stays true.  statx() with AT_STATX_DONT_SYNC and no
 * attribute asked for is served by the VFS from the inode it has; it never
 * sends a FUSE request.
 *
 * The cache is a direct-mapped table of 64-bit words, each (id << 1 | on
 * FUSE), read and written whole with atomics: no lock, so every call stays
 * thread-safe and async-signal-safe.  Two mounts sharing a slot overwrite
 * each other and cost one more fstatfs().  A kernel without unique mount
 * ids (or a 32-bit platform without lock-free 64-bit atomics) gets the
 * fstatfs() on every call, as before.
 */
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif
#define FUSE_CACHE_SLOTS 64

static uint64_t fuse_cache[FUSE_CACHE_SLOTS];
/* Linux 6.11 takes a NULL path with AT_EMPTY_PATH and skips copying "" in;
 * older kernels say EFAULT, and then "" is used from there on. */
static int null_path_efault;

/* fd's unique mount id, or 0 if the kernel cannot say. */
static uint64_t mount_id(int fd)
{
	const unsigned int flags = AT_EMPTY_PATH | AT_STATX_DONT_SYNC;
	struct statx stx;
	int r = -1;

	if (!__atomic_always_lock_free(sizeof(uint64_t), 0))
		return 0;
	if (!__atomic_load_n(&null_path_efault, __ATOMIC_RELAXED)) {
		/* glibc declares the path nonnull: the raw call. */
		r = (int)syscall(SYS_statx, fd, NULL, flags, STATX_MNT_ID_UNIQUE, &stx);
		if (r < 0 && errno == EFAULT)
			__atomic_store_n(&null_path_efault, 1, __ATOMIC_RELAXED);
	}
	if (r < 0 && __atomic_load_n(&null_path_efault, __ATOMIC_RELAXED))
		r = statx(fd, "", flags, STATX_MNT_ID_UNIQUE, &stx);
	if (r < 0)
		return 0;
	if (!(stx.stx_mask & STATX_MNT_ID_UNIQUE) || stx.stx_mnt_id == 0 ||
	    stx.stx_mnt_id > UINT64_MAX >> 1)
		return 0;
	return stx.stx_mnt_id;
}

/* 0 if fd is on a FUSE mount; -1 with errno ENOTTY (or fstatfs's) if not. */
static int on_fuse(int fd)
{
	uint64_t id = mount_id(fd), *slot = &fuse_cache[id % FUSE_CACHE_SLOTS];
	uint64_t v = id ? __atomic_load_n(slot, __ATOMIC_RELAXED) : 0;
	struct statfs sfs;
	int fuse;

	if (id && v >> 1 == id) {
		fuse = (int)(v & 1);
		goto out;
	}
	if (fstatfs(fd, &sfs) < 0)
		return -1;
	fuse = sfs.f_type == FUSE_SUPER_MAGIC;
	if (id)
		__atomic_store_n(slot, id << 1 | (uint64_t)fuse, __ATOMIC_RELAXED);
out:
	if (!fuse) {
		errno = ENOTTY;
		return -1;
	}
	return 0;
}

/* Send one PINFS_IOC_* request to fd's daemon. */
static int pinfs_ioctl(int fd, unsigned long cmd, void *arg)
{
	if (on_fuse(fd) < 0)
		return -1;
	/* A FUSE file system without an ioctl handler answers ENOSYS. */
	if (ioctl(fd, cmd, arg) < 0) {
		if (errno == ENOSYS)
			errno = ENOTTY;
		return -1;
	}
	return 0;
}

/* For lib/window.c (window-internal.h); not exported. */
int pinfs__ioctl(int fd, unsigned long cmd, void *arg)
{
	return pinfs_ioctl(fd, cmd, arg);
}

/* Does [off, off+len) fit a signed 64-bit file offset?  len 0: to EOF. */
static int range_ok(uint64_t off, uint64_t len)
{
	if (off > (uint64_t)INT64_MAX)
		return 0;
	return len <= (uint64_t)INT64_MAX - off;
}

int pinfs_probe(int fd, struct pinfs_version *v)
{
	struct pinfs_version ver = {.size = sizeof(ver)};
	int saved;

	if (on_fuse(fd) < 0)
		return -1;
	if (ioctl(fd, PINFS_IOC_VERSION, &ver) < 0) {
		/*
		 * Another FUSE file system: no ioctl handler (ENOSYS), or one
		 * that refuses numbers it does not know in its own way.
		 * Errors of the mount itself (ENOTCONN, EIO, EINTR) pass.
		 */
		switch (errno) {
		case ENOSYS:
		case EINVAL:
		case EOPNOTSUPP:
		case EPERM:
		case EACCES:
			errno = ENOTTY;
			break;
		}
		return -1;
	}
	if (ver.abi_version == 0) {
		errno = EPROTO;
		return -1;
	}
	/* The daemon asks the module about pins whenever it is loaded. */
	saved = errno;
	if (access(PINFS_DMA_DEVICE_PATH, F_OK) == 0)
		ver.features |= PINFS_FEAT_KMOD;
	errno = saved;
	if (v)
		*v = ver;
	return 0;
}

int pinfs_setlease(int fd, int type, unsigned int flags, uint64_t offset, uint64_t length)
{
	struct pinfs_lease l = {
	    .size = sizeof(l),
	    .type = (__u32)type,
	    .flags = flags,
	    .offset = offset,
	    .length = length,
	};

	if (type != PINFS_LEASE_READ && type != PINFS_LEASE_WRITE &&
	    type != PINFS_LEASE_UNLOCK) {
		errno = EINVAL;
		return -1;
	}
	if ((flags & ~PINFS_LEASE_FLAGS_ALL) ||
	    ((flags & PINFS_LEASE_IF_HELD) && type != PINFS_LEASE_UNLOCK)) {
		errno = EINVAL;
		return -1;
	}
	if (!range_ok(offset, length)) {
		errno = EOVERFLOW;
		return -1;
	}
	return pinfs_ioctl(fd, PINFS_IOC_SETLEASE, &l);
}

int pinfs_release(int fd)
{
	return pinfs_setlease(fd, PINFS_LEASE_UNLOCK, 0, 0, PINFS_LEN_EOF);
}

int pinfs_getlease(int fd, struct pinfs_lease_status *st)
{
	struct pinfs_lease_status s = {.size = sizeof(s)};

	if (!st) {
		errno = EINVAL;
		return -1;
	}
	if (pinfs_ioctl(fd, PINFS_IOC_GETLEASE, &s) < 0)
		return -1;
	*st = s;
	return 0;
}

int pinfs_setsig(int fd, int sig)
{
	struct pinfs_setsig s = {.size = sizeof(s), .signal = sig, .fd = fd};

	if (sig < 0 || sig > SIGRTMAX) {
		errno = EINVAL;
		return -1;
	}
	return pinfs_ioctl(fd, PINFS_IOC_SETSIG, &s);
}

int pinfs_pin(int fd, uint64_t off, uint64_t len, uint64_t *pin_id)
{
	struct pinfs_pin p = {.size = sizeof(p), .offset = off, .length = len};

	if (!pin_id || len == 0) {
		errno = EINVAL;
		return -1;
	}
	if (!range_ok(off, len)) {
		errno = EOVERFLOW;
		return -1;
	}
	if (pinfs_ioctl(fd, PINFS_IOC_PIN, &p) < 0)
		return -1;
	*pin_id = p.pin_id;
	return 0;
}

int pinfs_unpin(int fd, uint64_t pin_id)
{
	struct pinfs_pin p = {.size = sizeof(p), .pin_id = pin_id};

	return pinfs_ioctl(fd, PINFS_IOC_UNPIN, &p);
}

int pinfs_noop(int fd)
{
	return pinfs_ioctl(fd, PINFS_IOC_NOOP, NULL);
}

const char *pinfs_state_str(unsigned int state)
{
	switch (state) {
	case PINFS_STATE_NONE:
		return "none";
	case PINFS_STATE_ACTIVE:
		return "active";
	case PINFS_STATE_BREAKING:
		return "breaking";
	case PINFS_STATE_REVOKED:
		return "revoked";
	}
	return "unknown";
}

const char *pinfs_end_reason_str(unsigned int reason)
{
	switch (reason) {
	case PINFS_END_NONE:
		return "none";
	case PINFS_END_RELEASED:
		return "released";
	case PINFS_END_CLOSED:
		return "closed";
	case PINFS_END_REVOKED_TIMEOUT:
		return "revoked-timeout";
	case PINFS_END_REVOKED_ADMIN:
		return "revoked-admin";
	}
	return "unknown";
}
