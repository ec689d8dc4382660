//! Published test vectors from independent implementations and specifications, so that what
//! this crate writes and accepts matches standard verifiers. Only the vector values are taken,
//! each with its source (repository, commit, file).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chancery_ledger::cosignature::{self, COSIGNATURE_LEN};
use chancery_ledger::key::KeyType;
use chancery_ledger::merkle::{self, Hash};
use chancery_ledger::{open, Checkpoint, Note, NoteSigner, VerifierKey};
use ed25519_dalek::SigningKey;

fn b64(s: &str) -> Hash {
    BASE64.decode(s).unwrap().try_into().unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

// ---- RFC 6962 trees: github.com/transparency-dev/merkle, commit 417fb0c314750d94e53942e9f92e79b6d35915db

/// `testonly/constants.go`, `LeafInputs()`.
const LEAF_INPUTS: [&str; 8] =
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

/// `testonly/constants.go`, `RootHashes()`: roots of the first 0..=8 leaves.
const ROOT_HASHES: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// `testdata/inclusion/{0..4}/happy-path.json`: (leaf index, tree size, audit path).
const INCLUSION: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
        ],
    ),
    (
        5,
        8,
        &[
            "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
            "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
    (2, 3, &["+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU="]),
    (
        1,
        5,
        &[
            "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
        ],
    ),
];

/// `testdata/consistency/{0..4}/happy-path.json`: (old size, new size, proof).
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
        ],
    ),
    (
        6,
        8,
        &[
            "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
            "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
    (2, 5, &["Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=", "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms="]),
    (
        6,
        7,
        &[
            "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
            "sIaT7C5yFZcTBkHoIR5+7cy0wmQTlj7ubB4u0W/7Gl8=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
];

fn vector_leaves() -> Vec<Hash> {
    LEAF_INPUTS.iter().map(|h| merkle::leaf_hash(&hex(h))).collect()
}

fn vector_root(size: u64) -> Hash {
    hex(ROOT_HASHES[size as usize]).try_into().unwrap()
}

#[test]
fn tree_roots_match_transparency_dev() {
    let leaves = vector_leaves();
    assert_eq!(merkle::empty_root(), vector_root(0));
    for size in 0..=8 {
        assert_eq!(merkle::root(&leaves[..size as usize]), vector_root(size), "size {size}");
    }
}

#[test]
fn inclusion_proofs_match_transparency_dev() {
    let leaves = vector_leaves();
    for (index, size, want) in INCLUSION {
        let want: Vec<Hash> = want.iter().map(|h| b64(h)).collect();
        let tree = &leaves[..size as usize];
        assert_eq!(merkle::inclusion_proof(tree, index).unwrap(), want, "{index} in {size}");
        merkle::verify_inclusion(&leaves[index as usize], index, size, &want, &vector_root(size)).unwrap();
    }
}

#[test]
fn consistency_proofs_match_transparency_dev() {
    let leaves = vector_leaves();
    for (old, new, want) in CONSISTENCY {
        let want: Vec<Hash> = want.iter().map(|h| b64(h)).collect();
        assert_eq!(merkle::consistency_proof(&leaves[..new as usize], old).unwrap(), want, "{old} to {new}");
        merkle::verify_consistency(old, new, &vector_root(old), &vector_root(new), &want).unwrap();
    }
}

// ---- github.com/golang/mod, commit fe2ec04f7c3c3aa6fad97631aafcff6e49e2d1db, sumdb/tlog/note_test.go

#[test]
fn leaf_hash_and_tree_body_match_go_tlog() {
    // `TestFormatTree`: RecordHash("hello world") and the formatted tree.
    let hash = merkle::leaf_hash(b"hello world");
    assert_eq!(BASE64.encode(hash), "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=");
    let golden = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n";
    assert_eq!(Checkpoint::new("go.sum database tree", 123456789012, hash).unwrap().format(), golden);
    assert_eq!(Checkpoint::parse(golden).unwrap().root(), &hash);
}

// ---- github.com/golang/mod, commit fe2ec04f7c3c3aa6fad97631aafcff6e49e2d1db, sumdb/note/note_test.go

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
/// The signing key of `TestSign`, `PRIVATE+KEY+PeterNeumann+c74f20a3+<base64(0x01 || seed)>`.
const PETER_SKEY_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const NEUMANN_TEXT: &str =
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter_signer() -> NoteSigner {
    let raw = BASE64.decode(PETER_SKEY_B64).unwrap();
    assert_eq!(raw[0], 0x01);
    let seed: [u8; 32] = raw[1..].try_into().unwrap();
    NoteSigner::new("PeterNeumann", SigningKey::from_bytes(&seed)).unwrap()
}

#[test]
fn signing_matches_go_note_byte_for_byte() {
    // `TestSign`: Ed25519 is deterministic, so the whole signed note must be identical.
    let signer = peter_signer();
    assert_eq!(signer.verifier_key().to_string(), PETER_VKEY);
    let mut note = Note::new(NEUMANN_TEXT).unwrap();
    note.add_signature(signer.sign(NEUMANN_TEXT)).unwrap();
    assert_eq!(note.format(), format!("{NEUMANN_TEXT}\n{PETER_SIG}"));
}

#[test]
fn opening_matches_go_note() {
    // `TestOpen`: one signature verified and one ignored, then both verified.
    let peter = VerifierKey::parse(PETER_VKEY).unwrap();
    let enoch = VerifierKey::parse(ENOCH_VKEY).unwrap();
    assert_eq!((peter.key_id(), enoch.key_id()), (0xc74f20a3, 0xaf0cfe78));
    let bytes = format!("{NEUMANN_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let (note, verified) = open(bytes.as_bytes(), std::slice::from_ref(&peter)).unwrap();
    assert_eq!(note.text(), NEUMANN_TEXT);
    assert_eq!(verified.len(), 1);
    let (_, verified) = open(bytes.as_bytes(), &[enoch.clone(), peter.clone()]).unwrap();
    assert_eq!((verified[0].key.name(), verified[1].key.name()), ("PeterNeumann", "EnochRoot"));
    // `TestOpen`, "too many signatures": 101 lines are refused.
    let many = format!("{NEUMANN_TEXT}\n{}", PETER_SIG.repeat(101));
    assert!(open(many.as_bytes(), std::slice::from_ref(&peter)).is_err());
    // `TestOpen`, "invalid signature": four characters inserted at byte 60 of the line.
    let bad = format!("{NEUMANN_TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert!(open(bad.as_bytes(), &[peter]).is_err());
}

// ---- github.com/C2SP/C2SP, commit 5ba5ee830903e91240fc6f9f3a7a9293d49e69c9

#[test]
fn signed_note_spec_example_verifies() {
    // signed-note.md, "Verifier keys", "Example".
    let vkey =
        VerifierKey::parse("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k").unwrap();
    let note = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let (parsed, verified) = open(note.as_bytes(), &[vkey]).unwrap();
    assert_eq!(parsed.text(), "This is an example message.\n");
    assert_eq!(verified.len(), 1);
}

#[test]
fn checkpoint_spec_example_parses() {
    // tlog-checkpoint.md, the example at the top (the note text).
    let body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let checkpoint = Checkpoint::parse(body).unwrap();
    assert_eq!((checkpoint.origin(), checkpoint.size()), ("example.com/behind-the-sofa", 20852163));
    assert_eq!(checkpoint.format(), body);
}

#[test]
fn cosignature_spec_example_has_the_stated_layout() {
    // tlog-cosignature.md, the witness line of the example, whose key is not published: the
    // payload is key ID || 8-byte big-endian timestamp || 64-byte signature, and the timestamp
    // is the one in the spec's example of the signed message ("time 1679315147").
    let line = "\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
    let note = format!(
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n{line}"
    );
    let parsed = Note::parse(note.as_bytes()).unwrap();
    let sig = &parsed.signatures()[0];
    assert_eq!((sig.name.as_str(), sig.key_id), ("witness.example.com/w1", 0x8d66cf3f));
    assert_eq!(sig.signature.len(), COSIGNATURE_LEN);
    assert_eq!(u64::from_be_bytes(sig.signature[..8].try_into().unwrap()), 1679315147);
    let message = cosignature::message(parsed.text(), 1679315147);
    let expected = "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    assert_eq!(String::from_utf8(message).unwrap(), expected);
}

// ---- github.com/transparency-dev/formats, commit 0b850f1a7b4a5b70deeacac6535e4b8023809d21

#[test]
fn real_sum_golang_org_checkpoint_verifies() {
    // log/note_test.go, `TestSumDBNoteParsing`: a checkpoint signed by the Go checksum database.
    let vkey =
        VerifierKey::parse("sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8").unwrap();
    let note = "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n\u{2014} sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n";
    let (parsed, _) = open(note.as_bytes(), std::slice::from_ref(&vkey)).unwrap();
    let checkpoint = Checkpoint::parse(parsed.text()).unwrap();
    assert_eq!((checkpoint.origin(), checkpoint.size()), ("go.sum database tree", 6476701));
    let altered = note.replace("6476701", "6476702");
    assert!(open(altered.as_bytes(), &[vkey]).is_err());
}

#[test]
fn real_cosigner_vkey_key_id_matches() {
    // note/note_cosigv1_test.go, `TestCoSigV1NewVerifier`: a public witness's type 0x04 vkey,
    // whose key ID must be SHA-256(name || 0x0A || 0x04 || key)[:4].
    let text = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2";
    let vkey = VerifierKey::parse(text).unwrap();
    assert_eq!((vkey.kind(), vkey.key_id()), (KeyType::CosignatureV1, 0xda77ade7));
    assert_eq!(vkey.to_string(), text);
}

// ---- No published Ed25519 cosignature vector with a known key was found. This one was made
// outside this crate, with OpenSSL's Ed25519 (Python `cryptography` 48) and `hashlib`,
// following tlog-cosignature.md: seed 00 01 .. 1f, the checkpoint of the spec's example, time
// 1679315147.

#[test]
fn cosignature_matches_an_independent_implementation() {
    let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
    let cosigner =
        chancery_ledger::Cosigner::new("witness.example.com/w1", SigningKey::from_bytes(&seed)).unwrap();
    let vkey = "witness.example.com/w1+a0059f11+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
    assert_eq!(cosigner.verifier_key().to_string(), vkey);
    let body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let line = cosigner.cosign(&Checkpoint::parse(body).unwrap(), 1679315147).unwrap();
    let want = "\u{2014} witness.example.com/w1 oAWfEQAAAABkGFDLBuRDazBLVac2NE+Y+IjbjQOcXLfF9CSDZVUIoS83rE1nFZsVE8YiWV6Ngr7lV8H6bdoBQGP/l73euDMQ9k+bBQ==\n";
    assert_eq!(line.format(), want);
    let (_, verified) =
        open(format!("{body}\n{want}").as_bytes(), &[VerifierKey::parse(vkey).unwrap()]).unwrap();
    assert_eq!(verified[0].timestamp, Some(1679315147));
}
