//! What a job will need, checked before it starts: memory (cells × bytes per cell of the job's
//! own algorithm) against the memory available, and disk (the output's uncompressed size)
//! against the free space of its folder, so that a raster declaring 10⁶ × 10⁶ pixels is refused
//! with the figures instead of aborting on an allocation or filling the disk.
//!
//! The memory available is Linux's `MemAvailable` (/proc/meminfo), lowered to the room the
//! process's control group leaves (a container's or a batch system's memory limit, which
//! `MemAvailable` does not see) and to the process-wide limit a program sets with
//! [`set_memory_limit`] (the CLI's `--max-memory`).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// 0: no limit set.
static MEMORY_LIMIT: AtomicU64 = AtomicU64::new(0);

/// Cap the memory a job may plan to use, in bytes (None: only what the system and the
/// process's control group leave available).
pub fn set_memory_limit(bytes: Option<u64>) {
    MEMORY_LIMIT.store(bytes.unwrap_or(0), Ordering::SeqCst);
}

/// Memory a job may use: `MemAvailable`, the room its control group leaves and the limit
/// set, whichever is lowest (None: unknown).
pub fn available_memory() -> Option<u64> {
    let system = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kib| kib * 1024)
        });
    let limit = Some(MEMORY_LIMIT.load(Ordering::SeqCst)).filter(|&bytes| bytes > 0);
    [system, super::cgroup_memory::cgroup_room(), limit]
        .into_iter()
        .flatten()
        .min()
}

/// A size for a message: GiB with one decimal from 1 GiB, MiB below (where "0.1 GiB" against
/// "0.1 GiB" would hide which side is larger).
fn gib(bytes: f64) -> String {
    if bytes >= (1u64 << 30) as f64 {
        format!("{:.1} GiB", bytes / (1u64 << 30) as f64)
    } else {
        format!("{:.0} MiB", bytes / (1u64 << 20) as f64)
    }
}

/// Refuses `task` on `width × height` cells of `input` when `bytes_per_cell` of them exceed the
/// memory available.
///
/// ```
/// use std::path::Path;
/// use fringewatch::raster::budget::check_memory;
/// assert!(check_memory("PC1", Path::new("dem.tif"), 100, 100, 23.0).is_ok());
/// let huge = check_memory("PC1", Path::new("dem.vrt"), 1_000_000, 1_000_000, 23.0);
/// assert!(huge.unwrap_err().to_string().contains("1000000×1000000"));
/// ```
pub fn check_memory(
    task: &str,
    input: &Path,
    width: usize,
    height: usize,
    bytes_per_cell: f64,
) -> Result<()> {
    let need = width as f64 * height as f64 * bytes_per_cell;
    match available_memory() {
        Some(available) if need > available as f64 => Err(Error::bad_input(
            input,
            format!(
                "{width}×{height} cells: {task} would need about {} ({} bytes a cell), {} is available; cut the raster to the area of interest first (gdal_translate -projwin)",
                gib(need),
                // one decimal below 10 ("1.0 bytes", "2.5 bytes"), none above ("14 bytes")
                if bytes_per_cell < 9.95 {
                    format!("{bytes_per_cell:.1}")
                } else {
                    format!("{bytes_per_cell:.0}")
                },
                gib(available as f64)
            ),
        )),
        _ => Ok(()),
    }
}

/// Whether `bytes` fit in the memory available (true when that is unknown).
pub fn fits(bytes: f64) -> bool {
    available_memory().is_none_or(|available| bytes <= available as f64)
}

/// Refuses writing about `bytes` into `out`'s folder when its file system has less free space.
pub fn check_disk(out: &Path, bytes: f64) -> Result<()> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Some(free) = free_space(dir) else {
        return Ok(());
    };
    if bytes > free as f64 {
        return Err(Error::Output {
            path: out.to_path_buf(),
            problem: format!(
                "needs up to {} of disk, {} is free in {}",
                gib(bytes),
                gib(free as f64),
                dir.display()
            ),
        });
    }
    Ok(())
}

/// Free bytes for an unprivileged writer in `dir` (None: unknown).
fn free_space(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a valid C string and `stats` a properly sized out-parameter.
        if unsafe { libc::statvfs(c.as_ptr(), &mut stats) } != 0 {
            return None;
        }
        Some(stats.f_bavail as u64 * stats.f_frsize as u64)
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}
