// SPDX-License-Identifier: GPL-2.0

//! Lazy anon rmap bookkeeping: the real kernel's live `anon_vma` and
//! `anon_vma_chain` objects, and what ANON_VMA_LAZY (seed 003) would hold.
//!
//! Real side: every AVC the kernel links into an anon_vma's interval tree
//! (`anon_rmap_tree_insert`) is live until it is unlinked
//! (`anon_rmap_tree_remove`); an anon_vma is live from its first AVC link
//! until `__put_anon_vma()` frees it (and, when its root's last reference
//! goes with it, the root too).
//!
//! Lazy side, following the series: an anon_vma exists only once it is
//! *materialised*: when a VMA whose AVC chain contains it is forked
//! (`anon_vma_fork(child, parent)`: the series upgrades the parent's lazy
//! VMA to a regular anon_vma; the child is linked to the parent's anon_vmas
//! but gets no anon_vma of its own until it forks in turn). An AVC exists
//! under lazy iff its anon_vma is materialised: so the AVCs that splits,
//! merges and mremap add to a lazy VMA cost nothing, and a materialised
//! family behaves as today. THP upgrades (the series' other upgrade point)
//! do not occur: the test kernels have no transparent huge pages.
//!
//! Locking: the records are sharded by anon_vma address ([`SHARDS`]
//! shards, each its own spinlock, on its own cache lines): an AVC's record
//! lives in its anon_vma's shard, and every event names the anon_vma it
//! touches (`anon_rmap_tree_insert/remove(avc, anon_vma)`,
//! `__put_anon_vma(anon_vma)`, the fork's chain), so one event takes one
//! shard lock at a time and unrelated processes rarely meet. Live counts
//! are per shard, summed on read; a high-water mark is the sum of the
//! shards' marks, an upper bound of the true peak that equals it while the
//! counts only grow (documented in debugfs.rst). VMA allocations and frees
//! are counted per CPU; the `vm_area_struct` high-water mark is sampled
//! when `anon` is read.

use crate::{percpu::PerCpu, policy::hash_ptr, sys};
use kernel::{
    bindings, new_spinlock,
    prelude::*,
    rbtree::{Entry, RBTree, RBTreeNodeReservation},
    sync::{
        atomic::{Atomic, Relaxed},
        SpinLock,
    },
};

/// Shards of the anon records.
pub(crate) const SHARDS: usize = 64;

/// What the shadow knows of one real anon_vma.
#[derive(Clone, Copy)]
struct AvRec {
    /// Would exist under ANON_VMA_LAZY.
    materialized: bool,
    /// Live AVCs pointing to it.
    navc: u32,
}

/// Live object counts and their high-water marks.
#[derive(Default, Clone, Copy)]
pub(crate) struct Counts {
    /// Real live anon_vmas.
    pub(crate) real_av: u64,
    /// Real live anon_vma_chains.
    pub(crate) real_avc: u64,
    /// Lazy live anon_vmas.
    pub(crate) lazy_av: u64,
    /// Lazy live anon_vma_chains.
    pub(crate) lazy_avc: u64,
    /// Live VMAs (seeded, plus allocated, minus freed).
    pub(crate) vmas: u64,
}

/// Event counters.
#[derive(Default, Clone, Copy)]
pub(crate) struct AnonEvents {
    /// `anon_vma_fork` calls. (The `__anon_vma_prepare`, `anon_vma_clone`
    /// and `unlink_anon_vmas` calls are their taps' per-CPU hit counts: those
    /// taps take no lock.)
    pub(crate) fork: u64,
    /// AVC links.
    pub(crate) avc_insert: u64,
    /// AVC unlinks.
    pub(crate) avc_remove: u64,
    /// anon_vmas freed (`__put_anon_vma`, and roots freed with them).
    pub(crate) av_freed: u64,
    /// anon_vmas materialised by a fork.
    pub(crate) materialized: u64,
    /// `vm_area_alloc` + `vm_area_dup` calls.
    pub(crate) vma_alloc: u64,
    /// anon_vmas and AVCs found by seeding.
    pub(crate) seeded_av: u64,
    /// AVCs found by seeding.
    pub(crate) seeded_avc: u64,
    /// AVCs seeding found already known (a tap was first).
    pub(crate) dup_avc: u64,
    /// Unlinks of AVCs never seen (linked before load, missed by seeding).
    pub(crate) unknown_avc: u64,
    /// Of `unknown_avc`, those while seeding ran (expected).
    pub(crate) unknown_avc_seeding: u64,
    /// Frees of anon_vmas never seen (never linked: allocation races).
    pub(crate) unknown_put: u64,
    /// anon_vmas freed while the shadow still counted AVCs on them.
    pub(crate) freed_with_avcs: u64,
    /// Events dropped for lack of memory.
    pub(crate) alloc_failures: u64,
    /// Chains longer than the walk buffer (the rest not materialised).
    pub(crate) chain_overflow: u64,
    /// Counter underflows avoided (a live count already at zero): each is
    /// a bug or a missed event.
    pub(crate) underflows: u64,
}

