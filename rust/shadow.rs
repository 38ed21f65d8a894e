// SPDX-License-Identifier: GPL-2.0

//! The shadow split i_mmap: per file, N sibling interval trees beside the
//! real `mapping->i_mmap`, fed by the file-rmap taps.
//!
//! Every file VMA the real kernel links into a file's i_mmap tree is linked
//! into one sibling tree of that file's shadow, chosen when the shadow
//! first sees it: the tree it was in before, when the real kernel removes
//! and re-inserts it (`vma_prepare()` / `vma_complete()`: the patch keeps
//! `vma->tree_idx`); its parent's, for a fork child (`insert_after`); the
//! tree of the VMA it was duplicated from, for a split piece or an mremap
//! copy (`vm_area_dup()` copies `tree_idx`); else the policy's.
//!
//! # Which lock protects what
//!
//! - **A file's trees** ([`FileShadow::state`]): its own spinlock. Every tap
//!   that changes them (`mapping_rmap_tree_insert*`, `_remove`) runs with the
//!   real kernel holding that file's `i_mmap_rwsem` for write, which already
//!   serialises them: the per-file lock is uncontended by construction
//!   between taps, and the seeding walk takes that real lock for write
//!   too before it links a VMA. It is shared only with the rarer readers:
//!   rmap walks (the real lock held for read, or about to be) and debugfs
//!   (`verify` takes the real lock for read first). Order: real kernel
//!   locks, then this one.
//! - **Finding a file's shadow** ([`Shadow`]'s shards): a table of
//!   [`SHARDS`] red-black trees keyed by `address_space`, each under its
//!   own spinlock, held only to look up, insert or remove one entry (never
//!   together with a file's lock). Unrelated files meet on a shard lock
//!   only by hash collision. Invariant: a file's entry is inserted,
//!   replaced or removed only by a holder of that file's real
//!   `i_mmap_rwsem` for write ([`IMmapHeld`]: the insert and remove taps,
//!   and the seeding walk), or by [`Shadow::clear`] while no tap and no
//!   walk runs. So those holders use a file's shadow borrowed, with no
//!   reference count taken or dropped per event; readers without the real
//!   write lock (rmap walks, debugfs) take a reference.
//! - **Per-task placement hints** ([`Memo`]): no lock; each task writes
//!   only its own hashed slot (see there).
//! - **Counters**: per CPU ([`PerCpu`]), summed on read. The only shared
//!   line a tap writes is the file count, and only when a file's shadow is
//!   born or dies.
//!
//! There is no per-VMA record outside the trees: a VMA is found in its
//! file's trees by `(vm_pgoff, address)`, both known and stable at every
//! tap (the VMA is live and linked in the real tree). The tree is tried
//! first where the policy would place it now, then the others.
//!
//! Allocations under these locks use [`crate::TAP_GFP`] (never sleep,
//! reclaim or use the reserves); a failure is a counted drop that marks the
//! file degraded, and `verify` says so.

use crate::fast::Atomic;
use crate::{
    itree::{ITree, InsertError},
    kmm::IMmapHeld,
    kmm::{FileRef, InodeIdent, VmaView},
    locks::{FileLocks, Retired},
    percpu::PerCpu,
    policy::{hash_ptr, Policy, TreeCount},
    pool::NodeStore,
    sys::TapCtx,
    Shared,
};
use kernel::{
    new_spinlock,
    prelude::*,
    rbtree::{RBTree, RBTreeNode},
    sync::{
        atomic::{Acquire, Relaxed, Release},
        Arc, SetOnce, SpinLock,
    },
};

/// Flags of every allocation made in a tap or under a shadow lock.
const ATOMIC: kernel::alloc::Flags = crate::TAP_GFP;

/// Shards of the file table.
pub(crate) const SHARDS: usize = 256;

/// One sibling tree of a file.
pub(crate) struct Tree {
    /// The intervals.
    pub(crate) itree: ITree<NodeStore>,
    /// Links since creation (monotonic, for the `files` table).
    pub(crate) inserts: u64,
}

/// A file's shadow trees, behind [`FileShadow::state`].
pub(crate) struct FileState {
    /// The sibling trees (their count fixed when the shadow is created).
    pub(crate) trees: KVec<Tree>,
    /// VMAs linked, over all trees.
    pub(crate) total: u64,
    /// Set when an event for this file was dropped: the shadow is no longer
    /// exact, and `verify` says so.
    pub(crate) degraded: bool,
}

/// The shadow of one file's i_mmap.
#[pin_data]
pub(crate) struct FileShadow {
    /// The file's `address_space` (its key in the table).
    pub(crate) mapping: usize,
    /// Keeps the file, its inode and its `address_space` alive while the
    /// shadow refers to them (never longer than its last shadowed VMA).
    pub(crate) file: FileRef,
    /// The file's locks under every lock design, made at the file's first
    /// replayed event ([`Shadow::replay_locks`]): the `shadow` mode, which
    /// replays nothing, makes and frees none (empty also after an
    /// allocation failure, retried at the next replayed event; the shadow
    /// itself stays exact).
    pub(crate) locks: SetOnce<Arc<FileLocks>>,
    /// The trees. See the module doc for why this lock is uncontended.
    #[pin]
    pub(crate) state: SpinLock<FileState>,
}

