#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# host-report.sh [-b BOOTS-LABEL] [-r REPS] [-t BUDGET] [-d SECONDS]
#                [-k STORM_REPS] [-s STORM_SECONDS] [-m KO] [-o DIR]
#                                  — the contention lab on this machine
#
# The lab of scripts/report.sh run on the machine itself, no guest: its real
# nodes and CPUs (vCPU : core = 1), its own kernel, the module built for it
# (make KDIR=/lib/modules/$(uname -r)/build, default KO ./rmap_shadow.ko).
# Runs scripts/guest/report.sh here (root; nothing else should run), with
# the topology named host-<nodes>n<cpus>c, then scripts/report.py when this
# machine's python3 has scipy, numpy and matplotlib (else only the raw
# lines are kept). BOOTS-LABEL (default 1) numbers this boot in the raw
# lines: run it again after a reboot with -b 2 -o the same DIR to get the
# boot-to-boot variance. Check the machine first: scripts/doctor.sh.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "error: $*" >&2; exit 1; }

boot=1 reps=5 budget=0 secs=10 kreps=3 ksecs=3 ko=$repo/rmap_shadow.ko out=
while getopts "b:r:t:d:k:s:m:o:" o; do
	case $o in
	b) boot=$OPTARG ;;
	r) reps=$OPTARG ;;
	t) budget=$OPTARG ;;
	d) secs=$OPTARG ;;
	k) kreps=$OPTARG ;;
	s) ksecs=$OPTARG ;;
	m) ko=$OPTARG ;;
	o) out=$OPTARG ;;
	*) die "usage: host-report.sh [-b BOOT] [-r REPS] [-t BUDGET] [-d SECONDS] [-k STORM_REPS] [-s STORM_SECONDS] [-m KO] [-o DIR]" ;;
	esac
done
for v in "$boot" "$reps" "$budget" "$secs" "$kreps" "$ksecs"; do
	[[ $v =~ ^[0-9]+$ ]] || die "options take whole numbers"
done
[ "$reps" -ge 2 ] || die "REPS must be >= 2"
[ "$(id -u)" = 0 ] || die "run as root (scripts/doctor.sh lists what is needed)"
[ -f "$ko" ] || die "no module at $ko: build it first (make KDIR=/lib/modules/\$(uname -r)/build)"
! grep -q '^rmap_shadow ' /proc/modules || die "rmap_shadow is loaded: unload it first"
[ -x "$repo/selftests/out/execl_storm" ] || make -s -C "$repo/selftests" KSRC="${KSRC:-/lib/modules/$(uname -r)/build/source}" all >/dev/null ||
	die "cannot build the storm program (make -C selftests KSRC=...)"
grep -q ' /sys/kernel/debug debugfs ' /proc/mounts || mount -t debugfs none /sys/kernel/debug

nodes=$(find /sys/devices/system/node -maxdepth 1 -name 'node[0-9]*' | wc -l)
[ "$nodes" -ge 1 ] || nodes=1
topo=host-${nodes}n$(nproc)c
out=${out:-$repo/results/host-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
echo "# host-report: $topo ($(uname -r)), boot $boot, $reps repetitions of $secs s" >&2
# On the machine itself every CPU is a core: host cores = CPUs.
RS_KO=$ko RS_TOPO=$topo RS_BOOT=$boot RS_REPS=$reps RS_BUDGET=$budget RS_SECS=$secs \
	RS_KREPS=$kreps RS_KSECS=$ksecs RS_HOST_CORES=$(nproc) \
	bash "$repo/scripts/guest/report.sh" | tee -a "$out/raw.txt" | grep -E '^(R|K|## )' >&2
if python3 -c 'import scipy, numpy, matplotlib' 2>/dev/null; then
	python3 "$repo/scripts/report.py" "$out/raw.txt" "$out"
else
	echo "# python3 lacks scipy/numpy/matplotlib: raw lines in $out/raw.txt (run scripts/report.py RAW DIR where they are)" >&2
fi
echo "# full report: $out" >&2
