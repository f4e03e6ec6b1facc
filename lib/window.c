// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * window.c - libpinfs's staging windows: pinfs_window_map(),
 * pinfs_window_sync(), pinfs_window_unmap().
 *
 * A window is a memfd the daemon fills with a leased range of the file and
 * writes back at sync points (docs/dma.md, "Staging windows").  Mapping one
 * takes an abstract unix socket (autobind: the kernel picks a free name),
 * one PINFS_IOC_WINDOW_MAP ioctl, during which the daemon connects and
 * sends the memfd with a random cookie that the ioctl's reply repeats, and
 * an mmap of the memfd.  The window keeps a duplicate of the caller's
 * descriptor, so that the open file (and the lease, which belongs to it)
 * lives as long as the mapping, as it would for a mapping of the file.
 *
 * mmap and munmap are called as system calls: the preload shim, which
 * compiles this file in, interposes on the libc functions.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "pinfs.h"
#include "window-internal.h"

static void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static int sys_munmap(void *addr, size_t len)
{
	return (int)syscall(SYS_munmap, addr, len);
}

static int window_ioctl(int fd, unsigned long cmd, struct pinfs_window_io *io)
{
	return pinfs__ioctl(fd, cmd, io);
}

/* An abstract unix socket listening under a name the kernel chose. */
static int listen_abstract(struct pinfs_window_io *io)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa_family_t);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (s < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (bind(s, (struct sockaddr *)&sa, len) < 0 || listen(s, 4) < 0)
		goto fail;
	len = sizeof(sa);
	if (getsockname(s, (struct sockaddr *)&sa, &len) < 0)
		goto fail;
	len -= offsetof(struct sockaddr_un, sun_path);
	if (len < 2 || len > sizeof(io->sock)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	memcpy(io->sock, sa.sun_path, len);
	io->sock_len = len;
	return s;
fail:
	close(s);
	return -1;
}

/*
 * The memfd the daemon sent: the connection waiting on s whose 8 bytes are
 * the cookie.  Connections from anyone else are read and dropped.
 */
static int receive_fd(int s, uint64_t cookie)
{
	for (int tries = 0; tries < 16; tries++) {
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} cbuf;
		uint64_t got = 0;
		struct iovec iov = {.iov_base = &got, .iov_len = sizeof(got)};
		struct msghdr msg = {
		    .msg_iov = &iov,
		    .msg_iovlen = 1,
		    .msg_control = cbuf.buf,
		    .msg_controllen = sizeof(cbuf.buf),
		};
		struct cmsghdr *cm;
		int c, fd = -1;
		ssize_t n;

		c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EAGAIN)
				errno = EPROTO; /* the daemon said it sent it */
			return -1;
		}
		n = recvmsg(c, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		cm = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
		if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		close(c);
		if (n == (ssize_t)sizeof(got) && got == cookie && fd >= 0)
			return fd;
		if (fd >= 0)
			close(fd);
	}
	errno = EPROTO;
	return -1;
}

int pinfs__window_map_at(int fd, void *addr, size_t mlen, int prot, int mflags,
			 uint64_t offset, unsigned int wflags, struct pinfs_window **winp)
{
	struct pinfs_window_io io;
	struct pinfs_window *win = NULL;
	int s = -1, memfd = -1, saved;
	void *map;

	if (!winp || mlen == 0 || (wflags & ~PINFS_WINDOW_FLAGS_ALL)) {
		errno = EINVAL;
		return -1;
	}
	if (offset > (uint64_t)INT64_MAX || mlen > (uint64_t)INT64_MAX - offset) {
		errno = EOVERFLOW;
		return -1;
	}
	memset(&io, 0, sizeof(io));
	io.size = sizeof(io);
	io.flags = wflags;
	io.offset = offset;
	io.length = mlen;
	s = listen_abstract(&io);
	if (s < 0)
		return -1;
	if (window_ioctl(fd, PINFS_IOC_WINDOW_MAP, &io) < 0)
		goto fail;
	memfd = receive_fd(s, io.cookie);
	if (memfd < 0)
		goto fail_daemon;
	win = calloc(1, sizeof(*win));
	if (!win)
		goto fail_daemon;
	win->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (win->fd < 0)
		goto fail_daemon;
	map = sys_mmap(addr, mlen, prot, mflags, memfd, 0);
	if (map == MAP_FAILED)
		goto fail_daemon;
	close(memfd);
	close(s);
	win->addr = map;
	win->offset = offset;
	win->length = io.length;
	win->map_length = mlen;
	win->id = io.window_id;
	*winp = win;
	return 0;

fail_daemon:
	/* The daemon made the window: end it again, keeping errno. */
	saved = errno;
	io.flags = io.offset = io.length = io.sock_len = 0;
	io.cookie = 0;
	memset(io.sock, 0, sizeof(io.sock));
	window_ioctl(fd, PINFS_IOC_WINDOW_UNMAP, &io);
	errno = saved;
fail:
	saved = errno;
	if (win && win->fd >= 0)
		close(win->fd);
	free(win);
	if (memfd >= 0)
		close(memfd);
	close(s);
	errno = saved;
	return -1;
}

int pinfs_window_map(int fd, uint64_t offset, uint64_t length, unsigned int flags,
		     struct pinfs_window **win)
{
	if (length > SIZE_MAX) {
		errno = EOVERFLOW;
		return -1;
	}
	return pinfs__window_map_at(fd, NULL, (size_t)length, PROT_READ | PROT_WRITE,
				    MAP_SHARED, offset, flags, win);
}

/* SYNC or UNMAP; *synced gets the bytes written back. */
static int window_cmd(struct pinfs_window *win, unsigned long cmd, uint64_t *synced)
{
	struct pinfs_window_io io;

	memset(&io, 0, sizeof(io));
	io.size = sizeof(io);
	io.window_id = win->id;
	if (window_ioctl(win->fd, cmd, &io) < 0)
		return -1;
	if (synced)
		*synced = io.synced;
	return 0;
}

int pinfs_window_sync(struct pinfs_window *win)
{
	if (!win) {
		errno = EINVAL;
		return -1;
	}
	return window_cmd(win, PINFS_IOC_WINDOW_SYNC, NULL);
}

int pinfs__window_end(struct pinfs_window *win, bool unmap)
{
	int ret, saved;

	ret = window_cmd(win, PINFS_IOC_WINDOW_UNMAP, NULL);
	saved = errno;
	if (unmap)
		sys_munmap(win->addr, win->map_length);
	close(win->fd);
	free(win);
	errno = saved;
	return ret;
}

int pinfs_window_unmap(struct pinfs_window *win)
{
	if (!win) {
		errno = EINVAL;
		return -1;
	}
	return pinfs__window_end(win, true);
}
