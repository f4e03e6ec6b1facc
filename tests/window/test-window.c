// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-window - staging windows on a real pinfs mount (docs/dma.md,
 * "Staging windows"): map, sync, unmap; the bytes reach the file at every
 * sync point (sync, fsync, unmap, lease release, a layout change even
 * after revocation, the holder's SIGKILL); what other openers see; limits;
 * pinfsctl's listing; and an unmodified program under the preload shim
 * registering io_uring fixed buffers on a window where the kernel refuses
 * the file's own mapping.
 *
 * Environment: PINFS_BIN (the daemon), PINFSCTL, PINFS_PRELOAD and
 * DMA_WINDOW_DEMO (tests that need them skip without).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "check.h"
#include "mount.h"
#include "pinfs.h"

#define LEN (64 * 1024)
#define UID_A 60101

/* ---- helpers ---- */

static void make_file(const char *path, size_t len, int byte, uid_t uid)
{
	char *buf = g_malloc(len);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	g_assert_cmpint(fd, >=, 0);
	memset(buf, byte, len);
	g_assert_cmpint(write(fd, buf, len), ==, (ssize_t)len);
	if (uid)
		g_assert_no_errno(fchown(fd, uid, uid));
	close(fd);
	g_free(buf);
}

/* Bytes of [off, off+len) of path (read outside pinfs, from the backing
 * file) that are not byte; -1 if the file is shorter. */
static long count_not(const char *path, off_t off, size_t len, int byte)
{
	char *buf = g_malloc(len);
	int fd = open(path, O_RDONLY);
	long bad = 0;
	ssize_t n;

	g_assert_cmpint(fd, >=, 0);
	n = pread(fd, buf, len, off);
	close(fd);
	if (n != (ssize_t)len) {
		g_free(buf);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		bad += (unsigned char)buf[i] != byte;
	g_free(buf);
	return bad;
}

static bool kernel_refuses_pins(void)
{
	struct utsname u;
	unsigned a = 0, b = 0;

	uname(&u);
	sscanf(u.release, "%u.%u", &a, &b);
	return a > 6 || (a == 6 && b >= 5);
}

/* Open the pinfs file read-write and take a read layout lease on all of it. */
static int open_leased(struct pm *pm, const char *rel)
{
	g_autofree char *p = pm_path(pm, rel);
	int fd = open(p, O_RDWR);

	g_assert_cmpint(fd, >=, 0);
	g_assert_no_errno(pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, 0));
	return fd;
}

/*
 * Can pinfsctl reach this mount's daemon?  With $PINFSCTL it must: the
 * daemon always has its control channel (also when the daemon of an
 * earlier mount with the same device number is still stopping).
 */
static bool have_control(struct pm *pm)
{
	g_autofree char *log = pm_daemon_log(pm);

	if (!g_getenv("PINFSCTL"))
		return false;
	g_assert_null(strstr(log, "control channel off"));
	return true;
}

/* Run `pinfsctl windows --json MNT` and return its windows array. */
static JsonArray *list_windows(struct pm *pm, JsonParser **parser)
{
	const char *ctl = g_getenv("PINFSCTL");
	const char *argv[] = {ctl, "windows", "--json", pm_mnt(pm), NULL};
	g_autofree char *out = NULL;
	GError *err = NULL;
	int status;
	JsonObject *o;

	g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
				   &out, NULL, &status, &err));
	g_assert_no_error(err);
	g_assert_cmpint(status, ==, 0);
	*parser = json_parser_new();
	g_assert_true(json_parser_load_from_data(*parser, out, -1, &err));
	o = json_node_get_object(json_parser_get_root(*parser));
	g_assert_true(json_object_get_boolean_member(o, "ok"));
	return json_object_get_array_member(o, "windows");
}

/* Start a child that truncates the pinfs file to size; returns its pid.
 * Exit status 0 when the truncate succeeded. */
static pid_t truncate_in_child(const char *path, off_t size)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0)
		_exit(truncate(path, size) == 0 ? 0 : 1);
	return pid;
}

static int wait_status(pid_t pid)
{
	int st;

	g_assert_cmpint(waitpid(pid, &st, 0), ==, pid);
	return st;
}

/* Until this open file's lease is breaking (the truncate has parked). */
static void until_breaking(int fd)
{
	struct pinfs_lease_status st;

	for (int i = 0; i < 2000; i++) {
		g_assert_no_errno(pinfs_getlease(fd, &st));
		if (st.state == PINFS_STATE_BREAKING)
			return;
		g_usleep(5000);
	}
	g_assert_not_reached();
}

/* ---- tests ---- */

/* Map, device-write, sync, more writes, unmap: each sync point puts what
 * the window held into the file; the listing shows unsynced bytes. */
