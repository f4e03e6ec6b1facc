/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * opts.h - pinfs's own mount options (-o break_time=,pinned=,leases=,
 * timeout=,user_leases=,user_pins=) and the BACKING argument: parsed with fuse_opt, then
 * checked. Separate from main.c so that tests and fuzzers parse exactly as the daemon
 * does.
 */
#ifndef PINFS_OPTS_H
#define PINFS_OPTS_H

#include "daemon.h"

/* The defaults of pinfs(8); opts_free releases what they allocate. */
void opts_init(struct pinfs_config *cfg);
void opts_free(struct pinfs_config *cfg);

/*
 * Take pinfs's options and BACKING out of args (libfuse's own options and
 * MOUNTPOINT stay for fuse_parse_cmdline).  0, or -1 after libfuse (or,
 * for a bad pinned= or leases= value, pinfs) printed why.
 */
int opts_parse(struct fuse_args *args, struct pinfs_config *cfg);

/* Check what opts_parse stored and derive window_mode and dma_require.
 * 0, or -1 after printing why to stderr. */
int opts_check(struct pinfs_config *cfg);

#endif /* PINFS_OPTS_H */
