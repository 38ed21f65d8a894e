#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Paired statistics of scripts/overhead.sh's raw results.

overhead.py RAW OUTDIR

RAW holds the guest lines of scripts/guest/overhead.sh:

  O topo boot rep cfg loops_per_sec vcpus host_cores
  H topo boot round cfg share      (a storm with handler timing on)
  U topo boot mode seconds vcpus   (older raw files only: their one timed
                                    storm per mode, whose share is then
                                    computed here from its T rows)
  T topo boot mode <taps table row>
  S topo boot <stats row>
  A topo boot rep slot cfg loops_per_sec   (-p A/B runs: each storm of a
                                    block, read for the drift only; the
                                    block's O lines are the geometric
                                    means of its storms)

Within each repetition (one boot, one round of the configurations in
random order, or one ABBA block of two with -p) the configurations are
paired: the statistic is the log of
the ratio of loops/s, its mean over every repetition of every boot with a
95 % Student t interval (df = n - 1), shown as a ratio (exp), with a paired
t-test's p Holm-adjusted over the topology's table, and for the module's
own cost (against `empty`) the equivalence verdict for "cost <= 1 %"
(TOST, scripts/labstats.py). Per boot too, and the boot-to-boot and
within-boot standard deviations of the log-ratios.

From the storms with timing on, the handlers' share of the guest's CPU
time: the sum over taps of hits x mean handler time, over seconds x vCPUs
(mean over rounds and boots with a 95 % t interval; shadow against
base-shadow paired per round, as a ratio).
It counts only the time inside the handlers (not the probe's entry and
exit, not what the handlers do to caches), with far less noise than the
loops/s ratios. And the drift between storms: the autocorrelation of
each storm's residual (its log loops/s less its configuration's mean in
that boot) at lags 1, 2 and 4 in run order, the noise that pairing
within a repetition has to cancel. Writes OUTDIR/overhead.csv and
OUTDIR/overhead.md and prints the latter.
"""
import csv
import math
import os
import sys

from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labstats as ls  # noqa: E402

CFGS = ["unloaded", "kprobe-floor", "fprobe-floor", "empty", "counters", "shadow", "all", "base-shadow", "bpftrace"]
PAIRS = [
    ("kprobe-floor", "unloaded", "kprobes with empty handlers (the mechanism used)"),
    ("fprobe-floor", "unloaded", "one fprobe with an empty handler"),
    ("fprobe-floor", "kprobe-floor", "> 1: fprobe is the cheaper floor"),
    ("empty", "unloaded", "the module's probes, handlers returning at once"),
    ("counters", "unloaded", ""),
    ("shadow", "unloaded", ""),
    ("all", "unloaded", ""),
    ("counters", "empty", "the module's own cost: per-CPU counts"),
    ("shadow", "empty", "the module's own cost: the shadow (goal: lower bound >= 0.99)"),
    ("all", "empty", "the module's own cost: shadow and replay"),
    ("shadow", "base-shadow", "this build against the baseline build (-B)"),
    ("bpftrace", "unloaded", "the peer: bpftrace counting the same 14 functions"),
    ("counters", "bpftrace", "> 1: the module's counters are cheaper than bpftrace's"),
    ("shadow", "bpftrace", "the whole shadow against bpftrace counting"),
    ("all", "bpftrace", "shadow and replay against bpftrace counting"),
]


def paired(reps, a, b):
    """Ratio a/b over paired repetitions (labstats.Ratio)."""
    return ls.paired([(r[a], r[b]) for r in reps if a in r and b in r])


def handler_share(rows, u):
    """Time inside the handlers over the CPU time of the timed storm."""
    if not rows or not u:
        return None
    ns = 0.0
    for r in rows:
        try:
            ns += int(r[1]) * float(r[2])
        except (ValueError, IndexError):
            continue
    secs, vcpus = u
    return ns / (secs * vcpus * 1e9) if secs > 0 and vcpus > 0 else None


def drift(seq, lags=(1, 2, 4)):
    """Autocorrelation of successive storms' residuals (log loops/s minus
    its configuration's mean, within one boot) at each lag: how far the
    guest's speed drifts between storms, which pairing must cancel."""
    res = []
    by = {}
    for boot, cfg, v in seq:
        by.setdefault((boot, cfg), []).append(math.log(v))
    mean = {k: sum(v) / len(v) for k, v in by.items()}
    for boot, cfg, v in seq:
        res.append((boot, math.log(v) - mean[(boot, cfg)]))
    if len(res) < 8:
        return {}
    var = sum(r * r for _, r in res) / len(res)
    out = {}
    for lag in lags:
        pairs = [(res[i][1], res[i + lag][1]) for i in range(len(res) - lag) if res[i][0] == res[i + lag][0]]
        if var > 0 and len(pairs) >= 4:
            out[lag] = sum(a * b for a, b in pairs) / len(pairs) / var
    return out