static void test_map_sync_unmap(void)
{
	struct pm *pm = pm_mount("window=always");
	g_autofree char *b = pm_bpath(pm, "f");
	struct pinfs_window *w = NULL;
	JsonParser *parser;
	JsonArray *a;
	JsonObject *o;
	bool ctl;
	int fd;

	make_file(b, LEN, 'a', 0);
	fd = open_leased(pm, "f");
	g_assert_no_errno(pinfs_window_map(fd, 0, LEN, 0, &w));
	g_assert_nonnull(w);
	g_assert_cmpuint(w->length, ==, LEN);
	g_assert_cmpint(((char *)w->addr)[0], ==, 'a');
	g_assert_cmpint(((char *)w->addr)[LEN - 1], ==, 'a');

	memset(w->addr, 'B', 3 * 4096);
	ctl = have_control(pm);
	if (ctl) {
		a = list_windows(pm, &parser);
		g_assert_cmpuint(json_array_get_length(a), ==, 1);
		o = json_array_get_object_element(a, 0);
		g_assert_cmpint(json_object_get_int_member(o, "unsynced_bytes"), ==,
				3 * 4096);
		g_assert_cmpint(json_object_get_int_member(o, "length"), ==, LEN);
		g_assert_cmpint(json_object_get_int_member(o, "pid"), ==, getpid());
		g_assert_cmpstr(json_object_get_string_member(o, "state"), ==,
				"attached");
		g_object_unref(parser);
	}
	g_assert_no_errno(pinfs_window_sync(w));
	g_assert_cmpint(count_not(b, 0, 3 * 4096, 'B'), ==, 0);
	g_assert_cmpint(count_not(b, 3 * 4096, LEN - 3 * 4096, 'a'), ==, 0);
	if (ctl) {
		a = list_windows(pm, &parser);
		o = json_array_get_object_element(a, 0);
		g_assert_cmpint(json_object_get_int_member(o, "unsynced_bytes"), ==, 0);
		g_assert_cmpint(json_object_get_int_member(o, "written_bytes"), ==,
				3 * 4096);
		g_object_unref(parser);
	}

	/* An unaligned write across pages, then unmap. */
	memset((char *)w->addr + 5000, 'C', 10000);
	g_assert_no_errno(pinfs_window_unmap(w));
	g_assert_cmpint(count_not(b, 5000, 10000, 'C'), ==, 0);
	g_assert_cmpint(count_not(b, 15000, LEN - 15000, 'a'), ==, 0);
	g_assert_cmpint(size_of(b), ==, LEN);
	close(fd);
	pm_unmount(pm);
}

/* Lease release and fsync are sync points; after the release the window
 * is detached: sync says ENOLCK. */
static void test_release_fsync(void)
{
	struct pm *pm = pm_mount("window=always");
	g_autofree char *b = pm_bpath(pm, "f");
	struct pinfs_window *w = NULL;
	int fd;

	make_file(b, LEN, 'a', 0);
	fd = open_leased(pm, "f");
	g_assert_no_errno(pinfs_window_map(fd, 4096, 8192, 0, &w));
	memset(w->addr, 'E', 8192);
	g_assert_no_errno(fsync(fd));
	g_assert_cmpint(count_not(b, 4096, 8192, 'E'), ==, 0);

	memset(w->addr, 'D', 100);
	g_assert_no_errno(pinfs_release(fd));
	g_assert_cmpint(count_not(b, 4096, 100, 'D'), ==, 0);
	g_assert_cmpint(count_not(b, 0, 4096, 'a'), ==, 0);
	memset(w->addr, 'Z', 100); /* lost, and the holder is told */
	assert_errno(pinfs_window_sync(w), ENOLCK);
	g_assert_cmpint(count_not(b, 4096, 100, 'D'), ==, 0);
	g_assert_no_errno(pinfs_window_unmap(w));
	close(fd);
	pm_unmount(pm);
}

