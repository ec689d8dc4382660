//! `audit-log`: what a site server says it served for this tenant, checked. Every record is
//! signed by the pinned site key and chained to the one before (FORMAT.md §19); the records
//! are read page by page and verified ([`verify`]), and the newest record is remembered in
//! `<state>/audit-log/seen/<site>`, so that a site showing later a shorter log, or another
//! record where this machine saw one, is caught even if it re-signs everything.
//!
//! By default the log is read from the remembered record on (or from the start the first
//! time); `verify_all` reads and checks it from its first record.

pub mod verify;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chancery_protocol::audit_log::{AuditPage, Record};
use serde::Serialize;

use crate::archive::Archive;
use crate::config::Endpoint;
use crate::error::IntegrityError;
use crate::fsutil::write_atomic;
use verify::Verifier;

/// Where the records to show start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// From this sequence number.
    Seq(u64),
    /// From this time, unix milliseconds.
    TimeMs(u64),
}

impl std::str::FromStr for Since {
    type Err = String;

    /// A sequence number, or an RFC 3339 time.
    fn from_str(text: &str) -> Result<Since, String> {
        if let Ok(seq) = text.parse() {
            return Ok(Since::Seq(seq));
        }
        let time = humantime::parse_rfc3339_weak(text)
            .map_err(|_| format!("{text:?} is neither a record number nor an RFC 3339 time"))?;
        let ms = time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        Ok(Since::TimeMs(u64::try_from(ms).unwrap_or(u64::MAX)))
    }
}

/// What to read.
#[derive(Clone, Copy, Debug, Default)]
pub struct AuditLogOptions {
    /// Show records from here (all read records are checked anyway).
    pub since: Option<Since>,
    /// Read and check the whole log from its first record.
    pub verify_all: bool,
}

/// One record, for people and JSON.
#[derive(Clone, Debug, Serialize)]
pub struct RecordView {
    /// Position in the log.
    pub seq: u64,
    /// When the site answered (RFC 3339, UTC, milliseconds).
    pub time: String,
    /// The key the request claimed (hex), or `-`.
    pub key: String,
    /// The key's role for the tenant, or `-`.
    pub role: String,
    /// HTTP method.
    pub method: String,
    /// What was asked for below the tenant.
    pub object: String,
    /// Request body bytes.
    pub bytes_in: u64,
    /// Response body bytes.
    pub bytes_out: u64,
    /// HTTP status.
    pub status: u16,
}

/// A checked audit log.
#[derive(Clone, Debug, Serialize)]
pub struct AuditLogReport {
    /// The site.
    pub site: String,
    /// Our tenant there.
    pub tenant: String,
    /// The first record read and checked.
    pub checked_from: u64,
    /// How many records were read and checked.
    pub checked: usize,
    /// The newest record's sequence number (`None`: the log is empty).
    pub head: Option<u64>,
    /// The records asked for.
    pub records: Vec<RecordView>,
}

/// Reads and checks `site_name`'s audit log; an [`IntegrityError`] naming the site and the
/// first bad record when anything fails.
pub fn audit_log(archive: &Archive, site_name: &str, options: AuditLogOptions) -> Result<AuditLogReport> {
    let site = archive.site(site_name)?;
    let Endpoint::Server { site_key, tenant, .. } = &site.config.endpoint else {
        bail!("site {site_name} is a local folder, which keeps no audit log; only site servers do")
    };
    let server = site.server.as_ref().context("a site server without its client (this is a bug)")?;
    let site_key = chancery_protocol::parse_public_key("site key", site_key)?;
    let memory = Memory::new(&archive.state_dir(), site_name);
    let remembered = memory.load()?;
    let from = start(options, remembered.as_ref());
    let mut verifier = Verifier::new(site_name, tenant, site_key, from);
    loop {
        let text = server
            .audit_log_page(verifier.next())
            .with_context(|| format!("reading site {site_name}'s audit log"))?;
        let page = AuditPage::parse(&text).map_err(|e| IntegrityError {
            site: site_name.to_string(),
            object: format!("audit-log page from record {}", verifier.next()),
            detail: e.to_string(),
        })?;
        if verifier.page(page)? {
            break;
        }
    }
    let (records, head) = verifier.finish(remembered.as_ref())?;
    if let Some(newest) = records.last() {
        memory.save(newest)?;
    }
    let checked = records.len();
    let shown = records.iter().filter(|r| wanted(r, options.since)).map(view).collect();
    let (site, tenant) = (site_name.to_string(), tenant.clone());
    Ok(AuditLogReport {
        site,
        tenant,
        checked_from: from,
        checked,
        head: head.map(|h| h.seq),
        records: shown,
    })
}

/// The first record to read: the remembered one (to check it is still there), or earlier.
fn start(options: AuditLogOptions, remembered: Option<&Record>) -> u64 {
    let seen = remembered.map_or(0, |r| r.seq);
    match options.since {
        _ if options.verify_all => 0,
        Some(Since::Seq(seq)) if remembered.is_none() || seq < seen => seq,
        _ => seen,
    }
}

fn wanted(record: &Record, since: Option<Since>) -> bool {
    match since {
        None => true,
        Some(Since::Seq(seq)) => record.seq >= seq,
        Some(Since::TimeMs(ms)) => record.time_ms >= ms,
    }
}

fn view(record: &Record) -> RecordView {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(record.time_ms);
    RecordView {
        seq: record.seq,
        time: humantime::format_rfc3339_millis(time).to_string(),
        key: record.key.clone(),
        role: record.role.clone(),
        method: record.method.clone(),
        object: record.object.clone(),
        bytes_in: record.bytes_in,
        bytes_out: record.bytes_out,
        status: record.status,
    }
}

/// The newest record of a site's log that this machine checked.
struct Memory {
    path: PathBuf,
}

impl Memory {
    fn new(state_dir: &Path, site: &str) -> Memory {
        Memory { path: state_dir.join("audit-log").join("seen").join(site) }
    }

    fn load(&self) -> Result<Option<Record>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.path.display())),
        };
        let record = Record::parse(text.trim_end_matches('\n')).with_context(|| {
            format!("{} is damaged; remove it to check the site's log from its start", self.path.display())
        })?;
        Ok(Some(record))
    }

    fn save(&self, record: &Record) -> Result<()> {
        write_atomic(&self.path, format!("{}\n", record.line()).as_bytes())
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests;
