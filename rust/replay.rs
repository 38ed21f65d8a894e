// SPDX-License-Identifier: GPL-2.0

//! The lock replay: what the taps measured, replayed on the lock designs'
//! real rwsems by the task that did the real rmap work, on its way back to
//! user space (see `locks.rs` for why outside the real lock).
//!
//! # Bounded and unload-safe
//!
//! - **One record per task, from a bounded pool.** [`Replays`] holds a fixed
//!   table of records, sized at load (four per possible CPU, at least
//!   1024). A task owns at most one: the first replayed operation of a
//!   syscall claims a free record near the task's hash (a compare-and-swap
//!   on its owner word) and queues it with `task_work_add(TWA_RESUME)`;
//!   every later operation of the same syscall coalesces into it: one
//!   entry per (file, tree) for links and unlinks, per file for walks,
//!   with a count and the summed hold. A full record or a busy
//!   neighbourhood is a counted drop, never an allocation or a wait.
//! - **Acquisitions as the kernel holds the real lock** ([`Op::batched`],
//!   [`crate::holds`]): a syscall's links and unlinks are replayed as one
//!   acquisition per real `i_mmap_rwsem` hold they were made in (per tree
//!   changed in it, for a design with tree locks), told from their order
//!   (a split's link, unlink and re-link are one hold, a run of unlinks at
//!   unmap is one), each held for the mean of their summed time; each
//!   rmap walk is its own acquisition, as each folio's walk takes the real
//!   lock anew.
//! - **Nothing allocated in a tap**; only the record's owner writes its
//!   body, so the only shared write is the claim (once per syscall).
//! - **Skipped and counted**: kernel threads (they never return to user
//!   space), io/user workers and exiting tasks. Reclaiming tasks
//!   (`PF_MEMALLOC`: `MADV_PAGEOUT`, the way walks are measured, or direct
//!   reclaim inside an allocation) are replayed but counted apart: their
//!   walks coalesce into the task's one record, so a reclaim never piles
//!   records on a task.
//! - **rmmod never waits for a task.** Each claimed record holds a module
//!   reference until its callback has run: while one is pending rmmod fails
//!   at once with `EBUSY` (`delete_module` refuses a module in use) and
//!   succeeds once the task has returned to user space.
//!   `task_work_cancel()` is not exported to modules, so this pin is what
//!   makes the callback's module text safe.

use crate::fast::Atomic;
use crate::{
    holds::Holds,
    locks::{Design, FileLocks, Op},
    percpu::PerCpu,
    policy::hash_ptr,
    sys, Shared,
};
use core::{cell::UnsafeCell, marker::PhantomData};
use kernel::{
    bindings,
    prelude::*,
    sync::{
        atomic::{Acquire, Relaxed, Release},
        Arc,
    },
    time::{delay::fsleep, Delta},
};

/// Entries per record: distinct (file, tree) changed and files walked in
/// one syscall.
const ENTRIES: usize = 16;

/// Records probed from a task's hash.
const PROBE: usize = 4;

/// Longest a replay waits under the `hold` test switch, ms.
pub(crate) const HOLD_MAX_MS: u32 = 60_000;

/// One coalesced operation of a record.
struct Entry {
    locks: Option<Arc<FileLocks>>,
    op: Op,
    tree: u32,
    count: u32,
    hold_ns: u64,
    /// Links and unlinks: real holds of the file's lock that began with
    /// one of this entry's operations.
    file_holds: u32,
    /// Links and unlinks: real holds in which this entry's tree was first
    /// changed.
    tree_holds: u32,
}

/// The part of a record only its owner touches.
struct Body {
    shared: *const Shared,
    n: usize,
    /// The real hold the task's last link or unlink was made in.
    holds: Holds,
    entries: [Entry; ENTRIES],
}

/// A replay record.
///
/// # Invariants
///
/// `owner` is 0 (free) or the address of the task that claimed it; only
/// that task reads or writes `cb` and `body`, through a [`Claim`], until it
/// gives the record back (in [`run_pending`], or when queueing fails).
/// While owned and queued, the task-work list holds `cb`, the record holds
/// a module reference, and `body.shared` points to the live [`Shared`]
/// (kept alive by the module reference, or at a failed load by [`drain`]).
#[repr(C)]
struct Record {
    /// First: the task-work callback finds the record from it.
    cb: UnsafeCell<bindings::callback_head>,
    owner: Atomic<usize>,
    body: UnsafeCell<Body>,
}

