// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pinfs_dma.c - a pretend DMA device, for showing what pinned pages and
 * truncate do to each other, and for letting the pinfs daemon find pins.
 *
 * /dev/pinfs_dma (a misc device, mode 0666) offers the ioctls of
 * pinfs_dma_abi.h:
 *
 *  PIN	    pins a user range like ib_umem_get(): pin_user_pages_fast() with
 *	    FOLL_WRITE and optionally FOLL_LONGTERM, charged to mm->pinned_vm
 *	    against RLIMIT_MEMLOCK.  Returns a handle.
 *  WRITE   writes a pattern into the pinned pages through kmap_local_page(),
 *	    at once or later from a workqueue, as a device's DMA would: the
 *	    write goes to whatever pages were pinned, whether or not they are
 *	    still in the file.
 *  READ    reads them back (bytes, a hash, a comparison with a pattern).
 *  UNPIN   unpins like ib_umem_release(): unpin_user_pages_dirty_lock();
 *	    then starts write-back of the file pages it dirtied, through the
 *	    open files the pin holds (below).
 *  QUERY   counts DMA-pinned page-cache pages of an inode found by number on
 *	    the superblock of a given fd, without opening the file.
 *  INFO    reports a handle's state.
 *
 * /sys/kernel/debug/pinfs_dma/pins lists every pin.
 *
 * Lifetimes.  Handles belong to an open file (struct pdma_file).  A handle
 * owns its page array, its pin references and its pinned_vm charge (on the
 * mm it pinned from, held by mmgrab()), and its queued writes: a handle is
 * freed only after every queued write has been cancelled or has run, so a
 * write work never sees a freed handle.
 *
 * A writable pin of a shared file mapping also holds the mapped files
 * (get_file() of each vma's file, with the file range it covers), until the
 * pages are unpinned and their write-back has started.  Unpinning dirties
 * the pages; a file system that writes back only through an open file
 * (FUSE: fuse_write_file_get()) cannot write pages dirtied after its last
 * writable open file went, as when the pinning process dies and its files
 * are released before this device's.  Holding the file keeps one open
 * until the pages are clean or queued for writing.  ib_umem does not do
 * this (docs/dma.md, "Limits").
 */

#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/highmem.h>
#include <linux/pagemap.h>
#include <linux/pagevec.h>
#include <linux/workqueue.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/xarray.h>
#include <linux/uaccess.h>
#include <linux/overflow.h>
#include <linux/capability.h>
#include <linux/jiffies.h>

#include "pinfs_dma_abi.h"
#include "pinfs_dma_compat.h"

static unsigned int max_pages_per_handle = PINFS_DMA_DEF_MAX_PAGES;
module_param(max_pages_per_handle, uint, 0444);
MODULE_PARM_DESC(max_pages_per_handle, "Most pages one PIN may pin (E2BIG above)");

static unsigned int max_handles_per_file = PINFS_DMA_DEF_MAX_HANDLES;
module_param(max_handles_per_file, uint, 0444);
MODULE_PARM_DESC(max_handles_per_file, "Most handles per open file (ENOSPC above)");

/* Delayed writes run here; destroyed at module exit, when no file is open. */
static struct workqueue_struct *pdma_wq;

/* Every handle of every open file, for debugfs. */
static LIST_HEAD(pdma_all);	    /* pdma_handle.global */
static DEFINE_MUTEX(pdma_all_lock); /* protects pdma_all */
static struct dentry *pdma_debugfs;

struct pdma_handle;

/* A file range a writable pin holds pages of, and the file, held. */
struct pdma_backing {
	struct file *file; /* get_file()d at pin time */
	loff_t start;	   /* byte range of the file, inclusive */
	loff_t end;
};

/* A device write that lands later. */
struct pdma_write {
	struct delayed_work dwork;
	struct pdma_handle *h;
	struct list_head node; /* on h->writes, under pdma_file.lock */
	u64 offset;
	u64 len;
	u32 mode;
	u32 seed;
	bool done; /* set (release) by the work once the bytes have landed */
};

struct pdma_handle {
	u32 id;
	u32 flags; /* PINFS_DMA_PIN_* */
	u64 addr;
	u64 len;
	unsigned int npages;
	struct page **pages;  /* npages pinned pages, the first holds addr */
	struct mm_struct *mm; /* mmgrab()ed; pinned_vm charged here */
	/* The shared file mappings of a writable pin; set at pin time. */
	struct pdma_backing *backing;
	unsigned int nbacking;

	/* Queued writes, under pdma_file.lock; 'pending' counts those not run. */
	struct list_head writes;
	atomic_t pending;
	atomic64_t writes_done;
	atomic64_t bytes_written;

	/* For debugfs; set at pin time, then read-only. */
	struct list_head global; /* on pdma_all, under pdma_all_lock */
	pid_t pid;
	char comm[TASK_COMM_LEN];
	char *path;		 /* d_path of the first vma's file, or NULL */
	unsigned long pinned_at; /* jiffies */
};

struct pdma_file {
	/*
	 * Serialises PIN, UNPIN, WRITE, READ, INFO on this open file, and
	 * protects 'handles', 'nhandles' and every handle's 'writes' list.
	 * QUERY does not take it.
	 */
	struct mutex lock;
	struct xarray handles; /* id -> struct pdma_handle */
	unsigned int nhandles;
};

/*
 * Copy a request in and check its size field.  Every ioctl struct starts
 * with __u32 size; the command already encodes the size, so this catches a
 * caller that built the command and the struct from different headers.
 */
static int pdma_copy_in(void *dst, const void __user *src, size_t size)
{
	if (copy_from_user(dst, src, size))
		return -EFAULT;
	if (*(u32 *)dst != size)
		return -EINVAL;
	return 0;
}

/* Find handle 'id' of 'pf'.  Called with pf->lock held. */
static struct pdma_handle *pdma_handle_get(struct pdma_file *pf, u32 id)
{
	lockdep_assert_held(&pf->lock);
	if (id == 0)
		return NULL;
	return xa_load(&pf->handles, id);
}

/*
 * Check that [offset, offset + len) lies inside handle 'h' and is not
 * empty.
 */
static int pdma_check_range(struct pdma_handle *h, u64 offset, u64 len)
{
	u64 end;

	if (len == 0 || check_add_overflow(offset, len, &end) || end > h->len)
		return -EINVAL;
	return 0;
}

/*
 * Write len bytes of the pattern (mode, seed) at offset 'off' of handle 'h',
 * page by page through temporary kernel mappings, as a device's DMA engine
 * would write physical pages.  The range was checked by the caller.  May
 * sleep (cond_resched()).
 */
static void pdma_do_write(struct pdma_handle *h, u64 off, u64 len, u32 mode, u32 seed)
{
	u64 pos = offset_in_page(h->addr) + off; /* from the first page's start */
	u64 done = 0;

	while (done < len) {
		struct page *page = h->pages[pos >> PAGE_SHIFT];
		unsigned int in = offset_in_page(pos);
		unsigned int n = min_t(u64, PAGE_SIZE - in, len - done);
		unsigned int i;
		u8 *p;

		p = kmap_local_page(page);
		for (i = 0; i < n; i++)
			p[in + i] = pinfs_dma_pattern_byte(mode, seed, off + done + i);
		kunmap_local(p);
		flush_dcache_page(page);
		done += n;
		pos += n;
		cond_resched();
	}
	atomic64_inc(&h->writes_done);
	atomic64_add(len, &h->bytes_written);
}

/* The work of a delayed write: the device's DMA lands now. */
static void pdma_write_work(struct work_struct *work)
{
	struct pdma_write *w =
	    container_of(to_delayed_work(work), struct pdma_write, dwork);

	pdma_do_write(w->h, w->offset, w->len, w->mode, w->seed);
	atomic_dec(&w->h->pending);
	smp_store_release(&w->done, true);
}

/*
 * Free the delayed writes of 'h' that have run (all of them if 'all'),
 * cancelling (cancel) or running at once (!cancel) those still queued.
 * Returns how many were cancelled.  Called with the file's lock held, which
 * keeps new writes off the list.
 */
static u64 pdma_reap_writes(struct pdma_handle *h, bool all, bool cancel)
{
	struct pdma_write *w, *tmp;
	u64 cancelled = 0;

	list_for_each_entry_safe(w, tmp, &h->writes, node) {
		if (!all && !smp_load_acquire(&w->done))
			continue;
		if (cancel) {
			/* True when it was still queued: it will never run. */
			if (cancel_delayed_work_sync(&w->dwork)) {
				atomic_dec(&h->pending);
				cancelled++;
			}
		} else {
			/* Queued: run it now and wait; running: wait. */
			flush_delayed_work(&w->dwork);
		}
		list_del(&w->node);
		kfree(w);
	}
	return cancelled;
}

/*
 * Hold the files of the shared mappings over the writable pin 'h' (pages
 * [first, end) of mm), with the file range each covers.  Counts the vmas,
 * then fills the array, under one mmap lock.  Returns 0 or -ENOMEM.
 */
static int pdma_hold_backing(struct pdma_handle *h, struct mm_struct *mm,
			     unsigned long first, unsigned long end)
{
	struct vm_area_struct *vma;
	unsigned long addr;
	unsigned int n = 0;
	int ret = 0;

	mmap_read_lock(mm);
	for (addr = first; addr < end; addr = vma->vm_end) {
		vma = find_vma(mm, addr);
		if (!vma || vma->vm_start >= end)
			break;
		if (vma->vm_file && (vma->vm_flags & VM_SHARED))
			n++;
	}
	if (n == 0)
		goto out;
	h->backing = kcalloc(n, sizeof(*h->backing), GFP_KERNEL);
	if (!h->backing) {
		ret = -ENOMEM;
		goto out;
	}
	for (addr = first; addr < end && h->nbacking < n; addr = vma->vm_end) {
		struct pdma_backing *b = &h->backing[h->nbacking];
		unsigned long s, e;

		vma = find_vma(mm, addr);
		if (!vma || vma->vm_start >= end)
			break;
		if (!vma->vm_file || !(vma->vm_flags & VM_SHARED))
			continue;
		s = max(addr, vma->vm_start);
		e = min(end, vma->vm_end);
		b->file = get_file(vma->vm_file);
		b->start = ((loff_t)vma->vm_pgoff << PAGE_SHIFT) + (s - vma->vm_start);
		b->end = b->start + (e - s) - 1;
		h->nbacking++;
	}
out:
	mmap_read_unlock(mm);
	return ret;
}

/*
 * After the unpin dirtied the pages: start their write-back through the
 * held files (not waiting for it to complete: a truncate may be holding
 * FUSE write-back back until a lease ends), then let the files go.
 */
static void pdma_put_backing(struct pdma_handle *h)
{
	unsigned int i;

	for (i = 0; i < h->nbacking; i++) {
		struct pdma_backing *b = &h->backing[i];

		filemap_fdatawrite_range(b->file->f_mapping, b->start, b->end);
		fput(b->file);
	}
	kfree(h->backing);
	h->backing = NULL;
	h->nbacking = 0;
}

/*
 * Undo a pin: stop its writes, unpin its pages like ib_umem_release()
 * (dirtying them if the device could write), uncharge pinned_vm, free.
 * The handle is already out of the file's xarray.
 */
static u64 pdma_handle_release(struct pdma_handle *h, bool cancel)
{
	u64 cancelled = pdma_reap_writes(h, true, cancel);

	mutex_lock(&pdma_all_lock);
	list_del(&h->global);
	mutex_unlock(&pdma_all_lock);

	unpin_user_pages_dirty_lock(h->pages, h->npages, h->flags & PINFS_DMA_PIN_WRITE);
	pdma_put_backing(h);
	atomic64_sub(h->npages, &h->mm->pinned_vm);
	mmdrop(h->mm);
	kvfree(h->pages);
	kfree(h->path);
	kfree(h);
	return cancelled;
}

/* Remember the path of the file mapped at h->addr, for debugfs. */
static void pdma_note_path(struct pdma_handle *h, struct mm_struct *mm)
{
	struct vm_area_struct *vma;
	char *buf, *p;

	buf = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!buf)
		return;
	mmap_read_lock(mm);
	vma = vma_lookup(mm, h->addr);
	if (vma && vma->vm_file) {
		p = d_path(&vma->vm_file->f_path, buf, PATH_MAX);
		if (!IS_ERR(p))
			h->path = kstrdup(p, GFP_KERNEL);
	}
	mmap_read_unlock(mm);
	kfree(buf);
}

