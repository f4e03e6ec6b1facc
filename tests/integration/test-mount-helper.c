// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Tests of the test mount helper itself (tests/common/mount.c): a test that
 * dies while pinfs is mounted leaves no mount and no daemon behind, an
 * unexpected daemon warning fails a test, and pm_run_as() really switches
 * identity.  The dying tests run in g_test subprocesses.
 */
#include "mount.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where a subprocess writes "MOUNTPOINT PID" for its parent to check. */
static char *report_path;

static void report_mount(struct pm *pm)
{
	g_autofree char *s = g_strdup_printf("%s %d", pm_mnt(pm), pm_daemon_pid(pm));

	g_assert_true(g_file_set_contents(report_path, s, -1, NULL));
}

/* Read back what report_mount() wrote. */
static void read_report(char **mnt, pid_t *pid)
{
	g_autofree char *s = NULL;
	g_auto(GStrv) f = NULL;

	g_assert_true(g_file_get_contents(report_path, &s, NULL, NULL));
	f = g_strsplit(s, " ", 2);
	g_assert_nonnull(f[1]);
	*mnt = g_strdup(f[0]);
	*pid = atoi(f[1]);
}

/* The cleanup is asynchronous (reaper, daemon exit): wait up to 10 s. */
static gboolean unmounted_soon(const char *mnt)
{
	for (int i = 0; i < 1000; i++) {
		if (!pm_in_mount_table(mnt))
			return TRUE;
		g_usleep(10000);
	}
	return FALSE;
}

/* Remove the temporary tree of a mount that a dead subprocess left behind. */
static void remove_tree_of(const char *mnt)
{
	g_autofree char *root = g_path_get_dirname(mnt);

	g_assert_true(g_str_has_prefix(root, g_get_tmp_dir()));
	pm_run_cmd((const char *[]){"/bin/rm", "-rf", root, NULL}, 30, NULL, NULL);
}

/* Wait (10 s at most) for @pid to be gone or a zombie. */
static gboolean process_gone(pid_t pid)
{
	for (int i = 0; i < 1000; i++) {
		g_autofree char *stat_path = g_strdup_printf("/proc/%d/stat", pid);
		g_autofree char *st = NULL;

		if (!g_file_get_contents(stat_path, &st, NULL, NULL))
			return TRUE;
		if (strstr(st, ") Z ") || strstr(st, ") X "))
			return TRUE;
		g_usleep(10000);
	}
	return FALSE;
}

static void child_abort_while_mounted(void)
{
	struct pm *pm = pm_mount(NULL);

	report_mount(pm);
	g_assert_cmpint(1, ==, 2); /* a failing test: SIGABRT with pinfs mounted */
}

static void child_sigkill_while_mounted(void)
{
	struct pm *pm = pm_mount(NULL);

	report_mount(pm);
	raise(SIGKILL); /* no handler runs: namespace + PDEATHSIG must do it */
}

/*
 * Without the private namespace (the subprocess mounts in ours), a failed
 * assertion with pinfs mounted: in a g_test subprocess it is _exit(1), which
 * runs no handler, so the reaper (or the daemon's PDEATHSIG) must clean up.
 */
static void test_abort_cleans_up(void)
{
	g_autofree char *mnt = NULL;
	pid_t pid;

	if (g_test_subprocess()) {
		child_abort_while_mounted();
		return;
	}
	g_setenv("PINFS_TEST_NO_UNSHARE", "1", TRUE);
	g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
	g_unsetenv("PINFS_TEST_NO_UNSHARE");
	g_test_trap_assert_failed();
	read_report(&mnt, &pid);
	g_assert_true(unmounted_soon(mnt));
	g_assert_false(pm_is_fuse_mount(mnt));
	g_assert_true(process_gone(pid));
	remove_tree_of(mnt);
}

/* SIGKILL runs no handler: the subprocess' namespace dies with it. */
static void test_sigkill_cleans_up(void)
{
	g_autofree char *mnt = NULL;
	pid_t pid;

	if (g_test_subprocess()) {
		child_sigkill_while_mounted();
		return;
	}
	g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_failed();
	read_report(&mnt, &pid);
	g_assert_true(unmounted_soon(mnt));
	g_assert_true(process_gone(pid));
	remove_tree_of(mnt);
}

