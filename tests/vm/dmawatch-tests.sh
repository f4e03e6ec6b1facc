#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run in the tests/vm/run guest WITHOUT the module loaded at boot (no --ko):
# pinfs is mounted first and pinfs_dma loaded afterwards, unloaded and
# loaded again, as DKMS or modprobe may do on a real machine.
#   PINFS_BIN=... PINFSCTL=... DMA_HOLD=... DMAWATCH_KO=.../pinfs_dma.ko \
#       tests/vm/run [--rxe] tests/vm/dmawatch-tests.sh
# Optional: PINFS_PIN (tools/pin's pinfs-pin), for an RDMA registration
# with soft-RoCE (--rxe) as a second unmodified program.
#
# Checks (TAP on stdout):
#  - before the module: pinfsctl status says undeclared pins are not
#    watched, on both mounts; the daemon said so at mount;
#  - dma_module=require without the module: a truncate or hole punch of a
#    file another process has open for writing fails with ENOPKG and
#    leaves the file alone; one of a file nobody has open goes ahead;
#  - insmod while a truncate waits behind a lease (with PINFS_PIN): a pin
#    taken after the module came keeps the truncate waiting, pins-only,
#    once the lease is released, until it is dropped;
#  - insmod: both mounts report the module (status and log) without a
#    restart; an unmodified program pins a mapping with no lease, and a
#    truncate (": > FILE") waits, parked pins-only, until it unpins;
#  - the same for a file held open since before insmod: with FUSE
#    passthrough (a kernel that offers it, passthrough not off) that file
#    stays in passthrough mode, its mapping is the backing file's, and the
#    pin is one of the backing file's pages;
#  - a mount made while the module is loaded says so, and protects the
#    same way (and an RDMA registration with soft-RoCE, where the kernel
#    allows it);
#  - a daemon run by a user other than root asks the module the same way
#    (a pin by that user holds its truncate back);
#  - rmmod works while pinfs is mounted, the mounts report it gone; insmod
#    again, and the truncate waits for a pin again;
#  - the require mount, module loaded: the truncate of an open file works.
set -u
: "${PINFS_BIN:?}" "${PINFSCTL:?}" "${DMA_HOLD:?}" "${DMAWATCH_KO:?}"

d=$(mktemp -d /tmp/dmawatch.XXXXXX)
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"; }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else notok "$what"; fi
}
note() { echo "# $*"; }

mkdir "$d/tmpfs"
mount -t tmpfs -o size=64M tmpfs "$d/tmpfs"
# mount_pinfs NAME OPTIONS (timeout=3600: see lease-tests.sh), pids
. "$(dirname "$0")/guest-lib.sh"
# A command prefix for what must run as the user of a daemon that is not
# root (nonroot_daemon); empty: as root.
as=()

# status_is MNT true|false: pinfsctl status --json says watched or not,
# within 10 s (the daemon hears of /dev through inotify).
status_is() {
	local i
	for i in $(seq 50); do
		"${as[@]}" "$PINFSCTL" --json status "$1" >"$d/status.json" 2>&1
		grep -q "\"watched\":$2" "$d/status.json" && return 0
		sleep 0.2
	done
	sed 's/^/# status: /' "$d/status.json"
	return 1
}

# wait_for_line PID FILE GREP-ARGS...: until FILE has a line grep finds,
# PID has exited, or 30 s have passed; true if the line is there.
wait_for_line() {
	local pid=$1 file=$2 i
	shift 2
	for i in $(seq 300); do
		grep -q "$@" "$file" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "$@" "$file"
}
mkfile() { "${as[@]}" bash -c "head -c 32768 /dev/zero | tr '\\0' A >\"\$1\"" mkfile "$1"; }
size_of() { "${as[@]}" stat -c %s "$1"; }

