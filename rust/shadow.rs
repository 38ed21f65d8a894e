// SPDX-License-Identifier: GPL-2.0

//! The shadow split i_mmap: per file, N sibling interval trees beside the
//! real `mapping->i_mmap`, fed by the file-rmap taps.
//!
//! Every file VMA the real kernel links into a file's i_mmap tree is linked
//! into one sibling tree of that file's shadow, chosen once by the policy
//! when the shadow first sees the VMA (the patch's `vma->tree_idx`, kept in a
//! per-VMA record). A fork child goes to its parent's tree
//! (`insert_after`), the remove/re-insert pairs of `vma_prepare()` /
//! `vma_complete()` keep the tree, and the record goes when the VMA is freed.
//!
//! All shadow state sits behind one spinlock ([`Shared::shadow`]), taken in
//! the taps (atomic context, inside the real `i_mmap_rwsem` held for write),
//! in the seeding walk (inside `mmap_read_lock`) and by debugfs (inside
//! `i_mmap_rwsem` held for read, when verifying). The lock order is always
//! real kernel locks first, then this one. Allocations under it never sleep;
//! a failure is a counted drop that marks the file degraded.

use crate::{
    itree::{Arena, ArenaFull, ITree, Node},
    locks::FileLocks,
    policy::{Policy, TreeCount},
    Shared,
};
use core::{alloc::Layout, ptr::NonNull};
use kernel::{
    alloc::{allocator::Kmalloc, Allocator, NumaNode},
    bindings,
    prelude::*,
    rbtree::RBTree,
    sync::Arc,
};

/// Flags of every allocation made under the shadow lock.
const ATOMIC: kernel::alloc::Flags = crate::TAP_GFP;

/// Node storage of one sibling tree, allocated on that tree's NUMA node.
///
/// # Invariants
///
/// `ptr` is `NonNull::dangling()` with `cap == 0`, or a `Kmalloc` allocation
/// of `Layout::array::<Node>(cap)` whose first `len` slots are initialised.
pub(crate) struct NodeArena {
    ptr: NonNull<Node>,
    len: usize,
    cap: usize,
    nid: NumaNode,
}

// SAFETY: `NodeArena` owns its allocation; `Node` is plain data.
unsafe impl Send for NodeArena {}

impl NodeArena {
    /// An empty arena whose memory will come from node `nid`.
    pub(crate) fn new(nid: NumaNode) -> Self {
        Self {
            ptr: NonNull::dangling(),
            len: 0,
            cap: 0,
            nid,
        }
    }

    /// Bytes allocated.
    fn bytes(&self) -> usize {
        self.cap * core::mem::size_of::<Node>()
    }
}

impl Arena for NodeArena {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, i: u32) -> &Node {
        assert!((i as usize) < self.len);
        // SAFETY: `i < len`, so the slot is initialised (type invariant).
        unsafe { &*self.ptr.as_ptr().add(i as usize) }
    }

    fn get_mut(&mut self, i: u32) -> &mut Node {
        assert!((i as usize) < self.len);
        // SAFETY: `i < len`, so the slot is initialised (type invariant), and
        // `&mut self` makes the reference unique.
        unsafe { &mut *self.ptr.as_ptr().add(i as usize) }
    }

    fn push(&mut self, n: Node) -> Result<(), ArenaFull> {
        if self.len == self.cap {
            let new_cap = (self.cap * 2).max(16);
            let layout = Layout::array::<Node>(new_cap).map_err(|_| ArenaFull)?;
            let old = Layout::array::<Node>(self.cap).map_err(|_| ArenaFull)?;
            let old_ptr = (self.cap != 0).then(|| self.ptr.cast::<u8>());
            // SAFETY: `old_ptr` is `None` or our allocation of layout `old`
            // (type invariant); `Kmalloc` keeps the first `len` slots.
            let p = unsafe { Kmalloc::realloc(old_ptr, layout, old, ATOMIC, self.nid) }
                .map_err(|_| ArenaFull)?;
            self.ptr = p.cast::<Node>();
            self.cap = new_cap;
        }
        // SAFETY: `len < cap`: the slot is inside the allocation.
        unsafe { self.ptr.as_ptr().add(self.len).write(n) };
        self.len += 1;
        Ok(())
    }
}

