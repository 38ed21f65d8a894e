#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh [-d SECONDS] [-f perf|debug] [-p "POLICY [TREES]"] [-r REPS] [TOPOLOGY]
#                                                   — the project's main job
#
# Builds what it needs from nothing (toolchain root, test kernel, module,
# storm program), boots a NUMA guest (default 2n4c, perf kernel), loads
# rmap_shadow, selects the policy (default "node nodes"), runs an execl
# storm pinned per CPU and prints the guest topology, the module's status,
# the storm's loops/s, libc.so.6's and ld.so's per-tree VMA counts, the
# per-tree lock figures of the three lock designs (totals and libc.so.6),
# the real vs ANON_VMA_LAZY anon table, the taps' cost, the shadow's
# counters and `verify all`. It ends with a short contention-lab report of
# the same topology (scripts/report.sh, one boot: at least REPS repetitions,
# default 2, of 3 s storms per configuration, and more while they fit in
# 240 s; one 2 s in-kernel storm per design x policy; REPS 0 skips it): the
# short form (paired ratios; "n too small for an interval" where it is) is
# printed, the full report and plots go to the results directory it names.
# For a reviewer's numbers run scripts/report.sh itself (two boots, four
# topologies).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

secs=10 flavor=perf policy="node nodes" reps=2
while getopts "d:f:p:r:" o; do
	case $o in
	d) secs=$OPTARG ;;
	f) flavor=$OPTARG ;;
	p) policy=$OPTARG ;;
	r) reps=$OPTARG ;;
	*) die "usage: run.sh [-d SECONDS] [-f perf|debug] [-p \"POLICY [TREES]\"] [-r REPS] [TOPOLOGY]" ;;
	esac
done
shift $((OPTIND - 1))
topo=${1:-2n4c}
[[ $reps =~ ^[0-9]+$ ]] && [ "$reps" != 1 ] || die "REPS must be 0 or a number >= 2"

rs_build "$flavor"

"$RS_REPO/scripts/vm.sh" -t 1200 "$topo" "$flavor" \
	"RS_KO=$(printf %q "$RS_REPO/rmap_shadow.ko") RS_POLICY=$(printf %q "$policy") RS_SECS=$secs bash scripts/guest/run.sh"

if [ "$reps" -gt 0 ]; then
	log "short contention-lab report ($topo, $reps repetitions)"
	RS_KMODEL=0 "$RS_REPO/scripts/report.sh" -b 1 -r "$reps" -t 240 -d 3 -k 1 -s 2 -f "$flavor" "$topo" | sed -n '/^## report (short form)/,$p'
fi
