// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * window.c - staging windows (docs/dma.md, "Staging windows").
 *
 * Since Linux 6.5 the kernel refuses long-term writable pins (ibv_reg_mr,
 * io_uring fixed buffers) of shared mappings of files that track dirty
 * pages, FUSE files included; shmem is exempt.  A lease holder may
 * therefore ask for a window: a memfd that holds [off, off+len) of the
 * file, filled from the backing file, handed over with SCM_RIGHTS.  The
 * daemon keeps its own reference and mapping of the memfd, so that what a
 * device wrote into it survives the holder, and writes it back to the
 * backing file:
 *
 *   - on PINFS_IOC_WINDOW_SYNC (msync, fsync through the preload shim) and
 *     PINFS_IOC_WINDOW_UNMAP;
 *   - when the holder releases its lease (window_lease_ended), closes its
 *     file or dies (window_file_closed);
 *   - before any layout change of the range is carried out, lease revoked
 *     after break_time or not (window_before_change).
 *
 * Only pages that changed since the last write-back are written: each
 * page's checksum at the last sync is kept (sums), and a page whose
 * checksum differs now is written.  The checksum is taken before the page
 * is copied, so a page a device changes meanwhile is written again next
 * time, never skipped.
 *
 * A file in FUSE passthrough mode (passthrough.c) gets a window only if
 * every open file of it that the kernel serves without the daemon is the
 * holder's (passthrough_ok); those keep reading and writing the backing
 * file, and every mapping maps it (docs/dma.md).  Opens made while the
 * window exists are direct I/O as on any file, so they reach the daemon.
 *
 * Once written back for a lease that ended or a change that cut the range,
 * a window is detached: the daemon drops its memory and later syncs fail
 * with ENOLCK, since the file no longer matches the window's range.
 *
 * Locking: windows.lock protects the list and every field of every window;
 * write-back runs under it (a holder's sync and a change's write-back of the
 * same window must not interleave).  inode->windows counts the attached
 * windows of an inode; it changes under windows.lock and is read without it
 * by the I/O hooks, so a file that never had a window pays one atomic load.
 * Lock order: an inode's layout_lock (held by window_before_change's
 * caller) -> windows.lock; nothing is called with windows.lock held that
 * takes another daemon lock except inode_hold/inode_forget (inode_lock) and
 * passthrough_window_check (passthrough.lock).
 */
#ifndef G_LOG_DOMAIN
#define G_LOG_DOMAIN "pinfs"
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "jsonmember.h"
#include "passthrough.h"
#include "pinfs_abi.h"
#include "window.h"

#define WIN_PAGE 4096u

struct window {
	uint64_t id;
	struct pinfs_inode *inode; /* held (inode_hold) until freed */
	uint64_t fh;		   /* the holder's open file */
	pid_t pid;		   /* the holder process, charged for memlock */
	uid_t uid;		   /* charged against user_pins */
	uint64_t off, len;	   /* file range; len a multiple of WIN_PAGE */
	bool attached;		   /* else detached: nothing below is set */
	int memfd;
	int wfd;	    /* the backing file, O_RDWR, for write-back */
	unsigned char *map; /* the daemon's own mapping of memfd */
	uint64_t *sums;	    /* per page: checksum at the last write-back */
	uint64_t written;   /* bytes written back so far */
};

struct windows {
	struct pinfs *fs;
	enum window_mode mode;
	bool kernel_refuses;
	GMutex lock; /* everything below, and every struct window */
	GList *list; /* struct window */
	/* Windows on list, read without the lock by window_file_closed so
	 * that closing a file pays no lock while there is no window. */
	atomic_int nlisted;
	uint64_t next_id;
	/* Drops pages of staged ranges that reads put in the kernel's page
	 * cache (a MAP_PRIVATE fault), after the read's reply: see
	 * window_read.  One thread; jobs are struct inval. */
	GThreadPool *inval;
};

struct inval {
	uint64_t ino;
	off_t off, len;
};

bool window_kernel_refuses_pins(void)
{
	struct utsname u;
	unsigned major = 0, minor = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return true; /* unknown: a window is always safe */
	return major > 6 || (major == 6 && minor >= 5);
}

