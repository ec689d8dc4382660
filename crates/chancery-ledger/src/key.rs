//! Key names, key IDs and verifier keys of C2SP signed-note
//! (<https://c2sp.org/signed-note>), and the Ed25519 note signer.
//!
//! A key is known to a verifier by its name and a 4-byte key ID,
//! `SHA-256(name || 0x0A || type || public key)[:4]`. The type byte separates uses of one key:
//! `0x01` signs note text directly, `0x04` makes timestamped checkpoint cosignatures
//! ([`crate::cosignature`]). A verifier key (vkey) is the text form
//! `<name>+<8 lower-case hex digits of the key ID>+<base64(type || 32-byte public key)>`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey, PUBLIC_KEY_LENGTH};
use sha2::{Digest, Sha256};
use std::fmt;
use thiserror::Error;

use crate::note::SignatureLine;

/// Type byte of Ed25519 signatures over the note text (C2SP signed-note).
pub const ED25519_TYPE: u8 = 0x01;
/// Type byte of timestamped Ed25519 checkpoint cosignatures (C2SP tlog-cosignature v1).
pub const COSIGNATURE_V1_TYPE: u8 = 0x04;

/// The two signature types this crate signs and verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `0x01`: Ed25519 over the note text.
    Ed25519,
    /// `0x04`: Ed25519 cosignature v1 over `cosignature/v1\ntime <t>\n` and the note text.
    CosignatureV1,
}

impl KeyType {
    /// The type byte used in key IDs and vkeys.
    pub fn byte(self) -> u8 {
        match self {
            KeyType::Ed25519 => ED25519_TYPE,
            KeyType::CosignatureV1 => COSIGNATURE_V1_TYPE,
        }
    }

    fn from_byte(byte: u8) -> Result<Self, KeyError> {
        match byte {
            ED25519_TYPE => Ok(KeyType::Ed25519),
            COSIGNATURE_V1_TYPE => Ok(KeyType::CosignatureV1),
            other => Err(KeyError::UnsupportedType(other)),
        }
    }
}

/// Why a key name or verifier key was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Key names must be non-empty.
    #[error("key name is empty")]
    EmptyName,
    /// Key names must not contain Unicode spaces or `+` (the vkey separator).
    #[error("key name contains a space or '+'")]
    BadNameCharacter,
    /// A vkey has three `+`-separated parts.
    #[error("verifier key is not <name>+<key id>+<key>")]
    VkeyParts,
    /// The key ID part is not 8 lower-case hex digits.
    #[error("verifier key ID is not 8 lower-case hex digits")]
    VkeyKeyId,
    /// The key part is not canonical standard base64.
    #[error("verifier key is not base64")]
    VkeyBase64,
    /// The key part is empty or its type byte is not one this crate supports.
    #[error("unsupported signature type {0:#04x}")]
    UnsupportedType(u8),
    /// The public key is not 32 bytes.
    #[error("public key is {0} bytes, expected 32")]
    KeyLength(usize),
    /// The 32 bytes are not an Ed25519 public key.
    #[error("public key is not a valid Ed25519 point")]
    BadPoint,
    /// The key ID does not match the name, type and public key.
    #[error("verifier key ID {stated:08x} does not match the key (computed {computed:08x})")]
    KeyIdMismatch {
        /// The ID written in the vkey.
        stated: u32,
        /// The ID computed from the key.
        computed: u32,
    },
}

/// Checks a key name: non-empty, no Unicode white space, no `+`.
pub fn check_name(name: &str) -> Result<(), KeyError> {
    if name.is_empty() {
        return Err(KeyError::EmptyName);
    }
    // `char::is_whitespace` is Unicode White_Space, the set C2SP means by "Unicode spaces".
    if name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(KeyError::BadNameCharacter);
    }
    Ok(())
}

/// `SHA-256(name || 0x0A || type || public key)[:4]`, read big-endian.
pub fn key_id(name: &str, kind: KeyType, public: &[u8; PUBLIC_KEY_LENGTH]) -> u32 {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', kind.byte()])
        .chain_update(public)
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A public key that verifies note signatures or cosignatures, with its name and key ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    kind: KeyType,
    key_id: u32,
    public: VerifyingKey,
}

impl VerifierKey {
    /// A verifier key for `public` under `name`; the key ID is computed.
    pub fn new(name: &str, kind: KeyType, public: VerifyingKey) -> Result<Self, KeyError> {
        check_name(name)?;
        let key_id = key_id(name, kind, public.as_bytes());
        Ok(VerifierKey { name: name.to_owned(), kind, key_id, public })
    }

    /// Parses `<name>+<hex key id>+<base64(type || public key)>`, checking the key ID.
    pub fn parse(vkey: &str) -> Result<Self, KeyError> {
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(KeyError::VkeyParts);
        };
        let stated = parse_key_id(id_hex)?;
        let raw = BASE64.decode(key_b64).map_err(|_| KeyError::VkeyBase64)?;
        let (&type_byte, key) = raw.split_first().ok_or(KeyError::UnsupportedType(0))?;
        let kind = KeyType::from_byte(type_byte)?;
        let key = parse_public(key)?;
        let parsed = VerifierKey::new(name, kind, key)?;
        if parsed.key_id != stated {
            return Err(KeyError::KeyIdMismatch { stated, computed: parsed.key_id });
        }
        Ok(parsed)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signature type.
    pub fn kind(&self) -> KeyType {
        self.kind
    }

