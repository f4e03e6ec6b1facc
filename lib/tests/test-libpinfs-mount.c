// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-libpinfs-mount - libpinfs and the preload shim against a real pinfs
 * daemon: every call's answer and errors, a break seen through both, and
 * layout-demo (an unmodified program) under LD_PRELOAD.
 *
 * Each test mounts its own pinfs with the tests' mount helper
 * (tests/common/mount.h; root and /dev/fuse needed) and unmounts it at the
 * end.  The shim is tested in this process by dlopen()ing it
 * RTLD_LOCAL and calling its fcntl64 directly: it then forwards to glibc
 * like under LD_PRELOAD, while the test's own fcntl stays glibc's.
 *
 * Environment:
 *   PINFS_BIN      the pinfs daemon (tests skip without it)
 *   PINFS_PRELOAD  libpinfs-preload.so (shim tests skip without it)
 *   LAYOUT_DEMO    lib/tests/layout-demo (its test skips without it)
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "kid.h"
#include "check.h"
#include "mount.h"
#include "pinfs.h"

/* How long a test waits for something that must happen (not a timing
 * assertion: only a broken daemon makes it run out). */
#define MUST_HAPPEN_S 20

typedef int (*fcntl_fn)(int fd, int cmd, ...);

/* pinfs with leases on unless @opts says otherwise. */
static struct pm *mnt_start(const char *opts)
{
	return pm_mount(opts ? opts : "leases=on");
}

/* A file of @size bytes in the mount, open with @flags (O_CLOEXEC added). */
static int open_file(struct pm *m, const char *name, int flags, off_t size, char **path)
{
	g_autofree char *p = pm_path(m, name);
	int fd = open(p, flags | O_CREAT | O_CLOEXEC, 0644);

	g_assert_cmpint(fd, >=, 0);
	if (size >= 0) {
		int w = open(p, O_WRONLY | O_CLOEXEC);

		g_assert_cmpint(w, >=, 0);
		g_assert_no_errno(ftruncate(w, size));
		close(w);
	}
	if (path)
		*path = g_steal_pointer(&p);
	return fd;
}

static void test_probe(void)
{
	struct pm *m = mnt_start(NULL);
	struct pinfs_version v = {0};
	int fd, dfd;

	fd = open_file(m, "f", O_RDWR, 0, NULL);
	g_assert_no_errno(pinfs_probe(fd, &v));
	g_assert_cmpuint(v.size, ==, sizeof(v));
	g_assert_cmpuint(v.abi_version, ==, PINFS_ABI_VERSION);
	g_assert_cmpuint(v.features & PINFS_FEAT_LEASES, ==, PINFS_FEAT_LEASES);
	/* The library adds KMOD exactly when the module's device is there. */
	g_assert_cmpint(!!(v.features & PINFS_FEAT_KMOD), ==,
			access("/dev/pinfs_dma", F_OK) == 0);
	g_assert_no_errno(pinfs_probe(fd, NULL));
	g_assert_no_errno(pinfs_noop(fd));

	/* Directories are on pinfs too, but take no lease. */
	dfd = open(pm_mnt(m), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	g_assert_cmpint(dfd, >=, 0);
	g_assert_no_errno(pinfs_probe(dfd, NULL));
	g_assert_no_errno(pinfs_noop(dfd));
	assert_errno(pinfs_setlease(dfd, PINFS_LEASE_READ, 0, 0, 0), EISDIR);
	close(dfd);
	close(fd);
	pm_unmount(m);
}

/* leases=off: still pinfs, but every lease call is EOPNOTSUPP. */
static void test_leases_off(void)
{
	struct pm *m = mnt_start("leases=off");
	struct pinfs_version v = {0};
	struct pinfs_lease_status st;
	uint64_t id;
	int fd;

	fd = open_file(m, "f", O_RDWR, 4096, NULL);
	g_assert_no_errno(pinfs_probe(fd, &v));
	g_assert_cmpuint(v.features & PINFS_FEAT_LEASES, ==, 0);
	g_assert_no_errno(pinfs_noop(fd));
	assert_errno(pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, 0), EOPNOTSUPP);
	assert_errno(pinfs_getlease(fd, &st), EOPNOTSUPP);
	assert_errno(pinfs_setsig(fd, SIGUSR1), EOPNOTSUPP);
	assert_errno(pinfs_pin(fd, 0, 1, &id), EOPNOTSUPP);
	assert_errno(pinfs_unpin(fd, 1), EOPNOTSUPP);
	close(fd);
	pm_unmount(m);
}