static void inval_job(gpointer data, gpointer user_data)
{
	struct windows *w = user_data;
	struct inval *iv = data;

	if (w->fs->se)
		fuse_lowlevel_notify_inval_inode(w->fs->se, iv->ino, iv->off, iv->len);
	g_free(iv);
}

struct windows *windows_new(struct pinfs *fs, enum window_mode mode)
{
	struct windows *w = g_new0(struct windows, 1);

	w->fs = fs;
	w->mode = mode;
	w->kernel_refuses = window_kernel_refuses_pins();
	w->next_id = 1;
	g_mutex_init(&w->lock);
	w->inval = g_thread_pool_new(inval_job, w, 1, FALSE, NULL);
	return w;
}

bool window_enabled(struct windows *w)
{
	return w && w->mode != WINDOW_NEVER;
}

bool window_is_ioctl(unsigned int cmd)
{
	return cmd == PINFS_IOC_WINDOW_MAP || cmd == PINFS_IOC_WINDOW_SYNC ||
	       cmd == PINFS_IOC_WINDOW_UNMAP;
}

static uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* A 64-bit checksum of one page, four independent lanes so that it runs
 * at memory speed; only compared with itself. */
static uint64_t page_sum(const unsigned char *p, size_t n)
{
	const uint64_t k = 0x9E3779B97F4A7C15ull;
	uint64_t a = 1, b = 2, c = 3, d = 4, x[4];
	size_t i;

	for (i = 0; i + 32 <= n; i += 32) {
		memcpy(x, p + i, 32);
		a = rotl(a ^ (x[0] * k), 31) * k;
		b = rotl(b ^ (x[1] * k), 31) * k;
		c = rotl(c ^ (x[2] * k), 31) * k;
		d = rotl(d ^ (x[3] * k), 31) * k;
	}
	for (; i < n; i++)
		a = rotl(a ^ p[i], 7) * k;
	return rotl(a, 1) ^ rotl(b, 7) ^ rotl(c, 12) ^ rotl(d, 18);
}

static uint64_t npages(const struct window *win)
{
	return win->len / WIN_PAGE;
}

/*
 * Write the pages of win that changed since the last write-back to the
 * backing file, clipped to the file's size (a window never changes the
 * size).  Returns the bytes written, or -errno.  Called with w->lock.
 */
static int64_t window_writeback(struct window *win)
{
	uint64_t i, n = npages(win), total = 0;
	struct stat st;

	if (!win->attached)
		return 0;
	if (fstat(win->wfd, &st) < 0)
		return -errno;
	for (i = 0; i < n;) {
		uint64_t j = i, first, end;
		const unsigned char *src;

		if (page_sum(win->map + i * WIN_PAGE, WIN_PAGE) == win->sums[i]) {
			i++;
			continue;
		}
		/* A run of changed pages, written with one pwrite. */
		while (j < n) {
			uint64_t s = page_sum(win->map + j * WIN_PAGE, WIN_PAGE);

			if (j > i && s == win->sums[j])
				break;
			win->sums[j] = s;
			j++;
		}
		first = win->off + i * WIN_PAGE;
		end = MIN(win->off + j * WIN_PAGE, (uint64_t)st.st_size);
		src = win->map + i * WIN_PAGE;
		while (first < end) {
			ssize_t r = pwrite(win->wfd, src, end - first, (off_t)first);

			if (r < 0) {
				if (errno == EINTR)
					continue;
				/* Not written: make the run dirty again. */
				for (uint64_t k = i; k < j; k++)
					win->sums[k] ^= 1;
				return -errno;
			}
			first += (uint64_t)r;
			src += r;
			total += (uint64_t)r;
		}
		i = j;
	}
	win->written += total;
	return (int64_t)total;
}

/* Bytes of win that differ from what was last written back (whole
 * pages).  Called with w->lock. */
static uint64_t window_unsynced(const struct window *win)
{
	uint64_t i, dirty = 0;

	if (!win->attached)
		return 0;
	for (i = 0; i < npages(win); i++)
		if (page_sum(win->map + i * WIN_PAGE, WIN_PAGE) != win->sums[i])
			dirty += WIN_PAGE;
	return dirty;
}

