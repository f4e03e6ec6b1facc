// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Passthrough integration tests: mount pinfs for real over a temporary
 * backing directory and check every operation group, including the error
 * cases, against what the backing filesystem itself says.  Where the backing
 * fs decides (fallocate modes, SEEK_HOLE), the same operation is run on a
 * plain file in pm_scratch() (same filesystem as the backing dir) and the two
 * results are compared.
 */
#include "check.h"
#include "falloc-modes.h"
#include "kid.h"
#include "mount.h"
#include "pinfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define UID_A 4242
#define UID_B 65534

/* open(2) that must succeed. */
static int open_ok(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;
	int fd;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	fd = open(path, flags, mode);
	if (fd < 0)
		g_error("open(%s, %#x): %s", path, flags, g_strerror(errno));
	return fd;
}

static void put(const char *path, const void *data, size_t len)
{
	int fd = open_ok(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	g_assert_cmpint(write(fd, data, len), ==, (ssize_t)len);
	g_assert_no_errno(close(fd));
}

static void put_str(const char *path, const char *s)
{
	put(path, s, strlen(s));
}

/* Whole file contents (g_free()), length in *len. */
static char *get(const char *path, gsize *len)
{
	g_autoptr(GError) err = NULL;
	char *data = NULL;

	g_file_get_contents(path, &data, len, &err);
	g_assert_no_error(err);
	return data;
}

static void assert_contents(const char *path, const void *want, size_t len)
{
	gsize got_len;
	g_autofree char *got = get(path, &got_len);

	g_assert_cmpmem(got, got_len, want, len);
}

static void fill_random(void *buf, size_t len)
{
	guint32 *p = buf;

	for (size_t i = 0; i < len / 4; i++)
		p[i] = g_test_rand_int();
	for (size_t i = len / 4 * 4; i < len; i++)
		((char *)buf)[i] = g_test_rand_int();
}

enum { CMP_TIMES = 1, CMP_BLOCKS = 2 };

/*
 * lstat() @rel in the mount and in the backing directory and compare what a
 * passthrough must pass through.  st_dev and st_blksize are the mount's own.
 */
static void assert_same_stat(struct pm *pm, const char *rel, int flags)
{
	g_autofree char *m = pm_path(pm, rel);
	g_autofree char *b = pm_bpath(pm, rel);
	struct stat ms, bs;

	g_assert_no_errno(lstat(m, &ms));
	g_assert_no_errno(lstat(b, &bs));
	g_assert_cmpuint(ms.st_ino, ==, bs.st_ino);
	g_assert_cmpuint(ms.st_mode, ==, bs.st_mode);
	g_assert_cmpuint(ms.st_nlink, ==, bs.st_nlink);
	g_assert_cmpuint(ms.st_uid, ==, bs.st_uid);
	g_assert_cmpuint(ms.st_gid, ==, bs.st_gid);
	g_assert_cmpuint(ms.st_rdev, ==, bs.st_rdev);
	g_assert_cmpint(ms.st_size, ==, bs.st_size);
	if (flags & CMP_BLOCKS)
		g_assert_cmpint(ms.st_blocks, ==, bs.st_blocks);
	if (flags & CMP_TIMES) {
		g_assert_cmpint(ms.st_mtim.tv_sec, ==, bs.st_mtim.tv_sec);
		g_assert_cmpint(ms.st_mtim.tv_nsec, ==, bs.st_mtim.tv_nsec);
		g_assert_cmpint(ms.st_atim.tv_sec, ==, bs.st_atim.tv_sec);
		g_assert_cmpint(ms.st_atim.tv_nsec, ==, bs.st_atim.tv_nsec);
		g_assert_cmpint(ms.st_ctim.tv_sec, ==, bs.st_ctim.tv_sec);
		g_assert_cmpint(ms.st_ctim.tv_nsec, ==, bs.st_ctim.tv_nsec);
	}
}

/* ---- lookup / getattr ------------------------------------------------- */

static void test_lookup(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *bf = pm_bpath(pm, "file");
	g_autofree char *bd = pm_bpath(pm, "dir");
	g_autofree char *bs = pm_bpath(pm, "link");
	g_autofree char *bsub = pm_bpath(pm, "dir/sub");
	g_autofree char *mf = pm_path(pm, "file");
	g_autofree char *ms = pm_path(pm, "link");
	g_autofree char *mnox = pm_path(pm, "nope");
	g_autofree char *mnotdir = pm_path(pm, "file/x");
	g_autofree char *mdangle = pm_path(pm, "dangling");
	g_autofree char *bdangle = pm_bpath(pm, "dangling");
	struct stat st, lst;

	/* Made in the backing dir behind pinfs' back: lookup must find them. */
	put_str(bf, "hello");
	g_assert_no_errno(mkdir(bd, 0750));
	put_str(bsub, "sub");
	g_assert_no_errno(symlink("file", bs));
	g_assert_no_errno(symlink("nowhere", bdangle));

	assert_same_stat(pm, "", 0);
	assert_same_stat(pm, "file", CMP_TIMES | CMP_BLOCKS);
	assert_same_stat(pm, "dir", CMP_TIMES);
	assert_same_stat(pm, "dir/sub", CMP_TIMES);
	assert_same_stat(pm, "link", CMP_TIMES);
	g_assert_no_errno(lstat(ms, &lst));
	g_assert_true(S_ISLNK(lst.st_mode));
	g_assert_no_errno(stat(ms, &st));
	g_assert_true(S_ISREG(st.st_mode));
	g_assert_no_errno(stat(mf, &lst));
	g_assert_cmpuint(st.st_ino, ==, lst.st_ino);

	assert_errno(stat(mnox, &st), ENOENT);
	assert_errno(stat(mnotdir, &st), ENOTDIR);
	assert_errno(stat(mdangle, &st), ENOENT);
	assert_errno(lstat(mdangle, &st), 0);
	pm_unmount(pm);
}

/* ---- setattr ---------------------------------------------------------- */

static void test_chmod(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *md = pm_path(pm, "d");
	int fd;

	put_str(m, "x");
	g_assert_no_errno(chmod(m, 0600));
	assert_same_stat(pm, "f", 0);
	g_assert_no_errno(chmod(m, 04751));
	assert_same_stat(pm, "f", 0);
	fd = open_ok(m, O_RDONLY);
	g_assert_no_errno(fchmod(fd, 0640));
	close(fd);
	assert_same_stat(pm, "f", 0);
	g_assert_no_errno(mkdir(md, 0700));
	g_assert_no_errno(chmod(md, 01777));
	assert_same_stat(pm, "d", 0);
	pm_unmount(pm);
}

static int chown_fn(void *arg)
{
	return err_of(chown(arg, UID_B, UID_B));
}

static int fchown_fn(void *arg)
{
	int fd = open(arg, O_RDONLY);

	if (fd < 0)
		return 200;
	return err_of(fchown(fd, UID_B, -1));
}

static void test_chown(void)
{
	struct pm *pm = pm_mount("allow_other,default_permissions");
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *ml = pm_path(pm, "l");
	g_autofree char *b = pm_bpath(pm, "f");
	struct stat st;

	put_str(m, "x");
	g_assert_no_errno(chown(m, UID_A, UID_A));
	assert_same_stat(pm, "f", 0);
	g_assert_no_errno(stat(b, &st));
	g_assert_cmpuint(st.st_uid, ==, UID_A);
	g_assert_cmpuint(st.st_gid, ==, UID_A);
	g_assert_no_errno(chown(m, -1, 100));
	assert_same_stat(pm, "f", 0);
	g_assert_no_errno(stat(b, &st));
	g_assert_cmpuint(st.st_uid, ==, UID_A);
	g_assert_cmpuint(st.st_gid, ==, 100);

	/* lchown changes the link, not the target */
	g_assert_no_errno(symlink("f", ml));
	g_assert_no_errno(lchown(ml, UID_B, UID_B));
	assert_same_stat(pm, "l", 0);
	assert_same_stat(pm, "f", 0);

	/* a non-owner cannot give the file away */
	assert_err(pm_run_as(UID_B, UID_B, chown_fn, m), EPERM);
	assert_err(pm_run_as(UID_B, UID_B, fchown_fn, m), EPERM);
	g_assert_no_errno(stat(b, &st));
	g_assert_cmpuint(st.st_uid, ==, UID_A);
	pm_unmount(pm);
}

static void test_truncate(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *b = pm_bpath(pm, "f");
	g_autofree char *mdir = pm_path(pm, "d");
	size_t len = 300000;
	g_autofree char *data = g_malloc(len);
	g_autofree char *want = g_malloc0(2 * len);
	int fd;

	fill_random(data, len);
	put(m, data, len);
	memcpy(want, data, len);

	g_assert_no_errno(truncate(m, 1000));
	assert_same_stat(pm, "f", 0);
	assert_contents(b, want, 1000);
	assert_contents(m, want, 1000);

	memset(want + 1000, 0, len - 1000);
	g_assert_no_errno(truncate(m, 2 * len));
	assert_same_stat(pm, "f", 0);
	assert_contents(b, want, 2 * len);
	assert_contents(m, want, 2 * len);

	fd = open_ok(m, O_RDWR);
	g_assert_no_errno(ftruncate(fd, 10));
	assert_same_stat(pm, "f", 0);
	assert_contents(m, want, 10);
	memset(want + 10, 0, 70000 - 10);
	g_assert_no_errno(ftruncate(fd, 70000));
	assert_same_stat(pm, "f", 0);
	assert_contents(b, want, 70000);
	assert_contents(m, want, 70000);
	g_assert_no_errno(ftruncate(fd, 0));
	assert_same_stat(pm, "f", 0);
	assert_errno(ftruncate(fd, -1), EINVAL);
	close(fd);

	fd = open(m, O_RDONLY);
	assert_errno(ftruncate(fd, 5), EINVAL);
	close(fd);
	g_assert_no_errno(mkdir(mdir, 0755));
	assert_errno(truncate(mdir, 0), EISDIR);
	pm_unmount(pm);
}

static void test_utimens(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *b = pm_bpath(pm, "f");
	struct timespec ts[2] = {{.tv_sec = 1000000000, .tv_nsec = 123456789},
				 {.tv_sec = 1200000000, .tv_nsec = 987654321}};
	struct timespec before;
	struct stat st;
	int fd;

	put_str(m, "x");
	g_assert_no_errno(utimensat(AT_FDCWD, m, ts, 0));
	assert_same_stat(pm, "f", CMP_TIMES);
	g_assert_no_errno(stat(b, &st));
	g_assert_cmpint(st.st_atim.tv_sec, ==, ts[0].tv_sec);
	g_assert_cmpint(st.st_atim.tv_nsec, ==, ts[0].tv_nsec);
	g_assert_cmpint(st.st_mtim.tv_sec, ==, ts[1].tv_sec);
	g_assert_cmpint(st.st_mtim.tv_nsec, ==, ts[1].tv_nsec);

	/* UTIME_OMIT on atime, UTIME_NOW on mtime */
	clock_gettime(CLOCK_REALTIME, &before);
	before.tv_sec -= 1; /* coarse fs timestamps */
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_nsec = UTIME_NOW;
	g_assert_no_errno(utimensat(AT_FDCWD, m, ts, 0));
	assert_same_stat(pm, "f", CMP_TIMES);
	g_assert_no_errno(stat(b, &st));
	g_assert_cmpint(st.st_atim.tv_sec, ==, 1000000000);
	g_assert_cmpint(st.st_atim.tv_nsec, ==, 123456789);
	g_assert_cmpint(st.st_mtim.tv_sec, >=, before.tv_sec);

	/* UTIME_NOW on atime, UTIME_OMIT on mtime, through futimens */
	ts[0].tv_nsec = UTIME_NOW;
	ts[1].tv_nsec = UTIME_OMIT;
	g_assert_no_errno(
	    utimensat(AT_FDCWD, m, (struct timespec[2]){{0, UTIME_OMIT}, {5, 5}}, 0));
	fd = open_ok(m, O_RDONLY);
	g_assert_no_errno(futimens(fd, ts));
	close(fd);
	assert_same_stat(pm, "f", CMP_TIMES);
	g_assert_no_errno(stat(b, &st));
	g_assert_cmpint(st.st_atim.tv_sec, >=, before.tv_sec);
	g_assert_cmpint(st.st_mtim.tv_sec, ==, 5);
	g_assert_cmpint(st.st_mtim.tv_nsec, ==, 5);

	/* both NULL: now */
	g_assert_no_errno(utimensat(AT_FDCWD, m, NULL, 0));
	assert_same_stat(pm, "f", CMP_TIMES);
	g_assert_no_errno(stat(b, &st));
	g_assert_cmpint(st.st_mtim.tv_sec, >=, before.tv_sec);
	pm_unmount(pm);
}

/* ---- namespace operations -------------------------------------------- */

static void test_symlink_readlink(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *ml = pm_path(pm, "l");
	g_autofree char *bl = pm_bpath(pm, "l");
	g_autofree char *mf = pm_path(pm, "f");
	g_autofree char *bl2 = pm_bpath(pm, "l2");
	g_autofree char *ml2 = pm_path(pm, "l2");
	g_autofree char *longt = g_strnfill(4000, 'a');
	char buf[PATH_MAX + 1];
	ssize_t n;

	g_assert_no_errno(symlink("some/where/../target", ml));
	n = readlink(bl, buf, sizeof(buf));
	g_assert_cmpint(n, ==, strlen("some/where/../target"));
	g_assert_cmpmem(buf, n, "some/where/../target", n);
	n = readlink(ml, buf, sizeof(buf));
	g_assert_cmpmem(buf, n, "some/where/../target", strlen("some/where/../target"));
	assert_same_stat(pm, "l", 0);
	assert_errno(symlink("x", ml), EEXIST);

	/* made behind pinfs' back, long target */
	g_assert_no_errno(symlink(longt, bl2));
	n = readlink(ml2, buf, sizeof(buf));
	g_assert_cmpint(n, ==, 4000);
	g_assert_cmpmem(buf, n, longt, 4000);

	put_str(mf, "x");
	assert_errno(readlink(mf, buf, sizeof(buf)), EINVAL);
	pm_unmount(pm);
}

static void test_mknod_mkdir(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *mfifo = pm_path(pm, "fifo");
	g_autofree char *bfifo = pm_bpath(pm, "fifo");
	g_autofree char *mreg = pm_path(pm, "reg");
	g_autofree char *md = pm_path(pm, "d");
	g_autofree char *bd = pm_bpath(pm, "d");
	g_autofree char *mdd = pm_path(pm, "d/e");
	g_autofree char *mnox = pm_path(pm, "nox/e");
	g_autofree char *mnull = pm_path(pm, "null");
	g_autofree char *bnull = pm_bpath(pm, "null");
	g_autofree char *msock = pm_path(pm, "sock");
	struct stat st;

	g_assert_no_errno(mknod(mfifo, S_IFIFO | 0640, 0));
	g_assert_no_errno(lstat(bfifo, &st));
	g_assert_true(S_ISFIFO(st.st_mode));
	g_assert_cmpuint(st.st_mode & 07777, ==, 0640 & ~022);
	assert_same_stat(pm, "fifo", 0);
	assert_errno(mknod(mfifo, S_IFIFO | 0640, 0), EEXIST);
	assert_errno(mkfifo(mnox, 0600), ENOENT);

	g_assert_no_errno(mknod(mreg, S_IFREG | 0600, 0));
	assert_same_stat(pm, "reg", 0);
	/* a device node (root): its rdev reaches the backing dir */
	g_assert_no_errno(mknod(mnull, S_IFCHR | 0666, makedev(1, 3)));
	g_assert_no_errno(lstat(bnull, &st));
	g_assert_true(S_ISCHR(st.st_mode));
	g_assert_cmpuint(st.st_rdev, ==, makedev(1, 3));
	assert_same_stat(pm, "null", 0);
	g_assert_no_errno(mknod(msock, S_IFSOCK | 0644, 0));
	assert_same_stat(pm, "sock", 0);

	g_assert_no_errno(mkdir(md, 0751));
	g_assert_no_errno(lstat(bd, &st));
	g_assert_true(S_ISDIR(st.st_mode));
	g_assert_cmpuint(st.st_mode & 07777, ==, 0751 & ~022);
	assert_same_stat(pm, "d", 0);
	g_assert_no_errno(mkdir(mdd, 0700));
	assert_same_stat(pm, "d", 0); /* nlink went up */
	assert_same_stat(pm, "d/e", 0);
	assert_errno(mkdir(md, 0700), EEXIST);
	assert_errno(mkdir(mnox, 0700), ENOENT);
	pm_unmount(pm);
}

static void test_unlink_rmdir(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *mf = pm_path(pm, "f");
	g_autofree char *bf = pm_bpath(pm, "f");
	g_autofree char *md = pm_path(pm, "d");
	g_autofree char *mdf = pm_path(pm, "d/f");
	g_autofree char *me = pm_path(pm, "e");
	g_autofree char *be = pm_bpath(pm, "e");
	struct stat st;

	put_str(mf, "x");
	g_assert_no_errno(unlink(mf));
	assert_errno(lstat(bf, &st), ENOENT);
	assert_errno(lstat(mf, &st), ENOENT);
	assert_errno(unlink(mf), ENOENT);

	g_assert_no_errno(mkdir(md, 0755));
	put_str(mdf, "x");
	assert_errno(unlink(md), EISDIR);
	assert_errno(rmdir(md), ENOTEMPTY);
	assert_errno(rmdir(mdf), ENOTDIR);
	g_assert_no_errno(unlink(mdf));
	g_assert_no_errno(rmdir(md));
	assert_errno(lstat(md, &st), ENOENT);
	assert_errno(rmdir(md), ENOENT);

	/* removed behind pinfs' back after it was looked up */
	put_str(me, "x");
	g_assert_no_errno(stat(me, &st));
	g_assert_no_errno(unlink(be));
	assert_errno(unlink(me), ENOENT);
	pm_unmount(pm);
}

static void test_rename(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *ma = pm_path(pm, "a");
	g_autofree char *mb = pm_path(pm, "b");
	g_autofree char *mc = pm_path(pm, "c");
	g_autofree char *ba = pm_bpath(pm, "a");
	g_autofree char *bb = pm_bpath(pm, "b");
	g_autofree char *bc = pm_bpath(pm, "c");
	g_autofree char *md = pm_path(pm, "d");
	g_autofree char *mdx = pm_path(pm, "d/x");
	g_autofree char *mdy = pm_path(pm, "d/y");
	g_autofree char *me = pm_path(pm, "e");
	g_autofree char *mef = pm_path(pm, "e/f");
	g_autofree char *mdxf = pm_path(pm, "d/x/f");
	struct stat st, st2;

	put_str(ma, "A");
	g_assert_no_errno(stat(ma, &st));
	g_assert_no_errno(rename(ma, mb));
	assert_errno(lstat(ba, &st2), ENOENT);
	assert_contents(bb, "A", 1);
	g_assert_no_errno(stat(mb, &st2));
	g_assert_cmpuint(st.st_ino, ==, st2.st_ino);

	/* over an existing file */
	put_str(mc, "C");
	g_assert_no_errno(rename(mb, mc));
	assert_contents(bc, "A", 1);
	assert_contents(mc, "A", 1);
	assert_errno(stat(mb, &st2), ENOENT);

	/* RENAME_NOREPLACE */
	put_str(ma, "AA");
	assert_errno(renameat2(AT_FDCWD, ma, AT_FDCWD, mc, RENAME_NOREPLACE), EEXIST);
	assert_contents(mc, "A", 1);
	g_assert_no_errno(renameat2(AT_FDCWD, ma, AT_FDCWD, mb, RENAME_NOREPLACE));
	assert_contents(bb, "AA", 2);

	/* RENAME_EXCHANGE */
	g_assert_no_errno(renameat2(AT_FDCWD, mb, AT_FDCWD, mc, RENAME_EXCHANGE));
	assert_contents(bb, "A", 1);
	assert_contents(bc, "AA", 2);
	assert_contents(mb, "A", 1);
	assert_contents(mc, "AA", 2);
	assert_same_stat(pm, "b", 0);
	assert_same_stat(pm, "c", 0);
	assert_errno(renameat2(AT_FDCWD, mb, AT_FDCWD, ma, RENAME_EXCHANGE), ENOENT);

	/* directories */
	g_assert_no_errno(mkdir(md, 0755));
	g_assert_no_errno(mkdir(me, 0755));
	put_str(mef, "f");
	assert_errno(rename(md, me), ENOTEMPTY);
	assert_errno(rename(mb, me), EISDIR);
	assert_errno(rename(md, mb), ENOTDIR);
	g_assert_no_errno(rename(mb, mdx));
	g_assert_no_errno(rename(mdx, mdy));
	assert_contents(mdy, "A", 1);
	assert_same_stat(pm, "d/y", 0);
	g_assert_no_errno(rename(me, mdx));
	assert_contents(mdxf, "f", 1);
	assert_same_stat(pm, "d", 0);
	assert_errno(rename(md, mdx), EINVAL); /* into its own subdirectory */
	pm_unmount(pm);
}

static void test_link(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *ma = pm_path(pm, "a");
	g_autofree char *mb = pm_path(pm, "b");
	g_autofree char *mc = pm_path(pm, "c");
	g_autofree char *md = pm_path(pm, "d");
	struct stat sa, sb;

	put_str(ma, "A");
	g_assert_no_errno(link(ma, mb));
	g_assert_no_errno(stat(ma, &sa));
	g_assert_no_errno(stat(mb, &sb));
	g_assert_cmpuint(sa.st_ino, ==, sb.st_ino);
	g_assert_cmpuint(sa.st_nlink, ==, 2);
	g_assert_cmpuint(sb.st_nlink, ==, 2);
	assert_same_stat(pm, "a", 0);
	assert_same_stat(pm, "b", 0);
	assert_errno(link(ma, mb), EEXIST);
	assert_errno(link(mc, md), ENOENT);
	g_assert_no_errno(mkdir(md, 0755));
	assert_errno(link(md, mc), EPERM);

	/* a write through one name shows through the other */
	put_str(mb, "BB");
	assert_contents(ma, "BB", 2);
	g_assert_no_errno(unlink(ma));
	g_assert_no_errno(stat(mb, &sb));
	g_assert_cmpuint(sb.st_nlink, ==, 1);
	assert_same_stat(pm, "b", 0);
	pm_unmount(pm);
}

/* Hard links and renames keep one inode: identity, data and nlink agree. */
static void test_inode_identity(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *ma = pm_path(pm, "a");
	g_autofree char *mb = pm_path(pm, "b");
	g_autofree char *mc = pm_path(pm, "d/c");
	g_autofree char *md = pm_path(pm, "d");
	struct stat sa, sc;
	int fd;

	g_assert_no_errno(mkdir(md, 0755));
	put_str(ma, "one");
	g_assert_no_errno(link(ma, mb));
	g_assert_no_errno(rename(mb, mc));
	g_assert_no_errno(stat(ma, &sa));
	g_assert_no_errno(stat(mc, &sc));
	g_assert_cmpuint(sa.st_ino, ==, sc.st_ino);
	g_assert_cmpuint(sc.st_nlink, ==, 2);

	fd = open_ok(ma, O_WRONLY | O_APPEND);
	g_assert_cmpint(write(fd, "two", 3), ==, 3);
	close(fd);
	assert_contents(mc, "onetwo", 6);

	g_assert_no_errno(rename(mc, ma)); /* same inode: a no-op */
	g_assert_no_errno(stat(mc, &sc));
	g_assert_no_errno(unlink(mc));
	g_assert_no_errno(stat(ma, &sa));
	g_assert_cmpuint(sa.st_nlink, ==, 1);
	assert_same_stat(pm, "a", 0);
	pm_unmount(pm);
}

/* ---- open / create / read / write ------------------------------------ */

static void test_open_create(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *b = pm_bpath(pm, "f");
	g_autofree char *md = pm_path(pm, "d");
	g_autofree char *mnox = pm_path(pm, "nox");
	g_autofree char *mfx = pm_path(pm, "f/x");
	struct stat st;
	int fd;

	fd = open_ok(m, O_CREAT | O_EXCL | O_WRONLY, 0640);
	g_assert_no_errno(lstat(b, &st));
	g_assert_cmpuint(st.st_mode, ==, S_IFREG | (0640 & ~022));
	g_assert_cmpuint(st.st_uid, ==, 0);
	g_assert_cmpint(write(fd, "data", 4), ==, 4);
	close(fd);
	assert_same_stat(pm, "f", 0);

	assert_errno(open(m, O_CREAT | O_EXCL | O_WRONLY, 0640), EEXIST);
	assert_errno(open(mnox, O_RDONLY), ENOENT);
	assert_errno(open(mfx, O_RDONLY), ENOTDIR);
	assert_errno(open(m, O_RDONLY | O_DIRECTORY), ENOTDIR);
	g_assert_no_errno(mkdir(md, 0755));
	assert_errno(open(md, O_WRONLY), EISDIR);

	/* O_CREAT without O_EXCL opens the existing file, keeps its data */
	fd = open_ok(m, O_CREAT | O_RDWR, 0600);
	close(fd);
	assert_contents(b, "data", 4);
	g_assert_no_errno(lstat(b, &st));
	g_assert_cmpuint(st.st_mode & 0777, ==, 0640 & ~022);

	/* O_TRUNC */
	fd = open_ok(m, O_WRONLY | O_TRUNC);
	g_assert_no_errno(fstat(fd, &st));
	g_assert_cmpint(st.st_size, ==, 0);
	close(fd);
	assert_contents(b, "", 0);
	assert_same_stat(pm, "f", 0);

	/* a read-only fd cannot write, a write-only fd cannot read */
	fd = open(m, O_RDONLY);
	assert_errno(write(fd, "x", 1), EBADF);
	close(fd);
	fd = open(m, O_WRONLY);
	char c;
	assert_errno(read(fd, &c, 1), EBADF);
	close(fd);
	pm_unmount(pm);
}

static void test_read_write(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *b = pm_bpath(pm, "f");
	size_t big = 8 << 20;
	g_autofree char *data = g_malloc(big);
	g_autofree char *buf = g_malloc(big);
	int fd;

	fill_random(data, big);
	fd = open_ok(m, O_CREAT | O_RDWR, 0644);

	/* one big write, read back through the mount and from the backing file */
	g_assert_cmpint(write(fd, data, big), ==, big);
	g_assert_cmpint(pread(fd, buf, big, 0), ==, big);
	g_assert_true(memcmp(buf, data, big) == 0);
	g_assert_no_errno(fsync(fd));
	assert_contents(b, data, big);

	/* small unaligned pwrites and preads */
	for (int i = 0; i < 200; i++) {
		size_t off = g_test_rand_int_range(0, big - 100);
		size_t len = g_test_rand_int_range(1, 100);
		char small[100];

		fill_random(small, len);
		g_assert_cmpint(pwrite(fd, small, len, off), ==, len);
		memcpy(data + off, small, len);
		off = g_test_rand_int_range(0, big - 100);
		g_assert_cmpint(pread(fd, small, len, off), ==, len);
		g_assert_cmpmem(small, len, data + off, len);
	}
	g_assert_no_errno(fdatasync(fd));
	assert_contents(b, data, big);

	/* read at and past EOF */
	g_assert_cmpint(pread(fd, buf, 10, big), ==, 0);
	g_assert_cmpint(pread(fd, buf, 10, big + 4096), ==, 0);
	g_assert_cmpint(pread(fd, buf, 100, big - 10), ==, 10);
	g_assert_cmpmem(buf, 10, data + big - 10, 10);

	/* write past EOF leaves a hole of zeros */
	g_assert_cmpint(pwrite(fd, "end", 3, big + 10000), ==, 3);
	g_assert_cmpint(pread(fd, buf, 10003, big), ==, 10003);
	for (int i = 0; i < 10000; i++)
		g_assert_cmpint(buf[i], ==, 0);
	g_assert_cmpmem(buf + 10000, 3, "end", 3);

	/* sequential read() with the file position */
	g_assert_cmpint(lseek(fd, 0, SEEK_SET), ==, 0);
	g_assert_cmpint(read(fd, buf, 1000), ==, 1000);
	g_assert_cmpint(read(fd, buf + 1000, 1000), ==, 1000);
	g_assert_cmpmem(buf, 2000, data, 2000);
	g_assert_cmpint(lseek(fd, 0, SEEK_CUR), ==, 2000);
	g_assert_cmpint(lseek(fd, 0, SEEK_END), ==, big + 10003);
	close(fd);
	assert_same_stat(pm, "f", 0);

	/* written to the backing file behind pinfs' back, then read through it */
	fill_random(data, 5000);
	put(b, data, 5000);
	assert_contents(m, data, 5000);
	pm_unmount(pm);
}

/*
 * An open keeps the cached pages of a file nobody changed since the
 * previous open (fs/ops.c, unchanged_since_last_open), so every change made
 * behind pinfs' back must still show at the next open: same size, at once
 * or after the stamp settled, and with the mtime put back as it was.
 */
static void test_backing_change_reopen(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *b = pm_bpath(pm, "f");
	static char data[8192];

	put(m, data, sizeof(data));
	for (int i = 0; i < 60; i++) {
		struct stat st;

		fill_random(data, sizeof(data));
		g_assert_no_errno(stat(b, &st));
		put(b, data, sizeof(data));
		if (i % 3 == 2) { /* the mtime as it was: only ctime tells */
			struct timespec ts[2] = {st.st_atim, st.st_mtim};

			g_assert_no_errno(utimensat(AT_FDCWD, b, ts, 0));
		}
		assert_contents(m, data, sizeof(data));
		/* Twice more, with the page cache kept, once settled. */
		assert_contents(m, data, sizeof(data));
		g_usleep((i % 4) * 7000);
		assert_contents(m, data, sizeof(data));
	}
	pm_unmount(pm);
}

/*
 * -o writeback_cache (with leases=off): writes are cached in the kernel,
 * which owns the size.  What pinfs(8) promises: data reaches the backing
 * file by fsync() and by close(), extending writes give the right size
 * (through pinfs at once, in the backing file after fsync), write-only and
 * O_APPEND descriptors work (the kernel reads around partial pages and
 * keeps the end of file), and a same-size rewrite made in the backing
 * directory shows at the next open.  Without leases=off it is refused.
 */
static void test_writeback_cache(void)
{
	struct pm *pm = pm_mount("leases=off,writeback_cache");
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *b = pm_bpath(pm, "f");
	g_autofree char *want = g_malloc(3 * 4096 + 100);
	g_autofree char *ext = g_malloc(8192);
	struct stat st;
	int fd;

	fill_random(want, 3 * 4096 + 100);
	put(m, want, 4096);
	assert_contents(b, want, 4096); /* close() wrote it */

	/* Extending writes on a write-only descriptor, fsync. */
	fd = open(m, O_WRONLY);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pwrite(fd, want + 4096, 2 * 4096 + 100, 4096), ==,
			2 * 4096 + 100);
	g_assert_cmpint(pwrite(fd, "Z", 1, 10), ==, 1); /* a partial page */
	want[10] = 'Z';
	g_assert_no_errno(fstat(fd, &st));
	g_assert_cmpint(st.st_size, ==, 3 * 4096 + 100);
	g_assert_no_errno(fsync(fd));
	assert_contents(b, want, 3 * 4096 + 100);
	/* O_APPEND appends at the kernel's end of file. */
	g_assert_no_errno(close(fd));
	fd = open(m, O_WRONLY | O_APPEND);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(write(fd, "tail", 4), ==, 4);
	g_assert_no_errno(close(fd));
	g_assert_no_errno(stat(m, &st));
	g_assert_cmpint(st.st_size, ==, 3 * 4096 + 104);
	g_assert_no_errno(stat(b, &st));
	g_assert_cmpint(st.st_size, ==, 3 * 4096 + 104);

	/* Same size, new data, written in the backing directory. */
	fill_random(ext, 8192);
	put(m, ext, 8192);
	fill_random(ext, 8192);
	put(b, ext, 8192);
	assert_contents(m, ext, 8192);
	pm_unmount(pm);

	/* Leases and the writeback cache do not go together. */
	{
		const char *bin = pm_bin();
		g_autoptr(GError) gerr = NULL;
		g_autofree char *dir = g_dir_make_tmp("pinfs-wb-XXXXXX", &gerr);
		g_autofree char *bd = g_build_filename(dir, "b", NULL);
		g_autofree char *md = g_build_filename(dir, "m", NULL);
		g_autofree char *err = NULL;
		int status;

		g_assert_no_error(gerr);
		g_assert_no_errno(mkdir(bd, 0755));
		g_assert_no_errno(mkdir(md, 0755));
		status = pm_run_cmd(
		    (const char *[]){bin, "-f", "-o", "writeback_cache", bd, md, NULL},
		    10, NULL, &err);
		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), !=, 0);
		g_assert_nonnull(strstr(err, "leases=off"));
		g_assert_false(pm_is_fuse_mount(md));
		g_assert_no_errno(rmdir(md));
		g_assert_no_errno(rmdir(bd));
		g_assert_no_errno(rmdir(dir));
	}
}

