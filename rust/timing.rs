// SPDX-License-Identifier: GPL-2.0

//! The cost of the taps: per tap kind, a log-linear histogram of handler
//! durations (ns), for the `taps` debugfs file.
//!
//! Buckets 0..16 hold 0..16 ns exactly; above, each power of two is split in
//! four (a bucket's width is at most a quarter of its lower bound), up to
//! 2^25 ns; longer durations land in the last bucket. A percentile is
//! reported as the upper bound of the bucket it falls in.

use kernel::{
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
};

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
        let b = &self.buckets[kind * BUCKETS..(kind + 1) * BUCKETS];
        let total: u64 = b.iter().map(|x| x.load(Relaxed)).sum();
        let pct = |permille: u64| {
            if total == 0 {
                return 0;
            }
            let want = (total * permille).div_ceil(1000);
            let mut seen = 0;
            for (i, x) in b.iter().enumerate() {
                seen += x.load(Relaxed);
                if seen >= want {
                    return upper(i);
                }
            }
            upper(BUCKETS - 1)
        };
        let n = s[0].load(Relaxed);
        Summary {
            n,
            mean: s[1].load(Relaxed).checked_div(n).unwrap_or(0),
            p50: pct(500),
            p99: pct(990),
            max: s[2].load(Relaxed),
        }
    }
}