/* Drop the daemon's side of win (after its last write-back).  Called with
 * w->lock. */
static void window_detach(struct windows *w, struct window *win)
{
	if (!win->attached)
		return;
	win->attached = false;
	atomic_fetch_sub(&win->inode->windows, 1);
	munmap(win->map, win->len);
	close(win->memfd);
	close(win->wfd);
	g_free(win->sums);
	win->map = NULL;
	win->sums = NULL;
	win->memfd = win->wfd = -1;
	inode_forget(w->fs, win->inode, 1);
}

/* Write back, detach, and say so in the log if the write-back failed (the
 * bytes are then lost: the backing file refused them).  w->lock held. */
static void window_finish(struct windows *w, struct window *win, const char *why)
{
	int64_t r;

	if (!win->attached)
		return;
	r = window_writeback(win);
	if (r < 0)
		g_warning("window %" PRIu64 ": write-back on %s failed: %s", win->id, why,
			  g_strerror((int)-r));
	window_detach(w, win);
}

void windows_free(struct windows *w)
{
	if (!w)
		return;
	g_thread_pool_free(w->inval, TRUE, TRUE);
	g_mutex_lock(&w->lock);
	for (GList *l = w->list; l; l = l->next) {
		window_finish(w, l->data, "unmount");
		g_free(l->data);
	}
	g_list_free(w->list);
	g_mutex_unlock(&w->lock);
	g_mutex_clear(&w->lock);
	g_free(w);
}

/* ---- limits ---- */

/* The soft RLIMIT_MEMLOCK of pid, from /proc (readable whoever we run
 * as); UINT64_MAX for unlimited or unknown. */
static uint64_t memlock_limit(pid_t pid)
{
	char path[64], line[256];
	uint64_t lim = UINT64_MAX;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return lim;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (strncmp(line, "Max locked memory", 17))
			continue;
		if (sscanf(line + 17, " %llu", &v) == 1)
			lim = v;
		break;
	}
	fclose(f);
	return lim;
}

/* Has pid CAP_IPC_LOCK in its effective set (then, as for mlock and
 * ibv_reg_mr, RLIMIT_MEMLOCK does not bind it)? */
static bool has_ipc_lock(pid_t pid)
{
	char path[64], line[256];
	unsigned long long caps = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return caps & (1ull << 14); /* CAP_IPC_LOCK */
}

/*
 * May pid (uid) have one more window of len bytes?  0, ENOMEM over its
 * RLIMIT_MEMLOCK (with the bytes its other windows hold), EDQUOT over the
 * user_pins quota (windows count as pins).  Called with w->lock.
 */
static int window_charge_ok(struct windows *w, pid_t pid, uid_t uid, uint64_t len)
{
	uint64_t bytes = 0, count = 0, lim;
	struct lt_user_usage u;

	for (GList *l = w->list; l; l = l->next) {
		struct window *o = l->data;

		if (!o->attached)
			continue;
		if (o->pid == pid)
			bytes += o->len;
		if (o->uid == uid)
			count++;
	}
	lim = memlock_limit(pid);
	if (lim != UINT64_MAX && bytes + len > lim && !has_ipc_lock(pid))
		return ENOMEM;
	if (uid != 0 && w->fs->cfg.user_pins) {
		lt_user_usage(w->fs->leases, uid, &u);
		if (u.pins + count >= w->fs->cfg.user_pins)
			return EDQUOT;
	}
	return 0;
}

/* ---- handing the memfd over ---- */

/*
 * Connect to the caller's abstract socket, check that the listener is the
 * calling process, and send fd.  0 or an errno.
 */
