# SPDX-License-Identifier: GPL-2.0
"""The lab's contention model: from uncontended per-operation costs to
throughput under contention (Documentation/lab.rst, "From our box to the
seed's").

Model (stated): each storm thread is a customer of a closed queueing
network. One operation (a link or unlink) is a visit to exactly one lock,
an exclusive server whose service time S is the measured mean hold of that
design's write-side lock with one thread (``threads=1``); the rest of the
operation's time with one thread, Z = 1 / ops_per_sec(1 thread) - S, is a
delay station (no queueing: every thread has its own CPU, which holds on
the guests the model is validated on, vCPUs <= host cores). Exact mean
value analysis (MVA) gives the throughput of each group of threads that
share a set of locks:

- ``single``: one lock per file; the storm's two files each take half of a
  thread's operations; every thread shares both locks.
- ``all-trees``, ``inverted``: one lock per (file, tree); with policies that
  pin a thread to a tree (``node``: its node modulo the trees, ``cpu``: its
  CPU modulo the trees, ``single``: tree 0) the threads of a tree form a
  group of their own; with ``hash`` and ``smallest`` every thread spreads
  its operations evenly over every lock (``smallest`` approximated so).

Ignored, and part of the validation error: walks (one per 64 execs, 1 in
641 operations), the read side (the storm's walks; ``inverted``'s file
lock taken for read by every change: its cache line is shared by every
thread), sleeping and wake-up costs of a contended rwsem, cache-line
transfers that make a contended hold longer than an uncontended one, and
the operations' bursts (an exec's ten operations go to one file in a row).
"""

import re

import labstats as ls


def mva(demands, z, n):
    """Throughput (cycles per second) of n customers with think time z and
    exclusive servers of the given demands (visits x service, seconds per
    cycle): exact mean value analysis."""
    q = [0.0] * len(demands)
    x = 0.0
    for k in range(1, n + 1):
        r = [d * (1.0 + qi) for d, qi in zip(demands, q)]
        x = k / (z + sum(r))
        q = [x * ri for ri in r]
    return x


