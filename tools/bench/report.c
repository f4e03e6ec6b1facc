// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * report.c - pinfs-bench's output: results.csv, ratios.csv, results.json,
 * summary.md and PNG plots (gnuplot) in the output directory.
 *
 * Plots are made from small data files (plots/NAME.dat) and gnuplot scripts
 * (plots/NAME.gp) that stay in the output directory, so a figure can be
 * re-styled for a paper without running the benchmark again.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "bench.h"
#include "jsonmember.h"

extern GPtrArray *all_series, *all_ratios, *all_targets, *all_notes, *meta_keys;
extern GHashTable *meta;

static char *out_path(const char *name)
{
	return g_build_filename(opt.outdir, name, NULL);
}

static FILE *out_open(const char *name)
{
	g_autofree char *p = out_path(name);
	FILE *f = fopen(p, "w");

	if (!f)
		progress("cannot write %s: %s", p, g_strerror(errno));
	return f;
}

/* ---- CSV ---- */

static int write_csv(void)
{
	FILE *f = out_open("results.csv");

	if (!f)
		return -1;
	fprintf(f,
		"suite,metric,variant,x,unit,samples,rounds,median,p99,mean,min,max\n");
	for (guint i = 0; i < all_series->len; i++) {
		struct series *s = all_series->pdata[i];

		fprintf(f, "%s,%s,%s,%g,%s,%u,%u,%.6g,%.6g,%.6g,%.6g,%.6g\n", s->suite,
			s->metric, s->variant, s->x, s->unit, s->samples->len,
			s->round_medians->len, s->median, s->p99, s->mean, s->min,
			s->max);
	}
	fclose(f);
	f = out_open("ratios.csv");
	if (!f)
		return -1;
	fprintf(f, "suite,ratio,x,rounds,median,p99,ratio_of_medians\n");
	for (guint i = 0; i < all_ratios->len; i++) {
		struct ratio *r = all_ratios->pdata[i];

		fprintf(f, "%s,\"%s\",%g,%d,%.4f,%.4f,%.4f\n", r->suite, r->name, r->x,
			r->n, r->median, r->p99, r->of_medians);
	}
	fclose(f);
	return 0;
}

/* ---- JSON ---- */

/* JSON has no NaN: an empty series reports null. */
static void add_num(JsonBuilder *b, const char *k, double v)
{
	json_builder_set_member_name(b, k);
	if (isfinite(v))
		json_builder_add_double_value(b, v);
	else
		json_builder_add_null_value(b);
}

/* "@k": [one object per item of @items, its members from @add_members]. */
static void add_objects(JsonBuilder *b, const char *k, GPtrArray *items,
			void (*add_members)(JsonBuilder *b, gconstpointer item))
{
	json_builder_set_member_name(b, k);
	json_builder_begin_array(b);
	for (guint i = 0; i < items->len; i++) {
		json_builder_begin_object(b);
		add_members(b, items->pdata[i]);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

static void add_series_members(JsonBuilder *b, gconstpointer item)
{
	const struct series *s = item;

	json_member_str(b, "suite", s->suite);
	json_member_str(b, "metric", s->metric);
	json_member_str(b, "variant", s->variant);
	add_num(b, "x", s->x);
	json_member_str(b, "unit", s->unit);
	json_member_int(b, "samples", s->samples->len);
	add_num(b, "median", s->median);
	add_num(b, "p99", s->p99);
	add_num(b, "mean", s->mean);
	add_num(b, "min", s->min);
	add_num(b, "max", s->max);
	json_builder_set_member_name(b, "round_medians");
	json_builder_begin_array(b);
	for (guint j = 0; j < s->round_medians->len; j++)
		json_builder_add_double_value(b,
					      g_array_index(s->round_medians, double, j));
	json_builder_end_array(b);
}

static void add_ratio_members(JsonBuilder *b, gconstpointer item)
{
	const struct ratio *r = item;

	json_member_str(b, "suite", r->suite);
	json_member_str(b, "ratio", r->name);
	add_num(b, "x", r->x);
	json_member_int(b, "rounds", r->n);
	add_num(b, "median", r->median);
	add_num(b, "p99", r->p99);
	add_num(b, "ratio_of_medians", r->of_medians);
}

static void add_target_members(JsonBuilder *b, gconstpointer item)
{
	const struct target *t = item;

	json_member_str(b, "target", t->what);
	json_member_str(b, "measured", t->measured);
	json_member_str(b, "verdict", t->verdict);
}

static int write_json(void)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GError) err = NULL;
	g_autofree char *p = out_path("results.json");

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "meta");
	json_builder_begin_object(b);
	for (guint i = 0; i < meta_keys->len; i++)
		json_member_str(b, meta_keys->pdata[i],
				g_hash_table_lookup(meta, meta_keys->pdata[i]));
	json_builder_end_object(b);

	add_objects(b, "results", all_series, add_series_members);
	add_objects(b, "ratios", all_ratios, add_ratio_members);
	add_objects(b, "targets", all_targets, add_target_members);

	json_builder_set_member_name(b, "notes");
	json_builder_begin_array(b);
	for (guint i = 0; i < all_notes->len; i++)
		json_builder_add_string_value(b, all_notes->pdata[i]);
	json_builder_end_array(b);
	json_builder_end_object(b);

	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	if (!json_generator_to_file(gen, p, &err)) {
		progress("cannot write %s: %s", p, err->message);
		return -1;
	}
	return 0;
}