static int send_fd(const struct pinfs_window_io *io, pid_t pid, int fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	uint64_t cookie = io->cookie;
	struct iovec iov = {.iov_base = &cookie, .iov_len = sizeof(cookie)};
	struct msghdr msg = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = cbuf.buf,
	    .msg_controllen = sizeof(cbuf.buf),
	};
	struct cmsghdr *cm;
	int s, err = 0;

	memcpy(sa.sun_path, io->sock, io->sock_len);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return errno;
	if (connect(s, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + io->sock_len)) <
	    0) {
		err = errno == EAGAIN ? EAGAIN : ECONNREFUSED;
		goto out;
	}
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		err = errno;
		goto out;
	}
	if (cred.pid != pid) {
		err = EPERM; /* someone else's socket */
		goto out;
	}
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(s, &msg, MSG_NOSIGNAL) != (ssize_t)sizeof(cookie))
		err = errno ? errno : EIO;
out:
	close(s);
	return err;
}

/* ---- the ioctls ---- */

static uint64_t ino_of(struct pinfs_inode *inode)
{
	return (uint64_t)(uintptr_t)inode;
}

/* Drop the kernel's cached pages of the range, so that no page read
 * before the window existed is served from the page cache later. */
static void drop_kernel_cache(struct pinfs *fs, struct pinfs_inode *inode, uint64_t off,
			      uint64_t len)
{
	if (fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, inode_nodeid(fs, inode),
						 (off_t)off, (off_t)len);
}

/* A backing descriptor we may write to, whatever flags the holder used
 * (O_APPEND would move pwrite). */
static int open_for_writeback(struct pinfs_inode *inode)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", inode->fd);
	return open(path, O_RDWR | O_CLOEXEC);
}

/* Fill a new window's memory from the backing file; the rest stays zero. */
static int fill_window(struct window *win)
{
	uint64_t done = 0;

	while (done < win->len) {
		ssize_t r = pread(win->wfd, win->map + done, win->len - done,
				  (off_t)(win->off + done));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (r == 0)
			break; /* end of file */
		done += (uint64_t)r;
	}
	for (uint64_t i = 0; i < npages(win); i++)
		win->sums[i] = page_sum(win->map + i * WIN_PAGE, WIN_PAGE);
	return 0;
}

/*
 * Reads and writes of a file in FUSE passthrough mode go to the backing
 * file without the daemon, which cannot keep them coherent with a window;
 * the kernel keeps such open files in that mode until they close.  So a
 * window is made only if every such open of the file is the holder's own
 * (docs/dma.md says what they then see).  0 or EBUSY; *mode: is the file
 * in passthrough mode?
 */
static int passthrough_ok(struct pinfs *fs, struct pinfs_inode *inode,
			  struct pinfs_file *pf, pid_t pid, bool *mode)
{
	pid_t other;
	int err = passthrough_window_check(fs, inode, pf, pid, &other, mode);

	if (err && other > 0)
		g_message("window for pid %d refused (EBUSY): thread %d of another "
			  "process has the file open through FUSE passthrough",
			  (int)pid, (int)other);
	else if (err)
		g_message("window for pid %d refused (EBUSY): a process outside the "
			  "daemon's pid namespace has the file open through FUSE "
			  "passthrough",
			  (int)pid);
	return err;
}

