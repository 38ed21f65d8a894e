// SPDX-License-Identifier: GPL-2.0

//! The debugfs files: the table of every view ([`VIEWS`]), the helpers
//! their write handlers share, and the views of the split i_mmap shadow
//! itself (`stats`, `files`, `policy`, `memory`, `mode`). The other views
//! live beside the state they show: `verify` in verify.rs, `locks` in
//! locks.rs, `anon` in anon.rs, `storm` in storm.rs, `status` in status.rs,
//! `taps` in rmap_shadow.rs. Formats: `Documentation/debugfs.rst`.

use crate::{
    cost::PatchCost,
    dfs::View,
    input,
    kmm::{self, Mapping},
    policy::{Policy, TreeCount},
    shadow::{self, Ctr, FileShadow},
    timing::TapSums,
    topn, Mode, Shared, TapKind,
};
use core::fmt;
use kernel::{
    bindings,
    prelude::*,
    sync::{atomic::Relaxed, Arc},
    uaccess::UserSliceReader,
};

/// Every debugfs file, in `ls` order of the documentation.
pub(crate) static VIEWS: [View; 11] = [
    View {
        name: c"status",
        show: crate::status::show,
        write: None,
    },
    View {
        name: c"stats",
        show: show_stats,
        write: None,
    },
    View {
        name: c"files",
        show: show_files,
        write: None,
    },
    View {
        name: c"policy",
        show: show_policy,
        write: Some(write_policy),
    },
    View {
        name: c"verify",
        show: crate::verify::show_verify,
        write: Some(crate::verify::write_verify),
    },
    View {
        name: c"memory",
        show: show_memory,
        write: None,
    },
    View {
        name: c"locks",
        show: crate::locks::show_locks,
        write: Some(crate::locks::write_locks),
    },
    View {
        name: c"anon",
        show: crate::anon::show_anon,
        write: Some(crate::anon::write_anon),
    },
    View {
        name: c"taps",
        show: crate::show_taps,
        write: None,
    },
    View {
        name: c"storm",
        show: crate::storm::show_storm,
        write: Some(crate::storm::write_storm),
    },
    View {
        name: c"mode",
        show: show_mode,
        write: Some(write_mode),
    },
];

/// `mode`: what the taps do, and whether they time their handlers.
fn show_mode(sh: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "mode {}", sh.mode().name())?;
    let on = sh.timing_on.load(Relaxed) != 0;
    writeln!(f, "timing {}", if on { "on" } else { "off" })
}

/// Writing `mode`: `empty`, `counters`, `shadow` or `all` (see
/// [`crate::Mode`]); `timing on` or `timing off`.
fn write_mode(sh: &Arc<Shared>, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; MAX_WRITE];
    let s = read_command(r, &mut buf)?;
    match s {
        "timing on" => sh.set_timing(true),
        "timing off" => sh.set_timing(false),
        _ => {
            let mode = Mode::parse(s).ok_or(EINVAL)?;
            let _serial = sh.rebuild.lock();
            sh.set_mode(mode)?;
        }
    }
    Ok(())
}

/// `EBUSY` unless the taps keep the shadow (`mode` `shadow` or `all`):
/// there is nothing to rebuild or verify otherwise.
pub(crate) fn need_shadow(sh: &Shared) -> Result {
    if sh.mode().shadows() {
        Ok(())
    } else {
        Err(EBUSY)
    }
}

/// Longest input any writable file accepts.
pub(crate) const MAX_WRITE: usize = input::MAX_WRITE;

/// Reads one write into `buf` and returns its command (see
/// [`input::command`]); `EINVAL` for anything else.
pub(crate) fn read_command<'a>(
    r: &mut UserSliceReader,
    buf: &'a mut [u8; MAX_WRITE],
) -> Result<&'a str> {
    let len = r.len();
    if len == 0 || len > MAX_WRITE {
        return Err(EINVAL);
    }
    r.read_slice(&mut buf[..len])?;
    let (off, n) = input::command(&buf[..len]).ok_or(EINVAL)?;
    core::str::from_utf8(&buf[off..off + n]).map_err(|_| EINVAL)
}

