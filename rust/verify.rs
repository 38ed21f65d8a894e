// SPDX-License-Identifier: GPL-2.0

//! `verify`: compare a file's shadow with the real kernel's i_mmap.
//!
//! Three phases, so that nothing allocates or formats under a lock:
//!
//! 1. size the buffers from the file's shadow (its lock, O(1) per tree) and
//!    allocate them with `GFP_KERNEL`, holding nothing;
//! 2. take the real `i_mmap_rwsem` for read (the real kernel's links and
//!    unlinks of this file, and so our taps for it, wait), copy the real
//!    VMAs into the buffer without allocating and pick random queries with
//!    their real answers; then take the file's shadow lock and, in one
//!    in-order walk per tree, check the tree's invariants and copy its
//!    intervals, and answer the queries; if a copy did not fit, drop both
//!    locks, grow, and retry (a few times, then `EAGAIN`). Both locks are
//!    this file's alone, and the real one already holds off every tap that
//!    could change the shadow: the O(VMAs) work under them delays nothing
//!    but this file's rmap walks;
//! 3. with no lock held, compare the copies: the counts, every real VMA in
//!    exactly one tree, and the queries answered alike, and return the
//!    first mismatch as plain data, formatted by the caller.

use crate::kmm;
use crate::views::{need_shadow, read_command, shadowed_files, MAX_WRITE};
use crate::{itree::Broken, kmm::Mapping, Shared};
use core::fmt;
use core::fmt::Write;
use kernel::prelude::*;
use kernel::{sync::Arc, uaccess::UserSliceReader};

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

/// Random queries per verify.
const QUERIES: usize = 16;

/// A shadow interval copied out: start, last, key, tree.
type Copied = (u64, u64, usize, u32);

/// Consistent copies of the real i_mmap and of the file's shadow.
struct Snapshot {
    real: KVVec<(usize, u64, u64)>,
    /// Every tree's intervals, tree after tree, each in (start, key) order.
    nodes: KVVec<Copied>,
    /// Per tree: where its intervals start in `nodes`, how many, and the
    /// first broken invariant.
    trees: KVec<(usize, usize, Option<Broken>)>,
    /// (start, last, shadow's answer, real answer).
    queries: [(u64, u64, usize, usize); QUERIES],
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
    let (mut real_cap, mut node_cap, mut tree_cap) = match sh.shadow.lookup(key) {
        None => (0usize, 0usize, 0usize),
        Some(f) => {
            let st = f.state.lock();
            (
                st.total as usize,
                st.trees.iter().map(|t| t.itree.len()).sum(),
                st.trees.len(),
            )
        }
    };
    for _ in 0..ATTEMPTS {
        let mut snap = Snapshot {
            real: KVVec::with_capacity(real_cap + 64, GFP_KERNEL)?,
            nodes: KVVec::with_capacity(node_cap + 64, GFP_KERNEL)?,
            trees: KVec::with_capacity(tree_cap.max(1), GFP_KERNEL)?,
            queries: [(0, 0, 0, 0); QUERIES],
            shadowed: false,
            degraded: false,
            total: 0,
        };
        // The file's shadow is looked up under the real lock (no taps for
        // this file meanwhile: the one found is the one they use); the
        // reference is dropped after both locks.
        let file;
        let mut nreal = 0usize;
        let mut fits = true;
        {
            let g = m.read_i_mmap();
            file = sh.shadow.lookup(key);
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
            pick_queries(&snap.real, &mut snap.queries);
            if let Some(f) = file.as_ref() {
                let st = f.state.lock();
                snap.shadowed = true;
                snap.degraded = st.degraded;
                snap.total = st.total;
                let need: usize = st.trees.iter().map(|t| t.itree.len()).sum();
                if need > snap.nodes.capacity() || st.trees.len() > snap.trees.capacity() {
                    fits = false;
                    node_cap = need;
                    tree_cap = st.trees.len();
                } else {
                    for (i, t) in st.trees.iter().enumerate() {
                        let off = snap.nodes.len();
                        let nodes = &mut snap.nodes;
                        let r = t.itree.check_visit(&mut |n| {
                            // Cannot fail: capacity checked above (a longer
                            // walk is a broken count, reported below).
                            let _ = nodes.push_within_capacity((n.start, n.last, n.key, i as u32));
                        });
                        let _ =
                            snap.trees
                                .push_within_capacity((off, snap.nodes.len() - off, r.err()));
                        for q in snap.queries.iter_mut() {
                            let mut got = 0usize;
                            t.itree.query(q.0, q.1, &mut |_| got += 1);
                            q.2 += got;
                        }
                    }
                }
            }
            // The shadow lock, then the real lock, are released here.
        }
        drop(file);
        if fits {
            return Ok(snap);
        }
        real_cap = real_cap.max(nreal);
    }
    Err(EAGAIN)
}

