// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kid.c - forked helper processes of a test: see kid.h.
 */
#include "kid.h"

#include "check.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int kid_sock = -1; /* in a kid: its end */

void kid_send_buf(const void *buf, size_t len)
{
	if (send(kid_sock, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		_exit(120);
}

void kid_send(int v)
{
	kid_send_buf(&v, sizeof(v));
}

gboolean kid_recv_buf(void *buf, size_t len)
{
	ssize_t n;

	do
		n = recv(kid_sock, buf, len, 0);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len;
}

int kid_recv(void)
{
	int v;

	if (!kid_recv_buf(&v, sizeof(v)))
		_exit(121);
	return v;
}

/* Close every descriptor >= 3 but @keep (-1: none) and @sock. */
static void close_all_but(int keep, int sock)
{
	int lo = MIN(keep, sock), hi = MAX(keep, sock);

	if (keep < 0) {
		lo = sock;
		hi = sock;
	}
	if (lo > 3)
		close_range(3, lo - 1, 0);
	if (hi > lo + 1)
		close_range(lo + 1, hi - 1, 0);
	close_range(hi + 1, ~0U, 0);
}

struct kid *kid_start_opts(const struct kid_opts *o, int (*fn)(void *), void *arg)
{
	static const struct kid_opts defaults = {.keep_fd = -1};
	struct kid *k = g_new0(struct kid, 1);
	int sv[2];

	if (!o)
		o = &defaults;
	g_assert_no_errno(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
	fflush(stdout);
	fflush(stderr);
	pid_t parent = getpid();

	k->pid = fork();
	g_assert_cmpint(k->pid, >=, 0);
	if (k->pid == 0) {
		int r;

		close(sv[0]);
		kid_sock = sv[1];
		close_all_but(o->keep_fd, kid_sock);
		if (o->uid &&
		    (setgroups(0, NULL) < 0 || setresgid(o->gid, o->gid, o->gid) < 0 ||
		     setresuid(o->uid, o->uid, o->uid) < 0))
			_exit(255);
		/* A kid dies with its test: a test killed by its timeout must
		 * not leave a kid holding the test's output pipes open (the
		 * runner would wait for them forever).  Set after the uid
		 * change, which clears it; the test may already be gone. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(122);
		r = fn(arg);
		send(kid_sock, &r, sizeof(r), MSG_NOSIGNAL); /* the test may be gone */
		_exit(r & 0xff);
	}
	close(sv[1]);
	k->sock = sv[0];
	return k;
}

struct kid *kid_start(int (*fn)(void *), void *arg)
{
	return kid_start_opts(NULL, fn, arg);
}

/* Wait up to @ms for a message from the kid: TRUE if one is there. */
static gboolean kid_ready(struct kid *k, int ms)
{
	struct pollfd p = {.fd = k->sock, .events = POLLIN};
	int r;

	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	g_assert_cmpint(r, >=, 0);
	return r > 0;
}

gboolean kid_get(struct kid *k, int ms, int *v)
{
	if (!kid_ready(k, ms))
		return FALSE;
	return recv(k->sock, v, sizeof(*v), 0) == (ssize_t)sizeof(*v);
}

void kid_get_buf(struct kid *k, void *buf, size_t len)
{
	if (!kid_ready(k, KID_DONE_MS))
		g_error("no message from kid %d within %d ms", k->pid, KID_DONE_MS);
	g_assert_cmpint(recv(k->sock, buf, len, 0), ==, (ssize_t)len);
}

int kid_answer(struct kid *k, const char *what)
{
	int v = 0;

	if (!kid_get(k, KID_DONE_MS, &v))
		g_error("%s: no answer from kid %d within %d ms", what, k->pid,
			KID_DONE_MS);
	return v;
}

void kid_assert_busy(struct kid *k, int ms, const char *what)
{
	int v;

	if (kid_get(k, ms, &v))
		g_error("%s: completed (%s) while the lease was held", what, ename(v));
}

void kid_put_buf(struct kid *k, const void *buf, size_t len)
{
	g_assert_cmpint(send(k->sock, buf, len, MSG_NOSIGNAL), ==, (ssize_t)len);
}

void kid_put(struct kid *k, int v)
{
	kid_put_buf(k, &v, sizeof(v));
}

gboolean kid_wait_exit(struct kid *k, int ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;

	while (!k->reaped) {
		pid_t r = waitpid(k->pid, &k->status, WNOHANG);

		if (r == k->pid) {
			k->reaped = TRUE;
			break;
		}
		g_assert_cmpint(r, >=, 0);
		if (g_get_monotonic_time() > end)
			return FALSE;
		g_usleep(2000);
	}
	return TRUE;
}

int kid_wait(struct kid *k, int ms)
{
	if (!kid_wait_exit(k, ms))
		return -1;
	return WIFEXITED(k->status) ? WEXITSTATUS(k->status) : 128 + WTERMSIG(k->status);
}

int kid_kill(struct kid *k)
{
	if (!k->reaped)
		kill(k->pid, SIGKILL);
	return kid_wait(k, 10000);
}

void kid_end(struct kid *k)
{
	if (!k->reaped) {
		kill(k->pid, SIGKILL);
		if (!kid_wait_exit(k, 10000))
			g_error("kid %d does not die (stuck in the kernel?)", k->pid);
	}
	close(k->sock);
	g_free(k);
}