/*
 * PIN: pin the caller's pages the way ib_umem_get() does.  The pinned_vm
 * charge comes first, so a request over RLIMIT_MEMLOCK fails before any
 * page is touched.
 */
static long pdma_pin(struct pdma_file *pf, void __user *uarg)
{
	struct mm_struct *mm = current->mm;
	struct pinfs_dma_pin a;
	struct pdma_handle *h;
	unsigned long first, lock_limit;
	unsigned int gup_flags = 0, pinned = 0;
	u64 end, npages;
	u32 id;
	long ret;

	ret = pdma_copy_in(&a, uarg, sizeof(a));
	if (ret)
		return ret;
	if (a.flags & ~PINFS_DMA_PIN_FLAGS_ALL || a.handle || a.npages)
		return -EINVAL;
	if (a.len == 0 || check_add_overflow(a.addr, a.len, &end) || end > TASK_SIZE)
		return -EINVAL;
	first = a.addr & PAGE_MASK;
	npages = (PAGE_ALIGN(end) - first) >> PAGE_SHIFT;
	if (npages > max_pages_per_handle)
		return -E2BIG;
	if (!mm)
		return -EINVAL;
	if (pf->nhandles >= max_handles_per_file)
		return -ENOSPC;

	h = kzalloc(sizeof(*h), GFP_KERNEL);
	if (!h)
		return -ENOMEM;
	h->pages = kvcalloc(npages, sizeof(*h->pages), GFP_KERNEL);
	if (!h->pages) {
		ret = -ENOMEM;
		goto out_free;
	}
	h->flags = a.flags;
	h->addr = a.addr;
	h->len = a.len;
	h->npages = npages;
	INIT_LIST_HEAD(&h->writes);
	atomic_set(&h->pending, 0);
	atomic64_set(&h->writes_done, 0);
	atomic64_set(&h->bytes_written, 0);

	/* Accounting as ib_umem_get(): pinned_vm, RLIMIT_MEMLOCK, CAP_IPC_LOCK. */
	lock_limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	if (atomic64_add_return(npages, &mm->pinned_vm) > lock_limit &&
	    !capable(CAP_IPC_LOCK)) {
		atomic64_sub(npages, &mm->pinned_vm);
		ret = -ENOMEM;
		goto out_free;
	}
	mmgrab(mm);
	h->mm = mm;

	if (a.flags & PINFS_DMA_PIN_WRITE)
		gup_flags |= FOLL_WRITE;
	if (a.flags & PINFS_DMA_PIN_LONGTERM)
		gup_flags |= FOLL_LONGTERM;
	while (pinned < npages) {
		unsigned int chunk =
		    min_t(u64, npages - pinned, PAGE_SIZE / sizeof(struct page *));

		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			goto out_unpin;
		}
		ret = pin_user_pages_fast(first + ((unsigned long)pinned << PAGE_SHIFT),
					  chunk, gup_flags, h->pages + pinned);
		if (ret <= 0) {
			if (ret == 0)
				ret = -EFAULT;
			goto out_unpin;
		}
		pinned += ret;
	}
	if (a.flags & PINFS_DMA_PIN_WRITE) {
		ret = pdma_hold_backing(h, mm, first, PAGE_ALIGN(end));
		if (ret)
			goto out_unpin;
	}

	ret = xa_alloc(&pf->handles, &id, h, XA_LIMIT(1, INT_MAX), GFP_KERNEL);
	if (ret)
		goto out_unpin;
	h->id = id;
	pf->nhandles++;

	h->pid = task_tgid_vnr(current);
	get_task_comm(h->comm, current);
	h->pinned_at = jiffies;
	pdma_note_path(h, mm);
	mutex_lock(&pdma_all_lock);
	list_add_tail(&h->global, &pdma_all);
	mutex_unlock(&pdma_all_lock);

	a.handle = id;
	a.npages = npages;
	if (copy_to_user(uarg, &a, sizeof(a))) {
		/* The caller cannot learn the handle: undo it. */
		xa_erase(&pf->handles, id);
		pf->nhandles--;
		pdma_handle_release(h, true);
		return -EFAULT;
	}
	return 0;

