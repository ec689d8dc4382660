//! C2SP checkpoints (<https://c2sp.org/tlog-checkpoint>): the signed head of a log.
//!
//! The body (the note text) is
//!
//! ```text
//! <origin>\n
//! <tree size, decimal, no leading zeros>\n
//! <base64 (standard, padded) of the 32-byte RFC 9162 root hash>\n
//! [<extension line>\n ...]
//! ```
//!
//! Parsing is strict so that one tree head has exactly one body: a second spelling of the same
//! head would be a second thing to sign and to compare.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use thiserror::Error;

use crate::merkle::{Hash, HASH_LEN};

/// Why a checkpoint body was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CheckpointError {
    /// The body does not end in a newline.
    #[error("checkpoint body does not end in a newline")]
    NotTerminated,
    /// Fewer than the three mandatory lines.
    #[error("checkpoint has fewer than three lines")]
    TooFewLines,
    /// The origin line is empty.
    #[error("checkpoint origin is empty")]
    EmptyOrigin,
    /// A line holds an ASCII control character (forbidden in notes).
    #[error("checkpoint contains a control character")]
    ControlCharacter,
    /// The size is not decimal digits without leading zeros, or does not fit 64 bits.
    #[error("checkpoint tree size is not a canonical decimal number")]
    BadSize,
    /// The root hash is not canonical standard base64.
    #[error("checkpoint root hash is not base64")]
    RootNotBase64,
    /// The root hash does not decode to 32 bytes.
    #[error("checkpoint root hash is {0} bytes, expected {HASH_LEN}")]
    RootLength(usize),
    /// An extension line is empty (a blank line would also end the note text).
    #[error("checkpoint extension line is empty")]
    EmptyExtension,
}

/// A log's tree head: its origin, size and root hash, and any extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        check_line(origin, CheckpointError::EmptyOrigin)?;
        Ok(Checkpoint { origin: origin.to_owned(), size, root, extensions: Vec::new() })
    }

    /// Adds extension lines (non-empty, no control characters, no newline).
    pub fn with_extensions(mut self, extensions: Vec<String>) -> Result<Self, CheckpointError> {
        for line in &extensions {
            check_line(line, CheckpointError::EmptyExtension)?;
        }
        self.extensions = extensions;
        Ok(self)
    }

    /// Parses a body (the note text, final newline included).
    pub fn parse(body: &str) -> Result<Self, CheckpointError> {
        let lines = body.strip_suffix('\n').ok_or(CheckpointError::NotTerminated)?;
        let mut lines = lines.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(CheckpointError::TooFewLines);
        };
        let checkpoint = Checkpoint::new(origin, parse_size(size)?, parse_root(root)?)?;
        checkpoint.with_extensions(lines.map(str::to_owned).collect())
    }

    /// The body: the lines above, each ending in a newline.
    pub fn format(&self) -> String {
        let mut out = format!("{}\n{}\n{}\n", self.origin, self.size, BASE64.encode(self.root));
        for line in &self.extensions {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// The log's identity.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 9162 root hash of the first `size` leaves.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The extension lines, without newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }
}

/// A line of the body: non-empty, no control characters (so no newline either).
fn check_line(line: &str, if_empty: CheckpointError) -> Result<(), CheckpointError> {
    if line.is_empty() {
        return Err(if_empty);
    }
    if line.bytes().any(|b| b < 0x20) {
        return Err(CheckpointError::ControlCharacter);
    }
    Ok(())
}

/// Decimal digits only, `0` or no leading zero, at most `u64::MAX`.
fn parse_size(text: &str) -> Result<u64, CheckpointError> {
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (text.len() > 1 && text.starts_with('0')) {
        return Err(CheckpointError::BadSize);
    }
    text.parse().map_err(|_| CheckpointError::BadSize)
}

fn parse_root(text: &str) -> Result<Hash, CheckpointError> {
    let bytes = BASE64.decode(text).map_err(|_| CheckpointError::RootNotBase64)?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| CheckpointError::RootLength(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT_B64: &str = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";

    #[test]
    fn round_trip_with_extensions() {
        let body = format!("example.com/log\n42\n{ROOT_B64}\next one\next two\n");
        let checkpoint = Checkpoint::parse(&body).unwrap();
        assert_eq!(checkpoint.origin(), "example.com/log");
        assert_eq!(checkpoint.size(), 42);
        assert_eq!(checkpoint.extensions(), ["ext one", "ext two"]);
        assert_eq!(checkpoint.format(), body);
    }

    #[test]
    fn size_zero_and_max() {
        for size in ["0", "18446744073709551615"] {
            let body = format!("o\n{size}\n{ROOT_B64}\n");
            assert_eq!(Checkpoint::parse(&body).unwrap().format(), body);
        }
    }

    #[test]
    fn failures_are_typed() {
        let r = ROOT_B64;
        let cases = [
            (format!("o\n1\n{r}"), CheckpointError::NotTerminated),
            ("o\n1\n".to_owned(), CheckpointError::TooFewLines),
            ("".to_owned(), CheckpointError::NotTerminated),
            (format!("\n1\n{r}\n"), CheckpointError::EmptyOrigin),
            (format!("o\r\n1\n{r}\n"), CheckpointError::ControlCharacter),
            (format!("o\n01\n{r}\n"), CheckpointError::BadSize),
            (format!("o\n00\n{r}\n"), CheckpointError::BadSize),
            (format!("o\n+1\n{r}\n"), CheckpointError::BadSize),
            (format!("o\n-1\n{r}\n"), CheckpointError::BadSize),
            (format!("o\n\n{r}\n"), CheckpointError::BadSize),
            (format!("o\n1 \n{r}\n"), CheckpointError::BadSize),
            (format!("o\n18446744073709551616\n{r}\n"), CheckpointError::BadSize),
            ("o\n1\nnot base64!\n".to_owned(), CheckpointError::RootNotBase64),
            (format!("o\n1\n{}\n", r.trim_end_matches('=')), CheckpointError::RootNotBase64),
            ("o\n1\nAAAA\n".to_owned(), CheckpointError::RootLength(3)),
            (format!("o\n1\n{r}\n\n"), CheckpointError::EmptyExtension),
            (format!("o\n1\n{r}\next\n\n"), CheckpointError::EmptyExtension),
            (format!("o\n1\n{r}\ne\u{1}\n"), CheckpointError::ControlCharacter),
        ];
        for (body, want) in cases {
            assert_eq!(Checkpoint::parse(&body), Err(want), "{body:?}");
        }
    }

    #[test]
    fn constructors_check_lines() {
        assert_eq!(Checkpoint::new("", 0, [0; 32]), Err(CheckpointError::EmptyOrigin));
        assert_eq!(Checkpoint::new("a\nb", 0, [0; 32]), Err(CheckpointError::ControlCharacter));
        let c = Checkpoint::new("a", 0, [0; 32]).unwrap();
        assert_eq!(c.clone().with_extensions(vec![String::new()]), Err(CheckpointError::EmptyExtension));
        assert_eq!(c.with_extensions(vec!["x\ny".into()]), Err(CheckpointError::ControlCharacter));
    }
}
