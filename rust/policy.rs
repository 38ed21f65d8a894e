// SPDX-License-Identifier: GPL-2.0

//! Which sibling tree a new file VMA goes to, and how many trees a file has.
//!
//! Pure Rust with no kernel dependency (also built by the host-side tests).
//!
//! Policies, from the split i_mmap series (v2) and its review:
//!
//! * `node`: `numa_node_id()` when the VMA is first linked (v2 on NUMA);
//! * `smallest`: the least populated tree (v2 without NUMA; ties go to the
//!   lowest index, as in the patch's `smallest_tree_idx()`);
//! * `cpu`: `smp_processor_id() % trees` (review);
//! * `hash`: a hash of the VMA's address (review);
//! * `single`: one tree, as today's kernel.

/// A tree-choice policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// The creating CPU's NUMA node.
    Node,
    /// The least populated tree.
    Smallest,
    /// The creating CPU, modulo the tree count.
    Cpu,
    /// A hash of the VMA pointer.
    Hash,
    /// One tree.
    Single,
}

impl Policy {
    /// Every policy, in the order of the debugfs tables.
    pub(crate) const ALL: [Policy; 5] = [
        Policy::Node,
        Policy::Smallest,
        Policy::Cpu,
        Policy::Hash,
        Policy::Single,
    ];

    /// The policy's name in parameters and debugfs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Policy::Node => "node",
            Policy::Smallest => "smallest",
            Policy::Cpu => "cpu",
            Policy::Hash => "hash",
            Policy::Single => "single",
        }
    }

    /// Parses a policy name.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.name() == s)
    }

    /// Picks a tree among `counts.len()` (at least one) for a new VMA.
    ///
    /// `counts` are the trees' current VMA counts, `vma` the VMA's address,
    /// `cpu` and `node` where the VMA is being created. (The host tests'
    /// form of [`Policy::choose_among`].)
    #[cfg(test)]
    pub(crate) fn choose(self, counts: &[u64], vma: usize, cpu: u32, node: u32) -> usize {
        self.choose_among(counts.len(), |i| counts[i], vma, cpu, node)
    }

    /// Picks a tree among `n` (at least one) for a new VMA; `count(i)` is
    /// tree `i`'s VMA count (read by `smallest` only). The one home of the
    /// policies' logic: the shadow and the in-kernel storm both call it.
    pub(crate) fn choose_among(
        self,
        n: usize,
        count: impl Fn(usize) -> u64,
        vma: usize,
        cpu: u32,
        node: u32,
    ) -> usize {
        let n = n.max(1);
        match self {
            Policy::Node => node as usize % n,
            Policy::Cpu => cpu as usize % n,
            Policy::Hash => (hash_ptr(vma) % n as u64) as usize,
            Policy::Single => 0,
            Policy::Smallest => {
                // Ties go to the lowest index (the patch's smallest_tree_idx()).
                let mut best = 0;
                let mut best_count = count(0);
                for i in 1..n {
                    if best_count == 0 {
                        break;
                    }
                    let c = count(i);
                    if c < best_count {
                        best = i;
                        best_count = c;
                    }
                }
                best
            }
        }
    }
}

/// How many sibling trees each file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeCount {
    /// `nr_node_ids` (v2 on NUMA).
    Nodes,
    /// `ALIGN(nr_cpu_ids, 32)` (v2 without NUMA).
    Cpus32,
    /// A fixed number, 1..=[`MAX_TREES`].
    Fixed(u32),
}

/// Most sibling trees per file.
pub(crate) const MAX_TREES: u32 = 1024;

impl TreeCount {
    /// Parses `nodes`, `cpus32` or a number in 1..=[`MAX_TREES`].
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "nodes" => Some(TreeCount::Nodes),
            "cpus32" => Some(TreeCount::Cpus32),
            _ => {
                let n: u32 = s.parse().ok()?;
                if (1..=MAX_TREES).contains(&n) && !s.starts_with('+') {
                    Some(TreeCount::Fixed(n))
                } else {
                    None
                }
            }
        }
    }

    /// The count for a kernel with these ids, capped at [`MAX_TREES`].
    pub(crate) fn resolve(self, nr_node_ids: u32, nr_cpu_ids: u32) -> u32 {
        let n = match self {
            TreeCount::Nodes => nr_node_ids,
            TreeCount::Cpus32 => nr_cpu_ids.div_ceil(32) * 32,
            TreeCount::Fixed(n) => n,
        };
        n.clamp(1, MAX_TREES)
    }
}

impl core::fmt::Display for TreeCount {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TreeCount::Nodes => f.write_str("nodes"),
            TreeCount::Cpus32 => f.write_str("cpus32"),
            TreeCount::Fixed(n) => write!(f, "{n}"),
        }
    }
}

/// The kernel's `hash_ptr()` idea: multiply by the 64-bit golden ratio and
/// keep the high bits; slab objects are aligned, so the low bits carry
/// little.
pub(crate) fn hash_ptr(p: usize) -> u64 {
    const GOLDEN_RATIO_64: u64 = 0x61C8_8646_80B5_83EB;
    (p as u64).wrapping_mul(GOLDEN_RATIO_64) >> 32
}
