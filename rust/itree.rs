// SPDX-License-Identifier: GPL-2.0

//! An augmented interval tree of individually allocated nodes.
//!
//! The shadow of one sibling i_mmap tree: like the kernel's vma interval tree
//! (`mm/interval_tree.c`), it orders intervals `[start, last]` (page offsets)
//! by `(start, key)` and keeps in every node the largest `last` of its
//! subtree, so an overlap query skips every subtree that cannot match.
//! Balancing is a treap whose priorities are a hash of the key (the VMA's
//! address) instead of red-black colouring: expected depth O(log n), and no
//! priority stored per node.
//!
//! A node is 48 bytes (start, last, subtree maximum, key, two links), taken
//! from a [`Store`]: in the module, a slab cache allocating on the tree's
//! NUMA node, so a tree's memory is on its node and a node costs exactly
//! its object size. Every operation is iterative with O(1) or bounded extra
//! space: no recursion whose depth depends on the data (the taps run it on
//! whatever kernel stack the probed function has left).
//!
//! Pure Rust with no kernel dependency: the same file is built into the
//! module and into the host-side unit tests (`tests/host/`).

use core::ptr::NonNull;

/// Deepest path [`ITree::query`] and [`ITree::check`] follow.
pub(crate) const MAX_DEPTH: usize = 128;

/// Why [`ITree::insert`] left the tree unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InsertError {
    /// The store had no node to give.
    Full,
    /// The interval (its start and key) is in the tree already.
    Dup,
}

/// A link to a node, or none.
type Link = Option<NonNull<Node>>;

/// One interval in the tree.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Node {
    /// First page offset covered.
    pub(crate) start: u64,
    /// Last page offset covered (inclusive).
    pub(crate) last: u64,
    /// Largest `last` in this node's subtree.
    subtree_last: u64,
    /// Identity of the interval (the VMA's address); ties on `start` are
    /// ordered by it, and the treap priority is its hash.
    pub(crate) key: usize,
    left: Link,
    right: Link,
}

/// Where a tree's nodes come from.
///
/// # Safety
///
/// [`Store::alloc`] returns memory valid for reads and writes of a [`Node`],
/// suitably aligned, used by nobody else until it is passed to
/// [`Store::free`].
pub(crate) unsafe trait Store {
    /// Memory for one node (uninitialised), or `None`.
    fn alloc(&mut self) -> Option<NonNull<Node>>;

    /// Gives back a node.
    ///
    /// # Safety
    ///
    /// `n` came from this store's [`Store::alloc`] and is not used after.
    unsafe fn free(&mut self, n: NonNull<Node>);

    /// The treap priority of `key` (higher is nearer the root).
    fn prio(&self, key: usize) -> u64 {
        mix(key as u64)
    }
}

/// A 64-bit mixer (splitmix64's finaliser): slab-aligned addresses in,
/// well-spread priorities out.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
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
    /// The number of reachable nodes differs from `len()`.
    Count,
    /// Deeper than [`MAX_DEPTH`].
    Depth,
}

/// An interval tree whose nodes come from `S`.
///
/// # Invariants
///
/// Every link reachable from `root` points to an initialised node that came
/// from `store`, is reachable exactly once, and belongs to this tree alone;
/// `len` is the number of those nodes.
pub(crate) struct ITree<S: Store> {
    store: S,
    root: Link,
    len: usize,
}

// SAFETY: the tree owns its nodes (type invariant); they are plain data, so
// the tree may move to another thread with its store.
unsafe impl<S: Store + Send> Send for ITree<S> {}
// SAFETY: `&self` methods only read the nodes (no interior mutability in
// the tree or its nodes); the store is shared only if it may be.
unsafe impl<S: Store + Sync> Sync for ITree<S> {}

impl<S: Store> ITree<S> {
    /// An empty tree over `store`.
    pub(crate) fn new(store: S) -> Self {
        Self {
            store,
            root: None,
            len: 0,
        }
    }