/// What a tap hands to the lock replay: the file's locks and the tree
/// (only when asked for: taking the reference costs two atomic operations).
pub(crate) type Touched = Option<(Arc<FileLocks>, u32)>;

/// The shadow's counters, by index into its per-CPU counter arrays.
#[derive(Clone, Copy)]
pub(crate) enum Ctr {
    /// Shadow links made.
    Linked,
    /// Shadow unlinks made.
    Unlinked,
    /// VMAs linked by a seeding walk (at load, mode or policy change).
    Seeded,
    /// Links of a VMA already linked (seeding met a tap).
    DupLinks,
    /// Removes of a VMA the shadow does not have.
    UnknownRemoves,
    /// Of `UnknownRemoves`, those while seeding ran (a VMA linked before
    /// load and removed before the seeding walk reached its mm: expected).
    UnknownRemovesSeeding,
    /// Allocation failures (each a dropped event).
    AllocFailures,
    /// VMAs not shadowed because `max_files` files are shadowed.
    FileLimit,
    /// Replayed events dropped because the file's locks could not be made
    /// (their allocation failed).
    LockAlloc,
    /// Rebuilds (policy changes).
    Rebuilds,
    /// Degraded file shadows released with their last shadowed VMA.
    ReleasedDegraded,
    /// Counter underflows avoided (a count already at zero).
    Underflows,
    /// Rmap walks seen on shadowed files.
    Walks,
    /// Placements by the policy.
    PlacedPolicy,
    /// Placements next to the parent VMA (fork).
    PlacedParent,
    /// Re-inserts keeping the VMA's tree.
    PlacedRecord,
    /// Placements in the tree of the VMA the piece was duplicated from.
    PlacedDup,
    /// Trees searched for a VMA beyond the first guess.
    SearchMisses,
    /// File shadows created (a file's first shadowed VMA; again after its
    /// last one left): those released are this minus the live ones.
    FilesCreated,
    /// New file shadows that took their file's parked lock-design locks.
    LocksAdopted,
    /// Parked locks dropped: displaced by newer ones, stale (another inode
    /// at the address) or made for another tree count.
    LocksDropped,
}

/// Number of [`Ctr`]s.
pub(crate) const NCTR: usize = 21;

impl Ctr {
    /// Every counter with its name in `stats`.
    pub(crate) const ALL: [(Ctr, &'static str); NCTR] = [
        (Ctr::Linked, "shadow.linked"),
        (Ctr::Unlinked, "shadow.unlinked"),
        (Ctr::Seeded, "shadow.seeded"),
        (Ctr::DupLinks, "shadow.dup_links"),
        (Ctr::UnknownRemoves, "shadow.unknown_removes"),
        (Ctr::UnknownRemovesSeeding, "shadow.unknown_removes_seeding"),
        (Ctr::AllocFailures, "drop.alloc_failures"),
        (Ctr::FileLimit, "drop.file_limit"),
        (Ctr::LockAlloc, "drop.lock_alloc"),
        (Ctr::Rebuilds, "shadow.rebuilds"),
        (Ctr::ReleasedDegraded, "shadow.released_degraded"),
        (Ctr::Underflows, "shadow.underflows"),
        (Ctr::Walks, "shadow.walks"),
        (Ctr::PlacedPolicy, "placed.policy"),
        (Ctr::PlacedParent, "placed.parent"),
        (Ctr::PlacedRecord, "placed.record"),
        (Ctr::PlacedDup, "placed.dup"),
        (Ctr::SearchMisses, "shadow.search_misses"),
        (Ctr::FilesCreated, "shadow.files_created"),
        (Ctr::LocksAdopted, "locks.adopted"),
        (Ctr::LocksDropped, "locks.parked_dropped"),
    ];
}

/// Entries of a [`MemoSlot`]'s ring of recent removes.
const RING: usize = 4;

/// Slots of the [`Memo`].
const MEMO_SLOTS: usize = 1024;

/// One task's placement hints (a hashed slot; see [`Memo`]). Entries hold
/// the VMA's address XORed with the owning task's, so a slot another task
/// has taken over never yields a hint that matches.
#[repr(C, align(128))]
struct MemoSlot {
    /// The task that last took the slot.
    task: Atomic<usize>,
    /// `vm_area_dup(orig)`: `orig ^ task`, 0 when none.
    dup: Atomic<usize>,
    /// The original's page offset and mapping.
    dup_start: Atomic<u64>,
    dup_mapping: Atomic<usize>,
    /// Recent removes: `vma ^ task` and the tree it was in.
    ring: [Atomic<usize>; RING],
    ring_tree: [Atomic<u32>; RING],
    next: Atomic<u32>,
}

/// Per-task hints for placing a VMA as the patch's `vma->tree_idx` would:
/// the tree of each VMA the task removed last (a re-insert follows in the
/// same syscall), and the VMA it duplicated last (its piece follows).
///
/// No lock: a task writes only the slot its address hashes to, taking it
/// over (and clearing it) if another task had it. A reader checks, after
/// reading an entry, that the slot is still its own; with the XOR tag, an
/// entry written by another task in between never matches. A hint lost to
/// a collision only means a placement by the policy instead.
struct Memo {
    slots: KVVec<MemoSlot>,
}

impl Memo {
    fn new() -> Result<Self> {
        let mut slots = KVVec::with_capacity(MEMO_SLOTS, GFP_KERNEL)?;
        for _ in 0..MEMO_SLOTS {
            slots.push(
                MemoSlot {
                    task: Atomic::new(0),
                    dup: Atomic::new(0),
                    dup_start: Atomic::new(0),
                    dup_mapping: Atomic::new(0),
                    ring: [const { Atomic::new(0) }; RING],
                    ring_tree: [const { Atomic::new(0) }; RING],
                    next: Atomic::new(0),
                },
                GFP_KERNEL,
            )?;
        }
        Ok(Self { slots })
    }