impl Drop for NodeArena {
    fn drop(&mut self) {
        if self.cap != 0 {
            if let Ok(layout) = Layout::array::<Node>(self.cap) {
                // SAFETY: `ptr` is our allocation of this layout (type
                // invariant); `Node` needs no drop.
                unsafe { Kmalloc::free(self.ptr.cast(), layout) };
            }
        }
    }
}

/// One sibling tree of a file.
pub(crate) struct Tree {
    /// The intervals.
    pub(crate) itree: ITree<NodeArena>,
    /// Links since creation (monotonic, for the `files` table).
    pub(crate) inserts: u64,
}

/// A counted reference to a `struct file`, dropped with `fput()`.
///
/// # Invariants
///
/// `0` holds one reference to a live `struct file`.
pub(crate) struct FileRef(NonNull<bindings::file>);

// SAFETY: a file reference may be dropped from any task and context.
unsafe impl Send for FileRef {}

impl FileRef {
    /// Takes a reference on `file`.
    ///
    /// # Safety
    ///
    /// `file` must be a live file (its refcount above zero) for the call.
    unsafe fn get(file: NonNull<bindings::file>) -> Self {
        // SAFETY: `file` is live, per the caller.
        unsafe { bindings::get_file(file.as_ptr()) };
        Self(file)
    }

    /// A new reference to the same file.
    pub(crate) fn clone_ref(&self) -> Self {
        // SAFETY: `self` holds a reference, so the file is live.
        unsafe { Self::get(self.0) }
    }

    /// The raw file.
    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.0.as_ptr()
    }

    /// The file's `address_space`.
    pub(crate) fn mapping(&self) -> *mut bindings::address_space {
        // SAFETY: the file is live (type invariant); `f_mapping` is set at open.
        unsafe { (*self.0.as_ptr()).f_mapping }
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: we hold one reference (type invariant). `fput()` may be
        // called in any context; the final put is deferred by the kernel.
        unsafe { bindings::fput(self.0.as_ptr()) };
    }
}

/// The shadow of one file's i_mmap.
pub(crate) struct FileShadow {
    /// Keeps the file, its inode and its `address_space` alive while the
    /// shadow refers to them.
    pub(crate) file: FileRef,
    /// The sibling trees.
    pub(crate) trees: KVec<Tree>,
    /// VMAs linked, over all trees.
    pub(crate) total: u64,
    /// Set when an event for this file was dropped: the shadow is no longer
    /// exact, and `verify` says so.
    pub(crate) degraded: bool,
    /// The file's locks under every lock design (`None`: their allocation
    /// failed; the shadow itself is still exact).
    pub(crate) locks: Option<Arc<FileLocks>>,
}

/// What a tap hands to the lock replay: the file's locks and the tree.
pub(crate) type Touched = Option<(Arc<FileLocks>, u32)>;

/// The shadow's per-VMA record: the patch's `vma->tree_idx`, and what is
/// needed to find the VMA in its tree.
#[derive(Clone, Copy)]
struct VmaRec {
    mapping: usize,
    tree: u32,
    /// Linked in the shadow now (between a remove and its re-insert, not).
    linked: bool,
    /// The start page offset the VMA was linked with.
    start: u64,
}

