//! The site audit log's records (FORMAT.md §19): one line of text per request a site served
//! for a tenant, hash-chained to the line before it and signed with the site key.
//!
//! Both sides use this module: the site builds, signs and chains records; the owner parses
//! and verifies them against the pinned site key. A record has exactly one spelling: a line
//! is accepted only if formatting what was parsed gives back the same bytes, so that the
//! hash of a line is the hash of the record.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use thiserror::Error;

/// The first line of a stored audit log and of the `GET …/audit-log` answer.
pub const AUDIT_LOG_HEADER: &str = "chancery-audit-log v1";
/// The line that carries the site-signed head (the newest record) in an answer.
pub const HEAD_PREFIX: &str = "head ";
/// Signed before the record's fields (domain separation from receipts and notes).
pub const SIGNING_CONTEXT: &[u8] = b"chancery-audit-record-v1\n";
/// The BLAKE3 key-derivation context of a record's chain hash.
pub const HASH_CONTEXT: &str = "chancery 2026 audit-log record v1";
/// The `prev` of record 0.
pub const GENESIS: [u8; 32] = [0; 32];
/// Longest `object` field kept; longer paths are cut (a log line must stay small).
pub const MAX_OBJECT_LEN: usize = 512;
/// Spelled for "no key" (an unsigned request) and "no role".
pub const NONE: &str = "-";

/// One request, as the site logged it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Position in the tenant's log, from 0, without gaps.
    pub seq: u64,
    /// When the site answered, unix milliseconds.
    pub time_ms: u64,
    /// The tenant whose log this is.
    pub tenant: String,
    /// Hex of the Ed25519 key the request claimed to be signed by, or `-`.
    pub key: String,
    /// The key's roles for the tenant, comma-separated (`writer,reader,auditor`), or `-` for a
    /// key that has none there.
    pub role: String,
    /// HTTP method.
    pub method: String,
    /// What the request named below the tenant (`packs/<id>`, `sync`, `audit-log`), or `-`.
    pub object: String,
    /// Request body bytes.
    pub bytes_in: u64,
    /// Response body bytes.
    pub bytes_out: u64,
    /// HTTP status of the answer.
    pub status: u16,
    /// Chain hash of the record before (all zero for record 0).
    pub prev: [u8; 32],
    /// The site key's Ed25519 signature over [`SIGNING_CONTEXT`] and the fields before it.
    pub signature: [u8; 64],
}

/// Why a line is not a valid record.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RecordError {
    /// Not 12 space-separated fields of the right forms, or not in canonical spelling.
    #[error("malformed record: {0}")]
    Malformed(&'static str),
    /// The site key's signature does not verify.
    #[error("the site's signature does not verify")]
    BadSignature,
}

impl Record {
    /// The fields that are signed, space-separated (the line without its signature).
    pub fn body(&self) -> String {
        format!(
            "{} {} {} {} {} {} {} {} {} {} {}",
            self.seq,
            self.time_ms,
            self.tenant,
            self.key,
            self.role,
            self.method,
            self.object,
            self.bytes_in,
            self.bytes_out,
            self.status,
            hex::encode(self.prev)
        )
    }

    /// The record as one line, without its newline.
    pub fn line(&self) -> String {
        format!("{} {}", self.body(), hex::encode(self.signature))
    }

    /// Signs the record with the site key (the signature field is replaced).
    pub fn sign(&mut self, site_key: &SigningKey) {
        self.signature = site_key.sign(&signed_message(&self.body())).to_bytes();
    }

    /// Whether the site key signed this record.
    pub fn verify(&self, site_key: &[u8; 32]) -> Result<(), RecordError> {
        let key = VerifyingKey::from_bytes(site_key).map_err(|_| RecordError::BadSignature)?;
        let signature = Signature::from_bytes(&self.signature);
        key.verify(&signed_message(&self.body()), &signature).map_err(|_| RecordError::BadSignature)
    }

    /// The chain hash of this record: what the next record's `prev` must be.
    pub fn hash(&self) -> [u8; 32] {
        chain_hash(&self.line())
    }

    /// Parses one line (without its newline), in its canonical spelling only.
    pub fn parse(line: &str) -> Result<Record, RecordError> {
        let fields: Vec<&str> = line.split(' ').collect();
        let [seq, time, tenant, key, role, method, object, bytes_in, bytes_out, status, prev, sig] =
            fields[..]
        else {
            return Err(RecordError::Malformed("not 12 space-separated fields"));
        };
        let record = Record {
            seq: number(seq)?,
            time_ms: number(time)?,
            tenant: checked(tenant, crate::valid_tenant, "tenant")?,
            key: checked(key, |k| k == NONE || is_lower_hex(k, 64), "key")?,
            role: checked(role, valid_roles, "role")?,
            method: checked(method, |m| word(m, |b| b.is_ascii_uppercase()), "method")?,
            object: checked(object, valid_object, "object")?,
            bytes_in: number(bytes_in)?,
            bytes_out: number(bytes_out)?,
            status: u16::try_from(number(status)?)
                .ok()
                .filter(|s| (100..=599).contains(s))
                .ok_or(RecordError::Malformed("status"))?,
            prev: fixed_hex(prev, "prev")?,
            signature: fixed_hex(sig, "signature")?,
        };
        if record.line() != line {
            return Err(RecordError::Malformed("not in canonical spelling"));
        }
        Ok(record)
    }
}

