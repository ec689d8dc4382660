//! Data written by release 0.1 (format v1, `tests/fixtures/v1`) stays readable: restore,
//! check and a new backup all work on it, and a key rotation moves its new data from cipher
//! suite 1 to suite 2. A new format version must keep this test passing.

mod common;

use common::{copy_dir, packs};

use assert_cmd::Command;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const PASSWORD: &str = "fixture password v1";

fn lcg_bytes() -> Vec<u8> {
    let mut s: u64 = 1;
    (0..100_000)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 56) as u8
        })
        .collect()
}

#[test]
fn archives_written_by_format_v1_restore_check_and_grow() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1"), dir.path());
    let config = dir.path().join("home/chancery.toml");
    let run = |args: &[&str]| {
        let mut cmd = Command::cargo_bin("chancery").unwrap();
        cmd.env("CHANCERY_PASSWORD", PASSWORD).arg("--config").arg(&config).args(args);
        cmd
    };
    run(&["check", "--read-data"]).assert().success();
    let target = dir.path().join("out");
    // Made before the ledger: readable, with a warning (exit 3) that it cannot be verified yet.
    run(&["restore", "latest", "--target", target.to_str().unwrap()])
        .assert()
        .code(3)
        .stderr(predicates::str::contains("no ledger yet"));
    let reg = target.join("registers");
    assert_eq!(std::fs::read(reg.join("a.txt")).unwrap(), b"population register, format v1\n");
    assert!(std::fs::read(reg.join("sub/b.bin")).unwrap() == lcg_bytes());
    assert_eq!(std::fs::read_link(reg.join("link")).unwrap(), Path::new("a.txt"));
    let meta = std::fs::metadata(reg.join("a.txt")).unwrap();
    assert_eq!((meta.mtime(), meta.mtime_nsec()), (1_704_164_645, 123_456_789));
    run(&["backup", reg.to_str().unwrap()]).assert().success();
    run(&["check"]).assert().success();
    // The backup started the ledger with the old snapshot in it: both verify now.
    let out = run(&["--json", "ledger", "show"]).output().unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let snapshots = shown["entries"].as_array().unwrap().iter().filter(|e| e["event"] == "snapshot").count();
    assert_eq!(snapshots, 2, "{shown}");
    assert!(shown["entries"].as_array().unwrap().iter().any(|e| e["event"] == "key-added"), "{shown}");
    run(&["ledger", "verify"]).assert().success();
    let again = dir.path().join("again");
    run(&["restore", "latest", "--target", again.to_str().unwrap()]).assert().success();

    // Suite 1 (XChaCha20-Poly1305) until a rotation; the rotation's generation is suite 2
    // (XAES-256-GCM), and a snapshot mixing blobs of both restores and checks.
    let lux = dir.path().join("sites/lux");
    let suite_and_generation = |pack: &Path| {
        let bytes = std::fs::read(pack).unwrap();
        (bytes[5], bytes[6])
    };
    let old_packs = packs(&lux);
    assert!(old_packs.iter().all(|p| suite_and_generation(p) == (1, 0)), "growing kept suite 1");
    run(&["key", "rotate"]).assert().success();
    std::fs::write(reg.join("c.txt"), b"land register, after the rotation\n").unwrap();
    run(&["backup", reg.to_str().unwrap()]).assert().success();
    let new_packs: Vec<_> = packs(&lux).into_iter().filter(|p| !old_packs.contains(p)).collect();
    assert!(!new_packs.is_empty());
    assert!(new_packs.iter().all(|p| suite_and_generation(p) == (2, 1)), "new data is XAES-256-GCM");
    run(&["check", "--read-data"]).assert().success();
    let mixed = dir.path().join("mixed");
    run(&["restore", "latest", "--target", mixed.to_str().unwrap()]).assert().success();
    let reg = mixed.join("registers");
    assert_eq!(std::fs::read(reg.join("c.txt")).unwrap(), b"land register, after the rotation\n");
    assert!(std::fs::read(reg.join("sub/b.bin")).unwrap() == lcg_bytes());
}
