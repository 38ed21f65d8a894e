#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# lockstat.sh [-r REPS] [-d SECONDS] [-o DIR] [TOPOLOGY...]
#                        — the real i_mmap_rwsem beside the replayed design
#
# Does the replay track the real lock? For each topology (default 1n2c
# 2n4c) boots one debug-kernel guest (CONFIG_LOCK_STAT) and runs
# scripts/guest/lockstat.sh: REPS repetitions (default 5) of SECONDS-long
# execl storms (default 5) at 1, 2 and 4 processes per CPU, each with lock
# statistics cleared before it, recording the real &mapping->i_mmap_rwsem
# class from /proc/lock_stat and the replayed `single` design's figures for
# the same storm. scripts/lockstat.py then compares them (per-storm ratios,
# their correlation across loads) into DIR (default
# results/lockstat-<UTC time>/): lockstat.md, raw.txt.
#
# The debug kernel's lockdep and KASAN slow everything down: the figures
# compare the two locks with each other in one kernel, not with a perf
# kernel. A benchmark: not part of scripts/test.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reps=5 secs=5 out=
while getopts "r:d:o:" o; do
	case $o in
	r) reps=$OPTARG ;;
	d) secs=$OPTARG ;;
	o) out=$OPTARG ;;
	*) die "usage: lockstat.sh [-r REPS] [-d SECONDS] [-o DIR] [TOPOLOGY...]" ;;
	esac
done
shift $((OPTIND - 1))
topos=("$@")
[ ${#topos[@]} -gt 0 ] || topos=(1n2c 2n4c)
rs_need_int REPS "$reps" 2
rs_need_int SECONDS "$secs" 1
out=${out:-$RS_REPO/results/lockstat-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

rs_build debug
raw=$out/raw.txt
: >"$raw"
for topo in "${topos[@]}"; do
	log "lockstat: $topo, $reps repetitions of $secs s at 1, 2, 4 processes per CPU"
	"$RS_REPO/scripts/vm.sh" -t 3600 -a slab_nomerge -a lockdep.lock_stat=0 "$topo" debug \
		"RS_KO=$(printf %q "$RS_REPO/rmap_shadow.ko") RS_TOPO=$topo RS_REPS=$reps RS_SECS=$secs bash scripts/guest/lockstat.sh" |
		tee -a "$raw" | grep -E '^L ' || die "lockstat: the $topo guest failed (see $raw)"
done
work=$RS_REPO/.vm/lockstat.$$
rm -rf "$work"
mkdir -p "$work"
cp "$raw" "$work/raw.txt"
rs_chroot python3 "$RS_REPO/scripts/lockstat.py" "$work/raw.txt" "$work"
cp "$work"/* "$out"/
rm -rf "$work"
log "lockstat report: $out/lockstat.md"