// SAFETY: `cb` and `body` are only touched through a [`Claim`], which only
// the record's owner holds (type invariant); `owner` is atomic.
// `Arc<FileLocks>` is `Send`.
unsafe impl Sync for Record {}
// SAFETY: as above.
unsafe impl Send for Record {}

impl Record {
    /// The record, if `task` owns it already (its pending record).
    fn mine(&self, task: usize) -> Option<Claim<'_>> {
        (task != 0 && self.owner.load(Relaxed) == task).then(|| {
            // SAFETY: the owner word is `task`, and only `task` (current,
            // the caller) ever sets it back to 0: the record is ours until
            // then.
            unsafe { Claim::owned(self) }
        })
    }

    /// The record claimed for `task` (current), if it was free.
    fn claim(&self, task: usize) -> Option<Claim<'_>> {
        self.owner.cmpxchg(0, task, Acquire).ok().map(|_| {
            // SAFETY: the compare-and-swap from 0 made `task` (current) the
            // owner; no other task touches `cb` or `body` until it is given
            // back.
            unsafe { Claim::owned(self) }
        })
    }
}

/// A record owned by the current task: the only way to its callback head
/// and body. Giving it back ([`Claim::give_back`]) is explicit; dropping a
/// claim keeps the record owned (queued records stay owned until their
/// callback runs).
///
/// # Invariants
///
/// The current task owns `rec` (its owner word is this task) for as long as
/// the claim lives; the claim stays in this task (not `Send`).
#[must_use = "a claimed record is given back with `give_back`, or stays owned"]
struct Claim<'a> {
    rec: &'a Record,
    _not_send: PhantomData<*mut ()>,
}

impl<'a> Claim<'a> {
    /// The claim of `rec`: the one place a claim is made.
    ///
    /// # Safety
    ///
    /// The current task owns `rec` (its owner word is this task), and
    /// keeps it for as long as the claim lives.
    unsafe fn owned(rec: &'a Record) -> Self {
        // INVARIANT: the caller's contract.
        Self {
            rec,
            _not_send: PhantomData,
        }
    }

    /// The claim of the record whose callback head is `cb`, in its callback.
    ///
    /// # Safety
    ///
    /// `cb` is the `cb` of a [`Record`] of a live pool that the current task
    /// queued (and so owns), and the returned claim does not outlive the
    /// pool.
    unsafe fn from_queued(cb: *mut bindings::callback_head) -> Self {
        // SAFETY: `cb` is the first field of a `Record` (`repr(C)`) of a live
        // pool (the caller's contract).
        let rec = unsafe { &*cb.cast::<Record>() };
        // SAFETY: the current task queued it, so owns it until it gives it
        // back.
        unsafe { Self::owned(rec) }
    }

    /// The body, ours alone while the claim lives.
    fn body(&mut self) -> &mut Body {
        // SAFETY: only the owner touches `body` (type invariants of `Record`
        // and `Self`), and `&mut self` makes this the claim's one borrow.
        unsafe { &mut *self.rec.body.get() }
    }

    /// The callback head, set to call `func`, for `task_work_add()` (the
    /// task-work list holds it once queued). Only for a record not queued.
    fn armed_cb(
        &mut self,
        func: unsafe extern "C" fn(*mut bindings::callback_head),
    ) -> *mut bindings::callback_head {
        // SAFETY: only the owner touches `cb` (type invariants), and a
        // record being queued is not on the task-work list yet.
        let cb = unsafe { &mut *self.rec.cb.get() };
        cb.next = core::ptr::null_mut();
        cb.func = Some(func);
        cb
    }

    /// Gives the record back (it may be claimed by another task at once).
    fn give_back(self) {
        self.rec.owner.store(0, Release);
    }
}

/// Replay counters, per CPU (indices of [`Ctr`]).
#[derive(Clone, Copy)]
pub(crate) enum Ctr {
    /// Operations queued (each coalesced into its task's record).
    Queued,
    /// Records queued.
    Records,
    /// Operations replayed.
    Run,
    /// Acquisitions replayed, summed over the designs: one per real hold
    /// of a syscall's links and unlinks (per tree changed in it, for a
    /// design with tree locks), one per walk.
    Acquired,
    /// Operations dropped unrun because unload was in progress.
    DroppedAtUnload,
    /// Operations not replayed: kernel threads, io/user workers, exiting
    /// tasks, the module going away, queueing failures.
    Skipped,
    /// Operations queued by a reclaiming task (`PF_MEMALLOC`).
    Memalloc,
    /// Operations dropped: no free record near the task's hash.
    PoolBusy,
    /// Operations dropped: the task's record had no free entry.
    RecordFull,
    /// Per-tree designs not replayed: more than `MAX_LOCK_TREES` trees.
    TooManyTrees,
}

