#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vm-smoke.sh RUN [--ko PATH]: one guest boot that checks the harness
# (exit status, stdout, stderr, environment, working directory, writable
# /tmp, a kernel log line with "WARNING:" reported) and soft-RoCE (rxe0
# PORT_ACTIVE, /dev/infiniband/uverbs0).  TAP.
set -u
run=$1
shift
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
export PINFS_SMOKE_MARKER="marker $$ 'quoted' \$x"

# shellcheck disable=SC2016
"$run" --rxe "$@" -- sh -c '
	echo "cwd=$(pwd)"
	echo "guest=$PINFS_VM_GUEST"
	echo "marker=$PINFS_SMOKE_MARKER"
	f=$(mktemp /tmp/vm-smoke.XXXXXX) && echo x >"$f" && echo "tmp=rw"
	[ -c /dev/pinfs_dma ] && echo "pinfs_dma=loaded"
	[ -c /dev/fuse ] && echo "fuse=yes"
	i=0
	while [ $i -lt 20 ] && ! ibv_devinfo -d rxe0 2>/dev/null | grep -q PORT_ACTIVE; do
		sleep 0.5; i=$((i + 1))
	done
	ibv_devinfo -d rxe0
	[ -c /dev/infiniband/uverbs0 ] && echo "uverbs0=yes"
	echo to-stderr >&2
	echo "pinfs-smoke WARNING: deliberate, the harness must report it" >/dev/kmsg
	exit 7' >"$out" 2>"$err"
rc=$?

n=0
fails=0
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n $what"
	else
		echo "not ok $n $what"
		fails=$((fails + 1))
	fi
}
has() { grep -qxF -- "$1" "$out"; }

echo "1..12"
check "exit status comes back" [ "$rc" = 7 ]
check "stdout comes back" has "guest=1"
check "stderr comes back" grep -qxF to-stderr "$err"
check "environment passed" has "marker=$PINFS_SMOKE_MARKER"
check "working directory kept" has "cwd=$PWD"
check "/tmp writable" has "tmp=rw"
check "fuse loaded" has "fuse=yes"
if [ "$*" != "" ]; then
	check "pinfs_dma loaded" has "pinfs_dma=loaded"
else
	n=$((n + 1))
	echo "ok $n # SKIP no --ko given"
fi
check "rxe0 port active" grep -q "state:.*PORT_ACTIVE" "$out"
check "/dev/infiniband/uverbs0" has "uverbs0=yes"
check "a WARNING in the kernel log is reported" \
	grep -q "pinfs-smoke WARNING: deliberate" "$err"
check "no other kernel problem reported" \
	sh -c "! grep -v 'pinfs-smoke WARNING' '$err' | grep -Eq '(Oops|BUG:|WARNING:|general protection|Kernel panic|Call Trace)'"
if [ $fails -gt 0 ]; then
	sed 's/^/# out: /' "$out"
	sed 's/^/# err: /' "$err"
fi
grep 'tests/vm/run: guest booted' "$err" | sed 's/^/# /'
exit 0
