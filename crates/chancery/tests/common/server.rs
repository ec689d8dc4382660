//! Real site servers for end-to-end tests: `site-admin init`, `enroll`, and `serve` on a
//! loopback port, killed when dropped.

use super::Env;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running `chancery serve`.
pub struct SiteServer {
    pub data: PathBuf,
    pub key: String,
    pub url: String,
    listen: String,
    child: Option<Child>,
}

fn chancery() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("chancery"))
}

impl SiteServer {
    /// A counter of the site's `/metrics`, fetched over its pinned TLS: the value of the line
    /// that starts with `line_start`, 0 when there is none (a counter not yet incremented).
    pub fn metric(&self, line_start: &str) -> u64 {
        let key = chancery_protocol::parse_public_key("site key", &self.key).unwrap();
        let tls = chancery_protocol::tls::client_config(key).unwrap();
        let client = reqwest::blocking::Client::builder().use_preconfigured_tls(tls).build().unwrap();
        let text = client.get(format!("{}/metrics", self.url)).send().unwrap().text().unwrap();
        let line = text.lines().find(|l| l.starts_with(line_start));
        line.map_or(0, |line| line.rsplit(' ').next().unwrap().parse().unwrap())
    }

    /// Creates a site in `data`, enrolls `owner_key` as `tenant`, and starts serving.
    pub fn start(data: &Path, name: &str, tenant: &str, owner_key: &str) -> SiteServer {
        Self::start_with(data, name, tenant, owner_key, |_| {})
    }

    /// [`SiteServer::start`], with `init` adjusted by `more` (e.g. S3 storage flags).
    pub fn start_with(
        data: &Path,
        name: &str,
        tenant: &str,
        owner_key: &str,
        more: impl FnOnce(&mut Command),
    ) -> SiteServer {
        Self::start_enrolled(data, name, tenant, owner_key, more, &[])
    }

    /// [`SiteServer::start_with`], with more `site-admin enroll` arguments (keys, terms).
    pub fn start_enrolled(
        data: &Path,
        name: &str,
        tenant: &str,
        owner_key: &str,
        more: impl FnOnce(&mut Command),
        enroll: &[String],
    ) -> SiteServer {
        let mut init = chancery();
        init.args(["--json", "site-admin", "init", "--data", data.to_str().unwrap(), "--name", name]).args([
            "--location",
            "50.0,10.0",
            "--jurisdiction",
            "DE",
            "--tier",
            "3",
        ]);
        more(&mut init);
        let out = init.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let key = json["site_key"].as_str().unwrap().to_string();
        let status = chancery()
            .args(["site-admin", "enroll", "--data", data.to_str().unwrap(), "--tenant", tenant])
            .args(["--owner-key", owner_key])
            .args(enroll)
            .status()
            .unwrap();
        assert!(status.success());
        let mut server = SiteServer {
            data: data.into(),
            key,
            url: String::new(),
            listen: "127.0.0.1:0".into(),
            child: None,
        };
        server.restart();
        server
    }

    /// Starts (again) on the same address once one was chosen.
    pub fn restart(&mut self) {
        let mut child = chancery()
            .args(["serve", "--data", self.data.to_str().unwrap(), "--listen", &self.listen])
            .env("CHANCERY_LOG", "warn")
            // Governance proposals move on within a second of their time lock.
            .env("CHANCERY_GOVERNANCE_INTERVAL", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on ").expect("serve prints its address").to_string();
        self.url = format!("https://{addr}");
        self.listen = addr;
        self.child = Some(child);
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SiteServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The owner's public key, as `chancery owner-key` prints it.
pub fn owner_key(env: &Env) -> String {
    String::from_utf8(env.cmd(&["owner-key"]).output().unwrap().stdout).unwrap().trim().to_string()
}

/// `site add NAME --url … --site-key …` for a running server, tenant `ee`.
pub fn add_server(env: &Env, name: &str, server: &SiteServer, location: &str, cc: &str) {
    env.cmd(&["site", "add", name, "--url", &server.url, "--site-key", &server.key, "--tenant", "ee"])
        .args(["--location", location, "--jurisdiction", cc])
        .assert()
        .success();
}

/// Starts one site server per `(name, location, country)`, each enrolling this owner as tenant
/// `ee`, and adds each to the owner's config.
pub fn start_servers(env: &Env, places: &[(&str, &str, &str)]) -> Vec<SiteServer> {
    let key = owner_key(env);
    places
        .iter()
        .map(|(name, location, cc)| {
            let server = SiteServer::start(&env.path(&format!("site-{name}")), name, "ee", &key);
            add_server(env, name, &server, location, cc);
            server
        })
        .collect()
}
