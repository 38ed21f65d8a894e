// SPDX-License-Identifier: GPL-2.0

//! The three lock designs of the split i_mmap, on real kernel
//! `rw_semaphore`s, replayed by the tasks that did the real rmap work.
//!
//! The taps run inside the real `i_mmap_rwsem` (held for write around every
//! link and unlink), which already serialises all rmap work on a file: a
//! shadow lock taken there could never be contended. So the tap only
//! measures what its shadow operation cost and queues a [`Pending`] replay
//! on the same task with `task_work_add(TWA_RESUME)`. When the task returns
//! to user space (or exits), it takes each enabled design's locks for that
//! operation, holds them for the measured cost, and releases them. Tasks
//! returning from `mmap()`, `munmap()`, `execve()` and `exit()` at the same
//! time meet on these locks exactly as they would have met on the patch's
//! locks, but outside the real `i_mmap_rwsem`.
//!
//! Designs (the lock a tree writer takes / the lock a walker takes):
//!
//! - `single`: one rwsem per file, write / read (today's kernel);
//! - `all-trees`: one rwsem per tree, write its tree / read every tree
//!   (the v2 patch);
//! - `inverted`: one rwsem per file plus one per tree, read the file lock
//!   and write its tree / write the file lock (the review's proposal).
//!
//! Per-tree locks exist for at most [`MAX_LOCK_TREES`] trees per file (one
//! lockdep class per tree index, and lockdep tracks at most 48 held locks);
//! files with more trees replay `single` only and count the skips.

use crate::fast::Atomic;
use core::{
    marker::{PhantomData, PhantomPinned},
    pin::Pin,
};
use kernel::{
    bindings,
    prelude::*,
    sync::{atomic::Relaxed, Arc, LockClassKey},
    types::Opaque,
};

/// Most trees per file whose per-tree locks are replayed.
pub(crate) const MAX_LOCK_TREES: usize = 32;

/// Longest hold replayed, ns: bounds the cost of one pathological sample.
const MAX_HOLD_NS: u64 = 100_000;

/// The lock designs, as bits of [`Shared::designs`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Design {
    /// One rwsem per file.
    Single = 1,
    /// One rwsem per tree; walks take them all.
    AllTrees = 2,
    /// Per-file rwsem with inverted meaning plus per-tree rwsems.
    Inverted = 4,
}

impl Design {
    /// Every design, in replay order.
    pub(crate) const ALL: [Design; 3] = [Design::Single, Design::AllTrees, Design::Inverted];

    /// The design's name in debugfs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Design::Single => "single",
            Design::AllTrees => "all-trees",
            Design::Inverted => "inverted",
        }
    }

    /// Parses a design name.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == s)
    }
}

/// Every design's bit.
pub(crate) const ALL_DESIGNS: u32 = 7;

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

/// A kernel `struct rw_semaphore`.
///
/// # Invariants
///
/// `inner` is initialised by `__init_rwsem()` and pinned.
#[pin_data]
pub(crate) struct RwSem {
    #[pin]
    inner: Opaque<bindings::rw_semaphore>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: a `rw_semaphore` may be used from any task.
unsafe impl Send for RwSem {}
// SAFETY: every operation on a `rw_semaphore` is thread-safe.
unsafe impl Sync for RwSem {}

impl RwSem {
    /// A new, unlocked rwsem in lockdep class `key`. Does not sleep.
    pub(crate) fn new(name: &'static CStr, key: &'static LockClassKey) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `__init_rwsem` initialises the slot in place; `name`
            // and `key` are static.
            inner <- unsafe {
                Opaque::ffi_init(|p| bindings::__init_rwsem(p, name.as_char_ptr(), key.as_ptr()))
            },
            _pin: PhantomPinned,
        })
    }

    /// Tries to take the rwsem for read without sleeping.
    pub(crate) fn try_read(&self) -> Option<ReadGuard<'_>> {
        // SAFETY: the rwsem is initialised (type invariant).
        (unsafe { bindings::down_read_trylock(self.inner.get()) } != 0)
            .then(|| ReadGuard(self, PhantomData))
    }

    /// Takes the rwsem for read; may sleep.
    pub(crate) fn read(&self) -> ReadGuard<'_> {
        // SAFETY: the rwsem is initialised (type invariant); callers run in
        // process context without spinlocks (task_work).
        unsafe { bindings::down_read(self.inner.get()) };
        ReadGuard(self, PhantomData)
    }

    /// Tries to take the rwsem for write without sleeping.
    pub(crate) fn try_write(&self) -> Option<WriteGuard<'_>> {
        // SAFETY: the rwsem is initialised (type invariant).
        (unsafe { bindings::down_write_trylock(self.inner.get()) } != 0)
            .then(|| WriteGuard(self, PhantomData))
    }

    /// Takes the rwsem for write; may sleep.
    pub(crate) fn write(&self) -> WriteGuard<'_> {
        // SAFETY: as in `read`.
        unsafe { bindings::down_write(self.inner.get()) };
        WriteGuard(self, PhantomData)
    }
}

