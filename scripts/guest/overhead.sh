#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of scripts/overhead.sh (runs inside a guest, from the
# repository). Parameters from the environment:
#   RS_TOPO   topology name (for the output lines)
#   RS_BOOT   boot number
#   RS_REPS   repetitions
#   RS_SECS   seconds per execl storm
#   RS_KO     the module
#   RS_HOST_CORES  the host's cores (for the output lines)
#
# Per repetition, the five configurations in a fresh random order, each one
# execl storm (one process per vCPU, pinned per CPU):
#   unloaded  the module not loaded
#   empty     loaded, `mode empty` (the probes armed, handlers return)
#   counters  loaded, `mode counters`
#   shadow    loaded, `mode shadow` (the shadow kept, nothing replayed)
#   all       loaded, `mode all` (every lock design replayed)
# The measured storms run with handler timing off (its clock reads are not
# the shadow's cost). Prints "O topo boot rep cfg loops_per_sec vcpus
# host_cores" per storm; then one more storm each in `shadow` and `all` with
# timing on, and the `taps` table after it ("T topo boot mode <row>": each
# tap's p50/p99); and the module's stats ("S topo boot <row>").
set -euo pipefail
D=/sys/kernel/debug/rmap_shadow
n=$(nproc)
loaded() { grep -q '^rmap_shadow ' /proc/modules; }
unload() {
	# `locks off` first: rmmod refuses while a replay is pending.
	[ -w "$D/locks" ] && echo off >"$D/locks"
	local i
	for i in $(seq 1 50); do rmmod rmap_shadow 2>/dev/null && return 0; sleep 0.1; done
	rmmod rmap_shadow
}
storm() {
	selftests/out/execl_storm -n "$n" -d "$RS_SECS" -p cpu |
		sed -n 's/.*loops_per_sec=\([0-9.]*\).*/\1/p'
}
for rep in $(seq 1 "$RS_REPS"); do
	for cfg in $(printf '%s\n' unloaded empty counters shadow all | shuf); do
		if [ "$cfg" = unloaded ]; then
			if loaded; then unload; fi
		else
			if ! loaded; then insmod "$RS_KO" policy=node,nodes; fi
			echo "$cfg" >"$D/mode"
			[ "$cfg" = all ] && echo all >"$D/locks"
			echo timing off >"$D/mode"
		fi
		lps=$(storm)
		echo "O $RS_TOPO $RS_BOOT $rep $cfg $lps $n $RS_HOST_CORES"
	done
done
for cfg in shadow all; do
	if loaded; then unload; fi
	insmod "$RS_KO" policy=node,nodes
	echo "$cfg" >"$D/mode"
	echo timing on >"$D/mode"
	storm >/dev/null
	sed "s/^/T $RS_TOPO $RS_BOOT $cfg /" "$D/taps"
done
sed "s/^/S $RS_TOPO $RS_BOOT /" "$D/stats"
unload
