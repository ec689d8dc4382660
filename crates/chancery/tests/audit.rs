//! `audit`, proof of storage, on the real binary against real site servers on loopback: a site
//! that lost 1 % of its packs is found (exit 10, naming the site and each lost pack), a healthy
//! site passes with the odds reported, a flipped byte is found while only a few KiB of the
//! pack travel, and restore from a healthy site still gives the exact tree. A local folder is
//! audited by reading its sampled packs whole.

mod common;

use common::server::{start_servers, SiteServer};
use common::tree::{assert_same, make_tree, noise};
use common::{flip_byte, packs, packs_by_size, stderr_of, Env, LUXEMBOURG, STOCKHOLM};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Packs each site should hold before the audits: over 100, so that 1 % is a whole pack.
const PACKS: usize = 105;

fn audit(env: &Env, site: &str, sample: &str, code: i32) -> Value {
    env.json(&["audit", "--site", site, "--sample", sample], code)
}

fn name_of(pack: &Path) -> String {
    pack.file_name().unwrap().to_str().unwrap().to_string()
}

/// The owner with sites `lux` and `sto` (servers), a tree backed up once, then growing by one
/// small file per backup (a new data pack, and usually a new tree pack) until each site holds
/// [`PACKS`] packs.
fn archive_of_many_packs() -> (Env, Vec<SiteServer>, PathBuf) {
    let env = Env::init();
    let servers = start_servers(&env, &[("lux", LUXEMBOURG, "LU"), ("sto", STOCKHOLM, "SE")]);
    let src = env.path("src");
    make_tree(&src);
    let src_arg = src.to_str().unwrap().to_string();
    env.cmd(&["backup", &src_arg]).assert().success();
    for i in 0.. {
        if packs(&tenant(&servers[0])).len() >= PACKS {
            break;
        }
        assert!(i < 2 * PACKS, "{i} backups made fewer than {PACKS} packs");
        std::fs::write(src.join(format!("docs/new-{i:03}.bin")), noise(3000, 100 + i as u64)).unwrap();
        env.cmd(&["backup", &src_arg]).assert().success();
    }
    (env, servers, src)
}

fn tenant(server: &SiteServer) -> PathBuf {
    server.data.join("tenants/ee")
}

fn failures(report: &Value) -> Vec<(String, String)> {
    let list = report["failures"].as_array().unwrap();
    list.iter().map(|f| (f["pack"].as_str().unwrap().into(), f["problem"].as_str().unwrap().into())).collect()
}

