//! Counters the backup updates as it goes, read by the CLI's progress bar.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one backup.
#[derive(Debug, Default)]
pub struct Progress {
    /// Files and other entries done.
    pub entries: AtomicU64,
    /// Bytes of file content read.
    pub bytes_read: AtomicU64,
    /// Bytes of file content skipped because unchanged since the parent snapshot.
    pub bytes_skipped: AtomicU64,
    /// Plaintext bytes of new blobs.
    pub new_bytes: AtomicU64,
    /// Pack bytes written to sites (all sites together).
    pub bytes_uploaded: AtomicU64,
}

impl Progress {
    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
