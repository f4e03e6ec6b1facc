// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dma-test - tests of /dev/pinfs_dma (kernel/pinfs_dma.c), run in the QEMU
 * guest by tests/vm/dma-tests.sh, which sets PINFS_TEST_TMPFS_DIR,
 * PINFS_TEST_EXT4_DIR and PINFS_TEST_FUSE_DIR to a tmpfs, an ext4 (on a loop
 * device) and a pinfs (leases=off) directory; the tests of a directory that
 * is not set are skipped.  Needs the module loaded and root (the
 * RLIMIT_MEMLOCK test drops to uid 65534 in a child).  See docs/dma.md.
 *
 * Every test asserts bytes: what the device wrote is read back through the
 * file (and, on ext4, from the disk after dropping the cached pages) - or, in
 * the lost-write tests, is NOT in the file after a truncate orphaned the
 * pinned pages.  On Linux 6.5 and later, which refuse writable long-term pins
 * of ext4 and FUSE mappings, the tests assert that refusal and go on with
 * pins without FOLL_LONGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "pinfs_dma_abi.h"

static size_t page_size;

/* ---- thin ioctl wrappers: each returns 0 (or a handle) or -errno ---- */

static int dev_open(void)
{
	int fd = open(PINFS_DMA_DEVICE, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		g_error("open %s: %s (is pinfs_dma loaded?)", PINFS_DMA_DEVICE,
			g_strerror(errno));
	return fd;
}

static int dma_pin(int dev, const void *addr, size_t len, unsigned int flags,
		   unsigned int *npages)
{
	struct pinfs_dma_pin a = {
	    .size = sizeof(a), .flags = flags, .addr = (uintptr_t)addr, .len = len};

	if (ioctl(dev, PINFS_DMA_IOC_PIN, &a) < 0)
		return -errno;
	if (npages)
		*npages = a.npages;
	return a.handle;
}

static int dma_unpin(int dev, int handle, unsigned int flags, guint64 *cancelled)
{
	struct pinfs_dma_unpin a = {.size = sizeof(a), .handle = handle, .flags = flags};

	if (ioctl(dev, PINFS_DMA_IOC_UNPIN, &a) < 0)
		return -errno;
	if (cancelled)
		*cancelled = a.writes_cancelled;
	return 0;
}

static int dma_write(int dev, int handle, guint64 off, guint64 len, unsigned int mode,
		     unsigned int seed, unsigned int delay_ms)
{
	struct pinfs_dma_write a = {.size = sizeof(a),
				    .handle = handle,
				    .offset = off,
				    .len = len,
				    .mode = mode,
				    .seed = seed,
				    .delay_ms = delay_ms};

	return ioctl(dev, PINFS_DMA_IOC_WRITE, &a) < 0 ? -errno : 0;
}

/* Read [off, off+len) of a handle back, comparing with (mode, seed). */
static int dma_read(int dev, int handle, guint64 off, guint64 len, unsigned int mode,
		    unsigned int seed, struct pinfs_dma_read *a)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->handle = handle;
	a->offset = off;
	a->len = len;
	a->flags = PINFS_DMA_READ_COMPARE;
	a->mode = mode;
	a->seed = seed;
	return ioctl(dev, PINFS_DMA_IOC_READ, a) < 0 ? -errno : 0;
}

static int dma_info(int dev, int handle, struct pinfs_dma_info *a)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->handle = handle;
	return ioctl(dev, PINFS_DMA_IOC_INFO, a) < 0 ? -errno : 0;
}

/* QUERY through any fd on the superblock ('fd') and an inode number. */
static int dma_query(int dev, int fd, guint64 ino, guint64 off, guint64 len,
		     struct pinfs_dma_query *a)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->fd = fd;
	a->ino = ino;
	a->offset = off;
	a->len = len;
	return ioctl(dev, PINFS_DMA_IOC_QUERY, a) < 0 ? -errno : 0;
}

static unsigned int module_param(const char *name)
{
	g_autofree char *path =
	    g_strdup_printf("/sys/module/pinfs_dma/parameters/%s", name);
	g_autofree char *text = NULL;
	g_autoptr(GError) err = NULL;

	if (!g_file_get_contents(path, &text, NULL, &err))
		g_error("%s", err->message);
	return (unsigned int)g_ascii_strtoull(text, NULL, 10);
}

/* VmPin of this process (mm->pinned_vm), in kB. */
static long vm_pin_kb(void)
{
	g_autofree char *text = NULL;
	char *p;

	if (!g_file_get_contents("/proc/self/status", &text, NULL, NULL))
		return -1;
	p = strstr(text, "VmPin:");
	return p ? strtol(p + 6, NULL, 10) : -1;
}

/* ---- a MAP_SHARED mapping of a file ---- */

