//! One tenant's audit log: sealed segments in the tenant's store, and the journal of the
//! newest records in a local file (see the parent module for what survives a crash).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chancery_protocol::audit_log::{chain_hash, Record, AUDIT_LOG_HEADER, GENESIS};
use chancery_protocol::{audit_segment_name, AUDIT_SEGMENT_PREFIX};
use chancery_store::{Backend, ObjectKind, StoreError};
use ed25519_dalek::SigningKey;

use super::{is_audit_name, Event, Read, Since};
use crate::files::{write_atomic, Existing};

/// The open log of one tenant.
#[derive(Debug)]
pub(super) struct TenantLog {
    path: PathBuf,
    file: Arc<File>,
    /// Sequence number of the journal's first record (every record before is sealed).
    first: u64,
    next: u64,
    prev: [u8; 32],
    /// Records written since the last fsync.
    dirty: bool,
}

impl TenantLog {
    /// Opens the log: the chain continues after the newest sealed record, then after the
    /// journal's whole lines. Records the journal shares with a segment (a crash during a
    /// seal) and a torn last line (a crash during an append) are dropped from the journal.
    pub(super) fn open(path: &Path, store: &dyn Backend) -> Result<TenantLog, StoreError> {
        let (first, sealed_prev) = sealed_tail(store)?;
        let text = read_journal(path)?;
        let whole = whole_lines(&text);
        let kept: Vec<&str> =
            whole.iter().copied().filter(|l| seq_of(l).is_none_or(|s| s >= first)).collect();
        let clean =
            format!("{AUDIT_LOG_HEADER}\n{}", kept.iter().map(|l| format!("{l}\n")).collect::<String>());
        if clean != text {
            write_atomic(path, clean.as_bytes(), 0o600, Existing::Replace)
                .map_err(|e| io_error(path, "rewriting the audit journal", std::io::Error::other(e)))?;
        }
        let (next, prev) = match kept.last() {
            Some(line) => (seq_of(line).map_or(first, |s| s + 1), chain_hash(line)),
            None => (first, sealed_prev),
        };
        let file = OpenOptions::new()
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| io_error(path, "opening the audit journal", e))?;
        Ok(TenantLog { path: path.to_path_buf(), file: Arc::new(file), first, next, prev, dirty: false })
    }

    /// Signs the event as the next record and writes its line (not fsynced).
    pub(super) fn append(
        &mut self,
        tenant: &str,
        key: &SigningKey,
        event: &Event,
        time_ms: u64,
    ) -> Result<Record, StoreError> {
        let record = event.record(tenant, self.next, self.prev, time_ms, key);
        let line = format!("{}\n", record.line());
        // One write of a whole line: with O_APPEND no other writer can interleave.
        (&*self.file).write_all(line.as_bytes()).map_err(|e| io_error(&self.path, "appending", e))?;
        self.next += 1;
        self.prev = record.hash();
        self.dirty = true;
        Ok(record)
    }

    /// Records in the journal.
    pub(super) fn records(&self) -> u64 {
        self.next - self.first
    }

    /// The journal, for an fsync outside the lock.
    pub(super) fn file(&self) -> Arc<File> {
        self.file.clone()
    }

    /// Fsyncs the journal if records were written since the last time.
    pub(super) fn flush(&mut self) -> std::io::Result<()> {
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Stores the journal as a segment in the tenant's store, durably, then empties it.
    pub(super) fn seal(&mut self, store: &dyn Backend) -> Result<(), StoreError> {
        let name = audit_segment_name(self.first);
        if store.stat(ObjectKind::Meta, &name)?.is_some() {
            // An earlier seal stored the segment but failed after: opening again drops the
            // records it holds from the journal.
            *self = TenantLog::open(&self.path, store)?;
            return Ok(());
        }
        let bytes = std::fs::read(&self.path).map_err(|e| io_error(&self.path, "reading", e))?;
        store.put(ObjectKind::Meta, &name, &bytes)?;
        store.sync()?;
        let header = (AUDIT_LOG_HEADER.len() + 1) as u64;
        self.file
            .set_len(header)
            .and_then(|()| self.file.sync_all())
            .map_err(|e| io_error(&self.path, "emptying", e))?;
        self.first = self.next;
        self.dirty = false;
        Ok(())
    }

    /// Lines from `since` on (at most `limit`), and the newest line, from the segments that
    /// can hold them and then the journal. Lines are given as stored: the owner verifies.
    pub(super) fn read(&self, store: &dyn Backend, since: Since, limit: usize) -> Result<Read, StoreError> {
        let mut reader = Reader { since, limit, started: false, out: Read::default() };
        let segments = segments(store)?;
        let from = match since {
            Since::Seq(seq) => segments.iter().rposition(|(first, _)| *first <= seq).unwrap_or(0),
            Since::TimeMs(_) => 0,
        };
        for (_, name) in &segments[from..] {
            let bytes = store.get(ObjectKind::Meta, name)?;
            reader.feed(&String::from_utf8_lossy(&bytes));
        }
        reader.feed(&read_journal(&self.path)?);
        Ok(reader.out)
    }
}

