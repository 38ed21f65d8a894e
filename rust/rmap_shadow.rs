// SPDX-License-Identifier: GPL-2.0

//! rmap-shadow: shadow rmap structures beside the real kernel's.
//!
//! The module watches the real kernel's file rmap operations through kprobes
//! and keeps shadow structures beside them, so that designs the kernel did
//! not take (split i_mmap trees) can be measured on a live, unpatched kernel.
//! It never modifies a kernel structure.
//!
//! Everything is exposed under `/sys/kernel/debug/rmap_shadow/` (root only);
//! see `Documentation/debugfs.rst`.

use kernel::{
    new_mutex,
    prelude::*,
    sync::{atomic::Relaxed, Arc, Mutex},
};

mod anon;
mod cost;
mod dfs;
mod fast;
mod holds;
mod input;
mod itree;
mod kmm;
mod kprobe;
mod kthread;
mod locks;
mod percpu;
mod policy;
mod pool;
mod replay;
mod rwsem;
mod shadow;
mod status;
mod storm;
mod strparam;
mod sys;
mod timing;
mod topn;
mod verify;
mod views;

use anon::Anon;
use fast::Atomic;
use kmm::VmaView;
use kprobe::{KprobeHandler, KprobeSet, Regs};
use locks::Op;
use percpu::PerCpu;
use policy::{Policy, TreeCount, MAX_TREES};
use replay::Replays;
use shadow::Shadow;
use timing::TapSums;

module! {
    type: RmapShadow,
    name: "rmap_shadow",
    authors: ["rmap-shadow developers"],
    description: "Shadow split i_mmap trees beside the real file rmap",
    license: "GPL",
    params: {
        nr_trees: u32 {
            default: 0,
            description: "Sibling trees per file: 0 = one per NUMA node (nr_node_ids), else 1..=1024",
        },
        max_files: u32 {
            default: 4096,
            description: "Most files (address_spaces) shadowed at once, 1..=1048576",
        },
        vma_extra_bytes: u32 {
            // 0: the series' one rcuref_t lands in padding on 7.3 x86-64, perf
            // and debug configs alike (scripts/vma-layout.sh: 192 and 256 B
            // with and without it).
            default: 0,
            description: "Bytes ANON_VMA_LAZY adds to each vm_area_struct in the anon table, 0..=256",
        },
    },
}

/// The module's version, shown in `status`.
pub(crate) const VERSION: &str = "0.4.0";

/// Most files shadowed at once.
pub(crate) const MAX_FILES: u32 = 1 << 20;

/// Flags of every allocation made in a tap or under a shadow spinlock:
/// `GFP_NOWAIT | __GFP_NOWARN | __GFP_NOMEMALLOC`. Never sleeps, never
/// enters direct reclaim, never dips into the emergency reserves (not even
/// in a `PF_MEMALLOC` task), never warns: a failure is a counted drop.
pub(crate) const TAP_GFP: kernel::alloc::Flags = {
    // The kernel crate has no `__GFP_NOMEMALLOC` flag and keeps `Flags`'
    // constructor private; `Flags` is a newtype of the `u32` gfp mask.
    const _: () =
        assert!(core::mem::size_of::<kernel::alloc::Flags>() == core::mem::size_of::<u32>());
    let bits: u32 = sys::RS_GFP_TAP;
    // SAFETY: `Flags` is `struct Flags(u32)`, a gfp mask; any combination
    // of gfp bits is a valid value.
    unsafe { core::mem::transmute::<u32, kernel::alloc::Flags>(bits) }
};

/// Load-time parameters, validated.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Params {
    /// Sibling trees per file; 0 means one per NUMA node.
    pub(crate) nr_trees: u32,
    /// Most files shadowed at once.
    pub(crate) max_files: u32,
    /// The load-time policy (`policy` parameter; default `node`).
    pub(crate) policy: Policy,
    /// The load-time tree count (`policy`'s TREES, else `nr_trees`).
    pub(crate) tree_count: TreeCount,
    /// Bytes ANON_VMA_LAZY adds per VMA (`anon` table).
    pub(crate) vma_extra_bytes: u32,
}

