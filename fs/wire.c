// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wire.c - what pinfs adds to libfuse's replies on the wire.
 *
 * libfuse 3.14 writes INIT and OPEN/CREATE replies without some fields
 * newer kernels understand.  pinfs adds them itself, through libfuse's
 * public custom I/O hooks (fuse_session_custom_io): read() notes the INIT
 * request and what the kernel offers (and, like the splice of a request,
 * reports a connection shut down under it as ENODEV, see connection_gone);
 * writev() patches two kinds of reply before they reach /dev/fuse:
 *
 *   - the INIT reply: FUSE_HANDLE_KILLPRIV_V2 and FUSE_PASSTHROUGH (with
 *     max_stack_depth), each only if the kernel offered it and the daemon
 *     asked for it;
 *   - an OPEN or CREATE reply that the replying thread announced just
 *     before calling fuse_reply_open/fuse_reply_create
 *     (wire_next_open_passthrough): FOPEN_PASSTHROUGH and the backing id.
 *     libfuse writes a reply synchronously in the thread that replies, so
 *     a thread-local slot names exactly one reply; it is patched only if
 *     its length is an open reply's and it carries the announced file
 *     handle, and the slot is emptied by whatever this thread writes next.
 *
 * FUSE_HANDLE_KILLPRIV_V2: before each write() the kernel must know whether
 * the write has to drop set-ID bits or file capabilities.  It remembers
 * "nothing to drop" in the inode (S_NOSEC) only on a filesystem marked
 * SB_NOSEC, and FUSE marks itself so only for a daemon that negotiated the
 * flag; otherwise every write() first sends a GETXATTR
 * "security.capability".  The flag says that the daemon drops set-ID bits
 * and capabilities on write, truncate and chown itself.  pinfs does:
 * perm_kill_priv() clears set-ID bits for callers without CAP_FSETID, and
 * the backing filesystem drops security.capability on every write and
 * truncate the daemon makes (whoever the writer, root included).
 *
 * FUSE_PASSTHROUGH: see passthrough.c.
 *
 * After INIT the hooks cost one relaxed load and one thread-local test per
 * reply.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/uio.h>
#include <unistd.h>

#include "wire.h"

/*
 * Protocol 7.40 pieces that Debian 12's <linux/fuse.h> (7.38) lacks, with
 * the kernel's values: the FUSE_PASSTHROUGH INIT flag (bit 37: bit 5 of
 * flags2), max_stack_depth (the first of fuse_init_out's unused words) and
 * FOPEN_PASSTHROUGH with fuse_open_out's backing_id (its padding word).
 */
#ifndef FOPEN_PASSTHROUGH
#define FOPEN_PASSTHROUGH (1 << 7)
#endif
#define WIRE_PASSTHROUGH_FLAGS2 (1u << (37 - 32))

struct wire_init_out {
	uint32_t major;
	uint32_t minor;
	uint32_t max_readahead;
	uint32_t flags;
	uint16_t max_background;
	uint16_t congestion_threshold;
	uint32_t max_write;
	uint32_t time_gran;
	uint16_t max_pages;
	uint16_t map_alignment;
	uint32_t flags2;
	uint32_t max_stack_depth;
	uint32_t unused[6];
};

struct wire_open_out {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};

_Static_assert(sizeof(struct wire_init_out) == sizeof(struct fuse_init_out),
	       "fuse_init_out layout");
_Static_assert(sizeof(struct wire_open_out) == sizeof(struct fuse_open_out),
	       "fuse_open_out layout");

/* Written by the thread that reads INIT, before any other request. */
static uint64_t init_unique;
static bool init_killpriv_offered, init_passthrough_offered, init_ext_offered;
static bool want_passthrough; /* set by lo_init (passthrough_init) */
static int init_done;	      /* atomic: the INIT reply went out */

/* The next OPEN or CREATE reply this thread writes (see the top). */
static __thread struct {
	uint64_t fh;
	int32_t backing_id;
	size_t len; /* 0: nothing announced */
} next_open;

/* Did the kernel offer FUSE_HANDLE_KILLPRIV_V2?  For the init handler
 * (lo_init), which libfuse calls between reading INIT and writing its
 * reply. */
bool killpriv_v2_offered(void)
{
#ifdef FUSE_CAP_HANDLE_KILLPRIV_V2
	return true; /* perm_init() asked libfuse for it if offered */
#else
	return init_killpriv_offered;
#endif
}

bool wire_passthrough_offered(void)
{
	return init_passthrough_offered;
}

void wire_want_passthrough(bool want)
{
	want_passthrough = want;
}

void wire_next_open_passthrough(uint64_t fh, int backing_id, bool create)
{
	next_open.fh = fh;
	next_open.backing_id = backing_id;
	next_open.len =
	    sizeof(struct wire_open_out) + (create ? sizeof(struct fuse_entry_out) : 0);
}

