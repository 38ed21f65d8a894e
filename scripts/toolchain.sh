#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Create or reuse the Debian trixie toolchain root in $RMAP_SHADOW_CACHE.
# Nothing from trixie is ever installed on the host: everything lives in the
# root and is used through chroot (scripts/lib.sh: rs_chroot).
#
# Idempotent: a complete root with the right versions is reused as is; a
# missing package is installed; a wrong version stops with a message.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# package  upstream-version-prefix (empty: any)
PINNED=(
	"linux-source-$RS_KVER 7.3.4"
	"rustc 1.85.1"
	"rust-src 1.85.1"
	"bindgen 0.71.1"
	"gcc-14 14."
)
PACKAGES=(
	"linux-source-$RS_KVER" rustc rust-src rustfmt rust-clippy bindgen gcc-14 gcc
	libclang-dev clang lld llvm
	# kernel build dependencies
	make bc bison flex libelf-dev libssl-dev cpio kmod xz-utils zstd rsync
	perl python3 file git ca-certificates
	# guests
	qemu-system-x86 virtme-ng busybox-static udev iproute2 systemd-sysv procps
	# profiles (scripts/profile.sh); the shell-script check (scripts/test.sh)
	linux-perf shellcheck
	# the peer a user would pick instead (selftests/bpftrace_test.sh, scripts/bpftrace-count.sh, overhead.sh)
	bpftrace
	# report
	python3-numpy python3-scipy python3-matplotlib
)

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot)"
mkdir -p "$RS_CACHE"

stamp=$RS_ROOT/.rmap-shadow-complete
want=$(printf '%s\n' "${PACKAGES[@]}" | grep -v '^#' | sort | tr '\n' ' ')

if [ ! -f "$RS_ROOT/.debootstrap-done" ]; then
	if ! command -v debootstrap >/dev/null; then
		# debootstrap is the one host package we need (bookworm's own).
		log "installing debootstrap on the host"
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap; } \
			>"$RS_CACHE/host-apt.log" 2>&1 ||
			die "cannot install debootstrap on the host, see $RS_CACHE/host-apt.log"
	fi
	log "debootstrap $RS_SUITE into $RS_ROOT"
	rm -rf "$RS_ROOT"
	debootstrap --variant=minbase "$RS_SUITE" "$RS_ROOT" "$RS_MIRROR" \
		>"$RS_CACHE/debootstrap.log" 2>&1 ||
		die "debootstrap $RS_SUITE from $RS_MIRROR failed, see $RS_CACHE/debootstrap.log: $(grep -E '^[EW]:' "$RS_CACHE/debootstrap.log" | tail -n 3)"
	cat >"$RS_ROOT/etc/apt/sources.list" <<-EOF
	deb $RS_MIRROR $RS_SUITE main
	deb $RS_MIRROR $RS_SUITE-updates main
	deb $RS_MIRROR $RS_SUITE-backports main
	EOF
	cat >"$RS_ROOT/etc/apt/preferences.d/rmap-shadow" <<-EOF
	Package: linux-source-$RS_KVER linux-source
	Pin: release a=$RS_SUITE-backports
	Pin-Priority: 600
	EOF
	echo 'APT::Install-Recommends "false";' >"$RS_ROOT/etc/apt/apt.conf.d/90norecommends"
	touch "$RS_ROOT/.debootstrap-done"
fi

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
	log "installing packages into the root"
	# rustc must exist for rs_chroot's sanity check; bootstrap around it.
	unshare --mount --propagation private -- /bin/bash -c '
		set -e; root=$1; shift
		mount -t proc proc "$root/proc"; mount --rbind /dev "$root/dev"
		mount --rbind /sys "$root/sys"; mount -t tmpfs tmpfs "$root/tmp"
		chroot "$root" /usr/bin/env -i DEBIAN_FRONTEND=noninteractive \
			PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
	' x "$RS_ROOT" /bin/bash -c '
		apt-get update -q >/tmp/apt.log 2>&1 || { grep -E "^(E|W):" /tmp/apt.log; exit 1; }
		apt-get install -y -q "$@" >/tmp/apt.log 2>&1 || {
			grep -E "^(E|W):|Unable to locate|has no installation candidate|Depends:" /tmp/apt.log | head -n 20
			exit 1; }
		apt-get clean
	' x "${PACKAGES[@]}" ||
		die "installing packages into $RS_ROOT failed (messages above name the package or registry)"
	echo "$want" >"$stamp"
fi

# Version checks, every run: cheap, and catches a root changed behind our back.
for p in "${PINNED[@]}"; do
	set -- $p
	v=$(chroot "$RS_ROOT" dpkg-query -W -f='${Version}' "$1" 2>/dev/null) ||
		die "package $1 is not installed in $RS_ROOT"
	up=${v#*:}
	case "$up" in
	"$2"*) ;;
	*) die "package $1 is $v in $RS_ROOT, want $2*" ;;
	esac
done
rv=$(chroot "$RS_ROOT" rustc --version)
case "$rv" in "rustc 1.85.1"*) ;; *) die "rustc in root is '$rv', want 1.85.1" ;; esac
bv=$(chroot "$RS_ROOT" bindgen --version)
case "$bv" in "bindgen 0.71.1"*) ;; *) die "bindgen in root is '$bv', want 0.71.1" ;; esac
# The guests boot this root with virtme-ng's shell init, which runs
# systemd-tmpfiles and, when it finds systemd-udevd, a udev coldplug: measured
# 36 s and 174 s of a 312 s debug-guest boot under TCG, and udevd then handles
# every uevent of the tests (module loads, mounts) beside them. The guests
# need neither (devtmpfs makes the device nodes; the tests make their own
# files), so all three programs are diverted away (the packages stay
# installed). The one thing the init needs from udev, the
# /dev/virtio-ports/NAME links to its script's I/O ports, is made by
# scripts/guest-udevd, installed as systemd-udevd and udevadm. Idempotent.
for f in /usr/lib/systemd/systemd-udevd /usr/bin/udevadm /usr/bin/systemd-tmpfiles; do
	if [ -z "$(chroot "$RS_ROOT" dpkg-divert --list "$f")" ]; then
		chroot "$RS_ROOT" dpkg-divert --local --rename --divert "$f.rmap-shadow-off" --add "$f" >/dev/null ||
			die "cannot divert $f in $RS_ROOT"
	fi
done
for f in /usr/lib/systemd/systemd-udevd /usr/bin/udevadm; do
	if ! cmp -s "$RS_REPO/scripts/guest-udevd" "$RS_ROOT$f"; then
		rm -f "$RS_ROOT$f"
		install -m 0755 "$RS_REPO/scripts/guest-udevd" "$RS_ROOT$f"
	fi
done
log "toolchain root ready: $RS_ROOT ($rv, $bv)"
