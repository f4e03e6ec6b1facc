// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * holder.c - pinfs-bench: the plumbing of a lease holder in a forked child,
 * shared by the break and cluster benchmarks.  Each of them has its own
 * holder loop; this file gives it a shared page for its timestamps, its two
 * pipes, the stamp of the moment SIGIO arrives, the steps of a take and a
 * break on both sides of the pipes, and the file it leases.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* In a holder child: the shared page SIGIO stamps. */
static struct holder_shm *sigio_shm;

static void on_sigio(int sig)
{
	uint64_t zero = 0;

	(void)sig;
	atomic_compare_exchange_strong(&sigio_shm->t_notify, &zero, now_ns());
}

/* Fork a holder: maps its shared page, then runs child(arg, cmd, reply) in
 * the child with the read end of the command pipe and the write end of the
 * reply pipe; child must not return.  The parent gets the other ends. */
int holder_fork(struct holder_proc *p, void (*child)(void *arg, int cmd, int reply),
		void *arg)
{
	int cmd[2], reply[2];

	p->shm = mmap(NULL, sizeof(struct holder_shm), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p->shm == MAP_FAILED || pipe(cmd) < 0 || pipe(reply) < 0)
		return -1;
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		close(cmd[1]);
		close(reply[0]);
		child(arg, cmd[0], reply[1]);
	}
	close(cmd[0]);
	close(reply[1]);
	p->cmd = cmd[1];
	p->reply = reply[0];
	return 0;
}

/* In the child: stamp shm->t_notify (when 0) at SIGIO, and block SIGIO;
 * *old is the mask to sigsuspend() with, SIGIO let through. */
void holder_catch_sigio(struct holder_shm *shm, sigset_t *old)
{
	struct sigaction sa = {.sa_handler = on_sigio};
	sigset_t block;

	sigio_shm = shm;
	sigemptyset(&block);
	sigaddset(&block, SIGIO);
	sigaction(SIGIO, &sa, NULL);
	sigprocmask(SIG_BLOCK, &block, old);
	sigdelset(old, SIGIO);
}

/* In the child, first: set up as a forked bench child (bm_forked_child)
 * and open path read-only, the descriptor it leases; exits 1 if it cannot. */
int holder_open(const char *path)
{
	int fd;

	bm_forked_child();
	fd = open(path, O_RDONLY);
	if (fd < 0)
		_exit(1);
	return fd;
}

/* In the child, having tried to take its lease (r: 0, or < 0 if refused):
 * answer the bench ('r' or 'e'; a refused holder exits 2), and mark itself
 * about to sleep until the break. */
void holder_answer(struct holder_shm *shm, int reply, int r)
{
	char c = r < 0 ? 'e' : 'r';

	if (write(reply, &c, 1) != 1 || r < 0)
		_exit(2);
	atomic_store(&shm->blocking, 1);
}

/* In the child, told of the break: stamp the start of its release. */
void holder_woken(struct holder_shm *shm)
{
	atomic_store(&shm->blocking, 0);
	atomic_store(&shm->t_release, now_ns());
}

/* In the bench: have the holder take its lease ('g'), and wait until it
 * is about to sleep for the break.  -1 if it could not take it. */
int holder_take(struct holder_proc *p)
{
	char c;

	if (write(p->cmd, "g", 1) != 1 || read(p->reply, &c, 1) != 1 || c != 'r')
		return -1;
	while (!atomic_load(&p->shm->blocking))
		;
	return 0;
}

/* Close the pipes and unmap the page of a holder already reaped. */
static void holder_release(struct holder_proc *p)
{
	close(p->cmd);
	close(p->reply);
	munmap(p->shm, sizeof(struct holder_shm));
	p->pid = 0;
}

/* Stop a holder (if started): 'q', and SIGKILL if it has not exited a
 * second later (a holder still waiting for a break, after an error, never
 * reads its pipe again). */
void holder_stop(struct holder_proc *p)
{
	if (p->pid <= 0)
		return;
	if (write(p->cmd, "q", 1) == 1) {
		for (int i = 0; i < 100; i++) {
			if (waitpid(p->pid, NULL, WNOHANG) == p->pid)
				goto reaped;
			g_usleep(10000);
		}
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
reaped:
	holder_release(p);
}

/* A 4 KiB file at path, for a holder to lease. */
void holder_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char buf[4096] = {1};

	if (fd >= 0) {
		if (write(fd, buf, sizeof(buf)) < 0)
			progress("write %s: %s", path, g_strerror(errno));
		close(fd);
	}
}
