// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench.c - pinfs-bench's command line, result store and statistics.
 *
 *   pinfs-bench [options] lease|break|scale|io|all
 *
 * Each subcommand measures pinfs and its baselines in the same run and
 * adds series, ratios and target verdicts to the store here; report.c then
 * writes CSV, JSON, Markdown and PNG plots into the output directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"
#include "pinfs_abi.h"

struct bench_opts opt = {
    .rounds = 0,
    .iters = 0,
    .max_threads = 64,
    .max_holders = 1000,
    .max_parked = 10000,
    .io_runtime = 0,
    .io_size_mb = 0,
    .budget = 0,
};

GPtrArray *all_series; /* struct series *, in insertion order */
GPtrArray *all_ratios;
GPtrArray *all_targets;
GPtrArray *all_notes; /* char * */
GPtrArray *meta_keys; /* char *, in insertion order, values in meta */
GHashTable *meta;
static uint64_t start_ns;

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of a, nearest-rank on a sorted copy; NAN if empty. */
double quantile(GArray *a, double q)
{
	g_autofree double *v = NULL;
	guint n = a->len;
	size_t rank;

	if (!n)
		return NAN;
	v = g_memdup2(a->data, n * sizeof(double));
	qsort(v, n, sizeof(double), cmp_double);
	rank = (size_t)ceil(q * n);
	if (rank < 1)
		rank = 1;
	if (q == 0.5 && n % 2 == 0)
		return (v[n / 2 - 1] + v[n / 2]) / 2;
	return v[rank - 1];
}

/* ---- result store ---- */

struct series *series_find(const char *suite, const char *metric, const char *variant,
			   double x)
{
	for (guint i = 0; i < all_series->len; i++) {
		struct series *s = all_series->pdata[i];

		if (!strcmp(s->suite, suite) && !strcmp(s->metric, metric) &&
		    !strcmp(s->variant, variant) && s->x == x)
			return s;
	}
	return NULL;
}

/* The series (suite, metric, variant, x), created on first use. */
struct series *series_get(const char *suite, const char *metric, const char *variant,
			  double x, const char *unit)
{
	struct series *s = series_find(suite, metric, variant, x);

	if (s)
		return s;
	s = g_new0(struct series, 1);
	s->suite = g_strdup(suite);
	s->metric = g_strdup(metric);
	s->variant = g_strdup(variant);
	s->unit = g_strdup(unit);
	s->x = x;
	s->samples = g_array_new(FALSE, FALSE, sizeof(double));
	s->round_medians = g_array_new(FALSE, FALSE, sizeof(double));
	s->median = s->p99 = s->mean = s->min = s->max = NAN;
	g_ptr_array_add(all_series, s);
	return s;
}

void series_finish(struct series *s)
{
	double sum = 0;

	s->median = quantile(s->samples, 0.5);
	s->p99 = quantile(s->samples, 0.99);
	s->min = quantile(s->samples, 0);
	s->max = quantile(s->samples, 1);
	for (guint i = 0; i < s->samples->len; i++)
		sum += g_array_index(s->samples, double, i);
	s->mean = s->samples->len ? sum / s->samples->len : NAN;
}

void series_add(struct series *s, double v)
{
	g_array_append_val(s->samples, v);
}

/* The samples from first_sample on make up one round. */
void series_end_round(struct series *s, guint first_sample)
{
	GArray *r;
	double m;

	if (first_sample >= s->samples->len)
		return;
	r = g_array_new(FALSE, FALSE, sizeof(double));
	g_array_append_vals(r, &g_array_index(s->samples, double, first_sample),
			    s->samples->len - first_sample);
	m = quantile(r, 0.5);
	g_array_append_val(s->round_medians, m);
	g_array_free(r, TRUE);
}

void series_rounds_begin(struct series *const *s, guint n, guint *first)
{
	for (guint i = 0; i < n; i++)
		first[i] = s[i]->samples->len;
}

void series_rounds_end(struct series *const *s, guint n, const guint *first)
{
	for (guint i = 0; i < n; i++)
		series_end_round(s[i], first[i]);
}

/* num / den, round by round (the rounds both series have). */
struct ratio *ratio_add(const char *suite, const char *name, double x, struct series *num,
			struct series *den)
{
	struct ratio *r;
	GArray *per;
	guint n;

