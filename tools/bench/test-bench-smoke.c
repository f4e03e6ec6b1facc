// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-bench-smoke.c - "pinfs-bench all --quick" runs to its end and leaves
 * output that machines can read: results.json parses and holds every
 * suite, results.csv and summary.md are there, and every plot is a
 * non-empty PNG.  No timing is asserted: timings belong in the benchmark.
 *
 * $PINFS_BENCH is the bench, $PINFS_BIN the daemon (meson sets both).
 * Skipped without root, /dev/fuse, fio or gnuplot.
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

static char *outdir;
static gboolean ran_ok;

static char *out(const char *rel)
{
	return g_build_filename(outdir, rel, NULL);
}

static gboolean can_mount(void)
{
	if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0) {
		g_test_skip("needs root and /dev/fuse");
		return FALSE;
	}
	for (const char *const *p = (const char *const[]){"fio", "gnuplot", NULL}; *p;
	     p++) {
		g_autofree char *path = g_find_program_in_path(*p);

		if (!path) {
			g_test_skip_printf("needs %s (Debian packages fio, gnuplot-nox)",
					   *p);
			return FALSE;
		}
	}
	return TRUE;
}

static void test_run(void)
{
	const char *bench = g_getenv("PINFS_BENCH");
	g_autofree char *err_text = NULL;
	g_autoptr(GError) err = NULL;
	int status = 0;

	if (!can_mount())
		return;
	g_assert_nonnull(bench);
	{
		const char *argv[] = {bench, "all", "--quick", "-o", outdir, NULL};

		g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL, NULL,
					   &err_text, &status, &err));
	}
	if (!g_spawn_check_wait_status(status, NULL))
		g_test_message("pinfs-bench stderr:\n%s", err_text);
	g_assert_true(g_spawn_check_wait_status(status, &err));
	ran_ok = TRUE;
}

static gboolean need_run(void)
{
	if (!can_mount())
		return FALSE;
	g_assert_true(ran_ok);
	return TRUE;
}

/* Every suite has results with finite medians, and the metadata is set. */
static void test_json(void)
{
	g_autofree char *p = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) err = NULL;
	const char *suites[] = {"lease", "break", "scale", "io"};
	const char *keys[] = {"command_line", "kernel", "cpu", "pinfs_version",
			      "mount_options"};
	JsonObject *root, *meta;
	JsonArray *results;

	if (!need_run())
		return;
	p = out("results.json");
	g_assert_true(json_parser_load_from_file(parser, p, &err));
	g_assert_no_error(err);
	root = json_node_get_object(json_parser_get_root(parser));
	g_assert_nonnull(root);
	meta = json_object_get_object_member(root, "meta");
	g_assert_nonnull(meta);
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		const char *v = json_object_get_string_member(meta, keys[i]);

		g_assert_nonnull(v);
		g_assert_cmpstr(v, !=, "");
	}
	g_assert_nonnull(
	    strstr(json_object_get_string_member(meta, "pinfs_version"), "pinfs"));
	results = json_object_get_array_member(root, "results");
	g_assert_nonnull(results);
	for (size_t s = 0; s < G_N_ELEMENTS(suites); s++) {
		guint found = 0;

		for (guint i = 0; i < json_array_get_length(results); i++) {
			JsonObject *r = json_array_get_object_element(results, i);
			JsonNode *med = json_object_get_member(r, "median");

			if (strcmp(json_object_get_string_member(r, "suite"), suites[s]))
				continue;
			g_assert_cmpint(json_object_get_int_member(r, "samples"), >, 0);
			g_assert_true(med && JSON_NODE_HOLDS_VALUE(med));
			g_assert_true(isfinite(json_node_get_double(med)));
			/* Times, rates and sizes are never negative; the scale
			 * suite's bytes per file and per lease are differences of
			 * two VmRSS readings, which drop when the daemon's
			 * allocator gives memory back. */
			if (!g_str_has_prefix(json_object_get_string_member(r, "metric"),
					      "daemon_bytes_per_"))
				g_assert_cmpfloat(json_node_get_double(med), >=, 0);
			found++;
		}
		if (!found)
			g_test_message("no results for suite %s", suites[s]);
		g_assert_cmpuint(found, >, 0);
	}
	g_assert_cmpuint(
	    json_array_get_length(json_object_get_array_member(root, "ratios")), >, 0);
	g_assert_cmpuint(
	    json_array_get_length(json_object_get_array_member(root, "targets")), >, 0);
}

static void test_csv_md(void)
{
	g_autofree char *csv = NULL, *md = NULL, *p = NULL, *q = NULL;
	g_auto(GStrv) lines = NULL;

	if (!need_run())
		return;
	p = out("results.csv");
	g_assert_true(g_file_get_contents(p, &csv, NULL, NULL));
	lines = g_strsplit(csv, "\n", -1);
	g_assert_true(g_str_has_prefix(lines[0], "suite,metric,variant,x,unit"));
	g_assert_nonnull(lines[1]);
	for (int i = 1; lines[i] && *lines[i]; i++) {
		g_auto(GStrv) cols = g_strsplit(lines[i], ",", -1);

		g_assert_cmpuint(g_strv_length(cols), ==, 12);
	}
	q = out("summary.md");
	g_assert_true(g_file_get_contents(q, &md, NULL, NULL));
	g_assert_nonnull(strstr(md, "## Targets"));
	g_assert_nonnull(strstr(md, "| kernel |"));
}

static void test_pngs(void)
{
	const char *pngs[] = {"plots/lease.png", "plots/break.png", "plots/scale.png",
			      "plots/io.png"};

	if (!need_run())
		return;
	for (size_t i = 0; i < G_N_ELEMENTS(pngs); i++) {
		g_autofree char *p = out(pngs[i]);
		g_autofree char *data = NULL;
		gsize len = 0;

		g_assert_true(g_file_get_contents(p, &data, &len, NULL));
		g_assert_cmpuint(len, >, 1000);
		g_assert_cmpint(memcmp(data, "\x89PNG\r\n\x1a\n", 8), ==, 0);
	}
}

static int rm_rf(const char *path)
{
	const char *argv[] = {"rm", "-rf", path, NULL};

	return g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
			    NULL, NULL, NULL, NULL)
		   ? 0
		   : -1;
}

int main(int argc, char **argv)
{
	int ret;

	g_test_init(&argc, &argv, NULL);
	outdir = g_dir_make_tmp("pinfs-bench-smoke.XXXXXX", NULL);
	g_assert_nonnull(outdir);
	g_test_add_func("/bench/all-quick/run", test_run);
	g_test_add_func("/bench/all-quick/json", test_json);
	g_test_add_func("/bench/all-quick/csv-md", test_csv_md);
	g_test_add_func("/bench/all-quick/pngs", test_pngs);
	ret = g_test_run();
	if (ret == 0)
		rm_rf(outdir);
	else
		g_printerr("# output kept in %s\n", outdir);
	return ret;
}
