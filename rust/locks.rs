// SPDX-License-Identifier: GPL-2.0

//! The lock designs of the split i_mmap, in one place: which real
//! `rw_semaphore`s a change of one sibling tree and a walk over a file's
//! trees take under each design. The lock replay ([`crate::replay`]), the
//! in-kernel storm ([`crate::storm`]) and the `locks` view all go through
//! [`LockDesign`]; nothing else knows a design's protocol.
//!
//! In the style of the kernel crate's lock `Backend`
//! (`rust/kernel/sync/lock.rs`): a design is a stateless type implementing
//! one small unsafe trait, and [`DESIGNS`] lists them. A fourth design is one
//! more impl and one more entry there.
//!
//! | design      | change of tree `t`                  | walk                              |
//! |-------------|-------------------------------------|-----------------------------------|
//! | `single`    | file lock, write (today's kernel)   | file lock, read                   |
//! | `all-trees` | tree `t`'s lock, write (v2 patch)   | every tree lock, read, in order   |
//! | `inverted`  | file lock read, tree `t`'s write    | file lock, write (review's idea)  |
//!
//! Every lock is a [`TimedLock`]: an rwsem with its acquisitions,
//! contentions, waits and holds, optionally also fed into a histogram (the
//! storm's wait and hold percentiles). The replay holds each lock set for
//! the time the tap measured; the storm does real tree work under it.
//!
//! Per-tree locks exist for at most [`MAX_LOCK_TREES`] trees per file (one
//! lockdep class per tree index, and lockdep tracks at most 48 held locks);
//! files with more trees replay `single` only and count the skips.

use crate::fast::Atomic;
use crate::holds::Change;
use crate::rwsem::{ReadGuard, RwSem, WriteGuard};
use crate::timing::{now_ns, TapTiming};
use crate::views::{read_command, shadowed_files, MAX_WRITE};
use crate::{kmm, shadow::FileShadow, topn, Shared};
use core::cell::UnsafeCell;
use core::fmt::{self, Write};
use core::pin::Pin;
use kernel::uaccess::UserSliceReader;
use kernel::{
    prelude::*,
    sync::{atomic::Relaxed, Arc, LockClassKey},
};

/// Most trees per file whose per-tree locks are replayed.
pub(crate) const MAX_LOCK_TREES: usize = 32;

/// Longest hold replayed, ns: bounds the cost of one pathological sample.
const MAX_HOLD_NS: u64 = 100_000;

/// The kind of rmap operation replayed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// A VMA linked into tree `tree`.
    Insert,
    /// A VMA unlinked from tree `tree`.
    Remove,
    /// An rmap walk over the file (every tree).
    Walk,
}

impl Op {
    /// The change of the file's tree this operation is, for telling the
    /// real holds apart ([`crate::holds`]); `None` for a walk.
    pub(crate) fn change(self) -> Option<Change> {
        match self {
            Op::Insert => Some(Change::Link),
            Op::Remove => Some(Change::Unlink),
            Op::Walk => None,
        }
    }

    /// Whether the real kernel makes several operations of this kind on one
    /// file under one `i_mmap_rwsem` hold, so the replay takes a design's
    /// locks once per real hold ([`crate::holds`]): links and unlinks
    /// (`vma_prepare()` .. `vma_complete()` around a split or merge,
    /// `unlink_file_vma_batch_*()` for a run of a file's VMAs at unmap and
    /// exit). Not walks: each folio's rmap walk takes the lock anew.
    pub(crate) fn batched(self) -> bool {
        self.change().is_some()
    }
}

/// One lockdep class per tree index (walks acquire them in increasing order).
pub(crate) static TREE_KEYS: [LockClassKey; MAX_LOCK_TREES] = [const {
    // SAFETY: static memory, never moved or dropped.
    unsafe { LockClassKey::new_static() }
}; MAX_LOCK_TREES];

/// The lockdep name of [`TREE_KEYS`]' classes (one pointer: lockdep warns
/// when a class is named by two different strings).
pub(crate) static TREE_LOCK_NAME: &CStr = c"rmap_shadow_tree";

/// The lockdep name of [`FILE_KEY`]'s class.
pub(crate) static FILE_LOCK_NAME: &CStr = c"rmap_shadow_file";

/// The lockdep class of the per-file locks.
// SAFETY: static memory, never moved or dropped.
pub(crate) static FILE_KEY: LockClassKey = unsafe { LockClassKey::new_static() };

