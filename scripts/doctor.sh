#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# doctor.sh [-k KDIR] [-s KSRC]   — can rmap-shadow run on this machine?
#
# Run on the machine that is to load the module (a NUMA test box, or a
# guest): lists what rmap-shadow needs and whether it is there, one line
# each ("ok", "MISSING" with what to do, or "note"), and exits 1 if
# anything needed is missing.
#
#   KDIR  the running kernel's build directory (default $KDIR, else
#         /lib/modules/$(uname -r)/build): its .config and the toolchain
#         versions it was built with
#   KSRC  its source tree, for the selftests' kselftest headers (default
#         $KDIR/source, else KDIR itself)
#
# Checked: kernel version (7.3: the probe points and the Rust API the module
# is written against), the kernel's configuration (RUST, KPROBES,
# KPROBES_ON_FTRACE, DEBUG_FS, NUMA, MODULE_UNLOAD, KALLSYMS_ALL), every
# probe symbol of rust/rmap_shadow.rs's TAP_TABLE in /proc/kallsyms and not
# in the kprobe blacklist, debugfs mounted, root, and a toolchain matching
# the kernel's (rustc, bindgen, clang and ld.lld: a Rust module must be
# built with exactly the kernel's rustc and bindgen, and LLVM=1), with
# rust-src. See Documentation/own-machine.rst.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

kdir=${KDIR:-/lib/modules/$(uname -r)/build}
ksrc=${KSRC:-}
while getopts "k:s:" o; do
	case $o in
	k) kdir=$OPTARG ;;
	s) ksrc=$OPTARG ;;
	*) echo "usage: doctor.sh [-k KDIR] [-s KSRC]" >&2; exit 2 ;;
	esac
done
if [ -z "$ksrc" ]; then
	if [ -d "$kdir/source" ]; then ksrc=$(cd "$kdir/source" && pwd); else ksrc=$kdir; fi
fi

bad=0
ok() { echo "ok       $*"; }
missing() { echo "MISSING  $1"; shift; for l in "$@"; do echo "         -> $l"; done; bad=1; }
note() { echo "note     $*"; }

rel=$(uname -r)
case $rel in
7.3.*|7.3) ok "kernel $rel (7.3: the module's probe points and Rust API)" ;;
*) missing "kernel $rel: rmap-shadow is written against 7.3 (mm/interval_tree.c's mapping_rmap_tree_* and anon_rmap_tree_* probe points, the 7.3 kernel crate)" \
	"boot a 7.3 kernel with CONFIG_RUST (or use the project's guests: scripts/run.sh)" ;;
esac

if [ "$(id -u)" = 0 ]; then ok "running as root"; else missing "not root" "run as root: loading modules and debugfs need it"; fi

# The kernel's configuration: the build directory's, else the running one's.
cfg=""
if [ -r "$kdir/.config" ]; then
	cfg=$(cat "$kdir/.config"); ok "kernel build directory $kdir"
	if [ -r "$kdir/include/config/kernel.release" ] &&
		[ "$(cat "$kdir/include/config/kernel.release")" != "$rel" ]; then
		missing "$kdir is for $(cat "$kdir/include/config/kernel.release"), the running kernel is $rel" \
			"point KDIR at the running kernel's build directory"
	fi
else
	missing "no kernel build directory at $kdir" \
		"install the running kernel's headers/build tree (Debian: linux-headers-$rel) or pass -k KDIR"
	if [ -r /proc/config.gz ]; then cfg=$(zcat /proc/config.gz)
	elif [ -r "/boot/config-$rel" ]; then cfg=$(cat "/boot/config-$rel")
	fi
fi
conf() { sed -n "s/^CONFIG_$1=//p" <<<"$cfg" | head -n 1; }
if [ -n "$cfg" ]; then
	for opt in RUST KPROBES KPROBES_ON_FTRACE DEBUG_FS NUMA MODULE_UNLOAD KALLSYMS_ALL; do
		v=$(conf "$opt")
		case $opt:$v in
		*:y) ok "CONFIG_$opt=y" ;;
		KPROBES_ON_FTRACE:*) missing "CONFIG_$opt is not set" "without it every tap is a breakpoint trap: rebuild with CONFIG_KPROBES_ON_FTRACE=y (needs FTRACE, DYNAMIC_FTRACE)" ;;
		NUMA:*) note "CONFIG_NUMA is not set: one node; the node policy degenerates to one tree (the non-NUMA case)" ;;
		*) missing "CONFIG_$opt is not set" "rebuild the kernel with CONFIG_$opt=y" ;;
		esac
	done
	[ "$(conf MODULE_SIG_FORCE)" = y ] && missing "CONFIG_MODULE_SIG_FORCE=y: an unsigned out-of-tree module is refused" "sign rmap_shadow.ko with the kernel's key (scripts/sign-file) or boot without module.sig_enforce"
else
	missing "no kernel configuration found ($kdir/.config, /proc/config.gz, /boot/config-$rel)" "install the kernel's build tree"
fi

# Every probe point, from the module's own table (one list: rust/rmap_shadow.rs).
mapfile -t syms < <(sed -n 's/^ *(c"\([A-Za-z0-9_]*\)", TapKind::.*/\1/p' "$repo/rust/rmap_shadow.rs")
if [ "${#syms[@]}" -lt 10 ]; then
	missing "could not read the probe table from $repo/rust/rmap_shadow.rs (${#syms[@]} symbols)" "run doctor.sh from a complete clone"
