//! The site audit log's wire format: `chancery_protocol::audit_log::AuditPage::parse` and
//! `Record::parse`, what the owner runs on a site's answer. Whatever the bytes, parsing must
//! not panic; every record accepted must re-format to its own line (one spelling, so that its
//! chain hash is well defined); and a record that verifies against the site key must be one
//! the site signed (edits of an honest page never yield a new valid record).
#![no_main]

use chancery_fuzz::{mode, mutate};
use chancery_protocol::audit_log::{AuditPage, Record, GENESIS};
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn site_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_bytes(&[11; 32]))
}

/// Four honest records, chained, and the page that carries them.
fn honest() -> &'static (Vec<Record>, String) {
    static PAGE: OnceLock<(Vec<Record>, String)> = OnceLock::new();
    PAGE.get_or_init(|| {
        let mut prev = GENESIS;
        let records: Vec<Record> = (0..4u64)
            .map(|seq| {
                let mut r = Record {
                    seq,
                    time_ms: 1_767_225_600_000 + seq * 17,
                    tenant: "ee".into(),
                    key: if seq == 2 { "-".into() } else { "ab".repeat(32) },
                    role: if seq == 2 { "-".into() } else { "owner".into() },
                    method: ["PUT", "GET", "HEAD", "POST"][seq as usize].into(),
                    object: format!("packs/{}", "cd".repeat(32)),
                    bytes_in: seq * 1000,
                    bytes_out: 231,
                    status: [201, 200, 401, 204][seq as usize],
                    prev,
                    signature: [0; 64],
                };
                r.sign(site_key());
                prev = r.hash();
                r
            })
            .collect();
        let lines: Vec<String> = records.iter().map(Record::line).collect();
        let text = AuditPage::format(lines[..3].iter().map(String::as_str), Some(&lines[3]));
        (records, text)
    })
}

fn check(text: &str) {
    let Ok(page) = AuditPage::parse(text) else { return };
    let public = site_key().verifying_key().to_bytes();
    let (records, _) = honest();
    for record in page.records.iter().chain(page.head.iter()).flatten() {
        assert_eq!(Record::parse(&record.line()).as_ref(), Ok(record), "one spelling");
        if record.verify(&public).is_ok() {
            assert!(records.contains(record), "a record the site never signed verifies: {}", record.line());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((m, rest)) = mode(data) else { return };
    match m % 2 {
        0 => check(&String::from_utf8_lossy(rest)),
        _ => check(&String::from_utf8_lossy(&mutate(honest().1.as_bytes(), rest))),
    }
});
