/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-fuse-passthrough - FUSE passthrough (-o passthrough=auto) on a real
 * mount: the kernel serves reads, writes and mappings of an open file from
 * the backing file without asking the daemon, and every promise that needs
 * the daemon still holds.  Each mount runs with -d, so that the daemon's
 * log names every request it got: READ and WRITE requests are counted.
 *
 *   /fuse-passthrough/bypass   on a kernel that offers passthrough (6.9+
 *                              with CONFIG_FUSE_PASSTHROUGH), reads, writes
 *                              and a shared mapping reach the backing file
 *                              with no READ or WRITE request, and a change
 *                              made in the backing directory shows at once;
 *                              fails if the daemon does not use it there
 *   /fuse-passthrough/default  a mount without the option uses passthrough
 *                              where the kernel offers it, and says why not
 *                              elsewhere
 *   /fuse-passthrough/off      passthrough=off: the daemon says so and
 *                              serves the reads itself
 *   /fuse-passthrough/modes    the kernel's one-mode-per-inode rule: opens
 *                              that start with O_DIRECT, O_DIRECT opens of a
 *                              passthrough inode, and many threads opening
 *                              and closing one file never see EIO
 *   /fuse-passthrough/setid    an ordinary user's write drops set-ID bits,
 *                              also for a file that became set-ID while
 *                              open through passthrough; root's keeps them
 *   /fuse-passthrough/leases   a truncate of a passthrough file parks
 *                              behind a lease until it is released; the
 *                              holder gets a staging window
 *   /fuse-passthrough/noatime  on a noatime mount reads still reach the
 *                              daemon (the backing file's atime stays)
 *   /fuse-passthrough/non-root a daemon of an ordinary user (through
 *                              fusermount3) says it goes without, and works
 *
 * Environment: PINFS_BIN (meson sets it).  Needs root and /dev/fuse.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include <glib.h>

#include "kid.h"
#include "mount.h"
#include "pinfs.h"

#define UID_A 4242
#define FILE_LEN (64 * 1024)

static int count_of(const char *haystack, const char *needle)
{
	int n = 0;

	for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* READ or WRITE requests the daemon logged so far. */
static int requests(struct pm *pm, const char *op)
{
	g_autofree char *log = pm_daemon_log(pm);
	g_autofree char *needle = g_strdup_printf("opcode: %s (", op);

	return count_of(log, needle);
}

/* Does the running kernel offer FUSE passthrough?  6.9 or later, and
 * CONFIG_FUSE_PASSTHROUGH if the kernel says its configuration. */
static gboolean kernel_offers(void)
{
	struct utsname u;
	unsigned int major = 0, minor = 0;
	g_autofree char *out = NULL;
	const char *argv[] = {
	    "/bin/sh", "-c",
	    "zcat /proc/config.gz 2>/dev/null || cat /boot/config-$(uname "
	    "-r) 2>/dev/null",
	    NULL};

	g_assert_no_errno(uname(&u));
	if (sscanf(u.release, "%u.%u", &major, &minor) != 2 ||
	    (major < 6 || (major == 6 && minor < 9)))
		return FALSE;
	pm_run_cmd(argv, 30, &out, NULL);
	if (out && strstr(out, "CONFIG_FUSE=") &&
	    !strstr(out, "CONFIG_FUSE_PASSTHROUGH=y"))
		return FALSE;
	return TRUE;
}

/* A -d mount with opts; its log must say whether passthrough is in use. */
static struct pm *mount_debug(const char *opts)
{
	struct pm *pm = pm_mount_argv(opts, (const char *[]){"-d", NULL});
	g_autofree char *log = NULL;

	pm_expect_log(pm, "unique: [0-9]+, error: ");
	log = pm_daemon_log(pm);
	g_assert_nonnull(strstr(log, "passthrough: "));
	return pm;
}

static gboolean in_use(struct pm *pm)
{
	g_autofree char *log = pm_daemon_log(pm);

	return strstr(log, "passthrough: in use") != NULL;
}

/* Mount with passthrough=auto; NULL (the test skipped) where the kernel
 * does not offer it, after checking that the daemon says so. */
static struct pm *mount_auto(const char *more)
{
	g_autofree char *opts = g_strdup_printf("allow_other,passthrough=auto%s%s",
						more ? "," : "", more ? more : "");
	struct pm *pm = mount_debug(opts);

	if (!kernel_offers()) {
		g_autofree char *log = pm_daemon_log(pm);

		g_assert_nonnull(
		    strstr(log, "passthrough: off (the kernel does not offer"));
		pm_unmount(pm);
		pm_skip("this kernel does not offer FUSE passthrough");
		return NULL;
	}
	if (!in_use(pm)) {
		g_autofree char *log = pm_daemon_log(pm);

		pm_message("daemon log:\n%s", log);
	}
	g_assert_true(in_use(pm));
	return pm;
}

static void fill_backing(struct pm *pm, const char *name, char c)
{
	g_autofree char *b = pm_bpath(pm, name);
	char *buf = g_malloc(FILE_LEN);
	int fd = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0666);

	g_assert_cmpint(fd, >=, 0);
	memset(buf, c, FILE_LEN);
	g_assert_cmpint(write(fd, buf, FILE_LEN), ==, FILE_LEN);
	g_assert_no_errno(close(fd));
	g_free(buf);
}

static char backing_byte(struct pm *pm, const char *name, off_t off)
{
	g_autofree char *b = pm_bpath(pm, name);
	int fd = open(b, O_RDONLY);
	char c = 0;

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pread(fd, &c, 1, off), ==, 1);
	close(fd);
	return c;
}

