#!/usr/bin/env python3
"""Sum the results of meson test runs (meson-logs/testlog.json) into one
line 'N passed, N failed, N skipped'.  TAP subtests count one by one; a
failure marked TODO (a "known bug") is a failure: only SKIP is skipped.
Every failure is named first (test, subtest and its last output lines), so
that the end of a CI log says what failed without the whole log."""
import json
import os
import sys


def count(build, failures):
    passed = failed = skipped = 0
    for name in ("testlog.json", "valgrind.json"):
        a, b, c = count_log(os.path.join(build, "meson-logs", name), failures)
        passed, failed, skipped = passed + a, failed + b, skipped + c
    return passed, failed, skipped


def tail(text, n=12):
    lines = [l for l in (text or "").splitlines() if l.strip()]
    return lines[-n:]


def count_log(log, failures):
    passed = failed = skipped = 0
    if not os.path.exists(log):
        return passed, failed, skipped
    with open(log) as f:
        for line in f:
            t = json.loads(line)
            result = t.get("result")
            where = f"{os.path.basename(os.path.dirname(os.path.dirname(log)))} {t.get('name')}"
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
                        failures.append((f"{where}: {s}", []))
            if sub_ok + sub_fail + sub_skip and result in ("OK", "FAIL", "ERROR", "EXPECTEDFAIL"):
                passed += sub_ok
                skipped += sub_skip
                failed += sub_fail
                if result in ("FAIL", "ERROR") and sub_fail == 0:
                    failed += 1  # crashed or bad exit after its subtests
                    failures.append((f"{where}: {result} after its subtests",
                                     tail(t.get("stderr")) + tail(t.get("stdout"), 4)))
                elif sub_fail and failures:
                    # Attach the run's last lines to its last failed subtest.
                    failures[-1] = (failures[-1][0], tail(t.get("stderr")) or tail(t.get("stdout")))
            elif result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
                failures.append((f"{where}: {result}",
                                 tail(t.get("stderr")) + tail(t.get("stdout"), 4)))
    return passed, failed, skipped


def main():
    p = f = s = 0
    lines = []
    failures = []
    for build in sys.argv[1:]:
        a, b, c = count(build, failures)
        lines.append(f"{os.path.basename(build)}: {a} passed, {b} failed, {c} skipped")
        p, f, s = p + a, f + b, s + c
    for name, out in failures:
        print(f"FAILED {name}")
        for l in out:
            print(f"    {l}")
    for l in lines:
        print(l)
    print(f"{p} passed, {f} failed, {s} skipped")
    return 1 if f or p == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
