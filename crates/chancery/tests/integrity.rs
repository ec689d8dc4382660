//! A hostile or failing site: corrupted, truncated and missing objects are found and named,
//! and restores are served from the healthy site.

mod common;

use common::tree::{assert_same, make_tree};
use common::{flip_byte, packs, packs_by_size, stderr_of, Env};

fn backed_up() -> (Env, std::path::PathBuf) {
    let env = Env::with_two_sites();
    let src = env.path("src");
    make_tree(&src);
    env.backup_json(&[&src], 0);
    (env, src)
}

#[test]
fn corrupted_pack_is_named_and_restore_uses_the_other_site() {
    let (env, src) = backed_up();
    let victim = packs_by_size(&env.site_dir("lux"))[0].clone();
    let len = std::fs::metadata(&victim).unwrap().len() as usize;
    flip_byte(&victim, len / 2);
    let name = victim.file_name().unwrap().to_str().unwrap().to_string();
    let out = env.cmd(&["check", "--read-data"]).output().unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("site lux") && err.contains(&name) && err.contains("needed by snapshots"), "{err}");
    assert!(!err.contains("site sto"), "{err}");
    env.cmd(&["check", "--read-data", "--site", "sto"]).assert().success();
    let target = env.path("out");
    let out = env
        .cmd(&["restore", "latest", "--site", "lux", "--target", target.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("site lux"));
    assert_same(&src, &target.join("src"));
}

