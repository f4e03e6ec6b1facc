#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# tests/fuzz/run.sh [SECONDS] - build the libFuzzer targets with clang,
# ASan and UBSan, and run each over its corpus for SECONDS (default 20).
# Fails if any target crashes, leaks or fails a check; the input that did
# it is left in $BUILD/fuzz-artifacts/ (add it to corpus/TARGET/ once the
# bug is fixed).  New inputs found along the way go to $BUILD/fuzz-corpus/,
# never into the source tree.
#
# Environment: BUILD (default build-fuzz in the source root), CC (clang),
# FUZZ_TARGETS (default "ioctl ctl ctl-stream opts").
set -eu

secs=${1:-20}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-$root/build-fuzz}
targets=${FUZZ_TARGETS:-ioctl ctl ctl-stream opts}

if [ ! -f "$build/build.ninja" ]; then
	CC=${CC:-clang} meson setup "$build" "$root" -Dfuzz=true -Dkmod=disabled \
		-Dvm_tests=disabled >"$build.setup.log" 2>&1 ||
		{ cat "$build.setup.log"; exit 1; }
fi
meson configure "$build" -Dfuzz=true >/dev/null
# shellcheck disable=SC2086
meson compile -C "$build" $(for t in $targets; do printf 'fuzz-%s ' "$t"; done) \
	>"$build/fuzz-compile.log" 2>&1 || { cat "$build/fuzz-compile.log"; exit 1; }

mkdir -p "$build/fuzz-artifacts"
status=0
for t in $targets; do
	work="$build/fuzz-corpus/$t"
	mkdir -p "$work"
	log="$build/fuzz-$t.log"
	echo "fuzz-$t: ${secs}s over corpus/$t"
	# detect_leaks per input; -close_fd_mask=1: the targets' stdout is noise.
	# -max_len=4096 (libFuzzer's own default for small corpora) also for
	# ctl-stream, whose real-limit seed is larger: with inputs that long
	# it runs about 3 times slower.  The meson test replays it whole.
	if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	   "$build/tests/fuzz/fuzz-$t" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -max_len=4096 -close_fd_mask=1 \
		-artifact_prefix="$build/fuzz-artifacts/$t-" \
		"$work" "$here/corpus/$t" >"$log" 2>&1; then
		grep -a 'DONE' "$log" | tail -1 || true
	else
		status=1
		echo "fuzz-$t FAILED: see $log" >&2
		grep -a -E 'check failed|ERROR:|SUMMARY|runtime error|Test unit written' "$log" | head -20 >&2
	fi
done
exit $status
