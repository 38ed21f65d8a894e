// SPDX-License-Identifier: GPL-2.0

//! An augmented interval tree over an index arena.
//!
//! The shadow of one sibling i_mmap tree: like the kernel's vma interval tree
//! (`mm/interval_tree.c`), it orders intervals `[start, last]` (page offsets)
//! by start and keeps in every node the largest `last` of its subtree, so an
//! overlap query skips every subtree that cannot match. Balancing is a treap
//! (random priorities) instead of red-black colouring, which keeps the code
//! small; expected depth is O(log n). Every operation is iterative with
//! O(1) or bounded extra space: no recursion whose depth depends on the data
//! (the taps run it on whatever kernel stack the probed function has left).
//!
//! Pure Rust with no kernel dependency: the same file is built into the
//! module and into the host-side unit tests (`tests/host/`). Storage comes
//! from an [`Arena`], so the module can place a tree's nodes on its NUMA node.

/// The index of no node.
pub(crate) const NIL: u32 = u32::MAX;

/// Deepest path [`ITree::query`] and [`ITree::check`] follow.
pub(crate) const MAX_DEPTH: usize = 128;

/// An allocation failure of an [`Arena`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ArenaFull;

/// One interval in the tree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    /// First page offset covered.
    pub(crate) start: u64,
    /// Last page offset covered (inclusive).
    pub(crate) last: u64,
    /// Identity of the interval (the VMA's address); ties on `start` are
    /// ordered by it.
    pub(crate) key: usize,
    left: u32,
    right: u32,
    prio: u32,
    subtree_last: u64,
}

#[cfg(test)]
impl Node {
    /// A node with every field given (host tests only).
    pub(crate) fn for_test(
        start: u64,
        last: u64,
        key: usize,
        left: u32,
        right: u32,
        prio: u32,
        subtree_last: u64,
    ) -> Self {
        Self {
            start,
            last,
            key,
            left,
            right,
            prio,
            subtree_last,
        }
    }

    /// Points the left link anywhere (host tests only).
    pub(crate) fn set_left_for_test(&mut self, left: u32) {
        self.left = left;
    }
}

/// Growable storage for [`Node`]s, indexed from 0.
pub(crate) trait Arena {
    /// Number of slots ever pushed.
    fn len(&self) -> usize;
    /// The node in slot `i` (`i < len()`).
    fn get(&self, i: u32) -> &Node;
    /// The node in slot `i` (`i < len()`), mutable.
    fn get_mut(&mut self, i: u32) -> &mut Node;
    /// Appends a node; fails without side effect when out of memory.
    fn push(&mut self, n: Node) -> Result<(), ArenaFull>;
}

/// Why [`ITree::check`] found the tree broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Broken {
    /// In-order keys are not increasing.
    Order,
    /// A child has a higher priority than its parent.
    Heap,
    /// A node's `subtree_last` is not the maximum of its subtree.
    Augment,
    /// The number of reachable nodes differs from `len()` (or a link
    /// points outside the arena, or loops).
    Count,
    /// Deeper than [`MAX_DEPTH`].
    Depth,
}

/// An interval tree storing its nodes in `A`.
pub(crate) struct ITree<A: Arena> {
    arena: A,
    root: u32,
    free: u32,
    len: usize,
    rng: u32,
}

impl<A: Arena> ITree<A> {
    /// An empty tree over `arena` (which should be empty).
    pub(crate) fn new(arena: A, seed: u32) -> Self {
        Self {
            arena,
            root: NIL,
            free: NIL,
            len: 0,
            rng: seed | 1,
        }
    }

    /// Number of intervals.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The arena.
    pub(crate) fn arena(&self) -> &A {
        &self.arena
    }

    /// The tree's shape without its storage: (root, free list, len). With
    /// a copy of the arena's first `arena().len()` slots,
    /// [`ITree::from_raw_parts`] rebuilds an identical tree.
    pub(crate) fn raw_parts(&self) -> (u32, u32, usize) {
        (self.root, self.free, self.len)
    }

    /// A tree over `arena` with the shape `raw_parts()` returned for the
    /// tree the arena was copied from. Nothing is checked here: a broken
    /// copy makes [`ITree::check`] fail, never memory unsafety (every node
    /// access is bounds-checked by the arena).
    pub(crate) fn from_raw_parts(arena: A, (root, free, len): (u32, u32, usize)) -> Self {
        Self {
            arena,
            root,
            free,
            len,
            rng: 1,
        }
    }

    fn next_prio(&mut self) -> u32 {
        // xorshift32
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x
    }