impl Params {
    /// Reads and validates the module parameters.
    ///
    /// A bad value fails the load with `EINVAL` after one log line naming the
    /// parameter, its value and the accepted range.
    fn from_module() -> Result<Self> {
        let nr_trees = *module_parameters::nr_trees.value_ref();
        let max_files = *module_parameters::max_files.value_ref();
        if nr_trees > MAX_TREES {
            pr_err!("invalid nr_trees={nr_trees}: want 0 (one per node) or 1..={MAX_TREES}\n");
            return Err(EINVAL);
        }
        if max_files == 0 || max_files > MAX_FILES {
            pr_err!("invalid max_files={max_files}: want 1..={MAX_FILES}\n");
            return Err(EINVAL);
        }
        let vma_extra_bytes = *module_parameters::vma_extra_bytes.value_ref();
        if vma_extra_bytes > 256 {
            pr_err!("invalid vma_extra_bytes={vma_extra_bytes}: want 0..=256\n");
            return Err(EINVAL);
        }
        let by_nr = match nr_trees {
            0 => TreeCount::Nodes,
            n => TreeCount::Fixed(n),
        };
        let mut buf = [0u8; strparam::MAX_LEN];
        let (policy, tree_count) = match strparam::POLICY.get(&mut buf) {
            None => (Policy::Node, by_nr),
            Some(raw) => {
                let s = core::str::from_utf8(raw).unwrap_or("?");
                views::parse_policy(s, by_nr).inspect_err(|_| {
                    pr_err!(
                        "invalid policy={s}: want node|smallest|cpu|hash|single[,nodes|cpus32|1..={MAX_TREES}]\n"
                    );
                })?
            }
        };
        Ok(Self {
            nr_trees,
            max_files,
            policy,
            tree_count,
            vma_extra_bytes,
        })
    }
}

/// The kernel's `nr_node_ids`.
pub(crate) fn nr_node_ids() -> u32 {
    // SAFETY: `nr_node_ids` is set during early boot and read-only afterwards.
    unsafe { kernel::bindings::nr_node_ids }
}

/// The bytes kmalloc really allocates for a request of `size` (its size
/// class): the real cost of a kmalloc'ed object.
pub(crate) fn kmalloc_bytes(size: usize) -> usize {
    // SAFETY: no preconditions.
    unsafe { sys::rs_kmalloc_bytes(size) }
}

/// The bytes kmalloc allocates for one entry of a kernel-crate `RBTree<K,
/// V>`: its boxed node holds the `rb_node` links, the key and the value
/// (`RBTreeNode<K, V>` itself is only the box's pointer).
pub(crate) fn rbtree_entry_bytes<K, V>() -> usize {
    kmalloc_bytes(core::mem::size_of::<(kernel::bindings::rb_node, K, V)>())
}

/// What the taps do (`mode` debugfs file).
///
/// Every mode keeps the same probes armed; the mode is read once at the
/// start of each hit. `Empty` is the floor of tapping at all (a hit costs
/// the kprobe and one load); `Counters` adds the per-CPU hit count;
/// `Shadow` keeps the shadow trees and the lazy anon state; `All` also
/// queues the lock replays.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// Handlers return at once.
    Empty = 0,
    /// Hits counted per CPU, nothing else.
    Counters = 1,
    /// Hits counted and the shadow kept; no replay queued.
    Shadow = 2,
    /// Everything: the shadow and the replays of the lock designs.
    All = 3,
}

impl Mode {
    /// The mode stored as `v`.
    pub(crate) fn from_u32(v: u32) -> Self {
        match v {
            0 => Mode::Empty,
            1 => Mode::Counters,
            2 => Mode::Shadow,
            _ => Mode::All,
        }
    }

