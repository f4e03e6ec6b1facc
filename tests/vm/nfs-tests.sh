#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run in the tests/vm/run guest (the host kernel has no nfsd): a pinfs mount
# re-exported by the guest's nfsd over loopback NFSv4.2, next to an export
# of a plain tmpfs directory.  The same operations on both mounts, by root
# and by uid 4242, must give the same; then the NFS client's file handles
# must keep working after the daemon forgot the inodes (drop_caches) and
# after the daemon was restarted on the same mount point.
#   PINFS_BIN=BUILD/fs/pinfs tests/vm/run tests/vm/nfs-tests.sh
# Prints TAP on stdout.
set -u
: "${PINFS_BIN:?PINFS_BIN must name the pinfs daemon}"

skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}
for p in rpc.nfsd rpc.mountd exportfs rpcbind mount.nfs4 setpriv; do
	command -v "$p" >/dev/null || skip_all "$p not installed (nfs-kernel-server)"
done
modprobe -a nfsd nfsv4 2>/dev/null || skip_all "this kernel has no nfsd module"

n=0
fails=0
check() { # check DESCRIPTION COMMAND...: one TAP line
	local what=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $what"
	else
		echo "not ok $n - $what"
		fails=$((fails + 1))
	fi
}
same() { # same WANT GOT: equal, or both shown as TAP comments
	[ "$1" = "$2" ] && return 0
	echo "# want:"
	printf '%s\n' "$1" | sed 's/^/#   /'
	echo "# got:"
	printf '%s\n' "$2" | sed 's/^/#   /'
	return 1
}

# $d/x, a tmpfs, is the NFSv4 root (fsid=0): the guest's / (9p) and /tmp
# (overlay) cannot be exported.  pinfs serves $d/x/back (a tmpfs of its own,
# so that handles of every file outlive a restart) at $d/x/p; $d/x/ref is
# the plain directory it is compared with.
d=$(mktemp -d /tmp/nfs-tests.XXXXXX)
chmod 0755 "$d"
mkdir "$d/x" "$d/np" "$d/nr"
mount -t tmpfs tmpfs "$d/x"
mkdir "$d/x/back" "$d/x/p" "$d/x/ref"
mount -t tmpfs tmpfs "$d/x/back"
chmod 0755 "$d/x/back" "$d/x/ref"

pid=
start_pinfs() {
	local i
	"$PINFS_BIN" -f -o allow_other "$d/x/back" "$d/x/p" 2>>"$d/pinfs.log" &
	pid=$!
	for i in $(seq 100); do
		grep -q " $d/x/p fuse" /proc/self/mounts && return 0
		sleep 0.1
	done
	echo "# pinfs did not mount:"
	sed 's/^/# /' "$d/pinfs.log"
	return 1
}
export_pinfs() {
	exportfs -o rw,fsid=101,no_root_squash,no_subtree_check,sync "127.0.0.1:$d/x/p"
}
cleanup() {
	cd /
	umount -l "$d/np" "$d/nr" 2>/dev/null
	exportfs -ua 2>/dev/null
	rpc.nfsd 0 2>/dev/null
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	umount -l "$d/x/p" 2>/dev/null
}
trap cleanup EXIT

start_pinfs || exit 1
# nfsd's state lives in /var/lib/nfs, read-only here; a short grace period.
mount -t nfsd nfsd /proc/fs/nfsd
mount -t tmpfs tmpfs /var/lib/nfs
mkdir /var/lib/nfs/v4recovery
touch /var/lib/nfs/etab /var/lib/nfs/rmtab
echo 10 >/proc/fs/nfsd/nfsv4leasetime
echo 10 >/proc/fs/nfsd/nfsv4gracetime
{ rpcbind -w && rpc.mountd -N 2 -N 3 && rpc.nfsd -N 3 -V 4 2; } >"$d/nfsd.log" 2>&1 ||
	{ sed 's/^/# /' "$d/nfsd.log"; exit 1; }
exportfs -o rw,fsid=0,no_root_squash,no_subtree_check,sync "127.0.0.1:$d/x"
export_pinfs
mount -t nfs4 -o vers=4.2 127.0.0.1:/p "$d/np" &&
	mount -t nfs4 -o vers=4.2 127.0.0.1:/ref "$d/nr" || exit 1

