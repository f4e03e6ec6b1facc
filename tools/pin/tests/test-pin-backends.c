// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-pin-backends: the pinning library (tools/pin/pin.h) on its own.
 *
 * Each backend that this machine has pins a MAP_SHARED mapping of a tmpfs
 * file, of a file on a disk file system, and anonymous memory; plays device
 * writes at once and delayed; and the bytes must then be in the file
 * (pread), not only in the mapping.  Backends this machine lacks must say
 * so with PIN_ERROR_UNAVAILABLE and a message that names the reason.
 *
 * On the build host (Linux 6.18, no modules, no RDMA): kmod and rdma are
 * unavailable, io_uring registration of the disk file's mapping fails with
 * EFAULT.  In the tests/vm guest (6.1, pinfs_dma loaded, --rxe) all four
 * backends run everything:
 *
 *   tests/vm/run --rxe --ko build/kernel/pinfs_dma.ko \
 *       build/tools/pin/test-pin-backends --tap
 *
 * Environment: PINFS_TEST_TMPFS_DIR (default /dev/shm) and
 * PINFS_TEST_FILE_DIR (default /var/tmp; must not be tmpfs, else those
 * tests skip).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "pin.h"

#define LEN (16 * 4096)

/* A file of LEN zero bytes in dir, mapped MAP_SHARED. */
struct mapped {
	char *path;
	int fd;
	uint8_t *map;
};

static const char *tmpfs_dir(void)
{
	const char *d = g_getenv("PINFS_TEST_TMPFS_DIR");

	return d ? d : "/dev/shm";
}

static const char *file_dir(void)
{
	const char *d = g_getenv("PINFS_TEST_FILE_DIR");

	return d ? d : "/var/tmp";
}

static gboolean is_tmpfs(const char *dir)
{
	struct statfs sf;

	g_assert_no_errno(statfs(dir, &sf));
	return sf.f_type == TMPFS_MAGIC;
}

static void map_file(struct mapped *m, const char *dir)
{
	m->path = g_build_filename(dir, "pinfs-pin-test.XXXXXX", NULL);
	m->fd = g_mkstemp(m->path);
	g_assert_cmpint(m->fd, >=, 0);
	g_assert_no_errno(ftruncate(m->fd, LEN));
	m->map = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	g_assert_true(m->map != MAP_FAILED);
}

static void map_anon(struct mapped *m)
{
	m->path = NULL;
	m->fd = -1;
	m->map =
	    mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g_assert_true(m->map != MAP_FAILED);
}

static void unmap(struct mapped *m)
{
	munmap(m->map, LEN);
	if (m->fd >= 0) {
		close(m->fd);
		g_unlink(m->path);
	}
	g_free(m->path);
}

/* Count bytes of buf[off, off+len) that are not b. */
static size_t count_not(const uint8_t *buf, size_t off, size_t len, uint8_t b)
{
	size_t n = 0;

	for (size_t i = off; i < off + len; i++)
		n += buf[i] != b;
	return n;
}

/* The bytes of the file (pread, not the mapping), or of the mapping for anon. */
static uint8_t *file_bytes(struct mapped *m)
{
	uint8_t *buf = g_malloc(LEN);

	if (m->fd < 0) {
		memcpy(buf, m->map, LEN);
		return buf;
	}
	g_assert_cmpint(pread(m->fd, buf, LEN, 0), ==, LEN);
	return buf;
}

/*
 * Pin [100, LEN-100) of m (unaligned), an immediate write of 0xa5 over
 * [0, 5000) of the region, a delayed write of 0x3c over the rest; check the
 * counts, the device's view, and the file.
 */
