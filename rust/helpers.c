// SPDX-License-Identifier: GPL-2.0
/*
 * The few things Rust cannot reach: static inlines and macros. Kept tiny;
 * declared in local_helper.h, bound by the module-local bindgen step.
 */
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/topology.h>
#include "local_helper.h"

void rs_tap_ctx(struct rs_tap_ctx *c)
{
	c->task = current;
	c->cpu = raw_smp_processor_id();
	c->node = numa_node_id();
	c->in_task = in_task();
}

int rs_collect_mms(struct mm_struct **out, int max)
{
	struct task_struct *p;
	int n = 0;

	rcu_read_lock();
	for_each_process(p) {
		struct mm_struct *mm;

		if (n == max)
			break;
		mm = get_task_mm(p);
		if (mm)
			out[n++] = mm;
	}
	rcu_read_unlock();
	return n;
}

int rs_vma_anon_vmas(struct vm_area_struct *vma, struct anon_vma **avs, int max)
{
	struct anon_vma_chain *avc;
	int n = 0;

	list_for_each_entry(avc, &vma->anon_vma_chain, same_vma) {
		if (n < max)
			avs[n] = avc->anon_vma;
		n++;
	}
	return n;
}

/* anon_vma_lock_read() and its unlock, from mm/internal.h (no header a module sees). */
void rs_anon_vma_lock_read(struct anon_vma *av)
{
	down_read(&av->root->rwsem);
}

void rs_anon_vma_unlock_read(struct anon_vma *av)
{
	up_read(&av->root->rwsem);
}

unsigned long rs_anon_vma_nr_avcs(struct anon_vma *av)
{
	struct rb_node *n;
	unsigned long count = 0;

	for (n = rb_first_cached(&av->rb_root); n; n = rb_next(n))
		count++;
	return count;
}

unsigned long rs_anon_vma_num_children(struct anon_vma *av)
{
	return READ_ONCE(av->num_children);
}

struct anon_vma *rs_anon_vma_dying_root(struct anon_vma *av)
{
	struct anon_vma *root = av->root;

	return root != av && atomic_read(&root->refcount) == 1 ? root : NULL;
}

struct anon_vma *rs_vma_anon_vma(struct vm_area_struct *vma)
{
	return READ_ONCE(vma->anon_vma);
}

int rs_cpu_online(unsigned int cpu)
{
	return cpu_online(cpu);
}

int rs_cpu_to_node(unsigned int cpu)
{
	return cpu_to_node(cpu);
}

void rs_cond_resched(void)
{
	cond_resched();
}

bool rs_module_get(void)
{
	return try_module_get(THIS_MODULE);
}

void rs_module_put(void)
{
	module_put(THIS_MODULE);
}

/* The shadow trees' node cache (rust/pool.rs). */
static struct kmem_cache *rs_nodes;

int rs_nodes_init(unsigned int size)
{
	rs_nodes = kmem_cache_create("rmap_shadow_node", size, 0, SLAB_NO_MERGE, NULL);
	return rs_nodes ? 0 : -ENOMEM;
}

void rs_nodes_exit(void)
{
	kmem_cache_destroy(rs_nodes);
	rs_nodes = NULL;
}

void *rs_node_alloc(int nid)
{
	return kmem_cache_alloc_node(rs_nodes, RS_GFP_TAP, nid);
}

void rs_node_free(void *p)
{
	kmem_cache_free(rs_nodes, p);
}

unsigned int rs_node_size(void)
{
	return kmem_cache_size(rs_nodes);
}

size_t rs_kmalloc_bytes(size_t size)
{
	return kmalloc_size_roundup(size);
}
