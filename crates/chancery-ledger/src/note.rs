//! C2SP signed notes (<https://c2sp.org/signed-note>): text signed by one or more keys.
//!
//! ```text
//! <text, ending in a newline>
//! <blank line>
//! — <key name> <base64(4-byte key ID || signature)>
//! — ...
//! ```
//!
//! The whole note is UTF-8 with no control character but the newline. The text is separated
//! from the signatures by the *last* blank line, so the text may itself contain blank lines.
//! Parsing checks the syntax only; [`open`] and [`Note::verify`] check signatures against a set
//! of known keys: lines of unknown keys are ignored, a bad signature of a known key rejects the
//! whole note, and a note with no verified signature is rejected.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::Signature;
use std::collections::HashSet;
use thiserror::Error;

use crate::cosignature;
use crate::key::{check_name, KeyError, KeyType, VerifierKey};

/// At most this many signature lines are read, so that a note cannot make a verifier spend
/// unbounded time (C2SP asks for at least 16; this matches Go's `sumdb/note`).
pub const MAX_SIGNATURES: usize = 100;

/// Starts every signature line: an em dash (U+2014) and a space.
pub const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a note was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NoteError {
    /// The note is not UTF-8.
    #[error("note is not UTF-8")]
    NotUtf8,
    /// The note holds an ASCII control character other than the newline.
    #[error("note contains a control character")]
    ControlCharacter,
    /// The text is empty or does not end in a newline.
    #[error("note text does not end in a newline")]
    TextNotTerminated,
    /// There is no blank line followed by at least one newline-terminated signature line.
    #[error("note has no signature block")]
    NoSignatureBlock,
    /// A signature line does not start with the em dash and a space.
    #[error("signature line does not start with an em dash")]
    MissingDash,
    /// A signature line's key name is not valid.
    #[error("signature line has a bad key name: {0}")]
    BadKeyName(KeyError),
    /// A signature line's payload is not canonical standard base64 of at least 5 bytes.
    #[error("signature line payload is not base64 of a key ID and a signature")]
    BadPayload,
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// Two known keys have the same name and key ID, so a line cannot be attributed.
    #[error("two known keys are both {name}+{key_id:08x}")]
    AmbiguousKey {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
    /// A known key's signature does not verify: the note was altered, or forged.
    #[error("signature of known key {name}+{key_id:08x} does not verify")]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
    /// No signature of a known key is on the note.
    #[error("note has no signature from a known key")]
    NoKnownSignature,
}

/// One signature line: the key's name and ID, and the signature bytes after the key ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLine {
    /// The key name.
    pub name: String,
    /// The key ID (the first 4 bytes of the base64 payload, big-endian).
    pub key_id: u32,
    /// The rest of the payload: an Ed25519 signature, or a timestamped cosignature.
    pub signature: Vec<u8>,
}

impl SignatureLine {
    /// `— <name> <base64(key ID || signature)>\n`.
    pub fn format(&self) -> String {
        let mut payload = self.key_id.to_be_bytes().to_vec();
        payload.extend_from_slice(&self.signature);
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, BASE64.encode(payload))
    }

    /// Parses one line without its newline.
    pub fn parse(line: &str) -> Result<Self, NoteError> {
        let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or(NoteError::MissingDash)?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::BadPayload)?;
        check_name(name).map_err(NoteError::BadKeyName)?;
        let payload = BASE64.decode(b64).map_err(|_| NoteError::BadPayload)?;
        // A key ID and a signature of at least one byte.
        let Some((id, signature)) = payload.split_first_chunk::<4>().filter(|(_, sig)| !sig.is_empty())
        else {
            return Err(NoteError::BadPayload);
        };
        Ok(SignatureLine {
            name: name.to_owned(),
            key_id: u32::from_be_bytes(*id),
            signature: signature.to_vec(),
        })
    }
}

/// A key whose signature on a note verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The known key.
    pub key: VerifierKey,
    /// For a cosignature, the time it states (Unix seconds).
    pub timestamp: Option<u64>,
}

/// A note: text and signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<SignatureLine>,
}

impl Note {
    /// A note with `text` (which must end in a newline) and no signature yet.
    pub fn new(text: impl Into<String>) -> Result<Self, NoteError> {
        let text = text.into();
        check_characters(&text)?;
        if !text.ends_with('\n') {
            return Err(NoteError::TextNotTerminated);
        }
        Ok(Note { text, signatures: Vec::new() })
    }

