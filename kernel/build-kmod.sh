#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-kmod.sh KDIR OUTPUT SOURCE...
# Build pinfs_dma.ko for meson.  Kbuild writes its objects into the M=
# directory and Linux 6.1 has no MO= to send them elsewhere, so the sources
# are copied next to OUTPUT (OUTPUT without .ko, plus .kbuild/, one
# directory per kernel) and built there; the module is then copied to
# OUTPUT.
set -eu
kdir=$1
out=$2
shift 2
src=${out%.ko}.kbuild
mkdir -p "$src"
src=$(cd "$src" && pwd) # Kbuild wants an absolute M=
for f in "$@"; do
	cmp -s "$f" "$src/${f##*/}" || cp "$f" "$src/"
done
make -C "$kdir" M="$src" modules
cp "$src/pinfs_dma.ko" "$out"
