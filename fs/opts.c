// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * opts.c - pinfs's mount options: the fuse_opt table, BACKING, and the
 * checks that pinfs(8) promises.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "opts.h"

/* clang-format off */
#define PINFS_OPT(t, p) { t, offsetof(struct pinfs_config, p), 1 }
#define PINFS_VAL(t, p, v) { t, offsetof(struct pinfs_config, p), v }

/* A value key (pinned=, leases=) stores its value in an int; any other
 * value of it reaches opt_proc, which refuses it. */
static const struct fuse_opt pinfs_opts[] = {
	PINFS_OPT("break_time=%s", break_time_opt),
	PINFS_VAL("pinned=wait", pinned_fail, 0),
	PINFS_VAL("pinned=fail", pinned_fail, 1),
	PINFS_VAL("leases=on", leases_on, 1),
	PINFS_VAL("leases=off", leases_on, 0),
	PINFS_OPT("timeout=%s", timeout_opt),
	PINFS_VAL("writeback_cache", writeback_cache, 1),
	PINFS_VAL("passthrough=auto", passthrough, 1),
	PINFS_VAL("passthrough=off", passthrough, 0),
	PINFS_OPT("user_leases=%s", user_leases_opt),
	PINFS_OPT("user_pins=%s", user_pins_opt),
	PINFS_OPT("window=%s", window),
	PINFS_OPT("dma_module=%s", dma_module),
	PINFS_OPT("etcd=%s", etcd),
	PINFS_OPT("node=%s", node),
	PINFS_OPT("cluster=%s", cluster),
	PINFS_OPT("etcd_ttl=%s", etcd_ttl_opt),
	PINFS_VAL("quorum=fail", quorum_wait, 0),
	PINFS_VAL("quorum=wait", quorum_wait, 1),
	PINFS_VAL("relatime", atime_rule, 1),
	PINFS_VAL("strictatime", atime_rule, 2),
	PINFS_VAL("nodiratime", nodiratime, 1),
	FUSE_OPT_END,
};
/* clang-format on */

void opts_init(struct pinfs_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->break_time = 45;
	cfg->leases_on = 1;
	cfg->passthrough = 1;
	cfg->window = strdup("auto");
	cfg->dma_module = strdup("auto");
	cfg->timeout = 1.0;
	cfg->user_leases = 4096;
	cfg->user_pins = 65536;
	cfg->etcd_ttl = 10;
	cfg->quorum_wait = -1; /* not given: fail */
}

void opts_free(struct pinfs_config *cfg)
{
	free(cfg->backing);
	free(cfg->window);
	cfg->window = NULL;
	free(cfg->dma_module);
	free(cfg->break_time_opt);
	free(cfg->timeout_opt);
	free(cfg->user_leases_opt);
	free(cfg->user_pins_opt);
	free(cfg->etcd);
	free(cfg->node);
	free(cfg->cluster);
	free(cfg->etcd_ttl_opt);
	cfg->etcd = cfg->node = cfg->cluster = cfg->etcd_ttl_opt = NULL;
	cfg->backing = cfg->dma_module = NULL;
	cfg->break_time_opt = cfg->timeout_opt = NULL;
	cfg->user_leases_opt = cfg->user_pins_opt = NULL;
}

/* The first non-option argument is BACKING; the second is left for
 * fuse_parse_cmdline as the mountpoint.  A value key with a value the
 * table does not list is refused here, naming what it takes; other
 * options are left for libfuse. */
static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct pinfs_config *cfg = data;

	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT && !cfg->backing) {
		cfg->backing = strdup(arg);
		return 0;
	}
	if (key != FUSE_OPT_KEY_OPT)
		return 1;
	if (g_str_has_prefix(arg, "pinned=")) {
		fprintf(stderr, "pinfs: %s: expected wait or fail\n", arg);
		return -1;
	}
	if (g_str_has_prefix(arg, "leases=")) {
		fprintf(stderr, "pinfs: %s: expected on or off\n", arg);
		return -1;
	}
	if (g_str_has_prefix(arg, "passthrough=")) {
		fprintf(stderr, "pinfs: %s: expected auto or off\n", arg);
		return -1;
	}
	if (g_str_has_prefix(arg, "quorum=")) {
		fprintf(stderr, "pinfs: %s: expected fail or wait\n", arg);
		return -1;
	}
	return 1;
}

int opts_parse(struct fuse_args *args, struct pinfs_config *cfg)
{
	return fuse_opt_parse(args, cfg, pinfs_opts, opt_proc);
}

