use super::*;

fn site() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn record(seq: u64, prev: [u8; 32]) -> Record {
    let mut r = Record {
        seq,
        time_ms: 1_767_225_600_000 + seq,
        tenant: "ee".into(),
        key: hex::encode([1u8; 32]),
        role: "owner".into(),
        method: "PUT".into(),
        object: format!("packs/{}", hex::encode([seq as u8; 32])),
        bytes_in: 4_194_304,
        bytes_out: 230,
        status: 201,
        prev,
        signature: [0; 64],
    };
    r.sign(&site());
    r
}

#[test]
fn a_signed_record_round_trips_and_verifies() {
    let r = record(0, GENESIS);
    let parsed = Record::parse(&r.line()).unwrap();
    assert_eq!(parsed, r);
    parsed.verify(&site().verifying_key().to_bytes()).unwrap();
    assert_ne!(r.hash(), GENESIS);
    let other = SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes();
    assert_eq!(parsed.verify(&other), Err(RecordError::BadSignature));
}

#[test]
fn every_changed_field_breaks_the_signature_or_the_parse() {
    let r = record(3, [9; 32]);
    let site_key = site().verifying_key().to_bytes();
    let line = r.line();
    for at in 0..line.len() {
        let mut bytes = line.clone().into_bytes();
        bytes[at] ^= 0x01;
        let Ok(text) = String::from_utf8(bytes) else { continue };
        let verdict = Record::parse(&text).and_then(|p| p.verify(&site_key));
        assert!(verdict.is_err(), "byte {at} changed and still accepted: {text}");
    }
}

#[test]
fn only_the_canonical_spelling_parses() {
    let line = record(5, GENESIS).line();
    for bad in [
        line.replacen("5 ", "05 ", 1),
        line.replacen(" ee ", " e/e ", 1),
        line.replacen(" PUT ", " put ", 1),
        line.replacen(" 201 ", " 999 ", 1),
        line.replacen(' ', "  ", 1),
        format!("{line} "),
        line.to_uppercase(),
        String::new(),
    ] {
        assert!(Record::parse(&bad).is_err(), "{bad}");
    }
}

#[test]
fn the_object_field_is_always_one_safe_word() {
    assert_eq!(object_field(""), "-");
    assert_eq!(object_field("packs/ab"), "packs/ab");
    assert_eq!(object_field("a b\nc"), "a?b?c");
    assert_eq!(object_field(&"x".repeat(2000)).len(), MAX_OBJECT_LEN);
}

#[test]
fn a_page_has_a_header_records_and_one_head() {
    let (a, b) = (record(0, GENESIS), record(1, record(0, GENESIS).hash()));
    let text = AuditPage::format([a.line().as_str()], Some(&b.line()));
    let page = AuditPage::parse(&text).unwrap();
    assert_eq!(page.records, vec![Ok(a.clone())]);
    assert_eq!(page.head, Some(Ok(b.clone())));
    let empty = AuditPage::parse(&AuditPage::format([], None)).unwrap();
    assert!(empty.records.is_empty() && empty.head.is_none());
    assert!(matches!(AuditPage::parse("chancery-audit-log v2\n"), Err(PageError::Header(_))));
    assert!(AuditPage::parse(&format!("{text}{}\n", a.line())).is_err(), "a line after the head");
    assert!(AuditPage::parse(text.trim_end()).is_err(), "no final newline");
    let damaged = text.replacen(" PUT ", " GET ", 1);
    assert!(AuditPage::parse(&damaged).unwrap().records[0].as_ref().unwrap().verify(&[0; 32]).is_err());
}
