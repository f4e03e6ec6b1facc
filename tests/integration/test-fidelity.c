// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fidelity tests: the same operations, by root and by an ordinary user, in a
 * plain directory of the backing filesystem (pm_scratch(), the reference) and
 * in the pinfs mount; then the metadata both leave behind (mode, owner,
 * size, POSIX ACLs, atime changes, file handles) must be the same.
 *
 * Each case has a setup (run as root), an act (run as the actor, in a child
 * with no supplementary groups, whose result is part of what is compared)
 * and a list of paths to describe afterwards.
 */
#include "check.h"
#include "mount.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define UID_A 4242
#define UID_B 4243
#define GID_OTHER 100 /* a group UID_A is not in */

struct actor {
	uid_t uid;
	gid_t gid;
};

static const struct actor actors[] = {{0, 0}, {UID_A, UID_A}};

/* ---- Building blocks ---- */

static char *at(const char *dir, const char *rel)
{
	return g_build_filename(dir, rel, NULL);
}

static void make_file(const char *dir, const char *rel, size_t size, mode_t mode,
		      uid_t uid, gid_t gid)
{
	g_autofree char *p = at(dir, rel);
	g_autofree char *data = g_malloc(size);
	int fd;

	memset(data, 'a', size);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(write(fd, data, size), ==, (ssize_t)size);
	g_assert_no_errno(fchown(fd, uid, gid));
	g_assert_no_errno(fchmod(fd, mode));
	g_assert_no_errno(close(fd));
}

static void make_dir(const char *dir, const char *rel, mode_t mode, uid_t uid, gid_t gid)
{
	g_autofree char *p = at(dir, rel);

	g_assert_no_errno(mkdir(p, 0700));
	g_assert_no_errno(chown(p, uid, gid));
	g_assert_no_errno(chmod(p, mode));
}

/*
 * A POSIX ACL in the kernel's xattr form from "tag:id:perm" entries
 * ("u::7", "u:4243:5", "g::7", "m::7", "o::0"), in the order given (which
 * must be the kernel's: u::, u:N, g::, g:N, m::, o::).
 */
static GBytes *acl_bytes(const char *const *entries)
{
	GByteArray *b = g_byte_array_new();
	guint32 version = 2;

	g_byte_array_append(b, (guint8 *)&version, 4);
	for (size_t i = 0; entries[i]; i++) {
		char tag;
		unsigned perm;
		guint16 t, p;
		guint32 id = (guint32)-1;
		g_auto(GStrv) f = g_strsplit(entries[i], ":", 3);

		tag = f[0][0];
		perm = (unsigned)atoi(f[2]);
		if (*f[1])
			id = (guint32)atoi(f[1]);
		switch (tag) {
		case 'u':
			t = *f[1] ? 0x02 : 0x01;
			break;
		case 'g':
			t = *f[1] ? 0x08 : 0x04;
			break;
		case 'm':
			t = 0x10;
			break;
		default:
			t = 0x20;
			break;
		}
		p = (guint16)perm;
		g_byte_array_append(b, (guint8 *)&t, 2);
		g_byte_array_append(b, (guint8 *)&p, 2);
		g_byte_array_append(b, (guint8 *)&id, 4);
	}
	return g_byte_array_free_to_bytes(b);
}

static void set_acl(const char *dir, const char *rel, const char *which,
		    const char *const *entries)
{
	g_autofree char *p = at(dir, rel);
	g_autoptr(GBytes) acl = acl_bytes(entries);
	gsize n;
	const void *v = g_bytes_get_data(acl, &n);

	g_assert_no_errno(setxattr(p, which, v, n, 0));
}

/* An ACL xattr as text ("-" if there is none). */
static void append_acl(GString *s, const char *p, const char *which)
{
	guint8 buf[1024];
	ssize_t n = lgetxattr(p, which, buf, sizeof(buf));

	if (n < 0) {
		g_string_append_printf(s, " %s=%s", which + 17, ename(errno));
		return;
	}
	g_string_append_printf(s, " %s=", which + 17);
	for (ssize_t i = 4; i + 8 <= n; i += 8) {
		guint16 t, perm;
		guint32 id;

		memcpy(&t, buf + i, 2);
		memcpy(&perm, buf + i + 2, 2);
		memcpy(&id, buf + i + 4, 4);
		if (t == 0x02 || t == 0x08)
			g_string_append_printf(s, "%x:%u:%o,", t, id, perm);
		else
			g_string_append_printf(s, "%x::%o,", t, perm);
	}
}

/* What a path looks like afterwards: type, mode, owner, size, ACLs. */
static void describe(GString *s, const char *dir, const char *rel)
{
	g_autofree char *p = at(dir, rel);
	struct stat st;

	if (lstat(p, &st) < 0) {
		g_string_append_printf(s, "%s: %s\n", rel, ename(errno));
		return;
	}
	g_string_append_printf(s, "%s: %o %u:%u", rel, st.st_mode, st.st_uid, st.st_gid);
	if (S_ISREG(st.st_mode))
		g_string_append_printf(s, " size=%lld", (long long)st.st_size);
	if (st.st_mtime == 1234567890) /* set by act_times */
		g_string_append(s, " mtime=set");
	if (st.st_atime == 1234567890)
		g_string_append(s, " atime=set");
	if (!S_ISLNK(st.st_mode)) {
		append_acl(s, p, "system.posix_acl_access");
		if (S_ISDIR(st.st_mode))
			append_acl(s, p, "system.posix_acl_default");
	}
	g_string_append_c(s, '\n');
}

/* ---- The metadata cases ---- */

struct fcase {
	const char *name;
	void (*setup)(const char *dir);
	int (*act)(void *dir); /* as the actor: 0 or an errno (< 256) */
	const char *observe[8];
};

