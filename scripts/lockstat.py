#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The real i_mmap_rwsem beside the replayed `single` design.

lockstat.py RAW OUTDIR

RAW holds scripts/guest/lockstat.sh's lines:

  L topo rep procs loops loops_per_sec real_contended real_wait_us real_acq
    real_hold_us shadow_acq shadow_contended shadow_wait_ns shadow_hold_ns

Per topology and load (storm processes): the real lock's and the replay's
acquisitions, contentions and waits per execl loop (mean with a 95 % t
interval), the paired per-storm ratios replay / real (labstats.paired,
storms with both non-zero only), and across all storms of the topology the
Pearson and Spearman correlations of the two contention counts: does the
replay's contention rise and fall with the real lock's? Writes
OUTDIR/lockstat.md and prints it.
"""
import os
import sys

from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labstats as ls  # noqa: E402


def main(raw, outdir):
    rows = []
    with open(raw) as f:
        for line in f:
            w = line.split()
            if len(w) == 14 and w[0] == "L":
                rows.append({"topo": w[1], "rep": int(w[2]), "procs": int(w[3]), "loops": int(w[4]),
                             "lps": float(w[5]), "rc": int(w[6]), "rw_ns": float(w[7]) * 1000,
                             "ra": int(w[8]), "rh_ns": float(w[9]) * 1000, "sa": int(w[10]),
                             "sc": int(w[11]), "sw_ns": int(w[12]), "sh_ns": int(w[13])})
    if not rows:
        sys.exit("lockstat.py: no L lines in " + raw)
    md = ["# The real i_mmap_rwsem beside the replayed `single` design", "",
          "Debug kernel (lockdep, KASAN: both locks slowed alike). real: the lockdep class "
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
    text = "\n".join(md) + "\n"
    with open(os.path.join(outdir, "lockstat.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: lockstat.py RAW OUTDIR")
    main(sys.argv[1], sys.argv[2])
