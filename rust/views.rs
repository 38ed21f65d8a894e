// SPDX-License-Identifier: GPL-2.0

//! The debugfs files of the split i_mmap shadow: `stats`, `files`, `policy`,
//! `verify`. Formats: `Documentation/debugfs.rst`.

use crate::{
    dfs::View,
    input,
    kmm::{self, Mapping},
    locks::{self, Design, FileLocks, LockStat},
    policy::{Policy, TreeCount},
    shadow::{self, Ctr, FileShadow},
    timing::TapSums,
    verify, Mode, Shared, TapKind,
};
use core::fmt::{self, Write};
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
        show: show_verify,
        write: Some(write_verify),
    },
    View {
        name: c"memory",
        show: show_memory,
        write: None,
    },
    View {
        name: c"locks",
        show: show_locks,
        write: Some(write_locks),
    },
    View {
        name: c"anon",
        show: show_anon,
        write: Some(write_anon),
    },
    View {
        name: c"taps",
        show: crate::show_taps,
        write: None,
    },
    View {
        name: c"storm",
        show: show_storm,
        write: Some(write_storm),
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
    let n = read_line(r, &mut buf)?;
    let s = core::str::from_utf8(&buf[..n]).map_err(|_| EINVAL)?;
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
fn need_shadow(sh: &Shared) -> Result {
    if sh.mode().shadows() {
        Ok(())
    } else {
        Err(EBUSY)
    }
}

/// Longest input any writable file accepts.
const MAX_WRITE: usize = input::MAX_WRITE;

/// Reads one write into `buf` and returns the length of its command, moved
/// to the start of `buf` (see [`input::command`]); `EINVAL` for anything
/// else.
fn read_line(r: &mut UserSliceReader, buf: &mut [u8; MAX_WRITE]) -> Result<usize> {
    let len = r.len();
    if len == 0 || len > MAX_WRITE {
        return Err(EINVAL);
    }
    r.read_slice(&mut buf[..len])?;
    let (off, tlen) = input::command(&buf[..len]).ok_or(EINVAL)?;
    buf.copy_within(off..off + tlen, 0);
    Ok(tlen)
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
    let n = read_line(r, &mut buf)?;
    let s = core::str::from_utf8(&buf[..n]).map_err(|_| EINVAL)?;
    let _rebuild = sh.rebuild.lock();
    need_shadow(sh)?;
    let cur = sh.shadow.config().tree_count;
    let (policy, trees) = parse_policy(s, cur)?;
    sh.set_policy(policy, trees)
}

/// Snapshot references to every shadowed file (outside every lock: the
/// caller may sleep on them).
fn shadowed_files(sh: &Shared) -> Result<KVVec<Arc<FileShadow>>> {
    sh.shadow.files()
}

/// What the shadow's memory is, in the allocator's real sizes.
struct ShadowMemory {
    files: u64,
    vmas: u64,
    nodes: u64,
    file_bytes: u64,
    table_bytes: u64,
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
        };
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
        self.nodes * crate::pool::node_bytes() as u64 + self.file_bytes + self.table_bytes
    }
}

/// Formats into a `KVec` (outside every lock: may sleep).
struct Text(KVec<u8>);

impl Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0
            .extend_from_slice(s.as_bytes(), GFP_KERNEL)
            .map_err(|_| fmt::Error)
    }
}

