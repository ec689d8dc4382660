//! The site audit log on real site servers on loopback: a backup's PUTs are in it, refused
//! requests (an unknown key, another tenant's key, a replay) too, and a record altered on the
//! site's disk, a log cut short, or a server killed right after a backup is caught or kept
//! (exit 10 naming the site and the record).

mod common;

use chancery_owner::archive::Archive;
use chancery_owner::site::OwnerIdentity;
use common::server::{owner_key, start_servers, SiteServer};
use common::tree::make_tree;
use common::{packs, stderr_of, Env, LUXEMBOURG, PASSWORD, STOCKHOLM};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Two site servers (`lux`, `sto`) and one backup.
fn world() -> (Env, Vec<SiteServer>) {
    let env = Env::init();
    let servers = start_servers(&env, &[("lux", LUXEMBOURG, "LU"), ("sto", STOCKHOLM, "SE")]);
    let src = env.path("src");
    make_tree(&src);
    env.backup_json(&[&src], 0);
    (env, servers)
}

fn records(log: &Value) -> &Vec<Value> {
    log["records"].as_array().unwrap()
}

/// The packs the log shows stored (PUT answered 201).
fn logged_packs(log: &Value) -> BTreeSet<String> {
    let stored = records(log).iter().filter(|r| r["method"] == "PUT" && r["status"] == 201);
    stored.filter_map(|r| r["object"].as_str()?.strip_prefix("packs/").map(String::from)).collect()
}

fn packs_on_disk(server: &SiteServer) -> BTreeSet<String> {
    let names = packs(&server.data.join("tenants/ee"));
    names.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
}

fn journal(server: &SiteServer) -> PathBuf {
    server.data.join("audit/ee.log")
}

/// Runs `audit-log ARGS`; asserts exit 10, the site and the record named on stderr.
fn refused(env: &Env, args: &[&str], record: &str) -> String {
    let out = env.cmd(args).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(10), "chancery {args:?}: {err}");
    assert!(err.contains("site lux") && err.contains(record), "chancery {args:?}: {err}");
    err
}

#[test]
fn a_backup_shows_its_puts_signed_by_the_owner_and_verifies() {
    let (env, servers) = world();
    let log = env.json(&["audit-log", "--site", "lux", "--verify"], 0);
    let owner = owner_key(&env);
    let puts: Vec<&Value> = records(&log).iter().filter(|r| r["method"] == "PUT").collect();
    assert!(
        puts.iter().all(|r| r["key"] == owner.as_str() && r["role"] == "writer,reader,auditor"),
        "{puts:?}"
    );
    assert!(puts.iter().any(|r| r["object"].as_str().unwrap().starts_with("snapshots/")));
    assert_eq!(logged_packs(&log), packs_on_disk(&servers[0]));
    assert!(puts.iter().all(|r| r["bytes_in"].as_u64().unwrap() > 0));
    // Reading the log is itself logged, and the next read checks from where this one ended.
    let again = env.json(&["audit-log", "--site", "lux"], 0);
    assert_eq!(again["checked_from"], log["head"]);
    assert!(records(&again).iter().any(|r| r["object"] == "audit-log" && r["method"] == "GET"));
    let table = env.cmd(&["audit-log", "--site", "sto", "--since", "1"]).output().unwrap();
    assert!(table.status.success(), "{}", stderr_of(&table));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("PUT") && text.contains("writer,reader,auditor") && text.contains("records checked"),
        "{text}"
    );
}

/// Signs as the owner of `env` (its keys unlocked with the password).
fn identity(env: &Env) -> OwnerIdentity {
    let archive = Archive::open(&env.config, PASSWORD.as_bytes()).unwrap();
    OwnerIdentity::from_keys(&archive.keys)
}

/// One signed GET of `path` at `server`, as `who`; the status. With `replay`, sent twice.
fn signed_get(server: &SiteServer, who: &OwnerIdentity, path: &str, replay: bool) -> Vec<u16> {
    let site_key = chancery_protocol::parse_public_key("site key", &server.key).unwrap();
    let tls = chancery_protocol::tls::client_config(site_key).unwrap();
    let client = reqwest::blocking::Client::builder().use_preconfigured_tls(tls).build().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let headers = chancery_protocol::auth::sign_request(
        &who.public_key,
        &site_key,
        |m| (who.signer)(m),
        "GET",
        path,
        b"",
        now,
    );
    let send = || {
        let mut request = client.get(format!("{}{path}", server.url));
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        request.send().unwrap().status().as_u16()
    };
    (0..if replay { 2 } else { 1 }).map(|_| send()).collect()
}