out_unpin:
	unpin_user_pages(h->pages, pinned);
	pdma_put_backing(h);
	atomic64_sub(npages, &mm->pinned_vm);
	mmdrop(mm);
out_free:
	kvfree(h->pages);
	kfree(h);
	return ret;
}

/* UNPIN: see pinfs_dma_abi.h; queued writes are flushed unless CANCEL. */
static long pdma_unpin(struct pdma_file *pf, void __user *uarg)
{
	struct pinfs_dma_unpin a;
	struct pdma_handle *h;
	long ret;

	ret = pdma_copy_in(&a, uarg, sizeof(a));
	if (ret)
		return ret;
	if (a.flags & ~PINFS_DMA_UNPIN_FLAGS_ALL || a.reserved || a.writes_cancelled)
		return -EINVAL;
	h = pdma_handle_get(pf, a.handle);
	if (!h)
		return -ENOENT;
	xa_erase(&pf->handles, a.handle);
	pf->nhandles--;
	a.writes_cancelled = pdma_handle_release(h, a.flags & PINFS_DMA_UNPIN_CANCEL);
	/* The pages are unpinned whether or not the caller can read this. */
	if (copy_to_user(uarg, &a, sizeof(a)))
		return -EFAULT;
	return 0;
}

/* WRITE: the device writes, now or after delay_ms from pdma_wq. */
static long pdma_write(struct pdma_file *pf, void __user *uarg)
{
	struct pinfs_dma_write a;
	struct pdma_handle *h;
	struct pdma_write *w;
	long ret;

	ret = pdma_copy_in(&a, uarg, sizeof(a));
	if (ret)
		return ret;
	if (a.mode > PINFS_DMA_MODE_MAX || a.reserved ||
	    a.delay_ms > PINFS_DMA_MAX_DELAY_MS)
		return -EINVAL;
	h = pdma_handle_get(pf, a.handle);
	if (!h)
		return -ENOENT;
	ret = pdma_check_range(h, a.offset, a.len);
	if (ret)
		return ret;
	if (!(h->flags & PINFS_DMA_PIN_WRITE))
		return -EPERM;

	if (a.delay_ms == 0) {
		pdma_do_write(h, a.offset, a.len, a.mode, a.seed);
		return 0;
	}

	pdma_reap_writes(h, false, false);
	if (atomic_read(&h->pending) >= PINFS_DMA_MAX_PENDING)
		return -EBUSY;
	w = kzalloc(sizeof(*w), GFP_KERNEL);
	if (!w)
		return -ENOMEM;
	INIT_DELAYED_WORK(&w->dwork, pdma_write_work);
	w->h = h;
	w->offset = a.offset;
	w->len = a.len;
	w->mode = a.mode;
	w->seed = a.seed;
	list_add_tail(&w->node, &h->writes);
	atomic_inc(&h->pending);
	queue_delayed_work(pdma_wq, &w->dwork, msecs_to_jiffies(a.delay_ms));
	return 0;
}

