use super::*;
use chancery_protocol::audit_log::{AuditPage, GENESIS};
use chancery_store::{MemoryBackend, ObjectKind};

fn event(status: u16) -> Event {
    Event {
        key: Some([1; 32]),
        role: "writer,reader,auditor".into(),
        method: "PUT".into(),
        object: "packs/ab".into(),
        bytes_in: 10,
        bytes_out: 200,
        status,
    }
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[5; 32])
}

/// Parses and checks the whole chain of what `read` gives from 0; the records.
fn verified(logs: &AuditLogs, store: &dyn Backend) -> Vec<Record> {
    let read = logs.read("ee", store, Since::Seq(0), usize::MAX).unwrap();
    let text = AuditPage::format(read.lines.iter().map(String::as_str), read.head.as_deref());
    let page = AuditPage::parse(&text).unwrap();
    let mut prev = GENESIS;
    let records: Vec<Record> = page.records.into_iter().map(Result::unwrap).collect();
    for (i, r) in records.iter().enumerate() {
        r.verify(&key().verifying_key().to_bytes()).unwrap();
        assert_eq!((r.seq, r.prev), (i as u64, prev));
        prev = r.hash();
    }
    assert_eq!(page.head.map(Result::unwrap).as_ref(), records.last());
    records
}

#[test]
fn records_chain_across_segments_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryBackend::new();
    let logs = AuditLogs::with_segments(dir.path(), 3);
    for status in 200..207 {
        logs.append("ee", &store, &key(), &event(status), status % 2 == 0).unwrap();
    }
    let sealed: Vec<_> = store.list(ObjectKind::Meta).unwrap().into_iter().map(|o| o.name).collect();
    assert_eq!(sealed, ["audit-log-00000000000000000000", "audit-log-00000000000000000003"]);
    assert_eq!(verified(&logs, &store).len(), 7);

    // Another server process on the same data continues the chain.
    let again = AuditLogs::with_segments(dir.path(), 3);
    again.append("ee", &store, &key(), &event(404), true).unwrap();
    let records = verified(&again, &store);
    assert_eq!(records.len(), 8);
    assert_eq!(records[7].status, 404);
    assert_eq!(records[2].status, 202, "records keep their order");
}

#[test]
fn reading_from_a_sequence_number_or_a_time_gives_the_rest_and_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryBackend::new();
    let logs = AuditLogs::with_segments(dir.path(), 4);
    for status in 200..210 {
        logs.append("ee", &store, &key(), &event(status), false).unwrap();
    }
    let read = logs.read("ee", &store, Since::Seq(5), 3).unwrap();
    let seqs: Vec<u64> = read.lines.iter().map(|l| Record::parse(l).unwrap().seq).collect();
    assert_eq!(seqs, [5, 6, 7]);
    assert_eq!(Record::parse(read.head.as_deref().unwrap()).unwrap().seq, 9);
    let past = logs.read("ee", &store, Since::Seq(99), 10).unwrap();
    assert!(past.lines.is_empty() && past.head.is_some(), "the head comes even with no record");
    let all = logs.read("ee", &store, Since::TimeMs(0), 100).unwrap();
    assert_eq!(all.lines.len(), 10);
    assert!(logs.read("ee", &store, Since::TimeMs(u64::MAX), 100).unwrap().lines.is_empty());
    let other = MemoryBackend::new();
    assert!(logs.read("lv", &other, Since::Seq(0), 10).unwrap().head.is_none(), "an empty log");
}

#[test]
fn a_torn_line_and_records_already_sealed_are_dropped_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryBackend::new();
    let logs = AuditLogs::with_segments(dir.path(), 100);
    for status in 200..203 {
        logs.append("ee", &store, &key(), &event(status), true).unwrap();
    }
    let journal = dir.path().join("audit/ee.log");
    // A crash after sealing records 0 and 1 but before the journal was emptied, and during
    // the write of another line.
    let text = std::fs::read_to_string(&journal).unwrap();
    let sealed: String = text.split_inclusive('\n').take(3).collect();
    store.put(ObjectKind::Meta, &chancery_protocol::audit_segment_name(0), sealed.as_bytes()).unwrap();
    std::fs::write(&journal, format!("{text}12 1700")).unwrap();
    let again = AuditLogs::with_segments(dir.path(), 100);
    again.append("ee", &store, &key(), &event(500), true).unwrap();
    let records = verified(&again, &store);
    let statuses: Vec<u16> = records.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 201, 202, 500]);
}

#[test]
fn roles_come_from_one_place() {
    assert_eq!(role_of(Some("writer,reader,auditor")), "writer,reader,auditor");
    assert_eq!(role_of(None), "-");
    assert!(is_audit_name("audit-log-00000000000000000000") && !is_audit_name("config"));
}

#[test]
fn a_store_that_refuses_a_seal_delays_it_without_losing_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = chancery_store::FaultyBackend::new(MemoryBackend::new());
    let logs = AuditLogs::with_segments(dir.path(), 3);
    store.fail_puts_after(0);
    for status in 200..205 {
        logs.append("ee", &store, &key(), &event(status), true).unwrap();
    }
    assert!(store.list(ObjectKind::Meta).unwrap().is_empty(), "nothing sealed yet");
    store.plan().clear();
    logs.append("ee", &store, &key(), &event(205), true).unwrap();
    assert_eq!(store.list(ObjectKind::Meta).unwrap().len(), 1, "all six records in one segment");
    let statuses: Vec<u16> = verified(&logs, &store).iter().map(|r| r.status).collect();
    assert_eq!(statuses, (200..206).collect::<Vec<u16>>());
}