/// The bytes the site signs for a record whose signed fields are `body`.
fn signed_message(body: &str) -> Vec<u8> {
    [SIGNING_CONTEXT, body.as_bytes()].concat()
}

/// The chain hash of a record's line (BLAKE3 in key-derivation mode, so that it can never
/// equal any other hash the project computes).
pub fn chain_hash(line: &str) -> [u8; 32] {
    blake3::derive_key(HASH_CONTEXT, line.as_bytes())
}

/// A request path's part below the tenant, made safe for a record: printable ASCII without
/// spaces, at most [`MAX_OBJECT_LEN`] characters; `-` when empty.
pub fn object_field(rest: &str) -> String {
    let safe: String =
        rest.chars().take(MAX_OBJECT_LEN).map(|c| if c.is_ascii_graphic() { c } else { '?' }).collect();
    if safe.is_empty() {
        NONE.to_string()
    } else {
        safe
    }
}

fn valid_object(object: &str) -> bool {
    !object.is_empty() && object.len() <= MAX_OBJECT_LEN && object.bytes().all(|b| b.is_ascii_graphic())
}

/// `-`, or role names (lower-case letters) joined by commas, as `writer,reader,auditor`.
fn valid_roles(text: &str) -> bool {
    text == NONE || (text.len() <= 64 && text.split(',').all(|r| word(r, |b| b.is_ascii_lowercase())))
}

fn word(text: &str, allowed: impl Fn(u8) -> bool) -> bool {
    (1..=16).contains(&text.len()) && text.bytes().all(allowed)
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn number(text: &str) -> Result<u64, RecordError> {
    // Canonical: digits only, no sign, no leading zero (checked again by re-formatting).
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RecordError::Malformed("number"));
    }
    text.parse().map_err(|_| RecordError::Malformed("number"))
}

fn checked(text: &str, valid: impl Fn(&str) -> bool, what: &'static str) -> Result<String, RecordError> {
    if valid(text) {
        Ok(text.to_string())
    } else {
        Err(RecordError::Malformed(what))
    }
}

fn fixed_hex<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N], RecordError> {
    let mut out = [0u8; N];
    if !is_lower_hex(text, 2 * N) {
        return Err(RecordError::Malformed(what));
    }
    hex::decode_to_slice(text, &mut out).map_err(|_| RecordError::Malformed(what))?;
    Ok(out)
}

/// An answer of `GET …/audit-log`, parsed but not verified: the record lines in order, and
/// the head line if the log is not empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditPage {
    /// The records, from the one asked for on, parsed one by one (a bad line stays an error,
    /// so that the caller can name the first bad record).
    pub records: Vec<Result<Record, RecordError>>,
    /// The newest record of the log as the site signed it; `None` for an empty log.
    pub head: Option<Result<Record, RecordError>>,
}

/// Why an answer is not an audit-log page at all.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PageError {
    /// The first line is not [`AUDIT_LOG_HEADER`] (another version, or not a log).
    #[error("not an audit log of version 1 (first line {0:?})")]
    Header(String),
    /// A line after the head, or a missing final newline.
    #[error("malformed audit-log answer: {0}")]
    Layout(&'static str),
}

impl AuditPage {
    /// Parses an answer: the header line, record lines, then at most one head line; every
    /// line ends with a newline.
    pub fn parse(text: &str) -> Result<AuditPage, PageError> {
        let Some(body) = text.strip_suffix('\n') else {
            return Err(PageError::Layout("no final newline"));
        };
        let mut lines = body.split('\n');
        let header = lines.next().unwrap_or_default();
        if header != AUDIT_LOG_HEADER {
            return Err(PageError::Header(header.chars().take(40).collect()));
        }
        let mut page = AuditPage { records: Vec::new(), head: None };
        for line in lines {
            if page.head.is_some() {
                return Err(PageError::Layout("a line after the head"));
            }
            match line.strip_prefix(HEAD_PREFIX) {
                Some(head) => page.head = Some(Record::parse(head)),
                None => page.records.push(Record::parse(line)),
            }
        }
        Ok(page)
    }

    /// Formats record lines and the head line as an answer (the site's side).
    pub fn format<'a>(records: impl IntoIterator<Item = &'a str>, head: Option<&str>) -> String {
        let mut text = format!("{AUDIT_LOG_HEADER}\n");
        for line in records {
            text.push_str(line);
            text.push('\n');
        }
        if let Some(head) = head {
            text.push_str(HEAD_PREFIX);
            text.push_str(head);
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests;
