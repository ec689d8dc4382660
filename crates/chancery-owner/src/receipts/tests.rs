//! The receipts file: reload, torn lines, foreign and forged receipts, re-pinning, newer
//! versions; the sending file; and the recovery of receipts lost on the way.

use super::*;
use crate::config::Endpoint;
use crate::site::{OwnerIdentity, Site};
use chancery_format::ObjectId;
use chancery_store::{Backend, MemoryBackend, ObjectInfo, StoreError};
use ed25519_dalek::SigningKey;
use std::collections::HashMap;

const TENANT: &str = "ee";

fn site_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn log_in(dir: &Path, key: &SigningKey) -> SiteReceipts {
    SiteReceipts::new(dir, "lux", key.verifying_key().to_bytes(), TENANT)
}

fn owner(seed: u8) -> OwnerIdentity {
    use ed25519_dalek::Signer as _;
    let key = SigningKey::from_bytes(&[seed; 32]);
    let public_key = key.verifying_key().to_bytes();
    OwnerIdentity { public_key, signer: Arc::new(move |m: &[u8]| key.sign(m).to_bytes()) }
}

fn object(n: u8) -> ObjectId {
    ObjectId::of(&[n])
}

fn receipt(key: &SigningKey, tenant: &str, n: u8) -> Receipt {
    Receipt::sign(key, tenant, "packs", &object(n).to_hex(), 1, 1_700_000_000)
}

fn append_raw(path: &Path, bytes: &[u8]) {
    OpenOptions::new().append(true).open(path).unwrap().write_all(bytes).unwrap();
}

#[test]
fn kept_receipts_are_read_back_verified() {
    let dir = tempfile::tempdir().unwrap();
    let key = site_key(1);
    let log = log_in(dir.path(), &key);
    assert!(log.load().unwrap().held.is_empty(), "no file yet: nothing receipted");
    for n in 0..3 {
        log.record(&receipt(&key, TENANT, n));
    }
    log.record(&receipt(&key, TENANT, 0));
    log.record(&Receipt::sign(&key, TENANT, "meta", "chancery-site", 9, 1));
    log.sync();
    assert!(log.take_problems().is_empty());

    let loaded = log_in(dir.path(), &key).load().unwrap();
    assert_eq!(loaded.held.len(), 3, "each object once; the marker is no id");
    assert!((0..3).all(|n| loaded.held.has(ObjectKind::Pack, &object(n))));
    assert!(!loaded.held.has(ObjectKind::Index, &object(0)), "kinds are apart");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn a_torn_last_line_is_skipped_and_the_next_receipt_stands_alone() {
    let dir = tempfile::tempdir().unwrap();
    let key = site_key(1);
    let log = log_in(dir.path(), &key);
    log.record(&receipt(&key, TENANT, 0));
    let whole = line::encode_receipt(&receipt(&key, TENANT, 1));
    append_raw(log.path(), &whole[..whole.len() / 2]);

    let loaded = log.load().unwrap();
    assert_eq!((loaded.held.len(), loaded.warnings.len()), (1, 0), "{:?}", loaded.warnings);

    // A later run appends after the torn line, which must not swallow the new receipt.
    let later = log_in(dir.path(), &key);
    later.record(&receipt(&key, TENANT, 2));
    let loaded = later.load().unwrap();
    assert!(loaded.held.has(ObjectKind::Pack, &object(2)));
    assert_eq!((loaded.held.len(), loaded.warnings.len()), (2, 0), "{:?}", loaded.warnings);
}

#[test]
fn forged_and_foreign_receipts_are_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    let key = site_key(1);
    let log = log_in(dir.path(), &key);
    log.record(&receipt(&key, TENANT, 0));
    let mut forged = receipt(&key, TENANT, 1);
    forged.name = object(2).to_hex();
    let mut lines = line::encode_receipt(&forged);
    lines.extend(line::encode_receipt(&receipt(&site_key(2), TENANT, 3)));
    lines.extend(line::encode_receipt(&receipt(&key, "lv", 4)));
    append_raw(log.path(), &lines);

    let loaded = log.load().unwrap();
    assert_eq!(loaded.held.len(), 1);
    assert!(loaded.held.has(ObjectKind::Pack, &object(0)));
    let text = loaded.warnings.join("\n");
    assert!(text.contains("1 receipt(s)") && text.contains("do not verify"), "{text}");
    assert!(text.contains("2 receipt(s)") && text.contains("re-pinned"), "{text}");
}

