//! Submission, quorum, lock, floor and the executor's guards, on a real site folder.

use std::collections::BTreeSet;

use chancery_ledger::proposal::{cancel_text, governor_key_name};
use chancery_ledger::witness::ledger_origin;
use chancery_ledger::{Act, Deletion, Note, NoteSigner, Proposal};
use chancery_protocol::governance::Stage;
use chancery_store::{Backend, ObjectKind};
use ed25519_dalek::SigningKey;

use super::state::load_all;
use super::submit::{submit, Addressee, Refusal};
use super::{run_due, Rules};
use crate::roles::Role;
use crate::state::Site;
use crate::tenants::{enroll_with, Enrollment};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn hex_of(seed: u8) -> String {
    hex::encode(key(seed).verifying_key().to_bytes())
}

/// A site with tenant `ee` (owner key 1, governors 2, 3, 4; quorum 2) and its store.
struct Fixture {
    _dir: tempfile::TempDir,
    site: Site,
}

fn fixture(time_lock: u64, floor: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    crate::init_site(dir.path(), "lux", 49.6, 6.1, "LU", 3).unwrap();
    let enrollment = Enrollment {
        tenant: "ee".into(),
        owner_key: hex_of(1),
        keys: (2..=4).map(|s| (hex_of(s), [Role::Governor].into())).collect(),
        quorum: Some(2),
        time_lock_secs: Some(time_lock),
        retention_floor_secs: Some(floor),
        ..Default::default()
    };
    enroll_with(dir.path(), &enrollment).unwrap();
    let site = Site::open(dir.path()).unwrap();
    Fixture { _dir: dir, site }
}

impl Fixture {
    fn backend(&self) -> std::sync::Arc<crate::state::TenantStore> {
        self.site.store("ee").unwrap()
    }

    fn rules(&self) -> Rules {
        self.backend().rules(&self.site.tenant("ee").unwrap())
    }

    fn site_key(&self) -> [u8; 32] {
        self.site.key.verifying_key().to_bytes()
    }

    fn proposal(&self, act: Act, deletions: &[(&str, &str)]) -> Proposal {
        Proposal {
            origin: ledger_origin(&key(1).verifying_key().to_bytes()),
            sites: [(self.site_key(), "ee".to_string())].into(),
            created: 1,
            act,
            reason: "test".into(),
            deletions: deletions.iter().map(|(k, n)| Deletion::new(k, n).unwrap()).collect(),
            settings: vec![],
        }
    }

    fn submit(&self, text: &str, signers: &[u8], now: i64) -> Result<String, Refusal> {
        let mut note = Note::new(text).unwrap();
        for s in signers {
            let k = key(*s);
            let signer = NoteSigner::new(&governor_key_name(k.verifying_key().as_bytes()), k).unwrap();
            note.add_signature(signer.sign(text)).unwrap();
        }
        let tenant = self.site.tenant("ee").unwrap();
        let rules = self.rules();
        let to = Addressee { site_key: self.site_key(), tenant: &tenant, rules: &rules, now };
        submit(&*self.backend().backend, &to, note.format().as_bytes())
    }

    fn stage(&self, id: &str) -> Stage {
        let rules = self.rules();
        load_all(&*self.backend().backend, &rules)
            .unwrap()
            .into_iter()
            .find(|h| h.id == id)
            .unwrap()
            .stage(&rules)
    }

    fn put(&self, kind: ObjectKind, bytes: &[u8]) -> String {
        let name = blake3::hash(bytes).to_hex().to_string();
        self.backend().backend.put(kind, &name, bytes).unwrap();
        name
    }
}

fn forbidden(r: Result<String, Refusal>) -> String {
    match r {
        Err(Refusal::Forbidden(m)) => m,
        other => panic!("expected 403, got {other:?}"),
    }
}

