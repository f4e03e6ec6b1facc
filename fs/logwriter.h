/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * logwriter.h - the daemon's GLib log writer: GLib's own output, with the
 * common line (a plain message or info line to a file or pipe) written at
 * the cost of one write().
 */
#ifndef PINFS_LOGWRITER_H
#define PINFS_LOGWRITER_H

/* Install it.  Call it once stderr and stdout are final (after
 * fuse_daemonize), before any thread logs. */
void logwriter_install(void);

#endif /* PINFS_LOGWRITER_H */
