// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * holder.c - pinfs-bench: the plumbing of a lease holder in a forked child,
 * shared by the break and cluster benchmarks.  Each of them has its own
 * holder loop; this file gives it a shared page for its timestamps, its two
 * pipes, and the stamp of the moment SIGIO arrives.
 */
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
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

/* Close the pipes and unmap the page of a holder already reaped. */
void holder_release(struct holder_proc *p)
{
	close(p->cmd);
	close(p->reply);
	munmap(p->shm, sizeof(struct holder_shm));
	p->pid = 0;
}
