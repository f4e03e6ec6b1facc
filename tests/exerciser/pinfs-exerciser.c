// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pinfs-exerciser: a differential data-integrity exerciser.
 *
 *	pinfs-exerciser [--seed N] [--steps N] [--max-size BYTES] [--verbose]
 *			[--fuse-falloc] [--inject-bug STEP] [--also DIR...] DIR_A DIR_B
 *
 * One reproducible random sequence of operations (GRand seeded with --seed)
 * is applied to a file in DIR_A and to a file in DIR_B: write, read,
 * truncate up and down (by fd and by name), every fallocate mode, writes
 * and reads through a MAP_SHARED mapping (always within the file size),
 * copy_file_range within the file, rename, link, unlink while open (the fd
 * is kept and used), reopen, writes and whole-file reads through a second
 * open of a name, fsync.
 * After every step the two sides must agree on the errno of the operation,
 * the size, the link count and the full contents; the first divergence
 * prints the seed and the step and exits 1.
 *
 * --fuse-falloc: side A is a FUSE mount.  The kernel's FUSE client refuses
 * FALLOC_FL_COLLAPSE_RANGE and FALLOC_FL_INSERT_RANGE itself (EOPNOTSUPP)
 * before the filesystem sees them; with this flag such a refusal on A is
 * not a divergence and the operation is then not applied to B either.
 *
 * --inject-bug STEP: after STEP, corrupt one byte of B only (a self-test:
 * the run must then fail at that step).
 *
 * --also DIR (repeatable): DIR shows the same directory as DIR_A through
 * another mount (another pinfs daemon over the same shared directory).
 * Side A's steps then go through DIR_A and each DIR in turn, one step each,
 * every mount keeping its own open of the file.  Mounts do not share a page
 * cache, so A hands the file over between steps the way an application on
 * shared storage must: the outgoing mount's mapping is written back
 * (msync) and dropped, and the incoming mount's clean cached pages are
 * dropped (POSIX_FADV_DONTNEED).  After every step each other mount must
 * also show B's size, link count and contents (after the same handover).
 * Run such mounts with an attribute and entry cache time of 0, or they may
 * legitimately show a stale size.
 */
#include "falloc-modes.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/falloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 4096
#define MAX_MOUNTS 8

/* One side of the comparison: a directory and the file we work on in it. */
struct side {
	const char *dir;
	int dfd;   /* the directory */
	int fd;	   /* the file, O_RDWR; stays open after its last name is gone */
	char *map; /* MAP_SHARED mapping of fd, or NULL */
	size_t map_len;
	int err;     /* errno of the last operation, 0 on success */
	ssize_t ret; /* its return value */
};

/* The state both sides share, and the run's parameters. */
struct run {
	struct side s[2];
	GRand *rand;
	guint64 seed;
	gint64 step;
	gint64 steps;
	gint64 inject_step;
	size_t max_size;
	size_t size;	  /* the agreed file size after the last step */
	GPtrArray *names; /* the file's current names (char *) */
	guint name_counter;
	gboolean verbose;
	gboolean fuse_falloc;
	guint64 kernel_refused; /* --fuse-falloc skips */
	GString *what;		/* the current step, for messages */
	char *buf[2];		/* scratch buffers of max_size */
	char *data;		/* random data to write, max_size */
	/* side A's mounts (--also): mount 0 is DIR_A; s[0].dir, .dfd and .fd
	 * are those of mount cur, mfd[] the others' opens of the file */
	int nmounts;
	int cur;
	const char *mdir[MAX_MOUNTS];
	int mdfd[MAX_MOUNTS];
	int mfd[MAX_MOUNTS];
};

static G_NORETURN void diverge(struct run *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static G_NORETURN void diverge(struct run *r, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr,
		"DIVERGENCE: seed %" G_GUINT64_FORMAT " step %" G_GINT64_FORMAT " (%s): ",
		r->seed, r->step, r->what->str);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr,
		"\nA = %s, B = %s\nreproduce: pinfs-exerciser --seed %" G_GUINT64_FORMAT
		" --steps %" G_GINT64_FORMAT " --max-size %zu%s --verbose A B\n",
		r->s[0].dir, r->s[1].dir, r->seed, r->step + 1, r->max_size,
		r->fuse_falloc ? " --fuse-falloc" : "");
	exit(1);
}