/// Random queries around the real VMAs, with the real answers.
fn pick_queries(real: &[(usize, u64, u64)], out: &mut [(u64, u64, usize, usize); QUERIES]) {
    let nreal = real.len();
    for q in out.iter_mut() {
        let r = u64::from(crate::sys::random_u32());
        let base = if nreal == 0 {
            0
        } else {
            real[(r as usize) % nreal].1
        };
        let qs = base.saturating_sub(r & 7);
        let ql = qs.saturating_add((r >> 8) & 63);
        let want = real
            .iter()
            .filter(|&&(_, s0, l0)| s0 <= ql && l0 >= qs)
            .count();
        *q = (qs, ql, 0, want);
    }
}

/// Checks the snapshot (phase 3, no lock held).
fn compare(snap: &Snapshot) -> Result<Finding> {
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
    for (i, &(_, _, broken)) in snap.trees.iter().enumerate() {
        if let Some(why) = broken {
            return Ok(Finding::Broken { tree: i, why });
        }
    }
    let sum: usize = snap.trees.iter().map(|t| t.1).sum();
    if sum as u64 != snap.total {
        return Ok(Finding::TreesSum {
            sum,
            total: snap.total,
        });
    }
    // Every real VMA in exactly one tree, with its interval: each tree's
    // copy is sorted by (start, key), so a binary search per tree.
    for &(vma, start, last) in snap.real.iter() {
        let mut found = 0u8;
        for &(off, len, _) in snap.trees.iter() {
            let Some(t) = snap.nodes.get(off..off + len) else {
                continue;
            };
            if let Ok(j) = t.binary_search_by(|n| (n.0, n.2).cmp(&(start, vma))) {
                if t[j].1 == last {
                    found = found.saturating_add(1);
                }
            }
        }
        if found != 1 {
            return Ok(Finding::Missing {
                vma,
                start,
                last,
                found,
            });
        }
    }
    for &(qs, ql, got, want) in snap.queries.iter() {
        if got != want {
            return Ok(Finding::Query { qs, ql, got, want });
        }
    }
    Ok(Finding::Ok)
}

/// Verifies the shadow of the file mapped by `m` against the real i_mmap.
/// Sleeps; the caller holds no spinlock and no real kernel lock.
pub(crate) fn verify_mapping(sh: &Shared, m: Mapping<'_>) -> Result<Finding> {
    let snap = snapshot(sh, m)?;
    compare(&snap)
}

// The `verify` file (the debugfs view of this check).

/// Formats into a `KVec` (outside every lock: may sleep).
struct Text(KVec<u8>);

impl Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0
            .extend_from_slice(s.as_bytes(), GFP_KERNEL)
            .map_err(|_| fmt::Error)
    }
}

/// Writing `verify`: `all`, or the absolute path of a file (not a
/// directory: `EISDIR`). The result is read back.
pub(crate) fn write_verify(sh: &Arc<Shared>, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; MAX_WRITE];
    let arg = read_command(r, &mut buf)?;
    let mut out = Text(KVec::new());
    let mut checked = 0u64;
    let mut bad = None;
    let mut name = [0u8; 256];
    if arg == "all" {
        let _serial = sh.rebuild.lock();
        need_shadow(sh)?;
        for f in shadowed_files(sh)?.iter() {
            let finding = verify_mapping(sh, Mapping::of_file(&f.file))?;
            checked += 1;
            if !finding.is_ok() {
                bad = Some((kmm::file_path(&f.file, &mut name), finding));
                break;
            }
        }
        if let Some((path, finding)) = bad {
            writeln!(out, "{}", Named(path, finding)).map_err(|_| ENOMEM)?;
        }
    } else {
        if !arg.starts_with('/') {
            return Err(EINVAL);
        }
        // The lookup may sleep on a slow filesystem: no lock held around it.
        let p = kmm::PathRef::lookup(arg)?;
        if p.is_dir() {
            return Err(EISDIR);
        }
        let finding = {
            let _serial = sh.rebuild.lock();
            need_shadow(sh)?;
            verify_mapping(sh, p.mapping())?
        };
        checked = 1;
        if !finding.is_ok() {
            writeln!(out, "{}", Named(arg, finding)).map_err(|_| ENOMEM)?;
            bad = Some(("", finding));
        }
    }
    if bad.is_none() {
        writeln!(out, "OK {checked} files").map_err(|_| ENOMEM)?;
    }
    let mut v = sh.verdict.lock();
    *v = out.0;
    Ok(())
}

/// Reading `verify`: the last result (`OK N files` or the first mismatch),
/// or `none` before any check.
pub(crate) fn show_verify(sh: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let v = sh.verdict.lock();
    if v.is_empty() {
        return writeln!(f, "none");
    }
    f.write_str(core::str::from_utf8(&v).unwrap_or("?\n"))
}