/* ---- plots ---- */

/* Series of one suite/metric/variant, sorted by x (insertion order is
 * already ascending in every suite). */
static GPtrArray *series_of(const char *suite, const char *metric, const char *variant)
{
	GPtrArray *a = g_ptr_array_new();

	for (guint i = 0; i < all_series->len; i++) {
		struct series *s = all_series->pdata[i];

		if (!strcmp(s->suite, suite) && !strcmp(s->metric, metric) &&
		    !strcmp(s->variant, variant) && s->samples->len)
			g_ptr_array_add(a, s);
	}
	return a;
}

/* plots/NAME.dat: "x median p99" rows of one series family; FALSE if empty. */
static gboolean dat_xy(const char *name, const char *suite, const char *metric,
		       const char *variant, double scale)
{
	g_autoptr(GPtrArray) a = series_of(suite, metric, variant);
	g_autofree char *rel = g_strdup_printf("plots/%s.dat", name);
	FILE *f;

	if (!a->len)
		return FALSE;
	f = out_open(rel);
	if (!f)
		return FALSE;
	for (guint i = 0; i < a->len; i++) {
		struct series *s = a->pdata[i];

		fprintf(f, "%g %g %g\n", s->x, s->median * scale, s->p99 * scale);
	}
	fclose(f);
	return TRUE;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* plots/NAME.dat: the empirical CDF of one series ("value fraction"). */
static gboolean dat_cdf(const char *name, struct series *s)
{
	g_autofree char *rel = g_strdup_printf("plots/%s.dat", name);
	g_autofree double *v = NULL;
	guint n, step;
	FILE *f;

	if (!s || !s->samples->len)
		return FALSE;
	n = s->samples->len;
	v = g_memdup2(s->samples->data, n * sizeof(double));
	qsort(v, n, sizeof(double), cmp_double);
	f = out_open(rel);
	if (!f)
		return FALSE;
	/* At most ~2000 points, but always the last one (the tail). */
	step = MAX(n / 2000, 1u);
	for (guint i = 0; i < n; i += step)
		fprintf(f, "%g %g\n", v[i], (double)(i + 1) / n);
	fprintf(f, "%g 1\n", v[n - 1]);
	fclose(f);
	return TRUE;
}

static int run_gnuplot(const char *name, const char *script)
{
	g_autofree char *gp_rel = g_strdup_printf("plots/%s.gp", name);
	g_autofree char *gp = out_path(gp_rel);
	g_autofree char *dir = out_path("plots");
	g_autoptr(GError) err = NULL;
	g_autofree char *base = g_strdup_printf("%s.gp", name);
	const char *argv[] = {"gnuplot", base, NULL};
	int status = 0;

	if (!g_file_set_contents(gp, script, -1, &err)) {
		progress("cannot write %s: %s", gp, err->message);
		return -1;
	}
	if (!g_spawn_sync(dir, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
			  NULL, &status, &err) ||
	    !g_spawn_check_wait_status(status, &err)) {
		progress("gnuplot %s: %s", gp, err->message);
		return -1;
	}
	return 0;
}

#define TERM "set terminal pngcairo noenhanced size 900,560 font 'sans,10'\n"

static GString *plot_cmd(GString *cmd, const char *dat, const char *spec,
			 const char *title)
{
	g_string_append_printf(cmd, "%s'%s.dat' %s title '%s'", cmd->len ? ", " : "plot ",
			       dat, spec, title);
	return cmd;
}

/* A line of the median of a series family (dat_xy()), if it has data. */
static void plot_xy(GString *cmd, const char *dat, const char *suite, const char *metric,
		    const char *variant, const char *spec, const char *title)
{
	if (dat_xy(dat, suite, metric, variant, 1))
		plot_cmd(cmd, dat, spec, title);
}

/* A line of the CDF of one series (dat_cdf()), if it has data. */
static void plot_cdf(GString *cmd, const char *dat, struct series *s, const char *spec,
		     const char *title)
{
	if (dat_cdf(dat, s))
		plot_cmd(cmd, dat, spec, title);
}

static void plot_lease(void)
{
	struct {
		const char *dat, *metric, *variant, *title;
	} lines[] = {
	    {"lease-noop", "noop", "pinfs", "no-op pinfs ioctl"},
	    {"lease-take", "take", "pinfs", "pinfs take"},
	    {"lease-release", "release", "pinfs", "pinfs release"},
	    {"lease-lib-take", "take", "libpinfs", "libpinfs take"},
	    {"lease-lib-release", "release", "libpinfs", "libpinfs release"},
	    {"lease-shim-take", "take", "shim", "shim F_SETLEASE F_LAYOUT"},
	    {"lease-shim-release", "release", "shim", "shim F_SETLEASE F_UNLCK"},
	    {"lease-ktake", "take", "kernel", "kernel F_SETLEASE F_RDLCK"},
	    {"lease-krelease", "release", "kernel", "kernel F_SETLEASE F_UNLCK"},
	};
	g_autoptr(GString) cmd = g_string_new(NULL);
	g_autofree char *script = NULL;

	for (size_t i = 0; i < G_N_ELEMENTS(lines); i++) {
		if (!dat_xy(lines[i].dat, "lease", lines[i].metric, lines[i].variant, 1))
			continue;
		g_autofree char *spec =
		    g_strdup_printf("using 1:2 with linespoints lw 2 lc %zu", i + 1);

		plot_cmd(cmd, lines[i].dat, spec, lines[i].title);
		g_string_append_printf(
		    cmd, ", '%s.dat' using 1:3 with lines dt 2 lc %zu notitle",
		    lines[i].dat, i + 1);
	}
	if (!cmd->len)
		return;
	script = g_strdup_printf(
	    TERM "set output 'lease.png'\n"
		 "set title 'Lease take/release latency (median, dashed: p99)'\n"
		 "set logscale xy 2\nset xlabel 'threads'\n"
		 "set ylabel 'latency per operation (us)'\n"
		 "set key outside right\nset grid\n%s\n",
	    cmd->str);
	run_gnuplot("lease", script);
}

static void plot_break(void)
{
	const char *modes[] = {"pinfs-signal", "pinfs-pollpri", "kernel-signal"};
	g_autoptr(GString) cmd = g_string_new(NULL);
	g_autofree char *script = NULL;

	for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
		g_autofree char *dat = g_strdup_printf("break-notify-%s", modes[i]);
		g_autofree char *t = g_strdup_printf("notify: %s", modes[i]);

		plot_cdf(cmd, dat, series_find("break", "notify", modes[i], 1),
			 "using 1:2 with lines lw 2", t);
	}
	plot_cdf(cmd, "break-resume-pinfs",
		 series_find("break", "resume", "pinfs-signal", 1),
		 "using 1:2 with lines dt 2 lw 2", "release to truncate return: pinfs");
	plot_cdf(cmd, "break-resume-kernel",
		 series_find("break", "resume", "kernel-signal", 1),
		 "using 1:2 with lines dt 2 lw 2", "release to truncate return: kernel");
	plot_cdf(cmd, "break-noop", series_find("break", "noop", "pinfs-signal", 1),
		 "using 1:2 with lines lw 1 lc 'black'", "no-op pinfs ioctl");
	if (!cmd->len)
		return;
	script =
	    g_strdup_printf(TERM "set output 'break.png'\n"
				 "set title 'Lease break latency distributions'\n"
				 "set logscale x\nset xlabel 'microseconds'\n"
				 "set ylabel 'fraction of breaks'\nset yrange [0:1]\n"
				 "set key bottom right\nset grid\n%s\n",
			    cmd->str);
	run_gnuplot("break", script);
}

