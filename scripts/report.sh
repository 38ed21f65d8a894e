#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# report.sh [-r REPS] [-d SECONDS] [-k STORM_REPS] [-s STORM_SECONDS]
#           [-f perf|debug] [-o DIR] [TOPOLOGY...]
#                                         — the contention lab's report
#
# For each topology (default 1n2c 2n4c 4n8c) boots one guest (perf kernel)
# and runs the execl storm (one process per vCPU, pinned per CPU) REPS times
# (default 5) under each configuration, in a freshly shuffled order per
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
# A benchmark: not part of scripts/test.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reps=5 secs=10 kreps=3 ksecs=3 flavor=perf out=
while getopts "r:d:k:s:f:o:" o; do
	case $o in
	r) reps=$OPTARG ;;
	d) secs=$OPTARG ;;
	k) kreps=$OPTARG ;;
	s) ksecs=$OPTARG ;;
	f) flavor=$OPTARG ;;
	o) out=$OPTARG ;;
	*) die "usage: report.sh [-r REPS] [-d SECONDS] [-k STORM_REPS] [-s STORM_SECONDS] [-f perf|debug] [-o DIR] [TOPOLOGY...]" ;;
	esac
done
shift $((OPTIND - 1))
topos=("$@")
[ ${#topos[@]} -gt 0 ] || topos=(1n2c 2n4c 4n8c)
rs_need_int REPS "$reps" 2
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
	log "report: $topo, $reps repetitions of $secs s per configuration"
	# Runs in the guest: every line starting "R " is a result.
	"$RS_REPO/scripts/vm.sh" -t 7200 -a slab_nomerge "$topo" "$flavor" "
set -e
D=/sys/kernel/debug/rmap_shadow
n=\$(nproc)
loaded() { grep -q '^rmap_shadow ' /proc/modules; }
storm() { selftests/out/execl_storm -n \$n -d $secs -p cpu | sed -n 's/.*loops_per_sec=\\([0-9.]*\\).*/\\1/p'; }
# The anon table after boot, and after launching a realistic set of apps:
# 8 interactive-style shells, 4 python3 interpreters, 4 coreutils pipelines.
insmod rmap_shadow.ko policy=node,nodes
sed 's/^/B $topo after-boot /' \$D/anon
apps=
for i in 1 2 3 4 5 6 7 8; do bash -c 'read -r x' < <(sleep 600) & apps=\"\$apps \$!\"; done
for i in 1 2 3 4; do python3 -c 'import json, time, collections; time.sleep(600)' & apps=\"\$apps \$!\"; done
for i in 1 2 3 4; do (sleep 600 | sort | uniq -c | cat >/dev/null) & apps=\"\$apps \$!\"; done
sleep 5
sed 's/^/B $topo after-16-apps /' \$D/anon
pkill -x sleep || true
kill \$apps 2>/dev/null || true
wait 2>/dev/null || true
rmmod rmap_shadow
for rep in \$(seq 1 $reps); do
	for cfg in \$(printf '%s\\n' unloaded empty counters taps all single all-trees inverted | shuf); do
		if [ \$cfg = unloaded ]; then
			loaded && rmmod rmap_shadow
			lps=\$(storm)
			echo \"R $topo \$cfg \$rep \$lps 0 0 0 0 0 \$n $host_cores\"
			continue
		fi
		loaded || insmod rmap_shadow.ko policy=node,nodes
		case \$cfg in
		empty | counters) echo \$cfg >\$D/mode ;;
		taps) echo shadow >\$D/mode ;;
		*) echo all >\$D/mode; echo \$cfg >\$D/locks ;;
		esac
		echo reset >\$D/locks
		lps=\$(storm)
		d=\$cfg; case \$cfg in all | taps) d=single ;; esac
		v=\$(awk -v d=\$d '\$1 == \"*\" && \$2 == d { print \$4, \$5, \$6, \$7, \$8 }' \$D/locks)
		echo \"R $topo \$cfg \$rep \$lps \$v \$n $host_cores\"
	done
done
loaded || insmod rmap_shadow.ko policy=node,nodes
echo '## in-kernel storm'
trees=\$(ls -d /sys/devices/system/node/node[0-9]* | wc -l); [ \$trees -ge 2 ] || trees=2
for rep in \$(seq 1 $kreps); do
	for combo in \$(for d in single all-trees inverted; do for p in node smallest cpu hash single; do echo \$d,\$p; done; done | shuf); do
		echo \"start design=\${combo%,*} policy=\${combo#*,} trees=\$trees secs=$ksecs vmas=6000\" >\$D/storm
		while ! tail -n 1 \$D/storm | grep -q '^done '; do sleep 0.5; done
		echo \"K $topo \$rep \$(tail -n 1 \$D/storm) \$n $host_cores\"
	done
done
echo '## anon'
sed 's/^/A $topo /' \$D/anon
echo '## taps'
sed 's/^/T $topo /' \$D/taps
echo '## kprobes'
sed 's/^/P $topo /' /sys/kernel/debug/kprobes/list
rmmod rmap_shadow
" | tee -a "$raw" | grep -E '^(R|K|B|## )' || die "report: the $topo guest failed (see $raw)"
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
