//! Writing a file so that a crash at any moment leaves either the old file
//! or the new one, whole: the bytes go to a temporary file beside it (a name
//! no other writer uses, so two pipelines of one `weir serve` never write
//! the same temporary), which is synced to disk, renamed over the target,
//! and then the directory is synced so that the rename itself survives a
//! power loss.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes the temporaries of one process.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Replaces `path` with `bytes`, atomically and durably.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
    let temporary = dir.join(format!(".{name}.{}.{}.partial", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written?;
    // The rename is durable once the directory is.
    std::fs::File::open(&dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("m.json");
        replace_file(&path, b"one").expect("first");
        replace_file(&path, b"two").expect("second");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let names: Vec<String> = std::fs::read_dir(path.parent().expect("dir")).expect("ls").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, vec!["m.json".to_string()]);
        // Writers in parallel never share a temporary: every write is whole.
        std::thread::scope(|s| {
            for i in 0..8 {
                let path = &path;
                s.spawn(move || replace_file(path, format!("writer {i} {}", "x".repeat(100_000)).as_bytes()).expect("write"));
            }
        });
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("writer ") && text.len() == "writer 0 ".len() + 100_000, "{}", &text[..20]);
    }
}
