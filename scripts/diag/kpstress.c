// SPDX-License-Identifier: GPL-2.0
/* The same kprobes as rmap_shadow, counting only: is a load/unload crash ours? */
#include <linux/kprobes.h>
#include <linux/module.h>
static const char *const syms[] = {
	"vm_area_free", "mapping_rmap_tree_remove", "anon_rmap_tree_remove",
	"__put_anon_vma", "unlink_anon_vmas", "mapping_rmap_tree_insert",
	"mapping_rmap_tree_insert_after", "__rmap_walk_file", "__anon_vma_prepare",
	"anon_vma_clone", "anon_vma_fork", "anon_rmap_tree_insert", "vm_area_alloc",
	"vm_area_dup",
};
#define N ARRAY_SIZE(syms)
static struct kprobe kps[N];
static struct kprobe *kpp[N];
static atomic_long_t hits;
static int pre(struct kprobe *p, struct pt_regs *regs)
{
	atomic_long_inc(&hits);
	return 0;
}
static int __init kps_init(void)
{
	int i, ret;
	for (i = 0; i < N; i++) {
		kps[i].symbol_name = syms[i];
		kps[i].pre_handler = pre;
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
static void __exit kps_exit(void)
{
	unregister_kprobes(kpp, N);
	pr_info("kpstress: %ld hits\n", atomic_long_read(&hits));
}
module_init(kps_init);
module_exit(kps_exit);
MODULE_DESCRIPTION("rmap_shadow's kprobes, counting only (diagnostic)");
MODULE_LICENSE("GPL");
