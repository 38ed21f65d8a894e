#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# profile.sh [-d SECONDS] [-F HZ] [-f perf|debug] [-m] [-M] [TOPOLOGY] [MODE...]
#                                  — where the module's time goes, by symbol
#
# Boots one guest (default 1n2c) on the perf kernel and, for each tap MODE
# (default: empty shadow all), runs one execl storm of SECONDS (default 10)
# under `perf record -a -g` (cpu-clock, HZ samples per second per CPU,
# default 1999), and prints perf's self-time report by object and by
# symbol (scripts/guest/profile.sh). The difference between `empty` and
# `shadow` is the shadow's own work; its symbols (rmap_shadow's, and the
# kernel functions it calls: slab, spinlocks) show which part of it costs.
#
# A diagnostic, not a benchmark: sampling moves the numbers a little, and
# one storm per mode gives no interval (scripts/overhead.sh does). Modes may
# repeat (e.g. empty shadow shadow empty): scripts/perloop.py then prints,
# per storm and per mode, the CPU time per loop (idle excluded) and the
# same relative to the storm's own ld.so time.
# -m: the storm runs from an in-memory copy of its program (execl_storm -m).
# -M (implies -m): its libraries and ld.so.cache in memory too, as
# overhead.sh -M (selftests/lib.sh: rs_libs_in_memory): no exec waits on 9p.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

secs=10 freq=1999 flavor=perf mem='' libsmem=''
while getopts "d:F:f:mM" o; do
	case $o in
	d) secs=$OPTARG ;;
	F) freq=$OPTARG ;;
	f) flavor=$OPTARG ;;
	m) mem=1 ;;
	M) mem=1 libsmem=1 ;;
	*) die "usage: profile.sh [-d SECONDS] [-F HZ] [-f perf|debug] [-m] [-M] [TOPOLOGY] [MODE...]" ;;
	esac
done
shift $((OPTIND - 1))
topo=${1:-1n2c}
[ $# -gt 0 ] && shift
modes=${*:-empty shadow all}
rs_need_int SECONDS "$secs" 1
rs_need_int HZ "$freq" 1

rs_build "$flavor"
log=$(mktemp "${TMPDIR:-/var/tmp}/rs-profile.XXXXXX")
trap 'rm -f "$log"' EXIT
"$RS_REPO/scripts/vm.sh" -t 3600 "$topo" "$flavor" \
	"RS_KO=$(printf %q "$RS_REPO/rmap_shadow.ko") RS_MODES=$(printf %q "$modes") RS_SECS=$secs RS_FREQ=$freq RS_STORM_MEM=$mem RS_STORM_LIBS_MEM=$libsmem bash scripts/guest/profile.sh" |
	tee "$log"
# Per-loop CPU time of each storm, also relative to its ld.so time (a speed
# proxy from the same storm: TCG's speed drifts between storms).
rs_chroot python3 "$RS_REPO/scripts/perloop.py" <"$log"
