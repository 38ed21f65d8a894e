#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs last: the kernel log since boot has no report (WARN, BUG, lockdep,
# KASAN, UBSAN, RCU stall, the module's own replay warning), lockdep is still
# on (debug_locks), and kmemleak finds nothing the module allocated.
#
# kmemleak: test.sh clears it before the run (RS_EXPECT_KMEMLEAK=1: a debug
# kernel, where an unusable kmemleak is a failure). Here the module is loaded
# and driven once more (an execl storm and a walk: taps in other tasks), then
# scanned while loaded (the module's frames resolve to [rmap_shadow]) and
# again after unload (its frames are then bare addresses in the module area).
set -u
. "$(dirname "$0")/lib.sh"

ksft_require_root
rs_unload_quiet

# Report headers only (boot banners such as "RCU lockdep checking is enabled"
# must not match).
pat='WARNING:|BUG:|Oops|general protection fault|UBSAN:|possible circular locking dependency|possible recursive locking|inconsistent lock state|suspicious RCU usage|DEBUG_LOCKS_WARN_ON|sleeping function called from invalid context|Kernel panic|kernel BUG|rcu: INFO:|detected stall|turning off the locking correctness validator|queued lock replays|suspected memory leaks|blocked for more than'
if dmesg | grep -E "$pat" >/tmp/rs_dmesg_bad; then
	sed 's/^/# /' /tmp/rs_dmesg_bad | head -n 40
	dmesg | grep -E -A 30 "$pat" | sed 's/^/# /' | head -n 120
	ksft_fail "kernel log has reports"
fi
if [ -r /proc/lockdep_stats ]; then
	dl=$(sed -n 's/^ *debug_locks: *//p' /proc/lockdep_stats)
	echo "# lockdep debug_locks: $dl"
	[ "$dl" = 1 ] || ksft_fail "lockdep switched itself off (debug_locks=$dl)"
fi

kml=/sys/kernel/debug/kmemleak
# Any command but "clear" fails (EPERM) once kmemleak is off or has
# disabled itself; "scan=off" stops the automatic scans (none are configured)
# and keeps what was found so far ("clear" would forget it).
if ! { [ -w "$kml" ] && echo scan=off >"$kml" 2>/dev/null; }; then
	[ "${RS_EXPECT_KMEMLEAK:-0}" = 1 ] && ksft_fail "kmemleak is not usable on this debug kernel"
	echo "# kmemleak not available on this kernel"
	ksft_pass
fi
# A scan reports the unreferenced objects older than 5 s (jiffies_min_age):
# wait that long after the last allocation of interest, then scan once (a
# scan takes about 12 s on a 1n2c debug guest). A failed scan is a failure.
scan() { sleep 6; echo scan >"$kml" || ksft_fail "kmemleak scan failed"; cat "$kml"; }
# step WHAT: one line per step with the seconds since boot, so that a hang
# (the runner's timeout) shows which step it was in.
step() { echo "# step at $(cut -d' ' -f1 /proc/uptime) s: $*"; }
# Report blocks ("unreferenced object ...") whose backtrace matches $1.
blocks() { awk -v re="$1" '/^unreferenced object/ { if (b ~ re) print b; b = "" } { b = b $0 "\n" } END { if (b ~ re) print b }'; }

step load
rs_load || ksft_fail "load failed"
step execl storm
"$RS_BIN/execl_storm" -n "$(nproc)" -d 2 -p cpu >/dev/null || ksft_fail "execl_storm failed"
step verify
echo all >"$RS_DEBUGFS/verify"
step kmemleak scan, loaded
leaks=$(scan)
ours=$(blocks 'rmap_shadow' <<<"$leaks")
echo "# kmemleak with the module loaded: $(grep -c '^unreferenced object' <<<"$leaks") unreferenced, $(grep -c '^unreferenced object' <<<"$ours") from rmap_shadow"
[ -z "$ours" ] || { sed 's/^/# /' <<<"$ours" | head -n 80; ksft_fail "kmemleak: leak from rmap_shadow (loaded)"; }
step unload
rs_unload || ksft_fail "unload failed"
step kmemleak scan, unloaded
leaks=$(scan)
# After unload the module's frames print as raw addresses in the module
# area (0xffffffffa0000000..): any such frame is ours (the only module).
ours=$(blocks '\] 0xffffffff[a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]' <<<"$leaks")
echo "# kmemleak after unload: $(grep -c '^unreferenced object' <<<"$leaks") unreferenced, $(grep -c '^unreferenced object' <<<"$ours") with module frames"
[ -z "$ours" ] || { sed 's/^/# /' <<<"$ours" | head -n 80; ksft_fail "kmemleak: leak from rmap_shadow (after unload)"; }
ksft_pass
