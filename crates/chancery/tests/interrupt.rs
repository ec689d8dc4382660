//! A backup killed in the middle (kill -9) leaves no half object behind, and the next backup
//! resumes: the packs already at the sites are indexed from their own headers, not sent again.

mod common;

use common::tree::noise;
use common::{packs, Env};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn stored(env: &Env) -> u64 {
    ["lux", "sto"]
        .iter()
        .flat_map(|s| packs(&env.site_dir(s)))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

#[test]
fn a_killed_backup_resumes_without_resending() {
    let env = Env::with_two_sites();
    let data = noise(96 * 1024 * 1024, 11);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("chancery"))
        .env("CHANCERY_PASSWORD", common::PASSWORD)
        .arg("--config")
        .arg(&env.config)
        .args(["backup", "--stdin", "--stdin-name", "dump.sql"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Feed two thirds, wait until both sites hold packs of it, then kill mid-stream.
    child.stdin.as_mut().unwrap().write_all(&data[..64 * 1024 * 1024]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while packs(&env.site_dir("lux")).len() < 3 || packs(&env.site_dir("sto")).len() < 3 {
        assert!(Instant::now() < deadline, "no packs appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = stored(&env);
    // Three packs per site at least, and a full pack keeps at least half the 16 MiB target
    // (it is cut where its padding is least), so each site holds 24 MiB or more.
    assert!(before >= 2 * 3 * 8 * 1024 * 1024, "packs of the killed run: {before}");
    assert_eq!(env.json(&["snapshots"], 0).as_array().unwrap().len(), 0, "no snapshot from a killed run");

    let out = env
        .cmd(&["--json", "backup", "--stdin", "--stdin-name", "dump.sql"])
        .write_stdin(data.clone())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr_of(&out));
    let after = stored(&env);
    let one_copy = data.len() as u64;
    assert!(after <= 2 * one_copy * 105 / 100, "nothing stored twice: {after} bytes for 2 x {one_copy}");
    env.cmd(&["check", "--read-data"]).assert().success();
    let target = env.path("out");
    env.cmd(&["restore", "latest", "--target", target.to_str().unwrap()]).assert().success();
    assert!(std::fs::read(target.join("dump.sql")).unwrap() == data);
}
