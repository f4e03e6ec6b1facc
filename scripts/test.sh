#!/bin/sh
# Install what is needed, build, and run every pinfs test; ends with a line
# "N passed, N failed".  Run as root on Debian 12.
#   SANITIZE=0  skip the second, ASan+UBSan build and its run
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh" || exit 1

status=0
run_suite() { # name build-dir meson-setup-args meson-test-args
	name=$1 build=$2 setup=$3 targs=$4
	echo "=== $name: build in $build"
	if ! BUILD=$build MESON_SETUP_ARGS=$setup "$top/scripts/build.sh"; then
		echo "=== $name: BUILD FAILED"
		status=1
		return
	fi
	echo "=== $name: meson test $targs"
	# shellcheck disable=SC2086
	meson test -C "$build" --print-errorlogs --num-processes 1 $targs || status=1
}

run_suite "main" "$top/build-test" "" ""
if [ "${VALGRIND:-1}" != 0 ] && command -v valgrind >/dev/null; then
	# One integration run with the daemon under valgrind: no invalid
	# access, no definite leak (exit 99 fails the test).
	echo "=== valgrind: the daemon under memcheck (exerciser, mount-helper)"
	PINFS_TEST_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
		meson test -C "$top/build-test" --no-rebuild --print-errorlogs --num-processes 1 \
		--logbase valgrind exerciser mount-helper || status=1
fi
if [ "${SANITIZE:-1}" != 0 ]; then
	# The preload shim cannot be ASan-instrumented under an uninstrumented
	# program, so that suite runs in the main build only; so do the guest
	# tests and the module's DKMS build (kernel code, no sanitizer).
	run_suite "asan+ubsan" "$top/build-asan" "-Db_sanitize=address,undefined -Db_lundef=false" \
		"--no-suite preload --no-suite vm --no-suite bench --no-suite kmod"
fi

if [ "${FUZZ:-1}" != 0 ]; then
	echo "=== fuzz: tests/fuzz/run.sh 20 (libFuzzer, clang, ASan+UBSan)"
	BUILD="$top/build-fuzz" "$top/tests/fuzz/run.sh" 20 || status=1
fi

python3 "$top/scripts/summary.py" "$top/build-test" "$top/build-asan" || status=1
exit $status
