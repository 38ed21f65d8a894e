#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# An execl storm with rmap_shadow loaded: the storm completes, and the tap
# saw, per exec, between K and 4K file VMA links, where K is the number of
# file VMAs one exec of the storm's program leaves mapped (the binary, ld.so,
# libc: `execl_storm --file-vmas` counts its own). Links beyond K are
# the remove/re-insert pairs and new pieces of the splits ld.so makes
# (mprotect of RELRO). The same from an in-memory copy (-m: the binary's
# VMAs then map a memfd, a shmem file). The module unloads cleanly
# afterwards.
set -u
. "$(dirname "$0")/lib.sh"

ksft_require_root
rs_unload_quiet
rs_load || ksft_fail "load failed"

# K: file VMAs one exec of the storm program leaves mapped.
k=$("$RS_BIN/execl_storm" --file-vmas) || ksft_fail "execl_storm --file-vmas failed"
echo "# file VMAs per exec: $k"
[ "$k" -ge 3 ] || ksft_fail "an exec maps $k file VMAs (< 3: binary, ld.so, libc)"

# links_storm [ARGS]: one storm (ARGS: e.g. -m, from a memfd copy, whose
# file VMAs are shmem's), its file VMA links checked against K per exec.
links_storm() {
	local before after out loops d
	before=$(rs_status tap.mapping_rmap_tree_insert)
	out=$("$RS_BIN/execl_storm" -n "$(nproc)" -d 3 -p cpu "$@") || ksft_fail "execl_storm $* failed: $out"
	echo "# $out"
	case " $* " in *" -m "*) [[ $out == *" mem=1" ]] || ksft_fail "execl_storm -m: no mem=1 in its line" ;; esac
	after=$(rs_status tap.mapping_rmap_tree_insert)
	loops=$(sed -n 's/.* loops=\([0-9]*\) .*/\1/p' <<<"$out")
	d=$((after - before))
	echo "# loops=$loops tap delta=$d (bounds $((k * loops))..$((4 * k * loops + 200)))"
	[ "${loops:-0}" -gt 0 ] || ksft_fail "no execl loops ($*)"
	[ "$d" -ge $((k * loops)) ] || ksft_fail "tap saw $d file VMA links for $loops execs (< $k per exec; $*)"
	# 200: other processes of the guest (udev, the shell) meanwhile.
	[ "$d" -le $((4 * k * loops + 200)) ] || ksft_fail "tap saw $d file VMA links for $loops execs (> 4 x $k per exec; $*)"
}
links_storm
links_storm -m

# The walk-heavy storm (-w): one worker, so no page of its file is mapped
# by another process (MADV_PAGEOUT leaves those alone): each loop pages out
# its 4 pages, and reclaim walks each one's file rmap. At least one walk
# per loop, at most two per page (folio_referenced, try_to_unmap).
# Pinned (-p cpu), as selftests/execl_storm.c's -w requires.
before=$(rs_stat tap.__rmap_walk_file)
out=$("$RS_BIN/execl_storm" -n 1 -d 2 -w 4 -p cpu) || ksft_fail "execl_storm -w failed: $out"
echo "# $out"
after=$(rs_stat tap.__rmap_walk_file)
loops=$(sed -n 's/.* loops=\([0-9]*\) .*/\1/p' <<<"$out")
d=$((after - before))
echo "# walk-heavy: loops=$loops walks=$d (bounds $loops..$((8 * loops + 200)))"
[ "${loops:-0}" -gt 0 ] || ksft_fail "no walk-heavy loops"
[ "$d" -ge "$loops" ] || ksft_fail "$d rmap walks for $loops walk-heavy loops (< 1 per loop)"
[ "$d" -le $((8 * loops + 200)) ] || ksft_fail "$d rmap walks for $loops loops of 4 pages (> 2 per page)"
rs_unload || ksft_fail "unload failed"
ksft_pass
