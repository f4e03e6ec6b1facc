/* SPDX-License-Identifier: GPL-2.0-or-later */
/* check.c - see check.h. */
#include "check.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

const char *ename(int e)
{
	const char *n;

	if (e == 0)
		return "OK";
	n = strerrorname_np(e);
	return n ? n : "E???";
}

int err_of(long r)
{
	return r < 0 ? errno : 0;
}

off_t size_of(const char *path)
{
	struct stat st;

	g_assert_no_errno(stat(path, &st));
	return st.st_size;
}

int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int env_int(const char *name, int def)
{
	const char *v = g_getenv(name);

	return v && *v ? atoi(v) : def;
}

char *tmp_file_path(const char *parent, const char *prefix, char **dir)
{
	g_autofree char *name = g_strconcat(prefix, "-XXXXXX", NULL);
	g_autofree char *tmpl =
	    g_build_filename(parent ? parent : g_get_tmp_dir(), name, NULL);

	*dir = g_mkdtemp(g_steal_pointer(&tmpl));
	g_assert_nonnull(*dir);
	return g_build_filename(*dir, "f", NULL);
}

void tmp_file_remove(char *dir, char *path)
{
	g_assert_cmpint(g_unlink(path), ==, 0);
	g_assert_cmpint(g_rmdir(dir), ==, 0);
	g_free(path);
	g_free(dir);
}