/* READ: read the pinned bytes back through kernel mappings. */
static long pdma_read(struct pdma_file *pf, void __user *uarg)
{
	struct pinfs_dma_read *a;
	struct pdma_handle *h;
	u64 pos, done = 0;
	long ret;

	a = kmalloc(sizeof(*a), GFP_KERNEL);
	if (!a)
		return -ENOMEM;
	ret = pdma_copy_in(a, uarg, sizeof(*a));
	if (ret)
		goto out;
	ret = -EINVAL;
	if (a->flags & ~PINFS_DMA_READ_FLAGS_ALL || a->reserved ||
	    a->mode > PINFS_DMA_MODE_MAX)
		goto out;
	ret = -ENOENT;
	h = pdma_handle_get(pf, a->handle);
	if (!h)
		goto out;
	ret = pdma_check_range(h, a->offset, a->len);
	if (ret)
		goto out;

	memset(a->data, 0, sizeof(a->data));
	a->hash = PINFS_DMA_FNV1A_INIT;
	a->mismatches = 0;
	a->first_mismatch = ~0ULL;
	pos = offset_in_page(h->addr) + a->offset;
	while (done < a->len) {
		unsigned int in = offset_in_page(pos);
		unsigned int n = min_t(u64, PAGE_SIZE - in, a->len - done);
		const u8 *p = kmap_local_page(h->pages[pos >> PAGE_SHIFT]);
		unsigned int i;

		a->hash = pinfs_dma_fnv1a(a->hash, p + in, n);
		if (done < PINFS_DMA_READ_DATA)
			memcpy(a->data + done, p + in,
			       min_t(u64, n, PINFS_DMA_READ_DATA - done));
		for (i = 0; (a->flags & PINFS_DMA_READ_COMPARE) && i < n; i++) {
			u64 off = a->offset + done + i;

			if (p[in + i] == pinfs_dma_pattern_byte(a->mode, a->seed, off))
				continue;
			if (!a->mismatches++)
				a->first_mismatch = off;
		}
		kunmap_local(p);
		done += n;
		pos += n;
		cond_resched();
	}
	ret = copy_to_user(uarg, a, sizeof(*a)) ? -EFAULT : 0;
out:
	kfree(a);
	return ret;
}

