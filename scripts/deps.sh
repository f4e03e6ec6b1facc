#!/bin/sh
# Install what pinfs needs to build, test and demonstrate on Debian 12, as root.
# The guest tests boot both kernels Debian 12 offers, 6.1 (linux-image-amd64)
# and 6.12 (linux-image-6.12-amd64, from bookworm-security); pinfs_dma is
# built against both kernels' headers.
set -eu
if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: run as root (it uses apt-get)" >&2
	exit 1
fi
pkgs="build-essential meson ninja-build pkg-config git
libfuse3-dev fuse3 libglib2.0-dev libjson-glib-dev libmount-dev
fio gnuplot-nox liburing-dev libibverbs-dev ibverbs-providers rdma-core ibverbs-utils
qemu-system-x86 busybox-static kmod cpio xz-utils dkms
linux-image-amd64 linux-headers-amd64 linux-image-6.12-amd64 linux-headers-6.12-amd64
e2fsprogs attr iproute2 procps psmisc util-linux clang valgrind
etcd-server etcd-client libcurl4-openssl-dev libmount-dev
nfs-kernel-server nfs-common rpcbind"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps.sh: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi
# FUSE needs its device; a fresh machine may not have loaded the module.
[ -e /dev/fuse ] || modprobe fuse 2>/dev/null || true