/// Number of [`Ctr`]s.
const NCTR: usize = 10;

impl Ctr {
    /// Every counter with its name in `stats`.
    pub(crate) const ALL: [(Ctr, &'static str); NCTR] = [
        (Ctr::Queued, "replay.queued"),
        (Ctr::Records, "replay.records"),
        (Ctr::Run, "replay.run"),
        (Ctr::Acquired, "replay.acquired"),
        (Ctr::DroppedAtUnload, "replay.dropped_at_unload"),
        (Ctr::Skipped, "replay.skipped"),
        (Ctr::Memalloc, "replay.memalloc"),
        (Ctr::PoolBusy, "replay.pool_busy"),
        (Ctr::RecordFull, "replay.record_full"),
        (Ctr::TooManyTrees, "replay.too_many_trees"),
    ];
}

/// The replay records and counters.
pub(crate) struct Replays {
    records: KVVec<Record>,
    ctrs: PerCpu<[Atomic<u64>; NCTR]>,
    /// Test switch (`locks hold`): the thread group that wrote it (0:
    /// none); its tasks' replays each wait, holding the first design's
    /// locks of its first operation, until `locks release` (at most
    /// [`HOLD_MAX_MS`]).
    pub(crate) hold: Atomic<i32>,
    /// Set at unload: queued replays free themselves without replaying.
    closing: Atomic<u32>,
}

impl Replays {
    /// The pool, all free. Sleeps (load only).
    pub(crate) fn new() -> Result<Self> {
        let n = (4 * kernel::cpu::nr_cpu_ids() as usize).max(1024);
        let mut records = KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            records.push(
                Record {
                    cb: UnsafeCell::new(bindings::callback_head {
                        next: core::ptr::null_mut(),
                        func: None,
                    }),
                    owner: Atomic::new(0),
                    body: UnsafeCell::new(Body {
                        shared: core::ptr::null(),
                        n: 0,
                        holds: Holds::new(),
                        entries: [const {
                            Entry {
                                locks: None,
                                op: Op::Walk,
                                tree: 0,
                                count: 0,
                                hold_ns: 0,
                                file_holds: 0,
                                tree_holds: 0,
                            }
                        }; ENTRIES],
                    }),
                },
                GFP_KERNEL,
            )?;
        }
        Ok(Self {
            records,
            ctrs: PerCpu::new(|| [const { Atomic::new(0) }; NCTR])?,
            hold: Atomic::new(0),
            closing: Atomic::new(0),
        })
    }

    fn count(&self, c: Ctr) {
        self.ctrs.this_cpu()[c as usize].add(1, Relaxed);
    }

    /// Every counter, summed over CPUs, in [`Ctr::ALL`] order.
    pub(crate) fn counters(&self) -> [u64; NCTR] {
        self.ctrs.sums()
    }

    /// Records queued whose callback has not finished.
    pub(crate) fn pending(&self) -> u64 {
        self.records
            .iter()
            .filter(|r| r.owner.load(Relaxed) != 0)
            .count() as u64
    }

    /// Bytes of the pool and its counters.
    pub(crate) fn bytes(&self) -> usize {
        self.records.len() * core::mem::size_of::<Record>() + self.ctrs.bytes()
    }

    /// The records a task may use, from its hash.
    fn near(&self, task: usize) -> impl Iterator<Item = &Record> {
        let n = self.records.len().max(1);
        let h = hash_ptr(task) as usize;
        (0..PROBE).filter_map(move |i| self.records.get(h.wrapping_add(i) % n))
    }
}

