// SPDX-License-Identifier: GPL-2.0

//! `verify`: compare a file's shadow with the real kernel's i_mmap.
//!
//! Three phases, so that no lock is held for more than a bounded copy and
//! nothing allocates or formats under a lock:
//!
//! 1. size the buffers from the shadow (shadow lock, O(1) per tree) and
//!    allocate them with `GFP_KERNEL`, holding nothing;
//! 2. take the real `i_mmap_rwsem` for read (the real kernel's links and
//!    unlinks of this file, and so our taps for it, wait), copy the real
//!    VMAs into the buffer without allocating, then take the shadow lock and
//!    copy the file's shadow trees node by node; if either did not fit,
//!    drop both locks, grow, and retry (a few times, then `EAGAIN`);
//! 3. with no lock held, check the copies: the counts, every tree's
//!    invariants, every real VMA in exactly one tree, and random interval
//!    queries answered alike, and return the first mismatch as plain data,
//!    formatted by the caller.

use crate::{
    itree::{Arena, ArenaFull, Broken, ITree, Node},
    kmm::Mapping,
    Shared,
};
use core::fmt;
use kernel::prelude::*;

/// What `verify` found for one file.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Finding {
    /// The shadow is the real tree.
    Ok,
    /// The file has real VMAs but no shadow.
    NotShadowed {
        /// Real VMAs.
        real: usize,
    },
    /// An event for the file was dropped.
    Degraded,
    /// The shadow's VMA count differs from the real one.
    Count {
        /// Shadowed VMAs.
        shadow: u64,
        /// Real VMAs.
        real: usize,
    },
    /// The trees' sizes do not add up to the file's count.
    TreesSum {
        /// Sum of the trees' sizes.
        sum: usize,
        /// The file's count.
        total: u64,
    },
    /// A tree's invariants are broken.
    Broken {
        /// Tree index.
        tree: usize,
        /// Which invariant.
        why: Broken,
    },
    /// A real VMA is in no tree, or in more than one.
    Missing {
        /// The VMA.
        vma: usize,
        /// Its first page offset.
        start: u64,
        /// Its last page offset.
        last: u64,
        /// Trees it was found in.
        found: u8,
    },
    /// An interval query answered differently.
    Query {
        /// Query start.
        qs: u64,
        /// Query end.
        ql: u64,
        /// Shadow's answer.
        got: usize,
        /// Real answer.
        want: usize,
    },
}

impl Finding {
    /// Whether nothing is wrong.
    pub(crate) fn is_ok(&self) -> bool {
        matches!(self, Finding::Ok)
    }
}

/// A finding with the file's name, for the verdict.
pub(crate) struct Named<'a>(pub(crate) &'a str, pub(crate) Finding);

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.0;
        match self.1 {
            Finding::Ok => write!(f, "{name}: OK"),
            Finding::NotShadowed { real } => {
                write!(f, "{name}: not shadowed, real has {real} VMAs")
            }
            Finding::Degraded => write!(f, "{name}: degraded (an event was dropped)"),
            Finding::Count { shadow, real } => {
                write!(f, "{name}: shadow has {shadow} VMAs, real {real}")
            }
            Finding::TreesSum { sum, total } => {
                write!(f, "{name}: trees hold {sum}, total says {total}")
            }
            Finding::Broken { tree, why } => write!(f, "{name}: tree {tree} broken: {why:?}"),
            Finding::Missing {
                vma,
                start,
                last,
                found,
            } => write!(
                f,
                "{name}: VMA {vma:#x} [{start:#x},{last:#x}] in {found} shadow trees, want 1"
            ),
            Finding::Query { qs, ql, got, want } => {
                write!(
                    f,
                    "{name}: query [{qs:#x},{ql:#x}]: shadow {got}, real {want}"
                )
            }
        }
    }
}

/// Node storage borrowed from a snapshot (read-only in practice).
struct SliceArena<'a>(&'a mut [Node]);

impl Arena for SliceArena<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, i: u32) -> &Node {
        &self.0[i as usize]
    }
    fn get_mut(&mut self, i: u32) -> &mut Node {
        &mut self.0[i as usize]
    }
    fn push(&mut self, _n: Node) -> Result<(), ArenaFull> {
        Err(ArenaFull)
    }
}

/// One tree of a snapshot: where its nodes are and its shape.
#[derive(Clone, Copy)]
struct TreeShape {
    off: usize,
    len: usize,
    parts: (u32, u32, usize),
}

/// Consistent copies of the real i_mmap and of the file's shadow.
struct Snapshot {
    real: KVVec<(usize, u64, u64)>,
    nodes: KVVec<Node>,
    trees: KVec<TreeShape>,
    shadowed: bool,
    degraded: bool,
    total: u64,
}

/// Most attempts at a snapshot whose sizes keep changing.
const ATTEMPTS: usize = 4;

