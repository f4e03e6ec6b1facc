#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# dkms-test.sh VERSION: the pinfs_dma DKMS package (kernel/dkms.conf) is
# added and built, as `dkms install` would, for every kernel with headers
# under /lib/modules, in private DKMS trees (nothing is installed on the
# system); each built module must carry that kernel's version.  VERSION is
# the project's, which dkms.conf must repeat.  TAP on stdout.
set -u
version=$1
here=$(cd "$(dirname "$0")" && pwd)
n=0
check() { # check DESCRIPTION COMMAND...
	what=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n $what"
	else
		echo "not ok $n $what"
	fi
}
if ! command -v dkms >/dev/null; then
	echo "1..0 # SKIP dkms not installed (scripts/deps.sh installs it)"
	exit 0
fi
kernels=$(ls /lib/modules 2>/dev/null | sort -V | while read -r v; do
	[ -f "/lib/modules/$v/build/Makefile" ] && echo "$v"
done)
[ -n "$kernels" ] || {
	echo "1..0 # SKIP no kernel headers under /lib/modules"
	exit 0
}
echo "1..$((2 + 2 * $(echo "$kernels" | wc -l)))"

t=$(mktemp -d "${TMPDIR:-/tmp}/pinfs-dkms.XXXXXX")
trap 'rm -rf "$t"' EXIT
mkdir "$t/src" "$t/tree"
opts="--sourcetree $t/src --dkmstree $t/tree"
pkg=pinfs-dma/$version

check "dkms.conf names version $version" \
	grep -qx "PACKAGE_VERSION=\"$version\"" "$here/dkms.conf"
# shellcheck disable=SC2086
dkms add $opts "$here" >"$t/add.log" 2>&1
added=$?
check "dkms add" [ $added = 0 ]
[ $added = 0 ] || sed 's/^/# /' "$t/add.log"
for k in $kernels; do
	# shellcheck disable=SC2086
	if ! dkms build "$pkg" $opts -k "$k" >"$t/build.log" 2>&1; then
		echo "not ok $((n + 1)) dkms build for $k"
		sed 's/^/# /' "$t/build.log"
		cat "$t/tree/pinfs-dma/$version/build/make.log" 2>/dev/null | sed 's/^/# make: /'
		n=$((n + 2))
		echo "not ok $n module for $k # not built"
		continue
	fi
	n=$((n + 1))
	echo "ok $n dkms build for $k"
	ko=$(find "$t/tree/pinfs-dma/$version/$k" -name 'pinfs_dma.ko*' | head -n 1)
	vermagic=$(modinfo -F vermagic "$ko" 2>/dev/null)
	check "module for $k carries vermagic $k" [ "${vermagic%% *}" = "$k" ]
done