/* Take, change and release; getlease reports each state. */
static void test_lease_cycle(void)
{
	struct pm *m = mnt_start(NULL);
	struct pinfs_lease_status st;
	uint64_t id;
	int fd, other;

	fd = open_file(m, "f", O_RDWR, 65536, NULL);
	g_assert_no_errno(pinfs_getlease(fd, &st));
	g_assert_cmpuint(st.state, ==, PINFS_STATE_NONE);
	g_assert_cmpuint(st.type, ==, PINFS_LEASE_UNLOCK);
	g_assert_cmpuint(st.lease_id, ==, 0);

	g_assert_no_errno(pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, PINFS_LEN_EOF));
	g_assert_no_errno(pinfs_getlease(fd, &st));
	g_assert_cmpuint(st.size, ==, sizeof(st));
	g_assert_cmpuint(st.state, ==, PINFS_STATE_ACTIVE);
	g_assert_cmpuint(st.type, ==, PINFS_LEASE_READ);
	g_assert_cmpuint(st.flags, ==, 0);
	g_assert_cmpuint(st.offset, ==, 0);
	g_assert_cmpuint(st.length, ==, PINFS_LEN_EOF);
	g_assert_cmpuint(st.lease_id, !=, 0);
	id = st.lease_id;

	/* Another open file may share a read lease, not take a write one. */
	other = open_file(m, "f", O_RDWR, -1, NULL);
	g_assert_no_errno(pinfs_setlease(other, PINFS_LEASE_READ, 0, 0, 0));
	assert_errno(pinfs_setlease(other, PINFS_LEASE_WRITE, 0, 0, 0), EAGAIN);
	g_assert_no_errno(pinfs_release(other));
	assert_errno(pinfs_setlease(other, PINFS_LEASE_WRITE, 0, 4096, 4096), EAGAIN);

	/* Change type, range and exclusivity of the same lease. */
	g_assert_no_errno(
	    pinfs_setlease(fd, PINFS_LEASE_WRITE, PINFS_LEASE_EXCLUSIVE, 4096, 8192));
	g_assert_no_errno(pinfs_getlease(fd, &st));
	g_assert_cmpuint(st.state, ==, PINFS_STATE_ACTIVE);
	g_assert_cmpuint(st.type, ==, PINFS_LEASE_WRITE);
	g_assert_cmpuint(st.flags, ==, PINFS_LEASE_EXCLUSIVE);
	g_assert_cmpuint(st.offset, ==, 4096);
	g_assert_cmpuint(st.length, ==, 8192);
	g_assert_cmpuint(st.lease_id, ==, id);
	/* A write lease on a range that does not overlap does not conflict. */
	g_assert_no_errno(pinfs_setlease(other, PINFS_LEASE_WRITE, 0, 0, 4096));
	g_assert_no_errno(pinfs_release(other));

	g_assert_no_errno(pinfs_release(fd));
	g_assert_no_errno(pinfs_getlease(fd, &st));
	g_assert_cmpuint(st.state, ==, PINFS_STATE_NONE);
	g_assert_cmpuint(st.type, ==, PINFS_LEASE_UNLOCK);
	g_assert_cmpuint(st.end_reason, ==, PINFS_END_RELEASED);
	g_assert_cmpstr(pinfs_end_reason_str(st.end_reason), ==, "released");
	g_assert_no_errno(pinfs_release(fd)); /* none held: not an error */
	close(other);
	close(fd);
	pm_unmount(m);
}

