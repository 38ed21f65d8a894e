// SPDX-License-Identifier: GPL-2.0

//! The thin layer over the real kernel's file objects that debugfs needs:
//! a path looked up by name, a file's path, and the real `i_mmap_rwsem`
//! held for read as a guard.
//!
//! Rule for every user: while an [`IMmapRead`] guard is alive nothing may
//! allocate with a sleeping flag (reclaim walks the rmap and takes this lock:
//! behind a waiting writer that is a deadlock), and the work done is a
//! bounded copy or count; so the guard only offers those.

use core::{marker::PhantomData, ptr::NonNull};
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

/// Proof that the current task holds a mapping's real `i_mmap_rwsem` for
/// write for `'a`: given to the file-rmap insert and remove taps (the real
/// kernel's callers hold it around `mapping_rmap_tree_insert*()` and
/// `mapping_rmap_tree_remove()`) and lent by an [`IMmapWrite`] guard.
/// The shadow changes a file's table entry only under it
/// ([`crate::shadow::Shadow`]). Not `Send`: the lock is the task's.
pub(crate) struct IMmapHeld<'a> {
    mapping: usize,
    _p: PhantomData<(&'a (), *mut ())>,
}

impl IMmapHeld<'_> {
    /// The token for `mapping`.
    ///
    /// # Safety
    ///
    /// The current task holds `mapping`'s `i_mmap_rwsem` for write, and
    /// keeps it for as long as the token lives.
    pub(crate) unsafe fn assume(mapping: usize) -> Self {
        Self {
            mapping,
            _p: PhantomData,
        }
    }

    /// The mapping whose lock is held.
    pub(crate) fn mapping(&self) -> usize {
        self.mapping
    }
}

/// The real `i_mmap_rwsem` of a VMA's mapping held for write by the seeding
/// walk; released on drop. The VMA's mm is read-locked meanwhile (the
/// kernel's order: mmap_lock, then i_mmap_rwsem), which keeps the VMA, its
/// file and the mapping live. Nothing may allocate with a sleeping flag
/// while it is held (reclaim takes this lock).
///
/// # Invariants
///
/// The current task holds `m`'s `i_mmap_rwsem` for write; `m` is live.
#[must_use = "the real i_mmap_rwsem is released when the guard is dropped"]
pub(crate) struct IMmapWrite<'a> {
    m: *mut bindings::address_space,
    _p: PhantomData<(&'a (), *mut ())>,
}

impl IMmapWrite<'_> {
    /// The proof of the lock, for the shadow's calls made under it.
    pub(crate) fn held(&mut self) -> IMmapHeld<'_> {
        // SAFETY: held for write until `self` drops (type invariant); the
        // token borrows `self`, so it cannot outlive the guard.
        unsafe { IMmapHeld::assume(self.m as usize) }
    }
}

impl Drop for IMmapWrite<'_> {
    fn drop(&mut self) {
        // SAFETY: held for write by this task (type invariant).
        unsafe { bindings::up_write(&raw mut (*self.m).i_mmap_rwsem) };
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

/// A referenced `mm_struct` (from `get_task_mm()`), put on drop.
///
/// # Invariants
///
/// `0` holds one `mmget()` reference on a live mm.
pub(crate) struct MmRef(core::ptr::NonNull<bindings::mm_struct>);

// SAFETY: an mm reference may be dropped from any task in process context.
unsafe impl Send for MmRef {}

impl MmRef {
    /// Takes the mm's `mmap_lock` for read (sleeps).
    pub(crate) fn read(&self) -> MmapRead<'_> {
        // SAFETY: the mm is live (type invariant).
        unsafe { bindings::mmap_read_lock(self.0.as_ptr()) };
        MmapRead {
            mm: self,
            _p: PhantomData,
        }
    }
}

