//! The owner against real site servers on loopback: fan-out, a server killed mid-backup,
//! sync, restore from each site, pinned keys and refused tenants.

mod common;

use common::server::{add_server, owner_key, start_servers, SiteServer};
use common::tree::{assert_same, make_tree, noise};
use common::{stderr_of, Env, LUXEMBOURG, STOCKHOLM};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PARIS: &str = "48.8566,2.3522";

fn three_servers(env: &Env) -> Vec<SiteServer> {
    start_servers(env, &[("lux", LUXEMBOURG, "LU"), ("sto", STOCKHOLM, "SE"), ("par", PARIS, "FR")])
}

fn packs_at(server: &SiteServer) -> usize {
    common::packs(&server.data.join("tenants/ee")).len()
}

#[test]
fn backup_to_three_servers_survives_one_killed_and_sync_catches_up() {
    let env = Env::init();
    let mut servers = three_servers(&env);
    let src = env.path("src");
    make_tree(&src);
    let report = env.backup_json(&[&src], 0);
    assert_eq!(report["stored_at"], serde_json::json!(["lux", "sto", "par"]));
    for site in ["lux", "sto", "par"] {
        let out = env.path(&format!("out-{site}"));
        env.cmd(&["restore", "latest", "--site", site, "--target", out.to_str().unwrap()]).assert().success();
        assert_same(&src, &out.join("src"));
    }

    // A stream arrives; the Stockholm server dies in the middle of it.
    let data = noise(64 * 1024 * 1024, 21);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("chancery"))
        .env("CHANCERY_PASSWORD", common::PASSWORD)
        .arg("--config")
        .arg(&env.config)
        .args(["--json", "backup", "--stdin", "--stdin-name", "dump.sql"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let before = packs_at(&servers[1]);
    child.stdin.as_mut().unwrap().write_all(&data[..32 * 1024 * 1024]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while packs_at(&servers[1]) < before + 1 {
        assert!(Instant::now() < deadline, "no pack reached sto");
        std::thread::sleep(Duration::from_millis(10));
    }
    servers[1].kill();
    child.stdin.as_mut().unwrap().write_all(&data[32 * 1024 * 1024..]).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["stored_at"], serde_json::json!(["lux", "par"]));
    assert!(stderr_of(&out).contains("sto"));

    servers[1].restart();
    env.cmd(&["status"]).assert().code(3);
    env.cmd(&["sync"]).assert().success();
    env.cmd(&["status"]).assert().success();
    for site in ["lux", "sto", "par"] {
        env.cmd(&["check", "--read-data", "--site", site]).assert().success();
    }
    let out = env.path("out-dump");
    env.cmd(&["restore", "latest", "--site", "sto", "--target", out.to_str().unwrap()]).assert().success();
    assert!(std::fs::read(out.join("dump.sql")).unwrap() == data);
}

#[test]
fn a_changed_site_key_and_a_foreign_tenant_are_refused() {
    let env = Env::init();
    let key = owner_key(&env);
    let server = SiteServer::start(&env.path("site-lux"), "lux", "ee", &key);
    let other = SiteServer::start(&env.path("site-other"), "other", "ee", &key);
    // Pinning another site's key: the TLS handshake is refused, nothing is written.
    let out = env
        .cmd(&["site", "add", "lux", "--url", &server.url, "--site-key", &other.key, "--tenant", "ee"])
        .args(["--location", LUXEMBOURG, "--jurisdiction", "LU"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(12), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("site key mismatch"), "{}", stderr_of(&out));
    add_server(&env, "lux", &server, LUXEMBOURG, "LU");
    add_server(&env, "other", &other, STOCKHOLM, "SE");
    let src = env.path("src");
    make_tree(&src);
    env.backup_json(&[&src], 0);
    let stored = common::packs(&server.data.join("tenants/ee"));

    // Another owner, enrolled as another tenant, aims at tenant "ee": refused, nothing changes.
    let intruder = Env::init();
    let intruder_key = owner_key(&intruder);
    chancery_site::enroll(&server.data, "mallory", &intruder_key, None).unwrap();
    let out = intruder
        .cmd(&["site", "add", "lux", "--url", &server.url, "--site-key", &server.key, "--tenant", "ee"])
        .args(["--location", LUXEMBOURG, "--jurisdiction", "LU"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(12), "{}", stderr_of(&out));
    assert_eq!(common::packs(&server.data.join("tenants/ee")), stored);
    env.cmd(&["check", "--read-data"]).assert().success();
}

/// Range requests (answered 206) a site has served.
fn ranges_served(server: &SiteServer) -> u64 {
    server.metric("chancery_site_requests_total{method=\"GET\",status=\"206\"}")
}

#[test]
fn a_walk_of_many_folders_reads_each_tree_pack_once_not_each_tree() {
    let env = Env::init();
    let servers = start_servers(&env, &[("lux", LUXEMBOURG, "LU"), ("sto", STOCKHOLM, "SE")]);
    let src = env.path("src");
    for (a, b) in (0..20).flat_map(|a| (0..15).map(move |b| (a, b))) {
        let dir = src.join(format!("a{a}/b{b}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("f.txt"), format!("folder {a}/{b}\n")).unwrap();
    }
    env.backup_json(&[&src], 0);
    let served = || servers.iter().map(ranges_served).sum::<u64>();

    // A no-change backup walks the parent's 322 trees, all in one tree pack: the root tree is
    // read alone, then the pack whole, once.
    let before = served();
    env.backup_json(&[&src], 0);
    let walk = served() - before;
    assert_eq!(walk, 2, "range requests to walk 322 trees");

    // A restore walks them too, and reads the 300 files' blobs in merged ranges, a few per
    // batch of files (one request per tree would make over 300).
    let before = served();
    let out = env.path("out");
    env.cmd(&["restore", "latest", "--site", "lux", "--target", out.to_str().unwrap()]).assert().success();
    assert_same(&src, &out.join("src"));
    let restore = served() - before;
    assert!(restore <= 10, "{restore} range requests to restore 300 folders");

    // So do `ls` and a check of what every snapshot refers to.
    for args in [&["ls", "latest"][..], &["check", "--site", "sto"]] {
        let before = served();
        env.cmd(args).assert().success();
        let walk = served() - before;
        assert_eq!(walk, 2, "range requests for {args:?}");
    }

    // The tree pack cut short at lux: its trees are read one by one there (those past the cut
    // from sto), not the pack fetched whole again for each of them.
    let tree_pack = tree_pack_at(&env, &servers[0]);
    let whole = std::fs::read(&tree_pack).unwrap();
    std::fs::write(&tree_pack, &whole[..whole.len() / 2]).unwrap();
    let sent = || servers[0].metric("chancery_site_sent_bytes_total");
    let before = sent();
    let out = env.path("out-short");
    let run =
        env.cmd(&["restore", "latest", "--site", "lux", "--target", out.to_str().unwrap()]).output().unwrap();
    assert_eq!(run.status.code(), Some(3), "{}", stderr_of(&run));
    assert_same(&src, &out.join("src"));
    let packs_at_lux: u64 = common::packs(&servers[0].data.join("tenants/ee"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(sent() - before < 2 * packs_at_lux, "{} bytes sent for {packs_at_lux} stored", sent() - before);
    std::fs::write(&tree_pack, &whole).unwrap();

    // Every pack at lux damaged: each tree and blob that fails to verify there is read from sto.
    for pack in common::packs(&servers[0].data.join("tenants/ee")) {
        let len = std::fs::metadata(&pack).unwrap().len() as usize;
        for eighth in 1..8 {
            common::flip_byte(&pack, len * eighth / 8);
        }
    }
    let out = env.path("out-after-damage");
    let run =
        env.cmd(&["restore", "latest", "--site", "lux", "--target", out.to_str().unwrap()]).output().unwrap();
    assert_eq!(run.status.code(), Some(3), "{}", stderr_of(&run));
    assert!(stderr_of(&run).contains("site lux"), "{}", stderr_of(&run));
    assert_same(&src, &out.join("src"));
}

/// The file at `server` of the pack that holds the latest snapshot's root tree.
fn tree_pack_at(env: &Env, server: &SiteServer) -> std::path::PathBuf {
    let archive = chancery_owner::archive::Archive::open(&env.config, common::PASSWORD.as_bytes()).unwrap();
    let sites: Vec<&chancery_owner::site::Site> = archive.sites.iter().collect();
    let (index, _) = chancery_owner::index::Index::load_union(&sites, &archive.keys).unwrap();
    let snapshots = chancery_owner::snapshots::list_snapshots(&archive, &mut Vec::new()).unwrap();
    let root = snapshots.last().unwrap().snapshot.tree;
    let name = index.get(&root).unwrap().pack.to_hex();
    let packs = common::packs(&server.data.join("tenants/ee"));
    packs.into_iter().find(|p| p.file_name().unwrap().to_str() == Some(name.as_str())).unwrap()
}

/// The names of the files in `dir`.
fn names_in(dir: &std::path::Path) -> std::collections::BTreeSet<String> {
    let entries = std::fs::read_dir(dir).map(|d| d.flatten().collect::<Vec<_>>()).unwrap_or_default();
    entries.iter().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
}

/// Two site servers holding one backup of a tree: the servers, the tree, the owner's cached
/// copies of objects of one kind (`cache_dir` in its state folder), and where each server
/// keeps them (`kind_dir` in its tenant's folder). Every object written is kept.
struct KeptObjects {
    servers: Vec<SiteServer>,
    src: std::path::PathBuf,
    cache: std::path::PathBuf,
    at_sites: Vec<std::path::PathBuf>,
}

impl KeptObjects {
    fn new(env: &Env, cache_dir: &str, kind_dir: &str) -> Self {
        let servers = start_servers(env, &[("lux", LUXEMBOURG, "LU"), ("sto", STOCKHOLM, "SE")]);
        let src = env.path("src");
        make_tree(&src);
        env.backup_json(&[&src], 0);
        let archive =
            chancery_owner::archive::Archive::open(&env.config, common::PASSWORD.as_bytes()).unwrap();
        let cache = archive.state_dir().join(cache_dir);
        let at_sites = servers.iter().map(|s| s.data.join("tenants/ee").join(kind_dir)).collect();
        let kept = Self { servers, src, cache, at_sites };
        assert_eq!(names_in(&kept.cache), names_in(&kept.at_sites[0]), "every object kept once written");
        kept
    }

    /// Damages every site's copy of every object; gives back what repairs them.
    fn damage_every_copy(&self) -> Vec<(std::path::PathBuf, Vec<u8>)> {
        let saved: Vec<(std::path::PathBuf, Vec<u8>)> = self
            .at_sites
            .iter()
            .flat_map(|dir| names_in(dir).into_iter().map(move |name| dir.join(name)))
            .map(|path| (path.clone(), std::fs::read(&path).unwrap()))
            .collect();
        for (path, bytes) in &saved {
            common::flip_byte(path, bytes.len() / 2);
        }
        saved
    }

    /// Restores the latest snapshot and compares it with the tree backed up.
    fn restores(&self, env: &Env) {
        let out = env.path("out");
        let _ = std::fs::remove_dir_all(&out);
        env.cmd(&["restore", "latest", "--target", out.to_str().unwrap()]).assert().success();
        assert_same(&self.src, &out.join("src"));
    }

    fn damage_every_kept_copy(&self) {
        for name in names_in(&self.cache) {
            common::flip_byte(&self.cache.join(name), 10);
        }
    }

    /// Repairs the sites' copies, and puts a file no site lists in the cache.
    fn repair(&self, saved: &[(std::path::PathBuf, Vec<u8>)]) {
        for (path, bytes) in saved {
            std::fs::write(path, bytes).unwrap();
        }
        std::fs::write(self.cache.join("00".repeat(32)), b"an object no site lists").unwrap();
    }

    /// The cache holds exactly the sites' objects, byte for byte.
    fn assert_kept_as_at_sites(&self) {
        assert_eq!(names_in(&self.cache), names_in(&self.at_sites[0]));
        for name in names_in(&self.cache) {
            let kept = std::fs::read(self.cache.join(&name)).unwrap();
            assert_eq!(kept, std::fs::read(self.at_sites[0].join(&name)).unwrap());
        }
    }
}

#[test]
fn index_files_from_site_servers_are_kept_and_used_only_while_intact() {
    let env = Env::init();
    let kept = KeptObjects::new(&env, chancery_owner::object_cache::INDEX_CACHE_DIR, "index");

    // Every site's copy damaged: what loads the index reads the kept copies...
    let saved = kept.damage_every_copy();
    env.cmd(&["ls", "latest"]).assert().success();
    kept.restores(&env);
    // ...and `check` reads the site's copies, and finds them damaged.
    env.cmd(&["check", "--site", "lux"]).assert().code(10);

    // A kept copy that no longer hashes to its name is not used: nothing intact is left.
    kept.damage_every_kept_copy();
    let run = env.cmd(&["ls", "latest"]).output().unwrap();
    assert!(!run.status.success() && stderr_of(&run).contains("index"), "{}", stderr_of(&run));

    // The sites' copies repaired: fetched and kept again; a kept file no site lists goes.
    kept.repair(&saved);
    env.backup_json(&[&kept.src], 0);
    kept.assert_kept_as_at_sites();
}

#[test]
fn a_restore_from_a_site_server_reads_a_pack_of_small_files_whole_and_once() {
    let env = Env::init();
    let servers = start_servers(&env, &[("lux", LUXEMBOURG, "LU"), ("sto", STOCKHOLM, "SE")]);
    let src = env.path("src");
    for (folder, file) in (0..30).flat_map(|f| (0..100).map(move |n| (f, n))) {
        let dir = src.join(format!("d{folder}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{file}")), noise(4096, (folder * 1000 + file) * 2 + 1)).unwrap();
    }
    env.backup_json(&[&src], 0);
    let data_packs = common::packs(&servers[0].data.join("tenants/ee"))
        .into_iter()
        .filter(|p| std::fs::metadata(p).unwrap().len() > 8 << 20)
        .count();
    let sizes: Vec<u64> = common::packs(&servers[0].data.join("tenants/ee"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .collect();
    assert_eq!(data_packs, 1, "3,000 files of 4 KiB: one data pack, longer than one range request {sizes:?}");

    // The trees cost the same requests to `ls` and to a restore; the data pack costs one more.
    let lux = &servers[0];
    let before = ranges_served(lux);
    env.cmd(&["ls", "latest"]).assert().success();
    let trees = ranges_served(lux) - before;
    let before = ranges_served(lux);
    let out = env.path("out");
    env.cmd(&["restore", "latest", "--site", "lux", "--target", out.to_str().unwrap()]).assert().success();
    assert_eq!(
        ranges_served(lux) - before,
        trees + 1,
        "the data pack read whole, once, by one of the workers"
    );
    assert_same(&src, &out.join("src"));
}

#[test]
fn a_large_files_chunks_in_a_pack_read_whole_for_small_files_are_not_fetched_again() {
    let env = Env::init();
    let servers = start_servers(&env, &[("lux", LUXEMBOURG, "LU"), ("sto", STOCKHOLM, "SE")]);
    let src = env.path("src");
    std::fs::create_dir_all(src.join("a")).unwrap();
    // 6 MiB of small files and a file past the batch size, whose chunks a restore reads one
    // by one, after the small files (walk order). Its text, of four letters, seals to about a
    // quarter: both fit in one data pack, which the first batch's ranges cover (its chunks
    // are shorter than the gap that splits a range), so it is read whole.
    for n in 0..1500 {
        std::fs::write(src.join(format!("a/f{n}")), noise(4096, n * 2 + 1)).unwrap();
    }
    std::fs::create_dir_all(src.join("z")).unwrap();
    let letters: Vec<u8> = noise(20 << 20, 7).iter().map(|b| b"acgt"[usize::from(b & 3)]).collect();
    std::fs::write(src.join("z/large"), letters).unwrap();
    env.cmd_on_one_cpu(&["backup", src.to_str().unwrap()]).assert().success();
    let lux = &servers[0];
    let sizes: Vec<u64> = common::packs(&lux.data.join("tenants/ee"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .collect();
    let data_packs = sizes.iter().filter(|len| **len > 1 << 20).count();
    let whole = chancery_owner::reader::WHOLE_PACK_READ;
    assert!(data_packs == 1 && sizes.iter().all(|len| *len <= whole), "one data pack, read whole: {sizes:?}");
    let pack_bytes: u64 = sizes.iter().sum();

    let sent = || lux.metric("chancery_site_sent_bytes_total");
    let before = sent();
    let out = env.path("out");
    let restore = ["restore", "latest", "--site", "lux", "--target", out.to_str().unwrap()];
    env.cmd_on_one_cpu(&restore).assert().success();
    let fetched = sent() - before;
    // Every pack once at most; a few KiB more for the checkpoint and the listings.
    assert!(fetched <= pack_bytes + (64 << 10), "fetched {fetched} bytes for {pack_bytes} bytes of packs");
    assert_same(&src, &out.join("src"));
}

/// Whole objects (answered 200) a site has served.
fn objects_served(server: &SiteServer) -> u64 {
    server.metric("chancery_site_requests_total{method=\"GET\",status=\"200\"}")
}

#[test]
fn snapshot_objects_from_site_servers_are_fetched_once_and_used_only_while_intact() {
    let env = Env::init();
    let kept = KeptObjects::new(&env, chancery_owner::object_cache::SNAPSHOT_CACHE_DIR, "snapshots");

    // Each site's copy of a snapshot is fetched once, by the first listing after the backup
    // that wrote it (the first backup's own, as it starts the ledger; the next backup's, to
    // find its parent), never again. `others` counts the other objects a listing reads.
    let served = || kept.servers.iter().map(objects_served).sum::<u64>();
    let fetched_by_listing = || {
        let before = served();
        let listed = env.json(&["snapshots"], 0);
        (served() - before, listed)
    };
    let (others, _) = fetched_by_listing();
    for _ in 0..3 {
        env.backup_json(&[&kept.src], 0);
    }
    let (after_backups, _) = fetched_by_listing();
    assert_eq!(
        after_backups,
        others + 2,
        "the newest snapshot's 2 copies; the older ones' were read by backups"
    );
    let (again, listed) = fetched_by_listing();
    assert_eq!(again, others, "4 snapshots listed, none fetched");
    assert_eq!(listed.as_array().unwrap().len(), 4);
    assert!(listed.as_array().unwrap().iter().all(|s| s["sites"] == serde_json::json!(["lux", "sto"])));

    // A listing with the sites out of reach keeps what it cannot list.
    let mut kept = kept;
    kept.servers.iter_mut().for_each(SiteServer::kill);
    let run = env.cmd(&["snapshots"]).output().unwrap();
    assert!(run.status.success() && stderr_of(&run).contains("unreachable"), "{}", stderr_of(&run));
    assert_eq!(names_in(&kept.cache).len(), 4);
    kept.servers.iter_mut().for_each(SiteServer::restart);

    // Every site's copy damaged after it was read: the kept copies serve...
    let saved = kept.damage_every_copy();
    assert_eq!(env.json(&["snapshots"], 0).as_array().unwrap().len(), 4);
    kept.restores(&env);
    // ...and `check` reads the site's copies, and finds them damaged.
    env.cmd(&["check", "--site", "lux"]).assert().code(10);

    // A kept copy that no longer hashes to its name is not used: nothing intact is left.
    kept.damage_every_kept_copy();
    let run = env.cmd(&["snapshots"]).output().unwrap();
    assert_eq!(run.status.code(), Some(3), "{}", stderr_of(&run));
    assert!(stderr_of(&run).contains("does not match its name"), "{}", stderr_of(&run));

    // The sites' copies repaired: fetched and kept again; a kept file no site lists goes.
    kept.repair(&saved);
    assert_eq!(env.json(&["snapshots"], 0).as_array().unwrap().len(), 4);
    kept.assert_kept_as_at_sites();
}