/* Bad requests: a clear errno, nothing made. */
static void test_errors(void)
{
	struct pm *pm = pm_mount("window=always");
	g_autofree char *b = pm_bpath(pm, "f");
	g_autofree char *p = pm_path(pm, "f");
	struct pinfs_window *w = NULL;
	int fd, ro;

	make_file(b, LEN, 'a', 0);
	fd = open(p, O_RDWR);
	g_assert_cmpint(fd, >=, 0);
	assert_errno(pinfs_window_map(fd, 0, LEN, 0, &w), EPERM); /* no lease */
	g_assert_no_errno(pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, 8192));
	assert_errno(pinfs_window_map(fd, 0, LEN, 0, &w), EPERM); /* outside it */
	assert_errno(pinfs_window_map(fd, 100, 4096, 0, &w), EINVAL);
	assert_errno(pinfs_window_map(fd, 0, 0, 0, &w), EINVAL);
	assert_errno(pinfs_window_map(fd, 0, 4096, 0x100, &w), EINVAL);
	assert_errno(pinfs_window_map(fd, 0, 4096, 0, NULL), EINVAL);
	g_assert_null(w);
	ro = open(p, O_RDONLY);
	g_assert_no_errno(pinfs_setlease(ro, PINFS_LEASE_READ, 0, 0, 0));
	assert_errno(pinfs_window_map(ro, 0, 4096, 0, &w), EACCES);
	close(ro);
	close(fd);
	pm_unmount(pm);

	pm = pm_mount("window=never");
	b = (g_free(b), pm_bpath(pm, "f"));
	make_file(b, LEN, 'a', 0);
	fd = open_leased(pm, "f");
	assert_errno(pinfs_window_map(fd, 0, 4096, 0, &w), EOPNOTSUPP);
	close(fd);
	pm_unmount(pm);

	/* auto: a window exactly where the kernel refuses pins. */
	pm = pm_mount(NULL);
	b = (g_free(b), pm_bpath(pm, "f"));
	make_file(b, LEN, 'a', 0);
	fd = open_leased(pm, "f");
	if (kernel_refuses_pins()) {
		g_assert_no_errno(pinfs_window_map(fd, 0, 4096, PINFS_WINDOW_AUTO, &w));
		g_assert_no_errno(pinfs_window_unmap(w));
	} else {
		assert_errno(pinfs_window_map(fd, 0, 4096, PINFS_WINDOW_AUTO, &w),
			     EOPNOTSUPP);
	}
	close(fd);
	pm_unmount(pm);
}

/* A truncate parked behind the lease; the holder ignores the break and
 * keeps writing into the window; after break_time the lease is revoked
 * and the truncate runs, but only after the window was written back. */
static void test_truncate_revoked(void)
{
	struct pm *pm = pm_mount("window=always,break_time=1");
	g_autofree char *b = pm_bpath(pm, "f");
	g_autofree char *p = pm_path(pm, "f");
	struct pinfs_window *w = NULL;
	struct sigaction sa = {.sa_handler = SIG_IGN}, old;
	pid_t pid;
	int fd;

	sigaction(SIGIO, &sa, &old);
	make_file(b, LEN, 'a', 0);
	fd = open_leased(pm, "f");
	g_assert_no_errno(pinfs_window_map(fd, 0, LEN, 0, &w));
	memset(w->addr, 'F', LEN);
	pid = truncate_in_child(p, 4096);
	until_breaking(fd);
	/* The device goes on writing while the truncate waits. */
	memset(w->addr, 'G', 4096);
	g_assert_cmpint(wait_status(pid), ==, 0);
	g_assert_cmpint(size_of(b), ==, 4096);
	g_assert_cmpint(count_not(b, 0, 4096, 'G'), ==, 0);
	assert_errno(pinfs_window_sync(w), ENOLCK);
	g_assert_no_errno(pinfs_window_unmap(w));
	close(fd);
	sigaction(SIGIO, &old, NULL);
	pm_unmount(pm);
}

/*
 * A holder in a child: a read lease on p and a window on its first LEN
 * bytes, filled with fill; then, until killed, it keeps writing fill into
 * the window (busy) or sleeps.  Returns once the window is filled.
 */
static pid_t window_holder(const char *p, char fill, bool busy)
{
	int pipefd[2];
	pid_t pid;
	char c;

	g_assert_no_errno(pipe(pipefd));
	fflush(stdout);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		struct pinfs_window *w;
		int fd = open(p, O_RDWR);

		if (busy)
			signal(SIGIO, SIG_IGN);
		if (fd < 0 || pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, 0) < 0 ||
		    pinfs_window_map(fd, 0, LEN, 0, &w) < 0)
			_exit(1);
		memset(w->addr, fill, LEN);
		if (write(pipefd[1], "r", 1) != 1)
			_exit(1);
		while (busy)
			((volatile char *)w->addr)[LEN - 1] = fill;
		pause();
		_exit(0);
	}
	close(pipefd[1]);
	g_assert_cmpint(read(pipefd[0], &c, 1), ==, 1);
	close(pipefd[0]);
	return pid;
}

/* The holder is killed with a truncate parked (break_time=0: no
 * revocation): its death writes the window back before the truncate. */