/// The figures of one lock.
pub(crate) struct LockStat {
    /// Acquisitions (read or write).
    pub(crate) acq: Atomic<u64>,
    /// Acquisitions that could not be made at once.
    pub(crate) contended: Atomic<u64>,
    /// Total time waited, ns.
    pub(crate) wait_ns: Atomic<u64>,
    /// Longest wait, ns.
    pub(crate) wait_max_ns: Atomic<u64>,
    /// Total time held, ns.
    pub(crate) hold_ns: Atomic<u64>,
}

impl LockStat {
    /// All zero.
    pub(crate) const fn new() -> Self {
        Self {
            acq: Atomic::new(0),
            contended: Atomic::new(0),
            wait_ns: Atomic::new(0),
            wait_max_ns: Atomic::new(0),
            hold_ns: Atomic::new(0),
        }
    }

    fn record_wait(&self, contended: bool, wait: u64) {
        self.acq.add(1, Relaxed);
        if contended {
            self.contended.add(1, Relaxed);
            self.wait_ns.add(wait, Relaxed);
            let mut cur = self.wait_max_ns.load(Relaxed);
            while cur < wait {
                match self.wait_max_ns.cmpxchg(cur, wait, Relaxed) {
                    Ok(_) => break,
                    Err(seen) => cur = seen,
                }
            }
        }
    }

    /// Zeroes every figure.
    pub(crate) fn reset(&self) {
        self.acq.store(0, Relaxed);
        self.contended.store(0, Relaxed);
        self.wait_ns.store(0, Relaxed);
        self.wait_max_ns.store(0, Relaxed);
        self.hold_ns.store(0, Relaxed);
    }
}

/// Kind (in a [`TapTiming`] histogram fed by [`TimedLock`]s) of every
/// acquisition's wait.
pub(crate) const HIST_WAIT: usize = 0;
/// Kind of every write-side hold.
pub(crate) const HIST_HOLD: usize = 1;

/// An rwsem and its figures.
#[pin_data]
pub(crate) struct TimedLock {
    #[pin]
    sem: RwSem,
    /// The figures.
    pub(crate) stat: LockStat,
}

/// The side of a [`TimedLock`] held.
enum Side<'a> {
    Read(#[allow(dead_code)] ReadGuard<'a>),
    Write(#[allow(dead_code)] WriteGuard<'a>),
}

/// A [`TimedLock`] held: adds its hold time on drop, then releases it.
#[must_use = "the lock is released when this is dropped"]
pub(crate) struct Held<'a> {
    side: Side<'a>,
    stat: &'a LockStat,
    hist: Option<&'a TapTiming>,
    since: u64,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let h = now_ns().saturating_sub(self.since);
        self.stat.hold_ns.add(h, Relaxed);
        if let (Side::Write(_), Some(t)) = (&self.side, self.hist) {
            t.record(HIST_HOLD, h);
        }
        // `side` is dropped (the lock released) after this.
    }
}

impl TimedLock {
    /// A new lock in class `key`.
    pub(crate) fn new(name: &'static CStr, key: &'static LockClassKey) -> impl PinInit<Self> {
        pin_init!(Self {
            sem <- RwSem::new(name, key),
            stat: LockStat::new(),
        })
    }

    /// A new boxed lock, without sleeping.
    fn boxed(name: &'static CStr, key: &'static LockClassKey) -> Result<Pin<KBox<Self>>> {
        KBox::pin_init(Self::new(name, key), crate::TAP_GFP)
    }

    fn held<'a>(
        &'a self,
        side: Side<'a>,
        t0: u64,
        c: bool,
        hist: Option<&'a TapTiming>,
    ) -> Held<'a> {
        let since = now_ns();
        let wait = since.saturating_sub(t0);
        self.stat.record_wait(c, wait);
        if let Some(t) = hist {
            t.record(HIST_WAIT, wait);
        }
        Held {
            side,
            stat: &self.stat,
            hist,
            since,
        }
    }

    /// Takes the lock for read (may sleep), counting a failed first try as
    /// contention; `hist` also gets the wait.
    pub(crate) fn read<'a>(&'a self, hist: Option<&'a TapTiming>) -> Held<'a> {
        let t0 = now_ns();
        let (g, c) = match self.sem.try_read() {
            Some(g) => (g, false),
            None => (self.sem.read(), true),
        };
        self.held(Side::Read(g), t0, c, hist)
    }

    /// Takes the lock for write (may sleep), counting a failed first try as
    /// contention; `hist` also gets the wait and, at release, the hold.
    pub(crate) fn write<'a>(&'a self, hist: Option<&'a TapTiming>) -> Held<'a> {
        let t0 = now_ns();
        let (g, c) = match self.sem.try_write() {
            Some(g) => (g, false),
            None => (self.sem.write(), true),
        };
        self.held(Side::Write(g), t0, c, hist)
    }
}

