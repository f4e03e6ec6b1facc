/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stamps.h - may an open keep the file's cached pages? */
#ifndef PINFS_STAMPS_H
#define PINFS_STAMPS_H

#include <stdbool.h>

/* At an open of backing descriptor fd: is the file as the previous open
 * saw it?  Remembers what this open sees, for the next. */
bool stamps_unchanged_since_last_open(int fd);

#endif /* PINFS_STAMPS_H */
