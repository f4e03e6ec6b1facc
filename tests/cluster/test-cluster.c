// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-cluster.c - layout leases across pinfs daemons through a real etcd.
 *
 * Each test starts a 3-member etcd cluster on loopback ports (temporary
 * data directories, killed at the end) and two or three pinfs daemons over
 * one backing directory, each daemon in a mount namespace of its own (as on
 * hosts of their own; the test reaches each mount through /proc/PID/root),
 * then plays holders and changes on different mounts with real processes:
 *
 *   /cluster/etcd/client        the etcd client alone (fs/etcd.c)
 *   /cluster/break-resume       a truncate through B parks until A's holder,
 *                               signalled, releases; A reads the new size
 *   /cluster/reader-sees-change a reader on A sees B's truncate and hole
 *                               punch as soon as B's call returns, though
 *                               it kept reading the file on A all along
 *   /cluster/two-holders        a change on A against holders on B and C
 *   /cluster/nonblock           O_NONBLOCK change against another node's holder
 *   /cluster/grant-refused      a lease on A while B's change is parked: EAGAIN
 *   /cluster/exclusive          an exclusive lease on A: ETXTBSY through B
 *   /cluster/interrupted        a parked cross-node change interrupted: EINTR
 *   /cluster/break-time         a holder that never releases: revoked after its
 *                               node's break_time, then the change runs
 *   /cluster/visibility         pinfsctl leases/waiters on one node show the
 *                               other nodes' leases and parked changes
 *   /cluster/holder-daemon-killed  kill -9 of A's daemon: B's change runs
 *                               after A's TTL
 *   /cluster/etcd-member-killed one member down: everything still works
 *   /cluster/quorum-lost        two down: ENOLCK, reads and writes go on,
 *                               A's holder told; back: changes work again
 *   /cluster/quorum-wait        the same with quorum=wait: the change waits
 *                               (EINTR on a signal), and is made once back
 *   /cluster/exerciser          the differential exerciser, its steps spread
 *                               over the mounts of A, B and C
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "check.h"
#include "etcd.h"
#include "etcd3.h"
#include "mount.h"
#include "pinfs.h"

#define TTL 2 /* etcd_ttl= of the daemons, seconds */

/* ---- a 3-member etcd cluster on loopback (tests/common/etcd3.h) ---- */

static struct etcd3 *ec_start(void)
{
	struct etcd3 *ec = g_new0(struct etcd3, 1);
	g_autoptr(GError) err = NULL;

	if (etcd3_start(ec, &err) < 0) {
		if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
			pm_skip(err->message);
			exit(0);
		}
		g_assert_no_error(err);
	}
	return ec;
}

static void ec_start_member(struct etcd3 *ec, int i, bool existing)
{
	g_autoptr(GError) err = NULL;

	g_assert_cmpint(etcd3_member_start(ec, i, existing, &err), ==, 0);
}

static void ec_stop_member(struct etcd3 *ec, int i)
{
	etcd3_member_stop(ec, i);
}

static void ec_wait_ready(struct etcd3 *ec)
{
	g_autoptr(GError) err = NULL;

	etcd3_wait_ready(ec, 30, &err);
	g_assert_no_error(err);
}

static void ec_stop(struct etcd3 *ec)
{
	etcd3_stop(ec);
	g_free(ec);
}

/* fork() for the test's helper processes: each dies with the test, even
 * one that aborts, so that none is left holding a lease or a pipe. */
static pid_t kid_fork(void)
{
	pid_t parent = getpid(), pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
	}
	return pid;
}

/* ---- daemons ---- */

/* ttl: TTL for tests that wait for a node to die or to fence itself; the
 * others take more, as a killed member may take a while to replace as
 * leader on a busy machine. */
static struct pm *node_mount_extra(struct etcd3 *ec, const char *backing,
				   const char *node, int ttl, int break_time,
				   const char *extra)
{
	g_autofree char *opts =
	    g_strdup_printf("etcd=%s,node=%s,cluster=t%d,etcd_ttl=%d,break_time=%d%s",
			    ec->urls, node, (int)getpid(), ttl, break_time, extra);
	struct pm *pm = pm_mount_on_ns(backing, opts);

	pm_expect_log(pm, "cluster");
	pm_message("node %s: %s", node, pm_mnt(pm));
	return pm;
}

static struct pm *node_mount_opts(struct etcd3 *ec, const char *backing, const char *node,
				  int ttl, int break_time)
{
	return node_mount_extra(ec, backing, node, ttl, break_time, "");
}

static struct pm *node_mount_ttl(struct etcd3 *ec, const char *backing, const char *node,
				 int ttl)
{
	return node_mount_opts(ec, backing, node, ttl, 0);
}

static struct pm *node_mount(struct etcd3 *ec, const char *backing, const char *node)
{
	return node_mount_ttl(ec, backing, node, 6);
}

/* Two nodes, A and B, over one backing directory, joined through a 3-member
 * etcd: daemons with etcd_ttl=ttl, A's with break_time=a_break_time, and f
 * seen through each. */
struct two_nodes {
	struct etcd3 *ec;
	struct pm *a, *b;
	char *fa, *fb; /* f through A and through B */
};

/* x's daemon runs in a mount namespace of its own, neither this test's
 * nor y's, and x's mount is not in y's namespace. */