/* INFO: a handle's state. */
static long pdma_info(struct pdma_file *pf, void __user *uarg)
{
	struct pinfs_dma_info a;
	struct pdma_handle *h;
	long ret;

	ret = pdma_copy_in(&a, uarg, sizeof(a));
	if (ret)
		return ret;
	h = pdma_handle_get(pf, a.handle);
	if (!h)
		return -ENOENT;
	a.addr = h->addr;
	a.len = h->len;
	a.npages = h->npages;
	a.flags = h->flags;
	a.writes_done = atomic64_read(&h->writes_done);
	a.writes_pending = atomic_read(&h->pending);
	a.bytes_written = atomic64_read(&h->bytes_written);
	return copy_to_user(uarg, &a, sizeof(a)) ? -EFAULT : 0;
}

/*
 * Find inode number 'ino' in the inode cache of 'sb' and take a reference.
 * ilookup() finds inodes hashed by their number; file systems that hash by
 * something else (FUSE hashes by nodeid) are searched on sb->s_inodes, as
 * drop_pagecache_sb() walks it.  NULL when not cached.
 */
static struct inode *pdma_find_inode(struct super_block *sb, u64 ino)
{
	struct inode *inode, *found = NULL;

	if (ino > ULONG_MAX)
		return NULL;
	inode = ilookup(sb, ino);
	if (inode)
		return inode;

