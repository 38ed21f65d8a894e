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
#   RS_BASE_KO     optional: another build of the module (a baseline), run
#                  as the configuration `base-shadow`
#   RS_STORM_MEM   1: the storms run from a memfd copy (execl_storm -m)
#   RS_STORM_LIBS_MEM  1: the libraries execl_storm loads (ld.so, libc)
#                  and /etc/ld.so.cache are copied to a tmpfs and
#                  bind-mounted over themselves for the run (printed as
#                  "M lib PATH"), so no exec of the storm reads a file's
#                  content over 9p
#   RS_ABBA        optional: "A B", two of the configurations below; then
#                  only these two run, as ABBA blocks (see below)
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
#   base-shadow   RS_BASE_KO in `mode shadow` (only with RS_BASE_KO)
#   bpftrace      nothing of ours loaded; bpftrace counting the module's 14
#                 probe points (selftests/lib.sh: rs_bpftrace_start), the
#                 peer a user would pick instead (only where bpftrace and
#                 the kernel's kprobe events are; RS_BPFTRACE=0 leaves it out)
# With RS_ABBA="A B", each repetition is one block of four storms, A B B A
# (odd repetitions) or B A A B (even), back to back: the machine's speed
# under TCG drifts on a scale of a few storms (the residuals of successive
# storms correlate about 0.5), and a block cancels a linear drift within
# it. The repetition's value of each configuration is the geometric mean of
# its two storms ("O" lines as above); each storm is also printed as
# "A topo boot rep slot cfg loops_per_sec". Between the module's own modes
# (empty, counters, shadow, all) a switch is one debugfs write.
# The measured storms run with handler timing off (its clock reads are not
# the shadow's cost). Prints "O topo boot rep cfg loops_per_sec vcpus
# host_cores" per storm; then the timed storms (below: the handlers'
# share of CPU time, "H ..."; the last round's `taps` tables, "T topo boot
# mode <row>": each tap's hits, mean, p50, p99); and the module's stats
# ("S topo boot <row>").
set -euo pipefail
. "$(dirname "$0")/../../selftests/lib.sh"
D=$RS_DEBUGFS
n=$(nproc)
loaded() { grep -q "^$1 " /proc/modules; }
unload_all() {
	if loaded rmap_shadow; then
		# `locks off` first: rmmod refuses while a replay is pending.
		echo off >"$D/locks"
		for _ in $(seq 1 50); do rmmod rmap_shadow 2>/dev/null && break; sleep 0.1; done
		if loaded rmap_shadow; then rmmod rmap_shadow; fi
	fi
	if loaded floor; then rmmod floor; fi
}
# want STATE: none, rmap, base, or floor-kprobe / floor-fprobe.
cur=
want() {
	case $1 in
	none) unload_all; cur= ;;
	rmap | base)
		if loaded floor; then rmmod floor; fi
		if [ "$cur" != "$1" ]; then unload_all; fi
		if ! loaded rmap_shadow; then
			if [ "$1" = base ]; then insmod "$RS_BASE_KO" policy=node,nodes
			else insmod "$RS_KO" policy=node,nodes; fi
		fi
		cur=$1 ;;
	floor-*)
		unload_all
		cur=
		insmod "$RS_FLOOR_KO" "mech=${1#floor-}" ;;
	esac
}
# The bpftrace arm, where bpftrace can run; it counts the kernel functions
# the module taps, read from its `taps` table once.
read -ra abba <<<"${RS_ABBA:-}"
bt=0
syms=()
if [ ${#abba[@]} = 2 ] && [ "${abba[0]}" != bpftrace ] && [ "${abba[1]}" != bpftrace ]; then
	: # an ABBA pair without bpftrace: no bpftrace arm
elif [ "${RS_BPFTRACE:-1}" = 1 ] && rs_bpftrace_usable; then
	bt=1
	insmod "$RS_KO"
	mapfile -t syms < <(rs_tap_symbols)
	rmmod rmap_shadow
fi
mem_arg=
if [ "${RS_STORM_MEM:-0}" = 1 ]; then mem_arg=-m; fi
if [ "${RS_STORM_LIBS_MEM:-0}" = 1 ]; then
	rs_libs_in_memory || exit 1
fi
storm() {
	selftests/out/execl_storm -n "$n" -d "$RS_SECS" -p cpu ${mem_arg:+"$mem_arg"} |
		sed -n 's/.*loops_per_sec=\([0-9.]*\).*/\1/p'
}
# use CFG on|off: the state of configuration CFG, handler timing on or off.
use() {
	case $1 in
	unloaded) want none ;;
	kprobe-floor) want floor-kprobe ;;
	fprobe-floor) want floor-fprobe ;;
	bpftrace) want none ;;
	base-shadow)
		want base
		echo shadow >"$D/mode"
		echo timing "$2" >"$D/mode" ;;
	*)
		want rmap
		echo "$1" >"$D/mode"
		if [ "$1" = all ]; then echo all >"$D/locks"; fi
		echo timing "$2" >"$D/mode" ;;
	esac
}
cfgs="unloaded kprobe-floor fprobe-floor empty counters shadow all"
timed="shadow all"
if [ $bt = 1 ]; then cfgs="$cfgs bpftrace"; fi
if [ -n "${RS_BASE_KO:-}" ]; then
	cfgs="$cfgs base-shadow"
	timed="$timed base-shadow"
