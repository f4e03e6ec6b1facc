/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pinfs mount helper of the tests, the library tests and pinfs-bench: mount
 * a real pinfs on a fresh temporary backing directory, and always unmount it
 * again, even when the program fails or is killed.
 *
 * Typical use in a g_test program:
 *
 *	int main(int argc, char **argv)
 *	{
 *		pm_init(&argc, &argv);	// instead of g_test_init()
 *		pm_add_test("/x/y", test_y); // or g_test_add_func()
 *		return g_test_run();
 *	}
 *
 *	static void test_y(void)
 *	{
 *		struct pm *pm = pm_mount("break_time=1");
 *		g_autofree char *p = pm_path(pm, "f");
 *		...
 *		pm_unmount(pm);		// fails the test on an unexpected daemon warning
 *	}
 *
 * Outside g_test (pinfs-bench), pm_setup() replaces pm_init(), pm_mount_spec()
 * mounts and pm_stop() + pm_free() unmount: mount.c needs no g_test, and
 * testing.c holds the g_test side.
 *
 * The daemon is $PINFS_BIN, run in the foreground with its stderr in a log
 * file.  pm_init() moves the test program into a private mount namespace, so
 * whatever is mounted disappears with the program; a SIGABRT handler and an
 * atexit() handler also detach the mounts and kill the daemons of a test that
 * died half-way, and a reaper process does the same for a program killed
 * outright.
 *
 * Environment: PINFS_BIN, the daemon (meson sets it); PINFS_TEST_WRAPPER,
 * a command prefixed to the daemon's, e.g. "valgrind -q --error-exitcode=99"
 * (timeouts grow to 120 s); PINFS_TEST_NO_UNSHARE=1, no private namespace;
 * PINFS_TEST_NO_FORK=1, pm_add_test() tests run in-process (for gdb).
 */
#ifndef PINFS_TEST_MOUNT_H
#define PINFS_TEST_MOUNT_H

#include <glib.h>
#include <sys/types.h>

struct pm;

/* The private mount namespace, the reaper and the cleanup handlers; once. */
void pm_setup(void);

/* g_test_init() plus pm_setup(). */
void pm_init(int *argc, char ***argv);

/*
 * g_test_add_func(), but @fn runs in a subprocess of its own (with a 150 s
 * timeout), so a failed assertion fails only that test and the rest of the
 * program still runs.  PINFS_TEST_NO_FORK=1 runs it in-process (for gdb).
 */
void pm_add_test(const char *path, void (*fn)(void));
/* pm_add_test() for a test that runs @fn(@data): one function for a table
 * of cases. */
void pm_add_data_test(const char *path, gconstpointer data, void (*fn)(gconstpointer));

/* g_test_skip() that also works in a pm_add_test() subprocess; then return. */
void pm_skip(const char *reason);
/* g_test_message() that also shows from a pm_add_test() subprocess (whose
 * stdout GLib swallows): there it goes to stderr, into the test log. */