    fn slot(&self, task: usize) -> &MemoSlot {
        &self.slots[(hash_ptr(task) as usize) % MEMO_SLOTS]
    }

    /// `task`'s slot, taken over (cleared) if another task had it. Only
    /// `task` itself calls this.
    fn own(&self, task: usize) -> &MemoSlot {
        let s = self.slot(task);
        if s.task.load(Relaxed) != task {
            s.task.store(task, Relaxed);
            // Release: the new owner is visible before the cleared fields.
            s.dup.store(0, Release);
            for r in s.ring.iter() {
                r.store(0, Release);
            }
        }
        s
    }

    /// Whether `task` still owns `s` (after reading an entry of it).
    fn still_own(s: &MemoSlot, task: usize) -> bool {
        s.task.load(Relaxed) == task
    }

    /// `task` removed `vma` from `tree`.
    fn removed(&self, task: usize, vma: usize, tree: u32) {
        if task == 0 {
            return;
        }
        let s = self.own(task);
        let i = s.next.load(Relaxed) as usize % RING;
        s.ring_tree[i].store(tree, Relaxed);
        s.ring[i].store(vma ^ task, Release);
        s.next.store((i as u32).wrapping_add(1), Relaxed);
    }

    /// The tree `task` recently removed `vma` from; forgets it.
    fn take_removed(&self, task: usize, vma: usize) -> Option<u32> {
        if task == 0 {
            return None;
        }
        let s = self.slot(task);
        for (r, t) in s.ring.iter().zip(s.ring_tree.iter()) {
            if r.load(Acquire) == vma ^ task {
                let tree = t.load(Relaxed);
                if Self::still_own(s, task) {
                    r.store(0, Relaxed);
                    return Some(tree);
                }
            }
        }
        None
    }

    /// `task` duplicates `orig` (at `start` in `mapping`).
    fn dup(&self, task: usize, orig: usize, start: u64, mapping: usize) {
        let s = self.own(task);
        s.dup_start.store(start, Relaxed);
        s.dup_mapping.store(mapping, Relaxed);
        s.dup.store(orig ^ task, Release);
    }

    /// The VMA `task` last duplicated (address, page offset, mapping);
    /// forgets it.
    fn take_dup(&self, task: usize) -> Option<(usize, u64, usize)> {
        if task == 0 {
            return None;
        }
        let s = self.slot(task);
        let d = s.dup.load(Acquire);
        if d == 0 {
            return None;
        }
        let (start, mapping) = (s.dup_start.load(Relaxed), s.dup_mapping.load(Relaxed));
        if !Self::still_own(s, task) {
            return None;
        }
        s.dup.store(0, Relaxed);
        Some((d ^ task, start, mapping))
    }

    /// `task` frees `vma`: no hint may name it again (its address will be
    /// reused).
    fn forget(&self, task: usize, vma: usize) {
        let s = self.slot(task);
        if !Self::still_own(s, task) {
            return;
        }
        for r in s.ring.iter() {
            if r.load(Relaxed) == vma ^ task {
                r.store(0, Relaxed);
            }
        }
        if s.dup.load(Relaxed) == vma ^ task {
            s.dup.store(0, Relaxed);
        }
    }

    fn bytes(&self) -> usize {
        self.slots.len() * core::mem::size_of::<MemoSlot>()
    }
}

/// A shard of the file table.
type FileMap = RBTree<usize, Arc<FileShadow>>;

/// Parked locks per shard.
const PARKED: usize = 4;

/// A released file's lock-design locks, kept for the file's next shadow
/// with no reference to the file: the real `i_mmap_rwsem` lives with the
/// inode, not with the VMAs, and a file mapped again (ld.so's cache at
/// every exec, a program between its processes' execs) keeps its figures
/// and the contention between replays on either side of the gap.
struct Parked {
    mapping: usize,
    ident: InodeIdent,
    locks: Arc<FileLocks>,
}

/// One shard of the file table: its files' shadows, and a ring of locks of
/// its released files (oldest displaced first; a displaced entry's figures
/// go to the `Retired` sums).
struct Shard {
    files: FileMap,
    parked: [Option<Parked>; PARKED],
    next: usize,
}

impl Shard {
    fn new() -> Self {
        Self {
            files: RBTree::new(),
            parked: [const { None }; PARKED],
            next: 0,
        }
    }

