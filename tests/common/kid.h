/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kid.h - forked helper processes of a test ("kids"): one runs fn(arg),
 * as root or as another uid, and talks with the test over a socket pair
 * (SOCK_SEQPACKET: one message per send) until it returns.
 *
 *	static int holder(void *arg)
 *	{
 *		...take a lease...
 *		kid_send(0);		// "ready"
 *		kid_recv();		// wait for "go on"
 *		return 0;
 *	}
 *
 *	struct kid *k = kid_start(holder, &state);
 *	g_assert_cmpint(kid_answer(k, "lease"), ==, 0);
 *	kid_put(k, 1);
 *	g_assert_cmpint(kid_answer(k, "holder"), ==, 0);	// fn's return value
 *	kid_end(k);
 *
 * fn's return value is the kid's last message and its exit status
 * (& 0xff).  A kid keeps only stdin, stdout, stderr and its socket (and
 * KID_OPTS.keep_fd): descriptors of the test, of other kids or of other
 * open files of a leased file do not leak into it.
 */
#ifndef PINFS_TEST_KID_H
#define PINFS_TEST_KID_H

#include <glib.h>
#include <stddef.h>
#include <sys/types.h>

/* How long a kid may take for something that must happen: not a timing
 * claim, a bound only a broken daemon reaches. */
#define KID_DONE_MS 15000

struct kid {
	pid_t pid;
	int sock;	 /* the test's end */
	gboolean reaped; /* kid_wait_exit() saw it go */
	int status;	 /* its wait status then */
};

struct kid_opts {
	uid_t uid, gid; /* run as these (no supplementary groups) if uid != 0 */
	int keep_fd;	/* a descriptor it keeps, -1 for none */
};

/* Fork a kid running fn(arg) as root, keeping no other descriptor. */
struct kid *kid_start(int (*fn)(void *), void *arg);
/* The same with @o (NULL: the defaults of kid_start). */
struct kid *kid_start_opts(const struct kid_opts *o, int (*fn)(void *), void *arg);

/* In a kid: send one int, or @len bytes, to the test. */
void kid_send(int v);
void kid_send_buf(const void *buf, size_t len);
/* In a kid: the test's next int; the kid exits (121) when the test is gone. */
int kid_recv(void);
/* In a kid: the test's next message into @buf; FALSE when the test is gone. */
gboolean kid_recv_buf(void *buf, size_t len);

/* The kid's next int within @ms: TRUE and *v, or FALSE. */
gboolean kid_get(struct kid *k, int ms, int *v);
/* Its next message of exactly @len bytes, which must come within KID_DONE_MS. */
void kid_get_buf(struct kid *k, void *buf, size_t len);
/* The kid's next int, which must come within KID_DONE_MS (@what names it). */
int kid_answer(struct kid *k, const char *what);
/* The kid must still be busy (no message) @ms from now. */
void kid_assert_busy(struct kid *k, int ms, const char *what);
/* Send the kid one int, or @len bytes. */
void kid_put(struct kid *k, int v);
void kid_put_buf(struct kid *k, const void *buf, size_t len);

/* Wait up to @ms for the kid to exit (then k->reaped, k->status). */
gboolean kid_wait_exit(struct kid *k, int ms);
/* Its exit status (as pm_run_as: the code, or 128 + signal), -1 on timeout. */
int kid_wait(struct kid *k, int ms);
/* SIGKILL and reap it: kid_wait()'s answer. */
int kid_kill(struct kid *k);
/* Kill (if still running) and reap the kid, and free it. */
void kid_end(struct kid *k);

#endif /* PINFS_TEST_KID_H */