static void test_holder_killed(void)
{
	struct pm *pm = pm_mount("window=always,break_time=0");
	g_autofree char *b = pm_bpath(pm, "f");
	g_autofree char *p = pm_path(pm, "f");
	pid_t holder, trunc;

	make_file(b, LEN, 'a', 0);
	holder = window_holder(p, 'H', true);
	trunc = truncate_in_child(p, 4096);
	g_usleep(200000); /* let it park (if not, it runs after the kill: same) */
	g_assert_cmpint(size_of(b), ==, LEN); /* held back by the lease */
	g_assert_no_errno(kill(holder, SIGKILL));
	g_assert_true(WIFSIGNALED(wait_status(holder)));
	g_assert_cmpint(wait_status(trunc), ==, 0);
	g_assert_cmpint(size_of(b), ==, 4096);
	g_assert_cmpint(count_not(b, 0, 4096, 'H'), ==, 0);
	pm_unmount(pm);
}

/* Killed holder without any change waiting: the close writes back. */
static void test_holder_killed_idle(void)
{
	struct pm *pm = pm_mount("window=always");
	g_autofree char *b = pm_bpath(pm, "f");
	g_autofree char *p = pm_path(pm, "f");
	pid_t holder;

	make_file(b, LEN, 'a', 0);
	holder = window_holder(p, 'K', false);
	g_assert_no_errno(kill(holder, SIGKILL));
	wait_status(holder);
	/* The release reaches the daemon in the background. */
	for (int i = 0; i < 400 && count_not(b, 0, LEN, 'K') != 0; i++)
		g_usleep(10000);
	g_assert_cmpint(count_not(b, 0, LEN, 'K'), ==, 0);
	pm_unmount(pm);
}

/* Open files of the mount in FUSE passthrough mode now, from `pinfsctl
 * status --json`; -1 without pinfsctl. */
static long pt_files(struct pm *pm)
{
	const char *ctl = g_getenv("PINFSCTL");
	const char *argv[] = {ctl, "--json", "status", pm_mnt(pm), NULL};
	g_autofree char *out = NULL;
	JsonParser *parser;
	GError *err = NULL;
	JsonObject *o;
	long n;

	if (!have_control(pm))
		return -1;
	g_assert_cmpint(pm_run_cmd(argv, 30, &out, NULL), ==, 0);
	parser = json_parser_new();
	g_assert_true(json_parser_load_from_data(parser, out, -1, &err));
	g_assert_no_error(err);
	o = json_node_get_object(json_parser_get_root(parser));
	o = json_object_get_object_member(o, "status");
	o = json_object_get_object_member(o, "passthrough");
	n = (long)json_object_get_int_member(o, "files");
	g_object_unref(parser);
	return n;
}

/* Does this mount use FUSE passthrough (-o passthrough=auto on a kernel
 * that offers it)? */
static bool pt_in_use(struct pm *pm)
{
	g_autofree char *log = pm_daemon_log(pm);

	return strstr(log, "passthrough: in use") != NULL;
}

/*
 * What other openers see of a staged range (docs/dma.md).  With FUSE
 * passthrough, the descriptor opened before the window (by the holder's
 * process, so the window is allowed) reads and writes the file itself, and
 * mappings map the file: the rows of the table that the kernel decides.
 */
