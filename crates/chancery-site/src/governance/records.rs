//! The `meta` records of governance in a tenant's store, which only the site writes:
//!
//! | name | content |
//! |---|---|
//! | `proposal-<id>` | the proposal's text |
//! | `approval-<id>-<key16>` | one governor's signature line over the text |
//! | `cancel-<id>-<key16>` | one governor's signature line over the cancel text |
//! | `governance-locked-<id>` | JSON [`Lock`]: when the quorum was reached, when the lock ends |
//! | `governance-done-<id>` | JSON [`Done`]: executed or refused, when, what it did |
//! | `governance-settings-<20 digits>` | JSON [`Amended`]: the amendments in force from then on |
//!
//! Every record is written once (the store never overwrites), so the history stays.

use chancery_protocol::governance::{Stage, APPROVAL_PREFIX, CANCEL_PREFIX, PROPOSAL_PREFIX};
use chancery_store::{Backend, ObjectKind, StoreError};
use serde::{Deserialize, Serialize};

use super::rules::Amended;

pub(crate) const LOCKED_PREFIX: &str = "governance-locked-";
pub(crate) const DONE_PREFIX: &str = "governance-done-";
pub(crate) const SETTINGS_PREFIX: &str = "governance-settings-";

/// When a proposal reached its quorum at this site and when its lock ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lock {
    pub(crate) locked_at: i64,
    pub(crate) unlocks_at: i64,
}

/// A proposal's end: executed or refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Done {
    pub(crate) stage: Stage,
    pub(crate) done_at: i64,
    pub(crate) outcome: String,
}

pub(crate) fn proposal_name(id: &str) -> String {
    format!("{PROPOSAL_PREFIX}{id}")
}

pub(crate) fn approval_name(id: &str, key: &[u8; 32]) -> String {
    format!("{APPROVAL_PREFIX}{id}-{}", &hex::encode(key)[..16])
}

pub(crate) fn cancel_name(id: &str, key: &[u8; 32]) -> String {
    format!("{CANCEL_PREFIX}{id}-{}", &hex::encode(key)[..16])
}

pub(crate) fn locked_name(id: &str) -> String {
    format!("{LOCKED_PREFIX}{id}")
}

pub(crate) fn done_name(id: &str) -> String {
    format!("{DONE_PREFIX}{id}")
}

/// Writes a record durably; an existing one is left as it is.
pub(crate) fn write(backend: &dyn Backend, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    backend.put(ObjectKind::Meta, name, bytes)?;
    backend.sync()
}

/// Writes a JSON record durably.
pub(crate) fn write_json<T: Serialize>(
    backend: &dyn Backend,
    name: &str,
    value: &T,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(value).expect("records always encode");
    write(backend, name, &bytes)
}

/// Reads a JSON record; a damaged one is reported as corrupt.
pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(
    backend: &dyn Backend,
    name: &str,
) -> Result<Option<T>, StoreError> {
    match backend.get(ObjectKind::Meta, name) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| StoreError::Io {
            location: format!("{}/meta/{name}", backend.location()),
            context: "reading a governance record".into(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        }),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The amendments in force (the newest settings record) and how many records there are.
pub(crate) fn load_amended(backend: &dyn Backend) -> Result<(Amended, u64), StoreError> {
    let names: Vec<String> = backend
        .list(ObjectKind::Meta)?
        .into_iter()
        .map(|o| o.name)
        .filter(|n| n.starts_with(SETTINGS_PREFIX))
        .collect();
    let Some(newest) = names.last() else { return Ok((Amended::default(), 0)) };
    Ok((read_json(backend, newest)?.unwrap_or_default(), names.len() as u64))
}

/// Keeps `amended` as the settings record number `seq` (from 1).
pub(crate) fn save_amended(backend: &dyn Backend, seq: u64, amended: &Amended) -> Result<(), StoreError> {
    write_json(backend, &format!("{SETTINGS_PREFIX}{seq:020}"), amended)
}