/// Locks held together, released in the reverse order of their taking.
#[must_use = "the locks are released when this is dropped"]
pub(crate) struct Holding<'a, const N: usize> {
    held: [Option<Held<'a>>; N],
    n: usize,
}

/// Most locks a walk holds: the file lock and every tree lock.
pub(crate) const WALK_LOCKS: usize = MAX_LOCK_TREES + 1;

impl<'a, const N: usize> Holding<'a, N> {
    fn new() -> Self {
        Self {
            held: [const { None }; N],
            n: 0,
        }
    }

    /// Holding only `h`.
    fn of(h: Held<'a>) -> Self {
        let mut this = Self::new();
        this.push(h);
        this
    }

    /// Adds `h` (the designs take at most `N`: checked by their impls).
    fn push(&mut self, h: Held<'a>) -> &mut Self {
        if let Some(slot) = self.held.get_mut(self.n) {
            *slot = Some(h);
            self.n += 1;
        }
        self
    }
}

impl<const N: usize> Drop for Holding<'_, N> {
    fn drop(&mut self) {
        for h in self.held[..self.n].iter_mut().rev() {
            *h = None;
        }
    }
}

/// The locks one file has for one design: a file-wide lock and per-tree
/// locks, each `None` when the set has none.
///
/// # Safety
///
/// Implementers return the same lock for the same question every time, a
/// distinct lock per tree index, and a file lock distinct from every tree
/// lock (the designs' exclusion guarantees rest on it).
pub(crate) unsafe trait LockSet {
    /// The file-wide lock.
    fn file(&self) -> Option<&TimedLock>;
    /// Tree `i`'s lock.
    fn tree(&self, i: usize) -> Option<&TimedLock>;
    /// How many trees have a lock (`tree(i)` is `Some` exactly below it).
    fn ntrees(&self) -> usize;
}

/// One tree of a [`Guarded`]: its lock, the data that lock guards and
/// figures read without it.
#[pin_data]
pub(crate) struct GuardedTree<T, M> {
    #[pin]
    lock: TimedLock,
    data: UnsafeCell<T>,
    /// Figures of the tree read and written without the locks (atomics).
    pub(crate) meta: M,
}

impl<T, M> GuardedTree<T, M> {
    /// A tree holding `data` and `meta`, its lock in class `key`.
    pub(crate) fn new(
        name: &'static CStr,
        key: &'static LockClassKey,
        data: T,
        meta: M,
    ) -> impl PinInit<Self> {
        pin_init!(Self {
            lock <- TimedLock::new(name, key),
            data: UnsafeCell::new(data),
            meta,
        })
    }
}

/// Per-tree data under one lock design's protocol: a file-wide lock and,
/// per tree, a lock and the data it guards. A tree's data is reached only
/// through [`Guarded::change`] (mutably, while the design's change of that
/// tree is held) and [`Guarded::walk`] (shared, while its walk is held):
/// the design's exclusion ([`LockDesign`]'s contract) is what makes the
/// access sound, so a design that excluded too little would be a data race
/// here, not only wrong figures. The design is fixed at creation: two
/// designs' protocols do not exclude each other.
///
/// # Invariants
///
/// A tree's `data` is only reached in [`Guarded::change`] and
/// [`Guarded::walk`], while the [`Holding`] of `design`'s `change` of that
/// tree of this set, or of its `walk` of this set, lives.
#[pin_data]
pub(crate) struct Guarded<T, M> {
    #[pin]
    lock: TimedLock,
    design: &'static dyn LockDesign,
    trees: KVec<Pin<KBox<GuardedTree<T, M>>>>,
}

// SAFETY: a tree's `data` is reached mutably by one thread at a time, with
// no shared access meanwhile (a change of the tree excludes every other
// change of it and every walk), or shared by walks only (type invariant,
// `LockDesign`'s contract): `T: Send + Sync` makes both sound across
// threads; `meta` is shared (`M: Sync`) and the locks are `Sync`.
unsafe impl<T: Send + Sync, M: Sync> Sync for Guarded<T, M> {}

