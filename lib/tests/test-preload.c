// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-preload - libpinfs-preload.so outside pinfs: every fcntl() a program
 * makes on an ordinary file must behave exactly as without the shim, and
 * F_LAYOUT must fail as on a kernel that does not know it.
 *
 * Run with LD_PRELOAD=libpinfs-preload.so (lib/tests/meson.build does);
 * the first test checks that the shim really is the fcntl the program
 * calls.  Both entry points are exercised: fcntl (as called by programs
 * built without _FILE_OFFSET_BITS=64) and fcntl64 (the rest, this one
 * included).  Classic leases need the file's owner or CAP_LEASE: the test
 * creates its files, so it owns them.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "check.h"

/* The 2019 RFC's numbers, as an unmodified program would define them. */
#define F_LAYOUT 16
#define F_EXCLUSIVE 32

typedef int (*fcntl_fn)(int fd, int cmd, ...);

struct entry {
	const char *name; /* "fcntl" or "fcntl64" */
	fcntl_fn fn;	  /* the definition a program's call reaches */
};

static struct entry entries[2] = {{"fcntl", NULL}, {"fcntl64", NULL}};

struct fixture {
	fcntl_fn fcntl;
	char *dir;
	char *path;
	int fd; /* path, O_RDONLY */
};

static void fixture_setup(struct fixture *f, gconstpointer data)
{
	const struct entry *e = data;
	int fd;

	f->fcntl = e->fn;
	f->path = tmp_file_path(NULL, "preload", &f->dir);
	fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(write(fd, "pinfs", 5), ==, 5);
	close(fd);
	f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
	g_assert_cmpint(f->fd, >=, 0);
}

static void fixture_teardown(struct fixture *f, gconstpointer data)
{
	(void)data;
	close(f->fd);
	tmp_file_remove(f->dir, f->path);
}

/* Both symbols resolve to the shim, and the shim finds glibc's behind it. */
static void test_loaded(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(entries); i++) {
		Dl_info info;

		g_assert_nonnull(entries[i].fn);
		g_assert_true(dladdr((void *)entries[i].fn, &info));
		g_assert_nonnull(info.dli_fname);
		if (!strstr(info.dli_fname, "libpinfs-preload.so"))
			g_error(
			    "%s comes from %s: is LD_PRELOAD=libpinfs-preload.so set?",
			    entries[i].name, info.dli_fname);
	}
}

/* A classic read lease, taken, read back and released through the shim. */
static void test_classic_lease(struct fixture *f, gconstpointer data)
{
	(void)data;
	g_assert_cmpint(f->fcntl(f->fd, F_GETLEASE), ==, F_UNLCK);
	g_assert_cmpint(f->fcntl(f->fd, F_SETLEASE, F_RDLCK), ==, 0);
	g_assert_cmpint(f->fcntl(f->fd, F_GETLEASE), ==, F_RDLCK);
	g_assert_cmpint(f->fcntl(f->fd, F_SETLEASE, F_UNLCK), ==, 0);
	g_assert_cmpint(f->fcntl(f->fd, F_GETLEASE), ==, F_UNLCK);

	/* The kernel's own errors come through unchanged. */
	errno = 0;
	assert_errno(f->fcntl(f->fd, F_SETLEASE, F_UNLCK), EAGAIN); /* none held */
	errno = 0;
	assert_errno(f->fcntl(f->fd, F_SETLEASE, 3), EINVAL);
	errno = 0;
	assert_errno(f->fcntl(f->fd, F_SETLEASE, F_EXCLUSIVE), EINVAL); /* no F_LAYOUT */

	/* A read lease conflicts with a writer. */
	int w = open(f->path, O_WRONLY | O_CLOEXEC);

	g_assert_cmpint(w, >=, 0);
	errno = 0;
	assert_errno(f->fcntl(f->fd, F_SETLEASE, F_RDLCK), EAGAIN);
	close(w);
	g_assert_cmpint(f->fcntl(f->fd, F_SETLEASE, F_RDLCK), ==, 0);

	/* A successful call leaves errno alone. */
	errno = EXDEV;
	g_assert_cmpint(f->fcntl(f->fd, F_GETLEASE), ==, F_RDLCK);
	g_assert_cmpint(errno, ==, EXDEV);
	g_assert_cmpint(f->fcntl(f->fd, F_SETLEASE, F_UNLCK), ==, 0);
	g_assert_cmpint(errno, ==, EXDEV);
}

