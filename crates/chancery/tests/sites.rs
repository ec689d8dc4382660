//! Sites and placement: policy, fan-out with a missing site, sync, bad folders, passwords.

mod common;

use common::tree::{assert_same, is_root, make_tree};
use common::{packs, stderr_of, Env, HELSINKI, LUXEMBOURG, STOCKHOLM};

const PARIS: &str = "48.8566,2.3522";

#[test]
fn policy_names_the_close_pair_and_backup_refuses_to_move_data() {
    let env = Env::init();
    env.add_site("hel", HELSINKI, "FI");
    env.add_site("lux", LUXEMBOURG, "LU");
    let out = env.cmd(&["policy", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(11));
    let err = stderr_of(&out);
    assert!(err.contains("home and hel are") && err.contains("km apart"), "{err}");
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), b"x").unwrap();
    env.cmd(&["backup", src.to_str().unwrap()]).assert().code(11);
    assert!(packs(&env.site_dir("lux")).is_empty(), "no data moved");
    let report = env.json(&["policy", "check"], 11);
    assert_eq!(report["pairs"].as_array().unwrap().len(), 3);
}

#[test]
fn policy_requires_enough_sites_and_a_foreign_one() {
    let env = Env::init();
    env.add_site("tartu", "58.378,26.729", "EE");
    let out = env.cmd(&["policy", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(11));
    let err = stderr_of(&out);
    assert!(err.contains("at least 2") && err.contains("outside the home jurisdiction"), "{err}");
    env.add_site("sto", STOCKHOLM, "SE");
    env.cmd(&["policy", "check"]).assert().success();
    let list = env.json(&["site", "list"], 0);
    assert_eq!(list["distances"].as_array().unwrap().len(), 3);
}

#[test]
fn a_missing_site_lags_and_sync_catches_it_up() {
    let env = Env::with_two_sites();
    env.add_site("par", PARIS, "FR");
    let src = env.path("src");
    make_tree(&src);
    env.backup_json(&[&src], 0);
    let sto = env.site_dir("sto");
    let away = env.path("sto-away");
    std::fs::rename(&sto, &away).unwrap();
    std::fs::write(src.join("docs/new.txt"), b"written while sto was away").unwrap();
    let report = env.backup_json(&[&src], 3);
    assert_eq!(report["stored_at"], serde_json::json!(["lux", "par"]));
    assert!(report["lagging"]["sto"].is_string());
    std::fs::rename(&away, &sto).unwrap();
    let status = env.json(&["status"], 3);
    assert_eq!(status["sites"][1]["missing_snapshots"], 1);
    env.cmd(&["status"]).assert().code(3);
    let synced = env.json(&["sync"], 0);
    assert!(synced.to_string().contains("sto"));
    env.cmd(&["status"]).assert().success();
    env.cmd(&["check", "--read-data"]).assert().success();
    std::fs::rename(env.site_dir("lux"), env.path("lux-away")).unwrap();
    std::fs::rename(env.site_dir("par"), env.path("par-away")).unwrap();
    let target = env.path("out");
    env.cmd(&["restore", "latest", "--target", target.to_str().unwrap()]).assert().success();
    assert_same(&src, &target.join("src"));
}

#[test]
fn fewer_sites_than_the_policy_minimum_is_a_failure() {
    let env = Env::with_two_sites();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), b"x").unwrap();
    std::fs::rename(env.site_dir("sto"), env.path("sto-away")).unwrap();
    let report = env.backup_json(&[&src], 1);
    assert_eq!(report["stored_at"], serde_json::json!(["lux"]));
}

#[test]
fn folders_that_are_not_sites_are_refused() {
    let env = Env::init();
    let junk = env.path("junk");
    std::fs::create_dir_all(&junk).unwrap();
    std::fs::write(junk.join("holiday.jpg"), b"jpeg").unwrap();
    let out = env
        .cmd(&[
            "site",
            "add",
            "x",
            "--dir",
            junk.to_str().unwrap(),
            "--location",
            LUXEMBOURG,
            "--jurisdiction",
            "LU",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("not a Chancery site"), "{}", stderr_of(&out));
    assert_eq!(std::fs::read_dir(&junk).unwrap().count(), 1, "nothing written into it");
    let other = Env::with_two_sites();
    let theirs = other.site_dir("lux");
    let out = env
        .cmd(&[
            "site",
            "add",
            "y",
            "--dir",
            theirs.to_str().unwrap(),
            "--location",
            LUXEMBOURG,
            "--jurisdiction",
            "LU",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("another archive"), "{}", stderr_of(&out));
}

#[test]
fn wrong_password_and_missing_paths_write_nothing() {
    let env = Env::with_two_sites();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), b"x").unwrap();
    let out = env.cmd(&["backup", src.to_str().unwrap()]).env("CHANCERY_PASSWORD", "wrong").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("wrong password"));
    let out = env.cmd(&["backup", env.path("does-not-exist").to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("does-not-exist"));
    for site in ["lux", "sto"] {
        assert!(packs(&env.site_dir(site)).is_empty());
        assert!(
            !env.site_dir(site).join("snapshots").exists()
                || std::fs::read_dir(env.site_dir(site).join("snapshots")).unwrap().count() == 0
        );
    }
    env.cmd(&["frobnicate"]).assert().code(2);
}