/* Set-ID files writable by UID_A, group GID_OTHER (not UID_A's). */
static void setup_setid(const char *dir)
{
	make_file(dir, "f", 8192, 06777, UID_A, GID_OTHER);
	make_file(dir, "nogx", 8192, 06767, UID_A, GID_OTHER);
}

static int act_write(void *dir)
{
	const char *names[] = {"f", "nogx"};

	for (int i = 0; i < 2; i++) {
		g_autofree char *p = at(dir, names[i]);
		int fd = open(p, O_WRONLY);

		if (fd < 0 || pwrite(fd, "xyz", 3, 10) != 3)
			return errno;
		close(fd);
	}
	return 0;
}

static int act_write_direct(void *dir)
{
	const char *names[] = {"f", "nogx"};
	void *buf;

	if (posix_memalign(&buf, 4096, 4096))
		return ENOMEM;
	memset(buf, 'd', 4096);
	for (int i = 0; i < 2; i++) {
		g_autofree char *p = at(dir, names[i]);
		int fd = open(p, O_WRONLY | O_DIRECT);

		if (fd < 0 || pwrite(fd, buf, 4096, 4096) != 4096)
			return errno;
		close(fd);
	}
	free(buf);
	return 0;
}

static int act_truncate(void *dir)
{
	g_autofree char *p = at(dir, "f");
	g_autofree char *q = at(dir, "nogx");

	if (truncate(p, 100) < 0 || truncate(q, 100) < 0)
		return errno;
	return 0;
}

static int act_ftruncate(void *dir)
{
	g_autofree char *p = at(dir, "f");
	int fd = open(p, O_WRONLY);

	if (fd < 0 || ftruncate(fd, 20000) < 0)
		return errno;
	close(fd);
	return 0;
}

static int act_fallocate(void *dir)
{
	g_autofree char *p = at(dir, "f");
	int fd = open(p, O_WRONLY);

	if (fd < 0 || fallocate(fd, 0, 0, 65536) < 0)
		return errno;
	close(fd);
	return 0;
}

static int act_open_trunc(void *dir)
{
	g_autofree char *p = at(dir, "f");
	int fd = open(p, O_WRONLY | O_TRUNC);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int act_chown_own_group(void *dir)
{
	g_autofree char *p = at(dir, "f");

	/* The owner may give the file to his own group; root to any. */
	if (chown(p, (uid_t)-1, getgid()) < 0)
		return errno;
	return 0;
}

/* chmod g+s of a file UID_A owns, group GID_OTHER, and one of group UID_A. */
static void setup_chmod(const char *dir)
{
	make_file(dir, "other", 10, 0755, UID_A, GID_OTHER);
	make_file(dir, "own", 10, 0755, UID_A, UID_A);
}

static int act_chmod_sgid(void *dir)
{
	g_autofree char *p = at(dir, "other");
	g_autofree char *q = at(dir, "own");

	if (chmod(p, 02755) < 0 || chmod(q, 06755) < 0)
		return errno;
	return 0;
}

/* A set-group-ID directory of group GID_OTHER, and one of group UID_A. */
static void setup_sgid_dir(const char *dir)
{
	make_dir(dir, "d", 02777, 0, GID_OTHER);
	make_dir(dir, "m", 02777, 0, UID_A);
}

static int act_create_in_sgid(void *dir)
{
	const char *dirs[] = {"d", "m"};

	umask(0);
	for (int i = 0; i < 2; i++) {
		g_autofree char *f = g_strdup_printf("%s/%s/f", (char *)dir, dirs[i]);
		g_autofree char *sub = g_strdup_printf("%s/%s/sub", (char *)dir, dirs[i]);
		g_autofree char *sub2 =
		    g_strdup_printf("%s/%s/sub/sub2", (char *)dir, dirs[i]);
		g_autofree char *fifo = g_strdup_printf("%s/%s/p", (char *)dir, dirs[i]);
		g_autofree char *ln = g_strdup_printf("%s/%s/l", (char *)dir, dirs[i]);
		int fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 02775);

		if (fd < 0)
			return errno;
		close(fd);
		if (mkdir(sub, 0775) < 0 || mkdir(sub2, 0700) < 0 ||
		    mkfifo(fifo, 02775) < 0 || symlink("f", ln) < 0)
			return errno;
	}
	return 0;
}

/* A directory with a default ACL: no umask on top, inherited below. */
static void setup_default_acl(const char *dir)
{
	const char *const plain[] = {"u::7", "g::7", "o::7", NULL};
	const char *const named[] = {"u::7", "u:4243:5", "g::5", "m::7", "o::0", NULL};

	make_dir(dir, "d", 0777, 0, 0);
	set_acl(dir, "d", "system.posix_acl_default", plain);
	make_dir(dir, "n", 0777, 0, 0);
	set_acl(dir, "n", "system.posix_acl_default", named);
	make_dir(dir, "none", 0777, 0, 0);
}

static int act_create_with_acl(void *dir)
{
	const char *dirs[] = {"d", "n", "none"};

	umask(022);
	for (int i = 0; i < 3; i++) {
		g_autofree char *f = g_strdup_printf("%s/%s/f", (char *)dir, dirs[i]);
		g_autofree char *x = g_strdup_printf("%s/%s/x", (char *)dir, dirs[i]);
		g_autofree char *sub = g_strdup_printf("%s/%s/sub", (char *)dir, dirs[i]);
		g_autofree char *sub2 =
		    g_strdup_printf("%s/%s/sub/sub2", (char *)dir, dirs[i]);
		g_autofree char *fifo = g_strdup_printf("%s/%s/p", (char *)dir, dirs[i]);
		int fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0666);

		if (fd < 0)
			return errno;
		close(fd);
		fd = open(x, O_WRONLY | O_CREAT | O_EXCL, 0750);
		if (fd < 0)
			return errno;
		close(fd);
		if (mkdir(sub, 0777) < 0 || mkdir(sub2, 0750) < 0 ||
		    mkfifo(fifo, 0666) < 0)
			return errno;
	}
	return 0;
}

