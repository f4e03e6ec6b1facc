// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench-io.c - "io": what pinfs costs plain I/O and metadata operations.
 *
 * Five variants, mounted side by side on the same filesystem:
 *   backing       the plain directory (no FUSE)
 *   passthrough_ll  libfuse's own low-level passthrough example, with its
 *                 defaults: the FUSE peer baseline.  It is built at run
 *                 time from the source Debian's libfuse3-dev ships
 *                 (/usr/share/doc/libfuse3-dev/examples, plain or .gz;
 *                 $PINFS_PEER_SRC names another directory); without it, or
 *                 without a C compiler, the variant is left out with a note
 *   leases-off    pinfs -o leases=off: the passthrough alone
 *   pinfs         pinfs -o leases=on, no lease on the files
 *   pinfs-leased  the same mount, with the bench holding a read lease on
 *                 the file under test for the whole job
 * Data jobs run fio (buffered, one job, psync or mmap, time based) on a
 * file laid out beforehand, with fallocate=none so fio never changes the
 * layout (which would break the lease).  Metadata (create, stat, unlink of
 * small files; truncate of a file without a lease) is timed per operation
 * here.  Each round runs every job on every variant back to back, and
 * ratios pair the variants of the same round.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "bench.h"
#include "pinfs_abi.h"

enum variant { V_BACKING, V_PEER, V_OFF, V_ON, V_LEASED, V_COUNT };

extern GPtrArray *all_ratios;

static const char *const vname[] = {"backing", "passthrough_ll", "leases-off", "pinfs",
				    "pinfs-leased"};

#define PEER_SRC_DIR "/usr/share/doc/libfuse3-dev/examples"

struct job {
	const char *name, *rw, *bs, *engine;
	bool write;
};

static const struct job jobs[] = {
    {"seqread-1M", "read", "1M", "psync", false},
    {"seqwrite-1M", "write", "1M", "psync", true},
    {"randread-4k", "randread", "4k", "psync", false},
    {"randwrite-4k", "randwrite", "4k", "psync", true},
    {"mmapread-4k", "randread", "4k", "mmap", false},
    {"mmapwrite-4k", "randwrite", "4k", "mmap", true},
};

/* A number inside fio's JSON, by a dotted path under jobs[0]; -1 if absent. */
static double fio_num(JsonObject *job, const char *dir, const char *a, const char *b)
{
	JsonObject *o = json_object_get_object_member(job, dir);

	if (!o || !json_object_has_member(o, a))
		return -1;
	if (!b)
		return json_object_get_double_member(o, a);
	o = json_object_get_object_member(o, a);
	if (!o || !json_object_has_member(o, "percentile"))
		return -1;
	o = json_object_get_object_member(o, "percentile");
	if (!o || !json_object_has_member(o, b))
		return -1;
	return json_object_get_double_member(o, b);
}

/* Run one fio job on file; add bandwidth and p99 completion latency. */
static int run_fio(const struct job *j, const char *file, enum variant v)
{
	g_autofree char *size = g_strdup_printf("--size=%dM", opt.io_size_mb);
	g_autofree char *rt =
	    g_strdup_printf("--runtime=%dms", (int)(opt.io_runtime * 1000));
	g_autofree char *fn = g_strdup_printf("--filename=%s", file);
	g_autofree char *rw = g_strdup_printf("--rw=%s", j->rw);
	g_autofree char *bs = g_strdup_printf("--bs=%s", j->bs);
	g_autofree char *eng = g_strdup_printf("--ioengine=%s", j->engine);
	const char *argv[] = {"fio",
			      "--name=pinfs-bench",
			      fn,
			      size,
			      rt,
			      rw,
			      bs,
			      eng,
			      "--time_based=1",
			      "--fallocate=none",
			      "--invalidate=0",
			      "--direct=0",
			      "--numjobs=1",
			      "--randrepeat=1",
			      "--output-format=json",
			      NULL};
	g_autofree char *out = NULL, *err_text = NULL;
	g_autoptr(JsonParser) p = json_parser_new();
	g_autoptr(GError) err = NULL;
	const char *dir = j->write ? "write" : "read";
	JsonObject *root, *job;
	JsonArray *arr;
	int status;
	double bw, p99;

	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
			  &out, &err_text, &status, &err) ||
	    !g_spawn_check_wait_status(status, &err)) {
		progress("io: fio %s on %s: %s %s", j->name, vname[v],
			 err ? err->message : "", err_text ? err_text : "");
		return -1;
	}
	/* fio may print notes before its JSON */
	{
		char *brace = strchr(out, '{');

		if (!brace || !json_parser_load_from_data(p, brace, -1, &err)) {
			progress("io: fio output: %s", err ? err->message : "no JSON");
			return -1;
		}
	}
	root = json_node_get_object(json_parser_get_root(p));
	arr = root ? json_object_get_array_member(root, "jobs") : NULL;
	if (!arr || !json_array_get_length(arr))
		return -1;
	job = json_array_get_object_element(arr, 0);
	bw = fio_num(job, dir, "bw_bytes", NULL);
	p99 = fio_num(job, dir, "clat_ns", "99.000000");
	if (bw < 0)
		return -1;
	{
		struct series *s = series_get("io", j->name, vname[v], 0, "MiB/s");

		series_add(s, bw / (1024.0 * 1024.0));
		series_end_round(s, s->samples->len - 1);
	}
	if (p99 >= 0) {
		g_autofree char *m = g_strdup_printf("%s clat p99", j->name);
		struct series *s = series_get("io", m, vname[v], 0, "us");

		series_add(s, p99 / 1e3);
		series_end_round(s, s->samples->len - 1);
	}
	return 0;
}

