//! The home is gone (config, keys, ledger, cache): one site's folder and the password bring
//! everything back, and a site that lies about keys, config or ledger is refused (exit 10).

mod common;

use common::tree::{assert_same, make_tree};
use common::{copy_dir, flip_byte, stderr_of, Env};
use std::path::{Path, PathBuf};

/// A home with two folder sites and two backups; returns it and the source tree.
fn backed_up_twice() -> (Env, PathBuf) {
    backed_up_twice_copying_lux_between(None)
}

/// [`backed_up_twice`], with the `lux` folder copied to `copy` between the two backups.
fn backed_up_twice_copying_lux_between(copy: Option<&Path>) -> (Env, PathBuf) {
    let env = Env::with_two_sites();
    let src = env.path("src");
    make_tree(&src);
    env.backup_json(&[&src], 0);
    if let Some(copy) = copy {
        copy_dir(&env.site_dir("lux"), copy);
    }
    std::fs::write(src.join("late.txt"), "registered after the first backup\n").unwrap();
    env.backup_json(&[&src], 0);
    (env, src)
}

/// Removes the whole home and returns a config path on the "new machine".
fn wipe_home(env: &Env) -> PathBuf {
    std::fs::remove_dir_all(env.config.parent().unwrap()).unwrap();
    env.path("new-machine/chancery.toml")
}

fn recover(env: &Env, config: &Path, dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["recover", "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    at(env, config, &args).output().unwrap()
}

/// The binary with the password, on the new machine's config file.
fn at(_env: &Env, config: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("chancery").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CHANCERY_PASSWORD", common::PASSWORD)
        .arg("--config")
        .arg(config)
        .args(args);
    cmd
}

#[test]
fn one_site_and_the_password_rebuild_the_home_which_restores_and_backs_up_again() {
    let (env, src) = backed_up_twice();
    let config = wipe_home(&env);
    let out = recover(&env, &config, &env.site_dir("lux"), &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("from site lux") && said.contains("2 snapshot(s)"), "{said}");
    let listed = at(&env, &config, &["--json", "snapshots"]).output().unwrap();
    assert!(listed.status.success(), "{}", stderr_of(&listed));
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let target = env.path("restored");
    at(&env, &config, &["restore", "latest", "--target", target.to_str().unwrap()]).assert().success();
    assert_same(&src, &target.join("src"));
    // The recovered home backs up to every site of the recovered config.
    std::fs::write(src.join("after.txt"), "after the recovery\n").unwrap();
    let out = at(&env, &config, &["--json", "backup", src.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["stored_at"], serde_json::json!(["lux", "sto"]));
    at(&env, &config, &["ledger", "verify"]).assert().success();
    at(&env, &config, &["check", "--read-data"]).assert().success();
}

#[test]
fn a_site_folder_moved_elsewhere_is_named_with_site() {
    let (env, src) = backed_up_twice();
    let moved = env.path("carried-abroad");
    copy_dir(&env.site_dir("sto"), &moved);
    let config = wipe_home(&env);
    let out = recover(&env, &config, &moved, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("--site NAME"), "{}", stderr_of(&out));
    assert!(!config.exists(), "a refused recovery leaves nothing behind");
    let out = recover(&env, &config, &moved, &["--site", "sto"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let target = env.path("restored");
    at(&env, &config, &["restore", "latest", "--site", "sto", "--target", target.to_str().unwrap()])
        .assert()
        .success();
    assert_same(&src, &target.join("src"));
}

#[test]
fn a_site_that_lies_is_refused() {
    let (env, _src) = backed_up_twice();
    let lux = env.site_dir("lux");
    let key = std::fs::read_dir(lux.join("keys")).unwrap().next().unwrap().unwrap().path();
    let config_copy = std::fs::read_dir(lux.join("meta"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("owner-config-"))
        .unwrap();
    let config = wipe_home(&env);

    // An altered key file.
    let saved = std::fs::read(&key).unwrap();
    flip_byte(&key, 40);
    let out = recover(&env, &config, &lux, &[]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr_of(&out));
    std::fs::write(&key, saved).unwrap();

    // An altered config copy.
    let saved = std::fs::read(&config_copy).unwrap();
    flip_byte(&config_copy, 60);
    let out = recover(&env, &config, &lux, &[]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("owner-config-"), "{}", stderr_of(&out));
    std::fs::write(&config_copy, saved).unwrap();
    assert!(!config.exists());

    // A ledger rolled back: Luxembourg shows the state before the second backup, which
    // Stockholm remembers it vouched for.
    let before = env.path("before-first");
    let (env2, _) = backed_up_twice_copying_lux_between(Some(&before));
    let config2 = wipe_home(&env2);
    std::fs::remove_dir_all(env2.site_dir("lux")).unwrap();
    copy_dir(&before, &env2.site_dir("lux"));
    let out = recover(&env2, &config2, &env2.site_dir("lux"), &[]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("site lux") && stderr_of(&out).contains("rolled back"),
        "{}",
        stderr_of(&out)
    );
    assert!(!config2.exists());
    // Stockholm tells the truth: the home comes back from it, with a warning about Luxembourg.
    let out = recover(&env2, &config2, &env2.site_dir("sto"), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("site lux") && stderr_of(&out).contains("rolled back"),
        "{}",
        stderr_of(&out)
    );
}