struct mapped {
	char *dir;
	char *path;
	int dirfd;
	int fd;
	guint8 *map;
	size_t len;
	guint64 ino;
};

/* The test directory named by environment variable 'env', or NULL (skip). */
static const char *test_dir(const char *env)
{
	const char *dir = g_getenv(env);

	if (!dir || !*dir) {
		g_test_skip(
		    g_strdup_printf("%s not set (see tests/vm/dma-tests.sh)", env));
		return NULL;
	}
	return dir;
}

/*
 * Does the kernel refuse a writable long-term pin of a MAP_SHARED mapping of
 * a file in the test directory named by 'env'?  From Linux 6.5 GUP refuses
 * it for every file that needs dirty tracking (ext4, FUSE); tmpfs is exempt.
 */
static gboolean refuses_longterm(const char *env)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (!strcmp(env, "PINFS_TEST_TMPFS_DIR"))
		return FALSE;
	g_assert_cmpint(uname(&u), ==, 0);
	g_assert_cmpint(sscanf(u.release, "%d.%d", &major, &minor), ==, 2);
	return major > 6 || (major == 6 && minor >= 5);
}

/*
 * Pin like an RDMA driver (write, long-term).  Where the kernel refuses that
 * (refuses_longterm), assert that it does, with EFAULT, and pin without
 * FOLL_LONGTERM instead, which every kernel allows: the device model is the
 * same, only GUP's check differs.
 */
static int dma_pin_rw(int dev, const void *addr, size_t len, const char *env,
		      unsigned int *npages)
{
	if (refuses_longterm(env)) {
		g_assert_cmpint(dma_pin(dev, addr, len,
					PINFS_DMA_PIN_WRITE | PINFS_DMA_PIN_LONGTERM,
					NULL),
				==, -EFAULT);
		return dma_pin(dev, addr, len, PINFS_DMA_PIN_WRITE, npages);
	}
	return dma_pin(dev, addr, len, PINFS_DMA_PIN_WRITE | PINFS_DMA_PIN_LONGTERM,
		       npages);
}

