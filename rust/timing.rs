// SPDX-License-Identifier: GPL-2.0

//! The cost of the taps: per tap kind, a log-linear histogram of handler
//! durations (ns), for the `taps` debugfs file: per CPU for the taps
//! ([`CpuTaps`] in a [`PerCpu`], with the hit counts), shared for the
//! in-kernel storm ([`TapTiming`]).
//!
//! Buckets 0..16 hold 0..16 ns exactly; above, each power of two is split in
//! four (a bucket's width is at most a quarter of its lower bound), up to
//! 2^25 ns; longer durations land in the last bucket. A percentile is
//! reported as the upper bound of the bucket it falls in.

use crate::fast::Atomic;
use crate::percpu::PerCpu;
use kernel::{prelude::*, sync::atomic::Relaxed};

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

/// Buckets per histogram.
const BUCKETS: usize = 16 + (25 - 4) * 4;

/// Per-kind histograms and sums, flat.
pub(crate) struct TapTiming {
    kinds: usize,
    buckets: KVec<Atomic<u64>>,
    /// Per kind: events, total ns, max ns.
    sums: KVec<Atomic<u64>>,
}

fn index(v: u64) -> usize {
    if v < 16 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros() as usize;
    let sub = ((v >> (e - 2)) & 3) as usize;
    (16 + (e - 4) * 4 + sub).min(BUCKETS - 1)
}

/// The largest value of bucket `i` (the last bucket: its lower bound).
fn upper(i: usize) -> u64 {
    if i < 16 {
        return i as u64;
    }
    let e = (i - 16) / 4 + 4;
    let sub = ((i - 16) % 4) as u64;
    let lo = (1u64 << e) + sub * (1u64 << (e - 2));
    if i == BUCKETS - 1 {
        lo
    } else {
        lo + (1u64 << (e - 2)) - 1
    }
}

/// One kind's summary.
pub(crate) struct Summary {
    /// Events.
    pub(crate) n: u64,
    /// Mean ns.
    pub(crate) mean: u64,
    /// Median ns (bucket upper bound).
    pub(crate) p50: u64,
    /// 99th percentile ns (bucket upper bound).
    pub(crate) p99: u64,
    /// Longest ns.
    pub(crate) max: u64,
}

impl TapTiming {
    /// Zeroed histograms for `kinds` tap kinds.
    pub(crate) fn new(kinds: usize) -> Result<Self> {
        let mut buckets = KVec::with_capacity(kinds * BUCKETS, GFP_KERNEL)?;
        for _ in 0..kinds * BUCKETS {
            buckets.push(Atomic::new(0), GFP_KERNEL)?;
        }
        let mut sums = KVec::with_capacity(kinds * 3, GFP_KERNEL)?;
        for _ in 0..kinds * 3 {
            sums.push(Atomic::new(0), GFP_KERNEL)?;
        }
        Ok(Self {
            kinds,
            buckets,
            sums,
        })
    }

    /// Records one handler run of `kind` that took `ns`.
    pub(crate) fn record(&self, kind: usize, ns: u64) {
        if kind >= self.kinds {
            return;
        }
        self.buckets[kind * BUCKETS + index(ns)].add(1, Relaxed);
        let s = &self.sums[kind * 3..kind * 3 + 3];
        s[0].add(1, Relaxed);
        s[1].add(ns, Relaxed);
        let mut cur = s[2].load(Relaxed);
        while cur < ns {
            match s[2].cmpxchg(cur, ns, Relaxed) {
                Ok(_) => break,
                Err(seen) => cur = seen,
            }
        }
    }

    /// The summary of `kind`.
    pub(crate) fn summary(&self, kind: usize) -> Summary {
        let s = &self.sums[kind * 3..kind * 3 + 3];
        let mut b = [0u64; BUCKETS];
        for (x, a) in b
            .iter_mut()
            .zip(&self.buckets[kind * BUCKETS..(kind + 1) * BUCKETS])
        {
            *x = a.load(Relaxed);
        }
        Summary::of(
            &b,
            s[0].load(Relaxed),
            s[1].load(Relaxed),
            s[2].load(Relaxed),
        )
    }
}