/// Event and drop counters, under the lock.
#[derive(Default, Clone, Copy)]
pub(crate) struct Stats {
    /// Shadow links made.
    pub(crate) linked: u64,
    /// Shadow unlinks made.
    pub(crate) unlinked: u64,
    /// Links of a VMA already linked (seeding met a tap).
    pub(crate) dup_links: u64,
    /// Removes of a VMA the shadow never linked (linked before load and
    /// not seen by seeding).
    pub(crate) unknown_removes: u64,
    /// Of `unknown_removes`, those while seeding ran (a VMA linked before
    /// load and removed before the seeding walk reached its mm: expected).
    pub(crate) unknown_removes_seeding: u64,
    /// Records dropped at VMA free.
    pub(crate) freed: u64,
    /// Allocation failures (each a dropped event).
    pub(crate) alloc_failures: u64,
    /// VMAs not shadowed because `max_files` files are shadowed.
    pub(crate) file_limit_drops: u64,
    /// VMAs seeded at load or policy change.
    pub(crate) seeded: u64,
    /// Files shadowed without locks (their allocation failed).
    pub(crate) lock_alloc_failures: u64,
    /// Rmap walks seen on shadowed files.
    pub(crate) walks: u64,
    /// Rebuilds (policy changes).
    pub(crate) rebuilds: u64,
    /// Degraded file shadows released with their last shadowed VMA (the
    /// shadow never keeps a file alive longer than its VMAs do).
    pub(crate) released_degraded: u64,
    /// VMAs freed while the shadow still had them linked (a missed
    /// remove): unlinked from the shadow at the free, file degraded.
    pub(crate) freed_linked: u64,
    /// Counter underflows avoided (a count already at zero): each is a bug
    /// or a missed event.
    pub(crate) underflows: u64,
    /// Placements by the policy.
    pub(crate) placed_policy: u64,
    /// Placements next to the parent VMA (fork).
    pub(crate) placed_parent: u64,
    /// Placements in the tree of the VMA the piece was duplicated from
    /// (split, mremap).
    pub(crate) placed_dup: u64,
    /// Re-inserts keeping the VMA's tree.
    pub(crate) placed_record: u64,
}

/// Everything behind [`Shared::shadow`].
pub(crate) struct ShadowState {
    /// The policy new VMAs are placed by.
    pub(crate) policy: Policy,
    /// How the tree count was asked for.
    pub(crate) tree_count: TreeCount,
    /// Trees per file (resolved).
    pub(crate) ntrees: u32,
    /// Most files shadowed at once.
    pub(crate) max_files: u32,
    /// Shadowed files by `address_space` address.
    pub(crate) files: RBTree<usize, KBox<FileShadow>>,
    /// Entries in `files`.
    nfiles: usize,
    vmas: RBTree<usize, VmaRec>,
    /// Entries in `vmas`.
    nrecs: usize,
    /// Counters.
    pub(crate) stats: Stats,
    /// A seeding walk is in progress.
    pub(crate) seeding: bool,
    /// Per task (hashed), the VMA it last passed to `vm_area_dup()`:
    /// (task, vma), (0, 0) when empty.
    dup_origin: [(usize, usize); DUP_SLOTS],
    seed: u32,
}

/// What a tap saw: a file VMA and the numbers the shadow needs of it.
pub(crate) struct VmaView {
    vma: usize,
    file: NonNull<bindings::file>,
    mapping: usize,
    start: u64,
    last: u64,
}

impl VmaView {
    /// The VMA's address.
    pub(crate) fn vma(&self) -> usize {
        self.vma
    }

    /// The first page offset the VMA maps.
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    /// The last page offset the VMA maps.
    pub(crate) fn last(&self) -> u64 {
        self.last
    }

    /// Uses `mapping` (the probed function's argument) as the VMA's file
    /// mapping.
    pub(crate) fn with_mapping(mut self, mapping: usize) -> Self {
        self.mapping = mapping;
        self
    }

