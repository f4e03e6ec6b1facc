#!/usr/bin/env python3
"""Sum the results of meson test runs (meson-logs/testlog.json) into one
line 'N passed, N failed, N skipped'.  TAP subtests count one by one; a
failure marked TODO (a "known bug") is a failure: only SKIP is skipped."""
import json
import os
import sys


def count(build):
    passed = failed = skipped = 0
    for name in ("testlog.json", "valgrind.json"):
        a, b, c = count_log(os.path.join(build, "meson-logs", name))
        passed, failed, skipped = passed + a, failed + b, skipped + c
    return passed, failed, skipped


def count_log(log):
    passed = failed = skipped = 0
    if not os.path.exists(log):
        return passed, failed, skipped
    with open(log) as f:
        for line in f:
            t = json.loads(line)
            result = t.get("result")
            # Count TAP subtests where meson recorded them ("ok N - name").
            sub_ok = sub_fail = sub_skip = 0
            for out in (t.get("stdout") or "").splitlines():
                s = out.strip()
                if s.startswith("ok "):
                    if "# SKIP" in s:
                        sub_skip += 1
                    else:
                        sub_ok += 1
                elif s.startswith("not ok "):
                    if "# SKIP" in s and "# TODO" not in s:
                        sub_skip += 1
                    else:
                        sub_fail += 1
            if sub_ok + sub_fail + sub_skip and result in ("OK", "FAIL", "EXPECTEDFAIL"):
                passed += sub_ok
                skipped += sub_skip
                failed += sub_fail
                if result == "FAIL" and sub_fail == 0:
                    failed += 1  # crashed or bad exit after its subtests
            elif result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
    return passed, failed, skipped


def main():
    p = f = s = 0
    for build in sys.argv[1:]:
        a, b, c = count(build)
        print(f"{os.path.basename(build)}: {a} passed, {b} failed, {c} skipped")
        p, f, s = p + a, f + b, s + c
    print(f"{p} passed, {f} failed, {s} skipped")
    return 1 if f or p == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
