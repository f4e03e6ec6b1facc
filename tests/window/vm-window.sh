#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run in the tests/vm/run guest (with --rxe): staging windows with real
# devices.  dma-window-demo, a DMA program that knows nothing of pinfs,
# takes F_LAYOUT through the preload shim, maps its file MAP_SHARED,
# registers the mapping (rdma: rxe ibv_reg_mr; iouring: fixed buffers) and
# has the device write into it; another process truncates the file.
#   PINFS_BIN=... PINFS_PRELOAD=... DMA_WINDOW_DEMO=... \
#       tests/vm/run --rxe tests/window/vm-window.sh
# Prints TAP on stdout.
set -u
: "${PINFS_BIN:?}" "${PINFS_PRELOAD:?}" "${DMA_WINDOW_DEMO:?}"

d=$(mktemp -d /tmp/vm-window.XXXXXX)
mkdir "$d/tmpfs" "$d/ext4"
mount -t tmpfs -o size=512M tmpfs "$d/tmpfs"
head -c 4096 /dev/zero | tr '\0' a >"$d/ref-a"
head -c 4096 /dev/zero | tr '\0' b >"$d/ref-b"

IFS=. read -r kmaj kmin _ <<<"$(uname -r)"
refuses=0 # does this kernel refuse long-term writable pins of FUSE files?
if [ "$kmaj" -gt 6 ] || { [ "$kmaj" -eq 6 ] && [ "$kmin" -ge 5 ]; }; then
	refuses=1
fi
echo "# kernel $(uname -r): refuses writable long-term pins of file mappings: $refuses"

# truncate(2) by path, blocking (coreutils truncate opens O_NONBLOCK,
# which a lease break answers with EAGAIN at once).
cut() {
	python3 -c 'import os, sys; os.truncate(sys.argv[1], 4096)' "$1"
}

# mount_pinfs NAME OPTIONS, pids
. "$(dirname "$0")/../vm/guest-lib.sh"
# break_time=0: only the holder's release (or death) lets a truncate go.
mount_pinfs auto window=auto,break_time=0,timeout=3600
mount_pinfs always window=always,break_time=0,timeout=3600
mount_pinfs never window=never,break_time=0,timeout=3600
ext4=0
if truncate -s 64M "$d/tmpfs/ext4.img" && mkfs.ext4 -q -F "$d/tmpfs/ext4.img" >&2 &&
	mount -o loop "$d/tmpfs/ext4.img" "$d/ext4"; then
	ext4=1
fi
if [ -e /sys/class/infiniband/rxe0 ]; then
	for i in $(seq 40); do
		grep -q ACTIVE /sys/class/infiniband/rxe0/ports/1/state 2>/dev/null && break
		sleep 0.25
	done
fi

n=0
failed=0
ok() {
	n=$((n + 1))
	echo "ok $n $1"
}
not_ok() {
	n=$((n + 1))
	failed=1
	echo "not ok $n $1"
	sed 's/^/#   /' "$2"
}

