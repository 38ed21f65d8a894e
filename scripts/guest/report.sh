#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of scripts/report.sh (runs inside a guest, from the
# repository). Parameters from the environment:
#   RS_KO          the module
#   RS_TOPO        topology name (for the output lines)
#   RS_REPS        repetitions of the execl storms
#   RS_SECS        seconds per execl storm
#   RS_KREPS       repetitions of the in-kernel storms
#   RS_KSECS       seconds per in-kernel storm
#   RS_HOST_CORES  the host's cores (for the output lines)
#   RS_BOOT        this guest's boot number (for the output lines; default 1)
#   RS_KMODEL      0: no uncontended in-kernel storms for the model (default 1)
#   RS_STORM_LIBS_MEM  1: the execl storms run from memory: execl_storm -m,
#                  and its libraries and ld.so.cache on a tmpfs bound over
#                  themselves (rs_libs_in_memory: "M lib PATH" lines)
#   RS_BUDGET      seconds the execl repetitions may take (0, the default:
#                  exactly RS_REPS): at least RS_REPS repetitions, then more
#                  while one more (as long as the slowest so far) still fits
#
# Prints, each a line: "B topo after-boot|after-16-apps|after-16-spawned
# <anon row>" (the anon table after boot, with a realistic set of apps
# running, started by bash's forks, and with the same set started by
# posix_spawn: scripts/guest/spawn_apps.py),
# "R topo cfg rep loops_per_sec acq contended wait_ns wait_max_ns hold_ns
# vcpus host_cores secs boot" per execl storm (configurations in
# scripts/report.sh), "K topo rep <storm done line> vcpus host_cores boot"
# per in-kernel storm (the storm's row: debugfs.rst), then
# the anon, taps and armed-kprobe tables ("A", "T", "P").
set -euo pipefail
. "$(dirname "$0")/../../selftests/lib.sh"
D=$RS_DEBUGFS
n=$(nproc)
boot=${RS_BOOT:-1}
budget=${RS_BUDGET:-0}
loaded() { grep -q '^rmap_shadow ' /proc/modules; }
# storm [-w PAGES]: loops/s of one execl storm (-w: walk-heavy).
mem_arg=()
[ "${RS_STORM_LIBS_MEM:-0}" = 1 ] && mem_arg=(-m)
storm() { "$RS_BIN/execl_storm" -n "$n" -d "$RS_SECS" -p cpu ${mem_arg[@]+"${mem_arg[@]}"} "$@" | sed -n 's/.*loops_per_sec=\([0-9.]*\).*/\1/p'; }

# The anon table after boot, and after launching a realistic set of apps:
# 8 interactive-style shells, 4 python3 interpreters, 4 coreutils
# pipelines. The shells and pipelines read a FIFO this script keeps open
# for writing: closing it ends them (EOF), and the interpreters are killed
# by PID, so nothing else in the guest is touched.
insmod "$RS_KO" policy=node,nodes
sed "s/^/B $RS_TOPO after-boot /" "$D/anon"
fifo=$(mktemp -u /tmp/rs-apps.XXXXXX)
mkfifo "$fifo"
exec 3<>"$fifo"
for _ in 1 2 3 4 5 6 7 8; do bash -c 'read -r x' <"$fifo" 3>&- & done
pys=()
for _ in 1 2 3 4; do python3 -c 'import json, time, collections; time.sleep(600)' 3>&- & pys+=($!); done
for _ in 1 2 3 4; do { cat <"$fifo" | sort | uniq -c | cat >/dev/null; } 3>&- & done
sleep 5
sed "s/^/B $RS_TOPO after-16-apps /" "$D/anon"
exec 3>&-
kill "${pys[@]}"
wait || true
rm -f "$fifo"
# The same sixteen apps started with posix_spawn() instead of fork
# (spawn_apps.py): no forked shell stays behind them.
coproc SPAWN { python3 "$(dirname "$0")/spawn_apps.py"; }
read -r _ <&"${SPAWN[0]}"
sleep 5
sed "s/^/B $RS_TOPO after-16-spawned /" "$D/anon"
echo >&"${SPAWN[1]}"
wait "$SPAWN_PID" || true
rmmod rmap_shadow

