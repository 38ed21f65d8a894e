#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of scripts/overhead.sh (runs inside a guest, from the
# repository). Parameters from the environment:
#   RS_TOPO        topology name (for the output lines)
#   RS_BOOT        boot number
#   RS_REPS        repetitions
#   RS_SECS        seconds per execl storm
#   RS_KO          the module
#   RS_FLOOR_KO    scripts/diag/floor.ko (the empty-handler floor)
#   RS_HOST_CORES  the host's cores (for the output lines)
#
# Per repetition, the configurations in a fresh random order, each one
# execl storm (one process per vCPU, pinned per CPU):
#   unloaded      nothing loaded
#   kprobe-floor  floor.ko mech=kprobe: the 14 probe points, kprobes whose
#                 handlers return at once (the mechanism rmap_shadow uses)
#   fprobe-floor  floor.ko mech=fprobe: the same points, one fprobe
#   empty         rmap_shadow, `mode empty` (its probes armed, handlers
#                 return after one load)
#   counters      rmap_shadow, `mode counters`
#   shadow        rmap_shadow, `mode shadow` (the shadow kept, no replay)
#   all           rmap_shadow, `mode all` (every lock design replayed)
# The measured storms run with handler timing off (its clock reads are not
# the shadow's cost). Prints "O topo boot rep cfg loops_per_sec vcpus
# host_cores" per storm; then one more storm each in `shadow` and `all` with
# timing on ("U topo boot mode seconds vcpus"), and the `taps` table after
# it ("T topo boot mode <row>": each tap's hits, mean, p50, p99); and the
# module's stats ("S topo boot <row>").
set -euo pipefail
D=/sys/kernel/debug/rmap_shadow
n=$(nproc)
loaded() { grep -q "^$1 " /proc/modules; }
unload_all() {
	if loaded rmap_shadow; then
		# `locks off` first: rmmod refuses while a replay is pending.
		echo off >"$D/locks"
		local i
		for i in $(seq 1 50); do rmmod rmap_shadow 2>/dev/null && break; sleep 0.1; done
		if loaded rmap_shadow; then rmmod rmap_shadow; fi
	fi
	if loaded floor; then rmmod floor; fi
}
# want STATE: none, rmap, or floor-kprobe / floor-fprobe.
want() {
	case $1 in
	none) unload_all ;;
	rmap)
		if loaded floor; then rmmod floor; fi
		if ! loaded rmap_shadow; then insmod "$RS_KO" policy=node,nodes; fi ;;
	floor-*)
		unload_all
		insmod "$RS_FLOOR_KO" "mech=${1#floor-}" ;;
	esac
}
storm() {
	selftests/out/execl_storm -n "$n" -d "$RS_SECS" -p cpu |
		sed -n 's/.*loops_per_sec=\([0-9.]*\).*/\1/p'
}
cfgs="unloaded kprobe-floor fprobe-floor empty counters shadow all"
for rep in $(seq 1 "$RS_REPS"); do
	for cfg in $(printf '%s\n' $cfgs | shuf); do
		case $cfg in
		unloaded) want none ;;
		kprobe-floor) want floor-kprobe ;;
		fprobe-floor) want floor-fprobe ;;
		*)
			want rmap
			echo "$cfg" >"$D/mode"
			if [ "$cfg" = all ]; then echo all >"$D/locks"; fi
			echo timing off >"$D/mode" ;;
		esac
		lps=$(storm)
		echo "O $RS_TOPO $RS_BOOT $rep $cfg $lps $n $RS_HOST_CORES"
	done
done
for cfg in shadow all; do
	want none
	want rmap
	echo "$cfg" >"$D/mode"
	echo timing on >"$D/mode"
	storm >/dev/null
	echo "U $RS_TOPO $RS_BOOT $cfg $RS_SECS $n"
	sed "s/^/T $RS_TOPO $RS_BOOT $cfg /" "$D/taps"
done
sed "s/^/S $RS_TOPO $RS_BOOT /" "$D/stats"
want none
