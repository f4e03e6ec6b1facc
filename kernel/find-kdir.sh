#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Print the kernel build directory to build pinfs_dma against: $KDIR if set,
# else the newest /lib/modules/<version>/build that holds a Makefile (the
# running kernel's first, if it has headers).  Exit 1 when there is none.
# With --version, print the kernel version (the directory name under
# /lib/modules) instead.
set -eu
if [ -n "${KDIR:-}" ]; then
	[ -f "$KDIR/Makefile" ] || exit 1
	if [ "${1:-}" = --version ]; then
		# The version the module's vermagic will carry.
		sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' \
			"$KDIR/include/generated/utsrelease.h"
	else
		echo "$KDIR"
	fi
	exit 0
fi
running=$(uname -r)
for v in "$running" $(ls /lib/modules 2>/dev/null | sort -rV); do
	if [ -f "/lib/modules/$v/build/Makefile" ]; then
		if [ "${1:-}" = --version ]; then
			echo "$v"
		else
			readlink -f "/lib/modules/$v/build"
		fi
		exit 0
	fi
done
exit 1
