/* SPDX-License-Identifier: GPL-2.0-or-later */
/* leaselog.h - the lease table's log lines, written as structured logs. */
#ifndef PINFS_LEASELOG_H
#define PINFS_LEASELOG_H

#include <glib.h>

/* Write lines (struct lt_log; NULL: none), in order.  A write to stderr
 * takes microseconds: call it after notifying holders, holding no lock. */
void leaselog_write(const GArray *lines);

#endif /* PINFS_LEASELOG_H */
