// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lease-test - the scenarios of docs/dma.md ("Scenarios with layout
 * leases") in the QEMU guest, each asserting the bytes of the file
 * afterwards.  Run by tests/vm/lease-tests.sh, which
 * mounts pinfs several times and names the directories in the environment
 * (a test whose directory is not set is skipped):
 *
 *   PINFS_TEST_PLAIN_DIR  a tmpfs directory, no pinfs
 *   PINFS_TEST_OFF_DIR    pinfs leases=off
 *   PINFS_TEST_ON_DIR     pinfs, leases on, break_time=30, pinned=wait
 *   PINFS_TEST_WAIT2_DIR  pinfs, break_time=2, pinned=wait  (+ _LOG: stderr)
 *   PINFS_TEST_FAIL2_DIR  pinfs, break_time=2, pinned=fail  (+ _LOG: stderr)
 *
 * The device is one of tools/pin's backends (kmod, rdma, iouring).  A
 * holder runs in a child process (a truncate from the holder's own process
 * would be refused, rule 7) and records what it did, with CLOCK_MONOTONIC
 * times, in a shared page; the parent truncates and then asserts the order
 * of events and the bytes.  Orders of events are asserted, never durations.
 * See docs/dma.md, "Scenarios with layout leases".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

#include "pin.h"
#include "pinfs.h"
#include "pinfs_dma_abi.h"

#define NPAGES 8
#define DEV_BYTE(page) ((guint8)(0xd0 + (page))) /* the device's byte, per page */
#define APP_BYTE 0x5a				 /* the application's own bytes */

static size_t page_size;

/*
 * What the holder child did, written by it into a MAP_SHARED page and read
 * by the parent after waitpid().  Times are g_get_monotonic_time() (us).
 */
struct holder_log {
	gint64 t_ready;		   /* pinned, first device writes landed */
	gint64 t_notified;	   /* saw its lease breaking (or the truncate waiting) */
	gint64 t_revoked;	   /* saw its lease revoked */
	int sigio;		   /* SIGIO arrived by then */
	gint64 t_landed;	   /* every device write has landed */
	gint64 t_checked;	   /* read the file back */
	gint64 t_unpin_begin;	   /* about to release the device pin */
	gint64 t_unpinned;	   /* released it */
	gint64 t_reg_unpin_begin;  /* about to remove the registered pin */
	gint64 t_release_begin;	   /* about to release its lease */
	gint64 t_released;	   /* released it */
	guint64 pending_at_notify; /* device writes still in flight then */
	guint64 pinned_pages;	   /* QUERY while the truncate waited */
	guint64 file_bad;	   /* bytes of the file not the device's */
	guint64 dev_bad;	   /* bytes the device does not see as written */
	guint32 end_reason;	   /* of the lease, after revocation */
	int failed_line;
	char msg[512];
};

/* ---- small helpers ---- */

static const char *test_dir(const char *env)
{
	const char *dir = g_getenv(env);

	if (!dir || !*dir) {
		g_test_skip_printf("%s not set (see tests/vm/lease-tests.sh)", env);
		return NULL;
	}
	return dir;
}

/* A fresh file of NPAGES pages of APP_BYTE; returns its path, *ino. */
static char *make_file(const char *dir, const char *name, guint64 *ino)
{
	char *path = g_build_filename(dir, name, NULL);
	g_autofree guint8 *buf = g_malloc(NPAGES * page_size);
	struct stat st;
	int fd;

	memset(buf, APP_BYTE, NPAGES * page_size);
	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pwrite(fd, buf, NPAGES * page_size, 0), ==, NPAGES * page_size);
	g_assert_cmpint(fsync(fd), ==, 0);
	close(fd);
	/* Refresh the kernel's attributes now: on FUSE, a later refresh that
	 * finds a new mtime invalidates the cached pages (auto_inval_data). */
	g_assert_cmpint(stat(path, &st), ==, 0);
	if (ino)
		*ino = st.st_ino;
	return path;
}

/* Bytes of [0, NPAGES pages) of fd that are not the device's. */
static guint64 count_not_device(int fd)
{
	g_autofree guint8 *buf = g_malloc0(NPAGES * page_size);
	guint64 bad = 0;
	ssize_t n = pread(fd, buf, NPAGES * page_size, 0);
	size_t i;

	if (n < 0)
		return ~0ULL;
	for (i = 0; i < NPAGES * page_size; i++)
		bad += i >= (size_t)n || buf[i] != DEV_BYTE(i / page_size);
	return bad;
}

/* The same for the file at path, read through a new descriptor. */
static guint64 path_not_device(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	guint64 bad;

	g_assert_cmpint(fd, >=, 0);
	bad = count_not_device(fd);
	close(fd);
	return bad;
}

/* Size of the file and how many of its bytes are not zero. */
static guint64 path_nonzero(const char *path, off_t *size)
{
	g_autofree guint8 *buf = NULL;
	struct stat st;
	guint64 nz = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t i;

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(fstat(fd, &st), ==, 0);
	*size = st.st_size;
	buf = g_malloc0(st.st_size + 1);
	g_assert_cmpint(pread(fd, buf, st.st_size, 0), ==, st.st_size);
	for (i = 0; i < st.st_size; i++)
		nz += buf[i] != 0;
	close(fd);
	return nz;
}

static void on_alarm(int sig)
{
	(void)sig;
}

/*
 * truncate(2), but a call still waiting after 'guard' seconds is
 * interrupted (SIGALRM: the daemon answers EINTR, rule 9), so that a
 * truncate that never completes fails the test instead of hanging the
 * guest.  The guard is far above any expected wait.
 */
static int guarded_truncate(const char *path, off_t size, unsigned guard)
{
	struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
	int ret, saved;

	sigaction(SIGALRM, &sa, NULL);
	alarm(guard);
	ret = truncate(path, size);
	saved = errno;
	alarm(0);
	errno = saved;
	return ret;
}

/*
 * DMA-pinned page-cache pages of the file at path, inode number ino (the
 * daemon's question).  No stat() here: on FUSE an attribute refresh after
 * writes through a mapping may drop the cached pages (see the report in
 * docs/dma.md), and this must not disturb what it measures.
 */
