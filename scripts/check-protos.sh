#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check-protos.sh SRCTREE [FILE]: the static __rmap_walk_file() in
# SRCTREE/mm/rmap.c (or FILE) must have the prototype the walk tap assumes
# (rust/rmap_shadow.rs, TapKind::Walk reads mapping, pgoff_start and
# nr_pages from the 2nd..4th argument registers). No header declares it, so
# rust/protos.c cannot check it; this does, on the source text. Called by
# Kbuild; exit 1 with one message if it differs or cannot be found.
set -euo pipefail
srctree=$1
file=${2:-$srctree/mm/rmap.c}
want='static void __rmap_walk_file(struct folio *folio, struct address_space *mapping, pgoff_t pgoff_start, unsigned long nr_pages, struct rmap_walk_control *rwc, bool locked)'
if [ ! -r "$file" ]; then
	echo "rmap_shadow: cannot check the prototype of the static __rmap_walk_file: $file is missing (build against a kernel build tree with its source, or set RMAP_SHADOW_UNCHECKED_WALK=1 to build without this check)" >&2
	exit 1
fi
got=$(tr '\n\t' '  ' <"$file" | tr -s ' ' | grep -o 'static void __rmap_walk_file([^)]*)' | sed 's/( /(/' | sort -u)
if [ -z "$got" ]; then
	echo "rmap_shadow: no static __rmap_walk_file() in $file: this kernel's rmap differs from 7.3's; the walk tap cannot be used" >&2
	exit 1
fi
while IFS= read -r line; do
	if [ "$line" != "$want" ]; then
		echo "rmap_shadow: the prototype of __rmap_walk_file differs from what its tap assumes:" >&2
		echo "  kernel: $line" >&2
		echo "  tap:    $want" >&2
		exit 1
	fi
done <<<"$got"