static G_NORETURN void die(const char *what, const char *dir)
{
	fprintf(stderr, "pinfs-exerciser: %s in %s: %s\n", what, dir, g_strerror(errno));
	exit(2);
}

/* Uniform in [lo, hi] (inclusive). */
static size_t pick(struct run *r, size_t lo, size_t hi)
{
	size_t v;

	if (hi <= lo)
		return lo;
	v = lo + (size_t)(g_rand_double(r->rand) * (double)(hi - lo + 1));
	return MIN(v, hi);
}

/* A length, mostly small, sometimes up to @max. */
static size_t pick_len(struct run *r, size_t max)
{
	switch (g_rand_int_range(r->rand, 0, 4)) {
	case 0:
		return pick(r, 1, MIN(max, 64));
	case 1:
		return pick(r, 1, MIN(max, 3 * BLOCK));
	case 2:
		return pick(r, 1, MIN(max, 256 * 1024));
	default:
		return pick(r, 1, max);
	}
}

/* An offset: within the file, near its end, or anywhere up to max_size. */
static size_t pick_off(struct run *r)
{
	switch (g_rand_int_range(r->rand, 0, 3)) {
	case 0:
		return pick(r, 0, r->size);
	case 1:
		return r->size > 8192 ? pick(r, r->size - 8192, r->size + 8192)
				      : pick(r, 0, r->size + 8192);
	default:
		return pick(r, 0, r->max_size);
	}
}

static void fill(struct run *r, size_t len)
{
	for (size_t i = 0; i < len; i += 4) {
		guint32 v = g_rand_int(r->rand);

		memcpy(r->data + i, &v, MIN(4, len - i));
	}
}

#define FOR_SIDES(r, sd) for (struct side *sd = (r)->s; sd < (r)->s + 2; sd++)

static void record(struct side *sd, ssize_t ret)
{
	sd->ret = ret;
	sd->err = ret < 0 ? errno : 0;
}

/* The operation's results must agree. */
static void check_results(struct run *r)
{
	if (r->s[0].err != r->s[1].err)
		diverge(r, "errno A %s, B %s", g_strerror(r->s[0].err),
			g_strerror(r->s[1].err));
	if (r->s[0].ret != r->s[1].ret)
		diverge(r, "return value A %zd, B %zd", r->s[0].ret, r->s[1].ret);
}

static void drop_map(struct side *sd)
{
	if (sd->map)
		munmap(sd->map, sd->map_len);
	sd->map = NULL;
	sd->map_len = 0;
}

/* A random one of the file's names, in *@i; FALSE when it has none left. */
static gboolean pick_name(struct run *r, guint *i)
{
	if (r->names->len == 0)
		return FALSE;
	*i = g_rand_int_range(r->rand, 0, r->names->len);
	return TRUE;
}

static char *new_name(struct run *r)
{
	return g_strdup_printf("f%u", r->name_counter++);
}

/* ---- the operations ------------------------------------------------------ */

static void op_write(struct run *r)
{
	size_t off = pick_off(r); /* not inside MIN(): it evaluates twice */
	size_t len;

	off = MIN(off, r->max_size - 1);
	len = pick_len(r, r->max_size - off);

	fill(r, len);
	g_string_printf(r->what, "pwrite [%zu,+%zu)", off, len);
	FOR_SIDES(r, sd) record(sd, pwrite(sd->fd, r->data, len, off));
	check_results(r);
}

static void op_read(struct run *r)
{
	size_t off = pick_off(r);
	size_t len = pick_len(r, r->max_size);

	g_string_printf(r->what, "pread [%zu,+%zu)", off, len);
	for (int i = 0; i < 2; i++)
		record(&r->s[i], pread(r->s[i].fd, r->buf[i], len, off));
	check_results(r);
	if (r->s[0].ret > 0 && memcmp(r->buf[0], r->buf[1], r->s[0].ret))
		diverge(r, "pread returned different bytes");
}

static int truncate_name(struct side *sd, const char *name, off_t len)
{
	g_autofree char *path = g_build_filename(sd->dir, name, NULL);

	return truncate(path, len);
}