static void test_append(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *b = pm_bpath(pm, "f");
	int fa, fb;

	put_str(m, "start");
	fa = open_ok(m, O_WRONLY | O_APPEND);
	fb = open_ok(m, O_WRONLY | O_APPEND);
	g_assert_cmpint(write(fa, "-a1", 3), ==, 3);
	g_assert_cmpint(write(fb, "-b1", 3), ==, 3);
	g_assert_cmpint(write(fa, "-a2", 3), ==, 3);
	g_assert_cmpint(lseek(fa, 0, SEEK_CUR), ==, 14);
	/* Linux: pwrite on an O_APPEND fd appends anyway */
	g_assert_cmpint(pwrite(fb, "-p", 2, 0), ==, 2);
	close(fa);
	close(fb);
	assert_contents(b, "start-a1-b1-a2-p", 16);
	assert_contents(m, "start-a1-b1-a2-p", 16);
	pm_unmount(pm);
}

static void test_fsync(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	int fd, dfd;

	fd = open_ok(m, O_CREAT | O_RDWR, 0644);
	g_assert_cmpint(write(fd, "x", 1), ==, 1);
	g_assert_no_errno(fsync(fd));
	g_assert_no_errno(fdatasync(fd));
	g_assert_no_errno(syncfs(fd));
	g_assert_no_errno(sync_file_range(fd, 0, 1, SYNC_FILE_RANGE_WRITE));
	close(fd);
	dfd = open_ok(pm_mnt(pm), O_RDONLY | O_DIRECTORY);
	g_assert_no_errno(fsync(dfd)); /* fsyncdir */
	g_assert_no_errno(fdatasync(dfd));
	close(dfd);
	pm_unmount(pm);
}