/// Writing `verify`: `all`, or the absolute path of a file (not a
/// directory: `EISDIR`). The result is read back.
pub(crate) fn write_verify(sh: &Arc<Shared>, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; MAX_WRITE];
    let n = read_line(r, &mut buf)?;
    let arg = core::str::from_utf8(&buf[..n]).map_err(|_| EINVAL)?;
    let mut out = Text(KVec::new());
    let mut checked = 0u64;
    let mut bad = None;
    let mut name = [0u8; 256];
    if arg == "all" {
        let _serial = sh.rebuild.lock();
        need_shadow(sh)?;
        for f in shadowed_files(sh)?.iter() {
            let finding = verify::verify_mapping(sh, Mapping::of_file(&f.file))?;
            checked += 1;
            if !finding.is_ok() {
                bad = Some((kmm::file_path(&f.file, &mut name), finding));
                break;
            }
        }
        if let Some((path, finding)) = bad {
            writeln!(out, "{}", verify::Named(path, finding)).map_err(|_| ENOMEM)?;
        }
    } else {
        if !arg.starts_with('/') {
            return Err(EINVAL);
        }
        // The lookup may sleep on a slow filesystem: no lock held around it.
        let p = kmm::PathRef::lookup(arg)?;
        if p.is_dir() {
            return Err(EISDIR);
        }
        let finding = {
            let _serial = sh.rebuild.lock();
            need_shadow(sh)?;
            verify::verify_mapping(sh, p.mapping())?
        };
        checked = 1;
        if !finding.is_ok() {
            writeln!(out, "{}", verify::Named(arg, finding)).map_err(|_| ENOMEM)?;
            bad = Some(("", finding));
        }
    }
    if bad.is_none() {
        writeln!(out, "OK {checked} files").map_err(|_| ENOMEM)?;
    }
    let mut v = sh.verdict.lock();
    *v = out.0;
    Ok(())
}

