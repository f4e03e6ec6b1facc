#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write the seed corpora of tests/fuzz/corpus/ (run from anywhere).

The input formats are described at the top of each fuzz-*.c.  Inputs
that fuzzing found (crash-*, regression-*) are kept next to these seeds
and are never overwritten here.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- ioctl: op byte, then the command's bytes ----
NOOP, VERSION, SETLEASE, GETLEASE, SETSIG, PIN, UNPIN = range(7)
READ, WRITE, UNLOCK = 0, 1, 2
EXCL = 1
OWNER = 0x20


def ioc(which=0, owner=True, off=False):
    """Op byte of a known-command ioctl through open file `which`."""
    return (which << 3) | (OWNER if owner else 0) | (0xC0 if off else 0)


def known(cmd, payload=b"", **kw):
    return bytes([ioc(**kw), cmd]) + payload


def version(size=16):
    return struct.pack("<4I", size, 0, 0, 0)


def lease(typ, flags=0, off=0, length=0, size=32, reserved=0):
    return struct.pack("<4I2Q", size, typ, flags, reserved, off, length)


def status(size=56):
    return struct.pack("<I", size) + bytes(52)


def setsig(sig, fd, size=16, reserved=0):
    return struct.pack("<IiiI", size, sig, fd, reserved)


def pin(off, length, pin_id=0, size=32, flags=0):
    return struct.pack("<2I3Q", size, flags, off, length, pin_id)


def raw(cmd, payload, which=0):
    return bytes([(which << 3) | OWNER | 1]) + struct.pack("<I", cmd) + payload


def raw_sizes(cmd, in_sz, out_sz, payload):
    return bytes([OWNER | 2]) + struct.pack("<I", cmd) + bytes([in_sz, out_sz]) + payload


def brk(which_file=0, off_pages=0, len_pages=0, nonblock=False):
    return bytes([3 | (which_file << 3) | (0x10 if nonblock else 0), off_pages, len_pages])


def clock(tenths):
    return bytes([4, tenths])


def close(which):
    return bytes([5 | (which << 3)])


IOC_SETLEASE = (1 << 30) | (32 << 16) | (0xE9 << 8) | 2

ioctl = {
    "version": known(VERSION, version()),
    "version-bad-size": known(VERSION, version(8)),
    "noop": known(NOOP),
    "lease-read-getlease": known(SETLEASE, lease(READ)) + known(GETLEASE, status()),
    "lease-pin-unpin": known(SETLEASE, lease(WRITE, length=8192))
    + known(PIN, pin(0, 4096))
    + known(GETLEASE, status())
    + known(UNPIN, pin(0, 0, pin_id=1))
    + known(SETLEASE, lease(UNLOCK)),
    "lease-conflict": known(SETLEASE, lease(WRITE))
    + known(SETLEASE, lease(READ), which=1),
    "lease-break-revoke": known(SETLEASE, lease(WRITE))
    + known(SETSIG, setsig(34, 7))
    + brk()
    + known(GETLEASE, status())
    + known(PIN, pin(0, 4096))
    + clock(60)
    + known(GETLEASE, status())
    + close(0),
    "lease-exclusive-not-owner": known(SETLEASE, lease(WRITE, flags=EXCL), owner=False),
    "lease-overflow": known(SETLEASE, lease(READ, off=(1 << 63) - 1, length=2)),
    "lease-bad-fields": known(SETLEASE, lease(READ, flags=2))
    + known(SETLEASE, lease(7))
    + known(SETLEASE, lease(READ, reserved=1))
    + known(SETLEASE, lease(READ, size=24)),
    "pin-zero-length": known(SETLEASE, lease(READ)) + known(PIN, pin(0, 0)),
    "unpin-unknown": known(UNPIN, pin(0, 0, pin_id=42)),
    "setsig-bad": known(SETSIG, setsig(200, 3)) + known(SETSIG, setsig(10, -1)),
    "directory": known(SETLEASE, lease(READ), which=3),
    "leases-off": known(SETLEASE, lease(READ), off=True) + known(VERSION, version(), off=True),
    "foreign-cmd": raw(0x5401, b""),
    "raw-setlease": raw(IOC_SETLEASE, lease(READ, length=4096)),
    "wrong-sizes": raw_sizes(IOC_SETLEASE, 16, 0, lease(READ)[:16])
    + raw_sizes(IOC_SETLEASE, 32, 32, lease(READ)),
    "waiter-cancel": known(SETLEASE, lease(READ), which=2)
    + brk(which_file=1)
    + bytes([6])
    + close(2),
}

# ---- ctl: peer byte ('0' root, '1' uid 1000, '2' uid 1001, '3' unknown), lines ----
ctl = {
    "list-root": b'0{"cmd":"leases"}\n{"cmd":"waiters"}\n{"cmd":"stats"}\n{"cmd":"version"}\n',
    "revoke-owner": b'1{"cmd":"revoke","id":1}\n{"cmd":"leases"}\n',
    "revoke-other-user": b'2{"cmd":"revoke","id":1}\n',
    "revoke-unknown-peer": b'3{"cmd":"revoke","id":4}\n',
    "revoke-root-twice": b'0{"cmd":"revoke","id":3}\n{"cmd":"revoke","id":3}\n',
    "revoke-bad-ids": b'0{"cmd":"revoke","id":-1}\n{"cmd":"revoke","id":"1"}\n'
    b'{"cmd":"revoke","id":99}\n{"cmd":"revoke","id":1.5}\n{"cmd":"revoke"}\n',
    "malformed": b'1{"cmd":\n[1,2]\n"leases"\n{"cmd":7}\n{"cmd":"nope"}\n{}\n',
    "blank-and-crlf": b'0\r\n\n{"cmd":"stats"}\r\n\r\n',
    "deep": b"0" + b"[" * 40 + b"]" * 40 + b"\n" + b'{"a":' * 20 + b"1" + b"}" * 20,
    "not-utf8": b'1{"cmd":"leases","x":"\xff\xfe"}\n{"cmd":"le\x00ases"}\n',
    "no-final-newline": b'2{"cmd":"leases"}',
}