/* ---- directories -------------------------------------------------------- */

/* name -> d_type of every entry of @path, "." and ".." included */
static GHashTable *list_dir(const char *path)
{
	GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	DIR *d = opendir(path);
	struct dirent *de;

	g_assert_nonnull(d);
	errno = 0;
	while ((de = readdir(d))) {
		g_assert_false(g_hash_table_contains(h, de->d_name)); /* no duplicates */
		g_hash_table_insert(h, g_strdup(de->d_name), GINT_TO_POINTER(de->d_type));
	}
	g_assert_cmpint(errno, ==, 0);
	closedir(d);
	return h;
}

static void assert_same_listing(GHashTable *m, GHashTable *b)
{
	GHashTableIter it;
	gpointer k, v;

	g_assert_cmpuint(g_hash_table_size(m), ==, g_hash_table_size(b));
	g_hash_table_iter_init(&it, b);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		gpointer mv;

		if (!g_hash_table_lookup_extended(m, k, NULL, &mv))
			g_error("%s missing from the pinfs listing", (char *)k);
		/* DT_UNKNOWN is allowed by readdir(3), a wrong type is not */
		if (GPOINTER_TO_INT(mv) != DT_UNKNOWN)
			g_assert_cmpint(GPOINTER_TO_INT(mv), ==, GPOINTER_TO_INT(v));
	}
}

static void test_readdir(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *md = pm_path(pm, "d");
	g_autofree char *bd = pm_bpath(pm, "d");
	g_autofree char *mfirst = pm_path(pm, "d/entry-with-a-longish-name-00000");
	g_autofree char *mnew = pm_path(pm, "d/new");
	g_autofree char *mnox = pm_path(pm, "nox");
	g_autofree char *mf = pm_path(pm, "f");
	g_autoptr(GHashTable) ml = NULL, bl = NULL;
	int n = 3000;

	g_assert_no_errno(mkdir(md, 0755));
	for (int i = 0; i < n; i++) {
		g_autofree char *name =
		    g_strdup_printf("d/entry-with-a-longish-name-%05d", i);
		g_autofree char *p = pm_path(pm, name);

		switch (i % 4) {
		case 0:
			put_str(p, "x");
			break;
		case 1:
			g_assert_no_errno(mkdir(p, 0755));
			break;
		case 2:
			g_assert_no_errno(symlink("target", p));
			break;
		case 3:
			g_assert_no_errno(mkfifo(p, 0644));
			break;
		}
	}
	ml = list_dir(md);
	bl = list_dir(bd);
	g_assert_cmpuint(g_hash_table_size(bl), ==, n + 2);
	assert_same_listing(ml, bl);

	/* entries added and removed while a directory stream is open */
	DIR *d = opendir(md);
	g_assert_nonnull(d);
	g_assert_nonnull(readdir(d));
	g_assert_no_errno(unlink(mfirst));
	put_str(mnew, "x");
	rewinddir(d);
	int count = 0;
	gboolean saw_new = FALSE;
	struct dirent *de;
	while ((de = readdir(d))) {
		count++;
		saw_new |= strcmp(de->d_name, "new") == 0;
	}
	closedir(d);
	g_assert_cmpint(count, ==, n + 2);
	g_assert_true(saw_new);

	/* the root directory too */
	g_clear_pointer(&ml, g_hash_table_unref);
	g_clear_pointer(&bl, g_hash_table_unref);
	ml = list_dir(pm_mnt(pm));
	bl = list_dir(pm_backing(pm));
	assert_same_listing(ml, bl);

	assert_errno(opendir(mnox) ? 0 : -1, ENOENT);
	put_str(mf, "x");
	assert_errno(opendir(mf) ? 0 : -1, ENOTDIR);
	pm_unmount(pm);
}

/* ls -l: readdir, then stat every name; compare with the backing dir. */
static void test_readdirplus(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *md = pm_path(pm, "d");
	g_autofree char *bd = pm_bpath(pm, "d");
	DIR *d;
	struct dirent *de;
	int seen = 0;

	/* made behind pinfs' back, so the kernel learns them from readdir(plus) */
	g_assert_no_errno(mkdir(bd, 0755));
	for (int i = 0; i < 300; i++) {
		g_autofree char *name = g_strdup_printf("d/f%d", i);
		g_autofree char *p = pm_bpath(pm, name);
		g_autofree char *data = g_strnfill(i * 37, 'x');
		g_autofree char *sub = g_strconcat(p, ".dir", NULL);
		mode_t mode = 0600 + (i & 7);

		put_str(p, data);
		g_assert_no_errno(chmod(p, mode));
		if (i % 10 == 0)
			g_assert_no_errno(mkdir(sub, 0700));
	}
	d = opendir(md);
	g_assert_nonnull(d);
	while ((de = readdir(d))) {
		g_autofree char *rel = NULL;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		rel = g_strdup_printf("d/%s", de->d_name);
		assert_same_stat(pm, rel, CMP_TIMES | CMP_BLOCKS);
		seen++;
	}
	closedir(d);
	g_assert_cmpint(seen, ==, 330);
	pm_unmount(pm);
}

