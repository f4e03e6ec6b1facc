// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mount.c - pinfs-bench's mounts: pinfs on temporary directories, always
 * unmounted again.
 *
 * bm_init() moves the bench into a private mount namespace, so a bench
 * killed outright leaves nothing mounted on the host, and each daemon gets
 * SIGTERM when the bench dies (PR_SET_PDEATHSIG).  On a normal exit,
 * SIGINT, SIGTERM, a crash or an abort, cleanup() also detaches the live
 * mounts and kills their daemons.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* Live mounts, for cleanup().  Only the main thread mounts and unmounts. */
static GPtrArray *live;
static int nmounts;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw);

/* Unmount, stop and remove whatever is still live (exit and fatal paths). */
static void cleanup(void)
{
	if (!live)
		return;
	for (guint i = 0; i < live->len; i++) {
		struct bmount *m = live->pdata[i];

		if (m->pid) {
			umount2(m->mnt, MNT_DETACH);
			kill(m->pid, SIGTERM);
			waitpid(m->pid, NULL, 0);
		}
		nftw(m->dir, rm_one, 64, FTW_DEPTH | FTW_PHYS);
	}
	g_ptr_array_set_size(live, 0);
}

static void on_fatal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

void bm_init(void)
{
	live = g_ptr_array_new();
	if (unshare(CLONE_NEWNS) == 0)
		mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	else
		progress("warning: no private mount namespace: %s", g_strerror(errno));
	atexit(cleanup);
	signal(SIGINT, on_fatal);
	signal(SIGTERM, on_fatal);
	signal(SIGABRT, on_fatal);
	signal(SIGHUP, on_fatal);
	signal(SIGSEGV, on_fatal);
	signal(SIGBUS, on_fatal);
}

/* In a child of fork(): the parent's mounts are not ours to clean up. */
void bm_forked_child(void)
{
	live = NULL;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGABRT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
}

int raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	return (int)rl.rlim_cur;
}

static bool is_fuse(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && sf.f_type == FUSE_SUPER_MAGIC;
}

static struct bmount *new_dirs(void)
{
	struct bmount *m = g_new0(struct bmount, 1);
	g_autofree char *tmpl = g_build_filename(opt.tmpdir, "pinfs-bench.XXXXXX", NULL);

	m->dir = g_mkdtemp(g_steal_pointer(&tmpl));
	if (!m->dir)
		g_error("mkdtemp in %s: %s", opt.tmpdir, g_strerror(errno));
	m->backing = g_build_filename(m->dir, "backing", NULL);
	m->mnt = g_build_filename(m->dir, "mnt", NULL);
	if (mkdir(m->backing, 0755) < 0 || mkdir(m->mnt, 0755) < 0)
		g_error("mkdir in %s: %s", m->dir, g_strerror(errno));
	return m;
}

/* Remember every distinct option string for the metadata. */
static void note_opts(const char *opts)
{
	extern GHashTable *meta;
	const char *cur = g_hash_table_lookup(meta, "mount_options");
	g_autofree char *item = g_strdup_printf("[%s]", opts);

	if (cur && strstr(cur, item))
		return;
	{
		g_autofree char *v = g_strdup_printf("%s%s%s", cur ? cur : "",
						     cur && *cur ? " " : "", item);

		meta_set("mount_options", v);
	}
}

/* Mount pinfs -o opts on fresh temporary directories. */
struct bmount *bm_mount(const char *opts)
{
	struct bmount *m = new_dirs();
	g_autofree char *logdir = g_build_filename(opt.outdir, "logs", NULL);
	g_autofree char *log = NULL;
	uint64_t deadline;
	pid_t pid;
	int fd;

	m->opts = g_strdup(opts);
	g_mkdir_with_parents(logdir, 0755);
	log = g_strdup_printf("%s/pinfs-%d.log", logdir, nmounts++);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	pid = fork();
	if (pid < 0)
		g_error("fork: %s", g_strerror(errno));
	if (pid == 0) {
		/* The daemon goes when the bench goes, however it goes
		 * (SIGTERM makes pinfs unmount). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(opt.pinfs_bin, opt.pinfs_bin, "-f", "-o", opts, m->backing, m->mnt,
		      (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", opt.pinfs_bin, strerror(errno));
		_exit(127);
	}
	if (fd >= 0)
		close(fd);
	m->pid = pid;
	g_ptr_array_add(live, m);
	deadline = now_ns() + 10000000000ull;
	while (!is_fuse(m->mnt)) {
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			m->pid = 0;
			g_error("pinfs -o %s exited (status %d) before mounting; see %s",
				opts, status, log);
		}
		if (now_ns() > deadline)
			g_error("pinfs -o %s did not mount within 10 s; see %s", opts,
				log);
		g_usleep(2000);
	}
	note_opts(opts);
	return m;
}

/* A plain directory on the same filesystem, for the "backing" baseline. */
struct bmount *bm_plain(void)
{
	struct bmount *m = new_dirs();

	g_free(m->mnt);
	m->mnt = g_strdup(m->backing);
	m->opts = g_strdup("(backing directory)");
	g_ptr_array_add(live, m);
	return m;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void bm_unmount(struct bmount *m)
{
	if (m->pid) {
		int tries = 0;

		while (umount2(m->mnt, 0) < 0 && errno == EBUSY && tries++ < 50)
			g_usleep(100000);
		if (is_fuse(m->mnt)) {
			progress("warning: %s busy, detaching", m->mnt);
			umount2(m->mnt, MNT_DETACH);
		}
		for (tries = 0; tries < 100; tries++) {
			if (waitpid(m->pid, NULL, WNOHANG) == m->pid)
				break;
			g_usleep(50000);
		}
		if (tries == 100) {
			kill(m->pid, SIGKILL);
			waitpid(m->pid, NULL, 0);
		}
	}
	g_ptr_array_remove(live, m);
	nftw(m->dir, rm_one, 64, FTW_DEPTH | FTW_PHYS);
	g_free(m->dir);
	g_free(m->backing);
	g_free(m->mnt);
	g_free(m->opts);
	g_free(m);
}

char *bm_path(struct bmount *m, const char *fmt, ...)
{
	g_autofree char *rel = NULL;
	va_list ap;

	va_start(ap, fmt);
	rel = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	return g_build_filename(m->mnt, rel, NULL);
}

/* A numeric field of /proc/PID/status ("VmRSS", "Threads"), or -1. */
long proc_status_kb(pid_t pid, const char *field)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
	g_autofree char *text = NULL;
	size_t flen = strlen(field);
	long v = -1;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return -1;
	for (char *line = text; line && *line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			v = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	return v;
}