#[test]
fn truncated_and_missing_packs_are_found() {
    let (env, src) = backed_up();
    let lux = packs_by_size(&env.site_dir("lux"));
    let sto = packs_by_size(&env.site_dir("sto"));
    let truncated = &lux[0];
    let bytes = std::fs::read(truncated).unwrap();
    std::fs::write(truncated, &bytes[..bytes.len() / 3]).unwrap();
    let missing = sto.iter().find(|p| p.file_name() != truncated.file_name()).unwrap().clone();
    std::fs::remove_file(&missing).unwrap();
    let out = env.cmd(&["check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(10));
    let err = stderr_of(&out);
    assert!(
        err.contains("site sto")
            && err.contains("missing")
            && err.contains(missing.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
    let out = env.cmd(&["check", "--read-data", "--site", "lux"]).output().unwrap();
    assert_eq!(out.status.code(), Some(10));
    assert!(stderr_of(&out).contains(truncated.file_name().unwrap().to_str().unwrap()));
    let target = env.path("out");
    let out = env.cmd(&["restore", "latest", "--target", target.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert_same(&src, &target.join("src"));
}

#[test]
fn read_data_subset_samples_packs() {
    let (env, _) = backed_up();
    let all = packs(&env.site_dir("lux")).len();
    let report = env.json(&["check", "--read-data-subset", "50"], 0);
    let read = report[0]["packs_read"].as_u64().unwrap() as usize;
    assert_eq!(read, all.div_ceil(2));
}

#[test]
fn every_damaged_pack_is_named_once_in_order_while_packs_are_read_in_parallel() {
    let (env, src) = backed_up();
    for round in 0..3u8 {
        // Each backup of something new closes a data pack and a tree pack of its own.
        std::fs::write(src.join(format!("new-{round}")), vec![round; 100_000]).unwrap();
        env.backup_json(&[&src], 0);
    }
    let all = packs(&env.site_dir("lux"));
    assert!(all.len() >= 6, "several packs: {}", all.len());
    // Every other pack damaged: the sound ones in between are read by the other threads.
    let mut damaged: Vec<String> = Vec::new();
    for pack in all.iter().step_by(2) {
        flip_byte(pack, std::fs::metadata(pack).unwrap().len() as usize / 2);
        damaged.push(pack.file_name().unwrap().to_str().unwrap().to_string());
    }
    damaged.sort();
    let report = env.json(&["check", "--read-data", "--site", "lux"], 10);
    let named: Vec<String> = report[0]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["object"].as_str().unwrap().trim_start_matches("pack ").to_string())
        .collect();
    assert_eq!(named, damaged, "{report:#}");
    // Damaged packs were read whole too.
    assert_eq!(report[0]["packs_read"].as_u64().unwrap() as usize, all.len());
}

#[test]
fn tampered_snapshot_and_index_are_detected() {
    let (env, _) = backed_up();
    let snap =
        std::fs::read_dir(env.site_dir("lux").join("snapshots")).unwrap().next().unwrap().unwrap().path();
    flip_byte(&snap, 40);
    let out = env.cmd(&["check", "--site", "lux"]).output().unwrap();
    assert_eq!(out.status.code(), Some(10));
    assert!(stderr_of(&out).contains("snapshot"));
    let out = env.json(&["snapshots"], 3);
    assert_eq!(out[0]["sites"], serde_json::json!(["sto"]), "the bad copy no longer counts");
}

#[test]
fn a_site_sees_neither_names_nor_contents() {
    let env = Env::with_two_sites();
    let src = env.path("state-secrets");
    std::fs::create_dir_all(&src).unwrap();
    let name = "population-register-of-agents.csv";
    let content = "Agent 007 lives at 12 Kesk street, Tallinn\n".repeat(50);
    std::fs::write(src.join(name), &content).unwrap();
    env.backup_json(&[&src], 0);
    for site in ["lux", "sto"] {
        let mut haystack = Vec::new();
        for entry in walk(&env.site_dir(site)) {
            haystack.extend_from_slice(entry.to_string_lossy().as_bytes());
            if entry.is_file() {
                haystack.extend(std::fs::read(&entry).unwrap());
            }
        }
        for needle in [name.as_bytes(), b"Agent 007", b"state-secrets", b"Kesk street"] {
            assert!(
                !haystack.windows(needle.len()).any(|w| w == needle),
                "{site} reveals {:?}",
                String::from_utf8_lossy(needle)
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

/// A backup writes nothing to a site whose own copy of an index file it read is damaged
/// (nothing would repair a copy the site lists), and builds nothing on a pack it could not
/// copy to a site: what that site lacks is stored again, so the snapshot restores from it.
/// A site that cannot be given every snapshot is given no ledger that would vouch for them.
#[test]
fn a_backup_leaves_out_a_site_with_a_bad_index_file_and_stores_again_what_a_site_lacks() {
    let env = Env::with_two_sites();
    env.add_site("par", "48.8566,2.3522", "FR");
    let src = env.path("src");
    make_tree(&src);
    env.backup_json(&[&src], 0);

    let index = std::fs::read_dir(env.site_dir("lux").join("index")).unwrap().next().unwrap().unwrap().path();
    flip_byte(&index, 40);
    std::fs::write(src.join("after.txt"), b"written after the damage").unwrap();
    let report = env.backup_json(&[&src], 3);
    assert!(report["lagging"]["lux"].as_str().unwrap().contains("index"), "{report}");
    assert_eq!(report["stored_at"], serde_json::json!(["sto", "par"]), "{report}");
    flip_byte(&index, 40);

    // Lux is back, without the second snapshot; the largest data pack is gone from lux and
    // damaged wherever else it is.
    let victim = packs_by_size(&env.site_dir("sto"))[0].clone();
    let relative = victim.strip_prefix(env.site_dir("sto")).unwrap().to_path_buf();
    std::fs::remove_file(env.site_dir("lux").join(&relative)).unwrap();
    for site in ["sto", "par"] {
        flip_byte(&env.site_dir(site).join(&relative), 5000);
    }
    std::fs::write(src.join("after.txt"), b"and after the loss").unwrap();
    let report = env.backup_json(&[&src], 3);
    assert_eq!(report["stored_at"], serde_json::json!(["lux", "sto", "par"]), "{report}");
    assert!(report["warnings"].to_string().contains("site lux is not given the ledger"), "{report}");
    // Lux lacks the second snapshot, which no site holds whole: no listing calls it deleted.
    let out = env.cmd(&["snapshots"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));

    let target = env.path("out");
    let out = env
        .cmd(&["restore", "latest", "--site", "lux", "--target", target.to_str().unwrap()])
        .output()
        .unwrap();
    // Its blobs are in two packs now. When the index lists the lost one first, it is tried
    // first and named (exit 3), and the blobs are read from the one stored later.
    let named = stderr_of(&out).contains("site lux: pack");
    assert_eq!(out.status.code(), Some(if named { 3 } else { 0 }), "{}", stderr_of(&out));
    assert_same(&src, &target.join("src"));
}

/// A snapshot object the ledger does not record, injected at one site, is reported there and
/// never copied to the others, by a backup or by `sync`.
#[test]
fn a_snapshot_injected_at_one_site_is_not_spread_to_the_others() {
    let (env, src) = backed_up();
    let bytes = b"an object no owner wrote".to_vec();
    let name = blake3::hash(&bytes).to_hex().to_string();
    std::fs::write(env.site_dir("lux").join("snapshots").join(&name), &bytes).unwrap();
    std::fs::write(src.join("after.txt"), b"after the injection").unwrap();
    let out = env.cmd(&["backup", src.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("not recorded in the ledger"), "{}", stderr_of(&out));
    let out = env.cmd(&["sync"]).output().unwrap();
    assert!(!env.site_dir("sto").join("snapshots").join(&name).exists(), "{}", stderr_of(&out));
}