/* Pins need a lease covering them; ids are per open file. */
static void test_pins(void)
{
	struct pm *m = mnt_start(NULL);
	struct pinfs_lease_status st;
	uint64_t a = 0, b = 0, x = 77;
	int fd, other;

	fd = open_file(m, "f", O_RDWR, 65536, NULL);
	other = open_file(m, "f", O_RDWR, -1, NULL);
	assert_errno(pinfs_pin(fd, 0, 4096, &x), EPERM);
	g_assert_cmpuint(x, ==, 77);

	g_assert_no_errno(pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, 16384));
	g_assert_no_errno(pinfs_pin(fd, 0, 4096, &a));
	g_assert_no_errno(pinfs_pin(fd, 8192, 8192, &b));
	g_assert_cmpuint(a, !=, b);
	assert_errno(pinfs_pin(fd, 12288, 8192, &x), EPERM); /* past the lease */
	assert_errno(pinfs_pin(other, 0, 4096, &x), EPERM);  /* not its lease */
	g_assert_no_errno(pinfs_getlease(fd, &st));
	g_assert_cmpuint(st.pinned_bytes, ==, 4096 + 8192);

	assert_errno(pinfs_unpin(other, a), ENOENT);
	g_assert_no_errno(pinfs_unpin(fd, a));
	assert_errno(pinfs_unpin(fd, a), ENOENT);
	g_assert_no_errno(pinfs_getlease(fd, &st));
	g_assert_cmpuint(st.pinned_bytes, ==, 8192);

	/* Pins outlive the release; new ones need a new lease. */
	g_assert_no_errno(pinfs_release(fd));
	g_assert_no_errno(pinfs_getlease(fd, &st));
	g_assert_cmpuint(st.pinned_bytes, ==, 8192);
	assert_errno(pinfs_pin(fd, 0, 4096, &x), EPERM);
	g_assert_no_errno(pinfs_unpin(fd, b));
	g_assert_no_errno(pinfs_getlease(fd, &st));
	g_assert_cmpuint(st.pinned_bytes, ==, 0);
	close(other);
	close(fd);
	pm_unmount(m);
}

/* The break signal as the daemon records it. */
static void test_setsig(void)
{
	struct pm *m = mnt_start(NULL);
	struct pinfs_lease_status st;
	int fd;

	fd = open_file(m, "f", O_RDWR, 4096, NULL);
	g_assert_no_errno(pinfs_setsig(fd, SIGRTMIN + 2));
	g_assert_no_errno(pinfs_getlease(fd, &st));
	g_assert_cmpint(st.signal, ==, SIGRTMIN + 2);
	g_assert_no_errno(pinfs_setsig(fd, 0));
	g_assert_no_errno(pinfs_getlease(fd, &st));
	g_assert_cmpint(st.signal, ==, 0);
	close(fd);
	pm_unmount(m);
}

/* In a kid (kid.h): truncate the path to 0; 0 or the errno. */
static int truncate_fn(void *path)
{
	return truncate(path, 0) < 0 ? errno : 0;
}

/* A kid that truncates @path to 0 and answers 0 or the errno. */
static struct kid *start_truncate(const char *path)
{
	return kid_start(truncate_fn, (void *)path);
}

/* The kid's answer; the kid is gone afterwards. */
static int child_result(struct kid *k)
{
	int r = kid_answer(k, "truncate");

	kid_end(k);
	return r;
}

/* Wait for @sig (blocked by the caller), which must come. */
static void wait_signal(int sig, int want_fd)
{
	struct timespec ts = {.tv_sec = MUST_HAPPEN_S};
	siginfo_t si;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	g_assert_cmpint(sigtimedwait(&set, &si, &ts), ==, sig);
	if (want_fd >= 0)
		g_assert_cmpint(si.si_fd, ==, want_fd);
}

static fcntl_fn shim_fcntl(void **handle)
{
	const char *so = g_getenv("PINFS_PRELOAD");

	if (!so || !*so) {
		pm_skip("PINFS_PRELOAD is not set");
		return NULL;
	}
	*handle = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	g_assert_nonnull(*handle);
	return (fcntl_fn)dlsym(*handle, "fcntl64");
}