    /// Reads `vma`.
    ///
    /// # Safety
    ///
    /// `vma` must be a live file VMA whose fields are stable for the call
    /// (the caller holds the lock that serialises its changes: the real
    /// `i_mmap_rwsem` in the taps, `mmap_read_lock` when seeding).
    pub(crate) unsafe fn read(vma: *const bindings::vm_area_struct) -> Option<Self> {
        // SAFETY: per the caller, `vma` is live and stable.
        let v = unsafe { &*vma };
        let file = NonNull::new(v.vm_file)?;
        // SAFETY: `vm_start`/`vm_end` live in a union with the RCU free
        // pointer, which is only used once the VMA is freed.
        let (s, e) = unsafe {
            (
                v.__bindgen_anon_1.__bindgen_anon_1.vm_start,
                v.__bindgen_anon_1.__bindgen_anon_1.vm_end,
            )
        };
        // Values from the kernel: never an overflow panic in a probe.
        let pages = (e.wrapping_sub(s) >> bindings::PAGE_SHIFT) as u64;
        // SAFETY: a file VMA's file is live while the VMA is.
        let mapping = unsafe { (*file.as_ptr()).f_mapping } as usize;
        Some(Self {
            vma: vma as usize,
            file,
            mapping,
            start: v.vm_pgoff as u64,
            last: (v.vm_pgoff as u64).saturating_add(pages.max(1) - 1),
        })
    }
}

impl ShadowState {
    /// An empty shadow.
    pub(crate) fn new(policy: Policy, tree_count: TreeCount, max_files: u32) -> Self {
        let ntrees = if policy == Policy::Single {
            1
        } else {
            tree_count.resolve(crate::nr_node_ids(), kernel::cpu::nr_cpu_ids())
        };
        Self {
            policy,
            tree_count,
            ntrees,
            max_files,
            files: RBTree::new(),
            nfiles: 0,
            vmas: RBTree::new(),
            nrecs: 0,
            stats: Stats::default(),
            // A new shadow is empty until its seeding walk ends: removes of
            // VMAs it has not seen yet are expected until then.
            seeding: true,
            dup_origin: [(0, 0); DUP_SLOTS],
            seed: 0x2545_f491,
        }
    }

    /// Number of VMA records (linked or between remove and re-insert).
    pub(crate) fn nr_vma_records(&self) -> usize {
        self.nrecs
    }

    /// `vm_area_dup(orig)` in `task`: remembered until the task's next link.
    pub(crate) fn note_dup(&mut self, task: usize, orig: usize) {
        let slot = &mut self.dup_origin[dup_slot(task)];
        *slot = (task, orig);
    }

    /// The VMA `task` last duplicated, if not consumed yet; clears it.
    fn take_dup_origin(&mut self, task: usize) -> Option<usize> {
        if task == 0 {
            return None;
        }
        let slot = &mut self.dup_origin[dup_slot(task)];
        if slot.0 != task {
            return None;
        }
        let orig = slot.1;
        *slot = (0, 0);
        Some(orig)
    }

    /// Counts a remove of a VMA the shadow does not have linked.
    fn count_unknown_remove(&mut self) {
        self.stats.unknown_removes += 1;
        if self.seeding {
            self.stats.unknown_removes_seeding += 1;
        }
    }

    /// Number of shadowed files.
    pub(crate) fn nr_files(&self) -> usize {
        self.nfiles
    }

    /// Drops the shadow of `mapping` (its file reference is put: `fput()`
    /// is safe in any context, the final put is deferred by the kernel).
    fn release_file(&mut self, mapping: usize) {
        if let Some(f) = self.files.remove(&mapping) {
            self.nfiles = self.nfiles.saturating_sub(1);
            if f.degraded {
                self.stats.released_degraded += 1;
            }
            drop(f);
        }
    }

    /// One VMA fewer in `file`; counts an underflow instead of panicking.
    fn dec_total(file: &mut FileShadow, stats: &mut Stats) {
        match file.total.checked_sub(1) {
            Some(t) => file.total = t,
            None => stats.underflows += 1,
        }
    }

