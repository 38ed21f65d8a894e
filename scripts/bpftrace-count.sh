#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bpftrace-count.sh CMD [ARG...]
#
# Count, with bpftrace, the calls of every kernel function rmap_shadow taps
# while CMD runs, beside the module's own hits of each tap over the same
# window: what a user would do with bpftrace instead of the module, and
# the check that both see the same events (selftests/bpftrace_test.sh
# asserts equality). bpftrace counts inside the module's window only, from
# the read of `taps` before CMD to the one after it (selftests/lib.sh:
# rs_bpftrace_prog -w); what it saw outside is printed after the table.
# A row marked DIFFERENT is a disagreement (or a call on another CPU during
# one of the two reads themselves). Runs on the machine itself (a guest or a user's own
# box), as root, with rmap_shadow loaded (its `taps` table names the
# functions) and bpftrace installed. Prints "function module bpftrace"
# (selftests/lib.sh: rs_bpftrace_table).
set -euo pipefail
. "$(dirname "$0")/../selftests/lib.sh"
[ $# -gt 0 ] || { echo "usage: bpftrace-count.sh CMD [ARG...]" >&2; exit 2; }
[ -r "$RS_DEBUGFS/taps" ] || { echo "bpftrace-count.sh: rmap_shadow is not loaded ($RS_DEBUGFS/taps)" >&2; exit 1; }
rs_bpftrace_usable || { echo "bpftrace-count.sh: no bpftrace or no kprobe events (scripts/doctor.sh)" >&2; exit 1; }
mapfile -t syms < <(rs_tap_symbols)
# shellcheck disable=SC2034 # filled and read by selftests/lib.sh through namerefs
declare -A t0 t1 RS_BT_COUNT RS_BT_OUT
rs_bpftrace_start -w "${syms[@]}"
rs_taps_read t0
rc=0
"$@" || rc=$?
rs_taps_read t1
rs_bpftrace_stop
rs_bpftrace_table '' t0 t1 "${syms[@]}" || true
rs_bpftrace_outside '' "${syms[@]}"
[ "$RS_BT_EDGES" = 2 ] || echo "bpftrace-count.sh: bpftrace's window opened and closed $RS_BT_EDGES times, not 2: the counts are not comparable" >&2
exit $rc