/* A break through the library: signal, BREAKING, release, the truncate. */
static void test_break(void)
{
	struct pm *m;
	struct pinfs_lease_status st;
	g_autofree char *path = NULL;
	sigset_t set, old;
	struct kid *kid;
	int fd, sig = SIGRTMIN + 3;

	m = mnt_start(NULL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_BLOCK, &set, &old);
	fd = open_file(m, "f", O_RDWR, 8192, &path);
	g_assert_no_errno(pinfs_setsig(fd, sig));
	g_assert_no_errno(pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, 0));

	kid = start_truncate(path);
	wait_signal(sig, fd);
	g_assert_no_errno(pinfs_getlease(fd, &st));
	g_assert_cmpuint(st.state, ==, PINFS_STATE_BREAKING);
	g_assert_cmpstr(pinfs_state_str(st.state), ==, "breaking");
	g_assert_cmpuint(st.type, ==, PINFS_LEASE_UNLOCK);
	/* The truncate cannot have finished: the lease is still held. */
	kid_assert_busy(kid, 0, "truncate");
	/* No new lease while breaking. */
	assert_errno(pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, 0), EAGAIN);

	g_assert_no_errno(pinfs_release(fd));
	g_assert_cmpint(child_result(kid), ==, 0);
	g_assert_no_errno(pinfs_getlease(fd, &st));
	g_assert_cmpuint(st.state, ==, PINFS_STATE_NONE);
	g_assert_cmpuint(st.end_reason, ==, PINFS_END_RELEASED);
	close(fd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	pm_unmount(m);
}

