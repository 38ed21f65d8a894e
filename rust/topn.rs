// SPDX-License-Identifier: GPL-2.0

//! The `N` largest of a list, largest first: the `files` and `locks` views'
//! busiest files.
//!
//! A selection by insertion into a fixed array, not a sort: `core`'s sorts
//! leave objtool warnings in the module, and a view needs only the first
//! `N`. O(items × N), no allocation.
//!
//! Pure Rust with no kernel dependency: the same file is built into the
//! module and into the host-side unit tests (`tests/host/`).

/// The indices of the `N` items of `0..items` with the largest `key`,
/// largest first (ties in index order), and how many of the `N` slots are
/// filled (`items.min(N)`).
pub(crate) fn top_n<const N: usize>(
    items: usize,
    key: impl Fn(usize) -> u64,
) -> ([usize; N], usize) {
    let mut top = [usize::MAX; N];
    let mut ntop = 0;
    for i in 0..items {
        let k = key(i);
        let mut pos = ntop;
        while pos > 0 && key(top[pos - 1]) < k {
            pos -= 1;
        }
        if pos < N {
            let end = ntop.min(N - 1);
            top.copy_within(pos..end, pos + 1);
            top[pos] = i;
            ntop = (ntop + 1).min(N);
        }
    }
    (top, ntop)
}
