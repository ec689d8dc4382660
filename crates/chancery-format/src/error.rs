//! Errors of the format layer.
//!
//! Policy: every failure to parse or authenticate stored bytes is a [`FormatError`]; callers
//! treat [`FormatError::Authentication`] and [`FormatError::Malformed`] as possible tampering
//! and name the site and object they came from (this crate does not know either).

use thiserror::Error;

/// Why stored bytes could not be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The bytes do not have the expected structure.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// Which record.
        what: &'static str,
        /// What was wrong.
        why: &'static str,
    },
    /// A version this release cannot read (written by a newer release?).
    #[error("unsupported {what} version {version}; a newer Chancery may be needed")]
    UnsupportedVersion {
        /// Which record.
        what: &'static str,
        /// The version found.
        version: u8,
    },
    /// AEAD tag, keyed id or signature did not verify: corrupted or tampered bytes, or a wrong key.
    #[error("{what} failed authentication (corrupted, tampered with, or another key)")]
    Authentication {
        /// Which record.
        what: &'static str,
    },
    /// The password does not open this key file.
    #[error("wrong password")]
    WrongPassword,
    /// Sealed with a key generation that the opened key file does not hold: made after a
    /// rotation, read with a password whose key file predates it.
    #[error(
        "{what} is sealed with key generation {generation}, and this key file holds generations up to \
         {newest}: open the archive with a password added after the rotation"
    )]
    UnknownKeyGeneration {
        /// Which record.
        what: &'static str,
        /// Its generation.
        generation: u8,
        /// The newest generation held.
        newest: u8,
    },
}
