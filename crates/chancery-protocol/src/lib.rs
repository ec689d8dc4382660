//! The wire contract between an owner and a site server, shared by both sides so that they
//! cannot drift apart: URL layout, signed requests, signed receipts, TLS pinned to the site's
//! Ed25519 key (no certificate authority involved), and proofs of storage.
//!
//! Deliberately left out: HTTP clients and servers, storage, and anything that could decrypt
//! an owner's data. A site links this crate and never `chancery-format`.
#![warn(missing_docs)]

pub mod audit_log;
pub mod auth;
pub mod governance;
pub mod listing;
pub mod proof;
pub mod receipt;
pub mod tls;

use thiserror::Error;

/// Version prefix of every API path.
pub const API_PREFIX: &str = "/v1";

/// The object namespaces of a tenant, as they appear in URLs (same names as on disk).
pub const KINDS: [&str; 6] = ["packs", "index", "snapshots", "keys", "meta", "ledger"];

/// Kinds whose object name must be the BLAKE3 hash of the body (checked by the site).
pub const CONTENT_ADDRESSED: [&str; 5] = ["packs", "index", "snapshots", "keys", "ledger"];

/// Path of one object: `/v1/tenants/{tenant}/{kind}/{name}`.
pub fn object_path(tenant: &str, kind: &str, name: &str) -> String {
    format!("{API_PREFIX}/tenants/{tenant}/{kind}/{name}")
}

/// Path of a proof of storage (`proof`): bytes `start..start + len` of one object,
/// `/v1/tenants/{tenant}/{kind}/{name}/proof/{start}/{len}`.
pub fn proof_path(tenant: &str, kind: &str, name: &str, start: u64, len: u64) -> String {
    format!("{}/proof/{start}/{len}", object_path(tenant, kind, name))
}

/// Path of a kind's listing: `/v1/tenants/{tenant}/{kind}`.
pub fn list_path(tenant: &str, kind: &str) -> String {
    format!("{API_PREFIX}/tenants/{tenant}/{kind}")
}

/// Path of the durability barrier: `POST /v1/tenants/{tenant}/sync`.
pub fn sync_path(tenant: &str) -> String {
    format!("{API_PREFIX}/tenants/{tenant}/sync")
}

/// Path of the witness's `add-checkpoint`: `POST /v1/tenants/{tenant}/add-checkpoint`.
pub fn add_checkpoint_path(tenant: &str) -> String {
    format!("{API_PREFIX}/tenants/{tenant}/add-checkpoint")
}

/// Path of the newest checkpoint the site cosigned: `GET /v1/tenants/{tenant}/checkpoint`.
pub fn checkpoint_path(tenant: &str) -> String {
    format!("{API_PREFIX}/tenants/{tenant}/checkpoint")
}

/// Path of the site's audit log of the tenant: `GET /v1/tenants/{tenant}/audit-log`, with
/// `?since=<seq>` for the records from that sequence number on.
pub fn audit_log_path(tenant: &str, since: u64) -> String {
    format!("{API_PREFIX}/tenants/{tenant}/audit-log?since={since}")
}

/// Names of the `meta` objects holding sealed segments of a tenant's audit log at a site
/// server start with this; the rest is the first record's sequence number in 20 digits.
/// Only the site writes them.
pub const AUDIT_SEGMENT_PREFIX: &str = "audit-log-";

/// The `meta` object name of the audit-log segment whose first record is `seq`.
pub fn audit_segment_name(seq: u64) -> String {
    format!("{AUDIT_SEGMENT_PREFIX}{seq:020}")
}

/// Names of the `meta` objects holding a tenant's witnessed checkpoints start with this; the
/// rest is the tree size in 20 digits, so the newest sorts last. At a site server only the
/// site writes them; in a local folder, the owner.
pub const WITNESS_CHECKPOINT_PREFIX: &str = "witness-checkpoint-";

/// Prefix of the `meta` objects by which an owner registers a recovery key at a site
/// (`recovery-key-<64 hex digits of the Ed25519 public key>`); the site admits that key to
/// read key files, ledger and meta of the tenant.
pub const RECOVERY_KEY_PREFIX: &str = "recovery-key-";

/// The `meta` object name of the witnessed checkpoint of `size` leaves.
pub fn witness_checkpoint_name(size: u64) -> String {
    format!("{WITNESS_CHECKPOINT_PREFIX}{size:020}")
}

/// A public key that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{what} must be 64 hex digits (an Ed25519 public key), got {got:?}")]
pub struct BadKey {
    /// Which key.
    pub what: &'static str,
    /// What was given (truncated).
    pub got: String,
}

/// Parses a 64-hex-digit Ed25519 public key (owner key or site key).
pub fn parse_public_key(what: &'static str, text: &str) -> Result<[u8; 32], BadKey> {
    let mut key = [0u8; 32];
    let text = text.trim();
    let bad = || BadKey { what, got: text.chars().take(80).collect() };
    hex::decode_to_slice(text, &mut key).map_err(|_| bad())?;
    ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|_| bad())?;
    Ok(key)
}

/// Whether a tenant name is safe in a URL and a folder name.
pub fn valid_tenant(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}
