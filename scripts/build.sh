#!/bin/sh
# Configure and build pinfs into ${BUILD:-build} (meson + ninja).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$top" ${MESON_SETUP_ARGS:-}
fi
meson compile -C "$build"