/* Access decided by an ACL entry the mode bits do not show. */
static void setup_access_acl(const char *dir)
{
	const char *const acl[] = {"u::6", "u:4242:4", "g::0", "m::4", "o::0", NULL};
	const char *const dacl[] = {"u::7", "u:4242:5", "g::0", "m::5", "o::0", NULL};

	make_file(dir, "f", 100, 0600, 0, 0);
	set_acl(dir, "f", "system.posix_acl_access", acl);
	make_dir(dir, "d", 0700, 0, 0);
	set_acl(dir, "d", "system.posix_acl_access", dacl);
	make_file(dir, "d/g", 10, 0644, 0, 0);
}

static int act_use_access_acl(void *dir)
{
	g_autofree char *f = at(dir, "f");
	g_autofree char *g = at(dir, "d/g");
	g_autofree char *n = at(dir, "d/new");
	int r = 0, fd;

	fd = open(f, O_RDONLY);
	r |= fd < 0 ? 1 : (close(fd), 0);
	fd = open(f, O_WRONLY);
	r |= fd < 0 ? 2 : (close(fd), 0);
	fd = open(g, O_RDONLY);
	r |= fd < 0 ? 4 : (close(fd), 0);
	fd = open(n, O_WRONLY | O_CREAT, 0644);
	r |= fd < 0 ? 8 : (close(fd), 0);
	return r;
}

/* The owner sets an ACL, then changes the mode: both must stay in step. */
static void setup_own_file(const char *dir)
{
	make_file(dir, "f", 10, 02770, UID_A, GID_OTHER);
	make_file(dir, "g", 10, 0640, UID_A, UID_A);
}

static int act_set_acl_and_chmod(void *dir)
{
	const char *const acl[] = {"u::6", "u:4243:6", "g::4", "m::6", "o::0", NULL};
	g_autoptr(GBytes) b = acl_bytes(acl);
	g_autofree char *f = at(dir, "f");
	g_autofree char *g = at(dir, "g");
	gsize n;
	const void *v = g_bytes_get_data(b, &n);

	/* An ACL set by a non-member of the file's group clears set-group-ID. */
	if (setxattr(f, "system.posix_acl_access", v, n, 0) < 0)
		return errno;
	if (setxattr(g, "system.posix_acl_access", v, n, 0) < 0 || chmod(g, 0604) < 0)
		return errno;
	return 0;
}

/* ---- O_DIRECT: mappings, the page cache, stale pages ---- */

#define DIO_SIZE 65536

static void setup_dio(const char *dir)
{
	make_file(dir, "f", DIO_SIZE, 0666, 0, 0);
}