/* F_LAYOUT outside pinfs: EINVAL, like a kernel without the RFC. */
static void test_layout_not_pinfs(struct fixture *f, gconstpointer data)
{
	static const int args[] = {
	    F_LAYOUT,
	    F_RDLCK | F_LAYOUT,
	    F_WRLCK | F_LAYOUT,
	    F_RDLCK | F_LAYOUT | F_EXCLUSIVE,
	    F_WRLCK | F_LAYOUT | F_EXCLUSIVE,
	    F_UNLCK | F_LAYOUT,
	    3 | F_LAYOUT, /* no such type */
	};
	int fd;

	(void)data;
	for (size_t i = 0; i < G_N_ELEMENTS(args); i++) {
		errno = 0;
		assert_errno(f->fcntl(f->fd, F_SETLEASE, args[i]), EINVAL);
		g_assert_cmpint(f->fcntl(f->fd, F_GETLEASE), ==, F_UNLCK);
	}
	/* On a directory, a pipe and /dev/null too. */
	fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	errno = 0;
	assert_errno(f->fcntl(fd, F_SETLEASE, F_LAYOUT), EINVAL);
	close(fd);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	errno = 0;
	assert_errno(f->fcntl(fd, F_SETLEASE, F_RDLCK | F_LAYOUT), EINVAL);
	close(fd);

	/* A descriptor that is not open stays EBADF, as in the kernel. */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(fd);
	errno = 0;
	assert_errno(f->fcntl(fd, F_SETLEASE, F_LAYOUT), EBADF);
	errno = 0;
	assert_errno(f->fcntl(fd, F_SETLEASE, F_UNLCK), EBADF);
	errno = 0;
	assert_errno(f->fcntl(fd, F_GETLEASE), EBADF);
	errno = 0;
	assert_errno(f->fcntl(fd, F_SETSIG, SIGIO), EBADF);

	/* A classic lease still works after the refusals. */
	g_assert_cmpint(f->fcntl(f->fd, F_SETLEASE, F_RDLCK), ==, 0);
	g_assert_cmpint(f->fcntl(f->fd, F_GETLEASE), ==, F_RDLCK);
	g_assert_cmpint(f->fcntl(f->fd, F_SETLEASE, F_UNLCK), ==, 0);
}

/* F_SETSIG reaches the kernel: F_GETSIG reads back what was set. */
static void test_setsig(struct fixture *f, gconstpointer data)
{
	(void)data;
	g_assert_cmpint(f->fcntl(f->fd, F_GETSIG), ==, 0);
	errno = EXDEV;
	g_assert_cmpint(f->fcntl(f->fd, F_SETSIG, SIGRTMIN + 1), ==, 0);
	g_assert_cmpint(errno, ==, EXDEV);
	g_assert_cmpint(f->fcntl(f->fd, F_GETSIG), ==, SIGRTMIN + 1);
	g_assert_cmpint(f->fcntl(f->fd, F_SETSIG, SIGUSR2), ==, 0);
	g_assert_cmpint(f->fcntl(f->fd, F_GETSIG), ==, SIGUSR2);
	errno = 0;
	assert_errno(f->fcntl(f->fd, F_SETSIG, 1000), EINVAL);
	g_assert_cmpint(f->fcntl(f->fd, F_GETSIG), ==, SIGUSR2);
	g_assert_cmpint(f->fcntl(f->fd, F_SETSIG, 0), ==, 0);
	g_assert_cmpint(f->fcntl(f->fd, F_GETSIG), ==, 0);
}