impl Drop for MmRef {
    fn drop(&mut self) {
        // SAFETY: the reference from `get_task_mm()` (type invariant);
        // `mmput()` may sleep: an `MmRef` is only dropped in process
        // context with no lock held (it is never held under a spinlock).
        unsafe { bindings::mmput(self.0.as_ptr()) };
    }
}

/// References to the mm of every live process (kernel threads have none).
/// Sleeps.
pub(crate) fn all_mms() -> Result<KVVec<MmRef>> {
    let mut raw: KVVec<*mut bindings::mm_struct> = KVVec::with_capacity(1024, GFP_KERNEL)?;
    loop {
        let cap = raw.capacity().min(i32::MAX as usize);
        // SAFETY: `raw` has room for `cap` pointers; the helper writes at
        // most that many (each with a `get_task_mm()` reference) and returns
        // the count.
        let n = unsafe { crate::sys::rs_collect_mms(raw.as_mut_ptr(), cap as i32) } as usize;
        // SAFETY: the helper initialised the first `n` slots.
        unsafe { raw.inc_len(n.min(cap)) };
        let full = n >= cap;
        let mut out = KVVec::with_capacity(raw.len(), GFP_KERNEL);
        for &mm in raw.iter() {
            // SAFETY: non-NULL, with a reference (helper's contract).
            let r = MmRef(unsafe { core::ptr::NonNull::new_unchecked(mm) });
            if let Ok(v) = out.as_mut() {
                // Cannot fail: capacity reserved.
                let _ = v.push_within_capacity(r);
            }
            // Else `r` is dropped here: the reference is put.
        }
        let out = out?;
        if !full {
            return Ok(out);
        }
        // More processes than room: put them all and try with twice the room.
        drop(out);
        let cap2 = cap.saturating_mul(2);
        raw.clear();
        raw.reserve(cap2, GFP_KERNEL)?;
    }
}

/// An mm's `mmap_lock` held for read; released on drop. Not `Send`.
///
/// # Invariants
///
/// The current task holds `mm`'s `mmap_lock` for read.
#[must_use = "the mmap_lock is released when the guard is dropped"]
pub(crate) struct MmapRead<'a> {
    mm: &'a MmRef,
    _p: PhantomData<*mut ()>,
}

/// A VMA of a read-locked mm, valid for one callback.
pub(crate) struct LockedVma(*mut bindings::vm_area_struct);

impl LockedVma {
    /// The VMA's file mapping and interval, if it maps a file.
    pub(crate) fn view(&self) -> Option<VmaView> {
        // SAFETY: the VMA is live and its fields stable while its mm is
        // read-locked (the guard lending `self`).
        unsafe { VmaView::read(self.0) }
    }

    /// For a file VMA: its view, with its mapping's real `i_mmap_rwsem`
    /// taken for write (sleeps). The mm's read lock (the guard lending
    /// `self`) keeps the VMA, its file and so the mapping live.
    pub(crate) fn lock_i_mmap(&self) -> Option<(VmaView, IMmapWrite<'_>)> {
        let v = self.view()?;
        let m = v.mapping() as *mut bindings::address_space;
        // SAFETY: `m` is the live mapping of a live file VMA (above); the
        // caller holds only the mmap lock, which orders before it.
        unsafe { bindings::down_write(&raw mut (*m).i_mmap_rwsem) };
        Some((v, IMmapWrite { m, _p: PhantomData }))
    }