/* A shared mapping of an O_DIRECT file, kept coherent with direct writes. */
static int act_dio_mmap(void *dir)
{
	g_autofree char *p = at(dir, "f");
	int fd = open(p, O_RDWR | O_DIRECT), bfd;
	char *map, c = 0;
	void *buf;

	if (fd < 0)
		return errno;
	map = mmap(NULL, DIO_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return errno;
	if (map[0] != 'a')
		return 200;
	map[100] = 'M';
	if (msync(map, DIO_SIZE, MS_SYNC) < 0)
		return errno;
	if (posix_memalign(&buf, 4096, 4096))
		return ENOMEM;
	memset(buf, 'D', 4096);
	if (pwrite(fd, buf, 4096, 8192) != 4096)
		return errno;
	if (map[8192] != 'D')
		return 201;
	munmap(map, DIO_SIZE);
	close(fd);
	free(buf);
	bfd = open(p, O_RDONLY);
	if (bfd < 0 || pread(bfd, &c, 1, 100) != 1)
		return errno;
	close(bfd);
	return c == 'M' ? 0 : 202;
}

/* Pages of the file in the page cache (mincore through a mapping). */
static int resident_pages(int fd)
{
	unsigned char vec[DIO_SIZE / 4096];
	void *map = mmap(NULL, DIO_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	int n = 0;

	if (map == MAP_FAILED)
		return -1;
	if (mincore(map, DIO_SIZE, vec) < 0)
		n = -1;
	for (size_t i = 0; n >= 0 && i < sizeof(vec); i++)
		n += vec[i] & 1;
	munmap(map, DIO_SIZE);
	return n;
}

/* O_DIRECT reads and writes leave nothing in the page cache. */
static int act_dio_bypass(void *dir)
{
	g_autofree char *p = at(dir, "f");
	int bfd = open(p, O_RDONLY), fd = open(p, O_RDWR | O_DIRECT), r;
	void *buf;

	if (bfd < 0 || fd < 0)
		return errno;
	if (posix_memalign(&buf, 4096, DIO_SIZE))
		return ENOMEM;
	fdatasync(bfd); /* dirty pages would stay */
	posix_fadvise(bfd, 0, 0, POSIX_FADV_DONTNEED);
	if (pread(fd, buf, DIO_SIZE, 0) != DIO_SIZE)
		return errno;
	r = resident_pages(bfd);
	if (r != 0)
		return 100 + r;
	if (pwrite(fd, buf, DIO_SIZE, 0) != DIO_SIZE)
		return errno;
	r = resident_pages(bfd);
	if (r != 0)
		return 150 + r;
	close(fd);
	close(bfd);
	free(buf);
	return 0;
}

/*
 * Buffered reads racing asynchronous O_DIRECT writes (Linux AIO): once a
 * write has completed, a buffered read must return what it wrote.
 */
static int act_dio_stale(void *dir)
{
	g_autofree char *p = at(dir, "f");
	int bfd = open(p, O_RDONLY), fd = open(p, O_WRONLY | O_DIRECT), stale = 0;
	aio_context_t ctx = 0;
	char *buf, rbuf[4096];

	if (bfd < 0 || fd < 0)
		return errno;
	if (syscall(SYS_io_setup, 1, &ctx) < 0)
		return errno;
	if (posix_memalign((void **)&buf, 4096, 4096))
		return ENOMEM;
	for (int i = 0; i < 300; i++) {
		struct iocb cb = {0}, *cbs[1] = {&cb};
		struct io_event ev;
		int done = 0;

		memset(buf, 'A' + i % 26, 4096);
		if (pread(bfd, rbuf, sizeof(rbuf), 0) < 0) /* cache the old data */
			return errno;
		cb.aio_lio_opcode = IOCB_CMD_PWRITE;
		cb.aio_fildes = (guint32)fd;
		cb.aio_buf = (guint64)(uintptr_t)buf;
		cb.aio_nbytes = 4096;
		cb.aio_offset = 0;
		if (syscall(SYS_io_submit, ctx, 1, cbs) != 1)
			return errno;
		while (!done) {
			struct timespec zero = {0, 0};
			long n = syscall(SYS_io_getevents, ctx, 0, 1, &ev, &zero);

			if (n < 0)
				return errno;
			done = n == 1;
			if (pread(bfd, rbuf, sizeof(rbuf), 0) < 0) /* race it */
				return errno;
		}
		if (ev.res != 4096)
			return 250;
		if (pread(bfd, rbuf, sizeof(rbuf), 0) != sizeof(rbuf))
			return errno;
		stale += memcmp(rbuf, buf, sizeof(rbuf)) != 0;
	}
	syscall(SYS_io_destroy, ctx);
	close(fd);
	close(bfd);
	free(buf);
	return MIN(stale, 99) ? 100 + MIN(stale, 99) : 0;
}

/* Up to four results in one exit status: 0 ok, 1 EPERM, 2 EACCES, 3 else,
 * two bits each, the first call lowest. */
static int outcome(int *acc, int shift, int ret)
{
	int code = ret == 0 ? 0 : errno == EPERM ? 1 : errno == EACCES ? 2 : 3;

	*acc |= code << (2 * shift);
	return *acc;
}

/* A file of root's that anyone may write, one of UID_A's. */
static void setup_times(const char *dir)
{
	make_file(dir, "r", 10, 0666, 0, 0);
	make_file(dir, "own", 10, 0644, UID_A, UID_A);
}

/* utimensat: "now" needs write access, explicit times ownership. */
static int act_times(void *dir)
{
	g_autofree char *r = at(dir, "r"), *own = at(dir, "own");
	struct timespec set[2] = {{1234567890, 0}, {1234567890, 0}};
	struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
	struct timespec omit[2] = {{0, UTIME_OMIT}, {1234567890, 0}};
	int acc = 0;

	outcome(&acc, 0, utimensat(AT_FDCWD, r, NULL, 0));
	outcome(&acc, 1, utimensat(AT_FDCWD, r, now, 0));
	outcome(&acc, 2, utimensat(AT_FDCWD, r, omit, 0));
	return outcome(&acc, 3, utimensat(AT_FDCWD, own, set, 0));
}

/* A file of UID_A's in his own group, one of root's. */
static void setup_owner_rules(const char *dir)
{
	make_file(dir, "f", 10, 06755, UID_A, UID_A);
	make_file(dir, "r", 10, 0644, 0, 0);
}

/* chown and chmod: who may give a file away, to which group, and chmod a
 * file of someone else's. */
static int act_owner_rules(void *dir)
{
	g_autofree char *f = at(dir, "f"), *r = at(dir, "r");
	int acc = 0;

	outcome(&acc, 0, chown(f, UID_B, (gid_t)-1));
	outcome(&acc, 1, chown(f, (uid_t)-1, GID_OTHER));
	outcome(&acc, 2, chmod(r, 0600));
	return outcome(&acc, 3, chown(f, (uid_t)-1, (gid_t)-1)); /* kills nothing */
}

/* One node of each kind, UID_A's. */
static void setup_nodes(const char *dir)
{
	g_autofree char *p = at(dir, "p"), *l = at(dir, "l");

	make_file(dir, "f", 10, 0644, UID_A, UID_A);
	make_dir(dir, "d", 0755, UID_A, UID_A);
	g_assert_no_errno(mkfifo(p, 0644));
	g_assert_no_errno(chown(p, UID_A, UID_A));
	g_assert_no_errno(symlink("f", l));
	g_assert_no_errno(lchown(l, UID_A, UID_A));
}

/* The ctime the file system has for p (not one the kernel's FUSE client
 * set in its cache), or -1. */
static long long fresh_ctime_ns(const char *p)
{
	struct statx stx;

	if (statx(AT_FDCWD, p, AT_SYMLINK_NOFOLLOW | AT_STATX_FORCE_SYNC, STATX_CTIME,
		  &stx) < 0)
		return -1;
	return stx.stx_ctime.tv_sec * 1000000000LL + stx.stx_ctime.tv_nsec;
}

/* chown(-1, -1) changes nothing but the ctime, which it moves on ext4 (of
 * a symlink too, by lchown): bit i set where node i kept its ctime, 16 if
 * a call failed. */
static int act_chown_noop(void *dir)
{
	const char *names[] = {"f", "d", "p", "l"};
	int kept = 0;

	for (int i = 0; i < 4; i++) {
		g_autofree char *p = at(dir, names[i]);
		long long before = fresh_ctime_ns(p), after;

		g_usleep(20000); /* past the coarse clock's tick */
		if (before < 0 || lchown(p, (uid_t)-1, (gid_t)-1) < 0)
			return 16;
		after = fresh_ctime_ns(p);
		if (after < 0)
			return 16;
		if (after == before)
			kept |= 1 << i;
	}
	return kept;
}

/* Modes of new nodes under umask 022, asked with every bit. */
static void setup_create(const char *dir)
{
	(void)dir;
}

static int act_create_modes(void *dir)
{
	g_autofree char *f = at(dir, "f"), *d = at(dir, "d"), *p = at(dir, "p");
	g_autofree char *n = at(dir, "n");
	int acc = 0, fd;

	umask(022);
	fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 07777);
	outcome(&acc, 0, fd < 0 ? -1 : close(fd));
	outcome(&acc, 1, mkdir(d, 07777));
	outcome(&acc, 2, mkfifo(p, 07777));
	return outcome(&acc, 3, mknod(n, S_IFREG | 07777, 0));
}

static const struct fcase cases[] = {
    {"write", setup_setid, act_write, {"f", "nogx"}},
    {"write-direct", setup_setid, act_write_direct, {"f", "nogx"}},
    {"truncate", setup_setid, act_truncate, {"f", "nogx"}},
    {"ftruncate", setup_setid, act_ftruncate, {"f"}},
    {"fallocate", setup_setid, act_fallocate, {"f"}},
    {"open-trunc", setup_setid, act_open_trunc, {"f"}},
    {"chown", setup_setid, act_chown_own_group, {"f"}},
    {"chmod-sgid", setup_chmod, act_chmod_sgid, {"other", "own"}},
    {"sgid-dir",
     setup_sgid_dir,
     act_create_in_sgid,
     {"d/f", "d/sub", "d/sub/sub2", "d/p", "m/f", "m/sub", "m/sub/sub2", "m/p"}},
    {"default-acl",
     setup_default_acl,
     act_create_with_acl,
     {"d/f", "d/x", "d/sub/sub2", "d/p", "n/f", "n/x", "n/sub/sub2", "none/x"}},
    {"access-acl", setup_access_acl, act_use_access_acl, {"f", "d", "d/new"}},
    {"acl-chmod", setup_own_file, act_set_acl_and_chmod, {"f", "g"}},
    {"dio-mmap", setup_dio, act_dio_mmap, {"f"}},
    {"dio-stale", setup_dio, act_dio_stale, {"f"}},
    {"times", setup_times, act_times, {"r", "own"}},
    {"owner-rules", setup_owner_rules, act_owner_rules, {"f", "r"}},
    {"chown-noop", setup_nodes, act_chown_noop, {"f", "d", "p"}},
    {"create-modes", setup_create, act_create_modes, {"f", "d", "p", "n"}},
};

/* Run case c by actor a in top (a directory of its own is made in it). */
static char *run_case(const char *top, const struct fcase *c, const struct actor *a)
{
	g_autofree char *name = g_strdup_printf("%s-%u", c->name, a->uid);
	g_autofree char *dir = at(top, name);
	GString *s = g_string_new(NULL);
	int rc;

	g_assert_no_errno(mkdir(dir, 0777));
	g_assert_no_errno(chmod(dir, 0777));
	c->setup(dir);
	rc = pm_run_as(a->uid, a->gid, c->act, dir);
	g_string_append_printf(s, "act: %d\n", rc);
	for (int i = 0; i < 8 && c->observe[i]; i++)
		describe(s, dir, c->observe[i]);
	return g_string_free(s, FALSE);
}

/* Run each of the n cases by each actor on the backing filesystem and in
 * a mount with opts: the outcomes must be the same. */
static void compare_cases(const char *opts, const struct fcase *c, size_t n)
{
	struct pm *pm = pm_mount(opts);
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < G_N_ELEMENTS(actors); j++) {
			g_autofree char *want =
			    run_case(pm_scratch(pm), &c[i], &actors[j]);
			g_autofree char *got = run_case(pm_mnt(pm), &c[i], &actors[j]);

			if (strcmp(want, got)) {
				pm_message("%s as uid %u:\next4:\n%spinfs:\n%s",
					   c[i].name, actors[j].uid, want, got);
				bad++;
			}
		}
	}
	g_assert_cmpint(bad, ==, 0);
	pm_unmount(pm);
}

