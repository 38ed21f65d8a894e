/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of the module-local bindgen step (see ../Kbuild and sys.rs):
 * declarations the kernel crate's `bindings` lack or keeps opaque.
 */
#include <linux/kprobes.h>
#include <linux/utsname.h>
