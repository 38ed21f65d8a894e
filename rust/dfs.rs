// SPDX-License-Identifier: GPL-2.0

//! The module's debugfs directory: one table of views, one owner.
//!
//! Not the kernel crate's `debugfs` module: its file operations set no
//! `.owner`, so nothing pins the module while one of its files is open. On
//! 7.3, `exec 3<status; rmmod rmap_shadow; exec 3<&-` then oopses in
//! `full_proxy_release()`, which reads the (freed) module's
//! `file_operations` at close. Here every file uses [`FOPS`], whose `.owner`
//! is this module: debugfs's proxy takes a module reference at open and
//! drops it after release, so `rmmod` fails with `EBUSY` while a file is
//! open, and the module text and data outlive every open file.
//!
//! A [`Debugfs`] is created last at load and dropped first at unload:
//! `debugfs_remove()` waits for operations in progress and refuses new
//! ones, so nothing a view reaches is torn down under a reader or writer.

use crate::Shared;
use core::{ffi::c_void, fmt};
use kernel::{
    bindings,
    error::from_err_ptr,
    ffi::{c_char, c_int},
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    sync::Arc,
    uaccess::{UserPtr, UserSlice, UserSliceReader},
};

/// Formats a view into its file.
pub(crate) type ShowFn = fn(&Arc<Shared>, &mut fmt::Formatter<'_>) -> fmt::Result;
/// Handles a write to a view (the whole write at once).
pub(crate) type WriteFn = fn(&Arc<Shared>, &mut UserSliceReader) -> Result;

/// One debugfs file: its name, how it shows, and how it takes writes (none:
/// read-only, mode 0400; else 0600).
pub(crate) struct View {
    /// The file's name under `rmap_shadow/`.
    pub(crate) name: &'static CStr,
    /// Formats the file.
    pub(crate) show: ShowFn,
    /// Handles writes.
    pub(crate) write: Option<WriteFn>,
}

impl View {
    /// The file's mode: root only.
    pub(crate) fn mode(&self) -> u16 {
        if self.write.is_some() {
            0o600
        } else {
            0o400
        }
    }
}

/// What a file's `i_private` points to.
struct Entry {
    shared: Arc<Shared>,
    view: &'static View,
}

/// The `rmap_shadow` directory and its files.
///
/// # Invariants
///
/// `dir` is a debugfs directory created by [`Debugfs::new`], whose files'
/// `i_private` point into `entries`; `entries` is never reallocated and is
/// freed only after `debugfs_remove(dir)` has returned.
pub(crate) struct Debugfs {
    dir: *mut bindings::dentry,
    entries: KVec<Entry>,
}

// SAFETY: the dentry pointer is only used by `Drop` (`debugfs_remove()`,
// callable from any task); the entries are `Send` (an `Arc` and a static).
unsafe impl Send for Debugfs {}
// SAFETY: `&Debugfs` gives access to nothing.
unsafe impl Sync for Debugfs {}

impl Debugfs {
    /// Creates `rmap_shadow/` with one file per view.
    ///
    /// Fails if the directory cannot be created (debugfs missing, or a
    /// directory of that name left by someone else).
    pub(crate) fn new(shared: &Arc<Shared>, views: &'static [View]) -> Result<Self> {
        let mut entries = KVec::with_capacity(views.len(), GFP_KERNEL)?;
        for view in views {
            entries.push(
                Entry {
                    shared: shared.clone(),
                    view,
                },
                GFP_KERNEL,
            )?;
        }
        // SAFETY: the name is a NUL-terminated static string; NULL parent is
        // the debugfs root.
        let dir = unsafe {
            bindings::debugfs_create_dir(c"rmap_shadow".as_char_ptr(), core::ptr::null_mut())
        };
        let dir = from_err_ptr(dir).inspect_err(|e| {
            pr_err!(
                "cannot create debugfs rmap_shadow/: error {}\n",
                e.to_errno()
            );
        })?;
        let this = Self { dir, entries };
        for e in this.entries.iter() {
            // SAFETY: `dir` is our directory; `e` stays at this address
            // until after `debugfs_remove(dir)` (type invariant: `entries`
            // is full, never pushed to again); `FOPS` is static.
            let f = unsafe {
                bindings::debugfs_create_file_full(
                    e.view.name.as_char_ptr(),
                    e.view.mode(),
                    this.dir,
                    core::ptr::from_ref(e).cast_mut().cast(),
                    core::ptr::null(),
                    &FOPS.0,
                )
            };
            // Dropping `this` removes whatever was created.
            from_err_ptr(f).inspect_err(|err| {
                pr_err!(
                    "cannot create debugfs file {}: error {}\n",
                    e.view.name.to_str().unwrap_or("?"),
                    err.to_errno()
                );
            })?;
        }
        Ok(this)
    }
}

impl Drop for Debugfs {
    fn drop(&mut self) {
        // SAFETY: `dir` is our directory (type invariant). This waits for
        // the file operations in progress and refuses new ones; open files
        // pin the module, so none is open when unload gets here.
        unsafe { bindings::debugfs_remove(self.dir) };
    }
}

/// Shows the view of a seq_file's entry.
struct Adapter<'a>(&'a Entry);