    /// Its name in `mode`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Empty => "empty",
            Mode::Counters => "counters",
            Mode::Shadow => "shadow",
            Mode::All => "all",
        }
    }

    /// The mode named `s`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Mode::Empty, Mode::Counters, Mode::Shadow, Mode::All]
            .into_iter()
            .find(|m| m.name() == s)
    }

    /// Whether the taps keep the shadow (and the anon state) in this mode.
    pub(crate) fn shadows(self) -> bool {
        matches!(self, Mode::Shadow | Mode::All)
    }
}

/// State shared by the taps and debugfs, alive as long as any of them.
#[pin_data]
pub(crate) struct Shared {
    /// The validated load-time parameters.
    pub(crate) params: Params,
    /// Tap hits and handler times, per CPU.
    pub(crate) taps: PerCpu<timing::CpuTaps>,
    /// What the taps do: a [`Mode`].
    pub(crate) mode: Atomic<u32>,
    /// Whether the taps time their handlers (`mode` file: `timing on|off`).
    pub(crate) timing_on: Atomic<u32>,
    /// The shadow split i_mmap (sharded; see `shadow.rs` for its locks).
    pub(crate) shadow: Shadow,
    /// Serialises rebuilds (policy changes) and verification.
    #[pin]
    pub(crate) rebuild: Mutex<()>,
    /// The last `verify` result.
    #[pin]
    pub(crate) verdict: Mutex<KVec<u8>>,
    /// The lock designs replayed (bits of [`locks::Design::bit`]).
    pub(crate) designs: Atomic<u32>,
    /// The lock replay's records and counters.
    pub(crate) replays: Replays,
    /// The lazy anon rmap bookkeeping (sharded; see `anon.rs`).
    pub(crate) anon: Anon,
    /// The in-kernel storm's last run (its threads, while running).
    #[pin]
    pub(crate) storm: Mutex<Option<storm::Storm>>,
}

impl Shared {
    /// Switches the policy and tree count, and rebuilds the shadow. The
    /// caller holds `rebuild`.
    ///
    /// The taps leave the shadow alone while it is emptied and reconfigured
    /// (after every handler that still saw it active has returned: handlers
    /// run with preemption disabled, so an RCU grace period waits for
    /// them), then start again on the empty shadow, which is seeded from
    /// the live mms as at load: taps first, then the walk.
    pub(crate) fn set_policy(&self, policy: Policy, trees: TreeCount) -> Result {
        self.shadow.set_active(false);
        sync_taps();
        self.shadow.clear();
        self.shadow.set_config(policy, trees);
        self.shadow.count_rebuild();
        self.shadow.set_seeding(true);
        self.shadow.set_active(true);
        sync_taps();
        views::seed(self, false)
    }

    /// Switches the taps to `mode`. The caller holds `rebuild`. Once this
    /// returns, every handler runs in the new mode.
    ///
    /// Leaving the modes that keep the shadow empties it (its file
    /// references go: nothing keeps a file alive once the taps stop
    /// following its VMAs) after every handler that still saw the old mode
    /// has returned. Entering them starts from an empty shadow and anon
    /// state and seeds both from the live mms, as a load does: taps first,
    /// then the walk.
    pub(crate) fn set_mode(&self, mode: Mode) -> Result {
        let old = self.mode();
        if old == mode {
            return Ok(());
        }
        if old.shadows() && !mode.shadows() {
            self.mode.store(mode as u32, Relaxed);
            sync_taps();
            self.shadow.clear();
            self.shadow.set_seeding(false);
            self.anon.reset_all();
            self.anon.seeded();
            return Ok(());
        }
        if !old.shadows() && mode.shadows() {
            self.shadow.clear();
            self.shadow.set_seeding(true);
            self.anon.reset_all();
            self.mode.store(mode as u32, Relaxed);
            // Every handler that saw the old mode (and skipped its event)
            // has returned: the walk below sees what they did.
            sync_taps();
            return views::seed(self, true);
        }
        // Only whether hits are counted or replays queued changes.
        self.mode.store(mode as u32, Relaxed);
        sync_taps();
        Ok(())
    }