def main(raw, outdir):
    reps, taps, st, timed, shares = {}, {}, {}, {}, {}
    storms = {}
    with open(raw) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "O" and len(w) == 8:
                key = (w[1], int(w[2]), int(w[3]))
                reps.setdefault(key, {"vcpus": int(w[6]), "host_cores": int(w[7])})[w[4]] = float(w[5])
                storms.setdefault(w[1], {}).setdefault("O", []).append((int(w[2]), w[4], float(w[5])))
            elif w[0] == "A" and len(w) == 7:
                storms.setdefault(w[1], {}).setdefault("A", []).append((int(w[2]), w[5], float(w[6])))
            elif w[0] == "H" and len(w) == 6:
                shares.setdefault((w[1], int(w[2]), int(w[3])), {})[w[4]] = float(w[5])
            elif w[0] == "U" and len(w) == 6:
                timed[(w[1], int(w[2]), w[3])] = (float(w[4]), int(w[5]))
            elif w[0] == "T" and len(w) >= 6 and w[4] != "tap":
                taps.setdefault((w[1], int(w[2]), w[3]), []).append(w[4:])
            elif w[0] == "S" and len(w) == 5:
                st.setdefault(w[1], {})[w[3]] = w[4]
    if not reps:
        sys.exit("overhead.py: no results in " + raw)
    topos = sorted({k[0] for k in reps}, key=lambda t: (int(t[0]), t))
    rows, md = [], ["# Module overhead: execl loops/s, paired per repetition", ""]
    for topo in topos:
        mine = {k: v for k, v in reps.items() if k[0] == topo}
        boots = sorted({k[1] for k in mine})
        any_rep = next(iter(mine.values()))
        vc, hc = any_rep["vcpus"], any_rep["host_cores"]
        over = " (vCPUs outnumber host cores)" if vc > hc else " (no vCPU oversubscription)"
        md += [f"## {topo}: {vc} vCPUs on {hc} host cores{over}", ""]
        md += ["| config | mean loops/s | " + " | ".join(f"boot {b}" for b in boots) + " |",
               "|---|---|" + "---|" * len(boots)]
        for c in CFGS:
            vals = [r[c] for r in mine.values() if c in r]
            per = []
            for b in boots:
                v = [r[c] for k, r in mine.items() if k[1] == b and c in r]
                per.append(f"{sum(v) / len(v):.1f} (n={len(v)})" if v else "-")
            if vals:
                md.append(f"| {c} | {sum(vals) / len(vals):.1f} | " + " | ".join(per) + " |")
        md += ["", "| ratio | n | mean [95 % CI] | p (Holm) | cost <= 1 % (TOST) | per boot | boot sd / rep sd | note |",
               "|---|---|---|---|---|---|---|---|"]
        got = [(a, b, note, paired(list(mine.values()), a, b)) for a, b, note in PAIRS]
        got = [g for g in got if g[3].n]  # a configuration this run did not have (base-shadow without -B)
        ls.holm([g[3] for g in got])
        for a, b, note, r in got:
            per = [paired([r2 for k, r2 in mine.items() if k[1] == bt], a, b).fmt(4) for bt in boots]
            bs = ls.boots([paired([r2 for k, r2 in mine.items() if k[1] == bt], a, b).logs for bt in boots])
            verdict = ls.fmt_tost(r) if b in ("empty", "base-shadow") else "-"
            md.append(f"| {a} / {b} | {r.n} | {r.fmt(4)} | {r.fmt_p()} | {verdict} | " + "; ".join(per)
                      + f" | {f'{bs[0]:.3f} / {bs[1]:.3f}' if bs else '-'} | {note} |")
            rows.append({"topo": topo, "ratio": f"{a}/{b}", "n": r.n, "mean": r.mean, "lo": r.lo, "hi": r.hi,
                         "vcpus": vc, "host_cores": hc})
        seq = storms.get(topo, {})
        seq = seq.get("A") or seq.get("O") or []
        ac = drift(seq)
        if ac:
            md += ["", "Drift between storms (autocorrelation of each storm's log loops/s residual, in run order, "
                   "within a boot): " + ", ".join(f"lag {k} {v:.2f}" for k, v in ac.items())
                   + (" (ABBA blocks: their single storms)" if storms.get(topo, {}).get("A") else "")]
            for k, v in ac.items():
                rows.append({"topo": topo, "ratio": f"drift-lag{k}", "n": len(seq), "mean": v, "lo": v, "hi": v,
                             "vcpus": vc, "host_cores": hc})
        mine_sh = [v for k, v in shares.items() if k[0] == topo]
        if mine_sh:
            md += ["", "Handlers' share of CPU time, timed storms (sum of hits x mean handler time "
                   "over seconds x vCPUs; mean over rounds and boots, 95 % t interval):", "",
                   "| config | n | share [95 % CI] |", "|---|---|---|"]
            for c in CFGS:
                v = [r[c] for r in mine_sh if c in r]
                if len(v) >= 2:
                    m = sum(v) / len(v)
                    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))
                    h = stats.t.ppf(0.975, len(v) - 1) * sd / math.sqrt(len(v))
                    md.append(f"| {c} | {len(v)} | {100 * m:.2f} % [{100 * (m - h):.2f}, {100 * (m + h):.2f}] |")
                    rows.append({"topo": topo, "ratio": f"handler-share/{c}", "n": len(v), "mean": m,
                                 "lo": m - h, "hi": m + h, "vcpus": vc, "host_cores": hc})
            r = paired(mine_sh, "shadow", "base-shadow")
            if r.has_ci:
                md.append("")
                md.append(f"Handler share, shadow / base-shadow paired per round: {r.fmt(4)} (n = {r.n}, p = {r.fmt_p()})")
                rows.append({"topo": topo, "ratio": "handler-share/shadow/base-shadow", "n": r.n, "mean": r.mean,
                             "lo": r.lo, "hi": r.hi, "vcpus": vc, "host_cores": hc})
        for mode in ["shadow", "all", "base-shadow"]:
            for bt in boots:
                t = taps.get((topo, bt, mode))
                if not t:
                    continue
                md += ["", f"Taps in mode `{mode}`, boot {bt} (one storm, timing on; ns):", "",
                       "| tap | hits | mean | p50 | p99 | max |", "|---|---|---|---|---|---|"]
                for r in t:
                    if len(r) >= 6 and r[1] != "0":
                        md.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} |")
                u = timed.get((topo, bt, mode))
                share = handler_share(t, u)
                if share is not None and not mine_sh:
                    md += ["", f"Handlers' share of CPU time (sum of hits x mean over {u[0]:g} s x "
                           f"{u[1]} vCPUs): {100 * share:.2f} %"]
                    rows.append({"topo": topo, "ratio": f"handler-share/{mode}/boot{bt}", "n": 1,
                                 "mean": share, "lo": share, "hi": share, "vcpus": vc, "host_cores": hc})
        s = st.get(topo, {})
        if s:
            md += ["", "Shadow memory after the run: " + ", ".join(
                f"{k} {s[k]}" for k in ["files", "shadow.vmas", "shadow.bytes_per_vma",
                                        "shadow.bytes_per_file", "anon.bytes_per_anon_vma"] if k in s), ""]
        md.append("")
    with open(os.path.join(outdir, "overhead.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        wr.writeheader()
        wr.writerows(rows)
    with open(os.path.join(outdir, "overhead.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: overhead.py RAW OUTDIR")
    main(sys.argv[1], sys.argv[2])