/// Takes the snapshot of phase 2 (see the module doc). Sleeps.
fn snapshot(sh: &Shared, m: Mapping<'_>) -> Result<Snapshot> {
    let key = m.key();
    // Phase 1: the sizes, from the shadow.
    let (mut real_cap, mut node_cap, mut tree_cap) = {
        let s = sh.shadow.lock();
        match s.files.get(&key) {
            None => (0usize, 0usize, 0usize),
            Some(f) => (
                f.total as usize,
                f.trees.iter().map(|t| t.itree.arena().len()).sum(),
                f.trees.len(),
            ),
        }
    };
    for _ in 0..ATTEMPTS {
        let mut snap = Snapshot {
            real: KVVec::with_capacity(real_cap + 64, GFP_KERNEL)?,
            nodes: KVVec::with_capacity(node_cap + 64, GFP_KERNEL)?,
            trees: KVec::with_capacity(tree_cap.max(1), GFP_KERNEL)?,
            shadowed: false,
            degraded: false,
            total: 0,
        };
        let mut nreal = 0usize;
        let mut fits = true;
        {
            let g = m.read_i_mmap();
            g.for_each_vma(&mut |v| {
                nreal += 1;
                if snap
                    .real
                    .push_within_capacity((v.vma(), v.start(), v.last()))
                    .is_err()
                {
                    fits = false;
                }
            });
            let s = sh.shadow.lock();
            if let Some(f) = s.files.get(&key) {
                snap.shadowed = true;
                snap.degraded = f.degraded;
                snap.total = f.total;
                let need: usize = f.trees.iter().map(|t| t.itree.arena().len()).sum();
                if need > snap.nodes.capacity() || f.trees.len() > snap.trees.capacity() {
                    fits = false;
                    node_cap = need;
                    tree_cap = f.trees.len();
                } else {
                    for t in f.trees.iter() {
                        let a = t.itree.arena();
                        let off = snap.nodes.len();
                        for i in 0..a.len() {
                            // Cannot fail: capacity checked above.
                            let _ = snap.nodes.push_within_capacity(*a.get(i as u32));
                        }
                        let _ = snap.trees.push_within_capacity(TreeShape {
                            off,
                            len: a.len(),
                            parts: t.itree.raw_parts(),
                        });
                    }
                }
            }
            // The shadow lock, then the real lock, are released here.
        }
        if fits {
            return Ok(snap);
        }
        real_cap = real_cap.max(nreal);
    }
    Err(EAGAIN)
}

/// Checks the snapshot (phase 3, no lock held).
fn compare(snap: &mut Snapshot) -> Result<Finding> {
    let nreal = snap.real.len();
    if !snap.shadowed {
        return Ok(if nreal == 0 {
            Finding::Ok
        } else {
            Finding::NotShadowed { real: nreal }
        });
    }
    if snap.degraded {
        return Ok(Finding::Degraded);
    }
    if snap.total != nreal as u64 {
        return Ok(Finding::Count {
            shadow: snap.total,
            real: nreal,
        });
    }
    let sum: usize = snap.trees.iter().map(|t| t.parts.2).sum();
    if sum as u64 != snap.total {
        return Ok(Finding::TreesSum {
            sum,
            total: snap.total,
        });
    }
    // Random queries over the real VMAs, answered by the copy of the real
    // tree and summed over the shadow's trees.
    const QUERIES: usize = 16;
    let mut queries = [(0u64, 0u64, 0usize, 0usize); QUERIES];
    for q in queries.iter_mut() {
        // SAFETY: no preconditions.
        let r = u64::from(unsafe { kernel::bindings::get_random_u32() });
        let base = if nreal == 0 {
            0
        } else {
            snap.real[(r as usize) % nreal].1
        };
        let qs = base.saturating_sub(r & 7);
        let ql = qs.saturating_add((r >> 8) & 63);
        let want = snap
            .real
            .iter()
            .filter(|&&(_, s0, l0)| s0 <= ql && l0 >= qs)
            .count();
        *q = (qs, ql, 0, want);
    }
    let mut found: KVVec<u8> = KVVec::with_capacity(nreal, GFP_KERNEL)?;
    for _ in 0..nreal {
        let _ = found.push_within_capacity(0);
    }
    let shapes: KVec<TreeShape> = {
        let mut v = KVec::with_capacity(snap.trees.len(), GFP_KERNEL)?;
        for t in snap.trees.iter() {
            let _ = v.push_within_capacity(*t);
        }
        v
    };
    for (i, t) in shapes.iter().enumerate() {
        let Some(nodes) = snap.nodes.get_mut(t.off..t.off + t.len) else {
            return Ok(Finding::Broken {
                tree: i,
                why: Broken::Count,
            });
        };
        let tree = ITree::from_raw_parts(SliceArena(nodes), t.parts);
        if let Err(why) = tree.check() {
            return Ok(Finding::Broken { tree: i, why });
        }
        for (j, &(vma, start, last)) in snap.real.iter().enumerate() {
            tree.query(start, start, &mut |n| {
                if n.key == vma && n.start == start && n.last == last {
                    found[j] = found[j].saturating_add(1);
                }
            });
        }
        for q in queries.iter_mut() {
            let mut got = 0usize;
            tree.query(q.0, q.1, &mut |_| got += 1);
            q.2 += got;
        }
    }
    for (j, &(vma, start, last)) in snap.real.iter().enumerate() {
        if found[j] != 1 {
            return Ok(Finding::Missing {
                vma,
                start,
                last,
                found: found[j],
            });
        }
    }
    for &(qs, ql, got, want) in queries.iter() {
        if got != want {
            return Ok(Finding::Query { qs, ql, got, want });
        }
    }
    Ok(Finding::Ok)
}

/// Verifies the shadow of the file mapped by `m` against the real i_mmap.
/// Sleeps; the caller holds no spinlock and no real kernel lock.
pub(crate) fn verify_mapping(sh: &Shared, m: Mapping<'_>) -> Result<Finding> {
    let mut snap = snapshot(sh, m)?;
    compare(&mut snap)
}