static void cycle(struct pin_backend *be, struct mapped *m)
{
	g_autoptr(GError) err = NULL;
	g_autofree uint8_t *bytes = NULL;
	const size_t base = 100, len = LEN - 200, split = 5000;
	struct pin_region *r;
	uint64_t done, pending, bad;
	int64_t first;

	r = pin_region(be, m->map + base, len, 0, &err);
	g_assert_no_error(err);
	g_assert_nonnull(r);

	/* Out of range: refused, nothing written. */
	g_assert_false(pin_dma_write(r, len - 10, 11, 0x11, 0, &err));
	g_assert_error(err, PIN_ERROR, PIN_ERROR_INVAL);
	g_clear_error(&err);

	g_assert_true(pin_dma_write(r, 0, split, 0xa5, 0, &err));
	g_assert_no_error(err);
	/* Immediate: it has landed when the call returns. */
	g_assert_cmpuint(count_not(m->map, base, split, 0xa5), ==, 0);
	g_assert_cmpuint(m->map[base - 1], ==, 0);

	g_assert_true(pin_dma_write(r, split, len - split, 0x3c, 50, &err));
	g_assert_no_error(err);
	g_assert_true(pin_dma_wait(r, &err));
	g_assert_no_error(err);
	pin_dma_counts(r, &done, &pending);
	g_assert_cmpuint(done, ==, 2);
	g_assert_cmpuint(pending, ==, 0);

	g_assert_true(pin_dma_verify(r, split, len - split, 0x3c, &bad, &first, &err));
	g_assert_no_error(err);
	g_assert_cmpuint(bad, ==, 0);
	g_assert_cmpint(first, ==, -1);
	g_assert_true(pin_dma_verify(r, 0, len, 0xa5, &bad, &first, &err));
	g_assert_cmpuint(bad, ==, len - split);
	g_assert_cmpint(first, ==, (int64_t)split);

	/* A write queued far ahead: release lets it land at once. */
	g_assert_true(pin_dma_write(r, 0, 10, 0x77, 30000, &err));
	g_assert_no_error(err);
	pin_dma_counts(r, &done, &pending);
	g_assert_cmpuint(pending, ==, 1);
	g_assert_true(pin_release(r, &err));
	g_assert_no_error(err);
	g_assert_cmpuint(count_not(m->map, base, 10, 0x77), ==, 0);

	/* The device's bytes are the file's: read them with pread. */
	bytes = file_bytes(m);
	g_assert_cmpuint(count_not(bytes, 0, base, 0), ==, 0);
	g_assert_cmpuint(count_not(bytes, base, 10, 0x77), ==, 0);
	g_assert_cmpuint(count_not(bytes, base + 10, split - 10, 0xa5), ==, 0);
	g_assert_cmpuint(count_not(bytes, base + split, len - split, 0x3c), ==, 0);
	g_assert_cmpuint(count_not(bytes, base + len, 100, 0), ==, 0);
}

/* Linux >= 6.5 refuses long-term pins of dirty-tracked shared file mappings. */
static gboolean kernel_refuses_file_longterm(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	g_assert_no_errno(uname(&u));
	sscanf(u.release, "%d.%d", &major, &minor);
	return major > 6 || (major == 6 && minor >= 5);
}

/* Open a backend, or skip the test with the reason it is unavailable. */
static struct pin_backend *open_or_skip(const char *name)
{
	g_autoptr(GError) err = NULL;
	struct pin_backend *be = pin_backend_open(name, &err);

	if (!be) {
		g_assert_error(err, PIN_ERROR, PIN_ERROR_UNAVAILABLE);
		g_test_skip(err->message);
	}
	return be;
}

static void test_backend(gconstpointer data)
{
	g_auto(GStrv) parts = g_strsplit(data, "/", 2);
	const char *name = parts[0], *where = parts[1];
	struct pin_backend *be = open_or_skip(name);
	g_autoptr(GError) err = NULL;
	struct mapped m;

	if (!be)
		return;
	g_assert_cmpstr(pin_backend_name(be), ==, name);
	g_assert_true(pin_backend_is_dma(be) == (strcmp(name, "mlock") != 0));
	if (!strcmp(where, "anon")) {
		map_anon(&m);
	} else if (!strcmp(where, "tmpfs")) {
		if (!is_tmpfs(tmpfs_dir())) {
			g_test_skip("PINFS_TEST_TMPFS_DIR is not tmpfs");
			goto out;
		}
		map_file(&m, tmpfs_dir());
	} else {
		if (is_tmpfs(file_dir())) {
			g_test_skip(
			    "PINFS_TEST_FILE_DIR is tmpfs, want a disk file system");
			goto out;
		}
		map_file(&m, file_dir());
		if (!strcmp(name, "iouring")) {
			/* Refused on every kernel, and the message says why:
			 * io_uring's own EOPNOTSUPP before 6.5, GUP's EFAULT
			 * after. */
			g_assert_null(pin_region(be, m.map, LEN, 0, &err));
			g_assert_error(err, PIN_ERROR, PIN_ERROR_REFUSED);
			g_assert_nonnull(
			    strstr(err->message, kernel_refuses_file_longterm()
						     ? "(EFAULT)"
						     : "(EOPNOTSUPP)"));
			g_assert_nonnull(strstr(err->message, "6.5"));
			g_assert_nonnull(strstr(err->message, "MAP_SHARED"));
			g_assert_nonnull(strstr(err->message, "FUSE"));
			unmap(&m);
			goto out;
		}
		if (kernel_refuses_file_longterm() && pin_backend_is_dma(be)) {
			/* kmod and rdma pin FOLL_LONGTERM too: GUP's EFAULT. */
			g_assert_null(pin_region(be, m.map, LEN, 0, &err));
			g_assert_error(err, PIN_ERROR, PIN_ERROR_REFUSED);
			unmap(&m);
			goto out;
		}
	}
	cycle(be, &m);
	unmap(&m);
out:
	pin_backend_close(be);
}