/// `stats`: one `counter value` row per counter, after a header.
pub(crate) fn show_stats(sh: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let ctr = sh.shadow.counters();
    let mem = ShadowMemory::of(sh);
    writeln!(f, "counter value")?;
    for (name, kind) in [
        ("mapping_rmap_tree_insert", TapKind::Insert),
        ("mapping_rmap_tree_insert_after", TapKind::InsertAfter),
        ("mapping_rmap_tree_remove", TapKind::Remove),
        ("vm_area_free", TapKind::Free),
        ("__rmap_walk_file", TapKind::Walk),
    ] {
        writeln!(f, "tap.{name} {}", sh.hits(kind))?;
    }
    writeln!(f, "tap.not_task {}", sh.taps.not_task())?;
    writeln!(f, "tap.test {}", sh.hits(TapKind::Test))?;
    writeln!(f, "tap.percpu_bytes {}", sh.taps.bytes())?;
    for (c, name) in Ctr::ALL {
        writeln!(f, "{name} {}", ctr[c as usize])?;
    }
    writeln!(f, "files {}", sh.shadow.nr_files())?;
    writeln!(f, "shadow.vmas {}", mem.vmas)?;
    writeln!(f, "shadow.nodes {}", mem.nodes)?;
    writeln!(f, "shadow.node_bytes {}", crate::pool::node_bytes())?;
    writeln!(
        f,
        "shadow.bytes_per_vma {}",
        (mem.nodes * crate::pool::node_bytes() as u64)
            .checked_div(mem.vmas)
            .unwrap_or(0)
    )?;
    writeln!(f, "shadow.file_bytes {}", mem.file_bytes)?;
    writeln!(
        f,
        "shadow.bytes_per_file {}",
        mem.file_bytes.checked_div(mem.files).unwrap_or(0)
    )?;
    writeln!(f, "shadow.table_bytes {}", mem.table_bytes)?;
    writeln!(f, "locks.parked {}", mem.parked)?;
    writeln!(f, "locks.parked_bytes {}", mem.parked_bytes)?;
    writeln!(f, "shadow_bytes {}", mem.total())?;
    let (_, _, ev) = sh.anon.sums();
    writeln!(f, "anon.prepare {}", sh.hits(TapKind::AnonPrepare))?;
    writeln!(f, "anon.clone {}", sh.hits(TapKind::AnonClone))?;
    writeln!(f, "anon.fork {}", sh.hits(TapKind::AnonFork))?;
    writeln!(f, "anon.unlink {}", sh.hits(TapKind::AnonUnlink))?;
    writeln!(f, "anon.avc_insert {}", ev.avc_insert)?;
    writeln!(f, "anon.avc_remove {}", ev.avc_remove)?;
    writeln!(f, "anon.av_freed {}", ev.av_freed)?;
    writeln!(f, "anon.materialized {}", ev.materialized)?;
    writeln!(f, "anon.vma_alloc {}", ev.vma_alloc)?;
    writeln!(f, "anon.seeded_av {}", ev.seeded_av)?;
    writeln!(f, "anon.seeded_avc {}", ev.seeded_avc)?;
    writeln!(f, "anon.unknown_avc {}", ev.unknown_avc)?;
    writeln!(f, "anon.unknown_avc_seeding {}", ev.unknown_avc_seeding)?;
    writeln!(f, "anon.unknown_put {}", ev.unknown_put)?;
    writeln!(f, "anon.freed_with_avcs {}", ev.freed_with_avcs)?;
    writeln!(f, "anon.alloc_failures {}", ev.alloc_failures)?;
    writeln!(f, "anon.chain_overflow {}", ev.chain_overflow)?;
    writeln!(f, "anon.underflows {}", ev.underflows)?;
    writeln!(f, "anon.shadow_bytes {}", sh.anon.bytes())?;
    writeln!(
        f,
        "anon.bytes_per_anon_vma {}",
        sh.anon.record_bytes_per_anon_vma()
    )?;
    writeln!(f, "locks.designs {}", sh.designs.load(Relaxed))?;
    let rc = sh.replays.counters();
    for (c, name) in crate::replay::Ctr::ALL {
        writeln!(f, "{name} {}", rc[c as usize])?;
    }
    writeln!(f, "replay.hold {}", sh.replays.hold.load(Relaxed))?;
    writeln!(f, "replay.pool_bytes {}", sh.replays.bytes())?;
    writeln!(f, "pending_deferred {}", sh.replays.pending())?;
    Ok(())
}

/// `policy`: `policy trees ntrees` header and one row.
pub(crate) fn show_policy(sh: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let c = sh.shadow.config();
    writeln!(f, "policy trees ntrees")?;
    writeln!(f, "{} {} {}", c.policy.name(), c.tree_count, c.ntrees)
}

/// Parses a policy specification (see [`input::policy`]); `EINVAL` if bad.
pub(crate) fn parse_policy(s: &str, cur: TreeCount) -> Result<(Policy, TreeCount)> {
    input::policy(s, cur).ok_or(EINVAL)
}

/// Writing `policy`: switch and rebuild the shadow (clear, then seed from
/// every mm). Bad input changes nothing and fails with `EINVAL`.
pub(crate) fn write_policy(sh: &Arc<Shared>, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; MAX_WRITE];
    let s = read_command(r, &mut buf)?;
    let _rebuild = sh.rebuild.lock();
    need_shadow(sh)?;
    let cur = sh.shadow.config().tree_count;
    let (policy, trees) = parse_policy(s, cur)?;
    sh.set_policy(policy, trees)
}

/// Snapshot references to every shadowed file (outside every lock: the
/// caller may sleep on them).
pub(crate) fn shadowed_files(sh: &Shared) -> Result<KVVec<Arc<FileShadow>>> {
    sh.shadow.files()
}

/// What the shadow's memory is, in the allocator's real sizes.
struct ShadowMemory {
    files: u64,
    vmas: u64,
    nodes: u64,
    file_bytes: u64,
    table_bytes: u64,
    /// Released files' parked lock-design locks: how many, and bytes.
    parked: u64,
    parked_bytes: u64,
}