static guint64 query_pinned(const char *path, guint64 ino)
{
	g_autofree char *dir = g_path_get_dirname(path);
	struct pinfs_dma_query q = {.size = sizeof(q)};
	struct stat st = {.st_ino = ino};
	int dev, dfd;
	guint64 ret = ~0ULL;

	dev = open(PINFS_DMA_DEVICE, O_RDWR | O_CLOEXEC);
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dev >= 0 && dfd >= 0) {
		q.fd = dfd;
		q.ino = ino;
		if (ioctl(dev, PINFS_DMA_IOC_QUERY, &q) == 0)
			ret = q.pinned;
		else
			g_test_message("QUERY %s: %s", path, g_strerror(errno));
		if (g_getenv("LEASE_TEST_DEBUG"))
			g_test_message("QUERY %s ino %" G_GUINT64_FORMAT
				       ": %" G_GUINT64_FORMAT
				       " cached, %" G_GUINT64_FORMAT
				       " pinned, size %" G_GUINT64_FORMAT,
				       path, (guint64)st.st_ino, (guint64)q.cached,
				       (guint64)q.pinned, (guint64)q.i_size);
	}
	if (dev >= 0)
		close(dev);
	if (dfd >= 0)
		close(dfd);
	return ret;
}

/* Does the file at path hold 'needle'?  (The daemon's stderr log.) */
static gboolean log_has(const char *path, const char *needle)
{
	g_autofree char *text = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return FALSE;
	return strstr(text, needle) != NULL;
}

/*
 * Can 'backend' pin a MAP_SHARED mapping of a file in dir?  io_uring cannot
 * on a FUSE file (see test_iouring_fuse); FALSE with the reason.  Tried on
 * a file of its own: an unpin dirties the pages, and on FUSE their
 * writeback would later invalidate the test file's cache.
 */