static int window_map(fuse_req_t req, struct pinfs_inode *inode, struct pinfs_file *pf,
		      pid_t pid, struct pinfs_window_io *io)
{
	struct pinfs *fs = pinfs_data(req);
	struct windows *w = fs->windows;
	uid_t uid = fuse_req_ctx(req)->uid;
	struct window *win;
	struct lt_status st;
	uint64_t len, lend;
	bool pt_mode;
	int err;

	if (io->flags & ~PINFS_WINDOW_FLAGS_ALL || io->length == 0 ||
	    io->offset % WIN_PAGE || io->sock_len < 2 ||
	    io->sock_len > sizeof(io->sock) ||
	    io->sock_len > sizeof(((struct sockaddr_un *)0)->sun_path) ||
	    io->sock[0] != 0)
		return EINVAL;
	if (io->length > INT64_MAX - WIN_PAGE || io->offset > INT64_MAX - io->length)
		return EOVERFLOW;
	if (w->mode == WINDOW_NEVER)
		return EOPNOTSUPP;
	if ((io->flags & PINFS_WINDOW_AUTO) && w->mode == WINDOW_AUTO &&
	    !w->kernel_refuses)
		return EOPNOTSUPP;
	if ((pf->flags & O_ACCMODE) == O_RDONLY)
		return EACCES; /* as mmap(PROT_WRITE, MAP_SHARED) of it */
	len = (io->length + WIN_PAGE - 1) / WIN_PAGE * WIN_PAGE;

	/* The range must lie inside this open file's active lease. */
	lt_getlease(fs->leases, ino_of(inode), (uint64_t)(uintptr_t)pf, &st);
	if (st.state == LT_BREAKING)
		return EAGAIN;
	if (st.state != LT_ACTIVE)
		return EPERM;
	lend = st.len == LT_LEN_EOF ? UINT64_MAX : st.off + st.len;
	if (io->offset < st.off || io->offset + io->length > lend)
		return EPERM;
	/* A first look, so that a refusal costs nothing; the check that
	 * counts is made as the window is attached. */
	err = passthrough_ok(fs, inode, pf, pid, &pt_mode);
	if (err)
		return err;

	win = g_new0(struct window, 1);
	win->inode = inode;
	win->fh = (uint64_t)(uintptr_t)pf;
	win->pid = pid;
	win->uid = uid;
	win->off = io->offset;
	win->len = len;
	win->memfd = win->wfd = -1;
	win->map = MAP_FAILED;

	g_mutex_lock(&w->lock);
	err = window_charge_ok(w, pid, uid, len);
	g_mutex_unlock(&w->lock);
	if (err)
		goto fail;

	/* Dirty pages of an older mapping reach the file first. */
	drop_kernel_cache(fs, inode, win->off, len);
	win->wfd = open_for_writeback(inode);
	if (win->wfd < 0) {
		err = errno;
		goto fail;
	}
	win->memfd = memfd_create("pinfs-window", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (win->memfd < 0 || ftruncate(win->memfd, (off_t)len) < 0) {
		err = errno;
		goto fail;
	}
	/* Nobody may shrink it under the daemon's mapping (SIGBUS). */
	if (fcntl(win->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) <
	    0) {
		err = errno;
		goto fail;
	}
	win->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, win->memfd, 0);
	if (win->map == MAP_FAILED) {
		err = errno;
		goto fail;
	}
	win->sums = g_try_new(uint64_t, len / WIN_PAGE);
	if (!win->sums) {
		err = ENOMEM;
		goto fail;
	}
	err = fill_window(win);
	if (err)
		goto fail;
	if (getrandom(&io->cookie, sizeof(io->cookie), 0) != sizeof(io->cookie)) {
		err = errno;
		goto fail;
	}
	err = send_fd(io, pid, win->memfd);
	if (err)
		goto fail;

	g_mutex_lock(&w->lock);
	/* Checked again: another window may have been made meanwhile. */
	err = window_charge_ok(w, pid, uid, len);
	if (!err) {
		/* Counted first: from here on new opens are direct I/O, so
		 * the check sees every open that bypasses the daemon.  If it
		 * refuses, the opens made meanwhile stay direct I/O. */
		atomic_fetch_add(&inode->windows, 1);
		err = passthrough_ok(fs, inode, pf, pid, &pt_mode);
		if (err)
			atomic_fetch_sub(&inode->windows, 1);
	}
	if (!err) {
		win->id = w->next_id++;
		win->attached = true;
		inode_hold(fs, inode);
		w->list = g_list_prepend(w->list, win);
		atomic_fetch_add(&w->nlisted, 1);
	}
	g_mutex_unlock(&w->lock);
	if (err)
		goto fail;
	/* Pages cached between the first drop and now go too. */
	drop_kernel_cache(fs, inode, win->off, len);
	io->window_id = win->id;
	io->length = len;
	g_message("window %" PRIu64 ": pid %d range %" PRIu64 "+%" PRIu64 "%s", win->id,
		  (int)pid, win->off, len,
		  pt_mode ? " (the file is in FUSE passthrough mode)" : "");
	return 0;
fail:
	if (win->map != MAP_FAILED)
		munmap(win->map, len);
	if (win->memfd >= 0)
		close(win->memfd);
	if (win->wfd >= 0)
		close(win->wfd);
	g_free(win->sums);
	g_free(win);
	return err;
}