/// The rwsem held for read; released on drop, by the task that took it
/// (not `Send`).
#[must_use = "the rwsem is released when the guard is dropped"]
pub(crate) struct ReadGuard<'a>(&'a RwSem, PhantomData<*mut ()>);

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the guard exists only while we hold the rwsem for read.
        unsafe { bindings::up_read(self.0.inner.get()) };
    }
}

/// The rwsem held for write; released on drop, by the task that took it
/// (not `Send`).
#[must_use = "the rwsem is released when the guard is dropped"]
pub(crate) struct WriteGuard<'a>(&'a RwSem, PhantomData<*mut ()>);

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the guard exists only while we hold the rwsem for write.
        unsafe { bindings::up_write(self.0.inner.get()) };
    }
}

/// Nanoseconds of this CPU's `local_clock()` (sched_clock: the TSC on
/// x86), for every interval the module measures.
///
/// Not `ktime_get()`: that reads the clocksource, and where the TSC is
/// unusable (TCG guests run on HPET) each read is an emulated MMIO access
/// costing more than the operation timed. `local_clock()` is monotonic on
/// one CPU and within a tick across CPUs; intervals are taken with
/// `saturating_sub`.
pub(crate) fn now_ns() -> u64 {
    // SAFETY: `local_clock()` may be called in any context after boot.
    unsafe { crate::sys::local_clock() }
}

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

    fn record_wait(&self, contended: bool, t0: u64) {
        self.acq.add(1, Relaxed);
        if contended {
            let w = now_ns().saturating_sub(t0);
            self.contended.add(1, Relaxed);
            self.wait_ns.add(w, Relaxed);
            let mut cur = self.wait_max_ns.load(Relaxed);
            while cur < w {
                match self.wait_max_ns.cmpxchg(cur, w, Relaxed) {
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

/// An rwsem and its figures.
#[pin_data]
pub(crate) struct TimedLock {
    #[pin]
    sem: RwSem,
    /// The figures.
    pub(crate) stat: LockStat,
}

/// A [`TimedLock`] held (the inner guard), adding its hold time on drop.
pub(crate) struct Held<'a, G> {
    _guard: G,
    stat: &'a LockStat,
    since: u64,
}

impl<G> Drop for Held<'_, G> {
    fn drop(&mut self) {
        let h = now_ns().saturating_sub(self.since);
        self.stat.hold_ns.add(h, Relaxed);
        // `_guard` is dropped (the lock released) after this.
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

    /// Takes the lock for read, counting a failed first try as contention.
    pub(crate) fn read(&self) -> Held<'_, ReadGuard<'_>> {
        let t0 = now_ns();
        let (g, c) = match self.sem.try_read() {
            Some(g) => (g, false),
            None => (self.sem.read(), true),
        };
        self.stat.record_wait(c, t0);
        Held {
            _guard: g,
            stat: &self.stat,
            since: now_ns(),
        }
    }

    /// Takes the lock for write, counting a failed first try as contention.
    pub(crate) fn write(&self) -> Held<'_, WriteGuard<'_>> {
        let t0 = now_ns();
        let (g, c) = match self.sem.try_write() {
            Some(g) => (g, false),
            None => (self.sem.write(), true),
        };
        self.stat.record_wait(c, t0);
        Held {
            _guard: g,
            stat: &self.stat,
            since: now_ns(),
        }
    }
}

/// The locks of one file under every design.
#[pin_data]
pub(crate) struct FileLocks {
    /// `single`: the file's one rwsem.
    #[pin]
    pub(crate) single: TimedLock,
    /// `inverted`: the per-file rwsem (read by tree writers, write by walkers).
    #[pin]
    pub(crate) inv_file: TimedLock,
    /// `all-trees`: one rwsem per tree (empty past [`MAX_LOCK_TREES`]).
    pub(crate) all_trees: KVec<Pin<KBox<TimedLock>>>,
    /// `inverted`: one rwsem per tree (empty past [`MAX_LOCK_TREES`]).
    pub(crate) inv_trees: KVec<Pin<KBox<TimedLock>>>,
}

/// Allocates `n` per-tree locks, without sleeping; none past [`MAX_LOCK_TREES`].
fn tree_locks(n: usize) -> Result<KVec<Pin<KBox<TimedLock>>>> {
    let mut v = KVec::new();
    if n > MAX_LOCK_TREES {
        return Ok(v);
    }
    v.reserve(n, crate::TAP_GFP)?;
    for key in TREE_KEYS.iter().take(n) {
        v.push(
            KBox::pin_init(TimedLock::new(TREE_LOCK_NAME, key), crate::TAP_GFP)?,
            crate::TAP_GFP,
        )?;
    }
    Ok(v)
}

impl FileLocks {
    /// The locks of a file with `ntrees` trees. Does not sleep (called in
    /// the taps).
    pub(crate) fn new(ntrees: usize) -> Result<Arc<Self>> {
        let all_trees = tree_locks(ntrees)?;
        let inv_trees = tree_locks(ntrees)?;
        Arc::pin_init(
            pin_init!(Self {
                single <- TimedLock::new(FILE_LOCK_NAME, &FILE_KEY),
                inv_file <- TimedLock::new(FILE_LOCK_NAME, &FILE_KEY),
                all_trees,
                inv_trees,
            }),
            crate::TAP_GFP,
        )
    }

    /// Whether the per-tree designs are replayed for this file.
    pub(crate) fn has_tree_locks(&self) -> bool {
        !self.all_trees.is_empty()
    }

    /// Replays `op` on tree `tree` under `design`, holding for `hold_ns`.
    /// Process context, no lock held. Returns whether it was replayed.
    pub(crate) fn replay(&self, design: Design, op: Op, tree: usize, hold_ns: u64) -> bool {
        let hold = || spin_ns(hold_ns);
        match (design, op) {
            (Design::Single, Op::Walk) => {
                let _g = self.single.read();
                hold();
            }
            (Design::Single, _) => {
                let _g = self.single.write();
                hold();
            }
            (_, _) if !self.has_tree_locks() || tree >= self.all_trees.len() => return false,
            (Design::AllTrees, Op::Walk) => {
                // Every tree, in index order (the lockdep order).
                let mut held: [Option<Held<'_, ReadGuard<'_>>>; MAX_LOCK_TREES] =
                    [const { None }; MAX_LOCK_TREES];
                for (h, t) in held.iter_mut().zip(self.all_trees.iter()) {
                    *h = Some(t.read());
                }
                hold();
                // Released in reverse order.
                for h in held.iter_mut().rev() {
                    *h = None;
                }
            }
            (Design::AllTrees, _) => {
                let _g = self.all_trees[tree].write();
                hold();
            }
            (Design::Inverted, Op::Walk) => {
                let _g = self.inv_file.write();
                hold();
            }
            (Design::Inverted, _) => {
                let _f = self.inv_file.read();
                let _t = self.inv_trees[tree].write();
                hold();
            }
        }
        true
    }

    /// Zeroes every figure.
    pub(crate) fn reset(&self) {
        self.single.stat.reset();
        self.inv_file.stat.reset();
        for t in Iterator::chain(self.all_trees.iter(), self.inv_trees.iter()) {
            t.stat.reset();
        }
    }

    /// Bytes of the file's locks, in the allocator's real sizes.
    pub(crate) fn bytes(&self) -> usize {
        let one = crate::kmalloc_bytes(core::mem::size_of::<TimedLock>());
        let vecs = crate::kmalloc_bytes(self.all_trees.capacity() * core::mem::size_of::<usize>())
            + crate::kmalloc_bytes(self.inv_trees.capacity() * core::mem::size_of::<usize>());
        // The Arc's allocation holds a refcount beside the two file locks.
        crate::kmalloc_bytes(core::mem::size_of::<Self>() + 16)
            + (self.all_trees.len() + self.inv_trees.len()) * one
            + vecs
    }

    /// Acquisitions over every lock and design.
    pub(crate) fn total_acq(&self) -> u64 {
        let mut n = self.single.stat.acq.load(Relaxed) + self.inv_file.stat.acq.load(Relaxed);
        for t in Iterator::chain(self.all_trees.iter(), self.inv_trees.iter()) {
            n += t.stat.acq.load(Relaxed);
        }
        n
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
