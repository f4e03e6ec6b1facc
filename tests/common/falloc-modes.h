/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * falloc-modes.h - the fallocate(2) modes the tests try, by name: the
 * passthrough test runs each one on pinfs and on the backing filesystem,
 * the exerciser picks among the valid ones at random.
 */
#ifndef PINFS_TEST_FALLOC_MODES_H
#define PINFS_TEST_FALLOC_MODES_H

#include <glib.h>
#include <linux/falloc.h>

struct falloc_mode {
	const char *name;
	int mode;
};

/* The valid modes first; the one invalid combination last. */
static const struct falloc_mode falloc_modes[] = {
    {"allocate", 0},
    {"keep-size", FALLOC_FL_KEEP_SIZE},
    {"punch-hole", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE},
    {"zero-range", FALLOC_FL_ZERO_RANGE},
    {"zero-range-keep", FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE},
    {"collapse-range", FALLOC_FL_COLLAPSE_RANGE},
    {"insert-range", FALLOC_FL_INSERT_RANGE},
    {"punch-no-keep", FALLOC_FL_PUNCH_HOLE}, /* invalid: EOPNOTSUPP */
};

/* How many of falloc_modes[] are valid: all but the last. */
#define FALLOC_MODES_VALID ((int)G_N_ELEMENTS(falloc_modes) - 1)

/* falloc_modes[] index of punch-hole, which never grows a file. */
#define FALLOC_MODE_PUNCH_HOLE 2

#endif /* PINFS_TEST_FALLOC_MODES_H */
