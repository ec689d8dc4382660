//! Governance on real site servers on loopback: a writer's key destroys nothing; a 2-of-3
//! quorum of governors prunes only after the time lock, at every site, exactly what no kept
//! snapshot uses; a cancel stops a proposal everywhere; a replayed or forged act is refused;
//! the retention floor holds against a full quorum.

mod common;

use common::server::{add_server, owner_key, SiteServer};
use common::tree::{assert_same, noise};
use common::{flip_byte, packs, stderr_of, Env, LUXEMBOURG, STOCKHOLM};

const PARIS: &str = "48.8566,2.3522";
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PLACES: [(&str, &str, &str); 3] =
    [("lux", LUXEMBOURG, "LU"), ("sto", STOCKHOLM, "SE"), ("par", PARIS, "FR")];

/// An owner with three site servers whose tenant has three governors (2 of 3 needed).
struct World {
    env: Env,
    servers: Vec<SiteServer>,
    governors: Vec<PathBuf>,
    governor_keys: Vec<String>,
}

impl World {
    fn new(time_lock: &str, floor: &str) -> World {
        let env = Env::init();
        let mut governors = Vec::new();
        let mut governor_keys = Vec::new();
        for i in 1..=3 {
            let path = env.path(&format!("governor-{i}.key"));
            let out = env.cmd(&["governance", "key", "--out", path.to_str().unwrap()]).output().unwrap();
            assert!(out.status.success(), "{}", stderr_of(&out));
            governor_keys.push(String::from_utf8(out.stdout).unwrap().trim().to_string());
            governors.push(path);
        }
        let mut enroll: Vec<String> =
            governor_keys.iter().flat_map(|k| ["--key".into(), format!("{k}=governor")]).collect();
        enroll.extend(
            ["--quorum", "2", "--time-lock", time_lock, "--retention-floor", floor].map(String::from),
        );
        let owner = owner_key(&env);
        let servers = PLACES
            .iter()
            .map(|(name, location, cc)| {
                let data = env.path(&format!("site-{name}"));
                let server = SiteServer::start_enrolled(&data, name, "ee", &owner, |_| {}, &enroll);
                add_server(&env, name, &server, location, cc);
                server
            })
            .collect();
        World { env, servers, governors, governor_keys }
    }

    /// Runs chancery as governor `i` (1-based); returns the output.
    fn as_governor(&self, i: usize, args: &[&str]) -> std::process::Output {
        self.env.cmd(args).env("CHANCERY_GOVERNOR_KEY", &self.governors[i - 1]).output().unwrap()
    }

    fn packs_at(&self, i: usize) -> BTreeSet<String> {
        let names = packs(&self.servers[i].data.join("tenants/ee"));
        names.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
    }

    fn all_packs(&self) -> Vec<BTreeSet<String>> {
        (0..self.servers.len()).map(|i| self.packs_at(i)).collect()
    }

    /// The packs proposal `id` deletes, from its text as the first site keeps it.
    fn proposed_packs(&self, id: &str) -> BTreeSet<String> {
        let text =
            std::fs::read_to_string(self.servers[0].data.join(format!("tenants/ee/meta/proposal-{id}")))
                .unwrap();
        text.lines().filter_map(|l| l.strip_prefix("delete packs ")).map(String::from).collect()
    }

    /// Where proposal `id` stands at each site.
    fn stages(&self, id: &str) -> Vec<String> {
        let book = self.env.json(&["governance", "list"], 0);
        let proposal = book["proposals"].as_array().unwrap().iter().find(|p| p["id"] == id).cloned();
        let proposal = proposal.unwrap_or_else(|| panic!("no proposal {id} in {book}"));
        PLACES
            .iter()
            .map(|(site, _, _)| proposal["sites"][site]["stage"].as_str().unwrap_or("?").to_string())
            .collect()
    }