elif [ -r /proc/kallsyms ]; then
	blk=""
	[ -r /sys/kernel/debug/kprobes/blacklist ] && blk=$(awk '{ print $2 }' /sys/kernel/debug/kprobes/blacklist)
	absent="" black=""
	# One pass over kallsyms (reading it is slow on a debug kernel).
	found=$(awk -v want="${syms[*]}" 'BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) s[w[i]] = 1 }
		($3 in s) { print $3; delete s[$3] }' /proc/kallsyms)
	for s in "${syms[@]}"; do
		grep -qxF "$s" <<<"$found" || absent+=" $s"
		grep -qxF "$s" <<<"$blk" && black+=" $s"
	done
	if [ -z "$absent" ]; then ok "all ${#syms[@]} probe symbols in /proc/kallsyms"; else
		missing "probe symbols not in /proc/kallsyms:$absent" "these exist in 7.3 (mm/interval_tree.c, mm/rmap.c, kernel/fork.c); an inlined or renamed function cannot be probed: use a 7.3 kernel"
	fi
	[ -z "$black" ] || missing "probe symbols in the kprobe blacklist:$black" "these cannot be probed on this kernel"
else
	missing "/proc/kallsyms not readable" "run as root"
fi

if grep -q ' /sys/kernel/debug debugfs ' /proc/mounts; then ok "debugfs mounted at /sys/kernel/debug"
else missing "debugfs not mounted" "mount -t debugfs none /sys/kernel/debug"
fi
nodes=$(find /sys/devices/system/node -maxdepth 1 -name 'node[0-9]*' 2>/dev/null | wc -l)
note "this machine: $nodes node(s), $(nproc) CPU(s) online"

# The toolchain: exactly the kernel's rustc and bindgen, LLVM as the kernel's.
want() { sed -n "s/^CONFIG_$1=\"\(.*\)\"$/\1/p" <<<"$cfg" | head -n 1; }
tool() {
	local name=$1 want=$2 got
	if ! command -v "$name" >/dev/null; then
		missing "$name not found" "install the $name the kernel was built with: $want"; return
	fi
	got=$("$name" --version 2>/dev/null | head -n 1)
	if [ -z "$want" ]; then note "$name: $got (the kernel's is not recorded)"
	elif [ "$got" = "$want" ]; then ok "$name: $got (as the kernel)"
	else missing "$name is '$got', the kernel was built with '$want'" "a Rust module must use the kernel's exact $name: install that version (e.g. from the distribution that built the kernel)"
	fi
}
if [ -n "$cfg" ]; then
	tool rustc "$(want RUSTC_VERSION_TEXT)"
	tool bindgen "$(want BINDGEN_VERSION_TEXT)"
	if [ "$(conf CC_IS_CLANG)" = y ]; then tool clang "$(want CC_VERSION_TEXT)"; else
		missing "the kernel was not built with clang ($(want CC_VERSION_TEXT))" "the module builds with LLVM=1 like its kernel: use a kernel built with clang"
	fi
	command -v ld.lld >/dev/null && ok "ld.lld: $(ld.lld --version | head -n 1)" || missing "ld.lld not found" "install lld (the kernel's LLVM)"
	if command -v rustc >/dev/null; then
		src=$(rustc --print sysroot)/lib/rustlib/src/rust/library/core
		[ -d "$src" ] && ok "rust-src at $src" || missing "rust-src not found under $(rustc --print sysroot)" "install rust-src for this rustc (Debian: rust-src)"
	fi
fi
if [ -r "$ksrc/tools/testing/selftests/kselftest_harness.h" ]; then ok "kernel source for the selftests: $ksrc"
else missing "no kselftest headers under $ksrc/tools/testing/selftests" "the selftests need the kernel's source tree: pass -s KSRC (make -C selftests KSRC=...)"
fi
for p in python3 make; do command -v "$p" >/dev/null || missing "$p not found" "install $p"; done
python3 -c 'import scipy, numpy, matplotlib' 2>/dev/null && ok "python3 with scipy, numpy, matplotlib (the lab's statistics)" ||
	note "python3 lacks scipy/numpy/matplotlib: scripts/host-report.sh then keeps the raw lines only"

# Optional: bpftrace, the peer the lab compares against (selftests/bpftrace_test.sh
# skips without it, scripts/overhead.sh leaves its arm out).
peer=""
if [ -n "$cfg" ]; then
	for opt in BPF_SYSCALL BPF_EVENTS KPROBE_EVENTS; do
		[ "$(conf "$opt")" = y ] || peer+=" CONFIG_$opt"
	done
fi
if ! command -v bpftrace >/dev/null; then note "bpftrace not found (optional: the peer comparison; Debian: bpftrace)"
elif [ -n "$peer" ]; then note "bpftrace: $(bpftrace --version), but the kernel lacks$peer (optional: the peer comparison)"
else ok "bpftrace: $(bpftrace --version) (optional: the peer comparison)"
fi

if [ "$bad" = 0 ]; then echo "doctor: everything rmap-shadow needs is here"; else echo "doctor: something rmap-shadow needs is missing (above)"; fi
exit "$bad"