static void op_truncate(struct run *r)
{
	size_t len;
	gboolean by_name = r->names->len > 0 && g_rand_boolean(r->rand);

	switch (g_rand_int_range(r->rand, 0, 4)) {
	case 0:
		len = r->size / 2;
		break;
	case 1:
		len = pick(r, 0, r->size);
		break;
	case 2:
		len = pick(r, r->size, MIN(r->size + 300000, r->max_size));
		break;
	default:
		len = pick(r, 0, r->max_size);
		break;
	}
	g_string_printf(r->what, "%struncate %zu -> %zu", by_name ? "" : "f", r->size,
			len);
	FOR_SIDES(r, sd)
	{
		if (by_name)
			record(sd, truncate_name(sd, r->names->pdata[0], len));
		else
			record(sd, ftruncate(sd->fd, len));
	}
	check_results(r);
}

static void op_fallocate(struct run *r)
{
	int m = g_rand_int_range(r->rand, 0, FALLOC_MODES_VALID);
	int mode = falloc_modes[m].mode;
	size_t off, len;

	if (g_rand_int_range(r->rand, 0, 5)) {
		/* block aligned, the way collapse and insert want it */
		off = pick(r, 0, (r->size + BLOCK) / BLOCK) * BLOCK;
		len = pick(r, 1, 64) * BLOCK;
	} else {
		off = pick_off(r);
		len = pick_len(r, 1 << 20);
	}
	/* stay below max_size: allocate/insert/zero can grow the file */
	if (off + len > r->max_size || r->size + len > r->max_size) {
		off = 0;
		len = BLOCK;
	}
	if (r->size + len > r->max_size) {
		m = FALLOC_MODE_PUNCH_HOLE; /* never grows */
		mode = falloc_modes[m].mode;
	}
	g_string_printf(r->what, "fallocate %s [%zu,+%zu) size %zu", falloc_modes[m].name,
			off, len, r->size);
	record(&r->s[0], fallocate(r->s[0].fd, mode, off, len));
	if (r->fuse_falloc && r->s[0].err == EOPNOTSUPP &&
	    (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE))) {
		r->kernel_refused++;
		r->s[1].err = EOPNOTSUPP;
		r->s[1].ret = -1;
		return;
	}
	record(&r->s[1], fallocate(r->s[1].fd, mode, off, len));
	check_results(r);
}

/* Map the whole file (its current size), replacing any old mapping. */
static void op_remap(struct run *r)
{
	g_string_printf(r->what, "mmap %zu", r->size);
	FOR_SIDES(r, sd)
	{
		drop_map(sd);
		if (r->size == 0)
			continue;
		sd->map =
		    mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, sd->fd, 0);
		if (sd->map == MAP_FAILED) {
			record(sd, -1);
			sd->map = NULL;
		} else {
			record(sd, 0);
			sd->map_len = r->size;
		}
	}
	check_results(r);
}

/* The range of the mapping we may touch: within the map and the file. */
static size_t map_limit(struct run *r)
{
	return MIN(r->s[0].map_len, r->size);
}

/*
 * A random range [*@off, +*@len) of the mapping to touch; without a mapping
 * (or with nothing mapped) remap instead and return FALSE.
 */
static gboolean pick_map_range(struct run *r, size_t *off, size_t *len)
{
	size_t lim = map_limit(r);

	if (!r->s[0].map || lim == 0) {
		op_remap(r);
		return FALSE;
	}
	*off = pick(r, 0, lim - 1);
	*len = pick_len(r, lim - *off);
	return TRUE;
}

static void op_map_write(struct run *r)
{
	size_t off, len;

	if (!pick_map_range(r, &off, &len))
		return;
	fill(r, len);
	g_string_printf(r->what, "mmap write [%zu,+%zu)", off, len);
	FOR_SIDES(r, sd) memcpy(sd->map + off, r->data, len);
	if (g_rand_int_range(r->rand, 0, 4) == 0) {
		FOR_SIDES(r, sd) record(sd, msync(sd->map, sd->map_len, MS_SYNC));
		check_results(r);
	}
}

static void op_map_read(struct run *r)
{
	size_t off, len;

	if (!pick_map_range(r, &off, &len))
		return;
	g_string_printf(r->what, "mmap read [%zu,+%zu)", off, len);
	if (memcmp(r->s[0].map + off, r->s[1].map + off, len))
		diverge(r, "the mappings hold different bytes");
}