/* kmod: available exactly when /dev/pinfs_dma exists. */
static void test_detect_kmod(void)
{
	g_autoptr(GError) err = NULL;
	struct pin_backend *be = pin_backend_open("kmod", &err);

	if (g_file_test("/dev/pinfs_dma", G_FILE_TEST_EXISTS)) {
		g_assert_no_error(err);
		g_assert_true(pin_backend_is_dma(be));
		pin_backend_close(be);
		return;
	}
	g_assert_null(be);
	g_assert_error(err, PIN_ERROR, PIN_ERROR_UNAVAILABLE);
	g_assert_nonnull(strstr(err->message, "pinfs_dma module is not loaded"));
}

/* rdma: available exactly when the kernel lists an RDMA device. */
static void test_detect_rdma(void)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GDir) dir = g_dir_open("/sys/class/infiniband", 0, NULL);
	gboolean have = dir && g_dir_read_name(dir);
	struct pin_backend *be = pin_backend_open("rdma", &err);

	if (have) {
		g_assert_no_error(err);
		g_assert_nonnull(strstr(pin_backend_describe(be), "loopback RC"));
		pin_backend_close(be);
	} else {
		g_assert_null(be);
		g_assert_error(err, PIN_ERROR, PIN_ERROR_UNAVAILABLE);
		g_assert_nonnull(strstr(err->message, "no RDMA device found"));
	}
	/* A device name that does not exist is never found. */
	g_clear_error(&err);
	g_assert_null(pin_backend_open("rdma:no-such-device", &err));
	g_assert_error(err, PIN_ERROR, PIN_ERROR_UNAVAILABLE);
}

/* auto never picks mlock; its error lists every DMA backend's reason. */
static void test_auto(void)
{
	g_autoptr(GError) err = NULL;
	struct pin_backend *be = pin_backend_open("auto", &err);

	if (be) {
		g_assert_true(pin_backend_is_dma(be));
		pin_backend_close(be);
		return;
	}
	g_assert_error(err, PIN_ERROR, PIN_ERROR_UNAVAILABLE);
	g_assert_nonnull(strstr(err->message, "kmod:"));
	g_assert_nonnull(strstr(err->message, "rdma:"));
	g_assert_nonnull(strstr(err->message, "iouring:"));
}

static void test_bad_args(void)
{
	g_autoptr(GError) err = NULL;
	struct pin_backend *be;
	struct mapped m;

	g_assert_null(pin_backend_open("nosuch", &err));
	g_assert_error(err, PIN_ERROR, PIN_ERROR_INVAL);
	g_clear_error(&err);
	g_assert_null(pin_backend_open("mlock:arg", &err));
	g_assert_error(err, PIN_ERROR, PIN_ERROR_INVAL);
	g_clear_error(&err);

	be = pin_backend_open("mlock", &err);
	g_assert_no_error(err);
	g_assert_false(pin_backend_is_dma(be));
	g_assert_nonnull(strstr(pin_backend_describe(be), "NOT a DMA pin"));
	map_anon(&m);
	g_assert_null(pin_region(be, m.map, 0, 0, &err));
	g_assert_error(err, PIN_ERROR, PIN_ERROR_INVAL);
	g_clear_error(&err);
	g_assert_null(pin_region(be, m.map, LEN, 1, &err));
	g_assert_error(err, PIN_ERROR, PIN_ERROR_INVAL);
	g_clear_error(&err);
	unmap(&m);
	pin_backend_close(be);
}

int main(int argc, char **argv)
{
	static const char *const cases[] = {
	    "mlock/anon",    "mlock/tmpfs",  "mlock/file", "iouring/anon",
	    "iouring/tmpfs", "iouring/file", "kmod/anon",  "kmod/tmpfs",
	    "kmod/file",     "rdma/anon",    "rdma/tmpfs", "rdma/file",
	};

	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/pin/bad-args", test_bad_args);
	g_test_add_func("/pin/detect/kmod", test_detect_kmod);
	g_test_add_func("/pin/detect/rdma", test_detect_rdma);
	g_test_add_func("/pin/detect/auto", test_auto);
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *path = g_strdup_printf("/pin/%s", cases[i]);

		g_test_add_data_func(path, cases[i], test_backend);
	}
	return g_test_run();
}
