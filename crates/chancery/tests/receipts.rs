//! Receipts kept per site server, against real servers on loopback: `status` and `snapshots`
//! name per site the newest snapshot it receipted in full, a local folder shows none, a
//! snapshot written while a site was down counts there only after `sync`, and an interrupted
//! backup run again sends nothing that a site already receipted.

mod common;

use common::server::{add_server, owner_key, SiteServer};
use common::tree::{make_tree, noise};
use common::{stderr_of, Env, LUXEMBOURG, STOCKHOLM};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PARIS: &str = "48.8566,2.3522";

fn site<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["sites"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()
}

/// The newest snapshot a site receipted in full, per `status --json`.
fn receipted(status: &Value, name: &str) -> Value {
    site(status, name)["receipted"]["snapshot"].clone()
}

fn set_min_sites(env: &Env, n: usize) {
    let text = std::fs::read_to_string(&env.config).unwrap();
    let at = text.find("min_sites = ").expect("policy in the config");
    let end = at + text[at..].find('\n').unwrap();
    std::fs::write(&env.config, format!("{}min_sites = {n}{}", &text[..at], &text[end..])).unwrap();
}

#[test]
fn status_and_snapshots_show_per_site_the_newest_snapshot_receipted_in_full() {
    let env = Env::init();
    let key = owner_key(&env);
    let lux = SiteServer::start(&env.path("site-lux"), "lux", "ee", &key);
    let mut sto = SiteServer::start(&env.path("site-sto"), "sto", "ee", &key);
    add_server(&env, "lux", &lux, LUXEMBOURG, "LU");
    add_server(&env, "sto", &sto, STOCKHOLM, "SE");
    env.add_site("par", PARIS, "FR");
    let src = env.path("src");
    make_tree(&src);
    let first = env.backup_json(&[&src], 0)["snapshot"].clone();
    for site in ["lux", "sto"] {
        // Every object sent has its receipt: the next run reads no receipts file to find out.
        let sending = env.config.parent().unwrap().join(format!(".chancery/receipts/{site}.sending"));
        assert_eq!(
            std::fs::read(&sending).unwrap_or_default(),
            b"",
            "{site}: a clean run names nothing as sent"
        );
    }

    let status = env.json(&["status"], 0);
    assert_eq!(receipted(&status, "lux"), first);
    assert_eq!(receipted(&status, "sto"), first);
    assert!(site(&status, "lux")["receipted"]["receipts"].as_u64().unwrap() >= 4, "{status}");
    assert_eq!(site(&status, "par")["receipted"], Value::Null, "a folder gives no receipts");
    assert_eq!(status["recovery_point_snapshot"], first);
    let age = status["recovery_point_age_seconds"].as_i64().unwrap();
    assert!((0..600).contains(&age), "recovery point age {age}");

    // Stockholm is down while the next snapshot is written.
    sto.kill();
    std::fs::write(src.join("new.txt"), b"written while sto was down").unwrap();
    let second = env.backup_json(&[&src], 3)["snapshot"].clone();
    // `status --json` exits 3 with a site down, as `status` does; the JSON says which.
    let status = env.json(&["status"], 3);
    assert_eq!(receipted(&status, "lux"), second);
    assert_eq!(receipted(&status, "sto"), first, "known from the receipts kept, though unreachable");
    assert_eq!(status["recovery_point_snapshot"], second, "lux and par hold it: the policy's two");

    sto.restart();
    let status = env.json(&["status"], 3);
    assert_eq!(receipted(&status, "sto"), first, "not receipted there before sync");
    set_min_sites(&env, 3);
    assert_eq!(env.json(&["status"], 3)["recovery_point_snapshot"], first, "only the first is at three");
    set_min_sites(&env, 2);

    env.cmd(&["sync"]).assert().success();
    let status = env.json(&["status"], 0);
    assert_eq!(receipted(&status, "sto"), second);
    let rows = env.json(&["snapshots"], 0);
    for row in rows.as_array().unwrap() {
        assert_eq!(row["receipted"], json!({"lux": true, "par": null, "sto": true}), "{row}");
    }
    let out = env.cmd(&["snapshots"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let short = &second.as_str().unwrap()[..8];
    let footer = |site: &str| text.lines().find(|l| l.trim_start().starts_with(site)).unwrap_or_default();
    assert!(footer("sto").contains(short), "{text}");
    assert!(footer("par").contains("no receipts"), "{text}");
}

/// Pack receipts in a site's receipts file while a backup may still be appending to it (a
/// line not yet complete is not counted).
fn pack_receipts_so_far(env: &Env, site: &str) -> usize {
    let path = env.config.parent().unwrap().join(format!(".chancery/receipts/{site}.jsonl"));
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rsplit_once('\n').map_or("", |(done, _)| done);
    complete
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"] == "packs")
        .count()
}

/// Every receipt line of a site's receipts file, counted by (kind, name).
fn receipt_counts(env: &Env, site: &str) -> HashMap<(String, String), usize> {
    let path = env.config.parent().unwrap().join(format!(".chancery/receipts/{site}.jsonl"));
    let mut counts = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let object = (r["kind"].as_str().unwrap().to_string(), r["name"].as_str().unwrap().to_string());
        *counts.entry(object).or_default() += 1;
    }
    counts
}

#[test]
fn an_interrupted_backup_run_again_sends_nothing_a_site_receipted() {
    let env = Env::init();
    let key = owner_key(&env);
    let servers = [
        SiteServer::start(&env.path("site-lux"), "lux", "ee", &key),
        SiteServer::start(&env.path("site-sto"), "sto", "ee", &key),
    ];
    add_server(&env, "lux", &servers[0], LUXEMBOURG, "LU");
    add_server(&env, "sto", &servers[1], STOCKHOLM, "SE");
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
    child.stdin.as_mut().unwrap().write_all(&data[..64 * 1024 * 1024]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Killed once each site has receipted two packs (a pack on the site's disk may still be
    // waiting for its answer, so the receipts file is what is watched).
    while ["lux", "sto"].iter().any(|s| pack_receipts_so_far(&env, s) < 2) {
        assert!(Instant::now() < deadline, "no packs were receipted");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed: Vec<_> = ["lux", "sto"].map(|s| receipt_counts(&env, s)).into();
    assert!(killed.iter().all(|c| c.keys().filter(|(kind, _)| kind == "packs").count() >= 2), "{killed:?}");

    let out = env
        .cmd(&["--json", "backup", "--stdin", "--stdin-name", "dump.sql"])
        .write_stdin(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let snapshot = serde_json::from_slice::<Value>(&out.stdout).unwrap()["snapshot"].clone();
    for ((site, before), server) in ["lux", "sto"].iter().zip(&killed).zip(&servers) {
        let after = receipt_counts(&env, site);
        let twice: Vec<_> = after.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "site {site}: sent again after its receipt: {twice:?}");
        assert!(before.keys().all(|object| after.contains_key(object)));
        // Lost answers included, every pack the site holds has its receipt now.
        for pack in common::packs(&server.data.join("tenants/ee")) {
            let name = pack.file_name().unwrap().to_str().unwrap().to_string();
            assert!(after.contains_key(&("packs".to_string(), name)), "site {site}: {pack:?} unreceipted");
        }
    }
    let status = env.json(&["status"], 0);
    assert_eq!(receipted(&status, "lux"), snapshot);
    assert_eq!(receipted(&status, "sto"), snapshot);
}
