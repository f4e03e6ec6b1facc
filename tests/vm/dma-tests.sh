#!/bin/sh
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
d=$(mktemp -d /tmp/dma-tests.XXXXXX)
mkdir "$d/tmpfs" "$d/ext4"
mount -t tmpfs -o size=256M tmpfs "$d/tmpfs"
export PINFS_TEST_TMPFS_DIR="$d/tmpfs"
if truncate -s 64M "$d/tmpfs/ext4.img" &&
	mkfs.ext4 -q -F "$d/tmpfs/ext4.img" >&2 &&
	mount -o loop "$d/tmpfs/ext4.img" "$d/ext4"; then
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