static void assert_own_ns(struct pm *x, struct pm *y)
{
	g_autofree char *lx = g_strdup_printf("/proc/%d/ns/mnt", pm_daemon_pid(x));
	g_autofree char *ly = g_strdup_printf("/proc/%d/ns/mnt", pm_daemon_pid(y));
	g_autofree char *nx = g_file_read_link(lx, NULL);
	g_autofree char *ny = g_file_read_link(ly, NULL);
	g_autofree char *self = g_file_read_link("/proc/self/ns/mnt", NULL);
	g_autofree char *x_in_y =
	    g_strdup_printf("/proc/%d/root%s", pm_daemon_pid(y), pm_ns_mnt(x));

	g_assert_nonnull(nx);
	g_assert_nonnull(ny);
	g_assert_cmpstr(nx, !=, ny);
	g_assert_cmpstr(nx, !=, self);
	g_assert_true(pm_is_fuse_mount(pm_mnt(x)));
	g_assert_false(pm_is_fuse_mount(x_in_y));
}

static struct two_nodes two_nodes_start(int ttl, int a_break_time)
{
	struct two_nodes n;

	n.ec = ec_start();
	n.a = node_mount_opts(n.ec, NULL, "a", ttl, a_break_time);
	n.b = node_mount_ttl(n.ec, pm_backing(n.a), "b", ttl);
	assert_own_ns(n.a, n.b);
	assert_own_ns(n.b, n.a);
	n.fa = pm_path(n.a, "f");
	n.fb = pm_path(n.b, "f");
	return n;
}

/* Unmount both, stop etcd, free the paths. */
static void two_nodes_stop(struct two_nodes *n)
{
	pm_unmount(n->b);
	pm_unmount(n->a);
	ec_stop(n->ec);
	g_free(n->fa);
	g_free(n->fb);
}

/* ---- a lease holder in a process of its own ---- */

struct holder {
	pid_t pid;
	int cmd, ans; /* pipes: commands to it, answers from it */
};

static int holder_main(const char *path, int type, unsigned flags, uint64_t len, int cmd,
		       int ans)
{
	sigset_t set;
	int fd;
	char c;

	sigemptyset(&set);
	sigaddset(&set, SIGIO);
	sigprocmask(SIG_BLOCK, &set, NULL);
	fd = open(path, O_RDWR);
	if (fd < 0 || pinfs_setlease(fd, type, flags, 0, len) < 0) {
		c = (char)errno;
		(void)!write(ans, &c, 1);
		return 1;
	}
	c = 0;
	(void)!write(ans, &c, 1);
	while (read(cmd, &c, 1) == 1) {
		struct pinfs_lease_status st;
		struct timespec ts = {20, 0};
		char r;

		switch (c) {
		case 'W': /* wait for the break notice */
			r = sigtimedwait(&set, NULL, &ts) == SIGIO ? 'S' : 'T';
			break;
		case 'R': /* release */
			r = pinfs_release(fd) == 0 ? 'r' : (char)errno;
			break;
		case 'G': /* the lease's state */
		case 'E': /* why the last one ended */
			memset(&st, 0, sizeof(st));
			st.size = sizeof(st);
			r = pinfs_getlease(fd, &st) < 0 ? 'e'
			    : c == 'G'			? (char)('0' + st.state)
							: (char)('0' + st.end_reason);
			break;
		default:
			close(fd);
			return 0;
		}
		(void)!write(ans, &r, 1);
	}
	return 0;
}

/* Start a holder of a lease of type (and flags) on [0, len) of path; 0 or
 * the errno of its take. */
static int holder_start_range(struct holder *h, const char *path, int type,
			      unsigned flags, uint64_t len)
{
	int cmd[2], ans[2];
	char c = 0;

	g_assert_no_errno(pipe(cmd));
	g_assert_no_errno(pipe(ans));
	h->pid = kid_fork();
	if (h->pid == 0) {
		close(cmd[1]);
		close(ans[0]);
		_exit(holder_main(path, type, flags, len, cmd[0], ans[1]));
	}
	close(cmd[0]);
	close(ans[1]);
	h->cmd = cmd[1];
	h->ans = ans[0];
	g_assert_cmpint(read(h->ans, &c, 1), ==, 1);
	if (c) {
		waitpid(h->pid, NULL, 0);
		h->pid = 0;
	}
	return c;
}

static int holder_start_flags(struct holder *h, const char *path, int type,
			      unsigned flags)
{
	return holder_start_range(h, path, type, flags, PINFS_LEN_EOF);
}

/* The same, but a take refused with EAGAIN is tried again for 5 s: after a
 * change through another node, its intent is withdrawn a moment later, and
 * overlapping leases are refused until this node hears of it. */
static int holder_start(struct holder *h, const char *path, int type)
{
	int e;

	for (int i = 0; (e = holder_start_flags(h, path, type, 0)) == EAGAIN && i < 100;
	     i++)
		g_usleep(50000);
	return e;
}

static char holder_ask(struct holder *h, char cmd)
{
	struct pollfd p = {.fd = h->ans, .events = POLLIN};
	char r = 0;

	g_assert_cmpint(write(h->cmd, &cmd, 1), ==, 1);
	g_assert_cmpint(poll(&p, 1, 30000), ==, 1);
	g_assert_cmpint(read(h->ans, &r, 1), ==, 1);
	return r;
}

static void holder_stop(struct holder *h)
{
	if (h->pid > 0) {
		char q = 'Q';

		(void)!write(h->cmd, &q, 1);
		waitpid(h->pid, NULL, 0);
	}
	close(h->cmd);
	close(h->ans);
	h->pid = 0;
}

/* ---- a layout change in a process of its own ---- */

