//! The witness side of C2SP tlog-witness `add-checkpoint`: the request body, and the checks a
//! witness makes before it cosigns, each refusal with the status code the specification gives.
//!
//! Request body (every line ends in `\n`):
//!
//! ```text
//! old <size of the last checkpoint the witness cosigned, canonical decimal>
//! <base64 consistency proof hash>      zero to 63 lines
//! <empty line>
//! <signed checkpoint note>
//! ```
//!
//! Pure: the caller loads the witness's latest checkpoint, calls [`check_add`] and, when it
//! passes, persists the new checkpoint atomically with the check before answering.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use thiserror::Error;

use crate::checkpoint::Checkpoint;
use crate::key::VerifierKey;
use crate::merkle::{verify_consistency, Hash, HASH_LEN};
use crate::note::Note;

/// At most this many consistency proof lines (C2SP tlog-witness).
pub const MAX_PROOF_LINES: usize = 63;
/// The largest request body a witness reads.
pub const MAX_REQUEST_LEN: usize = 64 * 1024;
/// The `Content-Type` of a 409 answer, whose body is the witness's size and a newline.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// The origin line of an owner's ledger: derived from the owner's public key, so that a site
/// knows which log each tenant's key signs and two archives never share an origin.
pub fn ledger_origin(owner_key: &[u8; 32]) -> String {
    format!("chancery.ledger/{}", hex_lower(owner_key))
}