    /// Parses a signed note's syntax; signatures are not verified (see [`Note::verify`]).
    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        let all = std::str::from_utf8(bytes).map_err(|_| NoteError::NotUtf8)?;
        check_characters(all)?;
        let split = all.rfind("\n\n").ok_or(NoteError::NoSignatureBlock)?;
        let (text, block) = (&all[..split + 1], &all[split + 2..]);
        if block.is_empty() || !block.ends_with('\n') {
            return Err(NoteError::NoSignatureBlock);
        }
        let lines: Vec<&str> = block[..block.len() - 1].split('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let signatures = lines.into_iter().map(SignatureLine::parse).collect::<Result<_, _>>()?;
        Ok(Note { text: text.to_owned(), signatures })
    }

    /// The text, with its final newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[SignatureLine] {
        &self.signatures
    }

    /// Appends a signature line, replacing an earlier one of the same key (name and ID).
    pub fn add_signature(&mut self, line: SignatureLine) -> Result<(), NoteError> {
        self.signatures.retain(|s| s.name != line.name || s.key_id != line.key_id);
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        self.signatures.push(line);
        Ok(())
    }

    /// The encoded note: text, blank line, signature lines. A note with no signature encodes
    /// to something [`Note::parse`] refuses; sign it first.
    pub fn format(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for line in &self.signatures {
            out.push_str(&line.format());
        }
        out
    }

    /// Verifies every signature line of a key in `known` and returns those keys, each once,
    /// in the order of their first line. Lines of other keys are ignored.
    pub fn verify(&self, known: &[VerifierKey]) -> Result<Vec<Verified>, NoteError> {
        check_unambiguous(known)?;
        let mut verified: Vec<Verified> = Vec::new();
        for line in &self.signatures {
            let Some(key) = known.iter().find(|k| k.matches(line)) else { continue };
            let timestamp = verify_line(key, &self.text, line)?;
            if !verified.iter().any(|v| v.key == *key) {
                verified.push(Verified { key: key.clone(), timestamp });
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoKnownSignature);
        }
        Ok(verified)
    }
}

/// Parses a signed note and verifies it against `known` (see [`Note::verify`]).
pub fn open(bytes: &[u8], known: &[VerifierKey]) -> Result<(Note, Vec<Verified>), NoteError> {
    let note = Note::parse(bytes)?;
    let verified = note.verify(known)?;
    Ok((note, verified))
}

/// Checks one line of a known key; returns the cosignature's timestamp, if it is one.
fn verify_line(key: &VerifierKey, text: &str, line: &SignatureLine) -> Result<Option<u64>, NoteError> {
    let invalid = || NoteError::InvalidSignature { name: line.name.clone(), key_id: line.key_id };
    match key.kind() {
        KeyType::Ed25519 => {
            let signature = Signature::from_slice(&line.signature).map_err(|_| invalid())?;
            // Strict verification refuses malleable and small-order signatures and keys.
            key.public().verify_strict(text.as_bytes(), &signature).map_err(|_| invalid())?;
            Ok(None)
        }
        KeyType::CosignatureV1 => {
            let timestamp =
                cosignature::verify(key.public(), text, &line.signature).map_err(|_| invalid())?;
            Ok(Some(timestamp))
        }
    }
}

fn check_unambiguous(known: &[VerifierKey]) -> Result<(), NoteError> {
    let mut seen = HashSet::new();
    for key in known {
        if !seen.insert((key.name(), key.key_id())) {
            return Err(NoteError::AmbiguousKey { name: key.name().to_owned(), key_id: key.key_id() });
        }
    }
    Ok(())
}

