// SPDX-License-Identifier: GPL-2.0

//! The debugfs `status` file: what is loaded, on what, with which parameters.
//!
//! Format (`Documentation/debugfs.rst`): one `key: value` per line, keys stable.

use crate::{sys, Shared, VERSION};
use core::fmt;
use kernel::{cpu, prelude::*, sync::Arc};

/// Writes the `status` file.
pub(crate) fn show(shared: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    // SAFETY: `init_uts_ns` is a static kernel object; `release` is a
    // NUL-terminated string set at boot and never changed afterwards.
    let release = unsafe { CStr::from_char_ptr((&raw const sys::init_uts_ns.name.release).cast()) };
    let nr_node_ids = crate::nr_node_ids();
    let p = &shared.params;
    writeln!(f, "version: {VERSION}")?;
    writeln!(f, "kernel: {}", release.to_str().unwrap_or("?"))?;
    writeln!(f, "nr_node_ids: {nr_node_ids}")?;
    writeln!(f, "nr_cpu_ids: {}", cpu::nr_cpu_ids())?;
    writeln!(f, "param.nr_trees: {}", p.nr_trees)?;
    writeln!(f, "param.max_files: {}", p.max_files)?;
    writeln!(
        f,
        "tap.mapping_rmap_tree_insert: {}",
        shared.hits(crate::TapKind::Insert)
    )?;
    let c = shared.shadow.config();
    writeln!(f, "policy: {}", c.policy.name())?;
    writeln!(f, "trees: {} ({})", c.ntrees, c.tree_count)?;
    writeln!(f, "files: {}", shared.shadow.nr_files())?;
    writeln!(f, "param.vma_extra_bytes: {}", p.vma_extra_bytes)?;
    Ok(())
}
