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

use crate::Shared;
use core::{
    marker::{PhantomData, PhantomPinned},
    pin::Pin,
};
use kernel::{
    bindings,
    prelude::*,
    sync::{
        atomic::{Acquire, Atomic, Relaxed, Release},
        Arc, LockClassKey,
    },
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
    fn replay(&self, design: Design, op: Op, tree: usize, hold_ns: u64) -> bool {
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

/// Replays queued but not finished, over every instance of the module (a
/// static: the last thing a replay touches must outlive every `Shared`).
static INFLIGHT: Atomic<u64> = Atomic::new(0);

/// A replay queued on a task.
///
/// # Invariants
///
/// Allocated by [`queue`] with `KBox`; once `cb` is queued with
/// `task_work_add()`, the task-work list owns the record until
/// [`run_pending`] frees it.
#[repr(C)]
struct Pending {
    /// First: the task-work callback finds the record from it.
    cb: bindings::callback_head,
    shared: Arc<Shared>,
    locks: Arc<FileLocks>,
    op: Op,
    tree: u32,
    hold_ns: u64,
}

/// Counters of the deferral.
pub(crate) struct DeferStats {
    /// Replays queued.
    pub(crate) queued: Atomic<u64>,
    /// Replays run.
    pub(crate) run: Atomic<u64>,
    /// Replays dropped unrun because unload was in progress.
    pub(crate) dropped_at_unload: Atomic<u64>,
    /// Operations not replayed: kernel threads (they never return to user
    /// space), io/user workers, exiting tasks, allocation failures, module
    /// going away.
    pub(crate) skipped: Atomic<u64>,
    /// Operations queued by a reclaiming task (`PF_MEMALLOC`: direct
    /// reclaim, `MADV_PAGEOUT`).
    pub(crate) memalloc: Atomic<u64>,
    /// Test switch (`locks hold`): the thread group that wrote it (0:
    /// none); its replays wait in their task until `locks release` (at most
    /// [`HOLD_MAX_MS`]).
    pub(crate) hold: Atomic<i32>,
    /// Per-tree designs not replayed: the file has more than
    /// [`MAX_LOCK_TREES`] trees.
    pub(crate) too_many_trees: Atomic<u64>,
    /// Set at unload: queued replays free themselves without replaying.
    pub(crate) closing: Atomic<u32>,
}

impl DeferStats {
    /// All zero.
    pub(crate) const fn new() -> Self {
        Self {
            queued: Atomic::new(0),
            run: Atomic::new(0),
            dropped_at_unload: Atomic::new(0),
            skipped: Atomic::new(0),
            memalloc: Atomic::new(0),
            hold: Atomic::new(0),
            too_many_trees: Atomic::new(0),
            closing: Atomic::new(0),
        }
    }
}

/// Replays queued and not finished.
pub(crate) fn inflight() -> u64 {
    INFLIGHT.load(Relaxed)
}

/// Queues the replay of `op` on `tree` of the file with `locks` on the
/// current task. Atomic context (a tap).
pub(crate) fn queue(sh: &Arc<Shared>, locks: &Arc<FileLocks>, op: Op, tree: u32, hold_ns: u64) {
    let st = &sh.defer_stats;
    if sh.designs.load(Relaxed) == 0 {
        return;
    }
    let task = kernel::task::Task::current_raw();
    // SAFETY: `current` is live.
    let flags = unsafe { (*task).flags };
    if flags & bindings::PF_MEMALLOC != 0 {
        // Replayed: MADV_PAGEOUT (a reclaim in syscall context, the way walks
        // are measured) runs with PF_MEMALLOC. Bounded: the record's
        // allocation never touches the reserves (`TAP_GFP`), so under real
        // memory pressure it fails and is counted as skipped; and a task that
        // blocks after its reclaim holds rmmod off (EBUSY), never hangs it.
        st.memalloc.add(1, Relaxed);
    }
    let never_returns = bindings::PF_KTHREAD
        | bindings::PF_IO_WORKER
        | bindings::PF_USER_WORKER
        | bindings::PF_EXITING;
    if flags & never_returns != 0 {
        st.skipped.add(1, Relaxed);
        return;
    }
    // Each queued record pins the module (its callback is module text):
    // rmmod fails at once with EBUSY while one is pending, and never waits
    // for a task that may block in its syscall after queueing.
    if !crate::sys::module_get() {
        // Unload in progress.
        st.skipped.add(1, Relaxed);
        return;
    }
    let rec = KBox::new(
        Pending {
            cb: bindings::callback_head {
                next: core::ptr::null_mut(),
                func: Some(run_pending),
            },
            shared: sh.clone(),
            locks: locks.clone(),
            op,
            tree,
            hold_ns,
        },
        crate::TAP_GFP,
    );
    let Ok(rec) = rec else {
        crate::sys::module_put();
        st.skipped.add(1, Relaxed);
        return;
    };
    let p = KBox::into_raw(rec);
    INFLIGHT.add(1, Relaxed);
    // SAFETY: `p` is a live record whose `cb` is initialised; on success the
    // task-work list owns it until the callback runs on `task` (current).
    let ret = unsafe {
        bindings::task_work_add(
            task,
            &raw mut (*p).cb,
            bindings::task_work_notify_mode_TWA_RESUME,
        )
    };
    if ret != 0 {
        // Exiting past exit_task_work(): the callback will never run.
        // SAFETY: not queued: we still own the record.
        unsafe { free_pending(p) };
        st.skipped.add(1, Relaxed);
        return;
    }
    st.queued.add(1, Relaxed);
}

/// Drops a record and its references, counts it finished, and drops its
/// module reference.
///
/// # Safety
///
/// `p` came from `KBox::into_raw` in [`queue`] and nobody else will use it.
unsafe fn free_pending(p: *mut Pending) {
    // SAFETY: per the caller.
    drop(unsafe { KBox::from_raw(p) });
    INFLIGHT.fetch_sub(1, Release);
    // Last: from here rmmod may proceed. The few instructions left in this
    // module's text are covered by the RCU Tasks grace period of `drain()`.
    crate::sys::module_put();
}

/// The task-work callback: runs in the task that queued it, in process
/// context, on return to user space or at exit.
///
/// # Safety
///
/// Only called by the task-work core, once, with the `cb` of a [`Pending`]
/// queued by [`queue`].
unsafe extern "C" fn run_pending(cb: *mut bindings::callback_head) {
    let p = cb.cast::<Pending>();
    // SAFETY: `cb` is the first field of a live `Pending` (`repr(C)`).
    let rec = unsafe { &*p };
    let sh = &rec.shared;
    // Test switch: a replay of the thread group that set `hold` waits here
    // (in process context, no lock held) until `release`, bounded.
    let tgid = kernel::current!().tgid();
    let mut held_ms = 0;
    while sh.defer_stats.hold.load(Relaxed) == tgid && tgid != 0 && held_ms < HOLD_MAX_MS {
        // SAFETY: task work runs in process context with no lock held.
        unsafe { bindings::msleep(10) };
        held_ms += 10;
    }
    if sh.defer_stats.closing.load(Relaxed) != 0 {
        sh.defer_stats.dropped_at_unload.add(1, Relaxed);
    } else {
        let designs = sh.designs.load(Relaxed);
        for d in Design::ALL {
            if designs & d as u32 != 0
                && !rec.locks.replay(d, rec.op, rec.tree as usize, rec.hold_ns)
            {
                sh.defer_stats.too_many_trees.add(1, Relaxed);
            }
        }
        sh.defer_stats.run.add(1, Relaxed);
    }
    // SAFETY: the task-work list gave the record back; it runs once.
    unsafe { free_pending(p) };
}

/// Longest a replay waits under the `hold` test switch, ms.
pub(crate) const HOLD_MAX_MS: u32 = 60_000;

/// Ends the replays at unload, after the taps are gone (nothing new is
/// queued). Sleeps, but never waits for a task: every queued record holds a
/// module reference, so unload only gets here once none is pending.
///
/// `task_work_cancel()` is not exported to modules, so queued replays cannot
/// be cancelled; pinning the module per record is what makes unload safe.
pub(crate) fn drain(sh: &Shared) {
    sh.defer_stats.closing.store(1, Relaxed);
    // At rmmod nothing is pending: every record pins the module. Only a
    // failing init (the loader frees the module whatever its reference
    // count) gets here with records queued during seeding: wait for them,
    // they run when their tasks return to user space.
    let mut waited_ms = 0u32;
    while INFLIGHT.load(Acquire) != 0 {
        // SAFETY: process context, no lock held.
        unsafe { bindings::msleep(1) };
        waited_ms = waited_ms.wrapping_add(1);
        if waited_ms % 10_000 == 0 {
            pr_warn!(
                "failed load: waiting for {} queued lock replays\n",
                INFLIGHT.load(Relaxed)
            );
        }
    }
    // A callback's last instructions after its `module_put()` still run in
    // module text, and the kernel is preemptible: a task preempted there is
    // no RCU reader, so `synchronize_rcu()` would not wait for it. RCU Tasks
    // waits until every task has voluntarily switched (or is in user space
    // or idle), as ftrace and kprobes do before freeing trampolines.
    // SAFETY: process context, no lock held.
    unsafe { bindings::synchronize_rcu_tasks() };
}