/// `*c -= 1`, or count an underflow in `ev` instead of panicking in a probe
/// (not while `seeding`: until the walk has counted what existed at load,
/// a free of an older object finds the count short, as expected).
fn dec(c: &mut u64, ev: &mut AnonEvents, seeding: bool) {
    match c.checked_sub(1) {
        Some(v) => *c = v,
        None if seeding => {}
        None => ev.underflows += 1,
    }
}

/// One shard of the anon records: the anon_vmas hashing to it and their
/// AVCs.
pub(crate) struct AnonShard {
    avs: RBTree<usize, AvRec>,
    avcs: RBTree<usize, usize>,
    /// Live counts now.
    now: Counts,
    /// High-water marks since load or `reset`.
    hw: Counts,
    /// Events.
    ev: AnonEvents,
    /// The seeding walk is in progress (copied from [`Anon`] at each event).
    seeding: bool,
}

/// Longest AVC chain walked per VMA.
pub(crate) const MAX_CHAIN: usize = 32;

impl AnonShard {
    /// Nothing seen yet.
    fn new() -> Self {
        Self {
            avs: RBTree::new(),
            avcs: RBTree::new(),
            now: Counts::default(),
            hw: Counts::default(),
            ev: AnonEvents::default(),
            // Until the load-time seeding walk ends.
            seeding: true,
        }
    }

    fn mark_hw(&mut self) {
        let (n, h) = (&self.now, &mut self.hw);
        h.real_av = h.real_av.max(n.real_av);
        h.real_avc = h.real_avc.max(n.real_avc);
        h.lazy_av = h.lazy_av.max(n.lazy_av);
        h.lazy_avc = h.lazy_avc.max(n.lazy_avc);
        h.vmas = h.vmas.max(n.vmas);
    }

    /// High-water marks restart from the live counts.
    fn reset_hw(&mut self) {
        self.hw = self.now;
    }

    /// The anon_vma's record, created (real live, not materialised) if new.
    /// One descent of the tree either way.
    fn av_rec(&mut self, av: usize, materialized: bool) -> Option<&mut AvRec> {
        match self.avs.entry(av) {
            Entry::Occupied(o) => Some(o.into_mut()),
            Entry::Vacant(v) => {
                let Ok(res) = RBTreeNodeReservation::new(crate::TAP_GFP) else {
                    self.ev.alloc_failures += 1;
                    return None;
                };
                self.now.real_av += 1;
                if materialized {
                    self.now.lazy_av += 1;
                }
                Some(v.insert(
                    AvRec {
                        materialized,
                        navc: 0,
                    },
                    res,
                ))
            }
        }
    }

    /// The kernel linked `avc` into `av`'s tree.
    fn avc_insert(&mut self, avc: usize, av: usize) {
        self.ev.avc_insert += 1;
        self.link(avc, av, false);
    }

    fn link(&mut self, avc: usize, av: usize, materialized: bool) -> bool {
        // Allocated before the descent, so that one descent both finds a
        // duplicate (rare: seeding meeting a tap; the node is then freed)
        // and links the new record.
        let Ok(res) = RBTreeNodeReservation::new(crate::TAP_GFP) else {
            self.ev.alloc_failures += 1;
            return false;
        };
        match self.avcs.entry(avc) {
            Entry::Occupied(_) => {
                drop(res);
                self.ev.dup_avc += 1;
                return false;
            }
            Entry::Vacant(v) => {
                v.insert(av, res);
            }
        }
        let Some(rec) = self.av_rec(av, materialized) else {
            self.avcs.remove(&avc);
            return false;
        };
        rec.navc = rec.navc.saturating_add(1);
        let mat = rec.materialized;
        self.now.real_avc += 1;
        if mat {
            self.now.lazy_avc += 1;
        }
        self.mark_hw();
        true
    }

