//! Files that are either whole or absent: written to a temporary file in the same directory,
//! flushed to disk, renamed over the old one, and the directory flushed, so a crash leaves
//! the old file or the new one, never half of one.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Numbers the temporary files of one process (two writes of one file may overlap).
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Writes a file at `path` through a temporary file in the same directory: `fill` writes
/// it, then it is flushed to disk, renamed over `path`, and the directory flushed.
pub(crate) fn write<T>(
    dir: &Path,
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        let out = fill(&mut f)?;
        let f = f.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(out)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
