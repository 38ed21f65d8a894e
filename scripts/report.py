#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Statistics and plots of scripts/report.sh's raw results.

report.py RAW OUTDIR

RAW holds the guest lines of report.sh:

  R topo cfg rep loops_per_sec acq contended wait_ns wait_max_ns hold_ns vcpus host_cores [secs boot]
  A topo <anon table row>
  T topo <taps table row>
  P topo <line of /sys/kernel/debug/kprobes/list while loaded>
  K topo rep <storm table row> vcpus host_cores [boot]
    (rows with threads < vcpus: the contention model's uncontended runs,
    scripts/model.py)
  B topo after-boot|after-16-apps|after-16-spawned <anon table row>

(secs and boot: raw files from before 2026-12-03 lack them; one boot then.)

Writes OUTDIR/results.csv, OUTDIR/report.md, OUTDIR/loops.png,
OUTDIR/contention.png (and storm.png, model.png) and prints the short
form. Statistics
(scripts/labstats.py): configurations of one repetition (same boot, same
shuffled round) are paired, ratios are per-repetition log-ratios with a
Student t interval; the module's own cost (`taps` / `empty`) gets an
equivalence verdict for "cost <= 1 %" (TOST: shown / refuted /
undecided); the in-kernel storm's designs are compared unpaired (Welch df
for interval and p alike); every table's p-values are Holm-adjusted as one
family. Lock columns are labelled with the design whose locks they count.
Figures of guests with more vCPUs than host cores are flagged.
"""
import csv
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labstats as ls  # noqa: E402
import model  # noqa: E402

CONFIGS = ["unloaded", "empty", "counters", "taps", "all", "single", "all-trees", "inverted"]
DESIGNS = list(model.DESIGNS)
# The walk-heavy storm (execl_storm -w): one configuration per design.
WALK = ["w-" + d for d in DESIGNS]
# The design whose lock counters a configuration's R row carries.
COUNTS = {"all": "single", "taps": "single", "single": "single", "all-trees": "all-trees",
          "inverted": "inverted", "w-single": "single", "w-all-trees": "all-trees",
          "w-inverted": "inverted"}


def ci95(x):
    """Half-width of the 95 % interval of the mean of x (0 when n < 2: the
    plots' error bars; the tables say "n too small")."""
    _, h = ls.mean_ci(list(x))
    return h or 0.0


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
    libs_mem = set()
    with open(raw) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "R" and len(w) in (12, 14):
                runs.append({
                    "topo": w[1], "cfg": w[2], "rep": int(w[3]), "loops_per_sec": float(w[4]),
                    "acq": int(w[5]), "contended": int(w[6]), "wait_ns": int(w[7]),
                    "wait_max_ns": int(w[8]), "hold_ns": int(w[9]), "vcpus": int(w[10]),
                    "host_cores": int(w[11]),
                    "secs": float(w[12]) if len(w) == 14 else None,
                    "boot": int(w[13]) if len(w) == 14 else 1,
                })
            elif w[0] == "K" and len(w) in (26, 27, 29) and w[3] == "done":
                # Since 2026-12-04 (29 fields) the storm row ends with
                # wait_mean_ns hold_mean_ns; threads < vcpus are the model's
                # runs. Before, 26 fields, or 27 with the boot.
                means = len(w) == 29
                tail = w[26:] if means else w[24:]
                kern.append({
                    "topo": w[1], "rep": int(w[2]), "design": w[4], "policy": w[5],
                    "trees": int(w[6]), "threads": int(w[10]), "ops_per_sec": float(w[14]),
                    "acq": int(w[15]), "contended_pct": int(w[16]) / 10.0,
                    "wait_p50_ns": int(w[17]), "wait_p99_ns": int(w[18]),
                    "hold_p50_ns": int(w[19]), "hold_p99_ns": int(w[20]),
                    "walks": int(w[21]), "alloc_failures": int(w[23]),
                    "wait_mean_ns": int(w[24]) if means else None,
                    "hold_mean_ns": int(w[25]) if means else None,
                    "vcpus": int(tail[0]), "host_cores": int(tail[1]),
                    "boot": int(tail[2]) if len(tail) == 3 else 1,
                })
            elif w[0] == "B" and len(w) == 13 and w[3] != "object":
                seed.setdefault(w[1], {}).setdefault(w[2], {})[w[3]] = w[4:]
            elif w[0] == "A":
                anon.setdefault(w[1], []).append(" ".join(w[2:]))
            elif w[0] == "T":
                taps.setdefault(w[1], []).append(" ".join(w[2:]))
            elif w[0] == "P":
                probes.setdefault(w[1], []).append(" ".join(w[2:]))
            elif w[0] == "M" and len(w) == 3 and w[1] == "lib":
                libs_mem.add(w[2])
    if not runs:
        sys.exit("report.py: no results in " + raw)
    with open(os.path.join(outdir, "results.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(runs[0].keys()))
        wr.writeheader()
        wr.writerows(runs)

    topos = [t for t in ["1n2c", "2n2c", "1n4c", "2n4c", "4n4c", "4n8c"] if any(r["topo"] == t for r in runs)]
    topos += sorted({r["topo"] for r in runs} - set(topos))

    def col(topo, cfg, key):
        return [r[key] for r in runs if r["topo"] == topo and r["cfg"] == cfg]

    def reps(topo):
        """{(boot, rep): {cfg: row}}: the configurations of one repetition."""
        out = {}
        for r in runs:
            if r["topo"] == topo:
                out.setdefault((r["boot"], r["rep"]), {})[r["cfg"]] = r
        return out

    by_rep = {topo: reps(topo) for topo in topos}

    def pairs(topo, a, b, key="loops_per_sec"):
        return [(g[a][key], g[b][key]) for g in by_rep[topo].values() if a in g and b in g]

    def per_loop(r, key):
        """r[key] per execl loop of its storm (None without the storm's
        length: old raw files)."""
        if not r["secs"] or r["loops_per_sec"] <= 0:
            return None
        return r[key] / (r["loops_per_sec"] * r["secs"])

    md, short = [], []
    md.append("# rmap-shadow contention lab\n")
    md.append("Execl storm (one process per vCPU, pinned per CPU) under each configuration, "
              "repetitions in shuffled order. Ratios: mean of the per-repetition log-ratios "
              "(configurations of one repetition paired) with a 95 % t interval; p: paired "
              "t-test, Holm-adjusted over the table's comparisons. Lock columns count the "
              "locks of the design named in the `locks of` column. **Oversubscribed**: the "
              "guest has more vCPUs than the host has cores (its waits include vCPU "
              "preemption).\n")
    if libs_mem:
        md.append("Storms from memory (`report.sh -M`): the program (`execl_storm -m`) and "
                  + ", ".join(f"`{p}`" for p in sorted(libs_mem))
                  + " on a tmpfs bound over themselves: no exec reads a file over 9p.\n")
        short.append("storms from memory (-M: program, libraries and ld.so.cache on tmpfs)")
    for topo in topos:
        vcpus = col(topo, "unloaded", "vcpus") or col(topo, "all", "vcpus")
        cores = col(topo, "unloaded", "host_cores") or col(topo, "all", "host_cores")
        ratio = f"{vcpus[0]}:{cores[0]}" if vcpus and cores else "?"
        over = bool(vcpus and cores and vcpus[0] > cores[0])
        flag = "oversubscribed" if over else "no vCPU oversubscription"
        boots = sorted({r["boot"] for r in runs if r["topo"] == topo})
        md.append(f"\n## {topo} (vCPU:host-core {ratio}, {flag}; {len(boots)} boot(s))\n")
        for title, cfgs, base in (("Execl storm", CONFIGS, "single"),
                                  ("Walk-heavy execl storm (each loop pages out 16 shared file pages: "
                                   "reclaim walks the file's rmap)", WALK, "w-single")):
            if not any(col(topo, c, "loops_per_sec") for c in cfgs):
                continue
            md.append(f"\n{title}; ratios and p against `{base}`:\n")
            md.append(f"| config | n | loops/s | ratio to `{base}` [95 % CI] | p (Holm) | locks of "
                      "| contended % | contended per loop | wait per loop (µs) "
                      f"| p contended/loop vs {base} (Holm) |")
            md.append("|---|---|---|---|---|---|---|---|---|---|")
            lines = []
            for cfg in cfgs:
                lps = col(topo, cfg, "loops_per_sec")
                if not lps:
                    continue
                rl = ls.paired(pairs(topo, cfg, base)) if cfg != base else None
                rows = [r for r in runs if r["topo"] == topo and r["cfg"] == cfg]
                d = COUNTS.get(cfg)
                pc = None
                if d:
                    cpct = [100.0 * r["contended"] / r["acq"] if r["acq"] else 0.0 for r in rows]
                    cpl = [per_loop(r, "contended") for r in rows]
                    wpl = [per_loop(r, "wait_ns") for r in rows]
                    have = all(x is not None for x in cpl)
                    lock = (f"`{d}` | {ls.fmt_mean(cpct, 2)} | "
                            + (f"{ls.fmt_mean(cpl, 3)} | {ls.fmt_mean([x / 1000 for x in wpl], 2)}"
                               if have else "- | -"))
                    if cfg != base and have:
                        pc = ls.paired_diff([(per_loop(g[cfg], "contended"), per_loop(g[base], "contended"))
                                             for g in by_rep[topo].values() if cfg in g and base in g])
                else:
                    lock = "- | - | - | -"
                lines.append([cfg, len(lps), ls.fmt_mean(lps, 2), rl, lock, pc])
            ps = ls.holm_p([ln[3].p if ln[3] else None for ln in lines] + [ln[5] for ln in lines])
            k = len(lines)
            for i, (cfg, n, lps, rl, lock, pc) in enumerate(lines):
                rtxt = rl.fmt() if rl else "1"
                ptxt = f"{rl.p:.3g} ({ps[i]:.3g})" if rl and rl.p is not None else "-"
                pctxt = f"{pc:.3g} ({ps[k + i]:.3g})" if pc is not None else "-"
                md.append(f"| {cfg} | {n} | {lps} | {rtxt} | {ptxt} | {lock} | {pctxt} |")

        md.append("\nThe module's cost (paired per repetition; TOST: is the cost at most 1 %, "
                  "i.e. the ratio's one-sided 95 % lower bound >= 0.99?):\n")
        md.append("| ratio | what | n | ratio [95 % CI] | p (Holm) | cost <= 1 % | boot sd / rep sd |")
        md.append("|---|---|---|---|---|---|---|")
        comps = [("empty", "unloaded", "the kprobes' price: probes armed, handlers return at once"),
                 ("counters", "empty", "the module's own cost: hits counted per CPU"),
                 ("taps", "empty", "the module's own cost: the shadow kept"),
                 ("all", "empty", "the module's own cost: shadow and every design replayed"),
                 ("taps", "unloaded", "the shadow kept, against no module"),
                 ("all", "unloaded", "everything, against no module")]
        got = [(a, b, what, ls.paired(pairs(topo, a, b))) for a, b, what in comps]
        got = [g for g in got if g[3].n]
        ls.holm([g[3] for g in got])
        for a, b, what, r in got:
            bs = ls.boots([[math.log(g[a]["loops_per_sec"] / g[b]["loops_per_sec"])
                             for (bt, _), g in by_rep[topo].items()
                             if bt == boot and a in g and b in g
                             and g[a]["loops_per_sec"] > 0 and g[b]["loops_per_sec"] > 0]
                            for boot in boots])
            bstxt = f"{bs[0]:.3f} / {bs[1]:.3f}" if bs else "one boot"
            md.append(f"| {a} / {b} | {what} | {r.n} | {r.fmt(4)} | {r.fmt_p()} | "
                      f"{ls.fmt_tost(r) if b == 'empty' else '-'} | {bstxt} |")
            if (a, b) in (("taps", "empty"), ("all", "empty")):
                short.append(f"{topo} ({ratio}, {flag}): {a} / {b} loops/s {r.fmt()} (n = {r.n} paired); "
                             f"cost <= 1 %: {ls.fmt_tost(r)}")
        for d in DESIGNS:
            rows = [r for r in runs if r["topo"] == topo and r["cfg"] == d]
            if rows:
                cpl = [per_loop(r, "contended") for r in rows]
                cp = [100.0 * r["contended"] / r["acq"] if r["acq"] else 0.0 for r in rows]
                per = (f", {ls.fmt_mean(cpl, 3)} contended per loop" if all(x is not None for x in cpl) else "")
                short.append(f"  {d}: contended {ls.fmt_mean(cp, 2)} % of acquisitions{per}")
        # The measured storms: one kthread per vCPU (threads=1 runs feed the model).
        kt = [k for k in kern if k["topo"] == topo and k["threads"] == k["vcpus"]]
        if kt:
            md.append(f"\nIn-kernel storm ({kt[0]['threads']} kthreads, {flag}, "
                      f"{max(k['trees'] for k in kt)} trees per file (1 under policy `single`), "
                      f"6000 VMAs per file; n = repetitions; ratio: geometric mean ops/s against "
                      f"`single` with the same policy, unpaired, Welch df for interval and p; p "
                      f"Holm-adjusted over the table):\n")
            md.append("| design | policy | n | ops/s | ratio to single [95 % CI] | p (Holm) | contended % "
                      "| wait p50 (ns) | wait p99 (ns) | hold p99 (ns) |")
            md.append("|---|---|---|---|---|---|---|---|---|---|")
            lines = []
            for d in DESIGNS:
                for pol in model.POLICIES:
                    rows = [k for k in kt if k["design"] == d and k["policy"] == pol]
                    if not rows:
                        continue
                    ops = [k["ops_per_sec"] for k in rows]
                    base = [k["ops_per_sec"] for k in kt if k["design"] == "single" and k["policy"] == pol]
                    r = ls.welch(ops, base) if d != "single" else None
                    lines.append((d, pol, rows, ops, r))
            ls.holm([ln[4] for ln in lines if ln[4]])
            for d, pol, rows, ops, r in lines:
                md.append(f"| {d} | {pol} | {len(rows)} | {ls.fmt_mean(ops, 0)} "
                          f"| {r.fmt() if r else '1'} | {r.fmt_p() if r else '-'} "
                          f"| {np.mean([k['contended_pct'] for k in rows]):.1f} "
                          f"| {np.mean([k['wait_p50_ns'] for k in rows]):.0f} "
                          f"| {np.mean([k['wait_p99_ns'] for k in rows]):.0f} "
                          f"| {np.mean([k['hold_p99_ns'] for k in rows]):.0f} |")
            for d in DESIGNS:
                ops = [k["ops_per_sec"] for k in kt if k["design"] == d and k["policy"] == "node"]
                if ops:
                    short.append(f"  in-kernel {d}/node: {ls.fmt_mean(ops, 0)} ops/s")
        if topo in seed:
            md.append("\nANON_VMA_LAZY, seed-style (module loaded after boot; then with 8 shells, "
                      "4 python3, 4 coreutils pipelines running, started by bash's forks "
                      "(`after-16-apps`); then the same sixteen started with posix_spawn, "
                      "every pipeline element spawned on its own (`after-16-spawned`: no forked "
                      "shell behind them; the launcher is one more python3). After boot the lazy column is "
                      "an approximation: the module infers at load which of the anon_vmas that "
                      "already exist a lazy kernel would have created (it did not see their "
                      "history).\n")
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
                     if k["topo"] == topo and k["design"] == d and k["policy"] == "node"
                     and k["threads"] == k["vcpus"]]
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
    plots = ["loops.png", "contention.png"]
    if kern:
        plots.append("storm.png")
        if any(k["threads"] < k["vcpus"] for k in kern):
            mmd, mshort = model.section(kern, runs, outdir, plt)
            md += mmd
            short += mshort
            plots.append("model.png")
    md.append("\nPlots: " + ", ".join(f"`{p}`" for p in plots) + ".\n")
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