static pid_t truncate_start(const char *path, off_t size, bool nonblock)
{
	pid_t pid;

	pid = kid_fork();
	if (pid == 0) {
		int fd = open(path, O_RDWR | (nonblock ? O_NONBLOCK : 0));

		if (fd < 0 || ftruncate(fd, size) < 0)
			_exit(errno & 0xff);
		_exit(0);
	}
	return pid;
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* A truncate that a SIGUSR1 interrupts (a handler without SA_RESTART). */
static pid_t truncate_start_intr(const char *path, off_t size)
{
	pid_t pid;

	pid = kid_fork();
	if (pid == 0) {
		struct sigaction sa = {.sa_handler = on_usr1};

		sigaction(SIGUSR1, &sa, NULL);
		_exit(truncate(path, size) < 0 ? errno & 0xff : 0);
	}
	return pid;
}

/* Wait up to ms for pid: its exit status (an errno), or -1 still running. */
static int change_wait(pid_t pid, int ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
	int status;

	do {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			g_assert_true(WIFEXITED(status));
			return WEXITSTATUS(status);
		}
		g_usleep(10000);
	} while (g_get_monotonic_time() < end);
	return -1;
}

/* A new file (no rename: other nodes' dentry caches would keep the old). */
static void make_file(const char *path, size_t size)
{
	g_autofree char *buf = g_malloc(size);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);

	g_assert_cmpint(fd, >=, 0);
	memset(buf, 'x', size);
	g_assert_cmpint(write(fd, buf, size), ==, (ssize_t)size);
	g_assert_no_errno(close(fd));
}

/* ---- tests ---- */

static void ev_count(void *arg, bool put, const struct etcd_kv *kv)
{
	int *n = arg;

	(void)kv;
	n[put ? 0 : 1]++;
}

static void ev_done(void *arg, int64_t rev)
{
	int *n = arg;

	n[2] = (int)rev;
}

struct watch_arg {
	struct etcd *e;
	int64_t from;
	int n[3];
	volatile bool stop;
};

static gpointer watch_run(gpointer data)
{
	struct watch_arg *w = data;
	struct etcd_watch_cb cb = {ev_count, ev_done, w->n};
	GError *err = NULL;
	bool compacted;

	etcd_watch(w->e, "/c/", w->from, &cb, &w->stop, &compacted, &err);
	g_assert_error(err, ETCD_ERROR, ETCD_ERROR_CANCELLED);
	g_error_free(err);
	return NULL;
}

static void test_etcd_client(void)
{
	struct etcd3 *ec = ec_start();
	g_autoptr(GError) err = NULL;
	struct etcd *e = etcd_new(ec->urls, &err);
	struct watch_arg w = {0};
	GPtrArray *ranges = NULL;
	struct etcd_txn *t;
	GArray *kvs = NULL;
	int64_t lease, ttl, rev0, rev;
	GThread *th;

	g_assert_no_error(err);
	g_assert_null(etcd_new("", &err));
	g_clear_error(&err);

	/* Put, range, a transaction's ranges at its revision. */
	g_assert_cmpint(etcd_put(e, "/c/a", "1", 0, &err), ==, 0);
	g_assert_cmpint(etcd_range(e, "/c/", true, &rev0, &kvs, &err), ==, 0);
	g_assert_cmpuint(kvs->len, ==, 1);
	g_assert_cmpstr(g_array_index(kvs, struct etcd_kv, 0).value, ==, "1");
	etcd_kvs_free(kvs);
	t = etcd_txn_new();
	etcd_txn_put(t, "/c/b", "2", 0);
	etcd_txn_range(t, "/c/", true);
	g_assert_cmpint(etcd_txn_run(e, t, &rev, &ranges, &err), ==, 0);
	g_assert_cmpint(rev, ==, rev0 + 1);
	g_assert_cmpuint(((GArray *)ranges->pdata[0])->len, ==, 2);
	g_ptr_array_free(ranges, TRUE);

	/* A key under a lease goes with it. */
	g_assert_cmpint(etcd_lease_grant(e, 2, &lease, &err), ==, 0);
	g_assert_cmpint(etcd_put(e, "/c/l", "x", lease, &err), ==, 0);
	g_assert_cmpint(etcd_lease_keepalive(e, lease, &ttl, &err), ==, 0);
	g_assert_cmpint(ttl, ==, 2);
	g_usleep(3500000);
	g_assert_cmpint(etcd_lease_keepalive(e, lease, &ttl, &err), ==, 0);
	g_assert_cmpint(ttl, ==, 0);
	g_assert_cmpint(etcd_range(e, "/c/l", false, NULL, &kvs, &err), ==, 0);
	g_assert_cmpuint(kvs->len, ==, 0);
	etcd_kvs_free(kvs);

	/* A watch from an old revision replays everything since: puts of a
	 * and b, the put and the expiry of l, and one delete more. */
	g_assert_cmpint(etcd_delete(e, "/c/a", false, &err), ==, 0);
	w.e = e;
	w.from = rev0;
	th = g_thread_new("watch", watch_run, &w);
	for (int i = 0; i < 100 && w.n[0] + w.n[1] < 5; i++)
		g_usleep(50000);
	w.stop = true;
	g_thread_join(th);
	g_assert_cmpint(w.n[0], ==, 3);
	g_assert_cmpint(w.n[1], ==, 2);

	/* With every member gone: an error, within the timeout. */
	for (int i = 0; i < 3; i++)
		ec_stop_member(ec, i);
	etcd_set_timeout(e, 500);
	g_assert_cmpint(etcd_put(e, "/c/z", "1", 0, &err), <, 0);
	g_assert_error(err, ETCD_ERROR, ETCD_ERROR_UNREACHABLE);
	etcd_free(e);
	ec_stop(ec);
}

