// SPDX-License-Identifier: GPL-2.0
/*
 * Build-time checks of the prototypes the taps assume (rmap_shadow.rs:
 * Tap::handle reads the probed functions' arguments from the x86-64
 * argument registers). A kernel whose declaration differs fails the build
 * here, naming the function. No code: only static assertions.
 *
 * Functions declared in public headers are checked against the kernel's own
 * declarations; those declared in mm/internal.h against that header when
 * the kernel source is present (scripts/check-protos.sh checks the static
 * __rmap_walk_file in mm/rmap.c, which no header declares).
 */
#include <linux/mm.h>
#include <linux/rmap.h>

#define RS_PROTO(fn, type)                                                   \
	_Static_assert(__builtin_types_compatible_p(typeof(&fn), type),      \
		       "rmap_shadow: the prototype of " #fn " differs from "  \
		       "what its tap assumes (rust/rmap_shadow.rs Tap::handle)")

RS_PROTO(mapping_rmap_tree_insert,
	 void (*)(struct vm_area_struct *, struct address_space *));
RS_PROTO(mapping_rmap_tree_insert_after,
	 void (*)(struct vm_area_struct *, struct vm_area_struct *,
		  struct address_space *));
RS_PROTO(mapping_rmap_tree_remove,
	 void (*)(struct vm_area_struct *, struct address_space *));
RS_PROTO(anon_rmap_tree_insert,
	 void (*)(struct anon_vma_chain *, struct anon_vma *));
RS_PROTO(anon_rmap_tree_remove,
	 void (*)(struct anon_vma_chain *, struct anon_vma *));
RS_PROTO(vm_area_alloc, struct vm_area_struct *(*)(struct mm_struct *));
RS_PROTO(vm_area_dup, struct vm_area_struct *(*)(struct vm_area_struct *));
RS_PROTO(vm_area_free, void (*)(struct vm_area_struct *));

#ifdef RS_HAVE_MM_INTERNAL
#include "mm/internal.h"
RS_PROTO(__anon_vma_prepare, int (*)(struct vm_area_struct *));
RS_PROTO(anon_vma_fork,
	 int (*)(struct vm_area_struct *, struct vm_area_struct *));
RS_PROTO(unlink_anon_vmas, void (*)(struct vm_area_struct *));
RS_PROTO(__put_anon_vma, void (*)(struct anon_vma *));
RS_PROTO(anon_vma_clone,
	 int (*)(struct vm_area_struct *, struct vm_area_struct *,
		 enum vma_operation));
#endif

#ifdef RS_PROTO_SELFTEST
/* test.sh: a wrong expectation must fail the build. */
RS_PROTO(mapping_rmap_tree_insert,
	 void (*)(struct address_space *, struct vm_area_struct *));
#endif
