//! The ledger against hostile sites, on real site servers on loopback: a site that deletes a
//! snapshot, swaps one for an older one, rolls its whole tenant back to an earlier copy, shows
//! two clients two histories, or cosigns a fork made with a stolen owner key is caught (exit
//! 10, naming the site and what was wrong), and the healthy sites still restore the exact tree.

mod common;

use chancery_client::WitnessAnswer;
use chancery_ledger::{AddCheckpoint, Event};
use chancery_owner::archive::Archive;
use chancery_owner::ledger::{LocalLedger, LogIdentity};
use common::server::{start_servers, SiteServer};
use common::tree::{assert_same, make_tree};
use common::{copy_dir, flip_byte, packs, stderr_of, Env, LUXEMBOURG, PASSWORD, STOCKHOLM};
use std::path::{Path, PathBuf};

const PARIS: &str = "48.8566,2.3522";
const SITES: [&str; 3] = ["lux", "sto", "par"];

struct World {
    env: Env,
    servers: Vec<SiteServer>,
    src: PathBuf,
}

impl World {
    /// Three site servers and one backup.
    fn new() -> World {
        let env = Env::init();
        let places = [("lux", LUXEMBOURG, "LU"), ("sto", STOCKHOLM, "SE"), ("par", PARIS, "FR")];
        let servers = start_servers(&env, &places);
        let src = env.path("src");
        make_tree(&src);
        let world = World { env, servers, src };
        world.backup();
        world
    }

    /// A backup of `src` after a small change; its snapshot id.
    fn backup(&self) -> String {
        let n = std::fs::read_dir(&self.src).unwrap().count();
        std::fs::write(self.src.join(format!("new-{n}.txt")), format!("register update {n}\n")).unwrap();
        let report = self.env.backup_json(&[&self.src], 0);
        report["snapshot"].as_str().unwrap().to_string()
    }

    fn tenant(&self, site: usize) -> PathBuf {
        self.servers[site].data.join("tenants/ee")
    }

