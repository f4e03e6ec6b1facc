// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-libpinfs - libpinfs without a daemon: argument checks, the errors
 * on files that are not pinfs, the string helpers and the exported symbols
 * of libpinfs.so and libpinfs-preload.so.
 *
 * Environment (set by lib/tests/meson.build):
 *   LIBPINFS_SO      path of the built libpinfs.so
 *   PINFS_PRELOAD    path of the built libpinfs-preload.so
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include <glib.h>

#include "check.h"

#include "pinfs.h"

/* Directories on two kinds of file system that are not FUSE. */
static const char *const dirs[] = {"/dev/shm", NULL /* g_get_tmp_dir() */};

struct fixture {
	char *dir;
	char *path;
	int fd;
};

static void fixture_setup(struct fixture *f, gconstpointer data)
{
	f->path = tmp_file_path(data, "libpinfs", &f->dir);
	f->fd = open(f->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	g_assert_cmpint(f->fd, >=, 0);
	g_assert_cmpint(ftruncate(f->fd, 8192), ==, 0);
}

static void fixture_teardown(struct fixture *f, gconstpointer data)
{
	(void)data;
	close(f->fd);
	tmp_file_remove(f->dir, f->path);
}

/* Every call on a file that is not on FUSE fails with ENOTTY. */
static void test_not_pinfs(struct fixture *f, gconstpointer data)
{
	struct pinfs_version v = {.abi_version = 77};
	struct pinfs_lease_status st = {.state = 77};
	uint64_t id = 77;

	(void)data;
	assert_errno(pinfs_probe(f->fd, &v), ENOTTY);
	g_assert_cmpuint(v.abi_version, ==, 77); /* not written on failure */
	assert_errno(pinfs_probe(f->fd, NULL), ENOTTY);
	assert_errno(pinfs_setlease(f->fd, PINFS_LEASE_READ, 0, 0, PINFS_LEN_EOF),
		     ENOTTY);
	assert_errno(
	    pinfs_setlease(f->fd, PINFS_LEASE_WRITE, PINFS_LEASE_EXCLUSIVE, 0, 4096),
	    ENOTTY);
	assert_errno(pinfs_release(f->fd), ENOTTY);
	assert_errno(pinfs_getlease(f->fd, &st), ENOTTY);
	g_assert_cmpuint(st.state, ==, 77);
	assert_errno(pinfs_setsig(f->fd, SIGRTMIN), ENOTTY);
	assert_errno(pinfs_pin(f->fd, 0, 4096, &id), ENOTTY);
	g_assert_cmpuint(id, ==, 77);
	assert_errno(pinfs_unpin(f->fd, 1), ENOTTY);
	assert_errno(pinfs_noop(f->fd), ENOTTY);

	/* Nor is a directory, a pipe or /dev/null. */
	int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int p[2];

	g_assert_cmpint(dfd, >=, 0);
	assert_errno(pinfs_probe(dfd, NULL), ENOTTY);
	assert_errno(pinfs_noop(dfd), ENOTTY);
	close(dfd);
	g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
	assert_errno(pinfs_probe(p[0], NULL), ENOTTY);
	assert_errno(pinfs_getlease(p[1], &st), ENOTTY);
	close(p[0]);
	close(p[1]);
	dfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	g_assert_cmpint(dfd, >=, 0);
	assert_errno(pinfs_setlease(dfd, PINFS_LEASE_READ, 0, 0, 0), ENOTTY);
	close(dfd);
}

/* A descriptor that is not open: EBADF, as from the kernel. */
static void test_bad_fd(void)
{
	struct pinfs_lease_status st;
	uint64_t id;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	close(fd); /* now surely not open */
	assert_errno(pinfs_probe(fd, NULL), EBADF);
	assert_errno(pinfs_probe(-1, NULL), EBADF);
	assert_errno(pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, 0), EBADF);
	assert_errno(pinfs_release(-1), EBADF);
	assert_errno(pinfs_getlease(fd, &st), EBADF);
	assert_errno(pinfs_setsig(fd, 0), EBADF);
	assert_errno(pinfs_pin(fd, 0, 1, &id), EBADF);
	assert_errno(pinfs_unpin(fd, 1), EBADF);
	assert_errno(pinfs_noop(fd), EBADF);
}

/*
 * Bad arguments are refused before any system call: the same errno on any
 * descriptor, even one that is not open.
 */