/* A truncate through B of a file leased through A. */
static void test_break_resume(void)
{
	struct two_nodes n = two_nodes_start(6, 0);
	g_autofree char *ga = pm_path(n.a, "g"), *gb = pm_path(n.b, "g");
	struct holder h;
	struct stat st;
	pid_t tr;

	make_file(n.fa, 8192);
	g_assert_cmpint(holder_start(&h, n.fa, PINFS_LEASE_READ), ==, 0);
	tr = truncate_start(n.fb, 0, false);
	/* The holder is told, and the change waits for it. */
	g_assert_cmpint(holder_ask(&h, 'W'), ==, 'S');
	g_assert_cmpint(holder_ask(&h, 'G'), ==, '0' + PINFS_STATE_BREAKING);
	g_assert_cmpint(change_wait(tr, 300), ==, -1);
	g_assert_cmpint(size_of(n.fa), ==, 8192);
	/* Released: the change runs, and A sees its result. */
	g_assert_cmpint(holder_ask(&h, 'R'), ==, 'r');
	g_assert_cmpint(change_wait(tr, 10000), ==, 0);
	g_assert_no_errno(stat(n.fa, &st));
	g_assert_cmpint(st.st_size, ==, 0);
	holder_stop(&h);

	/* Without a holder anywhere the change goes at once; and a file only
	 * B leases is changed through A as well. */
	make_file(ga, 100);
	tr = truncate_start(ga, 10, false);
	g_assert_cmpint(change_wait(tr, 10000), ==, 0);
	g_assert_cmpint(holder_start(&h, gb, PINFS_LEASE_WRITE), ==, 0);
	tr = truncate_start(ga, 5, false);
	g_assert_cmpint(holder_ask(&h, 'W'), ==, 'S');
	g_assert_cmpint(change_wait(tr, 200), ==, -1);
	g_assert_cmpint(holder_ask(&h, 'R'), ==, 'r');
	g_assert_cmpint(change_wait(tr, 10000), ==, 0);
	g_assert_cmpint(size_of(gb), ==, 5);
	holder_stop(&h);

	two_nodes_stop(&n);
}

/* A process reading path over and over (and stat'ing it), keeping its
 * node's page cache and attribute cache of the file full. */
static pid_t reader_start(const char *path)
{
	pid_t pid;

	pid = kid_fork();
	if (pid == 0) {
		static char buf[65536];
		int fd = open(path, O_RDONLY);
		struct stat st;

		if (fd < 0)
			_exit(1);
		for (;;) {
			(void)!pread(fd, buf, sizeof(buf), 0);
			(void)!fstat(fd, &st);
		}
	}
	return pid;
}

/*
 * In a process of its own: through B (fb), truncate to 0 (punch false) or
 * punch a hole in [0, 32 KiB); the moment that returns, look through A's
 * descriptor fa_fd (opened before, so no open drops A's cache): 0 if A
 * shows the change, 200 if A shows the old size or bytes, else the errno.
 */
static pid_t change_then_look(const char *fb, int fa_fd, bool punch)
{
	pid_t pid;

	pid = kid_fork();
	if (pid == 0) {
		static char buf[32768];
		int fd = open(fb, O_RDWR);
		struct stat st;
		ssize_t n;

		if (fd < 0)
			_exit(errno & 0xff);
		if (punch ? fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
				      sizeof(buf))
			  : ftruncate(fd, 0))
			_exit(errno & 0xff);
		/* B's call has returned: A must show it now. */
		if (fstat(fa_fd, &st) < 0)
			_exit(errno & 0xff);
		n = pread(fa_fd, buf, sizeof(buf), 0);
		if (n < 0)
			_exit(errno & 0xff);
		if (!punch)
			_exit(st.st_size == 0 && n == 0 ? 0 : 200);
		if (n != (ssize_t)sizeof(buf))
			_exit(200);
		for (size_t i = 0; i < sizeof(buf); i++)
			if (buf[i])
				_exit(200);
		_exit(0);
	}
	return pid;
}

/* A reader on A keeps A's caches of f full while B's punch and then B's
 * truncate wait for A's holder: each time, the moment B's call returns, A
 * shows the change (its cache was dropped after the change, before B's
 * call returned). */
static void test_reader_sees_change(void)
{
	struct two_nodes n = two_nodes_start(6, 0);
	struct holder h;
	pid_t rd, tr;
	int fd;

	make_file(n.fa, 65536);
	fd = open(n.fa, O_RDONLY);
	g_assert_cmpint(fd, >=, 0);
	rd = reader_start(n.fa);
	for (int punch = 1; punch >= 0; punch--) {
		g_assert_cmpint(holder_start(&h, n.fa, PINFS_LEASE_READ), ==, 0);
		tr = change_then_look(n.fb, fd, punch);
		g_assert_cmpint(holder_ask(&h, 'W'), ==, 'S');
		g_usleep(100000); /* the reader fills A's cache meanwhile */
		g_assert_cmpint(change_wait(tr, 100), ==, -1);
		g_assert_cmpint(holder_ask(&h, 'R'), ==, 'r');
		g_assert_cmpint(change_wait(tr, 10000), ==, 0);
		holder_stop(&h);
	}
	kill(rd, SIGKILL);
	waitpid(rd, NULL, 0);
	close(fd);
	two_nodes_stop(&n);
}