#[test]
fn passwords_can_be_added_listed_and_removed() {
    let env = Env::with_two_sites();
    let pw_file = env.path("new-pw");
    std::fs::write(&pw_file, "second password\n").unwrap();
    env.cmd(&["key", "add", "--new-password-file", pw_file.to_str().unwrap(), "--label", "deputy"])
        .assert()
        .success();
    let keys = env.json(&["key", "list"], 0);
    assert_eq!(keys.as_array().unwrap().len(), 2);
    assert_eq!(
        keys.as_array().unwrap().iter().filter(|k| k["sites"].as_array().unwrap().len() == 2).count(),
        2
    );
    let first = keys.as_array().unwrap().iter().find(|k| k["current"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.cmd(&["--password-file", pw_file.to_str().unwrap(), "snapshots"]).assert().success();
    env.cmd(&["key", "remove", &first[..8]]).assert().code(1);
    // Stockholm is away while the first password is removed.
    let away = env.path("sto-away");
    std::fs::rename(env.site_dir("sto"), &away).unwrap();
    env.cmd(&["--password-file", pw_file.to_str().unwrap(), "key", "remove", &first[..8]]).assert().code(3);
    env.cmd(&["snapshots"]).assert().code(1);
    env.cmd(&["--password-file", pw_file.to_str().unwrap(), "snapshots"]).assert().success();
    assert_eq!(std::fs::read_dir(env.site_dir("lux").join("keys")).unwrap().count(), 1);
    // Back, it still holds the removed key file until sync removes it there too.
    std::fs::rename(&away, env.site_dir("sto")).unwrap();
    assert_eq!(std::fs::read_dir(env.site_dir("sto").join("keys")).unwrap().count(), 2);
    env.cmd(&["--password-file", pw_file.to_str().unwrap(), "sync"]).assert().success();
    assert_eq!(std::fs::read_dir(env.site_dir("sto").join("keys")).unwrap().count(), 1);
}

#[test]
fn an_unreadable_file_is_named_and_the_rest_is_stored() {
    let env = Env::with_two_sites();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("readable"), b"fine").unwrap();
    std::fs::write(src.join("locked"), b"secret").unwrap();
    std::fs::set_permissions(src.join("locked"), std::os::unix::fs::PermissionsExt::from_mode(0o000))
        .unwrap();
    let mut cmd = env.cmd(&["--json", "backup", src.to_str().unwrap()]);
    if is_root() {
        // Root reads anything: run this one backup as an unprivileged user instead.
        make_world_writable(env.dir.path());
        let exe = assert_cmd::cargo::cargo_bin("chancery");
        cmd = assert_cmd::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", exe.to_str().unwrap()])
            .env("CHANCERY_PASSWORD", common::PASSWORD)
            .args(["--config", env.config.to_str().unwrap(), "--json", "backup", src.to_str().unwrap()]);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("locked"), "{}", stderr_of(&out));
    let list = env.json(&["ls", "latest"], 0);
    let paths: Vec<&str> = list.as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"/src/readable") && !paths.contains(&"/src/locked"));
}

fn make_world_writable(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
            make_world_writable(&p);
        } else if meta.is_file() && p.file_name().unwrap() != "locked" {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
}

#[test]
fn a_bandwidth_limit_is_kept_per_site() {
    let env = Env::init();
    env.add_site("lux", LUXEMBOURG, "LU");
    let dir = env.site_dir("sto");
    env.cmd(&["site", "add", "sto", "--dir", dir.to_str().unwrap(), "--location", STOCKHOLM])
        .args(["--jurisdiction", "SE", "--limit-upload", "512", "--limit-download", "4096"])
        .assert()
        .success();
    let text = std::fs::read_to_string(&env.config).unwrap();
    assert!(text.contains("limit_upload_kib = 512") && text.contains("limit_download_kib = 4096"), "{text}");
    env.cmd(&["site", "add", "x", "--dir", "/nonexistent", "--location", HELSINKI])
        .args(["--jurisdiction", "FI", "--limit-upload", "0"])
        .assert()
        .code(2);

    // 2 MiB that do not compress: after the first pack, every upload to sto waits its turn
    // at 512 KiB/s, so the backup cannot end before about 4 s (a lower bound only: a slow
    // machine makes it longer, never shorter).
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("volume.bin"), common::tree::noise(2 << 20, 7)).unwrap();
    let started = std::time::Instant::now();
    env.backup_json(&[&src], 0);
    let took = started.elapsed();
    assert!(took >= std::time::Duration::from_secs(3), "2 MiB at 512 KiB/s took only {took:?}");
    env.cmd(&["check", "--read-data", "--site", "sto"]).assert().success();
}

/// A site away during one backup and back for the next is brought up to date by that backup,
/// snapshots included: the ledger it is then given vouches for the one it missed, which would
/// otherwise count as deleted there (exit 10 at every listing until a `sync`).
#[test]
fn a_site_back_after_missing_a_backup_gets_the_snapshot_it_missed_from_the_next() {
    let env = Env::with_two_sites();
    env.add_site("par", "48.8566,2.3522", "FR");
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a"), b"first").unwrap();
    env.backup_json(&[&src], 0);
    std::fs::rename(env.site_dir("lux"), env.path("lux-away")).unwrap();
    std::fs::write(src.join("b"), b"second").unwrap();
    let missed = env.backup_json(&[&src], 3)["snapshot"].clone();
    std::fs::rename(env.path("lux-away"), env.site_dir("lux")).unwrap();
    std::fs::write(src.join("c"), b"third").unwrap();
    env.backup_json(&[&src], 0);
    let listed = env.json(&["snapshots"], 0);
    let row = listed.as_array().unwrap().iter().find(|row| row["id"] == missed).unwrap().clone();
    assert_eq!(row["sites"], serde_json::json!(["lux", "sto", "par"]), "{listed}");
    env.cmd(&["check"]).assert().success();
}