    /// The 4-byte key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public(&self) -> &VerifyingKey {
        &self.public
    }

    /// Whether a signature line names this key (name and ID both; C2SP says a match on only
    /// one of them is another key).
    pub fn matches(&self, line: &SignatureLine) -> bool {
        line.name == self.name && line.key_id == self.key_id
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = Vec::with_capacity(1 + PUBLIC_KEY_LENGTH);
        raw.push(self.kind.byte());
        raw.extend_from_slice(self.public.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, BASE64.encode(raw))
    }
}

/// Exactly 8 lower-case hex digits, as C2SP writes key IDs.
fn parse_key_id(hex: &str) -> Result<u32, KeyError> {
    let well_formed = hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !well_formed {
        return Err(KeyError::VkeyKeyId);
    }
    u32::from_str_radix(hex, 16).map_err(|_| KeyError::VkeyKeyId)
}

fn parse_public(bytes: &[u8]) -> Result<VerifyingKey, KeyError> {
    let bytes: &[u8; PUBLIC_KEY_LENGTH] = bytes.try_into().map_err(|_| KeyError::KeyLength(bytes.len()))?;
    VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::BadPoint)
}

/// Signs note text with a named Ed25519 key (type `0x01`).
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl NoteSigner {
    /// A signer for `key` under `name`.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, KeyError> {
        check_name(name)?;
        let key_id = key_id(name, KeyType::Ed25519, key.verifying_key().as_bytes());
        Ok(NoteSigner { name: name.to_owned(), key_id, key })
    }

    /// The key that verifies this signer's signatures.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            kind: KeyType::Ed25519,
            key_id: self.key_id,
            public: self.key.verifying_key(),
        }
    }

    /// The signature line for `text` (the note text, ending in a newline).
    pub fn sign(&self, text: &str) -> SignatureLine {
        let signature = self.key.sign(text.as_bytes()).to_bytes().to_vec();
        SignatureLine { name: self.name.clone(), key_id: self.key_id, signature }
    }
}

// Never print the secret key.
impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name(""), Err(KeyError::EmptyName));
        for bad in ["a b", "a+b", "a\tb", "a\u{a0}b", "a\u{2003}b", "a\nb"] {
            assert_eq!(check_name(bad), Err(KeyError::BadNameCharacter), "{bad:?}");
        }
        check_name("example.com/log-1").unwrap();
    }

    #[test]
    fn vkey_round_trips() {
        let vkey = NoteSigner::new("example.com/a", key()).unwrap().verifier_key();
        let text = vkey.to_string();
        assert_eq!(VerifierKey::parse(&text).unwrap(), vkey);
        let cosigner = VerifierKey::new("w", KeyType::CosignatureV1, key().verifying_key()).unwrap();
        assert_eq!(VerifierKey::parse(&cosigner.to_string()).unwrap(), cosigner);
    }

    #[test]
    fn vkey_failures_are_typed() {
        let good = NoteSigner::new("n", key()).unwrap().verifier_key().to_string();
        let (name_id, b64) = good.rsplit_once('+').unwrap();
        let cases: Vec<(String, KeyError)> = vec![
            ("n+00000000".into(), KeyError::VkeyParts),
            ("n".into(), KeyError::VkeyParts),
            (format!("+{}", &good[2..]), KeyError::EmptyName),
            (format!("n+1234567+{b64}"), KeyError::VkeyKeyId),
            (format!("n+ABCDEF01+{b64}"), KeyError::VkeyKeyId),
            (format!("{name_id}+{}", &b64[1..]), KeyError::VkeyBase64),
            (format!("{name_id}+"), KeyError::UnsupportedType(0)),
            (format!("{name_id}+{}", BASE64.encode([2u8; 33])), KeyError::UnsupportedType(2)),
            (format!("{name_id}+{}", BASE64.encode([1u8; 32])), KeyError::KeyLength(31)),
        ];
        for (vkey, want) in cases {
            let got = VerifierKey::parse(&vkey);
            assert_eq!(got.as_ref().err(), Some(&want), "{vkey}");
        }
        let other_id = format!("n+00000000+{b64}");
        assert!(matches!(VerifierKey::parse(&other_id), Err(KeyError::KeyIdMismatch { stated: 0, .. })));
    }

    #[test]
    fn bad_point_is_refused() {
        // About half of all 32-byte strings are no curve point; take the first one.
        let bad = (2u8..).map(|y| [y; 32]).find(|b| VerifyingKey::from_bytes(b).is_err()).unwrap();
        let mut raw = vec![ED25519_TYPE];
        raw.extend_from_slice(&bad);
        let vkey = format!("n+00000000+{}", BASE64.encode(raw));
        assert_eq!(VerifierKey::parse(&vkey), Err(KeyError::BadPoint));
    }

    #[test]
    fn debug_hides_the_secret() {
        let signer = NoteSigner::new("n", key()).unwrap();
        let shown = format!("{signer:?}");
        assert!(!shown.contains("[7,") && !shown.contains("7, 7"), "{shown}");
    }
}