    /// Number of intervals.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn n(&self, p: NonNull<Node>) -> &Node {
        // SAFETY: `p` is reachable from `root` (every caller follows links
        // of this tree): an initialised node of ours (type invariant), and
        // `&self` keeps the tree from changing while the borrow lives.
        unsafe { p.as_ref() }
    }

    fn m(&mut self, p: NonNull<Node>) -> &mut Node {
        // SAFETY: as in `n`; `&mut self` makes the borrow unique, and each
        // caller uses one node's borrow at a time.
        unsafe { &mut *p.as_ptr() }
    }

    fn prio(&self, p: NonNull<Node>) -> (u64, usize) {
        let key = self.n(p).key;
        (self.store.prio(key), key)
    }

    fn sub_last(&self, l: Link) -> u64 {
        l.map_or(0, |p| self.n(p).subtree_last)
    }

    fn fix(&mut self, p: NonNull<Node>) {
        let (l, r) = (self.n(p).left, self.n(p).right);
        let m = self.n(p).last.max(self.sub_last(l)).max(self.sub_last(r));
        self.m(p).subtree_last = m;
    }

    fn key(&self, p: NonNull<Node>) -> (u64, usize) {
        let n = self.n(p);
        (n.start, n.key)
    }

    /// The left (`right == false`) or right link of `p`.
    fn link(&self, p: NonNull<Node>, right: bool) -> Link {
        let n = self.n(p);
        if right {
            n.right
        } else {
            n.left
        }
    }

    fn set_link(&mut self, p: NonNull<Node>, right: bool, v: Link) {
        let n = self.m(p);
        if right {
            n.right = v;
        } else {
            n.left = v;
        }
    }

    /// Recomputes `subtree_last` bottom-up along the chain that starts at
    /// `start` and goes, from each node `x`, to its right child if
    /// `goes_right(x)` and else to its left, down to the end. Every node off
    /// the chain must be up to date.
    ///
    /// O(1) space: the chain's links are reversed on the way down and
    /// restored on the way back up, fixing each node once its child on the
    /// chain is (no stack, no recursion, whatever the depth).
    fn fix_chain(&mut self, start: Link, goes_right: &dyn Fn(&Node) -> bool) {
        let (mut prev, mut cur) = (None, start);
        while let Some(c) = cur {
            let d = goes_right(self.n(c));
            let next = self.link(c, d);
            self.set_link(c, d, prev);
            prev = cur;
            cur = next;
        }
        let (mut below, mut cur) = (None, prev);
        while let Some(c) = cur {
            let d = goes_right(self.n(c));
            let up = self.link(c, d);
            self.set_link(c, d, below);
            self.fix(c);
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
    fn split(&mut self, t: Link, k: (u64, usize), inclusive: bool) -> (Link, Link) {
        let (mut l, mut r, mut lt, mut rt): (Link, Link, Link, Link) = (None, None, None, None);
        let mut cur = t;
        while let Some(c) = cur {
            let tk = self.key(c);
            let goes_left = if inclusive { tk <= k } else { tk < k };
            if goes_left {
                // `c` and its left subtree belong to the left part.
                match lt {
                    None => l = cur,
                    Some(x) => self.m(x).right = cur,
                }
                lt = cur;
                cur = self.n(c).right;
            } else {
                match rt {
                    None => r = cur,
                    Some(x) => self.m(x).left = cur,
                }
                rt = cur;
                cur = self.n(c).left;
            }
        }
        if let Some(x) = lt {
            self.m(x).right = None;
        }
        if let Some(x) = rt {
            self.m(x).left = None;
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
    fn merge(&mut self, a: Link, b: Link) -> Link {
        let (Some(_), Some(b0)) = (a, b) else {
            return a.or(b);
        };
        let mut m = b0;
        while let Some(l) = self.n(m).left {
            m = l;
        }
        let bmin = self.key(m);
        let (mut a, mut b) = (a, b);
        let (mut root, mut hook, mut hook_right): (Link, Link, bool) = (None, None, false);
        while let (Some(x), Some(y)) = (a, b) {
            let from_a = self.prio(x) >= self.prio(y);
            let z = if from_a { x } else { y };
            match hook {
                None => root = Some(z),
                Some(h) => self.set_link(h, hook_right, Some(z)),
            }
            if from_a {
                a = self.n(x).right;
            } else {
                b = self.n(y).left;
            }
            hook = Some(z);
            hook_right = from_a;
        }
        let rest = a.or(b);
        // `hook` is set: neither input was empty.
        if let Some(h) = hook {
            self.set_link(h, hook_right, rest);
        }
        self.fix_chain(root, &|n: &Node| (n.start, n.key) < bmin);
        root
    }

    /// Whether the interval starting at `start` with identity `key` is in
    /// the tree (one descent, no change).
    pub(crate) fn contains(&self, start: u64, key: usize) -> bool {
        let k = (start, key);
        let mut cur = self.root;
        while let Some(c) = cur {
            let ck = self.key(c);
            if ck == k {
                return true;
            }
            cur = if k < ck {
                self.n(c).left
            } else {
                self.n(c).right
            };
        }
        false
    }

    /// Inserts `[start, last]` with identity `key`; on failure (no memory,
    /// or `(start, key)` already there) the tree is unchanged.
    ///
    /// The classic treap insert without rotations: one read-only descent to
    /// the first node on the key's search path whose priority is below the
    /// new node's (a duplicate, having the same priority, is met on the way
    /// or nowhere), the subtree found there split by the key into the new
    /// node's children (expected O(1) nodes on its spines), and a second
    /// descent that raises the ancestors' `subtree_last` and hooks the new
    /// node in. Expected O(log n), no allocation but the node.
    pub(crate) fn insert(&mut self, start: u64, last: u64, key: usize) -> Result<(), InsertError> {
        let k = (start, key);
        let pr = (self.store.prio(key), key);
        let mut stop = self.root;
        while let Some(c) = stop {
            if self.prio(c) < pr {
                break;
            }
            let ck = self.key(c);
            if ck == k {
                return Err(InsertError::Dup);
            }
            stop = self.link(c, ck < k);
        }
        let p = self.store.alloc().ok_or(InsertError::Full)?;
        let (l, r) = self.split(stop, k, false);
        let sub = last.max(self.sub_last(l)).max(self.sub_last(r));
        // SAFETY: the store gave us this memory for a node, for us alone.
        unsafe {
            p.as_ptr().write(Node {
                start,
                last,
                subtree_last: sub,
                key,
                left: l,
                right: r,
            })
        };
        // The ancestors of `stop` are unchanged by the split: the same path
        // leads back to the link that held it.
        let mut hook: Option<(NonNull<Node>, bool)> = None;
        let mut cur = self.root;
        while let Some(c) = cur {
            if cur == stop {
                break;
            }
            let n = self.m(c);
            n.subtree_last = n.subtree_last.max(last);
            let right = self.key(c) < k;
            hook = Some((c, right));
            cur = self.link(c, right);
        }
        match hook {
            None => self.root = Some(p),
            Some((h, right)) => self.set_link(h, right, Some(p)),
        }
        self.len += 1;
        Ok(())
    }

    /// Removes the interval starting at `start` with identity `key`; returns
    /// whether it was there (the tree is unchanged if not).
    ///
    /// One descent to the node, its two subtrees merged in its place
    /// (expected O(1) nodes on their spines), and, when the node may have
    /// held its ancestors' largest `last`, one pass fixing them.
    pub(crate) fn remove(&mut self, start: u64, key: usize) -> bool {
        let k = (start, key);
        let mut hook: Option<(NonNull<Node>, bool)> = None;
        let mut cur = self.root;
        while let Some(c) = cur {
            let ck = self.key(c);
            if ck == k {
                break;
            }
            let right = ck < k;
            hook = Some((c, right));
            cur = self.link(c, right);
        }
        let Some(c) = cur else {
            return false;
        };
        let (l, r, gone) = (self.n(c).left, self.n(c).right, self.n(c).last);
        let m = self.merge(l, r);
        match hook {
            None => self.root = m,
            Some((h, right)) => {
                self.set_link(h, right, m);
                // Every ancestor's maximum is at least its parent's: if the
                // parent's is above the removed `last`, none changes.
                if self.n(h).subtree_last <= gone {
                    self.fix_path(k, h);
                }
            }
        }
        self.len -= 1;
        // SAFETY: `c` is ours, unlinked from the tree, used no more.
        unsafe { self.store.free(c) };
        true
    }

    /// Recomputes `subtree_last` on the search path of `k` from the root
    /// down to `end` (on that path; its subtrees up to date), bottom-up,
    /// in O(1) space like [`Self::fix_chain`].
    fn fix_path(&mut self, k: (u64, usize), end: NonNull<Node>) {
        let (mut prev, mut cur) = (None, self.root);
        while let Some(c) = cur {
            if c == end {
                break;
            }
            let d = self.key(c) < k;
            let next = self.link(c, d);
            self.set_link(c, d, prev);
            prev = cur;
            cur = next;
        }
        if cur.is_some() {
            self.fix(end);
        }
        let (mut below, mut cur) = (cur, prev);
        while let Some(c) = cur {
            let d = self.key(c) < k;
            let up = self.link(c, d);
            self.set_link(c, d, below);
            self.fix(c);
            below = cur;
            cur = up;
        }
    }

    /// Calls `f` on every interval overlapping `[qs, ql]`, in start order.
    ///
    /// Iterative, with a path stack of [`MAX_DEPTH`] entries on the stack
    /// (no recursion whose depth depends on the data). Returns `false` if the
    /// tree is deeper than that (the answer is then incomplete); a treap of
    /// 10^6 random intervals is about 60 deep.
    pub(crate) fn query(&self, qs: u64, ql: u64, f: &mut dyn FnMut(&Node)) -> bool {
        let mut path: [Link; MAX_DEPTH] = [None; MAX_DEPTH];
        let mut sp = 0usize;
        let mut t = self.root;
        loop {
            // Down the left spine of every subtree that can overlap.
            while let Some(c) = t.filter(|&c| self.n(c).subtree_last >= qs) {
                if sp == MAX_DEPTH {
                    return false;
                }
                path[sp] = Some(c);
                sp += 1;
                t = self.n(c).left;
            }
            if sp == 0 {
                return true;
            }
            sp -= 1;
            let Some(c) = path[sp] else {
                return true;
            };
            let n = self.n(c);
            // In order: every later node starts at or after this one.
            if n.start > ql {
                return true;
            }
            if n.last >= qs {
                f(n);
            }
            t = n.right;
        }
    }

    /// Checks every invariant (order, heap, augmentation, count), each at
    /// every node, in one iterative in-order walk bounded like
    /// [`ITree::query`], calling `visit` on each node in order.
    pub(crate) fn check_visit(&self, visit: &mut dyn FnMut(&Node)) -> Result<(), Broken> {
        let mut path: [Link; MAX_DEPTH] = [None; MAX_DEPTH];
        let mut sp = 0usize;
        let mut t = self.root;
        let mut count = 0usize;
        let mut prev: Option<(u64, usize)> = None;
        loop {
            while let Some(c) = t {
                if sp == MAX_DEPTH {
                    return Err(Broken::Depth);
                }
                path[sp] = Some(c);
                sp += 1;
                t = self.n(c).left;
            }
            if sp == 0 {
                break;
            }
            sp -= 1;
            let Some(c) = path[sp] else {
                break;
            };
            let n = self.n(c);
            count += 1;
            if count > self.len {
                return Err(Broken::Count);
            }
            let k = (n.start, n.key);
            if prev.is_some_and(|p| p >= k) {
                return Err(Broken::Order);
            }
            prev = Some(k);
            let mut m = n.last;
            for ch in [n.left, n.right].into_iter().flatten() {
                if self.prio(ch) > self.prio(c) {
                    return Err(Broken::Heap);
                }
                m = m.max(self.n(ch).subtree_last);
            }
            if m != n.subtree_last {
                return Err(Broken::Augment);
            }
            visit(n);
            t = n.right;
        }
        if count != self.len {
            return Err(Broken::Count);
        }
        Ok(())
    }

    /// [`ITree::check_visit`] without a visitor (host tests).
    #[cfg(test)]
    pub(crate) fn check(&self) -> Result<(), Broken> {
        self.check_visit(&mut |_| {})
    }

    /// Frees every node: O(n) time, O(1) space (rotating each left child up
    /// until the root has none, then freeing the root).
    pub(crate) fn clear(&mut self) {
        let mut cur = self.root.take();
        while let Some(c) = cur {
            match self.n(c).left {
                Some(l) => {
                    let lr = self.n(l).right;
                    self.m(c).left = lr;
                    self.m(l).right = Some(c);
                    cur = Some(l);
                }
                None => {
                    cur = self.n(c).right;
                    // SAFETY: `c` is ours and no longer reachable.
                    unsafe { self.store.free(c) };
                }
            }
        }
        self.len = 0;
    }
}

impl<S: Store> Drop for ITree<S> {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
impl<S: Store> ITree<S> {
    /// A tree of `n` nodes hanging as one left chain, node `i` holding
    /// `[i, i]` with key `i`: valid when the store's priority grows with the
    /// key (host tests only).
    pub(crate) fn chain_for_test(store: S, n: usize) -> Self {
        let mut t = Self::new(store);
        let mut below: Link = None;
        for i in 0..n {
            let p = t.store.alloc().expect("test store");
            // SAFETY: fresh node memory from the store.
            unsafe {
                p.as_ptr().write(Node {
                    start: i as u64,
                    last: i as u64,
                    subtree_last: i as u64,
                    key: i,
                    left: below,
                    right: None,
                })
            };
            below = Some(p);
        }
        t.root = below;
        t.len = n;
        t
    }

    /// Breaks the root: `what` 0 changes its `subtree_last`, 1 its start,
    /// 2 the length (host tests only).
    pub(crate) fn break_for_test(&mut self, what: u32) {
        if let Some(r) = self.root {
            match what {
                0 => self.m(r).subtree_last += 1,
                1 => self.m(r).start = u64::MAX,
                _ => self.len += 1,
            }
        }
    }
}
