/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of the module-local bindgen step (see ../Kbuild and sys.rs):
 * declarations the kernel crate's `bindings` lack or keeps opaque, and the
 * helpers in helpers.c.
 */
#ifndef RMAP_SHADOW_LOCAL_HELPER_H
#define RMAP_SHADOW_LOCAL_HELPER_H
#include <linux/gfp.h>
#include <linux/kprobes.h>
#include <linux/namei.h>
#include <linux/rmap.h>
#include <linux/sched/clock.h>
#include <linux/utsname.h>

struct mm_struct;
struct vm_area_struct;
struct anon_vma;
struct anon_vma_chain;

/* Values of macros bindgen cannot evaluate (BIT()). */
enum { RS_LOOKUP_FOLLOW = LOOKUP_FOLLOW };
/*
 * The flags of every allocation in a tap or under a shadow spinlock: never
 * sleep or reclaim, never the emergency reserves, never a warning.
 */
enum { RS_GFP_TAP = GFP_NOWAIT | __GFP_NOWARN | __GFP_NOMEMALLOC };

/* Object sizes of the real slab caches (kmem_cache_create(sizeof(...))). */
enum {
	RS_SIZEOF_VMA = sizeof(struct vm_area_struct),
	RS_SIZEOF_AVC = sizeof(struct anon_vma_chain),
	RS_SIZEOF_ANON_VMA = sizeof(struct anon_vma),
};

/*
 * What a tap needs of the context it runs in, in one call (each of these is
 * a static inline or a per-CPU read that Rust reaches only through an
 * out-of-line helper). Read in a kprobe handler (preemption off), cpu and
 * node stay true until it returns.
 */
struct rs_tap_ctx {
	void *task;		/* current */
	unsigned int cpu;	/* raw_smp_processor_id() */
	int node;		/* numa_node_id() */
	int in_task;		/* in_task() */
};
void rs_tap_ctx(struct rs_tap_ctx *c);
/*
 * Stores up to @max mm_structs of live processes in @out, each with a
 * reference from get_task_mm() (drop with mmput()); returns how many.
 */
int rs_collect_mms(struct mm_struct **out, int max);
/*
 * Stores up to @max anon_vmas of @vma's anon_vma_chain list (one per AVC)
 * in @avs; returns the chain's length. The caller keeps the list stable.
 */
int rs_vma_anon_vmas(struct vm_area_struct *vma, struct anon_vma **avs, int max);
/*
 * anon_vma_lock_read(@av) / anon_vma_unlock_read(@av) (mm/internal.h):
 * @av's root rwsem, for read.
 * Sleeps. The caller keeps @av live (a VMA of a read-locked mm links it).
 */
void rs_anon_vma_lock_read(struct anon_vma *av);
void rs_anon_vma_unlock_read(struct anon_vma *av);
/* The AVCs in @av's interval tree; the caller holds its root's rwsem. */
unsigned long rs_anon_vma_nr_avcs(struct anon_vma *av);
/* @av->num_children (racy read: a classification hint). */
unsigned long rs_anon_vma_num_children(struct anon_vma *av);
/*
 * At the entry of __put_anon_vma(@av): the root it will free with @av
 * (root != av and this is the root's last reference), else NULL.
 */
struct anon_vma *rs_anon_vma_dying_root(struct anon_vma *av);
/* cond_resched(). */
void rs_cond_resched(void);
/* cpu_online(@cpu), cpu_to_node(@cpu). */
int rs_cpu_online(unsigned int cpu);
int rs_cpu_to_node(unsigned int cpu);
/* try_module_get(THIS_MODULE), module_put(THIS_MODULE). */
bool rs_module_get(void);
void rs_module_put(void);
/* @vma->anon_vma. */
struct anon_vma *rs_vma_anon_vma(struct vm_area_struct *vma);
/*
 * The shadow trees' node cache: created at load with objects of @size bytes
 * (0 or -ENOMEM), destroyed at unload; nodes allocated with RS_GFP_TAP on
 * node @nid (NUMA_NO_NODE: the local one); the object size.
 */
int rs_nodes_init(unsigned int size);
void rs_nodes_exit(void);
void *rs_node_alloc(int nid);
void rs_node_free(void *p);
unsigned int rs_node_size(void);
/* kmalloc_size_roundup(): the bytes kmalloc really gives a request. */
size_t rs_kmalloc_bytes(size_t size);
#endif