static void test_statfs(void)
{
	struct pm *pm = pm_mount(NULL);
	struct statvfs ms, bs;

	g_assert_no_errno(statvfs(pm_mnt(pm), &ms));
	g_assert_no_errno(statvfs(pm_backing(pm), &bs));
	g_assert_cmpuint(ms.f_blocks * ms.f_frsize, ==, bs.f_blocks * bs.f_frsize);
	g_assert_cmpuint(ms.f_files, ==, bs.f_files);
	g_assert_cmpuint(ms.f_namemax, ==, bs.f_namemax);
	g_assert_cmpuint(ms.f_bsize, ==, bs.f_bsize);
	/* free space moves under us: only plausibility */
	g_assert_cmpuint(ms.f_bfree, <=, ms.f_blocks);
	g_assert_cmpuint(ms.f_bavail, <=, ms.f_bfree);
	g_assert_true(pm_is_fuse_mount(pm_mnt(pm)));
	pm_unmount(pm);
}

/* ---- extended attributes ------------------------------------------------ */

static void test_xattr(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *b = pm_bpath(pm, "f");
	g_autofree char *big = g_strnfill(3000, 'v');
	char buf[4096];
	ssize_t n;

	put_str(m, "x");
	g_assert_no_errno(setxattr(m, "user.one", "value1", 6, 0));
	g_assert_no_errno(setxattr(m, "user.two", big, 3000, XATTR_CREATE));
	n = getxattr(b, "user.one", buf, sizeof(buf));
	g_assert_cmpmem(buf, n, "value1", 6);
	n = getxattr(m, "user.one", buf, sizeof(buf));
	g_assert_cmpmem(buf, n, "value1", 6);
	g_assert_cmpint(getxattr(m, "user.two", NULL, 0), ==, 3000);
	n = getxattr(m, "user.two", buf, sizeof(buf));
	g_assert_cmpmem(buf, n, big, 3000);
	assert_errno(getxattr(m, "user.two", buf, 10), ERANGE);

	assert_errno(setxattr(m, "user.one", "x", 1, XATTR_CREATE), EEXIST);
	assert_errno(setxattr(m, "user.none", "x", 1, XATTR_REPLACE), ENODATA);
	g_assert_no_errno(setxattr(m, "user.one", "v", 1, XATTR_REPLACE));
	n = getxattr(b, "user.one", buf, sizeof(buf));
	g_assert_cmpmem(buf, n, "v", 1);

	/* list: compare with the backing file's list */
	{
		char mlist[1024], blist[1024];
		ssize_t ml = listxattr(m, mlist, sizeof(mlist));
		ssize_t bl = listxattr(b, blist, sizeof(blist));

		g_assert_cmpint(listxattr(m, NULL, 0), ==, bl);
		g_assert_cmpmem(mlist, ml, blist, bl);
		g_assert_nonnull(memmem(mlist, ml, "user.one", 9));
		g_assert_nonnull(memmem(mlist, ml, "user.two", 9));
		if (bl > 1)
			assert_errno(listxattr(m, mlist, 1), ERANGE);
	}

	/* an empty value */
	g_assert_no_errno(setxattr(m, "user.empty", "", 0, 0));
	g_assert_cmpint(getxattr(m, "user.empty", buf, sizeof(buf)), ==, 0);

	g_assert_no_errno(removexattr(m, "user.one"));
	assert_errno(getxattr(b, "user.one", buf, sizeof(buf)), ENODATA);
	assert_errno(getxattr(m, "user.one", buf, sizeof(buf)), ENODATA);
	assert_errno(removexattr(m, "user.one"), ENODATA);
	assert_errno(getxattr(m, "user.never", buf, sizeof(buf)), ENODATA);

	/* through an fd, and on a directory */
	int fd = open(m, O_RDONLY);
	g_assert_no_errno(fsetxattr(fd, "user.fd", "F", 1, 0));
	g_assert_cmpint(fgetxattr(fd, "user.fd", buf, sizeof(buf)), ==, 1);
	close(fd);
	g_assert_no_errno(setxattr(pm_mnt(pm), "user.root", "R", 1, 0));
	n = getxattr(pm_backing(pm), "user.root", buf, sizeof(buf));
	g_assert_cmpmem(buf, n, "R", 1);
	pm_unmount(pm);
}

/* ---- fallocate, copy_file_range, lseek --------------------------------- */

/*
 * The kernel's FUSE client (fuse_file_fallocate() in fs/fuse/file.c, still so
 * in 6.18) answers EOPNOTSUPP itself for every mode but KEEP_SIZE,
 * PUNCH_HOLE and ZERO_RANGE: COLLAPSE_RANGE and INSERT_RANGE never reach the
 * daemon, so no FUSE filesystem can pass them through.
 */
static gboolean fuse_kernel_refuses(int mode)
{
	return mode &
	       ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE);
}

/*
 * Run @mode on a pinfs file and on a plain file in the scratch dir (same
 * filesystem as the backing dir), both holding the same 1 MiB, for a few
 * ranges: the errno, the size and the contents must agree (except for the
 * modes the FUSE kernel module refuses: then EOPNOTSUPP and an untouched file).
 */
static void test_fallocate(void)
{
	struct pm *pm = pm_mount(NULL);
	size_t len = 1 << 20;
	g_autofree char *data = g_malloc(len);
	static const off_t ranges[][2] = {
	    {0, 4096},	  {65536, 131072},	    {4096 * 3, 4096 * 5},
	    {1000, 3000}, {(1 << 20) - 4096, 4096}, {(1 << 20) + 8192, 65536},
	    {0, 1 << 20},
	};
	GString *summary = g_string_new(NULL);
	gboolean kernel_refused = FALSE;

	fill_random(data, len);
	for (size_t i = 0; i < G_N_ELEMENTS(falloc_modes); i++) {
		for (size_t r = 0; r < G_N_ELEMENTS(ranges); r++) {
			g_autofree char *mp = pm_path(pm, "f");
			g_autofree char *sp = pm_spath(pm, "f");
			int mfd, sfd, merr, serr;

			put(mp, data, len);
			put(sp, data, len);
			mfd = open_ok(mp, O_RDWR);
			sfd = open_ok(sp, O_RDWR);
			merr = err_of(fallocate(mfd, falloc_modes[i].mode, ranges[r][0],
						ranges[r][1]));
			serr = err_of(fallocate(sfd, falloc_modes[i].mode, ranges[r][0],
						ranges[r][1]));
			pm_message("fallocate %s [%jd,+%jd): pinfs %s, backing fs %s",
				   falloc_modes[i].name, (intmax_t)ranges[r][0],
				   (intmax_t)ranges[r][1], ename(merr), ename(serr));
			if (r == 0)
				g_string_append_printf(summary, " %s:%s/%s",
						       falloc_modes[i].name, ename(merr),
						       ename(serr));
			close(mfd);
			close(sfd);
			{
				gsize ml, sl;
				g_autofree char *mc = get(mp, &ml);
				g_autofree char *sc = get(sp, &sl);

				if (merr != serr &&
				    fuse_kernel_refuses(falloc_modes[i].mode) &&
				    merr == EOPNOTSUPP) {
					/* never reached pinfs; the file must be untouched
					 */
					g_assert_cmpmem(mc, ml, data, len);
					kernel_refused = TRUE;
					continue;
				}
				if (merr != serr)
					g_error(
					    "fallocate %s [%jd,+%jd): pinfs says %s, the "
					    "backing fs says %s",
					    falloc_modes[i].name, (intmax_t)ranges[r][0],
					    (intmax_t)ranges[r][1], ename(merr),
					    ename(serr));
				g_assert_cmpuint(ml, ==, sl);
				g_assert_true(memcmp(mc, sc, ml) == 0);
			}
			assert_same_stat(pm, "f", 0);
		}
	}
	pm_message("fallocate pinfs/backing errnos:%s", summary->str);
	if (kernel_refused)
		pm_message("the FUSE kernel module refused a mode the backing fs has");
	g_string_free(summary, TRUE);
	pm_unmount(pm);
}

static void test_copy_file_range(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *ma = pm_path(pm, "a");
	g_autofree char *mb = pm_path(pm, "b");
	g_autofree char *bb = pm_bpath(pm, "b");
	size_t len = 3 << 20;
	g_autofree char *data = g_malloc(len);
	g_autofree char *want = g_malloc0(len + 4096);
	loff_t in_off = 4096, out_off = 100;
	ssize_t n, total = 0;
	int in, out;

	fill_random(data, len);
	put(ma, data, len);
	put_str(mb, "");
	in = open_ok(ma, O_RDONLY);
	out = open_ok(mb, O_WRONLY);
	while (total < (ssize_t)(len - 4096)) {
		n = copy_file_range(in, &in_off, out, &out_off, len - 4096 - total, 0);
		g_assert_cmpint(n, >, 0);
		total += n;
	}
	g_assert_cmpint(in_off, ==, len);
	g_assert_cmpint(out_off, ==, 100 + len - 4096);
	/* at EOF: 0 */
	g_assert_cmpint(copy_file_range(in, &in_off, out, &out_off, 10, 0), ==, 0);
	/* with the file positions */
	g_assert_cmpint(lseek(in, 0, SEEK_SET), ==, 0);
	g_assert_cmpint(lseek(out, 0, SEEK_SET), ==, 0);
	g_assert_cmpint(copy_file_range(in, NULL, out, NULL, 50, 0), ==, 50);
	g_assert_cmpint(lseek(out, 0, SEEK_CUR), ==, 50);
	assert_errno(copy_file_range(in, NULL, out, NULL, 50, 1), EINVAL);
	assert_errno(copy_file_range(out, NULL, in, NULL, 50, 0), EBADF);
	close(in);
	close(out);

	memcpy(want, data, 50);
	memcpy(want + 100, data + 4096, len - 4096);
	assert_contents(bb, want, 100 + len - 4096);
	assert_contents(mb, want, 100 + len - 4096);
	pm_unmount(pm);
}

/* All SEEK_DATA/SEEK_HOLE answers for @fd at a set of offsets. */
static GArray *seek_map(int fd, off_t size)
{
	GArray *a = g_array_new(FALSE, FALSE, sizeof(gint64));

	for (off_t off = 0; off <= size + 4096; off += 4096) {
		gint64 d = lseek(fd, off, SEEK_DATA);
		gint64 h = lseek(fd, off, SEEK_HOLE);

		if (d < 0)
			d = -errno;
		g_array_append_val(a, d);
		g_array_append_val(a, h);
	}
	return a;
}

static void test_lseek_data_hole(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *b = pm_bpath(pm, "f");
	size_t len = 1 << 20;
	g_autofree char *data = g_malloc(len);
	int mfd, bfd;

	fill_random(data, len);
	put(m, data, len);
	mfd = open_ok(m, O_RDWR);
	g_assert_no_errno(fsync(mfd));
	g_assert_no_errno(
	    fallocate(mfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 65536, 131072));
	g_assert_no_errno(fallocate(mfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				    512 * 1024, 65536));
	g_assert_no_errno(ftruncate(mfd, len + 65536)); /* a hole at the end */
	g_assert_no_errno(fsync(mfd));

	/* what the backing file says, exactly */
	bfd = open_ok(b, O_RDONLY);
	g_assert_cmpint(lseek(bfd, 0, SEEK_HOLE), ==, 65536); /* the fs has holes */
	{
		g_autoptr(GArray) mm = seek_map(mfd, len + 65536);
		g_autoptr(GArray) bm = seek_map(bfd, len + 65536);

		g_assert_cmpmem(mm->data, mm->len * 8, bm->data, bm->len * 8);
	}
	assert_errno(lseek(mfd, len + 65536, SEEK_DATA), ENXIO);
	assert_errno(lseek(mfd, len + 65536 + 1, SEEK_HOLE), ENXIO);
	assert_errno(lseek(mfd, -1, SEEK_SET), EINVAL);
	g_assert_cmpint(lseek(mfd, 0, SEEK_END), ==, len + 65536);
	close(bfd);
	close(mfd);
	pm_unmount(pm);
}

/* ---- flock, poll, ioctl ------------------------------------------------ */