    /// Waits until every site shows `stage` for `id`.
    fn wait_for(&self, id: &str, stage: &str, limit: Duration) {
        let start = Instant::now();
        loop {
            let stages = self.stages(id);
            if stages.iter().all(|s| s == stage) {
                return;
            }
            assert!(start.elapsed() < limit, "proposal {id} still {stages:?} after {limit:?}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// Backs up {a}, then {a, b}, then {a}, a second apart (snapshot times are ordered):
/// forgetting all but the last frees exactly the packs of b and of the second run's trees.
fn three_backups(env: &Env) -> PathBuf {
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.bin"), noise(1 << 20, 1)).unwrap();
    env.backup_json(&[&src], 0);
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(src.join("b.bin"), noise(3 << 20, 2)).unwrap();
    env.backup_json(&[&src], 0);
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::remove_file(src.join("b.bin")).unwrap();
    env.backup_json(&[&src], 0);
    src
}

/// The proposal id a command printed (exit 3: a warning, such as count-only retention rules).
fn proposal_id(out: &std::process::Output) -> String {
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", stderr_of(out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json["id"].as_str().or_else(|| json["posted"]["id"].as_str()).unwrap().to_string()
}

#[test]
fn two_of_three_governors_prune_after_the_lock_and_every_kept_snapshot_restores() {
    let w = World::new("4s", "0s");
    let folder = w.env.add_site("vie", "48.2082,16.3738", "AT");
    let src = three_backups(&w.env);
    let before = w.all_packs();
    let snapshots = w.env.json(&["snapshots"], 0);
    assert_eq!(snapshots.as_array().unwrap().len(), 3);

    let id = proposal_id(&w.as_governor(1, &["--json", "forget", "--keep-last", "1", "--prune"]));
    assert_eq!(w.stages(&id), ["proposed"; 3]);
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(w.stages(&id), ["proposed"; 3], "one governor of a 2-of-3 quorum does nothing");
    assert_eq!(w.all_packs(), before);

    let out = w.as_governor(2, &["governance", "approve", &id[..12]]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(w.stages(&id), ["locked"; 3]);
    assert_eq!(w.all_packs(), before, "nothing happens before the lock ends");

    w.wait_for(&id, "executed", Duration::from_secs(30));
    let after = w.all_packs();
    let planned = w.proposed_packs(&id);
    assert_eq!(planned.len(), 2, "b.bin's data pack and the second backup's tree pack: {planned:?}");
    for (i, (was, now)) in before.iter().zip(&after).enumerate() {
        let gone: BTreeSet<String> = was.difference(now).cloned().collect();
        assert_eq!(gone, planned, "site {i} deleted exactly the packs the proposal names");
        assert!(now.is_subset(was));
    }
    assert_eq!(after[0], after[1]);
    assert_eq!(after[1], after[2]);
    // A local folder is the owner's: it follows what the governed site servers executed
    // (seen by `governance list`, or `sync`).
    w.env.cmd(&["sync"]).assert().success();
    let in_folder: BTreeSet<String> =
        packs(&folder).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(in_folder, after[0]);
    let left = w.env.json(&["snapshots"], 0);
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    for (site, _, _) in PLACES {
        assert_eq!(left[0]["receipted"][site], true, "still receipted in full after the prune: {left}");
    }
    for (site, _, _) in PLACES {
        let target = w.env.path(&format!("restored-{site}"));
        w.env
            .cmd(&["restore", "latest", "--target", target.to_str().unwrap(), "--site", site])
            .assert()
            .success();
        assert_same(&src, &target.join("src"));
        w.env.cmd(&["check", "--site", site, "--read-data"]).assert().success();
    }
    let ledger = String::from_utf8(w.env.cmd(&["ledger", "show"]).output().unwrap().stdout).unwrap();
    assert!(ledger.contains("proposed") && ledger.contains("proposal-executed"), "{ledger}");
    // A backup afterwards still works and builds on what is left.
    w.env.backup_json(&[&src], 0);
}

/// Runs chancery as the owner alone (no governor key); asserts exit 12.
fn refused_as_owner(env: &Env, args: &[&str]) {
    let out = env.cmd(args).env_remove("CHANCERY_GOVERNOR_KEY").output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(12), "chancery {args:?}: {err}");
    assert!(err.contains("governor"), "the refusal says what is needed: {err}");
}

/// A client of site `i` signing with `key`.
fn client_as(
    w: &World,
    i: usize,
    tenant: &str,
    key: &ed25519_dalek::SigningKey,
) -> chancery_client::RemoteBackend {
    let server = &w.servers[i];
    let site_key = chancery_protocol::parse_public_key("site key", &server.key).unwrap();
    let identity = chancery_owner::site::OwnerIdentity::from_signing_key(key.clone());
    chancery_client::RemoteBackend::new(chancery_client::RemoteSite {
        url: server.url.clone(),
        site_key,
        tenant: tenant.into(),
        owner_key: identity.public_key,
        signer: identity.signer,
    })
    .unwrap()
}

fn owner_signing_key(env: &Env) -> ed25519_dalek::SigningKey {
    let archive = chancery_owner::archive::Archive::open(&env.config, common::PASSWORD.as_bytes()).unwrap();
    archive.keys.owner_signing_key()
}

#[test]
fn a_writer_key_destroys_nothing_and_each_refusal_is_in_the_audit_log() {
    use chancery_store::{Backend, ObjectKind};
    let w = World::new("2s", "0s");
    three_backups(&w.env);
    refused_as_owner(&w.env, &["forget", "--keep-last", "1"]);
    // Governors forget the first two snapshots (no prune), so that a prune has something to delete.
    let id = proposal_id(&w.as_governor(1, &["--json", "forget", "--keep-last", "1"]));
    assert!(w.as_governor(2, &["governance", "approve", &id]).status.success());
    w.wait_for(&id, "executed", Duration::from_secs(30));
    let before = w.all_packs();
    refused_as_owner(&w.env, &["prune"]);
    refused_as_owner(&w.env, &["governance", "propose", "--quorum", "1"]);
    let owner = owner_key(&w.env);
    refused_as_owner(&w.env, &["governance", "propose", "--roles", &format!("{owner}=writer,governor")]);
    let approve = w.env.cmd(&["governance", "approve", &id]).output().unwrap();
    assert_ne!(approve.status.code(), Some(0), "the owner cannot approve either");

    let client = client_as(&w, 0, "ee", &owner_signing_key(&w.env));
    let pack = before[0].iter().next().unwrap().clone();
    assert!(client.delete(ObjectKind::Pack, &pack).is_err(), "no DELETE of data");
    assert!(client.put(ObjectKind::Pack, &pack, b"ransom note").is_err(), "no overwrite");
    assert!(client.put(ObjectKind::Meta, "chancery-site", b"ransom note").is_err(), "no overwrite of meta");
    assert!(client.put(ObjectKind::Meta, &format!("governance-done-{id}"), b"{}").is_err());

    assert_eq!(w.all_packs(), before, "nothing lost");
    assert_eq!(w.env.json(&["snapshots"], 0).as_array().unwrap().len(), 1);
    w.env.cmd(&["check", "--read-data"]).assert().success();
    let log = w.env.json(&["audit-log", "--site", "lux", "--verify"], 0);
    let refusals: Vec<&Value> = log["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["key"] == owner.as_str() && r["status"].as_u64().unwrap() >= 400)
        .collect();
    let count = |method: &str, object: &str, status: u64| {
        refusals
            .iter()
            .filter(|r| r["method"] == method && r["object"] == object && r["status"] == status)
            .count()
    };
    let acts = "forget, prune, quorum change, role change, approval";
    assert_eq!(count("POST", "governance", 403), 5, "{acts}: {refusals:?}");
    assert_eq!(count("DELETE", &format!("packs/{pack}"), 405), 1, "{refusals:?}");
    assert_eq!(count("PUT", &format!("packs/{pack}"), 400), 1, "{refusals:?}");
    assert_eq!(count("PUT", "meta/chancery-site", 409), 1, "{refusals:?}");
}

#[test]
fn a_cancel_stops_a_proposal_everywhere_and_replays_and_forgeries_are_refused() {
    let w = World::new("8s", "0s");
    three_backups(&w.env);
    let before = w.all_packs();
    let id = proposal_id(&w.as_governor(1, &["--json", "forget", "--keep-last", "1", "--prune"]));
    assert!(w.as_governor(2, &["governance", "approve", &id]).status.success());
    assert_eq!(w.stages(&id), ["locked"; 3]);
    let out = w.as_governor(3, &["governance", "cancel", &id[..10]]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(w.stages(&id), ["cancelled"; 3]);
    let again = w.as_governor(1, &["governance", "approve", &id]);
    assert_ne!(again.status.code(), Some(0), "a cancelled proposal takes no more approvals");

    // The signed proposal, replayed.
    let text =
        std::fs::read_to_string(w.servers[0].data.join(format!("tenants/ee/meta/proposal-{id}"))).unwrap();
    let g1 = chancery_owner::governance::governor_key::load(&w.governors[0]).unwrap();
    let note = chancery_owner::governance::post::signed_note(&text, &g1).unwrap();
    // To another tenant of the same site, whose governors include the same key.
    let stranger = w.env.path("stranger.key");
    let out = w.env.cmd(&["governance", "key", "--out", stranger.to_str().unwrap()]).output().unwrap();
    let stranger_key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    enroll(&w.servers[0], "lv", &stranger_key, &w.governor_keys);
    let refusal = client_as(&w, 0, "lv", &g1).post_governance(&note).unwrap_err().to_string();
    assert!(refusal.contains("403") && refusal.contains("not this tenant"), "{refusal}");
    // To a site it was not addressed to, where the same owner and governors are enrolled.
    let mut enroll_args: Vec<String> =
        w.governor_keys.iter().flat_map(|k| ["--key".into(), format!("{k}=governor")]).collect();
    enroll_args.extend(["--quorum", "1", "--time-lock", "0s", "--retention-floor", "0s"].map(String::from));
    let other = SiteServer::start_enrolled(
        &w.env.path("site-other"),
        "other",
        "ee",
        &owner_key(&w.env),
        |_| {},
        &enroll_args,
    );
    let far = World { env: Env::init(), servers: vec![other], governors: vec![], governor_keys: vec![] };
    let refusal = client_as(&far, 0, "ee", &g1).post_governance(&note).unwrap_err().to_string();
    assert!(refusal.contains("403") && refusal.contains("not addressed to this site"), "{refusal}");
    // A forged signature, and one by a key that is no governor.
    let mut line = chancery_ledger::Note::parse(note.as_bytes()).unwrap().signatures()[0].clone();
    line.signature[0] ^= 1;
    let mut forged = chancery_ledger::Note::new(text.clone()).unwrap();
    forged.add_signature(line).unwrap();
    let forged = forged.format();
    let refusal = client_as(&w, 1, "ee", &g1).post_governance(&forged).unwrap_err().to_string();
    assert!(refusal.contains("403"), "{refusal}");
    let not_governor = chancery_owner::governance::governor_key::load(&stranger).unwrap();
    let by_stranger = chancery_owner::governance::post::signed_note(&text, &not_governor).unwrap();
    let refusal = client_as(&w, 1, "ee", &g1).post_governance(&by_stranger).unwrap_err().to_string();
    assert!(refusal.contains("403") && refusal.contains("not a governor"), "{refusal}");

    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(w.stages(&id), ["cancelled"; 3]);
    assert_eq!(w.all_packs(), before, "a cancelled proposal deletes nothing, anywhere");
    assert_eq!(w.env.json(&["snapshots"], 0).as_array().unwrap().len(), 3);
    let ledger = String::from_utf8(w.env.cmd(&["ledger", "show"]).output().unwrap().stdout).unwrap();
    assert!(ledger.contains("proposal-cancelled"), "{ledger}");
}

/// Enrolls `owner` as `tenant` at a running server, with `governors`.
fn enroll(server: &SiteServer, tenant: &str, owner: &str, governors: &[String]) {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("chancery"));
    cmd.args([
        "site-admin",
        "enroll",
        "--data",
        server.data.to_str().unwrap(),
        "--tenant",
        tenant,
        "--owner-key",
        owner,
    ]);
    for g in governors {
        cmd.args(["--key", &format!("{g}=governor")]);
    }
    assert!(cmd.status().unwrap().success());
}

#[test]
fn the_retention_floor_holds_against_a_full_quorum_until_governance_lowers_it() {
    let w = World::new("2s", "1h");
    three_backups(&w.env);
    let before = w.all_packs();
    let id = proposal_id(&w.as_governor(1, &["--json", "forget", "--keep-last", "1", "--prune"]));
    for g in [2, 3] {
        let out = w.as_governor(g, &["governance", "approve", &id]);
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
    w.wait_for(&id, "waiting", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(w.stages(&id), ["waiting"; 3]);
    assert_eq!(w.all_packs(), before, "every signature, and still nothing younger than the floor goes");
    assert_eq!(w.env.json(&["snapshots"], 0).as_array().unwrap().len(), 3);

    // Lowering the floor is itself a proposal, with its quorum and lock.
    let change =
        proposal_id(&w.as_governor(1, &["--json", "governance", "propose", "--retention-floor", "0s"]));
    assert!(w.as_governor(3, &["governance", "approve", &change]).status.success());
    w.wait_for(&change, "executed", Duration::from_secs(30));
    let list = w.env.json(&["governance", "list"], 0);
    assert_eq!(list["terms"]["lux"]["retention_floor_secs"], 0, "{list}");
    w.wait_for(&id, "executed", Duration::from_secs(30));
    assert_ne!(w.all_packs(), before);
    w.env.cmd(&["check", "--read-data"]).assert().success();
}

fn key_files_at(server: &SiteServer) -> BTreeSet<String> {
    let dir = server.data.join("tenants/ee/keys");
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

fn registrations_at(server: &SiteServer) -> usize {
    let dir = server.data.join("tenants/ee/meta");
    let names =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned());
    names.filter(|n| n.starts_with("recovery-key-")).count()
}

#[test]
fn a_governed_site_keeps_a_removed_key_file_until_governors_remove_it() {
    use chancery_store::{Backend, ObjectKind};
    let w = World::new("2s", "0s");
    let src = w.env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.txt"), "a\n").unwrap();
    w.env.backup_json(&[&src], 0);
    w.env
        .cmd(&["key", "add", "--label", "deputy"])
        .env("CHANCERY_NEW_PASSWORD", "deputy's password")
        .assert()
        .success();
    let keys = w.env.json(&["key", "list"], 0);
    let deputy = keys.as_array().unwrap().iter().find(|k| k["current"] == false).unwrap()["id"].as_str();
    let deputy = deputy.unwrap().to_string();
    let live: BTreeSet<String> = key_files_at(&w.servers[0]);
    assert!(live.contains(&deputy) && registrations_at(&w.servers[0]) == 2);

    // A writer cannot delete key files: ransomware could otherwise remove every password's.
    let client = client_as(&w, 0, "ee", &owner_signing_key(&w.env));
    let own = live.iter().find(|k| **k != deputy).unwrap();
    let refusal = client.delete(ObjectKind::Key, own).unwrap_err().to_string();
    assert!(refusal.contains("403") && refusal.contains("governed"), "{refusal}");

    let out = w.env.cmd(&["key", "remove", &deputy]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains(&format!("keeps keys/{deputy}")), "{}", stderr_of(&out));
    for server in &w.servers {
        assert_eq!(key_files_at(server), live, "kept until governors agree");
    }
    let id = proposal_id(&w.as_governor(2, &["--json", "governance", "propose", "--remove-old-keys"]));
    let out = w.as_governor(3, &["governance", "approve", &id]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    w.wait_for(&id, "executed", Duration::from_secs(30));
    for server in &w.servers {
        assert_eq!(key_files_at(server), [own.clone()].into(), "only the live key file is left");
        assert_eq!(registrations_at(server), 1);
    }
    w.env.cmd(&["sync"]).assert().success();
    w.env.cmd(&["check", "--read-data"]).assert().success();
}

/// Listings read each site server's copy of a snapshot once; a forget reads every copy again,
/// since which snapshot every site holds decides what it must keep.
#[test]
fn a_forget_keeps_the_newest_snapshot_every_site_still_serves() {
    let w = World::new("1h", "0s");
    three_backups(&w.env);
    let listed = w.env.json(&["snapshots"], 0);
    let ids: Vec<&str> = listed.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    // Stockholm's copy of the newest snapshot, read once by the listing above, is damaged.
    let newest_at_sto = w.servers[1].data.join("tenants/ee/snapshots").join(ids[2]);
    flip_byte(&newest_at_sto, 40);
    assert_eq!(w.env.json(&["snapshots"], 0)[2]["sites"], serde_json::json!(["lux", "sto", "par"]));
    let out = w.as_governor(1, &["--json", "forget", "--keep-last", "1", "--dry-run"]);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", stderr_of(&out));
    let planned: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(planned["forget"], serde_json::json!([ids[0]]), "the second is the newest every site serves");
}