    /// The kernel unlinked `avc` from its anon_vma's tree.
    fn avc_remove(&mut self, avc: usize) {
        self.ev.avc_remove += 1;
        let Some(av) = self.avcs.remove(&avc) else {
            self.ev.unknown_avc += 1;
            if self.seeding {
                self.ev.unknown_avc_seeding += 1;
            }
            return;
        };
        dec(&mut self.now.real_avc, &mut self.ev, self.seeding);
        if let Some(rec) = self.avs.get_mut(&av) {
            if rec.navc == 0 && !self.seeding {
                self.ev.underflows += 1;
            }
            rec.navc = rec.navc.saturating_sub(1);
            if rec.materialized {
                dec(&mut self.now.lazy_avc, &mut self.ev, self.seeding);
            }
        }
    }

    /// A VMA whose chain holds `avs` is being forked: under ANON_VMA_LAZY
    /// each of them exists from now on.
    fn materialize(&mut self, avs: &[usize]) {
        for &av in avs {
            let Some(rec) = self.av_rec(av, false) else {
                continue;
            };
            if !rec.materialized {
                rec.materialized = true;
                let navc = u64::from(rec.navc);
                self.now.lazy_av += 1;
                self.now.lazy_avc = self.now.lazy_avc.saturating_add(navc);
                self.ev.materialized += 1;
            }
        }
        self.mark_hw();
    }

    /// The kernel frees `a`.
    fn put(&mut self, a: usize) {
        {
            match self.avs.remove(&a) {
                None => self.ev.unknown_put += 1,
                Some(rec) => {
                    self.ev.av_freed += 1;
                    dec(&mut self.now.real_av, &mut self.ev, self.seeding);
                    if rec.materialized {
                        dec(&mut self.now.lazy_av, &mut self.ev, self.seeding);
                    }
                    if rec.navc != 0 {
                        self.ev.freed_with_avcs += 1;
                    }
                }
            }
        }
    }

    /// Seeding found the AVCs `avcs` (with their anon_vmas `avs`) on a live
    /// VMA. An anon_vma counts as materialised when it has been forked from
    /// (a child anon_vma names it as parent: `num_children > 1`): lazy would
    /// have needed it. One forked from whose children all exited is counted
    /// as lazy; that is the seeding's approximation.
    fn seed_vma(&mut self, avcs: &[usize], avs: &[usize]) {
        for (&avc, &av) in avcs.iter().zip(avs.iter()) {
            let known = self.avs.get(&av).is_some();
            // SAFETY: `av` is linked from a live VMA whose mm is read-locked
            // by the caller: it cannot be freed meanwhile.
            let forked_from = unsafe { sys::rs_anon_vma_num_children(av as *mut _) } > 1;
            if self.link(avc, av, forked_from) {
                self.ev.seeded_avc += 1;
                if !known {
                    self.ev.seeded_av += 1;
                }
            }
            if forked_from {
                self.materialize(&[av]);
            }
        }
    }

    /// Records in the shard (one per live anon_vma and AVC it knows).
    fn records(&self) -> (usize, usize) {
        (self.now.real_av as usize, self.now.real_avc as usize)
    }
}

/// The lazy anon rmap bookkeeping: the shards and the VMA counts.
pub(crate) struct Anon {
    shards: KVec<Pin<KBox<SpinLock<AnonShard>>>>,
    /// Per CPU: VMAs allocated (`vm_area_alloc`, `vm_area_dup`) and freed.
    vma_ctrs: PerCpu<[Atomic<u64>; 2]>,
    /// VMAs found by the seeding walk, and the allocations and frees
    /// counted when it started.
    vma_base: Atomic<u64>,
    vma_base_alloc: Atomic<u64>,
    vma_base_free: Atomic<u64>,
    /// The `vm_area_struct` high-water mark (sampled on reads).
    vma_hw: Atomic<u64>,
    /// A seeding walk is in progress.
    seeding: Atomic<u32>,
}

/// A locked anon shard.
type ShardGuard<'a> = kernel::sync::SpinLockGuard<'a, AnonShard>;

