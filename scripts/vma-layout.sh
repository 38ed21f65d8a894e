#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vma-layout.sh [perf|debug]  — what ANON_VMA_LAZY's one field costs a VMA here
#
# The series (seed 003) adds one `rcuref_t vm_rcuref` to struct
# vm_area_struct, right after `vm_lock_seq`. This compiles
# include/linux/mm_types.h of the cached FLAVOR kernel (default perf) twice
# with that kernel's own compiler flags (those of mm/mmap.o): as it is, and
# with the field inserted where the series puts it, and prints clang's
# record layout of both (-fdump-record-layouts: every member's offset, the
# size and the alignment). The vm_area_struct slab cache is created with
# KMEM_CACHE (object size = sizeof, aligned to the struct's alignment), so
# the two sizes are the two kernels' slab objects. The anon table's
# vma_extra_bytes parameter is the difference.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
flavor=${1:-perf}
kdir=$("$RS_REPO/scripts/kernel.sh" "$flavor" --print-dir)
work=$RS_REPO/.vm/vma-layout.$$
mkdir -p "$work/linux"
trap 'rm -rf "$work"' EXIT
src=$(readlink "$kdir/source")
# The series' change: the field after vm_lock_seq (and rcuref.h).
{ echo '#include <linux/rcuref.h>'
  sed 's/^\tunsigned int vm_lock_seq;$/&\n\trcuref_t vm_rcuref; \/* ANON_VMA_LAZY (seed 003) *\//' \
	"$RS_CACHE/src/${src#/cache/src/}/include/linux/mm_types.h"; } >"$work/linux/mm_types.h"
grep -q 'rcuref_t vm_rcuref' "$work/linux/mm_types.h" || die "vm_lock_seq not found in mm_types.h"
printf '#include <linux/mm_types.h>\nint rs_layout_size = sizeof(struct vm_area_struct);\n' >"$work/l.c"
rs_chroot /bin/bash -c '
	cd "$1"; w=$2
	cmd=$(sed -n "s/^savedcmd_mm\/mmap.o := //p" mm/.mmap.o.cmd)
	cmd=${cmd%%;*}
	cmd=$(sed -e "s/-Wp,-MMD,[^ ]*//" -e "s/ -c -o mm\/mmap.o [^ ]*mmap.c *$//" <<<"$cmd")
	for v in real lazy; do
		inc=""; [ $v = lazy ] && inc="-I$w"
		echo "## $v"
		eval "${cmd/-nostdinc/-nostdinc $inc} -fsyntax-only -Xclang -fdump-record-layouts $w/l.c" 2>&1 |
			awk "/Dumping AST Record Layout/ { p = 0 } / \\| struct vm_area_struct\$/ { p = 1 } p" |
			grep -vE "^ +[0-9]+ \\|     "
	done
' x "/cache/${kdir#"$RS_CACHE"/}" "$work"