static void test_metadata(void)
{
	compare_cases("allow_other", cases, G_N_ELEMENTS(cases));
}

/*
 * O_DIRECT reads and writes leave nothing in the page cache, seen by
 * dropping the file's cache with posix_fadvise() first.  On a file in FUSE
 * passthrough mode that call only reaches the FUSE inode's page cache,
 * which such a file does not use (test_dio_bypass_passthrough), so this
 * comparison runs on a mount without passthrough.
 */
static void test_dio_bypass(void)
{
	static const struct fcase dio[] = {
	    {"dio-bypass", setup_dio, act_dio_bypass, {"f"}},
	};

	compare_cases("allow_other,passthrough=off", dio, G_N_ELEMENTS(dio));
}

/*
 * The same with passthrough, where the kernel allows it.  The difference
 * pinfs(8) documents: posix_fadvise(POSIX_FADV_DONTNEED) on a file in
 * passthrough mode leaves the backing file's cached pages (which its
 * mappings map) where they are; the same call on the backing file drops
 * them.  What pinfs controls still holds: an O_DIRECT read and write
 * through pinfs bring nothing back into the cache.
 */
static void test_dio_bypass_passthrough(void)
{
	struct pm *pm = pm_mount("allow_other,passthrough=auto");
	g_autofree char *p = pm_path(pm, "f"), *b = pm_bpath(pm, "f");
	g_autofree char *log = NULL;
	struct stat st;
	void *buf = NULL;
	int bfd, fd, direct;

	g_assert_no_errno(stat(pm_mnt(pm), &st)); /* INIT has been answered */
	log = pm_daemon_log(pm);
	if (!strstr(log, "passthrough: in use")) {
		pm_unmount(pm);
		pm_skip("FUSE passthrough is not in use here (see the daemon's log)");
		return;
	}
	setup_dio(pm_mnt(pm));
	bfd = open(p, O_RDONLY); /* in passthrough mode from here on */
	g_assert_cmpint(bfd, >=, 0);
	fd = open(p, O_RDWR | O_DIRECT);
	g_assert_cmpint(fd, >=, 0);
	g_assert_no_errno(fdatasync(bfd));
	g_assert_no_errno(posix_fadvise(bfd, 0, 0, POSIX_FADV_DONTNEED));
	/* A mapping of a file in passthrough mode maps the backing file. */
	g_assert_cmpint(resident_pages(bfd), >, 0);

	direct = open(b, O_RDONLY);
	g_assert_cmpint(direct, >=, 0);
	g_assert_no_errno(posix_fadvise(direct, 0, 0, POSIX_FADV_DONTNEED));
	g_assert_no_errno(close(direct));
	g_assert_cmpint(resident_pages(bfd), ==, 0);

	g_assert_cmpint(posix_memalign(&buf, 4096, DIO_SIZE), ==, 0);
	g_assert_cmpint(pread(fd, buf, DIO_SIZE, 0), ==, DIO_SIZE);
	g_assert_cmpint(resident_pages(bfd), ==, 0);
	g_assert_cmpint(pwrite(fd, buf, DIO_SIZE, 0), ==, DIO_SIZE);
	g_assert_cmpint(resident_pages(bfd), ==, 0);
	free(buf);
	g_assert_no_errno(close(fd));
	g_assert_no_errno(close(bfd));
	pm_unmount(pm);
}

