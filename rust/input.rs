// SPDX-License-Identifier: GPL-2.0

//! Parsing of what users write to the debugfs files and parameters.
//!
//! Pure Rust with no kernel dependency: also built by the host-side tests
//! (`tests/host`), which feed it random and mutated input.

use crate::policy::{Policy, TreeCount};

/// Longest input any writable file accepts, bytes.
pub(crate) const MAX_WRITE: usize = 256;

/// The command in the bytes of one write: valid UTF-8, no NUL byte, at most
/// [`MAX_WRITE`] bytes, white space around it ignored, not empty. Returns
/// its offset and length in `buf`.
pub(crate) fn command(buf: &[u8]) -> Option<(usize, usize)> {
    if buf.is_empty() || buf.len() > MAX_WRITE {
        return None;
    }
    let s = core::str::from_utf8(buf).ok()?;
    if s.contains('\0') {
        return None;
    }
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    Some((t.as_ptr() as usize - s.as_ptr() as usize, t.len()))
}

/// Parses `POLICY [TREES]` or `POLICY,TREES` (TREES: `nodes`, `cpus32` or
/// 1..=1024; default `cur`).
pub(crate) fn policy(s: &str, cur: TreeCount) -> Option<(Policy, TreeCount)> {
    let mut it = s
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let p = Policy::parse(it.next()?)?;
    let t = match it.next() {
        Some(t) => TreeCount::parse(t)?,
        None => cur,
    };
    if it.next().is_some() {
        return None;
    }
    Some((p, t))
}

/// Most trees an in-kernel storm file has (the lock designs' limit,
/// `locks::MAX_LOCK_TREES`).
pub(crate) const STORM_MAX_TREES: u32 = 32;

/// A parsed `storm start` command, generic over the lock design's type (so
/// that this file stays pure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StormSpec<D> {
    /// Lock design.
    pub(crate) design: D,
    /// Tree-choice policy.
    pub(crate) policy: Policy,
    /// Trees per file, 1 ..= [`STORM_MAX_TREES`].
    pub(crate) trees: u32,
    /// Duration, 1 ..= 600 s.
    pub(crate) secs: u32,
    /// VMAs per file before the start, 0 ..= 6000.
    pub(crate) vmas: u32,
    /// Execs between walks, 1 ..= 1000000.
    pub(crate) walk_every: u32,
    /// Threads, 0 ..= [`STORM_MAX_THREADS`]: 0 is one per online CPU, `n`
    /// one on each of the first `n` online CPUs (the caller checks there
    /// are `n`); `threads=1` is the uncontended run the lab's model starts
    /// from.
    pub(crate) threads: u32,
}

/// Most threads a `threads=N` asks for (`NR_CPUS` of the test kernels is
/// larger; the storm also refuses more than the online CPUs).
pub(crate) const STORM_MAX_THREADS: u32 = 4096;

/// A decimal in `lo ..= hi`: digits only (no sign, no space).
fn bounded(v: &str, lo: u32, hi: u32) -> Option<u32> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = v.parse().ok()?;
    (lo..=hi).contains(&n).then_some(n)
}

/// Parses `start [design=D] [policy=P] [trees=N] [secs=N] [vmas=N]
/// [walk_every=N] [threads=N]` (words separated by white space, a key given twice: the
/// last wins). Unset keys are `defaults`; `design` parses design names.
pub(crate) fn storm<D: Copy>(
    s: &str,
    defaults: StormSpec<D>,
    design: impl Fn(&str) -> Option<D>,
) -> Option<StormSpec<D>> {
    let mut it = s.split_ascii_whitespace();
    if it.next() != Some("start") {
        return None;
    }
    let mut cfg = defaults;
    for w in it {
        let (k, v) = w.split_once('=')?;
        match k {
            "design" => cfg.design = design(v)?,
            "policy" => cfg.policy = Policy::parse(v)?,
            "trees" => cfg.trees = bounded(v, 1, STORM_MAX_TREES)?,
            "secs" => cfg.secs = bounded(v, 1, 600)?,
            "vmas" => cfg.vmas = bounded(v, 0, 6000)?,
            "walk_every" => cfg.walk_every = bounded(v, 1, 1_000_000)?,
            "threads" => cfg.threads = bounded(v, 1, STORM_MAX_THREADS)?,
            _ => return None,
        }
    }
    Some(cfg)
}
