#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Statistics and plots of scripts/report.sh's raw results.

report.py RAW OUTDIR

RAW holds the guest lines of report.sh:

  R topo cfg rep loops_per_sec acq contended wait_ns wait_max_ns hold_ns vcpus host_cores
  A topo <anon table row>
  T topo <taps table row>
  P topo <line of /sys/kernel/debug/kprobes/list while loaded>
  K topo rep <storm table row> vcpus host_cores
  B topo after-boot|after-16-apps <anon table row>

Writes OUTDIR/results.csv, OUTDIR/report.md, OUTDIR/loops.png,
OUTDIR/contention.png and prints the short form. Statistics: mean, sample
standard deviation, 95 % confidence interval of the mean (Student t), and
Welch's t-test against the `single` design (scipy.stats.ttest_ind,
equal_var=False); the module's overhead is the ratio of mean loops/s loaded
(`all`; and `taps`: the shadow kept, no design replayed) to unloaded, with a
95 % interval by the delta method.
"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

CONFIGS = ["unloaded", "empty", "counters", "taps", "all", "single", "all-trees", "inverted"]
DESIGNS = ["single", "all-trees", "inverted"]


def ci95(x):
    """Half-width of the 95 % confidence interval of the mean of x."""
    x = np.asarray(x, dtype=float)
    if len(x) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