/* Integer commands pass their argument through. */
static void test_int_commands(struct fixture *f, gconstpointer data)
{
	int fl, fd;

	(void)data;
	fl = f->fcntl(f->fd, F_GETFL);
	g_assert_cmpint(fl, >=, 0);
	g_assert_cmpint(fl & O_ACCMODE, ==, O_RDONLY);
	g_assert_cmpint(fl & O_NONBLOCK, ==, 0);
	g_assert_cmpint(f->fcntl(f->fd, F_SETFL, fl | O_NONBLOCK), ==, 0);
	g_assert_cmpint(f->fcntl(f->fd, F_GETFL) & O_NONBLOCK, ==, O_NONBLOCK);
	g_assert_cmpint(f->fcntl(f->fd, F_SETFL, fl), ==, 0);
	g_assert_cmpint(f->fcntl(f->fd, F_GETFL) & O_NONBLOCK, ==, 0);

	g_assert_cmpint(f->fcntl(f->fd, F_GETFD), ==, FD_CLOEXEC);
	g_assert_cmpint(f->fcntl(f->fd, F_SETFD, 0), ==, 0);
	g_assert_cmpint(f->fcntl(f->fd, F_GETFD), ==, 0);
	g_assert_cmpint(f->fcntl(f->fd, F_SETFD, FD_CLOEXEC), ==, 0);

	fd = f->fcntl(f->fd, F_DUPFD_CLOEXEC, 100);
	g_assert_cmpint(fd, >=, 100);
	g_assert_cmpint(f->fcntl(fd, F_GETFD), ==, FD_CLOEXEC);
	close(fd);

	g_assert_cmpint(f->fcntl(f->fd, F_SETOWN, getpid()), ==, 0);
	g_assert_cmpint(f->fcntl(f->fd, F_GETOWN), ==, getpid());

	errno = 0;
	assert_errno(f->fcntl(f->fd, 0x7fff), EINVAL); /* no such command */
}

/* Pointer commands: the kernel reads and writes through the pointer. */
static void test_pointer_commands(struct fixture *f, gconstpointer data)
{
	struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_len = 0};
	struct f_owner_ex owner = {0};
	int rw, other;

	(void)data;
	/* F_GETLK on a free file writes F_UNLCK into the struct. */
	g_assert_cmpint(f->fcntl(f->fd, F_GETLK, &fl), ==, 0);
	g_assert_cmpint(fl.l_type, ==, F_UNLCK);

	/* Open file description locks: one open file holds, another sees it. */
	rw = open(f->path, O_RDWR | O_CLOEXEC);
	other = open(f->path, O_RDWR | O_CLOEXEC);
	g_assert_cmpint(rw, >=, 0);
	g_assert_cmpint(other, >=, 0);
	fl = (struct flock){
	    .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 1, .l_len = 2};
	g_assert_cmpint(f->fcntl(rw, F_OFD_SETLK, &fl), ==, 0);
	fl = (struct flock){
	    .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	g_assert_cmpint(f->fcntl(other, F_OFD_GETLK, &fl), ==, 0);
	g_assert_cmpint(fl.l_type, ==, F_WRLCK);
	g_assert_cmpint(fl.l_start, ==, 1);
	g_assert_cmpint(fl.l_len, ==, 2);
	g_assert_cmpint(fl.l_pid, ==, -1);
	fl = (struct flock){
	    .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	errno = 0;
	assert_errno(f->fcntl(other, F_OFD_SETLK, &fl), EAGAIN);
	close(rw);
	close(other);

	/* F_GETOWN_EX writes a struct f_owner_ex. */
	g_assert_cmpint(f->fcntl(f->fd, F_SETOWN, getpid()), ==, 0);
	g_assert_cmpint(f->fcntl(f->fd, F_GETOWN_EX, &owner), ==, 0);
	g_assert_cmpint(owner.type, ==, F_OWNER_PID);
	g_assert_cmpint(owner.pid, ==, getpid());

	/* A bad pointer is the kernel's EFAULT, not a crash in the shim. */
	errno = 0;
	assert_errno(f->fcntl(f->fd, F_GETLK, (struct flock *)8), EFAULT);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(struct fixture *, gconstpointer);
	} tests[] = {
	    {"classic-lease", test_classic_lease},
	    {"layout-not-pinfs", test_layout_not_pinfs},
	    {"setsig", test_setsig},
	    {"int-commands", test_int_commands},
	    {"pointer-commands", test_pointer_commands},
	};

	g_test_init(&argc, &argv, NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(entries); i++)
		entries[i].fn = (fcntl_fn)dlsym(RTLD_DEFAULT, entries[i].name);

	g_test_add_func("/preload/loaded", test_loaded);
	for (size_t i = 0; i < G_N_ELEMENTS(entries); i++) {
		for (size_t j = 0; j < G_N_ELEMENTS(tests); j++) {
			g_autofree char *path = g_strdup_printf(
			    "/preload/%s/%s", entries[i].name, tests[j].name);

			g_test_add(path, struct fixture, &entries[i], fixture_setup,
				   tests[j].fn, fixture_teardown);
		}
	}
	return g_test_run();
}
