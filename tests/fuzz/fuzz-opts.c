// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-opts.c - pinfs's command line: fuse_opt_parse with pinfs's options
 * (fs/opts.c), then the checks of pinfs(8).
 *
 * Input: the arguments after argv[0], separated by NUL bytes (at most 32).
 *
 * Checked: nothing crashes or leaks; a configuration that passes the
 * checks is one the daemon can use: a BACKING, pinned wait or fail,
 * leases on or off (and the flags derived from them), a timeout that is a
 * finite number of seconds >= 0 (libfuse turns it into an integer), and
 * counts that are exactly the decimal numbers given (break_time=,
 * user_leases=, user_pins=; "-1" must not wrap, "1x" must not pass).
 */
#include <math.h>

#include "fuzz.h"
#include "opts.h"

#define MAX_ARGS 32

/* A count option that passed: the default if not given, else all digits
 * with that value. */
static bool count_ok(const char *text, uint32_t val, uint32_t def)
{
	if (!text)
		return val == def;
	if (!*text || strspn(text, "0123456789") != strlen(text))
		return false;
	return g_ascii_strtoull(text, NULL, 10) == val;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2];
	char *text = g_malloc(size + 1);
	int argc = 0;
	struct fuse_args args;
	struct pinfs_config cfg;
	size_t i = 0;

	memcpy(text, data, size);
	text[size] = '\0';
	argv[argc++] = "pinfs";
	while (i < size && argc <= MAX_ARGS) {
		argv[argc++] = text + i;
		i += strlen(text + i) + 1;
	}
	argv[argc] = NULL;

	args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	opts_init(&cfg);
	if (opts_parse(&args, &cfg) == 0 && opts_check(&cfg) == 0) {
		FUZZ_CHECK(cfg.backing, "no BACKING");
		FUZZ_CHECK(!strcmp(cfg.pinned, "wait") || !strcmp(cfg.pinned, "fail"),
			   "pinned=%s", cfg.pinned);
		FUZZ_CHECK(cfg.pinned_fail == !strcmp(cfg.pinned, "fail"), "pinned_fail");
		FUZZ_CHECK(!strcmp(cfg.leases, "on") || !strcmp(cfg.leases, "off"),
			   "leases=%s", cfg.leases);
		FUZZ_CHECK(cfg.leases_on == !strcmp(cfg.leases, "on"), "leases_on");
		FUZZ_CHECK(isfinite(cfg.timeout) && cfg.timeout >= 0, "timeout=%g",
			   cfg.timeout);
		FUZZ_CHECK(count_ok(cfg.break_time_opt, cfg.break_time, 45),
			   "break_time=%s -> %u", cfg.break_time_opt, cfg.break_time);
		FUZZ_CHECK(count_ok(cfg.user_leases_opt, cfg.user_leases, 4096),
			   "user_leases=%s -> %u", cfg.user_leases_opt, cfg.user_leases);
		FUZZ_CHECK(count_ok(cfg.user_pins_opt, cfg.user_pins, 65536),
			   "user_pins=%s -> %u", cfg.user_pins_opt, cfg.user_pins);
	}
	opts_free(&cfg);
	fuse_opt_free_args(&args);
	g_free(text);
	return 0;
}
