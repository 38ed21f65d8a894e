#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vm.sh [-t SECONDS] [-a KERNEL_ARG]... TOPOLOGY FLAVOR CMD...
#
# Boot the FLAVOR (perf|debug|lockstat) test kernel with virtme-ng in TOPOLOGY and run
# CMD inside (through bash -c), with the repository visible read-write at the
# same path, and the cache read-only at /cache (kernel sources, for
# kselftest's lib.mk). The guest's root is the toolchain root (read-only, with
# tmpfs overlays as virtme-ng arranges). Prints the guest's output and exits with
# CMD's exit code; 124 when the guest is killed after the timeout.
#
# Topologies:  1n1c  1 node,  1 vCPU (a host core left for QEMU's I/O
#                    threads: the control for vCPU-vs-I/O-thread competition)
#              1n2c  1 node,  2 vCPUs (the non-NUMA case)
#              2n2c  2 nodes, 1 vCPU each (NUMA without vCPU oversubscription
#                    on a 2-core host)
#              2n4c  2 nodes, 2 vCPUs each
#              4n8c  4 nodes, 2 vCPUs each
#              1n4c, 4n4c  1 node of 4 / 4 nodes of 1 vCPU: with 2n4c the
#                    node-count series at fixed vCPUs (the lab's control
#                    separating nodes from oversubscription)
#
# Before CMD, the guest checks that /sys/devices/system/node shows exactly the
# requested nodes and CPUs, and fails (exit 90) if not.
#
# With RMAP_SHADOW_VM_VERBOSE set, the guest kernel's console is printed too.
#
# KVM (-cpu host,-arch-capabilities) is used when /dev/kvm boots a kernel here;
# otherwise TCG. The probe runs once per host kernel and is cached; force
# with RMAP_SHADOW_ACCEL=kvm|tcg.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

timeout_s=900
appends=()
while getopts "t:a:" o; do
	case $o in
	t) timeout_s=$OPTARG ;;
	a) appends+=("$OPTARG") ;;
	*) die "usage: vm.sh [-t SECONDS] [-a ARG] TOPOLOGY FLAVOR CMD..." ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 3 ] || die "usage: vm.sh [-t SECONDS] [-a ARG] TOPOLOGY FLAVOR CMD..."
topo=$1 flavor=$2
shift 2
cmd="$*"

case "$topo" in
1n1c) nodes=1 cpus=1 ;;
1n2c) nodes=1 cpus=2 ;;
2n2c) nodes=2 cpus=2 ;;
1n4c) nodes=1 cpus=4 ;;
2n4c) nodes=2 cpus=4 ;;
4n4c) nodes=4 cpus=4 ;;
4n8c) nodes=4 cpus=8 ;;
*) die "unknown topology '$topo' (1n1c, 1n2c, 2n2c, 1n4c, 2n4c, 4n4c, 4n8c)" ;;
esac
# 2 GiB in all for the one-node guest (as the 2-node one): a debug kernel
# (KASAN, kmemleak) in 1 GiB left too little for the module's GFP_ATOMIC
# allocations late in the test run.
mem_per_node=1024
[ "$nodes" = 1 ] && mem_per_node=2048
numa=()
for ((n = 0; n < nodes; n++)); do
	numa+=(--numa "${mem_per_node}M,cpus=$((n * cpus / nodes))-$(((n + 1) * cpus / nodes - 1))")
done

kdir=$("$RS_REPO/scripts/kernel.sh" "$flavor" --print-dir)

# Decide KVM or TCG once per host kernel.
accel=${RMAP_SHADOW_ACCEL:-}
if [ -z "$accel" ]; then
	probe=$RS_CACHE/accel-$(uname -r)
	if [ ! -f "$probe" ]; then
		accel=tcg
		if [ -w /dev/kvm ]; then
			log "probing KVM (one boot, cached in $probe)"
			out=$(rs_chroot timeout 40 qemu-system-x86_64 -enable-kvm \
				-cpu host,-arch-capabilities -m 512 -nographic -no-reboot \
				-kernel "/cache/${kdir#"$RS_CACHE"/}/arch/x86/boot/bzImage" \
				-append "console=ttyS0 panic=-1" 2>&1 || true)
			# Booted far enough to look for a root fs: KVM works.
			grep -q "VFS: Cannot open root device\|Kernel panic" <<<"$out" && accel=kvm
		fi
		echo "$accel" >"$probe"
	fi
	accel=$(cat "$probe")
fi
# One socket per node: with all vCPUs in one socket spread over several
# nodes, the guest kernel WARNs in set_cpu_sibling_map() at boot.
qopts="-smp $cpus,sockets=$nodes,cores=$((cpus / nodes)),threads=1"
accel_args=()
if [ "$accel" = kvm ]; then
	accel_args=(--qemu-opts="-cpu host,-arch-capabilities $qopts")
else
	accel_args=(--disable-kvm --qemu-opts="$qopts")
fi

# The guest-side topology check runs before CMD.
check="
got_nodes=\$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)
got_cpus=\$(nproc --all)
echo \"# guest: $topo accel=$accel nodes=\$got_nodes cpus=\$got_cpus kernel=\$(uname -r)\"
for n in /sys/devices/system/node/node[0-9]*; do echo \"# \${n##*/}: cpus \$(cat \$n/cpulist)\"; done
if [ \"\$got_nodes\" != $nodes ] || [ \"\$got_cpus\" != $cpus ]; then
	echo \"# guest topology mismatch: want $nodes nodes, $cpus cpus\"; exit 90
fi
mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
cd $(printf %q "$RS_REPO")
"
mkdir -p "$RS_REPO/.vm"
script=$(mktemp "$RS_REPO/.vm/guest.XXXXXX")
trap 'rm -f "$script"' EXIT
printf '%s\n%s\n' "$check" "$cmd" >"$script"

# The root (the toolchain root over 9p, read-only in the guest, unchanged by
# the host while a guest runs) is mounted with cache=loose: virtme-ng mounts
# it uncached, so every exec re-read its binary over 9p and the debug guest
# spent 175 s in virtme-init alone (measured, 1n2c: boot to the command
# 4 min 43 s uncached, 2 min 25 s cached). The last rootflags= wins. The
# repository and /cache are separate 9p mounts and stay uncached.
kargs="rootflags=version=9p2000.L,trans=virtio,access=any,cache=loose panic_on_warn=0 ${appends[*]:-}"
log "guest $topo ($accel, $flavor): $cmd"
set +e
rs_chroot timeout --kill-after=15 "$timeout_s" \
	vng --run "/cache/${kdir#"$RS_CACHE"/}" --disable-microvm --force-9p \
	"${accel_args[@]}" --cpus "$cpus" --memory "$((mem_per_node * nodes))M" "${numa[@]}" \
	--rwdir="$RS_REPO" --rodir=/cache --user root --append "$kargs" ${RMAP_SHADOW_VM_VERBOSE:+--verbose} \
	--exec "bash $script" </dev/null 2>&1 | cat
# qemu opens /proc/self/fd/1 and /2 as files, several times: on a regular
# file those writers would overwrite each other, so always hand it a pipe.
rc=${PIPESTATUS[0]}
set -e
[ $rc = 124 ] && log "guest $topo timed out after $timeout_s s and was killed"
exit $rc