static void test_flock(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	int a, b;

	put_str(m, "x");
	a = open(m, O_RDWR);
	b = open(m, O_RDWR);
	g_assert_no_errno(flock(a, LOCK_EX));
	assert_errno(flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	assert_errno(flock(b, LOCK_SH | LOCK_NB), EWOULDBLOCK);
	g_assert_no_errno(flock(a, LOCK_UN));
	g_assert_no_errno(flock(b, LOCK_SH | LOCK_NB));
	g_assert_no_errno(flock(a, LOCK_SH | LOCK_NB)); /* shared + shared */
	assert_errno(flock(a, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	close(b); /* close releases */
	g_assert_no_errno(flock(a, LOCK_EX | LOCK_NB));
	close(a);
	pm_unmount(pm);
}

static void test_poll(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	struct pollfd p;

	put_str(m, "x");
	p.fd = open(m, O_RDWR);
	p.events = POLLIN | POLLOUT;
	g_assert_cmpint(poll(&p, 1, 5000), ==, 1);
	g_assert_cmpint(p.revents & (POLLIN | POLLOUT), ==, POLLIN | POLLOUT);
	g_assert_cmpint(p.revents & (POLLERR | POLLNVAL), ==, 0);
	close(p.fd);
	pm_unmount(pm);
}

static void test_ioctl(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	int fd, arg = 0;

	put_str(m, "x");
	fd = open_ok(m, O_RDWR);
	assert_errno(ioctl(fd, _IOR('Q', 0x77, int), &arg), ENOTTY);
	assert_errno(ioctl(fd, _IO('Q', 0x78)), ENOTTY);
	g_assert_cmpint(ioctl(fd, FIONREAD, &arg), ==, 0); /* handled by the VFS */
	close(fd);
	pm_unmount(pm);
}

/* ---- open-file lifetime, mmap ------------------------------------------ */

static void test_unlinked_open(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *b = pm_bpath(pm, "f");
	char buf[64];
	struct stat st;
	int fd, fd2;

	put_str(m, "before");
	fd = open(m, O_RDWR);
	fd2 = open(m, O_RDONLY);
	g_assert_cmpint(fd, >=, 0);
	g_assert_no_errno(unlink(m));
	assert_errno(lstat(b, &st), ENOENT);
	assert_errno(lstat(m, &st), ENOENT);
	g_assert_no_errno(fstat(fd, &st));
	g_assert_cmpuint(st.st_nlink, ==, 0);
	g_assert_cmpint(pread(fd, buf, sizeof(buf), 0), ==, 6);
	g_assert_cmpmem(buf, 6, "before", 6);
	g_assert_cmpint(pwrite(fd, "-after", 6, 6), ==, 6);
	g_assert_no_errno(fsync(fd));
	g_assert_cmpint(pread(fd2, buf, sizeof(buf), 0), ==, 12);
	g_assert_cmpmem(buf, 12, "before-after", 12);
	g_assert_no_errno(ftruncate(fd, 3));
	g_assert_no_errno(fstat(fd2, &st));
	g_assert_cmpint(st.st_size, ==, 3);
	g_assert_no_errno(fchmod(fd, 0600));
	/* a new file of the same name is a different file */
	put_str(m, "new");
	g_assert_cmpint(pread(fd2, buf, sizeof(buf), 0), ==, 3);
	g_assert_cmpmem(buf, 3, "bef", 3);
	assert_contents(m, "new", 3);
	close(fd);
	close(fd2);
	pm_unmount(pm);
}

static void test_mmap_coherence(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *b = pm_bpath(pm, "f");
	size_t len = 16 * 4096;
	g_autofree char *data = g_malloc(len);
	char buf[4096];
	char *map;
	int fd;

	fill_random(data, len);
	put(m, data, len);
	fd = open_ok(m, O_RDWR);
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	g_assert_true(map != MAP_FAILED);
	g_assert_cmpmem(map, len, data, len);

	/* a store through the map is seen by read() */
	memcpy(map + 5000, "mapped-write", 12);
	g_assert_cmpint(pread(fd, buf, 12, 5000), ==, 12);
	g_assert_cmpmem(buf, 12, "mapped-write", 12);
	/* and reaches the backing file after msync */
	g_assert_no_errno(msync(map, len, MS_SYNC));
	{
		gsize bl;
		g_autofree char *bc = get(b, &bl);

		g_assert_cmpmem(bc + 5000, 12, "mapped-write", 12);
	}

	/* a write() is seen through the map */
	g_assert_cmpint(pwrite(fd, "written-by-pwrite", 17, 40000), ==, 17);
	g_assert_cmpmem(map + 40000, 17, "written-by-pwrite", 17);

	/* truncate down, then every access within the new size works */
	g_assert_no_errno(ftruncate(fd, 3 * 4096 + 100));
	for (size_t i = 0; i < 3 * 4096 + 100; i += 512)
		map[i] = map[i] + 1;
	g_assert_no_errno(msync(map, 4 * 4096, MS_SYNC));
	g_assert_cmpint(pread(fd, buf, 1, 512), ==, 1);
	g_assert_cmpint(buf[0], ==, (char)(data[512] + 1));
	/* the rest of the last page reads as zeros */
	for (size_t i = 3 * 4096 + 100; i < 4 * 4096; i++)
		g_assert_cmpint(map[i], ==, 0);
	/* beyond the last page: SIGBUS, as on the backing fs */
	{
		pid_t pid;
		int status;

		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			signal(SIGBUS, SIG_DFL);
			volatile char c = map[5 * 4096];
			(void)c;
			_exit(0);
		}
		g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
		g_assert_true(WIFSIGNALED(status));
		g_assert_cmpint(WTERMSIG(status), ==, SIGBUS);
	}
	/* grow again: the map sees zeros, then new writes */
	g_assert_no_errno(ftruncate(fd, len));
	for (size_t i = 4 * 4096; i < len; i += 1000)
		g_assert_cmpint(map[i], ==, 0);
	g_assert_cmpint(pwrite(fd, "again", 5, 10 * 4096), ==, 5);
	g_assert_cmpmem(map + 10 * 4096, 5, "again", 5);
	g_assert_no_errno(munmap(map, len));
	close(fd);
	pm_unmount(pm);
}

/* The daemon's fd count returns to its baseline after a workload. */
static void test_fd_leak(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *md = pm_path(pm, "d");
	g_autofree char *mnone = pm_path(pm, "d/none");
	g_autofree char *msub = pm_path(pm, "d/sub");
	int pipes, threads = 0;
	g_autofree char *before = NULL;
	int baseline = pm_daemon_fds(pm, &pipes, &before), now = 0;
	char buf[16];
	gint64 end;

	g_assert_no_errno(mkdir(md, 0755));
	for (int i = 0; i < 1000; i++) {
		g_autofree char *p = g_strdup_printf("%s/f%d", md, i);
		int fd = open(p, O_CREAT | O_RDWR, 0644);

		g_assert_cmpint(fd, >=, 0);
		g_assert_cmpint(write(fd, "x", 1), ==, 1);
		close(fd);
		fd = open(p, O_RDONLY);
		g_assert_cmpint(read(fd, buf, 1), ==, 1);
		close(fd);
	}
	/* unlink while open, rename, link, readdir, a failed open, mkdir/rmdir */
	for (int i = 0; i < 1000; i += 2) {
		g_autofree char *p = g_strdup_printf("%s/f%d", md, i);
		g_autofree char *q = g_strdup_printf("%s/g%d", md, i);
		int fd = open(p, O_RDWR);

		g_assert_no_errno(unlink(p));
		g_assert_cmpint(pwrite(fd, "y", 1, 0), ==, 1);
		close(fd);
		p[strlen(p) - 1]++; /* f(i+1) */
		g_assert_no_errno(link(p, q));
		g_autofree char *h = g_strdup_printf("%s/h%d", md, i);
		g_assert_no_errno(rename(q, h));
	}
	g_autoptr(GHashTable) l = list_dir(md);
	assert_errno(open(mnone, O_RDONLY), ENOENT);
	g_assert_no_errno(mkdir(msub, 0755));
	g_assert_no_errno(rmdir(msub));
	/* remove everything, so the kernel forgets every inode */
	{
		g_autoptr(GDir) dir = g_dir_open(md, 0, NULL);
		const char *name;

		while ((name = g_dir_read_name(dir))) {
			g_autofree char *p = g_build_filename(md, name, NULL);
			g_assert_no_errno(unlink(p));
		}
	}
	g_assert_no_errno(rmdir(md));

	/* FORGETs are asynchronous: wait (10 s at most) for the count to settle */
	end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	do {
		int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

		if (fd >= 0) {
			g_assert_cmpint(write(fd, "2", 1), ==, 1);
			close(fd);
		}
		now = pm_daemon_fds(pm, &pipes, NULL);
		threads = pm_daemon_thread_count(pm);
		if (now <= baseline && pipes <= 2 * threads)
			break;
		g_usleep(100000);
	} while (g_get_monotonic_time() < end);
	if (now != baseline || pipes > 2 * threads) {
		g_autofree char *after = NULL;

		pm_daemon_fds(pm, &pipes, &after);

		g_printerr("daemon fds before the workload:\n%safter (%d threads):\n%s",
			   before, threads, after);
	}
	g_assert_cmpint(now, ==, baseline);
	g_assert_cmpint(pipes, <=, 2 * threads);
	pm_unmount(pm);
}

/* Timestamps after data changes are the backing file's. */
static void test_times_after_io(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *md = pm_path(pm, "d");
	g_autofree char *mdg = pm_path(pm, "d/g");
	char buf[16];
	int fd;

	put_str(m, "x");
	assert_same_stat(pm, "f", CMP_TIMES);
	g_usleep(20000);
	fd = open(m, O_RDWR);
	g_assert_cmpint(pwrite(fd, "abc", 3, 10), ==, 3);
	close(fd);
	assert_same_stat(pm, "f", CMP_TIMES);
	g_usleep(20000);
	g_assert_no_errno(truncate(m, 5));
	assert_same_stat(pm, "f", CMP_TIMES);
	fd = open(m, O_RDONLY | O_NOATIME);
	g_assert_cmpint(read(fd, buf, sizeof(buf)), ==, 5);
	close(fd);
	assert_same_stat(pm, "f", CMP_TIMES);
	g_assert_no_errno(mkdir(md, 0755));
	put_str(mdg, "y");
	assert_same_stat(pm, "d", CMP_TIMES);
	g_assert_no_errno(unlink(mdg));
	assert_same_stat(pm, "d", CMP_TIMES);
	pm_unmount(pm);
}

/* Thousands of files open at once. */
static void test_many_open_files(void)
{
	struct pm *pm = pm_mount(NULL);
	enum { N = 3000 };
	static int fds[N];
	g_autofree char *md = pm_path(pm, "d");
	char buf[32];

	g_assert_no_errno(mkdir(md, 0755));
	for (int i = 0; i < N; i++) {
		g_autofree char *p = g_strdup_printf("%s/d/%d", pm_mnt(pm), i);

		fds[i] = open(p, O_CREAT | O_RDWR, 0644);
		if (fds[i] < 0)
			g_error("open #%d: %s", i, g_strerror(errno));
		g_assert_cmpint(pwrite(fds[i], p, strlen(p), 0), ==, strlen(p));
	}
	for (int i = 0; i < N; i++) {
		g_autofree char *p = g_strdup_printf("%s/d/%d", pm_mnt(pm), i);
		ssize_t n = pread(fds[i], buf, sizeof(buf), 0);

		g_assert_cmpmem(buf, n, p, MIN(strlen(p), sizeof(buf)));
		g_assert_no_errno(close(fds[i]));
	}
	pm_unmount(pm);
}

static int lock_range(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = {
	    .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};

	return fcntl(fd, cmd, &fl);
}

static int child_lock_fn(void *arg)
{
	int fd = open(arg, O_RDWR);
	int e;

	if (fd < 0)
		return 200;
	e = err_of(lock_range(fd, F_SETLK, F_WRLCK, 0, 10)); /* conflicts */
	if (e != EAGAIN && e != EACCES)
		return 201;
	if (lock_range(fd, F_SETLK, F_WRLCK, 100, 10) < 0) /* does not */
		return 202;
	return 0;
}

/* POSIX record locks and OFD locks conflict as on a local filesystem. */
static void test_posix_locks(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	int a, b;

	put_str(m, "0123456789");
	a = open(m, O_RDWR);
	g_assert_no_errno(lock_range(a, F_SETLK, F_WRLCK, 0, 50));
	g_assert_cmpint(pm_run_as(0, 0, child_lock_fn, m), ==, 0);
	g_assert_no_errno(lock_range(a, F_SETLK, F_UNLCK, 0, 50));

	b = open(m, O_RDWR);
	g_assert_no_errno(lock_range(a, F_OFD_SETLK, F_WRLCK, 0, 10));
	assert_errno(lock_range(b, F_OFD_SETLK, F_RDLCK, 5, 10), EAGAIN);
	g_assert_no_errno(lock_range(b, F_OFD_SETLK, F_RDLCK, 10, 10));
	close(a);
	g_assert_no_errno(lock_range(b, F_OFD_SETLK, F_WRLCK, 0, 10));
	close(b);
	pm_unmount(pm);
}

/* Name and path errors, and *at() calls relative to a directory in the mount. */
static void test_path_errors(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *longname = g_strnfill(256, 'n');
	g_autofree char *mlong = pm_path(pm, longname);
	g_autofree char *mloop = pm_path(pm, "loop");
	g_autofree char *mf = pm_path(pm, "f");
	g_autofree char *sf = pm_spath(pm, "f");
	g_autofree char *md = pm_path(pm, "d");
	struct stat st;
	int dfd, fd;

	assert_errno(open(mlong, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
	assert_errno(mkdir(mlong, 0755), ENAMETOOLONG);
	g_assert_no_errno(symlink("loop", mloop));
	assert_errno(stat(mloop, &st), ELOOP);
	assert_errno(open(mloop, O_RDONLY), ELOOP);
	assert_errno(open(mloop, O_RDONLY | O_NOFOLLOW), ELOOP);

	put_str(mf, "x");
	assert_errno(rename(mf, sf), EXDEV);
	assert_errno(link(mf, sf), EXDEV);
	g_assert_no_errno(access(mf, R_OK | W_OK));
	assert_errno(access(mf, X_OK), EACCES); /* root, but no x bit at all */
	g_assert_no_errno(chmod(mf, 0700));
	g_assert_no_errno(access(mf, X_OK));

	g_assert_no_errno(mkdir(md, 0755));
	dfd = open_ok(md, O_RDONLY | O_DIRECTORY);
	fd = openat(dfd, "rel", O_CREAT | O_WRONLY, 0644);
	g_assert_cmpint(fd, >=, 0);
	close(fd);
	g_assert_no_errno(renameat(dfd, "rel", dfd, "rel2"));
	g_assert_no_errno(fstatat(dfd, "rel2", &st, 0));
	g_assert_no_errno(fchdir(dfd));
	g_assert_no_errno(stat("rel2", &st));
	g_assert_no_errno(stat("../f", &st));
	g_assert_no_errno(unlinkat(dfd, "rel2", 0));
	g_assert_no_errno(chdir("/"));
	close(dfd);
	assert_same_stat(pm, "d", 0);
	pm_unmount(pm);
}

/* O_DIRECT: aligned I/O works, the rest fails as on the backing file. */
static void test_o_direct(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *b = pm_bpath(pm, "f");
	g_autofree char *sp = pm_spath(pm, "f");
	void *buf = NULL, *rbuf = NULL;
	int fd, sfd;

	g_assert_cmpint(posix_memalign(&buf, 4096, 1 << 20), ==, 0);
	g_assert_cmpint(posix_memalign(&rbuf, 4096, 1 << 20), ==, 0);
	fill_random(buf, 1 << 20);
	fd = open_ok(m, O_CREAT | O_RDWR | O_DIRECT, 0644);
	sfd = open_ok(sp, O_CREAT | O_RDWR | O_DIRECT, 0644);
	if (pwrite(fd, buf, 1 << 20, 0) != 1 << 20)
		g_error("O_DIRECT pwrite of 1 MiB at 0 from an aligned buffer: %s (the "
			"backing "
			"file takes it)",
			g_strerror(errno));
	if (pread(fd, rbuf, 1 << 20, 0) != 1 << 20)
		g_error("O_DIRECT pread of 1 MiB at 0 into an aligned buffer: %s",
			g_strerror(errno));
	g_assert_true(memcmp(buf, rbuf, 1 << 20) == 0);
	assert_contents(b, buf, 1 << 20);
	close(fd);
	close(sfd);
	assert_contents(m, buf, 1 << 20);
	free(buf);
	free(rbuf);
	pm_unmount(pm);
}

/* O_DIRECT with a misaligned buffer and offset: the backing fs' answer. */
static void test_o_direct_misaligned(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *sp = pm_spath(pm, "f");
	void *buf = NULL;
	int fd, sfd;

	g_assert_cmpint(posix_memalign(&buf, 4096, 8192), ==, 0);
	memset(buf, 'x', 8192);
	put(m, buf, 8192);
	put(sp, buf, 8192);
	fd = open_ok(m, O_RDWR | O_DIRECT);
	sfd = open_ok(sp, O_RDWR | O_DIRECT);
	assert_err(err_of(pwrite(fd, (char *)buf + 1, 100, 3)),
		   err_of(pwrite(sfd, (char *)buf + 1, 100, 3)));
	assert_err(err_of(pread(fd, (char *)buf + 1, 100, 3)),
		   err_of(pread(sfd, (char *)buf + 1, 100, 3)));
	close(fd);
	close(sfd);
	free(buf);
	pm_unmount(pm);
}

struct io_thread {
	int fd;
	int index;
	size_t chunk;
	int rounds;
	char *data;
};

/* Write this thread's interleaved chunks, then read them back. */
static gpointer io_thread_fn(gpointer p)
{
	struct io_thread *t = p;

	for (int r = 0; r < t->rounds; r++) {
		off_t off = ((off_t)r * 4 + t->index) * t->chunk;
		char *want = t->data + off;

		if (pwrite(t->fd, want, t->chunk, off) != (ssize_t)t->chunk)
			return GINT_TO_POINTER(1);
	}
	for (int r = 0; r < t->rounds; r++) {
		off_t off = ((off_t)r * 4 + t->index) * t->chunk;
		g_autofree char *got = g_malloc(t->chunk);

		if (pread(t->fd, got, t->chunk, off) != (ssize_t)t->chunk ||
		    memcmp(got, t->data + off, t->chunk))
			return GINT_TO_POINTER(2);
	}
	return NULL;
}

/* Four threads write interleaved chunks of one file at once. */
static void test_concurrent_io(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *b = pm_bpath(pm, "f");
	size_t chunk = 65536 + 512; /* not page aligned */
	int rounds = 64;
	size_t len = chunk * rounds * 4;
	g_autofree char *data = g_malloc(len);
	struct io_thread t[4];
	GThread *th[4];
	int fd;

	fill_random(data, len);
	fd = open_ok(m, O_CREAT | O_RDWR, 0644);
	for (int i = 0; i < 4; i++) {
		t[i] = (struct io_thread){
		    .fd = fd, .index = i, .chunk = chunk, .rounds = rounds, .data = data};
		th[i] = g_thread_new("io", io_thread_fn, &t[i]);
	}
	for (int i = 0; i < 4; i++)
		g_assert_null(g_thread_join(th[i]));
	close(fd);
	assert_contents(m, data, len);
	assert_contents(b, data, len);
	pm_unmount(pm);
}

/* Offsets past 4 GiB (sparse). */
static void test_large_offsets(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *b = pm_bpath(pm, "f");
	off_t big = 5LL << 30;
	char buf[8];
	struct stat st;
	int fd, bfd;

	fd = open_ok(m, O_CREAT | O_RDWR, 0644);
	g_assert_cmpint(pwrite(fd, "far-away", 8, big), ==, 8);
	g_assert_cmpint(pread(fd, buf, 8, big), ==, 8);
	g_assert_cmpmem(buf, 8, "far-away", 8);
	g_assert_cmpint(pread(fd, buf, 8, big - 8), ==, 8);
	g_assert_cmpmem(buf, 8, "\0\0\0\0\0\0\0\0", 8);
	bfd = open(b, O_RDONLY);
	g_assert_cmpint(pread(bfd, buf, 8, big), ==, 8);
	g_assert_cmpmem(buf, 8, "far-away", 8);
	close(bfd);
	g_assert_no_errno(fstat(fd, &st));
	g_assert_cmpint(st.st_size, ==, big + 8);
	g_assert_cmpint(lseek(fd, 0, SEEK_DATA), ==, big & ~4095LL);
	g_assert_no_errno(ftruncate(fd, (6LL << 30) + 1));
	g_assert_no_errno(
	    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, big, 4096));
	g_assert_cmpint(pread(fd, buf, 8, big), ==, 8);
	g_assert_cmpmem(buf, 8, "\0\0\0\0\0\0\0\0", 8);
	close(fd);
	assert_same_stat(pm, "f", CMP_BLOCKS);
	pm_unmount(pm);
}

/* A file replaced by rename() lives on for those who have it open. */
static void test_rename_over_open(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *ma = pm_path(pm, "a");
	g_autofree char *mb = pm_path(pm, "b");
	char buf[16];
	struct stat st;
	int fd;

	put_str(ma, "new");
	put_str(mb, "old");
	fd = open(mb, O_RDWR);
	g_assert_no_errno(rename(ma, mb));
	g_assert_no_errno(fstat(fd, &st));
	g_assert_cmpuint(st.st_nlink, ==, 0);
	g_assert_cmpint(pread(fd, buf, sizeof(buf), 0), ==, 3);
	g_assert_cmpmem(buf, 3, "old", 3);
	g_assert_cmpint(pwrite(fd, "OLD!", 4, 0), ==, 4);
	assert_contents(mb, "new", 3);
	close(fd);
	assert_same_stat(pm, "b", 0);
	pm_unmount(pm);
}

/*
 * libfuse got a tmpfile operation in 3.15 (fuse_lowlevel_ops.tmpfile);
 * meson passes the version pinfs is built against.
 */
#define FUSE_HAS_TMPFILE (LIBFUSE_MAJOR > 3 || LIBFUSE_MINOR >= 15)

/* O_TMPFILE and linkat() of it: what the backing fs does, pinfs must do. */
static void test_tmpfile(void)
{
	struct pm *pm = pm_mount(NULL);
	int mfd = open(pm_mnt(pm), O_TMPFILE | O_RDWR, 0600);
	int merr = mfd < 0 ? errno : 0;
	int sfd = open(pm_scratch(pm), O_TMPFILE | O_RDWR, 0600);
	int serr = sfd < 0 ? errno : 0;

	pm_message("O_TMPFILE: pinfs %s, backing fs %s", ename(merr), ename(serr));
	/*
	 * libfuse 3.14 has no tmpfile operation: it answers the kernel's
	 * FUSE_TMPFILE with ENOSYS, which the kernel turns into EOPNOTSUPP
	 * (callers such as glibc's tmpfile() then fall back to a named file).
	 */
	if (merr == EOPNOTSUPP && serr == 0 && !FUSE_HAS_TMPFILE)
		pm_message("O_TMPFILE: refused, libfuse %d.%d has no tmpfile operation",
			   LIBFUSE_MAJOR, LIBFUSE_MINOR);
	else
		assert_err(merr, serr);
	if (mfd >= 0) {
		g_autofree char *proc = g_strdup_printf("/proc/self/fd/%d", mfd);
		g_autofree char *m = pm_path(pm, "linked");
		g_autofree char *b = pm_bpath(pm, "linked");

		g_assert_cmpint(write(mfd, "tmp", 3), ==, 3);
		g_assert_no_errno(linkat(AT_FDCWD, proc, AT_FDCWD, m, AT_SYMLINK_FOLLOW));
		assert_contents(b, "tmp", 3);
		assert_same_stat(pm, "linked", 0);
		close(mfd);
	}
	if (sfd >= 0)
		close(sfd);
	pm_unmount(pm);
}

/* Symlinks themselves: times, owner, xattrs as the backing fs allows. */
static void test_symlink_attrs(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *ml = pm_path(pm, "l");
	g_autofree char *sl = pm_spath(pm, "l");
	g_autofree char *mf = pm_path(pm, "f");
	struct timespec ts[2] = {{1000, 1}, {2000, 2}};

	g_test_set_nonfatal_assertions(); /* independent checks: report them all */
	put_str(mf, "x");
	g_assert_no_errno(symlink("f", ml));
	g_assert_no_errno(symlink("f", sl));
	assert_err(err_of(lsetxattr(ml, "user.x", "1", 1, 0)),
		   err_of(lsetxattr(sl, "user.x", "1", 1, 0)));
	assert_err(err_of(lsetxattr(ml, "trusted.x", "1", 1, 0)),
		   err_of(lsetxattr(sl, "trusted.x", "1", 1, 0)));
	g_assert_no_errno(lchown(ml, 4242, 4242));
	assert_same_stat(pm, "l", 0);
	/* ext4 sets a symlink's own times */
	g_assert_no_errno(utimensat(AT_FDCWD, sl, ts, AT_SYMLINK_NOFOLLOW));
	g_assert_no_errno(utimensat(AT_FDCWD, ml, ts, AT_SYMLINK_NOFOLLOW));
	assert_same_stat(pm, "l", CMP_TIMES);
	assert_same_stat(pm, "f", CMP_TIMES);
	pm_unmount(pm);
}

struct meta_thread {
	struct pm *pm;
	int index;
	int rounds;
	int failures;
};

/*
 * Create, write, rename, link, stat, unlink, mkdir, rmdir in one directory,
 * from several threads at once: each thread on its own names, plus shared
 * names that the threads rename back and forth under each other.
 */
static gpointer meta_thread_fn(gpointer p)
{
	struct meta_thread *t = p;
	g_autofree char *dir = pm_path(t->pm, "d");

	for (int r = 0; r < t->rounds; r++) {
		g_autofree char *a = g_strdup_printf("%s/a%d-%d", dir, t->index, r);
		g_autofree char *b = g_strdup_printf("%s/b%d-%d", dir, t->index, r);
		g_autofree char *c = g_strdup_printf("%s/c%d-%d", dir, t->index, r);
		g_autofree char *sub = g_strdup_printf("%s/s%d", dir, t->index);
		g_autofree char *s1 = g_strdup_printf("%s/shared%d", dir, r % 3);
		g_autofree char *s2 = g_strdup_printf("%s/shared%d", dir, (r + 1) % 3);
		struct stat st;
		int fd = open(a, O_CREAT | O_EXCL | O_RDWR, 0644);

		if (fd < 0 || write(fd, a, strlen(a)) != (ssize_t)strlen(a)) {
			t->failures++;
			continue;
		}
		close(fd);
		if (rename(a, b) < 0 || link(b, c) < 0 || stat(c, &st) < 0 ||
		    st.st_nlink != 2 || st.st_size != (off_t)strlen(a) || unlink(b) < 0 ||
		    (r != t->rounds - 1 && unlink(c) < 0))
			t->failures++;
		if (mkdir(sub, 0755) < 0 || rmdir(sub) < 0)
			t->failures++;
		/* shared names: ENOENT and EEXIST are the expected outcomes of races */
		fd = open(s1, O_CREAT | O_RDWR, 0644);
		if (fd >= 0)
			close(fd);
		if (rename(s1, s2) < 0 && errno != ENOENT)
			t->failures++;
		if (stat(s2, &st) < 0 && errno != ENOENT)
			t->failures++;
	}
	return NULL;
}

static void test_concurrent_metadata(void)
{
	struct pm *pm = pm_mount(NULL);
	struct meta_thread t[4];
	GThread *th[4];
	g_autofree char *md = pm_path(pm, "d");
	g_autofree char *bd = pm_bpath(pm, "d");
	g_autoptr(GHashTable) ml = NULL, bl = NULL;

	g_assert_no_errno(mkdir(md, 0755));
	for (int i = 0; i < 4; i++) {
		t[i] = (struct meta_thread){.pm = pm, .index = i, .rounds = 400};
		th[i] = g_thread_new("meta", meta_thread_fn, &t[i]);
	}
	for (int i = 0; i < 4; i++) {
		g_thread_join(th[i]);
		g_assert_cmpint(t[i].failures, ==, 0);
	}
	ml = list_dir(md);
	bl = list_dir(bd);
	assert_same_listing(ml, bl);
	/* each thread kept its last c name */
	for (int i = 0; i < 4; i++) {
		g_autofree char *name = g_strdup_printf("d/c%d-%d", i, t[i].rounds - 1);

		assert_same_stat(pm, name, 0);
	}
	pm_unmount(pm);
}

/* ---- permissions --------------------------------------------------------- */

struct perm_args {
	const char *path;
	const char *dir;
};

static int create_as(void *arg)
{
	int fd = open(arg, O_CREAT | O_EXCL | O_WRONLY, 0644);

	if (fd < 0)
		return errno;
	if (write(fd, "owned", 5) != 5)
		return errno;
	if (fchmod(fd, 0644) < 0)
		return errno;
	close(fd);
	return 0;
}

static int write_as(void *arg)
{
	int fd = open(arg, O_WRONLY);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int read_as(void *arg)
{
	char buf[16];
	int fd = open(arg, O_RDONLY);

	if (fd < 0)
		return errno;
	if (read(fd, buf, sizeof(buf)) != 5 || memcmp(buf, "owned", 5))
		return 201;
	close(fd);
	return 0;
}

static int unlink_as(void *arg)
{
	return err_of(unlink(arg));
}

static int truncate_as(void *arg)
{
	return err_of(truncate(arg, 0));
}

static int chmod_as(void *arg)
{
	return err_of(chmod(arg, 0666));
}

static int stat_as(void *arg)
{
	struct stat st;

	return err_of(stat(arg, &st));
}

static int list_as(void *arg)
{
	DIR *d = opendir(arg);

	if (!d)
		return errno;
	while (readdir(d))
		;
	closedir(d);
	return 0;
}

static void test_permissions(void)
{
	struct pm *pm = pm_mount("allow_other,default_permissions");
	g_autofree char *bd = pm_bpath(pm, "d");
	g_autofree char *md = pm_path(pm, "d");
	g_autofree char *mf = pm_path(pm, "d/f");
	g_autofree char *bf = pm_bpath(pm, "d/f");
	g_autofree char *mroot = pm_path(pm, "rootfile");
	g_autofree char *mg = pm_path(pm, "d/g");
	struct stat st;

	g_assert_no_errno(mkdir(bd, 0755));
	g_assert_no_errno(chown(bd, UID_A, UID_A));

	assert_err(pm_run_as(UID_A, UID_A, create_as, mf), 0);
	g_assert_no_errno(lstat(bf, &st));
	g_assert_cmpuint(st.st_uid, ==, UID_A);
	g_assert_cmpuint(st.st_gid, ==, UID_A);
	assert_same_stat(pm, "d/f", 0);

	assert_err(pm_run_as(UID_B, UID_B, write_as, mf), EACCES);
	assert_err(pm_run_as(UID_B, UID_B, truncate_as, mf), EACCES);
	assert_err(pm_run_as(UID_B, UID_B, chmod_as, mf), EPERM);
	assert_err(pm_run_as(UID_B, UID_B, read_as, mf), 0);
	assert_err(pm_run_as(UID_B, UID_B, unlink_as, mf), EACCES);
	assert_err(pm_run_as(UID_B, UID_B, create_as, mg), EACCES);
	g_assert_no_errno(lstat(bf, &st)); /* still there */
	/* the owner can */
	assert_err(pm_run_as(UID_A, UID_A, write_as, mf), 0);
	assert_err(pm_run_as(UID_A, UID_A, unlink_as, mf), 0);
	assert_errno(lstat(bf, &st), ENOENT);

	/* root's 0600 file is not readable by others */
	put_str(mroot, "owned");
	g_assert_no_errno(chmod(mroot, 0600));
	assert_err(pm_run_as(UID_B, UID_B, read_as, mroot), EACCES);
	/* and may list and enter the 0755 directory of another user */
	assert_err(pm_run_as(UID_B, UID_B, stat_as, md), 0);
	assert_err(pm_run_as(UID_B, UID_B, list_as, md), 0);
	pm_unmount(pm);
}

/* Without allow_other, only the mounting user may enter the mount. */
static void test_no_allow_other(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *mf = pm_path(pm, "f");
	g_autofree char *bf = pm_bpath(pm, "f");

	put_str(mf, "owned");
	g_assert_no_errno(chmod(mf, 0644));
	assert_err(pm_run_as(UID_B, UID_B, stat_as, (void *)pm_mnt(pm)), EACCES);
	assert_err(pm_run_as(UID_B, UID_B, read_as, mf), EACCES);
	/* ... while the same files are readable in the backing dir */
	assert_err(pm_run_as(UID_B, UID_B, read_as, bf), 0);
	pm_unmount(pm);
}

/* ---- the command line and signals ---------------------------------------- */

static void test_cli_version_help(void)
{
	const char *bin = pm_bin();
	g_autofree char *out = NULL, *err = NULL, *all = NULL;
	int status;

	if (!bin)
		return;
	status = pm_run_cmd((const char *[]){bin, "--version", NULL}, 10, &out, &err);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	all = g_strconcat(out, err, NULL);
	pm_message("pinfs --version: %s", all);
	g_assert_true(g_regex_match_simple("[0-9]+\\.[0-9]+", all, 0, 0));
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&err, g_free);
	g_clear_pointer(&all, g_free);

	status = pm_run_cmd((const char *[]){bin, "--help", NULL}, 10, &out, &err);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	all = g_strconcat(out, err, NULL);
	g_assert_nonnull(strstr(all, "break_time"));
	g_assert_nonnull(strstr(all, "allow_other"));
}

static void test_cli_errors(void)
{
	const char *bin = pm_bin();
	g_autoptr(GError) gerr = NULL;
	g_autofree char *dir = NULL, *b = NULL, *m = NULL;
	int status;

	if (!bin)
		return;
	dir = g_dir_make_tmp("pinfs-cli-XXXXXX", &gerr);
	g_assert_no_error(gerr);
	b = g_build_filename(dir, "b", NULL);
	m = g_build_filename(dir, "m", NULL);
	g_assert_no_errno(mkdir(b, 0755));
	g_assert_no_errno(mkdir(m, 0755));

	/* an unknown option: a clear message, nothing mounted */
	{
		g_autofree char *out = NULL, *err = NULL;

		status =
		    pm_run_cmd((const char *[]){bin, "-f", "-o", "bogus=1", b, m, NULL},
			       10, &out, &err);
		pm_message("pinfs -o bogus=1: status %d, stderr: %s", status, err);
		g_assert_cmpint(status, !=, -1); /* did not stay mounted */
		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), !=, 0);
		g_assert_nonnull(strstr(err, "bogus"));
		g_assert_false(pm_is_fuse_mount(m));
	}
	/* bad values of pinfs options: refused, naming the option */
	static const char *const bad[] = {
	    "pinned=maybe",  "pinned=",	      "leases=maybe",	       "leases=",
	    "break_time=-1", "break_time=1x", "break_time=4294967296", "break_time=",
	    "timeout=nan",   "timeout=inf",   "timeout=-0.5",	       "timeout=1s",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *err = NULL;
		g_autofree char *name = g_strndup(bad[i], strchr(bad[i], '=') - bad[i]);

		status = pm_run_cmd((const char *[]){bin, "-f", "-o", bad[i], b, m, NULL},
				    10, NULL, &err);
		pm_message("pinfs -o %s: status %d, stderr: %s", bad[i], status, err);
		g_assert_cmpint(status, !=, -1); /* did not stay mounted */
		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), !=, 0);
		g_assert_nonnull(strstr(err, name));
		g_assert_nonnull(strstr(err, "expected")); /* pinfs's message */
		g_assert_false(pm_is_fuse_mount(m));
	}
	/* missing arguments */
	{
		g_autofree char *err = NULL;

		status = pm_run_cmd((const char *[]){bin, NULL}, 10, NULL, &err);
		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), !=, 0);
		g_assert_cmpstr(err, !=, "");
		g_clear_pointer(&err, g_free);
		status = pm_run_cmd((const char *[]){bin, "-f", b, NULL}, 10, NULL, &err);
		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), !=, 0);
		g_assert_false(pm_is_fuse_mount(b));
		g_clear_pointer(&err, g_free);
		/* a backing directory that does not exist */
		status =
		    pm_run_cmd((const char *[]){bin, "-f", "/nonexistent/pinfs", m, NULL},
			       10, NULL, &err);
		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), !=, 0);
		g_assert_false(pm_is_fuse_mount(m));
	}
	rmdir(b);
	rmdir(m);
	rmdir(dir);
}

