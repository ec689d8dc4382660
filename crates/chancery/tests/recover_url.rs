//! The home is gone, and no site operator hands over a folder: the password, a site server's
//! address and its key bring everything back through the server's API (`recover --url`), and
//! a removed password, a wrong one, or a server that lies is refused.

mod common;

use common::server::{start_servers, SiteServer};
use common::tree::{assert_same, make_tree};
use common::{flip_byte, stderr_of, Env, LUXEMBOURG, PASSWORD, STOCKHOLM};
use std::path::{Path, PathBuf};

const PARIS: &str = "48.8566,2.3522";
const SECOND_PASSWORD: &str = "a second custodian's password";

/// Three site servers, two backups, and a second password.
fn world() -> (Env, Vec<SiteServer>, PathBuf) {
    let env = Env::init();
    let servers =
        start_servers(&env, &[("lux", LUXEMBOURG, "LU"), ("sto", STOCKHOLM, "SE"), ("par", PARIS, "FR")]);
    let src = env.path("src");
    make_tree(&src);
    env.backup_json(&[&src], 0);
    std::fs::write(src.join("late.txt"), "registered after the first backup\n").unwrap();
    env.backup_json(&[&src], 0);
    env.cmd(&["key", "add", "--label", "second"])
        .env("CHANCERY_NEW_PASSWORD", SECOND_PASSWORD)
        .assert()
        .success();
    (env, servers, src)
}

/// Removes the whole home and returns a config path on the "new machine".
fn wipe_home(env: &Env, name: &str) -> PathBuf {
    let home = env.config.parent().unwrap();
    if home.exists() {
        std::fs::remove_dir_all(home).unwrap();
    }
    env.path(&format!("{name}/chancery.toml"))
}

/// The binary on `config` with `password`.
fn at(config: &Path, password: &str, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("chancery").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CHANCERY_PASSWORD", password)
        .arg("--config")
        .arg(config)
        .args(args);
    cmd
}

fn recover(config: &Path, password: &str, server: &SiteServer) -> std::process::Output {
    let args = ["recover", "--url", &server.url, "--site-key", &server.key, "--tenant", "ee"];
    at(config, password, &args).output().unwrap()
}

#[test]
fn the_password_and_one_site_server_rebuild_the_home_which_restores_and_backs_up_again() {
    let (env, servers, src) = world();
    let config = wipe_home(&env, "new-machine");
    let out = recover(&config, PASSWORD, &servers[1]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("from site sto") && said.contains("2 snapshot(s)"), "{said}");

    let target = env.path("restored");
    at(&config, PASSWORD, &["restore", "latest", "--target", target.to_str().unwrap()]).assert().success();
    assert_same(&src, &target.join("src"));
    std::fs::write(src.join("after.txt"), "after the recovery\n").unwrap();
    let out = at(&config, PASSWORD, &["--json", "backup", src.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["stored_at"], serde_json::json!(["lux", "sto", "par"]));
    at(&config, PASSWORD, &["check", "--read-data"]).assert().success();

    // The second password was registered when it was added: it recovers on its own too.
    let other = env.path("third-machine/chancery.toml");
    let out = recover(&other, SECOND_PASSWORD, &servers[0]);
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn a_wrong_or_removed_password_is_refused_and_leaves_nothing() {
    let (env, servers, _src) = world();
    let listed = env.json(&["key", "list"], 0);
    let second = listed.as_array().unwrap().iter().find(|k| k["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.cmd(&["key", "remove", &second]).assert().success();

    let config = wipe_home(&env, "new-machine");
    let out = recover(&config, "not the password", &servers[0]);
    assert_eq!(out.status.code(), Some(12), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("refused the recovery key"), "{}", stderr_of(&out));
    let out = recover(&config, SECOND_PASSWORD, &servers[2]);
    assert_eq!(out.status.code(), Some(12), "a removed password opens nothing: {}", stderr_of(&out));
    assert!(!config.exists(), "a refused recovery leaves nothing behind");
    let out = recover(&config, PASSWORD, &servers[2]);
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn a_site_server_that_lies_is_refused() {
    let (env, servers, _src) = world();
    let tenant = servers[0].data.join("tenants/ee");
    let config = wipe_home(&env, "new-machine");

    // An altered key file.
    for entry in std::fs::read_dir(tenant.join("keys")).unwrap() {
        flip_byte(&entry.unwrap().path(), 40);
    }
    let out = recover(&config, PASSWORD, &servers[0]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr_of(&out));
    assert!(!config.exists());
    // Another site tells the truth.
    let out = recover(&config, PASSWORD, &servers[1]);
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn a_site_server_rolled_back_is_refused() {
    let env = Env::init();
    let mut servers =
        start_servers(&env, &[("lux", LUXEMBOURG, "LU"), ("sto", STOCKHOLM, "SE"), ("par", PARIS, "FR")]);
    let src = env.path("src");
    make_tree(&src);
    env.backup_json(&[&src], 0);
    let tenant = servers[0].data.join("tenants/ee");
    let before = env.path("lux-before");
    common::copy_dir(&tenant, &before);
    std::fs::write(src.join("late.txt"), "registered after the first backup\n").unwrap();
    env.backup_json(&[&src], 0);

    // Luxembourg's whole tenant folder goes back to before the second backup.
    servers[0].kill();
    std::fs::remove_dir_all(&tenant).unwrap();
    common::copy_dir(&before, &tenant);
    servers[0].restart();
    let config = wipe_home(&env, "new-machine");
    let out = recover(&config, PASSWORD, &servers[0]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("rolled back"), "{}", stderr_of(&out));
    assert!(!config.exists());
}

#[test]
fn custodians_shares_and_one_site_server_rebuild_the_home() {
    let (env, servers, src) = world();
    let shares = env.path("shares");
    env.cmd(&["custody", "split", "--shares", "3", "--threshold", "2", "--out", shares.to_str().unwrap()])
        .assert()
        .success();
    let share = |n: u32| shares.join(format!("share-1-{n}.txt")).to_str().unwrap().to_string();
    let config = wipe_home(&env, "new-machine");
    let with_shares = |picked: &[u32]| {
        let mut args =
            vec!["recover", "--url", &servers[2].url, "--site-key", &servers[2].key, "--tenant", "ee"]
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>();
        for n in picked {
            args.extend(["--share".to_string(), share(*n)]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        at(&config, "no password", &refs).output().unwrap()
    };
    let out = with_shares(&[3]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("1 shares given, 2 needed"), "{}", stderr_of(&out));
    let out = with_shares(&[1, 3]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let target = env.path("restored");
    at(&config, "no password", &["restore", "latest", "--target", target.to_str().unwrap()])
        .env("CHANCERY_SHARES", format!("{}:{}", share(1), share(3)))
        .assert()
        .success();
    assert_same(&src, &target.join("src"));
}
