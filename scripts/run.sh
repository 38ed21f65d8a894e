#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh [-d SECONDS] [-f perf|debug] [TOPOLOGY]   — the project's main job
#
# Builds what it needs from nothing (toolchain root, test kernel, module,
# storm program), boots a NUMA guest (default 2n4c, perf kernel), loads
# rmap_shadow, runs an execl storm pinned per CPU and prints the guest
# topology, the module's debugfs status and the storm's loops/s.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

secs=10 flavor=perf
while getopts "d:f:" o; do
	case $o in
	d) secs=$OPTARG ;;
	f) flavor=$OPTARG ;;
	*) die "usage: run.sh [-d SECONDS] [-f perf|debug] [TOPOLOGY]" ;;
	esac
done
shift $((OPTIND - 1))
topo=${1:-2n4c}

"$RS_REPO/scripts/toolchain.sh"
kdir=$("$RS_REPO/scripts/kernel.sh" "$flavor")
log "building rmap_shadow.ko for the $flavor kernel"
make -s -C "$RS_REPO" KDIR="$kdir" clean >/dev/null
make -s -C "$RS_REPO" KDIR="$kdir" >/dev/null
rs_chroot make -s -C "$RS_REPO/selftests" KSRC="$(readlink "$kdir/source")" all >/dev/null

"$RS_REPO/scripts/vm.sh" -t 1200 "$topo" "$flavor" "
set -e
insmod rmap_shadow.ko
echo '## debugfs status (before the storm)'
cat /sys/kernel/debug/rmap_shadow/status
echo '## execl storm: $secs s, one process per CPU, pinned per CPU'
selftests/out/execl_storm -n \$(nproc) -d $secs -p cpu
echo '## debugfs status (after the storm)'
cat /sys/kernel/debug/rmap_shadow/status
rmmod rmap_shadow
"
