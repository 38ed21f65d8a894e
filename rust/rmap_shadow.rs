// SPDX-License-Identifier: GPL-2.0

//! rmap-shadow: shadow rmap structures beside the real kernel's.
//!
//! The module watches the real kernel's file and anon rmap operations through
//! kprobes and keeps shadow structures beside them, so that designs the
//! kernel rejected (split i_mmap trees, lazy anon_vma) can be measured on a
//! live, unpatched kernel. It never modifies a kernel structure.
//!
//! Everything is exposed under `/sys/kernel/debug/rmap_shadow/` (root only);
//! see `Documentation/debugfs.rst`.

use kernel::{
    debugfs::{Dir, File},
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc,
    },
};

mod kprobe;
mod status;
mod sys;

use kprobe::{Kprobe, KprobeHandler, Regs};

module! {
    type: RmapShadow,
    name: "rmap_shadow",
    authors: ["rmap-shadow developers"],
    description: "Shadow split i_mmap trees and lazy anon rmap bookkeeping beside the real rmap",
    license: "GPL",
    params: {
        nr_trees: u32 {
            default: 0,
            description: "Sibling trees per file: 0 = one per NUMA node (nr_node_ids), else 1..=1024",
        },
        max_files: u32 {
            default: 4096,
            description: "Most files (address_spaces) shadowed at once, 1..=1048576",
        },
    },
}

/// The module's version, shown in `status`.
pub(crate) const VERSION: &str = "0.1.0";

/// Most sibling trees a file may be split into.
pub(crate) const MAX_TREES: u32 = 1024;

/// Most files shadowed at once.
pub(crate) const MAX_FILES: u32 = 1 << 20;

/// Load-time parameters, validated.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Params {
    /// Sibling trees per file; 0 means one per NUMA node.
    pub(crate) nr_trees: u32,
    /// Most files shadowed at once.
    pub(crate) max_files: u32,
}

impl Params {
    /// Reads and validates the module parameters.
    ///
    /// A bad value fails the load with `EINVAL` after one log line naming the
    /// parameter, its value and the accepted range.
    fn from_module() -> Result<Self> {
        let nr_trees = *module_parameters::nr_trees.value_ref();
        let max_files = *module_parameters::max_files.value_ref();
        if nr_trees > MAX_TREES {
            pr_err!("invalid nr_trees={nr_trees}: want 0 (one per node) or 1..={MAX_TREES}\n");
            return Err(EINVAL);
        }
        if max_files == 0 || max_files > MAX_FILES {
            pr_err!("invalid max_files={max_files}: want 1..={MAX_FILES}\n");
            return Err(EINVAL);
        }
        Ok(Self {
            nr_trees,
            max_files,
        })
    }
}

/// State shared by the taps and debugfs, alive as long as any of them.
pub(crate) struct Shared {
    /// The validated load-time parameters.
    pub(crate) params: Params,
    /// Hits on `mapping_rmap_tree_insert`.
    pub(crate) file_insert: Atomic<u64>,
}

/// The tap on `mapping_rmap_tree_insert(vma, mapping)`.
struct FileInsertTap {
    shared: Arc<Shared>,
}

impl KprobeHandler for FileInsertTap {
    fn pre(&self, _regs: &Regs) {
        self.shared.file_insert.add(1, Relaxed);
    }
}

/// The loaded module.
///
/// Field order is drop order: the tap is unregistered (and its handlers have
/// finished) before the debugfs files go away.
#[pin_data]
struct RmapShadow {
    #[pin]
    file_insert: Kprobe<FileInsertTap>,
    #[pin]
    status: File<Arc<Shared>>,
    _dir: Dir,
}

impl kernel::InPlaceModule for RmapShadow {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let shared = Params::from_module().and_then(|params| {
            Ok(Arc::new(
                Shared {
                    params,
                    file_insert: Atomic::new(0),
                },
                GFP_KERNEL,
            )?)
        });
        let dir = Dir::new(c"rmap_shadow");
        try_pin_init!(Self {
            file_insert <- Kprobe::new(
                c"mapping_rmap_tree_insert",
                FileInsertTap { shared: shared.clone()? },
            ),
            status <- dir.read_callback_file(c"status", shared.clone()?, &status::show),
            _dir: dir,
        }? Error)
    }
}
