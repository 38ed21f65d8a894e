// SPDX-License-Identifier: GPL-2.0
/*
 * The floor of tapping at all: rmap_shadow's 14 probe points with handlers
 * that return at once, by kprobes (mech=kprobe: what the module uses,
 * through ftrace on these function entries) or by one fprobe for all of
 * them (mech=fprobe: entry handler only). scripts/overhead.sh loads it in
 * place of the module for its `kprobe-floor` and `fprobe-floor`
 * configurations, to tell which mechanism is cheaper (issue: a cheaper
 * floor). A diagnostic, not part of rmap_shadow.ko.
 */
#include <linux/fprobe.h>
#include <linux/kprobes.h>
#include <linux/module.h>

static char *mech = "kprobe";
module_param(mech, charp, 0444);
MODULE_PARM_DESC(mech, "kprobe or fprobe");

static const char *syms[] = {
	"vm_area_free", "mapping_rmap_tree_remove", "anon_rmap_tree_remove",
	"__put_anon_vma", "unlink_anon_vmas", "mapping_rmap_tree_insert",
	"mapping_rmap_tree_insert_after", "__rmap_walk_file", "__anon_vma_prepare",
	"anon_vma_clone", "anon_vma_fork", "anon_rmap_tree_insert", "vm_area_alloc",
	"vm_area_dup",
};
#define N ARRAY_SIZE(syms)
static struct kprobe kps[N];
static struct kprobe *kpp[N];
static bool use_fprobe;

static int kp_pre(struct kprobe *p, struct pt_regs *regs)
{
	return 0;
}

static int fp_entry(struct fprobe *fp, unsigned long ip, unsigned long ret_ip,
		    struct ftrace_regs *regs, void *data)
{
	return 0;
}

static struct fprobe fp = { .entry_handler = fp_entry };

static int __init floor_init(void)
{
	int i, ret;

	if (!strcmp(mech, "fprobe")) {
		use_fprobe = true;
		return register_fprobe_syms(&fp, syms, N);
	}
	if (strcmp(mech, "kprobe"))
		return -EINVAL;
	for (i = 0; i < N; i++) {
		kps[i].symbol_name = syms[i];
		kps[i].pre_handler = kp_pre;
		ret = register_kprobe(&kps[i]);
		if (ret) {
			while (i--)
				unregister_kprobe(&kps[i]);
			return ret;
		}
		kpp[i] = &kps[i];
	}
	return 0;
}

static void __exit floor_exit(void)
{
	if (use_fprobe)
		unregister_fprobe(&fp);
	else
		unregister_kprobes(kpp, N);
}
module_init(floor_init);
module_exit(floor_exit);
MODULE_DESCRIPTION("rmap_shadow's probe points with empty handlers: kprobe or fprobe (diagnostic)");
MODULE_LICENSE("GPL");