    fn n(&self, i: u32) -> &Node {
        self.arena.get(i)
    }

    fn sub_last(&self, i: u32) -> u64 {
        if i == NIL {
            0
        } else {
            self.n(i).subtree_last
        }
    }

    fn fix(&mut self, i: u32) {
        let (l, r) = (self.n(i).left, self.n(i).right);
        let m = self.n(i).last.max(self.sub_last(l)).max(self.sub_last(r));
        self.arena.get_mut(i).subtree_last = m;
    }

    fn less(a: (u64, usize), b: (u64, usize)) -> bool {
        a < b
    }

    /// The left (`right == false`) or right link of `i`.
    fn link(&self, i: u32, right: bool) -> u32 {
        let n = self.n(i);
        if right {
            n.right
        } else {
            n.left
        }
    }

    fn set_link(&mut self, i: u32, right: bool, v: u32) {
        let n = self.arena.get_mut(i);
        if right {
            n.right = v;
        } else {
            n.left = v;
        }
    }

    /// Recomputes `subtree_last` bottom-up along the chain that starts at
    /// `start` and goes, from each node `x`, to its right child if
    /// `goes_right(x)` and else to its left, down to NIL. Every node off the
    /// chain must be up to date.
    ///
    /// O(1) space: the chain's links are reversed on the way down and
    /// restored on the way back up, fixing each node once its child on the
    /// chain is (no stack, no recursion, whatever the depth).
    fn fix_chain(&mut self, start: u32, goes_right: &dyn Fn(&Node) -> bool) {
        let (mut prev, mut cur) = (NIL, start);
        while cur != NIL {
            let d = goes_right(self.n(cur));
            let next = self.link(cur, d);
            self.set_link(cur, d, prev);
            prev = cur;
            cur = next;
        }
        let (mut below, mut cur) = (NIL, prev);
        while cur != NIL {
            let d = goes_right(self.n(cur));
            let up = self.link(cur, d);
            self.set_link(cur, d, below);
            self.fix(cur);
            below = cur;
            cur = up;
        }
    }

    /// Splits `t` into (keys < k, keys >= k), or (keys <= k, keys > k) when
    /// `inclusive`.
    ///
    /// Iterative: one walk down the search path of `k`, hanging each node
    /// on the right spine of the left part or the left spine of the right
    /// part; then those two spines (the only nodes whose subtrees changed)
    /// are fixed by [`Self::fix_chain`].
    fn split(&mut self, t: u32, k: (u64, usize), inclusive: bool) -> (u32, u32) {
        let (mut l, mut r, mut lt, mut rt) = (NIL, NIL, NIL, NIL);
        let mut cur = t;
        while cur != NIL {
            let tk = (self.n(cur).start, self.n(cur).key);
            let goes_left = if inclusive {
                !Self::less(k, tk)
            } else {
                Self::less(tk, k)
            };
            if goes_left {
                // `cur` and its left subtree belong to the left part.
                if lt == NIL {
                    l = cur;
                } else {
                    self.arena.get_mut(lt).right = cur;
                }
                lt = cur;
                cur = self.n(cur).right;
            } else {
                if rt == NIL {
                    r = cur;
                } else {
                    self.arena.get_mut(rt).left = cur;
                }
                rt = cur;
                cur = self.n(cur).left;
            }
        }
        if lt != NIL {
            self.arena.get_mut(lt).right = NIL;
        }
        if rt != NIL {
            self.arena.get_mut(rt).left = NIL;
        }
        self.fix_chain(l, &|_| true);
        self.fix_chain(r, &|_| false);
        (l, r)
    }

