// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pinfs mounts for the tests, the library tests and pinfs-bench: see
 * mount.h.  Nothing here needs g_test (testing.c has the g_test side).
 *
 * Four layers make sure a test never leaves a mount behind:
 *  1. pm_setup() unshares the mount namespace (we run as root), so the FUSE
 *     mounts live only as long as this program and its daemon children;
 *  2. every daemon gets PR_SET_PDEATHSIG(SIGTERM), so it unmounts and exits
 *     when the test program dies;
 *  3. atexit() and fatal-signal handlers lazily unmount (MNT_DETACH) and
 *     SIGKILL whatever is still registered in live_mounts[];
 *  4. a reaper process, forked by pm_setup(), is told of every mount over a
 *     pipe; when the pipe reaches EOF (the program is gone however it died:
 *     SIGKILL, or the _exit(1) of a failed assertion in a g_test
 *     subprocess, which runs no handler) it detaches and kills what is left.
 */
#include "mount.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mountinfo.h"

/* How long a mount or a daemon exit may take (longer under PINFS_TEST_WRAPPER). */
#define PM_TIMEOUT_MS (g_getenv("PINFS_TEST_WRAPPER") ? 120000 : 10000)
#define PM_MAX_LIVE 32

struct pm {
	char *root;	     /* temporary directory holding all of the below */
	char *backing;	     /* root/backing */
	char *mnt;	     /* root/mnt, or /proc/PID/root/.../mnt (own_ns) */
	char *ns_mnt;	     /* own_ns: root/mnt, in the daemon's namespace */
	char *scratch;	     /* root/scratch: plain directory, same fs as backing */
	char *log;	     /* the daemon's stdout + stderr (root/daemon.log) */
	pid_t pid;	     /* the daemon, 0 once reaped */
	int status;	     /* its wait status once reaped */
	GPtrArray *expected; /* GRegex *: log lines that are allowed */
	int slot;	     /* index in live_mounts[] */
};

/*
 * Mounts and daemons that the emergency cleanup must take down.  Written only
 * by the owner process outside signal handlers; read by the handlers.
 */
static struct {
	volatile sig_atomic_t used;
	pid_t pid;
	char mnt[PATH_MAX];
} live_mounts[PM_MAX_LIVE];
static pid_t owner_pid;
static int reaper_fd = -1; /* write end of the pipe to the reaper */
static gboolean private_ns;

/* Async-signal-safe: detach every registered mount and kill its daemon. */
static void cleanup_live(void)
{
	if (getpid() != owner_pid)
		return; /* a forked child (pm_run_as) must not touch them */
	for (int i = 0; i < PM_MAX_LIVE; i++) {
		if (!live_mounts[i].used)
			continue;
		umount2(live_mounts[i].mnt, MNT_DETACH);
		if (live_mounts[i].pid > 0)
			kill(live_mounts[i].pid, SIGKILL);
		live_mounts[i].used = 0;
	}
}

static void fatal_signal(int sig)
{
	cleanup_live();
	raise(sig); /* SA_RESETHAND: now the default action */
}

/*
 * The reaper: reads "+ PID PATH" (a mount and its daemon) and "- PATH" (gone)
 * lines until EOF, then detaches every mount still listed and kills its daemon.
 */
static G_NORETURN void reaper_main(int fd)
{
	g_autoptr(GHashTable) live =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GString *in = g_string_new(NULL);
	char buf[4096];
	ssize_t n;
	int null = open("/dev/null", O_RDWR);

	/* hold nothing of the test's: stdio pipes would keep its reader waiting */
	dup2(null, 0);
	dup2(null, 1);
	dup2(null, 2);
	close_range(3, fd - 1, 0);
	close_range(fd + 1, ~0U, 0);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		char *nl;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		g_string_append_len(in, buf, n);
		while ((nl = strchr(in->str, '\n'))) {
			int pid;
			char path[PATH_MAX];

			*nl = 0;
			if (sscanf(in->str, "+ %d %4095[^\n]", &pid, path) == 2)
				g_hash_table_insert(live, g_strdup(path),
						    GINT_TO_POINTER(pid));
			else if (in->str[0] == '-' && in->str[1] == ' ')
				g_hash_table_remove(live, in->str + 2);
			g_string_erase(in, 0, nl - in->str + 1);
		}
	}
	GHashTableIter it;
	gpointer path, pid;

	g_hash_table_iter_init(&it, live);
	while (g_hash_table_iter_next(&it, &path, &pid)) {
		umount2(path, MNT_DETACH);
		if (GPOINTER_TO_INT(pid) > 0)
			kill(GPOINTER_TO_INT(pid), SIGKILL);
	}
	_exit(0);
}