static void op_rename(struct run *r)
{
	guint i;
	g_autofree char *to = NULL;

	if (!pick_name(r, &i))
		return;
	/* sometimes onto another of its own names (a no-op), mostly a new name */
	if (r->names->len > 1 && g_rand_int_range(r->rand, 0, 4) == 0)
		to = g_strdup(r->names->pdata[(i + 1) % r->names->len]);
	else
		to = new_name(r);
	g_string_printf(r->what, "rename %s -> %s", (char *)r->names->pdata[i], to);
	FOR_SIDES(r, sd) record(sd, renameat(sd->dfd, r->names->pdata[i], sd->dfd, to));
	check_results(r);
	if (r->s[0].err == 0 &&
	    !g_ptr_array_find_with_equal_func(r->names, to, g_str_equal, NULL)) {
		g_free(r->names->pdata[i]);
		r->names->pdata[i] = g_steal_pointer(&to);
	}
}

static void op_link(struct run *r)
{
	char *to;

	if (r->names->len == 0 || r->names->len >= 8)
		return;
	to = new_name(r);
	g_string_printf(r->what, "link %s -> %s", (char *)r->names->pdata[0], to);
	FOR_SIDES(r, sd) record(sd, linkat(sd->dfd, r->names->pdata[0], sd->dfd, to, 0));
	check_results(r);
	if (r->s[0].err == 0)
		g_ptr_array_add(r->names, to);
	else
		g_free(to);
}

/* Unlink one name; after the last one the file lives on through the fd. */
static void op_unlink(struct run *r)
{
	guint i;

	if (!pick_name(r, &i))
		return;
	g_string_printf(r->what, "unlink %s (of %u names)", (char *)r->names->pdata[i],
			r->names->len);
	FOR_SIDES(r, sd) record(sd, unlinkat(sd->dfd, r->names->pdata[i], 0));
	check_results(r);
	g_ptr_array_remove_index(r->names, i);
}

/*
 * Close and reopen the file by one of its names (maybe with O_TRUNC); with
 * no name left, drop the unlinked file and start a new one.
 */
static void op_reopen(struct run *r)
{
	gboolean trunc = g_rand_int_range(r->rand, 0, 8) == 0;
	gboolean fresh = r->names->len == 0;
	char *name = fresh ? new_name(r) : g_strdup(r->names->pdata[0]);
	int flags = O_RDWR | (trunc ? O_TRUNC : 0) | (fresh ? O_CREAT | O_EXCL : 0);

	g_string_printf(r->what, "reopen %s%s%s", name, trunc ? " O_TRUNC" : "",
			fresh ? " (new file)" : "");
	FOR_SIDES(r, sd)
	{
		close(sd->fd);
		if (fresh)
			drop_map(sd); /* it maps the file that is now gone */
		sd->fd = openat(sd->dfd, name, flags, 0644);
		record(sd, sd->fd < 0 ? -1 : 0);
		if (sd->fd < 0)
			die("reopen", sd->dir);
	}
	check_results(r);
	/* the other mounts of A follow (the file may be a new one) */
	for (int m = 0; m < r->nmounts; m++) {
		if (m == r->cur)
			continue;
		close(r->mfd[m]);
		r->mfd[m] = openat(r->mdfd[m], name, O_RDWR);
		if (r->mfd[m] < 0)
			die("reopen", r->mdir[m]);
	}
	if (fresh)
		g_ptr_array_add(r->names, name);
	else
		g_free(name);
}

static void op_sync(struct run *r)
{
	gboolean data = g_rand_boolean(r->rand);

	g_string_printf(r->what, "%s", data ? "fdatasync" : "fsync");
	FOR_SIDES(r, sd) record(sd, data ? fdatasync(sd->fd) : fsync(sd->fd));
	check_results(r);
}

/* Write through a second open of one of the file's names. */
static void op_write_other_fd(struct run *r)
{
	size_t off, len;

	if (r->names->len == 0)
		return;
	off = pick_off(r);
	off = MIN(off, r->max_size - 1);
	len = pick_len(r, MIN(r->max_size - off, 65536));
	fill(r, len);
	g_string_printf(r->what, "pwrite via a new fd of %s [%zu,+%zu)",
			(char *)r->names->pdata[0], off, len);
	FOR_SIDES(r, sd)
	{
		int fd = openat(sd->dfd, r->names->pdata[0], O_WRONLY);

		if (fd < 0)
			die("open", sd->dir);
		record(sd, pwrite(fd, r->data, len, off));
		close(fd);
	}
	check_results(r);
}

