#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of scripts/run.sh (runs inside a guest, from the repository).
# Parameters from the environment:
#   RS_KO      the module
#   RS_POLICY  the policy to select ("POLICY [TREES]")
#   RS_SECS    seconds of execl storm
#
# Loads the module, selects the policy, runs one execl storm (one process
# per CPU, pinned per CPU) and prints the module's views after it, then
# `verify all`, and unloads.
set -euo pipefail
. "$(dirname "$0")/../../selftests/lib.sh"
D=$RS_DEBUGFS
insmod "$RS_KO"
echo "$RS_POLICY" >"$D/policy"
echo reset >"$D/locks"
echo '## status'
cat "$D/status"
echo "## execl storm: $RS_SECS s, one process per CPU, pinned per CPU"
"$RS_BIN/execl_storm" -n "$(nproc)" -d "$RS_SECS" -p cpu
echo '## policy'
cat "$D/policy"
echo '## libc.so.6 and ld.so after the storm (files)'
grep -E '^path |/libc.so.6 |/ld-linux-x86-64.so.2 ' "$D/files"
echo '## locks: totals per design, then libc.so.6 per lock (ns)'
grep -E '^path |^\* |/libc.so.6 ' "$D/locks"
echo '## anon: real vs ANON_VMA_LAZY live objects'
cat "$D/anon"
echo '## taps: hits and handler cost (ns)'
cat "$D/taps"
echo '## stats'
cat "$D/stats"
echo all >"$D/verify"
echo "verify: $(cat "$D/verify")"
rmmod rmap_shadow