/* A daemon that writes a warning to stderr, then execs the real pinfs. */
static char *make_noisy_daemon(const char *dir)
{
	g_autofree char *script = g_strdup_printf(
	    "#!/bin/sh\necho 'pinfs: WARNING: planted by test-mount-helper' >&2\n"
	    "exec '%s' \"$@\"\n",
	    g_getenv("PINFS_BIN"));
	char *path = g_build_filename(dir, "noisy-pinfs", NULL);

	g_assert_true(g_file_set_contents(path, script, -1, NULL));
	g_assert_no_errno(chmod(path, 0755));
	return path;
}

static void test_warning_fails_test(void)
{
	if (g_test_subprocess()) {
		struct pm *pm = pm_mount(NULL);

		report_mount(pm);
		if (g_getenv("PM_TEST_EXPECT"))
			pm_expect_log(pm, "planted by test");
		pm_unmount(pm);
		return;
	}
	{
		g_autoptr(GError) err = NULL;
		g_autofree char *dir = g_dir_make_tmp("pinfs-noisy-XXXXXX", &err);
		g_autofree char *real = g_strdup(g_getenv("PINFS_BIN"));
		g_autofree char *noisy = make_noisy_daemon(dir);

		g_assert_no_error(err);
		g_setenv("PINFS_BIN", noisy, TRUE);
		/* unexpected: the test fails */
		g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC,
				       G_TEST_SUBPROCESS_DEFAULT);
		g_test_trap_assert_failed();
		g_test_trap_assert_stderr(
		    "*unexpected daemon log lines*planted by test*");
		{
			g_autofree char *mnt = NULL;
			pid_t pid;

			read_report(&mnt, &pid);
			remove_tree_of(mnt); /* kept for inspection by the failed test */
		}
		/* declared with pm_expect_log(): the test passes */
		g_setenv("PM_TEST_EXPECT", "1", TRUE);
		g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC,
				       G_TEST_SUBPROCESS_DEFAULT);
		g_test_trap_assert_passed();
		g_unsetenv("PM_TEST_EXPECT");
		g_setenv("PINFS_BIN", real, TRUE);
		unlink(noisy);
		rmdir(dir);
	}
}

/* A daemon that cannot mount fails pm_mount() with its stderr, quickly. */
static void test_mount_failure_reported(void)
{
	if (g_test_subprocess()) {
		pm_mount("this_option_does_not_exist=1");
		return;
	}
	g_test_trap_subprocess(NULL, 30 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_failed();
	g_test_trap_assert_stderr("*pinfs daemon stderr*this_option_does_not_exist*");
}

static int whoami_fn(void *arg)
{
	gid_t groups[4];
	uid_t r, e, s;
	gid_t gr, ge, gs;

	(void)arg;
	if (getresuid(&r, &e, &s) < 0 || getresgid(&gr, &ge, &gs) < 0)
		return 100;
	if (r != 4242 || e != 4242 || s != 4242)
		return 101;
	if (gr != 4343 || ge != 4343 || gs != 4343)
		return 102;
	if (getgroups(4, groups) != 0)
		return 103;
	return open("/root/.pinfs-no-such-file", O_CREAT | O_WRONLY, 0600) < 0 ? errno
									       : 0;
}

static int crash_fn(void *arg)
{
	(void)arg;
	raise(SIGSEGV);
	return 0;
}

static void test_run_as(void)
{
	int r = pm_run_as(4242, 4343, whoami_fn, NULL);

	g_assert_cmpint(r, ==, EACCES); /* identity right, and no longer root */
	g_assert_cmpint(geteuid(), ==, 0);
	g_assert_cmpint(pm_run_as(4242, 4242, crash_fn, NULL), ==, 128 + SIGSEGV);
}

int main(int argc, char **argv)
{
	pm_init(&argc, &argv);
	/* one file shared by this program and its subprocesses */
	report_path = g_strdup_printf("/tmp/pinfs-mount-helper-%d.report",
				      g_test_subprocess() ? getppid() : getpid());
	g_test_add_func("/mount-helper/abort-cleans-up", test_abort_cleans_up);
	g_test_add_func("/mount-helper/sigkill-cleans-up", test_sigkill_cleans_up);
	g_test_add_func("/mount-helper/warning-fails-test", test_warning_fails_test);
	g_test_add_func("/mount-helper/mount-failure-reported",
			test_mount_failure_reported);
	g_test_add_func("/mount-helper/run-as", test_run_as);
	int ret = g_test_run();
	unlink(report_path);
	return ret;
}
