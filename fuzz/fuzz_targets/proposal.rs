//! Governance acts as a site server receives them (FORMAT.md §20): `Proposal::parse` and
//! `parse_cancel` on the text of a posted note. Whatever the bytes, parsing must not panic;
//! a text accepted must be the canonical encoding of what it parsed to (one act, one id) and
//! a well-formed act; and a governor's signature of an honest proposal must verify on no
//! other text.
#![no_main]

use chancery_fuzz::{mode, mutate};
use chancery_ledger::proposal::{cancel_text, governor_key_name, governor_verifier, parse_cancel};
use chancery_ledger::{Act, Deletion, Note, NoteSigner, Proposal, Setting};
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn governor() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_bytes(&[12; 32]))
}

/// An honest forget and an honest settings change, as texts.
fn honest() -> &'static [String; 3] {
    static TEXTS: OnceLock<[String; 3]> = OnceLock::new();
    TEXTS.get_or_init(|| {
        let forget = Proposal {
            origin: format!("chancery.ledger/{}", "ab".repeat(32)),
            sites: [([1; 32], "ee".to_string()), ([2; 32], "estonia".to_string())].into(),
            created: 1_790_000_000,
            act: Act::Forget,
            reason: "forget --keep-within 30d and prune".into(),
            deletions: [
                Deletion::new("snapshots", &"01".repeat(32)).unwrap(),
                Deletion::new("index", &"02".repeat(32)).unwrap(),
                Deletion::new("packs", &"03".repeat(32)).unwrap(),
            ]
            .into(),
            settings: vec![],
        };
        let settings = Proposal {
            act: Act::Settings,
            deletions: Default::default(),
            settings: vec![
                Setting::Quorum(2),
                Setting::RetentionFloor(86_400),
                Setting::Roles { key: [7; 32], roles: ["governor".to_string()].into() },
            ],
            ..forget.clone()
        };
        let cancel = cancel_text(&forget.origin, &forget.id());
        [forget.encode(), settings.encode(), cancel]
    })
}

fn check(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    if let Ok(p) = Proposal::parse(text) {
        assert_eq!(p.encode(), text, "only the canonical text parses");
        assert!(p.check().is_ok(), "an accepted proposal is a well-formed act");
    }
    if let Ok((origin, id)) = parse_cancel(text) {
        assert_eq!(cancel_text(&origin, &id), text);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((m, rest)) = mode(data) else { return };
    if m % 2 == 0 {
        check(rest);
        return;
    }
    let template = &honest()[usize::from(m / 2) % 3];
    let edited = mutate(template.as_bytes(), rest);
    check(&edited);
    // A governor's signature of the honest text verifies on that text alone.
    let Ok(text) = String::from_utf8(edited) else { return };
    let key = governor();
    let signer = NoteSigner::new(&governor_key_name(key.verifying_key().as_bytes()), key.clone()).unwrap();
    let Ok(mut note) = Note::new(text.clone()) else { return };
    note.add_signature(signer.sign(template)).unwrap();
    let verified = note.verify(&[governor_verifier(&key.verifying_key())]).is_ok();
    assert_eq!(verified, text == *template);
});
