#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# overhead.sh [-b BOOTS] [-r REPS] [-d SECONDS] [-f perf|debug] [-B BASE_KO] [-p A/B] [-m] [-M] [-o DIR] [TOPOLOGY...]
#                                       — what the module costs the workload
#
# For each topology (default 1n2c 2n2c) and each of BOOTS boots (default 2)
# of a guest on the perf kernel, runs scripts/guest/overhead.sh: REPS
# repetitions (default 10) of an execl storm of SECONDS (default 5) under
# each of unloaded, kprobe-floor, fprobe-floor (scripts/diag/floor.ko: the
# probe points with empty handlers, by kprobe or by fprobe), empty,
# counters, shadow and all, interleaved in a fresh random order per
# repetition. scripts/overhead.py (in the toolchain root)
# then pairs the configurations within each repetition (log of the ratio
# of loops/s), and reports the mean ratio with a 95 % t interval over every
# repetition of every boot (and per boot), each tap's p50/p99, and the
# shadow's bytes per VMA, to DIR (default results/overhead-<UTC time>):
# overhead.csv, overhead.md. Timed storms (3 rounds per boot) give the
# handlers' share of CPU time per configuration.
#
# With -B BASE_KO (another build of rmap_shadow.ko for the same kernel, e.g.
# from a worktree of an earlier commit), `base-shadow` joins the
# configurations: an A/B of two builds, paired like the rest, and in the
# timed rounds.
#
# With -p A/B (two of the configurations, e.g. shadow/empty), only those
# two run, each repetition one ABBA block of four storms back to back
# (BAAB on even repetitions): the pairing for a single question, which
# cancels the drift of the guest's speed between storms that the shuffled
# order of eight configurations leaves in each ratio.
#
# With -m the storms run from an in-memory copy of execl_storm
# (execl_storm -m): no exec waits on the repository's uncached 9p mount.
# -M (implies -m) puts the libraries it loads in memory too: each (ld.so,
# libc) and /etc/ld.so.cache is copied to a tmpfs in the guest and
# bind-mounted over itself, so no exec of the storm reads a file's content
# over 9p (path lookups still pass the root's cached 9p directories), and a
# sleeping process keeps the copies mapped meanwhile, as init and the
# shells keep libc mapped on a real system (selftests/lib.sh:
# rs_libs_in_memory).
#
# A benchmark: not part of scripts/test.sh. With 2 host cores, only 1n2c and
# 2n2c guests are free of vCPU oversubscription.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

boots=2 reps=10 secs=5 flavor=perf out='' base='' abba='' mem=0 libs=0
usage="usage: overhead.sh [-b BOOTS] [-r REPS] [-d SECONDS] [-f perf|debug] [-B BASE_KO] [-p A/B] [-m] [-M] [-o DIR] [TOPOLOGY...]"
while getopts "b:r:d:f:B:p:o:mM" o; do
	case $o in
	b) boots=$OPTARG ;;
	r) reps=$OPTARG ;;
	d) secs=$OPTARG ;;
	f) flavor=$OPTARG ;;
	B) base=$OPTARG ;;
	p) abba=${OPTARG/\// } ;;
	o) out=$OPTARG ;;
	m) mem=1 ;;
	M) mem=1 libs=1 ;;
	*) die "$usage" ;;
	esac
done
shift $((OPTIND - 1))
topos=("$@")
[ ${#topos[@]} -gt 0 ] || topos=(1n2c 2n2c)
rs_need_int BOOTS "$boots" 1
rs_need_int REPS "$reps" 2
rs_need_int SECONDS "$secs" 1
case $abba in
'') ;;
*' '*' '* | *' ' | ' '*) die "-p A/B: two configurations, got '$abba'" ;;
*' '*) ;;
*) die "-p A/B: two configurations, got '$abba'" ;;
esac
if [ -n "$base" ]; then
	[ -f "$base" ] || die "BASE_KO $base: no such file"
	base=$(cd "$(dirname "$base")" && pwd)/$(basename "$base")
fi
out=${out:-$RS_REPO/results/overhead-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

rs_build "$flavor"
# The floor module, built for the same kernel (MO: see scripts/diag/stress.sh).
rs_chroot make -s -C "$RS_KDIR" M="$RS_REPO/scripts/diag" MO="$RS_REPO/scripts/diag" LLVM=1 modules >/dev/null

if [ -n "$base" ]; then
	# The guest sees the repository, not the host's /tmp: a copy inside
	# (after rs_build, whose `make clean` empties the build products).
	mkdir -p "$RS_REPO/.vm"
	cp "$base" "$RS_REPO/.vm/overhead-base.ko"
	base=$RS_REPO/.vm/overhead-base.ko
fi

raw=$out/raw.txt
: >"$raw"
for topo in "${topos[@]}"; do
	for boot in $(seq 1 "$boots"); do
		log "overhead: $topo boot $boot, $reps repetitions of $secs s per configuration"
		"$RS_REPO/scripts/vm.sh" -t 7200 "$topo" "$flavor" \
			"RS_TOPO=$topo RS_BOOT=$boot RS_REPS=$reps RS_SECS=$secs RS_HOST_CORES=$(nproc) RS_KO=$(printf %q "$RS_REPO/rmap_shadow.ko") RS_FLOOR_KO=$(printf %q "$RS_REPO/scripts/diag/floor.ko") RS_BASE_KO=$(printf %q "$base") RS_ABBA=$(printf %q "$abba") RS_STORM_MEM=$mem RS_STORM_LIBS_MEM=$libs bash scripts/guest/overhead.sh" |
			tee -a "$raw" | grep -E '^O ' || die "overhead: the $topo guest (boot $boot) failed (see $raw)"
	done
done

# The toolchain root sees the repository (at the same path), not DIR.
work=$RS_REPO/.vm/overhead.$$
rm -rf "$work"
mkdir -p "$work"
cp "$raw" "$work/raw.txt"
rs_chroot python3 "$RS_REPO/scripts/overhead.py" "$work/raw.txt" "$work"
cp "$work"/* "$out"/
rm -rf "$work"
log "overhead report: $out/overhead.md"
