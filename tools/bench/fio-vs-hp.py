#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""fio on pinfs beside another FUSE passthrough (libfuse's passthrough_hp).

A new user's first test, repeatable: fio (psync, --size=256M, --runtime=5
--time_based, fio's defaults otherwise, so invalidate=1), then the same jobs
with --invalidate=0 ("cached").  Jobs: read/write 1M, randread/randwrite 4k,
mmap randread/randwrite 4k, and 4 jobs of randread 4k, randwrite 4k, read 1M
(64 MiB each).  Every target is a directory of one fresh ext4 filesystem on
a loop device; in each round every job runs on every target back to back,
the order of the targets rotated from round to round, and sync(2) before
every job, so that no job pays for the write-back of the one before it
(all targets share one loop device).  Prints MiB/s medians
and pinfs/peer ratios (median of the per-round ratios, with their range).

The peer is given as a binary: this script builds nothing.  libfuse's
example/passthrough_hp.cc is not shipped by Debian; build it yourself from
libfuse's source and pass its path.  Needs root (loop device, mounts).

With --meta, small files instead of fio: per target and round, create
(open O_CREAT|O_EXCL, write 1 KiB, close), stat and unlink of --files
files, timed per operation; ratios are operations per second against the
peer's.

usage: fio-vs-hp.py --pinfs build/fs/pinfs --peer /path/to/passthrough_hp
                    [--rounds 3] [--runtime 5] [--pinfs-opts OPTS] [--variant OPTS]...
                    [--only JOB,...] [--meta [--files N]] [--json out.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

JOBS = [
    # name, rw, bs, engine, numjobs
    ("read 1M", "read", "1M", "psync", 1),
    ("write 1M", "write", "1M", "psync", 1),
    ("randread 4k", "randread", "4k", "psync", 1),
    ("randwrite 4k", "randwrite", "4k", "psync", 1),
    ("mmap randread 4k", "randread", "4k", "mmap", 1),
    ("mmap randwrite 4k", "randwrite", "4k", "mmap", 1),
    ("4x randread 4k", "randread", "4k", "psync", 4),
    ("4x randwrite 4k", "randwrite", "4k", "psync", 4),
    ("4x read 1M", "read", "1M", "psync", 4),
]


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def fio(directory, job, invalidate, runtime):
    name, rw, bs, engine, numjobs = job
    size = 256 // numjobs
    cmd = [
        "fio", "--name=j%d" % numjobs, "--directory=" + directory,
        "--rw=" + rw, "--bs=" + bs, "--ioengine=" + engine,
        "--size=%dM" % size, "--runtime=%d" % runtime, "--time_based",
        "--numjobs=%d" % numjobs, "--group_reporting",
        "--invalidate=%d" % invalidate, "--output-format=json",
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    j = json.loads(out[out.index("{"):])["jobs"][0]
    kib = j["read"]["bw"] + j["write"]["bw"]
    return kib / 1024.0


def meta(directory, files):
    """Operations per second of create, stat and unlink of small files."""
    d = os.path.join(directory, "meta")
    os.mkdir(d)
    names = [os.path.join(d, "f%d" % i) for i in range(files)]
    data = b"x" * 1024
    out = {}
    t = time.perf_counter()
    for n in names:
        fd = os.open(n, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, data)
        os.close(fd)
    out["create"] = files / (time.perf_counter() - t)
    t = time.perf_counter()
    for n in names:
        os.stat(n)
    out["stat"] = files / (time.perf_counter() - t)
    t = time.perf_counter()
    for n in names:
        os.unlink(n)
    out["unlink"] = files / (time.perf_counter() - t)
    os.rmdir(d)
    return out


def main_meta(args, order, pinfses, m):
    res = {}  # (op, target) -> [ops/s per round]
    for r in range(args.rounds):
        rot = order[r % len(order):] + order[:r % len(order)]
        for t in rot:
            for op, v in meta(m.targets[t], args.files).items():
                res.setdefault((op, t), []).append(v)
    print("| operation | peer ops/s | ext4 ops/s | " +
          " | ".join("%s ops/s | %s / peer (range)" % (t, t) for t in pinfses) + " |")
    print("|---|---|---|" + "---|---|" * len(pinfses))
    for op in ("create", "stat", "unlink"):
        h = res[(op, "peer")]
        cells = []
        for t in pinfses:
            ratios = [a / b for a, b in zip(res[(op, t)], h)]
            cells.append("%.0f | %.2f (%.2f-%.2f)" % (
                statistics.median(res[(op, t)]), statistics.median(ratios),
                min(ratios), max(ratios)))
        ext4 = res.get((op, "ext4"))
        print("| %s | %.0f | %s | %s |" % (
            op, statistics.median(h), "%.0f" % statistics.median(ext4) if ext4 else "",
            " | ".join(cells)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"%s|%s" % k: v for k, v in res.items()}, f, indent=1)


class Mounts:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="fio-vs-hp.")
        self.mounted = []
        self.procs = []

    def __enter__(self):
        img = os.path.join(self.tmp, "img")
        base = os.path.join(self.tmp, "ext4")
        with open(img, "wb") as f:
            f.truncate(4 << 30)
        sh("mkfs.ext4", "-q", "-F", img)
        os.mkdir(base)
        sh("mount", "-o", "loop", img, base)
        self.mounted.append(base)
        self.targets = {}
        os.mkdir(os.path.join(base, "ext4"))
        self.targets["ext4"] = os.path.join(base, "ext4")
        for i, opts in enumerate([""] + self.args.variant):
            name = "pinfs" + ("," + opts if opts else "")
            os.mkdir(os.path.join(base, "pinfs%d" % i))
            mp = os.path.join(self.tmp, "pinfs%d" % i)
            os.mkdir(mp)
            opts = ",".join(o for o in (self.args.pinfs_opts, opts) if o)
            sh(self.args.pinfs, "-o", "allow_other,default_permissions" +
               ("," + opts if opts else ""), os.path.join(base, "pinfs%d" % i), mp)
            self.mounted.insert(0, mp)
            self.targets[name] = mp
        os.mkdir(os.path.join(base, "peer"))
        mp = os.path.join(self.tmp, "peer")
        os.mkdir(mp)
        self.procs.append(subprocess.Popen(
            [self.args.peer, "--foreground", os.path.join(base, "peer"), mp],
            stdout=subprocess.DEVNULL))
        for _ in range(100):
            if os.path.ismount(mp):
                break
            time.sleep(0.1)
        else:
            raise SystemExit("the peer did not mount " + mp)
        self.mounted.insert(0, mp)
        self.targets["peer"] = mp
        return self

    def __exit__(self, *exc):
        for mp in self.mounted[:-1]:
            subprocess.run(["umount", mp])
        for p in self.procs:
            p.wait()
        # The daemons close their backing descriptors as they exit.
        for _ in range(100):
            if subprocess.run(["umount", self.mounted[-1]],
                              stderr=subprocess.DEVNULL).returncode == 0:
                subprocess.run(["rm", "-rf", self.tmp])
                break
            time.sleep(0.2)
        else:
            print("could not unmount " + self.mounted[-1], file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pinfs", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--pinfs-opts", default="",
                    help="extra options of every pinfs mount, e.g. passthrough=auto")
    ap.add_argument("--variant", action="append", default=[],
                    help="also a pinfs mounted with these extra options, e.g. writeback_cache")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runtime", type=int, default=5)
    ap.add_argument("--only", default="", help="comma-separated job names")
    ap.add_argument("--no-ext4", action="store_true")
    ap.add_argument("--meta", action="store_true",
                    help="small files (create, stat, unlink) instead of fio")
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--json")
    args = ap.parse_args()
    jobs = [j for j in JOBS if not args.only or j[0] in args.only.split(",")]
    pinfses = ["pinfs"] + ["pinfs," + v for v in args.variant]
    order = pinfses + ["peer"] + ([] if args.no_ext4 else ["ext4"])
    if args.meta:
        with Mounts(args) as m:
            main_meta(args, order, pinfses, m)
        return
    res = {}  # (row, target) -> [MiB/s per round]
    with Mounts(args) as m:
        for r in range(args.rounds):
            rot = order[r % len(order):] + order[:r % len(order)]
            for job in jobs:
                for inval in (1, 0):
                    row = job[0] + ("" if inval else ", cached")
                    for t in rot:
                        # Each job starts without the dirty pages the one
                        # before left on the shared loop device, whose
                        # write-back would otherwise slow whoever runs next.
                        os.sync()
                        v = fio(m.targets[t], job, inval, args.runtime)
                        res.setdefault((row, t), []).append(v)
                    print("round %d %-28s %s" % (r + 1, row, "  ".join(
                        "%s %.0f" % (t, res[(row, t)][-1]) for t in order)),
                        file=sys.stderr, flush=True)
    rows = []
    for job in jobs:
        for inval in (1, 0):
            row = job[0] + ("" if inval else ", cached")
            h = res[(row, "peer")]
            r = {"job": row, "peer": statistics.median(h),
                 "ext4": statistics.median(res[(row, "ext4")]) if "ext4" in order else None}
            for t in pinfses:
                ratios = [a / b for a, b in zip(res[(row, t)], h) if b > 0]
                r[t] = {"mibs": statistics.median(res[(row, t)]),
                        "ratio": statistics.median(ratios),
                        "min": min(ratios), "max": max(ratios)}
            rows.append(r)
    print("| job | peer MiB/s | ext4 MiB/s | " +
          " | ".join("%s MiB/s | %s / peer (range)" % (t, t) for t in pinfses) + " |")
    print("|---|---|---|" + "---|---|" * len(pinfses))
    for r in rows:
        cells = []
        for t in pinfses:
            x = r[t]
            mark = "" if x["ratio"] >= 0.9 else "**"
            cells.append("%.0f | %s%.2f%s (%.2f-%.2f)" % (
                x["mibs"], mark, x["ratio"], mark, x["min"], x["max"]))
        print("| %s | %.0f | %s | %s |" % (
            r["job"], r["peer"], "%.0f" % r["ext4"] if r["ext4"] is not None else "",
            " | ".join(cells)))
    for t in pinfses:
        met = sum(1 for r in rows if r[t]["ratio"] >= 0.9)
        print("%s: %d of %d rows at or above 0.9x" % (t, met, len(rows)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "raw": {"%s|%s" % k: v for k, v in res.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