    /// Parks `p`; returns what it displaced (to drop outside the lock).
    fn park(&mut self, p: Parked) -> Option<Parked> {
        let i = self.next % PARKED;
        self.next = (i + 1) % PARKED;
        self.parked.get_mut(i)?.replace(p)
    }

    /// Takes the parked locks of `mapping`. They are returned as usable
    /// if they are `ident`'s inode's, made for `ntrees` trees, and as
    /// stale otherwise (to drop outside the lock).
    fn unpark(
        &mut self,
        mapping: usize,
        ident: InodeIdent,
        ntrees: usize,
    ) -> Option<Result<Arc<FileLocks>, Parked>> {
        let slot = self
            .parked
            .iter_mut()
            .find(|e| e.as_ref().is_some_and(|p| p.mapping == mapping))?;
        let p = slot.take()?;
        Some(if p.ident == ident && p.locks.ntrees() == ntrees {
            Ok(p.locks)
        } else {
            Err(p)
        })
    }
}

/// How the trees are chosen: the policy and the tree count. Changed only
/// while the taps leave the shadow alone ([`Shadow::set_active`]).
#[derive(Clone, Copy)]
pub(crate) struct Config {
    /// The policy new VMAs are placed by.
    pub(crate) policy: Policy,
    /// How the tree count was asked for.
    pub(crate) tree_count: TreeCount,
    /// Trees per new file (resolved).
    pub(crate) ntrees: u32,
}

/// The shadow split i_mmap of every file.
pub(crate) struct Shadow {
    shards: KVec<Pin<KBox<SpinLock<Shard>>>>,
    memo: Memo,
    ctrs: PerCpu<[Atomic<u64>; NCTR]>,
    /// Whether the taps keep the shadow (off while it is rebuilt).
    active: Atomic<u32>,
    /// A seeding walk is in progress.
    seeding: Atomic<u32>,
    /// Files shadowed (the one shared line, written at file birth and death).
    nfiles: Atomic<u64>,
    max_files: u32,
    policy: Atomic<u32>,
    tree_code: Atomic<u32>,
    ntrees: Atomic<u32>,
    /// The figures of released files' lock-design locks.
    retired: Arc<Retired>,
}

impl Shadow {
    /// An empty, active shadow (seeding until [`Shadow::seed`] ends).
    /// Sleeps (load only).
    pub(crate) fn new(policy: Policy, tree_count: TreeCount, max_files: u32) -> Result<Self> {
        let mut shards = KVec::with_capacity(SHARDS, GFP_KERNEL)?;
        for _ in 0..SHARDS {
            shards.push(
                KBox::pin_init(new_spinlock!(Shard::new(), "rmap_shadow_shard"), GFP_KERNEL)?,
                GFP_KERNEL,
            )?;
        }
        let s = Self {
            shards,
            memo: Memo::new()?,
            ctrs: PerCpu::new(|| [const { Atomic::new(0) }; NCTR])?,
            active: Atomic::new(1),
            seeding: Atomic::new(1),
            nfiles: Atomic::new(0),
            max_files,
            policy: Atomic::new(0),
            tree_code: Atomic::new(0),
            ntrees: Atomic::new(1),
            retired: Retired::new()?,
        };
        s.set_config(policy, tree_count);
        Ok(s)
    }

    /// The current policy and tree count.
    pub(crate) fn config(&self) -> Config {
        let policy = Policy::ALL
            .get(self.policy.load(Relaxed) as usize)
            .copied()
            .unwrap_or(Policy::Node);
        let tree_count = match self.tree_code.load(Relaxed) {
            0 => TreeCount::Nodes,
            1 => TreeCount::Cpus32,
            n => TreeCount::Fixed(n - 1),
        };
        Config {
            policy,
            tree_count,
            ntrees: self.ntrees.load(Relaxed).max(1),
        }
    }

    /// Sets the policy and tree count of files shadowed from now on. The
    /// caller has made the shadow inactive and empty.
    pub(crate) fn set_config(&self, policy: Policy, tree_count: TreeCount) {
        let ntrees = if policy == Policy::Single {
            1
        } else {
            tree_count.resolve(crate::nr_node_ids(), kernel::cpu::nr_cpu_ids())
        };
        let p = Policy::ALL.iter().position(|&q| q == policy).unwrap_or(0);
        self.policy.store(p as u32, Relaxed);
        self.tree_code.store(
            match tree_count {
                TreeCount::Nodes => 0,
                TreeCount::Cpus32 => 1,
                TreeCount::Fixed(n) => n.saturating_add(1),
            },
            Relaxed,
        );
        self.ntrees.store(ntrees.max(1), Relaxed);
    }

    /// Whether the taps keep the shadow.
    pub(crate) fn set_active(&self, on: bool) {
        self.active.store(u32::from(on), Relaxed);
    }

    fn is_active(&self) -> bool {
        self.active.load(Relaxed) != 0
    }