static void test_arguments(struct fixture *f, gconstpointer data)
{
	const int fds[] = {f->fd, -1};
	uint64_t id;

	(void)data;
	for (size_t i = 0; i < G_N_ELEMENTS(fds); i++) {
		int fd = fds[i];

		/* lease type: only READ, WRITE, UNLOCK */
		assert_errno(pinfs_setlease(fd, 3, 0, 0, 0), EINVAL);
		assert_errno(pinfs_setlease(fd, -1, 0, 0, 0), EINVAL);
		assert_errno(pinfs_setlease(fd, F_LAYOUT, 0, 0, 0), EINVAL);
		/* flags: only EXCLUSIVE, and IF_HELD with UNLOCK */
		assert_errno(pinfs_setlease(fd, PINFS_LEASE_READ, 2, 0, 0), EINVAL);
		assert_errno(pinfs_setlease(fd, PINFS_LEASE_READ, 4, 0, 0), EINVAL);
		assert_errno(pinfs_setlease(fd, PINFS_LEASE_READ, ~0u, 0, 0), EINVAL);
		/* the range must fit a signed 64-bit offset */
		assert_errno(
		    pinfs_setlease(fd, PINFS_LEASE_READ, 0, (uint64_t)INT64_MAX + 1, 0),
		    EOVERFLOW);
		assert_errno(
		    pinfs_setlease(fd, PINFS_LEASE_READ, 0, 1, (uint64_t)INT64_MAX),
		    EOVERFLOW);
		assert_errno(pinfs_setlease(fd, PINFS_LEASE_WRITE, 0, 4096, UINT64_MAX),
			     EOVERFLOW);
		/* status goes somewhere */
		assert_errno(pinfs_getlease(fd, NULL), EINVAL);
		/* signals: 0 .. SIGRTMAX */
		assert_errno(pinfs_setsig(fd, -1), EINVAL);
		assert_errno(pinfs_setsig(fd, SIGRTMAX + 1), EINVAL);
		assert_errno(pinfs_setsig(fd, 1000), EINVAL);
		/* pins: non-empty, in range, with somewhere to put the id */
		assert_errno(pinfs_pin(fd, 0, 0, &id), EINVAL);
		assert_errno(pinfs_pin(fd, 0, 4096, NULL), EINVAL);
		assert_errno(pinfs_pin(fd, (uint64_t)INT64_MAX + 1, 1, &id), EOVERFLOW);
		assert_errno(pinfs_pin(fd, 4096, (uint64_t)INT64_MAX, &id), EOVERFLOW);
	}

	/* The edges that are valid get past the checks to the file: ENOTTY. */
	assert_errno(pinfs_setlease(f->fd, PINFS_LEASE_READ, 0, INT64_MAX, 0), ENOTTY);
	assert_errno(
	    pinfs_setlease(f->fd, PINFS_LEASE_READ, 0, 1, (uint64_t)INT64_MAX - 1),
	    ENOTTY);
	assert_errno(
	    pinfs_setlease(f->fd, PINFS_LEASE_UNLOCK, PINFS_LEASE_EXCLUSIVE, 0, 0),
	    ENOTTY);
	assert_errno(pinfs_setlease(f->fd, PINFS_LEASE_UNLOCK, PINFS_LEASE_IF_HELD, 0, 0),
		     ENOTTY);
	assert_errno(pinfs_setsig(f->fd, 0), ENOTTY);
	assert_errno(pinfs_setsig(f->fd, SIGRTMAX), ENOTTY);
	assert_errno(pinfs_pin(f->fd, (uint64_t)INT64_MAX - 1, 1, &id), ENOTTY);
}

static void test_strings(void)
{
	g_assert_cmpstr(pinfs_state_str(PINFS_STATE_NONE), ==, "none");
	g_assert_cmpstr(pinfs_state_str(PINFS_STATE_ACTIVE), ==, "active");
	g_assert_cmpstr(pinfs_state_str(PINFS_STATE_BREAKING), ==, "breaking");
	g_assert_cmpstr(pinfs_state_str(PINFS_STATE_REVOKED), ==, "revoked");
	g_assert_cmpstr(pinfs_state_str(4), ==, "unknown");
	g_assert_cmpstr(pinfs_state_str(~0u), ==, "unknown");

	g_assert_cmpstr(pinfs_end_reason_str(PINFS_END_NONE), ==, "none");
	g_assert_cmpstr(pinfs_end_reason_str(PINFS_END_RELEASED), ==, "released");
	g_assert_cmpstr(pinfs_end_reason_str(PINFS_END_CLOSED), ==, "closed");
	g_assert_cmpstr(pinfs_end_reason_str(PINFS_END_REVOKED_TIMEOUT), ==,
			"revoked-timeout");
	g_assert_cmpstr(pinfs_end_reason_str(PINFS_END_REVOKED_ADMIN), ==,
			"revoked-admin");
	g_assert_cmpstr(pinfs_end_reason_str(5), ==, "unknown");
}

