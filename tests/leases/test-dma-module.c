// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-dma-module - pinfs without the pinfs_dma module, on a real mount:
 * what the daemon says about undeclared DMA pins (log, pinfsctl status in
 * text and JSON), and dma_module=require, which makes layout changes of
 * files that may be mapped shared (open O_RDWR by another open file) fail
 * with ENOPKG while the module is absent.  The host kernel cannot load
 * modules, so "absent" is what this machine has; the module arriving,
 * leaving and coming back is tested in the QEMU guest
 * (tests/vm/dmawatch-tests.sh).
 *
 * Environment: PINFS_BIN (meson sets it), PINFSCTL (pinfsctl).
 */
#include "mount.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILE_SIZE 32768

static bool module_here(void)
{
	if (access("/dev/pinfs_dma", F_OK) != 0)
		return false;
	pm_skip("/dev/pinfs_dma exists here: these tests need it absent");
	return true;
}

/* A file of FILE_SIZE bytes of 'A'. */
static char *make_file(struct pm *pm, const char *name)
{
	char *path = pm_path(pm, name);
	char buf[FILE_SIZE];
	int fd;

	memset(buf, 'A', sizeof(buf));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(fchmod(fd, 0666), ==, 0);
	g_assert_cmpint(write(fd, buf, sizeof(buf)), ==, sizeof(buf));
	close(fd);
	return path;
}

/* The file is still FILE_SIZE bytes of 'A'. */
static void assert_untouched(const char *path)
{
	char buf[FILE_SIZE + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	g_assert_cmpint(fd, >=, 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	g_assert_cmpint(n, ==, FILE_SIZE);
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] != 'A')
			g_error("byte %zd is %#x, not 'A'", i, (unsigned char)buf[i]);
}

/*
 * A process of uid (as another user would) that opens path with flags and
 * keeps it open until killed; returns once it has it open.
 */
static pid_t hold_open(const char *path, int flags, uid_t uid)
{
	int ready[2];
	pid_t pid;
	char c;

	g_assert_cmpint(pipe2(ready, O_CLOEXEC), ==, 0);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		int fd;

		close(ready[0]);
		if (uid && (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
			    setresuid(uid, uid, uid) < 0))
			_exit(2);
		fd = open(path, flags | O_CLOEXEC);
		if (fd < 0)
			_exit(3);
		if (write(ready[1], "r", 1) != 1)
			_exit(4);
		pause();
		_exit(0);
	}
	close(ready[1]);
	g_assert_cmpint(read(ready[0], &c, 1), ==, 1);
	close(ready[0]);
	return pid;
}

static void stop(pid_t pid)
{
	kill(pid, SIGKILL);
	g_assert_cmpint(waitpid(pid, NULL, 0), ==, pid);
}

/* pinfsctl [--json] status MNT: its stdout; the test fails unless it
 * exits 0. */
static char *ctl_status(struct pm *pm, gboolean json)
{
	const char *ctl = g_getenv("PINFSCTL");
	const char *argv[] = {ctl, json ? "--json" : "status",
			      json ? "status" : pm_mnt(pm), json ? pm_mnt(pm) : NULL,
			      NULL};
	char *out = NULL, *err = NULL;
	int status;

	status = pm_run_cmd(argv, 30, &out, &err);
	if (status != 0)
		g_error("pinfsctl status: status %d: %s", status, err);
	g_free(err);
	return out;
}

/* Retry f() until it stops failing with EINTR: a FUSE request may be
 * interrupted by nothing in particular. */
static int truncate_path(const char *path, off_t size)
{
	int ret;

	do
		ret = truncate(path, size);
	while (ret < 0 && errno == EINTR);
	return ret;
}

/* Without the module: the daemon says undeclared pins are not watched,
 * in its log and through pinfsctl status, text and JSON. */