#[test]
fn quorum_then_lock_then_execution_and_nothing_before() {
    let f = fixture(100, 0);
    let old = f.put(ObjectKind::Snapshot, b"old snapshot");
    let pack = f.put(ObjectKind::Pack, b"old pack");
    let newest = f.put(ObjectKind::Snapshot, b"newest snapshot");
    let p = f.proposal(Act::Forget, &[("snapshots", &old), ("packs", &pack)]);
    let id = f.submit(&p.encode(), &[2], 1000).unwrap();
    assert_eq!(f.stage(&id), Stage::Proposed);
    f.site.governance.mark_open("ee");
    run_due(&f.site, 5000);
    assert_eq!(f.stage(&id), Stage::Proposed, "one of two approvals does nothing");
    f.submit(&p.encode(), &[3], 1000).unwrap();
    assert_eq!(f.stage(&id), Stage::Locked);
    run_due(&f.site, 1099);
    assert!(f.backend().backend.stat(ObjectKind::Pack, &pack).unwrap().is_some(), "the lock holds");
    // Files carry the real clock: run the executor in the real present, past the lock.
    let now = crate::files::unix_now().max(1100);
    run_due(&f.site, now);
    assert_eq!(f.stage(&id), Stage::Executed);
    let backend = &f.backend().backend;
    assert!(backend.stat(ObjectKind::Pack, &pack).unwrap().is_none());
    assert!(backend.stat(ObjectKind::Snapshot, &old).unwrap().is_none());
    assert!(backend.stat(ObjectKind::Snapshot, &newest).unwrap().is_some());
    assert!(matches!(f.submit(&p.encode(), &[4], now), Err(Refusal::Conflict(_))), "final");
}

#[test]
fn replays_forgeries_and_strangers_are_refused() {
    let f = fixture(100, 0);
    let snap = f.put(ObjectKind::Snapshot, b"s");
    let p = f.proposal(Act::Forget, &[("snapshots", &snap)]);
    let other_owner = Proposal { origin: ledger_origin(&[9; 32]), ..p.clone() };
    assert!(forbidden(f.submit(&other_owner.encode(), &[2], 0)).contains("not this tenant"));
    let elsewhere = Proposal { sites: [([7; 32], "ee".to_string())].into(), ..p.clone() };
    assert!(forbidden(f.submit(&elsewhere.encode(), &[2], 0)).contains("not addressed"));
    let other_tenant = Proposal { sites: [(f.site_key(), "lv".to_string())].into(), ..p.clone() };
    assert!(forbidden(f.submit(&other_tenant.encode(), &[2], 0)).contains("not addressed"));
    assert!(forbidden(f.submit(&p.encode(), &[1], 0)).contains("not a governor"), "the owner is no governor");
    // A signature over another text, presented with this one.
    let text = p.encode();
    let k = key(2);
    let signer = NoteSigner::new(&governor_key_name(k.verifying_key().as_bytes()), k).unwrap();
    let mut note = Note::new(text.clone()).unwrap();
    note.add_signature(signer.sign("another text\n")).unwrap();
    let tenant = f.site.tenant("ee").unwrap();
    let rules = f.rules();
    let to = Addressee { site_key: f.site_key(), tenant: &tenant, rules: &rules, now: 0 };
    let forged = submit(&*f.backend().backend, &to, note.format().as_bytes());
    assert!(forbidden(forged).contains("does not verify"));
    assert!(matches!(f.submit("hello\n", &[2], 0), Err(Refusal::BadRequest(_))));
    let cancel = cancel_text(&p.origin, &p.id());
    assert!(matches!(f.submit(&cancel, &[2], 0), Err(Refusal::NotFound(_))), "nothing to cancel");
    assert!(f.backend().backend.list(ObjectKind::Meta).unwrap().is_empty(), "nothing recorded");
}

#[test]
fn a_cancel_during_the_lock_stops_execution() {
    let f = fixture(0, 0);
    let snap = f.put(ObjectKind::Snapshot, b"s");
    f.put(ObjectKind::Snapshot, b"newer");
    let p = f.proposal(Act::Forget, &[("snapshots", &snap)]);
    let id = f.submit(&p.encode(), &[2, 3], 0).unwrap();
    f.submit(&cancel_text(&p.origin, &id), &[4], 0).unwrap();
    assert_eq!(f.stage(&id), Stage::Cancelled);
    f.site.governance.mark_open("ee");
    run_due(&f.site, crate::files::unix_now());
    assert!(f.backend().backend.stat(ObjectKind::Snapshot, &snap).unwrap().is_some());
    assert!(matches!(f.submit(&p.encode(), &[4], 0), Err(Refusal::Conflict(_))));
}

