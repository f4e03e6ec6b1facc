// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * killpriv.c - negotiate FUSE_HANDLE_KILLPRIV_V2 with the kernel.
 *
 * Before each write() the kernel must know whether the write has to drop
 * set-ID bits or file capabilities.  It remembers "nothing to drop" in
 * the inode (S_NOSEC) only on a filesystem marked SB_NOSEC, and FUSE marks
 * itself so only for a daemon that negotiated FUSE_HANDLE_KILLPRIV_V2.
 * Otherwise every write() first sends a GETXATTR "security.capability":
 * two round trips per write instead of one.
 *
 * The flag says that the daemon drops set-ID bits and capabilities on
 * write, truncate and chown itself.  pinfs does: perm_kill_priv() clears
 * set-ID bits for callers without CAP_FSETID, and the backing filesystem
 * drops security.capability on every write and truncate the daemon makes
 * (whoever the writer, root included).  libfuse learned the flag after
 * 3.14; with an older libfuse the daemon sets it in the INIT reply
 * itself, through libfuse's custom I/O hooks (fuse_session_custom_io):
 * read() notes the INIT request, writev() adds the flag to its reply if
 * the kernel offered it.  After INIT the hooks cost one relaxed load per
 * reply.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/uio.h>
#include <unistd.h>

#include "killpriv.h"

/* Written by the thread that reads INIT, before any other request. */
static uint64_t init_unique;
static bool init_offered;
static int init_done; /* atomic: the INIT reply went out */

/* Did the kernel offer the flag?  For the init handler (lo_init), which
 * libfuse calls between reading INIT and writing its reply. */
bool killpriv_v2_offered(void)
{
#ifdef FUSE_CAP_HANDLE_KILLPRIV_V2
	return true; /* perm_init() asked libfuse for it if offered */
#else
	return init_offered;
#endif
}

static ssize_t kp_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);
	const struct fuse_in_header *in = buf;
	const struct fuse_init_in *init = (const void *)(in + 1);

	(void)userdata;
	if (__atomic_load_n(&init_done, __ATOMIC_RELAXED))
		return n;
	if (n >= (ssize_t)(sizeof(*in) + offsetof(struct fuse_init_in, flags) +
			   sizeof(init->flags)) &&
	    in->opcode == FUSE_INIT) {
		init_unique = in->unique;
		init_offered = init->flags & FUSE_HANDLE_KILLPRIV_V2;
	}
	return n;
}

/* iov[0] is the reply's header, iov[1] its body (libfuse's send_reply). */
static ssize_t kp_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fuse_out_header *out = iov[0].iov_base;
	struct fuse_init_out *init;

	(void)userdata;
	if (__atomic_load_n(&init_done, __ATOMIC_RELAXED) || !init_unique ||
	    iov[0].iov_len < sizeof(*out) || out->unique != init_unique)
		goto out;
	__atomic_store_n(&init_done, 1, __ATOMIC_RELAXED);
	init = count >= 2 ? iov[1].iov_base : NULL;
	if (init_offered && !out->error && init &&
	    iov[1].iov_len >=
		offsetof(struct fuse_init_out, flags) + sizeof(init->flags)) {
		init->flags |= FUSE_HANDLE_KILLPRIV_V2;
	}
out:
	return writev(fd, iov, count);
}

static ssize_t kp_splice_receive(int fdin, off_t *offin, int fdout, off_t *offout,
				 size_t len, unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static ssize_t kp_splice_send(int fdin, off_t *offin, int fdout, off_t *offout,
			      size_t len, unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

/* Call between fuse_session_mount() and the session loop. */
void killpriv_v2_install(struct fuse_session *se)
{
#ifdef FUSE_CAP_HANDLE_KILLPRIV_V2
	(void)se; /* libfuse negotiates it: perm_init() */
#else
	static const struct fuse_custom_io io = {
	    .read = kp_read,
	    .writev = kp_writev,
	    .splice_receive = kp_splice_receive,
	    .splice_send = kp_splice_send,
	};

	if (fuse_session_custom_io(se, &io, fuse_session_fd(se)) != 0)
		fprintf(stderr, "pinfs: cannot hook the INIT reply; every write "
				"will cost a GETXATTR\n");
#endif
}
