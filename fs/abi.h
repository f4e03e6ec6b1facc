/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * abi.h - the PINFS_IOC_* ioctl ABI of lib/pinfs_abi.h, decoded and applied
 * to the lease table with no FUSE in it, so that tests and fuzzers run the
 * daemon's own code.  layout.c supplies who is asking and sends the reply.
 */
#ifndef PINFS_FS_ABI_H
#define PINFS_FS_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lease.h"
#include "pinfs_abi.h"

/* Every request and reply of the ABI, in one buffer. */
union abi_buf {
	struct pinfs_version v;
	struct pinfs_lease l;
	struct pinfs_lease_status s;
	struct pinfs_setsig sig;
	struct pinfs_pin pin;
};

/*
 * The open file an ioctl came through.  The callbacks are asked only by
 * the commands that need them (they may read /proc or stat the file):
 *   uid       the caller's fsuid: a new lease, and later the pins under
 *             it, are charged to it (per-user quotas, struct lt_config)
 *   pid       the calling process (tgid)
 *   owner_ok  the caller owns the file or is root
 *   in_table  the open file is about to be handed to the table (so that
 *             its release must tell the table)
 * fx receives what the table did (a release or unpin may resume parked
 * changes), for the caller to carry out after its reply.
 */
struct abi_file {
	struct lease_table *t; /* NULL: leases=off */
	bool regular;	       /* an open regular file, not a directory */
	uint64_t ino, fh;
	uid_t uid;
	pid_t (*pid)(void *arg);
	bool (*owner_ok)(void *arg);
	void (*in_table)(void *arg);
	void *arg;
	struct lt_effects *fx;
};

/*
 * Validate a range from the ABI (PINFS_LEN_EOF: to the end) and convert it
 * to the table's (LT_LEN_EOF).  0 or EOVERFLOW.
 */
int abi_range(uint64_t off, uint64_t len, uint64_t *tlen);

/*
 * Decode one request (cmd, in_bufsz bytes at in_buf; the caller reads
 * out_bufsz bytes back) and perform it on f.  Returns 0 with the reply in
 * the first *out_size bytes of out (0: no data), or a positive errno; see
 * lib/pinfs_abi.h for which.  A request refused before it reaches the
 * table does not touch it.
 */
int abi_ioctl(const struct abi_file *f, unsigned int cmd, const void *in_buf,
	      size_t in_bufsz, size_t out_bufsz, union abi_buf *out, size_t *out_size);

#endif /* PINFS_FS_ABI_H */
