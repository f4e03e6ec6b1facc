// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dma-hold FILE - a program that knows nothing of pinfs: it maps FILE
 * MAP_SHARED, pins the whole mapping through /dev/pinfs_dma as a driver
 * pins a buffer for DMA, lets the "device" write into it, and holds the pin
 * until SIGTERM or SIGINT.  Then it unpins and exits 0.  No lease, no
 * registered pin, no preload shim: only the daemon's own look at the pinned
 * pages (the module's QUERY) can protect it.
 *
 * The pin is long-term (FOLL_LONGTERM, as RDMA's ib_umem_get()) where the
 * kernel allows it; Linux 6.5 and later refuse writable long-term pins of
 * shared file mappings other than shmem, so there it falls back to a
 * short-term pin (what O_DIRECT and most drivers take), which leaves the
 * pages just as pinned.
 *
 * One line per step on stdout: "pinned PAGES longterm=0|1" once the pin is
 * in place and written, "unpinned" at the end.  Exit status 1 on failure,
 * 3 when /dev/pinfs_dma is not there.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pinfs_dma_abi.h"

static int fail(const char *what)
{
	fprintf(stderr, "dma-hold: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	struct pinfs_dma_pin pin = {.size = sizeof(pin)};
	struct pinfs_dma_write w = {.size = sizeof(w)};
	struct pinfs_dma_unpin un = {.size = sizeof(un)};
	struct stat st;
	sigset_t set;
	int fd, dev, sig, longterm = 1;
	void *map;

	if (argc != 2) {
		fprintf(stderr, "usage: dma-hold FILE\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);

	fd = open(argv[1], O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return fail(argv[1]);
	if (st.st_size == 0) {
		fprintf(stderr, "dma-hold: %s is empty\n", argv[1]);
		return 1;
	}
	map = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return fail("mmap");
	memset(map, 0x5a, st.st_size); /* fault the pages in */

	dev = open(PINFS_DMA_DEVICE, O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		fail(PINFS_DMA_DEVICE);
		return 3;
	}
	pin.flags = PINFS_DMA_PIN_WRITE | PINFS_DMA_PIN_LONGTERM;
	pin.addr = (unsigned long)map;
	pin.len = st.st_size;
	if (ioctl(dev, PINFS_DMA_IOC_PIN, &pin) < 0 &&
	    (errno == EFAULT || errno == EOPNOTSUPP)) {
		longterm = 0;
		pin.flags = PINFS_DMA_PIN_WRITE;
		pin.handle = pin.npages = 0;
		if (ioctl(dev, PINFS_DMA_IOC_PIN, &pin) < 0)
			return fail("PINFS_DMA_IOC_PIN");
	} else if (!pin.handle) {
		return fail("PINFS_DMA_IOC_PIN");
	}
	w.handle = pin.handle;
	w.len = st.st_size;
	w.mode = PINFS_DMA_MODE_FILL;
	w.seed = 0xd7;
	if (ioctl(dev, PINFS_DMA_IOC_WRITE, &w) < 0)
		return fail("PINFS_DMA_IOC_WRITE");
	printf("pinned %u longterm=%d\n", pin.npages, longterm);
	fflush(stdout);

	if (sigwait(&set, &sig) != 0)
		return fail("sigwait");
	un.handle = pin.handle;
	if (ioctl(dev, PINFS_DMA_IOC_UNPIN, &un) < 0)
		return fail("PINFS_DMA_IOC_UNPIN");
	printf("unpinned\n");
	fflush(stdout);
	munmap(map, st.st_size);
	close(dev);
	close(fd);
	return 0;
}
