// SPDX-License-Identifier: GPL-2.0

//! Atomics that only this module's Rust code touches, compiled inline.
//!
//! The 7.3 kernel crate's `kernel::sync::atomic::Atomic<T>` follows the
//! kernel memory model by calling an out-of-line C helper for every
//! operation (`rust_helper_atomic64_add()`, `rust_helper_atomic_read()`,
//! ...): the kernel inlines them only with the experimental
//! `CONFIG_RUST_INLINE_HELPERS`, off in Debian's and in our kernels. A tap
//! did some thirty such calls per event, and the profile
//! (Documentation/results.rst) counted the helpers at a fifth of the
//! handlers' time.
//!
//! The values here are read and written by this module's Rust code alone,
//! never by C, so they need no helper to agree with C's view of memory:
//! [`Atomic`] wraps `core`'s atomics, which compile to single instructions
//! (a plain `mov` for a relaxed, acquire or release load or store, `lock
//! xadd` / `lock cmpxchg` for read-modify-writes on x86-64). It keeps the
//! kernel crate's spelling, orderings included (`load(Relaxed)`,
//! `store(v, Release)`, `add(1, Relaxed)`, `cmpxchg(old, new, Full)`), so a
//! field moves between the two by its type alone. Anything C reads or
//! writes (kernel parameters, kernel objects) keeps the kernel crate's type.

use core::{cell::UnsafeCell, sync::atomic as ca};
use kernel::sync::atomic::ordering::{AcquireOrRelaxed, Ordering, OrderingType, ReleaseOrRelaxed};

/// The `core` ordering of a kernel ordering, for an operation that both
/// reads and writes (`Full` is sequentially consistent).
const fn rmw<O: Ordering>() -> ca::Ordering {
    match O::TYPE {
        OrderingType::Relaxed => ca::Ordering::Relaxed,
        OrderingType::Acquire => ca::Ordering::Acquire,
        OrderingType::Release => ca::Ordering::Release,
        OrderingType::Full => ca::Ordering::SeqCst,
    }
}

/// The ordering of a compare-and-swap's failed load: the success
/// ordering without its release part.
const fn failure<O: Ordering>() -> ca::Ordering {
    match O::TYPE {
        OrderingType::Relaxed | OrderingType::Release => ca::Ordering::Relaxed,
        OrderingType::Acquire => ca::Ordering::Acquire,
        OrderingType::Full => ca::Ordering::SeqCst,
    }
}

/// The integer types [`Atomic`] holds (implemented for `u32`, `i32`,
/// `u64` and `usize`).
pub(crate) trait Prim: Copy {}

/// An atomic `T` that only Rust code uses (see the module doc).
///
/// # Invariants
///
/// The value is only accessed through `core`'s atomic of `T` (same size
/// and alignment as `T`: checked at build time).
#[repr(transparent)]
pub(crate) struct Atomic<T: Prim>(UnsafeCell<T>);

// SAFETY: every access is atomic (type invariant).
unsafe impl<T: Prim + Send> Sync for Atomic<T> {}

impl<T: Prim> Atomic<T> {
    /// An atomic holding `v`.
    pub(crate) const fn new(v: T) -> Self {
        Self(UnsafeCell::new(v))
    }
}

macro_rules! fast_atomic {
    ($($t:ty => $cell:ident),* $(,)?) => {$(
        impl Prim for $t {}

        const _: () = assert!(
            core::mem::size_of::<$t>() == core::mem::size_of::<ca::$cell>()
                && core::mem::align_of::<$t>() == core::mem::align_of::<ca::$cell>()
        );

        // Not every type uses every operation.
        #[allow(dead_code)]
        impl Atomic<$t> {
            #[inline(always)]
            fn cell(&self) -> &ca::$cell {
                // SAFETY: the cell is valid and aligned for the atomic (same
                // layout, checked above), lives as long as `self`, and is
                // only ever accessed atomically (type invariant).
                unsafe { ca::$cell::from_ptr(self.0.get()) }
            }

            /// Loads the value.
            #[inline(always)]
            pub(crate) fn load<O: AcquireOrRelaxed>(&self, _: O) -> $t {
                self.cell().load(rmw::<O>())
            }

            /// Stores `v`.
            #[inline(always)]
            pub(crate) fn store<O: ReleaseOrRelaxed>(&self, v: $t, _: O) {
                self.cell().store(v, rmw::<O>())
            }

            /// Adds `v` (wrapping); returns nothing.
            #[inline(always)]
            pub(crate) fn add(&self, v: $t, _: kernel::sync::atomic::Relaxed) {
                self.cell().fetch_add(v, ca::Ordering::Relaxed);
            }

            /// Adds `v` (wrapping); returns the old value.
            #[inline(always)]
            pub(crate) fn fetch_add<O: Ordering>(&self, v: $t, _: O) -> $t {
                self.cell().fetch_add(v, rmw::<O>())
            }

            /// Subtracts `v` (wrapping); returns the old value.
            #[inline(always)]
            pub(crate) fn fetch_sub<O: Ordering>(&self, v: $t, _: O) -> $t {
                self.cell().fetch_sub(v, rmw::<O>())
            }

            /// Stores `new` if the value is `old`: `Ok(old)`, or `Err` with
            /// the value found.
            #[inline(always)]
            pub(crate) fn cmpxchg<O: Ordering>(&self, old: $t, new: $t, _: O) -> Result<$t, $t> {
                self.cell().compare_exchange(old, new, rmw::<O>(), failure::<O>())
            }
        }
    )*};
}

fast_atomic!(u32 => AtomicU32, i32 => AtomicI32, u64 => AtomicU64, usize => AtomicUsize);
