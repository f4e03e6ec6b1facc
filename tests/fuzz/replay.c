// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * replay.c - run a fuzz target's entry point over files, without
 * libFuzzer: the corpus regression test of the normal build.
 *
 *   fuzz-replay-TARGET [--tap] FILE|DIR...
 *
 * Every file (directories are read one level deep, sorted) is one TAP
 * test.  A failed check aborts, which meson reports as a failure naming
 * the last file started.
 */
#include <glib.h>

#include "fuzz.h"

static void replay(gconstpointer data)
{
	const char *path = data;
	char *bytes = NULL;
	gsize len = 0;
	GError *err = NULL;

	if (!g_file_get_contents(path, &bytes, &len, &err))
		g_error("%s: %s", path, err->message);
	LLVMFuzzerTestOneInput((const uint8_t *)bytes, len);
	g_free(bytes);
}

static gint by_name(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
	int ret;

	g_test_init(&argc, &argv, NULL);
	for (int i = 1; i < argc; i++) {
		GDir *dir = g_dir_open(argv[i], 0, NULL);
		const char *name;

		if (!dir) {
			g_ptr_array_add(files, g_strdup(argv[i]));
			continue;
		}
		while ((name = g_dir_read_name(dir)))
			g_ptr_array_add(files, g_build_filename(argv[i], name, NULL));
		g_dir_close(dir);
	}
	g_ptr_array_sort(files, by_name);
	if (files->len == 0)
		g_error("no corpus files given");
	for (guint i = 0; i < files->len; i++) {
		const char *path = g_ptr_array_index(files, i);
		char *name = g_path_get_basename(path);
		char *dir = g_path_get_dirname(path);
		char *base = g_path_get_basename(dir);
		char *test = g_strdup_printf("/fuzz/%s/%s", base, name);

		g_test_add_data_func(test, path, replay);
		g_free(test);
		g_free(base);
		g_free(dir);
		g_free(name);
	}
	ret = g_test_run();
	g_ptr_array_free(files, TRUE);
	return ret;
}
