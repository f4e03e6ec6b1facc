#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run in the tests/vm/run guest (with --rxe and --ko): give the pinning
# tests a tmpfs (PINFS_TEST_TMPFS_DIR) and an ext4 file system on a loop
# device (PINFS_TEST_FILE_DIR), then run the test command, e.g.
#   tests/vm/run --rxe --ko build/kernel/pinfs_dma.ko \
#       tools/pin/tests/vm-pin.sh build/tools/pin/test-pin-backends --tap
# Prints only TAP on stdout.
set -eu
d=$(mktemp -d /tmp/vm-pin.XXXXXX)
mkdir "$d/tmpfs" "$d/ext4"
mount -t tmpfs -o size=256M tmpfs "$d/tmpfs"
export PINFS_TEST_TMPFS_DIR="$d/tmpfs"
if truncate -s 64M "$d/tmpfs/ext4.img" &&
	mkfs.ext4 -q -F "$d/tmpfs/ext4.img" >&2 &&
	mount -o loop "$d/tmpfs/ext4.img" "$d/ext4"; then
	export PINFS_TEST_FILE_DIR="$d/ext4"
else
	echo "# ext4 on a loop device unavailable: disk file tests skipped"
fi
"$@"