/* A change on A against holders on B and C. */
static void test_two_holders(void)
{
	struct etcd3 *ec = ec_start();
	struct pm *a = node_mount(ec, NULL, "a");
	struct pm *b = node_mount(ec, pm_backing(a), "b");
	struct pm *c = node_mount(ec, pm_backing(a), "c");
	g_autofree char *fa = pm_path(a, "f"), *fb = pm_path(b, "f"),
			*fc = pm_path(c, "f");
	struct holder hb, hc;
	pid_t tr;

	make_file(fa, 4096);
	g_assert_cmpint(holder_start(&hb, fb, PINFS_LEASE_READ), ==, 0);
	g_assert_cmpint(holder_start(&hc, fc, PINFS_LEASE_READ), ==, 0);
	tr = truncate_start(fa, 1, false);
	g_assert_cmpint(holder_ask(&hb, 'W'), ==, 'S');
	g_assert_cmpint(holder_ask(&hc, 'W'), ==, 'S');
	g_assert_cmpint(holder_ask(&hb, 'R'), ==, 'r');
	g_assert_cmpint(change_wait(tr, 300), ==, -1); /* C still holds */
	g_assert_cmpint(holder_ask(&hc, 'R'), ==, 'r');
	g_assert_cmpint(change_wait(tr, 10000), ==, 0);
	g_assert_cmpint(size_of(fb), ==, 1);
	g_assert_cmpint(size_of(fc), ==, 1);
	holder_stop(&hb);
	holder_stop(&hc);
	pm_unmount(c);
	pm_unmount(b);
	pm_unmount(a);
	ec_stop(ec);
}

/* O_NONBLOCK against another node's holder: EWOULDBLOCK without waiting
 * for the holder, and the holder is told all the same (rule 9); against a
 * lease on another node that does not overlap the change, it goes ahead. */
static void test_nonblock(void)
{
	struct two_nodes n = two_nodes_start(6, 0);
	struct holder h;
	pid_t tr;

	make_file(n.fa, 4096);
	g_assert_cmpint(holder_start(&h, n.fa, PINFS_LEASE_READ), ==, 0);
	tr = truncate_start(n.fb, 0, true);
	g_assert_cmpint(change_wait(tr, 10000), ==, EWOULDBLOCK);
	g_assert_cmpint(holder_ask(&h, 'W'), ==, 'S');
	g_assert_cmpint(size_of(n.fa), ==, 4096);
	holder_stop(&h);

	/* A lease on [0, 1000): a truncate to 2000 does not touch it. */
	for (int i = 0;
	     i < 100 && holder_start_range(&h, n.fa, PINFS_LEASE_READ, 0, 1000) == EAGAIN;
	     i++)
		g_usleep(50000);
	g_assert_cmpint(h.pid, >, 0);
	tr = truncate_start(n.fb, 2000, true);
	g_assert_cmpint(change_wait(tr, 10000), ==, 0);
	g_assert_cmpint(size_of(n.fb), ==, 2000);
	g_assert_cmpint(holder_ask(&h, 'G'), ==, '0' + PINFS_STATE_ACTIVE);
	tr = truncate_start(n.fb, 500, true);
	g_assert_cmpint(change_wait(tr, 10000), ==, EWOULDBLOCK);
	g_assert_cmpint(size_of(n.fb), ==, 2000);
	holder_stop(&h);
	two_nodes_stop(&n);
}

/* An exclusive lease on A: a change through B fails with ETXTBSY at once
 * (rule 12), and the holder is not disturbed. */
static void test_exclusive(void)
{
	struct two_nodes n = two_nodes_start(6, 0);
	struct holder h;
	pid_t tr;

	make_file(n.fa, 4096);
	g_assert_cmpint(
	    holder_start_flags(&h, n.fa, PINFS_LEASE_READ, PINFS_LEASE_EXCLUSIVE), ==, 0);
	tr = truncate_start(n.fb, 0, false);
	g_assert_cmpint(change_wait(tr, 10000), ==, ETXTBSY);
	g_assert_cmpint(holder_ask(&h, 'G'), ==, '0' + PINFS_STATE_ACTIVE);
	g_assert_cmpint(size_of(n.fa), ==, 4096);
	holder_stop(&h);
	two_nodes_stop(&n);
}

/* pinfsctl [--json] CMD MNT, run in the node's mount namespace: its
 * output (it must succeed). */
static char *ctl_out(struct pm *pm, bool json, const char *cmd)
{
	g_autofree char *ns =
	    g_strdup_printf("--mount=/proc/%d/ns/mnt", pm_daemon_pid(pm));
	g_autofree char *nsenter = g_find_program_in_path("nsenter");
	const char *argv[7] = {nsenter, ns, g_getenv("PINFSCTL")};
	char *out = NULL;
	int n = 3;

	if (json)
		argv[n++] = "--json";
	argv[n++] = cmd;
	argv[n++] = pm_ns_mnt(pm);
	g_assert_cmpint(pm_run_cmd(argv, 30, &out, NULL), ==, 0);
	return out;
}

/* pinfsctl --json CMD MNT in the node's namespace: the reply's "cluster"
 * object. */
static JsonObject *ctl_cluster(const char *cmd, struct pm *pm, JsonParser *p)
{
	g_autofree char *out = ctl_out(pm, true, cmd);
	JsonObject *resp;

	g_assert_true(json_parser_load_from_data(p, out, -1, NULL));
	resp = json_node_get_object(json_parser_get_root(p));
	g_assert_true(json_object_get_boolean_member(resp, "ok"));
	return json_object_get_object_member(resp, "cluster");
}

/* pinfsctl on B lists A's lease with its node, and B's parked change with
 * the node it waits for; the text output too. */