    /// Creates the shadow of the file of `v`, taking a file reference.
    fn new_file(&mut self, v: &VmaView) -> Result<KBox<FileShadow>, ArenaFull> {
        let mut trees = KVec::with_capacity(self.ntrees as usize, ATOMIC).map_err(|_| ArenaFull)?;
        let nr_nodes = crate::nr_node_ids().max(1);
        for i in 0..self.ntrees {
            self.seed = self.seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            // The patch allocates tree i on node i; with more trees than
            // nodes (cpus32, fixed counts) they wrap around the nodes.
            let nid = NumaNode::new((i % nr_nodes) as i32).unwrap_or(NumaNode::NO_NODE);
            trees
                .push(
                    Tree {
                        itree: ITree::new(NodeArena::new(nid), self.seed),
                        inserts: 0,
                    },
                    ATOMIC,
                )
                .map_err(|_| ArenaFull)?;
        }
        let locks = FileLocks::new(self.ntrees as usize).ok();
        if locks.is_none() {
            self.stats.lock_alloc_failures += 1;
        }
        // SAFETY: `v.file` is the file of a live VMA.
        let file = unsafe { FileRef::get(v.file) };
        KBox::new(
            FileShadow {
                file,
                trees,
                total: 0,
                degraded: false,
                locks,
            },
            ATOMIC,
        )
        .map_err(|_| ArenaFull)
    }

    /// The real kernel linked `v` (`prev`: the VMA it was linked after).
    /// Returns the file's locks and the tree, when linked.
    pub(crate) fn link(
        &mut self,
        v: &VmaView,
        prev: Option<usize>,
        task: usize,
        cpu: u32,
        node: u32,
    ) -> Touched {
        // Where the VMA goes: its record's tree if it has one (re-insert
        // after vma_prepare()), else its parent's (fork: `insert_after`),
        // else its origin's if this task just duplicated a VMA of the same
        // file that is still linked (the new piece of a split, an mremap
        // copy: `vm_area_dup()` copies the patch's `tree_idx`), else the
        // policy's.
        let rec = self.vmas.get(&v.vma).copied();
        if let Some(r) = rec {
            if r.linked {
                self.stats.dup_links += 1;
                return None;
            }
        }
        if self.files.get(&v.mapping).is_none() {
            if self.nfiles >= self.max_files as usize {
                self.stats.file_limit_drops += 1;
                return None;
            }
            match self.new_file(v) {
                Ok(f) => {
                    if self
                        .files
                        .try_create_and_insert(v.mapping, f, ATOMIC)
                        .is_err()
                    {
                        self.stats.alloc_failures += 1;
                        return None;
                    }
                    self.nfiles += 1;
                }
                Err(_) => {
                    self.stats.alloc_failures += 1;
                    return None;
                }
            }
        }
        let prev_tree = prev
            .and_then(|p| self.vmas.get(&p).copied())
            .filter(|r| r.mapping == v.mapping)
            .map(|r| r.tree);
        // The VMA this task last duplicated (consumed by this link).
        let dup_tree = self
            .take_dup_origin(task)
            .and_then(|o| self.vmas.get(&o).copied())
            .filter(|r| r.mapping == v.mapping && r.linked)
            .map(|r| r.tree);
        let policy = self.policy;
        let file = self.files.get_mut(&v.mapping)?;
        let mut how = 0;
        let tree = match rec.filter(|r| r.mapping == v.mapping) {
            Some(r) => r.tree,
            None => match prev_tree {
                Some(t) => {
                    how = 1;
                    t
                }
                None => match dup_tree {
                    // A piece of a split (or an mremap copy): the patch's
                    // vm_area_dup() copies vma->tree_idx.
                    Some(t) => {
                        how = 3;
                        t
                    }
                    None => {
                        how = 2;
                        let trees = &file.trees;
                        policy.choose_among(
                            trees.len(),
                            |i| trees.get(i).map_or(0, |t| t.itree.len() as u64),
                            v.vma,
                            cpu,
                            node,
                        ) as u32
                    }
                },
            },
        };
        let tree = tree.min((file.trees.len() as u32).saturating_sub(1));
        match how {
            0 => self.stats.placed_record += 1,
            1 => self.stats.placed_parent += 1,
            3 => self.stats.placed_dup += 1,
            _ => self.stats.placed_policy += 1,
        }
        let t = file.trees.get_mut(tree as usize)?;
        if t.itree.insert(v.start, v.last, v.vma).is_err() {
            file.degraded = true;
            self.stats.alloc_failures += 1;
            return None;
        }
        t.inserts += 1;
        file.total += 1;
        let new = VmaRec {
            mapping: v.mapping,
            tree,
            linked: true,
            start: v.start,
        };
        match self.vmas.get_mut(&v.vma) {
            Some(r) => *r = new,
            None => {
                if self.vmas.try_create_and_insert(v.vma, new, ATOMIC).is_err() {
                    // Without a record the remove cannot be matched: undo.
                    if let Some(t) = file.trees.get_mut(tree as usize) {
                        t.itree.remove(v.start, v.vma);
                    }
                    Self::dec_total(file, &mut self.stats);
                    file.degraded = true;
                    self.stats.alloc_failures += 1;
                    return None;
                }
                self.nrecs += 1;
            }
        }
        self.stats.linked += 1;
        file.locks.clone().map(|l| (l, tree))
    }