struct Reader {
    since: Since,
    limit: usize,
    started: bool,
    out: Read,
}

impl Reader {
    fn feed(&mut self, text: &str) {
        for line in whole_lines(text) {
            self.started = self.started || wanted(line, self.since);
            if self.started && self.out.lines.len() < self.limit {
                self.out.lines.push(line.to_string());
            }
            self.out.head = Some(line.to_string());
        }
    }
}

fn wanted(line: &str, since: Since) -> bool {
    match since {
        Since::Seq(seq) => seq_of(line).is_some_and(|s| s >= seq),
        Since::TimeMs(ms) => field(line, 1).is_some_and(|t| t >= ms),
    }
}

/// The record lines of a journal or segment: every whole line after the header (a header
/// that is not ours is kept as a line, for the owner to find).
fn whole_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.split_inclusive('\n').filter_map(|l| l.strip_suffix('\n')).collect();
    if lines.first() == Some(&AUDIT_LOG_HEADER) {
        lines.remove(0);
    }
    lines
}

fn seq_of(line: &str) -> Option<u64> {
    field(line, 0)
}

fn field(line: &str, at: usize) -> Option<u64> {
    line.split(' ').nth(at)?.parse().ok()
}

/// The journal's text; just the header when there is none yet.
fn read_journal(path: &Path) -> Result<String, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(|e| io_error(dir, "creating", e))?;
            Ok(String::new())
        }
        Err(e) => Err(io_error(path, "reading", e)),
    }
}

/// The segments in the store, by first sequence number.
fn segments(store: &dyn Backend) -> Result<Vec<(u64, String)>, StoreError> {
    let mut found: Vec<(u64, String)> = store
        .list(ObjectKind::Meta)?
        .into_iter()
        .filter(|o| is_audit_name(&o.name))
        .filter_map(|o| Some((o.name[AUDIT_SEGMENT_PREFIX.len()..].parse().ok()?, o.name)))
        .collect();
    found.sort();
    Ok(found)
}

/// Where the chain continues after the sealed segments: the next sequence number and the
/// hash of the newest sealed record.
fn sealed_tail(store: &dyn Backend) -> Result<(u64, [u8; 32]), StoreError> {
    let Some((first, name)) = segments(store)?.pop() else { return Ok((0, GENESIS)) };
    let text = String::from_utf8_lossy(&store.get(ObjectKind::Meta, &name)?).into_owned();
    let last = whole_lines(&text).last().map(|l| (seq_of(l).unwrap_or(first) + 1, chain_hash(l)));
    Ok(last.unwrap_or((first, GENESIS)))
}

pub(super) fn io_error(path: &Path, context: &str, source: std::io::Error) -> StoreError {
    StoreError::Io { location: path.display().to_string(), context: context.to_string(), source }
}