	spin_lock(&sb->s_inode_list_lock);
	list_for_each_entry(inode, &sb->s_inodes, i_sb_list) {
		if (inode->i_ino != ino)
			continue;
		/* igrab() fails on an inode being freed; look further. */
		found = igrab(inode);
		if (found)
			break;
	}
	spin_unlock(&sb->s_inode_list_lock);
	return found;
}

/* QUERY: count the DMA-pinned page-cache pages of an inode in a range. */
static long pdma_query(void __user *uarg)
{
	struct pinfs_dma_query a;
	struct folio_batch fbatch;
	struct inode *inode;
	struct file *file;
	pgoff_t index, last;
	u64 end;
	long ret;

	ret = pdma_copy_in(&a, uarg, sizeof(a));
	if (ret)
		return ret;
	if (a.cached || a.pinned || a.first_pinned || a.i_size)
		return -EINVAL;
	if (a.len == 0)
		last = ULONG_MAX;
	else if (check_add_overflow(a.offset, a.len - 1, &end))
		return -EINVAL;
	else
		last = end >> PAGE_SHIFT;
	index = a.offset >> PAGE_SHIFT;

	/* O_PATH descriptors too: passthrough daemons hold those. */
	file = fget_raw(a.fd);
	if (!file)
		return -EBADF;
	if (a.ino == 0)
		inode = igrab(file_inode(file));
	else
		inode = pdma_find_inode(file_inode(file)->i_sb, a.ino);
	ret = -ENOENT;
	if (!inode)
		goto out_fput;
	ret = -EPERM;
	if (!capable(CAP_SYS_ADMIN) && !pdma_owner_or_capable(file, inode))
		goto out_iput;

	a.first_pinned = ~0ULL;
	folio_batch_init(&fbatch);
	while (index <= last &&
	       filemap_get_folios(inode->i_mapping, &index, last, &fbatch)) {
		unsigned int i;

		for (i = 0; i < folio_batch_count(&fbatch); i++) {
			struct folio *folio = fbatch.folios[i];
			pgoff_t lo = max_t(pgoff_t, folio->index, a.offset >> PAGE_SHIFT);
			pgoff_t hi = min_t(
			    pgoff_t, folio->index + folio_nr_pages(folio) - 1, last);

			if (hi < lo)
				continue;
			a.cached += hi - lo + 1;
			if (!folio_maybe_dma_pinned(folio))
				continue;
			a.pinned += hi - lo + 1;
			if (a.first_pinned == ~0ULL)
				a.first_pinned = (u64)lo << PAGE_SHIFT;
		}
		folio_batch_release(&fbatch);
		cond_resched();
	}
	a.i_size = i_size_read(inode);
	ret = copy_to_user(uarg, &a, sizeof(a)) ? -EFAULT : 0;
out_iput:
	iput(inode);
out_fput:
	fput(file);
	return ret;
}

