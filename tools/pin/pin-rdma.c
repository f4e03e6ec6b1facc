// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pin-rdma.c - the rdma backend: rdma-core verbs.
 *
 * Opening the backend opens the first RDMA device (or the one named in
 * "rdma:DEVICE"), takes its first active port and, on RoCE, the first
 * non-zero GID of that port, and connects two RC queue pairs of that port
 * to each other: a loopback connection.  A region is a memory region
 * (ibv_reg_mr(), LOCAL_WRITE | REMOTE_WRITE | REMOTE_READ) on the range;
 * that is the pin.  A "device write" is an RDMA WRITE posted on the first
 * QP, from a separate registered anonymous buffer holding the pattern, to
 * the region through the second QP: the HCA (or soft-RoCE, rdma_rxe) writes
 * into the pinned pages.  ibv_dereg_mr() is the unpin.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "pin-backend.h"

#ifdef HAVE_IBVERBS
#include <infiniband/verbs.h>

#define RDMA_CHUNK (1u << 20) /* bytes per RDMA WRITE */
#define RDMA_TIMEOUT_US (10 * G_USEC_PER_SEC)

struct rdma_be {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp[2]; /* qp[0] sends, qp[1] is the target */
	uint8_t port;
	int gid_index; /* -1: InfiniBand without a GRH */
	union ibv_gid gid;
	uint16_t lid;
	enum ibv_mtu mtu;
	/* The source of device writes; lock serialises writes of all regions
	 * (they share qp[0], the CQ and this buffer). */
	GMutex lock;
	uint8_t *src;
	struct ibv_mr *src_mr;
};

static void rdma_teardown(struct rdma_be *rb)
{
	if (rb->src_mr)
		ibv_dereg_mr(rb->src_mr);
	if (rb->src)
		munmap(rb->src, RDMA_CHUNK);
	for (int i = 0; i < 2; i++)
		if (rb->qp[i])
			ibv_destroy_qp(rb->qp[i]);
	if (rb->cq)
		ibv_destroy_cq(rb->cq);
	if (rb->pd)
		ibv_dealloc_pd(rb->pd);
	if (rb->ctx)
		ibv_close_device(rb->ctx);
	g_mutex_clear(&rb->lock);
	g_free(rb);
}

/* The first active port; on RoCE its first non-zero GID. */
static gboolean pick_port(struct rdma_be *rb, GError **err)
{
	struct ibv_device_attr da;
	int ret = ibv_query_device(rb->ctx, &da);

	if (ret) {
		pin_set_errno(err, PIN_ERROR_FAILED, ret, "ibv_query_device");
		return FALSE;
	}
	for (uint8_t p = 1; p <= da.phys_port_cnt; p++) {
		struct ibv_port_attr pa;

		if (ibv_query_port(rb->ctx, p, &pa) || pa.state != IBV_PORT_ACTIVE)
			continue;
		rb->port = p;
		rb->lid = pa.lid;
		rb->mtu = pa.active_mtu;
		rb->gid_index = -1;
		if (pa.link_layer != IBV_LINK_LAYER_ETHERNET)
			return TRUE;
		for (int i = 0; i < pa.gid_tbl_len; i++) {
			union ibv_gid g;
			static const union ibv_gid zero;

			if (ibv_query_gid(rb->ctx, p, i, &g) ||
			    !memcmp(&g, &zero, sizeof(g)))
				continue;
			rb->gid_index = i;
			rb->gid = g;
			return TRUE;
		}
		g_set_error(err, PIN_ERROR, PIN_ERROR_UNAVAILABLE,
			    "%s port %u: RoCE port without a GID (is the netdev up?)",
			    ibv_get_device_name(rb->ctx->device), p);
		return FALSE;
	}
	g_set_error(err, PIN_ERROR, PIN_ERROR_UNAVAILABLE,
		    "%s: no active port (for soft-RoCE: ip link set NETDEV up)",
		    ibv_get_device_name(rb->ctx->device));
	return FALSE;
}

