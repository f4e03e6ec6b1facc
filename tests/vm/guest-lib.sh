# SPDX-License-Identifier: GPL-2.0-or-later
#
# Shell helpers shared by the guest test scripts (tests/vm/lease-tests.sh,
# tests/vm/dmawatch-tests.sh, tests/vm/dma-tests.sh, tests/window/vm-window.sh,
# tools/pin/tests/vm-pin.sh).  Sourced, not run:
# the guest sees the host's / read-only at the same paths, so a script finds
# this file next to its own source.  The caller sets d (a scratch directory
# with a tmpfs at $d/tmpfs) and PINFS_BIN before calling mount_pinfs.

# The daemons mount_pinfs started, for the caller to kill and wait for.
pids=()
declare -A pinfs_pid

# mount_pinfs NAME OPTIONS: pinfs -f -o OPTIONS over $d/tmpfs/NAME at
# $d/NAME, its stderr in $d/NAME.log.  Waits up to 10 s for the mount to
# show in /proc/self/mounts; fails with the daemon's log on stderr when it
# does not.  $PINFS_TEST_OPTS (as on the host, e.g. passthrough=auto) is
# added to every mount, before OPTIONS: an option the script names itself
# wins.
mount_pinfs() {
	local name=$1 opts=${PINFS_TEST_OPTS:+$PINFS_TEST_OPTS,}$2 i
	mkdir "$d/tmpfs/$name" "$d/$name"
	"$PINFS_BIN" -f -o "$opts" "$d/tmpfs/$name" "$d/$name" 2>"$d/$name.log" &
	pids+=($!)
	pinfs_pid[$name]=$!
	for i in $(seq 100); do
		grep -q " $d/$name fuse" /proc/self/mounts && return 0
		sleep 0.1
	done
	echo "# pinfs -o $opts did not mount:" >&2
	sed 's/^/# /' "$d/$name.log" >&2
	return 1
}

# make_scratch NAME: d, a new directory /tmp/NAME.XXXXXX, with a 256 MiB
# tmpfs at $d/tmpfs, exported as PINFS_TEST_TMPFS_DIR.
make_scratch() {
	d=$(mktemp -d "/tmp/$1.XXXXXX")
	mkdir "$d/tmpfs"
	mount -t tmpfs -o size=256M tmpfs "$d/tmpfs"
	export PINFS_TEST_TMPFS_DIR="$d/tmpfs"
}

# mount_ext4: a 64 MiB ext4 file system at $d/ext4, made in an image on
# $d/tmpfs and mounted on a loop device; fails where the guest has none.
mount_ext4() {
	mkdir "$d/ext4"
	truncate -s 64M "$d/tmpfs/ext4.img" &&
		mkfs.ext4 -q -F "$d/tmpfs/ext4.img" >&2 &&
		mount -o loop "$d/tmpfs/ext4.img" "$d/ext4"
}

# unmount_pinfs NAME...: unmount each and wait for every daemon.  A mount
# still busy (a failed test left a holder behind) is detached and its
# daemon killed, so that the job ends instead of waiting for the guest's
# timeout.
unmount_pinfs() {
	local name
	for name in "$@"; do
		umount "$d/$name" 2>/dev/null && continue
		echo "# $d/$name is busy at the end: detached, its daemon killed" >&2
		umount -l "$d/$name" 2>/dev/null
		kill -KILL "${pinfs_pid[$name]}" 2>/dev/null
	done
	wait "${pids[@]}" 2>/dev/null
}
