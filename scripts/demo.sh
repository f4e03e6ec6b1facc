#!/bin/sh
# Quick start: install what is needed, build, mount pinfs over a backing
# directory and show a layout lease at work: a holder pins a file, a
# truncate waits, the holder is told, releases, and the truncate completes.
#   PINFS_BACKING (default /var/lib/pinfs/backing)  PINFS_MNT (default /mnt/pinfs)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
BUILD=$top/build "$top/scripts/build.sh" >/dev/null
B=$top/build
backing=${PINFS_BACKING:-/var/lib/pinfs/backing}
mnt=${PINFS_MNT:-/mnt/pinfs}
pin=$B/tools/pinfs-pin
[ -x "$pin" ] || pin=$B/tools/pin/pinfs-pin
ctl=$B/tools/pinfsctl
tmp=$(mktemp -d)

ts() { date -u +%H:%M:%S.%6N; }
say() { printf '\n[%s] %s\n' "$(ts)" "$*"; }
cleanup() {
	[ -n "${holder:-}" ] && kill "$holder" 2>/dev/null || true
	mountpoint -q "$mnt" && umount "$mnt" || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

mkdir -p "$backing" "$mnt"
mountpoint -q "$mnt" && umount "$mnt"
say "mount: $B/fs/pinfs -o break_time=10 $backing $mnt"
"$B/fs/pinfs" -o break_time=10 "$backing" "$mnt"
grep " $mnt " /proc/mounts

file=$mnt/demo.dat
head -c 65536 /dev/zero | tr '\0' 'x' > "$file"
say "holder: pinfs-pin takes a read layout lease on $file, maps and pins it (mlock backend:
this machine has no DMA device; see docs/dma.md for the kernel module and RDMA), and on a
break finishes its device writes and releases 1.5 s later"
"$pin" --backend mlock --on-break delay=1500 --writes 4 "$file" >"$tmp/holder" 2>&1 &
holder=$!
for _ in $(seq 50); do grep -q "granted" "$tmp/holder" 2>/dev/null && break; sleep 0.1; done
cat "$tmp/holder"
"$ctl" leases "$mnt"

say "truncater: ': > demo.dat' (open with O_TRUNC) -- it must wait for the holder"
( start=$(ts); : >"$file"; echo "truncate started $start, returned $(ts), size now $(stat -c %s "$file")" ) >"$tmp/trunc" 2>&1 &
trunc=$!
sleep 0.5
say "while it waits, pinfsctl shows the breaking lease and the parked truncate:"
"$ctl" leases "$mnt"
"$ctl" waiters "$mnt"
wait "$trunc"
wait "$holder" || true
holder=
say "holder's timeline (notified, released):"
cat "$tmp/holder"
say "truncater:"
cat "$tmp/trunc"
say "counters:"
"$ctl" stats "$mnt"
say "unmount"