static void test_visibility(void)
{
	struct two_nodes n = two_nodes_start(6, 0);
	const char *ctl = g_getenv("PINFSCTL");
	struct holder h;
	JsonObject *cl = NULL;
	JsonArray *arr = NULL;
	pid_t tr;

	if (!ctl) {
		pm_skip("PINFSCTL is not set");
		return;
	}
	make_file(n.fa, 4096);
	g_assert_cmpint(holder_start(&h, n.fa, PINFS_LEASE_WRITE), ==, 0);
	/* Leases are published a moment after they change. */
	for (int i = 0; i < 50; i++) {
		g_autoptr(JsonParser) p = json_parser_new();

		cl = ctl_cluster("leases", n.b, p);
		g_assert_nonnull(cl);
		g_assert_cmpstr(json_object_get_string_member(cl, "node"), ==, "b");
		arr = json_object_get_array_member(cl, "leases");
		if (json_array_get_length(arr) == 1) {
			JsonObject *o = json_array_get_object_element(arr, 0);

			g_assert_cmpstr(json_object_get_string_member(o, "node"), ==,
					"a");
			g_assert_cmpstr(json_object_get_string_member(o, "type"), ==,
					"write");
			g_assert_cmpint(json_object_get_int_member(o, "pid"), ==, h.pid);
			break;
		}
		arr = NULL;
		g_usleep(100000);
	}
	g_assert_nonnull(arr);

	tr = truncate_start(n.fb, 0, false);
	g_assert_cmpint(holder_ask(&h, 'W'), ==, 'S');
	{
		g_autoptr(JsonParser) p = json_parser_new();
		JsonObject *o;
		JsonArray *w;

		cl = ctl_cluster("waiters", n.a, p);
		arr = json_object_get_array_member(cl, "changes");
		g_assert_cmpuint(json_array_get_length(arr), ==, 1);
		o = json_array_get_object_element(arr, 0);
		g_assert_cmpstr(json_object_get_string_member(o, "node"), ==, "b");
		w = json_object_get_array_member(o, "waiting_for");
		g_assert_cmpuint(json_array_get_length(w), ==, 1);
		g_assert_cmpstr(json_array_get_string_element(w, 0), ==, "a");
	}
	{
		g_autofree char *out = ctl_out(n.b, false, "waiters");

		g_assert_nonnull(strstr(out, "this node b"));
		g_assert_nonnull(strstr(out, "WAITING-FOR"));
	}
	g_assert_cmpint(holder_ask(&h, 'R'), ==, 'r');
	g_assert_cmpint(change_wait(tr, 10000), ==, 0);
	holder_stop(&h);
	two_nodes_stop(&n);
}

/* A change through B parked on A's holder, interrupted: EINTR, nothing
 * changed; the break goes on, and a change once A's holder released runs. */
static void test_interrupted(void)
{
	struct two_nodes n = two_nodes_start(6, 0);
	struct holder h;
	pid_t tr;

	make_file(n.fa, 4096);
	g_assert_cmpint(holder_start(&h, n.fa, PINFS_LEASE_READ), ==, 0);
	tr = truncate_start_intr(n.fb, 0);
	g_assert_cmpint(holder_ask(&h, 'W'), ==, 'S');
	g_assert_cmpint(change_wait(tr, 200), ==, -1);
	kill(tr, SIGUSR1);
	g_assert_cmpint(change_wait(tr, 10000), ==, EINTR);
	g_assert_cmpint(size_of(n.fa), ==, 4096);
	g_assert_cmpint(holder_ask(&h, 'G'), ==, '0' + PINFS_STATE_BREAKING);
	g_assert_cmpint(holder_ask(&h, 'R'), ==, 'r');
	tr = truncate_start(n.fb, 0, false);
	g_assert_cmpint(change_wait(tr, 10000), ==, 0);
	holder_stop(&h);
	two_nodes_stop(&n);
}

/* A holder on A that never releases: A revokes it after A's break_time,
 * and then B's change runs. */
static void test_break_time(void)
{
	struct two_nodes n = two_nodes_start(6, 1);
	struct holder h;
	pid_t tr;

	make_file(n.fa, 4096);
	g_assert_cmpint(holder_start(&h, n.fa, PINFS_LEASE_READ), ==, 0);
	tr = truncate_start(n.fb, 0, false);
	g_assert_cmpint(holder_ask(&h, 'W'), ==, 'S');
	g_assert_cmpint(change_wait(tr, 300), ==, -1);
	g_assert_cmpint(change_wait(tr, 15000), ==, 0);
	g_assert_cmpint(holder_ask(&h, 'E'), ==, '0' + PINFS_END_REVOKED_TIMEOUT);
	holder_stop(&h);
	two_nodes_stop(&n);
}

/* While B's change waits for A's holder, no new lease on A: EAGAIN. */
static void test_grant_refused(void)
{
	struct two_nodes n = two_nodes_start(6, 0);
	struct holder h, h2;
	pid_t tr;

	make_file(n.fa, 4096);
	g_assert_cmpint(holder_start(&h, n.fa, PINFS_LEASE_READ), ==, 0);
	tr = truncate_start(n.fb, 0, false);
	g_assert_cmpint(holder_ask(&h, 'W'), ==, 'S');
	g_assert_cmpint(holder_start_flags(&h2, n.fa, PINFS_LEASE_READ, 0), ==, EAGAIN);
	g_assert_cmpint(holder_ask(&h, 'R'), ==, 'r');
	g_assert_cmpint(change_wait(tr, 10000), ==, 0);
	holder_stop(&h);
	/* Once B's change has returned, leases come again on A at once: A
	 * dropped its pages after the change before B returned, and a change
	 * made refuses no lease after that. */
	g_assert_cmpint(holder_start_flags(&h2, n.fa, PINFS_LEASE_READ, 0), ==, 0);
	holder_stop(&h2);
	two_nodes_stop(&n);
}

/* kill -9 of the daemon a holder's lease is on: the change through B runs
 * once A's etcd lease has expired. */
