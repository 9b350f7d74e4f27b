//! Files that survive a crash: a write leaves the old file or the new one,
//! never a part of either.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Replaces `path` atomically with what `write` puts at the temporary path
/// it is given (beside `path`): then fsync, rename, and fsync of the
/// directory so the rename itself is durable.
pub fn replace<E: From<std::io::Error>>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = dir.join(name);
    write(&tmp)?;
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Ok(dir) = fs::File::open(&dir) {
        // Not every filesystem syncs a directory; the data is synced.
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically ([`replace`]). With `private`, the
/// file is readable by its owner only (keys, salts).
pub fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    replace(path, |tmp| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        options.open(tmp)?.write_all(bytes)
    })
}