/* ---- atime ---- */

static void set_times_at(const char *p, time_t atime, time_t mtime)
{
	struct timespec tv[2] = {{atime, 0}, {mtime, 0}};

	g_assert_no_errno(utimensat(AT_FDCWD, p, tv, 0));
}

static int read_file(void *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return errno;
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); /* read from the file */
	if (read(fd, buf, sizeof(buf)) < 0)
		return errno;
	close(fd);
	return 0;
}

static int read_dir(void *path)
{
	DIR *d = opendir(path);

	if (!d)
		return errno;
	while (readdir(d))
		;
	closedir(d);
	return 0;
}

/*
 * Reads by actor a in dir (seen through view, the same directory as the
 * backing filesystem stores it): which moved the atime?
 */
static char *atime_steps(const char *dir, const char *view, const struct actor *a)
{
	g_autofree char *f = at(dir, "f"), *d = at(dir, "d");
	g_autofree char *vf = at(view, "f"), *vd = at(view, "d");
	GString *s = g_string_new(NULL);
	struct stat before, after;
	int rc;

	make_file(dir, "f", 100, 0644, 0, 0);
	make_dir(dir, "d", 0755, 0, 0);
	make_file(dir, "d/x", 1, 0644, 0, 0);
	/* 1: atime older than mtime */
	set_times_at(f, 1000000000, 1100000000);
	set_times_at(d, 1000000000, 1100000000);
	g_assert_no_errno(stat(vf, &before));
	rc = pm_run_as(a->uid, a->gid, read_file, f);
	g_assert_no_errno(stat(vf, &after));
	g_string_append_printf(s, "old file: %d %s\n", rc,
			       before.st_atime == after.st_atime ? "kept" : "moved");
	/* 2: read again at once: atime newer than mtime and ctime */
	g_usleep(50000);
	before = after;
	rc = pm_run_as(a->uid, a->gid, read_file, f);
	g_assert_no_errno(stat(vf, &after));
	g_string_append_printf(s, "again: %d %s\n", rc,
			       before.st_atim.tv_nsec == after.st_atim.tv_nsec ? "kept"
									       : "moved");
	/* 3: a directory's listing */
	g_assert_no_errno(stat(vd, &before));
	rc = pm_run_as(a->uid, a->gid, read_dir, d);
	g_assert_no_errno(stat(vd, &after));
	g_string_append_printf(s, "old dir: %d %s\n", rc,
			       before.st_atime == after.st_atime ? "kept" : "moved");
	return g_string_free(s, FALSE);
}

static void remount(const char *path, const char *opts)
{
	g_autofree char *o = g_strdup_printf("remount,bind,%s", opts);
	const char *argv[] = {"/bin/mount", "-o", o, path, NULL};
	g_autofree char *out = NULL, *err = NULL;
	int st = pm_run_cmd(argv, 30, &out, &err);

	if (st != 0)
		pm_message("mount -o %s %s: %s", o, path, err);
	g_assert_cmpint(st, ==, 0);
}

/* The pinfs mount's noatime and nodiratime against an ext4 bind mount with
 * the same flags; relatime (the default of both) too. */