/* Read the whole file through a fresh open of a name: what a newcomer sees. */
static void op_read_fresh(struct run *r)
{
	guint i;

	if (!pick_name(r, &i))
		return;
	g_string_printf(r->what, "read all via a new fd of %s",
			(char *)r->names->pdata[i]);
	for (int k = 0; k < 2; k++) {
		struct side *sd = &r->s[k];
		int fd = openat(sd->dfd, r->names->pdata[i], O_RDONLY);

		if (fd < 0)
			die("open", sd->dir);
		record(sd, pread(fd, r->buf[k], r->max_size + (1 << 20), 0));
		close(fd);
	}
	check_results(r);
	if (r->s[0].ret > 0 && memcmp(r->buf[0], r->buf[1], r->s[0].ret))
		diverge(r, "a fresh open reads different bytes");
	if (r->s[0].ret != (ssize_t)r->size)
		diverge(r, "a fresh open reads %zd bytes, the file has %zu", r->s[0].ret,
			r->size);
}

/* copy_file_range() from one part of the file to another. */
static void op_copy_range(struct run *r)
{
	size_t src = pick(r, 0, r->size), len = pick_len(r, 1 << 20), dst;
	loff_t in, out;

	dst = pick_off(r);
	if (dst + len > r->max_size)
		len = dst < r->max_size ? r->max_size - dst : 0;
	g_string_printf(r->what, "copy_file_range [%zu,+%zu) -> %zu", src, len, dst);
	FOR_SIDES(r, sd)
	{
		in = src;
		out = dst;
		record(sd, copy_file_range(sd->fd, &in, sd->fd, &out, len, 0));
	}
	check_results(r);
}

/* ---- the comparison after every step ------------------------------------- */

static void compare_state(struct run *r)
{
	struct stat st[2];

	for (int i = 0; i < 2; i++)
		if (fstat(r->s[i].fd, &st[i]) < 0)
			die("fstat", r->s[i].dir);
	if (st[0].st_size != st[1].st_size)
		diverge(r, "size A %jd, B %jd", (intmax_t)st[0].st_size,
			(intmax_t)st[1].st_size);
	if (st[0].st_nlink != st[1].st_nlink)
		diverge(r, "link count A %ju, B %ju", (uintmax_t)st[0].st_nlink,
			(uintmax_t)st[1].st_nlink);
	if ((size_t)st[0].st_size > r->max_size + (1 << 20))
		diverge(r, "size %jd beyond the limit (an exerciser bug)",
			(intmax_t)st[0].st_size);
	r->size = st[0].st_size;

	for (int i = 0; i < 2; i++) {
		ssize_t n = pread(r->s[i].fd, r->buf[i], r->size, 0);

		if (n != (ssize_t)r->size)
			diverge(r, "reading back %s gave %zd of %zu bytes (%s)",
				i ? "B" : "A", n, r->size,
				n < 0 ? g_strerror(errno) : "short");
	}
	if (memcmp(r->buf[0], r->buf[1], r->size)) {
		size_t at = 0;

		while (r->buf[0][at] == r->buf[1][at])
			at++;
		diverge(r, "contents differ, first at offset %zu (A 0x%02x, B 0x%02x)",
			at, (guchar)r->buf[0][at], (guchar)r->buf[1][at]);
	}
	/* every name we believe in names this file on both sides */
	for (guint j = 0; j < r->names->len; j++) {
		for (int i = 0; i < 2; i++) {
			struct stat ns;

			if (fstatat(r->s[i].dfd, r->names->pdata[j], &ns, 0) < 0 ||
			    ns.st_ino != st[i].st_ino)
				diverge(r, "%s: name %s does not lead to the file",
					i ? "B" : "A", (char *)r->names->pdata[j]);
		}
	}
}

/* Write back A's mapping, so that other mounts can see what it holds. */
static void sync_map(struct run *r)
{
	if (r->s[0].map && msync(r->s[0].map, r->s[0].map_len, MS_SYNC) < 0)
		die("msync", r->s[0].dir);
}

/* Drop mount @m's clean cached pages of the file: it may hold pages read
 * before another mount changed them. */
static void drop_cache(struct run *r, int m)
{
	int e = posix_fadvise(r->mfd[m], 0, 0, POSIX_FADV_DONTNEED);

	if (e) {
		errno = e;
		die("posix_fadvise", r->mdir[m]);
	}
}

