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