    /// Turns the taps' handler timing on or off; once this returns, every
    /// handler runs with the new setting.
    pub(crate) fn set_timing(&self, on: bool) {
        self.timing_on.store(u32::from(on), Relaxed);
        sync_taps();
    }
}

/// Waits until every tap handler that started before has returned: they
/// run with preemption disabled, so an RCU grace period covers them. Sleeps.
fn sync_taps() {
    // Called from process context (debugfs writes), no lock held.
    kernel::sync::rcu::synchronize_rcu();
}

/// Which rmap operation a [`Tap`] watches.
#[derive(Clone, Copy)]
pub(crate) enum TapKind {
    /// `mapping_rmap_tree_insert(vma, mapping)`.
    Insert,
    /// `mapping_rmap_tree_insert_after(vma, prev, mapping)`.
    InsertAfter,
    /// `mapping_rmap_tree_remove(vma, mapping)`.
    Remove,
    /// `vm_area_free(vma)`.
    Free,
    /// `__rmap_walk_file(folio, mapping, pgoff_start, nr_pages, rwc, locked)`.
    Walk,
    /// `__anon_vma_prepare(vma)`.
    AnonPrepare,
    /// `anon_vma_clone(dst, src, op)`.
    AnonClone,
    /// `anon_vma_fork(vma, pvma)`.
    AnonFork,
    /// `unlink_anon_vmas(vma)`.
    AnonUnlink,
    /// `anon_rmap_tree_insert(avc, anon_vma)`.
    AvcInsert,
    /// `anon_rmap_tree_remove(avc, anon_vma)`.
    AvcRemove,
    /// `__put_anon_vma(anon_vma)`.
    PutAnonVma,
    /// `vm_area_alloc(mm)`.
    VmaAlloc,
    /// `vm_area_dup(vma)`.
    VmaDup,
    /// The `test_tap` parameter's symbol (counted only).
    Test,
}

/// A file-rmap tap.
struct Tap {
    shared: Arc<Shared>,
    kind: TapKind,
}

impl TapKind {
    /// Every kind, in `taps` order.
    const ALL: [TapKind; 15] = [
        TapKind::Insert,
        TapKind::InsertAfter,
        TapKind::Remove,
        TapKind::Free,
        TapKind::Walk,
        TapKind::AnonPrepare,
        TapKind::AnonClone,
        TapKind::AnonFork,
        TapKind::AnonUnlink,
        TapKind::AvcInsert,
        TapKind::AvcRemove,
        TapKind::PutAnonVma,
        TapKind::VmaAlloc,
        TapKind::VmaDup,
        TapKind::Test,
    ];

    /// The probed function(s).
    fn name(self) -> &'static str {
        match self {
            TapKind::Insert => "mapping_rmap_tree_insert",
            TapKind::InsertAfter => "mapping_rmap_tree_insert_after",
            TapKind::Remove => "mapping_rmap_tree_remove",
            TapKind::Free => "vm_area_free",
            TapKind::Walk => "__rmap_walk_file",
            TapKind::AnonPrepare => "__anon_vma_prepare",
            TapKind::AnonClone => "anon_vma_clone",
            TapKind::AnonFork => "anon_vma_fork",
            TapKind::AnonUnlink => "unlink_anon_vmas",
            TapKind::AvcInsert => "anon_rmap_tree_insert",
            TapKind::AvcRemove => "anon_rmap_tree_remove",
            TapKind::PutAnonVma => "__put_anon_vma",
            TapKind::VmaAlloc => "vm_area_alloc",
            TapKind::VmaDup => "vm_area_dup",
            TapKind::Test => "test_tap",
        }
    }
}

/// `taps`: per tap, hits, the handler's cost (ns) and the runs timed.
pub(crate) fn show_taps(sh: &Arc<Shared>, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    writeln!(f, "tap hits mean_ns p50_ns p99_ns max_ns timed")?;
    for (i, k) in TapKind::ALL.iter().enumerate() {
        let s = sh.taps.summary(i);
        writeln!(
            f,
            "{} {} {} {} {} {} {}",
            k.name(),
            sh.taps.hits(i),
            s.mean,
            s.p50,
            s.p99,
            s.max,
            s.n
        )?;
    }
    Ok(())
}