/* Every other mount of A shows what B shows (after compare_state). */
static void compare_mounts(struct run *r)
{
	struct stat st, stb;

	if (r->nmounts < 2)
		return;
	sync_map(r);
	if (fstat(r->s[1].fd, &stb) < 0)
		die("fstat", r->s[1].dir);
	for (int m = 0; m < r->nmounts; m++) {
		ssize_t n;

		if (m == r->cur)
			continue;
		drop_cache(r, m);
		if (fstat(r->mfd[m], &st) < 0)
			die("fstat", r->mdir[m]);
		if (st.st_size != stb.st_size || st.st_nlink != stb.st_nlink)
			diverge(r, "mount %s: size %jd links %ju, B: size %jd links %ju",
				r->mdir[m], (intmax_t)st.st_size, (uintmax_t)st.st_nlink,
				(intmax_t)stb.st_size, (uintmax_t)stb.st_nlink);
		n = pread(r->mfd[m], r->buf[0], r->size, 0);
		if (n != (ssize_t)r->size)
			diverge(r, "mount %s: reading back gave %zd of %zu bytes (%s)",
				r->mdir[m], n, r->size,
				n < 0 ? g_strerror(errno) : "short");
		if (memcmp(r->buf[0], r->buf[1], r->size)) {
			size_t at = 0;

			while (r->buf[0][at] == r->buf[1][at])
				at++;
			diverge(r,
				"mount %s: contents differ, first at offset %zu "
				"(A 0x%02x, B 0x%02x)",
				r->mdir[m], at, (guchar)r->buf[0][at],
				(guchar)r->buf[1][at]);
		}
	}
}

/* Side A's next step goes through mount @m: hand the file over to it. */
static void switch_mount(struct run *r, int m)
{
	if (m == r->cur)
		return;
	sync_map(r);
	FOR_SIDES(r, sd) drop_map(sd); /* B too: both sides stay alike */
	r->mfd[r->cur] = r->s[0].fd;
	r->cur = m;
	r->s[0].dir = r->mdir[m];
	r->s[0].dfd = r->mdfd[m];
	r->s[0].fd = r->mfd[m];
	drop_cache(r, m);
}

/* Start from a clean slate: remove the files of an earlier run (f<N>). */
static void remove_our_files(struct side *sd)
{
	g_autoptr(GDir) d = g_dir_open(sd->dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		if (name[0] == 'f' && name[1] &&
		    strspn(name + 1, "0123456789") == strlen(name + 1))
			unlinkat(sd->dfd, name, 0);
	}
}

static void inject_bug(struct run *r)
{
	char c;

	/* flip the first byte of B (or make B one byte longer) */
	if (r->size == 0 || pread(r->s[1].fd, &c, 1, 0) != 1) {
		if (pwrite(r->s[1].fd, "!", 1, 0) != 1)
			die("inject", r->s[1].dir);
		return;
	}
	c ^= 0x5a;
	if (pwrite(r->s[1].fd, &c, 1, 0) != 1)
		die("inject", r->s[1].dir);
}

/* The operations, each entry one equal share of the random choice. */
static void (*const ops[])(struct run *) = {
    op_write,	   op_write,	  op_write,	op_read,      op_read,
    op_truncate,   op_truncate,	  op_fallocate, op_fallocate, op_fallocate,
    op_remap,	   op_map_write,  op_map_write, op_map_read,  op_rename,
    op_link,	   op_unlink,	  op_reopen,	op_sync,      op_write_other_fd,
    op_read_fresh, op_copy_range,
};