static void mapped_create(struct mapped *m, const char *dir, const char *name, size_t len)
{
	struct stat st;

	m->dir = g_strdup(dir);
	m->path = g_build_filename(dir, name, NULL);
	m->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	g_assert_cmpint(m->dirfd, >=, 0);
	m->fd = open(m->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	g_assert_cmpint(m->fd, >=, 0);
	g_assert_cmpint(ftruncate(m->fd, len), ==, 0);
	m->len = len;
	m->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	g_assert_true(m->map != MAP_FAILED);
	g_assert_cmpint(fstat(m->fd, &st), ==, 0);
	m->ino = st.st_ino;
}

static void mapped_destroy(struct mapped *m)
{
	munmap(m->map, m->len);
	close(m->fd);
	close(m->dirfd);
	unlink(m->path);
	g_free(m->path);
	g_free(m->dir);
}

/* Read the whole file with pread() (not through the mapping). */
static guint8 *file_contents(struct mapped *m, size_t len)
{
	guint8 *buf = g_malloc0(len);
	ssize_t n = pread(m->fd, buf, len, 0);

	g_assert_cmpint(n, ==, (ssize_t)len);
	return buf;
}

/*
 * Count the bytes of buf[from, from + len) that hold the pattern (mode,
 * seed) of a device write at handle offset (i - pin_off).
 */
static size_t count_pattern(const guint8 *buf, size_t from, size_t len, size_t pin_off,
			    unsigned int mode, unsigned int seed)
{
	size_t i, n = 0;

	for (i = from; i < from + len; i++)
		n += buf[i] == pinfs_dma_pattern_byte(mode, seed, i - pin_off);
	return n;
}

static size_t count_zero(const guint8 *buf, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += buf[i] == 0;
	return n;
}

/* Poll INFO until 'want' writes have landed; bounded, never a timing assert. */
static void wait_writes_done(int dev, int h, guint64 want)
{
	struct pinfs_dma_info info;
	int i;

	for (i = 0; i < 3000; i++) {
		g_assert_cmpint(dma_info(dev, h, &info), ==, 0);
		if (info.writes_done >= want)
			return;
		g_usleep(10000);
	}
	g_error("delayed write did not land in 30 s");
}

/* ---- tests ---- */

/*
 * Pin a mapping at an unaligned address, query, DMA-write, read back through
 * the device, through the mapping, through the file and (ext4) from disk;
 * delayed writes: flushed by UNPIN, landed by the workqueue, cancelled by
 * UNPIN_CANCEL.  The queries see the pins while they exist and not after.
 */
static void test_write_read(gconstpointer data)
{
	const char *dir = test_dir(data);
	const size_t len = 16 * page_size, pin_off = 100, pin_len = len - 300;
	struct pinfs_dma_query q;
	struct pinfs_dma_read r;
	struct pinfs_dma_info info;
	struct mapped m;
	unsigned int npages = 0;
	guint64 cancelled = 0;
	int dev, h, h2, opath;
	g_autofree guint8 *buf = NULL;
	g_autofree char *pins = NULL;
	g_autofree char *pid = NULL;

	if (!dir)
		return;
	dev = dev_open();
	mapped_create(&m, dir, "write-read", len);

	h = dma_pin_rw(dev, m.map + pin_off, pin_len, data, &npages);
	g_assert_cmpint(h, >, 0);
	g_assert_cmpuint(npages, ==, 16);
	g_assert_cmpint(dma_info(dev, h, &info), ==, 0);
	g_assert_cmpuint(info.addr, ==, (uintptr_t)(m.map + pin_off));
	g_assert_cmpuint(info.len, ==, pin_len);

	/* Every page of the file is pinned: by inode number, and by fd. */
	g_assert_cmpint(dma_query(dev, m.dirfd, m.ino, 0, 0, &q), ==, 0);
	g_assert_cmpuint(q.cached, ==, 16);
	g_assert_cmpuint(q.pinned, ==, 16);
	g_assert_cmpuint(q.first_pinned, ==, 0);
	g_assert_cmpuint(q.i_size, ==, len);
	opath = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	g_assert_cmpint(opath, >=, 0);
	g_assert_cmpint(dma_query(dev, opath, m.ino, page_size, 2 * page_size, &q), ==,
			0);
	g_assert_cmpuint(q.pinned, ==, 2);
	close(opath);
	g_assert_cmpint(dma_query(dev, m.fd, 0, 3 * page_size + 1, page_size, &q), ==, 0);
	g_assert_cmpuint(q.pinned, ==, 2);
	g_assert_cmpuint(q.first_pinned, ==, 3 * page_size);

	/* debugfs names the pin: our pid and the file. */
	g_assert_true(
	    g_file_get_contents("/sys/kernel/debug/pinfs_dma/pins", &pins, NULL, NULL));
	pid = g_strdup_printf(" %d ", getpid());
	g_assert_nonnull(strstr(pins, pid));
	g_assert_nonnull(strstr(pins, m.path));

	/* An immediate write: in the device's view, the mapping and the file. */
	g_assert_cmpint(dma_write(dev, h, 0, pin_len, PINFS_DMA_MODE_MIX, 7, 0), ==, 0);
	g_assert_cmpint(dma_read(dev, h, 0, pin_len, PINFS_DMA_MODE_MIX, 7, &r), ==, 0);
	g_assert_cmpuint(r.mismatches, ==, 0);
	g_assert_cmpuint(r.first_mismatch, ==, ~0ULL);
	g_assert_cmpuint(r.data[5], ==, pinfs_dma_pattern_byte(PINFS_DMA_MODE_MIX, 7, 5));
	g_assert_cmpuint(r.hash, ==,
			 pinfs_dma_fnv1a(PINFS_DMA_FNV1A_INIT, m.map + pin_off, pin_len));
	g_assert_cmpuint(
	    count_pattern(m.map, pin_off, pin_len, pin_off, PINFS_DMA_MODE_MIX, 7), ==,
	    pin_len);
	buf = file_contents(&m, len);
	g_assert_cmpuint(
	    count_pattern(buf, pin_off, pin_len, pin_off, PINFS_DMA_MODE_MIX, 7), ==,
	    pin_len);
	g_assert_cmpuint(count_zero(buf, pin_off), ==, pin_off);
	g_clear_pointer(&buf, g_free);

	/* A write that lands later, from the workqueue. */
	g_assert_cmpint(dma_write(dev, h, 0, page_size, PINFS_DMA_MODE_FILL, 0x11, 50),
			==, 0);
	wait_writes_done(dev, h, 2);
	g_assert_cmpint(dma_read(dev, h, 0, page_size, PINFS_DMA_MODE_FILL, 0x11, &r), ==,
			0);
	g_assert_cmpuint(r.mismatches, ==, 0);

	/* A second pin of the same pages; a far-off write UNPIN flushes. */
	h2 = dma_pin(dev, m.map, page_size, PINFS_DMA_PIN_WRITE, NULL);
	g_assert_cmpint(h2, >, 0);
	g_assert_cmpint(
	    dma_write(dev, h2, 0, 64, PINFS_DMA_MODE_FILL, 0x22, PINFS_DMA_MAX_DELAY_MS),
	    ==, 0);
	g_assert_cmpint(dma_info(dev, h2, &info), ==, 0);
	g_assert_cmpuint(info.writes_pending, ==, 1);
	g_assert_cmpint(dma_unpin(dev, h2, 0, &cancelled), ==, 0);
	g_assert_cmpuint(cancelled, ==, 0);
	g_assert_cmpuint(count_pattern(m.map, 0, 64, 0, PINFS_DMA_MODE_FILL, 0x22), ==,
			 64);

	/* ... and one UNPIN_CANCEL drops: its bytes never land. */
	g_assert_cmpint(dma_write(dev, h, page_size, 64, PINFS_DMA_MODE_FILL, 0x33,
				  PINFS_DMA_MAX_DELAY_MS),
			==, 0);
	g_assert_cmpint(dma_unpin(dev, h, PINFS_DMA_UNPIN_CANCEL, &cancelled), ==, 0);
	g_assert_cmpuint(cancelled, ==, 1);
	g_assert_cmpuint(
	    count_pattern(m.map, pin_off + page_size, 64, pin_off, PINFS_DMA_MODE_MIX, 7),
	    ==, 64);

	/* Unpinned: the query sees nothing pinned, the pages still cached. */
	g_assert_cmpint(dma_query(dev, m.dirfd, m.ino, 0, 0, &q), ==, 0);
	g_assert_cmpuint(q.pinned, ==, 0);
	g_assert_cmpuint(q.first_pinned, ==, ~0ULL);
	g_assert_cmpuint(q.cached, ==, 16);

	/* The bytes reach the file itself: write back, drop the cache, reread. */
	g_assert_cmpint(fsync(m.fd), ==, 0);
	g_assert_cmpint(posix_fadvise(m.fd, 0, 0, POSIX_FADV_DONTNEED), ==, 0);
	buf = file_contents(&m, len);
	g_assert_cmpuint(count_pattern(buf, 0, 64, 0, PINFS_DMA_MODE_FILL, 0x22), ==, 64);
	g_assert_cmpuint(count_zero(buf + 64, pin_off - 64), ==, pin_off - 64);
	g_assert_cmpuint(
	    count_pattern(buf, pin_off, page_size, pin_off, PINFS_DMA_MODE_FILL, 0x11),
	    ==, page_size);
	g_assert_cmpuint(count_pattern(buf, pin_off + page_size, pin_len - page_size,
				       pin_off, PINFS_DMA_MODE_MIX, 7),
			 ==, pin_len - page_size);
	g_assert_cmpuint(count_zero(buf + pin_off + pin_len, len - pin_off - pin_len), ==,
			 len - pin_off - pin_len);

	mapped_destroy(&m);
	close(dev);
}

/*
 * The bug pinfs exists for, on a plain directory: map, pin, truncate to zero
 * and extend again, device write, unpin.  The device wrote into pages the
 * truncate took out of the file: its bytes are not in the file.
 */
static void test_lost_write(gconstpointer data)
{
	const char *dir = test_dir(data);
	const size_t len = 8 * page_size;
	struct pinfs_dma_query q;
	struct pinfs_dma_read r;
	struct mapped m;
	int dev, h;
	g_autofree guint8 *buf = NULL;

	if (!dir)
		return;
	dev = dev_open();
	mapped_create(&m, dir, "lost-write", len);
	memset(m.map, 0x5a, len); /* the application's own bytes */

	h = dma_pin_rw(dev, m.map, len, data, NULL);
	g_assert_cmpint(h, >, 0);
	g_assert_cmpint(dma_query(dev, m.dirfd, m.ino, 0, 0, &q), ==, 0);
	g_assert_cmpuint(q.pinned, ==, 8);

	/* Someone else truncates the file to zero and extends it again. */
	g_assert_cmpint(ftruncate(m.fd, 0), ==, 0);
	g_assert_cmpint(ftruncate(m.fd, len), ==, 0);
	g_assert_cmpint(dma_query(dev, m.dirfd, m.ino, 0, 0, &q), ==, 0);
	g_test_message("after truncate: %" G_GUINT64_FORMAT " cached, %" G_GUINT64_FORMAT
		       " pinned",
		       (guint64)q.cached, (guint64)q.pinned);
	g_assert_cmpuint(q.pinned, ==, 0); /* the pinned pages left the file */

	/* The device writes into the pages it pinned, and sees its bytes. */
	g_assert_cmpint(dma_write(dev, h, 0, len, PINFS_DMA_MODE_MIX, 99, 0), ==, 0);
	g_assert_cmpint(dma_read(dev, h, 0, len, PINFS_DMA_MODE_MIX, 99, &r), ==, 0);
	g_assert_cmpuint(r.mismatches, ==, 0);
	g_assert_cmpint(dma_unpin(dev, h, 0, NULL), ==, 0);

	/* Lost: the file and the mapping hold zeros, not a byte of the device's. */
	g_assert_cmpint(fsync(m.fd), ==, 0);
	buf = file_contents(&m, len);
	g_assert_cmpuint(count_zero(buf, len), ==, len);
	g_assert_cmpuint(count_zero(m.map, len), ==, len);
	g_clear_pointer(&buf, g_free);
	g_assert_cmpint(posix_fadvise(m.fd, 0, 0, POSIX_FADV_DONTNEED), ==, 0);
	buf = file_contents(&m, len);
	g_assert_cmpuint(count_zero(buf, len), ==, len);

	mapped_destroy(&m);
	close(dev);
}

/* Every argument check of every ioctl. */
static void test_errors(void)
{
	const unsigned int maxpages = module_param("max_pages_per_handle");
	const unsigned int maxhandles = module_param("max_handles_per_file");
	struct pinfs_dma_pin pin = {.size = sizeof(pin) - 8, .flags = 0};
	struct pinfs_dma_query q;
	struct pinfs_dma_read r;
	guint64 cancelled = 0;
	guint8 *mem, *hole;
	unsigned int i;
	int dev, h, ro, ret;
	char tmpl[] = "/dev/shm/dma-test-XXXXXX";
	int tmpfd;

	dev = dev_open();
	mem = mmap(NULL, 4 * page_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	g_assert_true(mem != MAP_FAILED);

	/* Unknown command, and a known number with another size: ENOTTY. */
	g_assert_cmpint(ioctl(dev, _IO(PINFS_DMA_IOC_MAGIC, 0x7f)), ==, -1);
	g_assert_cmpint(errno, ==, ENOTTY);
	g_assert_cmpint(ioctl(dev, _IOWR(PINFS_DMA_IOC_MAGIC, 0x01, guint64), &pin), ==,
			-1);
	g_assert_cmpint(errno, ==, ENOTTY);
	/* A size field that is not sizeof(struct): EINVAL. */
	pin.addr = (uintptr_t)mem;
	pin.len = page_size;
	g_assert_cmpint(ioctl(dev, PINFS_DMA_IOC_PIN, &pin), ==, -1);
	g_assert_cmpint(errno, ==, EINVAL);
	/* A bad user pointer: EFAULT. */
	g_assert_cmpint(ioctl(dev, PINFS_DMA_IOC_PIN, (void *)8), ==, -1);
	g_assert_cmpint(errno, ==, EFAULT);

	/* PIN */
	g_assert_cmpint(dma_pin(dev, mem, page_size, 1u << 7, NULL), ==, -EINVAL);
	g_assert_cmpint(dma_pin(dev, mem, 0, 0, NULL), ==, -EINVAL);
	g_assert_cmpint(dma_pin(dev, (void *)~(uintptr_t)0xfff, 2 * page_size, 0, NULL),
			==, -EINVAL); /* addr + len overflows */
	g_assert_cmpint(dma_pin(dev, (void *)(1ULL << 62), page_size, 0, NULL), ==,
			-EINVAL); /* beyond TASK_SIZE */
	g_assert_cmpint(dma_pin(dev, mem, ((size_t)maxpages + 1) * page_size, 0, NULL),
			==, -E2BIG);
	hole = mmap(NULL, page_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g_assert_true(hole != MAP_FAILED);
	munmap(hole, page_size);
	g_assert_cmpint(dma_pin(dev, hole, page_size, PINFS_DMA_PIN_WRITE, NULL), ==,
			-EFAULT);
	g_assert_cmpint(vm_pin_kb(), ==, 0); /* a failed pin leaves no charge */

	/* A device write through a read-only pin is refused. */
	ro = dma_pin(dev, mem, page_size, 0, NULL);
	g_assert_cmpint(ro, >, 0);
	g_assert_cmpint(dma_write(dev, ro, 0, 1, PINFS_DMA_MODE_FILL, 1, 0), ==, -EPERM);
	g_assert_cmpint(dma_read(dev, ro, 0, 1, PINFS_DMA_MODE_FILL, 0, &r), ==, 0);
	g_assert_cmpint(dma_unpin(dev, ro, 0, NULL), ==, 0);

	/* WRITE, READ, INFO, UNPIN on a handle of 2 pages. */
	h = dma_pin(dev, mem, 2 * page_size, PINFS_DMA_PIN_WRITE, NULL);
	g_assert_cmpint(h, >, 0);
	g_assert_cmpint(vm_pin_kb(), ==, (long)(2 * page_size / 1024));
	g_assert_cmpint(dma_write(dev, h + 1000, 0, 1, 0, 0, 0), ==, -ENOENT);
	g_assert_cmpint(dma_write(dev, 0, 0, 1, 0, 0, 0), ==, -ENOENT);
	g_assert_cmpint(dma_write(dev, h, 0, 0, 0, 0, 0), ==, -EINVAL);
	g_assert_cmpint(dma_write(dev, h, 0, 2 * page_size + 1, 0, 0, 0), ==, -EINVAL);
	g_assert_cmpint(dma_write(dev, h, 2 * page_size, 1, 0, 0, 0), ==, -EINVAL);
	g_assert_cmpint(dma_write(dev, h, ~0ULL, 2, 0, 0, 0), ==, -EINVAL);
	g_assert_cmpint(dma_write(dev, h, 0, 1, PINFS_DMA_MODE_MAX + 1, 0, 0), ==,
			-EINVAL);
	g_assert_cmpint(dma_write(dev, h, 0, 1, 0, 0, PINFS_DMA_MAX_DELAY_MS + 1), ==,
			-EINVAL);
	g_assert_cmpint(dma_read(dev, h, 1, ~0ULL, 0, 0, &r), ==, -EINVAL);
	g_assert_cmpint(dma_read(dev, h + 1000, 0, 1, 0, 0, &r), ==, -ENOENT);
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.handle = h;
	r.len = 1;
	r.flags = 1u << 5;
	g_assert_cmpint(ioctl(dev, PINFS_DMA_IOC_READ, &r), ==, -1);
	g_assert_cmpint(errno, ==, EINVAL);
	/* At most PINFS_DMA_MAX_PENDING queued writes; UNPIN_CANCEL drops them. */
	for (i = 0; i < PINFS_DMA_MAX_PENDING; i++)
		g_assert_cmpint(dma_write(dev, h, 0, 1, 0, 0, PINFS_DMA_MAX_DELAY_MS), ==,
				0);
	g_assert_cmpint(dma_write(dev, h, 0, 1, 0, 0, PINFS_DMA_MAX_DELAY_MS), ==,
			-EBUSY);
	g_assert_cmpint(dma_unpin(dev, h, 1u << 4, NULL), ==, -EINVAL);
	g_assert_cmpint(dma_unpin(dev, h, PINFS_DMA_UNPIN_CANCEL, &cancelled), ==, 0);
	g_assert_cmpuint(cancelled, ==, PINFS_DMA_MAX_PENDING);
	g_assert_cmpint(dma_unpin(dev, h, 0, NULL), ==, -ENOENT); /* twice */
	g_assert_cmpint(dma_unpin(dev, 0, 0, NULL), ==, -ENOENT);
	g_assert_cmpint(dma_unpin(dev, -1, 0, NULL), ==, -ENOENT);
	g_assert_cmpint(vm_pin_kb(), ==, 0);

	/* Handles per open file. */
	for (i = 0; i < maxhandles; i++)
		g_assert_cmpint(dma_pin(dev, mem, 1, 0, NULL), >, 0);
	g_assert_cmpint(dma_pin(dev, mem, 1, 0, NULL), ==, -ENOSPC);

	/* QUERY */
	tmpfd = mkstemp(tmpl);
	g_assert_cmpint(tmpfd, >=, 0);
	unlink(tmpl);
	g_assert_cmpint(dma_query(dev, -1, 0, 0, 0, &q), ==, -EBADF);
	g_assert_cmpint(dma_query(dev, 12345, 0, 0, 0, &q), ==, -EBADF);
	g_assert_cmpint(dma_query(dev, tmpfd, ~0ULL, 0, 0, &q), ==, -ENOENT);
	g_assert_cmpint(dma_query(dev, tmpfd, 0, ~0ULL, 2, &q), ==, -EINVAL);
	g_assert_cmpint(dma_query(dev, tmpfd, 0, ~0ULL, 1, &q), ==, 0); /* last byte */
	g_assert_cmpuint(q.cached, ==, 0);
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.fd = tmpfd;
	q.pinned = 1;
	ret = ioctl(dev, PINFS_DMA_IOC_QUERY, &q);
	g_assert_cmpint(ret, ==, -1);
	g_assert_cmpint(errno, ==, EINVAL);
	close(tmpfd);

	/* close() unpins everything. */
	close(dev);
	g_assert_cmpint(vm_pin_kb(), ==, 0);
	munmap(mem, 4 * page_size);
}

/*
 * RLIMIT_MEMLOCK, as a user without CAP_IPC_LOCK: pins are charged to
 * pinned_vm (VmPin) and refused with ENOMEM over the limit.  Runs in a
 * child that drops to uid/gid 65534; the child's exit code names the step
 * that failed.
 */
static void test_rlimit(void)
{
	pid_t pid;
	int status;

	if (getuid() != 0) {
		g_test_skip("needs root to switch to an unprivileged user");
		return;
	}
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		struct rlimit rl = {4 * page_size, 4 * page_size};
		guint8 *mem;
		int dev, h;

		if (setrlimit(RLIMIT_MEMLOCK, &rl) || setgid(65534) || setuid(65534))
			_exit(10);
		mem = mmap(NULL, 8 * page_size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED)
			_exit(11);
		dev = open(PINFS_DMA_DEVICE, O_RDWR);
		if (dev < 0)
			_exit(12);
		if (dma_pin(dev, mem, 8 * page_size, PINFS_DMA_PIN_WRITE, NULL) !=
		    -ENOMEM)
			_exit(13);
		if (vm_pin_kb() != 0)
			_exit(14);
		h = dma_pin(dev, mem, 4 * page_size, PINFS_DMA_PIN_WRITE, NULL);
		if (h <= 0)
			_exit(15);
		if (vm_pin_kb() != (long)(4 * page_size / 1024))
			_exit(16);
		if (dma_pin(dev, mem, 1, PINFS_DMA_PIN_WRITE, NULL) != -ENOMEM)
			_exit(17);
		if (dma_unpin(dev, h, 0, NULL) != 0 || vm_pin_kb() != 0)
			_exit(18);
		if (dma_pin(dev, mem + page_size, 1, PINFS_DMA_PIN_WRITE, NULL) <= 0)
			_exit(19);
		/* QUERY of an inode we do not own: EPERM. */
		{
			struct pinfs_dma_query q;
			int fd = open("/etc/passwd", O_RDONLY);

			if (fd < 0 || dma_query(dev, fd, 0, 0, 0, &q) != -EPERM)
				_exit(20);
		}
		_exit(0);
	}
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

/*
 * A process that dies with pins and queued writes: its pins are released
 * (the query sees none) and its queued writes are cancelled (not in the
 * file).
 */
static void test_exit(gconstpointer data)
{
	const char *dir = test_dir(data);
	const size_t len = 4 * page_size;
	struct pinfs_dma_query q;
	struct mapped m;
	unsigned int flags;
	pid_t pid;
	int status;

	if (!dir)
		return;
	mapped_create(&m, dir, "exit", len);
	flags = PINFS_DMA_PIN_WRITE | PINFS_DMA_PIN_LONGTERM;
	if (refuses_longterm(data))
		flags = PINFS_DMA_PIN_WRITE; /* as dma_pin_rw */
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		int dev = open(PINFS_DMA_DEVICE, O_RDWR);
		int h = dma_pin(dev, m.map, len, flags, NULL);

		if (h <= 0)
			_exit(1);
		if (dma_write(dev, h, 0, len, PINFS_DMA_MODE_FILL, 0x77, 0) ||
		    dma_write(dev, h, 0, page_size, PINFS_DMA_MODE_FILL, 0x66,
			      PINFS_DMA_MAX_DELAY_MS))
			_exit(2);
		_exit(0); /* without unpinning */
	}
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);

	{
		int dev = dev_open();

		g_assert_cmpint(dma_query(dev, m.dirfd, m.ino, 0, 0, &q), ==, 0);
		g_assert_cmpuint(q.cached, ==, 4);
		g_assert_cmpuint(q.pinned, ==, 0);
		close(dev);
	}
	/* The immediate write landed; the queued one was cancelled. */
	g_assert_cmpuint(count_pattern(m.map, 0, len, 0, PINFS_DMA_MODE_FILL, 0x77), ==,
			 len);
	mapped_destroy(&m);
}

/* ---- stress: random and hostile calls from several threads at once ---- */

#define STRESS_PAGES 64
#define STRESS_THREADS 4

struct stress {
	int dev;
	struct mapped m;
	gint seed;
	gint stop;
	gint pins, writes, unpins; /* calls that succeeded */
};

/* One thread of random ioctls; most arguments valid, some not. */
static gpointer stress_ioctls(gpointer data)
{
	struct stress *st = data;
	GRand *rand = g_rand_new_with_seed(g_atomic_int_add(&st->seed, 1));
	struct pinfs_dma_query q;
	struct pinfs_dma_read r;
	struct pinfs_dma_info info;
	int i;

	for (i = 0; i < 600; i++) {
		guint32 h = g_rand_int_range(rand, 0, 80);
		/* Mostly in range: pins are 1 byte to 8 pages long. */
		guint64 off = g_rand_int_range(rand, 0, 2 * page_size);
		guint64 len = g_rand_int_range(rand, 0, 3 * page_size);

		switch (g_rand_int_range(rand, 0, 7)) {
		case 0:
		case 1:
			if (dma_pin(st->dev,
				    st->m.map + g_rand_int_range(rand, 0, 56 * page_size),
				    g_rand_int_range(rand, 1, 8 * page_size),
				    g_rand_int_range(rand, 0, 4), NULL) > 0)
				g_atomic_int_inc(&st->pins);
			break;
		case 2:
			if (dma_unpin(st->dev, h, g_rand_int_range(rand, 0, 2), NULL) ==
			    0)
				g_atomic_int_inc(&st->unpins);
			break;
		case 3:
			if (dma_write(st->dev, h, off, len, g_rand_int_range(rand, 0, 2),
				      i, g_rand_int_range(rand, 0, 4)) == 0)
				g_atomic_int_inc(&st->writes);
			break;
		case 4:
			dma_read(st->dev, h, off, len, 0, 0, &r);
			break;
		case 5:
			dma_info(st->dev, h, &info);
			break;
		case 6:
			dma_query(st->dev, st->m.dirfd, st->m.ino, off, len, &q);
			break;
		}
	}
	g_rand_free(rand);
	return NULL;
}

/* Meanwhile: truncate the file and remap parts of the mapping. */
static gpointer stress_layout(gpointer data)
{
	struct stress *st = data;
	GRand *rand = g_rand_new_with_seed(g_atomic_int_add(&st->seed, 1));

	while (!g_atomic_int_get(&st->stop)) {
		size_t page = g_rand_int_range(rand, 0, STRESS_PAGES);

		if (g_rand_boolean(rand)) {
			g_assert_cmpint(ftruncate(st->m.fd, page * page_size), ==, 0);
			g_assert_cmpint(ftruncate(st->m.fd, st->m.len), ==, 0);
		} else {
			void *p = mmap(st->m.map + page * page_size, page_size,
				       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
				       st->m.fd, page * page_size);
			g_assert_true(p != MAP_FAILED);
		}
		g_usleep(1000);
	}
	g_rand_free(rand);
	return NULL;
}

/*
 * Random, partly invalid ioctls from several threads on one open file while
 * another thread truncates the file and remaps pages under the pins; then
 * close with writes still queued.  Passes when the kernel survives without
 * a warning (tests/vm/run fails the run on Oops, BUG or WARNING) and every
 * pin is gone afterwards.
 */
static void test_stress(gconstpointer data)
{
	const char *dir = test_dir(data);
	GThread *threads[STRESS_THREADS], *layout;
	struct pinfs_dma_query q;
	struct stress st = {0};
	int i, dev;

	if (!dir)
		return;
	st.dev = dev_open();
	st.seed = g_test_rand_int();
	mapped_create(&st.m, dir, "stress", STRESS_PAGES * page_size);
	layout = g_thread_new("layout", stress_layout, &st);
	for (i = 0; i < STRESS_THREADS; i++)
		threads[i] = g_thread_new("ioctls", stress_ioctls, &st);
	for (i = 0; i < STRESS_THREADS; i++)
		g_thread_join(threads[i]);
	g_atomic_int_set(&st.stop, 1);
	g_thread_join(layout);
	g_test_message("%d pins, %d device writes, %d unpins succeeded", st.pins,
		       st.writes, st.unpins);
	g_assert_cmpint(st.pins, >, 0);
	g_assert_cmpint(st.writes, >, 0);
	close(st.dev);

	g_assert_cmpint(vm_pin_kb(), ==, 0);
	dev = dev_open();
	g_assert_cmpint(dma_query(dev, st.m.dirfd, st.m.ino, 0, 0, &q), ==, 0);
	g_assert_cmpuint(q.pinned, ==, 0);
	close(dev);
	mapped_destroy(&st.m);
}

int main(int argc, char **argv)
{
	static const char *const dirs[][2] = {
	    {"tmpfs", "PINFS_TEST_TMPFS_DIR"},
	    {"ext4", "PINFS_TEST_EXT4_DIR"},
	    {"fuse", "PINFS_TEST_FUSE_DIR"},
	};
	size_t i;

	g_test_init(&argc, &argv, NULL);
	page_size = sysconf(_SC_PAGESIZE);

	g_test_add_func("/dma/errors", test_errors);
	g_test_add_func("/dma/rlimit", test_rlimit);
	g_test_add_data_func("/dma/stress", "PINFS_TEST_TMPFS_DIR", test_stress);
	for (i = 0; i < G_N_ELEMENTS(dirs); i++) {
		g_autofree char *p1 = g_strdup_printf("/dma/%s/write-read", dirs[i][0]);
		g_autofree char *p2 = g_strdup_printf("/dma/%s/lost-write", dirs[i][0]);
		g_autofree char *p3 = g_strdup_printf("/dma/%s/exit", dirs[i][0]);

		g_test_add_data_func(p1, dirs[i][1], test_write_read);
		g_test_add_data_func(p2, dirs[i][1], test_lost_write);
		g_test_add_data_func(p3, dirs[i][1], test_exit);
	}
	return g_test_run();
}