	if (!num || !den)
		return NULL;
	series_finish(num);
	series_finish(den);
	r = g_new0(struct ratio, 1);
	r->suite = g_strdup(suite);
	r->name = g_strdup(name);
	r->x = x;
	n = MIN(num->round_medians->len, den->round_medians->len);
	per = g_array_new(FALSE, FALSE, sizeof(double));
	for (guint i = 0; i < n; i++) {
		double d = g_array_index(den->round_medians, double, i);
		double v = g_array_index(num->round_medians, double, i) / d;

		g_array_append_val(per, v);
	}
	r->n = n;
	r->median = quantile(per, 0.5);
	r->p99 = quantile(per, 0.99);
	r->of_medians = num->median / den->median;
	g_array_free(per, TRUE);
	g_ptr_array_add(all_ratios, r);
	return r;
}

void target_add(const char *what, const char *verdict, const char *fmt, ...)
{
	struct target *t = g_new0(struct target, 1);
	va_list ap;

	va_start(ap, fmt);
	t->measured = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	t->what = g_strdup(what);
	t->verdict = g_strdup(verdict);
	g_ptr_array_add(all_targets, t);
	progress("target: %s: %s (%s)", what, t->measured, verdict);
}

void note_add(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_ptr_array_add(all_notes, s);
	progress("note: %s", s);
}

void meta_set(const char *key, const char *value)
{
	if (!g_hash_table_contains(meta, key))
		g_ptr_array_add(meta_keys, g_strdup(key));
	g_hash_table_replace(meta, g_strdup(key), g_strdup(value));
}

void progress(const char *fmt, ...)
{
	va_list ap;
	double t = (now_ns() - start_ns) / 1e9;

	fprintf(stderr, "[%6.1fs] ", t);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

double budget_left(void)
{
	if (!opt.budget)
		return G_MAXDOUBLE;
	return opt.budget - (now_ns() - start_ns) / 1e9;
}

/* ---- the ABI, used directly so the bench does not depend on libpinfs ---- */

int ioc_noop(int fd)
{
	return ioctl(fd, PINFS_IOC_NOOP);
}

int ioc_setlease(int fd, unsigned type)
{
	struct pinfs_lease l = {
	    .size = sizeof(l),
	    .type = type,
	    .length = PINFS_LEN_EOF,
	};

	return ioctl(fd, PINFS_IOC_SETLEASE, &l);
}

int ioc_state(int fd)
{
	struct pinfs_lease_status st = {.size = sizeof(st)};

	if (ioctl(fd, PINFS_IOC_GETLEASE, &st) < 0)
		return -errno;
	return (int)st.state;
}

/* ---- metadata ---- */

/* The first line of argv's output (stdout, then stderr) that contains
 * want, or its first line. */
static char *line_of(const char *const *argv, const char *want)
{
	g_autofree char *out = NULL, *err = NULL, *all = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
			  &out, &err, NULL, NULL))
		return g_strdup("unknown");
	all = g_strconcat(out ? out : "", err ? err : "", NULL);
	lines = g_strsplit(all, "\n", -1);
	for (int i = 0; lines[i]; i++) {
		if (strstr(lines[i], want))
			return g_strdup(g_strstrip(lines[i]));
	}
	return g_strdup(lines[0] ? g_strstrip(lines[0]) : "unknown");
}

/* The machine's load: other work on it makes every figure noisier. */
void meta_loadavg(const char *key)
{
	g_autofree char *text = NULL;

	if (g_file_get_contents("/proc/loadavg", &text, NULL, NULL))
		meta_set(key, g_strstrip(text));
}

static void collect_meta(const char *cmdline)
{
	g_autofree char *cpuinfo = NULL, *cpu = NULL, *ver = NULL, *fio = NULL;
	g_autofree char *date = NULL;
	const char *ver_argv[] = {opt.pinfs_bin, "--version", NULL};
	const char *fio_argv[] = {"fio", "--version", NULL};
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	struct utsname u;

	meta_set("command_line", cmdline);
	date = g_date_time_format_iso8601(now);
	meta_set("date", date);
	if (uname(&u) == 0) {
		g_autofree char *k = g_strdup_printf("%s %s %s %s", u.sysname, u.release,
						     u.version, u.machine);
		meta_set("kernel", k);
	}
	if (g_file_get_contents("/proc/cpuinfo", &cpuinfo, NULL, NULL)) {
		char *m = strstr(cpuinfo, "model name");

		if (m && (m = strchr(m, ':'))) {
			cpu = g_strndup(m + 1, strcspn(m + 1, "\n"));
			g_strstrip(cpu);
		}
	}
	meta_set("cpu", cpu ? cpu : "unknown");
	{
		g_autofree char *n =
		    g_strdup_printf("%ld", sysconf(_SC_NPROCESSORS_ONLN));

		meta_set("cpus_online", n);
	}
	ver = line_of(ver_argv, "pinfs");
	meta_set("pinfs_version", ver);
	meta_set("pinfs_binary", opt.pinfs_bin);
	meta_set("bench_version", PINFS_VERSION);
	fio = line_of(fio_argv, "fio");
	meta_set("fio_version", fio);
	meta_set("tmpdir", opt.tmpdir);
	meta_loadavg("loadavg_at_start");
	meta_set("mount_options", "");
}