#[test]
fn the_floor_the_newest_snapshot_and_the_last_key_file_are_kept() {
    let f = fixture(0, 3600);
    let snap = f.put(ObjectKind::Snapshot, b"s");
    f.put(ObjectKind::Snapshot, b"newer");
    let p = f.proposal(Act::Forget, &[("snapshots", &snap)]);
    let id = f.submit(&p.encode(), &[2, 3, 4], 0).unwrap();
    f.site.governance.mark_open("ee");
    let now = crate::files::unix_now();
    run_due(&f.site, now);
    assert!(f.site.governance.waiting_until("ee", &id).is_some_and(|t| t > now + 3500));
    assert!(
        f.backend().backend.stat(ObjectKind::Snapshot, &snap).unwrap().is_some(),
        "a full quorum, and still kept"
    );
    run_due(&f.site, now + 3601);
    assert_eq!(f.stage(&id), Stage::Executed, "once the floor has passed");

    let g = fixture(0, 0);
    let only = g.put(ObjectKind::Snapshot, b"only");
    let id = g.submit(&g.proposal(Act::Forget, &[("snapshots", &only)]).encode(), &[2, 3], 0).unwrap();
    g.site.governance.mark_open("ee");
    run_due(&g.site, crate::files::unix_now());
    assert_eq!(g.stage(&id), Stage::Refused, "never the newest snapshot");
    let key_file = g.put(ObjectKind::Key, b"the only key file");
    let id = g.submit(&g.proposal(Act::RemoveKeys, &[("keys", &key_file)]).encode(), &[2, 3], 0).unwrap();
    g.site.governance.mark_open("ee");
    run_due(&g.site, crate::files::unix_now());
    assert_eq!(g.stage(&id), Stage::Refused, "never the last key file");
    assert!(g.backend().backend.stat(ObjectKind::Key, &key_file).unwrap().is_some());
}

#[test]
fn settings_apply_and_may_not_make_governance_impossible() {
    let f = fixture(0, 0);
    let settings = |s: Vec<chancery_ledger::Setting>| Proposal {
        act: Act::Settings,
        deletions: BTreeSet::new(),
        settings: s,
        ..f.proposal(Act::Forget, &[])
    };
    let drop_two = settings(vec![
        chancery_ledger::Setting::Roles { key: key(3).verifying_key().to_bytes(), roles: BTreeSet::new() },
        chancery_ledger::Setting::Roles { key: key(4).verifying_key().to_bytes(), roles: BTreeSet::new() },
    ]);
    let id = f.submit(&drop_two.encode(), &[2, 3], 0).unwrap();
    f.site.governance.mark_open("ee");
    run_due(&f.site, crate::files::unix_now());
    assert_eq!(f.stage(&id), Stage::Refused, "one governor left for a quorum of two");
    let one =
        settings(vec![chancery_ledger::Setting::Quorum(1), chancery_ledger::Setting::RetentionFloor(60)]);
    let id = f.submit(&one.encode(), &[2, 3], 0).unwrap();
    f.site.governance.mark_open("ee");
    run_due(&f.site, crate::files::unix_now());
    assert_eq!(f.stage(&id), Stage::Executed);
    assert_eq!((f.rules().quorum, f.rules().retention_floor_secs), (1, 60));
    let reopened = Site::open(f._dir.path()).unwrap();
    let rules = reopened.store("ee").unwrap().rules(&reopened.tenant("ee").unwrap());
    assert_eq!(rules.quorum, 1, "amendments survive a restart");
}

#[test]
fn a_site_removal_deletes_everything_but_the_history() {
    let f = fixture(0, 0);
    let pack = f.put(ObjectKind::Pack, b"p");
    let snap = f.put(ObjectKind::Snapshot, b"s");
    let key_file = f.put(ObjectKind::Key, b"k");
    let id = f.submit(&f.proposal(Act::RemoveSite, &[]).encode(), &[3, 4], 0).unwrap();
    f.site.governance.mark_open("ee");
    run_due(&f.site, crate::files::unix_now());
    assert_eq!(f.stage(&id), Stage::Executed);
    let backend = &f.backend().backend;
    for (kind, name) in
        [(ObjectKind::Pack, &pack), (ObjectKind::Snapshot, &snap), (ObjectKind::Key, &key_file)]
    {
        assert!(backend.stat(kind, name).unwrap().is_none(), "{kind:?} deleted");
    }
    let meta: Vec<String> = backend.list(ObjectKind::Meta).unwrap().into_iter().map(|o| o.name).collect();
    assert!(
        meta.iter().any(|n| n.starts_with("proposal-"))
            && meta.iter().any(|n| n.starts_with("governance-done-"))
    );
}