    /// The real kernel unlinked `vma` from `mapping`'s tree. Returns the
    /// file's locks and the tree, when unlinked.
    pub(crate) fn unlink(&mut self, vma: usize, mapping: usize) -> Touched {
        let Some(r) = self.vmas.get_mut(&vma) else {
            self.count_unknown_remove();
            return None;
        };
        if !r.linked || r.mapping != mapping {
            self.count_unknown_remove();
            return None;
        }
        r.linked = false;
        let (tree, start) = (r.tree, r.start);
        let mut empty = false;
        let mut locks = None;
        if let Some(file) = self.files.get_mut(&mapping) {
            locks = file.locks.clone();
            let removed = file
                .trees
                .get_mut(tree as usize)
                .is_some_and(|t| t.itree.remove(start, vma));
            if removed {
                Self::dec_total(file, &mut self.stats);
            } else {
                file.degraded = true;
            }
            // Degraded or not: the shadow never keeps the file alive past
            // its last shadowed VMA.
            empty = file.total == 0;
        }
        if empty {
            // Not the file's last reference: the VMA being unlinked still
            // holds one.
            self.release_file(mapping);
        }
        self.stats.unlinked += 1;
        locks.map(|l| (l, tree))
    }

    /// The real kernel walks the rmap of `mapping` over page offsets
    /// `start..=last`: the same interval query over every shadow tree.
    /// Returns the file's locks and the VMAs found.
    pub(crate) fn walk(
        &mut self,
        mapping: usize,
        start: u64,
        last: u64,
    ) -> Option<(Arc<FileLocks>, u64)> {
        let file = self.files.get(&mapping)?;
        let mut found = 0u64;
        for t in file.trees.iter() {
            t.itree.query(start, last, &mut |_| found += 1);
        }
        let locks = file.locks.clone()?;
        self.stats.walks += 1;
        Some((locks, found))
    }

    /// The real kernel is freeing `vma`.
    pub(crate) fn free(&mut self, vma: usize) {
        if let Some(r) = self.vmas.remove(&vma) {
            self.nrecs = self.nrecs.saturating_sub(1);
            if r.linked {
                // Freed while linked: cannot happen in the real kernel, so
                // the shadow missed a remove. Unlink it now, so that the
                // file is not kept alive by a VMA that no longer exists.
                self.stats.freed_linked += 1;
                let mut empty = false;
                if let Some(file) = self.files.get_mut(&r.mapping) {
                    file.degraded = true;
                    if file
                        .trees
                        .get_mut(r.tree as usize)
                        .is_some_and(|t| t.itree.remove(r.start, vma))
                    {
                        Self::dec_total(file, &mut self.stats);
                    }
                    empty = file.total == 0;
                }
                if empty {
                    self.release_file(r.mapping);
                }
            }
            self.stats.freed += 1;
        }
    }