static void test_coherence(void)
{
	struct pm *pm = pm_mount("window=always");
	g_autofree char *b = pm_bpath(pm, "f");
	g_autofree char *p = pm_path(pm, "f");
	struct pinfs_window *w = NULL;
	char buf[4096];
	int fd, before, after;
	bool pt;
	void *m;

	make_file(b, 2 * LEN, 'a', 0);
	before = open(p, O_RDWR);
	g_assert_cmpint(before, >=, 0);
	g_assert_cmpint(pread(before, buf, 4096, 0), ==, 4096); /* cached */
	pt = pt_in_use(pm);
	if (pt && pt_files(pm) >= 0)
		g_assert_cmpint(pt_files(pm), ==, 1);
	fd = open_leased(pm, "f");
	g_assert_no_errno(pinfs_window_map(fd, 0, LEN, 0, &w));
	memset(w->addr, 'X', 4096); /* not synced */

	/* Opened after the window: reads see the window at once. */
	after = open(p, O_RDWR);
	g_assert_cmpint(after, >=, 0);
	g_assert_cmpint(pread(after, buf, 4096, 0), ==, 4096);
	g_assert_cmpint(buf[0], ==, 'X');
	g_assert_cmpint(buf[4095], ==, 'X');
	memset(w->addr, 'Y', 10);
	g_assert_cmpint(pread(after, buf, 10, 0), ==, 10);
	g_assert_cmpint(buf[9], ==, 'Y');
	/* Writes land in the window and in the file. */
	memset(buf, 'W', 100);
	g_assert_cmpint(pwrite(after, buf, 100, 8192), ==, 100);
	g_assert_cmpint(((char *)w->addr)[8192], ==, 'W');
	g_assert_cmpint(((char *)w->addr)[8291], ==, 'W');
	g_assert_cmpint(count_not(b, 8192, 100, 'W'), ==, 0);
	/* Outside the window: as usual. */
	g_assert_cmpint(pread(after, buf, 4096, LEN), ==, 4096);
	g_assert_cmpint(buf[0], ==, 'a');
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, after, 0);
	if (!pt) {
		/* A shared mapping could not follow the window: refused. */
		g_assert_true(m == MAP_FAILED);
		g_assert_cmpint(errno, ==, ENODEV);
	} else {
		/* The kernel maps the file itself, as last written back. */
		g_assert_true(m != MAP_FAILED);
		g_assert_cmpint(((char *)m)[0], ==, 'a');
		munmap(m, 4096);
	}

	if (!pt) {
		/* Opened before: its page cache could go stale, so the staged
		 * range is refused; the rest works. */
		assert_errno(pread(before, buf, 4096, 0), EBUSY);
		assert_errno(pwrite(before, buf, 10, 0), EBUSY);
	} else {
		/* Opened before, through passthrough: the file itself, which
		 * the next write-back of a changed page overwrites. */
		g_assert_cmpint(pread(before, buf, 4096, 0), ==, 4096);
		g_assert_cmpint(buf[0], ==, 'a');
		memset(buf, 'Q', 10);
		g_assert_cmpint(pwrite(before, buf, 10, 0), ==, 10);
		g_assert_cmpint(count_not(b, 0, 10, 'Q'), ==, 0);
		g_assert_cmpint(((char *)w->addr)[0], ==, 'Y');
	}
	g_assert_cmpint(pread(before, buf, 4096, LEN), ==, 4096);
	g_assert_cmpint(buf[0], ==, 'a');

	m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, after, 0);
	g_assert_true(m != MAP_FAILED);
	if (!pt) {
		/* A private mapping copies the window's bytes; the page its
		 * fault put in the page cache is dropped at once after (the
		 * daemon's invalidation is asynchronous: wait for it), so
		 * older opens are refused again rather than served that
		 * copy. */
		g_assert_cmpint(((char *)m)[0], ==, 'Y');
		g_assert_cmpint(((char *)m)[10], ==, 'X');
		munmap(m, 4096);
		for (int i = 0; i < 500 && pread(before, buf, 4096, 0) >= 0; i++)
			g_usleep(10000);
		assert_errno(pread(before, buf, 4096, 0), EBUSY);
	} else {
		/* The file itself again. */
		g_assert_cmpint(((char *)m)[0], ==, 'Q');
		g_assert_cmpint(((char *)m)[10], ==, 'a');
		munmap(m, 4096);
	}

	/* After the window: everyone reads the file, which has it all. */
	g_assert_no_errno(pinfs_window_unmap(w));
	g_assert_cmpint(pread(before, buf, 4096, 0), ==, 4096);
	g_assert_cmpint(buf[0], ==, 'Y');
	g_assert_cmpint(buf[10], ==, 'X');
	g_assert_cmpint(pread(after, buf, 100, 8192), ==, 100);
	g_assert_cmpint(buf[99], ==, 'W');
	close(before);
	close(after);
	close(fd);
	pm_unmount(pm);
}

/* Mount with window=always and passthrough=auto; NULL (the test skipped)
 * where passthrough is not in use. */
static struct pm *mount_passthrough(void)
{
	struct pm *pm = pm_mount("window=always,passthrough=auto");

	if (!pt_in_use(pm)) {
		pm_unmount(pm);
		pm_skip("FUSE passthrough is not in use on this mount");
		return NULL;
	}
	return pm;
}

/* Another thread of this process: opens a file and stays until told. */
struct opener {
	const char *path;
	int fd;
	int ready[2], go[2];
};

static gpointer opener_thread(gpointer data)
{
	struct opener *o = data;
	char c;

	o->fd = open(o->path, O_RDWR);
	if (write(o->ready[1], "r", 1) != 1 || read(o->go[0], &c, 1) != 1)
		o->fd = -2;
	return NULL;
}

/*
 * A file already in passthrough mode, opened only by the holder's process
 * (the leased descriptor, and one from another of its threads, still
 * running when the window is asked for): the window
 * is made; the device's bytes reach the file at each sync point; opens
 * made while it exists read and write the window; when it ends, readers
 * through passthrough read everything from the file.
 */