impl ShadowMemory {
    /// Walks every file, one file lock at a time.
    fn of(sh: &Shared) -> Self {
        let mut m = ShadowMemory {
            files: 0,
            vmas: 0,
            nodes: 0,
            file_bytes: 0,
            table_bytes: sh.shadow.fixed_bytes() as u64,
            parked: 0,
            parked_bytes: 0,
        };
        if let Ok(parked) = sh.shadow.parked_locks() {
            m.parked = parked.len() as u64;
            m.parked_bytes = parked.iter().map(|l| l.bytes() as u64).sum();
        }
        if let Ok(files) = shadowed_files(sh) {
            for fs in files.iter() {
                let st = fs.state.lock();
                m.files += 1;
                m.vmas += st.total;
                m.nodes += st.trees.iter().map(|t| t.itree.len() as u64).sum::<u64>();
                m.file_bytes += shadow::file_bytes(fs, &st) as u64;
            }
        }
        m
    }

    /// Everything.
    fn total(&self) -> u64 {
        self.nodes * crate::pool::node_bytes() as u64
            + self.file_bytes
            + self.table_bytes
            + self.parked_bytes
    }
}

/// How many rows `files` shows.
const TOP_FILES: usize = 20;

/// `files`: the files with the most shadowed VMAs.
pub(crate) fn show_files(sh: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    struct Row {
        file: Arc<FileShadow>,
        total: u64,
        degraded: bool,
        counts: KVec<u64>,
    }
    let mut rows: KVec<Row> = KVec::new();
    let Ok(files) = shadowed_files(sh) else {
        return writeln!(f, "error: out of memory");
    };
    for fs in files.into_iter() {
        let ntrees = fs.state.lock().trees.len();
        let Ok(mut counts) = KVec::with_capacity(ntrees, GFP_KERNEL) else {
            break;
        };
        let (total, degraded) = {
            let st = fs.state.lock();
            for t in st.trees.iter() {
                if counts.push_within_capacity(t.itree.len() as u64).is_err() {
                    break;
                }
            }
            (st.total, st.degraded)
        };
        let row = Row {
            file: fs,
            total,
            degraded,
            counts,
        };
        if rows.push(row, GFP_KERNEL).is_err() {
            break;
        }
    }
    // The TOP_FILES largest, largest first.
    let (top, ntop) = topn::top_n::<TOP_FILES>(rows.len(), |i| rows.get(i).map_or(0, |r| r.total));
    writeln!(f, "path real shadow trees max min degraded per_tree")?;
    let mut name = [0u8; 256];
    for row in top[..ntop].iter().map(|&i| &rows[i]) {
        // A count under the real lock: bounded by the file's VMAs, no
        // allocation.
        let real = Mapping::of_file(&row.file.file).read_i_mmap().count();
        let max = row.counts.iter().copied().max().unwrap_or(0);
        let min = row.counts.iter().copied().min().unwrap_or(0);
        write!(
            f,
            "{} {} {} {} {} {} {} ",
            kmm::file_path(&row.file.file, &mut name),
            real,
            row.total,
            row.counts.len(),
            max,
            min,
            u8::from(row.degraded)
        )?;
        for (i, c) in row.counts.iter().enumerate() {
            write!(f, "{}{c}", if i == 0 { "" } else { "," })?;
        }
        writeln!(f)?;
    }
    Ok(())
}

/// `memory`: what the shadow uses, and what the split i_mmap patch would
/// cost this kernel per inode under the current tree count
/// ([`PatchCost`]).
pub(crate) fn show_memory(sh: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    use core::mem::size_of;
    let bytes = ShadowMemory::of(sh).total();
    let files = sh.shadow.nr_files();
    let c = PatchCost::new(
        sh.shadow.config().ntrees as usize,
        size_of::<bindings::rb_root_cached>(),
        size_of::<bindings::rw_semaphore>(),
        size_of::<usize>(),
        crate::kmalloc_bytes,
    );
    writeln!(f, "item value")?;
    writeln!(f, "shadow_bytes {bytes}")?;
    writeln!(f, "patch.trees_per_inode {}", c.trees)?;
    writeln!(f, "patch.tree_struct_bytes {}", c.tree_struct)?;
    writeln!(f, "patch.tree_alloc_bytes {}", c.tree_alloc)?;
    writeln!(f, "patch.array_alloc_bytes {}", c.array_alloc)?;
    writeln!(
        f,
        "patch.address_space_delta_bytes {}",
        c.address_space_delta
    )?;
    writeln!(f, "patch.per_inode_bytes {}", c.per_inode)?;
    writeln!(f, "patch.mapped_inodes {files}")?;
    writeln!(
        f,
        "patch.mapped_inodes_bytes {}",
        c.per_inode * files as i64
    )?;
    writeln!(f, "patch.vma_field_bytes 4")?;
    writeln!(
        f,
        "vm_area_struct_bytes {}",
        size_of::<bindings::vm_area_struct>()
    )?;
    Ok(())
}

/// Re-seeds the shadow under the current policy (used at load).
pub(crate) fn seed(sh: &Shared, anon: bool) -> Result {
    shadow::seed(sh, anon)
}
