use super::*;
use chancery_protocol::audit_log::GENESIS;
use ed25519_dalek::SigningKey;

fn site_key() -> SigningKey {
    SigningKey::from_bytes(&[4; 32])
}

fn public() -> [u8; 32] {
    site_key().verifying_key().to_bytes()
}

/// A valid log of `n` records of tenant `ee`.
fn log(n: u64) -> Vec<Record> {
    let mut prev = GENESIS;
    (0..n)
        .map(|seq| {
            let mut r = Record {
                seq,
                time_ms: 1_000 + seq,
                tenant: "ee".into(),
                key: "-".into(),
                role: "-".into(),
                method: "GET".into(),
                object: "packs".into(),
                bytes_in: 0,
                bytes_out: seq,
                status: 200,
                prev,
                signature: [0; 64],
            };
            r.sign(&site_key());
            prev = r.hash();
            r
        })
        .collect()
}

fn page_of(records: &[Record], head: Option<&Record>) -> AuditPage {
    let lines: Vec<String> = records.iter().map(Record::line).collect();
    let head = head.map(Record::line);
    AuditPage::parse(&AuditPage::format(lines.iter().map(String::as_str), head.as_deref())).unwrap()
}

/// Verifies one page of `records` from `from`, then the memory; the error's object if any.
fn check(records: &[Record], from: u64, remembered: Option<&Record>) -> Result<usize, String> {
    let mut v = Verifier::new("lux", "ee", public(), from);
    let shown: Vec<Record> = records.iter().filter(|r| r.seq >= from).cloned().collect();
    v.page(page_of(&shown, records.last())).map_err(|e| e.object.clone())?;
    v.finish(remembered).map(|(r, _)| r.len()).map_err(|e| e.object)
}

#[test]
fn a_whole_log_verifies_and_from_the_remembered_record_too() {
    let records = log(6);
    assert_eq!(check(&records, 0, None), Ok(6));
    assert_eq!(check(&records, 3, Some(&records[3])), Ok(3));
    assert_eq!(check(&[], 0, None), Ok(0), "an empty log");
}

#[test]
fn an_altered_record_is_named() {
    let mut records = log(6);
    records[2].bytes_out = 999;
    assert_eq!(check(&records, 0, None).unwrap_err(), "audit-log record 2");
    // Re-signed by the site (it holds its key): the next record's link breaks.
    records[2].sign(&site_key());
    assert_eq!(check(&records, 0, None).unwrap_err(), "audit-log record 3");
}

#[test]
fn a_gap_or_a_foreign_record_is_named() {
    let mut records = log(6);
    records.remove(3);
    assert_eq!(check(&records, 0, None).unwrap_err(), "audit-log record 3");
    let mut foreign = log(3);
    foreign[1].tenant = "lv".into();
    foreign[1].sign(&site_key());
    assert_eq!(check(&foreign, 0, None).unwrap_err(), "audit-log record 1");
}

#[test]
fn a_truncated_or_rewritten_log_is_caught_by_the_memory() {
    let records = log(6);
    let seen = records[5].clone();
    assert_eq!(check(&records[..4], 5, Some(&seen)).unwrap_err(), "audit-log record 5");
    assert_eq!(check(&[], 5, Some(&seen)).unwrap_err(), "audit-log record 5");
    // The site rewrote the whole log from record 4 on, re-signed and re-chained.
    let mut rewritten = records.clone();
    rewritten[5].bytes_out = 7;
    rewritten[5].sign(&site_key());
    assert_eq!(check(&rewritten, 5, Some(&seen)).unwrap_err(), "audit-log record 5");
}

#[test]
fn a_head_that_disagrees_with_the_records_is_refused() {
    let records = log(4);
    let mut v = Verifier::new("lux", "ee", public(), 0);
    let err = v.page(page_of(&records, Some(&records[2]))).unwrap_err();
    assert_eq!(err.object, "audit-log record 2");
    let mut v = Verifier::new("lux", "ee", public(), 0);
    assert!(v.page(page_of(&records, None)).is_err(), "records without a head");
    let mut v = Verifier::new("lux", "ee", public(), 0);
    assert!(!v.page(page_of(&records[..2], Some(&records[3]))).unwrap(), "more to read");
    assert!(v.page(page_of(&[], Some(&records[3]))).is_err(), "a head with nothing after");
}

#[test]
fn since_parses_numbers_and_times_and_decides_where_to_start() {
    assert_eq!("12".parse(), Ok(Since::Seq(12)));
    assert_eq!("1970-01-01T00:00:01Z".parse(), Ok(Since::TimeMs(1000)));
    assert!("yesterday".parse::<Since>().is_err());
    let seen = &log(8)[7];
    let at = |since, verify_all| start(AuditLogOptions { since, verify_all }, Some(seen));
    assert_eq!(at(None, false), 7);
    assert_eq!(at(Some(Since::Seq(3)), false), 3);
    assert_eq!(at(Some(Since::Seq(9)), false), 7);
    assert_eq!(at(Some(Since::TimeMs(0)), true), 0);
    assert_eq!(start(AuditLogOptions { since: Some(Since::Seq(9)), verify_all: false }, None), 9);
}
