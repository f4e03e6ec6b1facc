// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pin-iouring.c - the iouring backend: io_uring registered buffers.
 *
 * io_uring_register_buffers() pins the range long-term (FOLL_LONGTERM),
 * like RDMA does.  The "device write" is an IORING_OP_READ_FIXED from a
 * memfd holding the pattern into the registered buffer: the kernel copies
 * into the pinned pages, not through the process's page tables.
 *
 * So no kernel lets it pin a pinfs (FUSE) or ext4 mapping, for two reasons
 * in turn, and the error says which:
 * - up to Linux 6.4, io_uring itself refuses file-backed buffers other than
 *   tmpfs/shmem and hugetlbfs: EOPNOTSUPP (checked on Debian's 6.1);
 * - since about 6.5, GUP refuses writable long-term pins of MAP_SHARED
 *   mappings of files whose pages are tracked for writeback (ext4, FUSE,
 *   ...): EFAULT (checked on 6.18).
 * tmpfs and anonymous memory work on both.
 *
 * One ring per region: a ring has one table of registered buffers.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pin-backend.h"

#ifdef HAVE_LIBURING
#include <liburing.h>

#define IOU_CHUNK (1u << 20) /* bytes per READ_FIXED */

struct iou_region {
	struct io_uring ring;
	int memfd;    /* IOU_CHUNK bytes, filled with the current pattern */
	int pattern;  /* the byte in memfd, -1 before the first write */
	size_t chunk; /* bytes of memfd in use */
};

static gboolean iou_open(struct pin_backend *be, const char *arg, GError **err)
{
	struct io_uring ring;
	int ret;

	(void)arg;
	/* Probe: io_uring may be compiled out or disabled (io_uring_disabled). */
	ret = io_uring_queue_init(4, &ring, 0);
	if (ret < 0) {
		pin_set_errno(err, PIN_ERROR_UNAVAILABLE, -ret,
			      "io_uring_queue_init (io_uring not built into this kernel, "
			      "or disabled by /proc/sys/kernel/io_uring_disabled)");
		return FALSE;
	}
	io_uring_queue_exit(&ring);
	be->describe = g_strdup("iouring (io_uring_register_buffers, READ_FIXED writes)");
	return TRUE;
}

static void iou_close(struct pin_backend *be)
{
	(void)be;
}

static gboolean iou_pin(struct pin_region *r, GError **err)
{
	struct iou_region *ir = g_new0(struct iou_region, 1);
	struct iovec iov = {.iov_base = r->addr, .iov_len = r->len};
	int ret;

	ir->memfd = -1;
	ir->pattern = -1;
	ir->chunk = MIN(r->len, IOU_CHUNK);
	ret = io_uring_queue_init(4, &ir->ring, 0);
	if (ret < 0) {
		pin_set_errno(err, PIN_ERROR_FAILED, -ret, "io_uring_queue_init");
		goto fail_free;
	}
	ret = io_uring_register_buffers(&ir->ring, &iov, 1);
	if (ret == -EFAULT) {
		g_set_error(
		    err, PIN_ERROR, PIN_ERROR_REFUSED,
		    "io_uring_register_buffers: Bad address (EFAULT): the kernel "
		    "refuses a writable long-term pin (FOLL_LONGTERM) of this "
		    "memory.  Since Linux ~6.5 that is what happens to every "
		    "MAP_SHARED mapping of a file on a file system that tracks dirty "
		    "pages (FUSE, and so pinfs; ext4; xfs ...); tmpfs and anonymous "
		    "memory still work, and Linux 6.1 accepts all of them");
		goto fail_ring;
	}
	if (ret == -EOPNOTSUPP) {
		g_set_error(
		    err, PIN_ERROR, PIN_ERROR_REFUSED,
		    "io_uring_register_buffers: Operation not supported (EOPNOTSUPP): "
		    "io_uring (before Linux ~6.5) refuses buffers backed by a file "
		    "other than tmpfs/shmem or hugetlbfs, so a MAP_SHARED mapping of "
		    "a FUSE (pinfs) or ext4 file cannot be registered; from 6.5 on "
		    "the same mapping fails with EFAULT instead");
		goto fail_ring;
	}
	if (ret < 0) {
		pin_set_errno(err, ret == -ENOMEM ? PIN_ERROR_REFUSED : PIN_ERROR_FAILED,
			      -ret, "io_uring_register_buffers of %zu bytes%s", r->len,
			      ret == -ENOMEM ? " (RLIMIT_MEMLOCK?)" : "");
		goto fail_ring;
	}
	ir->memfd = memfd_create("pinfs-pin-pattern", MFD_CLOEXEC);
	if (ir->memfd < 0 || ftruncate(ir->memfd, ir->chunk) < 0) {
		pin_set_errno(err, PIN_ERROR_FAILED, errno, "pattern memfd");
		goto fail_unreg;
	}
	r->priv = ir;
	return TRUE;

fail_unreg:
	if (ir->memfd >= 0)
		close(ir->memfd);
	io_uring_unregister_buffers(&ir->ring);
fail_ring:
	io_uring_queue_exit(&ir->ring);
fail_free:
	g_free(ir);
	return FALSE;
}

static gboolean iou_unpin(struct pin_region *r, GError **err)
{
	struct iou_region *ir = r->priv;
	int ret = io_uring_unregister_buffers(&ir->ring);

	close(ir->memfd);
	io_uring_queue_exit(&ir->ring);
	g_free(ir);
	if (ret < 0) {
		pin_set_errno(err, PIN_ERROR_FAILED, -ret, "io_uring_unregister_buffers");
		return FALSE;
	}
	return TRUE;
}

/* Make the memfd hold ir->chunk bytes of 'byte'. */
static gboolean set_pattern(struct iou_region *ir, uint8_t byte, GError **err)
{
	g_autofree uint8_t *buf = NULL;

	if (ir->pattern == byte)
		return TRUE;
	buf = g_malloc(ir->chunk);
	memset(buf, byte, ir->chunk);
	if (pwrite(ir->memfd, buf, ir->chunk, 0) != (ssize_t)ir->chunk) {
		pin_set_errno(err, PIN_ERROR_FAILED, errno, "pwrite pattern memfd");
		return FALSE;
	}
	ir->pattern = byte;
	return TRUE;
}

/* Runs on the region's worker thread: one READ_FIXED per chunk. */
static gboolean iou_write(struct pin_region *r, size_t off, size_t len, uint8_t byte,
			  unsigned delay_ms, GError **err)
{
	struct iou_region *ir = r->priv;

	(void)delay_ms;
	if (!set_pattern(ir, byte, err))
		return FALSE;
	while (len) {
		unsigned n = MIN(len, ir->chunk);
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ir->ring);
		struct io_uring_cqe *cqe;
		int ret;

		io_uring_prep_read_fixed(sqe, ir->memfd, r->addr + off, n, 0, 0);
		ret = io_uring_submit_and_wait(&ir->ring, 1);
		if (ret >= 0)
			ret = io_uring_wait_cqe(&ir->ring, &cqe);
		if (ret < 0) {
			pin_set_errno(err, PIN_ERROR_FAILED, -ret, "io_uring submit");
			return FALSE;
		}
		ret = cqe->res;
		io_uring_cqe_seen(&ir->ring, cqe);
		if (ret < 0) {
			pin_set_errno(err, PIN_ERROR_FAILED, -ret, "READ_FIXED");
			return FALSE;
		}
		if ((unsigned)ret != n) {
			g_set_error(err, PIN_ERROR, PIN_ERROR_FAILED,
				    "READ_FIXED: short read %d of %u", ret, n);
			return FALSE;
		}
		off += n;
		len -= n;
	}
	return TRUE;
}

#else /* !HAVE_LIBURING */

static gboolean iou_open(struct pin_backend *be, const char *arg, GError **err)
{
	(void)be;
	(void)arg;
	g_set_error(err, PIN_ERROR, PIN_ERROR_UNAVAILABLE,
		    "not built in: liburing was not found at build time (liburing-dev)");
	return FALSE;
}

static void iou_close(struct pin_backend *be)
{
	(void)be;
}

static gboolean iou_pin(struct pin_region *r, GError **err)
{
	(void)r;
	(void)err;
	return FALSE;
}

#define iou_unpin iou_pin

static gboolean iou_write(struct pin_region *r, size_t off, size_t len, uint8_t byte,
			  unsigned delay_ms, GError **err)
{
	(void)r, (void)off, (void)len, (void)byte, (void)delay_ms, (void)err;
	return FALSE;
}
#endif

const struct pin_ops pin_iouring_ops = {
    .name = "iouring",
    .is_dma = TRUE,
    .open = iou_open,
    .close = iou_close,
    .pin = iou_pin,
    .unpin = iou_unpin,
    .write = iou_write,
};
