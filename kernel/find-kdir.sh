#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Print the kernel build directory to build pinfs_dma against: $KDIR if set,
# else the newest /lib/modules/<version>/build that holds a Makefile (the
# running kernel's first, if it has headers).  Exit 1 when there is none.
# With --version, print the kernel version (the directory name under
# /lib/modules) instead.  With --list, print "VERSION DIR" for every kernel
# to build for: the newest version of each series (6.1, 6.12...) that has
# headers under /lib/modules, or only $KDIR's when it is set.
set -eu
kdir_version() { # the version the module's vermagic will carry
	sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$1/include/generated/utsrelease.h"
}
if [ "${1:-}" = --list ]; then
	if [ -n "${KDIR:-}" ]; then
		[ -f "$KDIR/Makefile" ] || exit 1
		echo "$(kdir_version "$KDIR") $(readlink -f "$KDIR")"
		exit 0
	fi
	seen=" "
	for v in $(ls /lib/modules 2>/dev/null | sort -rV); do
		[ -f "/lib/modules/$v/build/Makefile" ] || continue
		series=$(echo "$v" | cut -d. -f1-2)
		case $seen in *" $series "*) continue ;; esac
		seen="$seen$series "
		echo "$v $(readlink -f "/lib/modules/$v/build")"
	done
	[ "$seen" != " " ]
	exit
fi
if [ -n "${KDIR:-}" ]; then
	[ -f "$KDIR/Makefile" ] || exit 1
	if [ "${1:-}" = --version ]; then
		kdir_version "$KDIR"
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