static void test_passthrough_holder(void)
{
	struct pm *pm = mount_passthrough();
	g_autofree char *b = NULL, *p = NULL, *log = NULL;
	struct pinfs_window *w = NULL;
	struct opener op = {0};
	JsonParser *parser;
	GThread *thread;
	char buf[4096], c;
	int fd, other, after;

	if (!pm)
		return;
	b = pm_bpath(pm, "f");
	p = pm_path(pm, "f");
	make_file(b, 2 * LEN, 'a', 0);
	fd = open(p, O_RDWR); /* no lease yet: passthrough */
	g_assert_cmpint(fd, >=, 0);
	g_assert_no_errno(pipe(op.ready));
	g_assert_no_errno(pipe(op.go));
	op.path = p;
	thread = g_thread_new("opener", opener_thread, &op);
	g_assert_cmpint(read(op.ready[0], &c, 1), ==, 1);
	other = op.fd;
	g_assert_cmpint(other, >=, 0);
	if (pt_files(pm) >= 0)
		g_assert_cmpint(pt_files(pm), ==, 2);
	g_assert_no_errno(pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, 0));
	g_assert_no_errno(pinfs_window_map(fd, 0, LEN, 0, &w));
	g_assert_cmpint(((char *)w->addr)[LEN - 1], ==, 'a');
	log = pm_daemon_log(pm);
	g_assert_nonnull(strstr(log, "(the file is in FUSE passthrough mode)"));
	g_assert_cmpint(write(op.go[1], "g", 1), ==, 1);
	g_thread_join(thread);
	g_assert_cmpint(op.fd, ==, other);
	for (int i = 0; i < 2; i++) {
		close(op.ready[i]);
		close(op.go[i]);
	}
	if (have_control(pm)) {
		JsonArray *a = list_windows(pm, &parser);

		g_assert_cmpuint(json_array_get_length(a), ==, 1);
		g_object_unref(parser);
	}

	/* The device writes; a sync puts its bytes in the file, where the
	 * holder's passthrough descriptors read them. */
	memset(w->addr, 'D', 2 * 4096);
	g_assert_cmpint(count_not(b, 0, 4096, 'a'), ==, 0);
	g_assert_no_errno(pinfs_window_sync(w));
	g_assert_cmpint(count_not(b, 0, 2 * 4096, 'D'), ==, 0);
	g_assert_cmpint(count_not(b, 2 * 4096, 2 * LEN - 2 * 4096, 'a'), ==, 0);
	g_assert_cmpint(pread(other, buf, 4096, 4096), ==, 4096);
	g_assert_cmpint(buf[4095], ==, 'D');

	/* Opened while the window exists: through the daemon (still a
	 * passthrough open for the kernel, which then has three). */
	memset((char *)w->addr + 3 * 4096, 'E', 100);
	after = open(p, O_RDWR);
	g_assert_cmpint(after, >=, 0);
	if (pt_files(pm) >= 0)
		g_assert_cmpint(pt_files(pm), ==, 3);
	g_assert_cmpint(pread(after, buf, 100, 3 * 4096), ==, 100);
	g_assert_cmpint(buf[99], ==, 'E');
	memset(buf, 'W', 100);
	g_assert_cmpint(pwrite(after, buf, 100, 5 * 4096), ==, 100);
	g_assert_cmpint(((char *)w->addr)[5 * 4096 + 99], ==, 'W');
	g_assert_cmpint(count_not(b, 5 * 4096, 100, 'W'), ==, 0);

	/* fsync from any descriptor, then the end of the window. */
	g_assert_no_errno(fsync(after));
	g_assert_cmpint(count_not(b, 3 * 4096, 100, 'E'), ==, 0);
	memset((char *)w->addr + LEN - 4096, 'F', 4096);
	g_assert_no_errno(pinfs_window_unmap(w));
	g_assert_cmpint(pread(fd, buf, 4096, LEN - 4096), ==, 4096);
	g_assert_cmpint(count_not(b, LEN - 4096, 4096, 'F'), ==, 0);
	g_assert_cmpint(buf[0], ==, 'F');
	g_assert_cmpint(buf[4095], ==, 'F');
	g_assert_cmpint(size_of(b), ==, 2 * LEN);
	close(after);
	close(other);
	close(fd);
	pm_unmount(pm);
}

/*
 * Another process has the file open through passthrough: no window
 * (EBUSY, said in the daemon's log) until it closes it.  A process that
 * opens it while the window exists reads the window.
 */
