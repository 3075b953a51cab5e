//! The real log lines of tests/data/loghub (see its README for their source), which tests and
//! benchmarks write instead of repeated synthetic lines. One loader, included by path from the test helpers,
//! the root crate's benchmarks and the collector's benchmark.

use std::path::{Path, PathBuf};

/// tests/data/loghub in the repository, found from the crate being built (the collector crate sits
/// one level deeper than the root crate).
fn loghub_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("tests/data/loghub"))
        .find(|dir| dir.is_dir())
        .expect("tests/data/loghub in the repository")
}

/// Every non-empty line of every `.log` file, files in name order, bytes as they are on disk.
pub fn loghub_lines() -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(loghub_dir())
        .expect("tests/data/loghub is readable")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    files.sort();
    let mut lines = Vec::new();
    for file in files {
        let text = std::fs::read(&file).unwrap();
        lines.extend(
            text.split(|&b| b == b'\n')
                .filter(|line| !line.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    assert!(lines.len() >= 30_000, "loghub holds 32,000 lines");
    lines
}
