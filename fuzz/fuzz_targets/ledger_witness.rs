//! What a site parses from an owner and what an owner parses from a site about the ledger:
//! `Entry::parse` (ledger objects), `AddCheckpoint::parse` and the witness's `check_add`
//! against a fixed log key and a fixed latest checkpoint, on arbitrary bytes.
#![no_main]

use chancery_ledger::key::KeyType;
use chancery_ledger::{check_add, ledger_origin, AddCheckpoint, Checkpoint, Entry, VerifierKey};
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = Entry::parse(data) {
        // One entry, one encoding.
        assert_eq!(entry.encode(), data);
    }
    if let Ok(request) = AddCheckpoint::parse(data) {
        let owner = SigningKey::from_bytes(&[7; 32]).verifying_key();
        let origin = ledger_origin(owner.as_bytes());
        let key = VerifierKey::new(&origin, KeyType::Ed25519, owner).unwrap();
        let latest = Checkpoint::new(&origin, 3, [1; 32]).unwrap();
        for state in [None, Some(&latest)] {
            if let Ok(accepted) = check_add(&request, &origin, &key, state) {
                // Never a smaller tree than the one witnessed, never another root at its size.
                let floor = state.map_or(0, Checkpoint::size);
                assert!(accepted.size() >= floor);
                if state.is_some_and(|l| l.size() == accepted.size()) {
                    assert_eq!(accepted.root(), latest.root());
                }
            }
        }
    }
});
