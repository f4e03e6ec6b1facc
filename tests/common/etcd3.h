/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * etcd3.h - a real 3-member etcd cluster on free loopback ports, for the
 * cluster tests and pinfs-bench cluster.  Data directories live under one
 * temporary directory; the members' logs are there too (mN.log).
 *
 * A member never outlives the program that started it, even one killed by
 * an abort (which skips atexit): each member dies with the thread that
 * forked it (PR_SET_PDEATHSIG), and a small reaper process, which holds
 * the members' pids in a shared page, kills them and removes the data
 * directory when the program goes.
 */
#ifndef PINFS_TEST_ETCD3_H
#define PINFS_TEST_ETCD3_H

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

struct etcd3 {
	char *dir;
	char *urls; /* for etcd=: "http://127.0.0.1:C0+...+http://127.0.0.1:C2" */
	int cport[3], pport[3];
	pid_t *pid;   /* 3 members' pids (0: down), in the reaper's shared page */
	pid_t reaper; /* kills what pid[] names and removes dir if we go */
};

/* Start the three members and wait until a write goes through (30 s at
 * most).  0, or -1 with *error (etcd not installed: G_IO_ERROR_NOT_FOUND). */
int etcd3_start(struct etcd3 *e, GError **error);
/* Start member i again (existing: it rejoins its cluster); kill it. */
int etcd3_member_start(struct etcd3 *e, int i, bool existing, GError **error);
void etcd3_member_stop(struct etcd3 *e, int i);
/* Wait until a write through each running member's own endpoint succeeds
 * (timeout_s at most for each): every member started is back in the
 * cluster, not just a quorum of them. */
int etcd3_wait_ready(struct etcd3 *e, int timeout_s, GError **error);
/* Kill every member and the reaper, remove the data directory. */
void etcd3_stop(struct etcd3 *e);

#endif /* PINFS_TEST_ETCD3_H */