void pm_message(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/*
 * Mount pinfs with "-o @opts" (NULL or "" for none) on a new temporary
 * backing directory and mount point (both mode 0755, owned by root).  Returns
 * once statfs() on the mount point reports FUSE; aborts the test with the
 * daemon's stderr if the daemon dies or the mount is not live within 10 s.
 * Without root or /dev/fuse, a pm_add_test() test is skipped (others abort).
 */
struct pm *pm_mount(const char *opts);

/* As pm_mount() with extra daemon arguments (NULL-terminated, may be NULL). */
struct pm *pm_mount_argv(const char *opts, const char *const *extra_args);

/* What pm_mount_spec() mounts; NULL fields take the defaults. */
struct pm_spec {
	const char *opts;	       /* -o @opts; NULL or "" for none */
	const char *const *extra_args; /* more daemon arguments, NULL-terminated */
	const char *bin;	       /* the daemon; default $PINFS_BIN */
	const char *tmpdir;	       /* where the directories go; default $TMPDIR */
	const char *log;	       /* the daemon's log; default in the directory */
	/* Pass the backing directory as "-o source=DIR" instead of an
	 * argument, for libfuse's passthrough examples (pinfs-bench). */
	gboolean source_opt;
	const char *backing; /* an existing backing directory (kept) */
	/* Start the daemon in a mount namespace of its own (as a daemon on
	 * another host would be): pm_mnt() is then /proc/PID/root/.../mnt,
	 * the mount as seen from here, and pm_ns_mnt() the mount point in the
	 * daemon's namespace (for a tool run there, say through nsenter). */
	gboolean own_ns;
};

/* pm_mount() without g_test: aborts (g_error) when it cannot mount. */
struct pm *pm_mount_spec(const struct pm_spec *spec);

/* True if this process may mount pinfs (root and /dev/fuse). */
gboolean pm_can_mount(void);

/* As pm_mount() over an existing backing directory, e.g. another mount's
 * pm_backing() (several daemons over one directory); it is not removed. */
struct pm *pm_mount_on(const char *backing, const char *opts);

const char *pm_mnt(struct pm *pm); /* the mount point */
/* own_ns: the mount point in the daemon's namespace; else pm_mnt(). */
const char *pm_ns_mnt(struct pm *pm);
/* As pm_mount_on(), the daemon in a mount namespace of its own (own_ns). */
struct pm *pm_mount_on_ns(const char *backing, const char *opts);
const char *pm_backing(struct pm *pm); /* the backing directory */
const char *
pm_scratch(struct pm *pm); /* a plain directory on the backing fs, outside pinfs */
char *pm_path(struct pm *pm, const char *rel); /* g_free() it: @rel inside the mount */
char *pm_bpath(struct pm *pm,
	       const char *rel); /* g_free() it: @rel inside the backing dir */
char *pm_spath(struct pm *pm,
	       const char *rel); /* g_free() it: @rel inside the scratch dir */
pid_t pm_daemon_pid(struct pm *pm);

/* Number of open file descriptors of the daemon (entries of /proc/PID/fd). */
int pm_daemon_fd_count(struct pm *pm);
/* Number of threads of the daemon (entries of /proc/PID/task). */
int pm_daemon_thread_count(struct pm *pm);
/*
 * The daemon's open files, split: *@pipes counts pipe ends, the return
 * value everything else.  (libfuse keeps one splice pipe, two fds, per
 * worker thread for as long as the thread lives: those follow the thread
 * count rather than the workload.)  With @list, also "fd -> target" lines
 * for all of them (g_free() it).
 */
int pm_daemon_fds(struct pm *pm, int *pipes, char **list);

/*
 * Declare that the daemon may log lines matching @regex (a GRegex, searched
 * unanchored in each line, so a plain substring works).
 */
void pm_expect_log(struct pm *pm, const char *regex);

/* The daemon's stderr so far (g_free() it). */
char *pm_daemon_log(struct pm *pm);

/*
 * Send @sig to the daemon and wait (10 s at most) for it to exit.  Returns
 * its wait status.  pm_unmount() must still be called afterwards to free @pm.
 */
int pm_kill_daemon(struct pm *pm, int sig);

/*
 * Unmount, wait for the daemon to exit, and fail the test if the unmount was
 * refused, the daemon did not exit with status 0, or its stderr holds a
 * warning, critical, error or fatal line not declared with pm_expect_log().
 * Removes the temporary directories when the test passed.  Frees @pm.
 */
void pm_unmount(struct pm *pm);

/*
 * pm_unmount() without g_test, in two steps: pm_stop() unmounts (detaching a
 * busy mount) and waits for the daemon; it returns what went wrong, as
 * pm_unmount() checks it, or NULL (g_free() it).  pm_free() removes the
 * temporary directories unless @keep, and frees @pm.
 */
char *pm_stop(struct pm *pm);
void pm_free(struct pm *pm, gboolean keep);

/*
 * For a mount made outside pm_mount() (say, by mount(8)): if this program
 * dies before pm_unwatch(), @mnt is detached and @pid (if > 0) killed.
 */
void pm_watch(const char *mnt, pid_t pid);
void pm_unwatch(const char *mnt);

/* True if pm_init() moved this program into a private mount namespace. */
gboolean pm_private_ns(void);

/* True if @path is the root of a mounted FUSE filesystem. */
gboolean pm_is_fuse_mount(const char *path);

/*
 * True if the mount table of this process (/proc/self/mountinfo, read with
 * libmount, which undoes its escapes) lists a mount at @path.
 */
gboolean pm_in_mount_table(const char *path);

/* Remove @path and everything below it, staying on its filesystem (a mount
 * below it is left alone); errors are ignored. */
void pm_rm_rf(const char *path);

/* The daemon binary ($PINFS_BIN); skips the test if it is unset. */
const char *pm_bin(void);

/*
 * Run @fn(@arg) in a forked child with real, effective and saved ids
 * @uid/@gid and no supplementary groups (no passwd entry is needed).
 * Returns the child's exit status (fn's return value & 0xff), or 128 + signal
 * number if it was killed.  Convention: fn returns 0 or an errno value.
 */
int pm_run_as(uid_t uid, gid_t gid, int (*fn)(void *arg), void *arg);

/* A pm_run_as() body: write 1 byte at offset 0 of the file @path; 0 or the
 * errno. */
int pm_write_byte(void *path);

/*
 * Run @argv (argv[0] a path) to completion with a timeout in seconds.
 * Returns the wait status, or -1 if it timed out (it is killed then).
 * @out and @err (may be NULL) receive its stdout and stderr.
 */
int pm_run_cmd(const char *const *argv, int timeout_s, char **out, char **err);

#endif /* PINFS_TEST_MOUNT_H */