static void test_holder_daemon_killed(void)
{
	struct two_nodes n = two_nodes_start(TTL, 0);
	struct holder h;
	gint64 t0;
	pid_t tr;

	make_file(n.fa, 4096);
	g_assert_cmpint(holder_start(&h, n.fa, PINFS_LEASE_READ), ==, 0);
	pm_kill_daemon(n.a, SIGKILL);
	t0 = g_get_monotonic_time();
	tr = truncate_start(n.fb, 0, false);
	g_assert_cmpint(change_wait(tr, 300), ==, -1);
	g_assert_cmpint(change_wait(tr, (TTL + 10) * 1000), ==, 0);
	pm_message("change ran %.2f s after the kill (TTL %d s)",
		   (double)(g_get_monotonic_time() - t0) / 1e6, TTL);
	g_assert_cmpint(size_of(n.fb), ==, 0);
	holder_stop(&h);
	two_nodes_stop(&n);
}

/* One etcd member down: break and resume as before. */
static void test_member_killed(void)
{
	struct two_nodes n = two_nodes_start(6, 0);
	struct holder h;
	pid_t tr;

	make_file(n.fa, 4096);
	for (int m = 0; m < 3; m++) {
		ec_stop_member(n.ec, m);
		g_assert_cmpint(holder_start(&h, n.fa, PINFS_LEASE_READ), ==, 0);
		tr = truncate_start(n.fb, 100 * m, false);
		g_assert_cmpint(holder_ask(&h, 'W'), ==, 'S');
		g_assert_cmpint(change_wait(tr, 200), ==, -1);
		g_assert_cmpint(holder_ask(&h, 'R'), ==, 'r');
		g_assert_cmpint(change_wait(tr, 15000), ==, 0);
		g_assert_cmpint(size_of(n.fa), ==, 100 * m);
		holder_stop(&h);
		ec_start_member(n.ec, m, true);
		ec_wait_ready(n.ec);
	}
	two_nodes_stop(&n);
}

/* Two members down: changes fail with ENOLCK, data stays, reads and writes
 * go on, A's holder is told its lease is gone; back, changes work again. */
static void test_quorum_lost(void)
{
	struct two_nodes n = two_nodes_start(TTL, 0);
	g_autofree char *ga = pm_path(n.a, "g");
	g_autofree char *data = NULL;
	g_autoptr(GError) err = NULL;
	struct holder h;
	gsize len = 0;
	pid_t tr;
	int e = -1;

	make_file(n.fa, 4096);
	g_assert_cmpint(holder_start(&h, n.fa, PINFS_LEASE_READ), ==, 0);
	ec_stop_member(n.ec, 0);
	ec_stop_member(n.ec, 1);

	tr = truncate_start(n.fb, 0, false);
	g_assert_cmpint(change_wait(tr, 15000), ==, ENOLCK);
	g_assert_cmpint(size_of(n.fa), ==, 4096);
	/* Plain I/O goes on, on both nodes. */
	make_file(ga, 10);
	g_assert_true(g_file_get_contents(n.fb, &data, &len, &err));
	g_assert_cmpuint(len, ==, 4096);
	/* A cannot renew its etcd lease: after its TTL it revokes its
	 * leases, and the holder is told. */
	g_assert_cmpint(holder_ask(&h, 'W'), ==, 'S');
	for (int i = 0; i < 100 && holder_ask(&h, 'G') != '0' + PINFS_STATE_NONE; i++)
		g_usleep(50000);
	g_assert_cmpint(holder_ask(&h, 'G'), ==, '0' + PINFS_STATE_NONE);
	g_assert_cmpint(holder_ask(&h, 'E'), ==, '0' + PINFS_END_REVOKED_ADMIN);
	holder_stop(&h);

	ec_start_member(n.ec, 0, true);
	ec_start_member(n.ec, 1, true);
	ec_wait_ready(n.ec);
	for (int i = 0; i < 300 && e != 0; i++) {
		tr = truncate_start(n.fb, 1, false);
		e = change_wait(tr, 15000);
		if (e)
			g_usleep(100000);
	}
	g_assert_cmpint(e, ==, 0);
	/* A holds no lease on f any more: it sees the new size once its
	 * attribute cache (timeout=1) has expired. */
	for (int i = 0; i < 40 && size_of(n.fa) != 1; i++)
		g_usleep(100000);
	g_assert_cmpint(size_of(n.fa), ==, 1);
	/* And leases with breaks across nodes, as before. */
	for (int i = 0; i < 100 && (e = holder_start(&h, n.fa, PINFS_LEASE_READ)); i++)
		g_usleep(100000);
	g_assert_cmpint(e, ==, 0);
	tr = truncate_start(n.fb, 0, false);
	g_assert_cmpint(holder_ask(&h, 'W'), ==, 'S');
	g_assert_cmpint(holder_ask(&h, 'R'), ==, 'r');
	g_assert_cmpint(change_wait(tr, 15000), ==, 0);
	holder_stop(&h);
	two_nodes_stop(&n);
}

/*
 * quorum=wait: with two members down, a change waits instead of failing
 * (and a signal interrupts it: EINTR, the file unchanged), reads and writes
 * go on; once the members are back, the waiting change is made.  Bad
 * values of quorum= are refused at mount time.
 */
