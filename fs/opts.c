// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * opts.c - pinfs's mount options: the fuse_opt table, BACKING, and the
 * checks that pinfs(8) promises.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

/* clang-format off */
#define PINFS_OPT(t, p) { t, offsetof(struct pinfs_config, p), 1 }

static const struct fuse_opt pinfs_opts[] = {
	PINFS_OPT("break_time=%u", break_time),
	PINFS_OPT("pinned=%s", pinned),
	PINFS_OPT("leases=%s", leases),
	PINFS_OPT("timeout=%lf", timeout),
	FUSE_OPT_END,
};
/* clang-format on */

void opts_init(struct pinfs_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->break_time = 45;
	cfg->pinned = strdup("wait");
	cfg->leases = strdup("on");
	cfg->timeout = 1.0;
}

void opts_free(struct pinfs_config *cfg)
{
	free(cfg->backing);
	free(cfg->pinned);
	free(cfg->leases);
	cfg->backing = cfg->pinned = cfg->leases = NULL;
}

/* The first non-option argument is BACKING; the second is left for
 * fuse_parse_cmdline as the mountpoint. */
static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct pinfs_config *cfg = data;

	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT && !cfg->backing) {
		cfg->backing = strdup(arg);
		return 0;
	}
	return 1;
}

int opts_parse(struct fuse_args *args, struct pinfs_config *cfg)
{
	return fuse_opt_parse(args, cfg, pinfs_opts, opt_proc);
}

int opts_check(struct pinfs_config *cfg)
{
	if (!cfg->backing) {
		fprintf(stderr, "pinfs: missing BACKING directory (see --help)\n");
		return -1;
	}
	if (!strcmp(cfg->pinned, "wait") || !strcmp(cfg->pinned, "fail")) {
		cfg->pinned_fail = !strcmp(cfg->pinned, "fail");
	} else {
		fprintf(stderr, "pinfs: pinned=%s: expected wait or fail\n", cfg->pinned);
		return -1;
	}
	if (!strcmp(cfg->leases, "on") || !strcmp(cfg->leases, "off")) {
		cfg->leases_on = !strcmp(cfg->leases, "on");
	} else {
		fprintf(stderr, "pinfs: leases=%s: expected on or off\n", cfg->leases);
		return -1;
	}
	/* NaN too: libfuse converts the timeout to an integer (found by
	 * tests/fuzz/fuzz-opts, corpus/opts/regression-timeout-nan). */
	if (!(cfg->timeout >= 0)) {
		fprintf(stderr, "pinfs: timeout must be a number of seconds >= 0\n");
		return -1;
	}
	return 0;
}