/* RESET -> INIT -> RTR -> RTS, connected to the QP numbered 'dest'. */
static int connect_qp(struct rdma_be *rb, struct ibv_qp *qp, uint32_t dest)
{
	struct ibv_qp_attr a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = rb->port;
	a.qp_access_flags =
	    IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	ret = ibv_modify_qp(
	    qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
	if (ret)
		return ret;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = rb->mtu;
	a.dest_qp_num = dest;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 12;
	a.ah_attr.dlid = rb->lid;
	a.ah_attr.port_num = rb->port;
	if (rb->gid_index >= 0) {
		a.ah_attr.is_global = 1;
		a.ah_attr.grh.dgid = rb->gid;
		a.ah_attr.grh.sgid_index = rb->gid_index;
		a.ah_attr.grh.hop_limit = 64;
	}
	ret = ibv_modify_qp(qp, &a,
			    IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
				IBV_QP_MIN_RNR_TIMER);
	if (ret)
		return ret;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 1;
	return ibv_modify_qp(qp, &a,
			     IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				 IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
				 IBV_QP_MAX_QP_RD_ATOMIC);
}

static gboolean rdma_open(struct pin_backend *be, const char *arg, GError **err)
{
	struct rdma_be *rb = g_new0(struct rdma_be, 1);
	struct ibv_device **list;
	struct ibv_device *dev = NULL;
	int n = 0, ret;

	g_mutex_init(&rb->lock);
	list = ibv_get_device_list(&n);
	if (!list || n == 0) {
		g_set_error(err, PIN_ERROR, PIN_ERROR_UNAVAILABLE,
			    "no RDMA device found%s%s (for soft-RoCE: modprobe rdma_rxe "
			    "ib_uverbs; rdma link add rxe0 type rxe netdev NETDEV)",
			    list ? "" : ": ", list ? "" : g_strerror(errno));
		goto fail;
	}
	for (int i = 0; i < n && !dev; i++)
		if (!arg || !strcmp(ibv_get_device_name(list[i]), arg))
			dev = list[i];
	if (!dev) {
		g_set_error(err, PIN_ERROR, PIN_ERROR_UNAVAILABLE,
			    "no RDMA device named \"%s\"", arg);
		goto fail;
	}
	rb->ctx = ibv_open_device(dev);
	if (!rb->ctx) {
		pin_set_errno(err, PIN_ERROR_UNAVAILABLE, errno, "ibv_open_device %s",
			      ibv_get_device_name(dev));
		goto fail;
	}
	if (!pick_port(rb, err))
		goto fail;
	rb->pd = ibv_alloc_pd(rb->ctx);
	rb->cq = rb->pd ? ibv_create_cq(rb->ctx, 16, NULL, NULL, 0) : NULL;
	if (!rb->cq) {
		pin_set_errno(err, PIN_ERROR_FAILED, errno, "ibv_alloc_pd/ibv_create_cq");
		goto fail;
	}
	for (int i = 0; i < 2; i++) {
		struct ibv_qp_init_attr qa = {
		    .send_cq = rb->cq,
		    .recv_cq = rb->cq,
		    .cap = {.max_send_wr = 16,
			    .max_recv_wr = 1,
			    .max_send_sge = 1,
			    .max_recv_sge = 1},
		    .qp_type = IBV_QPT_RC,
		    .sq_sig_all = 1,
		};

		rb->qp[i] = ibv_create_qp(rb->pd, &qa);
		if (!rb->qp[i]) {
			pin_set_errno(err, PIN_ERROR_FAILED, errno, "ibv_create_qp");
			goto fail;
		}
	}
	ret = connect_qp(rb, rb->qp[0], rb->qp[1]->qp_num);
	if (!ret)
		ret = connect_qp(rb, rb->qp[1], rb->qp[0]->qp_num);
	if (ret) {
		pin_set_errno(err, PIN_ERROR_FAILED, ret, "ibv_modify_qp (loopback RC)");
		goto fail;
	}
	rb->src = mmap(NULL, RDMA_CHUNK, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rb->src == MAP_FAILED) {
		rb->src = NULL;
		pin_set_errno(err, PIN_ERROR_FAILED, errno, "mmap source buffer");
		goto fail;
	}
	rb->src_mr = ibv_reg_mr(rb->pd, rb->src, RDMA_CHUNK, IBV_ACCESS_LOCAL_WRITE);
	if (!rb->src_mr) {
		pin_set_errno(err, PIN_ERROR_FAILED, errno, "ibv_reg_mr (source buffer)");
		goto fail;
	}
	be->priv = rb;
	be->describe = g_strdup_printf(
	    "rdma (%s port %u, %s %d, loopback RC qpn %u -> %u)",
	    ibv_get_device_name(dev), rb->port, rb->gid_index >= 0 ? "gid index" : "lid",
	    rb->gid_index >= 0 ? rb->gid_index : rb->lid, rb->qp[0]->qp_num,
	    rb->qp[1]->qp_num);
	ibv_free_device_list(list);
	return TRUE;

fail:
	if (list)
		ibv_free_device_list(list);
	rdma_teardown(rb);
	return FALSE;
}

static void rdma_close(struct pin_backend *be)
{
	rdma_teardown(be->priv);
}

static gboolean rdma_pin(struct pin_region *r, GError **err)
{
	struct rdma_be *rb = r->be->priv;
	struct ibv_mr *mr = ibv_reg_mr(rb->pd, r->addr, r->len,
				       IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
					   IBV_ACCESS_REMOTE_READ);

	if (!mr) {
		int e = errno;

		pin_set_errno(err,
			      e == EFAULT || e == ENOMEM ? PIN_ERROR_REFUSED
							 : PIN_ERROR_FAILED,
			      e, "ibv_reg_mr of %zu bytes%s", r->len,
			      e == EFAULT   ? " (Linux >= 6.5 refuses long-term pins of "
					      "MAP_SHARED file mappings on FUSE, ext4, ...)"
			      : e == ENOMEM ? " (RLIMIT_MEMLOCK?)"
					    : "");
		return FALSE;
	}
	r->priv = mr;
	return TRUE;
}

static gboolean rdma_unpin(struct pin_region *r, GError **err)
{
	int ret = ibv_dereg_mr(r->priv);

	if (ret) {
		pin_set_errno(err, PIN_ERROR_FAILED, ret, "ibv_dereg_mr");
		return FALSE;
	}
	return TRUE;
}

/* Post one RDMA WRITE and wait for its completion. */
static gboolean write_chunk(struct rdma_be *rb, struct ibv_mr *mr, uint8_t *dst,
			    unsigned n, GError **err)
{
	struct ibv_sge sge = {
	    .addr = (uintptr_t)rb->src, .length = n, .lkey = rb->src_mr->lkey};
	struct ibv_send_wr wr = {
	    .wr_id = 1,
	    .sg_list = &sge,
	    .num_sge = 1,
	    .opcode = IBV_WR_RDMA_WRITE,
	    .send_flags = IBV_SEND_SIGNALED,
	    .wr.rdma = {.remote_addr = (uintptr_t)dst, .rkey = mr->rkey},
	};
	struct ibv_send_wr *bad;
	struct ibv_wc wc;
	gint64 end = g_get_monotonic_time() + RDMA_TIMEOUT_US;
	int ret = ibv_post_send(rb->qp[0], &wr, &bad);

	if (ret) {
		pin_set_errno(err, PIN_ERROR_FAILED, ret, "ibv_post_send RDMA WRITE");
		return FALSE;
	}
	while ((ret = ibv_poll_cq(rb->cq, 1, &wc)) == 0) {
		if (g_get_monotonic_time() > end) {
			g_set_error(err, PIN_ERROR, PIN_ERROR_FAILED,
				    "RDMA WRITE: no completion in %d s",
				    (int)(RDMA_TIMEOUT_US / G_USEC_PER_SEC));
			return FALSE;
		}
		g_usleep(50);
	}
	if (ret < 0) {
		g_set_error(err, PIN_ERROR, PIN_ERROR_FAILED, "ibv_poll_cq failed");
		return FALSE;
	}
	if (wc.status != IBV_WC_SUCCESS) {
		g_set_error(err, PIN_ERROR, PIN_ERROR_FAILED, "RDMA WRITE completion: %s",
			    ibv_wc_status_str(wc.status));
		return FALSE;
	}
	return TRUE;
}

static gboolean rdma_write(struct pin_region *r, size_t off, size_t len, uint8_t byte,
			   unsigned delay_ms, GError **err)
{
	struct rdma_be *rb = r->be->priv;
	gboolean ok = TRUE;

	(void)delay_ms;
	g_mutex_lock(&rb->lock);
	memset(rb->src, byte, MIN(len, RDMA_CHUNK));
	while (ok && len) {
		unsigned n = MIN(len, RDMA_CHUNK);

		ok = write_chunk(rb, r->priv, r->addr + off, n, err);
		off += n;
		len -= n;
	}
	g_mutex_unlock(&rb->lock);
	return ok;
}

#else /* !HAVE_IBVERBS */

static gboolean rdma_open(struct pin_backend *be, const char *arg, GError **err)
{
	(void)be;
	(void)arg;
	g_set_error(err, PIN_ERROR, PIN_ERROR_UNAVAILABLE,
		    "not built in: libibverbs was not found at build time "
		    "(libibverbs-dev)");
	return FALSE;
}

static void rdma_close(struct pin_backend *be)
{
	(void)be;
}

static gboolean rdma_pin(struct pin_region *r, GError **err)
{
	(void)r;
	(void)err;
	return FALSE;
}

#define rdma_unpin rdma_pin

static gboolean rdma_write(struct pin_region *r, size_t off, size_t len, uint8_t byte,
			   unsigned delay_ms, GError **err)
{
	(void)r, (void)off, (void)len, (void)byte, (void)delay_ms, (void)err;
	return FALSE;
}
#endif

const struct pin_ops pin_rdma_ops = {
    .name = "rdma",
    .is_dma = TRUE,
    .open = rdma_open,
    .close = rdma_close,
    .pin = rdma_pin,
    .unpin = rdma_unpin,
    .write = rdma_write,
};
