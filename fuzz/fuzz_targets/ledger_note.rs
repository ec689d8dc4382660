//! Ledger text formats: `Checkpoint::parse`, `Note::parse`, `VerifierKey::parse`, and note
//! verification with checkpoint cosignatures, on arbitrary bytes.
#![no_main]

use chancery_ledger::key::KeyType;
use chancery_ledger::{Checkpoint, Note, VerifierKey};
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

/// One note key and one cosigner key, fixed, so that lines naming them are really verified.
fn known() -> Vec<VerifierKey> {
    let public = SigningKey::from_bytes(&[7; 32]).verifying_key();
    vec![
        VerifierKey::new("log", KeyType::Ed25519, public).unwrap(),
        VerifierKey::new("witness", KeyType::CosignatureV1, public).unwrap(),
    ]
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        // Parsing is canonical: whatever parses formats back to the same bytes.
        if let Ok(checkpoint) = Checkpoint::parse(text) {
            assert_eq!(checkpoint.format(), text);
        }
        if let Ok(vkey) = VerifierKey::parse(text) {
            assert_eq!(vkey.to_string(), text);
        }
    }
    if let Ok(note) = Note::parse(data) {
        assert!(note.text().ends_with('\n'));
        assert!(!note.signatures().is_empty());
        // Canonical too: base64 is strict and the text is kept as read.
        assert_eq!(note.format().as_bytes(), data);
        let _ = note.verify(&known());
    }
});
