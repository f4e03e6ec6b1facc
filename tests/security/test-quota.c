/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-quota - per-user quotas on layout leases and pins (a hostile user
 * must not grow the daemon's memory without bound), on a real pinfs mount
 * with two ordinary uids and root.
 *
 *   /quota/leases        user_leases=3: the fourth lease of a uid fails with
 *                        ENOLCK while another uid and root still get theirs;
 *                        changing a lease costs nothing; a release, a close
 *                        and an exit give leases back
 *   /quota/pins          user_pins=5: the sixth pin fails with ENOMEM, per
 *                        uid, across open files; pins outlive a release and
 *                        are given back by unpin and close
 *   /quota/unlimited     user_leases=0,user_pins=0, and the defaults
 *   /quota/bad-options   bad values refuse to mount, saying why
 *
 * Each user acts through an agent: a forked child with that uid's real,
 * effective and saved ids, which keeps its files open between requests and
 * answers each request the test sends it over a pipe.  Environment:
 * PINFS_BIN (meson sets it).  Needs root and /dev/fuse.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "kid.h"
#include "mount.h"
#include "pinfs.h"

#define UID_A 4242
#define UID_B 4343
#define MAX_FDS 32

/* A release reaches the daemon after close(2) returns (FUSE sends it
 * asynchronously): wait this long, at most, for a close to be seen. */
#define RELEASE_WAIT_MS 10000

/* ---------------- agents ---------------- */

enum agent_op { OP_OPEN, OP_LEASE, OP_RELEASE, OP_PIN, OP_UNPIN, OP_CLOSE };

struct agent_req {
	enum agent_op op;
	int slot;	/* the agent's open file (OP_OPEN: the one to fill) */
	int arg;	/* OP_LEASE: the lease type */
	uint64_t val;	/* OP_PIN: the offset; OP_UNPIN: the pin id */
	char path[256]; /* OP_OPEN */
};

struct agent_rep {
	int err;      /* 0 or the errno */
	uint64_t val; /* OP_PIN: the pin id */
};

/* An agent is a kid (kid.h) that does requests on files it holds open. */
struct agent {
	struct kid *kid;
	uid_t uid;
};

/* In the agent: do one request on fds[]. */
static struct agent_rep agent_do(const struct agent_req *r, int *fds)
{
	struct agent_rep rep = {0};
	int fd = r->slot >= 0 && r->slot < MAX_FDS ? fds[r->slot] : -1;
	int ret = 0;

	switch (r->op) {
	case OP_OPEN:
		fds[r->slot] = open(r->path, O_RDWR | O_CLOEXEC);
		ret = fds[r->slot];
		break;
	case OP_LEASE:
		ret = pinfs_setlease(fd, r->arg, 0, 0, PINFS_LEN_EOF);
		break;
	case OP_RELEASE:
		ret = pinfs_release(fd);
		break;
	case OP_PIN:
		ret = pinfs_pin(fd, r->val, 4096, &rep.val);
		break;
	case OP_UNPIN:
		ret = pinfs_unpin(fd, r->val);
		break;
	case OP_CLOSE:
		ret = close(fd);
		fds[r->slot] = -1;
		break;
	}
	rep.err = ret < 0 ? errno : 0;
	return rep;
}

/* The agent's loop: until the test closes its end, when every file closes
 * with the agent. */
static int agent_main(void *arg)
{
	int fds[MAX_FDS];
	struct agent_req r;

	(void)arg;
	for (int i = 0; i < MAX_FDS; i++)
		fds[i] = -1;
	while (kid_recv_buf(&r, sizeof(r))) {
		struct agent_rep rep = agent_do(&r, fds);

		kid_send_buf(&rep, sizeof(rep));
	}
	return 0;
}

static struct agent *agent_start(uid_t uid)
{
	struct agent *a = g_new0(struct agent, 1);
	struct kid_opts o = {.uid = uid, .gid = uid, .keep_fd = -1};

	a->kid = kid_start_opts(&o, agent_main, NULL);
	a->uid = uid;
	return a;
}

/* Ask the agent to do r; its answer. */
static struct agent_rep agent_call(struct agent *a, struct agent_req r)
{
	struct agent_rep rep;

	kid_put_buf(a->kid, &r, sizeof(r));
	kid_get_buf(a->kid, &rep, sizeof(rep));
	return rep;
}

/* The agent exits, closing every file it holds; its exit status. */
static int agent_stop(struct agent *a)
{
	int status;

	shutdown(a->kid->sock, SHUT_WR);
	status = kid_wait(a->kid, KID_DONE_MS);
	g_assert_cmpint(status, !=, -1);
	kid_end(a->kid);
	g_free(a);
	return status;
}

static void a_open(struct agent *a, int slot, struct pm *pm, const char *name)
{
	struct agent_req r = {.op = OP_OPEN, .slot = slot};
	g_autofree char *path = pm_path(pm, name);

	g_strlcpy(r.path, path, sizeof(r.path));
	g_assert_cmpint(agent_call(a, r).err, ==, 0);
}

/* The errno of a whole-file lease of type on slot (0: granted). */
static int a_lease(struct agent *a, int slot, int type)
{
	return agent_call(a,
			  (struct agent_req){.op = OP_LEASE, .slot = slot, .arg = type})
	    .err;
}

static int a_release(struct agent *a, int slot)
{
	return agent_call(a, (struct agent_req){.op = OP_RELEASE, .slot = slot}).err;
}

static int a_pin(struct agent *a, int slot, uint64_t off, uint64_t *id)
{
	struct agent_rep rep =
	    agent_call(a, (struct agent_req){.op = OP_PIN, .slot = slot, .val = off});

	if (id)
		*id = rep.val;
	return rep.err;
}

static int a_unpin(struct agent *a, int slot, uint64_t id)
{
	return agent_call(a, (struct agent_req){.op = OP_UNPIN, .slot = slot, .val = id})
	    .err;
}

static void a_close(struct agent *a, int slot)
{
	g_assert_cmpint(
	    agent_call(a, (struct agent_req){.op = OP_CLOSE, .slot = slot}).err, ==, 0);
}

/*
 * Retry op(a, slot) while it fails with busy_err, for as long as a close
 * may take to reach the daemon: a bound on a wait, not a timing claim.
 */
static int until_not(int busy_err, int (*op)(struct agent *, int), struct agent *a,
		     int slot)
{
	gint64 end = g_get_monotonic_time() + RELEASE_WAIT_MS * 1000;
	int err;

	while ((err = op(a, slot)) == busy_err && g_get_monotonic_time() < end)
		g_usleep(10000);
	return err;
}

static int lease_read(struct agent *a, int slot)
{
	return a_lease(a, slot, PINFS_LEASE_READ);
}

static int pin_at_8m(struct agent *a, int slot)
{
	return a_pin(a, slot, 8 << 20, NULL);
}

/* ---------------- files ---------------- */

/* Files name0..name(n-1) in the backing directory, owned by uid, 0644. */
static void make_files(struct pm *pm, const char *name, int n, uid_t uid)
{
	for (int i = 0; i < n; i++) {
		g_autofree char *rel = g_strdup_printf("%s%d", name, i);
		g_autofree char *path = pm_bpath(pm, rel);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		g_assert_no_errno(fd);
		g_assert_no_errno(ftruncate(fd, 16 << 20));
		g_assert_no_errno(fchown(fd, uid, uid));
		g_assert_no_errno(fchmod(fd, 0644));
		close(fd);
	}
}

/* Agent a opens name0..name(n-1) into slots 0..n-1. */
static void open_files(struct agent *a, struct pm *pm, const char *name, int n)
{
	for (int i = 0; i < n; i++) {
		g_autofree char *rel = g_strdup_printf("%s%d", name, i);

		a_open(a, i, pm, rel);
	}
}

static struct pm *quota_mount(const char *opts)
{
	struct pm *pm = pm_mount(opts);

	make_files(pm, "a", 6, UID_A);
	make_files(pm, "b", 6, UID_B);
	make_files(pm, "r", 12, 0);
	return pm;
}

/* ---------------- tests ---------------- */

static void test_leases(void)
{
	struct pm *pm = quota_mount("allow_other,user_leases=3,user_pins=5");
	struct agent *a = agent_start(UID_A), *b = agent_start(UID_B);
	struct agent *root = agent_start(0);
	g_autofree char *log = NULL;

	open_files(a, pm, "a", 6);
	open_files(b, pm, "b", 6);
	open_files(root, pm, "r", 12);

	/* A: three leases, then ENOLCK. */
	for (int i = 0; i < 3; i++)
		g_assert_cmpint(lease_read(a, i), ==, 0);
	g_assert_cmpint(lease_read(a, 3), ==, ENOLCK);
	g_assert_cmpint(lease_read(a, 4), ==, ENOLCK);

	/* B, with A at its limit, still gets its own three. */
	for (int i = 0; i < 3; i++)
		g_assert_cmpint(lease_read(b, i), ==, 0);
	g_assert_cmpint(lease_read(b, 3), ==, ENOLCK);

	/* Root is not limited. */
	for (int i = 0; i < 12; i++)
		g_assert_cmpint(lease_read(root, i), ==, 0);

	/* Changing a held lease (read -> write -> read) is not a new one. */
	g_assert_cmpint(a_lease(a, 0, PINFS_LEASE_WRITE), ==, 0);
	g_assert_cmpint(a_lease(a, 0, PINFS_LEASE_READ), ==, 0);
	g_assert_cmpint(lease_read(a, 3), ==, ENOLCK);

	/* A release gives one back at once. */
	g_assert_cmpint(a_release(a, 0), ==, 0);
	g_assert_cmpint(lease_read(a, 3), ==, 0);
	g_assert_cmpint(lease_read(a, 4), ==, ENOLCK);

	/* So does a close, once its release reaches the daemon. */
	a_close(a, 1);
	g_assert_cmpint(until_not(ENOLCK, lease_read, a, 4), ==, 0);
	g_assert_cmpint(lease_read(a, 5), ==, ENOLCK);

	/* And an exit: a new process of A gets its three again. */
	g_assert_cmpint(agent_stop(a), ==, 0);
	a = agent_start(UID_A);
	open_files(a, pm, "a", 6);
	g_assert_cmpint(until_not(ENOLCK, lease_read, a, 0), ==, 0);
	g_assert_cmpint(until_not(ENOLCK, lease_read, a, 1), ==, 0);
	g_assert_cmpint(until_not(ENOLCK, lease_read, a, 2), ==, 0);
	g_assert_cmpint(lease_read(a, 3), ==, ENOLCK);

	/* B was untouched by all of it. */
	g_assert_cmpint(lease_read(b, 3), ==, ENOLCK);
	g_assert_cmpint(a_release(b, 2), ==, 0);
	g_assert_cmpint(lease_read(b, 3), ==, 0);

	/* The refusals say why, naming the uid. */
	log = pm_daemon_log(pm);
	g_assert_nonnull(strstr(log, "lease quota of uid 4242"));
	g_assert_nonnull(strstr(log, "lease quota of uid 4343"));
	g_assert_null(strstr(log, "quota of uid 0"));

	g_assert_cmpint(agent_stop(a), ==, 0);
	g_assert_cmpint(agent_stop(b), ==, 0);
	g_assert_cmpint(agent_stop(root), ==, 0);
	pm_unmount(pm);
}

static void test_pins(void)
{
	struct pm *pm = quota_mount("allow_other,user_leases=3,user_pins=5");
	struct agent *a = agent_start(UID_A), *b = agent_start(UID_B);
	struct agent *root = agent_start(0);
	uint64_t ids[5] = {0}, id = 0;
	g_autofree char *log = NULL;

	open_files(a, pm, "a", 2);
	open_files(b, pm, "b", 1);
	open_files(root, pm, "r", 1);
	g_assert_cmpint(lease_read(a, 0), ==, 0);
	g_assert_cmpint(lease_read(a, 1), ==, 0);
	g_assert_cmpint(lease_read(b, 0), ==, 0);
	g_assert_cmpint(lease_read(root, 0), ==, 0);

	/* Five pins, then ENOMEM, on this open file or another of A's. */
	for (int i = 0; i < 5; i++)
		g_assert_cmpint(a_pin(a, 0, (uint64_t)i << 12, &ids[i]), ==, 0);
	g_assert_cmpint(a_pin(a, 0, 5 << 12, &id), ==, ENOMEM);
	g_assert_cmpint(a_pin(a, 1, 0, &id), ==, ENOMEM);

	/* B pins on its own quota; root has none. */
	for (int i = 0; i < 5; i++)
		g_assert_cmpint(a_pin(b, 0, (uint64_t)i << 12, &id), ==, 0);
	g_assert_cmpint(a_pin(b, 0, 5 << 12, &id), ==, ENOMEM);
	for (int i = 0; i < 20; i++)
		g_assert_cmpint(a_pin(root, 0, (uint64_t)i << 12, &id), ==, 0);

	/* An unpin gives one back. */
	g_assert_cmpint(a_unpin(a, 0, ids[4]), ==, 0);
	g_assert_cmpint(a_pin(a, 1, 0, &id), ==, 0);
	g_assert_cmpint(a_pin(a, 1, 4096, &id), ==, ENOMEM);

	/* Pins outlive the release of their lease (they still block truncate),
	 * so they still count; the close of their file gives them back. */
	g_assert_cmpint(a_release(a, 0), ==, 0);
	g_assert_cmpint(a_pin(a, 1, 4096, &id), ==, ENOMEM);
	a_close(a, 0);
	g_assert_cmpint(until_not(ENOMEM, pin_at_8m, a, 1), ==, 0);

	log = pm_daemon_log(pm);
	g_assert_nonnull(strstr(log, "pin quota of uid 4242"));
	g_assert_nonnull(strstr(log, "pin quota of uid 4343"));

	g_assert_cmpint(agent_stop(a), ==, 0);
	g_assert_cmpint(agent_stop(b), ==, 0);
	g_assert_cmpint(agent_stop(root), ==, 0);
	pm_unmount(pm);
}

/* 0 means unlimited; the defaults (4096 leases, 65536 pins) are far away. */
static void test_unlimited(void)
{
	const char *opts[] = {"allow_other,user_leases=0,user_pins=0", "allow_other"};

	for (guint m = 0; m < G_N_ELEMENTS(opts); m++) {
		struct pm *pm = quota_mount(opts[m]);
		struct agent *a = agent_start(UID_A);
		uint64_t id;

		open_files(a, pm, "a", 6);
		for (int i = 0; i < 6; i++)
			g_assert_cmpint(lease_read(a, i), ==, 0);
		for (int i = 0; i < 100; i++)
			g_assert_cmpint(a_pin(a, i % 6, (uint64_t)i << 12, &id), ==, 0);
		g_assert_cmpint(agent_stop(a), ==, 0);
		pm_unmount(pm);
	}
}

/* Run the daemon with -o opt: it must refuse to start, saying why. */
static void refuse_option(const char *dir, const char *opt, const char *why)
{
	g_autofree char *backing = g_build_filename(dir, "backing", NULL);
	g_autofree char *mnt = g_build_filename(dir, "mnt", NULL);
	const char *argv[] = {pm_bin(), "-f", "-o", opt, backing, mnt, NULL};
	g_autofree char *out = NULL, *err = NULL;
	int status;

	pm_watch(mnt, 0);
	status = pm_run_cmd(argv, 10, &out, &err);
	g_assert_false(pm_is_fuse_mount(mnt));
	pm_unwatch(mnt);
	g_test_message("-o %s: %s", opt, err);
	g_assert_cmpint(status, !=, -1); /* it did not hang mounted */
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), !=, 0);
	g_assert_nonnull(strstr(err, why));
}

