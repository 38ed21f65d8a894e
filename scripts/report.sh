#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# report.sh [-b BOOTS] [-r REPS] [-t BUDGET] [-d SECONDS] [-k STORM_REPS]
#           [-s STORM_SECONDS] [-f perf|debug] [-M] [-o DIR] [TOPOLOGY...]
#                                         — the contention lab's report
#
# For each topology (default 1n2c 2n2c 2n4c 4n8c) boots BOOTS guests (default
# 2, perf kernel: boot-to-boot variance is part of the result) and in each
# runs the execl storm (one process per vCPU, pinned per CPU) REPS times
# (default 5; with -t, at least REPS and more while the next fits in BUDGET
# seconds) under each configuration, in a freshly shuffled order per
# repetition:
#
#   unloaded   the module not loaded (the baseline of the overhead)
#   empty      loaded, `mode empty`: the probes armed, handlers return at once
#   counters   loaded, `mode counters`: hits counted per CPU, no shadow
#   taps       loaded, `mode shadow`: the shadow kept, no lock design replayed
#   all        loaded, every tap on, every lock design replayed
#   single     loaded, only the `single` design replayed
#   all-trees  loaded, only the `all-trees` design replayed
#   inverted   loaded, only the `inverted` design replayed
#   w-single, w-all-trees, w-inverted
#              the same three under the walk-heavy storm (execl_storm -w 16:
#              each loop maps a shared file and pages it out, so reclaim walks
#              its rmap: the walk side of each design)
#
# Loaded configurations use the `node` policy with one tree per node (the
# patch's v2). After each storm it records loops/s and the design's lock
# totals (`locks`). Then the in-kernel storm (debugfs `storm`: one kthread
# per vCPU, 6000 VMAs per file) runs STORM_REPS times (default 3) for
# STORM_SECONDS (default 3) per lock design x policy (trees: one per node,
# at least 2), in shuffled order; at the end of each guest, the `anon` and
# `taps` tables and the armed kprobes (/sys/kernel/debug/kprobes/list). scripts/report.py (in the toolchain root: numpy, scipy,
# matplotlib) then writes report.md, results.csv, storm.csv and PNG plots
# to DIR (default results/<UTC time> in the repository) and prints the
# short form.
#
# -M: every execl storm runs with its program (execl_storm -m), its
# libraries and /etc/ld.so.cache in memory (selftests/lib.sh:
# rs_libs_in_memory), as overhead.sh -M: on the guests' uncached 9p root
# most of an exec is otherwise a vCPU waiting on QEMU's 9p server, which
# dilutes every cost and every contention figure. The report says so.
#
# A benchmark: not part of scripts/test.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

boots=2 reps=5 budget=0 secs=10 kreps=3 ksecs=3 flavor=perf libsmem=0 out=
usage="usage: report.sh [-b BOOTS] [-r REPS] [-t BUDGET] [-d SECONDS] [-k STORM_REPS] [-s STORM_SECONDS] [-f perf|debug] [-M] [-o DIR] [TOPOLOGY...]"
while getopts "b:r:t:d:k:s:f:Mo:" o; do
	case $o in
	b) boots=$OPTARG ;;
	r) reps=$OPTARG ;;
	t) budget=$OPTARG ;;
	d) secs=$OPTARG ;;
	k) kreps=$OPTARG ;;
	s) ksecs=$OPTARG ;;
	f) flavor=$OPTARG ;;
	M) libsmem=1 ;;
	o) out=$OPTARG ;;
	*) die "$usage" ;;
	esac
done
shift $((OPTIND - 1))
topos=("$@")
[ ${#topos[@]} -gt 0 ] || topos=(1n2c 2n2c 2n4c 4n8c)
rs_need_int BOOTS "$boots" 1
rs_need_int REPS "$reps" 2
rs_need_int BUDGET "$budget" 0
rs_need_int SECONDS "$secs" 1
rs_need_int STORM_REPS "$kreps" 0
rs_need_int STORM_SECONDS "$ksecs" 1 600
out=${out:-$RS_REPO/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

rs_build "$flavor"

host_cores=$(nproc)
raw=$out/raw.txt
: >"$raw"
for topo in "${topos[@]}"; do
	for boot in $(seq 1 "$boots"); do
		log "report: $topo boot $boot, $reps repetitions of $secs s per configuration$([ "$budget" = 0 ] || echo " (or more within $budget s)")"
		# Runs in the guest (scripts/guest/report.sh): lines R, K, B, A, T, P.
		"$RS_REPO/scripts/vm.sh" -t 7200 -a slab_nomerge "$topo" "$flavor" \
			"RS_KO=$(printf %q "$RS_REPO/rmap_shadow.ko") RS_TOPO=$topo RS_BOOT=$boot RS_REPS=$reps RS_BUDGET=$budget RS_SECS=$secs RS_KREPS=$kreps RS_KSECS=$ksecs RS_KMODEL=${RS_KMODEL:-1} RS_HOST_CORES=$host_cores RS_STORM_LIBS_MEM=$libsmem bash scripts/guest/report.sh" | tee -a "$raw" | grep -E '^(R|K|B|## )' || die "report: the $topo guest failed (see $raw)"
	done
done

# The toolchain root sees the repository (at the same path), not DIR.
work=$RS_REPO/.vm/report.$$
rm -rf "$work"
mkdir -p "$work"
cp "$raw" "$work/raw.txt"
rs_chroot python3 "$RS_REPO/scripts/report.py" "$work/raw.txt" "$work"
cp "$work"/* "$out"/
rm -rf "$work"
log "full report: $out/report.md (plots: $out/*.png)"
