/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * clock.h - the daemon's one clock: CLOCK_MONOTONIC in nanoseconds, the
 * time base of the lease table, its break deadlines and the control
 * channel's ages.  Header-only, so that the lease table stays a library
 * with no other file of the daemon in it.
 */
#ifndef PINFS_CLOCK_H
#define PINFS_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif /* PINFS_CLOCK_H */
