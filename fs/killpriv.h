/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PINFS_KILLPRIV_H
#define PINFS_KILLPRIV_H

#include "daemon.h"

void killpriv_v2_install(struct fuse_session *se);
bool killpriv_v2_offered(void);

#endif
