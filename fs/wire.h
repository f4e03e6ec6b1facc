/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wire.h - what pinfs adds to libfuse's replies on the wire (wire.c).
 */
#ifndef PINFS_WIRE_H
#define PINFS_WIRE_H

#include "daemon.h"

/* Hook the session's replies; between fuse_session_mount() and the loop. */
void wire_install(struct fuse_session *se);

/* What the kernel offered at INIT: valid in lo_init and after it. */
bool killpriv_v2_offered(void);
bool wire_passthrough_offered(void);

/* Ask for FUSE_PASSTHROUGH in the INIT reply (from lo_init). */
void wire_want_passthrough(bool want);

/* The next OPEN (create false) or CREATE reply this thread writes, for
 * file handle fh, opens the file in passthrough mode on backing_id. */
void wire_next_open_passthrough(uint64_t fh, int backing_id, bool create);

#endif
