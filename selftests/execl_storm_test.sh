#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# An execl storm with rmap_shadow loaded: the storm completes, the tap sees
# the real kernel link file VMAs for every exec (at least 3 per loop: the
# binary, ld.so and libc.so), and the module unloads cleanly afterwards.
set -u
. "$(dirname "$0")/lib.sh"

ksft_require_root
rs_unload_quiet
rs_load || ksft_fail "load failed"

before=$(rs_status tap.mapping_rmap_tree_insert)
out=$("$RS_BIN/execl_storm" -n "$(nproc)" -d 3 -p cpu) || ksft_fail "execl_storm failed: $out"
echo "# $out"
after=$(rs_status tap.mapping_rmap_tree_insert)
loops=$(sed -n 's/.* loops=\([0-9]*\) .*/\1/p' <<<"$out")
echo "# loops=$loops tap delta=$((after - before))"
[ "${loops:-0}" -gt 0 ] || ksft_fail "no execl loops"
[ $((after - before)) -ge $((3 * loops)) ] || ksft_fail "tap saw $((after - before)) file VMA links for $loops execs (< 3 per exec)"
rs_unload || ksft_fail "unload failed"
ksft_pass
