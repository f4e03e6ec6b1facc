/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * notify.h - telling holders that their lease is breaking (rule 8): a
 * signal, and a wake-up of the poll() that waits on the leased file.
 */
#ifndef PINFS_NOTIFY_H
#define PINFS_NOTIFY_H

#include "daemon.h"

struct notify;

struct notify *notify_new(void);
void notify_free(struct notify *n);
/* A poll() on open file fh wants to hear of a break (replaces the last). */
void notify_poll_add(struct notify *n, uint64_t fh, struct fuse_pollhandle *ph);
/* Open file fh is released: forget its poll handle. */
void notify_poll_remove(struct notify *n, uint64_t fh);
/* Signal each holder in holders (struct lt_notify; NULL: none) and wake
 * its poll().  Call it holding no lock: a holder wakes at once and sends
 * its release. */
void notify_holders(struct notify *n, const GArray *holders);

#endif /* PINFS_NOTIFY_H */
