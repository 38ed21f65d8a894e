// SPDX-License-Identifier: GPL-2.0

//! The in-kernel storm: a locktorture-style stress of one lock design and
//! policy, on real `rw_semaphore`s and sibling trees on their nodes.
//!
//! Started and stopped through debugfs (`storm`), never at load. One kthread
//! per online CPU, bound to it, replays an execl-shaped mix on two synthetic
//! files (a libc-like and an ld.so-like one), each pre-populated with
//! `vmas` VMAs spread over its trees by the policy: an "exec" links five
//! VMAs into a file (trees chosen by the policy, as the patch would at VMA
//! creation), then unlinks the five the thread linked before (the previous
//! exec's exit); every `walk_every` execs it walks the file (an interval
//! query over every tree). Each lock acquisition is timed (a failed trylock
//! first counts as contended). The run ends after `secs` seconds, on
//! `stop`, or at unload.

use crate::kthread::{InKThread, KThread};
use crate::views::{read_command, MAX_WRITE};
use crate::{input, Shared};
use crate::{
    itree::ITree,
    locks::{
        locks_of, Design, Guarded, GuardedTree, LockSet, FILE_KEY, FILE_LOCK_NAME, MAX_LOCK_TREES,
        TREE_KEYS, TREE_LOCK_NAME,
    },
    policy::Policy,
    pool::NodeStore,
    sys,
    timing::now_ns,
    timing::TapTiming,
};
use core::fmt;
use kernel::uaccess::UserSliceReader;
use kernel::{
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc,
    },
};

/// Files per storm.
const FILES: usize = 2;
/// VMAs an exec links into a file.
const PER_EXEC: usize = 5;
/// Page offsets of an exec's five VMAs (libc.so.6's layout, in pages).
const LAYOUT: [(u64, u64); PER_EXEC] = [
    (0, 0x27),
    (0x28, 0x19f),
    (0x1a0, 0x1ef),
    (0x1f0, 0x1f3),
    (0x1f4, 0x1f5),
];

/// What a `start` asks for (parsed by [`crate::input::storm`]).
pub(crate) type Config = crate::input::StormSpec<Design>;

/// A synthetic file: its sibling trees (each on its node) under the run's
/// lock design, with each tree's length read lock-free by the policy.
#[pin_data]
struct StormFile {
    #[pin]
    set: Guarded<ITree<NodeStore>, Atomic<u64>>,
}

/// The figures of a run.
pub(crate) struct Figures {
    /// Execs (five links and five unlinks each).
    pub(crate) execs: Atomic<u64>,
    /// Walks.
    pub(crate) walks: Atomic<u64>,
    /// VMAs found by walks.
    pub(crate) found: Atomic<u64>,
    /// Tree allocation failures.
    pub(crate) alloc_failures: Atomic<u64>,
    /// Wait of every acquisition ([`crate::locks::HIST_WAIT`]) and hold of
    /// every write-side acquisition ([`crate::locks::HIST_HOLD`]).
    pub(crate) hist: TapTiming,
}

/// A storm run: its files, threads and figures.
pub(crate) struct Run {
    /// What was asked.
    pub(crate) cfg: Config,
    files: KVec<Pin<KBox<StormFile>>>,
    /// The figures.
    pub(crate) fig: Figures,
    /// Set to end the run early.
    abort: Atomic<u32>,
    /// Threads that finished their loop.
    pub(crate) done: Atomic<u32>,
    /// Threads started.
    pub(crate) threads: u32,
    /// Start and deadline, ns.
    pub(crate) t0: u64,
    deadline: u64,
    /// When the last thread finished (0: running).
    pub(crate) t1: Atomic<u64>,
}

/// A run with its kthreads; dropping it stops and reaps them (each
/// [`KThread`] does when dropped), then the run goes when its last
/// reference does.
pub(crate) struct Storm {
    /// The run (shared with the threads).
    pub(crate) run: Arc<Run>,
    threads: KVec<KThread<ThreadArg>>,
}

