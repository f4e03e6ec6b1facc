// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mount.c - pinfs-bench's mounts, made with the tests' mount helper
 * (tests/common/mount.h): pinfs on temporary directories under --tmpdir,
 * always unmounted again.
 *
 * bm_init() moves the bench into a private mount namespace, so a bench
 * killed outright leaves nothing mounted on the host; each daemon gets
 * SIGTERM when the bench dies, and on an exit, a fatal signal or an abort
 * the helper detaches the live mounts and kills their daemons.  The daemon
 * logs stay in OUTDIR/logs.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "mount.h"

static int nmounts;

void bm_init(void)
{
	pm_setup();
	if (!pm_private_ns())
		progress("warning: no private mount namespace");
}

/* In a child of fork(): default signal actions (the helper's handlers only
 * act in the bench itself). */
void bm_forked_child(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGABRT, SIGHUP, SIGSEGV, SIGBUS};

	for (size_t i = 0; i < G_N_ELEMENTS(sigs); i++)
		signal(sigs[i], SIG_DFL);
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

/* Mount daemon bin (pinfs, or a peer that takes -o source=) -o opts on
 * fresh temporary directories. */
static struct bmount *mount_daemon(const char *bin, const char *opts, gboolean peer,
				   const char *backing)
{
	struct bmount *m = g_new0(struct bmount, 1);
	g_autofree char *logdir = g_build_filename(opt.outdir, "logs", NULL);
	g_autofree char *log = NULL;
	struct pm_spec spec = {.opts = opts,
			       .bin = bin,
			       .tmpdir = opt.tmpdir,
			       .source_opt = peer,
			       .backing = backing};

	g_mkdir_with_parents(logdir, 0755);
	log = g_strdup_printf("%s/%s-%d.log", logdir, peer ? "peer" : "pinfs", nmounts++);
	spec.log = log;
	m->pm = pm_mount_spec(&spec);
	m->backing = g_strdup(pm_backing(m->pm));
	m->mnt = g_strdup(pm_mnt(m->pm));
	m->opts = g_strdup(opts);
	m->pid = pm_daemon_pid(m->pm);
	if (!peer)
		note_opts(opts);
	return m;
}

struct bmount *bm_mount(const char *opts)
{
	return mount_daemon(opt.pinfs_bin, opts, FALSE, NULL);
}

struct bmount *bm_mount_on(const char *backing, const char *opts)
{
	return mount_daemon(opt.pinfs_bin, opts, FALSE, backing);
}

struct bmount *bm_mount_peer(const char *bin, const char *opts)
{
	return mount_daemon(bin, opts, TRUE, NULL);
}

/* A plain directory on the same filesystem, for the "backing" baseline. */
struct bmount *bm_plain(void)
{
	struct bmount *m = g_new0(struct bmount, 1);
	g_autofree char *tmpl = g_build_filename(opt.tmpdir, "pinfs-bench.XXXXXX", NULL);

	m->dir = g_mkdtemp(g_steal_pointer(&tmpl));
	if (!m->dir)
		g_error("mkdtemp in %s: %s", opt.tmpdir, g_strerror(errno));
	m->backing = g_strdup(m->dir);
	m->mnt = g_strdup(m->dir);
	m->opts = g_strdup("(backing directory)");
	return m;
}

void bm_unmount(struct bmount *m)
{
	if (m->pm) {
		g_autofree char *problems = NULL;

		/* Closed files may take a moment to reach the daemon. */
		for (int tries = 0;
		     umount2(m->mnt, 0) < 0 && errno == EBUSY && tries < 50; tries++)
			g_usleep(100000);
		problems = pm_stop(m->pm);
		if (problems)
			progress("warning: pinfs -o %s: %s", m->opts, problems);
		pm_free(m->pm, FALSE);
	} else {
		pm_rm_rf(m->dir);
	}
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