/// Reading `verify`: the last result (`OK N files` or the first mismatch),
/// or `none` before any check.
pub(crate) fn show_verify(sh: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let v = sh.verdict.lock();
    if v.is_empty() {
        return writeln!(f, "none");
    }
    f.write_str(core::str::from_utf8(&v).unwrap_or("?\n"))
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
    // The TOP_FILES largest, largest first (a selection: no sort in here).
    let mut top = [usize::MAX; TOP_FILES];
    let mut ntop = 0;
    for (i, row) in rows.iter().enumerate() {
        let mut pos = ntop;
        while pos > 0 && rows[top[pos - 1]].total < row.total {
            pos -= 1;
        }
        if pos < TOP_FILES {
            let end = ntop.min(TOP_FILES - 1);
            top.copy_within(pos..end, pos + 1);
            top[pos] = i;
            ntop = (ntop + 1).min(TOP_FILES);
        }
    }
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

use crate::kmalloc_bytes;

/// `memory`: what the shadow uses, and what the split i_mmap patch would
/// cost this kernel per inode under the current tree count.
pub(crate) fn show_memory(sh: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    use core::mem::size_of;
    let bytes = ShadowMemory::of(sh).total();
    let ntrees = sh.shadow.config().ntrees as usize;
    let files = sh.shadow.nr_files();
    // struct i_mmap_tree { struct rb_root_cached root; struct rw_semaphore
    // rwsem; atomic_t vma_count; }, with this kernel's sizes (the rwsem's
    // depends on lock debugging).
    let root = size_of::<bindings::rb_root_cached>();
    let rwsem = size_of::<bindings::rw_semaphore>();
    let tree = (root + rwsem + 4).next_multiple_of(8);
    let tree_alloc = kmalloc_bytes(tree);
    // The patch's array of tree pointers, NULL-terminated.
    let array_alloc = kmalloc_bytes((ntrees + 1) * size_of::<usize>());
    // It replaces i_mmap (rb_root_cached) and i_mmap_rwsem in address_space
    // by a pointer and an atomic_t.
    let removed = root + rwsem;
    let added = size_of::<usize>() + 4;
    let per_inode = (ntrees * tree_alloc + array_alloc + added) as i64 - removed as i64;
    writeln!(f, "item value")?;
    writeln!(f, "shadow_bytes {bytes}")?;
    writeln!(f, "patch.trees_per_inode {ntrees}")?;
    writeln!(f, "patch.tree_struct_bytes {tree}")?;
    writeln!(f, "patch.tree_alloc_bytes {tree_alloc}")?;
    writeln!(f, "patch.array_alloc_bytes {array_alloc}")?;
    writeln!(
        f,
        "patch.address_space_delta_bytes {}",
        added as i64 - removed as i64
    )?;
    writeln!(f, "patch.per_inode_bytes {per_inode}")?;
    writeln!(f, "patch.mapped_inodes {files}")?;
    writeln!(f, "patch.mapped_inodes_bytes {}", per_inode * files as i64)?;
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

/// Sums of lock figures.
#[derive(Default, Clone, Copy)]
struct Sum {
    acq: u64,
    contended: u64,
    wait_ns: u64,
    wait_max_ns: u64,
    hold_ns: u64,
}

impl Sum {
    fn of(l: &LockStat) -> Self {
        Self {
            acq: l.acq.load(Relaxed),
            contended: l.contended.load(Relaxed),
            wait_ns: l.wait_ns.load(Relaxed),
            wait_max_ns: l.wait_max_ns.load(Relaxed),
            hold_ns: l.hold_ns.load(Relaxed),
        }
    }

    fn add(&mut self, o: Sum) {
        self.acq += o.acq;
        self.contended += o.contended;
        self.wait_ns += o.wait_ns;
        self.wait_max_ns = self.wait_max_ns.max(o.wait_max_ns);
        self.hold_ns += o.hold_ns;
    }

    fn row(&self, f: &mut fmt::Formatter<'_>, path: &str, design: &str, lock: &str) -> fmt::Result {
        writeln!(
            f,
            "{path} {design} {lock} {} {} {} {} {}",
            self.acq, self.contended, self.wait_ns, self.wait_max_ns, self.hold_ns
        )
    }
}

/// How many files `locks` shows.
const TOP_LOCK_FILES: usize = 20;

/// `locks`: per design, the totals over every file (path `*`, lock `all`),
/// then, for the files with the most acquisitions, one row per lock.
pub(crate) fn show_locks(sh: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let Ok(files) = shadowed_files(sh) else {
        return writeln!(f, "error: out of memory");
    };
    let mut rows: KVec<(Arc<FileShadow>, Arc<FileLocks>, u64)> = KVec::new();
    for fs in files.into_iter() {
        if let Some(l) = fs.locks.clone() {
            let n = l.total_acq();
            if rows.push((fs, l, n), GFP_KERNEL).is_err() {
                return writeln!(f, "error: out of memory");
            }
        }
    }
    writeln!(
        f,
        "path design lock acq contended wait_ns wait_max_ns hold_ns"
    )?;
    for d in Design::all() {
        let mut total = Sum::default();
        for (_, l, _) in rows.iter() {
            for (_, t) in l.set(d).into_iter().flat_map(|s| locks::locks_of(s)) {
                total.add(Sum::of(&t.stat));
            }
        }
        total.row(f, "*", d.name(), "all")?;
    }
    let mut name = [0u8; 256];
    let mut lock = [0u8; 8];
    // The TOP_LOCK_FILES busiest, busiest first (a selection: core's sorts
    // leave objtool warnings).
    let mut top = [usize::MAX; TOP_LOCK_FILES];
    let mut ntop = 0;
    for (i, row) in rows.iter().enumerate() {
        let mut pos = ntop;
        while pos > 0 && rows[top[pos - 1]].2 < row.2 {
            pos -= 1;
        }
        if pos < TOP_LOCK_FILES {
            let end = ntop.min(TOP_LOCK_FILES - 1);
            top.copy_within(pos..end, pos + 1);
            top[pos] = i;
            ntop = (ntop + 1).min(TOP_LOCK_FILES);
        }
    }
    for (fr, l, n) in top[..ntop].iter().map(|&i| &rows[i]) {
        if *n == 0 {
            break;
        }
        let path = kmm::file_path(&fr.file, &mut name);
        for d in Design::all() {
            for (i, t) in l.set(d).into_iter().flat_map(|s| locks::locks_of(s)) {
                let lname = match i {
                    Some(i) => {
                        let mut w = ByteWriter(&mut lock, 0);
                        let _ = write!(w, "t{i}");
                        let len = w.1;
                        core::str::from_utf8(&lock[..len]).unwrap_or("t?")
                    }
                    None => "file",
                };
                Sum::of(&t.stat).row(f, path, d.name(), lname)?;
            }
        }
    }
    Ok(())
}

/// Formats into a byte buffer (truncating).
struct ByteWriter<'a>(&'a mut [u8], usize);

impl Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.0.len() - self.1);
        self.0[self.1..self.1 + n].copy_from_slice(&s.as_bytes()[..n]);
        self.1 += n;
        Ok(())
    }
}