/* pid of the running "pinfs ... @mnt ..." process, or 0 */
static pid_t find_daemon(const char *mnt)
{
	g_autoptr(GDir) d = g_dir_open("/proc", 0, NULL);
	const char *name;

	while ((name = g_dir_read_name(d))) {
		g_autofree char *path = g_strdup_printf("/proc/%s/cmdline", name);
		g_autofree char *cmd = NULL;
		gsize len;

		if (!g_ascii_isdigit(name[0]) ||
		    !g_file_get_contents(path, &cmd, &len, NULL) || len == 0)
			continue;
		if (!g_str_has_suffix(cmd, "pinfs")) /* argv[0] */
			continue;
		for (gsize i = 0; i < len; i += strlen(cmd + i) + 1)
			if (!strcmp(cmd + i, mnt))
				return atoi(name);
	}
	return 0;
}

static void wait_gone(pid_t pid)
{
	for (int i = 0; i < 1000 && kill(pid, 0) == 0; i++)
		g_usleep(10000);
	assert_errno(kill(pid, 0), ESRCH);
}

/*
 * A daemonized pinfs has no stderr: have sanitizer reports of the processes
 * started from now on written to @dir/sanitizer.PID instead (common flags
 * such as log_path come from ASAN_OPTIONS; UBSAN_OPTIONS for a UBSan-only
 * build).  Harmless in a build without sanitizers.
 */
