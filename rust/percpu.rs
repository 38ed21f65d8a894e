// SPDX-License-Identifier: GPL-2.0

//! Per-CPU slots, summed on read.
//!
//! The 7.3 kernel crate has no per-CPU type. [`PerCpu`] is the module's own:
//! one slot per possible CPU (`nr_cpu_ids`), each aligned to its own cache
//! lines, in one `kvmalloc`ed array made at load. A tap writes only the slot
//! of the CPU it runs on (kprobe handlers run with preemption disabled, so
//! that CPU does not change under it): no cache line written by a tap is
//! shared with another CPU's taps. Readers (debugfs) walk every slot without
//! a lock; the slots hold atomics ([`crate::fast`]'s: one inline
//! instruction each), so a sum read while taps run is a sum of values each
//! read whole.

use crate::fast::Atomic;
use kernel::{prelude::*, sync::atomic::Relaxed};

/// One slot, on cache lines of its own (64 B lines; 128 keeps the adjacent
/// line prefetcher from pairing two CPUs' slots).
#[repr(C, align(128))]
struct Slot<T>(T);

/// A `T` per possible CPU.
pub(crate) struct PerCpu<T> {
    slots: KVVec<Slot<T>>,
}

impl<T: Sync> PerCpu<T> {
    /// One slot per possible CPU, each made by `init`.
    pub(crate) fn new(mut init: impl FnMut() -> T) -> Result<Self> {
        let n = kernel::cpu::nr_cpu_ids() as usize;
        let mut slots = KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            slots.push(Slot(init()), GFP_KERNEL)?;
        }
        Ok(Self { slots })
    }

    /// The slot of the CPU this runs on.
    ///
    /// In a tap (preemption disabled) the slot is this CPU's alone among
    /// taps. Elsewhere the task may migrate right after: the slot is then
    /// only a likely-local one, which is still correct for atomic updates.
    pub(crate) fn this_cpu(&self) -> &T {
        // SAFETY: no preconditions; the value is only used as an index,
        // bounds-checked below.
        let cpu = unsafe { kernel::bindings::raw_smp_processor_id() } as usize;
        // `nr_cpu_ids` bounds every CPU id; the fallback is never taken.
        &self.slots[cpu.min(self.slots.len() - 1)].0
    }

    /// The slot of `cpu`: in a tap, the CPU it runs on
    /// ([`crate::sys::TapCtx::cpu`], read once per hit), which saves the
    /// out-of-line CPU-id call of [`PerCpu::this_cpu`].
    pub(crate) fn on(&self, cpu: u32) -> &T {
        // `nr_cpu_ids` bounds every CPU id; the fallback is never taken.
        &self.slots[(cpu as usize).min(self.slots.len() - 1)].0
    }

    /// Every slot.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|s| &s.0)
    }

    /// Bytes of the slots.
    pub(crate) fn bytes(&self) -> usize {
        self.slots.len() * core::mem::size_of::<Slot<T>>()
    }
}

impl<const N: usize> PerCpu<[Atomic<u64>; N]> {
    /// Per-CPU counters, each summed over every CPU's slot (wrapping).
    pub(crate) fn sums(&self) -> [u64; N] {
        let mut out = [0u64; N];
        for c in self.iter() {
            for (o, v) in out.iter_mut().zip(c.iter()) {
                *o = o.wrapping_add(v.load(Relaxed));
            }
        }
        out
    }
}
