# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Shared helpers for rmap-shadow scripts. Source it; do not execute it.
#
# Environment:
#   RMAP_SHADOW_CACHE  cache directory outside the clone (default /var/cache/rmap-shadow)
#                      holding the trixie toolchain root and the kernel builds.

RS_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RS_CACHE=${RMAP_SHADOW_CACHE:-/var/cache/rmap-shadow}
RS_SUITE=trixie
# shellcheck disable=SC2034 # used by the scripts that source this file
RS_MIRROR=${RMAP_SHADOW_MIRROR:-http://deb.debian.org/debian}
RS_ROOT_VERSION=1          # bump when the package list below changes incompatibly
RS_ROOT=$RS_CACHE/root-$RS_SUITE-v$RS_ROOT_VERSION
# shellcheck disable=SC2034 # used by the scripts that source this file
RS_KVER=7.3                # linux-source-$RS_KVER

die() { echo "error: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
# rs_need_int NAME VALUE MIN [MAX]: dies unless VALUE is a whole number
# in MIN.. (or MIN..MAX), naming the option's NAME.
rs_need_int() {
	local name=$1 v=$2 min=$3 max=${4:-}
	if [[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge "$min" ] && { [ -z "$max" ] || [ "$v" -le "$max" ]; }; then
		return 0
	fi
	[ -z "$max" ] || die "$name must be $min..$max"
	die "$name must be a number >= $min"
}

# rs_chroot CMD...: run CMD inside the toolchain root, in a private mount
# namespace so that nothing stays mounted when it ends. The repository is
# visible at the same path inside the root; the cache both at the same path
# and at /cache (kernel builds use /cache, so their paths do not depend on
# RMAP_SHADOW_CACHE).
rs_chroot() {
	[ -x "$RS_ROOT/usr/bin/rustc" ] || die "toolchain root $RS_ROOT missing: run scripts/toolchain.sh"
	local repo=$RS_REPO root=$RS_ROOT cache=$RS_CACHE
	unshare --mount --propagation private -- /bin/bash -c '
		set -e
		root=$1 repo=$2 cache=$3; shift 3
		mount -t proc proc "$root/proc"
		mount --rbind /sys "$root/sys"
		mount --rbind /dev "$root/dev"
		# tmpfs first: a clone or cache under /tmp is then bind-mounted
		# on top of it instead of hidden by it.
		mount -t tmpfs tmpfs "$root/tmp"
		mount -t tmpfs tmpfs "$root/run"
		mkdir -p "$root$repo" "$root/cache" "$root$cache"
		mount --bind "$repo" "$root$repo"
		mount --bind "$cache" "$root/cache"
		mount --bind "$cache" "$root$cache"
		exec chroot "$root" /usr/bin/env -i \
			HOME=/root TERM=${TERM:-dumb} LANG=C.UTF-8 \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			"$@"
	' rs-chroot "$root" "$repo" "$cache" "$@"
}

# rs_build FLAVOR: create or check the toolchain root, build or reuse the
# FLAVOR test kernel, build rmap_shadow.ko for it from clean, and build the
# selftests' programs (the storm). Sets RS_KDIR to the kernel build dir.
rs_build() {
	local flavor=$1
	"$RS_REPO/scripts/toolchain.sh"
	RS_KDIR=$("$RS_REPO/scripts/kernel.sh" "$flavor")
	log "building rmap_shadow.ko for the $flavor kernel"
	make -s -C "$RS_REPO" KDIR="$RS_KDIR" clean >/dev/null
	make -s -C "$RS_REPO" KDIR="$RS_KDIR" >/dev/null
	rs_chroot make -s -C "$RS_REPO/selftests" KSRC="$(readlink "$RS_KDIR/source")" all >/dev/null
}
