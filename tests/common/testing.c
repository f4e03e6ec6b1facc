// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The g_test side of the mount helper (mount.h): pm_init(), tests in
 * subprocesses of their own, skips that come back from them, and
 * pm_unmount(), which fails the test on a daemon that misbehaved.
 */
#include "mount.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void pm_init(int *argc, char ***argv)
{
	g_test_init(argc, argv, NULL);
	pm_setup();
}

const char *pm_bin(void)
{
	const char *bin = g_getenv("PINFS_BIN");

	if (!bin || !*bin) {
		pm_skip("PINFS_BIN is not set");
		return NULL;
	}
	return bin;
}

struct pm *pm_mount(const char *opts)
{
	return pm_mount_argv(opts, NULL);
}

struct pm *pm_mount_argv(const char *opts, const char *const *extra_args)
{
	struct pm_spec spec = {.opts = opts, .extra_args = extra_args};

	/* In a pm_add_test() subprocess the whole test can still skip. */
	if (!pm_can_mount() && g_test_subprocess() && g_getenv("PM_SKIP_FILE")) {
		pm_skip("mounting pinfs needs root and /dev/fuse");
		exit(0);
	}
	return pm_mount_spec(&spec);
}

struct pm *pm_mount_on(const char *backing, const char *opts)
{
	struct pm_spec spec = {.opts = opts, .backing = backing};

	if (!pm_can_mount() && g_test_subprocess() && g_getenv("PM_SKIP_FILE")) {
		pm_skip("mounting pinfs needs root and /dev/fuse");
		exit(0);
	}
	return pm_mount_spec(&spec);
}

struct pm *pm_mount_on_ns(const char *backing, const char *opts)
{
	struct pm_spec spec = {.opts = opts, .backing = backing, .own_ns = TRUE};

	if (!pm_can_mount() && g_test_subprocess() && g_getenv("PM_SKIP_FILE")) {
		pm_skip("mounting pinfs needs root and /dev/fuse");
		exit(0);
	}
	return pm_mount_spec(&spec);
}

void pm_unmount(struct pm *pm)
{
	g_autofree char *problems = pm_stop(pm);

	if (problems) {
		g_autofree char *log = pm_daemon_log(pm);

		g_printerr("pinfs daemon log:\n%s\n", log);
		g_printerr("pm_unmount: %s\n", problems);
		g_test_fail_printf("pm_unmount: %s", problems);
	}
	pm_free(pm, g_test_failed());
}

void pm_skip(const char *reason)
{
	const char *f = g_getenv("PM_SKIP_FILE");

	if (f && g_test_subprocess())
		g_file_set_contents(f, reason, -1, NULL); /* the parent skips */
	else
		g_test_skip(reason);
}

void pm_message(const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (g_test_subprocess())
		fprintf(stderr, "# %s\n", msg);
	else
		g_test_message("%s", msg);
}

/* A pm_add_test() or pm_add_data_test() test: what its body runs. */
struct isolated {
	void (*fn)(void);
	void (*data_fn)(gconstpointer data);
	gconstpointer data;
};

/*
 * Body of a pm_add_test() test: in the parent, rerun this test as a
 * subprocess; a pm_skip() there comes back through $PM_SKIP_FILE (a
 * g_test_skip() in a subprocess would only make it exit non-zero).
 */
static void run_isolated(gconstpointer arg)
{
	const struct isolated *t = arg;
	g_autoptr(GError) err = NULL;
	g_autofree char *dir = NULL, *file = NULL, *reason = NULL;

	if (g_test_subprocess() || g_getenv("PINFS_TEST_NO_FORK")) {
		if (t->fn)
			t->fn();
		else
			t->data_fn(t->data);
		return;
	}
	dir = g_dir_make_tmp("pinfs-skip-XXXXXX", &err);
	g_assert_no_error(err);
	file = g_build_filename(dir, "skip", NULL);
	g_setenv("PM_SKIP_FILE", file, TRUE);
	g_test_trap_subprocess(NULL, 150 * G_USEC_PER_SEC,
			       G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_unsetenv("PM_SKIP_FILE");
	/* Its assertion messages went to our stderr, the meson test log. */
	if (!g_test_trap_has_passed())
		g_test_fail_printf("the test failed in its subprocess (see stderr)");
	else if (g_file_get_contents(file, &reason, NULL, NULL))
		g_test_skip(reason);
	unlink(file);
	rmdir(dir);
}

void pm_add_test(const char *path, void (*fn)(void))
{
	struct isolated *t = g_new0(struct isolated, 1);

	t->fn = fn;
	g_test_add_data_func_full(path, t, run_isolated, g_free);
}

void pm_add_data_test(const char *path, gconstpointer data, void (*fn)(gconstpointer))
{
	struct isolated *t = g_new0(struct isolated, 1);

	t->data_fn = fn;
	t->data = data;
	g_test_add_data_func_full(path, t, run_isolated, g_free);
}