impl Shared {
    /// Hits of the taps of `kind`, summed over CPUs.
    pub(crate) fn hits(&self, kind: TapKind) -> u64 {
        self.taps.hits(kind as usize)
    }

    /// The taps' current mode.
    pub(crate) fn mode(&self) -> Mode {
        Mode::from_u32(self.mode.load(Relaxed))
    }
}

impl KprobeHandler for Tap {
    fn pre(&self, regs: &Regs) {
        let sh = &*self.shared;
        let mode = sh.mode();
        if mode == Mode::Empty {
            return;
        }
        // One call for the task, CPU and node. Preemption is off in a
        // kprobe handler: this CPU's slot stays ours until we return.
        let cx = sys::tap_ctx();
        let cpu = sh.taps.on(cx.cpu);
        // The shadow's spinlocks are not irqsave: a tap must never take them
        // from interrupt context. None of the probed functions runs there;
        // if one ever does, the event is counted and ignored.
        if !cx.in_task {
            cpu.not_task();
            return;
        }
        cpu.hit(self.kind as usize);
        if mode == Mode::Counters || matches!(self.kind, TapKind::Test) {
            return;
        }
        if sh.timing_on.load(Relaxed) == 0 {
            self.handle(regs, mode, &cx);
            return;
        }
        let t0 = timing::now_ns();
        self.handle(regs, mode, &cx);
        cpu.record(self.kind as usize, timing::now_ns().saturating_sub(t0));
    }
}