/*
 * A read or splice of a request that races the unmount's shutdown of the
 * connection fails with ECONNABORTED instead of ENODEV.  Both mean the
 * connection is gone; libfuse ends the session quietly only on ENODEV and
 * logs anything else as a device error.
 */
static ssize_t connection_gone(ssize_t n)
{
	if (n < 0 && errno == ECONNABORTED)
		errno = ENODEV;
	return n;
}

static ssize_t wire_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = connection_gone(read(fd, buf, len));
	const struct fuse_in_header *in = buf;
	const struct fuse_init_in *init = (const void *)(in + 1);

	(void)userdata;
	if (__atomic_load_n(&init_done, __ATOMIC_RELAXED))
		return n;
	if (n >= (ssize_t)(sizeof(*in) + offsetof(struct fuse_init_in, flags) +
			   sizeof(init->flags)) &&
	    in->opcode == FUSE_INIT) {
		init_unique = in->unique;
		init_killpriv_offered = init->flags & FUSE_HANDLE_KILLPRIV_V2;
		init_ext_offered = init->flags & FUSE_INIT_EXT;
		init_passthrough_offered =
		    init_ext_offered &&
		    n >= (ssize_t)(sizeof(*in) + offsetof(struct fuse_init_in, flags2) +
				   sizeof(init->flags2)) &&
		    (init->flags2 & WIRE_PASSTHROUGH_FLAGS2);
	}
	return n;
}

/* Add what the kernel offered and pinfs wants to the INIT reply. */
static void patch_init(struct iovec *iov, int count)
{
	struct wire_init_out *init = count >= 2 ? iov[1].iov_base : NULL;
	size_t len = init ? iov[1].iov_len : 0;

	if (!init || len < offsetof(struct wire_init_out, flags) + sizeof(init->flags))
		return;
	if (init_killpriv_offered)
		init->flags |= FUSE_HANDLE_KILLPRIV_V2;
	/* The kernel takes passthrough only without writeback cache and
	 * with a stack depth of 1 or 2: 1 lets pinfs sit below overlayfs
	 * and takes backing files on filesystems that stack nothing. */
	if (want_passthrough && init_passthrough_offered &&
	    !(init->flags & FUSE_WRITEBACK_CACHE) &&
	    len >= offsetof(struct wire_init_out, max_stack_depth) +
		       sizeof(init->max_stack_depth)) {
		init->flags |= FUSE_INIT_EXT;
		init->flags2 |= WIRE_PASSTHROUGH_FLAGS2;
		init->max_stack_depth = 1;
	}
}

/* The announced open reply: iov[1] is a fuse_open_out (OPEN) or a
 * fuse_entry_out followed by one (CREATE), as libfuse builds them. */
static void patch_open(struct iovec *iov, int count)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	struct wire_open_out *o;

	if (out->error || count != 2 || iov[1].iov_len != next_open.len)
		return;
	o = (struct wire_open_out *)((char *)iov[1].iov_base + next_open.len -
				     sizeof(*o));
	if (o->fh != next_open.fh)
		return;
	o->open_flags |= FOPEN_PASSTHROUGH;
	o->backing_id = next_open.backing_id;
}

/* iov[0] is the reply's header, iov[1] its body (libfuse's send_reply). */
static ssize_t wire_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	bool header = count >= 1 && iov[0].iov_len >= sizeof(*out);

	(void)userdata;
	if (next_open.len) {
		if (header)
			patch_open(iov, count);
		next_open.len = 0;
	}
	if (!__atomic_load_n(&init_done, __ATOMIC_RELAXED) && init_unique && header &&
	    out->unique == init_unique) {
		__atomic_store_n(&init_done, 1, __ATOMIC_RELAXED);
		if (!out->error)
			patch_init(iov, count);
	}
	return writev(fd, iov, count);
}

static ssize_t wire_splice_receive(int fdin, off_t *offin, int fdout, off_t *offout,
				   size_t len, unsigned int flags, void *userdata)
{
	(void)userdata;
	return connection_gone(splice(fdin, offin, fdout, offout, len, flags));
}

static ssize_t wire_splice_send(int fdin, off_t *offin, int fdout, off_t *offout,
				size_t len, unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

/* Call between fuse_session_mount() and the session loop. */
void wire_install(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
	    .read = wire_read,
	    .writev = wire_writev,
	    .splice_receive = wire_splice_receive,
	    .splice_send = wire_splice_send,
	};

	if (fuse_session_custom_io(se, &io, fuse_session_fd(se)) != 0)
		fprintf(stderr, "pinfs: cannot hook libfuse's replies; every write "
				"will cost a GETXATTR, and no passthrough\n");
}