// SAFETY: each lock is in its own pinned allocation, fixed at creation: the
// same one for the same question, distinct per tree, the file lock distinct
// from every tree lock.
unsafe impl<T, M> LockSet for Guarded<T, M> {
    fn file(&self) -> Option<&TimedLock> {
        Some(&self.lock)
    }
    fn tree(&self, i: usize) -> Option<&TimedLock> {
        self.trees.get(i).map(|t| &t.lock)
    }
    fn ntrees(&self) -> usize {
        self.trees.len()
    }
}

impl<T, M> Guarded<T, M> {
    /// A set over `trees` under `design`, its file lock in class `key`.
    pub(crate) fn new(
        name: &'static CStr,
        key: &'static LockClassKey,
        design: &'static dyn LockDesign,
        trees: KVec<Pin<KBox<GuardedTree<T, M>>>>,
    ) -> impl PinInit<Self> {
        pin_init!(Self {
            lock <- TimedLock::new(name, key),
            design,
            trees,
        })
    }

    /// Tree `i`'s lock-free figures.
    pub(crate) fn meta(&self, i: usize) -> Option<&M> {
        self.trees.get(i).map(|t| &t.meta)
    }

    /// Calls `f` on tree `t`'s data, mutably, under the design's change of
    /// tree `t` (`hist` gets the waits and the hold). `None`: no tree `t`,
    /// or the design lacks a lock this set needs.
    pub(crate) fn change<R>(
        &self,
        t: usize,
        hist: Option<&TapTiming>,
        f: impl FnOnce(&mut T, &M) -> R,
    ) -> Option<R> {
        let tree = self.trees.get(t)?;
        let _held = self.design.change(self, t, hist)?;
        // SAFETY: the set's one design's change of tree `t` of this set is held
        // (`_held`, until after `f` returns): no other change of tree `t`
        // and no walk of this set meanwhile (`LockDesign`'s contract), and
        // `data` is reached nowhere else (type invariant).
        let data = unsafe { &mut *tree.data.get() };
        Some(f(data, &tree.meta))
    }

    /// Calls `f` on every tree's data, in tree order, under the design's
    /// walk of this set. `None`: the design lacks a lock this set needs.
    pub(crate) fn walk(&self, hist: Option<&TapTiming>, mut f: impl FnMut(&T, &M)) -> Option<()> {
        let _held = self.design.walk(self, hist)?;
        for tree in self.trees.iter() {
            // SAFETY: the set's one design's walk of this set is held (`_held`): no
            // change of any of its trees meanwhile (`LockDesign`'s
            // contract); walks only share (type invariant).
            f(unsafe { &*tree.data.get() }, &tree.meta);
        }
        Some(())
    }
}

/// Every lock of `l`, with its tree index (`None`: the file lock), file
/// first.
pub(crate) fn locks_of(l: &dyn LockSet) -> impl Iterator<Item = (Option<usize>, &TimedLock)> {
    let file = l.file().map(|f| (None, f));
    let trees = (0..l.ntrees()).filter_map(move |i| l.tree(i).map(|t| (Some(i), t)));
    Iterator::chain(file.into_iter(), trees)
}

/// The storm's histograms of each wait and write-side hold, when the
/// storm takes the locks (the replay keeps its own figures).
pub(crate) type Hist<'a> = Option<&'a TapTiming>;

/// What a change holds: at most the file lock and one tree's.
pub(crate) type ChangeHold<'a> = Holding<'a, 2>;

/// What a walk holds: at most every tree's lock.
pub(crate) type WalkHold<'a> = Holding<'a, WALK_LOCKS>;

/// What a design is: its name in debugfs and which locks it has.
pub(crate) struct About {
    name: &'static str,
    file_lock: bool,
    tree_locks: bool,
}

impl About {
    /// A design named `name`, with a file lock and tree locks or not.
    const fn new(name: &'static str, file_lock: bool, tree_locks: bool) -> Self {
        Self {
            name,
            file_lock,
            tree_locks,
        }
    }
}

/// A lock design: what a change of one tree and a walk over every tree
/// take, on a [`LockSet`]. `h` (the storm's) also gets each wait and
/// write-side hold. `None`: this set lacks a lock the design needs (a
/// file past [`MAX_LOCK_TREES`] trees).
///
/// # Safety
///
/// While the [`Holding`] of `change(l, t)` lives, no other `change(l, t)`'s
/// and no `walk(l)`'s does; while `walk(l)`'s lives, no `change(l, _)`'s
/// does (the storm reaches its trees on that guarantee alone).
pub(crate) unsafe trait LockDesign: Sync {
    /// What the design is.
    fn about(&self) -> About;
    /// Takes the write side for a change of tree `t`.
    fn change<'a>(&self, l: &'a dyn LockSet, t: usize, h: Hist<'a>) -> Option<ChangeHold<'a>>;
    /// Takes the read side for a walk over every tree.
    fn walk<'a>(&self, l: &'a dyn LockSet, h: Hist<'a>) -> Option<WalkHold<'a>>;

