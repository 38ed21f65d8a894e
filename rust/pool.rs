// SPDX-License-Identifier: GPL-2.0

//! Node-local, fixed-size storage for the shadow trees' nodes.
//!
//! One slab cache (`rmap_shadow_node`, never merged with another, so
//! `/proc/slabinfo` shows it alone) of 48-byte [`Node`]s. Each tree
//! allocates with `kmem_cache_alloc_node()` on its own NUMA node, as the
//! split i_mmap patch places tree `i` on node `i`: a tree's memory stays on
//! its node, a node costs exactly the cache's object size, and a freed node
//! goes back to the slab at once (no arena that only grows, no `krealloc`
//! under a lock, no size cap below what the node's memory allows).
//!
//! Allocations use [`crate::TAP_GFP`]: never sleep, never reclaim, never
//! the reserves, never a warning; a failure is the caller's counted drop.
//! The cache is created at load before anything can allocate from it and
//! destroyed at unload after every tree is gone: `kmem_cache_destroy()`
//! complains loudly about any node still allocated, which the selftests'
//! log check turns into a failure (a leak check for free).

use crate::itree::{Node, Store};
use core::ptr::NonNull;
use kernel::prelude::*;

/// The node cache's lifetime: created by [`NodeCache::create`], destroyed
/// on drop. The module holds exactly one, and drops it after every tree.
pub(crate) struct NodeCache(());

impl NodeCache {
    /// Creates the cache. Sleeps (load only).
    pub(crate) fn create() -> Result<Self> {
        let size = core::mem::size_of::<Node>() as u32;
        // SAFETY: process context at load; the cache is not in use yet.
        let ret = unsafe { crate::sys::rs_nodes_init(size) };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(Self(()))
    }
}

impl Drop for NodeCache {
    fn drop(&mut self) {
        // SAFETY: dropped last at unload (or on a failed load), after every
        // tree and so every node: nothing allocates from the cache again.
        unsafe { crate::sys::rs_nodes_exit() };
    }
}

/// Bytes the slab gives each node (the cache's object size).
pub(crate) fn node_bytes() -> usize {
    // SAFETY: called only while the module is loaded (the cache exists).
    unsafe { crate::sys::rs_node_size() as usize }
}

/// The node store of one tree: the node cache, on the tree's NUMA node.
pub(crate) struct NodeStore {
    nid: i32,
}

impl NodeStore {
    /// Nodes from NUMA node `nid` (-1, `NUMA_NO_NODE`: the allocating
    /// CPU's node).
    pub(crate) fn new(nid: i32) -> Self {
        Self { nid }
    }
}

// SAFETY: `rs_node_alloc()` returns a fresh object of the node cache, whose
// object size is `size_of::<Node>()` and alignment at least 8 (slab objects
// are aligned to the word size); it is ours until `rs_node_free()`.
unsafe impl Store for NodeStore {
    fn alloc(&mut self) -> Option<NonNull<Node>> {
        // SAFETY: the cache exists while any tree does (see `NodeCache`);
        // the flags never sleep, so any context is fine.
        NonNull::new(unsafe { crate::sys::rs_node_alloc(self.nid) }.cast::<Node>())
    }

    unsafe fn free(&mut self, n: NonNull<Node>) {
        // SAFETY: `n` came from `rs_node_alloc()` (per the caller).
        unsafe { crate::sys::rs_node_free(n.as_ptr().cast()) };
    }
}
