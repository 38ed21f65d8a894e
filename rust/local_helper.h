/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of the module-local bindgen step (see ../Kbuild and sys.rs):
 * declarations the kernel crate's `bindings` lack or keeps opaque, and the
 * helpers in helpers.c.
 */
#ifndef RMAP_SHADOW_LOCAL_HELPER_H
#define RMAP_SHADOW_LOCAL_HELPER_H
#include <linux/kprobes.h>
#include <linux/namei.h>
#include <linux/utsname.h>

struct mm_struct;

/* Values of macros bindgen cannot evaluate (BIT()). */
enum { RS_LOOKUP_FOLLOW = LOOKUP_FOLLOW };

/* numa_node_id() of the current CPU. */
int rs_numa_node_id(void);
/*
 * Stores up to @max mm_structs of live processes in @out, each with a
 * reference from get_task_mm() (drop with mmput()); returns how many.
 */
int rs_collect_mms(struct mm_struct **out, int max);
#endif