    /// The design's name in debugfs.
    fn name(&self) -> &'static str {
        self.about().name
    }
    /// Whether the design has a file-wide lock.
    fn file_lock(&self) -> bool {
        self.about().file_lock
    }
    /// Whether the design has per-tree locks.
    fn tree_locks(&self) -> bool {
        self.about().tree_locks
    }
}

/// `single`: one rwsem per file, write to change, read to walk.
pub(crate) struct Single;

// SAFETY: every change and walk takes the one file lock, changes for write.
unsafe impl LockDesign for Single {
    fn about(&self) -> About {
        About::new("single", true, false)
    }
    fn change<'a>(&self, l: &'a dyn LockSet, _t: usize, h: Hist<'a>) -> Option<ChangeHold<'a>> {
        Some(Holding::of(l.file()?.write(h)))
    }
    fn walk<'a>(&self, l: &'a dyn LockSet, h: Hist<'a>) -> Option<WalkHold<'a>> {
        Some(Holding::of(l.file()?.read(h)))
    }
}

/// `all-trees`: one rwsem per tree; a change writes its tree's, a walk
/// reads every tree's, in index order (the lockdep order).
pub(crate) struct AllTrees;

// SAFETY: a change of tree t holds tree t's lock for write; a walk holds
// every tree's lock (`ntrees()` of them, all of the set's) for read.
unsafe impl LockDesign for AllTrees {
    fn about(&self) -> About {
        About::new("all-trees", false, true)
    }
    fn change<'a>(&self, l: &'a dyn LockSet, t: usize, h: Hist<'a>) -> Option<ChangeHold<'a>> {
        Some(Holding::of(l.tree(t)?.write(h)))
    }
    fn walk<'a>(&self, l: &'a dyn LockSet, h: Hist<'a>) -> Option<WalkHold<'a>> {
        let n = l.ntrees();
        if n == 0 || n > MAX_LOCK_TREES {
            return None;
        }
        let mut held = Holding::new();
        for i in 0..n {
            held.push(l.tree(i)?.read(h));
        }
        Some(held)
    }
}

/// `inverted`: the per-file rwsem with inverted meaning plus one per tree;
/// a change reads the file lock and writes its tree's, a walk writes the
/// file lock.
pub(crate) struct Inverted;

// SAFETY: changes of tree t exclude each other on tree t's lock (write);
// a walk holds the file lock for write, which every change holds for read.
unsafe impl LockDesign for Inverted {
    fn about(&self) -> About {
        About::new("inverted", true, true)
    }
    fn change<'a>(&self, l: &'a dyn LockSet, t: usize, h: Hist<'a>) -> Option<ChangeHold<'a>> {
        let (file, tree) = (l.file()?, l.tree(t)?);
        let mut held = Holding::new();
        held.push(file.read(h)).push(tree.write(h));
        Some(held)
    }
    fn walk<'a>(&self, l: &'a dyn LockSet, h: Hist<'a>) -> Option<WalkHold<'a>> {
        Some(Holding::of(l.file()?.write(h)))
    }
}

/// Number of designs.
pub(crate) const NDESIGNS: usize = 3;

/// Every design, in replay order; a [`Design`] indexes it.
pub(crate) static DESIGNS: [&dyn LockDesign; NDESIGNS] = [&Single, &AllTrees, &Inverted];

/// Every design's bit in [`Shared::designs`](crate::Shared).
pub(crate) const ALL_DESIGNS: u32 = (1 << NDESIGNS) - 1;

/// A design, by its index in [`DESIGNS`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Design(u8);

impl Design {
    /// `single`.
    pub(crate) const SINGLE: Design = Design(0);

    /// Every design, in [`DESIGNS`] order.
    pub(crate) fn all() -> impl Iterator<Item = Design> {
        (0..NDESIGNS as u8).map(Design)
    }