static void test_atime(void)
{
	const char *flags[] = {"atime,diratime,relatime", "noatime",
			       "atime,nodiratime,relatime"};
	struct pm *pm = pm_mount("allow_other");
	g_autofree char *ref = pm_spath(pm, "ref");
	int bad = 0;

	g_assert_no_errno(mkdir(ref, 0755));
	g_assert_no_errno(mount(ref, ref, NULL, MS_BIND, NULL));
	for (size_t i = 0; i < G_N_ELEMENTS(flags); i++) {
		remount(ref, flags[i]);
		remount(pm_mnt(pm), flags[i]);
		g_usleep(
		    1100000); /* the daemon looks at its mount's flags once a second */
		for (size_t j = 0; j < G_N_ELEMENTS(actors); j++) {
			g_autofree char *name =
			    g_strdup_printf("%zu-%u", i, actors[j].uid);
			g_autofree char *rdir = at(ref, name);
			g_autofree char *mdir = pm_path(pm, name);
			g_autofree char *bdir = pm_bpath(pm, name);
			g_autofree char *want = NULL, *got = NULL;

			g_assert_no_errno(mkdir(rdir, 0755));
			g_assert_no_errno(mkdir(mdir, 0755));
			want = atime_steps(rdir, rdir, &actors[j]);
			got = atime_steps(mdir, bdir, &actors[j]);
			if (strcmp(want, got)) {
				pm_message("atime, %s, uid %u:\next4:\n%spinfs:\n%s",
					   flags[i], actors[j].uid, want, got);
				bad++;
			}
		}
	}
	umount2(ref, MNT_DETACH);
	g_assert_cmpint(bad, ==, 0);
	pm_unmount(pm);
}

/* The atime words (noatime, nodiratime, relatime) of the mount at path,
 * from /proc/self/mountinfo's per-mount options. */
static char *atime_words(const char *path)
{
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	GString *s = g_string_new(NULL);

	g_assert_true(g_file_get_contents("/proc/self/mountinfo", &text, NULL, NULL));
	lines = g_strsplit(text, "\n", -1);
	for (char **ln = lines; *ln; ln++) {
		g_auto(GStrv) f = g_strsplit(*ln, " ", 7);
		g_auto(GStrv) words = NULL;

		if (g_strv_length(f) < 6 || strcmp(f[4], path))
			continue;
		words = g_strsplit(f[5], ",", -1);
		g_string_truncate(s, 0); /* the topmost mount counts */
		for (char **w = words; *w; w++)
			if (!strcmp(*w, "noatime") || !strcmp(*w, "nodiratime") ||
			    !strcmp(*w, "relatime"))
				g_string_append_printf(s, "%s ", *w);
	}
	return g_string_free(s, FALSE);
}

/* -o relatime, strictatime and nodiratime, which libfuse refuses, give the
 * mount the flags they give an ext4 mount. */
static void test_atime_options(void)
{
	const char *opts[] = {"relatime", "strictatime", "nodiratime",
			      "strictatime,nodiratime", "noatime"};
	struct pm *pm = pm_mount("allow_other");
	g_autofree char *ref = pm_spath(pm, "ref");
	int bad = 0;

	g_assert_no_errno(mkdir(ref, 0755));
	g_assert_no_errno(mount(ref, ref, NULL, MS_BIND, NULL));
	for (size_t i = 0; i < G_N_ELEMENTS(opts); i++) {
		g_autofree char *o = g_strdup_printf("allow_other,%s", opts[i]);
		struct pm *p = pm_mount_on(pm_backing(pm), o);
		g_autofree char *want = NULL, *got = NULL;

		remount(ref, "atime,diratime,relatime");
		remount(ref, opts[i]);
		want = atime_words(ref);
		got = atime_words(pm_mnt(p));
		if (strcmp(want, got)) {
			pm_message("-o %s: ext4 \"%s\", pinfs \"%s\"", opts[i], want,
				   got);
			bad++;
		}
		pm_unmount(p);
	}
	umount2(ref, MNT_DETACH);
	g_assert_cmpint(bad, ==, 0);
	pm_unmount(pm);
}

/* ---- File handles ---- */

struct handle {
	struct file_handle fh;
	unsigned char bytes[MAX_HANDLE_SZ];
};

static int get_handle(const char *p, struct handle *h)
{
	int mount_id;

	h->fh.handle_bytes = MAX_HANDLE_SZ;
	return name_to_handle_at(AT_FDCWD, p, &h->fh, &mount_id, 0) < 0 ? errno : 0;
}

/* Open handle h on the filesystem of top; what it shows: contents of a
 * file, or the inode number of a directory's "..". */
static void use_handle(GString *s, const char *what, const char *top, struct handle *h,
		       bool dir)
{
	int mfd = open(top, O_RDONLY | O_DIRECTORY), fd;
	struct stat st;
	char buf[16] = "";

	g_assert_cmpint(mfd, >=, 0);
	fd = open_by_handle_at(mfd, &h->fh, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
	if (fd < 0) {
		g_string_append_printf(s, "%s: %s\n", what, ename(errno));
	} else if (dir) {
		g_assert_no_errno(fstatat(fd, "..", &st, 0));
		g_string_append_printf(s, "%s: parent %s\n", what,
				       st.st_nlink == 3 ? "s" : "?");
		close(fd);
	} else {
		g_assert_cmpint(read(fd, buf, sizeof(buf) - 1), >=, 0);
		g_string_append_printf(s, "%s: \"%s\"\n", what, buf);
		close(fd);
	}
	close(mfd);
}

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	g_assert_cmpint(fd, >=, 0);
	sync();
	g_assert_cmpint(write(fd, "2", 1), ==, 1); /* dentries and inodes */
	close(fd);
}

static int act_handles_as_user(void *dir)
{
	g_autofree char *f = at(dir, "h/f");
	struct handle h;
	int mfd, fd, err = get_handle(f, &h);

	if (err)
		return err;
	mfd = open(dir, O_RDONLY | O_DIRECTORY);
	fd = open_by_handle_at(mfd, &h.fh, O_RDONLY);
	return fd < 0 ? errno : 0;
}

/* Handles of a file and a directory before and after the kernel dropped
 * its inodes, after unlink, and as an ordinary user. */