/*
 * A count option (break_time, user_leases, user_pins): a decimal number
 * that fits 32 bits; @zero says what 0 means.  Digits only: fuse_opt's %u
 * takes "-1" as 4294967295 and "1x" as 1, and g_ascii_string_to_unsigned
 * lets a leading vertical tab through (found by tests/fuzz/fuzz-opts,
 * corpus/opts/regression-quota-vtab).  NULL (not given) keeps *val.
 */
static int check_count(const char *name, const char *text, const char *zero,
		       uint32_t *val)
{
	guint64 v;

	if (!text)
		return 0;
	if (!*text || strspn(text, "0123456789") != strlen(text) ||
	    !g_ascii_string_to_unsigned(text, 10, 0, UINT32_MAX, &v, NULL)) {
		fprintf(stderr,
			"pinfs: %s=%s: expected a whole number from 0 (%s) to %u\n", name,
			text, zero, UINT32_MAX);
		return -1;
	}
	*val = (uint32_t)v;
	return 0;
}

/*
 * timeout=SECONDS: a finite decimal number >= 0, nothing after it.  Not
 * NaN, which libfuse would convert to an integer (found by
 * tests/fuzz/fuzz-opts, corpus/opts/regression-timeout-nan), nor inf.
 */
static int check_timeout(const char *text, double *val)
{
	char *end = NULL;
	double v;

	if (!text)
		return 0;
	v = g_ascii_strtod(text, &end);
	if (!*text || g_ascii_isspace(*text) || *end || !isfinite(v) || !(v >= 0)) {
		fprintf(stderr, "pinfs: timeout=%s: expected a number of seconds >= 0\n",
			text);
		return -1;
	}
	*val = v;
	return 0;
}

int opts_check(struct pinfs_config *cfg)
{
	if (!cfg->backing) {
		fprintf(stderr, "pinfs: missing BACKING directory (see --help)\n");
		return -1;
	}
	if (!strcmp(cfg->window, "auto") || !strcmp(cfg->window, "always") ||
	    !strcmp(cfg->window, "never")) {
		/* enum window_mode: auto 0, always 1, never 2 */
		cfg->window_mode = !strcmp(cfg->window, "auto")	    ? 0
				   : !strcmp(cfg->window, "always") ? 1
								    : 2;
	} else {
		fprintf(stderr, "pinfs: window=%s: expected auto, always or never\n",
			cfg->window);
		return -1;
	}
	if (!strcmp(cfg->dma_module, "auto") || !strcmp(cfg->dma_module, "require")) {
		cfg->dma_require = !strcmp(cfg->dma_module, "require");
	} else {
		fprintf(stderr, "pinfs: dma_module=%s: expected auto or require\n",
			cfg->dma_module);
		return -1;
	}
	if (cfg->dma_require && !cfg->leases_on) {
		fprintf(stderr,
			"pinfs: dma_module=require needs leases=on (with leases=off "
			"pinfs never holds a layout change back)\n");
		return -1;
	}
	if (check_count("break_time", cfg->break_time_opt, "never revoke",
			&cfg->break_time) < 0 ||
	    check_timeout(cfg->timeout_opt, &cfg->timeout) < 0 ||
	    check_count("user_leases", cfg->user_leases_opt, "unlimited",
			&cfg->user_leases) < 0 ||
	    check_count("user_pins", cfg->user_pins_opt, "unlimited", &cfg->user_pins) <
		0 ||
	    check_count("etcd_ttl", cfg->etcd_ttl_opt, NULL, &cfg->etcd_ttl) < 0)
		return -1;
	if (cfg->etcd_ttl_opt && cfg->etcd_ttl < 2) {
		fprintf(stderr, "pinfs: etcd_ttl=%s: expected at least 2 seconds\n",
			cfg->etcd_ttl_opt);
		return -1;
	}
	if (cfg->etcd && !cfg->leases_on) {
		fprintf(stderr, "pinfs: etcd= needs leases=on\n");
		return -1;
	}
	if (cfg->writeback_cache && cfg->leases_on) {
		fprintf(stderr,
			"pinfs: writeback_cache needs leases=off (with it, a truncate "
			"waiting for a lease holds back the holder's close(), and the "
			"daemon cannot see the kernel's size; see pinfs(8))\n");
		return -1;
	}
	if (!cfg->etcd &&
	    (cfg->node || cfg->cluster || cfg->etcd_ttl_opt || cfg->quorum_wait >= 0)) {
		fprintf(stderr,
			"pinfs: node=, cluster=, etcd_ttl= and quorum= need etcd=\n");
		return -1;
	}
	if (cfg->quorum_wait < 0)
		cfg->quorum_wait = 0;
	return 0;
}