    /// Its implementation.
    pub(crate) fn imp(self) -> &'static dyn LockDesign {
        DESIGNS[self.0 as usize % NDESIGNS]
    }

    /// Its name in debugfs.
    pub(crate) fn name(self) -> &'static str {
        self.imp().name()
    }

    /// Its bit in [`Shared::designs`](crate::Shared).
    pub(crate) fn bit(self) -> u32 {
        1 << self.0
    }

    /// Parses a design name.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::all().find(|d| d.name() == s)
    }

    /// Does `op` on tree `tree` of `l` (process context, no lock held),
    /// holding the locks for `hold_ns` (at most [`MAX_HOLD_NS`]) and then
    /// for as long as `then` runs (it may sleep: they are rwsems). Returns
    /// whether `l` had the locks this design needs.
    pub(crate) fn replay(
        self,
        l: &dyn LockSet,
        op: Op,
        tree: usize,
        hold_ns: u64,
        then: impl FnOnce(),
    ) -> bool {
        let d = self.imp();
        let held = || {
            spin_ns(hold_ns);
            then();
        };
        match op {
            Op::Walk => d.walk(l, None).map(|_h| held()).is_some(),
            _ => d.change(l, tree, None).map(|_h| held()).is_some(),
        }
    }
}

/// One design's locks of one file, as that design needs them.
pub(crate) struct DesignLocks {
    file: Option<Pin<KBox<TimedLock>>>,
    trees: KVec<Pin<KBox<TimedLock>>>,
}

// SAFETY: each lock is its own allocation, fixed at creation.
unsafe impl LockSet for DesignLocks {
    fn file(&self) -> Option<&TimedLock> {
        self.file.as_deref()
    }
    fn tree(&self, i: usize) -> Option<&TimedLock> {
        self.trees.get(i).map(|t| &**t)
    }
    fn ntrees(&self) -> usize {
        self.trees.len()
    }
}

impl DesignLocks {
    /// The locks `d` needs for a file of `ntrees` trees (no tree locks past
    /// [`MAX_LOCK_TREES`]). Does not sleep (called in the taps).
    fn new(d: &dyn LockDesign, ntrees: usize) -> Result<Self> {
        let file = match d.file_lock() {
            true => Some(TimedLock::boxed(FILE_LOCK_NAME, &FILE_KEY)?),
            false => None,
        };
        let mut trees = KVec::new();
        if d.tree_locks() && ntrees <= MAX_LOCK_TREES {
            trees.reserve(ntrees, crate::TAP_GFP)?;
            for key in TREE_KEYS.iter().take(ntrees) {
                trees.push(TimedLock::boxed(TREE_LOCK_NAME, key)?, crate::TAP_GFP)?;
            }
        }
        Ok(Self { file, trees })
    }

    fn bytes(&self) -> usize {
        let one = crate::kmalloc_bytes(core::mem::size_of::<TimedLock>());
        let boxes = usize::from(self.file.is_some()) + self.trees.len();
        boxes * one + crate::kmalloc_bytes(self.trees.capacity() * core::mem::size_of::<usize>())
    }
}

/// The figures of the lock-design locks of files whose shadow is gone,
/// per design.
///
/// A file's [`FileLocks`] are made at its first replayed event. When its
/// shadow goes (its last shadowed VMA unlinked: the shadow holds a
/// reference to the real file and must not keep it past the kernel's own
/// last VMA) they are parked, with no reference to the file, for its next
/// shadow (`Shard` in shadow.rs), as the real `i_mmap_rwsem` lives on
/// with the inode; parked locks displaced by newer ones, or found stale
/// (another inode at the address), are dropped, and their figures are
/// added here, so that `locks`' per-design totals count every replayed
/// acquisition, not only the shadowed files'.
pub(crate) struct Retired {
    per_design: [LockStat; NDESIGNS],
}

impl Retired {
    /// All zero. Sleeps (load only).
    pub(crate) fn new() -> Result<Arc<Self>> {
        Ok(Arc::new(
            Self {
                per_design: [const { LockStat::new() }; NDESIGNS],
            },
            GFP_KERNEL,
        )?)
    }

    /// Adds `s` to design `d`'s figures. Any context.
    fn absorb(&self, d: usize, s: Sum) {
        let Some(t) = self.per_design.get(d) else {
            return;
        };
        t.acq.add(s.acq, Relaxed);
        t.contended.add(s.contended, Relaxed);
        t.wait_ns.add(s.wait_ns, Relaxed);
        t.hold_ns.add(s.hold_ns, Relaxed);
        let mut cur = t.wait_max_ns.load(Relaxed);
        while cur < s.wait_max_ns {
            match t.wait_max_ns.cmpxchg(cur, s.wait_max_ns, Relaxed) {
                Ok(_) => break,
                Err(seen) => cur = seen,
            }
        }
    }

    /// Design `d`'s figures.
    fn sum(&self, d: Design) -> Sum {
        self.per_design
            .get(d.0 as usize)
            .map_or(Sum::default(), Sum::of)
    }

