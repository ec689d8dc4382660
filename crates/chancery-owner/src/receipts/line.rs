//! The bytes of the two files the owner keeps per site server (FORMAT.md §14.1): JSON lines,
//! each with a leading version `v`. Reading never fails as a whole: each line is taken, set
//! aside as written by a newer release, or skipped as unreadable (a line torn by a crash).

use chancery_protocol::receipt::Receipt;
use chancery_store::ObjectKind;
use serde::{Deserialize, Serialize};

/// Version of a line of a receipts file and of a sending file.
pub const RECEIPTS_VERSION: u32 = 1;

/// A receipts-file line: the site's receipt, field for field, after the version.
#[derive(Serialize, Deserialize)]
struct ReceiptLine {
    v: u32,
    tenant: String,
    kind: String,
    name: String,
    size: u64,
    stored_at: i64,
    site_key: String,
    signature: String,
}

/// A sending-file line: an object about to be sent.
#[derive(Serialize, Deserialize)]
struct SendingLine {
    v: u32,
    kind: String,
    name: String,
}

/// Only the version, to tell a newer release's line from a damaged one.
#[derive(Deserialize)]
struct VersionOnly {
    v: u32,
}

/// What one line of a receipts file holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A receipt of this version (not verified yet).
    Receipt(Receipt),
    /// A line of another version, which this release does not read.
    OtherVersion(u32),
    /// Not a line at all: torn by a crash, or damaged.
    Unreadable,
}

/// One receipt as a line, newline included: written with a single `write`, so a killed
/// process leaves either the whole line or nothing.
pub fn encode_receipt(r: &Receipt) -> Vec<u8> {
    let line = ReceiptLine {
        v: RECEIPTS_VERSION,
        tenant: r.tenant.clone(),
        kind: r.kind.clone(),
        name: r.name.clone(),
        size: r.size,
        stored_at: r.stored_at,
        site_key: r.site_key.clone(),
        signature: r.signature.clone(),
    };
    with_newline(serde_json::to_vec(&line))
}

/// An object about to be sent, as a line.
pub fn encode_sending(kind: ObjectKind, name: &str) -> Vec<u8> {
    let line = SendingLine { v: RECEIPTS_VERSION, kind: kind.dir_name().into(), name: name.into() };
    with_newline(serde_json::to_vec(&line))
}

fn with_newline(json: serde_json::Result<Vec<u8>>) -> Vec<u8> {
    let mut bytes = json.expect("plain structs always encode");
    bytes.push(b'\n');
    bytes
}

/// Reads one receipts-file line (without its newline).
pub fn parse_receipt(line: &[u8]) -> Parsed {
    match serde_json::from_slice::<ReceiptLine>(line) {
        Ok(l) if l.v == RECEIPTS_VERSION => Parsed::Receipt(Receipt {
            tenant: l.tenant,
            kind: l.kind,
            name: l.name,
            size: l.size,
            stored_at: l.stored_at,
            site_key: l.site_key,
            signature: l.signature,
        }),
        Ok(l) => Parsed::OtherVersion(l.v),
        Err(_) => match serde_json::from_slice::<VersionOnly>(line) {
            Ok(other) if other.v != RECEIPTS_VERSION => Parsed::OtherVersion(other.v),
            _ => Parsed::Unreadable,
        },
    }
}

/// Reads one sending-file line; `None` for anything but a version-1 line naming a known kind.
pub fn parse_sending(line: &[u8]) -> Option<(ObjectKind, String)> {
    let l: SendingLine = serde_json::from_slice(line).ok()?;
    (l.v == RECEIPTS_VERSION).then_some(())?;
    Some((kind_of(&l.kind)?, l.name))
}

/// The kind whose folder (and URL) name this is.
pub fn kind_of(dir_name: &str) -> Option<ObjectKind> {
    ObjectKind::ALL.into_iter().find(|k| k.dir_name() == dir_name)
}

/// The complete lines of a file, without their newlines. A last line with no newline was torn
/// by a crash while it was written, and is left out.
pub fn complete_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    lines_at(bytes).map(|(_, line)| line)
}

/// The complete, non-empty lines of a file, each with the offset where it starts.
pub fn lines_at(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut start = 0;
    std::iter::from_fn(move || loop {
        let len = bytes[start..].iter().position(|&b| b == b'\n')?;
        let line = (start, &bytes[start..start + len]);
        start += len + 1;
        if len > 0 {
            return Some(line);
        }
    })
}

/// Where the complete lines end: after the last newline.
pub fn complete_len(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    #[test]
    fn a_receipt_line_round_trips_and_starts_with_its_version() {
        let r = Receipt::sign(&SigningKey::from_bytes(&[1; 32]), "ee", "packs", "ab", 10, 5);
        let line = encode_receipt(&r);
        assert!(line.starts_with(b"{\"v\":1,\"tenant\":\"ee\",\"kind\":\"packs\""));
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(parse_receipt(&line[..line.len() - 1]), Parsed::Receipt(r));
    }

    #[test]
    fn other_versions_and_torn_lines_are_told_apart() {
        assert_eq!(parse_receipt(br#"{"v":2,"something":"else"}"#), Parsed::OtherVersion(2));
        assert_eq!(parse_receipt(br#"{"v":1,"tenant":"ee","ki"#), Parsed::Unreadable);
        assert_eq!(parse_receipt(b"\0\0\0"), Parsed::Unreadable);
        let lines: Vec<(usize, &[u8])> = lines_at(b"a\nb\n\nc").collect();
        assert_eq!(lines, [(0, &b"a"[..]), (2, b"b")]);
        assert_eq!(complete_lines(b"torn").count(), 0);
        assert_eq!((complete_len(b"a\nb\n\nc"), complete_len(b"torn")), (5, 0));
    }

    #[test]
    fn sending_lines_name_a_kind_and_an_object() {
        let line = encode_sending(ObjectKind::Index, "cd");
        assert_eq!(line, b"{\"v\":1,\"kind\":\"index\",\"name\":\"cd\"}\n");
        assert_eq!(parse_sending(&line[..line.len() - 1]), Some((ObjectKind::Index, "cd".into())));
        assert_eq!(parse_sending(br#"{"v":1,"kind":"nothing","name":"cd"}"#), None);
        assert_eq!(parse_sending(br#"{"v":2,"kind":"index","name":"cd"}"#), None);
    }
}