/// Per-thread argument.
struct ThreadArg {
    run: Arc<Run>,
    cpu: u32,
    node: u32,
    index: u32,
}

impl StormFile {
    fn new(trees: u32, design: Design) -> Result<Pin<KBox<Self>>> {
        let mut v = KVec::with_capacity(trees as usize, GFP_KERNEL)?;
        let nr_nodes = crate::nr_node_ids().max(1);
        for i in 0..trees {
            let nid = (i % nr_nodes) as i32;
            let tree = ITree::new(NodeStore::new(nid));
            let key = &TREE_KEYS[i as usize];
            v.push(
                KBox::pin_init(
                    GuardedTree::new(TREE_LOCK_NAME, key, tree, Atomic::new(0)),
                    GFP_KERNEL,
                )?,
                GFP_KERNEL,
            )?;
        }
        KBox::pin_init(
            pin_init!(StormFile {
                set <- Guarded::new(FILE_LOCK_NAME, &FILE_KEY, design.imp(), v),
            }),
            GFP_KERNEL,
        )
    }

    /// Links (`link`) or unlinks `[start, last]` `key` in tree `t` under
    /// the run's design's write side.
    fn change(&self, fig: &Figures, t: usize, (start, last): (u64, u64), key: usize, link: bool) {
        self.set.change(t, Some(&fig.hist), |it, len| {
            if link {
                if it.insert(start, last, key).is_err() {
                    fig.alloc_failures.add(1, Relaxed);
                } else {
                    len.add(1, Relaxed);
                }
            } else if it.remove(start, key) {
                len.fetch_sub(1, Relaxed);
            }
        });
    }

    /// Walks `[start, last]` over every tree under the design's read side.
    fn walk(&self, fig: &Figures, start: u64, last: u64) -> u64 {
        let mut found = 0u64;
        self.set.walk(Some(&fig.hist), |it, _| {
            it.query(start, last, &mut |_| found += 1);
        });
        found
    }

    /// The tree `policy` picks for `key` created on `cpu`/`node`.
    fn choose(&self, policy: Policy, key: usize, cpu: u32, node: u32) -> usize {
        let set = &self.set;
        policy.choose_among(
            set.ntrees(),
            |i| set.meta(i).map_or(0, |len| len.load(Relaxed)),
            key,
            cpu,
            node,
        )
    }
}

/// The thread body: execs on the run's files until the deadline, an
/// abort or a stop.
fn thread_fn(arg: &ThreadArg, k: &InKThread) {
    let run = &*arg.run;
    let cfg = run.cfg;
    // The VMAs (key, tree) of this thread's previous exec, per file.
    let mut mine = [[(0usize, 0usize); PER_EXEC]; FILES];
    let mut seq: usize = 0;
    let mut exec: u64 = 0;
    let base = (arg.index as usize + 1) << 40;
    let mut rnd = sys::random_u32() | 1;
    while run.abort.load(Relaxed) == 0 && now_ns() < run.deadline {
        if k.should_stop() {
            break;
        }
        let fi = (exec as usize) % FILES;
        let file = &run.files[fi];
        for (j, &(s, l)) in LAYOUT.iter().enumerate() {
            seq += 1;
            let key = base | seq << 3;
            let t = file.choose(cfg.policy, key, arg.cpu, arg.node);
            file.change(&run.fig, t, (s, l), key, true);
            let (old, ot) = core::mem::replace(&mut mine[fi][j], (key, t));
            if old != 0 {
                file.change(&run.fig, ot, (s, l), old, false);
            }
        }
        exec += 1;
        run.fig.execs.add(1, Relaxed);
        if exec % u64::from(cfg.walk_every.max(1)) == 0 {
            rnd ^= rnd << 13;
            rnd ^= rnd >> 17;
            rnd ^= rnd << 5;
            let p = u64::from(rnd % 0x1f6);
            let found = file.walk(&run.fig, p, p);
            run.fig.walks.add(1, Relaxed);
            run.fig.found.add(found, Relaxed);
        }
        if exec % 64 == 0 {
            k.cond_resched();
        }
    }
    if run.done.fetch_add(1, Relaxed) + 1 == run.threads {
        run.t1.store(now_ns(), Relaxed);
    }
}

