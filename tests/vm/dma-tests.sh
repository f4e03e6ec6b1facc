#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run in the tests/vm/run guest: make a tmpfs and (if the guest has loop
# devices) an ext4 file system on a loop device, point dma-test at them with
# PINFS_TEST_TMPFS_DIR and PINFS_TEST_EXT4_DIR, and, when $PINFS_BIN names
# the pinfs daemon, mount it with leases=off over a tmpfs backing directory
# as PINFS_TEST_FUSE_DIR.  Then run the test:
#   tests/vm/run tests/vm/dma-tests.sh BUILDDIR/tests/vm/dma-test --tap
# Prints only TAP on stdout.
set -eu
. "$(dirname "$0")/guest-lib.sh"
make_scratch dma-tests
if mount_ext4; then
	export PINFS_TEST_EXT4_DIR="$d/ext4"
else
	echo "# ext4 on a loop device unavailable: ext4 tests skipped"
fi
if [ -n "${PINFS_BIN:-}" ]; then
	mkdir "$d/tmpfs/backing" "$d/fuse"
	if "$PINFS_BIN" -o leases=off "$d/tmpfs/backing" "$d/fuse" >&2; then
		export PINFS_TEST_FUSE_DIR="$d/fuse"
	else
		echo "# pinfs did not mount: FUSE tests skipped"
	fi
fi
"$@"
