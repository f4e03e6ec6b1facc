// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Runs pinfs-exerciser ($PINFS_EXERCISER): first on pairs whose answer is
 * known (two plain directories: must agree; a planted bug and tmpfs vs the
 * backing fs: must diverge), then on a real pinfs mount against a plain
 * directory on the backing filesystem, for thousands of steps.
 */
#include "mount.h"

#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *exerciser(void)
{
	const char *p = g_getenv("PINFS_EXERCISER");

	if (!p)
		g_error("PINFS_EXERCISER is not set: run the tests with meson test");
	return p;
}

/*
 * Run the exerciser with @seed and @steps on @a and @b, with the options
 * @extra (NULL-terminated, may be NULL).  Returns its exit code; its stderr
 * in *err_out if that is not NULL.
 */
static int run_exerciser(const char *a, const char *b, guint64 seed, int steps,
			 const char *const *extra, char **err_out)
{
	g_autofree char *seed_s = g_strdup_printf("--seed=%" G_GUINT64_FORMAT, seed);
	g_autofree char *steps_s = g_strdup_printf("--steps=%d", steps);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autofree char *out = NULL, *err = NULL;
	int status;

	g_ptr_array_add(argv, (char *)exerciser());
	g_ptr_array_add(argv, seed_s);
	g_ptr_array_add(argv, steps_s);
	for (size_t i = 0; extra && extra[i]; i++)
		g_ptr_array_add(argv, (char *)extra[i]);
	g_ptr_array_add(argv, (char *)a);
	g_ptr_array_add(argv, (char *)b);
	g_ptr_array_add(argv, NULL);

	status = pm_run_cmd((const char *const *)argv->pdata, 600, &out, &err);
	g_test_message("%s", out);
	if (*err && !err_out) /* a caller that wants it expects a divergence */
		g_printerr("%s", err);
	g_assert_cmpint(status, !=, -1); /* timed out */
	g_assert_true(WIFEXITED(status));
	/* in a sanitizer build a report fails the run, whatever the exit code */
	g_assert_null(strstr(err, "Sanitizer"));
	g_assert_null(strstr(err, "runtime error:"));
	if (err_out)
		*err_out = g_steal_pointer(&err);
	return WEXITSTATUS(status);
}

static char *make_dir(const char *tmpl)
{
	g_autoptr(GError) err = NULL;
	char *d = g_dir_make_tmp(tmpl, &err);

	g_assert_no_error(err);
	return d;
}

static void remove_dir(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(dir, name, NULL);
		unlink(p);
	}
	rmdir(dir);
}

/* Two plain directories on one filesystem behave the same. */
static void test_plain_dirs(void)
{
	g_autofree char *a = make_dir("pinfs-exa-XXXXXX");
	g_autofree char *b = make_dir("pinfs-exb-XXXXXX");

	g_assert_cmpint(run_exerciser(a, b, 42, 2000, NULL, NULL), ==, 0);
	remove_dir(a);
	remove_dir(b);
}

/* A planted difference is found at the step it was planted, with the seed. */
static void test_inject_bug(void)
{
	g_autofree char *a = make_dir("pinfs-exa-XXXXXX");
	g_autofree char *b = make_dir("pinfs-exb-XXXXXX");
	g_autofree char *err = NULL;

	g_assert_cmpint(
	    run_exerciser(a, b, 7, 500, (const char *[]){"--inject-bug=123", NULL}, &err),
	    ==, 1);
	g_assert_nonnull(strstr(err, "DIVERGENCE: seed 7 step 123 "));
	remove_dir(a);
	remove_dir(b);
}

/*
 * tmpfs refuses fallocate modes the backing fs has (zero range, collapse,
 * insert): a real difference between filesystems, which must be reported.
 */
static void test_tmpfs_differs(void)
{
	g_autofree char *a = make_dir("pinfs-exa-XXXXXX");
	g_autofree char *b = make_dir("pinfs-exb-XXXXXX");
	g_autofree char *err = NULL;

	if (!pm_private_ns() || mount("pinfs-test", b, "tmpfs", 0, "size=64m") < 0) {
		pm_skip("cannot mount tmpfs in a private mount namespace");
		return;
	}
	g_assert_cmpint(run_exerciser(a, b, 3, 2000, NULL, &err), ==, 1);
	g_assert_nonnull(strstr(err, "DIVERGENCE: seed 3 step "));
	g_assert_nonnull(strstr(err, "fallocate"));
	g_assert_no_errno(umount(b));
	remove_dir(a);
	remove_dir(b);
}

/* pinfs against a plain directory on the backing filesystem. */
static void run_on_pinfs(guint64 seed, int steps)
{
	struct pm *pm = pm_mount(NULL);

	g_test_message("seed %" G_GUINT64_FORMAT ", %d steps", seed, steps);
	g_assert_cmpint(run_exerciser(pm_mnt(pm), pm_scratch(pm), seed, steps,
				      (const char *[]){"--fuse-falloc", NULL}, NULL),
			==, 0);
	pm_unmount(pm);
}

static void test_pinfs_fixed_seed(void)
{
	run_on_pinfs(1, 3000);
}

static void test_pinfs_random_seed(void)
{
	/* reproducible with the test program's --seed, printed by g_test */
	run_on_pinfs(g_test_rand_int_range(0, G_MAXINT32), 2000);
}

static void test_pinfs_small_files(void)
{
	struct pm *pm = pm_mount(NULL);

	/* small sizes: more truncates across page boundaries, denser mmap use */
	g_assert_cmpint(
	    run_exerciser(pm_mnt(pm), pm_scratch(pm), 11, 3000,
			  (const char *[]){"--fuse-falloc", "--max-size=65536", NULL},
			  NULL),
	    ==, 0);
	pm_unmount(pm);
}

int main(int argc, char **argv)
{
	pm_init(&argc, &argv);
	pm_add_test("/exerciser/self-test/plain-dirs", test_plain_dirs);
	pm_add_test("/exerciser/self-test/inject-bug", test_inject_bug);
	pm_add_test("/exerciser/self-test/tmpfs-differs", test_tmpfs_differs);
	pm_add_test("/exerciser/pinfs/fixed-seed", test_pinfs_fixed_seed);
	pm_add_test("/exerciser/pinfs/random-seed", test_pinfs_random_seed);
	pm_add_test("/exerciser/pinfs/small-files", test_pinfs_small_files);
	return g_test_run();
}