static void sanitizer_logs_to(const char *dir)
{
	static const char *const vars[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS"};

	for (size_t i = 0; i < G_N_ELEMENTS(vars); i++) {
		const char *old = g_getenv(vars[i]);
		g_autofree char *val =
		    g_strdup_printf("%s%slog_path=%s/sanitizer", old ? old : "",
				    old && *old ? ":" : "", dir);

		g_setenv(vars[i], val, TRUE);
	}
}

/* Fail the test with every sanitizer report found in @dir. */
static void assert_no_sanitizer_logs(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;

	g_assert_nonnull(d);
	while ((name = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(dir, name, NULL);
		g_autofree char *text = NULL;

		if (!g_str_has_prefix(name, "sanitizer."))
			continue;
		g_file_get_contents(p, &text, NULL, NULL);
		g_printerr("%s:\n%s\n", p, text ? text : "(unreadable)");
		g_test_fail_printf("sanitizer report %s", p);
	}
}

/*
 * mount -t fuse.pinfs and an /etc/fstab line, through mount.fuse3, as after
 * an install: the built pinfs is bind-mounted into /usr/local/sbin and a
 * test fstab over /etc/fstab, both only in this test's mount namespace.
 */
static void test_cli_mount_fuse3(void)
{
	const char *bin = pm_bin();
	g_autoptr(GError) gerr = NULL;
	g_autofree char *dir = NULL, *b = NULL, *m = NULL, *sbin = NULL, *link = NULL;
	g_autofree char *fstab = NULL, *line = NULL, *f = NULL, *bf = NULL, *err = NULL;
	g_autofree char *sanlogs = NULL;
	pid_t pid;
	int status;

	if (!bin)
		return;
	if (!pm_private_ns() || access("/usr/sbin/mount.fuse3", X_OK) < 0) {
		pm_skip("needs a private mount namespace and mount.fuse3");
		return;
	}
	dir = g_dir_make_tmp("pinfs-fuse3-XXXXXX", &gerr);
	g_assert_no_error(gerr);
	b = g_build_filename(dir, "b", NULL);
	m = g_build_filename(dir, "m", NULL);
	sbin = g_build_filename(dir, "sbin", NULL);
	link = g_build_filename(sbin, "pinfs", NULL);
	fstab = g_build_filename(dir, "fstab", NULL);
	f = g_build_filename(m, "f", NULL);
	bf = g_build_filename(b, "f", NULL);
	sanlogs = g_build_filename(dir, "sanitizer", NULL);
	g_assert_no_errno(mkdir(b, 0755));
	g_assert_no_errno(mkdir(m, 0755));
	g_assert_no_errno(mkdir(sbin, 0755));
	g_assert_no_errno(mkdir(sanlogs, 0755));
	sanitizer_logs_to(sanlogs);
	g_assert_no_errno(symlink(bin, link));
	g_assert_no_errno(mount(sbin, "/usr/local/sbin", NULL, MS_BIND, NULL));

	status = pm_run_cmd((const char *[]){"/bin/mount", "-t", "fuse.pinfs", "-o",
					     "allow_other", b, m, NULL},
			    30, NULL, &err);
	pm_message("mount -t fuse.pinfs: %s", err);
	g_assert_cmpint(status, ==, 0);
	g_assert_true(pm_is_fuse_mount(m));
	pid = find_daemon(m);
	pm_watch(m, pid); /* daemonized, not our child: have it cleaned up if we die */
	g_assert_cmpint(pid, >, 0);
	put_str(f, "via mount.fuse3");
	assert_contents(bf, "via mount.fuse3", 15);
	g_assert_cmpint(
	    pm_run_cmd((const char *[]){"/bin/umount", m, NULL}, 30, NULL, NULL), ==, 0);
	wait_gone(pid);
	g_assert_false(pm_is_fuse_mount(m));

	/* from fstab, with a pinfs option */
	line = g_strdup_printf("%s %s fuse.pinfs allow_other,break_time=3 0 0\n", b, m);
	g_assert_true(g_file_set_contents(fstab, line, -1, NULL));
	g_assert_no_errno(mount(fstab, "/etc/fstab", NULL, MS_BIND, NULL));
	g_clear_pointer(&err, g_free);
	status = pm_run_cmd((const char *[]){"/bin/mount", m, NULL}, 30, NULL, &err);
	pm_message("mount (fstab): %s", err);
	g_assert_cmpint(status, ==, 0);
	g_assert_true(pm_is_fuse_mount(m));
	pid = find_daemon(m);
	pm_watch(m, pid);
	g_assert_cmpint(pid, >, 0);
	assert_contents(f, "via mount.fuse3", 15);
	g_assert_cmpint(
	    pm_run_cmd((const char *[]){"/bin/umount", m, NULL}, 30, NULL, NULL), ==, 0);
	wait_gone(pid);
	pm_unwatch(m);
	assert_no_sanitizer_logs(sanlogs);

	g_assert_no_errno(umount("/etc/fstab"));
	g_assert_no_errno(umount("/usr/local/sbin"));
	pm_run_cmd((const char *[]){"/bin/rm", "-rf", dir, NULL}, 30, NULL, NULL);
}

/* A small workload and its check, for the mount variants below. */
static void small_workload(struct pm *pm)
{
	g_autofree char *m = pm_path(pm, "w");
	g_autofree char *b = pm_bpath(pm, "w");
	g_autofree char *mwd = pm_path(pm, "wd");
	g_autofree char *mwdw = pm_path(pm, "wd/w");
	g_autofree char *bwdw = pm_bpath(pm, "wd/w");

	put_str(m, "workload");
	g_assert_no_errno(mkdir(mwd, 0755));
	g_assert_no_errno(rename(m, mwdw));
	assert_contents(bwdw, "workload", 8);
	g_assert_cmpint(access(b, F_OK), ==, -1);
	g_assert_no_errno(unlink(mwdw));
	g_assert_no_errno(rmdir(mwd));
}

static void test_cli_single_thread(void)
{
	struct pm *pm = pm_mount_argv(NULL, (const char *[]){"-s", NULL});

	small_workload(pm);
	pm_unmount(pm);
}

static void test_cli_debug(void)
{
	struct pm *pm = pm_mount_argv(NULL, (const char *[]){"-d", NULL});
	g_autofree char *log = NULL;

	/* -d traces every request, failed ones as "unique: N, error: -2 ..." */
	pm_expect_log(pm, "unique: [0-9]+, error: ");
	small_workload(pm);
	log = pm_daemon_log(pm);
	g_assert_nonnull(strstr(log, "MKDIR"));
	pm_unmount(pm);
}

/* Occurrences of needle in haystack. */
static int count_of(const char *haystack, const char *needle)
{
	int n = 0;

	for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/*
 * The kernel asks before a write whether it must drop file capabilities
 * (GETXATTR security.capability).  pinfs negotiates FUSE_HANDLE_KILLPRIV_V2
 * (fs/wire.c), so the kernel remembers the answer "none" for the inode
 * (S_NOSEC) instead of asking again before every write; the capability is
 * still dropped by a write, as the backing filesystem drops it, by root or
 * not.
 */
static void test_write_kill_caps(void)
{
	struct pm *pm = pm_mount_argv("allow_other", (const char *[]){"-d", NULL});
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *b = pm_bpath(pm, "f");
	g_autofree char *log = NULL;
	/* struct vfs_cap_data, revision 2: cap_net_raw permitted. */
	const uint32_t cap[5] = {0x02000000, 1u << 13, 0, 0, 0};
	int fd, asks;

	pm_expect_log(pm, "unique: [0-9]+, error: ");
	put_str(m, "0123456789");
	g_assert_no_errno(chmod(b, 0666));
	for (int who = 0; who < 2; who++) {
		g_assert_no_errno(
		    setxattr(b, "security.capability", cap, sizeof(cap), 0));
		if (who == 0)
			g_assert_cmpint(pm_write_byte(m), ==, 0);
		else
			g_assert_cmpint(pm_run_as(UID_A, UID_A, pm_write_byte, m), ==, 0);
		errno = 0;
		g_assert_cmpint(getxattr(b, "security.capability", NULL, 0), ==, -1);
		g_assert_cmpint(errno, ==, ENODATA);
	}

	/* 200 writes: the kernel asks once, or after an attribute refresh. */
	fd = open(m, O_WRONLY);
	g_assert_cmpint(fd, >=, 0);
	for (int i = 0; i < 200; i++)
		g_assert_cmpint(pwrite(fd, "y", 1, i), ==, 1);
	g_assert_no_errno(close(fd));
	log = pm_daemon_log(pm);
	asks = count_of(log, "GETXATTR");
	pm_message("GETXATTR requests for 2 + 200 writes: %d", asks);
	g_assert_cmpint(asks, <, 20);
	pm_unmount(pm);
}

/* In a kid: truncate the path to 0; 0 or the errno. */
static int truncate_fn(void *path)
{
	return truncate(path, 0) < 0 ? errno : 0;
}

/*
 * What leases= and pinned= say, seen from outside: the features the daemon
 * reports, and what a truncate does to a range a lease pinned (the pin
 * outlives the lease's release).
 */
static void assert_options_took_effect(struct pm *pm, gboolean leases,
				       gboolean pinned_fail)
{
	g_autofree char *path = pm_path(pm, "option-check");
	struct pinfs_version v;
	uint64_t id;
	struct kid *k;
	int fd;

	put_str(path, "0123456789");
	fd = open_ok(path, O_RDWR | O_CLOEXEC);
	g_assert_no_errno(pinfs_probe(fd, &v));
	g_assert_cmpuint(!!(v.features & PINFS_FEAT_LEASES), ==, leases);
	if (!leases) {
		assert_errno(pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, 0), EOPNOTSUPP);
		goto out;
	}
	g_assert_no_errno(pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, 0));
	g_assert_no_errno(pinfs_pin(fd, 0, 4096, &id));
	g_assert_no_errno(pinfs_release(fd));
	k = kid_start(truncate_fn, path);
	if (pinned_fail) {
		assert_err(kid_answer(k, "truncate over a pin, pinned=fail"), ETXTBSY);
		g_assert_no_errno(pinfs_unpin(fd, id));
	} else {
		kid_assert_busy(k, 300, "truncate over a pin, pinned=wait");
		g_assert_no_errno(pinfs_unpin(fd, id));
		assert_err(kid_answer(k, "truncate after the unpin"), 0);
	}
	kid_end(k);
	g_assert_cmpint(size_of(path), ==, pinned_fail ? 10 : 0);
out:
	close(fd);
	g_assert_no_errno(unlink(path));
}

/* pinfs' own options are accepted and take effect (and standard ones pass
 * through) */
static void test_cli_pinfs_options(void)
{
	static const struct {
		const char *opts;
		gboolean leases, pinned_fail;
	} cases[] = {
	    {"break_time=1", TRUE, FALSE},
	    {"pinned=wait", TRUE, FALSE},
	    {"pinned=fail", TRUE, TRUE},
	    {"leases=on", TRUE, FALSE},
	    {"leases=off", FALSE, FALSE},
	    {"break_time=0,pinned=fail,leases=on,allow_other,default_permissions", TRUE,
	     TRUE},
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct pm *pm = pm_mount(cases[i].opts);

		pm_message("-o %s", cases[i].opts);
		if (cases[i].pinned_fail)
			pm_expect_log(pm, "refus");
		small_workload(pm);
		assert_options_took_effect(pm, cases[i].leases, cases[i].pinned_fail);
		pm_unmount(pm);
	}
}

static void check_signal_unmounts(int sig)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *mnt = g_strdup(pm_mnt(pm));
	g_autofree char *mf = pm_path(pm, "f");
	int status;

	put_str(mf, "x");
	status = pm_kill_daemon(pm, sig);
	g_assert_cmpint(status, !=, -1);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	g_assert_false(pm_is_fuse_mount(mnt));
	pm_unmount(pm);
}