/* ---- command line ---- */

/* The daemon: --pinfs, $PINFS_BIN, or ../../fs/pinfs beside this binary
 * (B/tools/bench/pinfs-bench), or ../fs/pinfs (B/tools/pinfs-bench). */
static char *find_pinfs(const char *argv0)
{
	const char *env = g_getenv("PINFS_BIN");
	g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
	g_autofree char *dir = NULL;
	const char *rel[] = {"../../fs/pinfs", "../fs/pinfs"};

	(void)argv0;
	if (opt.pinfs_bin)
		return g_strdup(opt.pinfs_bin);
	if (env && *env)
		return g_strdup(env);
	if (self) {
		dir = g_path_get_dirname(self);
		for (size_t i = 0; i < G_N_ELEMENTS(rel); i++) {
			g_autofree char *p = g_build_filename(dir, rel[i], NULL);
			char *real = realpath(p, NULL);

			if (real && access(real, X_OK) == 0)
				return real;
			free(real);
		}
	}
	return g_strdup("pinfs");
}

/* The subcommands, in the order "all" runs them. */
static const struct {
	const char *name;
	int (*run)(void);
	bool in_all;
} subcommands[] = {
    {"lease", run_lease, true},	  {"break", run_break, true},
    {"scale", run_scale, true},	  {"io", run_io, true},
    {"window", run_window, true}, {"cluster", run_cluster, false}, /* needs etcd-server */
};

static bool is_subcommand(const char *name)
{
	for (size_t i = 0; i < G_N_ELEMENTS(subcommands); i++)
		if (!strcmp(name, subcommands[i].name))
			return true;
	return false;
}

static const char *summary =
    "Subcommands:\n"
    "  lease   latency of taking and releasing a layout lease, 1..64 threads,\n"
    "          against a no-op pinfs ioctl and kernel F_SETLEASE\n"
    "  break   truncate start -> holder notified (signal, POLLPRI) and\n"
    "          release -> truncate returns, against a classic kernel lease\n"
    "  scale   latency and daemon memory against leases, holders, parked ops\n"
    "  io      fio and metadata loops: backing dir, leases=off, pinfs, leased\n"
    "  window  staging windows: map, first touch, sync of 1, 16, 256 MiB, and\n"
    "          RDMA WRITE into a window beside anonymous memory (if RDMA)\n"
    "  cluster two daemons joined through a 3-member etcd on loopback: lease\n"
    "          take+release with etcd= vs without, cross-node break notify vs a\n"
    "          local break vs one etcd round trip, and both with 10,000 leases\n"
    "          held (--max-leases; needs etcd-server)\n"
    "  all     all of them but cluster (with a time budget)\n"
    "\n"
    "Needs root (it mounts pinfs on temporary directories).  Writes CSV, JSON,\n"
    "Markdown and PNG plots into the output directory.";

