// SPDX-License-Identifier: GPL-2.0

//! String module parameters.
//!
//! `module!` only knows integer and boolean parameters, so the `policy`
//! parameter (`policy=hash` or `policy=smallest,cpus32`) is declared here the
//! way the macro declares its own: a `kernel_param` in the `__param` section
//! with our `kernel_param_ops`, and its `parmtype`/`parm` lines in
//! `.modinfo`. The value is only copied at load; it is parsed and validated
//! in `Params::from_module`.

use kernel::{
    bindings,
    ffi::{c_char, c_int},
    module_param::KernelParam,
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
};

/// Longest value accepted (bytes, without the NUL).
pub(crate) const MAX_LEN: usize = 31;

/// A string parameter's value, as written at load.
///
/// # Invariants
///
/// `bytes[len]` is 0 whenever `len >= 0`; the value is only written by
/// [`set`], which the module loader calls before the module's init (the
/// parameters have mode 0: no sysfs writes afterwards).
pub(crate) struct StrParam {
    len: Atomic<i32>,
    bytes: [Atomic<i8>; MAX_LEN + 1],
}

impl StrParam {
    /// An unset parameter.
    pub(crate) const fn new() -> Self {
        Self {
            len: Atomic::new(-1),
            bytes: [const { Atomic::new(0) }; MAX_LEN + 1],
        }
    }

    /// The value given at load, if any, copied into `buf`.
    pub(crate) fn get<'a>(&self, buf: &'a mut [u8; MAX_LEN]) -> Option<&'a [u8]> {
        let len = usize::try_from(self.len.load(Relaxed)).ok()?;
        for (b, a) in buf.iter_mut().zip(self.bytes.iter()).take(len) {
            *b = a.load(Relaxed) as u8;
        }
        Some(&buf[..len])
    }

    /// The value given at load, if any, as a static C string.
    pub(crate) fn get_static(&'static self) -> Option<&'static CStr> {
        let len = usize::try_from(self.len.load(Relaxed)).ok()?;
        if len == 0 {
            return None;
        }
        let p = self.bytes.as_ptr().cast::<u8>();
        // SAFETY: `Atomic<i8>` has the layout of `i8`, and so of `u8`; the
        // bytes are not written after load (type invariant), and `bytes[len]`
        // is the NUL.
        let bytes = unsafe { core::slice::from_raw_parts(p, len + 1) };
        CStr::from_bytes_with_nul(bytes).ok()
    }
}

/// `kernel_param_ops.set` of [`StrParam`]s.
///
/// # Safety
///
/// Called by the module loader with `val` NULL or a NUL-terminated string,
/// and `kp` one of our `kernel_param`s, whose `arg` points to a `StrParam`.
unsafe extern "C" fn set(val: *const c_char, kp: *const bindings::kernel_param) -> c_int {
    if val.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: `val` is a NUL-terminated string, per the caller.
    let s = unsafe { CStr::from_char_ptr(val) }.to_bytes();
    if s.len() > MAX_LEN {
        return EINVAL.to_errno();
    }
    // SAFETY: `kp` is ours (per the caller) and `arg` points to a `'static`
    // `StrParam`, which is only accessed through atomics.
    let p = unsafe { &*(*kp).__bindgen_anon_1.arg.cast::<StrParam>() };
    for (a, &b) in p.bytes.iter().zip(s.iter()) {
        a.store(b as i8, Relaxed);
    }
    p.bytes[s.len()].store(0, Relaxed);
    p.len.store(s.len() as i32, Relaxed);
    0
}

/// The ops of every [`StrParam`].
static OPS: bindings::kernel_param_ops = bindings::kernel_param_ops {
    flags: 0,
    set: Some(set),
    get: None,
    free: None,
};

/// The `policy` parameter: `POLICY` or `POLICY,TREES`.
pub(crate) static POLICY: StrParam = StrParam::new();

#[link_section = "__param"]
#[used(compiler)]
static POLICY_PARAM: KernelParam = KernelParam::new(bindings::kernel_param {
    name: kernel::str::as_char_ptr_in_const_context(c"policy"),
    // `__this_module` is set up by the kernel at load and lives until the
    // module is unloaded; only its address is taken here.
    mod_: (&raw const bindings::__this_module).cast_mut(),
    ops: core::ptr::from_ref(&OPS),
    perm: 0,
    level: -1,
    flags: 0,
    __bindgen_anon_1: bindings::kernel_param__bindgen_ty_1 {
        arg: core::ptr::from_ref(&POLICY).cast_mut().cast(),
    },
});

#[link_section = ".modinfo"]
#[used(compiler)]
static POLICY_PARMTYPE: [u8; 22] = *b"parmtype=policy:charp\0";

#[link_section = ".modinfo"]
#[used(compiler)]
static POLICY_PARM: [u8; 85] =
    *b"parm=policy:Tree choice: node|smallest|cpu|hash|single[,TREES], TREES=nodes|cpus32|N\0";

/// The `test_tap` parameter: one more function to probe (counted only), so
/// that tests can make the load fail on a missing or unprobeable symbol.
pub(crate) static TEST_TAP: StrParam = StrParam::new();

#[link_section = "__param"]
#[used(compiler)]
static TEST_TAP_PARAM: KernelParam = KernelParam::new(bindings::kernel_param {
    name: kernel::str::as_char_ptr_in_const_context(c"test_tap"),
    // As for `policy`.
    mod_: (&raw const bindings::__this_module).cast_mut(),
    ops: core::ptr::from_ref(&OPS),
    perm: 0,
    level: -1,
    flags: 0,
    __bindgen_anon_1: bindings::kernel_param__bindgen_ty_1 {
        arg: core::ptr::from_ref(&TEST_TAP).cast_mut().cast(),
    },
});

#[link_section = ".modinfo"]
#[used(compiler)]
static TEST_TAP_PARMTYPE: [u8; 24] = *b"parmtype=test_tap:charp\0";

#[link_section = ".modinfo"]
#[used(compiler)]
static TEST_TAP_PARM: [u8; 61] = *b"parm=test_tap:Tests only: one more symbol to probe (counted)\0";