impl Run {
    /// Acquisitions and contended acquisitions over every lock of the run.
    pub(crate) fn lock_counts(&self) -> (u64, u64) {
        let mut n = (0, 0);
        for (_, l) in self.files.iter().flat_map(|f| locks_of(&f.set)) {
            n.0 += l.stat.acq.load(Relaxed);
            n.1 += l.stat.contended.load(Relaxed);
        }
        n
    }
}

impl Storm {
    /// Populates the files and starts one thread per online CPU (or on each
    /// of the first `cfg.threads`; `EINVAL` if fewer are online).
    pub(crate) fn start(cfg: Config) -> Result<Self> {
        if cfg.trees as usize > MAX_LOCK_TREES || cfg.trees == 0 {
            return Err(EINVAL);
        }
        let trees = if cfg.policy == Policy::Single {
            1
        } else {
            cfg.trees
        };
        let mut files = KVec::with_capacity(FILES, GFP_KERNEL)?;
        for _ in 0..FILES {
            files.push(StormFile::new(trees, cfg.design)?, GFP_KERNEL)?;
        }
        let fig = Figures {
            execs: Atomic::new(0),
            walks: Atomic::new(0),
            found: Atomic::new(0),
            alloc_failures: Atomic::new(0),
            hist: TapTiming::new(2)?,
        };
        let mut cpus = KVec::new();
        let want = if cfg.threads == 0 {
            u32::MAX
        } else {
            cfg.threads
        };
        for cpu in (0..kernel::cpu::nr_cpu_ids())
            .filter(|&c| sys::cpu_online(c))
            .take(want as usize)
        {
            cpus.push(cpu, GFP_KERNEL)?;
        }
        if cfg.threads != 0 && cpus.len() != cfg.threads as usize {
            return Err(EINVAL);
        }
        let t0 = now_ns();
        let mut run = Run {
            cfg: Config { trees, ..cfg },
            files,
            fig,
            abort: Atomic::new(0),
            done: Atomic::new(0),
            threads: cpus.len() as u32,
            t0,
            deadline: u64::MAX,
            t1: Atomic::new(0),
        };
        // The pre-existing VMAs, placed as if created on CPU 0 / node 0
        // then spread by the policy over the keys.
        for (fi, file) in run.files.iter().enumerate() {
            for v in 0..cfg.vmas as usize {
                let key = (fi + 1) << 56 | v << 3;
                let (s, l) = LAYOUT[v % PER_EXEC];
                let t = file.choose(cfg.policy, key, v as u32, v as u32);
                file.change(&run.fig, t, (s, l), key, true);
            }
        }
        for (_, l) in run.files.iter().flat_map(|f| locks_of(&f.set)) {
            l.stat.reset();
        }
        run.fig.hist = TapTiming::new(2)?;
        run.t0 = now_ns();
        run.deadline = run.t0 + u64::from(cfg.secs) * 1_000_000_000;
        let run = Arc::new(run, GFP_KERNEL)?;
        let mut threads = KVec::with_capacity(cpus.len(), GFP_KERNEL)?;
        for (i, &cpu) in cpus.iter().enumerate() {
            let arg = ThreadArg {
                run: run.clone(),
                cpu,
                node: sys::cpu_to_node(cpu),
                index: i as u32,
            };
            match KThread::create_on_cpu(cpu, c"rmap_shadow_storm/%u", arg, thread_fn) {
                // Capacity reserved above: cannot fail.
                Ok(t) => drop(threads.push_within_capacity(t)),
                Err(e) => {
                    // Dropping `threads` stops the threads created so far
                    // (none has run).
                    run.abort.store(1, Relaxed);
                    return Err(e);
                }
            }
        }
        for t in threads.iter() {
            t.wake();
        }
        Ok(Storm { run, threads })
    }

