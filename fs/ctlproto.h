/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctlproto.h - the control channel's protocol, between its transport
 * (ctl.c: socket, framing, limits) and the lease table.
 */
#ifndef PINFS_CTLPROTO_H
#define PINFS_CTLPROTO_H

#include <glib.h>
#include <sys/types.h>

#include "ctl.h"

/* What answers requests: the table, its clock and the daemon's hooks. */
struct ctl_proto {
	struct lease_table *t;
	struct lt_clock clock;
	struct ctl_hooks hooks;
	void *hook_ctx;
};

/* clock NULL: CLOCK_MONOTONIC; hooks NULL: none.  Both are copied. */
void ctl_proto_init(struct ctl_proto *p, struct lease_table *t,
		    const struct lt_clock *clock, const struct ctl_hooks *hooks,
		    void *hook_ctx);

/* Answer one request line (without its newline) from a peer with uid
 * ((uid_t)-1: unknown) and pid (-1: unknown): append the response line
 * to out.  A blank line is answered with nothing. */
void ctl_proto_answer(const struct ctl_proto *p, uid_t uid, pid_t pid, const char *line,
		      size_t len, GString *out);

/* Append an error response line: {"ok":false,"errno":err,"error":msg}. */
void ctl_proto_error(GString *out, int err, const char *msg);

#endif /* PINFS_CTLPROTO_H */
