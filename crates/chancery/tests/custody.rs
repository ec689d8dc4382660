//! Custodians: the home and its password are gone; K of N share files and one site's folder
//! bring everything back. Too few shares, a corrupted share and a share from before a re-split
//! are refused, each named.

mod common;

use common::server::start_servers;
use common::tree::{assert_same, make_tree};
use common::{copy_dir, stderr_of, Env, LUXEMBOURG, STOCKHOLM};
use std::path::{Path, PathBuf};

/// A home with two folder sites, one backup, and a 3-of-5 split into `shares-1`.
fn split_home() -> (Env, PathBuf) {
    let env = Env::with_two_sites();
    let src = env.path("src");
    make_tree(&src);
    env.backup_json(&[&src], 0);
    split(&env, "shares-1", &[]);
    (env, src)
}

fn split(env: &Env, out: &str, extra: &[&str]) -> serde_json::Value {
    let out = env.path(out);
    let mut args =
        vec!["custody", "split", "--shares", "5", "--threshold", "3", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.json(&args, 0)
}

/// The binary on the new machine: no password, only what `envs` give.
fn at(config: &Path, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = common::chancery_cmd();
    cmd.arg("--config").arg(config).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `recover --dir SITE --share F...` into a new home at `config`.
fn recover(config: &Path, site: &Path, shares: &[PathBuf], extra: &[&str]) -> std::process::Output {
    let mut args = vec!["recover".to_string(), "--dir".into(), site.display().to_string()];
    for share in shares {
        args.extend(["--share".to_string(), share.display().to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    at(config, &refs, &[])
}

fn shares(env: &Env, dir: &str, generation: u32, numbers: &[u8]) -> Vec<PathBuf> {
    numbers.iter().map(|n| env.path(&format!("{dir}/share-{generation}-{n}.txt"))).collect()
}

fn wipe_home(env: &Env) {
    std::fs::remove_dir_all(env.config.parent().unwrap()).unwrap();
}

#[test]
fn three_of_five_shares_and_one_site_rebuild_the_home() {
    let (env, src) = split_home();
    for n in 1..=5 {
        let text = std::fs::read_to_string(env.path(&format!("shares-1/share-1-{n}.txt"))).unwrap();
        assert!(text.starts_with("chancery custody share v1\n"), "{text}");
        let png = std::fs::read(env.path(&format!("shares-1/share-1-{n}.png"))).unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
    }
    let status = env.json(&["custody", "status"], 0);
    assert_eq!(status["generation"], 1);
    assert_eq!((status["shares"].clone(), status["threshold"].clone()), (5.into(), 3.into()));
    assert_eq!(status["sites"], serde_json::json!(["lux", "sto"]));
    let key = status["key_file"].as_str().unwrap().to_string();
    assert!(env.site_dir("sto").join("keys").join(&key).exists());
    let ledger = env.json(&["ledger", "show"], 0);
    let added = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"] == "key-added" && e["argument"] == *key);
    assert!(added, "the ledger records the custody key file: {ledger}");

    wipe_home(&env);
    let config = env.path("new-machine/chancery.toml");
    let out = recover(&config, &env.site_dir("lux"), &shares(&env, "shares-1", 1, &[1, 3, 5]), &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("key add"), "{}", stderr_of(&out));
    let target = env.path("restored");
    let share_list = std::env::join_paths(shares(&env, "shares-1", 1, &[2, 4, 5])).unwrap();
    let with_shares = [("CHANCERY_SHARES", share_list.to_str().unwrap())];
    let out = at(&config, &["restore", "latest", "--target", target.to_str().unwrap()], &with_shares);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_same(&src, &target.join("src"));

    // The recovered home gets a password of its own, opened by the shares, then backs up with it.
    let new_password = [("CHANCERY_SHARES", with_shares[0].1), ("CHANCERY_NEW_PASSWORD", "after the flood")];
    let out = at(&config, &["key", "add", "--label", "new home"], &new_password);
    assert!(out.status.success(), "{}", stderr_of(&out));
    std::fs::write(src.join("after.txt"), "after the recovery\n").unwrap();
    let out = at(
        &config,
        &["--json", "backup", src.to_str().unwrap()],
        &[("CHANCERY_PASSWORD", "after the flood")],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["stored_at"], serde_json::json!(["lux", "sto"]));
}

#[test]
fn too_few_corrupted_and_stale_shares_are_refused_and_named() {
    let (env, _src) = split_home();
    let first_key = env.json(&["custody", "status"], 0)["key_file"].as_str().unwrap().to_string();
    let report = split(&env, "shares-2", &[]);
    assert_eq!(report["generation"], 2);
    assert_eq!(report["removed"], *first_key);
    assert!(!env.site_dir("lux").join("keys").join(&first_key).exists());
    let ledger = env.json(&["ledger", "show"], 0);
    let removed = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"] == "key-removed" && e["argument"] == *first_key);
    assert!(removed, "the ledger records the old custody key file's removal: {ledger}");
    wipe_home(&env);
    let lux = env.site_dir("lux");
    let config = env.path("new-machine/chancery.toml");

    let out = recover(&config, &lux, &shares(&env, "shares-1", 1, &[1, 2, 3]), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("share of custody generation 1; the archive is at generation 2"),
        "{}",
        stderr_of(&out)
    );
    let out = recover(&config, &lux, &shares(&env, "shares-2", 2, &[1, 2]), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("2 shares given, 3 needed"), "{}", stderr_of(&out));

    // One character flipped in a word of share 2.
    let bad = env.path("shares-2/share-2-2.txt");
    let text = std::fs::read_to_string(&bad).unwrap();
    let at_word = text.find("words\n").unwrap() + 7;
    let mut bytes = text.into_bytes();
    bytes[at_word] = if bytes[at_word] == b'x' { b'y' } else { b'x' };
    std::fs::write(&bad, bytes).unwrap();
    let out = recover(&config, &lux, &shares(&env, "shares-2", 2, &[1, 2, 3]), &[]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("share-2-2.txt"), "{}", stderr_of(&out));
    assert!(!config.exists(), "a refused recovery leaves nothing behind");
    // With a fourth share, the bad one is named and left out, and recovery goes on.
    let out = recover(&config, &lux, &shares(&env, "shares-2", 2, &[1, 2, 3, 4]), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("share-2-2.txt"), "{}", stderr_of(&out));
    assert!(config.exists());
}

#[test]
fn an_age_encrypted_share_opens_with_its_custodians_identity() {
    let env = Env::with_two_sites();
    let identities: Vec<age::x25519::Identity> = (0..5).map(|_| age::x25519::Identity::generate()).collect();
    let recipients: Vec<String> = identities.iter().map(|i| i.to_public().to_string()).collect();
    let mut args = Vec::new();
    for r in &recipients {
        args.extend(["--age-recipient", r.as_str()]);
    }
    split(&env, "sealed", &args);
    let keys: Vec<String> = identities
        .iter()
        .map(|i| age::secrecy::ExposeSecret::expose_secret(&i.to_string()).to_string())
        .collect();
    let identity_file = env.path("custodians.key");
    std::fs::write(&identity_file, keys.join("\n") + "\n").unwrap();
    wipe_home(&env);
    let files: Vec<PathBuf> =
        [1, 4, 5].iter().map(|n| env.path(&format!("sealed/share-1-{n}.age"))).collect();
    assert!(std::fs::read_to_string(&files[0]).unwrap().starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    let config = env.path("new-machine/chancery.toml");
    let out = recover(&config, &env.site_dir("sto"), &files, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("--identity"), "{}", stderr_of(&out));
    let out =
        recover(&config, &env.site_dir("sto"), &files, &["--identity", identity_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn a_threshold_above_the_shares_is_a_usage_error() {
    let env = Env::init();
    let out =
        env.cmd(&["custody", "split", "--shares", "2", "--threshold", "3", "--out", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let status = env.json(&["custody", "status"], 0);
    assert_eq!(status["split"], false);
}

#[test]
fn site_servers_hold_the_custody_key_file_and_a_copy_of_a_tenant_folder_recovers() {
    let env = Env::init();
    let servers = start_servers(&env, &[("bissen", LUXEMBOURG, "LU"), ("kista", STOCKHOLM, "SE")]);
    split(&env, "shares-1", &[]);
    let first = env.json(&["custody", "status"], 0)["key_file"].as_str().unwrap().to_string();
    split(&env, "shares-2", &[]);
    let status = env.json(&["custody", "status"], 0);
    assert_eq!(status["sites"], serde_json::json!(["bissen", "kista"]));
    let tenant = servers[1].data.join("tenants/ee");
    assert!(!tenant.join("keys").join(&first).exists(), "the server deleted the old custody key file");
    assert!(tenant.join("meta/custody-0000000002").exists());
    let copy = env.path("kista-copy");
    copy_dir(&tenant, &copy);
    wipe_home(&env);
    let config = env.path("new-machine/chancery.toml");
    let out = recover(&config, &copy, &shares(&env, "shares-2", 2, &[5, 1, 3]), &["--site", "kista"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
}