static void test_bypass(void)
{
	struct pm *pm = mount_auto(NULL);
	g_autofree char *m = NULL;
	char buf[4096], *map;
	int fd, reads, writes;

	if (!pm)
		return;
	m = pm_path(pm, "f");
	fill_backing(pm, "f", 'a');
	fd = open(m, O_RDWR);
	g_assert_cmpint(fd, >=, 0);
	reads = requests(pm, "READ");
	writes = requests(pm, "WRITE");
	for (int i = 0; i < 16; i++) {
		g_assert_cmpint(pread(fd, buf, sizeof(buf), i * 4096), ==, sizeof(buf));
		g_assert_cmpint(buf[0], ==, 'a');
		memset(buf, 'b', sizeof(buf));
		g_assert_cmpint(pwrite(fd, buf, sizeof(buf), i * 4096), ==, sizeof(buf));
	}
	map = mmap(NULL, FILE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	g_assert_true(map != MAP_FAILED);
	g_assert_cmpint(map[4096], ==, 'b');
	map[FILE_LEN - 1] = 'm';
	g_assert_no_errno(msync(map, FILE_LEN, MS_SYNC));
	g_assert_no_errno(munmap(map, FILE_LEN));
	/* Written straight into the backing file... */
	g_assert_cmpint(backing_byte(pm, "f", 8192), ==, 'b');
	g_assert_cmpint(backing_byte(pm, "f", FILE_LEN - 1), ==, 'm');
	/* ...which a change behind pinfs's back reaches at once too. */
	{
		g_autofree char *b = pm_bpath(pm, "f");
		int bfd = open(b, O_WRONLY);

		g_assert_cmpint(bfd, >=, 0);
		g_assert_cmpint(pwrite(bfd, "B", 1, 0), ==, 1);
		close(bfd);
		g_assert_cmpint(pread(fd, buf, 1, 0), ==, 1);
		g_assert_cmpint(buf[0], ==, 'B');
	}
	g_assert_no_errno(close(fd));
	g_assert_cmpint(requests(pm, "READ"), ==, reads);
	g_assert_cmpint(requests(pm, "WRITE"), ==, writes);
	pm_message("16 reads, 16 writes, a mapping: no READ or WRITE request");
	pm_unmount(pm);
}

static void check_off(const char *opts)
{
	struct pm *pm = mount_debug(opts);
	g_autofree char *m = pm_path(pm, "f");
	g_autofree char *log = pm_daemon_log(pm);
	char buf[4096];
	int fd, reads;

	g_assert_nonnull(strstr(log, "passthrough: off (passthrough=off)"));
	fill_backing(pm, "f", 'a');
	fd = open(m, O_RDWR);
	g_assert_cmpint(fd, >=, 0);
	reads = requests(pm, "READ");
	g_assert_cmpint(pread(fd, buf, sizeof(buf), 0), ==, sizeof(buf));
	g_assert_cmpint(buf[0], ==, 'a');
	g_assert_cmpint(pwrite(fd, "w", 1, 0), ==, 1);
	g_assert_no_errno(close(fd));
	g_assert_cmpint(requests(pm, "READ"), >, reads);
	g_assert_cmpint(backing_byte(pm, "f", 0), ==, 'w');
	pm_unmount(pm);
}

/* No passthrough= given: passthrough where the kernel offers it. */
static void test_default(void)
{
	const char *env = g_getenv("PINFS_TEST_OPTS");
	struct pm *pm;
	g_autofree char *log = NULL;

	if (env && (strstr(env, "passthrough") || strstr(env, "writeback_cache"))) {
		pm_skip("PINFS_TEST_OPTS chooses the mode");
		return;
	}
	pm = mount_debug("allow_other");
	log = pm_daemon_log(pm);
	if (kernel_offers() && getuid() == 0)
		g_assert_true(in_use(pm));
	else
		g_assert_nonnull(strstr(log, "passthrough: off ("));
	pm_unmount(pm);
}

static void test_off(void)
{
	check_off("allow_other,passthrough=off");
}

struct churn {
	const char *path;
	int id;
	int errors;
};

/* Open, read and close one file over and over; every fifth open O_DIRECT. */
static void *churn_fn(void *arg)
{
	struct churn *c = arg;
	void *buf = NULL;

	g_assert_cmpint(posix_memalign(&buf, 4096, 4096), ==, 0);
	for (int i = 0; i < 200; i++) {
		int flags = (i + c->id) % 5 == 0 ? O_RDWR | O_DIRECT : O_RDWR;
		int fd = open(c->path, flags);

		if (fd < 0 || pread(fd, buf, 4096, 4096) != 4096)
			c->errors++;
		if (fd >= 0)
			close(fd);
	}
	free(buf);
	return NULL;
}

static void test_modes(void)
{
	struct pm *pm = mount_auto(NULL);
	g_autofree char *g = NULL, *h = NULL;
	struct churn c[4];
	pthread_t t[4];
	void *buf = NULL;
	char *map;
	int fd1, fd2, reads;

	if (!pm)
		return;
	g = pm_path(pm, "g");
	h = pm_path(pm, "h");
	fill_backing(pm, "g", 'g');
	fill_backing(pm, "h", 'h');
	g_assert_cmpint(posix_memalign(&buf, 4096, 4096), ==, 0);

	/* O_DIRECT first: the inode stays cached; a buffered open joins. */
	fd1 = open(g, O_RDWR | O_DIRECT);
	g_assert_cmpint(fd1, >=, 0);
	fd2 = open(g, O_RDWR);
	g_assert_cmpint(fd2, >=, 0);
	reads = requests(pm, "READ");
	g_assert_cmpint(pread(fd2, buf, 4096, 0), ==, 4096);
	g_assert_cmpint(requests(pm, "READ"), >, reads);
	close(fd1);
	close(fd2);

	/* Passthrough first: an O_DIRECT open joins it; its reads still
	 * reach the daemon, its mapping is the backing file's. */
	fd1 = open(h, O_RDWR);
	g_assert_cmpint(fd1, >=, 0);
	fd2 = open(h, O_RDWR | O_DIRECT);
	g_assert_cmpint(fd2, >=, 0);
	reads = requests(pm, "READ");
	g_assert_cmpint(pread(fd2, buf, 4096, 0), ==, 4096);
	g_assert_cmpint(((char *)buf)[0], ==, 'h');
	g_assert_cmpint(requests(pm, "READ"), >, reads);
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
	g_assert_true(map != MAP_FAILED);
	map[1] = 'M';
	g_assert_no_errno(msync(map, 4096, MS_SYNC));
	munmap(map, 4096);
	g_assert_cmpint(backing_byte(pm, "h", 1), ==, 'M');
	close(fd2);
	close(fd1);
	free(buf);

	/* Four threads open and close one file, some with O_DIRECT. */
	for (int i = 0; i < 4; i++) {
		c[i] = (struct churn){.path = h, .id = i};
		g_assert_cmpint(pthread_create(&t[i], NULL, churn_fn, &c[i]), ==, 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		g_assert_cmpint(c[i].errors, ==, 0);
	}
	pm_unmount(pm);
}

/* As UID_A: open the path, make it set-user-ID, write through the open
 * file; 0 or the errno. */
static int chmod_then_write_fn(void *path)
{
	int fd = open(path, O_WRONLY), err = 0;

	if (fd < 0)
		return errno;
	if (fchmod(fd, 04755) < 0 || pwrite(fd, "x", 1, 0) != 1)
		err = errno;
	close(fd);
	return err;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	g_assert_no_errno(stat(path, &st));
	return st.st_mode & 07777;
}

static void test_setid(void)
{
	struct pm *pm = mount_auto(NULL);
	g_autofree char *s = NULL, *b = NULL, *t = NULL, *bt = NULL;
	int writes;

	if (!pm)
		return;
	s = pm_path(pm, "s");
	b = pm_bpath(pm, "s");
	t = pm_path(pm, "t");
	bt = pm_bpath(pm, "t");
	fill_backing(pm, "s", 's');
	fill_backing(pm, "t", 't');
	g_assert_no_errno(chown(b, UID_A, UID_A));
	g_assert_no_errno(chown(bt, UID_A, UID_A));

	/* Set-ID when opened: no passthrough, the daemon drops the bits. */
	g_assert_no_errno(chmod(s, 06755));
	writes = requests(pm, "WRITE");
	g_assert_cmpint(pm_run_as(UID_A, UID_A, pm_write_byte, s), ==, 0);
	g_assert_cmpint(requests(pm, "WRITE"), >, writes);
	g_assert_cmpint(mode_of(b), ==, 0755);

	/* Made set-ID while open through passthrough: the kernel drops the
	 * bits before an ordinary user's write, by the writer's credentials;
	 * root's write keeps them, as on ext4. */
	g_assert_no_errno(chmod(t, 0755));
	writes = requests(pm, "WRITE");
	g_assert_cmpint(pm_run_as(UID_A, UID_A, chmod_then_write_fn, t), ==, 0);
	g_assert_cmpint(requests(pm, "WRITE"), ==, writes);
	g_assert_cmpint(mode_of(bt), ==, 0755);
	g_assert_cmpint(backing_byte(pm, "t", 0), ==, 'x');
	g_assert_no_errno(chmod(t, 0755));
	g_assert_cmpint(chmod_then_write_fn(t), ==, 0);
	g_assert_cmpint(requests(pm, "WRITE"), ==, writes);
	g_assert_cmpint(mode_of(bt), ==, 04755);
	pm_unmount(pm);
}

static int truncate_fn(void *path)
{
	return truncate(path, 0) < 0 ? errno : 0;
}

static void test_leases(void)
{
	struct pm *pm = mount_auto(NULL);
	g_autofree char *m = NULL;
	struct pinfs_window *w = NULL;
	struct kid *k;
	char buf[16];
	int fd, reads;

	if (!pm)
		return;
	m = pm_path(pm, "f");
	fill_backing(pm, "f", 'l');
	fd = open(m, O_RDWR);
	g_assert_cmpint(fd, >=, 0);
	reads = requests(pm, "READ");
	g_assert_cmpint(pread(fd, buf, sizeof(buf), 0), ==, sizeof(buf));
	g_assert_cmpint(requests(pm, "READ"), ==, reads); /* passthrough */
	/* The break's signal (SIGIO) would end this process. */
	signal(SIGIO, SIG_IGN);
	g_assert_no_errno(pinfs_setlease(fd, PINFS_LEASE_WRITE, 0, 0, 0));
	/* Reads and writes do not break a layout lease. */
	g_assert_cmpint(pwrite(fd, "w", 1, 0), ==, 1);
	g_assert_cmpint(pread(fd, buf, sizeof(buf), 0), ==, sizeof(buf));
	g_assert_cmpint(buf[0], ==, 'w');
	/* Its only passthrough open is the holder's: a staging window is
	 * made (the window suite has the rest). */
	g_assert_no_errno(pinfs_window_map(fd, 0, 4096, 0, &w));
	g_assert_cmpint(((char *)w->addr)[0], ==, 'w');
	g_assert_no_errno(pinfs_window_unmap(w));
	k = kid_start(truncate_fn, m);
	kid_assert_busy(k, 300, "truncate of a passthrough file under a lease");
	g_assert_cmpint(pread(fd, buf, sizeof(buf), 0), ==, sizeof(buf));
	g_assert_no_errno(pinfs_release(fd));
	g_assert_cmpint(kid_answer(k, "truncate after the release"), ==, 0);
	kid_end(k);
	{
		struct stat st;

		g_assert_no_errno(fstat(fd, &st));
		g_assert_cmpint(st.st_size, ==, 0);
	}
	close(fd);
	pm_unmount(pm);
}

static void test_noatime(void)
{
	struct pm *pm = mount_auto("noatime");
	g_autofree char *m = NULL;
	char buf[16];
	int fd, reads;

	if (!pm)
		return;
	m = pm_path(pm, "f");
	fill_backing(pm, "f", 'n');
	fd = open(m, O_RDONLY);
	g_assert_cmpint(fd, >=, 0);
	reads = requests(pm, "READ");
	g_assert_cmpint(pread(fd, buf, sizeof(buf), 0), ==, sizeof(buf));
	g_assert_cmpint(requests(pm, "READ"), >, reads);
	close(fd);
	pm_unmount(pm);
}

#define UID_NOBODY 65534 /* has a name, which fusermount3 needs */

/* In a child: become UID_NOBODY and exec argv, stderr to errfd. */
static pid_t spawn_as_nobody(const char *const *argv, int errfd)
{
	pid_t pid = fork();

	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		if (errfd >= 0)
			dup2(errfd, 2);
		if (setgroups(0, NULL) < 0 || setgid(UID_NOBODY) < 0 ||
		    setuid(UID_NOBODY) < 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static int read_f_fn(void *path)
{
	char buf[8] = {0};
	int fd = open(path, O_RDONLY), n;

	if (fd < 0)
		return errno;
	n = (int)read(fd, buf, sizeof(buf));
	close(fd);
	return n == 4 && !memcmp(buf, "data", 4) ? 0 : 200;
}

static void test_non_root(void)
{
	g_autofree char *dir = g_dir_make_tmp("pinfs-pt-XXXXXX", NULL);
	g_autofree char *b = g_build_filename(dir, "b", NULL);
	g_autofree char *m = g_build_filename(dir, "m", NULL);
	g_autofree char *f = g_build_filename(b, "f", NULL);
	g_autofree char *mf = g_build_filename(m, "f", NULL);
	g_autofree char *logp = g_build_filename(dir, "log", NULL);
	g_autofree char *log = NULL;
	const char *daemon[] = {pm_bin(), "-f", "-o", "passthrough=auto", b, m, NULL};
	const char *umount[] = {"/bin/fusermount3", "-u", m, NULL};
	int logfd, status, i;
	pid_t pid;

	g_assert_nonnull(dir);
	g_assert_no_errno(chmod(dir, 0755));
	g_assert_no_errno(mkdir(b, 0755));
	g_assert_no_errno(mkdir(m, 0755));
	g_assert_true(g_file_set_contents(f, "data", 4, NULL));
	g_assert_no_errno(chown(b, UID_NOBODY, UID_NOBODY));
	g_assert_no_errno(chown(m, UID_NOBODY, UID_NOBODY));
	g_assert_no_errno(chown(f, UID_NOBODY, UID_NOBODY));
	logfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	g_assert_cmpint(logfd, >=, 0);
	pid = spawn_as_nobody(daemon, logfd);
	close(logfd);
	for (i = 0; i < 100 && !pm_is_fuse_mount(m); i++)
		g_usleep(100000);
	g_assert_true(pm_is_fuse_mount(m));
	g_assert_cmpint(pm_run_as(UID_NOBODY, UID_NOBODY, read_f_fn, mf), ==, 0);
	g_assert_cmpint(waitpid(spawn_as_nobody(umount, -1), &status, 0), >, 0);
	g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(g_file_get_contents(logp, &log, NULL, NULL));
	if (!strstr(log,
		    "passthrough: off (registering backing files needs CAP_SYS_ADMIN)"))
		pm_message("daemon log:\n%s", log);
	g_assert_nonnull(strstr(
	    log, "passthrough: off (registering backing files needs CAP_SYS_ADMIN)"));
	g_assert_no_errno(unlink(f));
	g_assert_no_errno(unlink(logp));
	g_assert_no_errno(rmdir(b));
	g_assert_no_errno(rmdir(m));
	g_assert_no_errno(rmdir(dir));
}

int main(int argc, char **argv)
{
	pm_init(&argc, &argv);
	pm_add_test("/fuse-passthrough/bypass", test_bypass);
	pm_add_test("/fuse-passthrough/default", test_default);
	pm_add_test("/fuse-passthrough/off", test_off);
	pm_add_test("/fuse-passthrough/modes", test_modes);
	pm_add_test("/fuse-passthrough/setid", test_setid);
	pm_add_test("/fuse-passthrough/leases", test_leases);
	pm_add_test("/fuse-passthrough/noatime", test_noatime);
	pm_add_test("/fuse-passthrough/non-root", test_non_root);
	return g_test_run();
}