#[test]
fn refused_requests_are_in_the_log_with_the_key_they_claimed() {
    let (env, servers) = world();
    let stranger = Env::init();
    let stranger_id = identity(&stranger);
    assert_eq!(signed_get(&servers[0], &stranger_id, "/v1/tenants/ee/packs", false), [401]);
    // Enrolled for another tenant while the server runs: still not for ours.
    let enrolled = common::chancery_cmd()
        .args(["site-admin", "enroll", "--data", servers[0].data.to_str().unwrap(), "--tenant", "lv"])
        .args(["--owner-key", &owner_key(&stranger)])
        .output()
        .unwrap();
    assert!(enrolled.status.success(), "{}", stderr_of(&enrolled));
    assert_eq!(signed_get(&servers[0], &stranger_id, "/v1/tenants/ee/meta/config", false), [403]);
    assert_eq!(signed_get(&servers[0], &identity(&env), "/v1/tenants/ee/index", true), [200, 401]);
    // A tenant that does not exist is in nobody's log.
    assert_eq!(signed_get(&servers[0], &stranger_id, "/v1/tenants/nobody/packs", false), [403]);

    let log = env.json(&["audit-log", "--site", "lux", "--verify"], 0);
    let stranger_key = owner_key(&stranger);
    let refused: Vec<(String, String, u64)> = records(&log)
        .iter()
        .filter(|r| r["status"] == 401 || r["status"] == 403)
        .map(|r| {
            (
                r["key"].as_str().unwrap().into(),
                r["object"].as_str().unwrap().into(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let owner = owner_key(&env);
    assert_eq!(
        refused,
        [
            (stranger_key.clone(), "packs".to_string(), 401),
            (stranger_key, "meta/config".to_string(), 403),
            (owner, "index".to_string(), 401),
        ]
    );
    let roles: Vec<&str> =
        records(&log).iter().filter(|r| r["status"] == 403).map(|r| r["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["-"], "a key that is not the tenant's has no role there");
}

#[test]
fn a_record_altered_on_the_sites_disk_is_named() {
    let (env, mut servers) = world();
    env.json(&["audit-log", "--site", "lux"], 0);
    servers[0].kill();
    let path = journal(&servers[0]);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    // Record 4 (line 5, after the header) now claims another size.
    let fields: Vec<&str> = lines[5].split(' ').collect();
    let bytes_out = fields[8].parse::<u64>().unwrap() + 1;
    lines[5] = [&fields[..8], &[bytes_out.to_string().as_str()], &fields[9..]].concat().join(" ");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    servers[0].restart();
    let err = refused(&env, &["audit-log", "--site", "lux", "--verify"], "audit-log record 4");
    assert!(err.contains("signature"), "{err}");
}

#[test]
fn a_log_cut_short_is_caught_by_what_this_machine_saw() {
    let (env, mut servers) = world();
    let seen = env.json(&["audit-log", "--site", "lux"], 0)["head"].as_u64().unwrap();
    servers[0].kill();
    let path = journal(&servers[0]);
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text.lines().collect();
    std::fs::write(&path, kept[..kept.len() - 5].join("\n") + "\n").unwrap();
    servers[0].restart();
    refused(&env, &["audit-log", "--site", "lux"], &format!("audit-log record {seen}"));
    // Even read from its start, the shorter log is not accepted.
    refused(&env, &["audit-log", "--site", "lux", "--verify"], &format!("audit-log record {seen}"));
}

#[test]
fn a_server_killed_right_after_a_backup_keeps_every_receipted_put() {
    let (env, mut servers) = world();
    servers[0].kill();
    servers[0].restart();
    let log = env.json(&["audit-log", "--site", "lux", "--verify"], 0);
    let stored = packs_on_disk(&servers[0]);
    assert!(!stored.is_empty());
    assert_eq!(logged_packs(&log), stored);
    let syncs = records(&log).iter().filter(|r| r["object"] == "sync" && r["status"] == 204).count();
    assert!(syncs > 0, "the backup's sync barriers are logged");
}

#[test]
fn a_restore_from_a_site_server_reads_many_blobs_per_request() {
    let (env, _servers) = world();
    let many = env.path("many");
    std::fs::create_dir_all(&many).unwrap();
    for i in 0..300 {
        std::fs::write(many.join(format!("f{i:03}.txt")), format!("file {i}\n").repeat(i % 7 + 1)).unwrap();
    }
    env.backup_json(&[&many], 0);
    let before = env.json(&["audit-log", "--site", "lux"], 0);
    let from = before["head"].as_u64().unwrap() + 1;
    let target = env.path("restored");
    env.cmd(&["restore", "latest", "--target", target.to_str().unwrap(), "--site", "lux"]).assert().success();
    common::tree::assert_same(&many, &target.join("many"));
    let log = env.json(&["audit-log", "--site", "lux", "--since", &from.to_string()], 0);
    let pack_reads = records(&log)
        .iter()
        .filter(|r| r["method"] == "GET" && r["object"].as_str().unwrap().starts_with("packs/"))
        .count();
    assert!(
        pack_reads > 0 && pack_reads < 20,
        "300 files in {pack_reads} pack reads (one per file would be 300)"
    );
}

#[test]
fn a_restore_from_a_site_server_falls_back_past_a_damaged_pack() {
    let (env, servers) = world();
    let many = env.path("many");
    std::fs::create_dir_all(&many).unwrap();
    for i in 0..200 {
        std::fs::write(many.join(format!("f{i:03}.bin")), common::tree::noise(4096 + i, i as u64)).unwrap();
    }
    env.backup_json(&[&many], 0);
    // Damage every pack at lux in its middle: some blobs of the batch no longer verify there.
    for pack in packs(&servers[0].data.join("tenants/ee")) {
        let len = std::fs::metadata(&pack).unwrap().len() as usize;
        common::flip_byte(&pack, len / 2);
    }
    let target = env.path("restored");
    let out = env
        .cmd(&["restore", "latest", "--target", target.to_str().unwrap(), "--site", "lux"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "served from sto, with a warning: {}", stderr_of(&out));
    assert!(stderr_of(&out).contains("lux"), "{}", stderr_of(&out));
    common::tree::assert_same(&many, &target.join("many"));
}