impl kernel::fmt::Display for Adapter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0.view.show)(&self.0.shared, f)
    }
}

/// `seq_file` show callback.
///
/// # Safety
///
/// `seq` is a live seq_file opened by [`open`], whose `private` points to an
/// [`Entry`].
unsafe extern "C" fn show(seq: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
    // SAFETY: per the function's contract; the entry outlives the open file
    // (the module is pinned while it is open).
    let e = unsafe { &*(*seq).private.cast::<Entry>() };
    // SAFETY: `seq` is live and only used by this task during the call.
    let sf = unsafe { SeqFile::from_raw(seq) };
    seq_print!(sf, "{}", Adapter(e));
    0
}

/// `open`.
///
/// # Safety
///
/// Called by the VFS (through debugfs's proxy) on one of our files, whose
/// `i_private` points to an [`Entry`].
unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `inode` is live; our files' `i_private` is an `Entry`, and
    // `single_open` keeps it in the seq_file's `private`.
    unsafe { bindings::single_open(file, Some(show), (*inode).i_private) }
}

/// `write`: the whole buffer goes to the view's write handler.
///
/// # Safety
///
/// Called by the VFS on a file opened by [`open`]; `buf` is a user pointer
/// valid for `count` bytes (checked by the user-copy functions).
unsafe extern "C" fn write(
    file: *mut bindings::file,
    buf: *const c_char,
    count: usize,
    _ppos: *mut bindings::loff_t,
) -> isize {
    // SAFETY: opened by `open`, so `private_data` is a seq_file whose
    // `private` is an `Entry` that outlives the open file.
    let e = unsafe {
        &*(*(*file).private_data.cast::<bindings::seq_file>())
            .private
            .cast::<Entry>()
    };
    let Some(w) = e.view.write else {
        return EINVAL.to_errno() as isize;
    };
    let mut r = UserSlice::new(UserPtr::from_ptr(buf.cast_mut().cast()), count).reader();
    match w(&e.shared, &mut r) {
        Ok(()) => count as isize,
        Err(err) => err.to_errno() as isize,
    }
}

/// A `file_operations` that may be shared: it is never written after
/// initialisation.
struct Fops(bindings::file_operations);

// SAFETY: immutable after compile-time initialisation; the kernel only reads it.
unsafe impl Sync for Fops {}

/// The file operations of every file, owned by this module.
static FOPS: Fops = Fops(bindings::file_operations {
    // Pins the module while a file is open (debugfs's proxy calls
    // `fops_get()` at open and `fops_put()` after release).
    owner: (&raw const bindings::__this_module).cast_mut(),
    open: Some(open),
    read: Some(bindings::seq_read),
    write: Some(write),
    llseek: Some(bindings::seq_lseek),
    release: Some(bindings::single_release),
    // SAFETY: all-zero is a valid `file_operations` (every field NULL).
    ..unsafe { core::mem::zeroed() }
});
