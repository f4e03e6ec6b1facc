// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * leaselog.c - one structured log line per lease event.  Grants and
 * releases are INFO (shown with -d or G_MESSAGES_DEBUG); breaks,
 * revocations and refusals are MESSAGE.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lease.h"
#include "leaselog.h"

static void log_line(const struct lt_log *e)
{
	GLogLevelFlags level = G_LOG_LEVEL_MESSAGE;
	char id[32], pidbuf[16];

	if (!strcmp(e->event, "grant") || !strcmp(e->event, "release"))
		level = G_LOG_LEVEL_INFO;
	/* Every lease take and release logs: do not format what is dropped. */
	if (g_log_writer_default_would_drop(level, "pinfs"))
		return;
	snprintf(id, sizeof(id), "%" PRIu64, e->lease_id);
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)e->pid);
	g_log_structured("pinfs", level, "PINFS_EVENT", e->event, "PINFS_LEASE", id,
			 "PINFS_PID", pidbuf, "MESSAGE",
			 "lease %s: id %" PRIu64 " inode %#" PRIx64 " pid %d: %s",
			 e->event, e->lease_id, e->ino, (int)e->pid, e->detail);
}

void leaselog_write(const GArray *lines)
{
	for (guint i = 0; lines && i < lines->len; i++)
		log_line(&g_array_index(lines, struct lt_log, i));
}
