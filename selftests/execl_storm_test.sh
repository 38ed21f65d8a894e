#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# An execl storm with rmap_shadow loaded: the storm completes, and the tap
# saw, per exec, between K and 4K file VMA links, where K is the number of
# file VMAs one exec of the storm's program leaves mapped (the binary, ld.so,
# libc: `execl_storm --file-vmas` counts its own). Links beyond K are
# the remove/re-insert pairs and new pieces of the splits ld.so makes
# (mprotect of RELRO). The module unloads cleanly afterwards.
set -u
. "$(dirname "$0")/lib.sh"

ksft_require_root
rs_unload_quiet
rs_load || ksft_fail "load failed"

# K: file VMAs one exec of the storm program leaves mapped.
k=$("$RS_BIN/execl_storm" --file-vmas) || ksft_fail "execl_storm --file-vmas failed"
echo "# file VMAs per exec: $k"
[ "$k" -ge 3 ] || ksft_fail "an exec maps $k file VMAs (< 3: binary, ld.so, libc)"

before=$(rs_status tap.mapping_rmap_tree_insert)
out=$("$RS_BIN/execl_storm" -n "$(nproc)" -d 3 -p cpu) || ksft_fail "execl_storm failed: $out"
echo "# $out"
after=$(rs_status tap.mapping_rmap_tree_insert)
loops=$(sed -n 's/.* loops=\([0-9]*\) .*/\1/p' <<<"$out")
d=$((after - before))
echo "# loops=$loops tap delta=$d (bounds $((k * loops))..$((4 * k * loops + 200)))"
[ "${loops:-0}" -gt 0 ] || ksft_fail "no execl loops"
[ "$d" -ge $((k * loops)) ] || ksft_fail "tap saw $d file VMA links for $loops execs (< $k per exec)"
# 200: other processes of the guest (udev, the shell) meanwhile.
[ "$d" -le $((4 * k * loops + 200)) ] || ksft_fail "tap saw $d file VMA links for $loops execs (> 4 x $k per exec)"
rs_unload || ksft_fail "unload failed"
ksft_pass