/* Copy name from src (or name.gz, decompressed) into dir. */
static bool peer_copy(const char *src, const char *name, const char *dir)
{
	g_autofree char *plain = g_build_filename(src, name, NULL);
	g_autofree char *gz = g_strconcat(plain, ".gz", NULL);
	g_autofree char *dst = g_build_filename(dir, name, NULL);
	g_autofree char *text = NULL;
	gsize len = 0;
	int status;

	if (g_file_get_contents(plain, &text, &len, NULL))
		return g_file_set_contents(dst, text, (gssize)len, NULL);
	{
		const char *argv[] = {"gzip", "-dc", gz, NULL};

		if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
				  NULL, &text, NULL, &status, NULL) ||
		    !g_spawn_check_wait_status(status, NULL))
			return false;
	}
	return g_file_set_contents(dst, text, -1, NULL);
}

/*
 * Build libfuse's passthrough_ll into a new temporary directory (*dir);
 * its path, or NULL with a note saying why not.  Measurement only: the
 * example is compiled here, at run time, and never shipped.
 */
static char *peer_build(char **dir)
{
	const char *src = g_getenv("PINFS_PEER_SRC");
	g_autofree char *flags = NULL, *err_text = NULL;
	g_autofree char *c = NULL, *bin = NULL;
	g_auto(GStrv) fl = NULL;
	g_autoptr(GPtrArray) cc = g_ptr_array_new();
	const char *pc[] = {"pkg-config", "--cflags", "--libs", "fuse3", NULL};
	int status;

	if (!src || !*src)
		src = PEER_SRC_DIR;
	*dir = g_dir_make_tmp("pinfs-bench-peer-XXXXXX", NULL);
	if (!*dir || !peer_copy(src, "passthrough_ll.c", *dir)) {
		note_add("io: no passthrough_ll baseline: no %s/passthrough_ll.c(.gz) "
			 "(Debian: libfuse3-dev)",
			 src);
		return NULL;
	}
	peer_copy(src, "passthrough_helpers.h", *dir); /* older examples need it */
	if (!g_spawn_sync(NULL, (char **)pc, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
			  &flags, NULL, &status, NULL) ||
	    !g_spawn_check_wait_status(status, NULL) ||
	    !g_shell_parse_argv(g_strstrip(flags), NULL, &fl, NULL)) {
		note_add("io: no passthrough_ll baseline: pkg-config fuse3 failed");
		return NULL;
	}
	c = g_build_filename(*dir, "passthrough_ll.c", NULL);
	bin = g_build_filename(*dir, "passthrough_ll", NULL);
	g_ptr_array_add(cc, "cc");
	g_ptr_array_add(cc, "-O2");
	g_ptr_array_add(cc, "-o");
	g_ptr_array_add(cc, bin);
	g_ptr_array_add(cc, c);
	for (char **f = fl; *f; f++)
		g_ptr_array_add(cc, *f);
	g_ptr_array_add(cc, NULL);
	if (!g_spawn_sync(NULL, (char **)cc->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
			  NULL, &err_text, &status, NULL) ||
	    !g_spawn_check_wait_status(status, NULL)) {
		note_add("io: no passthrough_ll baseline: cc failed: %s",
			 err_text ? err_text : "");
		return NULL;
	}
	{
		g_autofree char *what = g_strdup_printf(
		    "libfuse passthrough_ll from %s, built with cc -O2, default options",
		    src);

		meta_set("io_peer", what);
	}
	return g_steal_pointer(&bin);
}

static int rm_tree(const char *dir)
{
	const char *argv[] = {"rm", "-rf", dir, NULL};

	return g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
			    NULL, NULL, NULL, NULL)
		   ? 0
		   : -1;
}

