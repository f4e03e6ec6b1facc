/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * window-internal.h - what lib/window.c offers the preload shim beyond
 * pinfs.h: a window mapped where and how mmap(2) was asked to map the
 * file, and the end of a window without its munmap.  Not exported from
 * libpinfs.so (libpinfs.map).
 */
#ifndef PINFS_WINDOW_INTERNAL_H
#define PINFS_WINDOW_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pinfs.h"

/* libpinfs.c's checked ioctl (fd on FUSE, ENOSYS as ENOTTY). */
int pinfs__ioctl(int fd, unsigned long cmd, void *arg);

int pinfs__window_map_at(int fd, void *addr, size_t mlen, int prot, int mflags,
			 uint64_t offset, unsigned int wflags,
			 struct pinfs_window **winp);
/* UNMAP the window at the daemon, then (unmap) munmap it; free win. */
int pinfs__window_end(struct pinfs_window *win, bool unmap);

#endif /* PINFS_WINDOW_INTERNAL_H */