# start_demo FILE BACKEND OUT [BREAK_BYTE|hold]: the demo under the shim, in the background;
# waits for "ready" or its exit.  Sets demo.
start_demo() {
	local i
	head -c 65536 /dev/zero | tr '\0' z >"$1"
	LD_PRELOAD=$PINFS_PRELOAD "$DMA_WINDOW_DEMO" "$2" "$1" 65536 0x61 "${4:-0x62}" \
		>"$3" 2>&1 &
	demo=$!
	for i in $(seq 600); do
		grep -q ready "$3" && return 0
		kill -0 $demo 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# registers NAME DIR BACKEND: the device registers the mapping, writes;
# a truncate breaks the lease; the device writes again while the truncate
# waits, then releases: the file has the second write, cut to 4096 bytes.
registers() {
	local name=$1 f=$2/$1.$3 out=$d/$1.$3.out rc trc
	if ! start_demo "$f" "$3" "$out"; then
		wait $demo
		not_ok "$name $3: registers (exit $?)" "$out"
		return
	fi
	cut "$f" &
	local tpid=$!
	wait $demo
	rc=$?
	wait $tpid
	trc=$?
	if [ $rc -eq 0 ] && [ $trc -eq 0 ] && grep -q "woken by lease break" "$out" &&
		[ "$(stat -c %s "$f")" -eq 4096 ] && cmp -s "$f" "$d/ref-b"; then
		ok "$name $3: registered, device writes during the break all in the file before the truncate"
	else
		echo "# demo exit $rc, truncate exit $trc, size $(stat -c %s "$f")" >>"$out"
		cmp "$f" "$d/ref-b" >>"$out" 2>&1
		not_ok "$name $3: no byte lost" "$out"
	fi
}

# refused NAME DIR BACKEND: the device cannot register the mapping.
refused() {
	local name=$1 f=$2/$1.$3 out=$d/$1.$3.out rc
	if start_demo "$f" "$3" "$out"; then
		kill $demo
		wait $demo
		not_ok "$name $3: expected the registration to be refused" "$out"
		return
	fi
	wait $demo
	rc=$?
	if [ $rc -eq 4 ] && grep -q "register failed" "$out"; then
		ok "$name $3: cannot register: $(grep -o 'register failed: [^:]*: [^(]*([A-Z]*)' "$out" | head -1)"
	else
		not_ok "$name $3: refused (exit $rc)" "$out"
	fi
}

# killed NAME DIR BACKEND: the holder is killed (SIGKILL) after its device
# wrote, with a truncate parked: its bytes are in the file before the
# truncate runs.
killed() {
	local name=$1 f=$2/$1.$3.k out=$d/$1.$3.k.out
	if ! start_demo "$f" "$3" "$out" hold; then
		wait $demo
		not_ok "$name $3: registers" "$out"
		return
	fi
	cut "$f" &
	local tpid=$! held
	sleep 1
	held=$(stat -c %s "$f")
	kill -KILL $demo
	wait $demo
	wait $tpid
	if [ "$held" -eq 65536 ] && [ "$(stat -c %s "$f")" -eq 4096 ] &&
		cmp -s "$f" "$d/ref-a"; then
		ok "$name $3: holder SIGKILLed with a truncate parked: every byte in the file first"
	else
		echo "# size while held $held, after $(stat -c %s "$f")" >>"$out"
		cmp "$f" "$d/ref-a" >>"$out" 2>&1
		not_ok "$name $3: killed holder, no byte lost" "$out"
	fi
}

for be in rdma iouring; do
	registers always "$d/always" $be
	if [ $refuses = 1 ] || [ $be = rdma ]; then
		registers auto "$d/auto" $be
	else
		refused auto "$d/auto" $be # io_uring on 6.1: file-backed buffers refused
	fi
	if [ $refuses = 1 ] || [ $be = iouring ]; then
		refused never "$d/never" $be
	else
		registers never "$d/never" $be
	fi
	if [ $refuses = 1 ] && [ $ext4 = 1 ]; then
		refused plain-ext4 "$d/ext4" $be
	fi
done
killed always "$d/always" rdma
killed always "$d/always" iouring

# With FUSE passthrough in use (PINFS_TEST_OPTS=passthrough=auto), the demo
# opened its file before taking its lease: every window was made on a file
# in passthrough mode, unless the daemon keeps files out of that mode
# while the pinfs_dma module watches pins (docs/design.md, "Reads").
for m in auto always; do
	grep -q "passthrough: in use" "$d/$m.log" || continue
	made=$(grep -c "window [0-9]*: pid" "$d/$m.log")
	inpt=$(grep -c "window [0-9]*: pid .*(the file is in FUSE passthrough mode)" "$d/$m.log")
	if [ "$made" -gt 0 ] && [ "$made" -eq "$inpt" ]; then
		ok "$m: all $made windows made on files in FUSE passthrough mode"
	elif [ "$made" -gt 0 ] && [ "$inpt" -eq 0 ] &&
		grep -q "undeclared DMA pins are watched" "$d/$m.log"; then
		ok "$m: windows on files in FUSE passthrough mode # SKIP the pinfs_dma module is loaded: the files stayed in cached mode"
	else
		not_ok "$m: $inpt of $made windows on files in FUSE passthrough mode" "$d/$m.log"
	fi
done

unmount_pinfs auto always never
umount "$d/ext4" 2>/dev/null
for m in auto always never; do
	[ -s "$d/$m.log" ] && sed "s/^/# pinfs $m: /" "$d/$m.log" >&2
done

# A file in FUSE passthrough mode (6.9 and later): with the pinfs_dma
# module gone (the daemon keeps files in cached mode while it watches
# pins), the demo's open puts its file in passthrough mode before it takes
# its lease; its window is made all the same, and the device's bytes reach
# the file.
if [ "$kmaj" -gt 6 ] || { [ "$kmaj" -eq 6 ] && [ "$kmin" -ge 9 ]; }; then
	if [ -e /dev/pinfs_dma ] && ! rmmod pinfs_dma; then
		ok "pt: windows on files in FUSE passthrough mode # SKIP cannot unload pinfs_dma"
	else
		mount_pinfs pt window=always,break_time=0,timeout=3600,passthrough=auto
		for be in rdma iouring; do
			registers pt "$d/pt" $be
		done
		unmount_pinfs pt
		made=$(grep -c "window [0-9]*: pid" "$d/pt.log")
		inpt=$(grep -c "window [0-9]*: pid .*(the file is in FUSE passthrough mode)" "$d/pt.log")
		if ! grep -q "passthrough: in use" "$d/pt.log"; then
			ok "pt: windows on files in FUSE passthrough mode # SKIP passthrough is not in use: $(grep -o 'passthrough: .*' "$d/pt.log" | head -1)"
		elif [ "$made" -eq 2 ] && [ "$inpt" -eq 2 ]; then
			ok "pt: both windows made on files in FUSE passthrough mode"
		else
			not_ok "pt: $inpt of $made windows (2 expected) on files in FUSE passthrough mode" "$d/pt.log"
		fi
		sed "s/^/# pinfs pt: /" "$d/pt.log" >&2
	fi
fi

echo "1..$n"
exit $failed