    /// Zeroes every figure.
    pub(crate) fn reset(&self) {
        self.per_design.iter().for_each(LockStat::reset);
    }
}

/// The locks of one file under every design (the replay's).
///
/// # Invariants
///
/// `sets` holds one [`DesignLocks`] per entry of [`DESIGNS`], in order.
pub(crate) struct FileLocks {
    sets: KVec<DesignLocks>,
    /// The file's tree count they were made for.
    ntrees: usize,
    /// Where the figures go when these locks are dropped.
    retired: Arc<Retired>,
}

impl Drop for FileLocks {
    fn drop(&mut self) {
        for d in Design::all() {
            self.retired.absorb(d.0 as usize, self.sum(d));
        }
    }
}

impl FileLocks {
    /// The locks of a file with `ntrees` trees, whose figures go to
    /// `retired` when dropped. Does not sleep (called in the taps).
    pub(crate) fn new(ntrees: usize, retired: &Arc<Retired>) -> Result<Arc<Self>> {
        let mut sets = KVec::with_capacity(NDESIGNS, crate::TAP_GFP)?;
        for d in DESIGNS {
            sets.push(DesignLocks::new(d, ntrees)?, crate::TAP_GFP)?;
        }
        Ok(Arc::new(
            Self {
                sets,
                ntrees,
                retired: retired.clone(),
            },
            crate::TAP_GFP,
        )?)
    }

    /// The tree count these locks were made for.
    pub(crate) fn ntrees(&self) -> usize {
        self.ntrees
    }

    /// Design `d`'s figures over every lock.
    fn sum(&self, d: Design) -> Sum {
        let mut s = Sum::default();
        for (_, l) in self.set(d).into_iter().flat_map(|set| locks_of(set)) {
            s.add(Sum::of(&l.stat));
        }
        s
    }

    /// `d`'s locks.
    pub(crate) fn set(&self, d: Design) -> Option<&DesignLocks> {
        self.sets.get(d.0 as usize)
    }

    /// Every lock of every design.
    fn every(&self) -> impl Iterator<Item = &TimedLock> {
        self.sets.iter().flat_map(|s| locks_of(s).map(|(_, l)| l))
    }

    /// Zeroes every figure.
    pub(crate) fn reset(&self) {
        self.every().for_each(|l| l.stat.reset());
    }

    /// Bytes of the file's locks, in the allocator's real sizes (the Arc's
    /// allocation holds its refcount beside the sets).
    pub(crate) fn bytes(&self) -> usize {
        crate::kmalloc_bytes(core::mem::size_of::<Self>() + 16)
            + crate::kmalloc_bytes(self.sets.capacity() * core::mem::size_of::<DesignLocks>())
            + self.sets.iter().map(DesignLocks::bytes).sum::<usize>()
    }

    /// Acquisitions over every lock and design.
    pub(crate) fn total_acq(&self) -> u64 {
        self.every().map(|l| l.stat.acq.load(Relaxed)).sum()
    }
}

/// Busy-waits `ns` nanoseconds (at most [`MAX_HOLD_NS`]).
fn spin_ns(ns: u64) {
    let t0 = now_ns();
    let ns = ns.min(MAX_HOLD_NS);
    while now_ns().saturating_sub(t0) < ns {
        core::hint::spin_loop();
    }
}

// The `locks` file: these figures in debugfs.

/// Sums of lock figures.
#[derive(Default, Clone, Copy)]
struct Sum {
    acq: u64,
    contended: u64,
    wait_ns: u64,
    wait_max_ns: u64,
    hold_ns: u64,
}

impl Sum {
    fn of(l: &LockStat) -> Self {
        Self {
            acq: l.acq.load(Relaxed),
            contended: l.contended.load(Relaxed),
            wait_ns: l.wait_ns.load(Relaxed),
            wait_max_ns: l.wait_max_ns.load(Relaxed),
            hold_ns: l.hold_ns.load(Relaxed),
        }
    }

    fn add(&mut self, o: Sum) {
        self.acq += o.acq;
        self.contended += o.contended;
        self.wait_ns += o.wait_ns;
        self.wait_max_ns = self.wait_max_ns.max(o.wait_max_ns);
        self.hold_ns += o.hold_ns;
    }

    fn row(&self, f: &mut fmt::Formatter<'_>, path: &str, design: &str, lock: &str) -> fmt::Result {
        writeln!(
            f,
            "{path} {design} {lock} {} {} {} {} {}",
            self.acq, self.contended, self.wait_ns, self.wait_max_ns, self.hold_ns
        )
    }
}