/* Write path full of data, so no job changes its size. */
static int lay_out(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char *buf = g_malloc(1 << 20);
	int ret = 0;

	if (fd < 0) {
		g_free(buf);
		return -1;
	}
	memset(buf, 0x5a, 1 << 20);
	for (int i = 0; i < opt.io_size_mb && !ret; i++) {
		if (write(fd, buf, 1 << 20) != 1 << 20)
			ret = -1;
	}
	fsync(fd);
	close(fd);
	g_free(buf);
	return ret;
}

/* One timed metadata operation; returns 0 or -1. */
enum meta_op { M_CREATE, M_STAT, M_UNLINK, M_TRUNCATE, M_OPS };

static const char *const meta_name[] = {"create", "stat", "unlink", "truncate"};

static int meta_one(enum meta_op op, const char *dir, int i, struct series *s)
{
	g_autofree char *p = op == M_TRUNCATE ? g_build_filename(dir, "trunc", NULL)
					      : g_strdup_printf("%s/m%d", dir, i);
	char buf[1024];
	struct stat sb;
	uint64_t a;
	int ret = 0, fd;

	memset(buf, 'x', sizeof(buf));
	a = now_ns();
	switch (op) {
	case M_CREATE:
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf))
			ret = -1;
		if (fd >= 0)
			close(fd);
		break;
	case M_STAT:
		ret = stat(p, &sb);
		break;
	case M_UNLINK:
		ret = unlink(p);
		break;
	default:
		ret = truncate(p, (i & 1) ? 0 : 8192);
		break;
	}
	series_add(s, (now_ns() - a) / 1e3);
	return ret < 0 ? -1 : 0;
}

/*
 * create/stat/unlink of n small files in each dir, and truncates of one
 * file: operation by operation, each done on every variant in turn (the
 * first variant rotating), so that a change of load in the machine falls
 * on all variants alike.
 */
static int meta_round(char *const dir[], int n)
{
	struct series *s[M_OPS][V_COUNT] = {{NULL}};
	guint len0[M_OPS][V_COUNT] = {{0}};
	int ret = 0;

	for (int op = 0; op < M_OPS; op++) {
		for (int v = 0; v < V_LEASED; v++) {
			if (!dir[v])
				continue;
			s[op][v] = series_get("io", meta_name[op], vname[v], 0, "us");
			len0[op][v] = s[op][v]->samples->len;
		}
	}
	for (int v = 0; v < V_LEASED && !ret; v++) {
		g_autofree char *tpath =
		    dir[v] ? g_build_filename(dir[v], "trunc", NULL) : NULL;

		if (tpath && !g_file_set_contents(tpath, "x", 1, NULL))
			ret = -1;
	}
	for (int op = 0; op < M_OPS && !ret; op++) {
		for (int i = 0; i < n && !ret; i++) {
			for (int k = 0; k < V_LEASED && !ret; k++) {
				int v = (i + k) % V_LEASED;

				if (dir[v] && meta_one(op, dir[v], i, s[op][v]) < 0) {
					progress("io: %s on %s: %s", meta_name[op],
						 vname[v], g_strerror(errno));
					ret = -1;
				}
			}
		}
	}
	for (int op = 0; op < M_OPS; op++)
		for (int v = 0; v < V_LEASED; v++)
			if (s[op][v])
				series_end_round(s[op][v], len0[op][v]);
	return ret;
}