#[test]
fn a_re_pinned_site_starts_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (site_key(1), site_key(2));
    log_in(dir.path(), &old).record(&receipt(&old, TENANT, 0));

    let log = log_in(dir.path(), &new);
    assert_eq!(log.load().unwrap().warnings.len(), 1, "the old receipts are named, not counted");
    log.record(&receipt(&new, TENANT, 1));
    let loaded = log.load().unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.held.len(), 1);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().any(|n| n.starts_with("lux.jsonl.replaced-")), "{names:?}");
}

#[test]
fn lines_of_another_version_are_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let key = site_key(1);
    let log = log_in(dir.path(), &key);
    log.record(&receipt(&key, TENANT, 0));
    append_raw(log.path(), b"{\"v\":2,\"receipt\":\"a newer layout\"}\n");
    let loaded = log.load().unwrap();
    assert_eq!(loaded.held.len(), 1);
    assert!(loaded.warnings.iter().any(|w| w.contains("version 2")), "{:?}", loaded.warnings);
}

#[test]
fn objects_sent_are_named_once_until_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(dir.path(), &site_key(1));
    assert!(log.sent().unwrap().is_empty());
    log.sending(ObjectKind::Pack, "a");
    log.sending(ObjectKind::Pack, "a");
    log.sending(ObjectKind::Index, "b");
    let expected = vec![(ObjectKind::Pack, "a".to_string()), (ObjectKind::Index, "b".to_string())];
    assert_eq!(log.sent().unwrap(), expected);
    log.clear_sent().unwrap();
    assert!(log.sent().unwrap().is_empty());
    log.sending(ObjectKind::Snapshot, "c");
    assert_eq!(log_in(dir.path(), &site_key(1)).sent().unwrap(), vec![(ObjectKind::Snapshot, "c".into())]);
}

/// A site server in memory: it signs a receipt for every put, except that the answer to the
/// puts of `lose` never arrives (stored, then the connection cut).
#[derive(Debug)]
struct FakeServer {
    store: MemoryBackend,
    key: SigningKey,
    lose: Mutex<Option<String>>,
    puts: Mutex<HashMap<String, usize>>,
    receipts: Mutex<Vec<Receipt>>,
}

impl ReceiptSource for FakeServer {
    fn take_receipts(&self) -> Vec<Receipt> {
        std::mem::take(&mut *self.receipts.lock().unwrap())
    }
}