/// Queues the replay of `op` of `vma` (0 for a walk) on `tree` of the file
/// with `locks` on the current task, coalesced into its record. Atomic
/// context (a tap).
pub(crate) fn queue(
    sh: &Shared,
    locks: &Arc<FileLocks>,
    op: Op,
    vma: usize,
    tree: u32,
    hold_ns: u64,
) {
    let r = &sh.replays;
    if sh.designs.load(Relaxed) == 0 {
        return;
    }
    let task = kernel::task::Task::current_raw();
    // SAFETY: `current` is live.
    let flags = unsafe { (*task).flags };
    let never_returns = bindings::PF_KTHREAD
        | bindings::PF_IO_WORKER
        | bindings::PF_USER_WORKER
        | bindings::PF_EXITING;
    if flags & never_returns != 0 {
        r.count(Ctr::Skipped);
        return;
    }
    if flags & bindings::PF_MEMALLOC != 0 {
        r.count(Ctr::Memalloc);
    }
    let me = task as usize;
    // The task's own pending record: coalesce (its callback runs in this
    // task, not now).
    if let Some(mut mine) = r.near(me).find_map(|rec| rec.mine(me)) {
        add(r, mine.body(), locks, op, vma, tree, hold_ns);
        return;
    }
    let Some(mut rec) = r.near(me).find_map(|rec| rec.claim(me)) else {
        r.count(Ctr::PoolBusy);
        return;
    };
    // Each queued record pins the module (its callback is module text):
    // rmmod fails at once with EBUSY while one is pending, and never waits
    // for a task that may block in its syscall after queueing.
    if !crate::sys::module_get() {
        // Unload in progress.
        rec.give_back();
        r.count(Ctr::Skipped);
        return;
    }
    let body = rec.body();
    body.shared = sh;
    body.n = 0;
    body.holds = Holds::new();
    add(r, body, locks, op, vma, tree, hold_ns);
    let cb = rec.armed_cb(run_pending);
    let notify = bindings::task_work_notify_mode_TWA_RESUME;
    // SAFETY: `cb` is initialised and stays valid (the pool lives until
    // every record is free: `drain`); on success the callback runs once on
    // `task` (current), which keeps the record owned until then.
    let ret = unsafe { bindings::task_work_add(task, cb, notify) };
    if ret != 0 {
        // Exiting past exit_task_work(): the callback will never run.
        r.count(Ctr::Skipped);
        release(rec.body());
        rec.give_back();
        crate::sys::module_put();
        return;
    }
    // The record stays owned (the claim is dropped, not given back) until
    // `run_pending` gives it back.
    drop(rec);
    r.count(Ctr::Records);
}

/// Coalesces one operation into `body`.
fn add(
    r: &Replays,
    body: &mut Body,
    locks: &Arc<FileLocks>,
    op: Op,
    vma: usize,
    tree: u32,
    hold_ns: u64,
) {
    // Where the real kernel's holds begin (the file told by its locks).
    let step = op
        .change()
        .map(|c| body.holds.step(Arc::as_ptr(locks) as usize, c, vma, tree));
    let (file_holds, tree_holds) =
        step.map_or((0, 0), |s| (u32::from(s.new_hold), u32::from(s.new_tree)));
    let n = body.n;
    // A link and an unlink of the same tree share an entry.
    for e in body.entries[..n].iter_mut() {
        if e.op.batched() == op.batched()
            && e.tree == tree
            && e.locks.as_ref().is_some_and(|l| Arc::ptr_eq(l, locks))
        {
            e.count = e.count.saturating_add(1);
            e.hold_ns = e.hold_ns.saturating_add(hold_ns);
            e.file_holds = e.file_holds.saturating_add(file_holds);
            e.tree_holds = e.tree_holds.saturating_add(tree_holds);
            r.count(Ctr::Queued);
            return;
        }
    }
    let Some(e) = body.entries.get_mut(n) else {
        r.count(Ctr::RecordFull);
        return;
    };
    *e = Entry {
        locks: Some(locks.clone()),
        op,
        tree,
        count: 1,
        hold_ns,
        file_holds,
        tree_holds,
    };
    body.n = n + 1;
    r.count(Ctr::Queued);
}

/// Drops the entries' file lock references.
fn release(body: &mut Body) {
    for e in body.entries[..body.n].iter_mut() {
        e.locks = None;
    }
    body.n = 0;
}