# pin_then_truncate LABEL DIR HOLDER...: HOLDER pins DIR/FILE (with no
# lease) and holds it until SIGTERM; ": > FILE" must wait, be seen parked
# pins-only by pinfsctl, still wait after that, and return once the holder
# has unpinned.
pin_then_truncate() {
	local label=$1 dir=$2 f=$2/$1 hp tp i seen=0 rc
	shift 2
	mkfile "$f"
	"$@" "$f" >"$d/hold.out" 2>"$d/hold.err" &
	hp=$!
	if ! wait_for_line $hp "$d/hold.out" -e '^pinned' -e 'holding'; then
		sed 's/^/# holder: /' "$d/hold.out" "$d/hold.err"
		kill $hp 2>/dev/null
		wait $hp
		return 3 # could not pin
	fi
	"${as[@]}" bash -c ': >"$1"' truncater "$f" &
	tp=$!
	for i in $(seq 100); do
		if "${as[@]}" "$PINFSCTL" --json waiters "$dir" | grep -q '"pins_only":true'; then
			seen=1
			break
		fi
		kill -0 $tp 2>/dev/null || break
		sleep 0.1
	done
	sleep 0.5
	if [ $seen = 1 ] && kill -0 $tp 2>/dev/null; then
		ok "$label: the truncate waits for the pin, parked pins-only"
	else
		notok "$label: the truncate waits for the pin (seen parked: $seen)"
	fi
	kill -TERM $hp
	wait $hp
	rc=$?
	[ $rc = 0 ] || sed 's/^/# holder: /' "$d/hold.out" "$d/hold.err"
	for i in $(seq 300); do
		kill -0 $tp 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 $tp 2>/dev/null; then
		notok "$label: the truncate returns after the unpin"
		kill $tp
	fi
	wait $tp
	rc=$?
	check "$label: the truncate returned 0 after the unpin, size 0" \
		test "$rc-$(size_of "$f")" = 0-0
	grep '^pinned' "$d/hold.out" | sed 's/^/# /'
	return 0
}

