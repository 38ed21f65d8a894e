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
//! Records: one per real anon_vma (whether lazy would have it, and how
//! many AVCs link it), none per AVC. Every AVC event names its anon_vma
//! (`anon_rmap_tree_insert/remove(avc, anon_vma)`), so a count per anon_vma
//! is all the lazy arithmetic needs: an AVC link or unlink allocates and
//! frees nothing (only an anon_vma's first link makes its record). The
//! seeding walk sets each anon_vma's count once, exactly, from the real
//! interval tree under the real anon_vma lock ([`AnonShard::seed_av`]):
//! the taps on that anon_vma run under the same lock held for write, so
//! no link or unlink comes between the count and the record.
//!
//! Locking: the records are sharded by anon_vma address ([`SHARDS`]
//! shards, each its own spinlock, on its own cache lines); every event
//! names the anon_vma it touches (the AVC taps, `__put_anon_vma(anon_vma)`,
//! the fork's chain), so one event takes one shard lock at a time and
//! unrelated processes rarely meet. Live counts
//! are per shard, summed on read; a high-water mark is the sum of the
//! shards' marks, an upper bound of the true peak that equals it while the
//! counts only grow (documented in debugfs.rst). VMA allocations and frees
//! are counted per CPU; the `vm_area_struct` high-water mark is sampled
//! when `anon` is read.

use crate::fast::Atomic;
use crate::views::{read_command, MAX_WRITE};
use crate::Shared;
use crate::{kmm::LockedVma, percpu::PerCpu, policy::hash_ptr, sys};
use core::fmt;
use kernel::{
    bindings, new_spinlock,
    prelude::*,
    rbtree::{Entry, RBTree, RBTreeNodeReservation},
    sync::{atomic::Relaxed, SpinLock},
};
use kernel::{sync::Arc, uaccess::UserSliceReader};

/// Shards of the anon records.
pub(crate) const SHARDS: usize = 64;

/// What the shadow knows of one real anon_vma.
#[derive(Clone, Copy)]
struct AvRec {
    /// Would exist under ANON_VMA_LAZY.
    materialized: bool,
    /// `navc` was set from the real tree by the seeding walk (exact since,
    /// as every later link and unlink is a tap).
    seeded: bool,
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
    /// anon_vmas found by seeding (not seen by a tap before).
    pub(crate) seeded_av: u64,
    /// AVCs counted by seeding (in the real trees of the anon_vmas seeded).
    pub(crate) seeded_avc: u64,
    /// Unlinks of AVCs never counted (linked before load, missed by
    /// seeding: the anon_vma unknown or its count already zero).
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
    /// Live counts now.
    now: Counts,
    /// High-water marks since load or `reset`.
    hw: Counts,
    /// Events.
    ev: AnonEvents,
    /// The seeding walk is in progress (copied from [`Anon`] at each event).
    seeding: bool,
    /// Records' memory kept from freed anon_vmas for the next new ones, so
    /// that the anon_vmas every fork and exec makes and frees cost no
    /// `kmalloc()` and `kfree()` under the shard lock (measured under TCG
    /// in an execl storm: `anon_rmap_tree_insert` 2.7 → 1.8 µs mean,
    /// `__put_anon_vma` 1.3 → 0.7 µs). At most [`SPARES`] per shard,
    /// counted in [`Anon::bytes`]; freed with the shard.
    spares: [Option<RBTreeNodeReservation<usize, AvRec>>; SPARES],
}

/// Spare records per shard (see [`AnonShard::spares`]).
const SPARES: usize = 4;

/// Longest AVC chain walked per VMA.
pub(crate) const MAX_CHAIN: usize = 32;