impl Summary {
    /// The summary of a histogram `b` of `n` events totalling `total` ns,
    /// the longest `max` ns.
    fn of(b: &[u64; BUCKETS], n: u64, total: u64, max: u64) -> Self {
        let events: u64 = b.iter().sum();
        let pct = |permille: u64| {
            if events == 0 {
                return 0;
            }
            let want = (events * permille).div_ceil(1000);
            let mut seen = 0;
            for (i, x) in b.iter().enumerate() {
                seen += x;
                if seen >= want {
                    return upper(i);
                }
            }
            upper(BUCKETS - 1)
        };
        Summary {
            n,
            mean: total.checked_div(n).unwrap_or(0),
            p50: pct(500),
            p99: pct(990),
            max,
        }
    }
}

/// Most tap kinds [`CpuTaps`] has room for.
pub(crate) const MAX_KINDS: usize = 16;

/// One CPU's tap figures: hits per kind, and per kind the handler-time
/// histogram, events timed, total and longest ns. Written only by the taps
/// running on that CPU (see [`crate::percpu`]).
pub(crate) struct CpuTaps {
    hits: [Atomic<u64>; MAX_KINDS],
    not_task: Atomic<u64>,
    timed: [Atomic<u64>; MAX_KINDS],
    total_ns: [Atomic<u64>; MAX_KINDS],
    max_ns: [Atomic<u64>; MAX_KINDS],
    buckets: [[Atomic<u64>; BUCKETS]; MAX_KINDS],
}

impl CpuTaps {
    /// All zero.
    pub(crate) const fn new() -> Self {
        Self {
            hits: [const { Atomic::new(0) }; MAX_KINDS],
            not_task: Atomic::new(0),
            timed: [const { Atomic::new(0) }; MAX_KINDS],
            total_ns: [const { Atomic::new(0) }; MAX_KINDS],
            max_ns: [const { Atomic::new(0) }; MAX_KINDS],
            buckets: [const { [const { Atomic::new(0) }; BUCKETS] }; MAX_KINDS],
        }
    }

    /// Counts a hit of `kind` (ignored past [`MAX_KINDS`]).
    pub(crate) fn hit(&self, kind: usize) {
        if let Some(h) = self.hits.get(kind) {
            h.add(1, Relaxed);
        }
    }

    /// Counts a hit outside task context.
    pub(crate) fn not_task(&self) {
        self.not_task.add(1, Relaxed);
    }

    /// Records one handler run of `kind` that took `ns`. Only this CPU's
    /// taps write the slot, so the maximum needs no compare-and-swap loop.
    pub(crate) fn record(&self, kind: usize, ns: u64) {
        if kind >= MAX_KINDS {
            return;
        }
        self.buckets[kind][index(ns)].add(1, Relaxed);
        self.timed[kind].add(1, Relaxed);
        self.total_ns[kind].add(ns, Relaxed);
        if self.max_ns[kind].load(Relaxed) < ns {
            self.max_ns[kind].store(ns, Relaxed);
        }
    }
}

/// Sums over CPUs.
pub(crate) trait TapSums {
    /// Hits of `kind` on every CPU.
    fn hits(&self, kind: usize) -> u64;
    /// Hits outside task context on every CPU.
    fn not_task(&self) -> u64;
    /// The handler-time summary of `kind` over every CPU (its `n`: the
    /// events timed, fewer than the hits while timing is off).
    fn summary(&self, kind: usize) -> Summary;
}

impl TapSums for PerCpu<CpuTaps> {
    fn hits(&self, kind: usize) -> u64 {
        if kind >= MAX_KINDS {
            return 0;
        }
        self.iter()
            .fold(0u64, |a, c| a.wrapping_add(c.hits[kind].load(Relaxed)))
    }

    fn not_task(&self) -> u64 {
        self.iter()
            .fold(0u64, |a, c| a.wrapping_add(c.not_task.load(Relaxed)))
    }

    fn summary(&self, kind: usize) -> Summary {
        if kind >= MAX_KINDS {
            return Summary::of(&[0; BUCKETS], 0, 0, 0);
        }
        let mut b = [0u64; BUCKETS];
        let (mut n, mut total, mut max) = (0u64, 0u64, 0u64);
        for c in self.iter() {
            for (x, a) in b.iter_mut().zip(c.buckets[kind].iter()) {
                *x = x.wrapping_add(a.load(Relaxed));
            }
            n = n.wrapping_add(c.timed[kind].load(Relaxed));
            total = total.wrapping_add(c.total_ns[kind].load(Relaxed));
            max = max.max(c.max_ns[kind].load(Relaxed));
        }
        Summary::of(&b, n, total, max)
    }
}
