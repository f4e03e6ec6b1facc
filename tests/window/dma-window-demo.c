// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dma-window-demo - an "unmodified" DMA program: it knows nothing of pinfs.
 * It takes a layout lease with plain fcntl(F_SETLEASE, F_RDLCK | F_LAYOUT)
 * (served by libpinfs-preload.so, or refused by the kernel), maps the file
 * MAP_SHARED, registers the mapping with a device (rdma: ibv_reg_mr;
 * iouring: fixed buffers) and has the device write into it.
 *
 *   dma-window-demo BACKEND FILE LENGTH BYTE [BREAK_BYTE | hold]
 *
 * 1. device-writes BYTE over [0, LENGTH), prints "ready", and waits (at most
 *    120 s) for its lease break (SIGIO) or SIGTERM;
 * 2. on a break: device-writes BREAK_BYTE (if given) over [0, LENGTH) while
 *    the layout change waits, then deregisters, releases the lease
 *    (F_UNLCK), unmaps and exits 0.  With "hold" it ignores breaks and
 *    holds on until SIGTERM (or SIGKILL: a holder that dies).
 *
 * With DMA_WINDOW_DEMO_MSYNC=1 in the environment it calls msync(MS_SYNC)
 * on the mapping after the first write, before "ready".
 *
 * Every step is printed.  Exit status: 0 done, 1 a step failed, 2 usage,
 * 3 backend unavailable, 4 the device could not register the mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "pin.h"

#ifndef F_LAYOUT
#define F_LAYOUT 16 /* the 2019 RFC's lease flag */
#endif

static void say(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static int device_write(struct pin_region *r, size_t len, unsigned byte)
{
	GError *err = NULL;

	if (!pin_dma_write(r, 0, len, (uint8_t)byte, 0, &err)) {
		say("device write failed: %s", err->message);
		g_error_free(err);
		return -1;
	}
	say("device wrote 0x%02x over %zu bytes", byte, len);
	return 0;
}

int main(int argc, char **argv)
{
	struct timespec limit = {.tv_sec = 120};
	struct pin_backend *be;
	struct pin_region *r;
	GError *err = NULL;
	unsigned byte, break_byte = 0;
	int hold = argc == 6 && !strcmp(argv[5], "hold");
	size_t len;
	sigset_t set;
	siginfo_t si;
	void *map;
	int fd, sig;

	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: %s BACKEND FILE LENGTH BYTE [BREAK_BYTE]\n",
			argv[0]);
		return 2;
	}
	len = strtoull(argv[3], NULL, 0);
	byte = (unsigned)strtoul(argv[4], NULL, 0);
	if (argc == 6 && !hold)
		break_byte = (unsigned)strtoul(argv[5], NULL, 0);

	/* Before any thread: the break signal is read with sigtimedwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGIO);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);

	be = pin_backend_open(argv[1], &err);
	if (!be) {
		say("backend %s unavailable: %s", argv[1], err->message);
		g_error_free(err);
		return 3;
	}
	fd = open(argv[2], O_RDWR);
	if (fd < 0) {
		say("open %s: %s", argv[2], strerror(errno));
		return 1;
	}
	if (fcntl(fd, F_SETLEASE, F_RDLCK | F_LAYOUT) < 0)
		say("no layout lease: %s", strerror(errno));
	else
		say("layout lease taken");
	fcntl(fd, F_SETOWN, getpid());
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		say("mmap: %s", strerror(errno));
		return 1;
	}
	say("mapped %zu bytes", len);
	r = pin_region(be, map, len, 0, &err);
	if (!r) {
		say("register failed: %s", err->message);
		g_error_free(err);
		munmap(map, len);
		close(fd);
		pin_backend_close(be);
		return 4;
	}
	say("registered with %s", pin_backend_name(be));
	if (device_write(r, len, byte) < 0)
		return 1;
	if (g_strcmp0(g_getenv("DMA_WINDOW_DEMO_MSYNC"), "1") == 0) {
		if (msync(map, len, MS_SYNC) < 0) {
			say("msync: %s", strerror(errno));
			return 1;
		}
		say("msynced");
	}
	say("ready");

	do {
		/* io_uring's task work may interrupt the wait: EINTR. */
		do
			sig = sigtimedwait(&set, &si, &limit);
		while (sig < 0 && errno == EINTR);
		if (sig < 0)
			say("woken by no signal: %s", strerror(errno));
		else
			say("woken by %s", sig == SIGIO ? "lease break" : "SIGTERM");
	} while (sig == SIGIO && hold);
	if (sig == SIGIO && argc == 6 && !hold && device_write(r, len, break_byte) < 0)
		return 1;
	if (!pin_release(r, &err)) {
		say("deregister: %s", err->message);
		return 1;
	}
	if (fcntl(fd, F_SETLEASE, F_UNLCK) < 0)
		say("release: %s", strerror(errno));
	else
		say("lease released");
	if (munmap(map, len) < 0) {
		say("munmap: %s", strerror(errno));
		return 1;
	}
	close(fd);
	pin_backend_close(be);
	say("done");
	return 0;
}
