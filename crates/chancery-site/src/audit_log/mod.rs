//! The site audit log: every request a site serves for a tenant, as a hash-chained record
//! signed with the site key (`chancery_protocol::audit_log`, FORMAT.md §19), so that the owner
//! sees every read of its data and the host can show that it made none.
//!
//! # Where the records live, and what survives a crash
//!
//! Per tenant, the newest records are appended to a *journal*, `<data>/audit/<tenant>.log`, a
//! local file (an S3 bucket cannot append). When it holds [`SEGMENT_RECORDS`] records it is
//! *sealed*: written whole into the tenant's own store as the `meta` object
//! `audit-log-<first seq, 20 digits>` (a folder or the bucket, like every other object, so the
//! log lives where the data lives), synced, and the journal emptied. A crash between the two
//! leaves records in both; the journal's copies are dropped when the log is next opened.
//!
//! - A request that changes state (any method but GET and HEAD) that was let in: its record
//!   is written *and fsynced* before the answer leaves, so a receipted PUT is always logged.
//! - A read: its record is written (to the OS) before the answer leaves, so a killed server
//!   keeps it; it reaches the disk within [`FLUSH_EVERY`] (or with the next fsync of that
//!   journal). Only a crash of the whole machine can lose the last second of reads.
//! - A refusal (401, 403): logged in the background, after the answer, so that how long a
//!   refusal takes says nothing about whether the tenant exists. A killed server may lose
//!   the record of a refusal in its last moment.
//!
//! Requests that name no enrolled tenant are in no log (only in the request log, `tracing`).
//! Owners cannot write or delete the segment names (`is_audit_name`), nor the journal.

mod journal;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chancery_protocol::audit_log::{Record, NONE};
use chancery_protocol::AUDIT_SEGMENT_PREFIX;
use chancery_store::{Backend, StoreError};
use ed25519_dalek::SigningKey;

use journal::TenantLog;

/// Records per sealed segment: about 1.5 MiB of text, one object per few backups of a large
/// archive.
pub(crate) const SEGMENT_RECORDS: u64 = 4096;
/// How often journals with unsynced records (of reads) are fsynced.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Most records in one answer of `GET …/audit-log`; the client asks again from the next.
pub(crate) const PAGE_RECORDS: usize = 10_000;
/// The folder of the journals, in the site's data folder.
const AUDIT_DIR: &str = "audit";

/// Whether a `meta` name is an audit-log segment (written by the site only).
pub(crate) fn is_audit_name(name: &str) -> bool {
    name.starts_with(AUDIT_SEGMENT_PREFIX)
}

/// The roles a record names: those the key was admitted with (`Authed`), or `-` for a key
/// that was not (unknown, another tenant's, a bad signature).
pub(crate) fn role_of(granted: Option<&str>) -> String {
    granted.map_or_else(|| NONE.to_string(), str::to_string)
}

/// One request to log, before it gets its place in the chain.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub(crate) key: Option<[u8; 32]>,
    pub(crate) role: String,
    pub(crate) method: String,
    pub(crate) object: String,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) status: u16,
}

/// Where to start reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Since {
    /// From this sequence number.
    Seq(u64),
    /// From the first record at or after this time (unix milliseconds).
    TimeMs(u64),
}

/// Records read: up to a page of lines from the start asked for, and the newest line.
#[derive(Debug, Default)]
pub(crate) struct Read {
    pub(crate) lines: Vec<String>,
    pub(crate) head: Option<String>,
}

/// Every tenant's audit log at this site.
#[derive(Debug)]
pub(crate) struct AuditLogs {
    dir: PathBuf,
    segment_records: u64,
    logs: Mutex<BTreeMap<String, Arc<Mutex<Option<TenantLog>>>>>,
}

impl AuditLogs {
    /// The logs of the site whose data folder is `data`.
    pub(crate) fn new(data: &Path) -> Self {
        Self::with_segments(data, SEGMENT_RECORDS)
    }

    fn with_segments(data: &Path, segment_records: u64) -> Self {
        AuditLogs { dir: data.join(AUDIT_DIR), segment_records, logs: Mutex::default() }
    }

    /// Appends `event` to `tenant`'s log (blocking I/O); with `durable`, fsynced before return.
    pub(crate) fn append(
        &self,
        tenant: &str,
        store: &dyn Backend,
        site_key: &SigningKey,
        event: &Event,
        durable: bool,
    ) -> Result<(), StoreError> {
        let slot = self.slot(tenant);
        let file = {
            let mut guard = lock(&slot);
            let log = self.opened(&mut guard, tenant, store)?;
            let record = log.append(tenant, site_key, event, now_ms())?;
            if log.records() >= self.segment_records {
                // The record is in the journal already: a store that fails now only delays
                // the seal to a later append.
                if let Err(e) = log.seal(store) {
                    tracing::error!(tenant, "sealing an audit-log segment (retried later): {e}");
                }
            }
            tracing::trace!(tenant, seq = record.seq, "audit record");
            log.file()
        };
        // Outside the lock, so that concurrent writers share fsyncs instead of queueing.
        if durable {
            file.sync_data().map_err(|e| journal::io_error(&self.dir, "syncing the audit journal", e))?;
        }
        Ok(())
    }

    /// Reads `tenant`'s log from `since`: at most `limit` lines, and the newest line.
    pub(crate) fn read(
        &self,
        tenant: &str,
        store: &dyn Backend,
        since: Since,
        limit: usize,
    ) -> Result<Read, StoreError> {
        let slot = self.slot(tenant);
        // Held while reading, so that no segment is sealed in between (nothing missed or twice).
        let mut guard = lock(&slot);
        let log = self.opened(&mut guard, tenant, store)?;
        log.read(store, since, limit)
    }

    /// Fsyncs every journal with records not yet on disk (called every [`FLUSH_EVERY`]).
    pub(crate) fn flush(&self) {
        let slots: Vec<_> = lock(&self.logs).values().cloned().collect();
        for slot in slots {
            if let Some(log) = lock(&slot).as_mut() {
                if let Err(e) = log.flush() {
                    tracing::error!("syncing an audit journal: {e}");
                }
            }
        }
    }

    fn slot(&self, tenant: &str) -> Arc<Mutex<Option<TenantLog>>> {
        lock(&self.logs).entry(tenant.to_string()).or_default().clone()
    }

    /// The tenant's log, opened from its segments and journal on first use.
    fn opened<'a>(
        &self,
        slot: &'a mut Option<TenantLog>,
        tenant: &str,
        store: &dyn Backend,
    ) -> Result<&'a mut TenantLog, StoreError> {
        if slot.is_none() {
            *slot = Some(TenantLog::open(&self.dir.join(format!("{tenant}.log")), store)?);
        }
        Ok(slot.as_mut().expect("just opened"))
    }
}

impl Event {
    /// The record this event becomes at position `seq` after `prev`, signed.
    fn record(&self, tenant: &str, seq: u64, prev: [u8; 32], time_ms: u64, key: &SigningKey) -> Record {
        let mut record = Record {
            seq,
            time_ms,
            tenant: tenant.to_string(),
            key: self.key.map_or_else(|| NONE.to_string(), hex::encode),
            role: self.role.to_string(),
            method: self.method.clone(),
            object: self.object.clone(),
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            status: self.status,
            prev,
            signature: [0; 64],
        };
        record.sign(key);
        record
    }
}

fn now_ms() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// The guarded data stays valid whatever a panicking holder did: ignore poisoning.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;