static gboolean backend_can_pin(const char *backend, const char *dir, char **why)
{
	g_autofree char *path = make_file(dir, "probe", NULL);
	const size_t len = NPAGES * page_size;
	g_autoptr(GError) err = NULL;
	struct pin_backend *be = pin_backend_open(backend, &err);
	struct pin_region *r = NULL;
	void *map = MAP_FAILED;
	int fd;

	if (!be)
		g_error("backend %s: %s", backend, err->message);
	fd = open(path, O_RDWR | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	g_assert_true(map != MAP_FAILED);
	r = pin_region(be, map, len, 0, &err);
	if (r)
		g_assert_true(pin_release(r, NULL));
	else if (!g_error_matches(err, PIN_ERROR, PIN_ERROR_REFUSED))
		g_error("pin_region (%s): %s", backend, err->message);
	else
		*why = g_strdup(err->message);
	munmap(map, len);
	close(fd);
	unlink(path);
	pin_backend_close(be);
	return r != NULL;
}

/* Linux 6.5 and later refuse writable long-term pins of FUSE and ext4
 * mappings (GUP, writable_file_mapping_allowed()). */
static gboolean kernel_refuses_longterm(void)
{
	struct utsname u;
	unsigned major = 0, minor = 0;

	g_assert_cmpint(uname(&u), ==, 0);
	g_assert_cmpint(sscanf(u.release, "%u.%u", &major, &minor), ==, 2);
	return major > 6 || (major == 6 && minor >= 5);
}

/*
 * May 'backend' pin a MAP_SHARED mapping of a file in dir?  TRUE when it
 * can.  When it cannot, assert that the refusal is the kernel's documented
 * one and return FALSE, the test then ends there and passes: io_uring
 * refuses FUSE files (EOPNOTSUPP before 6.5, EFAULT from 6.5), and from 6.5
 * every backend's writable long-term pin of a FUSE file fails with EFAULT.
 * Any other refusal fails the test.
 */
static gboolean pin_allowed(const char *backend, const char *dir)
{
	g_autofree char *why = NULL;
	struct statfs sf;
	gboolean fuse;

	if (backend_can_pin(backend, dir, &why))
		return TRUE;
	g_assert_cmpint(statfs(dir, &sf), ==, 0);
	fuse = sf.f_type == 0x65735546; /* FUSE_SUPER_MAGIC */
	g_test_message("%s cannot pin a file in %s: %s", backend, dir, why);
	if (!fuse)
		g_error("%s refused a pin of a non-FUSE file: %s", backend, why);
	if (kernel_refuses_longterm())
		g_assert_nonnull(strstr(why, "(EFAULT)"));
	else if (!strcmp(backend, "iouring"))
		g_assert_nonnull(strstr(why, "(EOPNOTSUPP)"));
	else
		g_error("%s refused a pin before Linux 6.5: %s", backend, why);
	return FALSE;
}

/* ---- the holder child ---- */

/* With LEASE_TEST_DEBUG set, the holder's steps go to stderr. */
static void hstep(const char *what)
{
	if (g_getenv("LEASE_TEST_DEBUG"))
		g_printerr("# holder %d at %.3f: %s\n", (int)getpid(),
			   g_get_monotonic_time() / 1e6, what);
}

/* In the child: record the failure and exit 1 (the parent reports it). */
#define H_CHECK(hl, cond, ...)                                                           \
	do {                                                                             \
		if (!(cond)) {                                                           \
			(hl)->failed_line = __LINE__;                                    \
			snprintf((hl)->msg, sizeof((hl)->msg), __VA_ARGS__);             \
			_exit(1);                                                        \
		}                                                                        \
	} while (0)

enum holder_kind {
	H_BREAK_RELEASE, /* scenario 2: lease, released after the device is done */
	H_EXCLUSIVE,	 /* scenario 4: exclusive lease, holds until told */
	H_IGNORE,	 /* scenario 4: ignores the break, registered pin */
	H_NO_LEASE,	 /* scenario 5: a pin without a lease */
	H_RELEASE_FIRST, /* scenario 5: releases the lease, then unpins */
};

struct holder_cfg {
	enum holder_kind kind;
	const char *backend;
	const char *path;
	guint64 ino;
	gboolean msync_first;  /* write the app's bytes back before pinning */
	gboolean device_first; /* killed_holder(): open the pin device first */
};

/* The break signal (SIGIO by default, which would kill the holder). */
static volatile sig_atomic_t sigio_seen;

static void on_sigio(int sig)
{
	(void)sig;
	sigio_seen = 1;
}

/* Wait until pid sleeps in syscall nr (/proc/PID/syscall); FALSE after 30 s. */
static gboolean wait_in_syscall(pid_t pid, long nr)
{
	g_autofree char *file = g_strdup_printf("/proc/%d/syscall", (int)pid);
	int i;

	for (i = 0; i < 3000; i++) {
		g_autofree char *text = NULL;

		if (g_file_get_contents(file, &text, NULL, NULL) &&
		    strtol(text, NULL, 10) == nr)
			return TRUE;
		g_usleep(10000);
	}
	return FALSE;
}

/* Poll the lease state until it is 'state'; FALSE after 30 s. */
static gboolean wait_lease_state(int fd, guint32 state, struct pinfs_lease_status *st)
{
	int i;

	for (i = 0; i < 1500; i++) {
		memset(st, 0, sizeof(*st));
		if (pinfs_getlease(fd, st) == 0 && st->state == state)
			return TRUE;
		g_usleep(20000);
	}
	return FALSE;
}

/*
 * In the holder: the device writes DEV_BYTE(i) into pages [@from, @to) of
 * @r, @delay_ms from now (0: at once); @what names them in a failure.
 */
static void device_write_pages(struct holder_log *hl, struct pin_region *r, int from,
			       int to, unsigned delay_ms, const char *what)
{
	g_autoptr(GError) err = NULL;
	int i;

	for (i = from; i < to; i++)
		H_CHECK(hl,
			pin_dma_write(r, i * page_size, page_size, DEV_BYTE(i), delay_ms,
				      &err),
			"%s: %s", what, err->message);
}

/*
 * In the holder, told of the break (or, without a lease, seeing the
 * truncate wait): when, what the device still has queued, and how many
 * pages the module holds pinned.
 */
static void note_notified(struct holder_log *hl, const struct holder_cfg *cfg,
			  struct pin_region *r)
{
	guint64 done = 0, pending = 0;

	hl->t_notified = g_get_monotonic_time();
	pin_dma_counts(r, &done, &pending);
	hl->pending_at_notify = pending;
	hl->pinned_pages = query_pinned(cfg->path, cfg->ino);
}

/*
 * The holder: open, lease (unless H_NO_LEASE), map, pin with the backend,
 * device writes to pages 0..3 at once and 4..5 500 ms later, then tell the
 * parent (ready_fd).  What follows depends on the kind; every step is
 * timed in hl.  Exits 0, or 1 with hl->msg.
 */
static void holder(const struct holder_cfg *cfg, struct holder_log *hl, int ready_fd,
		   int go_fd)
{
	const size_t len = NPAGES * page_size;
	g_autoptr(GError) err = NULL;
	struct pinfs_lease_status st;
	struct pin_backend *be;
	struct pin_region *r;
	guint64 reg_id = 0;
	guint8 *map;
	int fd, i;
	char c = 0;

	signal(SIGIO, on_sigio);
	be = pin_backend_open(cfg->backend, &err);
	H_CHECK(hl, be, "backend %s: %s", cfg->backend, err->message);
	fd = open(cfg->path, O_RDWR | O_CLOEXEC);
	H_CHECK(hl, fd >= 0, "open: %s", g_strerror(errno));
	if (cfg->kind != H_NO_LEASE) {
		unsigned flags = cfg->kind == H_EXCLUSIVE ? PINFS_LEASE_EXCLUSIVE : 0;

		H_CHECK(hl, pinfs_setlease(fd, PINFS_LEASE_READ, flags, 0, 0) == 0,
			"setlease: %s", g_strerror(errno));
	}
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	H_CHECK(hl, map != MAP_FAILED, "mmap: %s", g_strerror(errno));
	memset(map, APP_BYTE, len); /* fault the pages in, dirty */
	if (cfg->msync_first)
		H_CHECK(hl, msync(map, len, MS_SYNC) == 0, "msync: %s",
			g_strerror(errno));
	r = pin_region(be, map, len, 0, &err);
	H_CHECK(hl, r, "pin_region (%s): %s", cfg->backend, err->message);
	if (cfg->kind == H_IGNORE)
		H_CHECK(hl, pinfs_pin(fd, 0, len, &reg_id) == 0, "pinfs_pin: %s",
			g_strerror(errno));
	device_write_pages(hl, r, 0, 4, 0, "device write");
	device_write_pages(hl, r, 4, 6, 500, "delayed device write");
	hl->t_ready = g_get_monotonic_time();
	H_CHECK(hl, write(ready_fd, "r", 1) == 1, "ready pipe");

	switch (cfg->kind) {
	case H_BREAK_RELEASE:
		/* Notified of the break, the device is still busy... */
		H_CHECK(hl, wait_lease_state(fd, PINFS_STATE_BREAKING, &st),
			"no break seen in 30 s (state %u)", st.state);
		hl->sigio = sigio_seen;
		note_notified(hl, cfg, r);
		/* ... and more work comes in; all of it lands. */
		device_write_pages(hl, r, 6, NPAGES, 200, "late device write");
		break;
	case H_RELEASE_FIRST:
		/* Notified, it releases the lease at once but keeps the pin:
		 * the truncate now waits for the unregistered pin alone. */
		H_CHECK(hl, wait_lease_state(fd, PINFS_STATE_BREAKING, &st),
			"no break seen in 30 s (state %u)", st.state);
		hl->t_notified = g_get_monotonic_time();
		/* Later than the daemon's first 50 ms pin recheck. */
		g_usleep(200 * 1000);
		H_CHECK(hl, pinfs_release(fd) == 0, "release: %s", g_strerror(errno));
		hl->t_released = g_get_monotonic_time();
		g_usleep(300 * 1000); /* the daemon's 50 ms polls would see the pin */
		hl->pinned_pages = query_pinned(cfg->path, cfg->ino);
		device_write_pages(hl, r, 6, NPAGES, 200, "late device write");
		break;
	case H_NO_LEASE:
		/* No lease, no notification: wait until the truncate waits. */
		H_CHECK(hl, wait_in_syscall(getppid(), SYS_truncate),
			"the parent never waited in truncate");
		note_notified(hl, cfg, r);
		device_write_pages(hl, r, 6, NPAGES, 200, "late device write");
		break;
	case H_IGNORE:
		/* Ignore the break; break_time revokes the lease. */
		H_CHECK(hl, wait_lease_state(fd, PINFS_STATE_REVOKED, &st),
			"no revocation seen in 30 s (state %u)", st.state);
		hl->t_revoked = g_get_monotonic_time();
		hstep("revoked");
		hl->end_reason = st.end_reason;
		hl->pinned_pages = query_pinned(cfg->path, cfg->ino);
		device_write_pages(hl, r, 6, NPAGES, 0, "late device write");
		break;
	case H_EXCLUSIVE:
		device_write_pages(hl, r, 6, NPAGES, 0, "device write");
		break;
	}

	hstep("waiting for device writes");
	H_CHECK(hl, pin_dma_wait(r, &err), "device writes: %s", err->message);
	hl->t_landed = g_get_monotonic_time();
	for (i = 0; i < NPAGES; i++) {
		guint64 bad = 0;
		gint64 first = -1;

		H_CHECK(hl,
			pin_dma_verify(r, i * page_size, page_size, DEV_BYTE(i), &bad,
				       &first, &err),
			"verify: %s", err->message);
		hl->dev_bad += bad;
	}
	/* The file, read back while the pages are still pinned. */
	hstep("reading the file");
	hl->file_bad = count_not_device(fd);
	hl->t_checked = g_get_monotonic_time();

	if (cfg->kind == H_EXCLUSIVE || cfg->kind == H_IGNORE) {
		/* Hold on until the parent has seen its truncate answered... or,
		 * for H_IGNORE, until the parent says so (it may be waiting). */
		if (cfg->kind == H_EXCLUSIVE)
			H_CHECK(hl, read(go_fd, &c, 1) == 1, "go pipe");
	}
	hstep("unpinning");
	hl->t_unpin_begin = g_get_monotonic_time();
	H_CHECK(hl, pin_release(r, &err), "unpin: %s", err->message);
	hl->t_unpinned = g_get_monotonic_time();
	if (cfg->kind == H_IGNORE) {
		/* The registered pin alone still holds the truncate back. */
		g_usleep(500 * 1000);
		hstep("removing the registered pin");
		hl->t_reg_unpin_begin = g_get_monotonic_time();
		H_CHECK(hl, pinfs_unpin(fd, reg_id) == 0, "pinfs_unpin: %s",
			g_strerror(errno));
	}
	if (cfg->kind != H_NO_LEASE && cfg->kind != H_RELEASE_FIRST) {
		hstep("releasing");
		hl->t_release_begin = g_get_monotonic_time();
		H_CHECK(hl, pinfs_release(fd) == 0, "release: %s", g_strerror(errno));
		hl->t_released = g_get_monotonic_time();
	}
	munmap(map, len);
	close(fd);
	pin_backend_close(be);
	hstep("done");
	_exit(0);
}

struct holder_proc {
	pid_t pid;
	int ready_rd, go_wr;
	struct holder_log *log;
};

/* Fork a holder child, @child(@cfg, ...), and wait until it is ready. */
static void holder_spawn(struct holder_proc *h, const struct holder_cfg *cfg,
			 void (*child)(const struct holder_cfg *cfg,
				       struct holder_log *hl, int ready_fd, int go_fd))
{
	int ready[2], go[2];
	char c;

	h->log = mmap(NULL, sizeof(*h->log), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	g_assert_true(h->log != MAP_FAILED);
	g_assert_cmpint(pipe2(ready, O_CLOEXEC), ==, 0);
	g_assert_cmpint(pipe2(go, O_CLOEXEC), ==, 0);
	h->pid = fork();
	g_assert_cmpint(h->pid, >=, 0);
	if (h->pid == 0) {
		close(ready[0]);
		close(go[1]);
		child(cfg, h->log, ready[1], go[0]);
	}
	close(ready[1]);
	close(go[0]);
	h->ready_rd = ready[0];
	h->go_wr = go[1];
	if (read(h->ready_rd, &c, 1) != 1) {
		waitpid(h->pid, NULL, 0);
		g_error("holder failed before it was ready (line %d): %s",
			h->log->failed_line, h->log->msg);
	}
}

/* Fork the holder and wait until it is ready. */
static void holder_start(struct holder_proc *h, const struct holder_cfg *cfg)
{
	holder_spawn(h, cfg, holder);
}

/* Let the holder go on (H_EXCLUSIVE), wait for it; it must have passed. */
static void holder_finish(struct holder_proc *h)
{
	int status;

	if (write(h->go_wr, "g", 1) != 1 && errno != EPIPE)
		g_test_message("go pipe: %s", g_strerror(errno));
	g_assert_cmpint(waitpid(h->pid, &status, 0), ==, h->pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		g_error("holder failed (status %#x, line %d): %s", status,
			h->log->failed_line, h->log->msg);
	close(h->ready_rd);
	close(h->go_wr);
}

static void holder_free(struct holder_proc *h)
{
	munmap(h->log, sizeof(*h->log));
}

/* ---- scenario 1: no protection ---- */

struct sc {
	const char *backend;
	const char *env; /* the directory */
};

/*
 * Map, pin, truncate to 0 and extend again (from this process: nothing
 * stops it), device writes, unpin.  Not a byte of the device's is in the
 * file.
 */
static void test_unprotected(gconstpointer data)
{
	const struct sc *sc = data;
	const char *dir = test_dir(sc->env);
	const size_t len = NPAGES * page_size;
	g_autoptr(GError) err = NULL;
	g_autofree char *path = NULL;
	struct pin_backend *be;
	struct pin_region *r;
	guint64 bad = 0, nz, ino = 0;
	gint64 first;
	guint8 *map;
	off_t size;
	int fd, i;

	if (!dir)
		return;
	be = pin_backend_open(sc->backend, &err);
	if (!be)
		g_error("backend %s: %s", sc->backend, err->message);
	if (!pin_allowed(sc->backend, dir)) {
		pin_backend_close(be);
		return;
	}
	path = make_file(dir, "unprotected", &ino);
	fd = open(path, O_RDWR | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	g_assert_true(map != MAP_FAILED);
	memset(map, APP_BYTE, len);
	r = pin_region(be, map, len, 0, &err);
	if (!r)
		g_error("pin_region (%s) on %s: %s", sc->backend, dir, err->message);
	g_assert_cmpuint(query_pinned(path, ino), ==, NPAGES);

	g_assert_cmpint(truncate(path, 0), ==, 0);
	g_assert_cmpint(truncate(path, len), ==, 0);
	g_assert_cmpuint(query_pinned(path, ino), ==, 0); /* the pinned pages left */

	for (i = 0; i < NPAGES; i++)
		g_assert_true(
		    pin_dma_write(r, i * page_size, page_size, DEV_BYTE(i), 0, &err));
	/* kmod reads back through the device (the pinned, orphaned pages); the
	 * other backends' verify reads through the mapping, which the truncate
	 * has pointed at new pages, so it cannot show them. */
	for (i = 0; i < NPAGES && !strcmp(sc->backend, "kmod"); i++) {
		g_assert_true(pin_dma_verify(r, i * page_size, page_size, DEV_BYTE(i),
					     &bad, &first, &err));
		g_assert_cmpuint(bad, ==, 0); /* the device sees its bytes */
	}
	g_assert_true(pin_release(r, &err));

	/* Lost: the file is zeros, through the mapping and through read(). */
	g_assert_cmpint(fsync(fd), ==, 0);
	for (i = 0; i < (int)len; i++)
		if (map[i] != 0)
			g_error("byte %d of the mapping is %#x, not 0", i, map[i]);
	nz = path_nonzero(path, &size);
	g_assert_cmpint(size, ==, len);
	g_assert_cmpuint(nz, ==, 0);
	g_assert_cmpint(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), ==, 0);
	nz = path_nonzero(path, &size);
	g_assert_cmpuint(nz, ==, 0);
	g_test_message("%s on %s: all %zu bytes the device wrote are lost", sc->backend,
		       dir, len);

	munmap(map, len);
	close(fd);
	unlink(path);
	pin_backend_close(be);
}

/* ---- scenario 2: a layout lease ---- */

struct sc2 {
	const char *backend;
	gboolean open_ftruncate; /* truncate through a new open file, after msync */
};

/*
 * The holder leases, maps, pins, starts device writes and says "ready".
 * This process truncates to 0: the call waits; the holder is notified,
 * gives the device more work, waits for all of it to land, reads the file
 * back (every byte the device's), unpins and releases; only then does the
 * truncate return.  Then extend again: zeros.
 */
static void test_protected(gconstpointer data)
{
	const struct sc2 *sc = data;
	const char *dir = test_dir("PINFS_TEST_ON_DIR");
	const size_t len = NPAGES * page_size;
	struct holder_cfg cfg = {.kind = H_BREAK_RELEASE, .backend = sc->backend};
	struct holder_proc h;
	g_autofree char *path = NULL;
	gint64 t_start, t_end;
	guint64 nz;
	off_t size;
	int ret, fd = -1, saved;

	if (!dir)
		return;
	if (!pin_allowed(sc->backend, dir))
		return;
	path =
	    make_file(dir, sc->open_ftruncate ? "protected-open" : "protected", &cfg.ino);
	cfg.path = path;
	cfg.msync_first = sc->open_ftruncate;
	holder_start(&h, &cfg);

	t_start = g_get_monotonic_time();
	if (sc->open_ftruncate) {
		/* A new open of the file (the holder's pages are clean). */
		fd = open(path, O_RDWR | O_CLOEXEC);
		g_assert_cmpint(fd, >=, 0);
		ret = ftruncate(fd, 0);
	} else {
		ret = guarded_truncate(path, 0, 60);
	}
	saved = errno;
	t_end = g_get_monotonic_time();
	if (ret != 0)
		g_test_message("%s of the leased file failed after %.2f s: %s",
			       sc->open_ftruncate ? "ftruncate" : "truncate",
			       (t_end - t_start) / 1e6, g_strerror(saved));
	g_assert_cmpint(ret, ==, 0);
	holder_finish(&h);

	g_test_message("%s: truncate waited %.2f s; holder notified after %.2f s with "
		       "%" G_GUINT64_FORMAT " device writes in flight, %" G_GUINT64_FORMAT
		       " pages DMA-pinned; released %.2f s after the truncate began",
		       sc->backend, (t_end - t_start) / 1e6,
		       (h.log->t_notified - t_start) / 1e6, h.log->pending_at_notify,
		       h.log->pinned_pages, (h.log->t_released - t_start) / 1e6);
	/* The holder heard of the break after the truncate began... */
	g_assert_cmpint(h.log->t_notified, >=, t_start);
	/* ... its pages all stayed pinned (also when the truncator opened the
	 * file anew: open_ftruncate) ... */
	g_assert_cmpuint(h.log->pinned_pages, ==, NPAGES);
	/* ... its device wrote while the truncate waited ... */
	g_assert_cmpint(h.log->t_landed, >, t_start);
	g_assert_cmpuint(h.log->dev_bad, ==, 0);
	/* ... every byte it wrote was in the file ... */
	g_assert_cmpuint(h.log->file_bad, ==, 0);
	/* ... and the truncate returned only after the release. */
	g_assert_cmpint(h.log->t_checked, <=, h.log->t_unpin_begin);
	g_assert_cmpint(h.log->t_unpinned, <=, h.log->t_release_begin);
	g_assert_cmpint(t_end, >=, h.log->t_release_begin);

	/* The truncate itself happened: extend again, all zeros. */
	nz = path_nonzero(path, &size);
	g_assert_cmpint(size, ==, 0);
	g_assert_cmpint(truncate(path, len), ==, 0);
	nz = path_nonzero(path, &size);
	g_assert_cmpint(size, ==, len);
	g_assert_cmpuint(nz, ==, 0);
	if (fd >= 0)
		close(fd);
	holder_free(&h);
	unlink(path);
}

/* ---- scenario 4: exclusive leases, and holders that ignore breaks ---- */

/* An exclusive lease: the truncate fails with ETXTBSY, the bytes stay. */
static void test_exclusive(void)
{
	const char *dir = test_dir("PINFS_TEST_ON_DIR");
	struct holder_cfg cfg = {.kind = H_EXCLUSIVE, .backend = "kmod"};
	struct holder_proc h;
	g_autofree char *path = NULL;
	int ret, saved;

	if (!dir || !pin_allowed(cfg.backend, dir))
		return;
	path = make_file(dir, "exclusive", &cfg.ino);
	cfg.path = path;
	holder_start(&h, &cfg);
	/* The holder's device writes have all landed before it is ready... */
	while (!((volatile struct holder_log *)h.log)->t_checked &&
	       !((volatile struct holder_log *)h.log)->failed_line)
		g_usleep(10000);
	ret = truncate(path, 0);
	saved = errno;
	g_assert_cmpint(ret, ==, -1);
	g_assert_cmpint(saved, ==, ETXTBSY);
	/* ... and are still in the file, read by another process. */
	g_assert_cmpuint(path_not_device(path), ==, 0);
	holder_finish(&h);
	g_assert_cmpuint(h.log->file_bad, ==, 0);
	g_assert_cmpuint(path_not_device(path), ==, 0);
	holder_free(&h);
	unlink(path);
}

/*
 * A holder that ignores the break, with a device pin and a registered pin,
 * on a mount with break_time=2.  The lease is revoked (logged); then
 * pinned=wait: the truncate waits for the device pin and then for the
 * registered pin, and returns after the last unpin;
 * pinned=fail: the truncate fails with ETXTBSY and the bytes stay.
 */
static void test_ignore(gconstpointer data)
{
	const gboolean fail = GPOINTER_TO_INT(data);
	const char *env = fail ? "PINFS_TEST_FAIL2_DIR" : "PINFS_TEST_WAIT2_DIR";
	const char *dir = test_dir(env);
	g_autofree char *logenv = g_strconcat(env, "_LOG", NULL);
	const char *logpath = g_getenv(logenv);
	struct holder_cfg cfg = {.kind = H_IGNORE, .backend = "kmod"};
	struct holder_proc h;
	g_autofree char *path = NULL;
	gint64 t_start, t_end;
	int ret, saved;
	off_t size;

	if (!dir || !pin_allowed(cfg.backend, dir))
		return;
	g_assert_nonnull(logpath);
	path = make_file(dir, "ignore", &cfg.ino);
	cfg.path = path;
	holder_start(&h, &cfg);
	t_start = g_get_monotonic_time();
	ret = guarded_truncate(path, 0, 60);
	saved = errno;
	t_end = g_get_monotonic_time();
	holder_finish(&h);

	g_test_message("pinned=%s: truncate returned %d (%s) after %.2f s; lease revoked "
		       "after %.2f s; device unpinned after %.2f s, registered pin "
		       "removed after %.2f s",
		       fail ? "fail" : "wait", ret, ret ? g_strerror(saved) : "ok",
		       (t_end - t_start) / 1e6, (h.log->t_revoked - t_start) / 1e6,
		       (h.log->t_unpinned - t_start) / 1e6,
		       (h.log->t_reg_unpin_begin - t_start) / 1e6);
	g_assert_cmpuint(h.log->end_reason, ==, PINFS_END_REVOKED_TIMEOUT);
	g_assert_true(log_has(logpath, "revoke"));
	g_assert_cmpuint(h.log->pinned_pages, ==, NPAGES);
	g_assert_cmpuint(h.log->dev_bad, ==, 0);
	g_assert_cmpuint(h.log->file_bad, ==, 0);
	if (fail) {
		g_assert_cmpint(ret, ==, -1);
		g_assert_cmpint(saved, ==, ETXTBSY);
		/* The device's bytes are still the file's. */
		g_assert_cmpuint(path_not_device(path), ==, 0);
	} else {
		g_assert_cmpint(ret, ==, 0);
		/* Not at the revocation, not at the device unpin: at the last. */
		g_assert_cmpint(h.log->t_unpinned, <, h.log->t_reg_unpin_begin);
		g_assert_cmpint(t_end, >=, h.log->t_reg_unpin_begin);
		g_assert_cmpuint(path_nonzero(path, &size), ==, 0);
		g_assert_cmpint(size, ==, 0);
	}
	holder_free(&h);
	unlink(path);
}

/* ---- scenario 5: a pin with no lease ---- */

/*
 * A kmod pin of a pinfs file's pages, never registered and with no lease:
 * the daemon finds it through PINFS_DMA_IOC_QUERY and the truncate waits
 * (rechecked every 50 ms) until the unpin.
 */
static void test_no_lease(gconstpointer data)
{
	const enum holder_kind kind = GPOINTER_TO_INT(data);
	const char *dir = test_dir("PINFS_TEST_ON_DIR");
	struct holder_cfg cfg = {.kind = kind, .backend = "kmod"};
	struct holder_proc h;
	g_autofree char *path = NULL;
	gint64 t_start, t_end;
	off_t size;
	int ret, saved;

	if (!dir || !pin_allowed(cfg.backend, dir))
		return;
	path = make_file(dir, kind == H_RELEASE_FIRST ? "release-first" : "no-lease",
			 &cfg.ino);
	cfg.path = path;
	{
		/* The module is loaded: libpinfs says so. */
		struct pinfs_version v;
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		g_assert_cmpint(fd, >=, 0);
		g_assert_no_errno(pinfs_probe(fd, &v));
		g_assert_cmpuint(v.features & PINFS_FEAT_KMOD, ==, PINFS_FEAT_KMOD);
		close(fd);
	}
	holder_start(&h, &cfg);
	t_start = g_get_monotonic_time();
	ret = guarded_truncate(path, 0, 10);
	saved = errno;
	t_end = g_get_monotonic_time();
	holder_finish(&h);
	/*
	 * H_RELEASE_FIRST: the waiter becomes one for pins alone only when the
	 * lease is released with DMA pins left; the daemon must go on
	 * rechecking the unregistered pins until the unpin (else the 10 s
	 * guard fires: EINTR).
	 */
	if (ret && saved == EINTR)
		g_test_message("the truncate was still waiting when its 10 s guard "
			       "fired, %.2f s after the unpin",
			       (t_end - h.log->t_unpinned) / 1e6);
	if (ret)
		g_test_message("truncate: %s", g_strerror(saved));
	g_assert_cmpint(ret, ==, 0);
	g_test_message("truncate waited %.2f s, unpin after %.2f s",
		       (t_end - t_start) / 1e6, (h.log->t_unpinned - t_start) / 1e6);
	g_assert_cmpuint(h.log->pinned_pages, ==, NPAGES);
	g_assert_cmpuint(h.log->dev_bad, ==, 0);
	g_assert_cmpuint(h.log->file_bad, ==, 0);
	g_assert_cmpint(h.log->t_landed, >, t_start);
	g_assert_cmpint(h.log->t_checked, <=, h.log->t_unpin_begin);
	g_assert_cmpint(t_end, >=, h.log->t_unpin_begin);
	g_assert_cmpuint(path_nonzero(path, &size), ==, 0);
	g_assert_cmpint(size, ==, 0);
	holder_free(&h);
	unlink(path);
}

/*
 * io_uring and a pinfs mapping, without tools/pin: registering a MAP_SHARED
 * mapping of a FUSE file as a fixed buffer fails on this kernel, with
 * EOPNOTSUPP before Linux 6.5 (io_uring accepts only shmem and hugetlbfs
 * file memory) and EFAULT from 6.5 (GUP refuses long-term pins of such
 * mappings); a tmpfs mapping registers.
 */
static void test_iouring_fuse(void)
{
#ifdef HAVE_LIBURING
	const char *dir = test_dir("PINFS_TEST_ON_DIR");
	const char *plain = test_dir("PINFS_TEST_PLAIN_DIR");
	const size_t len = NPAGES * page_size;
	const char *dirs[2] = {plain, dir};
	struct io_uring ring;
	struct utsname u;
	unsigned major = 0, minor = 0;
	int i, want;

	if (!dir || !plain)
		return;
	g_assert_cmpint(uname(&u), ==, 0);
	g_assert_cmpint(sscanf(u.release, "%u.%u", &major, &minor), ==, 2);
	want = major > 6 || (major == 6 && minor >= 5) ? -EFAULT : -EOPNOTSUPP;
	g_assert_cmpint(io_uring_queue_init(4, &ring, 0), ==, 0);
	for (i = 0; i < 2; i++) {
		g_autofree char *path = make_file(dirs[i], "iouring", NULL);
		int fd = open(path, O_RDWR | O_CLOEXEC), ret;
		struct iovec iov;
		void *map;

		g_assert_cmpint(fd, >=, 0);
		map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		g_assert_true(map != MAP_FAILED);
		memset(map, APP_BYTE, len);
		iov = (struct iovec){map, len};
		ret = io_uring_register_buffers(&ring, &iov, 1);
		g_test_message("Linux %s, io_uring_register_buffers on %s: %d (%s)",
			       u.release, i ? "pinfs" : "tmpfs", ret,
			       ret ? g_strerror(-ret) : "ok");
		if (i == 0) {
			g_assert_cmpint(ret, ==, 0);
			g_assert_cmpint(io_uring_unregister_buffers(&ring), ==, 0);
		} else {
			g_assert_cmpint(ret, ==, want);
		}
		munmap(map, len);
		close(fd);
		unlink(path);
	}
	io_uring_queue_exit(&ring);
#else
	g_test_skip("built without liburing");
#endif
}

/* ---- a holder killed in the middle of its device writes ---- */

/*
 * The killed holder (child): lease, map, pin with kmod; the device writes
 * pages 0 and 1 and queues writes of pages 3 to NPAGES - 1 for a minute
 * later; ready.  Told to go on (the parent's truncate is then parked), it
 * writes page 2, says so, and waits for its SIGKILL.  It opens the file
 * before the pin device, or after it (device_first): the kernel closes
 * them in that order at its death (before the fix of docs/dma.md, both
 * orders lost the device's bytes on Linux 6.1).
 */
static void killed_holder(const struct holder_cfg *cfg, struct holder_log *hl,
			  int ready_fd, int go_fd)
{
	const size_t len = NPAGES * page_size;
	g_autoptr(GError) err = NULL;
	struct pin_backend *be = NULL;
	struct pin_region *r;
	guint8 *map;
	int fd;
	char c;

	signal(SIGIO, on_sigio); /* the lease break's signal */
	if (cfg->device_first) {
		be = pin_backend_open(cfg->backend, &err);
		H_CHECK(hl, be, "backend %s: %s", cfg->backend, err->message);
	}
	fd = open(cfg->path, O_RDWR | O_CLOEXEC);
	H_CHECK(hl, fd >= 0, "open: %s", g_strerror(errno));
	if (!cfg->device_first) {
		be = pin_backend_open(cfg->backend, &err);
		H_CHECK(hl, be, "backend %s: %s", cfg->backend, err->message);
	}
	H_CHECK(hl, pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, 0) == 0, "setlease: %s",
		g_strerror(errno));
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	H_CHECK(hl, map != MAP_FAILED, "mmap: %s", g_strerror(errno));
	memset(map, APP_BYTE, len);
	r = pin_region(be, map, len, 0, &err);
	H_CHECK(hl, r, "pin_region (%s): %s", cfg->backend, err->message);
	device_write_pages(hl, r, 0, 2, 0, "device write");
	device_write_pages(hl, r, 3, NPAGES, PINFS_DMA_MAX_DELAY_MS,
			   "queued device write");
	hl->t_ready = g_get_monotonic_time();
	H_CHECK(hl, write(ready_fd, "r", 1) == 1, "ready pipe");
	H_CHECK(hl, read(go_fd, &c, 1) == 1, "go pipe");
	device_write_pages(hl, r, 2, 3, 0, "device write");
	hl->t_landed = g_get_monotonic_time();
	H_CHECK(hl, write(ready_fd, "w", 1) == 1, "ready pipe");
	for (;;)
		pause();
}

/*
 * A lease holder is killed by SIGKILL in the middle of its device writes,
 * while a truncate to 4 pages waits for it: pages 0 and 1 were written
 * before the truncate started, page 2 while it was parked, pages 3 on were
 * still queued (the module drops them when the process dies).  The
 * truncate goes through once the holder is gone, and every byte the device
 * wrote is in the file, read back through the daemon from the backing
 * file; page 3 keeps the application's bytes.  fsync() of the file
 * succeeds, and the kernel logs no warning (tests/vm/run fails the test
 * if it does): on Linux 6.1 pages dirtied by the unpin after the holder's
 * open file was released could not be written back (docs/dma.md).  The
 * kmod device keeps the mapped file open until its unpin is written back;
 * the rdma one (ibv_reg_mr, unpinned by ib_umem_release when the verbs
 * file goes) does not, and relies on the daemon's own open file of the
 * file (fs/wbguard.c).  Where the kernel refuses the long-term pin
 * (Linux 6.5 and later), the test is skipped: nothing can be lost.
 * idle: the same with no truncate at all; every page keeps its bytes.
 *
 * On the break_time=2 mount: the kernel holds the FUSE release of the
 * killed holder's open file back until its page write-back, itself held
 * back by the parked truncate, is done, so the lease ends at break_time.
 */
struct sc6 {
	const char *backend;
	gboolean device_first;
	gboolean idle; /* no truncate: the holder is killed with nothing parked */
};

static void test_killed(gconstpointer data)
{
	const struct sc6 *sc = data;
	const char *dir = test_dir("PINFS_TEST_WAIT2_DIR");
	struct holder_cfg cfg = {.backend = sc->backend,
				 .device_first = sc->device_first};
	g_autofree char *path = NULL;
	g_autofree guint8 *buf = NULL;
	struct holder_proc h;
	pid_t truncator = 0;
	off_t size = sc->idle ? NPAGES * page_size : 4 * page_size;
	int status, fd, i;
	size_t j, bad;
	char c;

	if (!dir)
		return;
	if (!pin_allowed(sc->backend, dir)) {
		g_test_skip("this kernel refuses the long-term pin: nothing to lose");
		return;
	}
	path = make_file(dir, "killed", NULL);
	cfg.path = path;
	holder_spawn(&h, &cfg, killed_holder);

	if (!sc->idle) {
		truncator = fork();
		g_assert_cmpint(truncator, >=, 0);
		if (truncator == 0)
			_exit(guarded_truncate(path, size, 60) ? errno : 0);
		g_assert_true(wait_in_syscall(truncator, SYS_truncate));
	}

	/* The truncate is parked: the device writes page 2 now. */
	g_assert_cmpint(write(h.go_wr, "g", 1), ==, 1);
	if (read(h.ready_rd, &c, 1) != 1 || c != 'w')
		g_error("holder failed (line %d): %s", h.log->failed_line, h.log->msg);
	if (truncator)
		g_assert_cmpint(waitpid(truncator, &status, WNOHANG), ==, 0);

	g_assert_cmpint(kill(h.pid, SIGKILL), ==, 0);
	g_assert_cmpint(waitpid(h.pid, &status, 0), ==, h.pid);
	g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	if (truncator) {
		g_assert_cmpint(waitpid(truncator, &status, 0), ==, truncator);
		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), ==, 0); /* it went through */
	}

	/* The bytes, from the backing file: write back, drop the cache, read. */
	fd = open(path, O_RDWR | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(fsync(fd), ==, 0);
	g_assert_cmpint(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), ==, 0);
	buf = g_malloc0(NPAGES * page_size);
	g_assert_cmpint(pread(fd, buf, NPAGES * page_size, 0), ==, size);
	for (i = 0; i < size / (off_t)page_size; i++) {
		guint8 want = i < 3 ? DEV_BYTE(i) : APP_BYTE;

		for (j = 0, bad = 0; j < page_size; j++)
			bad += buf[i * page_size + j] != want;
		g_test_message("page %d: %zu of %zu bytes differ from %#x", i, bad,
			       page_size, want);
		g_assert_cmpuint(bad, ==, 0);
	}
	close(fd);
	close(h.ready_rd);
	close(h.go_wr);
	holder_free(&h);
	unlink(path);
}

