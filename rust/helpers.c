// SPDX-License-Identifier: GPL-2.0
/*
 * The few things Rust cannot reach: static inlines and macros. Kept tiny;
 * declared in local_helper.h, bound by the module-local bindgen step.
 */
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/topology.h>
#include "local_helper.h"

int rs_numa_node_id(void)
{
	return numa_node_id();
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