# After the apps (their figures stay comparable with earlier reports).
if [ "${RS_STORM_LIBS_MEM:-0}" = 1 ]; then rs_libs_in_memory || exit 1; fi
rep=0 t0=$SECONDS slowest=0
while :; do
	rep=$((rep + 1))
	if [ "$rep" -gt "$RS_REPS" ]; then
		[ "$budget" -gt 0 ] && [ $((SECONDS - t0 + slowest)) -le "$budget" ] || break
	fi
	ts=$SECONDS
	for cfg in $(printf '%s\n' unloaded empty counters taps all single all-trees inverted \
		w-single w-all-trees w-inverted | shuf); do
		if [ "$cfg" = unloaded ]; then
			if loaded; then rmmod rmap_shadow; fi
			lps=$(storm)
			echo "R $RS_TOPO $cfg $rep $lps 0 0 0 0 0 $n $RS_HOST_CORES $RS_SECS $boot"
			continue
		fi
		loaded || insmod "$RS_KO" policy=node,nodes
		case $cfg in
		empty | counters) echo "$cfg" >"$D/mode" ;;
		taps) echo shadow >"$D/mode" ;;
		*) echo all >"$D/mode"; echo "${cfg#w-}" >"$D/locks" ;;
		esac
		echo reset >"$D/locks"
		# w-DESIGN: the walk-heavy storm (16 pages paged out per loop).
		case $cfg in w-*) lps=$(storm -w 16) ;; *) lps=$(storm) ;; esac
		d=${cfg#w-}
		case $cfg in all | taps) d=single ;; esac
		v=$(awk -v d="$d" '$1 == "*" && $2 == d { print $4, $5, $6, $7, $8 }' "$D/locks")
		# Modes without a replay (empty, counters) may show no totals row.
		[ -n "$v" ] || v="0 0 0 0 0"
		echo "R $RS_TOPO $cfg $rep $lps $v $n $RS_HOST_CORES $RS_SECS $boot"
	done
	[ $((SECONDS - ts)) -le "$slowest" ] || slowest=$((SECONDS - ts))
done
loaded || insmod "$RS_KO" policy=node,nodes
echo '## in-kernel storm'
trees=$(find /sys/devices/system/node -maxdepth 1 -name 'node[0-9]*' | wc -l)
[ "$trees" -ge 2 ] || trees=2
# Each design x policy at the topology's tree count, with one kthread per
# vCPU (the measured storm) and with one kthread (threads=1: the
# uncontended run the contention model in scripts/model.py starts from);
# and, uncontended, each design over 1, 2, 4, 8 and 12 trees (policy hash:
# the VMAs spread evenly, as per-node trees hold a share each): the
# per-operation cost as trees get shorter, for the model's predictions.
# RS_KMODEL=0 (the short reports of run.sh and host mode) leaves out the
# model's runs.
combos() {
	local d p t
	for d in single all-trees inverted; do
		for p in node smallest cpu hash single; do
			echo "$d $p $trees 0"
			[ "${RS_KMODEL:-1}" = 0 ] || echo "$d $p $trees 1"
		done
		[ "${RS_KMODEL:-1}" = 0 ] || for t in 1 2 4 8 12; do echo "$d hash $t 1"; done
	done | sort -u
}
for rep in $(seq 1 "$RS_KREPS"); do
	combos | shuf | while read -r d p t th; do
		if [ "$th" = 0 ]; then thr=""; else thr="threads=$th"; fi
		echo "start design=$d policy=$p trees=$t secs=$RS_KSECS vmas=6000 $thr" >"$D/storm"
		while ! tail -n 1 "$D/storm" | grep -q '^done '; do sleep 0.5; done
		echo "K $RS_TOPO $rep $(tail -n 1 "$D/storm") $n $RS_HOST_CORES $boot"
	done
done
echo '## anon'
sed "s/^/A $RS_TOPO /" "$D/anon"
echo '## taps'
sed "s/^/T $RS_TOPO /" "$D/taps"
echo '## kprobes'
sed "s/^/P $RS_TOPO /" /sys/kernel/debug/kprobes/list
rmmod rmap_shadow
# Lazily: the guest's running shells map the bound libc.
rs_libs_restore
