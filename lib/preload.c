// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * preload.c - libpinfs-preload.so: the 2019 RFC's fcntl() layout leases for
 * unmodified programs, served by pinfs.
 *
 *   LD_PRELOAD=libpinfs-preload.so program ...
 *
 * The shim defines fcntl() and fcntl64() (glibc exports both; a program
 * built with _FILE_OFFSET_BITS=64 calls fcntl64).  Three commands may be
 * served here; every other call goes to the next definition in the lookup
 * order (glibc's) with its argument passed on untouched:
 *
 *   F_SETLEASE with the F_LAYOUT bit (16) in arg
 *	arg & ~(F_LAYOUT | F_EXCLUSIVE) is the type: F_RDLCK (so F_LAYOUT
 *	alone is a read layout lease, as in RFC v1), F_WRLCK or F_UNLCK;
 *	F_EXCLUSIVE (32) makes it unbreakable.  On pinfs this is
 *	pinfs_setlease() on the whole file.  Elsewhere it fails with EINVAL,
 *	as on a kernel that does not know F_LAYOUT; EBADF stays EBADF.
 *   F_SETLEASE F_UNLCK
 *	releases the pinfs layout lease of fd's open file if it has one
 *	(active, breaking or revoked); otherwise it goes to the kernel, which
 *	releases a classic lease.  One ioctl decides and releases
 *	(PINFS_LEASE_IF_HELD); on a file that is not on FUSE there is none.
 *   F_GETLEASE
 *	on a pinfs file holding an active or breaking layout lease: the type
 *	the daemon reports OR'ed with F_LAYOUT (and F_EXCLUSIVE if set), so
 *	F_RDLCK|F_LAYOUT or F_WRLCK|F_LAYOUT while active and F_UNLCK|F_LAYOUT
 *	while breaking (rule 5).  With no layout lease (or a revoked one) the
 *	kernel answers, so classic leases read back as usual.
 *   F_SETSIG
 *	goes to the kernel first (so F_GETSIG agrees); if that succeeds and fd
 *	is on pinfs, the daemon is told too (PINFS_IOC_SETSIG, si_fd = fd).
 *
 * It also interposes on mmap() (and mmap64), munmap() and msync(), for
 * staging windows (docs/dma.md):
 *
 *   mmap(MAP_SHARED, PROT_WRITE) of a pinfs descriptor open for writing
 *	whose open file holds an active layout lease covering the range
 *	maps a staging window instead (pinfs_window_map with
 *	PINFS_WINDOW_AUTO: where the mount's window= option says the kernel
 *	would refuse to pin the file's pages), at the address and with the
 *	flags asked for.  Where no window is needed the file is mapped as
 *	usual; a refused window (over RLIMIT_MEMLOCK: ENOMEM) fails mmap.
 *   msync() of a range that overlaps windows writes them back.
 *   munmap() writes back every window it overlaps and ends those it
 *	covers whole.
 *
 * fsync() needs no help: the daemon writes a file's windows back on FSYNC.
 * Other mmap, munmap and msync calls are system calls as libc's are, plus
 * (for munmap and msync) a look at an empty list while no window exists.
 *
 * errno is left as the kernel or the daemon set it on failure, and as the
 * caller left it on success.  Calls not served here only cost the commands'
 * switch: no allocation, no system call but the real one.  Whether fd is
 * on FUSE costs a statx() that never reaches the daemon (libpinfs.c).
 *
 * libpinfs.c is compiled into this object and every symbol but fcntl and
 * fcntl64 is local (preload.map), so the shim works alone and does not
 * interpose on a libpinfs.so the program may also use.
 */

/* Declare fcntl as fcntl, not as an alias of fcntl64 (see above). */
#undef _FILE_OFFSET_BITS
#undef _TIME_BITS

#include <dlfcn.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pinfs.h"
#include "window-internal.h"

typedef int (*fcntl_fn)(int fd, int cmd, ...);

/* The next fcntl and fcntl64, found once; written with atomics because a
 * constructor of another library may call fcntl before ours runs. */
static fcntl_fn next_fcntl, next_fcntl64;

static void resolve(void)
{
	fcntl_fn f = (fcntl_fn)dlsym(RTLD_NEXT, "fcntl");
	fcntl_fn f64 = (fcntl_fn)dlsym(RTLD_NEXT, "fcntl64");

	if (!f64)
		f64 = f; /* a libc before fcntl64 (glibc 2.28) */
	__atomic_store_n(&next_fcntl, f, __ATOMIC_RELEASE);
	__atomic_store_n(&next_fcntl64, f64, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void preload_init(void)
{
	resolve();
}

static fcntl_fn next_of(fcntl_fn *slot)
{
	fcntl_fn f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

	if (!f) {
		resolve();
		f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	}
	return f;
}

/*
 * The pinfs layout lease state of fd's open file, or PINFS_STATE_NONE if it
 * has none or fd is not on pinfs.  Leaves errno as it found it.
 */
static unsigned int layout_state(int fd, struct pinfs_lease_status *st)
{
	int saved = errno;
	unsigned int state = PINFS_STATE_NONE;

	if (pinfs_getlease(fd, st) == 0)
		state = st->state;
	errno = saved;
	return state;
}

/*
 * A classic F_UNLCK: release fd's layout lease if it has one, in one round
 * trip (PINFS_LEASE_IF_HELD).  0 if it had one; -1 if it had none, fd is
 * not on pinfs or the daemon failed, and then the kernel answers.  A daemon
 * older than PINFS_LEASE_IF_HELD says EINVAL: ask it, then release.
 * Leaves errno as it found it.
 */
static int release_held(int fd, struct pinfs_lease_status *st)
{
	int saved = errno, ret = 0;

	if (pinfs_setlease(fd, PINFS_LEASE_UNLOCK, PINFS_LEASE_IF_HELD, 0,
			   PINFS_LEN_EOF) == 0)
		goto out;
	if (errno != EINVAL || layout_state(fd, st) == PINFS_STATE_NONE ||
	    pinfs_release(fd) < 0)
		ret = -1;
out:
	errno = saved;
	return ret;
}

/* F_SETLEASE: layout leases to the daemon, the rest to the kernel. */
static int do_setlease(fcntl_fn next, int fd, void *arg)
{
	int a = (int)(intptr_t)arg;
	int type = a & ~(F_LAYOUT | F_EXCLUSIVE);
	unsigned int flags = (a & F_EXCLUSIVE) ? PINFS_LEASE_EXCLUSIVE : 0;
	struct pinfs_lease_status st;
	int saved = errno;

	if (!(a & F_LAYOUT)) {
		if (a == F_UNLCK && release_held(fd, &st) == 0)
			return 0;
		return next(fd, F_SETLEASE, arg);
	}
	if (type != F_RDLCK && type != F_WRLCK && type != F_UNLCK) {
		errno = EINVAL;
		return -1;
	}
	if (type == F_UNLCK)
		goto release;
	/* F_RDLCK == PINFS_LEASE_READ, F_WRLCK == PINFS_LEASE_WRITE */
	if (pinfs_setlease(fd, type, flags, 0, PINFS_LEN_EOF) < 0)
		goto fail;
	errno = saved;
	return 0;

release:
	if (pinfs_release(fd) < 0)
		goto fail;
	errno = saved;
	return 0;
fail:
	/* Not pinfs: a kernel without F_LAYOUT says EINVAL. */
	if (errno == ENOTTY)
		errno = EINVAL;
	return -1;
}

/* F_GETLEASE: a held layout lease answers, otherwise the kernel does. */
static int do_getlease(fcntl_fn next, int fd, void *arg)
{
	struct pinfs_lease_status st;
	unsigned int state = layout_state(fd, &st);

	if (state == PINFS_STATE_ACTIVE || state == PINFS_STATE_BREAKING)
		return (int)st.type | F_LAYOUT |
		       ((st.flags & PINFS_LEASE_EXCLUSIVE) ? F_EXCLUSIVE : 0);
	return next(fd, F_GETLEASE, arg);
}

/* F_SETSIG: the kernel's, then the daemon's if fd is on pinfs. */
static int do_setsig(fcntl_fn next, int fd, void *arg)
{
	int ret = next(fd, F_SETSIG, arg);
	int saved = errno;

	if (ret < 0)
		return ret;
	if (pinfs_setsig(fd, (int)(intptr_t)arg) < 0) {
		/* Not pinfs, leases=off, or a directory: nothing to tell. */
		if (errno != ENOTTY && errno != EOPNOTSUPP && errno != EISDIR)
			return -1;
	}
	errno = saved;
	return ret;
}

/*
 * Every fcntl argument is an int or a pointer; like glibc, take it as a
 * pointer-sized word and pass it on as one, so both kinds survive.
 */
static int shim(fcntl_fn next, int fd, int cmd, void *arg)
{
	if (!next) {
		errno = ENOSYS;
		return -1;
	}
	switch (cmd) {
	case F_SETLEASE:
		return do_setlease(next, fd, arg);
	case F_GETLEASE:
		return do_getlease(next, fd, arg);
	case F_SETSIG:
		return do_setsig(next, fd, arg);
	}
	return next(fd, cmd, arg);
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return shim(next_of(&next_fcntl), fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return shim(next_of(&next_fcntl64), fd, cmd, arg);
}

/* ---- staging windows for mmap ---- */

/*
 * The windows this process mapped through mmap(), newest first.
 * windows_lock protects the list; nwindows (read without the lock) lets
 * munmap and msync skip the lock while there is none.
 */
struct mapped {
	struct pinfs_window *win;
	struct mapped *next;
};
static pthread_mutex_t windows_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mapped *windows;
static int nwindows;

/*
 * Should this mmap get a window?  A writable shared mapping of a pinfs
 * file open for writing whose open file holds an active layout lease.
 */
static int wants_window(int prot, int flags, int fd)
{
	struct pinfs_lease_status st;
	int fl, saved = errno, ret = 0;

	if (fd < 0 || (flags & MAP_ANONYMOUS) || !(flags & MAP_SHARED) ||
	    !(prot & PROT_WRITE))
		return 0;
	fl = (int)syscall(SYS_fcntl, fd, F_GETFL);
	/* layout_state: no request to a file system that is not FUSE. */
	if (fl >= 0 && (fl & O_ACCMODE) != O_RDONLY)
		ret = layout_state(fd, &st) == PINFS_STATE_ACTIVE;
	errno = saved;
	return ret;
}

static void *real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct pinfs_window *win;
	struct mapped *m;
	int saved = errno;

	if (!wants_window(prot, flags, fd) || off < 0)
		return real_mmap(addr, len, prot, flags, fd, off);
	m = malloc(sizeof(*m));
	if (!m)
		return real_mmap(addr, len, prot, flags, fd, off);
	if (pinfs__window_map_at(fd, addr, len, prot, flags, (uint64_t)off,
				 PINFS_WINDOW_AUTO, &win) < 0) {
		free(m);
		if (errno == EOPNOTSUPP) { /* not needed here: the file itself */
			errno = saved;
			return real_mmap(addr, len, prot, flags, fd, off);
		}
		return MAP_FAILED;
	}
	m->win = win;
	pthread_mutex_lock(&windows_lock);
	m->next = windows;
	windows = m;
	__atomic_add_fetch(&nwindows, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&windows_lock);
	errno = saved;
	return win->addr;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

/* Does [addr, addr+len) overlap (cover) w's mapping? */
static int overlaps(const struct pinfs_window *w, uintptr_t a, size_t len)
{
	uintptr_t b = (uintptr_t)w->addr;

	return a < b + w->map_length && b < a + len;
}

static int covers(const struct pinfs_window *w, uintptr_t a, size_t len)
{
	uintptr_t b = (uintptr_t)w->addr;

	return a <= b && b + w->map_length <= a + len;
}

/*
 * Write back the windows overlapping [addr, addr+len); with end, also end
 * (and forget) those it covers whole, without unmapping them (the caller's
 * munmap does).  0, or -1 with errno of the first failure.
 */
static int windows_sync(void *addr, size_t len, int end)
{
	struct mapped **pp, *m, *ended = NULL;
	int ret = 0, err = 0;

	if (!__atomic_load_n(&nwindows, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&windows_lock);
	for (pp = &windows; (m = *pp);) {
		if (!overlaps(m->win, (uintptr_t)addr, len)) {
			pp = &m->next;
			continue;
		}
		if (end && covers(m->win, (uintptr_t)addr, len)) {
			*pp = m->next;
			m->next = ended;
			ended = m;
			__atomic_sub_fetch(&nwindows, 1, __ATOMIC_RELEASE);
			continue;
		}
		if (pinfs_window_sync(m->win) < 0 && !err)
			err = errno;
		pp = &m->next;
	}
	pthread_mutex_unlock(&windows_lock);
	while ((m = ended)) {
		ended = m->next;
		if (pinfs__window_end(m->win, 0) < 0 && !err)
			err = errno;
		free(m);
	}
	if (err) {
		errno = err;
		ret = -1;
	}
	return ret;
}

/* munmap succeeds whatever the write-back says (like the kernel's, which
 * writes back later); a failed write-back is reported by the daemon's log
 * and by msync/fsync before it. */
int munmap(void *addr, size_t len)
{
	int saved = errno;

	windows_sync(addr, len, 1);
	errno = saved;
	return (int)syscall(SYS_munmap, addr, len);
}

int msync(void *addr, size_t len, int flags)
{
	int ret = (int)syscall(SYS_msync, addr, len, flags);
	int saved = errno;

	if (ret < 0)
		return ret;
	if (windows_sync(addr, len, 0) < 0)
		return -1;
	errno = saved;
	return 0;
}
