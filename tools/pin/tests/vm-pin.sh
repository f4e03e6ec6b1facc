#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run in the tests/vm/run guest (with --rxe and --ko): give the pinning
# tests a tmpfs (PINFS_TEST_TMPFS_DIR) and an ext4 file system on a loop
# device (PINFS_TEST_FILE_DIR), then run the test command, e.g.
#   tests/vm/run --rxe --ko build/kernel/pinfs_dma.ko \
#       tools/pin/tests/vm-pin.sh build/tools/pin/test-pin-backends --tap
# Prints only TAP on stdout.
set -eu
. "$(dirname "$0")/../../../tests/vm/guest-lib.sh"
make_scratch vm-pin
if mount_ext4; then
	export PINFS_TEST_FILE_DIR="$d/ext4"
else
	echo "# ext4 on a loop device unavailable: disk file tests skipped"
fi
"$@"
