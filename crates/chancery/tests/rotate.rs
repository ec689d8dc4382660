//! `key rotate`: a new key generation seals new data, old snapshots stay readable, the ledger
//! records the rotation, other passwords stop opening the archive, and a home recovered from
//! a site afterwards reads every generation.

mod common;

use common::tree::{assert_same, make_tree};
use common::{packs, stderr_of, Env, PASSWORD};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const SECOND_PASSWORD: &str = "the deputy's password";

fn pack_set(site: &Path) -> BTreeSet<PathBuf> {
    packs(site).into_iter().collect()
}

/// The key generation byte of a pack (FORMAT.md §6).
fn generation_of(pack: &Path) -> u8 {
    std::fs::read(pack).unwrap()[6]
}

#[test]
fn a_rotation_seals_new_data_with_a_new_generation_and_keeps_old_snapshots_readable() {
    let env = Env::with_two_sites();
    let src = env.path("src");
    make_tree(&src);
    env.backup_json(&[&src], 0);
    // The tree as first backed up (it holds a FIFO, so it is restored rather than copied).
    let before = env.path("before");
    env.cmd(&["restore", "latest", "--target", before.to_str().unwrap()]).assert().success();
    let before = before.join("src");
    let old_snapshot = env.json(&["snapshots"], 0)[0]["id"].as_str().unwrap().to_string();
    let old_packs = pack_set(&env.site_dir("lux"));
    assert!(old_packs.iter().all(|p| generation_of(p) == 0));
    env.cmd(&["key", "add", "--label", "deputy"])
        .env("CHANCERY_NEW_PASSWORD", SECOND_PASSWORD)
        .assert()
        .success();

    let rotation = env.json(&["key", "rotate"], 0);
    assert_eq!(rotation["generation"], 1);
    assert_eq!(rotation["removed"].as_array().unwrap().len(), 2, "the deputy's and the old file of ours");
    let deputy = env.cmd(&["snapshots"]).env("CHANCERY_PASSWORD", SECOND_PASSWORD).output().unwrap();
    assert!(!deputy.status.success(), "a password not re-added opens nothing");
    assert!(stderr_of(&deputy).contains("wrong password"), "{}", stderr_of(&deputy));

    std::fs::write(src.join("after-rotation.txt"), "sealed with the new generation\n").unwrap();
    env.backup_json(&[&src], 0);
    let new_packs: Vec<PathBuf> = pack_set(&env.site_dir("lux")).difference(&old_packs).cloned().collect();
    assert!(!new_packs.is_empty());
    assert!(new_packs.iter().all(|p| generation_of(p) == 1), "new data is sealed with generation 1");

    let ledger = env.json(&["ledger", "show"], 0);
    let rotated = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"] == "key-rotated" && e["argument"] == "1");
    assert!(rotated, "{ledger}");

    let old_target = env.path("restored-old");
    env.cmd(&["restore", &old_snapshot[..16], "--target", old_target.to_str().unwrap()]).assert().success();
    assert_same(&before, &old_target.join("src"));
    let new_target = env.path("restored-new");
    env.cmd(&["restore", "latest", "--target", new_target.to_str().unwrap()]).assert().success();
    assert_same(&src, &new_target.join("src"));
    env.cmd(&["check", "--read-data"]).assert().success();

    // The home is lost: the site holds the rotated key file, and the recovered home reads
    // both generations.
    std::fs::remove_dir_all(env.config.parent().unwrap()).unwrap();
    let config = env.path("new-machine/chancery.toml");
    let at = |args: &[&str]| {
        let mut cmd = assert_cmd::Command::cargo_bin("chancery").unwrap();
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CHANCERY_PASSWORD", PASSWORD)
            .arg("--config")
            .arg(&config)
            .args(args);
        cmd
    };
    at(&["recover", "--dir", env.site_dir("sto").to_str().unwrap()]).assert().success();
    let again = env.path("restored-after-recovery");
    at(&["restore", &old_snapshot[..16], "--target", again.to_str().unwrap()]).assert().success();
    assert_same(&before, &again.join("src"));
    at(&["check", "--read-data"]).assert().success();
}