    /// Marks the seeding walk as running or done.
    pub(crate) fn set_seeding(&self, on: bool) {
        self.seeding.store(u32::from(on), Relaxed);
    }

    /// Counts `c` in the slot of `cpu` (the tap's CPU: see
    /// [`crate::sys::TapCtx`]; elsewhere a likely-local one).
    fn count(&self, cpu: u32, c: Ctr) {
        self.ctrs.on(cpu)[c as usize].add(1, Relaxed);
    }

    /// Counts a rebuild.
    pub(crate) fn count_rebuild(&self) {
        self.ctrs.this_cpu()[Ctr::Rebuilds as usize].add(1, Relaxed);
    }

    /// Every counter, summed over CPUs, in [`Ctr::ALL`] order.
    pub(crate) fn counters(&self) -> [u64; NCTR] {
        self.ctrs.sums()
    }

    /// The figures of released files' lock-design locks.
    pub(crate) fn retired(&self) -> &Retired {
        &self.retired
    }

    /// Number of shadowed files.
    pub(crate) fn nr_files(&self) -> usize {
        self.nfiles.load(Relaxed) as usize
    }

    fn shard(&self, mapping: usize) -> &SpinLock<Shard> {
        &self.shards[(hash_ptr(mapping) as usize) % SHARDS]
    }

    /// The shadow of `mapping`, if any, referenced (for readers that do
    /// not hold the real lock: rmap walks, debugfs).
    pub(crate) fn lookup(&self, mapping: usize) -> Option<Arc<FileShadow>> {
        self.shard(mapping).lock().files.get(&mapping).cloned()
    }

