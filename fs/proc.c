// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * proc.c - the daemon's readers of /proc: the mount table, a thread's
 * group, a process's uids.
 */
#include <errno.h>
#include <glib.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mountinfo.h"
#include "proc.h"

bool proc_mount_dev(const char *mountpoint, unsigned *major, unsigned *minor)
{
	char *fstype;
	dev_t dev;

	/* The first: a later mount on top is not ours. */
	fstype = mountinfo_by_target(mountpoint, "fuse", false, &dev);
	if (!fstype)
		return false;
	g_free(fstype);
	*major = major(dev);
	*minor = minor(dev);
	return true;
}

/* The per-mount options (field 6 of mountinfo: "rw,nosuid,relatime") of
 * the first FUSE mount at mountpoint, g_free() it; NULL if there is none. */
char *proc_mount_opts(const char *mountpoint)
{
	char *text = NULL, **lines, *opts = NULL;

	if (!g_file_get_contents("/proc/self/mountinfo", &text, NULL, NULL))
		return NULL;
	lines = g_strsplit(text, "\n", -1);
	for (char **ln = lines; *ln && !opts; ln++) {
		char mnt[4096], mopts[1024], fstype[256];
		const char *sep;

		if (sscanf(*ln, "%*d %*d %*u:%*u %*s %4095s %1023s", mnt, mopts) != 2)
			continue;
		sep = strstr(*ln, " - ");
		if (!sep || sscanf(sep, " - %255s", fstype) != 1)
			continue;
		if (!strcmp(mnt, mountpoint) && !strncmp(fstype, "fuse", 4))
			opts = g_strdup(mopts);
	}
	g_strfreev(lines);
	g_free(text);
	return opts;
}

/*
 * Is thread tid in thread group tgid?  tgkill() with signal 0 sends
 * nothing and fails with ESRCH unless it is; EPERM means it is, but we may
 * not signal it.
 */
static bool thread_in_group(pid_t tgid, pid_t tid)
{
	return syscall(SYS_tgkill, tgid, tid, 0) == 0 || errno == EPERM;
}

/* Last answers of proc_tid_to_tgid, (tid << 32 | tgid) by the low bits of
 * tid.  Only hints: every use is checked with thread_in_group(). */
#define TGID_HINTS 256
static atomic_uint_least64_t tgid_hints[TGID_HINTS];

/*
 * On the break path, so it must be cheap: a guess checked with one
 * tgkill(), first that tid leads its own group (a single-threaded caller),
 * then the last answer for that tid.  Only when both miss does it read
 * /proc/TID/status (13 us).  Like that read, the answer can go stale the
 * moment the thread exits.
 */
pid_t proc_tid_to_tgid(pid_t tid)
{
	atomic_uint_least64_t *hint = &tgid_hints[(uint32_t)tid % TGID_HINTS];
	char path[64], line[128];
	pid_t tgid = tid;
	uint64_t last;
	FILE *f;

	if (tid <= 0)
		return tid;
	if (thread_in_group(tid, tid))
		return tid;
	last = atomic_load_explicit(hint, memory_order_relaxed);
	if ((pid_t)(last >> 32) == tid && thread_in_group((pid_t)(uint32_t)last, tid))
		return (pid_t)(uint32_t)last;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return tid;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	}
	fclose(f);
	atomic_store_explicit(hint, ((uint64_t)(uint32_t)tid << 32) | (uint32_t)tgid,
			      memory_order_relaxed);
	return tgid;
}

/* The pid was the holder's when it took the lease, but the process may be
 * gone and the number reused: so its uids are read now. */
bool proc_may_signal(pid_t pid, uid_t uid)
{
	char path[64], line[256];
	unsigned ruid, euid, suid;
	bool ok = false;
	FILE *f;

	if (uid == 0)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Uid: %u %u %u", &ruid, &euid, &suid) == 3) {
			ok = ruid == uid || suid == uid;
			break;
		}
	}
	fclose(f);
	return ok;
}