impl Tap {
    /// The tap's work in a mode that keeps the shadow (atomic context);
    /// the lock replays are queued only in [`Mode::All`].
    fn handle(&self, regs: &Regs, mode: Mode, cx: &sys::TapCtx) {
        let sh = &*self.shared;
        let replay = mode == Mode::All;
        let vma = regs.arg(0);
        match self.kind {
            TapKind::Insert | TapKind::InsertAfter => {
                let (prev, mapping) = match self.kind {
                    TapKind::Insert => (None, regs.arg(1)),
                    _ => (Some(regs.arg(1)), regs.arg(2)),
                };
                // SAFETY: at the entry of the insert functions `vma` is a
                // live file VMA and the caller holds the real
                // `i_mmap_rwsem` for write.
                let Some(v) = (unsafe { VmaView::read(vma as *const _) }) else {
                    return;
                };
                // SAFETY: `insert_after(vma, prev, mapping)`: `prev` is the
                // fork parent's VMA, live and linked, its mm write-locked.
                let prev = prev.and_then(|p| unsafe { VmaView::read(p as *const _) });
                let v = v.with_mapping(mapping);
                // The hold to replay: timed only when a replay is queued.
                let t0 = if replay { timing::now_ns() } else { 0 };
                // SAFETY: the real kernel's callers of the insert functions
                // hold `mapping`'s `i_mmap_rwsem` for write until after they
                // return, so past this handler.
                let mut held = unsafe { kmm::IMmapHeld::assume(mapping) };
                let prev = prev.map(|p| (p.vma(), p.start()));
                let touched = sh.shadow.link(&v, prev, cx, &mut held, replay);
                if let Some((l, tree)) = touched {
                    let ns = timing::now_ns().saturating_sub(t0);
                    replay::queue(sh, &l, Op::Insert, v.vma(), tree, ns);
                }
            }
            TapKind::Remove => {
                // SAFETY: at the entry of `mapping_rmap_tree_remove()` the
                // VMA is live and linked, the real `i_mmap_rwsem` held for
                // write: its page offset is the one it was linked with.
                let Some(v) = (unsafe { VmaView::read(vma as *const _) }) else {
                    return;
                };
                // The hold to replay: timed only when a replay is queued.
                let t0 = if replay { timing::now_ns() } else { 0 };
                // SAFETY: `mapping_rmap_tree_remove(vma, mapping)`'s callers
                // hold `mapping`'s `i_mmap_rwsem` for write until after it
                // returns, so past this handler.
                let mut held = unsafe { kmm::IMmapHeld::assume(regs.arg(1)) };
                let touched = sh.shadow.unlink(vma, v.start(), cx, &mut held, replay);
                if let Some((l, tree)) = touched {
                    let ns = timing::now_ns().saturating_sub(t0);
                    replay::queue(sh, &l, Op::Remove, vma, tree, ns);
                }
            }
            TapKind::Walk => {
                let (mapping, start) = (regs.arg(1), regs.arg(2) as u64);
                // Kernel-supplied values: never an overflow panic in a probe.
                let last = start.saturating_add((regs.arg(3) as u64).max(1) - 1);
                let t0 = if replay { timing::now_ns() } else { 0 };
                let found = sh.shadow.walk(cx.cpu, mapping, start, last, replay);
                if let Some((l, _)) = found {
                    let ns = timing::now_ns().saturating_sub(t0);
                    replay::queue(sh, &l, Op::Walk, 0, 0, ns);
                }
            }
            TapKind::Free => {
                sh.shadow.vma_freed(cx.task, vma);
                sh.anon.vma_event(cx.cpu, true);
            }
            // Counted in `pre` (`stats`' anon.prepare, anon.clone, anon.fork
            // and anon.unlink are these hits): no lock.
            TapKind::AnonPrepare | TapKind::AnonClone | TapKind::AnonUnlink => {}
            TapKind::AnonFork => {
                let pvma = regs.arg(1) as *mut kernel::bindings::vm_area_struct;
                let mut avs = [0usize; anon::MAX_CHAIN];
                // SAFETY: at the entry of `anon_vma_fork()` the parent VMA is
                // live and its mm write-locked (`dup_mmap()`): its chain is
                // stable.
                let (n, over) = unsafe { anon::chain(pvma, &mut avs) };
                sh.anon.fork(&avs[..n], over);
            }
            // `(avc, anon_vma)`: only the anon_vma is recorded.
            TapKind::AvcInsert => sh.anon.avc_insert(regs.arg(1)),
            TapKind::AvcRemove => sh.anon.avc_remove(regs.arg(1)),
            TapKind::PutAnonVma => {
                // SAFETY: at the entry of `__put_anon_vma()` the anon_vma
                // (and its root, which it pins) are live.
                let root = unsafe { sys::rs_anon_vma_dying_root(vma as *mut _) };
                let root = (!root.is_null()).then_some(root as usize);
                sh.anon.put(vma, root);
            }
            TapKind::VmaAlloc => sh.anon.vma_event(cx.cpu, false),
            TapKind::VmaDup => {
                sh.anon.vma_event(cx.cpu, false);
                // SAFETY: at the entry of `vm_area_dup(orig)` the original
                // is live and its mm write-locked: its fields are stable.
                if let Some(o) = unsafe { VmaView::read(vma as *const _) } {
                    sh.shadow.note_dup(cx.task, &o);
                }
            }
            // Counted in `pre`, nothing else.
            TapKind::Test => {}
        }
    }
}

/// Cancels and waits for the queued lock replays when dropped (after the
/// taps: nothing new is queued once they are gone).
struct Drain(Arc<Shared>);

impl Drop for Drain {
    fn drop(&mut self) {
        // A storm in progress is stopped (its threads reaped) first.
        drop(self.0.storm.lock().take());
        replay::drain(&self.0);
    }
}

