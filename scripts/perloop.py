#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Per-loop CPU time of each storm in a scripts/profile.sh log.

Usage: perloop.py [LOG]   (stdin if none)

scripts/profile.sh prints, per storm, its loops and perf's self-time shares
by object (``P <mode> dso``) and by symbol (``P <mode> sym``). Under TCG the
guest's speed drifts by more than the module's cost between storms, so a
storm's figures are also given relative to the time it spent in ld.so,
whose user-space work per loop the module does not touch: a speed proxy
measured in the same storm. Prints one line per storm (in run order) and,
per mode, the means of the normalised figures:

  busy     non-idle samples per loop (idle: ``pv_native_safe_halt``)
  kernel   kernel samples per loop, idle excluded
  module   ``[rmap_shadow]`` samples per loop
  ..._ld   the same divided by ld.so's samples per loop

Shares are percent of all samples, per loop times 1000.
"""
import re
import sys

LDSO = "ld-linux-x86-64.so.2"


def parse(lines):
    """The storms of a profile.sh log: dicts with mode, loops, idle and the
    share of each object (``[kernel.kallsyms]``, ``[rmap_shadow]``, ...)."""
    runs, cur = [], None
    for line in lines:
        m = re.match(r"^P (\S+) storm .*\bloops=(\d+)", line)
        if m:
            cur = {"mode": m.group(1), "loops": int(m.group(2)), "idle": 0.0, "dso": {}}
            runs.append(cur)
            continue
        if cur is None:
            continue
        m = re.match(r"^P (\S+) dso\s+([\d.]+)%\s+(\S+)", line)
        if m and m.group(1) == cur["mode"]:
            cur["dso"][m.group(3)] = float(m.group(2))
            continue
        m = re.match(r"^P (\S+) sym\s+([\d.]+)%\s+\[k\] pv_native_safe_halt\b", line)
        if m and m.group(1) == cur["mode"]:
            cur["idle"] = float(m.group(2))
    return runs


def figures(run):
    """Per-loop figures of one storm (None if it has no loops or no ld.so)."""
    n = run["loops"]
    ld = run["dso"].get(LDSO, 0.0)
    if n <= 0 or ld <= 0:
        return None
    busy = 100.0 - run["idle"]
    kernel = run["dso"].get("[kernel.kallsyms]", 0.0) - run["idle"]
    module = run["dso"].get("[rmap_shadow]", 0.0)
    f = {"busy": busy, "kernel": kernel, "module": module, "ld": ld}
    out = {k: 1e3 * v / n for k, v in f.items()}
    for k in ("busy", "kernel", "module"):
        out[k + "_ld"] = f[k] / ld
    return out


KEYS = ["busy", "kernel", "module", "ld", "busy_ld", "kernel_ld", "module_ld"]


def main(argv):
    lines = open(argv[1]) if len(argv) > 1 else sys.stdin
    runs = parse(lines)
    print("mode loops idle% " + " ".join(KEYS))
    by_mode = {}
    for r in runs:
        f = figures(r)
        if f is None:
            print(f"{r['mode']} {r['loops']} - (no loops or no ld.so samples)")
            continue
        by_mode.setdefault(r["mode"], []).append(f)
        print(f"{r['mode']} {r['loops']} {r['idle']:.2f} " + " ".join(f"{f[k]:.3f}" for k in KEYS))
    for mode, fs in by_mode.items():
        mean = {k: sum(f[k] for f in fs) / len(fs) for k in KEYS}
        print(f"mean {mode} (n={len(fs)}) " + " ".join(f"{mean[k]:.3f}" for k in KEYS))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
