#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of scripts/profile.sh (runs inside a guest, from the
# repository). Parameters from the environment:
#   RS_KO     the module
#   RS_MODES  tap modes to profile, in order (e.g. "empty shadow")
#   RS_SECS   seconds of execl storm per mode
#   RS_FREQ   perf's sampling frequency (Hz per CPU)
#   RS_STORM_MEM  1: the storm runs from a memfd copy (execl_storm -m)
#   RS_STORM_LIBS_MEM  1: its libraries in memory (rs_libs_in_memory)
#
# The module loaded once (policy node,nodes); per mode: the mode set,
# handler timing off, one execl storm (one process per vCPU) under
# `perf record -a -g` on the cpu-clock event (TCG guests have no PMU), then
# `perf report` by symbol (self time) and by object. Prints the storm's line,
# then the two reports, each line prefixed with "P <mode> ".
set -euo pipefail
. "$(dirname "$0")/../../selftests/lib.sh"
D=$RS_DEBUGFS
n=$(nproc)
mem_arg=
[ "${RS_STORM_MEM:-}" = 1 ] && mem_arg=-m
if [ "${RS_STORM_LIBS_MEM:-}" = 1 ]; then rs_libs_in_memory || exit 1; fi
insmod "$RS_KO" policy=node,nodes
for mode in $RS_MODES; do
	echo "$mode" >"$D/mode"
	echo timing off >"$D/mode"
	data=/tmp/perf-$mode.data
	perf record -q -o "$data" -e cpu-clock -F "$RS_FREQ" -a -g -- \
		selftests/out/execl_storm -n "$n" -d "$RS_SECS" -p cpu ${mem_arg:+"$mem_arg"} 2>&1 |
		sed "s/^/P $mode storm /"
	# Reported while the module is loaded: its symbols come from
	# /proc/kallsyms, which loses them at rmmod.
	for sort in dso sym; do
		perf report -i "$data" --stdio --no-children -g none --sort "$sort" \
			--percent-limit 0.2 >/tmp/report.txt 2>/dev/null
		grep -v '^#' /tmp/report.txt | grep -v '^$' | sed "s/^/P $mode $sort /"
	done
	# The real kernel's sleeping locks (rwsems, mutexes: their slow paths
	# and optimistic spinning), self time: a shadow that lengthens the
	# real i_mmap_rwsem's hold (its file taps run under it) shows here.
	perf report -i "$data" --stdio --no-children -g none --sort sym \
		--percent-limit 0.01 >/tmp/report.txt 2>/dev/null
	grep -E 'rwsem|osq_|down_(read|write)|up_(read|write)|mutex|spin_on_owner' /tmp/report.txt |
		sed "s/^/P $mode lock /"
	# The module's own symbols (self time, percent of all samples).
	perf report -i "$data" --stdio --no-children -g none --sort sym \
		--dsos '[rmap_shadow]' --kallsyms /proc/kallsyms --percent-limit 0.01 >/tmp/report.txt 2>/dev/null
	grep -v '^#' /tmp/report.txt | grep -v '^$' | sed "s/^/P $mode module /"
	# Inclusive time (self and callees) of the probe entry and of the
	# module's handlers: every sample under kprobe_ftrace_handler is a
	# tap's cost, the kprobe mechanism's included.
	perf report -i "$data" --stdio --children -g none --sort sym --kallsyms /proc/kallsyms \
		--percent-limit 0.05 >/tmp/report.txt 2>/dev/null
	grep -E 'kprobe_ftrace_handler|rmap_shadow|task_work_run|Tap' /tmp/report.txt |
		sed "s/^/P $mode inclusive /"
	# Self time of every function (the kernel's included) in samples
	# taken under a tap's handler or the module's task_work: what the
	# taps cost, by where it is spent.
	perf report -i "$data" --stdio --no-children -g none --sort sym --kallsyms /proc/kallsyms \
		--parent 'rmap_shadow' -x --percent-limit 0.02 >/tmp/report.txt 2>/dev/null
	grep -v '^#' /tmp/report.txt | grep -v '^$' | sed "s/^/P $mode under /"
done
echo off >"$D/locks"
rmmod rmap_shadow
rs_libs_restore