static void test_quorum_wait(void)
{
	struct etcd3 *ec = ec_start();
	struct pm *a = node_mount_extra(ec, NULL, "a", TTL, 0, ",quorum=wait");
	struct pm *b = node_mount_extra(ec, pm_backing(a), "b", TTL, 0, ",quorum=wait");
	g_autofree char *fa = pm_path(a, "f"), *fb = pm_path(b, "f");
	g_autofree char *ga = pm_path(a, "g"), *gb = pm_path(b, "g");
	g_autofree char *ha = pm_path(a, "h");
	g_autofree char *data = NULL;
	g_autoptr(GError) err = NULL;
	struct holder h;
	gsize len = 0;
	pid_t tr, ti;

	make_file(fa, 4096);
	make_file(ga, 4096);
	g_assert_cmpint(holder_start(&h, fa, PINFS_LEASE_READ), ==, 0);
	ec_stop_member(ec, 0);
	ec_stop_member(ec, 1);

	tr = truncate_start(fb, 0, false);
	ti = truncate_start_intr(gb, 0);
	/* quorum=fail would have failed them by now (ENOLCK, see
	 * /cluster/quorum-lost). */
	g_assert_cmpint(change_wait(tr, (TTL + 3) * 1000), ==, -1);
	kill(ti, SIGUSR1);
	g_assert_cmpint(change_wait(ti, 10000), ==, EINTR);
	g_assert_cmpint(size_of(ga), ==, 4096);
	g_assert_cmpint(size_of(fa), ==, 4096);
	/* Plain I/O goes on, on both nodes. */
	make_file(ha, 10);
	g_assert_true(g_file_get_contents(fb, &data, &len, &err));
	g_assert_cmpuint(len, ==, 4096);
	/* A's holder was told its lease is gone (A fenced itself). */
	g_assert_cmpint(holder_ask(&h, 'W'), ==, 'S');
	holder_stop(&h);

	ec_start_member(ec, 0, true);
	ec_start_member(ec, 1, true);
	g_assert_cmpint(change_wait(tr, 60000), ==, 0);
	g_assert_cmpint(size_of(fb), ==, 0);
	g_assert_cmpint(size_of(gb), ==, 4096);
	pm_unmount(b);
	pm_unmount(a);

	/* quorum= takes fail or wait, and needs etcd=. */
	for (int i = 0; i < 2; i++) {
		g_autofree char *o =
		    g_strdup_printf(i ? "quorum=wait" : "etcd=%s,quorum=maybe", ec->urls);
		g_autofree char *out = NULL, *errs = NULL;
		const char *argv[] = {
		    g_getenv("PINFS_BIN"), "-f", "-o", o, "/tmp", "/tmp", NULL};

		g_assert_cmpint(pm_run_cmd(argv, 30, &out, &errs), !=, 0);
		g_assert_nonnull(
		    strstr(errs, i ? "need etcd=" : "expected fail or wait"));
	}
	ec_stop(ec);
}

/*
 * pinfs-exerciser ($PINFS_EXERCISER) with its steps going through A, B and
 * C in turn (--also), compared after every step with a plain file on the
 * backing filesystem, and each other mount with it too.  The mounts have no
 * attribute or entry cache (timeout=0): a mount that did not make a change
 * may otherwise show the old size for up to its cache time, as any FUSE
 * filesystem over shared storage.
 */
static void test_exerciser(void)
{
	const char *exe = g_getenv("PINFS_EXERCISER");
	struct etcd3 *ec = ec_start();
	struct pm *pm[3];
	g_autofree char *out = NULL, *err = NULL;
	int status;

	g_assert_nonnull(exe);
	for (int i = 0; i < 3; i++) {
		g_autofree char *opts =
		    g_strdup_printf("etcd=%s,node=%c,cluster=t%d,etcd_ttl=6,timeout=0",
				    ec->urls, 'a' + i, (int)getpid());

		pm[i] = pm_mount_on_ns(i ? pm_backing(pm[0]) : NULL, opts);
		pm_expect_log(pm[i], "cluster");
	}
	status = pm_run_cmd(
	    (const char *const[]){exe, "--seed=5", "--steps=1500", "--max-size=262144",
				  "--fuse-falloc", "--also", pm_mnt(pm[1]), "--also",
				  pm_mnt(pm[2]), pm_mnt(pm[0]), pm_scratch(pm[0]), NULL},
	    300, &out, &err);
	pm_message("%s", out);
	if (*err)
		g_printerr("%s", err);
	g_assert_cmpint(status, !=, -1); /* timed out */
	g_assert_true(WIFEXITED(status));
	g_assert_null(strstr(err, "Sanitizer"));
	g_assert_null(strstr(err, "runtime error:"));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	for (int i = 2; i >= 0; i--)
		pm_unmount(pm[i]);
	ec_stop(ec);
}

int main(int argc, char **argv)
{
	pm_init(&argc, &argv);
	signal(SIGIO, SIG_IGN);
	pm_add_test("/cluster/etcd/client", test_etcd_client);
	pm_add_test("/cluster/break-resume", test_break_resume);
	pm_add_test("/cluster/reader-sees-change", test_reader_sees_change);
	pm_add_test("/cluster/two-holders", test_two_holders);
	pm_add_test("/cluster/nonblock", test_nonblock);
	pm_add_test("/cluster/grant-refused", test_grant_refused);
	pm_add_test("/cluster/exclusive", test_exclusive);
	pm_add_test("/cluster/visibility", test_visibility);
	pm_add_test("/cluster/interrupted", test_interrupted);
	pm_add_test("/cluster/break-time", test_break_time);
	pm_add_test("/cluster/holder-daemon-killed", test_holder_daemon_killed);
	pm_add_test("/cluster/etcd-member-killed", test_member_killed);
	pm_add_test("/cluster/quorum-lost", test_quorum_lost);
	pm_add_test("/cluster/quorum-wait", test_quorum_wait);
	pm_add_test("/cluster/exerciser", test_exerciser);
	return g_test_run();
}