impl AnonShard {
    /// Nothing seen yet.
    fn new() -> Self {
        Self {
            avs: RBTree::new(),
            now: Counts::default(),
            hw: Counts::default(),
            ev: AnonEvents::default(),
            // Until the load-time seeding walk ends.
            seeding: true,
            spares: [const { None }; SPARES],
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
                let spare = self.spares.iter_mut().find_map(Option::take);
                let Some(res) = spare.or_else(|| RBTreeNodeReservation::new(crate::TAP_GFP).ok())
                else {
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
                        seeded: false,
                        navc: 0,
                    },
                    res,
                ))
            }
        }
    }

    /// The kernel linked an AVC into `av`'s tree. Allocates only for the
    /// anon_vma's first link (its record).
    fn avc_insert(&mut self, av: usize) {
        self.ev.avc_insert += 1;
        let Some(rec) = self.av_rec(av, false) else {
            return;
        };
        rec.navc = rec.navc.saturating_add(1);
        let mat = rec.materialized;
        self.now.real_avc += 1;
        if mat {
            self.now.lazy_avc += 1;
        }
        self.mark_hw();
    }

    /// The kernel unlinked an AVC from `av`'s tree.
    fn avc_remove(&mut self, av: usize) {
        self.ev.avc_remove += 1;
        let counted = match self.avs.get_mut(&av) {
            Some(rec) if rec.navc > 0 => {
                rec.navc -= 1;
                Some(rec.materialized)
            }
            _ => None,
        };
        let Some(mat) = counted else {
            // Linked before load and not (yet) counted by seeding.
            self.ev.unknown_avc += 1;
            if self.seeding {
                self.ev.unknown_avc_seeding += 1;
            }
            return;
        };
        dec(&mut self.now.real_avc, &mut self.ev, self.seeding);
        if mat {
            dec(&mut self.now.lazy_avc, &mut self.ev, self.seeding);
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
            match self.avs.find_mut(&a).map(|o| (*o.get(), o.remove_node())) {
                None => self.ev.unknown_put += 1,
                Some((rec, node)) => {
                    // Its memory kept for the next record if there is
                    // room, else freed (`kfree`: any context).
                    if let Some(slot) = self.spares.iter_mut().find(|s| s.is_none()) {
                        *slot = Some(node.into_reservation());
                    }
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

    /// Seeding found `av` with `nr` AVCs in its real tree, counted under
    /// its real lock (held by the caller until this returns: no tap on `av`
    /// runs meanwhile). The first time, the record's count becomes `nr`
    /// exactly; the totals move by the difference. An anon_vma counts as
    /// materialised when it has been forked from (`forked_from`: a child
    /// anon_vma names it as parent, `num_children > 1`): lazy would have
    /// needed it. One forked from whose children all exited is counted as
    /// lazy; that is the seeding's approximation.
    fn seed_av(&mut self, av: usize, nr: u64, forked_from: bool) {
        let known = self.avs.get(&av).is_some();
        let Some(rec) = self.av_rec(av, false) else {
            return;
        };
        if rec.seeded {
            return;
        }
        rec.seeded = true;
        let old = u64::from(rec.navc);
        rec.navc = u32::try_from(nr).unwrap_or(u32::MAX);
        let mat = rec.materialized;
        let n = &mut self.now;
        n.real_avc = n.real_avc.saturating_sub(old).saturating_add(nr);
        if mat {
            n.lazy_avc = n.lazy_avc.saturating_sub(old).saturating_add(nr);
        }
        self.ev.seeded_avc += nr;
        if !known {
            self.ev.seeded_av += 1;
        }
        if forked_from {
            self.materialize(&[av]);
        }
        self.mark_hw();
    }

    /// Records in the shard: one per live anon_vma it knows, and the
    /// spare ones.
    fn records(&self) -> (usize, usize) {
        let spares = self.spares.iter().filter(|s| s.is_some()).count();
        (self.now.real_av as usize, spares)
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

    /// The kernel linked an AVC into `av`'s tree.
    pub(crate) fn avc_insert(&self, av: usize) {
        self.shard(av).avc_insert(av);
    }

    /// The kernel unlinked an AVC from `av`'s tree.
    pub(crate) fn avc_remove(&self, av: usize) {
        self.shard(av).avc_remove(av);
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

    /// Seeding found `vma`: counted, and each anon_vma of its chain seeded
    /// under its real lock ([`AnonShard::seed_av`]). Sleeps.
    pub(crate) fn seed_vma(&self, vma: &LockedVma) {
        self.vma_base.add(1, Relaxed);
        let mut first = None;
        let whole = vma.for_each_anon_vma(&mut |g| {
            let av = g.key();
            first.get_or_insert(av);
            self.shard(av)
                .seed_av(av, g.nr_avcs() as u64, g.num_children() > 1);
        });
        if let (false, Some(av)) = (whole, first) {
            self.shard(av).ev.chain_overflow += 1;
        }
    }

    /// A VMA was allocated (`freed`: was freed), in a tap on `cpu`. Per
    /// CPU, no lock.
    pub(crate) fn vma_event(&self, cpu: u32, freed: bool) {
        self.vma_ctrs.on(cpu)[usize::from(freed)].add(1, Relaxed);
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

    /// Records over every shard, in one pass (one shard lock at a time):
    /// (live anon_vmas' records, spare records).
    fn records(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(live, spare), s| {
            let (l, sp) = s.lock().records();
            (live + l, spare + sp)
        })
    }

    /// Bytes of the records, live and spare (the allocator's real size of
    /// a red-black node), and of the shards.
    pub(crate) fn bytes(&self) -> usize {
        let shard = crate::kmalloc_bytes(core::mem::size_of::<SpinLock<AnonShard>>());
        let (live, spare) = self.records();
        let rec = (live + spare) * crate::rbtree_entry_bytes::<usize, AvRec>();
        self.shards.len() * shard + self.vma_ctrs.bytes() + rec
    }

    /// Bytes of the live records per real anon_vma tracked (its own and its
    /// AVCs'), 0 when none.
    pub(crate) fn record_bytes_per_anon_vma(&self) -> usize {
        // One record each, all of one size.
        match self.records() {
            (0, _) => 0,
            _ => crate::rbtree_entry_bytes::<usize, AvRec>(),
        }
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

/// The anon_vmas of `vma`'s chain (one per AVC), at most [`MAX_CHAIN`];
/// returns how many, and whether the chain was longer.
///
/// # Safety
///
/// `vma` must be live and its AVC chain stable (its mm's mmap lock held, or
/// the kernel's own caller holding it at a tap's entry).
pub(crate) unsafe fn chain(
    vma: *mut bindings::vm_area_struct,
    avs: &mut [usize; MAX_CHAIN],
) -> (usize, bool) {
    // SAFETY: per the caller; the buffer holds `MAX_CHAIN` pointers.
    let n = unsafe { sys::rs_vma_anon_vmas(vma, avs.as_mut_ptr().cast(), MAX_CHAIN as i32) };
    let n = n as usize;
    (n.min(MAX_CHAIN), n > MAX_CHAIN)
}

// The `anon` file: this table in debugfs.

/// Bytes as KiB with one decimal.
struct Kb(u64);

impl fmt::Display for Kb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = (self.0 * 10 + 512) / 1024;
        write!(f, "{}.{}", tenths / 10, tenths % 10)
    }
}

/// A change from `real` to `lazy` bytes in percent with one decimal.
struct Pct(u64, u64);

impl fmt::Display for Pct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (real, lazy) = (self.0 as i64, self.1 as i64);
        if real == 0 {
            return f.write_str("-");
        }
        let permille =
            ((lazy - real) * 1000 + if lazy >= real { real / 2 } else { -real / 2 }) / real;
        let sign = if permille < 0 { "-" } else { "+" };
        let a = permille.unsigned_abs();
        write!(f, "{sign}{}.{}", a / 10, a % 10)
    }
}

/// `anon`: per object, the real kernel's live objects and bytes beside
/// ANON_VMA_LAZY's, the change, the high-water marks and the object size.
pub(crate) fn show_anon(sh: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (now, hw, _) = sh.anon.sums();
    let (vma, avc, av) = sizes();
    let extra = sh.params.vma_extra_bytes as usize;
    writeln!(
        f,
        "object real_objs real_kb lazy_objs lazy_kb change_pct real_hw_objs lazy_hw_objs obj_bytes lazy_obj_bytes"
    )?;
    let rows = [
        (
            "vm_area_struct",
            now.vmas,
            now.vmas,
            hw.vmas,
            hw.vmas,
            vma,
            vma + extra,
        ),
        (
            "anon_vma_chain",
            now.real_avc,
            now.lazy_avc,
            hw.real_avc,
            hw.lazy_avc,
            avc,
            avc,
        ),
        (
            "anon_vma",
            now.real_av,
            now.lazy_av,
            hw.real_av,
            hw.lazy_av,
            av,
            av,
        ),
    ];
    for (name, real, lazy, rhw, lhw, size, lsize) in rows {
        let (rb, lb) = (real * size as u64, lazy * lsize as u64);
        writeln!(
            f,
            "{name} {real} {} {lazy} {} {} {rhw} {lhw} {size} {lsize}",
            Kb(rb),
            Kb(lb),
            Pct(rb, lb)
        )?;
    }
    Ok(())
}

/// Writing `anon`: `reset` restarts the high-water marks from the live
/// counts. Anything else fails with `EINVAL`.
pub(crate) fn write_anon(sh: &Arc<Shared>, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; MAX_WRITE];
    if read_command(r, &mut buf)? != "reset" {
        return Err(EINVAL);
    }
    sh.anon.reset_hw();
    Ok(())
}