static void plot_scale(void)
{
	g_autoptr(GString) a = g_string_new(NULL), b = g_string_new(NULL);
	g_autoptr(GString) c = g_string_new(NULL);
	g_autofree char *script = NULL;

	plot_xy(a, "scale-take", "scale", "take", "leases",
		"using 1:2 with linespoints lw 2", "take (median)");
	plot_xy(a, "scale-release", "scale", "release", "leases",
		"using 1:2 with linespoints lw 2", "release (median)");
	plot_xy(a, "scale-noop", "scale", "noop", "leases",
		"using 1:2 with linespoints lw 1 lc 'black'",
		"no-op ioctl timed beside it (median)");
	if (a->len)
		g_string_append(
		    a, ", 'scale-take.dat' using 1:3 with lines dt 2 title 'take p99'");
	plot_xy(b, "scale-htake", "scale", "take", "holders",
		"using 1:2 with linespoints lw 2", "take, H holders on one file");
	plot_xy(b, "scale-hbreak", "scale", "break_all", "holders",
		"using 1:2 with linespoints lw 2", "truncate breaking H holders");
	plot_xy(c, "scale-resolve", "scale", "resolve", "parked",
		"using 1:2 with linespoints lw 2",
		"first release to last truncate return");
	plot_xy(c, "scale-relall", "scale", "release_all", "parked",
		"using 1:2 with linespoints lw 2", "releasing all leases");
	if (!a->len && !b->len && !c->len)
		return;
	script = g_strdup_printf(
	    "set terminal pngcairo noenhanced size 900,1100 font 'sans,10'\nset output "
	    "'scale.png'\n"
	    "set multiplot layout 3,1\nset grid\nset logscale x\nset key top left\n"
	    "set title 'Lease latency against the number of leases held'\n"
	    "set xlabel 'leases held'\nset ylabel 'us'\n%s\n"
	    "set title 'Holders of one file'\nset xlabel 'holders'\nset ylabel 'us'\n"
	    "set logscale y\n%s\n"
	    "set title 'Parked truncates resolved by their holders release'\n"
	    "set xlabel 'parked truncates'\nset ylabel 'ms'\n%s\n"
	    "unset multiplot\n",
	    a->len ? a->str : "plot NaN notitle", b->len ? b->str : "plot NaN notitle",
	    c->len ? c->str : "plot NaN notitle");
	run_gnuplot("scale", script);
}