static void test_bad_options(void)
{
	g_autofree char *dir = g_dir_make_tmp("pinfs-quota-XXXXXX", NULL);
	g_autofree char *backing = NULL, *mnt = NULL;

	if (getuid() != 0) {
		pm_skip("needs root");
		return;
	}
	g_assert_nonnull(dir);
	backing = g_build_filename(dir, "backing", NULL);
	mnt = g_build_filename(dir, "mnt", NULL);
	g_assert_no_errno(mkdir(backing, 0755));
	g_assert_no_errno(mkdir(mnt, 0755));

	refuse_option(dir, "user_leases=-1",
		      "pinfs: user_leases=-1: expected a whole number");
	refuse_option(dir, "user_leases=abc", "pinfs: user_leases=abc: expected");
	refuse_option(dir, "user_leases=", "pinfs: user_leases=: expected");
	refuse_option(dir, "user_leases=12x", "pinfs: user_leases=12x: expected");
	refuse_option(dir, "user_leases= 5", "pinfs: user_leases= 5: expected");
	refuse_option(dir, "user_pins=-5", "pinfs: user_pins=-5: expected");
	refuse_option(dir, "user_pins=4294967296",
		      "pinfs: user_pins=4294967296: expected");
	refuse_option(dir, "user_pins=0x10", "pinfs: user_pins=0x10: expected");
	refuse_option(dir, "user_pins=\v7", "pinfs: user_pins=\v7: expected");

	g_assert_no_errno(rmdir(mnt));
	g_assert_no_errno(rmdir(backing));
	g_assert_no_errno(rmdir(dir));
}

int main(int argc, char **argv)
{
	pm_init(&argc, &argv);
	pm_add_test("/quota/leases", test_leases);
	pm_add_test("/quota/pins", test_pins);
	pm_add_test("/quota/unlimited", test_unlimited);
	pm_add_test("/quota/bad-options", test_bad_options);
	return g_test_run();
}
