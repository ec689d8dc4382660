//! Shared set-up for the end-to-end tests: real binary, real folders, real sites.
#![allow(dead_code)]

pub mod server;
pub mod tree;

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery staple";
pub const TALLINN: &str = "59.437,24.7536";
pub const LUXEMBOURG: &str = "49.6116,6.1319";
pub const STOCKHOLM: &str = "59.3293,18.0686";
pub const HELSINKI: &str = "60.1699,24.9384";

/// The binary with a clean environment (only PATH), for commands that need no owner.
pub fn chancery_cmd() -> Command {
    let mut cmd = Command::cargo_bin("chancery").expect("binary");
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

/// One owner's home with its config, in a temporary folder.
pub struct Env {
    pub dir: TempDir,
    pub config: PathBuf,
}

impl Env {
    /// A home with a fresh archive and no site.
    pub fn init() -> Env {
        let dir = tempfile::Builder::new().prefix("chancery-e2e").tempdir().expect("tempdir");
        let config = dir.path().join("home/chancery.toml");
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        let env = Env { dir, config };
        env.cmd(&["init", "--owner", "Test Republic", "--home", TALLINN, "--jurisdiction", "EE"])
            .assert()
            .success();
        env
    }

    /// A home with two sites abroad: `lux` (LU) and `sto` (SE).
    pub fn with_two_sites() -> Env {
        let env = Env::init();
        env.add_site("lux", LUXEMBOURG, "LU");
        env.add_site("sto", STOCKHOLM, "SE");
        env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn site_dir(&self, name: &str) -> PathBuf {
        self.path(&format!("sites/{name}"))
    }

    pub fn add_site(&self, name: &str, location: &str, cc: &str) -> PathBuf {
        let dir = self.site_dir(name);
        let dir_s = dir.to_str().unwrap().to_string();
        self.cmd(&["site", "add", name, "--dir", &dir_s, "--location", location, "--jurisdiction", cc])
            .assert()
            .success();
        dir
    }

    /// `chancery --config <this home> ARGS` with the password in the environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        self.owner_args(Command::cargo_bin("chancery").expect("binary"), args)
    }

    /// [`Self::cmd`] run on one CPU (`taskset`, from util-linux), the first this process may
    /// use: the binary then sees one core, so its workers take their work in order.
    pub fn cmd_on_one_cpu(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", &first_allowed_cpu()]).arg(assert_cmd::cargo::cargo_bin("chancery"));
        self.owner_args(cmd, args)
    }

    fn owner_args(&self, mut cmd: Command, args: &[&str]) -> Command {
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CHANCERY_PASSWORD", PASSWORD)
            .arg("--config")
            .arg(&self.config)
            .args(args);
        cmd
    }

    /// Runs a command with --json and parses stdout; panics unless the exit code is `code`.
    pub fn json(&self, args: &[&str], code: i32) -> serde_json::Value {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = self.cmd(&full).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "chancery {args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON on stdout")
    }

    pub fn backup_json(&self, paths: &[&Path], code: i32) -> serde_json::Value {
        let mut args = vec!["backup".to_string()];
        args.extend(paths.iter().map(|p| p.to_str().unwrap().to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.json(&refs, code)
    }
}

/// Every pack file of a site folder.
pub fn packs(site: &Path) -> Vec<PathBuf> {
    objects(site, "packs")
}

/// Every object file of a kind in a site folder (packs are fanned out, FORMAT.md §11), sorted.
pub fn objects(site: &Path, kind: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(site.join(kind)) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if kind != "packs" {
            out.push(path);
            continue;
        }
        for pack in std::fs::read_dir(path).unwrap() {
            out.push(pack.unwrap().path());
        }
    }
    out.sort();
    out
}

/// The pack files of a site, largest first.
pub fn packs_by_size(site: &Path) -> Vec<PathBuf> {
    let mut p = packs(site);
    p.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).unwrap().len()));
    p
}

/// Copies a folder tree (files and folders only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = at.min(bytes.len() - 1);
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The first CPU this process may run on (`Cpus_allowed_list`: "0-1", "2,5-7"): CPU 0 is not
/// in every container's set.
fn first_allowed_cpu() -> String {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let list = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).expect("Cpus_allowed_list");
    list.trim().split([',', '-']).next().expect("a CPU").to_string()
}