/// What each tap kind probes: one row per probed function, in arming order.
///
/// The taps that end a record's life are armed before those that start
/// one: a VMA (or AVC) linked after its link tap is armed is then always
/// seen unlinked and freed too. (Armed the other way round, a VMA linked,
/// unlinked and freed in the window between would leave a stale "linked"
/// record, and a later VMA at the same address would be mistaken for it.)
/// What happened before a tap was armed is the seeding walk's business.
const TAP_TABLE: [(&CStr, TapKind); 14] = [
    (c"vm_area_free", TapKind::Free),
    (c"mapping_rmap_tree_remove", TapKind::Remove),
    (c"anon_rmap_tree_remove", TapKind::AvcRemove),
    (c"__put_anon_vma", TapKind::PutAnonVma),
    (c"unlink_anon_vmas", TapKind::AnonUnlink),
    (c"mapping_rmap_tree_insert", TapKind::Insert),
    (c"mapping_rmap_tree_insert_after", TapKind::InsertAfter),
    (c"__rmap_walk_file", TapKind::Walk),
    (c"__anon_vma_prepare", TapKind::AnonPrepare),
    (c"anon_vma_clone", TapKind::AnonClone),
    (c"anon_vma_fork", TapKind::AnonFork),
    (c"anon_rmap_tree_insert", TapKind::AvcInsert),
    (c"vm_area_alloc", TapKind::VmaAlloc),
    (c"vm_area_dup", TapKind::VmaDup),
];

/// The armed taps, in [`TAP_TABLE`] order; dropping unregisters them.
struct Taps {
    _probes: KprobeSet<Tap>,
}

impl Taps {
    /// Arms every tap of [`TAP_TABLE`], then the test tap if asked for
    /// (`test_tap=SYMBOL`: a counting-only probe, for the load-failure
    /// tests). A symbol that is missing or cannot be probed fails the load
    /// after one log line naming it; taps already armed are disarmed.
    fn arm(shared: &Arc<Shared>) -> Result<Self> {
        let mut set = KprobeSet::with_capacity(TAP_TABLE.len() + 1)?;
        for (sym, kind) in TAP_TABLE {
            let tap = Tap {
                shared: shared.clone(),
                kind,
            };
            set.arm(sym, tap)?;
        }
        if let Some(sym) = strparam::TEST_TAP.get_static() {
            let tap = Tap {
                shared: shared.clone(),
                kind: TapKind::Test,
            };
            set.arm(sym, tap)?;
        }
        Ok(Self { _probes: set })
    }
}

/// The loaded module.
///
/// Field order is drop order: debugfs goes first (it waits for readers and
/// writers in progress and refuses new ones, so no `storm start` or policy
/// rebuild can run during the rest), then the taps (their handlers have
/// finished once they are unregistered), then the drain of the replays
/// they queued and the storm; the shared state goes with the last
/// reference.
struct RmapShadow {
    _debugfs: dfs::Debugfs,
    _taps: Taps,
    _drain: Drain,
    /// Last: destroyed once every tree (and so every node) is gone.
    _nodes: pool::NodeCache,
}

impl kernel::Module for RmapShadow {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let params = Params::from_module()?;
        // First, so that on any failure below it is dropped last.
        let nodes = pool::NodeCache::create()?;
        let shared = Arc::pin_init(
            try_pin_init!(Shared {
                params,
                taps: PerCpu::new(timing::CpuTaps::new)?,
                mode: Atomic::new(Mode::All as u32),
                timing_on: Atomic::new(1),
                shadow: Shadow::new(params.policy, params.tree_count, params.max_files)?,
                rebuild <- new_mutex!(()),
                verdict <- new_mutex!(KVec::new()),
                designs: Atomic::new(locks::ALL_DESIGNS),
                replays: Replays::new()?,
                anon: Anon::new()?,
                storm <- new_mutex!(None),
            }? Error),
            GFP_KERNEL,
        )?;
        // First: if arming fails, the taps already armed are disarmed
        // before this drains what they queued.
        let drain = Drain(shared.clone());
        let taps = Taps::arm(&shared)?;
        {
            // Every tap is armed: now seed the VMAs that already exist.
            let _serial = shared.rebuild.lock();
            views::seed(&shared, true)?;
        }
        // Last: nothing after it can fail, so no file is ever open on a
        // module whose init then fails.
        let debugfs = dfs::Debugfs::new(&shared, &views::VIEWS)?;
        Ok(Self {
            _debugfs: debugfs,
            _taps: taps,
            _drain: drain,
            _nodes: nodes,
        })
    }
}