    /// Whether every thread finished, or the run was stopped (its threads
    /// reaped, whether they ran or not).
    pub(crate) fn finished(&self) -> bool {
        self.threads.is_empty() || self.run.done.load(Relaxed) == self.run.threads
    }

    /// Ends the run early and reaps its threads; the figures stay. Sleeps.
    pub(crate) fn stop(&mut self) {
        self.run.abort.store(1, Relaxed);
        // Each thread is stopped and waited for as it is dropped.
        self.threads.clear();
    }
}

impl Drop for Storm {
    fn drop(&mut self) {
        self.stop();
    }
}

// The `storm` file: starting, stopping and showing a run.

// The storm's tree limit is the lock designs' (a storm file has per-tree
// locks for every design).
const _: () = assert!(input::STORM_MAX_TREES as usize == crate::locks::MAX_LOCK_TREES);

/// Parses a `storm start` command (see [`input::storm`]); `EINVAL` if bad.
fn parse_storm(s: &str) -> Result<Config> {
    let defaults = Config {
        design: Design::SINGLE,
        policy: Policy::Node,
        trees: crate::nr_node_ids().clamp(1, crate::locks::MAX_LOCK_TREES as u32),
        secs: 10,
        vmas: 6000,
        walk_every: 64,
        threads: 0,
    };
    input::storm(s, defaults, Design::parse).ok_or(EINVAL)
}

/// Writing `storm`: `start ...` (EBUSY while a run is going), or `stop`.
pub(crate) fn write_storm(sh: &Arc<Shared>, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; MAX_WRITE];
    let arg = read_command(r, &mut buf)?;
    if arg == "stop" {
        let mut g = sh.storm.lock();
        if let Some(st) = Option::as_mut(&mut *g) {
            st.stop();
        }
        return Ok(());
    }
    let cfg = parse_storm(arg)?;
    let mut cur = sh.storm.lock();
    if cur.as_ref().is_some_and(|s| !s.finished()) {
        return Err(EBUSY);
    }
    // Reap the finished run first (its threads are parked).
    drop(cur.take());
    *cur = Some(Storm::start(cfg)?);
    Ok(())
}

/// `storm`: header and one row: the last run (`none` before the first).
pub(crate) fn show_storm(sh: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(
        f,
        "state design policy trees secs vmas walk_every threads elapsed_ms execs ops ops_per_sec acq contended_permille wait_p50_ns wait_p99_ns hold_p50_ns hold_p99_ns walks found alloc_failures wait_mean_ns hold_mean_ns"
    )?;
    let cur = sh.storm.lock();
    let Some(st) = cur.as_ref() else {
        return writeln!(f, "none");
    };
    let run = &st.run;
    let c = run.cfg;
    let t1 = run.t1.load(Relaxed);
    let end = if t1 != 0 { t1 } else { crate::timing::now_ns() };
    let ms = (end.saturating_sub(run.t0) / 1_000_000).max(1);
    let g = &run.fig;
    let (execs, walks) = (g.execs.load(Relaxed), g.walks.load(Relaxed));
    let ops = execs * 10 + walks;
    let (acq, con) = run.lock_counts();
    let (w, h) = (
        g.hist.summary(crate::locks::HIST_WAIT),
        g.hist.summary(crate::locks::HIST_HOLD),
    );
    let state = if st.finished() { "done" } else { "running" };
    writeln!(
        f,
        "{state} {} {} {} {} {} {} {} {ms} {execs} {ops} {} {acq} {} {} {} {} {} {walks} {} {} {} {}",
        c.design.name(),
        c.policy.name(),
        c.trees,
        c.secs,
        c.vmas,
        c.walk_every,
        run.threads,
        (ops * 1000).checked_div(ms).unwrap_or(0),
        (con * 1000).checked_div(acq).unwrap_or(0),
        w.p50,
        w.p99,
        h.p50,
        h.p99,
        g.found.load(Relaxed),
        g.alloc_failures.load(Relaxed),
        w.mean,
        h.mean
    )
}