static long pdma_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct pdma_file *pf = file->private_data;
	void __user *uarg = (void __user *)arg;
	long ret;

	if (cmd == PINFS_DMA_IOC_QUERY)
		return pdma_query(uarg);

	if (mutex_lock_killable(&pf->lock))
		return -EINTR;
	switch (cmd) {
	case PINFS_DMA_IOC_PIN:
		ret = pdma_pin(pf, uarg);
		break;
	case PINFS_DMA_IOC_UNPIN:
		ret = pdma_unpin(pf, uarg);
		break;
	case PINFS_DMA_IOC_WRITE:
		ret = pdma_write(pf, uarg);
		break;
	case PINFS_DMA_IOC_READ:
		ret = pdma_read(pf, uarg);
		break;
	case PINFS_DMA_IOC_INFO:
		ret = pdma_info(pf, uarg);
		break;
	default:
		ret = -ENOTTY;
		break;
	}
	mutex_unlock(&pf->lock);
	return ret;
}

static int pdma_open(struct inode *inode, struct file *file)
{
	struct pdma_file *pf = kzalloc(sizeof(*pf), GFP_KERNEL);

	if (!pf)
		return -ENOMEM;
	mutex_init(&pf->lock);
	xa_init_flags(&pf->handles, XA_FLAGS_ALLOC1);
	file->private_data = pf;
	return 0;
}

/*
 * Last close, also at process exit: cancel queued writes (the device of a
 * dead process stops) and unpin everything.
 */
static int pdma_release(struct inode *inode, struct file *file)
{
	struct pdma_file *pf = file->private_data;
	struct pdma_handle *h;
	unsigned long id;

	xa_for_each(&pf->handles, id, h) {
		xa_erase(&pf->handles, id);
		pdma_handle_release(h, true);
	}
	xa_destroy(&pf->handles);
	mutex_destroy(&pf->lock);
	kfree(pf);
	return 0;
}

static const struct file_operations pdma_fops = {
    .owner = THIS_MODULE,
    .open = pdma_open,
    .release = pdma_release,
    .unlocked_ioctl = pdma_ioctl,
    .compat_ioctl = compat_ptr_ioctl,
    .llseek = noop_llseek,
};

static struct miscdevice pdma_misc = {
    .minor = MISC_DYNAMIC_MINOR,
    .name = "pinfs_dma",
    .fops = &pdma_fops,
    .mode = 0666,
};

/* debugfs "pins": one line per pin, under pdma_all_lock. */
static int pdma_pins_show(struct seq_file *m, void *unused)
{
	struct pdma_handle *h;

	seq_puts(m, "handle pid comm flags addr len npages age_ms pending done path\n");
	mutex_lock(&pdma_all_lock);
	list_for_each_entry(h, &pdma_all, global) {
		seq_printf(m, "%u %d %s %s%s 0x%llx %llu %u %u %d %lld %s\n", h->id,
			   h->pid, h->comm, h->flags & PINFS_DMA_PIN_WRITE ? "w" : "r",
			   h->flags & PINFS_DMA_PIN_LONGTERM ? "L" : "", h->addr, h->len,
			   h->npages, jiffies_to_msecs(jiffies - h->pinned_at),
			   atomic_read(&h->pending),
			   (long long)atomic64_read(&h->writes_done),
			   h->path ? h->path : "-");
	}
	mutex_unlock(&pdma_all_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pdma_pins);

static int __init pdma_init(void)
{
	int ret;

	if (max_pages_per_handle == 0 || max_pages_per_handle > (1u << 24) ||
	    max_handles_per_file == 0 || max_handles_per_file > 65536)
		return -EINVAL;
	pdma_wq = alloc_workqueue("pinfs_dma", WQ_UNBOUND, 0);
	if (!pdma_wq)
		return -ENOMEM;
	ret = misc_register(&pdma_misc);
	if (ret) {
		destroy_workqueue(pdma_wq);
		return ret;
	}
	pdma_debugfs = debugfs_create_dir("pinfs_dma", NULL);
	debugfs_create_file("pins", 0400, pdma_debugfs, NULL, &pdma_pins_fops);
	return 0;
}

static void __exit pdma_exit(void)
{
	debugfs_remove_recursive(pdma_debugfs);
	misc_deregister(&pdma_misc);
	destroy_workqueue(pdma_wq);
}

module_init(pdma_init);
module_exit(pdma_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pinfs_dma: a pretend DMA device that pins user pages");