    /// Drops every file and record; the caller drops the returned files
    /// outside the lock.
    pub(crate) fn clear(&mut self) -> RBTree<usize, KBox<FileShadow>> {
        self.vmas = RBTree::new();
        self.nrecs = 0;
        self.nfiles = 0;
        core::mem::replace(&mut self.files, RBTree::new())
    }

    /// Shadow bytes: tree nodes, file shadows and VMA records (approximate
    /// for the red-black nodes of the two maps).
    pub(crate) fn bytes(&self) -> usize {
        let rb = 3 * core::mem::size_of::<usize>();
        let mut b = 0;
        for f in self.files.values() {
            b += core::mem::size_of::<FileShadow>() + rb + core::mem::size_of::<usize>();
            b += f.trees.len() * core::mem::size_of::<Tree>();
            for t in f.trees.iter() {
                b += t.itree.arena_bytes();
            }
        }
        b + self.nr_vma_records()
            * (core::mem::size_of::<VmaRec>() + rb + core::mem::size_of::<usize>())
    }
}

impl ITree<NodeArena> {
    /// Bytes of node storage.
    pub(crate) fn arena_bytes(&self) -> usize {
        self.arena().bytes()
    }
}

/// Slots of [`ShadowState`]'s duplicate-origin table.
const DUP_SLOTS: usize = 64;

/// The slot of `task` (a `task_struct` address).
fn dup_slot(task: usize) -> usize {
    (crate::policy::hash_ptr(task) % DUP_SLOTS as u64) as usize
}

/// Links every file VMA of every process into the shadow (at load, and after
/// a policy change). Each mm is walked under its `mmap_read_lock`, which
/// keeps its VMAs from being linked or unlinked meanwhile; VMAs the taps
/// already linked are recognised by their record and not linked twice.
///
/// With `anon` (at load only), also counts every VMA and records every AVC
/// and anon_vma of every VMA in the anon bookkeeping ([`crate::anon`]).
pub(crate) fn seed(shared: &Shared, anon: bool) -> Result {
    // `seeding` is set from the creation of the (empty) shadow on.
    let r = seed_all(shared, anon);
    shared.shadow.lock().seeding = false;
    shared.anon.lock().seeding = false;
    r
}

/// The walk of [`seed`].
fn seed_all(shared: &Shared, anon: bool) -> Result {
    for mm in crate::kmm::all_mms()?.iter() {
        {
            let g = mm.read();
            g.for_each_vma(&mut |vma| {
                if anon {
                    let mut avcs = [0usize; crate::anon::MAX_CHAIN];
                    let mut avs = [0usize; crate::anon::MAX_CHAIN];
                    let (n, over) = vma.anon_chain(&mut avcs, &mut avs);
                    let mut a = shared.anon.lock();
                    a.now.vmas += 1;
                    if over {
                        a.ev.chain_overflow += 1;
                    }
                    a.seed_vma(&avcs[..n], &avs[..n]);
                    a.reset_hw();
                }
                if let Some(v) = vma.view() {
                    let (cpu, node) = crate::cpu_node();
                    let mut s = shared.shadow.lock();
                    let before = s.stats.linked;
                    s.link(&v, None, 0, cpu, node);
                    if s.stats.linked != before {
                        s.stats.seeded += 1;
                    }
                }
            });
        }
        // Between mms, with no lock held: a long walk yields the CPU.
        crate::sys::cond_resched();
    }
    Ok(())
}