/* io.png: speed relative to the leases=off mount and the backing dir. */
static void plot_io(void)
{
	const char *cols[] = {"pinfs / backing", "pinfs / passthrough_ll",
			      "pinfs / leases-off", "pinfs-leased / leases-off"};
	g_autofree char *script = NULL;
	GPtrArray *jobs = g_ptr_array_new_with_free_func(g_free);
	FILE *f;

	for (guint i = 0; i < all_ratios->len; i++) {
		struct ratio *r = all_ratios->pdata[i];
		char *colon;

		if (strcmp(r->suite, "io") || !(colon = strstr(r->name, ": ")))
			continue;
		{
			g_autofree char *job = g_strndup(r->name, colon - r->name);
			gboolean seen = FALSE;

			for (guint j = 0; j < jobs->len; j++)
				seen |= !strcmp(jobs->pdata[j], job);
			if (!seen)
				g_ptr_array_add(jobs, g_steal_pointer(&job));
		}
	}
	if (!jobs->len)
		goto out;
	f = out_open("plots/io.dat");
	if (!f)
		goto out;
	fprintf(f, "job");
	for (size_t c = 0; c < G_N_ELEMENTS(cols); c++)
		fprintf(f, " \"%s\"", cols[c]);
	fprintf(f, "\n");
	for (guint j = 0; j < jobs->len; j++) {
		fprintf(f, "%s", (char *)jobs->pdata[j]);
		for (size_t c = 0; c < G_N_ELEMENTS(cols); c++) {
			g_autofree char *name =
			    g_strdup_printf("%s: %s", (char *)jobs->pdata[j], cols[c]);
			double v = NAN;

			for (guint i = 0; i < all_ratios->len; i++) {
				struct ratio *r = all_ratios->pdata[i];
				struct series *s;

				if (strcmp(r->suite, "io") || strcmp(r->name, name))
					continue;
				v = r->median;
				/* latencies: a ratio above 1 is slower; plot speed */
				s = series_find("io", jobs->pdata[j], "pinfs", 0);
				if (s && !strcmp(s->unit, "us"))
					v = 1 / v;
			}
			fprintf(f, " %g", v);
		}
		fprintf(f, "\n");
	}
	fclose(f);
	script = g_strdup(
	    TERM
	    "set output 'io.png'\n"
	    "set title 'I/O and metadata speed relative to baselines "
	    "(1 = same; median of per-round ratios)'\n"
	    "set style data histogram\nset style histogram clustered gap 1\n"
	    "set style fill solid 0.8 border -1\nset boxwidth 0.9\n"
	    "set xtics rotate by -30\nset grid y\nset logscale y\nset yrange [0.01:*]\n"
	    "set ylabel 'relative speed'\nset key top right\n"
	    "plot 'io.dat' using 2:xtic(1) title columnhead(2), '' using 3 "
	    "title columnhead(3), '' using 4 title columnhead(4), '' using 5 "
	    "title columnhead(5), 1 with lines lc 'black' dt 2 notitle\n");
	run_gnuplot("io", script);
out:
	g_ptr_array_free(jobs, TRUE);
}