def welch(a, b):
    """Welch's t-test p-value of a against b (nan if undefined)."""
    if len(a) < 2 or len(b) < 2 or (np.std(a) == 0 and np.std(b) == 0):
        return float("nan")
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def ratio_ci(a, b):
    """mean(a)/mean(b) and the half-width of its 95 % interval (delta method)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    r = a.mean() / b.mean()
    se = r * np.sqrt(a.var(ddof=1) / len(a) / a.mean() ** 2 + b.var(ddof=1) / len(b) / b.mean() ** 2)
    df = min(len(a), len(b)) - 1
    return r, float(stats.t.ppf(0.975, df) * se)


def md_to_rst(md):
    """The report's Markdown (headings, pipe tables, fenced blocks) as
    reStructuredText, for Documentation/."""
    out, lines, i = [], md.split("\n"), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("# "):
            t = line[2:].strip()
            out += ["=" * len(t), t, "=" * len(t), ""]
        elif line.startswith("## "):
            t = line[3:].strip()
            out += [t, "-" * len(t), ""]
        elif line.startswith("```"):
            out += ["::", ""]
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                out.append("    " + lines[i])
                i += 1
            out.append("")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(set(c) <= set("-") for c in cells):
                    rows.append(cells)
                i += 1
            out += [".. list-table::", "   :header-rows: 1", ""]
            for r in rows:
                out.append("   * - " + (r[0] or "\\"))
                out += ["     - " + (c.replace("`", "``") or "\\") for c in r[1:]]
            out.append("")
            continue
        else:
            out.append(line.replace("`", "``"))
        i += 1
    return "\n".join(out) + "\n"


def main(raw, outdir):
    runs, anon, taps, kern, seed, probes = [], {}, {}, [], {}, {}
    with open(raw) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "R" and len(w) == 12:
                runs.append({
                    "topo": w[1], "cfg": w[2], "rep": int(w[3]), "loops_per_sec": float(w[4]),
                    "acq": int(w[5]), "contended": int(w[6]), "wait_ns": int(w[7]),
                    "wait_max_ns": int(w[8]), "hold_ns": int(w[9]), "vcpus": int(w[10]),
                    "host_cores": int(w[11]),
                })
            elif w[0] == "K" and len(w) == 26 and w[3] == "done":
                kern.append({
                    "topo": w[1], "rep": int(w[2]), "design": w[4], "policy": w[5],
                    "trees": int(w[6]), "threads": int(w[10]), "ops_per_sec": float(w[14]),
                    "acq": int(w[15]), "contended_pct": int(w[16]) / 10.0,
                    "wait_p50_ns": int(w[17]), "wait_p99_ns": int(w[18]),
                    "hold_p50_ns": int(w[19]), "hold_p99_ns": int(w[20]),
                    "walks": int(w[21]), "alloc_failures": int(w[23]),
                    "vcpus": int(w[24]), "host_cores": int(w[25]),
                })
            elif w[0] == "B" and len(w) == 13 and w[3] != "object":
                seed.setdefault(w[1], {}).setdefault(w[2], {})[w[3]] = w[4:]
            elif w[0] == "A":
                anon.setdefault(w[1], []).append(" ".join(w[2:]))
            elif w[0] == "T":
                taps.setdefault(w[1], []).append(" ".join(w[2:]))
            elif w[0] == "P":
                probes.setdefault(w[1], []).append(" ".join(w[2:]))
    if not runs:
        sys.exit("report.py: no results in " + raw)
    with open(os.path.join(outdir, "results.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(runs[0].keys()))
        wr.writeheader()
        wr.writerows(runs)

    topos = [t for t in ["1n2c", "2n4c", "4n8c"] if any(r["topo"] == t for r in runs)]
    topos += sorted({r["topo"] for r in runs} - set(topos))

    def col(topo, cfg, key):
        return [r[key] for r in runs if r["topo"] == topo and r["cfg"] == cfg]

    md, short = [], []
    md.append("# rmap-shadow contention lab\n")
    md.append("Execl storm (one process per vCPU, pinned per CPU) under each configuration, "
              "repetitions in shuffled order; mean ± 95 % CI; p: Welch's t-test against "
              "`single`. ratio: vCPUs : host cores.\n")
    for topo in topos:
        vcpus = col(topo, "unloaded", "vcpus") or col(topo, "all", "vcpus")
        cores = col(topo, "unloaded", "host_cores") or col(topo, "all", "host_cores")
        ratio = f"{vcpus[0]}:{cores[0]}" if vcpus and cores else "?"
        md.append(f"\n## {topo} (vCPU:host-core {ratio})\n")
        md.append("| config | n | loops/s mean | sd | 95 % CI | p vs single (loops/s) "
                  "| contended % | p vs single (contended %) | mean wait per contended (µs) |")
        md.append("|---|---|---|---|---|---|---|---|---|")
        base_l = col(topo, "single", "loops_per_sec")
        base_c = [100.0 * c / a if a else 0.0
                  for c, a in zip(col(topo, "single", "contended"), col(topo, "single", "acq"))]
        for cfg in CONFIGS:
            lps = col(topo, cfg, "loops_per_sec")
            if not lps:
                continue
            acq, con, wait = (col(topo, cfg, k) for k in ("acq", "contended", "wait_ns"))
            cpct = [100.0 * c / a if a else 0.0 for c, a in zip(con, acq)]
            w = sum(wait) / sum(con) / 1000 if sum(con) else 0.0
            lock_cols = (f"{np.mean(cpct):.2f} ± {ci95(cpct):.2f} | "
                         f"{welch(cpct, base_c):.3g} | {w:.1f}") if cfg in DESIGNS or cfg == "all" else "- | - | -"
            md.append(f"| {cfg} | {len(lps)} | {np.mean(lps):.2f} | {np.std(lps, ddof=1):.2f} "
                      f"| ± {ci95(lps):.2f} | {welch(lps, base_l):.3g} | {lock_cols} |")
        un = col(topo, "unloaded", "loops_per_sec")
        for cfg, what in (("empty", "probes armed, handlers return at once"),
                          ("counters", "hits counted per CPU, no shadow"),
                          ("taps", "the shadow kept (mode shadow), no design replayed"),
                          ("all", "every tap, every design replayed")):
            al = col(topo, cfg, "loops_per_sec")
            if len(un) < 2 or len(al) < 2:
                continue
            r, h = ratio_ci(al, un)
            md.append(f"\nOverhead: loaded `{cfg}` ({what}) / unloaded loops/s = "
                      f"{r:.4f} ± {h:.4f} (95 %), i.e. {100 * (1 - r):+.2f} % cost; "
                      f"Welch p = {welch(al, un):.3g}.\n")
            short.append(f"{topo} ({ratio}): unloaded {np.mean(un):.1f} ± {ci95(un):.1f} loops/s, "
                         f"{cfg} {np.mean(al):.1f} ± {ci95(al):.1f} (ratio {r:.3f} ± {h:.3f})")
        for d in DESIGNS:
            acq, con = col(topo, d, "acq"), col(topo, d, "contended")
            if acq:
                cp = [100.0 * c / a if a else 0.0 for c, a in zip(con, acq)]
                short.append(f"  {d}: contended {np.mean(cp):.2f} ± {ci95(cp):.2f} %, "
                             f"loops/s {np.mean(col(topo, d, 'loops_per_sec')):.1f}")
        kt = [k for k in kern if k["topo"] == topo]
        if kt:
            md.append(f"\nIn-kernel storm ({kt[0]['threads']} kthreads, "
                      f"{max(k['trees'] for k in kt)} trees per file (1 under policy `single`), "
                      f"6000 VMAs per file; n = repetitions; p: Welch's t-test of ops/s "
                      f"against `single` with the same policy):\n")
            md.append("| design | policy | n | ops/s mean | 95 % CI | p vs single | contended % "
                      "| wait p50 (ns) | wait p99 (ns) | hold p99 (ns) |")
            md.append("|---|---|---|---|---|---|---|---|---|---|")
            for d in DESIGNS:
                for pol in ["node", "smallest", "cpu", "hash", "single"]:
                    rows = [k for k in kt if k["design"] == d and k["policy"] == pol]
                    if not rows:
                        continue
                    ops = [k["ops_per_sec"] for k in rows]
                    base = [k["ops_per_sec"] for k in kt if k["design"] == "single" and k["policy"] == pol]
                    md.append(f"| {d} | {pol} | {len(rows)} | {np.mean(ops):.0f} | ± {ci95(ops):.0f} "
                              f"| {welch(ops, base):.3g} "
                              f"| {np.mean([k['contended_pct'] for k in rows]):.1f} "
                              f"| {np.mean([k['wait_p50_ns'] for k in rows]):.0f} "
                              f"| {np.mean([k['wait_p99_ns'] for k in rows]):.0f} "
                              f"| {np.mean([k['hold_p99_ns'] for k in rows]):.0f} |")
            for d in DESIGNS:
                ops = [k["ops_per_sec"] for k in kt if k["design"] == d and k["policy"] == "node"]
                if ops:
                    short.append(f"  in-kernel {d}/node: {np.mean(ops):.0f} ± {ci95(ops):.0f} ops/s")
        if topo in seed:
            md.append("\nANON_VMA_LAZY, seed-style (module loaded after boot; then with 8 shells, "
                      "4 python3, 4 coreutils pipelines running):\n")
            for when, rows in seed[topo].items():
                md.append(f"\n{when}:\n")
                md.append("| Object | real (objs) | real (KB) | lazy (objs) | lazy (KB) | Change |")
                md.append("|---|---|---|---|---|---|")
                for obj in ("vm_area_struct", "anon_vma_chain", "anon_vma"):
                    if obj in rows:
                        v = rows[obj]
                        md.append(f"| {obj} | {v[0]} | {v[1]} | {v[2]} | {v[3]} | {v[4]} % |")
        if topo in anon:
            md.append("\nAnon table (after the runs):\n\n```\n" + "\n".join(anon[topo]) + "\n```\n")
        if topo in taps:
            md.append("\nTap cost (ns, in-module timing, whole run):\n\n```\n"
                      + "\n".join(taps[topo]) + "\n```\n")
        if topo in probes:
            md.append("\nThe taps as the kernel armed them (`/sys/kernel/debug/kprobes/list`; "
                      "`[FTRACE]`: entered through the function's ftrace call site, no "
                      "breakpoint trap):\n\n```\n" + "\n".join(probes[topo]) + "\n```\n")

    # Plots: loops/s and contended % per configuration per topology.
    x = np.arange(len(topos))
    for name, cfgs, key, ylabel in (
        ("loops.png", CONFIGS, "loops_per_sec", "execl loops/s"),
        ("contention.png", DESIGNS, "contended", "contended acquisitions %"),
    ):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        width = 0.8 / len(cfgs)
        for i, cfg in enumerate(cfgs):
            means, errs = [], []
            for topo in topos:
                if key == "contended":
                    v = [100.0 * c / a if a else 0.0
                         for c, a in zip(col(topo, cfg, "contended"), col(topo, cfg, "acq"))]
                else:
                    v = col(topo, cfg, key)
                means.append(np.mean(v) if v else 0.0)
                errs.append(ci95(v) if len(v) > 1 else 0.0)
            ax.bar(x + (i - (len(cfgs) - 1) / 2) * width, means, width, yerr=errs, capsize=3, label=cfg)
        labels = []
        for topo in topos:
            v = col(topo, "all", "vcpus") or col(topo, "unloaded", "vcpus")
            c = col(topo, "all", "host_cores") or col(topo, "unloaded", "host_cores")
            labels.append(f"{topo}\n{v[0]}:{c[0]} vCPU:core" if v and c else topo)
        ax.set_xticks(x, labels)
        ax.set_ylabel(ylabel)
        ax.legend()
        ax.set_title(f"{ylabel}, mean and 95 % CI")
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, name), dpi=100)
        plt.close(fig)

    if kern:
        with open(os.path.join(outdir, "storm.csv"), "w", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=list(kern[0].keys()))
            wr.writeheader()
            wr.writerows(kern)
        fig, ax = plt.subplots(figsize=(8, 4.5))
        width = 0.8 / len(DESIGNS)
        for i, d in enumerate(DESIGNS):
            means, errs = [], []
            for topo in topos:
                v = [k["ops_per_sec"] for k in kern
                     if k["topo"] == topo and k["design"] == d and k["policy"] == "node"]
                means.append(np.mean(v) if v else 0.0)
                errs.append(ci95(v) if len(v) > 1 else 0.0)
            ax.bar(x + (i - (len(DESIGNS) - 1) / 2) * width, means, width, yerr=errs, capsize=3, label=d)
        ax.set_xticks(x, labels)
        ax.set_ylabel("ops/s (policy node)")
        ax.legend()
        ax.set_title("in-kernel storm ops/s per lock design, mean and 95 % CI")
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, "storm.png"), dpi=100)
        plt.close(fig)
    md.append("\nPlots: `loops.png`, `contention.png`" + (", `storm.png`" if kern else "") + ".\n")
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(outdir, "report.rst"), "w") as f:
        f.write(md_to_rst("\n".join(md)))
    print("## report (short form)")
    print("\n".join(short))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: report.py RAW OUTDIR")
    main(sys.argv[1], sys.argv[2])