/* The window id of open file fh, or NULL.  Called with w->lock. */
static struct window *find_window(struct windows *w, uint64_t fh, uint64_t id)
{
	for (GList *l = w->list; l; l = l->next) {
		struct window *win = l->data;

		if (win->id == id && win->fh == fh)
			return win;
	}
	return NULL;
}

static int window_sync_unmap(struct pinfs *fs, struct pinfs_file *pf, unsigned int cmd,
			     struct pinfs_window_io *io)
{
	struct windows *w = fs->windows;
	struct window *win;
	struct lt_status st;
	int64_t r = 0;
	int err = 0;

	if (io->flags || io->offset || io->length || io->sock_len || io->cookie)
		return EINVAL;
	lt_getlease(fs->leases, ino_of(pf->inode), (uint64_t)(uintptr_t)pf, &st);
	g_mutex_lock(&w->lock);
	win = find_window(w, (uint64_t)(uintptr_t)pf, io->window_id);
	if (!win) {
		err = ENOENT;
		goto out;
	}
	if (win->attached)
		r = window_writeback(win);
	if (r < 0) {
		err = (int)-r;
		goto out;
	}
	io->synced = (uint64_t)r;
	if (cmd == PINFS_IOC_WINDOW_UNMAP) {
		window_detach(w, win);
		w->list = g_list_remove(w->list, win);
		atomic_fetch_sub(&w->nlisted, 1);
		g_free(win);
	} else if (!win->attached) {
		err = ENOLCK; /* its lease ended: written back then */
	} else if (st.state != LT_ACTIVE && st.state != LT_BREAKING) {
		/* The lease was revoked: written back now, and no more. */
		window_detach(w, win);
		err = ENOLCK;
	}
out:
	g_mutex_unlock(&w->lock);
	return err;
}

void window_ioctl(fuse_req_t req, struct pinfs_inode *inode, struct pinfs_file *pf,
		  pid_t pid, unsigned int cmd, const void *in_buf, size_t in_bufsz,
		  size_t out_bufsz)
{
	struct pinfs *fs = pinfs_data(req);
	struct pinfs_window_io io;
	int err;

	if (in_bufsz != sizeof(io) || out_bufsz != sizeof(io)) {
		err = EINVAL;
		goto out;
	}
	memcpy(&io, in_buf, sizeof(io));
	if (io.size != sizeof(io) || io.reserved || io.synced || io.cookie) {
		err = EINVAL;
		goto out;
	}
	if (!fs->leases || !fs->windows) {
		err = EOPNOTSUPP;
		goto out;
	}
	if (!pf) {
		err = EISDIR;
		goto out;
	}
	if (!S_ISREG(inode->type)) {
		err = EINVAL;
		goto out;
	}
	if (cmd == PINFS_IOC_WINDOW_MAP) {
		if (io.window_id) {
			err = EINVAL;
			goto out;
		}
		err = window_map(req, inode, pf, pid, &io);
	} else {
		err = window_sync_unmap(fs, pf, cmd, &io);
	}
out:
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_ioctl(req, 0, &io, sizeof(io));
}

/* ---- hooks ---- */

void window_before_change(struct pinfs *fs, struct pinfs_inode *inode, uint64_t off,
			  uint64_t len)
{
	struct windows *w = fs->windows;
	uint64_t end =
	    len == LT_LEN_EOF || len > UINT64_MAX - off ? UINT64_MAX : off + len;

	if (!w || !window_file_staged(inode))
		return;
	g_mutex_lock(&w->lock);
	for (GList *l = w->list; l; l = l->next) {
		struct window *win = l->data;

		if (win->inode != inode || !win->attached)
			continue;
		if (win->off >= end || win->off + win->len <= off)
			continue;
		g_message("window %" PRIu64 ": written back before a layout change",
			  win->id);
		window_finish(w, win, "layout change");
	}
	g_mutex_unlock(&w->lock);
}