/* The lease types are the fcntl ones, so the shim can pass them on. */
static void test_abi_constants(void)
{
	g_assert_cmpint(PINFS_LEASE_READ, ==, F_RDLCK);
	g_assert_cmpint(PINFS_LEASE_WRITE, ==, F_WRLCK);
	g_assert_cmpint(PINFS_LEASE_UNLOCK, ==, F_UNLCK);
	g_assert_cmpint(F_LAYOUT & (F_RDLCK | F_WRLCK | F_UNLCK), ==, 0);
	g_assert_cmpint(F_EXCLUSIVE & (F_LAYOUT | F_RDLCK | F_WRLCK | F_UNLCK), ==, 0);
}

/*
 * libpinfs.so exports the calls at PINFS_1.0 (PINFS_1.1: the staging
 * windows) and nothing else; pinfs_noop is PINFS_PRIVATE, not stable.
 */
static void test_symbols(void)
{
	static const char *const calls[] = {
	    "pinfs_probe",    "pinfs_setlease",	 "pinfs_release",
	    "pinfs_getlease", "pinfs_setsig",	 "pinfs_pin",
	    "pinfs_unpin",    "pinfs_state_str", "pinfs_end_reason_str",
	};
	static const char *const calls_1_1[] = {
	    "pinfs_window_map",
	    "pinfs_window_sync",
	    "pinfs_window_unmap",
	};
	const char *so = g_getenv("LIBPINFS_SO");
	void *h;

	if (!so) {
		g_test_skip("LIBPINFS_SO is not set");
		return;
	}
	h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	g_assert_nonnull(h);
	for (size_t i = 0; i < G_N_ELEMENTS(calls); i++) {
		void *s = dlvsym(h, calls[i], "PINFS_1.0");

		g_assert_nonnull(s);
		g_assert_true(s == dlsym(h, calls[i]));
	}
	for (size_t i = 0; i < G_N_ELEMENTS(calls_1_1); i++) {
		void *s = dlvsym(h, calls_1_1[i], "PINFS_1.1");

		g_assert_nonnull(s);
		g_assert_true(s == dlsym(h, calls_1_1[i]));
		g_assert_null(dlvsym(h, calls_1_1[i], "PINFS_1.0"));
	}
	g_assert_nonnull(dlvsym(h, "pinfs_noop", "PINFS_PRIVATE"));
	g_assert_null(dlvsym(h, "pinfs_noop", "PINFS_1.0"));
	/* Internal helpers stay internal. */
	g_assert_null(dlsym(h, "on_fuse"));
	g_assert_null(dlsym(h, "pinfs_ioctl"));
	g_assert_null(dlsym(h, "range_ok"));
	dlclose(h);
}

/* The shim exports fcntl and fcntl64 only: its libpinfs copy is local. */
static void test_preload_symbols(void)
{
	const char *so = g_getenv("PINFS_PRELOAD");
	void *h;

	if (!so) {
		g_test_skip("PINFS_PRELOAD is not set");
		return;
	}
	h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	g_assert_nonnull(h);
	g_assert_nonnull(dlsym(h, "fcntl"));
	g_assert_nonnull(dlsym(h, "fcntl64"));
	g_assert_true(dlsym(h, "fcntl") != dlsym(RTLD_NEXT, "fcntl"));
	g_assert_null(dlsym(h, "pinfs_setlease"));
	g_assert_null(dlsym(h, "pinfs_getlease"));
	g_assert_null(dlsym(h, "pinfs_probe"));
	dlclose(h);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++) {
		const char *d = dirs[i] ? dirs[i] : g_get_tmp_dir();
		g_autofree char *a = g_strdup_printf("/libpinfs/not-pinfs%s", d);
		g_autofree char *b = g_strdup_printf("/libpinfs/arguments%s", d);

		if (!g_file_test(d, G_FILE_TEST_IS_DIR))
			continue;
		g_test_add(a, struct fixture, d, fixture_setup, test_not_pinfs,
			   fixture_teardown);
		g_test_add(b, struct fixture, d, fixture_setup, test_arguments,
			   fixture_teardown);
	}
	g_test_add_func("/libpinfs/bad-fd", test_bad_fd);
	g_test_add_func("/libpinfs/strings", test_strings);
	g_test_add_func("/libpinfs/abi-constants", test_abi_constants);
	g_test_add_func("/libpinfs/symbols", test_symbols);
	g_test_add_func("/libpinfs/preload-symbols", test_preload_symbols);
	return g_test_run();
}