/* The shim on pinfs: the RFC's values in, F_GETLEASE's answers out. */
static void test_shim(void)
{
	struct pm *m;
	struct pinfs_lease_status st;
	g_autofree char *path = NULL;
	void *h = NULL;
	fcntl_fn shim = shim_fcntl(&h);
	sigset_t set, old;
	struct kid *kid;
	int fd, other;

	if (!shim)
		return;
	m = mnt_start(NULL);
	fd = open_file(m, "f", O_RDWR, 8192, &path);
	other = open_file(m, "f", O_RDONLY, -1, NULL);

	/* No layout lease: F_GETLEASE is the kernel's answer. */
	errno = 0;
	int kernel = fcntl(fd, F_GETLEASE), kernel_errno = errno;

	errno = 0;
	g_assert_cmpint(shim(fd, F_GETLEASE), ==, kernel);
	g_assert_cmpint(errno, ==, kernel_errno);

	struct {
		int arg, type, flags, getlease;
	} cases[] = {
	    {F_LAYOUT, PINFS_LEASE_READ, 0, F_RDLCK | F_LAYOUT},
	    {F_RDLCK | F_LAYOUT, PINFS_LEASE_READ, 0, F_RDLCK | F_LAYOUT},
	    {F_WRLCK | F_LAYOUT, PINFS_LEASE_WRITE, 0, F_WRLCK | F_LAYOUT},
	    {F_RDLCK | F_LAYOUT | F_EXCLUSIVE, PINFS_LEASE_READ, PINFS_LEASE_EXCLUSIVE,
	     F_RDLCK | F_LAYOUT | F_EXCLUSIVE},
	    {F_WRLCK | F_LAYOUT | F_EXCLUSIVE, PINFS_LEASE_WRITE, PINFS_LEASE_EXCLUSIVE,
	     F_WRLCK | F_LAYOUT | F_EXCLUSIVE},
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		errno = EXDEV;
		g_assert_cmpint(shim(fd, F_SETLEASE, cases[i].arg), ==, 0);
		g_assert_cmpint(errno, ==, EXDEV);
		g_assert_no_errno(pinfs_getlease(fd, &st));
		g_assert_cmpuint(st.state, ==, PINFS_STATE_ACTIVE);
		g_assert_cmpuint(st.type, ==, cases[i].type);
		g_assert_cmpuint(st.flags, ==, cases[i].flags);
		g_assert_cmpuint(st.offset, ==, 0);
		g_assert_cmpuint(st.length, ==, PINFS_LEN_EOF);
		g_assert_cmpint(shim(fd, F_GETLEASE), ==, cases[i].getlease);
		/* The other open file holds none: the kernel answers for it. */
		g_assert_cmpint(shim(other, F_GETLEASE), ==, fcntl(other, F_GETLEASE));
		/* F_UNLCK, with or without F_LAYOUT, releases it. */
		g_assert_cmpint(
		    shim(fd, F_SETLEASE, i % 2 ? F_UNLCK : F_UNLCK | F_LAYOUT), ==, 0);
		g_assert_no_errno(pinfs_getlease(fd, &st));
		g_assert_cmpuint(st.state, ==, PINFS_STATE_NONE);
		g_assert_cmpint(shim(fd, F_GETLEASE), ==, fcntl(fd, F_GETLEASE));
	}
	/* Bad bits, and the daemon's errors, come back as errno. */
	assert_errno(shim(fd, F_SETLEASE, 3 | F_LAYOUT), EINVAL);
	g_assert_cmpint(shim(other, F_SETLEASE, F_WRLCK | F_LAYOUT), ==, 0);
	assert_errno(shim(fd, F_SETLEASE, F_LAYOUT), EAGAIN);
	g_assert_cmpint(shim(other, F_SETLEASE, F_UNLCK), ==, 0);
	/* F_UNLCK without a layout lease is the kernel's business. */
	errno = 0;
	int kr = fcntl(fd, F_SETLEASE, F_UNLCK), ke = errno;

	errno = 0;
	g_assert_cmpint(shim(fd, F_SETLEASE, F_UNLCK), ==, kr);
	g_assert_cmpint(errno, ==, ke);

	/* F_SETSIG reaches both the kernel and the daemon. */
	g_assert_cmpint(shim(fd, F_SETSIG, SIGRTMIN + 4), ==, 0);
	g_assert_cmpint(fcntl(fd, F_GETSIG), ==, SIGRTMIN + 4);
	g_assert_no_errno(pinfs_getlease(fd, &st));
	g_assert_cmpint(st.signal, ==, SIGRTMIN + 4);
	assert_errno(shim(fd, F_SETSIG, 1000), EINVAL);
	g_assert_no_errno(pinfs_getlease(fd, &st));
	g_assert_cmpint(st.signal, ==, SIGRTMIN + 4);

	/* A break: F_UNLCK|F_LAYOUT while breaking, then released by F_UNLCK. */
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 4);
	sigprocmask(SIG_BLOCK, &set, &old);
	g_assert_cmpint(shim(fd, F_SETLEASE, F_WRLCK | F_LAYOUT), ==, 0);
	kid = start_truncate(path);
	wait_signal(SIGRTMIN + 4, fd);
	g_assert_cmpint(shim(fd, F_GETLEASE), ==, F_UNLCK | F_LAYOUT);
	kid_assert_busy(kid, 0, "truncate");
	g_assert_cmpint(shim(fd, F_SETLEASE, F_UNLCK), ==, 0);
	g_assert_cmpint(child_result(kid), ==, 0);
	g_assert_cmpint(shim(fd, F_GETLEASE), ==, fcntl(fd, F_GETLEASE));
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* An exclusive lease: the truncate fails at once with ETXTBSY.  The
	 * file is empty after the truncate above, and a truncate that keeps the
	 * size is no layout change: give it bytes first. */
	g_assert_cmpint(pwrite(fd, "data", 4, 0), ==, 4);
	g_assert_cmpint(shim(fd, F_SETLEASE, F_RDLCK | F_LAYOUT | F_EXCLUSIVE), ==, 0);
	kid = start_truncate(path);
	g_assert_cmpint(child_result(kid), ==, ETXTBSY);
	g_assert_cmpint(shim(fd, F_GETLEASE), ==, F_RDLCK | F_LAYOUT | F_EXCLUSIVE);
	g_assert_cmpint(shim(fd, F_SETLEASE, F_UNLCK | F_LAYOUT), ==, 0);

	close(other);
	close(fd);
	dlclose(h);
	pm_unmount(m);
}

