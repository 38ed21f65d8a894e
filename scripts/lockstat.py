#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The real i_mmap_rwsem beside the replayed `single` design.

lockstat.py RAW OUTDIR [FLAVOR]

FLAVOR (debug, the default, or lockstat) is the kernel the lines came from,
named in the report. RAW holds scripts/guest/lockstat.sh's lines:

  L topo rep procs loops loops_per_sec real_contended real_wait_us real_acq
    real_hold_us shadow_acq shadow_contended shadow_wait_ns shadow_hold_ns

Per topology and load (storm processes): the real lock's and the replay's
acquisitions, contentions and waits per execl loop (mean with a 95 % t
interval), the paired per-storm ratios replay / real (labstats.paired,
storms with both non-zero only), and across all storms of the topology the
Pearson and Spearman correlations of the two contention counts: does the
replay's contention rise and fall with the real lock's?

RAW may instead hold lockstat.sh -H's lines (the real lock with the
module's taps inside it):

  K topo rep cfg loops loops_per_sec w_contended w_wait_us w_acq w_hold_us
    r_contended r_wait_us r_acq r_hold_us

Per topology and configuration (unloaded, empty, shadow): the real lock's
write and read sides per loop and per acquisition; then the paired
per-repetition ratios empty / unloaded, shadow / unloaded and shadow /
empty of loops/s, write hold per acquisition and wait per loop.