static void test_passthrough_other(void)
{
	struct pm *pm = mount_passthrough();
	g_autofree char *b = NULL, *p = NULL, *log = NULL;
	struct pinfs_window *w = NULL;
	int go[2], ready[2], fd, st;
	pid_t pid;
	char c;

	if (!pm)
		return;
	b = pm_bpath(pm, "f");
	p = pm_path(pm, "f");
	make_file(b, LEN, 'a', 0);
	g_assert_no_errno(pipe(go));
	g_assert_no_errno(pipe(ready));
	fflush(stdout);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		int o = open(p, O_RDWR);

		close(go[1]);
		if (o < 0 || write(ready[1], "r", 1) != 1)
			_exit(1);
		if (read(go[0], &c, 1) != 1) /* until told */
			_exit(2);
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	g_assert_cmpint(read(ready[0], &c, 1), ==, 1);
	fd = open_leased(pm, "f");
	assert_errno(pinfs_window_map(fd, 0, LEN, 0, &w), EBUSY);
	g_assert_null(w);
	log = pm_daemon_log(pm);
	g_assert_nonnull(strstr(log, "refused (EBUSY)"));
	if (have_control(pm)) {
		JsonParser *parser;

		g_assert_cmpuint(json_array_get_length(list_windows(pm, &parser)), ==, 0);
		g_object_unref(parser);
	}
	g_assert_cmpint(write(go[1], "g", 1), ==, 1);
	g_assert_cmpint(WEXITSTATUS(wait_status(pid)), ==, 0);
	close(go[1]);
	close(ready[0]);

	/* Closed: the release reaches the daemon in the background. */
	for (int i = 0; i < 400 && pinfs_window_map(fd, 0, LEN, 0, &w) < 0; i++) {
		g_assert_cmpint(errno, ==, EBUSY);
		g_usleep(10000);
	}
	g_assert_nonnull(w);
	memset(w->addr, 'N', 100);

	/* Another process opening it now reads and writes the window. */
	fflush(stdout);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		char buf[100];
		int o = open(p, O_RDWR);

		if (o < 0 || pread(o, buf, 100, 0) != 100 || buf[99] != 'N')
			_exit(1);
		memset(buf, 'O', 10);
		if (pwrite(o, buf, 10, 200) != 10)
			_exit(2);
		_exit(0);
	}
	st = wait_status(pid);
	g_assert_true(WIFEXITED(st));
	g_assert_cmpint(WEXITSTATUS(st), ==, 0);
	g_assert_cmpint(((char *)w->addr)[209], ==, 'O');
	g_assert_no_errno(pinfs_window_unmap(w));
	g_assert_cmpint(count_not(b, 0, 100, 'N'), ==, 0);
	g_assert_cmpint(count_not(b, 200, 10, 'O'), ==, 0);
	close(fd);
	pm_unmount(pm);
}

/* Run fn as uid (with RLIMIT_MEMLOCK memlock) in a child; its exit code. */
static int as_user(uid_t uid, rlim_t memlock, int (*fn)(const char *), const char *path)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		struct rlimit rl = {memlock, memlock};

		if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0 || setgroups(0, NULL) < 0 ||
		    setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
			_exit(100);
		_exit(fn(path));
	}
	return WEXITSTATUS(wait_status(pid));
}

/* Under a 128 KiB RLIMIT_MEMLOCK and user_pins=2: which windows fit.
 * Returns the number of the first check that failed, 0 if all held. */
static int limits_user(const char *path)
{
	struct pinfs_window *w1, *w2, *w3;
	int fd = open(path, O_RDWR);

	if (fd < 0 || pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, 0) < 0)
		return 1;
	if (pinfs_window_map(fd, 0, LEN, 0, &w1) < 0)
		return 2;
	memset(w1->addr, 'L', LEN);
	if (pinfs_window_map(fd, LEN, 2 * LEN, 0, &w2) == 0 || errno != ENOMEM)
		return 3; /* 64 + 128 KiB > 128 KiB */
	if (pinfs_window_map(fd, LEN, 4096, 0, &w2) < 0)
		return 4;
	if (pinfs_window_map(fd, 2 * LEN, 4096, 0, &w3) == 0 || errno != EDQUOT)
		return 5; /* a third window: over user_pins=2 */
	/* Nothing lost by the refusals. */
	if (pinfs_window_unmap(w1) < 0 || pinfs_window_unmap(w2) < 0)
		return 6;
	/* Freed: it fits again. */
	if (pinfs_window_map(fd, 0, 2 * LEN, 0, &w1) < 0)
		return 7;
	pinfs_window_unmap(w1);
	close(fd);
	return 0;
}

static void test_limits(void)
{
	struct pm *pm = pm_mount("window=always,allow_other,user_pins=2");
	g_autofree char *b = pm_bpath(pm, "u");
	g_autofree char *p = pm_path(pm, "u");
	struct pinfs_window *w = NULL;
	struct rlimit rl, small = {4096, 4096};
	int fd;

	make_file(b, 4 * LEN, 'a', UID_A);
	g_assert_cmpint(as_user(UID_A, 2 * LEN, limits_user, p), ==, 0);
	g_assert_cmpint(count_not(b, 0, LEN, 'L'), ==, 0);

	/* Root (CAP_IPC_LOCK) is bound by neither. */
	getrlimit(RLIMIT_MEMLOCK, &rl);
	setrlimit(RLIMIT_MEMLOCK, &small);
	fd = open_leased(pm, "u");
	g_assert_no_errno(pinfs_window_map(fd, 0, 4 * LEN, 0, &w));
	g_assert_no_errno(pinfs_window_unmap(w));
	close(fd);
	setrlimit(RLIMIT_MEMLOCK, &rl);
	pm_unmount(pm);
}

