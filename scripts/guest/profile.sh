#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of scripts/profile.sh (runs inside a guest, from the
# repository). Parameters from the environment:
#   RS_KO     the module
#   RS_MODES  tap modes to profile, in order (e.g. "empty shadow")
#   RS_SECS   seconds of execl storm per mode
#   RS_FREQ   perf's sampling frequency (Hz per CPU)
#
# Per mode: the module loaded (policy node,nodes), the mode set, handler
# timing off, one execl storm (one process per vCPU) under
# `perf record -a -g` on the cpu-clock event (TCG guests have no PMU), then
# `perf report` by symbol (self time) and by object. Prints the storm's line,
# then the two reports, each line prefixed with "P <mode> ".
set -euo pipefail
D=/sys/kernel/debug/rmap_shadow
n=$(nproc)
for mode in $RS_MODES; do
	insmod "$RS_KO" policy=node,nodes
	echo "$mode" >"$D/mode"
	echo timing off >"$D/mode"
	data=/tmp/perf-$mode.data
	perf record -q -o "$data" -e cpu-clock -F "$RS_FREQ" -a -g -- \
		selftests/out/execl_storm -n "$n" -d "$RS_SECS" -p cpu 2>&1 |
		sed "s/^/P $mode storm /"
	# Reported while the module is loaded: its symbols come from
	# /proc/kallsyms, which loses them at rmmod.
	perf report -i "$data" --stdio --no-children -g none --sort dso \
		--percent-limit 0.5 2>/dev/null | grep -v '^#' | grep -v '^$' |
		sed "s/^/P $mode dso /"
	perf report -i "$data" --stdio --no-children -g none --sort sym \
		--percent-limit 0.3 2>/dev/null | grep -v '^#' | grep -v '^$' |
		head -n 60 | sed "s/^/P $mode sym /"
done