/// Writing `locks`: `reset` zeroes every figure; `all`, `off` or a
/// comma-separated list of `single`, `all-trees`, `inverted` picks the
/// designs replayed. Bad input changes nothing and fails with `EINVAL`.
pub(crate) fn write_locks(sh: &Arc<Shared>, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; MAX_WRITE];
    let n = read_line(r, &mut buf)?;
    let arg = core::str::from_utf8(&buf[..n]).map_err(|_| EINVAL)?;
    match arg {
        "reset" => {
            for fs in shadowed_files(sh)?.iter() {
                if let Some(l) = fs.locks.as_ref() {
                    l.reset();
                }
            }
            return Ok(());
        }
        "all" => sh.designs.store(locks::ALL_DESIGNS, Relaxed),
        "off" => sh.designs.store(0, Relaxed),
        // Test switches: the writer's thread group's replays wait in their
        // tasks (bounded by `locks::HOLD_MAX_MS`) until `release`.
        "hold" => sh.replays.hold.store(kernel::current!().tgid(), Relaxed),
        "release" => sh.replays.hold.store(0, Relaxed),
        _ => {
            let mut bits = 0;
            for w in arg.split(',') {
                bits |= Design::parse(w.trim()).ok_or(EINVAL)?.bit();
            }
            sh.designs.store(bits, Relaxed);
        }
    }
    Ok(())
}

/// Bytes as KiB with one decimal.
struct Kb(u64);

impl fmt::Display for Kb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = (self.0 * 10 + 512) / 1024;
        write!(f, "{}.{}", tenths / 10, tenths % 10)
    }
}

/// A change from `real` to `lazy` bytes in percent with one decimal.
struct Pct(u64, u64);

impl fmt::Display for Pct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (real, lazy) = (self.0 as i64, self.1 as i64);
        if real == 0 {
            return f.write_str("-");
        }
        let permille =
            ((lazy - real) * 1000 + if lazy >= real { real / 2 } else { -real / 2 }) / real;
        let sign = if permille < 0 { "-" } else { "+" };
        let a = permille.unsigned_abs();
        write!(f, "{sign}{}.{}", a / 10, a % 10)
    }
}

/// `anon`: per object, the real kernel's live objects and bytes beside
/// ANON_VMA_LAZY's, the change, the high-water marks and the object size.
pub(crate) fn show_anon(sh: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (now, hw, _) = sh.anon.sums();
    let (vma, avc, av) = crate::anon::sizes();
    let extra = sh.params.vma_extra_bytes as usize;
    writeln!(
        f,
        "object real_objs real_kb lazy_objs lazy_kb change_pct real_hw_objs lazy_hw_objs obj_bytes lazy_obj_bytes"
    )?;
    let rows = [
        (
            "vm_area_struct",
            now.vmas,
            now.vmas,
            hw.vmas,
            hw.vmas,
            vma,
            vma + extra,
        ),
        (
            "anon_vma_chain",
            now.real_avc,
            now.lazy_avc,
            hw.real_avc,
            hw.lazy_avc,
            avc,
            avc,
        ),
        (
            "anon_vma",
            now.real_av,
            now.lazy_av,
            hw.real_av,
            hw.lazy_av,
            av,
            av,
        ),
    ];
    for (name, real, lazy, rhw, lhw, size, lsize) in rows {
        let (rb, lb) = (real * size as u64, lazy * lsize as u64);
        writeln!(
            f,
            "{name} {real} {} {lazy} {} {} {rhw} {lhw} {size} {lsize}",
            Kb(rb),
            Kb(lb),
            Pct(rb, lb)
        )?;
    }
    Ok(())
}

/// Writing `anon`: `reset` restarts the high-water marks from the live
/// counts. Anything else fails with `EINVAL`.
pub(crate) fn write_anon(sh: &Arc<Shared>, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; MAX_WRITE];
    let n = read_line(r, &mut buf)?;
    if &buf[..n] != b"reset" {
        return Err(EINVAL);
    }
    sh.anon.reset_hw();
    Ok(())
}