/* PINFS_LEASE_IF_HELD: an unlock that says whether there was a lease. */
static void test_release_if_held(void)
{
	struct pm *m = mnt_start(NULL);
	struct pinfs_lease_status st;
	int fd;

	fd = open_file(m, "f", O_RDWR, 4096, NULL);
	assert_errno(pinfs_setlease(fd, PINFS_LEASE_UNLOCK, PINFS_LEASE_IF_HELD, 0, 0),
		     EAGAIN);
	assert_errno(pinfs_setlease(fd, PINFS_LEASE_READ, PINFS_LEASE_IF_HELD, 0, 0),
		     EINVAL);
	g_assert_no_errno(pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, 0));
	g_assert_no_errno(
	    pinfs_setlease(fd, PINFS_LEASE_UNLOCK, PINFS_LEASE_IF_HELD, 0, 0));
	g_assert_no_errno(pinfs_getlease(fd, &st));
	g_assert_cmpuint(st.state, ==, PINFS_STATE_NONE);
	g_assert_cmpuint(st.end_reason, ==, PINFS_END_RELEASED);
	assert_errno(pinfs_setlease(fd, PINFS_LEASE_UNLOCK, PINFS_LEASE_IF_HELD, 0, 0),
		     EAGAIN);
	/* A plain unlock without a lease still succeeds. */
	g_assert_no_errno(pinfs_release(fd));
	close(fd);
	pm_unmount(m);
}

/* Lines of the daemon's debug log naming @opcode. */
static guint log_count(struct pm *m, const char *opcode)
{
	g_autofree char *log = pm_daemon_log(m);
	g_autofree char *needle = g_strdup_printf("opcode: %s ", opcode);
	gsize len = strlen(log);
	guint n = 0;

	for (const char *p = log; (p = g_strstr_len(p, log + len - p, needle)); p++)
		n++;
	return n;
}

/*
 * Whether a descriptor is on FUSE is asked of the kernel once per mount:
 * a thousand libpinfs calls send no STATFS request to the daemon (its
 * debug log lists every request), while one fstatfs() does.
 */
static void test_no_statfs(void)
{
	struct pm *m = mnt_start("leases=on,debug");
	struct statfs sfs;
	guint before;
	int fd;

	/* libfuse's debug log prints every reply's error, ENOENT included. */
	pm_expect_log(m, "^ *unique: [0-9]+, error: ");
	fd = open_file(m, "f", O_RDWR, 4096, NULL);
	g_assert_no_errno(pinfs_noop(fd)); /* may ask once */
	before = log_count(m, "STATFS");
	for (int i = 0; i < 1000; i++) {
		g_assert_no_errno(pinfs_noop(fd));
		g_assert_no_errno(pinfs_setlease(fd, PINFS_LEASE_READ, 0, 0, 0));
		g_assert_no_errno(pinfs_release(fd));
	}
	g_assert_cmpuint(log_count(m, "IOCTL"), >=, 3000);
	if (log_count(m, "STATFS") != before) {
		struct statx stx;

		/* Linux before 6.8 has no unique mount ids: nothing to cache by. */
		if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, 0x4000U, &stx) ==
			0 &&
		    !(stx.stx_mask & 0x4000U)) {
			pm_skip("no STATX_MNT_ID_UNIQUE: libpinfs asks fstatfs()");
			goto out;
		}
	}
	g_assert_cmpuint(log_count(m, "STATFS"), ==, before);
	/* The log does show a STATFS when there is one. */
	g_assert_no_errno(fstatfs(fd, &sfs));
	g_assert_cmpuint(log_count(m, "STATFS"), ==, before + 1);
out:
	close(fd);
	pm_unmount(m);
}

