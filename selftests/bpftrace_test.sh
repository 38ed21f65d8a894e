#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bpftrace, the peer a user would pick instead, counts the module's probe
# points over the same storms: its count of each function equals the hits
# of the module's tap on it, exactly.
#
# bpftrace (one kprobe per function) attaches first and counts only inside
# the module's window (selftests/lib.sh: rs_bpftrace_prog -w): from the
# test shell's read of the module's `taps` table (rs_taps_read, builtins
# only) before an execl storm and a walk-heavy storm to its read of `taps`
# after them, the two reads at which the module sums its hits. Both count
# every process in that window: the storms, the shell, bpftrace itself,
# the guest's other processes (udevd) and kernel threads (kcompactd's
# migrations walk file rmaps). Calls outside the window (before the first
# read, after the second, until bpftrace stops) are printed, not compared:
# a kernel thread's call there is no disagreement. The module's hits leave
# out calls outside task context (stats tap.not_task, which must stay 0:
# none of these functions runs there). Only a call on another CPU during
# one of the two reads themselves could fall on different sides of the
# two snapshots.
#
# Needs bpftrace and a kernel with BPF_SYSCALL, BPF_EVENTS and
# KPROBE_EVENTS (scripts/doctor.sh says what is missing): without them a
# skip on a user's own machine, a failure where they are expected
# (RS_EXPECT_BPFTRACE=1: scripts/test.sh's guests, whose kernels
# scripts/kconfig/rmap-shadow.config gives them and whose root has
# bpftrace).
set -u
. "$(dirname "$0")/lib.sh"

ksft_require_root
if ! rs_bpftrace_usable; then
	[ "${RS_EXPECT_BPFTRACE:-0}" = 1 ] &&
		ksft_fail "bpftrace or the kernel's kprobe events are missing (scripts/doctor.sh)"
	ksft_skip "no bpftrace or no kprobe events in this kernel"
fi
rs_unload_quiet
rs_load || ksft_fail "load failed"

mapfile -t syms < <(rs_tap_symbols)
[ "${#syms[@]}" -ge 14 ] || ksft_fail "the module lists ${#syms[@]} taps (< 14)"
nt0=$(rs_stat tap.not_task)

# shellcheck disable=SC2034 # filled and read by selftests/lib.sh through namerefs
declare -A t0 t1 RS_BT_COUNT RS_BT_OUT
rs_bpftrace_start -w "${syms[@]}" || ksft_fail "bpftrace did not start"
rs_taps_read t0
out=$("$RS_BIN/execl_storm" -n "$(nproc)" -d 2 -p cpu)
rc1=$?
# Pinned (-p cpu), as selftests/execl_storm.c's -w requires.
wout=$("$RS_BIN/execl_storm" -n 1 -d 2 -w 4 -p cpu)
rc2=$?
rs_taps_read t1
rs_bpftrace_stop || ksft_fail "bpftrace did not stop cleanly"
bad=0
tab=$(rs_bpftrace_table '# ' t0 t1 "${syms[@]}") || bad=1
# The verdict's lines first: a log excerpt keeps a test's first lines.
if [ $bad = 1 ]; then
	echo "# DIFFERENT rows (module's hits, bpftrace's count):"
	grep DIFFERENT <<<"$tab"
fi
rs_bpftrace_outside '# ' "${syms[@]}"
echo "# $out"
echo "# $wout"
echo "$tab"
[ $rc1 = 0 ] && [ $rc2 = 0 ] || ksft_fail "a storm failed"
[ "$RS_BT_EDGES" = 2 ] || ksft_fail "bpftrace's window opened and closed $RS_BT_EDGES times (not 2): the two reads of taps were not both seen"
nt1=$(rs_stat tap.not_task)
[ "$nt1" = "$nt0" ] || ksft_fail "tap.not_task moved $nt0 -> $nt1: the hits leave out calls bpftrace counts"

# The comparison must have something to compare: the storms link, unlink,
# walk, free and fork.
for s in mapping_rmap_tree_insert mapping_rmap_tree_remove __rmap_walk_file vm_area_free \
	vm_area_dup anon_vma_fork unlink_anon_vmas; do
	[ "${RS_BT_COUNT[$s]:-0}" -gt 0 ] || ksft_fail "bpftrace counted no call of $s over the storms"
done
[ $bad = 0 ] || ksft_fail "bpftrace's counts differ from the module's tap hits"
rs_unload || ksft_fail "unload failed"
ksft_pass