    /// Calls `f` on each anon_vma of the VMA's chain (at most
    /// [`crate::anon::MAX_CHAIN`]), one at a time with its real lock held
    /// for read; false when the chain was longer (the rest not visited).
    /// Sleeps (the anon_vma locks).
    pub(crate) fn for_each_anon_vma(&self, f: &mut dyn FnMut(&AnonVmaRead<'_>)) -> bool {
        let mut avs = [0usize; crate::anon::MAX_CHAIN];
        // SAFETY: the VMA is live and its mm read-locked; a VMA with an
        // anon_vma only changes its chain under the mmap write lock (a
        // fault's `__anon_vma_prepare()` only links a first AVC while
        // `vma->anon_vma` is NULL, and then under the anon_vma lock before
        // setting it: we read the chain only once it is set).
        let (n, over) = unsafe {
            if crate::sys::rs_vma_anon_vma(self.0).is_null() {
                (0, false)
            } else {
                crate::anon::chain(self.0, &mut avs)
            }
        };
        for &av in &avs[..n] {
            let av = av as *mut bindings::anon_vma;
            // SAFETY: `av` is linked from this VMA (an AVC of its chain),
            // which keeps it (and its root) live while the mm is
            // read-locked. Sleeps; the kernel's order (mmap_lock, then the
            // anon_vma lock) is kept: the caller holds only the mmap lock.
            unsafe { crate::sys::rs_anon_vma_lock_read(av) };
            f(&AnonVmaRead {
                av,
                _p: PhantomData,
            });
            // SAFETY: taken just above by this task.
            unsafe { crate::sys::rs_anon_vma_unlock_read(av) };
        }
        !over
    }
}

/// A real anon_vma with its root's rwsem held for read, lent to a
/// callback: the real kernel's AVC links and unlinks on it (and so their
/// taps, which run under that lock held for write) wait until it returns.
/// Nothing may allocate with a sleeping flag meanwhile (reclaim walks the
/// anon rmap and takes this lock).
///
/// # Invariants
///
/// `av` is live and the current task holds its root's rwsem for read.
pub(crate) struct AnonVmaRead<'a> {
    av: *mut bindings::anon_vma,
    _p: PhantomData<(&'a (), *mut ())>,
}

impl AnonVmaRead<'_> {
    /// The anon_vma's address (the shadow's key).
    pub(crate) fn key(&self) -> usize {
        self.av as usize
    }

    /// The AVCs in its real interval tree (bounded by the live AVCs).
    pub(crate) fn nr_avcs(&self) -> usize {
        // SAFETY: live, and its tree stable under the lock (invariants).
        unsafe { crate::sys::rs_anon_vma_nr_avcs(self.av) as usize }
    }

    /// Its `num_children` (stable under the lock: children are added and
    /// removed with the root's rwsem held for write).
    pub(crate) fn num_children(&self) -> usize {
        // SAFETY: live (invariants).
        unsafe { crate::sys::rs_anon_vma_num_children(self.av) as usize }
    }
}

impl MmapRead<'_> {
    /// Calls `f` on every VMA of the mm, in address order.
    pub(crate) fn for_each_vma(&self, f: &mut dyn FnMut(&LockedVma)) {
        let mm = self.mm.0.as_ptr();
        let mut addr: usize = 0;
        loop {
            // SAFETY: `mm` is referenced and read-locked (type invariants).
            let vma = unsafe { bindings::find_vma(mm, addr) };
            if vma.is_null() {
                break;
            }
            // SAFETY: `vma` belongs to the read-locked mm: it cannot change,
            // be unlinked or be freed meanwhile.
            let end = unsafe { (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_end } as usize;
            f(&LockedVma(vma));
            if end <= addr {
                break;
            }
            addr = end;
        }
    }
}

impl Drop for MmapRead<'_> {
    fn drop(&mut self) {
        // SAFETY: held for read by this task (type invariant).
        unsafe { bindings::mmap_read_unlock(self.mm.0.as_ptr()) };
    }
}

/// An inode's identity, kept without a reference: its address, number,
/// generation and superblock. An inode freed and another allocated at the
/// same address differ in number or generation, or are the same file of
/// the same filesystem read in again.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct InodeIdent {
    inode: usize,
    ino: u64,
    generation: u32,
    sb: usize,
}

/// A counted reference to a `struct file`, dropped with `fput()`.
///
/// # Invariants
///
/// `0` holds one reference to a live `struct file`.
pub(crate) struct FileRef(NonNull<bindings::file>);