    /// Runs a command; asserts exit 10 and that stderr names the site and says `what`.
    fn refused(&self, env: &Env, args: &[&str], site: &str, what: &str) -> String {
        let out = env.cmd(args).output().unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(10), "chancery {args:?}: {err}");
        assert!(err.contains(&format!("site {site}")) && err.contains(what), "chancery {args:?}: {err}");
        err
    }

    /// Restores the latest snapshot from `site` alone; the tree must be exact.
    fn restores_from(&self, site: &str) {
        let target = self.env.path(&format!("restored-{site}-{}", rand_suffix()));
        let out = self
            .env
            .cmd(&["restore", "latest", "--site", site, "--target", target.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(matches!(out.status.code(), Some(0 | 3)), "restore from {site}: {}", stderr_of(&out));
        assert_same(&self.src, &target.join("src"));
    }

    /// Replaces a site's whole tenant folder by `copy` (the server is stopped meanwhile).
    fn roll_back(&mut self, site: usize, copy: &Path) {
        self.servers[site].kill();
        let tenant = self.tenant(site);
        std::fs::rename(&tenant, tenant.with_extension("newer")).unwrap();
        copy_dir(copy, &tenant);
        self.servers[site].restart();
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// A second machine of the same owner: a copy of the home folder (config, keys, ledger).
fn copy_home(env: &Env) -> Env {
    let dir = tempfile::Builder::new().prefix("chancery-e2e").tempdir().unwrap();
    copy_dir(env.config.parent().unwrap(), &dir.path().join("home"));
    let config = dir.path().join("home/chancery.toml");
    Env { dir, config }
}

#[test]
fn a_clean_ledger_verifies_everywhere_and_lists_every_snapshot() {
    let world = World::new();
    let second = world.backup();
    let shown = world.env.json(&["ledger", "show"], 0);
    let entries = shown["entries"].as_array().unwrap();
    let events: Vec<&str> = entries.iter().map(|e| e["event"].as_str().unwrap()).collect();
    // Every change: the three sites, the key file and the config, then the two snapshots.
    assert_eq!(
        events,
        ["site-added", "site-added", "site-added", "key-added", "config", "snapshot", "snapshot"]
    );
    assert_eq!(entries[6]["argument"], second.as_str());
    for site in shown["sites"].as_array().unwrap() {
        assert_eq!(site["size"], 7, "{site}");
        assert_eq!(site["cosigned"], true, "{site}");
    }
    // A new password is recorded, and witnessed, at once.
    world
        .env
        .cmd(&["key", "add", "--label", "second"])
        .env("CHANCERY_NEW_PASSWORD", "another one")
        .assert()
        .success();
    let shown = world.env.json(&["ledger", "show"], 0);
    assert_eq!(shown["entries"][7]["event"], "key-added");
    assert_eq!(shown["sites"][0]["size"], 8);
    world.env.cmd(&["ledger", "verify"]).assert().success();
    world.env.cmd(&["check"]).assert().success();
    // A fresh machine without this one's ledger trusts what a quorum of sites cosigned.
    let fresh = copy_home(&world.env);
    std::fs::remove_dir_all(fresh.config.parent().unwrap().join(".chancery/ledger")).unwrap();
    let listed = fresh.json(&["snapshots"], 0);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    fresh.cmd(&["ledger", "verify"]).assert().success();
}

#[test]
fn a_deleted_snapshot_and_one_swapped_for_an_older_one_are_caught() {
    let world = World::new();
    let first = world.env.json(&["snapshots"], 0)[0]["id"].as_str().unwrap().to_string();
    let second = world.backup();
    let lux = world.tenant(0).join("snapshots");
    std::fs::remove_file(lux.join(&first)).unwrap();
    world.refused(&world.env, &["check"], "lux", &format!("snapshot {first}"));
    let err = world.refused(&world.env, &["snapshots"], "lux", "deleted");
    assert!(!err.contains("site sto") && !err.contains("site par"), "{err}");
    world.refused(&world.env, &["ledger", "verify"], "lux", "deleted");

    // Stockholm serves the older snapshot's bytes under the newer one's name.
    let sto = world.tenant(1).join("snapshots");
    std::fs::copy(sto.join(&first), sto.join(&second)).unwrap();
    world.refused(&world.env, &["check", "--site", "sto"], "sto", &format!("snapshot {second}"));
    world.restores_from("par");
}

#[test]
fn a_flipped_byte_and_a_deleted_pack_at_a_server_are_caught() {
    let world = World::new();
    let lux = packs(&world.tenant(0));
    flip_byte(&lux[0], 100);
    let name = lux[0].file_name().unwrap().to_str().unwrap().to_string();
    world.refused(&world.env, &["check", "--read-data", "--site", "lux"], "lux", &name);
    let sto = packs(&world.tenant(1));
    std::fs::remove_file(&sto[0]).unwrap();
    let name = sto[0].file_name().unwrap().to_str().unwrap().to_string();
    world.refused(&world.env, &["check", "--site", "sto"], "sto", &name);
    world.restores_from("par");
}

#[test]
fn a_tenant_rolled_back_to_an_earlier_copy_is_caught() {
    let mut world = World::new();
    let earlier = world.env.path("lux-earlier");
    copy_dir(&world.tenant(0), &earlier);
    world.backup();
    world.roll_back(0, &earlier);
    // Consistent in itself, and with the others as far as it goes: only memory tells.
    world.refused(&world.env, &["snapshots"], "lux", "rolled back");
    world.refused(&world.env, &["check"], "lux", "rolled back");
    world.refused(&world.env, &["ledger", "verify"], "lux", "rolled back");
    let target = world.env.path("from-lux");
    world.refused(
        &world.env,
        &["restore", "latest", "--site", "lux", "--target", target.to_str().unwrap()],
        "lux",
        "rolled back",
    );
    world.restores_from("sto");
}

#[test]
fn a_site_showing_two_clients_two_histories_is_caught() {
    let mut world = World::new();
    let second_machine = copy_home(&world.env);
    let earlier = world.env.path("lux-earlier");
    copy_dir(&world.tenant(0), &earlier);
    world.backup();
    // Luxembourg hides that backup from the second machine, which reaches only Luxembourg,
    // and lets it write a different history on top of the older state.
    world.roll_back(0, &earlier);
    world.servers[1].kill();
    world.servers[2].kill();
    let other = world.env.path("other-src");
    make_tree(&other);
    let out = second_machine.cmd(&["backup", other.to_str().unwrap()]).output().unwrap();
    assert_ne!(out.status.code(), Some(10), "{}", stderr_of(&out));
    world.servers[1].restart();
    world.servers[2].restart();
    // The first machine, and a fresh one that trusts only cosignatures, both see the fork.
    world.refused(&world.env, &["ledger", "verify"], "lux", "forked history");
    world.refused(&world.env, &["snapshots"], "lux", "forked history");
    let fresh = copy_home(&world.env);
    std::fs::remove_dir_all(fresh.config.parent().unwrap().join(".chancery/ledger")).unwrap();
    world.refused(&fresh, &["ledger", "verify"], "lux", "forked history");
    world.restores_from("sto");
}

#[test]
fn a_fork_signed_with_a_stolen_owner_key_is_refused_by_sites_and_clients() {
    let mut world = World::new();
    let earlier = world.env.path("lux-earlier");
    copy_dir(&world.tenant(0), &earlier);
    world.backup();
    // The thief has the home (keys and password) and rewrites the last entry.
    let thief = copy_home(&world.env);
    let archive = Archive::open(&thief.config, PASSWORD.as_bytes()).unwrap();
    let identity = LogIdentity::of(&archive.keys);
    let real = LocalLedger::open(&archive.state_dir()).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut forged = LocalLedger::open(scratch.path()).unwrap();
    for entry in &real.entries()[..real.entries().len() - 1] {
        forged.append_entry(entry.clone()).unwrap();
    }
    forged.append(Event::SiteRemoved("lux".into())).unwrap();
    let note = identity.sign(&forged, forged.size());
    for site in &archive.sites {
        let server = site.server.as_ref().unwrap();
        for old in [forged.size(), forged.size() - 1] {
            let request = AddCheckpoint { old_size: old, proof: forged.proof_from(old), note: note.clone() };
            let answer = server.add_checkpoint(&request.format()).unwrap();
            assert!(
                matches!(
                    answer,
                    WitnessAnswer::Refused { status: 409 | 422, .. } | WitnessAnswer::SizeConflict(_)
                ),
                "site {} cosigned a fork: {answer:?}",
                site.name()
            );
        }
    }
    // A site that colludes (rolled back to before the last entry) cosigns it ...
    drop(archive);
    world.roll_back(0, &earlier);
    let archive = Archive::open(&thief.config, PASSWORD.as_bytes()).unwrap();
    let lux = archive.sites[0].server.as_ref().unwrap();
    let old = forged.size() - 1;
    let request = AddCheckpoint { old_size: old, proof: forged.proof_from(old), note };
    assert!(matches!(lux.add_checkpoint(&request.format()).unwrap(), WitnessAnswer::Cosigned(_)));
    // ... and every client refuses it, naming that site.
    world.refused(&world.env, &["ledger", "verify"], "lux", "forked history");
    let fresh = copy_home(&world.env);
    std::fs::remove_dir_all(fresh.config.parent().unwrap().join(".chancery/ledger")).unwrap();
    world.refused(&fresh, &["snapshots"], "lux", "forked history");
    world.restores_from("par");
    for site in SITES.iter().skip(1) {
        world.env.cmd(&["check", "--site", site]).assert().success();
    }
}

#[test]
fn a_backup_stopped_between_its_snapshot_and_the_ledger_is_recorded_by_the_next() {
    let env = Env::with_two_sites();
    let src = env.path("src");
    make_tree(&src);
    env.backup_json(&[&src], 0);
    // The state after a crash right after the snapshot reached the sites: the ledger (here
    // and at the sites) as before, the snapshot's objects stored, the pending file written.
    let state = env.config.parent().unwrap().join(".chancery/ledger");
    let saved = env.path("saved");
    copy_dir(&state, &saved.join("home"));
    for site in ["lux", "sto"] {
        for part in ["meta", "ledger"] {
            copy_dir(&env.site_dir(site).join(part), &saved.join(site).join(part));
        }
    }
    std::fs::write(src.join("late.txt"), "late\n").unwrap();
    let second = env.backup_json(&[&src], 0)["snapshot"].as_str().unwrap().to_string();
    std::fs::remove_dir_all(&state).unwrap();
    copy_dir(&saved.join("home"), &state);
    std::fs::write(state.join("pending"), format!("{second}\n")).unwrap();
    for site in ["lux", "sto"] {
        for part in ["meta", "ledger"] {
            std::fs::remove_dir_all(env.site_dir(site).join(part)).unwrap();
            copy_dir(&saved.join(site).join(part), &env.site_dir(site).join(part));
        }
    }

    // This machine knows it was committing that snapshot: a warning, not an alarm.
    let out = env.cmd(&["snapshots"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("not in the ledger yet"), "{}", stderr_of(&out));
    // Another machine of the owner cannot tell it from an injected one.
    let other = copy_home(&env);
    std::fs::remove_file(other.config.parent().unwrap().join(".chancery/ledger/pending")).unwrap();
    let out = other.cmd(&["snapshots"]).output().unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", stderr_of(&out));
    // The next backup records it first.
    std::fs::write(src.join("later.txt"), "later\n").unwrap();
    env.backup_json(&[&src], 0);
    assert_eq!(env.json(&["snapshots"], 0).as_array().unwrap().len(), 3);
    env.cmd(&["ledger", "verify"]).assert().success();
    assert!(!state.join("pending").exists());
}
