#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs last: the kernel log since boot has no WARN/BUG/lockdep/KASAN/UBSAN
# report, and a kmemleak scan (debug kernels) finds no leak from rmap_shadow.
set -u
. "$(dirname "$0")/lib.sh"

ksft_require_root
rs_unload_quiet

# Report headers only (boot banners such as "RCU lockdep checking is enabled"
# must not match).
pat='WARNING:|BUG:|Oops|general protection fault|UBSAN:|possible circular locking dependency|possible recursive locking|inconsistent lock state|suspicious RCU usage|DEBUG_LOCKS_WARN_ON|sleeping function called from invalid context|Kernel panic|kernel BUG'
if dmesg | grep -E "$pat" >/tmp/rs_dmesg_bad; then
	sed 's/^/# /' /tmp/rs_dmesg_bad | head -n 40
	dmesg | grep -E -A 30 "$pat" | sed 's/^/# /' | head -n 120
	ksft_fail "kernel log has reports"
fi

kml=/sys/kernel/debug/kmemleak
if [ -w "$kml" ]; then
	# Objects must be unreferenced across scans and older than 5 s.
	echo scan >"$kml"; sleep 6; echo scan >"$kml"
	leaks=$(cat "$kml")
	n=$(grep -c '^unreferenced object' <<<"$leaks" || true)
	ours=$(grep -c 'rmap_shadow' <<<"$leaks" || true)
	echo "# kmemleak: $n unreferenced objects, $ours mentioning rmap_shadow"
	[ "$ours" = 0 ] || { sed 's/^/# /' <<<"$leaks" | grep -B 12 -A 4 rmap_shadow | head -n 80; ksft_fail "kmemleak: leak from rmap_shadow"; }
else
	echo "# kmemleak not available on this kernel"
fi
ksft_pass