/// No ASCII control characters other than the newline.
fn check_characters(s: &str) -> Result<(), NoteError> {
    if s.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::ControlCharacter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::NoteSigner;
    use ed25519_dalek::SigningKey;

    const TEXT: &str = "hello\n\nworld\n";

    fn signer(name: &str, seed: u8) -> NoteSigner {
        NoteSigner::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    fn signed(signers: &[&NoteSigner]) -> String {
        let mut note = Note::new(TEXT).unwrap();
        for s in signers {
            note.add_signature(s.sign(TEXT)).unwrap();
        }
        note.format()
    }

    #[test]
    fn sign_parse_verify_round_trip() {
        let (a, b) = (signer("a", 1), signer("b", 2));
        let bytes = signed(&[&a, &b]);
        let (note, verified) = open(bytes.as_bytes(), &[b.verifier_key()]).unwrap();
        assert_eq!(note.text(), TEXT);
        assert_eq!(note.signatures().len(), 2);
        assert_eq!(verified, vec![Verified { key: b.verifier_key(), timestamp: None }]);
        assert_eq!(note.format(), bytes);
    }

    #[test]
    fn syntax_failures_are_typed() {
        let line = signer("a", 1).sign(TEXT).format();
        let cases: Vec<(Vec<u8>, NoteError)> = vec![
            (b"\xff\n\n".to_vec(), NoteError::NotUtf8),
            (format!("a\rb\n\n{line}").into_bytes(), NoteError::ControlCharacter),
            (format!("a\tb\n\n{line}").into_bytes(), NoteError::ControlCharacter),
            (format!("x\n{line}").into_bytes(), NoteError::NoSignatureBlock),
            (format!("{TEXT}\n").into_bytes(), NoteError::NoSignatureBlock),
            (format!("{TEXT}\n{}", line.trim_end()).into_bytes(), NoteError::NoSignatureBlock),
            (format!("{TEXT}\n{line}other\n").into_bytes(), NoteError::MissingDash),
            (format!("{TEXT}\n- a AAAAAAA=\n").into_bytes(), NoteError::MissingDash),
            (format!("{TEXT}\n\u{2014} a\n").into_bytes(), NoteError::BadPayload),
            (format!("{TEXT}\n\u{2014} a AAAA\n").into_bytes(), NoteError::BadPayload),
            (format!("{TEXT}\n\u{2014} a AAAAAA\n").into_bytes(), NoteError::BadPayload),
            (format!("{TEXT}\n\u{2014} a AAAAAAB=\n").into_bytes(), NoteError::BadPayload),
            (
                format!("{TEXT}\n\u{2014} a+b AAAAAAA=\n").into_bytes(),
                NoteError::BadKeyName(KeyError::BadNameCharacter),
            ),
            (
                format!("{TEXT}\n\u{2014}  AAAAAAA=\n").into_bytes(),
                NoteError::BadKeyName(KeyError::EmptyName),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(Note::parse(&bytes), Err(want), "{:?}", String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn at_most_max_signatures() {
        let line = signer("a", 1).sign(TEXT).format();
        let many = |n: usize| format!("{TEXT}\n{}", line.repeat(n));
        assert_eq!(Note::parse(many(MAX_SIGNATURES).as_bytes()).unwrap().signatures().len(), MAX_SIGNATURES);
        assert_eq!(Note::parse(many(MAX_SIGNATURES + 1).as_bytes()), Err(NoteError::TooManySignatures));
    }

    #[test]
    fn new_refuses_bad_text() {
        assert_eq!(Note::new("no newline"), Err(NoteError::TextNotTerminated));
        assert_eq!(Note::new(""), Err(NoteError::TextNotTerminated));
        assert_eq!(Note::new("a\u{7}\n"), Err(NoteError::ControlCharacter));
    }

    #[test]
    fn known_key_with_bad_signature_rejects_note() {
        let a = signer("a", 1);
        let mut note = Note::new(TEXT).unwrap();
        note.add_signature(a.sign(TEXT)).unwrap();
        let mut forged = a.sign("other\n");
        forged.name = "a".into();
        note.signatures.push(forged);
        let err = note.verify(&[a.verifier_key()]);
        assert_eq!(
            err,
            Err(NoteError::InvalidSignature { name: "a".into(), key_id: a.verifier_key().key_id() })
        );
    }

    #[test]
    fn unknown_keys_are_ignored_but_one_is_needed() {
        let (a, b) = (signer("a", 1), signer("b", 2));
        let bytes = signed(&[&a]);
        assert_eq!(open(bytes.as_bytes(), &[b.verifier_key()]), Err(NoteError::NoKnownSignature));
        assert_eq!(open(bytes.as_bytes(), &[]), Err(NoteError::NoKnownSignature));
        // Same name, other key (so another ID): not this key's line.
        let a2 = signer("a", 3);
        assert_eq!(open(bytes.as_bytes(), &[a2.verifier_key()]), Err(NoteError::NoKnownSignature));
    }

    #[test]
    fn duplicate_known_keys_are_ambiguous() {
        let a = signer("a", 1);
        let bytes = signed(&[&a]);
        let err = open(bytes.as_bytes(), &[a.verifier_key(), a.verifier_key()]);
        assert!(matches!(err, Err(NoteError::AmbiguousKey { .. })));
    }

    #[test]
    fn add_signature_replaces_same_key() {
        let a = signer("a", 1);
        let mut note = Note::new(TEXT).unwrap();
        note.add_signature(SignatureLine {
            name: "a".into(),
            key_id: a.verifier_key().key_id(),
            signature: vec![0],
        })
        .unwrap();
        note.add_signature(a.sign(TEXT)).unwrap();
        assert_eq!(note.signatures(), &[a.sign(TEXT)]);
    }

    #[test]
    fn blank_lines_in_text_survive() {
        let a = signer("a", 1);
        let text = "a\n\n\n";
        let mut note = Note::new(text).unwrap();
        note.add_signature(a.sign(text)).unwrap();
        let (parsed, _) = open(note.format().as_bytes(), &[a.verifier_key()]).unwrap();
        assert_eq!(parsed.text(), text);
    }
}