/// How many files `locks` shows.
const TOP_LOCK_FILES: usize = 20;

/// `locks`: per design, the totals over every file (path `*`, lock `all`:
/// shadowed and released ones) and over the released ones alone (path
/// `(released)`: parked locks and the [`Retired`] sums), then, for the
/// shadowed files with the most acquisitions, one row per lock.
pub(crate) fn show_locks(sh: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (Ok(files), Ok(parked)) = (shadowed_files(sh), sh.shadow.parked_locks()) else {
        return writeln!(f, "error: out of memory");
    };
    let mut rows: KVec<(Arc<FileShadow>, Arc<FileLocks>, u64)> = KVec::new();
    for fs in files.into_iter() {
        if let Some(l) = fs.locks.as_ref().cloned() {
            let n = l.total_acq();
            if rows.push((fs, l, n), GFP_KERNEL).is_err() {
                return writeln!(f, "error: out of memory");
            }
        }
    }
    writeln!(
        f,
        "path design lock acq contended wait_ns wait_max_ns hold_ns"
    )?;
    for d in Design::all() {
        let mut total = Sum::default();
        for (_, l, _) in rows.iter() {
            for (_, t) in l.set(d).into_iter().flat_map(|s| locks_of(s)) {
                total.add(Sum::of(&t.stat));
            }
        }
        // Files whose shadow is gone (their locks parked, or dropped) are
        // in the totals too, and on their own in `(released)`.
        let mut gone = sh.shadow.retired().sum(d);
        for l in parked.iter() {
            gone.add(l.sum(d));
        }
        total.add(gone);
        total.row(f, "*", d.name(), "all")?;
        gone.row(f, "(released)", d.name(), "all")?;
    }
    let mut name = [0u8; 256];
    let mut lock = [0u8; 8];
    // The TOP_LOCK_FILES busiest, busiest first.
    let (top, ntop) = topn::top_n::<TOP_LOCK_FILES>(rows.len(), |i| rows.get(i).map_or(0, |r| r.2));
    for (fr, l, n) in top[..ntop].iter().map(|&i| &rows[i]) {
        if *n == 0 {
            break;
        }
        let path = kmm::file_path(&fr.file, &mut name);
        for d in Design::all() {
            for (i, t) in l.set(d).into_iter().flat_map(|s| locks_of(s)) {
                let lname = match i {
                    Some(i) => {
                        let mut w = ByteWriter(&mut lock, 0);
                        let _ = write!(w, "t{i}");
                        let len = w.1;
                        core::str::from_utf8(&lock[..len]).unwrap_or("t?")
                    }
                    None => "file",
                };
                Sum::of(&t.stat).row(f, path, d.name(), lname)?;
            }
        }
    }
    Ok(())
}

/// Formats into a byte buffer (truncating).
struct ByteWriter<'a>(&'a mut [u8], usize);

impl Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.0.len() - self.1);
        self.0[self.1..self.1 + n].copy_from_slice(&s.as_bytes()[..n]);
        self.1 += n;
        Ok(())
    }
}

/// Writing `locks`: `reset` zeroes every figure; `all`, `off` or a
/// comma-separated list of `single`, `all-trees`, `inverted` picks the
/// designs replayed. Bad input changes nothing and fails with `EINVAL`.
pub(crate) fn write_locks(sh: &Arc<Shared>, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; MAX_WRITE];
    let arg = read_command(r, &mut buf)?;
    match arg {
        "reset" => {
            for fs in shadowed_files(sh)?.iter() {
                if let Some(l) = fs.locks.as_ref() {
                    l.reset();
                }
            }
            for l in sh.shadow.parked_locks()?.iter() {
                l.reset();
            }
            sh.shadow.retired().reset();
            return Ok(());
        }
        "all" => sh.designs.store(ALL_DESIGNS, Relaxed),
        "off" => sh.designs.store(0, Relaxed),
        // Test switches: the writer's thread group's replays each wait in
        // their tasks, holding their first locks (bounded by
        // `replay::HOLD_MAX_MS`), until `release`.
        "hold" => sh.replays.hold.store(kernel::current!().tgid(), Relaxed),
        "release" => sh.replays.hold.store(0, Relaxed),
        _ => {
            let mut bits = 0;
            for w in arg.split(',') {
                bits |= Design::parse(w.trim()).ok_or(EINVAL)?.bit();
            }
            sh.designs.store(bits, Relaxed);
        }
    }
    Ok(())
}
