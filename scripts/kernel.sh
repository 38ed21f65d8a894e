#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kernel.sh FLAVOR [--print-dir]
#
# Build (or reuse) the Rust-enabled 7.3 test kernel of FLAVOR (perf|debug,
# or lockstat: perf with /proc/lock_stat, for scripts/lockstat.sh -f)
# in $RMAP_SHADOW_CACHE/kernels/. The config is generated, never committed:
#   make allnoconfig with KCONFIG_ALLCONFIG = scripts/kconfig/base.config
#       + scripts/kconfig/rmap-shadow.config + scripts/kconfig/FLAVOR.config
# and every line of those fragments is then checked to hold in the result.
# The build directory is keyed by (linux-source version, fragments, RECIPE
# below, toolchain versions): change any and a new kernel is built.
#
# Every flavor is built with LLVM=1: CONFIG_RUST depends on !KASAN ||
# CC_IS_CLANG, and one compiler for all keeps them comparable.
#
# --print-dir prints the build directory of a complete build (or fails).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavor=${1:-}
case "$flavor" in perf|debug|lockstat) ;; *) die "usage: kernel.sh perf|debug|lockstat [--print-dir]" ;; esac
print_dir=${2:-}

frags=("$RS_REPO/scripts/kconfig/base.config" "$RS_REPO/scripts/kconfig/rmap-shadow.config"
	"$RS_REPO/scripts/kconfig/$flavor.config")

[ -x "$RS_ROOT/usr/bin/rustc" ] || "$RS_REPO/scripts/toolchain.sh"

srcver=$(chroot "$RS_ROOT" dpkg-query -W -f='${Version}' "linux-source-$RS_KVER")
tools=$(chroot "$RS_ROOT" sh -c 'clang --version | head -n1; rustc --version; bindgen --version; ld.lld --version')
# Bump RECIPE when this script changes how a kernel is configured or built.
RECIPE=1
key=$( { echo "recipe $RECIPE"; echo "$srcver"; echo "$tools"; cat "${frags[@]}"; } | sha256sum | cut -c1-12)
name=linux-$srcver-$flavor-$key
out=$RS_CACHE/kernels/$name       # host path
cout=/cache/kernels/$name         # same directory inside the root
src=$RS_CACHE/src/linux-$srcver
csrc=/cache/src/linux-$srcver

if [ -n "$print_dir" ]; then
	[ -f "$out/.rmap-shadow-complete" ] || die "kernel $flavor ($name) is not built: run scripts/kernel.sh $flavor"
	echo "$out"
	exit 0
fi

if [ -f "$out/.rmap-shadow-complete" ]; then
	log "kernel $flavor: reusing $out"
	echo "$out"
	exit 0
fi

if [ ! -f "$src/.extracted" ]; then
	log "extracting linux-source-$RS_KVER $srcver"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -xf "$RS_ROOT/usr/src/linux-source-$RS_KVER.tar.xz" -C "$src.tmp" --strip-components=1
	mv "$src.tmp" "$src"
	touch "$src/.extracted"
fi

mkdir -p "$out"
cat "${frags[@]}" >"$out/rmap-shadow.fragment"
log "kernel $flavor: configuring $out"
rs_chroot /bin/bash -c '
	set -e; cd "$1"
	make -s O="$2" LLVM=1 KCONFIG_ALLCONFIG="$2/rmap-shadow.fragment" allnoconfig
	make -s O="$2" LLVM=1 rustavailable
' x "$csrc" "$cout" >"$out/config.log" 2>&1 || die "kernel config failed: $(tail -n 5 "$out/config.log")"

# Every fragment line must hold in the generated .config.
bad=""
while IFS= read -r line; do
	case "$line" in CONFIG_*=*) ;; *) continue ;; esac
	sym=${line%%=*} val=${line#*=}
	if [ "$val" = n ]; then
		grep -qx "$sym=.*" "$out/.config" && bad+=" $line(got $(grep -x "$sym=.*" "$out/.config"))"
	else
		grep -qxF "$line" "$out/.config" || bad+=" $line(got $(grep -E "^(# )?${sym}[= ]" "$out/.config" || echo unset))"
	fi
done < <(cat "${frags[@]}")
[ -z "$bad" ] || die "kernel $flavor: config options did not hold:$bad"

log "kernel $flavor: building bzImage + modules in $out (-j$(($(nproc) + 1)))"
start=$(date +%s)
rs_chroot /bin/bash -c '
	set -e; cd "$1"
	make O="$2" LLVM=1 -j"$3" bzImage modules
' x "$csrc" "$cout" $(($(nproc) + 1)) >"$out/build.log" 2>&1 ||
	die "kernel $flavor build failed, see $out/build.log: $(grep -E 'error|Error' "$out/build.log" | head -n 5)"
echo "$(( $(date +%s) - start ))" >"$out/build-seconds"
log "kernel $flavor: built in $(cat "$out/build-seconds") s"
touch "$out/.rmap-shadow-complete"
echo "$out"
