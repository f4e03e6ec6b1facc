/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check.h - small helpers the integration tests share: errno names in
 * assertions, file sizes, temporary files, a monotonic clock and numbers
 * from the environment.  (The mount itself is mount.h's.)
 */
#ifndef PINFS_TEST_CHECK_H
#define PINFS_TEST_CHECK_H

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

/* "EAGAIN" for EAGAIN, "OK" for 0: assertions then print names. */
const char *ename(int e);

/* 0, or the errno of a syscall that returned < 0. */
int err_of(long r);

/* Assert that error @got (0: none) is @want, printing both by name. */
#define assert_err(got, want) g_assert_cmpstr(ename(got), ==, ename(want))

/* Assert that @expr (a syscall returning < 0 on error) fails with @e (0: succeeds). */
#define assert_errno(expr, e) assert_err(err_of((long)(expr)), e)

/* stat(path)'s size; asserts that stat works. */
off_t size_of(const char *path);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t now_ns(void);

/*
 * A new directory @prefix-XXXXXX in @parent (NULL: the temporary directory):
 * returns the path of a file "f" in it (not created) and the directory's in
 * *dir.  tmp_file_remove() takes both away again.
 */
char *tmp_file_path(const char *parent, const char *prefix, char **dir);

/* Unlink @path, remove @dir (asserting that both work) and g_free() both. */
void tmp_file_remove(char *dir, char *path);

/* $name as an int, or @def when unset or empty. */
int env_int(const char *name, int def);

#endif /* PINFS_TEST_CHECK_H */