impl Backend for FakeServer {
    fn location(&self) -> String {
        "fake".into()
    }
    fn put(&self, kind: ObjectKind, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.store.put(kind, name, bytes)?;
        *self.puts.lock().unwrap().entry(name.to_string()).or_default() += 1;
        let mut lose = self.lose.lock().unwrap();
        if lose.as_deref() == Some(name) {
            *lose = None;
            return Err(StoreError::Unavailable { location: "fake".into(), reason: "cut".into() });
        }
        let r = Receipt::sign(&self.key, TENANT, kind.dir_name(), name, bytes.len() as u64, 1);
        self.receipts.lock().unwrap().push(r);
        Ok(())
    }
    fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StoreError> {
        self.store.get(kind, name)
    }
    fn get_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        self.store.get_range(kind, name, offset, len)
    }
    fn stat(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StoreError> {
        self.store.stat(kind, name)
    }
    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StoreError> {
        self.store.list(kind)
    }
    fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StoreError> {
        self.store.delete(kind, name)
    }
    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

fn fake_site(dir: &Path) -> (Site, Arc<FakeServer>) {
    let key = site_key(1);
    let log = Arc::new(log_in(dir, &key));
    let server = Arc::new(FakeServer {
        store: MemoryBackend::new(),
        key,
        lose: Mutex::default(),
        puts: Mutex::default(),
        receipts: Mutex::default(),
    });
    let config = SiteConfig {
        name: "lux".into(),
        endpoint: Endpoint::Server {
            url: "https://fake".into(),
            site_key: String::new(),
            tenant: TENANT.into(),
        },
        location: "49.6,6.1".parse().unwrap(),
        jurisdiction: "LU".into(),
        tier: 0,
        upload_timeout_secs: 300,
        limit_upload_kib: None,
        limit_download_kib: None,
    };
    let backend = Arc::new(KeepReceipts::new(server.clone(), log.clone()));
    (Site { config, backend, receipts: Some(log), server: None }, server)
}

#[test]
fn a_receipt_lost_on_the_way_is_asked_for_again_and_nothing_receipted_is_resent() {
    let dir = tempfile::tempdir().unwrap();
    let (site, server) = fake_site(dir.path());
    let bodies: Vec<Vec<u8>> = (0..4u8).map(|n| vec![n; 100]).collect();
    let names: Vec<String> = bodies.iter().map(|b| ObjectId::of(b).to_hex()).collect();
    *server.lose.lock().unwrap() = Some(names[2].clone());
    for (name, body) in names.iter().zip(&bodies).take(3) {
        let _ = site.backend.put(ObjectKind::Pack, name, body);
    }
    // The run stops here: the third pack is at the site, without a receipt.
    let held = site.receipts.as_ref().unwrap().load().unwrap().held;
    assert!(held.has_name(ObjectKind::Pack, &names[1]) && !held.has_name(ObjectKind::Pack, &names[2]));

    let warnings = recover_receipts(&site).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let held = site.receipts.as_ref().unwrap().load().unwrap().held;
    assert!(names[..3].iter().all(|n| held.has_name(ObjectKind::Pack, n)));
    let puts = server.puts.lock().unwrap().clone();
    assert_eq!(
        (puts[&names[0]], puts[&names[1]], puts[&names[2]]),
        (1, 1, 2),
        "only the unreceipted one again"
    );
    assert!(site.receipts.as_ref().unwrap().sent().unwrap().is_empty(), "the sending file is emptied");
    assert!(recover_receipts(&site).unwrap().is_empty(), "a clean start asks nothing");
    assert_eq!(server.puts.lock().unwrap().len(), 3);
}

#[test]
fn the_sending_file_is_emptied_at_a_command_s_end_only_when_every_put_has_its_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let (site, server) = fake_site(dir.path());
    let log = site.receipts.clone().unwrap();
    let put = |n: u8| site.backend.put(ObjectKind::Ledger, &object(n).to_hex(), &[n]);
    put(1).unwrap();
    log.clear_sent_if_answered().unwrap();
    assert!(log.sent().unwrap().is_empty(), "its receipt is kept");

    *server.lose.lock().unwrap() = Some(object(2).to_hex());
    assert!(put(2).is_err());
    put(3).unwrap();
    log.clear_sent_if_answered().unwrap();
    assert_eq!(log.sent().unwrap().len(), 2, "the answer to a put was lost: the next run asks for it");

    let warnings = recover_receipts(&site).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(log.sent().unwrap().is_empty());
    put(4).unwrap();
    log.clear_sent_if_answered().unwrap();
    assert!(log.sent().unwrap().is_empty(), "a recovery starts afresh");
}

#[test]
fn a_verified_prefix_is_trusted_only_while_it_is_unchanged_and_signed_by_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let key = site_key(1);
    let log = log_in(dir.path(), &key).with_owner(Some(owner(5)));
    for n in 0..3 {
        log.record(&receipt(&key, TENANT, n));
    }
    assert_eq!(log.load().unwrap().held.len(), 3);
    let note = verified::VerifiedPrefix::path_for(log.path());
    assert!(note.exists(), "the reading noted what it verified");
    log.record(&receipt(&key, TENANT, 3));
    let mut forged = receipt(&key, TENANT, 4);
    forged.size = 2;
    append_raw(log.path(), &line::encode_receipt(&forged));
    let loaded = log.load().unwrap();
    assert_eq!((loaded.held.len(), loaded.warnings.len()), (4, 1), "lines past the note are checked");

    // An edit inside the noted prefix voids the note: every line is checked again.
    let text = std::fs::read_to_string(log.path()).unwrap();
    std::fs::write(log.path(), text.replacen(&object(0).to_hex(), &object(9).to_hex(), 1)).unwrap();
    let loaded = log.load().unwrap();
    assert!(!loaded.held.has(ObjectKind::Pack, &object(9)));
    assert_eq!((loaded.held.len(), loaded.warnings.len()), (3, 1), "{:?}", loaded.warnings);

    // A note signed by anyone but the owner is no note.
    let stranger = owner(6);
    let fake = verified::VerifiedPrefix {
        path: note.clone(),
        owner: &stranger,
        site: "lux",
        site_key: &key.verifying_key().to_bytes(),
        tenant: TENANT,
    };
    let bytes = std::fs::read(log.path()).unwrap();
    fake.record(&bytes, line::complete_len(&bytes));
    assert!(!log.load().unwrap().held.has(ObjectKind::Pack, &object(9)));
}
