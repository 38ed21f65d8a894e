// SPDX-License-Identifier: GPL-2.0

//! A kernel `struct rw_semaphore` owned by the module, with guards.
//!
//! The kernel crate of 7.3 has no rwsem type: this is the thin wrapper the
//! lock designs ([`crate::locks`]) and the in-kernel storm build on. The
//! guards release on drop, are `#[must_use]`, and are not `Send`: an rwsem
//! is released by the task that took it.

use core::marker::{PhantomData, PhantomPinned};
use kernel::{bindings, prelude::*, sync::LockClassKey, types::Opaque};

/// A kernel `struct rw_semaphore`.
///
/// # Invariants
///
/// `inner` is initialised by `__init_rwsem()` and pinned.
#[pin_data]
pub(crate) struct RwSem {
    #[pin]
    inner: Opaque<bindings::rw_semaphore>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: a `rw_semaphore` may be used from any task.
unsafe impl Send for RwSem {}
// SAFETY: every operation on a `rw_semaphore` is thread-safe.
unsafe impl Sync for RwSem {}

impl RwSem {
    /// A new, unlocked rwsem in lockdep class `key`. Does not sleep.
    pub(crate) fn new(name: &'static CStr, key: &'static LockClassKey) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `__init_rwsem` initialises the slot in place; `name`
            // and `key` are static.
            inner <- unsafe {
                Opaque::ffi_init(|p| bindings::__init_rwsem(p, name.as_char_ptr(), key.as_ptr()))
            },
            _pin: PhantomPinned,
        })
    }

    /// Tries to take the rwsem for read without sleeping.
    pub(crate) fn try_read(&self) -> Option<ReadGuard<'_>> {
        // SAFETY: the rwsem is initialised (type invariant).
        (unsafe { bindings::down_read_trylock(self.inner.get()) } != 0)
            .then(|| ReadGuard(self, PhantomData))
    }

    /// Takes the rwsem for read; may sleep.
    pub(crate) fn read(&self) -> ReadGuard<'_> {
        // SAFETY: the rwsem is initialised (type invariant); callers run in
        // process context without spinlocks (task_work).
        unsafe { bindings::down_read(self.inner.get()) };
        ReadGuard(self, PhantomData)
    }

    /// Tries to take the rwsem for write without sleeping.
    pub(crate) fn try_write(&self) -> Option<WriteGuard<'_>> {
        // SAFETY: the rwsem is initialised (type invariant).
        (unsafe { bindings::down_write_trylock(self.inner.get()) } != 0)
            .then(|| WriteGuard(self, PhantomData))
    }

    /// Takes the rwsem for write; may sleep.
    pub(crate) fn write(&self) -> WriteGuard<'_> {
        // SAFETY: as in `read`.
        unsafe { bindings::down_write(self.inner.get()) };
        WriteGuard(self, PhantomData)
    }
}

/// The rwsem held for read; released on drop, by the task that took it
/// (not `Send`).
#[must_use = "the rwsem is released when the guard is dropped"]
pub(crate) struct ReadGuard<'a>(&'a RwSem, PhantomData<*mut ()>);

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the guard exists only while we hold the rwsem for read.
        unsafe { bindings::up_read(self.0.inner.get()) };
    }
}

/// The rwsem held for write; released on drop, by the task that took it
/// (not `Send`).
#[must_use = "the rwsem is released when the guard is dropped"]
pub(crate) struct WriteGuard<'a>(&'a RwSem, PhantomData<*mut ()>);

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the guard exists only while we hold the rwsem for write.
        unsafe { bindings::up_write(self.0.inner.get()) };
    }
}