/* Read the demo's stdout until a line with word; false at EOF. */
static bool until_line(FILE *f, const char *word, GString *all)
{
	char line[512];

	while (fgets(line, sizeof(line), f)) {
		g_string_append(all, line);
		if (strstr(line, word))
			return true;
	}
	return false;
}

/*
 * An unmodified program (plain fcntl F_LAYOUT, mmap MAP_SHARED) under the
 * preload shim registers io_uring fixed buffers on its mapping and has
 * them written; a truncate breaks the lease, the program writes once more
 * and releases: all its bytes are in the file before the truncate.
 */
static void run_demo(const char *opts, bool expect_register)
{
	const char *demo = g_getenv("DMA_WINDOW_DEMO"), *shim = g_getenv("PINFS_PRELOAD");
	struct pm *pm = pm_mount(opts);
	g_autofree char *b = pm_bpath(pm, "f");
	g_autofree char *p = pm_path(pm, "f");
	g_autofree char *env = g_strdup_printf("LD_PRELOAD=%s", shim);
	GString *out = g_string_new(NULL);
	const char *argv[] = {demo, "iouring", p, "65536", "0x61", "0x62", NULL};
	char **envp = g_environ_setenv(g_get_environ(), "LD_PRELOAD", shim, TRUE);
	GError *err = NULL;
	GPid pid;
	int outfd, st;
	pid_t trunc;
	FILE *f;

	envp = g_environ_setenv(envp, "ASAN_OPTIONS", "verify_asan_link_order=0", TRUE);
	envp = g_environ_setenv(envp, "DMA_WINDOW_DEMO_MSYNC", "1", TRUE);
	make_file(b, LEN, 'z', 0);
	g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv, envp,
					       G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
					       &pid, NULL, &outfd, NULL, &err));
	g_assert_no_error(err);
	f = fdopen(outfd, "r");
	if (!expect_register) {
		while (until_line(f, "\n", out))
			;
		st = wait_status(pid);
		pm_message("%s", out->str);
		g_assert_true(strstr(out->str, "register failed"));
		g_assert_cmpint(WEXITSTATUS(st), ==, 4);
		goto out;
	}
	if (!until_line(f, "ready", out)) {
		pm_message("%s", out->str);
		g_assert_not_reached();
	}
	g_assert_true(strstr(out->str, "layout lease taken"));
	/* msync() through the shim wrote the device's bytes to the file. */
	g_assert_true(strstr(out->str, "msynced"));
	g_assert_cmpint(count_not(b, 0, LEN, 0x61), ==, 0);
	trunc = truncate_in_child(p, 4096);
	while (until_line(f, "\n", out))
		;
	st = wait_status(pid);
	pm_message("%s", out->str);
	g_assert_cmpint(WEXITSTATUS(st), ==, 0);
	g_assert_true(strstr(out->str, "woken by lease break"));
	g_assert_cmpint(wait_status(trunc), ==, 0);
	g_assert_cmpint(size_of(b), ==, 4096);
	g_assert_cmpint(count_not(b, 0, 4096, 0x62), ==, 0);
out:
	fclose(f);
	g_strfreev(envp);
	g_string_free(out, TRUE);
	pm_unmount(pm);
}

static void test_preload_iouring(void)
{
	if (!g_getenv("DMA_WINDOW_DEMO") || !g_getenv("PINFS_PRELOAD")) {
		pm_skip("DMA_WINDOW_DEMO or PINFS_PRELOAD not set");
		return;
	}
	run_demo("window=always", true);
	if (kernel_refuses_pins()) {
		run_demo(NULL, true); /* auto */
		run_demo("window=never", false);
	}
}

int main(int argc, char **argv)
{
	pm_init(&argc, &argv);
	pm_add_test("/window/map-sync-unmap", test_map_sync_unmap);
	pm_add_test("/window/release-fsync", test_release_fsync);
	pm_add_test("/window/errors", test_errors);
	pm_add_test("/window/truncate-revoked", test_truncate_revoked);
	pm_add_test("/window/holder-killed", test_holder_killed);
	pm_add_test("/window/holder-killed-idle", test_holder_killed_idle);
	pm_add_test("/window/coherence", test_coherence);
	pm_add_test("/window/passthrough-holder", test_passthrough_holder);
	pm_add_test("/window/passthrough-other", test_passthrough_other);
	pm_add_test("/window/limits", test_limits);
	pm_add_test("/window/preload-iouring", test_preload_iouring);
	return g_test_run();
}