Writes OUTDIR/lockstat.md and prints it.
"""
import os
import sys

from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labstats as ls  # noqa: E402


def hold_md(krows, kernel):
    """The -H section: the real lock with the taps inside it."""
    md = ["# The real i_mmap_rwsem with the module's taps inside it", "",
          f"{kernel}. The lockdep class `&mapping->i_mmap_rwsem` (every file's), write (W) and read (R) "
          "sides, from /proc/lock_stat cleared before each storm (one process per vCPU, pinned, "
          "the storm's program in memory). The file taps run while the kernel holds the lock "
          "for write: their time is inside W hold. Per loop and per acquisition: mean ± 95 % t "
          "interval over repetitions; ratios: paired per repetition (geometric mean, 95 % t "
          "interval).", ""]
    for topo in sorted({r["topo"] for r in krows}, key=lambda t: (int(t[0]), t)):
        mine = [r for r in krows if r["topo"] == topo and r["loops"] > 0]
        cfgs = [c for c in ("unloaded", "empty", "shadow") if any(r["cfg"] == c for r in mine)]
        md += [f"## {topo}", "",
               "| configuration | n | loops/s | W acq/loop | W hold/acq (µs) | W hold/loop (µs) "
               "| W contended/loop | W wait/loop (µs) | R acq/loop | R contended/loop "
               "| R wait/loop (µs) |",
               "|---|---|---|---|---|---|---|---|---|---|---|"]
        for c in cfgs:
            rs = [r for r in mine if r["cfg"] == c]

            def per(key):
                return ls.fmt_mean([r[key] / r["loops"] for r in rs], 3)
            hold_acq = ls.fmt_mean([r["wh"] / r["wa"] for r in rs if r["wa"] > 0], 3)
            md.append(f"| {c} | {len(rs)} | {ls.fmt_mean([r['lps'] for r in rs], 2)} | {per('wa')} "
                      f"| {hold_acq} | {per('wh')} | {per('wc')} | {per('ww')} | {per('ra')} "
                      f"| {per('rc')} | {per('rw')} |")
        md += ["", "| ratio | loops/s | W hold/acq | W hold/loop | W wait/loop | R wait/loop |",
               "|---|---|---|---|---|---|"]
        by = {(r["cfg"], r["rep"]): r for r in mine}
        for a, b in (("empty", "unloaded"), ("shadow", "unloaded"), ("shadow", "empty")):
            if a not in cfgs or b not in cfgs:
                continue
            reps = sorted({r["rep"] for r in mine if (a, r["rep"]) in by and (b, r["rep"]) in by})

            def ratio(f):
                pairs = [(f(by[(a, k)]), f(by[(b, k)])) for k in reps]
                return ls.paired([(x, y) for x, y in pairs if x > 0 and y > 0]).fmt()
            md.append(f"| {a} / {b} | {ratio(lambda r: r['lps'])} "
                      f"| {ratio(lambda r: r['wh'] / r['wa'] if r['wa'] else 0)} "
                      f"| {ratio(lambda r: r['wh'] / r['loops'])} "
                      f"| {ratio(lambda r: r['ww'] / r['loops'])} "
                      f"| {ratio(lambda r: r['rw'] / r['loops'])} |")
        md.append("")
    return md


FLAVORS = {
    "debug": "Debug kernel (lockdep, KASAN, LOCK_STAT)",
    "lockstat": "lockstat kernel (the perf flavor plus LOCK_STAT: lockdep's acquisition "
                "tracking without lock proving or KASAN)",
}


def main(raw, outdir, flavor="debug"):
    kernel = FLAVORS[flavor]
    rows = []
    krows = []
    with open(raw) as f:
        for line in f:
            w = line.split()
            if len(w) == 14 and w[0] == "K":
                krows.append({"topo": w[1], "rep": int(w[2]), "cfg": w[3], "loops": int(w[4]),
                              "lps": float(w[5]), "wc": int(w[6]), "ww": float(w[7]),
                              "wa": int(w[8]), "wh": float(w[9]), "rc": int(w[10]),
                              "rw": float(w[11]), "ra": int(w[12]), "rh": float(w[13])})
            elif len(w) == 14 and w[0] == "L":
                rows.append({"topo": w[1], "rep": int(w[2]), "procs": int(w[3]), "loops": int(w[4]),
                             "lps": float(w[5]), "rc": int(w[6]), "rw_ns": float(w[7]) * 1000,
                             "ra": int(w[8]), "rh_ns": float(w[9]) * 1000, "sa": int(w[10]),
                             "sc": int(w[11]), "sw_ns": int(w[12]), "sh_ns": int(w[13])})
    if not rows and not krows:
        sys.exit("lockstat.py: no L or K lines in " + raw)
    if krows:
        md = hold_md(krows, kernel)
        if rows:
            md.append("")
    else:
        md = []
    if rows:
        md += replay_md(rows, kernel)
    text = "\n".join(md) + "\n"
    with open(os.path.join(outdir, "lockstat.md"), "w") as f:
        f.write(text)
    print(text)


def replay_md(rows, kernel):
    """The real lock beside the replayed `single` design."""
    md = ["# The real i_mmap_rwsem beside the replayed `single` design", "",
          f"{kernel}: both locks slowed alike. real: the lockdep class "
          "`&mapping->i_mmap_rwsem` (every file's, read and write); replay: the `single` "
          "design's lock of every shadowed file, replayed at return to user space. Per execl "
          "loop: mean ± 95 % t interval over repetitions; replay / real: paired per storm.", ""]
    for topo in sorted({r["topo"] for r in rows}, key=lambda t: (int(t[0]), t)):
        mine = [r for r in rows if r["topo"] == topo]
        md += [f"## {topo}", "",
               "| procs | n | loops/s | real acq/loop | replay acq/loop | real contended/loop "
               "| replay contended/loop | real wait/loop (µs) | replay wait/loop (µs) "
               "| contended replay / real | wait replay / real |",
               "|---|---|---|---|---|---|---|---|---|---|---|"]
        for p in sorted({r["procs"] for r in mine}):
            rs = [r for r in mine if r["procs"] == p]
            loops = [r["lps"] for r in rs]

            def per(key, scale=1.0):
                return ls.fmt_mean([r[key] / scale / r["loops"] for r in rs if r["loops"] > 0], 3)
            cr = ls.paired([(r["sc"], r["rc"]) for r in rs if r["sc"] > 0 and r["rc"] > 0])
            wr = ls.paired([(r["sw_ns"], r["rw_ns"]) for r in rs if r["sw_ns"] > 0 and r["rw_ns"] > 0])
            md.append(f"| {p} | {len(rs)} | {ls.fmt_mean(loops, 1)} | {per('ra')} | {per('sa')} "
                      f"| {per('rc')} | {per('sc')} | {per('rw_ns', 1000)} | {per('sw_ns', 1000)} "
                      f"| {cr.fmt()} | {wr.fmt()} |")
        rc = [r["rc"] for r in mine]
        sc = [r["sc"] for r in mine]
        md.append("")
        if len(mine) >= 3 and len(set(rc)) > 1 and len(set(sc)) > 1:
            pr = stats.pearsonr(rc, sc)
            sr = stats.spearmanr(rc, sc)
            md.append(f"Contentions across all {len(mine)} storms: Pearson r = {pr.statistic:.3f} "
                      f"(p = {pr.pvalue:.3g}), Spearman ρ = {sr.statistic:.3f} (p = {sr.pvalue:.3g}); "
                      f"totals real {sum(rc)}, replay {sum(sc)}.")
        else:
            md.append(f"Contentions: too few storms or no variation for a correlation "
                      f"(real {sum(rc)}, replay {sum(sc)} in {len(mine)} storms).")
        md.append("")
    return md


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or (len(sys.argv) == 4 and sys.argv[3] not in FLAVORS):
        sys.exit("usage: lockstat.py RAW OUTDIR [debug|lockstat]")
    main(*sys.argv[1:])