static void test_sigterm(void)
{
	check_signal_unmounts(SIGTERM);
}

static void test_sigint(void)
{
	check_signal_unmounts(SIGINT);
}

int main(int argc, char **argv)
{
	umask(022);
	pm_init(&argc, &argv);

	pm_add_test("/passthrough/lookup", test_lookup);
	pm_add_test("/passthrough/setattr/chmod", test_chmod);
	pm_add_test("/passthrough/setattr/chown", test_chown);
	pm_add_test("/passthrough/setattr/truncate", test_truncate);
	pm_add_test("/passthrough/setattr/utimens", test_utimens);
	pm_add_test("/passthrough/symlink-readlink", test_symlink_readlink);
	pm_add_test("/passthrough/mknod-mkdir", test_mknod_mkdir);
	pm_add_test("/passthrough/unlink-rmdir", test_unlink_rmdir);
	pm_add_test("/passthrough/rename", test_rename);
	pm_add_test("/passthrough/link", test_link);
	pm_add_test("/passthrough/inode-identity", test_inode_identity);
	pm_add_test("/passthrough/open-create", test_open_create);
	pm_add_test("/passthrough/read-write", test_read_write);
	pm_add_test("/passthrough/backing-change-reopen", test_backing_change_reopen);
	pm_add_test("/passthrough/append", test_append);
	pm_add_test("/passthrough/writeback-cache", test_writeback_cache);
	pm_add_test("/passthrough/fsync", test_fsync);
	pm_add_test("/passthrough/readdir", test_readdir);
	pm_add_test("/passthrough/readdirplus", test_readdirplus);
	pm_add_test("/passthrough/statfs", test_statfs);
	pm_add_test("/passthrough/xattr", test_xattr);
	pm_add_test("/passthrough/write-kill-caps", test_write_kill_caps);
	pm_add_test("/passthrough/fallocate", test_fallocate);
	pm_add_test("/passthrough/copy-file-range", test_copy_file_range);
	pm_add_test("/passthrough/lseek-data-hole", test_lseek_data_hole);
	pm_add_test("/passthrough/flock", test_flock);
	pm_add_test("/passthrough/poll", test_poll);
	pm_add_test("/passthrough/ioctl", test_ioctl);
	pm_add_test("/passthrough/unlinked-open", test_unlinked_open);
	pm_add_test("/passthrough/mmap-coherence", test_mmap_coherence);
	pm_add_test("/passthrough/fd-leak", test_fd_leak);
	pm_add_test("/passthrough/times-after-io", test_times_after_io);
	pm_add_test("/passthrough/many-open-files", test_many_open_files);
	pm_add_test("/passthrough/posix-locks", test_posix_locks);
	pm_add_test("/passthrough/path-errors", test_path_errors);
	pm_add_test("/passthrough/o-direct", test_o_direct);
	pm_add_test("/passthrough/o-direct-misaligned", test_o_direct_misaligned);
	pm_add_test("/passthrough/concurrent-io", test_concurrent_io);
	pm_add_test("/passthrough/concurrent-metadata", test_concurrent_metadata);
	pm_add_test("/passthrough/large-offsets", test_large_offsets);
	pm_add_test("/passthrough/rename-over-open", test_rename_over_open);
	pm_add_test("/passthrough/tmpfile", test_tmpfile);
	pm_add_test("/passthrough/symlink-attrs", test_symlink_attrs);
	pm_add_test("/passthrough/permissions/allow-other", test_permissions);
	pm_add_test("/passthrough/permissions/no-allow-other", test_no_allow_other);
	pm_add_test("/passthrough/cli/version-help", test_cli_version_help);
	pm_add_test("/passthrough/cli/errors", test_cli_errors);
	pm_add_test("/passthrough/cli/mount-fuse3-fstab", test_cli_mount_fuse3);
	pm_add_test("/passthrough/cli/single-thread", test_cli_single_thread);
	pm_add_test("/passthrough/cli/debug", test_cli_debug);
	pm_add_test("/passthrough/cli/pinfs-options", test_cli_pinfs_options);
	pm_add_test("/passthrough/signal/sigterm", test_sigterm);
	pm_add_test("/passthrough/signal/sigint", test_sigint);
	return g_test_run();
}