int run_io(void)
{
	g_autofree char *peer_dir = NULL;
	g_autofree char *peer_bin = peer_build(&peer_dir);
	struct bmount *m[4] = {
	    bm_plain(), bm_mount("leases=off"), bm_mount("leases=on,break_time=10"),
	    peer_bin ? bm_mount_peer(peer_bin, "default_permissions") : NULL};
	char *dir[V_COUNT] = {NULL}, *file[V_COUNT] = {NULL};
	int lease_fd = -1, ret = 0, nmeta = MAX(opt.iters / 2, 100);
	double worst = 1;
	g_autofree char *worst_name = NULL;

	dir[V_BACKING] = g_strdup(m[0]->mnt);
	dir[V_PEER] = m[3] ? g_strdup(m[3]->mnt) : NULL;
	dir[V_OFF] = g_strdup(m[1]->mnt);
	dir[V_ON] = bm_path(m[2], "plain");
	dir[V_LEASED] = bm_path(m[2], "leased");
	for (int v = 0; v < V_COUNT; v++) {
		if (!dir[v])
			continue;
		if (v >= V_ON)
			mkdir(dir[v], 0755);
		file[v] = g_build_filename(dir[v], "fio.dat", NULL);
		if (lay_out(file[v]) < 0) {
			progress("io: cannot lay out %s: %s", file[v], g_strerror(errno));
			ret = -1;
		}
	}
	if (ret)
		goto out;
	lease_fd = open(file[V_LEASED], O_RDONLY);
	if (lease_fd < 0 || ioc_setlease(lease_fd, PINFS_LEASE_READ) < 0) {
		progress("io: cannot take the lease: %s", g_strerror(errno));
		ret = -1;
		goto out;
	}
	for (int r = 0; r < opt.rounds && !ret; r++) {
		if (r >= 2 && budget_left() < 0) {
			note_add("io: stopped after %d rounds: time budget spent", r);
			break;
		}
		progress("io: round %d/%d: %zu fio jobs x %d variants, %.1f s each",
			 r + 1, opt.rounds, G_N_ELEMENTS(jobs), V_COUNT, opt.io_runtime);
		for (size_t j = 0; j < G_N_ELEMENTS(jobs) && !ret; j++) {
			for (int v = 0; v < V_COUNT && !ret; v++)
				if (file[v])
					ret = run_fio(&jobs[j], file[v], v);
		}
		if (!ret)
			ret = meta_round(dir, nmeta);
		if (ioc_state(lease_fd) != PINFS_STATE_ACTIVE) {
			note_add("io: the lease on the leased file did not stay active "
				 "(state %d)",
				 ioc_state(lease_fd));
			ioc_setlease(lease_fd, PINFS_LEASE_UNLOCK);
			ioc_setlease(lease_fd, PINFS_LEASE_READ);
		}
	}
	if (ret)
		goto out;
	{
		const char *names[] = {"seqread-1M",   "seqwrite-1M", "randread-4k",
				       "randwrite-4k", "mmapread-4k", "mmapwrite-4k",
				       "create",       "stat",	      "unlink",
				       "truncate"};

		/* Each job's ratios: numerator / denominator variants (no
		 * passthrough_ll ratio without passthrough_ll: ratio_add()
		 * skips a missing series). */
		static const struct {
			const char *label;
			enum variant num, den;
		} rdefs[] = {
		    {"pinfs / backing", V_ON, V_BACKING},
		    {"pinfs / leases-off", V_ON, V_OFF},
		    {"pinfs-leased / leases-off", V_LEASED, V_OFF},
		    {"leases-off / backing", V_OFF, V_BACKING},
		    {"pinfs / passthrough_ll", V_ON, V_PEER},
		    {"leases-off / passthrough_ll", V_OFF, V_PEER},
		};

		for (size_t j = 0; j < G_N_ELEMENTS(names); j++) {
			struct series *s[V_COUNT];
			bool lat = j >= G_N_ELEMENTS(jobs);
			struct ratio *rb = NULL; /* pinfs / leases-off, for the target */

			for (int v = 0; v < V_COUNT; v++)
				s[v] = series_find("io", names[j], vname[v], 0);
			for (size_t k = 0; k < G_N_ELEMENTS(rdefs); k++) {
				g_autofree char *name =
				    g_strdup_printf("%s: %s", names[j], rdefs[k].label);
				struct ratio *r = ratio_add(
				    "io", name, 0, s[rdefs[k].num], s[rdefs[k].den]);

				if (rdefs[k].num == V_ON && rdefs[k].den == V_OFF)
					rb = r;
			}
			/* how much slower than leases=off: >1 is slower */
			if (rb) {
				double slow = lat ? rb->median : 1 / rb->median;

				if (slow > worst) {
					worst = slow;
					g_free(worst_name);
					worst_name = g_strdup(names[j]);
				}
			}
		}
	}
	target_add("files without leases: I/O and truncate within 3% of leases=off",
		   worst <= 1.03 ? "met" : "missed",
		   "worst: %s, pinfs %.1f%% slower than leases=off (median of per-round "
		   "ratios)",
		   worst_name ? worst_name : "none", (worst - 1) * 100);
	for (guint i = 0; i < all_ratios->len; i++) {
		struct ratio *r = all_ratios->pdata[i];

		if (!strcmp(r->name, "seqread-1M: pinfs / backing"))
			target_add(
			    "sequential reads within 10% of the backing "
			    "directory",
			    r->median >= 0.9 ? "met" : "missed",
			    "pinfs %.2fx the backing directory's seqread-1M bandwidth",
			    r->median);
	}
out:
	if (lease_fd >= 0) {
		ioc_setlease(lease_fd, PINFS_LEASE_UNLOCK);
		close(lease_fd);
	}
	for (int v = 0; v < V_COUNT; v++) {
		g_free(dir[v]);
		g_free(file[v]);
	}
	for (int i = 0; i < 4; i++)
		if (m[i])
			bm_unmount(m[i]);
	if (peer_dir)
		rm_tree(peer_dir);
	return ret;
}
