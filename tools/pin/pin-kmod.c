// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pin-kmod.c - the kmod backend: /dev/pinfs_dma (kernel/pinfs_dma_abi.h).
 *
 * A region is one module handle, pinned writable and long-term
 * (FOLL_WRITE | FOLL_LONGTERM, as ib_umem_get()).  Device writes are the
 * module's: immediate ones land before the ioctl returns, delayed ones land
 * later from its workqueue.  UNPIN lets queued writes land first.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "pin-backend.h"
#include "pinfs_dma_abi.h"

#define KMOD_FD(be) GPOINTER_TO_INT((be)->priv)
#define KMOD_HANDLE(r) GPOINTER_TO_UINT((r)->priv)

static gboolean kmod_open(struct pin_backend *be, const char *arg, GError **err)
{
	int fd;

	(void)arg;
	fd = open(PINFS_DMA_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENXIO || errno == ENODEV)
			g_set_error(err, PIN_ERROR, PIN_ERROR_UNAVAILABLE,
				    "no %s: the pinfs_dma module is not loaded "
				    "(insmod kernel/pinfs_dma.ko; it needs a kernel with "
				    "module support)",
				    PINFS_DMA_DEVICE);
		else
			pin_set_errno(err, PIN_ERROR_UNAVAILABLE, errno, "open %s",
				      PINFS_DMA_DEVICE);
		return FALSE;
	}
	be->priv = GINT_TO_POINTER(fd);
	be->describe =
	    g_strdup_printf("kmod (%s, pin_user_pages FOLL_LONGTERM)", PINFS_DMA_DEVICE);
	return TRUE;
}

static void kmod_close(struct pin_backend *be)
{
	close(KMOD_FD(be));
}

static gboolean kmod_pin(struct pin_region *r, GError **err)
{
	struct pinfs_dma_pin p = {
	    .size = sizeof(p),
	    .flags = PINFS_DMA_PIN_WRITE | PINFS_DMA_PIN_LONGTERM,
	    .addr = (uintptr_t)r->addr,
	    .len = r->len,
	};

	if (ioctl(KMOD_FD(r->be), PINFS_DMA_IOC_PIN, &p) < 0) {
		pin_set_errno(err,
			      errno == EFAULT || errno == ENOMEM ? PIN_ERROR_REFUSED
								 : PIN_ERROR_FAILED,
			      errno, "PINFS_DMA_IOC_PIN of %zu bytes%s", r->len,
			      errno == EFAULT
				  ? " (Linux >= 6.5 refuses long-term pins of "
				    "MAP_SHARED file mappings on FUSE, ext4, ...)"
				  : "");
		return FALSE;
	}
	r->priv = GUINT_TO_POINTER(p.handle);
	return TRUE;
}

static gboolean kmod_unpin(struct pin_region *r, GError **err)
{
	struct pinfs_dma_unpin u = {.size = sizeof(u), .handle = KMOD_HANDLE(r)};

	if (ioctl(KMOD_FD(r->be), PINFS_DMA_IOC_UNPIN, &u) < 0) {
		pin_set_errno(err, PIN_ERROR_FAILED, errno, "PINFS_DMA_IOC_UNPIN");
		return FALSE;
	}
	return TRUE;
}

static gboolean kmod_write(struct pin_region *r, size_t off, size_t len, uint8_t byte,
			   unsigned delay_ms, GError **err)
{
	struct pinfs_dma_write w = {
	    .size = sizeof(w),
	    .handle = KMOD_HANDLE(r),
	    .offset = off,
	    .len = len,
	    .mode = PINFS_DMA_MODE_FILL,
	    .seed = byte,
	    .delay_ms = delay_ms,
	};

	if (ioctl(KMOD_FD(r->be), PINFS_DMA_IOC_WRITE, &w) < 0) {
		pin_set_errno(err, PIN_ERROR_FAILED, errno, "PINFS_DMA_IOC_WRITE");
		return FALSE;
	}
	return TRUE;
}

static gboolean kmod_info(struct pin_region *r, struct pinfs_dma_info *info, GError **err)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	info->handle = KMOD_HANDLE(r);
	if (ioctl(KMOD_FD(r->be), PINFS_DMA_IOC_INFO, info) < 0) {
		pin_set_errno(err, PIN_ERROR_FAILED, errno, "PINFS_DMA_IOC_INFO");
		return FALSE;
	}
	return TRUE;
}

/* The module has no "wait" ioctl: poll the handle's pending count. */
static gboolean kmod_wait(struct pin_region *r, GError **err)
{
	struct pinfs_dma_info info;

	for (;;) {
		if (!kmod_info(r, &info, err))
			return FALSE;
		if (info.writes_pending == 0)
			return TRUE;
		g_usleep(1000);
	}
}

static void kmod_counts(struct pin_region *r, uint64_t *done, uint64_t *pending)
{
	struct pinfs_dma_info info;

	if (!kmod_info(r, &info, NULL)) {
		*done = *pending = 0;
		return;
	}
	*done = info.writes_done;
	*pending = info.writes_pending;
}

/* Read back through the module's kernel mappings, as the device sees it. */
static gboolean kmod_verify(struct pin_region *r, size_t off, size_t len, uint8_t byte,
			    uint64_t *mismatches, int64_t *first_bad, GError **err)
{
	struct pinfs_dma_read rd = {
	    .size = sizeof(rd),
	    .handle = KMOD_HANDLE(r),
	    .offset = off,
	    .len = len,
	    .flags = PINFS_DMA_READ_COMPARE,
	    .mode = PINFS_DMA_MODE_FILL,
	    .seed = byte,
	};

	if (ioctl(KMOD_FD(r->be), PINFS_DMA_IOC_READ, &rd) < 0) {
		pin_set_errno(err, PIN_ERROR_FAILED, errno, "PINFS_DMA_IOC_READ");
		return FALSE;
	}
	*mismatches = rd.mismatches;
	*first_bad = rd.first_mismatch == ~0ULL ? -1 : (int64_t)rd.first_mismatch;
	return TRUE;
}

const struct pin_ops pin_kmod_ops = {
    .name = "kmod",
    .is_dma = TRUE,
    .native_delay = TRUE,
    .open = kmod_open,
    .close = kmod_close,
    .pin = kmod_pin,
    .unpin = kmod_unpin,
    .write = kmod_write,
    .wait = kmod_wait,
    .counts = kmod_counts,
    .verify = kmod_verify,
};