// SAFETY: a file reference may be dropped from any task and context.
unsafe impl Send for FileRef {}
// SAFETY: shared access only reads the pointer (and takes more references,
// which the file's atomic refcount allows from any CPU).
unsafe impl Sync for FileRef {}

impl FileRef {
    /// Takes a reference on `file`.
    ///
    /// # Safety
    ///
    /// `file` must be a live file (its refcount above zero) for the call.
    pub(crate) unsafe fn get(file: NonNull<bindings::file>) -> Self {
        // SAFETY: `file` is live, per the caller.
        unsafe { bindings::get_file(file.as_ptr()) };
        Self(file)
    }

    /// The raw file.
    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.0.as_ptr()
    }

    /// What tells the file's inode from another that later takes its
    /// address.
    pub(crate) fn ident(&self) -> InodeIdent {
        // SAFETY: the file is live (type invariant), and so its inode
        // (`f_inode`, set at open, pinned by the file).
        unsafe {
            let i = (*self.0.as_ptr()).f_inode;
            InodeIdent {
                inode: i as usize,
                ino: (*i).i_ino,
                generation: (*i).i_generation,
                sb: (*i).i_sb as usize,
            }
        }
    }

    /// The file's `address_space`.
    pub(crate) fn mapping(&self) -> *mut bindings::address_space {
        // SAFETY: the file is live (type invariant); `f_mapping` is set at open.
        unsafe { (*self.0.as_ptr()).f_mapping }
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: we hold one reference (type invariant). `fput()` may be
        // called in any context; the final put is deferred by the kernel.
        unsafe { bindings::fput(self.0.as_ptr()) };
    }
}

/// What a tap saw: a file VMA and the numbers the shadow needs of it.
pub(crate) struct VmaView {
    vma: usize,
    file: NonNull<bindings::file>,
    mapping: usize,
    start: u64,
    last: u64,
}

impl VmaView {
    /// The VMA's address.
    pub(crate) fn vma(&self) -> usize {
        self.vma
    }

    /// The VMA's file (live while the VMA is).
    pub(crate) fn file(&self) -> NonNull<bindings::file> {
        self.file
    }

    /// The VMA's file mapping (the shadow's key of the file).
    pub(crate) fn mapping(&self) -> usize {
        self.mapping
    }

    /// The first page offset the VMA maps.
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    /// The last page offset the VMA maps.
    pub(crate) fn last(&self) -> u64 {
        self.last
    }

    /// Uses `mapping` (the probed function's argument) as the VMA's file
    /// mapping.
    pub(crate) fn with_mapping(mut self, mapping: usize) -> Self {
        self.mapping = mapping;
        self
    }

    /// Reads `vma`.
    ///
    /// # Safety
    ///
    /// `vma` must be a live file VMA whose fields are stable for the call
    /// (the caller holds the lock that serialises its changes: the real
    /// `i_mmap_rwsem` in the taps, `mmap_read_lock` when seeding).
    pub(crate) unsafe fn read(vma: *const bindings::vm_area_struct) -> Option<Self> {
        // SAFETY: per the caller, `vma` is live and stable.
        let v = unsafe { &*vma };
        let file = NonNull::new(v.vm_file)?;
        // SAFETY: `vm_start`/`vm_end` live in a union with the RCU free
        // pointer, which is only used once the VMA is freed.
        let (s, e) = unsafe {
            (
                v.__bindgen_anon_1.__bindgen_anon_1.vm_start,
                v.__bindgen_anon_1.__bindgen_anon_1.vm_end,
            )
        };
        // Values from the kernel: never an overflow panic in a probe.
        let pages = (e.wrapping_sub(s) >> bindings::PAGE_SHIFT) as u64;
        // SAFETY: a file VMA's file is live while the VMA is.
        let mapping = unsafe { (*file.as_ptr()).f_mapping } as usize;
        Some(Self {
            vma: vma as usize,
            file,
            mapping,
            start: v.vm_pgoff as u64,
            last: (v.vm_pgoff as u64).saturating_add(pages.max(1) - 1),
        })
    }
}
