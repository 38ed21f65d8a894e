// SPDX-License-Identifier: GPL-2.0

//! Where the real kernel's `i_mmap_rwsem` holds begin, told from the order of
//! one task's rmap changes in one syscall.
//!
//! The replay takes a design's locks once per real hold, not once per
//! shadow operation: the kernel changes a file's tree several times under
//! one hold, and the taps see only the changes. In 7.3 every change of a
//! file's i_mmap tree is made under one of these holds (`mm/vma.c`,
//! `mm/mmap.c`):
//!
//! - `vma_link_file()`: one link of a new VMA (mmap, brk, exec's ELF
//!   segments); `dup_mmap()`: one `insert_after` per forked VMA.
//! - `vma_prepare()` .. `vma_complete()` around a split or a merge: a split
//!   links the new piece, unlinks the VMA and links it again with its new
//!   bounds; a merge unlinks and re-links the VMAs it adjusts and unlinks
//!   the ones it removes.
//! - `unlink_file_vma_batch_*()`: unlinks of a run of one file's VMAs at
//!   unmap and exit (at most [`UNLINK_BATCH`], the batch's array).
//!
//! So, read in order, a change starts a new hold when it is of another
//! file than the last change; when it links a VMA this hold has not
//! unlinked (a link of a new VMA, or the new piece of a split: nothing
//! else links a VMA that is not being re-linked); when it unlinks after
//! this hold re-linked a VMA (the split or merge is complete); or when a
//! run of unlinks only is full. One case is told wrong: a merge's unlinks
//! of the VMAs it removes come after its re-links and are counted as a
//! hold of their own (one acquisition too many per such merge).
//!
//! Pure Rust with no kernel dependency: the same file is built into the
//! module and into the host-side unit tests (`tests/host/`).

/// VMAs of a hold remembered as unlinked (a merge unlinks at most two
/// before it re-links them; a split one).
const REMOVED: usize = 4;

/// Most unlinks the kernel makes under one hold of a run of unlinks
/// (`struct unlink_vma_file_batch`'s array in 7.3).
pub(crate) const UNLINK_BATCH: u32 = 8;

/// A change of a file's i_mmap tree.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Change {
    /// A VMA linked.
    Link,
    /// A VMA unlinked.
    Unlink,
}

/// What one change is in the holds' sequence.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Step {
    /// It starts a new hold of the file's lock.
    pub(crate) new_hold: bool,
    /// Its tree is changed for the first time in this hold (a design with
    /// per-tree locks takes that tree's lock).
    pub(crate) new_tree: bool,
}

/// The hold the last change was made in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Holds {
    /// Identity of the hold's file (0: no hold yet).
    file: usize,
    /// VMAs unlinked in this hold (the last [`REMOVED`]).
    removed: [usize; REMOVED],
    nremoved: usize,
    /// A VMA was linked again after its unlink in this hold.
    relinked: bool,
    /// Links in this hold.
    links: u32,
    /// Unlinks in this hold.
    unlinks: u32,
    /// Trees changed in this hold, a bit each (trees past 63: always new).
    trees: u64,
}

impl Holds {
    /// Before a syscall's first change.
    pub(crate) const fn new() -> Self {
        Self {
            file: 0,
            removed: [0; REMOVED],
            nremoved: 0,
            relinked: false,
            links: 0,
            unlinks: 0,
            trees: 0,
        }
    }

    fn unlinked_here(&self, vma: usize) -> bool {
        self.removed[..self.nremoved.min(REMOVED)].contains(&vma)
    }

    /// The next change, of `vma` in tree `tree` of the file `file` (its
    /// identity, not 0).
    pub(crate) fn step(&mut self, file: usize, change: Change, vma: usize, tree: u32) -> Step {
        let new_hold = self.file != file
            || match change {
                Change::Link => !self.unlinked_here(vma),
                Change::Unlink => {
                    self.relinked || (self.links == 0 && self.unlinks >= UNLINK_BATCH)
                }
            };
        if new_hold {
            *self = Self::new();
            self.file = file;
        }
        match change {
            Change::Link => {
                if self.unlinked_here(vma) {
                    self.relinked = true;
                }
                self.links = self.links.saturating_add(1);
            }
            Change::Unlink => {
                self.removed[self.nremoved % REMOVED] = vma;
                self.nremoved = self.nremoved.saturating_add(1);
                self.unlinks = self.unlinks.saturating_add(1);
            }
        }
        let bit = 1u64.checked_shl(tree).unwrap_or(0);
        let new_tree = bit == 0 || self.trees & bit == 0;
        self.trees |= bit;
        Step { new_hold, new_tree }
    }
}