fi
# measure CFG: one storm of CFG (timing off), its loops/s in $lps.
measure() {
	use "$1" off
	if [ "$1" = bpftrace ]; then
		# shellcheck disable=SC2034 # filled by rs_bpftrace_stop
		declare -A RS_BT_COUNT=()
		rs_bpftrace_start "${syms[@]}" >&2 || exit 1
		lps=$(storm)
		rs_bpftrace_stop >&2 || exit 1
	else
		lps=$(storm)
	fi
}
if [ ${#abba[@]} -gt 0 ]; then
	[ ${#abba[@]} = 2 ] && [ "${abba[0]}" != "${abba[1]}" ] ||
		{ echo "overhead: RS_ABBA needs two different configurations, got '${RS_ABBA}'" >&2; exit 1; }
	for c in "${abba[@]}"; do
		case " $cfgs " in *" $c "*) ;; *) echo "overhead: RS_ABBA: no configuration '$c' here (of: $cfgs)" >&2; exit 1 ;; esac
	done
	timed=$(for c in $timed; do case " ${abba[*]} " in *" $c "*) echo "$c" ;; esac; done)
	for rep in $(seq 1 "$RS_REPS"); do
		a=${abba[0]} b=${abba[1]}
		if [ $((rep % 2)) = 0 ]; then a=${abba[1]} b=${abba[0]}; fi
		declare -A got=()
		slot=0
		for cfg in "$a" "$b" "$b" "$a"; do
			slot=$((slot + 1))
			measure "$cfg"
			echo "A $RS_TOPO $RS_BOOT $rep $slot $cfg $lps"
			got[$cfg]="${got[$cfg]:-} $lps"
		done
		for cfg in "${abba[@]}"; do
			lps=$(awk '{ printf "%.2f", sqrt($1 * $2) }' <<<"${got[$cfg]}")
			echo "O $RS_TOPO $RS_BOOT $rep $cfg $lps $n $RS_HOST_CORES"
		done
		unset got
	done
else
	for rep in $(seq 1 "$RS_REPS"); do
		for cfg in $(printf '%s\n' $cfgs | shuf); do
			measure "$cfg"
			echo "O $RS_TOPO $RS_BOOT $rep $cfg $lps $n $RS_HOST_CORES"
		done
	done
fi
# Timed storms: RS_TIMED_ROUNDS rounds (default 3) of one storm per timed
# configuration, in random order, each on a freshly loaded module; each
# gives the handlers' share of CPU time ("H topo boot round cfg share":
# the sum of hits x mean handler time over seconds x vCPUs); the last
# round's taps tables are printed whole.
rounds=${RS_TIMED_ROUNDS:-3}
for round in $(seq 1 "$rounds"); do
	for cfg in $(printf '%s\n' $timed | shuf); do
		want none
		use "$cfg" on
		storm >/dev/null
		awk -v s="$RS_SECS" -v n="$n" -v p="H $RS_TOPO $RS_BOOT $round $cfg" \
			'NR > 1 && $2 > 0 { t += $2 * $3 } END { printf "%s %.6f\n", p, t / (s * n * 1e9) }' "$D/taps"
		if [ "$round" = "$rounds" ]; then
			sed "s/^/T $RS_TOPO $RS_BOOT $cfg /" "$D/taps"
		fi
	done
done
want rmap
sed "s/^/S $RS_TOPO $RS_BOOT /" "$D/stats"
want none
# Lazily: the guest's running shells map the bound libc.
rs_libs_restore