int window_sync_inode(struct pinfs *fs, struct pinfs_inode *inode)
{
	struct windows *w = fs->windows;
	int err = 0;

	if (!w || !window_file_staged(inode))
		return 0;
	g_mutex_lock(&w->lock);
	for (GList *l = w->list; l; l = l->next) {
		struct window *win = l->data;
		int64_t r;

		if (win->inode != inode || !win->attached)
			continue;
		r = window_writeback(win);
		if (r < 0 && !err)
			err = (int)-r;
	}
	g_mutex_unlock(&w->lock);
	return err;
}

void window_lease_ended(struct pinfs *fs, struct pinfs_inode *inode, uint64_t fh)
{
	struct windows *w = fs->windows;

	if (!w || !window_file_staged(inode))
		return;
	g_mutex_lock(&w->lock);
	for (GList *l = w->list; l; l = l->next) {
		struct window *win = l->data;

		if (win->fh == fh)
			window_finish(w, win, "lease release");
	}
	g_mutex_unlock(&w->lock);
}

void window_file_closed(struct pinfs *fs, struct pinfs_file *pf)
{
	struct windows *w = fs->windows;
	uint64_t fh = (uint64_t)(uintptr_t)pf;
	GList *l, *next;

	if (!w || !atomic_load_explicit(&w->nlisted, memory_order_relaxed))
		return;
	g_mutex_lock(&w->lock);
	for (l = w->list; l; l = next) {
		struct window *win = l->data;

		next = l->next;
		if (win->fh != fh)
			continue;
		window_finish(w, win, "close");
		w->list = g_list_delete_link(w->list, l);
		atomic_fetch_sub(&w->nlisted, 1);
		g_free(win);
	}
	g_mutex_unlock(&w->lock);
}

bool window_open_direct(struct pinfs_inode *inode)
{
	return window_file_staged(inode);
}

/* Does [off, off+size) of inode touch an attached window?  w->lock. */
static bool range_staged(struct windows *w, struct pinfs_inode *inode, uint64_t off,
			 uint64_t size)
{
	for (GList *l = w->list; l; l = l->next) {
		struct window *win = l->data;

		if (win->inode == inode && win->attached && win->off < off + size &&
		    off < win->off + win->len)
			return true;
	}
	return false;
}

/* The part [*a, *b) of the file range [off, off + n) that win stages, if
 * win is attached and of inode: false if there is none. */
static bool window_span(const struct window *win, const struct pinfs_inode *inode,
			uint64_t off, uint64_t n, uint64_t *a, uint64_t *b)
{
	if (win->inode != inode || !win->attached)
		return false;
	*a = MAX(off, win->off);
	*b = MIN(off + n, win->off + win->len);
	return *a < *b;
}

bool window_read(fuse_req_t req, struct pinfs_file *pf, size_t size, off_t off)
{
	struct windows *w = pinfs_data(req)->windows;
	unsigned char *buf;
	ssize_t n;

	if (!w || !window_file_staged(pf->inode))
		return false;
	g_mutex_lock(&w->lock);
	if (!range_staged(w, pf->inode, (uint64_t)off, size)) {
		g_mutex_unlock(&w->lock);
		return false;
	}
	if (!pf->direct_io) {
		/* Its pages would stay in the page cache while devices
		 * write into the window: refused, not served stale. */
		g_mutex_unlock(&w->lock);
		fuse_reply_err(req, EBUSY);
		return true;
	}
	buf = g_try_malloc(size ? size : 1);
	if (!buf) {
		g_mutex_unlock(&w->lock);
		fuse_reply_err(req, ENOMEM);
		return true;
	}
	n = pread(pf->fd, buf, size, off);
	if (n > 0) {
		/* The window's bytes over the file's, within the file. */
		for (GList *l = w->list; l; l = l->next) {
			struct window *win = l->data;
			uint64_t a, b;

			if (window_span(win, pf->inode, (uint64_t)off, (uint64_t)n, &a,
					&b))
				memcpy(buf + (a - (uint64_t)off),
				       win->map + (a - win->off), b - a);
		}
	}
	g_mutex_unlock(&w->lock);
	if (n < 0) {
		fuse_reply_err(req, errno);
	} else {
		struct inval *iv = g_new(struct inval, 1);

		fuse_reply_buf(req, (char *)buf, (size_t)n);
		/* A read(2) of a direct-I/O open leaves nothing cached, but a
		 * fault of its MAP_PRIVATE mapping leaves the page in the
		 * file's page cache, where older opens would find it as the
		 * window changes.  Dropped once the reply is out (the kernel
		 * holds the page locked until then). */
		iv->ino = inode_nodeid(w->fs, pf->inode);
		iv->off = off;
		iv->len = (off_t)size;
		g_thread_pool_push(w->inval, iv, NULL);
	}
	g_free(buf);
	return true;
}

