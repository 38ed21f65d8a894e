#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of scripts/lockstat.sh (a debug-kernel guest: CONFIG_LOCK_STAT).
# Parameters from the environment:
#   RS_KO     the module
#   RS_TOPO   topology name (for the output lines)
#   RS_REPS   repetitions
#   RS_SECS   seconds per execl storm
#
# The real i_mmap_rwsem beside the replayed `single` design in the same
# storm: the module loaded (policy node, one tree per node, mode all, only
# `single` replayed); per repetition and per load (1, 2 and 4 storm
# processes per CPU, in shuffled order) lock statistics are cleared, the
# storm runs, and one line is printed:
#   L topo rep procs loops loops_per_sec real_contended real_wait_us real_acq
#     real_hold_us shadow_acq shadow_contended shadow_wait_ns shadow_hold_ns
# real_*: the lockdep class &mapping->i_mmap_rwsem, read and write sides
# summed (/proc/lock_stat; times in µs as it prints them); shadow_*: the
# `* single` row of debugfs locks (every shadowed file's replayed lock).
#
# With RS_HOLD=1, instead: the real lock with the module's taps inside it.
# Per repetition the configurations unloaded (nothing loaded), empty
# (`mode empty`: the probes armed, handlers returning at once) and shadow
# (`mode shadow`), in shuffled order, one storm each (one process per vCPU,
# pinned, the program in memory: execl_storm -m), lock statistics cleared
# before it; one line per storm:
#   K topo rep cfg loops loops_per_sec w_contended w_wait_us w_acq w_hold_us
#     r_contended r_wait_us r_acq r_hold_us
# w_* / r_*: the write / read side of &mapping->i_mmap_rwsem. The file taps
# run while the kernel holds that lock for write: their time is in w_hold.
set -euo pipefail
. "$(dirname "$0")/../../selftests/lib.sh"
D=$RS_DEBUGFS
n=$(nproc)
[ -r /proc/lock_stat ] || { echo "lockstat: no /proc/lock_stat (CONFIG_LOCK_STAT)" >&2; exit 1; }
was=$(cat /proc/sys/kernel/lock_stat)
# lockclass SUFFIX: "contentions wait_us acquisitions hold_us" of the
# i_mmap_rwsem class's /proc/lock_stat lines whose name ends in SUFFIX (an
# ERE: a class with read acquisitions prints a -W and a -R line, one
# without only the plain name).
lockclass() {
	awk -v re="^&mapping->i_mmap_rwsem$1:\$" '$1 ~ re { c += $3; w += $6; a += $9; h += $12 }
	     END { printf "%d %.2f %d %.2f\n", c, w, a, h }' /proc/lock_stat
}
# storm PROCS [ARG...]: one execl storm, "loops loops_per_sec".
storm() {
	"$RS_BIN/execl_storm" -n "$1" -d "$RS_SECS" -p cpu "${@:2}" |
		sed -n 's/.* loops=\([0-9]*\) loops_per_sec=\([0-9.]*\).*/\1 \2/p'
}
if [ "${RS_HOLD:-0}" = 1 ]; then
	loaded() { grep -q "^rmap_shadow " /proc/modules; }
	echo 1 >/proc/sys/kernel/lock_stat
	for rep in $(seq 1 "$RS_REPS"); do
		for cfg in $(printf '%s\n' unloaded empty shadow | shuf); do
			if [ "$cfg" = unloaded ]; then
				if loaded; then rmmod rmap_shadow; fi
			else
				loaded || insmod "$RS_KO" policy=node,nodes
				echo "$cfg" >"$D/mode"
			fi
			echo 0 >/proc/lock_stat
			res=$(storm "$n" -m)
			echo "K $RS_TOPO $rep $cfg $res $(lockclass '(-W)?') $(lockclass -R)"
		done
	done
	echo "$was" >/proc/sys/kernel/lock_stat
	if loaded; then rmmod rmap_shadow; fi
	exit 0
fi
insmod "$RS_KO" policy=node,nodes
echo all >"$D/mode"
echo single >"$D/locks"
echo 1 >/proc/sys/kernel/lock_stat
for rep in $(seq 1 "$RS_REPS"); do
	for k in $(printf '%s\n' 1 2 4 | shuf); do
		procs=$((k * n))
		echo reset >"$D/locks"
		echo 0 >/proc/lock_stat
		res=$(storm "$procs")
		r=$(lockclass '(-[WR])?')
		s=$(awk '$1 == "*" && $2 == "single" { print $4, $5, $6, $8 }' "$D/locks")
		echo "L $RS_TOPO $rep $procs $res $r $s"
	done
done
echo "$was" >/proc/sys/kernel/lock_stat
rmmod rmap_shadow