    /// The shadow of the mapping whose real lock `held` proves, if any,
    /// borrowed: no reference count is taken or dropped. (Its last VMA's
    /// unlink removes it from the table before the real lock is dropped,
    /// so a holder never finds one on its way out.)
    fn lookup_held<'h>(&'h self, held: &'h IMmapHeld<'_>) -> Option<&'h FileShadow> {
        let m = held.mapping();
        let p = self.shard(m).lock().files.get(&m).map(Arc::as_ptr)?;
        // SAFETY: the table's entry for `m` is replaced or removed only by
        // a holder of `m`'s real `i_mmap_rwsem` for write (this task, for
        // as long as `held` lives: `release` needs it mutably, so this
        // borrow ends first) or by `clear` (no tap or seeding then; type
        // invariant): the table's reference keeps the shadow alive for 'h.
        Some(unsafe { &*p })
    }

    /// Creates the shadow of the file of `v` (not in the table yet).
    fn new_file(&self, v: &VmaView) -> Result<Arc<FileShadow>> {
        let ntrees = self.ntrees.load(Relaxed).max(1);
        let mut trees = KVec::with_capacity(ntrees as usize, ATOMIC)?;
        let nr_nodes = crate::nr_node_ids().max(1);
        for i in 0..ntrees {
            // The patch allocates tree i on node i; with more trees than
            // nodes (cpus32, fixed counts) they wrap around the nodes.
            let nid = (i % nr_nodes) as i32;
            trees.push(
                Tree {
                    itree: ITree::new(NodeStore::new(nid)),
                    inserts: 0,
                },
                ATOMIC,
            )?;
        }
        // SAFETY: `v`'s file is the file of a live VMA.
        let file = unsafe { FileRef::get(v.file()) };
        Arc::pin_init(
            try_pin_init!(FileShadow {
                mapping: v.mapping(),
                file,
                locks: SetOnce::new(),
                state <- new_spinlock!(FileState {
                    trees,
                    total: 0,
                    degraded: false,
                }, "rmap_shadow_file"),
            }? Error),
            ATOMIC,
        )
    }

    /// The live shadow of `v`'s file (whose real lock `held` proves),
    /// created if there is none (within `max_files`). Counts the drop when
    /// it cannot be.
    fn get_or_create<'h>(
        &'h self,
        v: &VmaView,
        cpu: u32,
        held: &'h IMmapHeld<'_>,
    ) -> Option<&'h FileShadow> {
        if let Some(f) = self.lookup_held(held) {
            return Some(f);
        }
        if self.nfiles.fetch_add(1, Relaxed) >= u64::from(self.max_files) {
            self.nfiles.fetch_sub(1, Relaxed);
            self.count(cpu, Ctr::FileLimit);
            return None;
        }
        let m = held.mapping();
        let made = self.new_file(v).and_then(|f| {
            let p = Arc::as_ptr(&f);
            let ident = f.file.ident();
            Ok((p, ident, RBTreeNode::new(m, f, ATOMIC)?))
        });
        let Ok((p, ident, node)) = made else {
            self.nfiles.fetch_sub(1, Relaxed);
            self.count(cpu, Ctr::AllocFailures);
            return None;
        };
        let ntrees = self.ntrees.load(Relaxed).max(1) as usize;
        // `lookup_held` found no entry and only this task changes it, so
        // nothing is replaced; if something ever were, ours takes over its
        // count and the old one is dropped after the lock.
        let (replaced, parked) = {
            let mut shard = self.shard(m).lock();
            let parked = shard.unpark(m, ident, ntrees);
            if let Some(Ok(l)) = &parked {
                // SAFETY: `p` is the shadow `node` owns, alive here; it is
                // not in the table yet, so nothing else can have set its
                // locks (the one populate that can win).
                unsafe { &*p }.locks.populate(l.clone());
            }
            (shard.files.insert(node), parked)
        };
        if replaced.is_some() {
            self.nfiles.fetch_sub(1, Relaxed);
        }
        match parked {
            Some(Ok(_)) => self.count(cpu, Ctr::LocksAdopted),
            Some(Err(_)) => self.count(cpu, Ctr::LocksDropped),
            None => {}
        }
        // Dropped after the lock: a stale entry's figures go to the
        // `Retired` sums there.
        drop(parked);
        drop(replaced);
        self.count(cpu, Ctr::FilesCreated);
        // SAFETY: just put in the table, which only a holder of `m`'s real
        // lock (this task, while `held` lives) changes: see `lookup_held`.
        Some(unsafe { &*p })
    }

    /// Removes the shadow at `file` (its address; `degraded`: it was) from
    /// the table of the mapping `held` proves locked, once its last VMA
    /// left. `held` is borrowed mutably so that no borrowed shadow
    /// ([`Shadow::lookup_held`]) outlives its removal. Readers holding a
    /// reference keep the removed shadow until they drop it.
    fn release(&self, cpu: u32, held: &mut IMmapHeld<'_>, file: *const FileShadow, degraded: bool) {
        if degraded {
            self.count(cpu, Ctr::ReleasedDegraded);
        }
        let m = held.mapping();
        let (removed, displaced) = {
            let mut shard = self.shard(m).lock();
            let removed = match shard.files.get(&m) {
                Some(f) if core::ptr::eq(Arc::as_ptr(f), file) => shard.files.remove(&m),
                _ => None,
            };
            // Its locks, if it has any, parked for its next shadow.
            let parked = removed.as_ref().and_then(|f| {
                f.locks.as_ref().map(|l| Parked {
                    mapping: m,
                    ident: f.file.ident(),
                    locks: l.clone(),
                })
            });
            let displaced = parked.and_then(|p| shard.park(p));
            (removed, displaced)
        };
        if removed.is_some() {
            self.nfiles.fetch_sub(1, Relaxed);
        }
        if displaced.is_some() {
            self.count(cpu, Ctr::LocksDropped);
        }
        // The file reference is put here, outside every shadow lock (any
        // context: the final `fput()` is deferred by the kernel); a
        // displaced entry's figures go to the `Retired` sums.
        drop(removed);
        drop(displaced);
    }

    /// The first tree of `st` for which `f` holds, trying `guess` first;
    /// each other non-empty tree tried counts a search miss.
    fn search(
        &self,
        cpu: u32,
        st: &mut FileState,
        guess: usize,
        mut f: impl FnMut(&mut ITree<NodeStore>) -> bool,
    ) -> Option<usize> {
        let guess = guess.min(st.trees.len().saturating_sub(1));
        if f(&mut st.trees.get_mut(guess)?.itree) {
            return Some(guess);
        }
        for (i, t) in st.trees.iter_mut().enumerate() {
            if i != guess && t.itree.len() != 0 {
                self.count(cpu, Ctr::SearchMisses);
                if f(&mut t.itree) {
                    return Some(i);
                }
            }
        }
        None
    }

    /// The tree of `st` holding `(start, key)`, trying `guess` first.
    fn find(
        &self,
        cpu: u32,
        st: &mut FileState,
        start: u64,
        key: usize,
        guess: usize,
    ) -> Option<usize> {
        self.search(cpu, st, guess, |t| t.contains(start, key))
    }

    /// `file`'s locks for a replay (its `ntrees` trees), made at its first
    /// replayed event. Links and unlinks are serialised by the real lock
    /// held for write; a walk's tap (the real lock held for read, or about
    /// to be) can race with another walk or with a link: the loser's copy
    /// is freed, and if the winner's is not published yet the loser's
    /// event is not replayed. That, and an
    /// allocation failure (retried at the next replayed event), are counted
    /// in `drop.lock_alloc`. Called with no shadow lock held.
    fn replay_locks(&self, cpu: u32, file: &FileShadow, ntrees: usize) -> Option<Arc<FileLocks>> {
        if let Some(l) = file.locks.as_ref() {
            return Some(l.clone());
        }
        if let Ok(l) = FileLocks::new(ntrees, &self.retired) {
            // Losing the race drops ours (`kfree`: any context).
            file.locks.populate(l);
        }
        let l = file.locks.as_ref().cloned();
        if l.is_none() {
            self.count(cpu, Ctr::LockAlloc);
        }
        l
    }

    /// Where the policy puts `vma` in `st` now.
    fn policy_tree(&self, st: &FileState, vma: usize, cpu: u32, node: u32) -> usize {
        let trees = &st.trees;
        self.config().policy.choose_among(
            trees.len(),
            |i| trees.get(i).map_or(0, |t| t.itree.len() as u64),
            vma,
            cpu,
            node,
        )
    }

    /// The real kernel linked `v` (`prev`: the VMA it was linked after, and
    /// its page offset), in `task` (0: the seeding walk, which finds VMAs
    /// the taps may have linked already). Returns the file's locks and the
    /// tree, when linked.
    pub(crate) fn link(
        &self,
        v: &VmaView,
        prev: Option<(usize, u64)>,
        cx: &TapCtx,
        held: &mut IMmapHeld<'_>,
        replay: bool,
    ) -> Touched {
        if !self.is_active() {
            return None;
        }
        let (task, cpu, node) = (cx.task, cx.cpu, cx.node);
        let seeding = task == 0;
        // A dup hint is for this task's next link only.
        let dup = self.memo.take_dup(task);
        let recent = self.memo.take_removed(task, v.vma());
        let file = self.get_or_create(v, cpu, held)?;
        let mut guard = file.state.lock();
        let st = &mut *guard;
        let n = st.trees.len();
        if seeding && self.find(cpu, st, v.start(), v.vma(), 0).is_some() {
            self.count(cpu, Ctr::DupLinks);
            return None;
        }
        let placed = if let Some(t) = recent.filter(|&t| (t as usize) < n) {
            Some((t as usize, Ctr::PlacedRecord))
        } else if let Some(t) = prev.and_then(|(p, ps)| self.find(cpu, st, ps, p, 0)) {
            Some((t, Ctr::PlacedParent))
        } else if let Some((o, os, _)) = dup.filter(|d| d.2 == v.mapping()) {
            self.find(cpu, st, os, o, 0).map(|t| (t, Ctr::PlacedDup))
        } else {
            None
        };
        let (tree, how) =
            placed.unwrap_or_else(|| (self.policy_tree(st, v.vma(), cpu, node), Ctr::PlacedPolicy));
        let tree = tree.min(n.saturating_sub(1));
        let t = st.trees.get_mut(tree)?;
        match t.itree.insert(v.start(), v.last(), v.vma()) {
            Ok(()) => {}
            Err(InsertError::Dup) => {
                self.count(cpu, Ctr::DupLinks);
                return None;
            }
            Err(InsertError::Full) => {
                st.degraded = true;
                self.count(cpu, Ctr::AllocFailures);
                if st.total == 0 {
                    // Never keep a file alive with no VMA shadowed.
                    drop(guard);
                    let p: *const FileShadow = file;
                    self.release(cpu, held, p, true);
                }
                return None;
            }
        }
        t.inserts += 1;
        st.total += 1;
        self.count(cpu, how);
        self.count(cpu, Ctr::Linked);
        if seeding {
            self.count(cpu, Ctr::Seeded);
        }
        drop(guard);
        if !replay {
            return None;
        }
        Some((self.replay_locks(cpu, file, n)?, tree as u32))
    }

    fn unknown_remove(&self, cpu: u32) {
        self.count(cpu, Ctr::UnknownRemoves);
        if self.seeding.load(Relaxed) != 0 {
            self.count(cpu, Ctr::UnknownRemovesSeeding);
        }
    }

    /// The real kernel unlinked `vma` (at page offset `start`) from
    /// `mapping`'s tree, in `task`. Returns the file's locks and the tree,
    /// when unlinked.
    pub(crate) fn unlink(
        &self,
        vma: usize,
        start: u64,
        cx: &TapCtx,
        held: &mut IMmapHeld<'_>,
        replay: bool,
    ) -> Touched {
        if !self.is_active() {
            return None;
        }
        let (task, cpu, node) = (cx.task, cx.cpu, cx.node);
        let Some(file) = self.lookup_held(held) else {
            self.unknown_remove(cpu);
            return None;
        };
        let mut st = file.state.lock();
        let guess = self.policy_tree(&st, vma, cpu, node);
        let st_ref = &mut *st;
        // One descent per tree tried.
        let Some(tree) = self.search(cpu, st_ref, guess, |t| t.remove(start, vma)) else {
            drop(st);
            self.unknown_remove(cpu);
            return None;
        };
        match st_ref.total.checked_sub(1) {
            Some(n) => st_ref.total = n,
            None => self.count(cpu, Ctr::Underflows),
        }
        self.count(cpu, Ctr::Unlinked);
        self.memo.removed(task, vma, tree as u32);
        let (n, last, degraded) = (st_ref.trees.len(), st_ref.total == 0, st_ref.degraded);
        drop(st);
        let locks = if replay {
            self.replay_locks(cpu, file, n).map(|l| (l, tree as u32))
        } else {
            None
        };
        if last {
            // Degraded or not: the shadow never keeps the file alive past
            // its last shadowed VMA (not the file's last reference: the
            // VMA being unlinked still holds one).
            let p: *const FileShadow = file;
            self.release(cpu, held, p, degraded);
        }
        locks
    }

    /// The real kernel walks the rmap of `mapping` over page offsets
    /// `start..=last`: the same interval query over every shadow tree.
    /// Returns, when `replay`, the file's locks and the VMAs found.
    pub(crate) fn walk(
        &self,
        cpu: u32,
        mapping: usize,
        start: u64,
        last: u64,
        replay: bool,
    ) -> Option<(Arc<FileLocks>, u64)> {
        if !self.is_active() {
            return None;
        }
        let file = self.lookup(mapping)?;
        let mut found = 0u64;
        let n = {
            let st = file.state.lock();
            for t in st.trees.iter() {
                t.itree.query(start, last, &mut |_| found += 1);
            }
            st.trees.len()
        };
        self.count(cpu, Ctr::Walks);
        if !replay {
            return None;
        }
        Some((self.replay_locks(cpu, &file, n)?, found))
    }

    /// `vm_area_dup(orig)` in `task`: remembered for the task's next link.
    /// `orig` must be live with stable fields (the taps: its mm is
    /// write-locked).
    pub(crate) fn note_dup(&self, task: usize, orig: &VmaView) {
        if self.is_active() {
            self.memo
                .dup(task, orig.vma(), orig.start(), orig.mapping());
        }
    }

    /// `vm_area_free(vma)` in `task`: no hint names it any more.
    pub(crate) fn vma_freed(&self, task: usize, vma: usize) {
        self.memo.forget(task, vma);
    }

    /// References to every shadowed file, taken one shard at a time (each
    /// shard lock held for one pass over its entries, no allocation under
    /// it). Sleeps.
    pub(crate) fn files(&self) -> Result<KVVec<Arc<FileShadow>>> {
        let mut v = KVVec::with_capacity(self.nr_files() + 64, GFP_KERNEL)?;
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for f in shard.files.values() {
                if v.push_within_capacity(f.clone()).is_err() {
                    return Ok(v);
                }
            }
        }
        Ok(v)
    }

    /// References to every parked lock set, taken one shard at a time (no
    /// allocation under a shard lock). Sleeps.
    pub(crate) fn parked_locks(&self) -> Result<KVVec<Arc<FileLocks>>> {
        let mut v = KVVec::with_capacity(SHARDS * PARKED, GFP_KERNEL)?;
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for p in shard.parked.iter().flatten() {
                if v.push_within_capacity(p.locks.clone()).is_err() {
                    return Ok(v);
                }
            }
        }
        Ok(v)
    }

    /// Empties the table (the taps are inactive and done: see
    /// [`Shared::set_policy`]); each shard's files are dropped outside its
    /// lock. Sleeps.
    pub(crate) fn clear(&self) {
        for shard in self.shards.iter() {
            let old = core::mem::replace(&mut *shard.lock(), Shard::new());
            drop(old);
            crate::sys::cond_resched();
        }
        self.nfiles.store(0, Relaxed);
        // A rebuild starts every figure from zero, the released files' too
        // (a replay still pending with an old file's locks adds its own
        // when it drops them).
        self.retired.reset();
    }

    /// Bytes of the table itself (shards, hints, per-CPU counters).
    pub(crate) fn fixed_bytes(&self) -> usize {
        let shard = crate::kmalloc_bytes(core::mem::size_of::<SpinLock<Shard>>());
        self.shards.len() * shard + self.memo.bytes() + self.ctrs.bytes()
    }
}

