// SPDX-License-Identifier: GPL-2.0

//! The thin layer over the real kernel's file objects that debugfs needs:
//! a path looked up by name, a file's path, and the real `i_mmap_rwsem`
//! held for read as a guard.
//!
//! Rule for every user: while an [`IMmapRead`] guard is alive nothing may
//! allocate with a sleeping flag (reclaim walks the rmap and takes this lock:
//! behind a waiting writer that is a deadlock), and the work done is a
//! bounded copy or count; so the guard only offers those.

use crate::shadow::{FileRef, VmaView};
use core::marker::PhantomData;
use kernel::{bindings, prelude::*, str::CString};

/// A referenced `struct path` (from `kern_path()`), put on drop.
///
/// # Invariants
///
/// `0` holds references on a live dentry with an inode, and its mount.
pub(crate) struct PathRef(bindings::path);

impl PathRef {
    /// Looks `name` up (following symlinks). May sleep; take no lock
    /// around it.
    pub(crate) fn lookup(name: &str) -> Result<Self> {
        let c = CString::try_from_fmt(fmt!("{name}"))?;
        let mut p = bindings::path::default();
        let follow = crate::sys::RS_LOOKUP_FOLLOW;
        // SAFETY: `c` is NUL-terminated; `p` receives a path reference.
        let ret = unsafe { crate::sys::kern_path(c.as_char_ptr(), follow, &mut p) };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        // SAFETY: a successful lookup gives a positive dentry.
        if unsafe { (*p.dentry).d_inode }.is_null() {
            // SAFETY: the reference just taken.
            unsafe { bindings::path_put(&p) };
            return Err(ENOENT);
        }
        Ok(Self(p))
    }

    /// Whether the path is a directory.
    pub(crate) fn is_dir(&self) -> bool {
        // SAFETY: the dentry and its inode are live (type invariant).
        let mode = unsafe { (*(*self.0.dentry).d_inode).i_mode };
        u32::from(mode) & bindings::S_IFMT == bindings::S_IFDIR
    }

    /// The inode's mapping, alive as long as `self`.
    pub(crate) fn mapping(&self) -> Mapping<'_> {
        // SAFETY: the inode is live (type invariant); `i_mapping` is set at
        // inode creation and never NULL.
        let m = unsafe { (*(*self.0.dentry).d_inode).i_mapping };
        Mapping(m, PhantomData)
    }
}

impl Drop for PathRef {
    fn drop(&mut self) {
        // SAFETY: the references from `kern_path()` (type invariant).
        unsafe { bindings::path_put(&self.0) };
    }
}

/// An `address_space` kept alive for `'a` by a file or path reference.
#[derive(Clone, Copy)]
pub(crate) struct Mapping<'a>(*mut bindings::address_space, PhantomData<&'a ()>);

impl<'a> Mapping<'a> {
    /// The mapping of a referenced file.
    pub(crate) fn of_file(f: &'a FileRef) -> Self {
        Mapping(f.mapping(), PhantomData)
    }

    /// The address, the shadow's key of the file.
    pub(crate) fn key(&self) -> usize {
        self.0 as usize
    }

    /// Takes the real `i_mmap_rwsem` for read (sleeps). Excludes the real
    /// kernel's link and unlink on this file, and so the taps for it.
    pub(crate) fn read_i_mmap(&self) -> IMmapRead<'a> {
        // SAFETY: the mapping is live for `'a` (type invariant of the
        // reference that made `self`).
        unsafe { bindings::down_read(&raw mut (*self.0).i_mmap_rwsem) };
        IMmapRead {
            m: self.0,
            _p: PhantomData,
        }
    }
}

/// The real `i_mmap_rwsem` of a mapping held for read; released on drop.
/// Not `Send`: it is released by the task that took it.
///
/// # Invariants
///
/// The current task holds `m`'s `i_mmap_rwsem` for read; `m` is live.
#[must_use = "the real i_mmap_rwsem is released when the guard is dropped"]
pub(crate) struct IMmapRead<'a> {
    m: *mut bindings::address_space,
    _p: PhantomData<(&'a (), *mut ())>,
}

impl IMmapRead<'_> {
    /// Calls `f` on every VMA of the real i_mmap tree with a file, in tree
    /// order. Bounded by the file's VMAs; `f` must not sleep or allocate.
    pub(crate) fn for_each_vma(&self, f: &mut dyn FnMut(&VmaView)) {
        // SAFETY: the tree is stable under `i_mmap_rwsem` (type invariant).
        let mut node = unsafe { bindings::rb_first(&raw const (*self.m).i_mmap.rb_root) };
        while !node.is_null() {
            // SAFETY: every node of `i_mmap` is the `shared.rb` of a VMA.
            let vma = unsafe { kernel::container_of!(node, bindings::vm_area_struct, shared.rb) };
            // SAFETY: linked VMAs are live and stable under `i_mmap_rwsem`.
            if let Some(view) = unsafe { VmaView::read(vma) } {
                f(&view);
            }
            // SAFETY: `node` is in the stable tree.
            node = unsafe { bindings::rb_next(node) };
        }
    }

    /// VMAs in the real tree.
    pub(crate) fn count(&self) -> usize {
        let mut n = 0usize;
        self.for_each_vma(&mut |_| n += 1);
        n
    }
}

impl Drop for IMmapRead<'_> {
    fn drop(&mut self) {
        // SAFETY: held for read by this task (type invariant).
        unsafe { bindings::up_read(&raw mut (*self.m).i_mmap_rwsem) };
    }
}

/// The path of a referenced file, or `?`.
pub(crate) fn file_path<'a>(file: &FileRef, buf: &'a mut [u8; 256]) -> &'a str {
    // SAFETY: the file is live (we hold a reference); `d_path` writes into
    // `buf` and returns a pointer into it, or an error pointer.
    let p = unsafe {
        bindings::d_path(
            &raw const (*file.as_ptr()).__bindgen_anon_1.f_path,
            buf.as_mut_ptr().cast(),
            buf.len() as i32,
        )
    };
    if p.is_null() || (p as isize) < 0 && (p as isize) >= -4095 {
        return "?";
    }
    let off = (p as usize).wrapping_sub(buf.as_ptr() as usize);
    if off >= buf.len() {
        return "?";
    }
    let end = buf[off..]
        .iter()
        .position(|&b| b == 0)
        .map_or(buf.len(), |e| off + e);
    core::str::from_utf8(&buf[off..end]).unwrap_or("?")
}
