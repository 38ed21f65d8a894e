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

use crate::sys;
use kernel::{bindings, rbtree::RBTree};

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

/// Everything behind [`crate::Shared::anon`].
pub(crate) struct AnonState {
    avs: RBTree<usize, AvRec>,
    avcs: RBTree<usize, usize>,
    /// Live counts now.
    pub(crate) now: Counts,
    /// High-water marks since load or `reset`.
    pub(crate) hw: Counts,
    /// Events.
    pub(crate) ev: AnonEvents,
    /// The load-time seeding walk is in progress.
    pub(crate) seeding: bool,
}

/// Longest AVC chain walked per VMA.
pub(crate) const MAX_CHAIN: usize = 32;

impl AnonState {
    /// Nothing seen yet.
    pub(crate) fn new() -> Self {
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
    pub(crate) fn reset_hw(&mut self) {
        self.hw = self.now;
    }

    /// The anon_vma's record, created (real live, not materialised) if new.
    fn av_rec(&mut self, av: usize, materialized: bool) -> Option<&mut AvRec> {
        if self.avs.get(&av).is_none() {
            let rec = AvRec {
                materialized,
                navc: 0,
            };
            if self
                .avs
                .try_create_and_insert(av, rec, crate::TAP_GFP)
                .is_err()
            {
                self.ev.alloc_failures += 1;
                return None;
            }
            self.now.real_av += 1;
            if materialized {
                self.now.lazy_av += 1;
            }
        }
        self.avs.get_mut(&av)
    }

    /// The kernel linked `avc` into `av`'s tree.
    pub(crate) fn avc_insert(&mut self, avc: usize, av: usize) {
        self.ev.avc_insert += 1;
        self.link(avc, av, false);
    }

    fn link(&mut self, avc: usize, av: usize, materialized: bool) -> bool {
        if self.avcs.get(&avc).is_some() {
            self.ev.dup_avc += 1;
            return false;
        }
        if self
            .avcs
            .try_create_and_insert(avc, av, crate::TAP_GFP)
            .is_err()
        {
            self.ev.alloc_failures += 1;
            return false;
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
    pub(crate) fn avc_remove(&mut self, avc: usize) {
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
    pub(crate) fn materialize(&mut self, avs: &[usize]) {
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

    /// The kernel frees `av` (and `root`, when its last reference goes).
    pub(crate) fn put(&mut self, av: usize, root: Option<usize>) {
        for a in Iterator::chain(core::iter::once(av), root) {
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

    /// A VMA was allocated.
    pub(crate) fn vma_alloc(&mut self) {
        self.ev.vma_alloc += 1;
        self.now.vmas += 1;
        self.mark_hw();
    }

    /// A VMA is being freed.
    pub(crate) fn vma_free(&mut self) {
        dec(&mut self.now.vmas, &mut self.ev, self.seeding);
    }

    /// Seeding found the AVCs `avcs` (with their anon_vmas `avs`) on a live
    /// VMA. An anon_vma counts as materialised when it has been forked from
    /// (a child anon_vma names it as parent: `num_children > 1`): lazy would
    /// have needed it. One forked from whose children all exited is counted
    /// as lazy; that is the seeding's approximation.
    pub(crate) fn seed_vma(&mut self, avcs: &[usize], avs: &[usize]) {
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

    /// Records and bytes of the shadow itself (approximate red-black node
    /// size).
    pub(crate) fn bytes(&self) -> usize {
        let node = 4 * core::mem::size_of::<usize>() + core::mem::size_of::<AvRec>();
        (self.avs.iter().count() + self.avcs.iter().count()) * node
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