/* layout-demo, an unmodified program, under LD_PRELOAD on pinfs. */
static void test_demo(const char *mode /* layout-demo options */)
{
	const char *demo = g_getenv("LAYOUT_DEMO");
	const char *so = g_getenv("PINFS_PRELOAD");
	g_autofree char *path = NULL, *out = NULL, *want = NULL;
	g_autoptr(GError) err = NULL;
	g_auto(GStrv) env = NULL;
	struct pm *m;
	GPid pid;
	int fd, out_fd, status;
	gsize len;

	if (!demo || !so) {
		pm_skip("LAYOUT_DEMO or PINFS_PRELOAD is not set");
		return;
	}
	m = mnt_start(NULL);
	fd = open_file(m, "f", O_RDWR, 8192, &path);
	close(fd);

	/* -t: a broken daemon must not hang the test forever. */
	const char *argv[] = {demo, "-t", "20", mode, path, NULL};
	env = g_environ_setenv(g_get_environ(), "LD_PRELOAD", so, TRUE);
	g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv, env,
					       G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
					       &pid, NULL, &out_fd, NULL, &err));
	g_assert_no_error(err);

	/* Read until "waiting", then break the lease from a child. */
	GIOChannel *ch = g_io_channel_unix_new(out_fd);
	GString *all = g_string_new(NULL);
	char *line;

	while (g_io_channel_read_line(ch, &line, &len, NULL, NULL) ==
	       G_IO_STATUS_NORMAL) {
		g_string_append(all, line);
		if (g_str_equal(line, "waiting\n")) {
			g_free(line);
			break;
		}
		g_free(line);
	}
	g_assert_true(g_str_has_suffix(all->str, "waiting\n"));
	struct kid *kid = start_truncate(path);

	while (g_io_channel_read_line(ch, &line, &len, NULL, NULL) ==
	       G_IO_STATUS_NORMAL) {
		g_string_append(all, line);
		g_free(line);
	}
	g_io_channel_unref(ch);
	close(out_fd);
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_cmpint(child_result(kid), ==, 0);
	out = g_string_free(all, FALSE);
	g_test_message("layout-demo %s:\n%s", mode, out);
	if (!g_str_has_prefix(mode, "-s")) {
		/* Plain SIGIO promises no si_fd: do not compare it. */
		g_autoptr(GRegex) re =
		    g_regex_new("^(signal 29) fd -?[0-9]+$", G_REGEX_MULTILINE, 0, NULL);
		char *s = g_regex_replace(re, out, -1, 0, "\\1", 0, NULL);

		g_free(out);
		out = s;
	}

	if (g_str_equal(mode, "-H")) /* released in the handler */
		want = g_strdup("setlease OK\ngetlease 16\nwaiting\nsignal 29\n"
				"unlock OK\ngetlease 2\n");
	else if (g_str_equal(mode, "-w"))
		want = g_strdup("setlease OK\ngetlease 17\nwaiting\nsignal 29\n"
				"getlease 18\nunlock OK\ngetlease 2\n");
	else /* -s 10: SIGUSR1 with si_fd (the demo's first descriptor, 3) */
		want = g_strdup("setsig OK\nsetlease OK\ngetlease 16\nwaiting\n"
				"signal 10 fd 3\ngetlease 18\nunlock OK\ngetlease 2\n");
	g_assert_cmpstr(out, ==, want);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	pm_unmount(m);
}

static void test_demo_handler_release(void)
{
	test_demo("-H");
}

static void test_demo_write(void)
{
	test_demo("-w");
}

static void test_demo_setsig(void)
{
	test_demo("-s10");
}

int main(int argc, char **argv)
{
	pm_init(&argc, &argv);
	pm_add_test("/libpinfs-mount/probe", test_probe);
	pm_add_test("/libpinfs-mount/leases-off", test_leases_off);
	pm_add_test("/libpinfs-mount/lease-cycle", test_lease_cycle);
	pm_add_test("/libpinfs-mount/pins", test_pins);
	pm_add_test("/libpinfs-mount/setsig", test_setsig);
	pm_add_test("/libpinfs-mount/break", test_break);
	pm_add_test("/libpinfs-mount/shim", test_shim);
	pm_add_test("/libpinfs-mount/release-if-held", test_release_if_held);
	pm_add_test("/libpinfs-mount/no-statfs", test_no_statfs);
	pm_add_test("/libpinfs-mount/demo/handler-release", test_demo_handler_release);
	pm_add_test("/libpinfs-mount/demo/write", test_demo_write);
	pm_add_test("/libpinfs-mount/demo/setsig", test_demo_setsig);
	return g_test_run();
}