/// The task-work callback: runs in the task that queued it, in process
/// context, on return to user space or at exit.
///
/// # Safety
///
/// Only called by the task-work core, once, with the `cb` of a [`Record`]
/// queued by [`queue`].
unsafe extern "C" fn run_pending(cb: *mut bindings::callback_head) {
    // SAFETY: the task-work core calls this once, in the task that queued
    // `cb` (a record of the pool, which outlives every queued record: type
    // invariant of `Record`); the claim ends in this function.
    let mut rec = unsafe { Claim::from_queued(cb) };
    let body = rec.body();
    // SAFETY: valid while the record is queued (type invariant of `Record`).
    let sh = unsafe { &*body.shared };
    let r = &sh.replays;
    // Test switch: the first operation replayed by the thread group that
    // set `hold` waits, holding its first design's locks, until `release`
    // (bounded): the record stays pending (rmmod must not wait for it), and
    // another task's replay of the same file meets a held lock (contention
    // must be counted).
    let tgid = kernel::current!().tgid();
    let mut wait_held = tgid != 0 && r.hold.load(Relaxed) == tgid;
    let designs = sh.designs.load(Relaxed);
    let entries = &body.entries[..body.n];
    for (i, e) in entries.iter().enumerate() {
        let Some(l) = e.locks.as_ref() else {
            continue;
        };
        if r.closing.load(Relaxed) != 0 {
            for _ in 0..e.count {
                r.count(Ctr::DroppedAtUnload);
            }
            continue;
        }
        for d in Design::all().filter(|d| designs & d.bit() != 0) {
            let (acquisitions, hold) = acquisitions(entries, i, d.imp().tree_locks());
            for _ in 0..acquisitions {
                let done = l.set(d).is_some_and(|set| {
                    let wait = core::mem::take(&mut wait_held);
                    d.replay(set, e.op, e.tree as usize, hold, || {
                        if wait {
                            wait_release(r, tgid);
                        }
                    })
                });
                if !done {
                    r.count(Ctr::TooManyTrees);
                }
                r.count(Ctr::Acquired);
            }
        }
        for _ in 0..e.count {
            r.count(Ctr::Run);
        }
    }
    release(body);
    // Gives the record back, then the module reference. From here rmmod
    // may proceed; the few instructions left in this module's text are
    // covered by the RCU Tasks grace period of `drain()`.
    rec.give_back();
    crate::sys::module_put();
}

/// How a design with (`per_tree`) or without tree locks replays entry `i`
/// of a record: the number of acquisitions and the hold of each.
///
/// A walk is one acquisition per walk, held for their mean. Links and
/// unlinks ([`Op::batched`]) are one acquisition per real hold they were
/// made in ([`crate::holds`]): per (hold, tree changed) for a design with
/// tree locks, each held for the entry's mean; per hold for one without
/// (its one lock covers every tree), all of the file's holds taken at its
/// first entry, each held for their mean.
fn acquisitions(entries: &[Entry], i: usize, per_tree: bool) -> (u32, u64) {
    let e = &entries[i];
    if !e.op.batched() {
        return (e.count, e.hold_ns / u64::from(e.count.max(1)));
    }
    if per_tree {
        return (e.tree_holds, e.hold_ns / u64::from(e.tree_holds.max(1)));
    }
    let same_file = |o: &Entry| {
        o.op.batched()
            && match (&o.locks, &e.locks) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    };
    if entries[..i].iter().any(same_file) {
        return (0, 0);
    }
    let (holds, hold) = entries[i..]
        .iter()
        .filter(|o| same_file(o))
        .fold((0u32, 0u64), |(n, h), o| {
            (n.saturating_add(o.file_holds), h.saturating_add(o.hold_ns))
        });
    (holds, hold / u64::from(holds.max(1)))
}

/// Waits (sleeping, in process context: a replay holding only rwsems) while
/// the `hold` test switch names the thread group `tgid`, at most
/// [`HOLD_MAX_MS`].
fn wait_release(r: &Replays, tgid: i32) {
    let mut held_ms = 0;
    while r.hold.load(Relaxed) == tgid && held_ms < HOLD_MAX_MS {
        // Task work runs in process context; the locks held are rwsems
        // (sleeping locks), no spinlock and no RCU read section.
        fsleep(Delta::from_millis(10));
        held_ms += 10;
    }
}

/// Ends the replays at unload, after the taps are gone (nothing new is
/// queued). Sleeps, but never waits for a task at rmmod: every queued
/// record holds a module reference, so unload only gets here once none is
/// pending.
pub(crate) fn drain(sh: &Shared) {
    let r = &sh.replays;
    r.closing.store(1, Relaxed);
    // Only a failing init (the loader frees the module whatever its
    // reference count) gets here with records queued during seeding: wait
    // for them, they run when their tasks return to user space.
    let mut waited_ms = 0u32;
    while r.pending() != 0 {
        // Process context, no lock held.
        fsleep(Delta::from_millis(1));
        waited_ms = waited_ms.wrapping_add(1);
        if waited_ms % 10_000 == 0 {
            pr_warn!(
                "failed load: waiting for {} queued lock replays\n",
                r.pending()
            );
        }
    }
    // A callback's last instructions after its `module_put()` still run in
    // module text, and the kernel is preemptible: a task preempted there is
    // no RCU reader, so `synchronize_rcu()` would not wait for it. RCU Tasks
    // waits until every task has voluntarily switched (or is in user space
    // or idle), as ftrace and kprobes do before freeing trampolines.
    sys::synchronize_rcu_tasks();
}
