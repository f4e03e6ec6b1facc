// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-opts.c - pinfs's command line: fuse_opt_parse with pinfs's options
 * (fs/opts.c), then the checks of pinfs(8).
 *
 * Input: the arguments after argv[0], separated by NUL bytes (at most 32).
 *
 * Checked: nothing crashes or leaks; a configuration that passes the
 * checks is one the daemon can use: a BACKING, pinned wait or fail and
 * leases on or off (flags of 0 or 1; other than the default only if an
 * argument says so, backslash escapes aside), a timeout that is a
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

/* Does one of the arguments, with fuse_opt's backslash escapes taken
 * out, contain @word?  A value other than the default must come from one. */
static bool some_arg_says(char **argv, int argc, const char *word)
{
	bool found = false;

	for (int i = 1; i < argc && !found; i++) {
		g_autoptr(GString) s = g_string_new(NULL);

		for (const char *c = argv[i]; *c; c++)
			if (*c != '\\')
				g_string_append_c(s, *c);
		found = strstr(s->str, word) != NULL;
	}
	return found;
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
		FUZZ_CHECK(cfg.pinned_fail == 0 || cfg.pinned_fail == 1, "pinned_fail %d",
			   cfg.pinned_fail);
		FUZZ_CHECK(!cfg.pinned_fail || some_arg_says(argv, argc, "pinned=fail"),
			   "pinned_fail without pinned=fail");
		FUZZ_CHECK(cfg.leases_on == 0 || cfg.leases_on == 1, "leases_on %d",
			   cfg.leases_on);
		FUZZ_CHECK(cfg.leases_on || some_arg_says(argv, argc, "leases=off"),
			   "leases off without leases=off");
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