impl Anon {
    /// Nothing seen yet (seeding until [`Anon::seeded`]). Sleeps.
    pub(crate) fn new() -> Result<Self> {
        let mut shards = KVec::with_capacity(SHARDS, GFP_KERNEL)?;
        for _ in 0..SHARDS {
            shards.push(
                KBox::pin_init(
                    new_spinlock!(AnonShard::new(), "rmap_shadow_anon"),
                    GFP_KERNEL,
                )?,
                GFP_KERNEL,
            )?;
        }
        Ok(Self {
            shards,
            vma_ctrs: PerCpu::new(|| [Atomic::new(0), Atomic::new(0)])?,
            vma_base: Atomic::new(0),
            vma_base_alloc: Atomic::new(0),
            vma_base_free: Atomic::new(0),
            vma_hw: Atomic::new(0),
            seeding: Atomic::new(1),
        })
    }

    fn shard(&self, av: usize) -> ShardGuard<'_> {
        let mut g = self.shards[(hash_ptr(av) as usize) % SHARDS].lock();
        g.seeding = self.seeding.load(Relaxed) != 0;
        g
    }

    /// Forgets everything and starts seeding again (mode change; the taps
    /// leave the anon state alone meanwhile).
    pub(crate) fn reset_all(&self) {
        for s in self.shards.iter() {
            let old = core::mem::replace(&mut *s.lock(), AnonShard::new());
            drop(old);
        }
        let (a, f) = self.vma_sums();
        self.vma_base.store(0, Relaxed);
        self.vma_base_alloc.store(a, Relaxed);
        self.vma_base_free.store(f, Relaxed);
        self.vma_hw.store(0, Relaxed);
        self.seeding.store(1, Relaxed);
    }

    /// The seeding walk ended: high-water marks start from the live counts.
    pub(crate) fn seeded(&self) {
        self.seeding.store(0, Relaxed);
        self.reset_hw();
    }

    /// The kernel linked `avc` into `av`'s tree.
    pub(crate) fn avc_insert(&self, avc: usize, av: usize) {
        self.shard(av).avc_insert(avc, av);
    }

    /// The kernel unlinked `avc` from `av`'s tree.
    pub(crate) fn avc_remove(&self, avc: usize, av: usize) {
        self.shard(av).avc_remove(avc);
    }

    /// A VMA whose chain holds `avs` is being forked (`over`: the chain was
    /// longer than the buffer).
    pub(crate) fn fork(&self, avs: &[usize], over: bool) {
        for &av in avs {
            self.shard(av).materialize(&[av]);
        }
        if let (true, Some(&av)) = (over, avs.first()) {
            self.shard(av).ev.chain_overflow += 1;
        }
    }

    /// The kernel frees `av` (and `root`, when its last reference goes).
    pub(crate) fn put(&self, av: usize, root: Option<usize>) {
        for a in Iterator::chain(core::iter::once(av), root) {
            self.shard(a).put(a);
        }
    }

    /// Seeding found a VMA with the AVCs `avcs` (and anon_vmas `avs`).
    pub(crate) fn seed_vma(&self, avcs: &[usize], avs: &[usize], over: bool) {
        self.vma_base.add(1, Relaxed);
        for (&avc, &av) in avcs.iter().zip(avs.iter()) {
            self.shard(av).seed_vma(&[avc], &[av]);
        }
        if let (true, Some(&av)) = (over, avs.first()) {
            self.shard(av).ev.chain_overflow += 1;
        }
    }

    /// A VMA was allocated (`freed`: was freed). Per CPU, no lock.
    pub(crate) fn vma_event(&self, freed: bool) {
        self.vma_ctrs.this_cpu()[usize::from(freed)].add(1, Relaxed);
    }

    fn vma_sums(&self) -> (u64, u64) {
        let [a, f] = self.vma_ctrs.sums();
        (a, f)
    }

    /// Live VMAs: seeded, plus allocated, minus freed since seeding began.
    fn vmas_now(&self) -> u64 {
        let (a, f) = self.vma_sums();
        let a = a.wrapping_sub(self.vma_base_alloc.load(Relaxed));
        let f = f.wrapping_sub(self.vma_base_free.load(Relaxed));
        self.vma_base
            .load(Relaxed)
            .wrapping_add(a)
            .wrapping_sub(f)
            .min(i64::MAX as u64)
    }

    /// High-water marks restart from the live counts.
    pub(crate) fn reset_hw(&self) {
        for s in self.shards.iter() {
            s.lock().reset_hw();
        }
        self.vma_hw.store(self.vmas_now(), Relaxed);
    }

    /// Live counts, high-water marks and events, summed over the shards
    /// (one shard lock at a time).
    pub(crate) fn sums(&self) -> (Counts, Counts, AnonEvents) {
        let (mut now, mut hw, mut ev) =
            (Counts::default(), Counts::default(), AnonEvents::default());
        for s in self.shards.iter() {
            let g = s.lock();
            now.add(&g.now);
            hw.add(&g.hw);
            ev.add(&g.ev);
        }
        let (a, _) = self.vma_sums();
        ev.vma_alloc = a;
        now.vmas = self.vmas_now();
        let h = self.vma_hw.load(Relaxed).max(now.vmas);
        self.vma_hw.store(h, Relaxed);
        hw.vmas = h;
        (now, hw, ev)
    }

    /// Records over every shard (one shard lock at a time) and the
    /// allocator's real size of each: (anon_vmas, AVCs, bytes of both).
    fn records(&self) -> (usize, usize, usize) {
        use kernel::rbtree::RBTreeNode;
        let av = crate::kmalloc_bytes(core::mem::size_of::<RBTreeNode<usize, AvRec>>());
        let avc = crate::kmalloc_bytes(core::mem::size_of::<RBTreeNode<usize, usize>>());
        let (mut n_av, mut n_avc) = (0usize, 0usize);
        for s in self.shards.iter() {
            let (a, c) = s.lock().records();
            n_av += a;
            n_avc += c;
        }
        (n_av, n_avc, n_av * av + n_avc * avc)
    }

    /// Bytes of the records (the allocator's real size of a red-black
    /// node) and of the shards.
    pub(crate) fn bytes(&self) -> usize {
        let shard = crate::kmalloc_bytes(core::mem::size_of::<SpinLock<AnonShard>>());
        self.shards.len() * shard + self.vma_ctrs.bytes() + self.records().2
    }

    /// Bytes of the records per real anon_vma tracked (its own and its
    /// AVCs'), 0 when none.
    pub(crate) fn record_bytes_per_anon_vma(&self) -> usize {
        let (n_av, _, bytes) = self.records();
        bytes.checked_div(n_av).unwrap_or(0)
    }
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.real_av += o.real_av;
        self.real_avc += o.real_avc;
        self.lazy_av += o.lazy_av;
        self.lazy_avc += o.lazy_avc;
        self.vmas += o.vmas;
    }
}

