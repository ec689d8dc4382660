//! The one serialisation used inside encrypted records: postcard 1.x (its wire format is
//! specified and stable: varint integers, length-prefixed byte strings and sequences, enum
//! variants as varint indexes, struct fields in declaration order). FORMAT.md lists the fields.

use crate::error::FormatError;
use serde::{de::DeserializeOwned, Serialize};

/// Encodes a record. Encoding to a `Vec` cannot fail for our types.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("postcard encoding into a Vec does not fail")
}

/// Checks a record's leading version byte before decoding it, so that a record written by a
/// newer release is reported as such rather than as malformed (its fields may differ).
pub fn check_version(bytes: &[u8], what: &'static str, expected: u8) -> Result<(), FormatError> {
    match bytes.first() {
        Some(v) if *v == expected => Ok(()),
        Some(v) => Err(FormatError::UnsupportedVersion { what, version: *v }),
        None => Err(FormatError::Malformed { what, why: "empty record" }),
    }
}

/// Decodes a record that must fill `bytes` exactly.
pub fn decode_exact<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, FormatError> {
    let (value, rest) = postcard::take_from_bytes(bytes)
        .map_err(|_| FormatError::Malformed { what, why: "undecodable record" })?;
    if !rest.is_empty() {
        return Err(FormatError::Malformed { what, why: "trailing bytes after record" });
    }
    Ok(value)
}

/// Decodes a record followed by zero padding (padded records hide their exact length).
pub fn decode_padded<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, FormatError> {
    let (value, rest) = postcard::take_from_bytes(bytes)
        .map_err(|_| FormatError::Malformed { what, why: "undecodable record" })?;
    if rest.iter().any(|b| *b != 0) {
        return Err(FormatError::Malformed { what, why: "non-zero padding" });
    }
    Ok(value)
}