static void test_status_absent(void)
{
	struct pm *pm;
	g_autofree char *json = NULL, *text = NULL, *log = NULL;

	if (module_here())
		return;
	if (!g_getenv("PINFSCTL")) {
		pm_skip("no $PINFSCTL");
		return;
	}
	pm = pm_mount("break_time=7");
	json = ctl_status(pm, TRUE);
	pm_message("%s", json);
	g_assert_nonnull(strstr(json, "\"ok\":true"));
	g_assert_nonnull(strstr(json, "\"leases\":true"));
	g_assert_nonnull(strstr(json, "\"break_time_s\":7"));
	g_assert_nonnull(strstr(json, "\"watched\":false"));
	g_assert_nonnull(strstr(json, "\"module\":\"absent\""));
	g_assert_nonnull(strstr(json, "\"dma_module\":\"auto\""));
	g_assert_nonnull(strstr(json, "/dev/pinfs_dma: No such file or directory"));
	text = ctl_status(pm, FALSE);
	pm_message("%s", text);
	g_assert_nonnull(strstr(text, "undeclared pins  NOT watched"));
	g_assert_nonnull(strstr(text, "declared pins    watched"));
	g_assert_nonnull(strstr(text, "dma_module=auto"));
	log = pm_daemon_log(pm);
	g_assert_nonnull(strstr(log, "undeclared DMA pins are not watched"));

	/* Without a mount point: every mount, this one among them.  (Its
	 * exit status also counts other daemons on this machine.) */
	{
		const char *argv[] = {g_getenv("PINFSCTL"), "status", NULL};
		g_autofree char *all = NULL, *err = NULL, *head = NULL;
		const char *mine;

		pm_run_cmd(argv, 30, &all, &err);
		head = g_strdup_printf("%s\ndeclared pins    watched", pm_mnt(pm));
		mine = strstr(all, head);
		if (!mine)
			g_error("pinfsctl status lists no %s: %s%s", pm_mnt(pm), all,
				err);
		g_assert_nonnull(strstr(mine, "undeclared pins  NOT watched"));
	}
	pm_unmount(pm);
}

/*
 * dma_module=require, no module: a file another process (of another user)
 * has open O_RDWR may be mapped shared and pinned, so truncate, hole punch
 * and copy_file_range into it fail with ENOPKG, and the file is left
 * alone; once that process has closed it, the truncate goes ahead.
 */
static void test_require_refuses(void)
{
	struct pm *pm;
	g_autofree char *path = NULL, *src = NULL, *log = NULL, *json = NULL;
	pid_t holder;
	int fd, sfd;
	loff_t in = 0, out = 0;

	if (module_here())
		return;
	pm = pm_mount("dma_module=require,allow_other");
	path = make_file(pm, "f");
	src = make_file(pm, "src");
	holder = hold_open(path, O_RDWR, 4242);

	errno = 0;
	g_assert_cmpint(truncate_path(path, 0), ==, -1);
	g_assert_cmpint(errno, ==, ENOPKG);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	errno = 0;
	g_assert_cmpint(ftruncate(fd, 100), ==, -1);
	g_assert_cmpint(errno, ==, ENOPKG);
	errno = 0;
	g_assert_cmpint(
	    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), ==, -1);
	g_assert_cmpint(errno, ==, ENOPKG);
	sfd = open(src, O_RDONLY | O_CLOEXEC);
	g_assert_cmpint(sfd, >=, 0);
	errno = 0;
	g_assert_cmpint(copy_file_range(sfd, &in, fd, &out, 4096, 0), ==, -1);
	g_assert_cmpint(errno, ==, ENOPKG);
	close(sfd);
	/* open(O_TRUNC) is a truncate too. */
	errno = 0;
	g_assert_cmpint(open(path, O_WRONLY | O_TRUNC | O_CLOEXEC), ==, -1);
	g_assert_cmpint(errno, ==, ENOPKG);
	assert_untouched(path);

	if (g_getenv("PINFSCTL")) {
		json = ctl_status(pm, TRUE);
		g_assert_nonnull(strstr(json, "\"watched\":false"));
		g_assert_nonnull(strstr(json, "\"dma_module\":\"require\""));
	}
	stop(holder);
	/* The kernel sends the holder's RELEASE in the background. */
	for (int i = 0; i < 100 && ftruncate(fd, 100) < 0; i++) {
		g_assert_cmpint(errno, ==, ENOPKG);
		g_usleep(20000);
	}
	struct stat st;
	g_assert_cmpint(fstat(fd, &st), ==, 0);
	g_assert_cmpint(st.st_size, ==, 100);
	close(fd);

	log = pm_daemon_log(pm);
	g_assert_nonnull(strstr(log, "refused with ENOPKG"));
	/* Once, not once per refusal. */
	g_assert_null(
	    strstr(strstr(log, "refused with ENOPKG") + 1, "refused with ENOPKG"));
	pm_unmount(pm);
}

