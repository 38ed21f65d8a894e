// SPDX-License-Identifier: GPL-2.0

//! Safe kprobes.
//!
//! The kernel crate has no kprobe abstraction and its `bindings` lack
//! `struct kprobe`, so the declarations come from a module-local bindgen step
//! ([`crate::sys`]).
//!
//! A [`Kprobe`] is registered when it is initialised and unregistered when it
//! is dropped (or, in a [`KprobeSet`], together with the set's others). `unregister_kprobe()` returns only after an RCU grace period,
//! and kprobe handlers run with preemption disabled, so no handler is still
//! running on the probe or its handler object once the drop returns.

use crate::sys;
use core::marker::PhantomPinned;
use kernel::{error::to_result, ffi::c_int, prelude::*, types::Opaque};

/// The CPU registers saved at a probe hit.
///
/// Only valid for the duration of a handler call (the type is only ever
/// handed out by reference).
#[repr(transparent)]
pub(crate) struct Regs(sys::pt_regs);

impl Regs {
    /// Returns the `n`th (from 0) integer or pointer argument of the probed
    /// function as passed at its entry (x86-64 System V calling convention);
    /// 0 past the sixth.
    ///
    /// Only meaningful for probes on a function's first instruction, which is
    /// the only kind [`Kprobe`] places.
    pub(crate) fn arg(&self, n: usize) -> usize {
        let r = &self.0;
        match n {
            0 => r.di,
            1 => r.si,
            2 => r.dx,
            3 => r.cx,
            4 => r.r8,
            5 => r.r9,
            _ => 0,
        }
    }
}

/// What runs when a probe is hit.
pub(crate) trait KprobeHandler: Send + Sync {
    /// Called before the probed instruction executes.
    ///
    /// Runs in atomic context (preemption disabled, possibly with interrupts
    /// off): it must not sleep, and allocations must use non-sleeping flags.
    fn pre(&self, regs: &Regs);
}

/// A kprobe on the entry of a kernel function, calling `H` on every hit.
///
/// # Invariants
///
/// `kp` is registered with the kprobes core from the end of initialisation
/// until [`PinnedDrop::drop`] unregisters it; its `symbol_name` points to a
/// `'static` string and its `pre_handler` is [`Kprobe::<H>::pre_trampoline`].
#[pin_data(PinnedDrop)]
pub(crate) struct Kprobe<H: KprobeHandler> {
    symbol: &'static CStr,
    handler: H,
    /// Set once [`KprobeSet`]'s drop has unregistered `kp` with the others.
    disarmed: bool,
    #[pin]
    kp: Opaque<sys::kprobe>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: After registration the `kprobe` is only written by the kprobes
// core, under its own locking, and this type never touches it. The handler
// is `Send`.
unsafe impl<H: KprobeHandler> Send for Kprobe<H> {}

// SAFETY: `&Kprobe` only allows calling the handler, which is `Sync`.
unsafe impl<H: KprobeHandler> Sync for Kprobe<H> {}

impl<H: KprobeHandler> Kprobe<H> {
    /// Registers a probe on the entry of `symbol`, calling `handler` on each hit.
    ///
    /// A symbol that does not exist or cannot be probed fails with the kprobes
    /// core's error (for example `ENOENT` or `EINVAL`) after a log line naming
    /// the symbol.
    pub(crate) fn new(symbol: &'static CStr, handler: H) -> impl PinInit<Self, Error> {
        // `handler` is initialised before `kp`: a hit may come as soon as
        // `register_kprobe()` has armed the probe.
        try_pin_init!(Self {
            symbol,
            handler,
            disarmed: false,
            kp <- Opaque::try_ffi_init(move |kp: *mut sys::kprobe| {
                let init = sys::kprobe {
                    symbol_name: symbol.as_char_ptr(),
                    pre_handler: Some(Self::pre_trampoline),
                    ..Default::default()
                };
                // SAFETY: `kp` is valid for writes, per `try_ffi_init`.
                unsafe { kp.write(init) };
                // SAFETY: `kp` is fully initialised and pinned inside `Self`;
                // `PinnedDrop::drop` unregisters it before its memory goes away.
                let ret = unsafe { sys::register_kprobe(kp) };
                if ret != 0 {
                    pr_err!("cannot probe {}: error {}\n", symbol.to_str().unwrap_or("?"), ret);
                }
                to_result(ret)
            }),
            _pin: PhantomPinned,
        }? Error)
    }

