// SPDX-License-Identifier: GPL-2.0

//! Kernel threads bound to a CPU, owned by their handle: dropping a
//! [`KThread`] stops the thread and waits for it (`kthread_stop()`), so the
//! data it borrows can never go before it does. The kernel crate has no
//! kthread type; this is the in-kernel storm's.

use core::ptr::NonNull;
use kernel::{bindings, prelude::*, str::CStr};

/// Proof of running in one of these kthreads (handed to the thread's
/// function): what only a kthread may call.
pub(crate) struct InKThread(());

impl InKThread {
    /// Whether the thread's handle asked it to stop.
    pub(crate) fn should_stop(&self) -> bool {
        // SAFETY: `current` is a kthread (type invariant of `InKThread`:
        // only `trampoline` makes one).
        unsafe { bindings::kthread_should_stop() }
    }

    /// Lets others run (no lock held: the thread function holds none
    /// across calls; a guard would borrow it).
    pub(crate) fn cond_resched(&self) {
        crate::sys::cond_resched();
    }
}

/// What a thread runs, and on what.
struct Body<T> {
    f: fn(&T, &InKThread),
    data: T,
}

/// A kthread on one CPU that runs `f(&data)` once, then waits (sleeping)
/// until its handle is dropped.
///
/// # Invariants
///
/// `task` is a kthread created by [`KThread::create_on_cpu`] with the
/// address of `*_body`, holding a reference on its `task_struct`; `_body`
/// stays at that address until `kthread_stop()` has returned (in `drop`).
pub(crate) struct KThread<T> {
    task: NonNull<bindings::task_struct>,
    /// Read only by the thread, through the pointer it was created with.
    _body: KBox<Body<T>>,
}

// SAFETY: the task pointer is only used to wake and stop the thread, which
// any task may do; the thread reads `data` through a shared reference from
// another task (`T: Sync`), and moving the handle moves `data` (`T: Send`).
unsafe impl<T: Send + Sync> Send for KThread<T> {}
// SAFETY: a shared handle only gives `&T`.
unsafe impl<T: Sync> Sync for KThread<T> {}

impl<T: Send + Sync> KThread<T> {
    /// Creates, asleep until [`KThread::wake`], a kthread bound to `cpu`
    /// (online: the caller checked) named `name` with the CPU number
    /// (`name` has exactly one `%u`), that will run `f(&data)`. Sleeps.
    pub(crate) fn create_on_cpu(
        cpu: u32,
        name: &'static CStr,
        data: T,
        f: fn(&T, &InKThread),
    ) -> Result<Self> {
        let body = KBox::new(Body { f, data }, GFP_KERNEL)?;
        let p = core::ptr::from_ref::<Body<T>>(&body).cast_mut();
        // SAFETY: `trampoline::<T>` is given the body, which stays valid
        // until the thread has been stopped (type invariant, kept by
        // `drop`); the name format takes the CPU number.
        let task = unsafe {
            bindings::kthread_create_on_cpu(
                Some(trampoline::<T>),
                p.cast(),
                cpu,
                name.as_char_ptr(),
            )
        };
        let task = NonNull::new(kernel::error::from_err_ptr(task)?).ok_or(ENOMEM)?;
        // SAFETY: a new kthread; the reference keeps its task_struct for
        // `kthread_stop()` even after the thread exits.
        unsafe { bindings::get_task_struct(task.as_ptr()) };
        Ok(Self { task, _body: body })
    }

    /// Lets the thread run.
    pub(crate) fn wake(&self) {
        // SAFETY: our kthread, referenced (type invariant).
        unsafe { bindings::wake_up_process(self.task.as_ptr()) };
    }
}

impl<T> Drop for KThread<T> {
    fn drop(&mut self) {
        // SAFETY: our kthread, referenced (type invariant): `kthread_stop()`
        // wakes it and waits for it to exit, or returns at once if it never
        // ran (the thread function is then not called). `_body` is freed
        // only after this, when nothing uses it any more.
        unsafe {
            bindings::kthread_stop(self.task.as_ptr());
            bindings::put_task_struct(self.task.as_ptr());
        }
    }
}

/// The thread function of every [`KThread`]: runs the body, then waits
/// until stopped.
///
/// # Safety
///
/// Only called by the kthread core, in a kthread created by
/// [`KThread::create_on_cpu`] with `data` the address of its `Body<T>`.
unsafe extern "C" fn trampoline<T>(data: *mut core::ffi::c_void) -> core::ffi::c_int {
    // SAFETY: per the function's contract, the body outlives the thread
    // (type invariant of `KThread`).
    let body = unsafe { &*data.cast::<Body<T>>() };
    // Type invariant of `InKThread`: made only here, in the kthread.
    let k = InKThread(());
    (body.f)(&body.data, &k);
    while !k.should_stop() {
        // SAFETY: kthread context, no lock held.
        unsafe { bindings::schedule_timeout_interruptible(10) };
    }
    0
}