/// The key name under which a site cosigns: derived from the site key that owners pin.
pub fn witness_name(site_key: &[u8; 32]) -> String {
    format!("chancery.site/{}", hex_lower(site_key))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A parsed `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the last checkpoint the client believes the witness cosigned.
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub note: Note,
}

impl AddCheckpoint {
    /// The request body.
    pub fn format(&self) -> String {
        let mut out = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            out.push_str(&BASE64.encode(hash));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.note.format());
        out
    }

    /// Parses a request body (syntax only; [`check_add`] verifies).
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, WitnessRefusal> {
        if body.len() > MAX_REQUEST_LEN {
            return Err(malformed("request body too long"));
        }
        let text = std::str::from_utf8(body).map_err(|_| malformed("request body is not UTF-8"))?;
        let (head, note) =
            text.split_once("\n\n").ok_or_else(|| malformed("no empty line before the note"))?;
        let mut lines = head.split('\n');
        let old_size = parse_old(lines.next().unwrap_or_default())?;
        let proof = lines.map(parse_hash).collect::<Result<Vec<_>, _>>()?;
        if proof.len() > MAX_PROOF_LINES {
            return Err(malformed("more than 63 consistency proof lines"));
        }
        let note =
            Note::parse(note.as_bytes()).map_err(|e| malformed_owned(format!("checkpoint note: {e}")))?;
        Ok(AddCheckpoint { old_size, proof, note })
    }
}

fn parse_old(line: &str) -> Result<u64, WitnessRefusal> {
    let digits = line.strip_prefix("old ").ok_or_else(|| malformed("first line must be `old <size>`"))?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return Err(malformed("old size is not a canonical decimal"));
    }
    digits.parse().map_err(|_| malformed("old size does not fit 64 bits"))
}

fn parse_hash(line: &str) -> Result<Hash, WitnessRefusal> {
    let bytes = BASE64.decode(line).map_err(|_| malformed("a proof line is not base64"))?;
    if BASE64.encode(&bytes) != line {
        return Err(malformed("a proof line is not canonical base64"));
    }
    bytes.try_into().map_err(|_| malformed_owned(format!("a proof line is not {HASH_LEN} bytes")))
}

/// Why a witness does not cosign, with the HTTP status C2SP tlog-witness gives each case.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WitnessRefusal {
    /// 400: the body does not parse, or the old size exceeds the checkpoint's.
    #[error("malformed add-checkpoint request: {0}")]
    Malformed(String),
    /// 404: the checkpoint's origin is not the log this witness follows here.
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// 403: no signature of the log's key verifies.
    #[error("the checkpoint carries no valid signature of the log's key")]
    NotSigned,
    /// 409: the old size is not the size the witness last cosigned (which it answers).
    #[error("the witness last cosigned size {latest}, not {claimed}")]
    SizeConflict {
        /// The size the witness last cosigned.
        latest: u64,
        /// The old size the request claimed.
        claimed: u64,
    },
    /// 409: same size as the witness's latest checkpoint, another root: a fork.
    #[error("the witness cosigned another root hash for size {0}: the log forked")]
    RootConflict(u64),
    /// 422: the consistency proof does not verify: the new checkpoint does not extend the old.
    #[error("the consistency proof from size {old} to {new} does not verify: the log was rewritten")]
    Inconsistent {
        /// The witness's size.
        old: u64,
        /// The checkpoint's size.
        new: u64,
    },
}

impl WitnessRefusal {
    /// The HTTP status code C2SP tlog-witness gives this refusal.
    pub fn status(&self) -> u16 {
        match self {
            WitnessRefusal::Malformed(_) => 400,
            WitnessRefusal::UnknownOrigin(_) => 404,
            WitnessRefusal::NotSigned => 403,
            WitnessRefusal::SizeConflict { .. } | WitnessRefusal::RootConflict(_) => 409,
            WitnessRefusal::Inconsistent { .. } => 422,
        }
    }
}

fn malformed(what: &str) -> WitnessRefusal {
    WitnessRefusal::Malformed(what.to_owned())
}

fn malformed_owned(what: String) -> WitnessRefusal {
    WitnessRefusal::Malformed(what)
}

/// The checks of `add-checkpoint`, in the specification's order: the checkpoint that may be
/// cosigned, or why not. `latest` is the checkpoint the witness last cosigned for this log.
pub fn check_add(
    request: &AddCheckpoint,
    origin: &str,
    log_key: &VerifierKey,
    latest: Option<&Checkpoint>,
) -> Result<Checkpoint, WitnessRefusal> {
    let checkpoint = Checkpoint::parse(request.note.text())
        .map_err(|e| malformed_owned(format!("checkpoint body: {e}")))?;
    if checkpoint.origin() != origin {
        return Err(WitnessRefusal::UnknownOrigin(checkpoint.origin().to_owned()));
    }
    request.note.verify(std::slice::from_ref(log_key)).map_err(|_| WitnessRefusal::NotSigned)?;
    let (old, new) = (request.old_size, checkpoint.size());
    if old > new {
        return Err(malformed_owned(format!("old size {old} is larger than the checkpoint's size {new}")));
    }
    let latest_size = latest.map_or(0, Checkpoint::size);
    if old != latest_size {
        return Err(WitnessRefusal::SizeConflict { latest: latest_size, claimed: old });
    }
    let old_root = latest.map_or_else(crate::merkle::empty_root, |c| *c.root());
    if old == new && old_root != *checkpoint.root() {
        return Err(WitnessRefusal::RootConflict(new));
    }
    verify_consistency(old, new, &old_root, checkpoint.root(), &request.proof)
        .map_err(|_| WitnessRefusal::Inconsistent { old, new })?;
    Ok(checkpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::NoteSigner;
    use crate::merkle::{consistency_proof, leaf_hash, root};
    use ed25519_dalek::SigningKey;

    const OWNER: [u8; 32] = [7; 32];

    fn signer() -> NoteSigner {
        NoteSigner::new(&ledger_origin(&OWNER), SigningKey::from_bytes(&[1; 32])).unwrap()
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn request(old: u64, leaves: &[Hash], signer: &NoteSigner) -> AddCheckpoint {
        let checkpoint = Checkpoint::new(&ledger_origin(&OWNER), leaves.len() as u64, root(leaves)).unwrap();
        let mut note = Note::new(checkpoint.format()).unwrap();
        note.add_signature(signer.sign(note.text())).unwrap();
        let proof = if old == 0 { vec![] } else { consistency_proof(leaves, old).unwrap() };
        AddCheckpoint { old_size: old, proof, note }
    }

    fn check(request: &AddCheckpoint, latest: Option<&Checkpoint>) -> Result<Checkpoint, WitnessRefusal> {
        check_add(request, &ledger_origin(&OWNER), &signer().verifier_key(), latest)
    }

    #[test]
    fn request_round_trips() {
        let r = request(3, &leaves(10), &signer());
        assert_eq!(AddCheckpoint::parse(r.format().as_bytes()).unwrap(), r);
        let r = request(0, &leaves(1), &signer());
        assert!(r.format().starts_with("old 0\n\n"));
        assert_eq!(AddCheckpoint::parse(r.format().as_bytes()).unwrap(), r);
    }

    #[test]
    fn accepts_a_consistent_extension_and_the_same_checkpoint_again() {
        let all = leaves(10);
        let first = check(&request(0, &all[..4], &signer()), None).unwrap();
        let second = check(&request(4, &all, &signer()), Some(&first)).unwrap();
        assert_eq!(second.size(), 10);
        assert!(check(&request(10, &all, &signer()), Some(&second)).is_ok(), "idempotent");
    }

    #[test]
    fn refuses_each_case_with_its_status() {
        let all = leaves(10);
        let first = check(&request(0, &all[..4], &signer()), None).unwrap();
        let stale = check(&request(2, &all, &signer()), Some(&first)).unwrap_err();
        assert_eq!(stale, WitnessRefusal::SizeConflict { latest: 4, claimed: 2 });
        assert_eq!(stale.status(), 409);

        let mut forked = all[..4].to_vec();
        forked[3] = leaf_hash(b"forged");
        let fork = check(&request(4, &forked, &signer()), Some(&first)).unwrap_err();
        assert_eq!((fork.clone(), fork.status()), (WitnessRefusal::RootConflict(4), 409));

        forked.extend_from_slice(&all[4..]);
        let rewritten = check(&request(4, &forked, &signer()), Some(&first)).unwrap_err();
        assert_eq!(rewritten.status(), 422);

        let thief = NoteSigner::new(&ledger_origin(&OWNER), SigningKey::from_bytes(&[2; 32])).unwrap();
        assert_eq!(check(&request(4, &all, &thief), Some(&first)).unwrap_err().status(), 403);

        let mut other = request(0, &all, &signer());
        let foreign = Checkpoint::new("example.com/log", 10, root(&all)).unwrap();
        other.note = Note::new(foreign.format()).unwrap();
        other.note.add_signature(signer().sign(other.note.text())).unwrap();
        assert_eq!(check(&other, None).unwrap_err().status(), 404);

        let mut too_old = request(0, &all[..4], &signer());
        too_old.old_size = 5;
        assert_eq!(check(&too_old, None).unwrap_err().status(), 400);
    }

    #[test]
    fn refuses_malformed_bodies() {
        let good = request(4, &leaves(10), &signer()).format();
        for bad in [
            good.replacen("old 4", "old 04", 1),
            good.replacen("old 4", "new 4", 1),
            good.replacen("old 4\n", "old 4\nnot-base64\n", 1),
            good.replacen("old 4\n", "old 4\nAAAA\n", 1),
            good.replace("\n\n", "\n"),
            String::from_utf8_lossy(&[0xff, 0xfe]).into_owned(),
        ] {
            assert_eq!(AddCheckpoint::parse(bad.as_bytes()).unwrap_err().status(), 400, "{bad:?}");
        }
        let many = format!("old 1\n{}\n{}", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n".repeat(64), "x");
        assert!(AddCheckpoint::parse(many.as_bytes()).is_err());
    }

    #[test]
    fn names_derive_from_keys() {
        assert_eq!(ledger_origin(&[0xab; 32]), format!("chancery.ledger/{}", "ab".repeat(32)));
        assert_eq!(witness_name(&[1; 32]), format!("chancery.site/{}", "01".repeat(32)));
    }
}
