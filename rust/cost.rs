// SPDX-License-Identifier: GPL-2.0

//! The split i_mmap patch's memory cost, per inode, modelled from the
//! running kernel's sizes (the `memory` file; `Documentation/debugfs.rst`).
//!
//! Pure Rust with no kernel dependency (the sizes come in as numbers): also
//! built by the host-side tests (`tests/host`).

/// What the patch adds to each mapped inode with `trees` sibling trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PatchCost {
    /// Sibling trees per inode.
    pub(crate) trees: usize,
    /// `struct i_mmap_tree { struct rb_root_cached root; struct
    /// rw_semaphore rwsem; atomic_t vma_count; }`, bytes.
    pub(crate) tree_struct: usize,
    /// What the allocator really gives for one tree.
    pub(crate) tree_alloc: usize,
    /// What the allocator gives for the NULL-terminated tree pointer array.
    pub(crate) array_alloc: usize,
    /// Change of `struct address_space`: `i_mmap` and `i_mmap_rwsem` go, a
    /// pointer and an `atomic_t` come.
    pub(crate) address_space_delta: i64,
    /// Everything, per inode.
    pub(crate) per_inode: i64,
}

impl PatchCost {
    /// The cost with `trees` trees, given this kernel's sizes of
    /// `rb_root_cached` (`root`), `rw_semaphore` (`rwsem`, which depends on
    /// lock debugging) and a pointer (`ptr`), and its allocator's rounding
    /// (`kmalloc`: the bytes an allocation of that size really takes).
    pub(crate) fn new(
        trees: usize,
        root: usize,
        rwsem: usize,
        ptr: usize,
        kmalloc: impl Fn(usize) -> usize,
    ) -> Self {
        const ATOMIC_T: usize = 4;
        let tree_struct = (root + rwsem + ATOMIC_T).next_multiple_of(8);
        let tree_alloc = kmalloc(tree_struct);
        let array_alloc = kmalloc((trees + 1) * ptr);
        let address_space_delta = (ptr + ATOMIC_T) as i64 - (root + rwsem) as i64;
        let per_inode = (trees * tree_alloc + array_alloc) as i64 + address_space_delta;
        Self {
            trees,
            tree_struct,
            tree_alloc,
            array_alloc,
            address_space_delta,
            per_inode,
        }
    }
}
