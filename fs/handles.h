/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * handles.h - the registry of open file and directory handles, so that
 * handles whose release never came are freed at unmount.
 */
#ifndef PINFS_HANDLES_H
#define PINFS_HANDLES_H

struct pinfs;

typedef void (*handle_free_fn)(void *handle);

void handles_init(struct pinfs *fs);
void handle_add(struct pinfs *fs, void *h, handle_free_fn fn);
void handle_remove(struct pinfs *fs, void *h);
/* At unmount: free the handles whose release never came. */
void handles_destroy(struct pinfs *fs);

#endif /* PINFS_HANDLES_H */