int window_write_check(struct pinfs *fs, struct pinfs_file *pf, off_t off, size_t size,
		       bool writepage)
{
	struct windows *w = fs->windows;
	bool staged;

	if (!w || !window_file_staged(pf->inode) || pf->direct_io || writepage)
		return 0;
	g_mutex_lock(&w->lock);
	staged = range_staged(w, pf->inode, (uint64_t)off, size);
	g_mutex_unlock(&w->lock);
	return staged ? EBUSY : 0;
}

void window_write_done(struct pinfs *fs, struct pinfs_file *pf, off_t off, size_t n)
{
	struct windows *w = fs->windows;

	if (!w || !window_file_staged(pf->inode) || n == 0)
		return;
	g_mutex_lock(&w->lock);
	for (GList *l = w->list; l; l = l->next) {
		struct window *win = l->data;
		uint64_t a, b;

		/* What was just written, read back into the window; the page
		 * stays "changed" and is written back again (same bytes, or
		 * a device's newer ones). */
		if (window_span(win, pf->inode, (uint64_t)off, n, &a, &b) &&
		    pread(win->wfd, win->map + (a - win->off), b - a, (off_t)a) < 0)
			g_warning("window %" PRIu64 ": cannot copy a write in: %s",
				  win->id, g_strerror(errno));
	}
	g_mutex_unlock(&w->lock);
}

/* ---- listing ---- */

static char *pid_comm(pid_t pid)
{
	char file[64], *text = NULL;

	snprintf(file, sizeof(file), "/proc/%d/comm", (int)pid);
	if (!g_file_get_contents(file, &text, NULL, NULL))
		return NULL;
	return g_strchomp(text);
}

static char *window_path(struct windows *w, struct window *win)
{
	char proc[64], *target;
	size_t blen = strlen(w->fs->cfg.backing);
	char *res;

	if (!win->attached)
		return NULL;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", win->wfd);
	target = g_file_read_link(proc, NULL);
	if (!target)
		return NULL;
	if (!strncmp(target, w->fs->cfg.backing, blen) && target[blen] == '/')
		res = g_strconcat(w->fs->cfg.mountpoint, target + blen, NULL);
	else
		res = g_strdup(target);
	g_free(target);
	return res;
}

/* "@name": @text, or null when there is none or it is not UTF-8. */
static void add_utf8_or_null(JsonBuilder *b, const char *name, const char *text)
{
	if (text && g_utf8_validate(text, -1, NULL)) {
		json_member_str(b, name, text);
	} else {
		json_builder_set_member_name(b, name);
		json_builder_add_null_value(b);
	}
}

void window_list_json(struct windows *w, JsonBuilder *b)
{
	if (!w)
		return;
	g_mutex_lock(&w->lock);
	for (GList *l = w->list; l; l = l->next) {
		struct window *win = l->data;
		char *comm = pid_comm(win->pid), *path = window_path(w, win);

		json_builder_begin_object(b);
		json_member_int(b, "id", (int64_t)win->id);
		add_utf8_or_null(b, "path", path);
		json_member_int(b, "pid", win->pid);
		json_member_int(b, "uid", win->uid);
		add_utf8_or_null(b, "command", comm);
		json_member_int(b, "offset", (int64_t)win->off);
		json_member_int(b, "length", (int64_t)win->len);
		json_member_int(b, "unsynced_bytes", (int64_t)window_unsynced(win));
		json_member_int(b, "written_bytes", (int64_t)win->written);
		json_member_str(b, "state", win->attached ? "attached" : "detached");
		json_builder_end_object(b);
		g_free(comm);
		g_free(path);
	}
	g_mutex_unlock(&w->lock);
}