/*
 * dma_module=require, no module: what cannot be mapped shared by someone
 * else goes ahead.  The caller's own O_RDWR file, files open read-only or
 * write-only by others (a read-only mapping cannot be written by a device;
 * a write-only file cannot be mapped), a file nobody has open.
 */
static void test_require_allows(void)
{
	struct pm *pm;
	g_autofree char *path = NULL;
	pid_t ro, wo;
	struct stat st;
	int fd;

	if (module_here())
		return;
	pm = pm_mount("dma_module=require,allow_other");
	path = make_file(pm, "f");
	g_assert_cmpint(truncate_path(path, 1000), ==, 0);

	fd = open(path, O_RDWR | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(ftruncate(fd, 2000), ==, 0);
	g_assert_cmpint(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 100),
			==, 0);
	close(fd);
	/* open(O_RDWR | O_TRUNC): its own open is not "someone else". */
	fd = open(path, O_RDWR | O_TRUNC | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(fstat(fd, &st), ==, 0);
	g_assert_cmpint(st.st_size, ==, 0);
	close(fd);

	g_assert_cmpint(truncate_path(path, 4096), ==, 0);
	ro = hold_open(path, O_RDONLY, 4242);
	wo = hold_open(path, O_WRONLY, 4242);
	g_assert_cmpint(truncate_path(path, 10), ==, 0);
	stop(ro);
	stop(wo);
	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_size, ==, 10);
	pm_unmount(pm);
}

/* The default, dma_module=auto: without the module the same truncate goes
 * ahead (unprotected, as status and the log say). */
static void test_auto_goes_ahead(void)
{
	struct pm *pm = NULL;
	g_autofree char *path = NULL;
	struct stat st;
	pid_t holder;

	if (module_here())
		return;
	pm = pm_mount("allow_other");
	path = make_file(pm, "f");
	holder = hold_open(path, O_RDWR, 4242);
	g_assert_cmpint(truncate_path(path, 0), ==, 0);
	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_size, ==, 0);
	stop(holder);
	pm_unmount(pm);
}

/* Bad values are refused before anything is mounted. */
static void test_options(void)
{
	static const struct {
		const char *opts, *msg;
	} bad[] = {
	    {"dma_module=yes", "dma_module=yes: expected auto or require"},
	    {"dma_module=", "dma_module=: expected auto or require"},
	    {"dma_module=require,leases=off", "dma_module=require needs leases=on"},
	};
	g_autofree char *dir = g_dir_make_tmp("pinfs-dma-opts.XXXXXX", NULL);

	g_assert_nonnull(dir);
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		const char *argv[] = {pm_bin(), "-f", "-o", bad[i].opts, dir, dir, NULL};
		g_autofree char *out = NULL, *err = NULL;
		int status = pm_run_cmd(argv, 30, &out, &err);

		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), !=, 0);
		if (!strstr(err, bad[i].msg))
			g_error("-o %s: expected \"%s\", got: %s", bad[i].opts,
				bad[i].msg, err);
		g_assert_false(pm_is_fuse_mount(dir));
	}
	rmdir(dir);
}

int main(int argc, char **argv)
{
	pm_init(&argc, &argv);
	pm_add_test("/dma-module/status-absent", test_status_absent);
	pm_add_test("/dma-module/require/refuses", test_require_refuses);
	pm_add_test("/dma-module/require/allows", test_require_allows);
	pm_add_test("/dma-module/auto", test_auto_goes_ahead);
	pm_add_test("/dma-module/options", test_options);
	return g_test_run();
}