#[test]
fn a_site_that_lost_one_percent_of_its_packs_is_found_and_a_healthy_one_restores() {
    let (env, servers, src) = archive_of_many_packs();
    let (lux, sto) = (&servers[0], &servers[1]);
    let total = packs(&tenant(lux)).len();
    assert!(total >= PACKS, "only {total} packs");
    assert_eq!(packs(&tenant(sto)).len(), total);

    // A healthy site: every pack proved, and a small sample with its odds.
    let report = audit(&env, "sto", "all", 0);
    assert_eq!(
        (report["packs"].as_u64(), report["sampled"].as_u64()),
        (Some(total as u64), Some(total as u64))
    );
    assert_eq!(report["passed"].as_u64(), Some(total as u64));
    assert_eq!(report["method"], "proof");
    assert_eq!(report["detection"]["probability"].as_f64(), Some(1.0));
    assert!(report["bytes_received"].as_u64().unwrap() < total as u64 * 2300, "{report}");
    let report = audit(&env, "sto", "10", 0);
    let detection = &report["detection"];
    let lost = total.div_ceil(100) as f64;
    let (p, expect) = (detection["probability"].as_f64().unwrap(), lost * 10.0 / total as f64);
    assert!(p <= expect + 1e-9 && p > expect * 0.9, "{detection}");
    assert!(detection["samples_for_95"].as_u64().unwrap() < detection["samples_for_99"].as_u64().unwrap());
    let text = env.cmd(&["audit", "--site", "sto", "--sample", "10"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("10 of") && stdout.contains("all passed") && stdout.contains("95% needs"),
        "{stdout}"
    );

    // Lux loses 1 % of its packs, chosen evenly across them.
    let lost_packs: Vec<PathBuf> = packs(&tenant(lux)).into_iter().step_by(100).collect();
    assert_eq!(lost_packs.len(), total.div_ceil(100));
    for pack in &lost_packs {
        std::fs::remove_file(pack).unwrap();
    }
    let report = audit(&env, "lux", "all", 10);
    let found: BTreeSet<(String, String)> = failures(&report).into_iter().collect();
    let lost: BTreeSet<(String, String)> =
        lost_packs.iter().map(|p| (name_of(p), "missing".into())).collect();
    assert_eq!(found, lost);
    assert_eq!(report["passed"].as_u64(), Some((total - lost.len()) as u64));
    let out = env.cmd(&["audit", "--site", "lux", "--sample", "all"]).output().unwrap();
    assert_eq!(out.status.code(), Some(10));
    let stderr = stderr_of(&out);
    assert!(stderr.contains("integrity check failed at site lux"), "{stderr}");
    for pack in &lost_packs {
        assert!(stderr.contains(&format!("error: site lux: pack {}: missing", name_of(pack))), "{stderr}");
    }

    // The healthy site still restores the exact tree.
    let out_dir = env.path("restored-sto");
    env.cmd(&["restore", "latest", "--site", "sto", "--target", out_dir.to_str().unwrap()])
        .assert()
        .success();
    assert_same(&src, &out_dir.join("src"));

    // As the error says, sync sends the lost packs again, and the audit passes.
    env.cmd(&["sync", "--site", "lux"]).assert().success();
    assert_eq!(audit(&env, "lux", "all", 0)["passed"].as_u64(), Some(total as u64));

    // One flipped byte in Stockholm's largest pack: found, with a few KiB of it received.
    let largest = packs_by_size(&tenant(sto)).remove(0);
    let size = std::fs::metadata(&largest).unwrap().len();
    assert!(size > 4 << 20, "the largest pack is only {size} bytes");
    flip_byte(&largest, size as usize / 3);
    let sent_before = sto.metric("chancery_site_sent_bytes_total");
    let report = audit(&env, "sto", "all", 10);
    let sent = sto.metric("chancery_site_sent_bytes_total") - sent_before;
    assert_eq!(failures(&report), vec![(name_of(&largest), "proof_failed".to_string())]);
    let received = report["bytes_received"].as_u64().unwrap();
    assert!(received < size / 20, "{received} bytes received for a {size}-byte pack and the others");
    assert!(sent < size / 10, "the site sent {sent} bytes during the audit");
    assert_eq!(sto.metric("chancery_site_proofs_total{copy=\"damaged\"}"), 1);
    eprintln!(
        "measured: {total} packs, {received} bytes of proofs received for {} bytes of packs, \
         {sent} bytes sent by the site in all; the damaged pack is {size} bytes",
        report["bytes_of_sampled_packs"]
    );
}

#[test]
fn a_local_folder_is_audited_by_reading_its_sampled_packs() {
    let env = Env::with_two_sites();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..3 {
        std::fs::write(src.join(format!("f{i}")), noise(50_000, i)).unwrap();
        env.cmd(&["backup", src.to_str().unwrap()]).assert().success();
    }
    let report = audit(&env, "lux", "all", 0);
    assert_eq!(report["method"], "read");
    assert_eq!(report["passed"], report["packs"]);
    assert_eq!(report["bytes_received"], report["bytes_of_sampled_packs"]);

    let site = env.site_dir("lux");
    let all = packs(&site);
    std::fs::remove_file(&all[0]).unwrap();
    flip_byte(&all[1], 100);
    let report = audit(&env, "lux", "all", 10);
    let mut found = failures(&report);
    found.sort();
    let mut expect =
        vec![(name_of(&all[0]), "missing".to_string()), (name_of(&all[1]), "proof_failed".to_string())];
    expect.sort();
    assert_eq!(found, expect);
    audit(&env, "sto", "all", 0);
    env.cmd(&["audit", "--site", "nowhere"]).assert().code(1);
}