static void start_reaper(void)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		g_error("pipe: %s", g_strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		g_error("fork: %s", g_strerror(errno));
	if (pid == 0) {
		close(p[1]);
		reaper_main(p[0]);
	}
	close(p[0]);
	reaper_fd = p[1];
}

static void tell_reaper(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static void tell_reaper(const char *fmt, ...)
{
	g_autofree char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	line = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (reaper_fd >= 0 && write(reaper_fd, line, strlen(line)) < 0)
		g_printerr("pm: cannot reach the reaper: %s\n", g_strerror(errno));
}

void pm_setup(void)
{
	static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGTERM,
				   SIGINT,  SIGFPE,  SIGHUP};
	struct sigaction sa = {.sa_handler = fatal_signal, .sa_flags = SA_RESETHAND};

	g_return_if_fail(owner_pid == 0);
	owner_pid = getpid();

	if (!g_getenv("PINFS_TEST_NO_UNSHARE") && geteuid() == 0) {
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			g_printerr("pm_setup: no private mount namespace: %s\n",
				   g_strerror(errno));
		else
			private_ns = TRUE;
	}
	start_reaper();
	atexit(cleanup_live);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < G_N_ELEMENTS(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
}

void pm_watch(const char *mnt, pid_t pid)
{
	tell_reaper("+ %d %s\n", pid, mnt);
}

void pm_unwatch(const char *mnt)
{
	tell_reaper("- %s\n", mnt);
}

gboolean pm_private_ns(void)
{
	return private_ns;
}

gboolean pm_is_fuse_mount(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && sfs.f_type == FUSE_SUPER_MAGIC;
}

gboolean pm_in_mount_table(const char *path)
{
	dev_t dev;
	g_autofree char *type = mountinfo_by_target(path, NULL, true, &dev);

	return type != NULL;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void pm_rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static gint64 now_ms(void)
{
	return g_get_monotonic_time() / 1000;
}

static void sleep_ms(int ms)
{
	g_usleep(ms * 1000);
}

/* Child side of a spawn: stdio to @out_fd (stdin /dev/null), no stray fds. */
static void child_setup(int out_fd, int err_fd)
{
	int null = open("/dev/null", O_RDONLY);

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != owner_pid && owner_pid != 0)
		_exit(126); /* the parent already died */
	dup2(null, 0);
	dup2(out_fd, 1);
	dup2(err_fd, 2);
	close_range(3, ~0U, 0);
	/* Undo the test program's handlers and mask for the new program. */
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

/* Wait up to @timeout_ms for @pid; TRUE and *status if it exited. */
static gboolean wait_timeout(pid_t pid, int timeout_ms, int *status)
{
	gint64 end = now_ms() + timeout_ms;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return TRUE;
		if (r < 0 && errno != EINTR)
			g_error("waitpid(%d): %s", pid, g_strerror(errno));
		if (now_ms() > end)
			return FALSE;
		sleep_ms(5);
	}
}

char *pm_daemon_log(struct pm *pm)
{
	char *text = NULL;

	if (!g_file_get_contents(pm->log, &text, NULL, NULL))
		text = g_strdup("");
	return text;
}

static G_NORETURN void mount_failed(struct pm *pm, const char *why)
{
	g_autofree char *log = pm_daemon_log(pm);

	g_printerr("pinfs daemon stderr:\n%s\n", log);
	if (g_test_initialized())
		g_test_message("pinfs daemon stderr: %s", log);
	if (pm->pid > 0) {
		kill(pm->pid, SIGKILL);
		waitpid(pm->pid, NULL, 0);
	}
	umount2(pm->mnt, MNT_DETACH);
	live_mounts[pm->slot].used = 0;
	tell_reaper("- %s\n", pm->mnt);
	pm_rm_rf(pm->root); /* its log is printed above (or kept elsewhere) */
	g_error("pm_mount(%s): %s", pm->mnt, why);
}

gboolean pm_can_mount(void)
{
	return geteuid() == 0 && access("/dev/fuse", R_OK | W_OK) == 0;
}

struct pm *pm_mount_spec(const struct pm_spec *spec)
{
	const char *bin = spec->bin ? spec->bin : g_getenv("PINFS_BIN");
	const char *opts = spec->opts;
	const char *const *extra_args = spec->extra_args;
	const char *backing = spec->backing;
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *tmpl = NULL;
	g_auto(GStrv) wrap = NULL;
	struct pm *pm;
	int log_fd, slot, status;
	gint64 end;

	if (!bin || !*bin)
		g_error("PINFS_BIN is not set: run the tests with meson test");
	if (owner_pid == 0)
		g_error("pm_mount() before pm_setup() or pm_init()");
	if (!pm_can_mount())
		g_error("mounting pinfs needs root and /dev/fuse");

	pm = g_new0(struct pm, 1);
	pm->expected = g_ptr_array_new_with_free_func((GDestroyNotify)g_regex_unref);
	tmpl = g_build_filename(spec->tmpdir ? spec->tmpdir : g_get_tmp_dir(),
				"pinfs-test-XXXXXX", NULL);
	pm->root = g_mkdtemp(g_steal_pointer(&tmpl));
	if (!pm->root)
		g_error("mkdtemp in %s: %s",
			spec->tmpdir ? spec->tmpdir : g_get_tmp_dir(), g_strerror(errno));
	g_assert_no_errno(chmod(pm->root, 0755));
	pm->backing =
	    backing ? g_strdup(backing) : g_build_filename(pm->root, "backing", NULL);
	pm->mnt = g_build_filename(pm->root, "mnt", NULL);
	pm->scratch = g_build_filename(pm->root, "scratch", NULL);
	pm->log = spec->log ? g_strdup(spec->log)
			    : g_build_filename(pm->root, "daemon.log", NULL);
	if (!backing)
		g_assert_no_errno(mkdir(pm->backing, 0755));
	g_assert_no_errno(mkdir(pm->mnt, 0755));
	g_assert_no_errno(mkdir(pm->scratch, 0755));
	if (!backing)
		g_assert_no_errno(chmod(pm->backing, 0755)); /* whatever the umask */
	g_assert_no_errno(chmod(pm->mnt, 0755));
	g_assert_no_errno(chmod(pm->scratch, 0755));
	log_fd = open(pm->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (log_fd < 0)
		g_error("%s: %s", pm->log, g_strerror(errno));

	/* PINFS_TEST_WRAPPER, e.g. "valgrind -q --error-exitcode=99", prefixes the daemon
	 */
	wrap = g_strsplit(g_getenv("PINFS_TEST_WRAPPER") ? g_getenv("PINFS_TEST_WRAPPER")
							 : "",
			  " ", -1);
	for (int i = 0; wrap[i]; i++)
		if (*wrap[i])
			g_ptr_array_add(argv, g_strdup(wrap[i]));
	g_ptr_array_add(argv, g_strdup(bin));
	g_ptr_array_add(argv, g_strdup("-f"));
	/* PINFS_TEST_OPTS, e.g. "writeback_cache", is added to every pinfs
	 * mount (not to the peers that take source=), before the test's own
	 * options: an option the test names itself (passthrough=off) wins. */
	if (g_getenv("PINFS_TEST_OPTS") && *g_getenv("PINFS_TEST_OPTS") &&
	    !spec->source_opt) {
		g_ptr_array_add(argv, g_strdup("-o"));
		g_ptr_array_add(argv, g_strdup(g_getenv("PINFS_TEST_OPTS")));
	}
	if (opts && *opts) {
		g_ptr_array_add(argv, g_strdup("-o"));
		g_ptr_array_add(argv, g_strdup(opts));
	}
	for (size_t i = 0; extra_args && extra_args[i]; i++)
		g_ptr_array_add(argv, g_strdup(extra_args[i]));
	if (spec->source_opt) {
		g_ptr_array_add(argv, g_strdup("-o"));
		g_ptr_array_add(argv, g_strdup_printf("source=%s", pm->backing));
	} else {
		g_ptr_array_add(argv, g_strdup(pm->backing));
	}
	g_ptr_array_add(argv, g_strdup(pm->mnt));
	g_ptr_array_add(argv, NULL);

	for (slot = 0; slot < PM_MAX_LIVE && live_mounts[slot].used; slot++)
		;
	g_assert_cmpint(slot, <, PM_MAX_LIVE);
	pm->slot = slot;
	g_strlcpy(live_mounts[slot].mnt, pm->mnt, sizeof(live_mounts[slot].mnt));
	live_mounts[slot].pid = 0;
	live_mounts[slot].used = 1;

	fflush(stdout);
	fflush(stderr);
	pm->pid = fork();
	g_assert_cmpint(pm->pid, >=, 0);
	if (pm->pid == 0) {
		child_setup(log_fd, log_fd);
		/* A mount namespace of the daemon's own, like a host of its
		 * own: its mount is seen from here through /proc/PID/root. */
		if (spec->own_ns &&
		    (unshare(CLONE_NEWNS) < 0 ||
		     mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)) {
			dprintf(2, "own mount namespace: %s\n", strerror(errno));
			_exit(127);
		}
		execvp(argv->pdata[0], (char **)argv->pdata);
		dprintf(2, "exec %s: %s\n", (char *)argv->pdata[0], strerror(errno));
		_exit(127);
	}
	live_mounts[slot].pid = pm->pid;
	tell_reaper("+ %d %s\n", pm->pid, pm->mnt);
	close(log_fd);
	if (spec->own_ns) {
		/* Only the daemon lives in its namespace: once it is gone, so is
		 * the mount, which the reaper's kill covers. */
		pm->ns_mnt = pm->mnt;
		pm->mnt = g_strdup_printf("/proc/%d/root%s", (int)pm->pid, pm->ns_mnt);
	}

	end = now_ms() + PM_TIMEOUT_MS;
	while (!pm_is_fuse_mount(pm->mnt)) {
		if (waitpid(pm->pid, &status, WNOHANG) == pm->pid) {
			pm->pid = 0;
			live_mounts[slot].pid = 0;
			mount_failed(
			    pm, WIFEXITED(status)
				    ? "the daemon exited before the mount was live"
				    : "the daemon was killed before the mount was live");
		}
		if (now_ms() > end)
			mount_failed(pm, "the mount was not live after 10 s");
		sleep_ms(5);
	}
	return pm;
}

const char *pm_mnt(struct pm *pm)
{
	return pm->mnt;
}

const char *pm_ns_mnt(struct pm *pm)
{
	return pm->ns_mnt ? pm->ns_mnt : pm->mnt;
}

const char *pm_backing(struct pm *pm)
{
	return pm->backing;
}

const char *pm_scratch(struct pm *pm)
{
	return pm->scratch;
}

char *pm_path(struct pm *pm, const char *rel)
{
	return g_build_filename(pm->mnt, rel, NULL);
}

char *pm_bpath(struct pm *pm, const char *rel)
{
	return g_build_filename(pm->backing, rel, NULL);
}

char *pm_spath(struct pm *pm, const char *rel)
{
	return g_build_filename(pm->scratch, rel, NULL);
}

pid_t pm_daemon_pid(struct pm *pm)
{
	return pm->pid;
}

/* Entries of /proc/PID/@what of the daemon. */
static int daemon_proc_count(struct pm *pm, const char *what)
{
	g_autofree char *dir = g_strdup_printf("/proc/%d/%s", pm->pid, what);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	int n = 0;

	g_assert_nonnull(d);
	while (g_dir_read_name(d))
		n++;
	return n;
}

int pm_daemon_fd_count(struct pm *pm)
{
	return daemon_proc_count(pm, "fd");
}

int pm_daemon_thread_count(struct pm *pm)
{
	return daemon_proc_count(pm, "task");
}

int pm_daemon_fds(struct pm *pm, int *pipes, char **list)
{
	g_autofree char *dir = g_strdup_printf("/proc/%d/fd", pm->pid);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	GString *out = list ? g_string_new(NULL) : NULL;
	const char *name;
	int other = 0;

	g_assert_nonnull(d);
	*pipes = 0;
	while ((name = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(dir, name, NULL);
		g_autofree char *target = g_file_read_link(p, NULL);

		if (out)
			g_string_append_printf(out, "  %s -> %s\n", name,
					       target ? target : "?");
		if (target && g_str_has_prefix(target, "pipe:"))
			(*pipes)++;
		else
			other++;
	}
	if (list)
		*list = g_string_free(out, FALSE);
	return other;
}

void pm_expect_log(struct pm *pm, const char *regex)
{
	g_autoptr(GError) err = NULL;
	GRegex *re = g_regex_new(regex, G_REGEX_CASELESS, 0, &err);

	g_assert_no_error(err);
	g_ptr_array_add(pm->expected, re);
}

int pm_kill_daemon(struct pm *pm, int sig)
{
	g_assert_cmpint(pm->pid, >, 0);
	g_assert_no_errno(kill(pm->pid, sig));
	if (!wait_timeout(pm->pid, PM_TIMEOUT_MS, &pm->status)) {
		kill(pm->pid, SIGKILL);
		waitpid(pm->pid, &pm->status, 0);
		pm->pid = 0;
		live_mounts[pm->slot].pid = 0;
		return -1;
	}
	pm->pid = 0;
	live_mounts[pm->slot].pid = 0;
	return pm->status;
}

/* Lines of the daemon log that look like trouble and were not expected. */
static char *unexpected_log_lines(struct pm *pm)
{
	g_autofree char *log = pm_daemon_log(pm);
	g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
	g_autoptr(GRegex) bad = g_regex_new(
	    "warn|critical|error|fatal|abort|assert|bug|leak|sanitizer|segfault",
	    G_REGEX_CASELESS, 0, NULL);
	GString *out = g_string_new(NULL);

	for (int i = 0; lines[i]; i++) {
		gboolean ok = FALSE;
		/* Without the test's own directory, whose random name may
		 * spell one of the words ("pinfs-test-BUGUZ3"). */
		g_auto(GStrv) parts = g_strsplit(lines[i], pm->root, -1);
		g_autofree char *text = g_strjoinv("", parts);

		if (!g_regex_match(bad, text, 0, NULL))
			continue;
		for (guint j = 0; j < pm->expected->len && !ok; j++)
			ok = g_regex_match(pm->expected->pdata[j], lines[i], 0, NULL);
		if (!ok)
			g_string_append_printf(out, "%s\n", lines[i]);
	}
	return g_string_free(out, out->len == 0);
}

/* own_ns: unmount ns_mnt inside the daemon's namespace (as root there). */
static int umount_in_ns(struct pm *pm, int flags)
{
	g_autofree char *ns = g_strdup_printf("/proc/%d/ns/mnt", (int)pm->pid);
	int status, fd;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		fd = open(ns, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNS) < 0)
			_exit(errno & 0xff);
		_exit(umount2(pm->ns_mnt, flags) < 0 ? errno & 0xff : 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	errno = WEXITSTATUS(status);
	return errno ? -1 : 0;
}

char *pm_stop(struct pm *pm)
{
	g_autoptr(GString) problems = g_string_new(NULL);
	g_autofree char *bad_lines = NULL;

	if (pm->pid > 0) {
		if (pm->ns_mnt) {
			if (pm_is_fuse_mount(pm->mnt) && umount_in_ns(pm, 0) < 0) {
				g_string_append_printf(
				    problems, "umount(%s) in its namespace: %s; ",
				    pm->ns_mnt, g_strerror(errno));
				umount_in_ns(pm, MNT_DETACH);
			}
		} else if (pm_is_fuse_mount(pm->mnt) && umount2(pm->mnt, 0) < 0) {
			g_string_append_printf(problems, "umount(%s): %s; ", pm->mnt,
					       g_strerror(errno));
			umount2(pm->mnt, MNT_DETACH);
		}
		if (!wait_timeout(pm->pid, PM_TIMEOUT_MS, &pm->status)) {
			g_string_append(problems,
					"daemon still running 10 s after unmount; ");
			kill(pm->pid, SIGKILL);
			waitpid(pm->pid, &pm->status, 0);
		}
		pm->pid = 0;
		live_mounts[pm->slot].pid = 0;
		if (!WIFEXITED(pm->status) || WEXITSTATUS(pm->status) != 0)
			g_string_append_printf(
			    problems, "daemon %s %d; ",
			    WIFEXITED(pm->status) ? "exited with status"
						  : "killed by signal",
			    WIFEXITED(pm->status) ? WEXITSTATUS(pm->status)
						  : WTERMSIG(pm->status));
	} else if (!pm->ns_mnt && pm_is_fuse_mount(pm->mnt)) {
		/* The daemon was killed; take down what it left (in its own
		 * namespace, that went with it). */
		umount2(pm->mnt, MNT_DETACH);
	}
	live_mounts[pm->slot].used = 0;
	tell_reaper("- %s\n", pm->mnt);

	bad_lines = unexpected_log_lines(pm);
	if (bad_lines)
		g_string_append_printf(problems, "unexpected daemon log lines:\n%s",
				       bad_lines);
	return problems->len ? g_string_free(g_steal_pointer(&problems), FALSE) : NULL;
}

void pm_free(struct pm *pm, gboolean keep)
{
	if (keep)
		g_printerr("pm: kept %s for inspection\n", pm->root);
	else
		pm_rm_rf(pm->root);
	g_ptr_array_unref(pm->expected);
	g_free(pm->root);
	g_free(pm->backing);
	g_free(pm->mnt);
	g_free(pm->ns_mnt);
	g_free(pm->scratch);
	g_free(pm->log);
	g_free(pm);
}

int pm_run_as(uid_t uid, gid_t gid, int (*fn)(void *arg), void *arg)
{
	pid_t pid;
	int status;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(255);
		_exit(fn(arg) & 0xff);
	}
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int pm_write_byte(void *path)
{
	int fd = open(path, O_WRONLY), err = 0;

	if (fd < 0)
		return errno;
	if (pwrite(fd, "x", 1, 0) != 1)
		err = errno;
	close(fd);
	return err;
}

int pm_run_cmd(const char *const *argv, int timeout_s, char **out, char **err)
{
	g_autoptr(GError) gerr = NULL;
	g_autofree char *dir = g_dir_make_tmp("pinfs-cmd-XXXXXX", &gerr);
	g_autofree char *out_path = NULL, *err_path = NULL;
	int out_fd, err_fd, status;
	pid_t pid;

	g_assert_no_error(gerr);
	out_path = g_build_filename(dir, "out", NULL);
	err_path = g_build_filename(dir, "err", NULL);
	out_fd = open(out_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	err_fd = open(err_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	g_assert_cmpint(out_fd, >=, 0);
	g_assert_cmpint(err_fd, >=, 0);

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		child_setup(out_fd, err_fd);
		execv(argv[0], (char **)argv);
		dprintf(2, "execv %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out_fd);
	close(err_fd);
	if (!wait_timeout(pid, timeout_s * 1000, &status)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		status = -1;
	}
	if (out && !g_file_get_contents(out_path, out, NULL, NULL))
		*out = g_strdup("");
	if (err && !g_file_get_contents(err_path, err, NULL, NULL))
		*err = g_strdup("");
	pm_rm_rf(dir);
	return status;
}
