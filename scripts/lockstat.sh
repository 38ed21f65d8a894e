#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# lockstat.sh [-r REPS] [-d SECONDS] [-f debug|lockstat] [-H] [-o DIR] [TOPOLOGY...]
#                        — the real i_mmap_rwsem beside the replayed design
#
# Does the replay track the real lock? For each topology (default 1n2c
# 2n4c) boots one guest of a kernel with CONFIG_LOCK_STAT (-f: debug, the
# default, or lockstat: the perf flavor plus LOCK_STAT, without KASAN or
# lock proving) and runs scripts/guest/lockstat.sh: REPS repetitions
# (default 5) of SECONDS-long execl storms (default 5) at 1, 2 and 4
# processes per CPU, each with lock statistics cleared before it, recording
# the real &mapping->i_mmap_rwsem class from /proc/lock_stat and the
# replayed `single` design's figures for the same storm.
#
# -H: instead, the real lock with the module's taps inside it: per
# repetition unloaded, `mode empty` and `mode shadow` in shuffled order, one
# storm each (one process per vCPU, the program in memory), the real lock's
# write and read sides recorded (its hold time includes the file taps,
# which run under it).
#
# scripts/lockstat.py then compares them (per-storm ratios, their
# correlation across loads; with -H, hold and wait per acquisition and per
# loop, paired against unloaded) into DIR (default
# results/lockstat-<UTC time>/): lockstat.md, raw.txt.
#
# LOCK_STAT's own bookkeeping (and the debug kernel's lockdep and KASAN)
# slow everything down: the figures compare the locks with each other in
# one kernel, not with a perf kernel. A benchmark: not part of
# scripts/test.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reps=5 secs=5 out='' flavor=debug hold=0
usage="usage: lockstat.sh [-r REPS] [-d SECONDS] [-f debug|lockstat] [-H] [-o DIR] [TOPOLOGY...]"
while getopts "r:d:f:Ho:" o; do
	case $o in
	r) reps=$OPTARG ;;
	d) secs=$OPTARG ;;
	f) flavor=$OPTARG ;;
	H) hold=1 ;;
	o) out=$OPTARG ;;
	*) die "$usage" ;;
	esac
done
case $flavor in debug | lockstat) ;; *) die "$usage" ;; esac
shift $((OPTIND - 1))
topos=("$@")
[ ${#topos[@]} -gt 0 ] || topos=(1n2c 2n4c)
rs_need_int REPS "$reps" 2
rs_need_int SECONDS "$secs" 1
out=${out:-$RS_REPO/results/lockstat-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

rs_build "$flavor"
raw=$out/raw.txt
: >"$raw"
for topo in "${topos[@]}"; do
	if [ $hold = 1 ]; then
		log "lockstat: $topo ($flavor), $reps repetitions of $secs s: unloaded, empty, shadow"
	else
		log "lockstat: $topo ($flavor), $reps repetitions of $secs s at 1, 2, 4 processes per CPU"
	fi
	"$RS_REPO/scripts/vm.sh" -t 3600 -a slab_nomerge -a lockdep.lock_stat=0 "$topo" "$flavor" \
		"RS_KO=$(printf %q "$RS_REPO/rmap_shadow.ko") RS_TOPO=$topo RS_REPS=$reps RS_SECS=$secs RS_HOLD=$hold bash scripts/guest/lockstat.sh" |
		tee -a "$raw" | grep -E '^[LK] ' || die "lockstat: the $topo guest failed (see $raw)"
done
work=$RS_REPO/.vm/lockstat.$$
rm -rf "$work"
mkdir -p "$work"
cp "$raw" "$work/raw.txt"
rs_chroot python3 "$RS_REPO/scripts/lockstat.py" "$work/raw.txt" "$work" "$flavor"
cp "$work"/* "$out"/
rm -rf "$work"
log "lockstat report: $out/lockstat.md"