/// Parses `start [design=D] [policy=P] [trees=N] [secs=N] [vmas=N]
/// [walk_every=N]`.
fn parse_storm(s: &str) -> Result<crate::storm::Config> {
    let mut it = s.split_ascii_whitespace();
    if it.next() != Some("start") {
        return Err(EINVAL);
    }
    let mut cfg = crate::storm::Config {
        design: Design::SINGLE,
        policy: Policy::Node,
        trees: crate::nr_node_ids().clamp(1, locks::MAX_LOCK_TREES as u32),
        secs: 10,
        vmas: 6000,
        walk_every: 64,
    };
    let num = |v: &str, lo: u32, hi: u32| -> Result<u32> {
        let n: u32 = v.parse().map_err(|_| EINVAL)?;
        if n < lo || n > hi || v.starts_with('+') {
            return Err(EINVAL);
        }
        Ok(n)
    };
    for w in it {
        let (k, v) = w.split_once('=').ok_or(EINVAL)?;
        match k {
            "design" => cfg.design = Design::parse(v).ok_or(EINVAL)?,
            "policy" => cfg.policy = Policy::parse(v).ok_or(EINVAL)?,
            "trees" => cfg.trees = num(v, 1, locks::MAX_LOCK_TREES as u32)?,
            "secs" => cfg.secs = num(v, 1, 600)?,
            "vmas" => cfg.vmas = num(v, 0, 6000)?,
            "walk_every" => cfg.walk_every = num(v, 1, 1_000_000)?,
            _ => return Err(EINVAL),
        }
    }
    Ok(cfg)
}

/// Writing `storm`: `start ...` (EBUSY while a run is going), or `stop`.
pub(crate) fn write_storm(sh: &Arc<Shared>, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; MAX_WRITE];
    let n = read_line(r, &mut buf)?;
    let arg = core::str::from_utf8(&buf[..n]).map_err(|_| EINVAL)?;
    if arg == "stop" {
        let mut g = sh.storm.lock();
        if let Some(st) = Option::as_mut(&mut *g) {
            st.stop();
        }
        return Ok(());
    }
    let cfg = parse_storm(arg)?;
    let mut cur = sh.storm.lock();
    if cur.as_ref().is_some_and(|s| !s.finished()) {
        return Err(EBUSY);
    }
    // Reap the finished run first (its threads are parked).
    drop(cur.take());
    *cur = Some(crate::storm::Storm::start(cfg)?);
    Ok(())
}

/// `storm`: header and one row: the last run (`none` before the first).
pub(crate) fn show_storm(sh: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(
        f,
        "state design policy trees secs vmas walk_every threads elapsed_ms execs ops ops_per_sec acq contended_permille wait_p50_ns wait_p99_ns hold_p50_ns hold_p99_ns walks found alloc_failures"
    )?;
    let cur = sh.storm.lock();
    let Some(st) = cur.as_ref() else {
        return writeln!(f, "none");
    };
    let run = &st.run;
    let c = run.cfg;
    let t1 = run.t1.load(Relaxed);
    let end = if t1 != 0 { t1 } else { crate::timing::now_ns() };
    let ms = (end.saturating_sub(run.t0) / 1_000_000).max(1);
    let g = &run.fig;
    let (execs, walks) = (g.execs.load(Relaxed), g.walks.load(Relaxed));
    let ops = execs * 10 + walks;
    let (acq, con) = run.lock_counts();
    let (w, h) = (
        g.hist.summary(locks::HIST_WAIT),
        g.hist.summary(locks::HIST_HOLD),
    );
    let state = if st.finished() { "done" } else { "running" };
    writeln!(
        f,
        "{state} {} {} {} {} {} {} {} {ms} {execs} {ops} {} {acq} {} {} {} {} {} {walks} {} {}",
        c.design.name(),
        c.policy.name(),
        c.trees,
        c.secs,
        c.vmas,
        c.walk_every,
        run.threads,
        (ops * 1000).checked_div(ms).unwrap_or(0),
        (con * 1000).checked_div(acq).unwrap_or(0),
        w.p50,
        w.p99,
        h.p50,
        h.p99,
        g.found.load(Relaxed),
        g.alloc_failures.load(Relaxed)
    )
}
