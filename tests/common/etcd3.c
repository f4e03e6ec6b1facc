// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * etcd3.c - a 3-member etcd cluster on loopback for tests and the bench
 * (etcd3.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "etcd.h"
#include "etcd3.h"

/* Can n ports from base be bound on loopback now? */
static bool ports_free(int base, int n)
{
	for (int i = 0; i < n; i++) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_port = htons((uint16_t)(base + i)),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

		if (fd >= 0)
			close(fd);
		if (!ok)
			return false;
	}
	return true;
}

static void rm_rf(const char *dir)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

	if (system(cmd) != 0)
		fprintf(stderr, "etcd3: could not remove %s\n", dir);
}

/* The reaper: waits for its parent to go (SIGTERM by PR_SET_PDEATHSIG, or
 * a parent already gone), then kills the members and removes dir. */
static void reaper_main(struct etcd3 *e, pid_t parent)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == parent)
		sigwait(&set, &sig);
	for (int i = 0; i < 3; i++)
		if (e->pid[i] > 0)
			kill(e->pid[i], SIGKILL);
	g_usleep(200000); /* let them go before their files do */
	rm_rf(e->dir);
	_exit(0);
}

int etcd3_member_start(struct etcd3 *e, int i, bool existing, GError **error)
{
	g_autofree char *bin = g_find_program_in_path("etcd");
	g_autofree char *name = g_strdup_printf("m%d", i);
	g_autofree char *data = g_strdup_printf("%s/%s", e->dir, name);
	g_autofree char *log = g_strdup_printf("%s/%s.log", e->dir, name);
	g_autofree char *curl = g_strdup_printf("http://127.0.0.1:%d", e->cport[i]);
	g_autofree char *purl = g_strdup_printf("http://127.0.0.1:%d", e->pport[i]);
	g_autofree char *initial = g_strdup_printf(
	    "m0=http://127.0.0.1:%d,m1=http://127.0.0.1:%d,m2=http://127.0.0.1:%d",
	    e->pport[0], e->pport[1], e->pport[2]);
	pid_t parent = getpid(), pid;

	if (!bin) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "etcd is not installed (etcd-server)");
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "fork: %s",
			    g_strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(bin, "etcd", "--name", name, "--data-dir", data,
		      "--listen-client-urls", curl, "--advertise-client-urls", curl,
		      "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
		      "--initial-cluster", initial, "--initial-cluster-state",
		      existing ? "existing" : "new", "--initial-cluster-token", e->dir,
		      "--heartbeat-interval", "50", "--election-timeout", "500",
		      "--log-level", "warn", (char *)NULL);
		_exit(127);
	}
	e->pid[i] = pid;
	return 0;
}

void etcd3_member_stop(struct etcd3 *e, int i)
{
	pid_t pid = e->pid[i];

	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	e->pid[i] = 0;
}

/* Put a key through the endpoint of member i alone: it succeeds once that
 * member has joined a cluster with a leader and applied the write. */
static int put_through(struct etcd3 *e, int i, GError **error)
{
	g_autofree char *url = g_strdup_printf("http://127.0.0.1:%d", e->cport[i]);
	struct etcd *c = etcd_new(url, error);
	int ret;

	if (!c)
		return -1;
	etcd_set_timeout(c, 1000);
	ret = etcd_put(c, "/etcd3/ready", "1", 0, error);
	etcd_free(c);
	return ret;
}

/* Wait until member i answers on its own (timeout_s at most). */
static int wait_member(struct etcd3 *e, int i, int timeout_s, GError **error)
{
	gint64 end = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC;
	GError *err = NULL;

	while (put_through(e, i, &err) < 0) {
		if (g_get_monotonic_time() > end) {
			g_propagate_prefixed_error(
			    error, err,
			    "etcd member m%d did not come up (logs in %s): ", i, e->dir);
			return -1;
		}
		g_clear_error(&err);
		g_usleep(100000);
	}
	return 0;
}

int etcd3_wait_ready(struct etcd3 *e, int timeout_s, GError **error)
{
	/* Each running member in turn: a write through the cluster would
	 * succeed with two of three, while a member started again may still
	 * be catching up, and the next one stopped would leave no quorum. */
	for (int i = 0; i < 3; i++)
		if (e->pid[i] > 0 && wait_member(e, i, timeout_s, error) < 0)
			return -1;
	return 0;
}

int etcd3_start(struct etcd3 *e, GError **error)
{
	g_autofree char *bin = g_find_program_in_path("etcd");
	pid_t parent = getpid();
	int base;

	memset(e, 0, sizeof(*e));
	if (!bin) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "etcd is not installed (etcd-server)");
		return -1;
	}
	e->dir = g_dir_make_tmp("pinfs-etcd-XXXXXX", error);
	if (!e->dir)
		return -1;
	/* Six free ports below the ephemeral range, from the pid on. */
	base = 20000 + (getpid() % 1500) * 8;
	while (!ports_free(base, 8))
		base = 20000 + (base - 20000 + 8) % 12000;
	for (int i = 0; i < 3; i++) {
		e->cport[i] = base + i;
		e->pport[i] = base + 4 + i;
	}
	e->urls =
	    g_strdup_printf("http://127.0.0.1:%d+http://127.0.0.1:%d+http://127.0.0.1:%d",
			    e->cport[0], e->cport[1], e->cport[2]);
	e->pid = mmap(NULL, 3 * sizeof(pid_t), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (e->pid == MAP_FAILED) {
		e->pid = NULL;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "mmap: %s",
			    g_strerror(errno));
		goto fail;
	}
	fflush(stdout);
	fflush(stderr);
	e->reaper = fork();
	if (e->reaper == 0)
		reaper_main(e, parent);
	if (e->reaper < 0) {
		e->reaper = 0;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "fork: %s",
			    g_strerror(errno));
		goto fail;
	}
	for (int i = 0; i < 3; i++)
		if (etcd3_member_start(e, i, false, error) < 0)
			goto fail;
	if (etcd3_wait_ready(e, 30, error) < 0)
		goto fail;
	return 0;
fail:
	etcd3_stop(e);
	return -1;
}

void etcd3_stop(struct etcd3 *e)
{
	for (int i = 0; e->pid && i < 3; i++)
		etcd3_member_stop(e, i);
	if (e->reaper > 0) {
		kill(e->reaper, SIGKILL);
		waitpid(e->reaper, NULL, 0);
		e->reaper = 0;
	}
	if (e->dir)
		rm_rf(e->dir);
	if (e->pid)
		munmap(e->pid, 3 * sizeof(pid_t));
	e->pid = NULL;
	g_free(e->dir);
	g_free(e->urls);
	e->dir = e->urls = NULL;
}
