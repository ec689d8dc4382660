//! The custody manifest: what one `custody split` made, signed by the owner. Every share file
//! carries a copy and every site holds one (`meta/custody-<generation>`), so that recovery can
//! name a corrupted or forged share before combining, and refuse a combination that does not
//! lead back to the owner who signed it. Layout: FORMAT.md "Custody manifest".

use crate::error::FormatError;
use crate::keys::{verify_signature, Keys};
use crate::ObjectId;

/// Magic bytes of a custody manifest.
pub const MANIFEST_MAGIC: [u8; 4] = *b"CHCM";
/// Current manifest version.
pub const MANIFEST_VERSION: u8 = 1;
/// Bytes before the share hashes.
pub const MANIFEST_HEADER_LEN: usize = 116;
/// Length of the owner's Ed25519 signature at the end.
pub const SIGNATURE_LEN: usize = 64;
/// Signed together with the manifest, so that no other signed record can pass for one.
const SIGN_CONTEXT: &[u8] = b"chancery v1 custody manifest\n";

const WHAT: &str = "custody manifest";

/// One split: its generation, shape, key file and the hash of every share it made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Counts the splits of an archive; a new split makes the shares of older ones useless.
    pub generation: u32,
    /// Shares needed to recover.
    pub threshold: u8,
    /// Seconds since the Unix epoch.
    pub created_sec: i64,
    /// The archive's id.
    pub repo_id: [u8; 32],
    /// The owner's Ed25519 public key, which signed this manifest.
    pub owner_key: [u8; 32],
    /// The custody key file that the recovery secret opens.
    pub key_file: ObjectId,
    /// BLAKE3 of each share record (without its checksum), share `x` at index `x - 1`.
    pub share_hashes: Vec<[u8; 32]>,
}

impl Manifest {
    /// Number of shares made.
    pub fn shares(&self) -> usize {
        self.share_hashes.len()
    }

    /// The signed encoding.
    pub fn sign(&self, keys: &Keys) -> Vec<u8> {
        let mut out = self.body();
        let signature = keys.sign(&signed_message(&out));
        out.extend_from_slice(&signature);
        out
    }

    fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MANIFEST_HEADER_LEN + 32 * self.shares() + SIGNATURE_LEN);
        out.extend_from_slice(&MANIFEST_MAGIC);
        let n = u8::try_from(self.shares()).expect("at most 255 shares");
        out.extend_from_slice(&[MANIFEST_VERSION, self.threshold, n, 0]);
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.created_sec.to_le_bytes());
        out.extend_from_slice(&self.repo_id);
        out.extend_from_slice(&self.owner_key);
        out.extend_from_slice(&self.key_file.0);
        for hash in &self.share_hashes {
            out.extend_from_slice(hash);
        }
        out
    }

    /// Parses a manifest and checks its signature against the owner key it names. Whether
    /// that key is the archive owner's is for the caller to check (after recovery derives it).
    pub fn parse(bytes: &[u8]) -> Result<Manifest, FormatError> {
        let malformed = |why| FormatError::Malformed { what: WHAT, why };
        if bytes.len() < MANIFEST_HEADER_LEN + SIGNATURE_LEN || bytes[..4] != MANIFEST_MAGIC {
            return Err(malformed("not a custody manifest"));
        }
        if bytes[4] != MANIFEST_VERSION {
            return Err(FormatError::UnsupportedVersion { what: WHAT, version: bytes[4] });
        }
        let (threshold, n) = (bytes[5], usize::from(bytes[6]));
        if bytes[7] != 0 || threshold < 2 || usize::from(threshold) > n {
            return Err(malformed("threshold out of range"));
        }
        let body_len = MANIFEST_HEADER_LEN + 32 * n;
        if bytes.len() != body_len + SIGNATURE_LEN {
            return Err(malformed("length does not match the number of shares"));
        }
        let field = |at: usize| -> [u8; 32] { bytes[at..at + 32].try_into().expect("32 bytes") };
        let manifest = Manifest {
            generation: u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")),
            threshold,
            created_sec: i64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes")),
            repo_id: field(20),
            owner_key: field(52),
            key_file: ObjectId(field(84)),
            share_hashes: (0..n).map(|i| field(MANIFEST_HEADER_LEN + 32 * i)).collect(),
        };
        let signature: [u8; 64] = bytes[body_len..].try_into().expect("64 bytes");
        if !verify_signature(&manifest.owner_key, &signed_message(&bytes[..body_len]), &signature) {
            return Err(FormatError::Authentication { what: WHAT });
        }
        Ok(manifest)
    }
}

fn signed_message(body: &[u8]) -> Vec<u8> {
    [SIGN_CONTEXT, body].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MasterKey;

    pub(crate) fn sample(keys: &Keys) -> Manifest {
        Manifest {
            generation: 2,
            threshold: 2,
            created_sec: 1_700_000_000,
            repo_id: [1; 32],
            owner_key: keys.owner_public_key(),
            key_file: ObjectId([3; 32]),
            share_hashes: vec![[4; 32], [5; 32], [6; 32]],
        }
    }

    #[test]
    fn round_trip_and_forgery() {
        let keys = MasterKey::generate().derive();
        let bytes = sample(&keys).sign(&keys);
        assert_eq!(Manifest::parse(&bytes).unwrap(), sample(&keys));
        let mut bad = bytes.clone();
        bad[130] ^= 1; // a share hash
        assert_eq!(Manifest::parse(&bad), Err(FormatError::Authentication { what: WHAT }));
        assert!(Manifest::parse(&bytes[..bytes.len() - 1]).is_err());
        let mut other = sample(&keys);
        other.owner_key = MasterKey::generate().derive().owner_public_key();
        assert!(Manifest::parse(&other.sign(&keys)).is_err(), "signed by another key than it names");
    }
}