static void write_plots(void)
{
	g_autofree char *dir = out_path("plots");

	g_mkdir_with_parents(dir, 0755);
	plot_lease();
	plot_break();
	plot_scale();
	plot_io();
}

/* ---- Markdown ---- */

static void md_num(GString *s, double v)
{
	if (!isfinite(v))
		g_string_append(s, " – |");
	else if (fabs(v) >= 100)
		g_string_append_printf(s, " %.0f |", v);
	else
		g_string_append_printf(s, " %.3g |", v);
}

static int write_markdown(void)
{
	g_autoptr(GString) s = g_string_new("# pinfs-bench results\n\n");
	const char *suites[] = {"lease", "break", "scale", "io"};
	const char *pngs[] = {"lease.png", "break.png", "scale.png", "io.png"};
	g_autofree char *p = out_path("summary.md");
	g_autoptr(GError) err = NULL;

	g_string_append(s, "| | |\n|---|---|\n");
	for (guint i = 0; i < meta_keys->len; i++)
		g_string_append_printf(
		    s, "| %s | `%s` |\n", (char *)meta_keys->pdata[i],
		    (char *)g_hash_table_lookup(meta, meta_keys->pdata[i]));
	g_string_append(s, "\nMedians and 99th percentiles are over every sample of "
			   "every round; ratios are the median over rounds of "
			   "(pinfs in round r) / (baseline in round r).\n");
	if (all_targets->len) {
		g_string_append(s, "\n## Targets\n\n| target | measured | verdict |\n"
				   "|---|---|---|\n");
		for (guint i = 0; i < all_targets->len; i++) {
			struct target *t = all_targets->pdata[i];

			g_string_append_printf(s, "| %s | %s | **%s** |\n", t->what,
					       t->measured, t->verdict);
		}
	}
	for (size_t k = 0; k < G_N_ELEMENTS(suites); k++) {
		gboolean any = FALSE;
		g_autofree char *png_rel = g_strdup_printf("plots/%s", pngs[k]);
		g_autofree char *png = out_path(png_rel);

		for (guint i = 0; i < all_series->len; i++) {
			struct series *x = all_series->pdata[i];

			if (strcmp(x->suite, suites[k]))
				continue;
			if (!any)
				g_string_append_printf(
				    s,
				    "\n## %s\n\n| metric | variant | x | unit | samples "
				    "| median | p99 |\n|---|---|---|---|---|---|---|\n",
				    suites[k]);
			any = TRUE;
			g_string_append_printf(s, "| %s | %s | %g | %s | %u |", x->metric,
					       x->variant, x->x, x->unit,
					       x->samples->len);
			md_num(s, x->median);
			md_num(s, x->p99);
			g_string_append_c(s, '\n');
		}
		if (!any)
			continue;
		any = FALSE;
		for (guint i = 0; i < all_ratios->len; i++) {
			struct ratio *r = all_ratios->pdata[i];

			if (strcmp(r->suite, suites[k]))
				continue;
			if (!any)
				g_string_append(
				    s, "\n| ratio | x | rounds | median | p99 |\n"
				       "|---|---|---|---|---|\n");
			any = TRUE;
			g_string_append_printf(s, "| %s | %g | %d |", r->name, r->x,
					       r->n);
			md_num(s, r->median);
			md_num(s, r->p99);
			g_string_append_c(s, '\n');
		}
		if (g_file_test(png, G_FILE_TEST_EXISTS))
			g_string_append_printf(s, "\n![%s](plots/%s)\n", suites[k],
					       pngs[k]);
	}
	if (all_notes->len) {
		g_string_append(s, "\n## Notes\n\n");
		for (guint i = 0; i < all_notes->len; i++)
			g_string_append_printf(s, "- %s\n", (char *)all_notes->pdata[i]);
	}
	if (!g_file_set_contents(p, s->str, -1, &err)) {
		progress("cannot write %s: %s", p, err->message);
		return -1;
	}
	return 0;
}

int report_write(const char *cmdline)
{
	int ret = 0;

	(void)cmdline;
	for (guint i = 0; i < all_series->len; i++)
		series_finish(all_series->pdata[i]);
	ret |= write_csv();
	ret |= write_json();
	if (!opt.no_plots)
		write_plots();
	ret |= write_markdown();
	return ret;
}
