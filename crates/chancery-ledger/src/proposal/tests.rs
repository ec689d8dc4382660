use super::*;
use crate::note::Note;
use crate::NoteSigner;
use ed25519_dalek::SigningKey;

const ID: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn forget() -> Proposal {
    Proposal {
        origin: format!("chancery.ledger/{}", "ab".repeat(32)),
        sites: [([1; 32], "ee".to_string()), ([2; 32], "estonia".to_string())].into(),
        created: 1_790_000_000,
        act: Act::Forget,
        reason: "keep the last 3".into(),
        deletions: [
            Deletion::new("snapshots", ID).unwrap(),
            Deletion::new("packs", &"cd".repeat(32)).unwrap(),
        ]
        .into(),
        settings: vec![],
    }
}

#[test]
fn a_proposal_round_trips_and_has_one_id() {
    let p = forget();
    let text = p.encode();
    assert!(text.starts_with("chancery-proposal v1\norigin chancery.ledger/abab"), "{text}");
    assert!(text.contains(&format!("\nsite {} ee\n", "01".repeat(32))), "{text}");
    assert!(text.contains("\nact forget\nreason keep the last 3\ndelete snapshots 0011"), "{text}");
    let index_of = |s: &str| text.find(s).unwrap();
    assert!(index_of("delete snapshots") < index_of("delete packs"), "snapshots listed first");
    assert_eq!(Proposal::parse(&text).unwrap(), p);
    assert_eq!(p.id(), blake3::hash(text.as_bytes()).to_hex().to_string());
    assert!(p.addressed_to(&[2; 32], "estonia"));
    assert!(!p.addressed_to(&[2; 32], "ee"), "the tenant is part of the address");
    assert!(!p.addressed_to(&[3; 32], "ee"));
}

#[test]
fn settings_round_trip() {
    let p = Proposal {
        act: Act::Settings,
        deletions: BTreeSet::new(),
        settings: vec![
            Setting::Quorum(2),
            Setting::TimeLock(259_200),
            Setting::RetentionFloor(86_400),
            Setting::Roles { key: [7; 32], roles: ["governor".into(), "reader".into()].into() },
            Setting::Roles { key: [8; 32], roles: BTreeSet::new() },
        ],
        ..forget()
    };
    let text = p.encode();
    assert!(text.contains("set roles 0707") && text.contains(" governor,reader\n"), "{text}");
    assert!(text.contains(" none\n"), "{text}");
    assert_eq!(Proposal::parse(&text).unwrap(), p);
}

#[test]
fn only_canonical_well_formed_acts_parse() {
    let text = forget().encode();
    let swapped = text.replace("delete snapshots", "delete zzz").replace("delete packs", "delete snapshots");
    assert!(Proposal::parse(&swapped.replace("delete zzz", "delete packs")).is_err(), "unsorted");
    let twice = format!("{text}delete packs {}\n", "cd".repeat(32));
    assert_eq!(Proposal::parse(&twice), Err(ProposalError::NotCanonical));
    assert!(Proposal::parse(&text.replace("act forget", "act burn")).is_err());
    assert!(Proposal::parse(&text.replace("created 1790000000", "created 01790000000")).is_err());
    assert!(Proposal::parse(&text.replace(ID, &ID.to_uppercase())).is_err());
    assert!(Proposal::parse(&text[..text.len() - 1]).is_err(), "no final newline");
    assert!(Proposal::parse(&text.replace("chancery-proposal v1", "chancery-proposal v2")).is_err());
    let prune_of_snapshot = Proposal { act: Act::Prune, ..forget() };
    assert!(matches!(Proposal::parse(&prune_of_snapshot.encode()), Err(ProposalError::Invalid(_))));
    let nowhere = Proposal { sites: BTreeSet::new(), ..forget() };
    assert!(matches!(Proposal::parse(&nowhere.encode()), Err(ProposalError::Invalid(_))));
    let set_and_delete = Proposal { settings: vec![Setting::Quorum(1)], ..forget() };
    assert!(Proposal::parse(&set_and_delete.encode()).is_err());
}

#[test]
fn governors_sign_the_text_and_a_forgery_fails() {
    let text = forget().encode();
    let key = SigningKey::from_bytes(&[9; 32]);
    let signer = NoteSigner::new(&governor_key_name(key.verifying_key().as_bytes()), key.clone()).unwrap();
    let mut note = Note::new(text.clone()).unwrap();
    note.add_signature(signer.sign(&text)).unwrap();
    let known = [governor_verifier(&key.verifying_key())];
    assert_eq!(note.verify(&known).unwrap().len(), 1);
    let altered =
        Note::parse(note.format().replace("keep the last 3", "keep the last 1").as_bytes()).unwrap();
    assert!(altered.verify(&known).is_err(), "a changed text no longer verifies");
}

#[test]
fn cancels_round_trip() {
    let text = cancel_text("chancery.ledger/ab", ID);
    assert_eq!(parse_cancel(&text).unwrap(), ("chancery.ledger/ab".into(), ID.into()));
    assert!(parse_cancel(&text.replace(ID, "00")).is_err());
    assert!(parse_cancel(&format!("{text}extra\n")).is_err());
    assert!(parse_cancel(&forget().encode()).is_err());
}

#[test]
fn key_removals_name_key_files_and_registrations_only() {
    let registration = format!("recovery-key-{}", "ef".repeat(32));
    let p = Proposal {
        act: Act::RemoveKeys,
        deletions: [Deletion::new("keys", ID).unwrap(), Deletion::new("meta", &registration).unwrap()].into(),
        ..forget()
    };
    assert_eq!(Proposal::parse(&p.encode()).unwrap(), p);
    assert!(Deletion::new("meta", "owner-config-00").is_err(), "no other meta object");
    assert!(Deletion::new("meta", "recovery-key-00").is_err());
    let with_snapshot = Proposal { act: Act::RemoveKeys, ..forget() };
    assert!(with_snapshot.check().is_err());
    let forget_keys = Proposal { deletions: p.deletions.clone(), ..forget() };
    assert!(forget_keys.check().is_err(), "a forget deletes no key file");
}
