#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run in the tests/vm/run guest (with --rxe, for the rdma backend): mount
# pinfs four times over tmpfs backing directories, name them in the
# environment lease-test expects, and run it:
#   PINFS_BIN=BUILD/fs/pinfs tests/vm/run --rxe --ko BUILD/kernel/pinfs_dma.ko \
#       tests/vm/lease-tests.sh BUILD/tests/vm/lease-test --tap
# Each daemon runs in the foreground with its stderr in $d/NAME.log (the
# scenario 4 tests look for "revoke" there).  Prints only TAP on stdout.
set -eu
: "${PINFS_BIN:?PINFS_BIN must name the pinfs daemon}"
d=$(mktemp -d /tmp/lease-tests.XXXXXX)
mkdir "$d/tmpfs"
mount -t tmpfs -o size=256M tmpfs "$d/tmpfs"
mkdir "$d/tmpfs/plain"
export PINFS_TEST_PLAIN_DIR="$d/tmpfs/plain"

# mount_pinfs NAME OPTIONS, pids
. "$(dirname "$0")/guest-lib.sh"
# timeout=3600: the kernel keeps attributes for an hour.  With the default
# (1 s), an attribute refresh after writes through a mapping can drop the
# file's cached pages, pinned ones included (FUSE auto_inval_data: the
# kernel's own mtime, set by the page fault, differs from the backing
# file's), orphaning the pins before any truncate does (docs/dma.md).
mount_pinfs off leases=off,timeout=3600 && export PINFS_TEST_OFF_DIR="$d/off"
mount_pinfs on break_time=30,pinned=wait,timeout=3600 && export PINFS_TEST_ON_DIR="$d/on"
mount_pinfs wait2 break_time=2,pinned=wait,timeout=3600 && {
	export PINFS_TEST_WAIT2_DIR="$d/wait2" PINFS_TEST_WAIT2_DIR_LOG="$d/wait2.log"
}
mount_pinfs fail2 break_time=2,pinned=fail,timeout=3600 && {
	export PINFS_TEST_FAIL2_DIR="$d/fail2" PINFS_TEST_FAIL2_DIR_LOG="$d/fail2.log"
}

# Soft-RoCE: wait for rxe0 (tests/vm/run --rxe) to come up.
if [ -e /sys/class/infiniband/rxe0 ]; then
	for i in $(seq 40); do
		grep -q ACTIVE /sys/class/infiniband/rxe0/ports/1/state 2>/dev/null && break
		sleep 0.25
	done
fi

set +e
"$@"
rc=$?
unmount_pinfs off on wait2 fail2
# The daemons' logs, for the record (TAP comments on stderr).
for n in on wait2 fail2; do
	[ -s "$d/$n.log" ] && sed "s/^/# pinfs $n: /" "$d/$n.log" >&2
done
exit $rc