# ops DIR: create, write, read, rename, link, truncate, chmod, set-ID kill
# on write, unlink and rmdir in DIR; what each gives (no inode numbers or
# times).  Not a truncate of a set-ID file: nfsd's size change keeps the
# bits, pinfs clears them (docs/design.md).
ops() {
	cd "$1" || return
	echo "as uid $(id -u)"
	echo hello >a && cat a
	mkdir d && echo x >d/b && ls d
	mv a d/c && ls d && cat d/c
	ln d/c h && stat -c '%h' d/c
	ln -s c d/l && readlink d/l && cat d/l
	truncate -s 3 h && cat d/c && echo
	chmod 6755 d/c && stat -c '%A %s %h' d/c
	echo more >>d/c && stat -c '%A %s' d/c
	chmod 0640 d/c && stat -c '%A' d/c
	rm d/b && ls d
	rmdir d 2>&1 | sed 's/.*: //'
	mv h d/c2 && ls d
	mv d/c2 d/c 2>&1 && ls d
	rm -r d && ls
	cat d/c 2>&1 | sed 's/.*: //'
	echo end
}
as_user() { # as_user DIR: ops DIR by uid 4242
	mkdir -p "$1/u" && chmod 0777 "$1/u"
	setpriv --reuid 4242 --regid 4242 --clear-groups bash -c "$(declare -f ops); ops $1/u"
}

echo "1..8"
want=$(ops "$d/nr")
got=$(ops "$d/np")
check "operations by root: NFS over pinfs as NFS over tmpfs" same "$want" "$got"
printf '%s\n' "$got" | sed 's/^/#   /' | head -4
want=$(as_user "$d/nr")
got=$(as_user "$d/np")
check "operations by uid 4242: NFS over pinfs as NFS over tmpfs" same "$want" "$got"

# A directory the client keeps (its working directory) and a file in it.
mkdir -p "$d/np/h/s" && echo handle >"$d/np/h/s/f"
cd "$d/np/h/s" || exit 1
# The daemon holds an O_PATH descriptor of each inode the kernel knows and
# closes it when the kernel forgets the inode (docs/design.md, "File
# handles").  Its descriptor count is no measure: it also counts a splice
# pipe per libfuse worker thread, and libfuse starts workers as requests
# come in (a drop_caches sends a burst of FORGETs).
bf=$d/x/back/h/s/f
knows() { # knows PATH: the daemon has a descriptor of backing file PATH
	local l
	for l in /proc/"$pid"/fd/*; do
		[ "$(readlink "$l")" = "$1" ] && return 0
	done
	return 1
}
forgot() { ! knows "$1"; }
held_by() { # what nfsd holds, as TAP comments
	local c
	for c in /proc/fs/nfsd/clients/*/states; do
		sed 's/^/#   nfsd state: /' "$c"
	done
	grep -v ':  *0$' /proc/fs/nfsd/filecache | sed 's/^/#   nfsd filecache: /'
	sed 's/^/#   lock: /' /proc/locks
}
check "the daemon knows the client's file" knows "$bf"
# Dropped again on each try: nfsd may still hold the file (the client's
# CLOSE, its last reference) at the first drop.
for i in $(seq 100); do
	sync
	echo 3 >/proc/sys/vm/drop_caches
	forgot "$bf" && break
	sleep 0.1
done
forgot "$bf" || held_by
check "drop_caches: the daemon forgot the client's file" forgot "$bf"
check "drop_caches: the client's handles still work" same "handle" "$(cat f 2>&1)"
check "drop_caches: the daemon found the file again" knows "$bf"

# Restart the daemon under the export: unexport, stop, mount again on the
# same mount point, export again with the same fsid.  The client keeps its
# mount, its working directory and its cached file.
exportfs -u "127.0.0.1:$d/x/p"
kill "$pid" && wait "$pid"
umount -l "$d/x/p" 2>/dev/null
start_pinfs || exit 1
export_pinfs
exportfs -f
check "daemon restarted: the client's handles still work" same "handle" "$(cat f 2>&1)"
echo new >g
check "daemon restarted: a new file in the kept directory" same "new" "$(cat "$d/x/back/h/s/g" 2>&1)"
cd /
[ $fails -eq 0 ]