/// Real allocation sizes of one file's shadow, but for its tree nodes.
pub(crate) fn file_bytes(f: &FileShadow, st: &FileState) -> usize {
    // The Arc's allocation holds a refcount beside the shadow.
    let arc = crate::kmalloc_bytes(core::mem::size_of::<FileShadow>() + 16);
    let trees = crate::kmalloc_bytes(st.trees.capacity() * core::mem::size_of::<Tree>());
    let entry = crate::rbtree_entry_bytes::<usize, Arc<FileShadow>>();
    arc + trees + entry + f.locks.as_ref().map_or(0, |l| l.bytes())
}

/// Links every file VMA of every process into the shadow (at load, and after
/// a mode or policy change). Each mm is walked under its `mmap_read_lock`,
/// which keeps its VMAs from being linked or unlinked meanwhile; VMAs the
/// taps already linked are found in their trees and not linked twice.
///
/// With `anon` (at load and mode change only), also counts every VMA and
/// records every AVC and anon_vma of every VMA in the anon bookkeeping
/// ([`crate::anon`]).
pub(crate) fn seed(shared: &Shared, anon: bool) -> Result {
    // `seeding` is set from the creation of the (empty) shadow on.
    let r = seed_all(shared, anon);
    shared.shadow.set_seeding(false);
    if anon {
        shared.anon.seeded();
    }
    r
}

/// The walk of [`seed`].
fn seed_all(shared: &Shared, anon: bool) -> Result {
    for mm in crate::kmm::all_mms()?.iter() {
        {
            let g = mm.read();
            g.for_each_vma(&mut |vma| {
                if anon {
                    shared.anon.seed_vma(vma);
                }
                // Under the file's real lock, as the taps: the only place a
                // file's table entry may change (see `Shadow`).
                if let Some((v, mut w)) = vma.lock_i_mmap() {
                    shared
                        .shadow
                        .link(&v, None, &TapCtx::seeding(), &mut w.held(), false);
                }
            });
        }
        // Between mms, with no lock held: a long walk yields the CPU.
        crate::sys::cond_resched();
    }
    Ok(())
}