int main(int argc, char **argv)
{
	static const char *const backends[] = {"kmod", "rdma", "iouring"};
	static const struct {
		const char *name, *env;
	} dirs[] = {
	    {"plain", "PINFS_TEST_PLAIN_DIR"},
	    {"leases-off", "PINFS_TEST_OFF_DIR"},
	};
	static struct sc sc1[G_N_ELEMENTS(backends) * G_N_ELEMENTS(dirs)];
	static struct sc2 sc2[G_N_ELEMENTS(backends)];
	static const struct sc2 sc2_open = {"kmod", TRUE};
	/* backend, device first, idle */
	static const struct sc6 sc6[] = {
	    {"kmod", FALSE, FALSE}, {"kmod", TRUE, FALSE}, {"rdma", FALSE, FALSE},
	    {"rdma", TRUE, FALSE},  {"kmod", FALSE, TRUE}, {"kmod", TRUE, TRUE},
	    {"rdma", FALSE, TRUE},  {"rdma", TRUE, TRUE},
	};
	size_t b, d, n = 0;

	g_test_init(&argc, &argv, NULL);
	page_size = sysconf(_SC_PAGESIZE);
	signal(SIGPIPE, SIG_IGN); /* a holder that died is reported, not fatal */

	for (b = 0; b < G_N_ELEMENTS(backends); b++) {
		for (d = 0; d < G_N_ELEMENTS(dirs); d++, n++) {
			g_autofree char *p = g_strdup_printf("/scenario1/%s/%s",
							     backends[b], dirs[d].name);

			sc1[n] = (struct sc){backends[b], dirs[d].env};
			g_test_add_data_func(p, &sc1[n], test_unprotected);
		}
	}
	for (b = 0; b < G_N_ELEMENTS(backends); b++) {
		g_autofree char *p = g_strdup_printf("/scenario2/%s", backends[b]);

		sc2[b] = (struct sc2){backends[b], FALSE};
		g_test_add_data_func(p, &sc2[b], test_protected);
	}
	g_test_add_data_func("/scenario2/kmod/open-ftruncate", &sc2_open, test_protected);
	g_test_add_func("/scenario3/iouring-fuse-register", test_iouring_fuse);
	g_test_add_func("/scenario4/exclusive", test_exclusive);
	g_test_add_data_func("/scenario4/ignore/pinned-wait", GINT_TO_POINTER(FALSE),
			     test_ignore);
	g_test_add_data_func("/scenario4/ignore/pinned-fail", GINT_TO_POINTER(TRUE),
			     test_ignore);
	g_test_add_data_func("/scenario5/no-lease", GINT_TO_POINTER(H_NO_LEASE),
			     test_no_lease);
	g_test_add_data_func("/scenario5/release-before-unpin",
			     GINT_TO_POINTER(H_RELEASE_FIRST), test_no_lease);
	g_test_add_data_func("/scenario6/holder-killed/file-first", &sc6[0], test_killed);
	g_test_add_data_func("/scenario6/holder-killed/device-first", &sc6[1],
			     test_killed);
	g_test_add_data_func("/scenario6/holder-killed/rdma/file-first", &sc6[2],
			     test_killed);
	g_test_add_data_func("/scenario6/holder-killed/rdma/device-first", &sc6[3],
			     test_killed);
	g_test_add_data_func("/scenario6/idle-holder-killed/file-first", &sc6[4],
			     test_killed);
	g_test_add_data_func("/scenario6/idle-holder-killed/device-first", &sc6[5],
			     test_killed);
	g_test_add_data_func("/scenario6/idle-holder-killed/rdma/file-first", &sc6[6],
			     test_killed);
	g_test_add_data_func("/scenario6/idle-holder-killed/rdma/device-first", &sc6[7],
			     test_killed);
	return g_test_run();
}