static char *handle_steps(const char *dir, const char *top, struct pm *pm, bool is_pinfs)
{
	g_autofree char *f = at(dir, "h/f"), *t = at(dir, "h/s/t");
	GString *s = g_string_new(NULL);
	struct handle hf, ht;
	int fds_before, rc;

	make_dir(dir, "h", 0755, 0, 0);
	make_dir(dir, "h/s", 0755, 0, 0);
	make_dir(dir, "h/s/t", 0755, 0, 0);
	make_file(dir, "h/f", 5, 0644, 0, 0);
	g_string_append_printf(s, "name_to_handle_at: %s %s\n", ename(get_handle(f, &hf)),
			       ename(get_handle(t, &ht)));
	use_handle(s, "file", top, &hf, false);
	use_handle(s, "dir", top, &ht, true);
	fds_before = is_pinfs ? pm_daemon_fd_count(pm) : 0;
	drop_caches();
	if (is_pinfs) { /* the daemon was told to forget them (FORGET is async) */
		bool fewer = false;

		for (int i = 0; i < 100 && !fewer; i++) {
			fewer = pm_daemon_fd_count(pm) < fds_before;
			if (!fewer)
				g_usleep(50000);
		}
		g_string_append_printf(s, "forgotten: %s\n", fewer ? "yes" : "no");
	} else {
		g_string_append(s, "forgotten: yes\n");
	}
	use_handle(s, "file after drop", top, &hf, false);
	use_handle(s, "dir after drop", top, &ht, true);
	rc = pm_run_as(UID_A, UID_A, act_handles_as_user, (void *)dir);
	g_string_append_printf(s, "as uid %d: %s\n", UID_A, ename(rc));
	g_assert_no_errno(unlink(f));
	make_file(dir, "h/f", 5, 0644, 0, 0); /* a new file of the same name */
	drop_caches();
	use_handle(s, "file after unlink", top, &hf, false);
	return g_string_free(s, FALSE);
}

static void test_handles(void)
{
	struct pm *pm = pm_mount("allow_other");
	g_autofree char *want = NULL, *got = NULL;

	g_assert_no_errno(chmod(pm_scratch(pm), 0755));
	want = handle_steps(pm_scratch(pm), pm_scratch(pm), pm, false);
	got = handle_steps(pm_mnt(pm), pm_mnt(pm), pm, true);
	if (strcmp(want, got))
		pm_message("handles:\next4:\n%spinfs:\n%s", want, got);
	g_assert_cmpstr(want, ==, got);
	pm_unmount(pm);
}

/*
 * Handles taken through one daemon, used through another one started
 * afterwards over the same backing directory (a restart): what each gives.
 */
static char *restart_steps(const char *backing)
{
	struct pm *pm = pm_mount_on(backing, "allow_other");
	g_autofree char *f = pm_path(pm, "r/f"), *t = pm_path(pm, "r/s/t");
	g_autofree char *g = pm_path(pm, "r/g");
	GString *s = g_string_new(NULL);
	struct handle hf, ht, hg;

	make_dir(pm_mnt(pm), "r", 0755, 0, 0);
	make_dir(pm_mnt(pm), "r/s", 0755, 0, 0);
	make_dir(pm_mnt(pm), "r/s/t", 0755, 0, 0);
	make_file(pm_mnt(pm), "r/f", 5, 0644, 0, 0);
	make_file(pm_mnt(pm), "r/g", 5, 0644, 0, 0);
	g_assert_cmpint(get_handle(f, &hf), ==, 0);
	g_assert_cmpint(get_handle(t, &ht), ==, 0);
	g_assert_cmpint(get_handle(g, &hg), ==, 0);
	pm_unmount(pm);

	g_autofree char *bg = g_build_filename(backing, "r/g", NULL);
	g_assert_no_errno(unlink(bg));
	pm = pm_mount_on(backing, "allow_other");
	use_handle(s, "file", pm_mnt(pm), &hf, false);
	use_handle(s, "dir", pm_mnt(pm), &ht, true);
	use_handle(s, "removed", pm_mnt(pm), &hg, false);
	pm_unmount(pm);
	return g_string_free(s, FALSE);
}

/* File handles outlive the daemon: every one over a backing directory that
 * is a whole filesystem (a tmpfs here); directories only over a
 * subdirectory of one (docs/design.md says why). */
static void test_handles_restart(void)
{
	struct pm *pm = pm_mount("allow_other");
	g_autofree char *whole = pm_spath(pm, "whole");
	g_autofree char *got_sub = NULL, *got_whole = NULL;

	g_assert_no_errno(mkdir(whole, 0755));
	g_assert_no_errno(mount("tmpfs", whole, "tmpfs", 0, "size=4m,mode=0755"));
	got_whole = restart_steps(whole);
	got_sub = restart_steps(pm_backing(pm));
	umount2(whole, MNT_DETACH);
	pm_message("whole filesystem:\n%ssubdirectory:\n%s", got_whole, got_sub);
	g_assert_cmpstr(got_whole, ==,
			"file: \"aaaaa\"\ndir: parent s\nremoved: ESTALE\n");
	g_assert_cmpstr(got_sub, ==, "file: ESTALE\ndir: parent s\nremoved: ESTALE\n");
	pm_unmount(pm);
}

int main(int argc, char **argv)
{
	pm_init(&argc, &argv);
	pm_add_test("/fidelity/metadata", test_metadata);
	pm_add_test("/fidelity/dio-bypass", test_dio_bypass);
	pm_add_test("/fidelity/dio-bypass-passthrough", test_dio_bypass_passthrough);
	pm_add_test("/fidelity/atime", test_atime);
	pm_add_test("/fidelity/atime-options", test_atime_options);
	pm_add_test("/fidelity/handles", test_handles);
	pm_add_test("/fidelity/handles-restart", test_handles_restart);
	return g_test_run();
}