    /// The `pre_handler` of every `Kprobe<H>`.
    ///
    /// # Safety
    ///
    /// Only called by the kprobes core, with `p` the `kp` field of a
    /// registered `Kprobe<H>` and `regs` the registers of the hit.
    unsafe extern "C" fn pre_trampoline(p: *mut sys::kprobe, regs: *mut sys::pt_regs) -> c_int {
        // SAFETY: Per the type invariant, `p` is the `kp` field of a pinned,
        // registered `Kprobe<H>`, which is not dropped while handlers can run.
        let this = unsafe { &*kernel::container_of!(Opaque::cast_from(p), Self, kp) };
        // SAFETY: `regs` is valid for the duration of the handler call, and
        // `Regs` is a `repr(transparent)` wrapper of `pt_regs`.
        let regs = unsafe { &*regs.cast::<Regs>() };
        this.handler.pre(regs);
        // 0: let the probed instruction run normally.
        0
    }
}

#[pinned_drop]
impl<H: KprobeHandler> PinnedDrop for Kprobe<H> {
    fn drop(self: Pin<&mut Self>) {
        if self.disarmed {
            return;
        }
        // SAFETY: `kp` is registered (type invariant). `unregister_kprobe()`
        // waits for an RCU grace period, so no handler still runs on `self`
        // after it returns.
        unsafe { sys::unregister_kprobe(self.kp.get()) };
    }
}

/// Most probes a [`KprobeSet`] unregisters in one batch.
const BATCH: usize = 32;

/// Probes registered one by one and unregistered together when dropped:
/// `unregister_kprobes()` disarms them all, then waits for one RCU grace
/// period, instead of one per probe (measured: 15 taps took 0.6–1.2 s to
/// unregister one by one on a 1n2c debug guest).
pub(crate) struct KprobeSet<H: KprobeHandler> {
    probes: KVec<Pin<KBox<Kprobe<H>>>>,
}

impl<H: KprobeHandler> KprobeSet<H> {
    /// An empty set with room for `n` probes.
    pub(crate) fn with_capacity(n: usize) -> Result<Self> {
        Ok(Self {
            probes: KVec::with_capacity(n, GFP_KERNEL)?,
        })
    }

    /// Registers a probe on `symbol` calling `handler` (see [`Kprobe::new`])
    /// and keeps it in the set.
    pub(crate) fn arm(&mut self, symbol: &'static CStr, handler: H) -> Result {
        let p = KBox::pin_init(Kprobe::new(symbol, handler), GFP_KERNEL)?;
        self.probes.push(p, GFP_KERNEL)?;
        Ok(())
    }
}

impl<H: KprobeHandler> Drop for KprobeSet<H> {
    fn drop(&mut self) {
        // Past `BATCH` (never, with the module's table) the rest are
        // unregistered one by one by their own drop.
        let n = self.probes.len().min(BATCH);
        let mut kps = [core::ptr::null_mut::<sys::kprobe>(); BATCH];
        for (kp, p) in kps.iter_mut().zip(self.probes.iter()) {
            *kp = p.kp.get();
        }
        // SAFETY: the first `n` entries of `kps` are registered probes of
        // this set (type invariant of `Kprobe`), each pinned in its box.
        // `unregister_kprobes()` unregisters them all and waits for one RCU
        // grace period: no handler runs on any of them once it returns.
        unsafe { sys::unregister_kprobes(kps.as_mut_ptr(), n as c_int) };
        for p in self.probes.iter_mut().take(n) {
            // SAFETY: only a plain field is written; nothing is moved out of
            // the pinned `Kprobe`.
            unsafe { p.as_mut().get_unchecked_mut().disarmed = true };
        }
    }
}
