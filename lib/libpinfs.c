// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libpinfs.c - the client side of the pinfs ioctl ABI (lib/pinfs_abi.h).
 *
 * Each call checks its arguments, makes sure fd is on a FUSE mount (so that
 * a PINFS_IOC_* number never reaches a driver that might give it another
 * meaning), fills the request's size field and sends one ioctl.  There is
 * no state, no allocation and no lock: every call is thread-safe and
 * async-signal-safe.  The preload shim (preload.c) compiles this file into
 * itself, with every symbol but fcntl and fcntl64 local.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>

#include "pinfs.h"

/* 0 if fd is on a FUSE mount; -1 with errno ENOTTY (or fstatfs's) if not. */
static int on_fuse(int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return -1;
	if (sfs.f_type != FUSE_SUPER_MAGIC) {
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
	if (flags & ~PINFS_LEASE_FLAGS_ALL) {
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