int main(int argc, char **argv)
{
	gint64 seed = -1, steps = 1000, inject = -1, max_size = 4 << 20;
	gboolean verbose = FALSE, fuse_falloc = FALSE;
	g_auto(GStrv) also = NULL;
	GOptionEntry entries[] = {
	    {"seed", 0, 0, G_OPTION_ARG_INT64, &seed,
	     "Random seed (default: from the clock)", "N"},
	    {"steps", 0, 0, G_OPTION_ARG_INT64, &steps, "Number of steps (default 1000)",
	     "N"},
	    {"max-size", 0, 0, G_OPTION_ARG_INT64, &max_size,
	     "Largest file size in bytes (default 4 MiB)", "BYTES"},
	    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Print every step", NULL},
	    {"fuse-falloc", 0, 0, G_OPTION_ARG_NONE, &fuse_falloc,
	     "DIR_A is a FUSE mount: its kernel-side EOPNOTSUPP for collapse/insert "
	     "range "
	     "is not a divergence",
	     NULL},
	    {"inject-bug", 0, 0, G_OPTION_ARG_INT64, &inject,
	     "Self-test: corrupt B after step N", "N"},
	    {"also", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &also,
	     "DIR_A through another mount: A's steps go through each in turn", "DIR"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GOptionContext) ctx = g_option_context_new("DIR_A DIR_B");
	g_autoptr(GError) err = NULL;
	struct run r = {0};
	char *first;

	g_option_context_set_summary(ctx,
				     "Apply one random sequence of file operations to a "
				     "file in DIR_A and one in DIR_B and compare.");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != 3 || steps < 0 ||
	    max_size < 2 * BLOCK || (also && g_strv_length(also) >= MAX_MOUNTS)) {
		fprintf(stderr,
			"pinfs-exerciser: %s\nusage: %s [OPTION...] DIR_A DIR_B\n",
			err ? err->message : "bad arguments", argv[0]);
		return 2;
	}
	if (seed < 0)
		seed = g_get_real_time() % 1000000000;

	r.seed = seed;
	r.steps = steps;
	r.inject_step = inject;
	r.max_size = max_size;
	r.verbose = verbose;
	r.fuse_falloc = fuse_falloc;
	r.rand =
	    g_rand_new_with_seed_array((guint32[]){seed & 0xffffffff, seed >> 32}, 2);
	r.names = g_ptr_array_new_with_free_func(g_free);
	r.what = g_string_new("create");
	r.data = g_malloc(max_size + 4);
	r.buf[0] = g_malloc(max_size + (2 << 20));
	r.buf[1] = g_malloc(max_size + (2 << 20));
	r.step = -1;

	first = new_name(&r);
	for (int i = 0; i < 2; i++) {
		struct side *sd = &r.s[i];

		sd->dir = argv[1 + i];
		sd->dfd = open(sd->dir, O_RDONLY | O_DIRECTORY);
		if (sd->dfd < 0)
			die("open", sd->dir);
		remove_our_files(sd);
		sd->fd = openat(sd->dfd, first, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (sd->fd < 0)
			die("create", sd->dir);
	}
	g_ptr_array_add(r.names, first);
	r.nmounts = 1;
	r.mdir[0] = r.s[0].dir;
	r.mdfd[0] = r.s[0].dfd;
	for (guint i = 0; also && also[i]; i++, r.nmounts++) {
		int m = r.nmounts;

		r.mdir[m] = also[i];
		r.mdfd[m] = open(also[i], O_RDONLY | O_DIRECTORY);
		if (r.mdfd[m] < 0)
			die("open", also[i]);
		r.mfd[m] = openat(r.mdfd[m], first, O_RDWR);
		if (r.mfd[m] < 0)
			die("open the file", also[i]);
	}
	printf("pinfs-exerciser: seed %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
	       " steps, max size %" G_GINT64_FORMAT ", A %s, B %s\n",
	       seed, steps, max_size, r.s[0].dir, r.s[1].dir);

	for (r.step = 0; r.step < steps; r.step++) {
		g_string_truncate(r.what, 0);
		switch_mount(&r, (int)(r.step % r.nmounts));
		FOR_SIDES(&r, sd) record(sd, 0);
		ops[g_rand_int_range(r.rand, 0, G_N_ELEMENTS(ops))](&r);
		if (verbose)
			printf("step %" G_GINT64_FORMAT ": %s -> %s\n", r.step,
			       r.what->len ? r.what->str : "(nothing)",
			       r.s[0].err ? g_strerror(r.s[0].err) : "ok");
		if (r.step == r.inject_step)
			inject_bug(&r);
		compare_state(&r);
		compare_mounts(&r);
	}
	printf("pinfs-exerciser: %" G_GINT64_FORMAT
	       " steps, no divergence (final size %zu, "
	       "%" G_GUINT64_FORMAT " collapse/insert refused by the FUSE kernel on A)\n",
	       steps, r.size, r.kernel_refused);
	FOR_SIDES(&r, sd)
	{
		drop_map(sd);
		close(sd->fd);
	}
	r.mdfd[r.cur] = r.s[0].dfd;
	for (int m = 0; m < r.nmounts; m++) {
		if (m != r.cur)
			close(r.mfd[m]);
		close(r.mdfd[m]);
	}
	close(r.s[1].dfd);
	g_rand_free(r.rand);
	g_ptr_array_unref(r.names);
	g_string_free(r.what, TRUE);
	g_free(r.data);
	g_free(r.buf[0]);
	g_free(r.buf[1]);
	return 0;
}