impl AnonEvents {
    fn add(&mut self, o: &AnonEvents) {
        self.fork += o.fork;
        self.avc_insert += o.avc_insert;
        self.avc_remove += o.avc_remove;
        self.av_freed += o.av_freed;
        self.materialized += o.materialized;
        self.vma_alloc += o.vma_alloc;
        self.seeded_av += o.seeded_av;
        self.seeded_avc += o.seeded_avc;
        self.dup_avc += o.dup_avc;
        self.unknown_avc += o.unknown_avc;
        self.unknown_avc_seeding += o.unknown_avc_seeding;
        self.unknown_put += o.unknown_put;
        self.freed_with_avcs += o.freed_with_avcs;
        self.alloc_failures += o.alloc_failures;
        self.chain_overflow += o.chain_overflow;
        self.underflows += o.underflows;
    }
}

/// Sizes of the real objects.
pub(crate) fn sizes() -> (usize, usize, usize) {
    (
        sys::RS_SIZEOF_VMA as usize,
        sys::RS_SIZEOF_AVC as usize,
        sys::RS_SIZEOF_ANON_VMA as usize,
    )
}

/// The anon_vmas (and AVCs) of `vma`'s chain, at most [`MAX_CHAIN`];
/// returns how many, and whether the chain was longer.
///
/// # Safety
///
/// `vma` must be live and its AVC chain stable (its mm's mmap lock held, or
/// the kernel's own caller holding it at a tap's entry).
pub(crate) unsafe fn chain(
    vma: *mut bindings::vm_area_struct,
    avcs: &mut [usize; MAX_CHAIN],
    avs: &mut [usize; MAX_CHAIN],
) -> (usize, bool) {
    // SAFETY: per the caller; the buffers hold `MAX_CHAIN` pointers each.
    let n = unsafe {
        sys::rs_vma_avcs(
            vma,
            avcs.as_mut_ptr().cast(),
            avs.as_mut_ptr().cast(),
            MAX_CHAIN as i32,
        )
    } as usize;
    (n.min(MAX_CHAIN), n > MAX_CHAIN)
}