int main(int argc, char **argv)
{
	gboolean quick = FALSE, no_plots = FALSE;
	GOptionEntry entries[] = {
	    {"output", 'o', 0, G_OPTION_ARG_FILENAME, &opt.outdir,
	     "Output directory (default ./pinfs-bench-out)", "DIR"},
	    {"pinfs", 0, 0, G_OPTION_ARG_FILENAME, &opt.pinfs_bin,
	     "The pinfs daemon (default $PINFS_BIN or ../../fs/pinfs)", "PATH"},
	    {"tmpdir", 0, 0, G_OPTION_ARG_FILENAME, &opt.tmpdir,
	     "Where backing dirs and mount points go (default /var/tmp)", "DIR"},
	    {"quick", 'q', 0, G_OPTION_ARG_NONE, &quick,
	     "A tiny run (under a minute): a smoke test, not a measurement", NULL},
	    {"rounds", 'r', 0, G_OPTION_ARG_INT, &opt.rounds,
	     "Repetitions of each measurement (default 5, quick 2)", "N"},
	    {"iters", 'n', 0, G_OPTION_ARG_INT, &opt.iters,
	     "Operations per round in latency loops (default 2000)", "N"},
	    {"max-threads", 0, 0, G_OPTION_ARG_INT, &opt.max_threads,
	     "lease: most threads (default 64)", "N"},
	    {"max-leases", 0, 0, G_OPTION_ARG_INT, &opt.max_leases,
	     "scale: most leases (default: what RLIMIT_NOFILE allows)", "N"},
	    {"max-holders", 0, 0, G_OPTION_ARG_INT, &opt.max_holders,
	     "scale: most holders of one file (default 1000)", "N"},
	    {"max-parked", 0, 0, G_OPTION_ARG_INT, &opt.max_parked,
	     "scale: most parked truncates (default 10000)", "N"},
	    {"io-runtime", 0, 0, G_OPTION_ARG_DOUBLE, &opt.io_runtime,
	     "io: seconds per fio job and round (default 1)", "S"},
	    {"io-size", 0, 0, G_OPTION_ARG_INT, &opt.io_size_mb,
	     "io: file size in MiB (default 128)", "MIB"},
	    {"budget", 0, 0, G_OPTION_ARG_INT, &opt.budget,
	     "all: stop growing sizes after this many seconds (default 600)", "S"},
	    {"no-plots", 0, 0, G_OPTION_ARG_NONE, &no_plots, "Do not run gnuplot", NULL},
	    {NULL}};
	g_autoptr(GOptionContext) ctx =
	    g_option_context_new("lease|break|scale|io|window|cluster|all");
	g_autoptr(GError) err = NULL;
	g_autofree char *cmdline = NULL;
	const char *cmd;
	bool all;
	int ret = 0;

	start_ns = now_ns();
	cmdline = g_strjoinv(" ", argv);
	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_summary(ctx, summary);
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		fprintf(stderr, "pinfs-bench: %s\n", err->message);
		return 2;
	}
	if (argc != 2) {
		fprintf(stderr, "pinfs-bench: one subcommand expected (see --help)\n");
		return 2;
	}
	cmd = argv[1];
	all = !strcmp(cmd, "all");
	if (!all && !is_subcommand(cmd)) {
		fprintf(stderr, "pinfs-bench: unknown subcommand '%s'\n", cmd);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "pinfs-bench: must run as root (it mounts pinfs)\n");
		return 1;
	}
	opt.quick = quick;
	opt.no_plots = no_plots;
	if (!opt.outdir)
		opt.outdir = g_strdup("pinfs-bench-out");
	if (!opt.tmpdir)
		opt.tmpdir = g_strdup("/var/tmp");
	if (!opt.rounds)
		opt.rounds = quick ? 2 : 5;
	if (!opt.iters)
		opt.iters = quick ? 200 : 2000;
	if (!opt.io_runtime)
		opt.io_runtime = quick ? 0.2 : 1;
	if (!opt.io_size_mb)
		opt.io_size_mb = quick ? 16 : 128;
	if (all && !opt.budget)
		opt.budget = quick ? 50 : 600;
	if (quick) {
		opt.max_threads = MIN(opt.max_threads, 4);
		opt.max_leases = opt.max_leases ? MIN(opt.max_leases, 1000) : 1000;
		opt.max_holders = MIN(opt.max_holders, 10);
		opt.max_parked = MIN(opt.max_parked, 100);
	}
	if (opt.rounds < 2) {
		fprintf(stderr, "pinfs-bench: --rounds must be at least 2\n");
		return 2;
	}
	opt.pinfs_bin = find_pinfs(argv[0]);
	if (g_mkdir_with_parents(opt.outdir, 0755) < 0) {
		fprintf(stderr, "pinfs-bench: %s: %s\n", opt.outdir, g_strerror(errno));
		return 1;
	}

	all_series = g_ptr_array_new();
	all_ratios = g_ptr_array_new();
	all_targets = g_ptr_array_new();
	all_notes = g_ptr_array_new();
	meta_keys = g_ptr_array_new();
	meta = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	collect_meta(cmdline);
	bm_init();
	raise_nofile();
	/* The bench holds leases itself (scale): a break must not kill it. */
	signal(SIGIO, SIG_IGN);

	progress("pinfs-bench %s: daemon %s, output %s, %d rounds", cmd, opt.pinfs_bin,
		 opt.outdir, opt.rounds);
	for (size_t i = 0; i < G_N_ELEMENTS(subcommands); i++)
		if (all ? subcommands[i].in_all : !strcmp(cmd, subcommands[i].name))
			ret |= subcommands[i].run();
	meta_loadavg("loadavg_at_end");
	ret |= report_write(cmdline);
	progress("done: results in %s", opt.outdir);
	return ret ? 1 : 0;
}