def topo_cpus(topo):
    """[(cpu, node)] of a vm.sh topology name (``2n4c``: 2 nodes, 4 vCPUs,
    contiguous per node), or None."""
    m = re.fullmatch(r"(\d+)n(\d+)c", topo)
    if not m:
        return None
    nodes, cpus = int(m.group(1)), int(m.group(2))
    return [(c, c * nodes // cpus) for c in range(cpus)]


FILES = 2


def groups(design, policy, trees, cpus):
    """[(threads, [visit fraction per lock])]: the independent groups of
    threads and the locks each group's operations visit."""
    n = len(cpus)
    if policy == "single":
        trees = 1
    if design == "single":
        return [(n, [1.0 / FILES] * FILES)]
    if policy in ("hash", "smallest"):
        locks = FILES * trees
        return [(n, [1.0 / locks] * locks)]
    by_tree = {}
    for cpu, node in cpus:
        t = {"node": node % trees, "cpu": cpu % trees}.get(policy, 0)
        by_tree[t] = by_tree.get(t, 0) + 1
    return [(k, [1.0 / FILES] * FILES) for k in by_tree.values()]


def predict(design, policy, trees, cpus, ops1, hold1_ns):
    """Predicted ops/s of the storm with one thread per CPU in ``cpus``,
    from the one-thread run's ops/s and mean hold (ns)."""
    s = hold1_ns * 1e-9
    cycle = 1.0 / ops1
    z = max(cycle - s, 0.0)
    return sum(mva([v * s for v in visits], z, k) for k, visits in groups(design, policy, trees, cpus))


def seed_box(nodes, per_node=32):
    """[(cpu, node)] of a box of ``nodes`` nodes of ``per_node`` CPUs."""
    return [(c, c // per_node) for c in range(nodes * per_node)]


# --- the report's section ------------------------------------------------------

# The seed's claims (./Run -c 384 execl, 12 nodes x 32 CPUs): v1 split the
# tree and kept the one lock (our `single` over split trees), v2 split the
# locks too (`all-trees`).
CLAIMS = {"v1": 1.77, "v2": 5.0}
SEED_NODES = (2, 4, 8, 12)
TOLERANCE = 0.20
DESIGNS = ("single", "all-trees", "inverted")
POLICIES = ("node", "smallest", "cpu", "hash", "single")


def _mean(v):
    return sum(v) / len(v) if v else None


def _uncontended(kern, topo, design, policy, trees):
    """(ops/s, hold mean ns, n) of the one-thread runs, or None."""
    rows = [k for k in kern if k["topo"] == topo and k["threads"] == 1 and k["design"] == design
            and k["policy"] == policy and k["trees"] == (1 if policy == "single" else trees)
            and k.get("hold_mean_ns") is not None]
    if not rows:
        return None
    return _mean([k["ops_per_sec"] for k in rows]), _mean([k["hold_mean_ns"] for k in rows]), len(rows)


def validate(kern):
    """[(topo, design, policy, trees, measured ops list, predicted)] for
    every topology without vCPU oversubscription that has both runs."""
    out = []
    for topo in sorted({k["topo"] for k in kern}):
        cpus = topo_cpus(topo)
        meas = [k for k in kern if k["topo"] == topo and k["threads"] == k["vcpus"] and k["threads"] > 1]
        if not cpus or not meas or meas[0]["vcpus"] > meas[0]["host_cores"]:
            continue
        for d in DESIGNS:
            for p in POLICIES:
                rows = [k for k in meas if k["design"] == d and k["policy"] == p]
                if not rows:
                    continue
                t = rows[0]["trees"]
                u = _uncontended(kern, topo, d, p, t)
                if not u:
                    continue
                out.append((topo, d, p, t, [k["ops_per_sec"] for k in rows],
                            predict(d, p, t, cpus, u[0], u[1])))
    return out


def execl_z(runs):
    """Per-operation time outside the lock of the execl loop, from the
    `single` replay of the least contended non-oversubscribed topology:
    (seconds per operation outside, operations per loop, topo), or None."""
    best = None
    for topo in sorted({r["topo"] for r in runs}):
        rows = [r for r in runs if r["topo"] == topo and r["cfg"] == "single" and r["acq"] > 0
                and r.get("secs") and r["vcpus"] <= r["host_cores"]]
        if not rows:
            continue
        loops = sum(r["loops_per_sec"] * r["secs"] for r in rows)
        acq = sum(r["acq"] for r in rows)
        hold = sum(r["hold_ns"] for r in rows) * 1e-9 / acq
        # Each process's loop time (one process per vCPU), per operation.
        per_op = _mean([r["vcpus"] / r["loops_per_sec"] for r in rows]) / (acq / loops)
        cont = sum(r["contended"] for r in rows) / acq
        if best is None or cont < best[3]:
            best = (max(per_op - hold, 0.0), acq / loops, topo, cont)
    return best and best[:3]


def seed_predictions(kern, topo, z_exec=None):
    """{(what, nodes): ops/s} on nodes x 32 CPUs from `topo`'s uncontended
    tree sweep (policy hash, 1 thread): today (single, 1 tree), v1 (single,
    N trees), v2 (all-trees, node, N trees), inverted (node, N trees). With
    z_exec, the operations' outside time is the execl loop's instead of
    the storm's own."""
    out = {}
    for nodes in SEED_NODES:
        box = seed_box(nodes)
        for what, d, p, t in (("today", "single", "single", 1), ("v1", "single", "node", nodes),
                              ("v2", "all-trees", "node", nodes), ("inverted", "inverted", "node", nodes)):
            u = _uncontended(kern, topo, d, "hash", t) if t > 1 else (
                _uncontended(kern, topo, d, "hash", 1) or _uncontended(kern, topo, d, "single", 1))
            if not u:
                continue
            ops1, hold = u[0], u[1]
            if z_exec is not None:
                ops1 = 1.0 / (z_exec + hold * 1e-9)
            out[(what, nodes)] = predict(d, p, t, box, ops1, hold)
    return out


def section(kern, runs, outdir, plt):
    """(Markdown lines, short-form lines) of the model; writes model.png."""
    md, short = ["\n## From our box to the seed's: the contention model\n",
                 "Model: exact mean value analysis of a closed queueing network (scripts/model.py: "
                 "each thread a customer; each operation one visit to one exclusive lock, service = "
                 "the design's mean write-side hold with one thread; everything else of the "
                 "operation a delay, one CPU per thread). Inputs only from `threads=1` runs; "
                 "validated against the storms with one thread per vCPU on topologies without vCPU "
                 "oversubscription.\n"], []
    val = validate(kern)
    if not val:
        md.append("No topology without oversubscription has both runs: no validation.\n")
        return md, short
    md.append("| topology | design | policy | trees | n | measured ops/s | predicted | error |")
    md.append("|---|---|---|---|---|---|---|---|")
    errs = []
    for topo, d, p, t, ops, pred in val:
        e = pred / _mean(ops) - 1.0
        errs.append(e)
        md.append(f"| {topo} | {d} | {p} | {t} | {len(ops)} | {ls.fmt_mean(ops, 0)} | {pred:.0f} | {100 * e:+.1f} % |")
    worst = max(abs(e) for e in errs)
    med = sorted(abs(e) for e in errs)[len(errs) // 2]
    ok = worst <= TOLERANCE
    verdict = (f"validated: every prediction within {100 * TOLERANCE:.0f} % (worst {100 * worst:.1f} %, "
               f"median {100 * med:.1f} %, {len(errs)} configurations)" if ok else
               f"**validation failed**: worst error {100 * worst:.1f} % (median {100 * med:.1f} %, "
               f"{len(errs)} configurations) exceeds {100 * TOLERANCE:.0f} %, so no predictions "
               f"for the seed's box are made")
    md.append(f"\nModel {verdict}.\n")
    short.append(f"contention model: {verdict}")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    ax = axes[0]
    for topo in sorted({v[0] for v in val}):
        pts = [v for v in val if v[0] == topo]
        m = [_mean(v[4]) for v in pts]
        h = [ls.mean_ci(v[4])[1] or 0.0 for v in pts]
        ax.errorbar([v[5] for v in pts], m, yerr=h, fmt="o", capsize=3, label=topo)
    lim = [0, 1.1 * max(max(_mean(v[4]) for v in val), max(v[5] for v in val))]
    ax.plot(lim, lim, "k-", lw=0.8)
    ax.plot(lim, [x * (1 + TOLERANCE) for x in lim], "k:", lw=0.8)
    ax.plot(lim, [x * (1 - TOLERANCE) for x in lim], "k:", lw=0.8)
    ax.set_xlabel("predicted ops/s")
    ax.set_ylabel("measured ops/s (mean, 95 % CI)")
    ax.set_title("validation (dotted: ±20 %)")
    ax.legend()
    ax = axes[1]
    if ok:
        src = val[0][0]
        ze = execl_z(runs)
        for label, z in (("in-kernel storm (lock-bound)", None),
                         (f"execl loop's outside time ({ze[2]})" if ze else None, ze[0] if ze else None)):
            if label is None:
                continue
            pr = seed_predictions(kern, src, z)
            md.append(f"\nPredicted for nodes x 32 CPUs, {label}, inputs from {src}'s uncontended tree "
                      "sweep; gain = throughput / today's (one tree, one lock):\n")
            unit = "loops/s" if z is not None else "ops/s"
            md.append(f"| nodes | today {unit} | v1 gain (split trees, one lock) | v2 gain (all-trees) "
                      "| inverted gain | v1 share: trees | v2 over v1: locks |")
            md.append("|---|---|---|---|---|---|---|")
            for n in SEED_NODES:
                base = pr.get(("today", n))
                if not base:
                    continue
                g = {w: pr[(w, n)] / base for w in ("v1", "v2", "inverted") if (w, n) in pr}
                md.append(f"| {n} | {base / (ze[1] if z is not None else 1):.0f} | {g.get('v1', 0):.2f}x | {g.get('v2', 0):.2f}x "
                          f"| {g.get('inverted', 0):.2f}x | {g.get('v1', 0):.2f}x "
                          f"| {g.get('v2', 0) / g['v1'] if g.get('v1') else 0:.2f}x |")
                if n == 12:
                    short.append(f"  12 nodes x 32 CPUs, {label}: v1 {g.get('v1', 0):.2f}x "
                                 f"(claimed {CLAIMS['v1']:.2f}x), v2 {g.get('v2', 0):.2f}x "
                                 f"(claimed {CLAIMS['v2']:.2f}x)")
            for w, mk in (("v1", "s-"), ("v2", "o-"), ("inverted", "^-")):
                xs = [n for n in SEED_NODES if (w, n) in pr and ("today", n) in pr]
                ax.plot(xs, [pr[(w, n)] / pr[("today", n)] for n in xs], mk,
                        label=f"{w}, {label.split(' (')[0]}", alpha=1.0 if z is not None else 0.5)
            if ze and z is not None:
                md.append(f"\n(execl loop: {ze[1]:.1f} operations per loop, "
                          f"{ze[0] * 1e6:.1f} µs outside the lock per operation, from the `single` "
                          f"replay; assumes everything outside the i_mmap lock scales with the CPUs.)\n")
        ax.axhline(CLAIMS["v1"], color="grey", ls="--", lw=0.8)
        ax.axhline(CLAIMS["v2"], color="grey", ls="-.", lw=0.8)
        ax.text(2, CLAIMS["v1"], " v1 claim", va="bottom", fontsize=8)
        ax.text(2, CLAIMS["v2"], " v2 claim", va="bottom", fontsize=8)
        ax.set_xlabel("nodes (32 CPUs each)")
        ax.set_ylabel("predicted gain over one tree, one lock")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
        ax.set_title("predictions")
    else:
        ax.text(0.5, 0.5, "validation failed:\nno predictions", ha="center", va="center")
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(f"{outdir}/model.png", dpi=100)
    plt.close(fig)
    return md, short