# ---- ctl-stream: a header (see fuzz-ctl-stream.c), then the stream ----
CTL_MAX_REQUEST = 64 * 1024


def stream(data, peer=0, small=None, send=0, chunks=()):
    """small: (line limit 1..256, back-pressure mark byte) or None for the
    daemon's own limits; chunks: read sizes used in turn (0: the rest)."""
    lim, high = small if small else (1, 0)
    head = bytes([peer | (4 if small else 0), lim - 1, high, send, len(chunks)])
    return head + bytes(chunks) + data


REQS = b'{"cmd":"version"}\n{"cmd":"stats"}\n{"cmd":"leases"}\n{"cmd":"waiters"}\n'


def padded(n):
    """A version request of exactly n bytes."""
    head, tail = b'{"cmd":"version","pad":"', b'"}'
    return head + b"a" * (n - len(head) - len(tail)) + tail


ctl_stream = {
    "one-read": stream(REQS),
    "byte-by-byte": stream(REQS + b'{"cmd":"version"}', chunks=[1]),
    "mixed-reads": stream(REQS * 2, peer=1, chunks=[3, 17, 1, 0]),
    "two-per-read": stream(b'{"cmd":"version"}\n{"cmd":"stats"}\n' * 3, chunks=[36]),
    "blank-crlf-nul": stream(b'\n\r\n{"cmd":"stats"}\r\n{"cmd":"ver\x00sion"}\n'
                             b'\xff\n{"cmd":"version"}\r', chunks=[5]),
    "revoke-then-list": stream(b'{"cmd":"revoke","id":1}\n{"cmd":"leases"}\n'
                               b'{"cmd":"revoke","id":2}\n{"cmd":"leases"}', peer=1,
                               chunks=[2, 9]),
    "overlong-small": stream(b'{"cmd":"stats"}\n' + b"x" * 60 + b'\n{"cmd":"stats"}\n'
                             + b"y" * 70, small=(20, 0), chunks=[7]),
    "overlong-one-read": stream(b"z" * 40 + b'\n{"cmd":"version"}\n', small=(20, 0)),
    "limit-exact": stream(padded(30) + b"\n" + padded(31) + b"\n" + padded(29) + b"\r\n"
                          + padded(30) + b"\r\n" + padded(30), small=(30, 0),
                          chunks=[1, 30, 2]),
    "eof-while-dropping": stream(b'{"cmd":"version"}\n' + b"q" * 100, small=(50, 3),
                                 chunks=[60, 0]),
    "backpressure": stream(REQS * 8 + b'{"cmd":"version"}', small=(200, 0), send=1,
                           chunks=[0]),
    "backpressure-mark": stream(REQS * 8, small=(100, 30), send=7, chunks=[100, 3]),
    "real-limit": stream(padded(CTL_MAX_REQUEST) + b"\n" + padded(CTL_MAX_REQUEST + 1)
                         + b'\n{"cmd":"version"}\n' + b"w" * (CTL_MAX_REQUEST + 10),
                         chunks=[0x80, 0xff, 0]),
}

# ---- opts: arguments separated by NUL ----
opts = {
    "all-options": b"-o\0break_time=10,pinned=fail,leases=off,timeout=2.5\0/srv/b\0/mnt/m",
    "defaults": b"/srv/b\0/mnt/m",
    "fuse-options": b"-f\0-d\0-s\0-oallow_other,default_permissions\0/srv/b\0/mnt/m",
    "bad-pinned": b"-opinned=maybe\0/srv/b",
    "bad-leases": b"-oleases=yes\0/srv/b",
    "negative-timeout": b"-otimeout=-1\0/srv/b",
    "bad-break-time": b"-obreak_time=soon\0/srv/b",
    "repeated": b"-opinned=wait\0-opinned=fail\0-oleases=off,leases=on\0/srv/b",
    "no-backing": b"-obreak_time=1",
    "missing-o-arg": b"/srv/b\0-o",
    "quotas": b"-o\0user_leases=3,user_pins=0\0/srv/b\0/mnt/m",
    "bad-user-leases": b"-ouser_leases=-1\0/srv/b",
    "bad-user-pins": b"-ouser_pins=4294967296\0/srv/b",
    "regression-quota-vtab": b"-o\0user_leases=\x0b\x0b7\0/srv/b\0/mnt/m",
    "negative-break-time": b"-obreak_time=-1\0/srv/b",
    "break-time-trailing": b"-obreak_time=1x\0/srv/b",
    "timeout-inf": b"-otimeout=inf\0/srv/b",
    "timeout-trailing": b"-otimeout=1s\0/srv/b",
    "passthrough": b"-o\0passthrough=off,passthrough=auto\0/srv/b\0/mnt/m",
    "bad-passthrough": b"-opassthrough=on\0/srv/b",
}

for target, seeds in (("ioctl", ioctl), ("ctl", ctl), ("ctl-stream", ctl_stream),
                      ("opts", opts)):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