    /// Merges `a` and `b`, every key of `a` below every key of `b`.
    ///
    /// Iterative: the merged path takes, at each step, the root of higher
    /// priority (from `a`: its right subtree is merged on; from `b`: its
    /// left); the path is then fixed by [`Self::fix_chain`], a node's side
    /// told by comparing its key with `b`'s smallest.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        let mut m = b;
        while self.n(m).left != NIL {
            m = self.n(m).left;
        }
        let bmin = (self.n(m).start, self.n(m).key);
        let (mut a, mut b) = (a, b);
        let (mut root, mut hook, mut hook_right) = (NIL, NIL, false);
        while a != NIL && b != NIL {
            let from_a = self.n(a).prio >= self.n(b).prio;
            let x = if from_a { a } else { b };
            if hook == NIL {
                root = x;
            } else {
                self.set_link(hook, hook_right, x);
            }
            if from_a {
                a = self.n(a).right;
            } else {
                b = self.n(b).left;
            }
            hook = x;
            hook_right = from_a;
        }
        let rest = if a != NIL { a } else { b };
        // `hook` is set: neither input was empty.
        self.set_link(hook, hook_right, rest);
        self.fix_chain(root, &|n: &Node| Self::less((n.start, n.key), bmin));
        root
    }

    /// Inserts `[start, last]` with identity `key`. The caller keeps keys
    /// unique; on allocation failure the tree is unchanged.
    pub(crate) fn insert(&mut self, start: u64, last: u64, key: usize) -> Result<(), ArenaFull> {
        let prio = self.next_prio();
        let node = Node {
            start,
            last,
            key,
            left: NIL,
            right: NIL,
            prio,
            subtree_last: last,
        };
        let idx = if self.free != NIL {
            let i = self.free;
            self.free = self.n(i).left;
            *self.arena.get_mut(i) = node;
            i
        } else {
            let i = self.arena.len();
            if i >= NIL as usize {
                return Err(ArenaFull);
            }
            self.arena.push(node)?;
            i as u32
        };
        let (a, b) = self.split(self.root, (start, key), false);
        let a = self.merge(a, idx);
        self.root = self.merge(a, b);
        self.len += 1;
        Ok(())
    }

    /// Removes the interval starting at `start` with identity `key`; returns
    /// whether it was there.
    pub(crate) fn remove(&mut self, start: u64, key: usize) -> bool {
        let (a, rest) = self.split(self.root, (start, key), false);
        let (m, b) = self.split(rest, (start, key), true);
        let found = m != NIL;
        if found {
            // `m` holds exactly one node: keys are unique.
            let node = self.arena.get_mut(m);
            node.left = self.free;
            node.right = NIL;
            self.free = m;
            self.len -= 1;
        }
        self.root = self.merge(a, b);
        found
    }

    /// Calls `f` on every interval overlapping `[qs, ql]`, in start order.
    ///
    /// Iterative, with a path stack of [`MAX_DEPTH`] entries on the stack
    /// (no recursion whose depth depends on the data). Returns `false` if the
    /// tree is deeper than that (the answer is then incomplete); a treap of
    /// 10^6 random intervals is about 60 deep.
    pub(crate) fn query(&self, qs: u64, ql: u64, f: &mut dyn FnMut(&Node)) -> bool {
        let mut path = [NIL; MAX_DEPTH];
        let mut sp = 0usize;
        let mut t = self.root;
        loop {
            // Down the left spine of every subtree that can overlap.
            while t != NIL && self.n(t).subtree_last >= qs {
                if sp == MAX_DEPTH {
                    return false;
                }
                path[sp] = t;
                sp += 1;
                t = self.n(t).left;
            }
            if sp == 0 {
                return true;
            }
            sp -= 1;
            let n = *self.n(path[sp]);
            // In order: every later node starts at or after this one.
            if n.start > ql {
                return true;
            }
            if n.last >= qs {
                f(&n);
            }
            t = n.right;
        }
    }

    /// Checks every invariant (order, heap, augmentation, count), each at
    /// every node, in one iterative in-order walk (bounded like
    /// [`ITree::query`]; a cycle ends as [`Broken::Count`]).
    pub(crate) fn check(&self) -> Result<(), Broken> {
        let mut path = [NIL; MAX_DEPTH];
        let mut sp = 0usize;
        let mut t = self.root;
        let mut count = 0usize;
        let mut prev: Option<(u64, usize)> = None;
        loop {
            while t != NIL {
                if sp == MAX_DEPTH {
                    return Err(Broken::Depth);
                }
                if (t as usize) >= self.arena.len() {
                    return Err(Broken::Count);
                }
                path[sp] = t;
                sp += 1;
                t = self.n(t).left;
            }
            if sp == 0 {
                break;
            }
            sp -= 1;
            let n = *self.n(path[sp]);
            count += 1;
            if count > self.len {
                return Err(Broken::Count);
            }
            let k = (n.start, n.key);
            if let Some(p) = prev {
                if !Self::less(p, k) {
                    return Err(Broken::Order);
                }
            }
            prev = Some(k);
            let mut m = n.last;
            for c in [n.left, n.right] {
                if c == NIL {
                    continue;
                }
                if (c as usize) >= self.arena.len() {
                    return Err(Broken::Count);
                }
                let cn = self.n(c);
                if cn.prio > n.prio {
                    return Err(Broken::Heap);
                }
                m = m.max(cn.subtree_last);
            }
            if m != n.subtree_last {
                return Err(Broken::Augment);
            }
            t = n.right;
        }
        if count != self.len {
            return Err(Broken::Count);
        }
        Ok(())
    }
}
