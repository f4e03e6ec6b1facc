// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * handles.c - the registry of open handles: every open file and directory
 * (address -> its free function), under pinfs.handle_lock, taken on open
 * and release only.
 */
#include "handles.h"
#include "daemon.h"

void handles_init(struct pinfs *fs)
{
	pthread_mutex_init(&fs->handle_lock, NULL);
	fs->handles = g_hash_table_new(g_direct_hash, g_direct_equal);
}

void handle_add(struct pinfs *fs, void *h, handle_free_fn fn)
{
	pthread_mutex_lock(&fs->handle_lock);
	g_hash_table_insert(fs->handles, h, (gpointer)fn);
	pthread_mutex_unlock(&fs->handle_lock);
}

void handle_remove(struct pinfs *fs, void *h)
{
	pthread_mutex_lock(&fs->handle_lock);
	g_hash_table_remove(fs->handles, h);
	pthread_mutex_unlock(&fs->handle_lock);
}

void handles_destroy(struct pinfs *fs)
{
	GHashTableIter it;
	gpointer h, fn;

	g_hash_table_iter_init(&it, fs->handles);
	while (g_hash_table_iter_next(&it, &h, &fn))
		((handle_free_fn)fn)(h);
	g_hash_table_destroy(fs->handles);
	pthread_mutex_destroy(&fs->handle_lock);
}