# waiter_seen DIR PINS_ONLY PID: pinfsctl waiters shows a change parked on
# DIR with pins_only PINS_ONLY (true|false) within 10 s, while PID runs.
waiter_seen() {
	local i
	for i in $(seq 100); do
		"$PINFSCTL" --json waiters "$1" | grep -q "\"pins_only\":$2" && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# lease_then_module: the module arrives while a change waits behind a
# lease.  A holder (pinfs-pin, mlock backend: no DMA pin) takes a lease and
# ignores the break; ": > FILE" waits behind the lease; the module is
# loaded; dma-hold pins the file; the holder releases its lease: the
# truncate goes on waiting, now parked pins-only (the daemon asks the
# module that came meanwhile), and returns once dma-hold has unpinned.
# The holder writes nothing (--writes 0): the kernel may write dirty pages
# back while the truncate waits, and FUSE holds that write-back, and any
# new write to those pages (dma-hold's), until the truncate is done.
lease_then_module() {
	local f=$d/auto/lease-first lp hp tp i rc
	mkfile "$f"
	"$PINFS_PIN" --backend mlock --writes 0 --lease read --on-break ignore "$f" \
		>"$d/lease.out" 2>"$d/lease.err" &
	lp=$!
	check "lease-first: the holder holds a lease, the module is absent" \
		wait_for_line $lp "$d/lease.out" holding
	bash -c ': >"$1"' truncater "$f" &
	tp=$!
	check "lease-first: the truncate waits behind the lease" waiter_seen "$d/auto" false $tp
	insmod "$DMAWATCH_KO" || echo "Bail out! insmod failed"
	check "lease-first: status says watched after insmod" status_is "$d/auto" true
	"$DMA_HOLD" "$f" >"$d/hold.out" 2>"$d/hold.err" &
	hp=$!
	check "lease-first: dma-hold pinned the file while the truncate waited" \
		wait_for_line $hp "$d/hold.out" -e '^pinned' -e 'holding'
	sed 's/^/# dma-hold: /' "$d/hold.out" "$d/hold.err"
	kill -TERM $lp
	wait $lp
	check "lease-first: the holder released its lease (exit 0)" test $? = 0
	check "lease-first: the truncate now waits for the pin, parked pins-only" \
		waiter_seen "$d/auto" true $tp
	sleep 0.5
	check "lease-first: ... and is still waiting" kill -0 $tp
	kill -TERM $hp
	wait $hp
	for i in $(seq 300); do
		kill -0 $tp 2>/dev/null || break
		sleep 0.1
	done
	kill $tp 2>/dev/null && notok "lease-first: the truncate returns after the unpin"
	wait $tp
	rc=$?
	check "lease-first: the truncate returned 0 after the unpin, size 0" \
		test "$rc-$(size_of "$f")" = 0-0
	sed 's/^/# lease holder: /' "$d/lease.out"
}

# pt_files MNT: passthrough's "files" count in pinfsctl status --json.
pt_files() {
	"$PINFSCTL" --json status "$1" |
		sed -n 's/.*"passthrough":{[^}]*"files":\([0-9]*\).*/\1/p'
}

# truncate_errno FILE: run coreutils truncate -s 0, print its stderr
truncate_err() { truncate -s 0 "$1" 2>&1 >/dev/null; }

echo "TAP version 13"
lsmod | grep -q '^pinfs_dma ' && rmmod pinfs_dma
check "/dev/pinfs_dma absent at start" test ! -e /dev/pinfs_dma
mount_pinfs auto timeout=3600,break_time=30 || exit 1
mount_pinfs req timeout=3600,break_time=30,dma_module=require || exit 1

# ---- before the module ----
check "auto: status says not watched" status_is "$d/auto" false
check "require: status says not watched" status_is "$d/req" false
check "status names the option" grep -q '"dma_module":"require"' "$d/status.json"
"$PINFSCTL" status "$d/auto" | sed 's/^/# /'
check "the daemon logged it at mount" grep -q "undeclared DMA pins are not watched" "$d/auto.log"

mkfile "$d/req/open"
sleep 1000 3<>"$d/req/open" &
holder=$!
sleep 0.3
err=$(truncate_err "$d/req/open")
note "truncate: $err"
check "require, no module: truncate of a file open for writing fails with ENOPKG" \
	grep -q "Package not installed" <<<"$err"
err=$(fallocate -p -o 0 -l 4096 "$d/req/open" 2>&1)
note "fallocate: $err"
check "require, no module: a hole punch fails too" grep -q "Package not installed" <<<"$err"
check "... and the file is as it was" test "$(size_of "$d/req/open")" = 32768
mkfile "$d/reference"
check "... its bytes too" cmp "$d/req/open" "$d/reference"
mkfile "$d/req/closed"
check "require, no module: a file nobody has open is truncated" \
	truncate -s 0 "$d/req/closed"

# A file open since before the module came (in passthrough mode where the
# mount uses it): opens made after insmod join that mode.
mkfile "$d/auto/pt-before"
sleep 1000 3<"$d/auto/pt-before" &
pt_holder=$!
sleep 0.3
pt_in_use=0
grep -q "passthrough: in use" "$d/auto.log" && pt_in_use=1
note "passthrough in use on auto: $pt_in_use; files open through it: $(pt_files "$d/auto")"
if [ $pt_in_use = 1 ]; then
	check "pt-before: the file held open is in passthrough mode" test "$(pt_files "$d/auto")" -ge 1
fi

# ---- module loaded after the mount ----
if [ -n "${PINFS_PIN:-}" ]; then
	lease_then_module
else
	insmod "$DMAWATCH_KO" || echo "Bail out! insmod failed"
fi
check "auto: status says watched after insmod" status_is "$d/auto" true
check "require: status says watched after insmod" status_is "$d/req" true
"$PINFSCTL" status "$d/auto" | sed 's/^/# /'
check "the daemon logged the module's arrival" grep -q "undeclared DMA pins are watched from now on" "$d/auto.log"
pin_then_truncate loaded-after "$d/auto" "$DMA_HOLD"
if [ $pt_in_use = 1 ]; then
	check "pt-before: still in passthrough mode after insmod" test "$(pt_files "$d/auto")" -ge 1
fi
pin_then_truncate pt-before "$d/auto" "$DMA_HOLD"
kill $pt_holder
wait $pt_holder 2>/dev/null
check "require, module loaded: the open file is truncated" truncate -s 0 "$d/req/open"
kill $holder
wait $holder 2>/dev/null

# soft-RoCE: an RDMA registration of the mapping (pinfs-pin, no lease)
if [ -n "${PINFS_PIN:-}" ] && [ -e /sys/class/infiniband/rxe0 ]; then
	for i in $(seq 40); do
		grep -q ACTIVE /sys/class/infiniband/rxe0/ports/1/state 2>/dev/null && break
		sleep 0.25
	done
	pin_then_truncate rdma "$d/auto" "$PINFS_PIN" --backend rdma --lease none
	if [ $? = 3 ]; then
		# Linux 6.5 and later refuse the long-term pin ib_umem_get() asks
		# for on a FUSE file: nothing is pinned, nothing to protect.
		n=$((n + 1))
		echo "ok $n - rdma: # SKIP the kernel refused the registration: $(tail -1 "$d/hold.err")"
	fi
fi

# ---- a mount made while the module is loaded ----
mount_pinfs before timeout=3600,break_time=30 || exit 1
check "mounted with the module: status says watched" status_is "$d/before" true
check "... and the daemon said so at mount" grep -q "undeclared DMA pins are watched: " "$d/before.log"
pin_then_truncate loaded-before "$d/before" "$DMA_HOLD"
if [ -n "${PINFS_PIN:-}" ] && [ -e /sys/class/infiniband/rxe0 ]; then
	pin_then_truncate rdma-before "$d/before" "$PINFS_PIN" --backend rdma --lease none
	if [ $? = 3 ]; then
		n=$((n + 1))
		echo "ok $n - rdma-before: # SKIP the kernel refused the registration: $(tail -1 "$d/hold.err")"
	fi
fi
umount "$d/before"

# ---- a daemon that is not root ----
# pinfs run by nobody (mounted through fusermount3) asks the module about
# its own files: a pin taken by a process of that uid keeps a truncate
# waiting until it is dropped.  All of it runs as nobody: without
# allow_other, nobody else may use the mount.
u=65534
as=(setpriv --reuid $u --regid $u --clear-groups env -u XDG_RUNTIME_DIR)
# What udev would do on a real machine: /dev/fuse for everyone; and a
# scratch directory others may enter.
chmod 0666 /dev/fuse
chmod 0755 "$d"
mkdir "$d/tmpfs/user" "$d/user"
chown $u:$u "$d/tmpfs/user" "$d/user"
"${as[@]}" "$PINFS_BIN" -f -o ${PINFS_TEST_OPTS:+$PINFS_TEST_OPTS,}timeout=3600,break_time=30 \
	"$d/tmpfs/user" "$d/user" \
	2>"$d/user.log" &
pids+=($!)
for i in $(seq 100); do
	grep -q " $d/user fuse" /proc/self/mounts && break
	sleep 0.1
done
if ! grep -q " $d/user fuse" /proc/self/mounts; then
	sed 's/^/# /' "$d/user.log"
	echo "Bail out! pinfs as uid $u did not mount"
	exit 1
fi
ok "uid $u: pinfs mounted"
check "uid $u: the daemon runs as uid $u" \
	grep -Eq "^Uid:\s+$u\s+$u\s+$u" "/proc/${pids[-1]}/status"
check "uid $u: status says watched" status_is "$d/user" true
check "uid $u: the daemon said so at mount" \
	grep -q "undeclared DMA pins are watched: " "$d/user.log"
pin_then_truncate user "$d/user" "${as[@]}" "$DMA_HOLD"
as=()
umount "$d/user"

# ---- unloaded and loaded again ----
rmmod pinfs_dma
check "rmmod works while pinfs is mounted" test ! -e /dev/pinfs_dma
check "auto: status says not watched after rmmod" status_is "$d/auto" false
check "the daemon logged the module's departure" grep -q "undeclared DMA pins are no longer watched" "$d/auto.log"
insmod "$DMAWATCH_KO" || echo "Bail out! insmod failed"
check "auto: status says watched after the second insmod" status_is "$d/auto" true
pin_then_truncate reloaded "$d/auto" "$DMA_HOLD"
rmmod pinfs_dma
check "rmmod again" test ! -e /dev/pinfs_dma

for m in auto req; do
	umount "$d/$m"
done
wait "${pids[@]}"
for m in auto req before user; do
	check "$m: daemon log has no warning" bash -c "! grep -E 'WARNING|CRITICAL|ERROR' '$d/$m.log'"
	sed "s/^/# pinfs $m: /" "$d/$m.log"
done
echo "1..$n"
[ $fails = 0 ]
