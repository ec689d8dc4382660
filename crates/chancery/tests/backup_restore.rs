//! Backup and restore on the real binary: exact trees, sub-paths, stdin, a large compressible
//! file, incremental runs.

mod common;

use common::tree::{allocated, assert_same, make_tree, noise};
use common::Env;
use std::os::unix::fs::MetadataExt;

#[test]
fn restore_reproduces_every_kind_of_entry_from_each_site() {
    let env = Env::with_two_sites();
    let src = env.path("src");
    make_tree(&src);
    let report = env.backup_json(&[&src], 0);
    assert_eq!(report["stored_at"], serde_json::json!(["lux", "sto"]));
    let snaps = env.json(&["snapshots"], 0);
    assert_eq!(snaps.as_array().unwrap().len(), 1);
    assert_eq!(snaps[0]["sites"], serde_json::json!(["lux", "sto"]));
    for site in ["lux", "sto"] {
        let out = env.path(&format!("out-{site}"));
        env.cmd(&["restore", "latest", "--target", out.to_str().unwrap(), "--site", site]).assert().success();
        let restored = out.join("src");
        assert_same(&src, &restored);
        assert!(allocated(&restored.join("sparse.img")) < 1024 * 1024, "holes stay holes");
        let (a, b) = (
            std::fs::metadata(restored.join("hard-a")).unwrap(),
            std::fs::metadata(restored.join("docs/hard-b")).unwrap(),
        );
        assert_eq!(a.ino(), b.ino(), "hard links share an inode");
    }
}

#[test]
fn include_restores_only_a_sub_path() {
    let env = Env::with_two_sites();
    let src = env.path("src");
    make_tree(&src);
    env.backup_json(&[&src], 0);
    let out = env.path("out");
    env.cmd(&["restore", "latest", "--target", out.to_str().unwrap(), "--include", "src/docs/sub"])
        .assert()
        .success();
    assert_same(&src.join("docs/sub"), &out.join("src/docs/sub"));
    assert!(!out.join("src/big.bin").exists());
    assert!(!out.join("src/docs/readme.txt").exists());
}

#[test]
fn unchanged_tree_is_not_read_again_and_changes_are() {
    let env = Env::with_two_sites();
    let src = env.path("src");
    make_tree(&src);
    let first = env.backup_json(&[&src], 0);
    assert!(first["summary"]["bytes_read"].as_u64().unwrap() > 6_000_000);
    let second = env.backup_json(&[&src], 0);
    assert_eq!(second["summary"]["bytes_read"], 0, "no file content read: {second}");
    assert_eq!(second["summary"]["new_blobs"], 0);
    std::fs::write(src.join("docs/sub/deep/leaf.txt"), b"changed leaf").unwrap();
    let third = env.backup_json(&[&src], 0);
    assert_eq!(third["summary"]["bytes_read"], 12);
    let out = env.path("out");
    env.cmd(&["restore", "latest", "--target", out.to_str().unwrap()]).assert().success();
    // Extended attributes included: those of unchanged files are the parent snapshot's.
    assert_same(&src, &out.join("src"));

    // An extended attribute changed alone changes the file's ctime: the file is read again
    // and its new attribute recorded.
    let readme = src.join("docs/readme.txt");
    if xattr::set(&readme, "user.comment", b"land register, vol. 2").is_ok() {
        let fourth = env.backup_json(&[&src], 0);
        assert_eq!(fourth["summary"]["bytes_read"], std::fs::metadata(&readme).unwrap().len());
        let out = env.path("out-4");
        env.cmd(&["restore", "latest", "--target", out.to_str().unwrap()]).assert().success();
        let comment = xattr::get(out.join("src/docs/readme.txt"), "user.comment").unwrap();
        assert_eq!(comment.as_deref(), Some(&b"land register, vol. 2"[..]));
        assert_same(&src, &out.join("src"));
    }
}

#[test]
fn a_related_tree_stores_only_its_new_chunks() {
    let env = Env::with_two_sites();
    let v1 = env.path("release-1");
    std::fs::create_dir_all(&v1).unwrap();
    std::fs::write(v1.join("engine.bin"), noise(12 * 1024 * 1024, 1)).unwrap();
    std::fs::write(v1.join("data.bin"), noise(4 * 1024 * 1024, 2)).unwrap();
    env.backup_json(&[&v1], 0);
    let v2 = env.path("release-2");
    std::fs::create_dir_all(&v2).unwrap();
    let mut engine = noise(12 * 1024 * 1024, 1);
    engine.splice(5_000_000..5_000_000, b"a patch in the middle".iter().copied());
    std::fs::write(v2.join("engine.bin"), engine).unwrap();
    std::fs::write(v2.join("data.bin"), noise(4 * 1024 * 1024, 2)).unwrap();
    std::fs::write(v2.join("new.txt"), b"new in release 2").unwrap();
    let report = env.backup_json(&[&v2], 0);
    let (read, new) =
        (report["summary"]["bytes_read"].as_u64().unwrap(), report["summary"]["new_bytes"].as_u64().unwrap());
    assert!(read > 16_000_000);
    assert!(new < read / 3, "only chunks around the patch are new: {new} of {read}");
}

#[test]
fn stdin_is_backed_up_as_one_file() {
    let env = Env::with_two_sites();
    let data = noise(3 * 1024 * 1024 + 5, 3);
    assert!(stdin_round_trip(&env, "registry.dump", &data) == data);
}

/// Backs `data` up from stdin as `name`, restores the latest snapshot and reads the file back.
fn stdin_round_trip(env: &Env, name: &str, data: &[u8]) -> Vec<u8> {
    let out =
        env.cmd(&["--json", "backup", "--stdin", "--stdin-name", name]).write_stdin(data).output().unwrap();
    assert!(out.status.success(), "{}", common::stderr_of(&out));
    let target = env.path("out");
    env.cmd(&["restore", "latest", "--target", target.to_str().unwrap()]).assert().success();
    std::fs::read(target.join(name)).unwrap()
}

/// A file of many compressible chunks of different sizes: the restore decodes it ahead on
/// several threads, each chunk decompressed into a buffer a previous chunk was written from.
#[test]
fn a_large_compressible_file_is_restored_exactly() {
    let env = Env::with_two_sites();
    let mut data = Vec::new();
    let words = noise(1 << 16, 5);
    for (i, w) in words.iter().cycle().take(400_000).enumerate() {
        data.extend_from_slice(format!("{i},parcel {},owner {}\n", w % 97, u32::from(*w) * 31).as_bytes());
    }
    assert!(data.len() > 8 << 20, "several chunks of 1 MiB on average");
    assert!(stdin_round_trip(&env, "land.csv", &data) == data);
}

#[test]
fn ls_lists_the_snapshot() {
    let env = Env::with_two_sites();
    let src = env.path("src");
    make_tree(&src);
    env.backup_json(&[&src], 0);
    let list = env.json(&["ls", "latest"], 0);
    let paths: Vec<&str> = list.as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"/src/docs/sub/deep/leaf.txt"));
    assert!(paths.contains(&"/src/empty-dir"));
    let snap = env.json(&["snapshots"], 0)[0]["id"].as_str().unwrap().to_string();
    env.cmd(&["ls", &snap[..8]]).assert().success();
    env.cmd(&["ls", "abc"]).assert().code(1);
}

/// Past Linux's `PATH_MAX` (4,096 bytes) a restore, which recreates entries by path, could
/// not put an entry back: the backup leaves it out with a warning instead of taking a
/// snapshot that fails to restore, and keeps everything above it.
#[test]
fn an_entry_deeper_than_a_restore_can_recreate_is_left_out_with_a_warning() {
    use std::os::fd::AsRawFd;
    let env = Env::with_two_sites();
    let src = env.path("src");
    // src/<pad>/<19 folders of 200 bytes> ends at exactly 4,000 bytes; a file there fits.
    let base = src.as_os_str().len();
    assert!(base < 170, "temporary folder path too long for this test: {}", src.display());
    let mut deep = src.join("p".repeat(4000 - base - 1 - 19 * 201));
    for _ in 0..19 {
        deep.push("d".repeat(200));
    }
    assert_eq!(deep.as_os_str().len(), 4000);
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("kept"), b"within the limit").unwrap();
    // A folder one level further (4,201 bytes) cannot be made by path: made elsewhere and
    // moved in relative to its new parent's descriptor.
    let outside = env.path("too-deep");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("lost"), b"past the limit").unwrap();
    let parent = std::fs::File::open(&deep).unwrap();
    nix::fcntl::renameat(None, &outside, Some(parent.as_raw_fd()), "x".repeat(200).as_str()).unwrap();

    env.cmd(&["backup", src.to_str().unwrap()])
        .assert()
        .code(3)
        .stderr(predicates::str::contains("path longer than a restore can recreate"));
    let out = env.path("out");
    env.cmd(&["restore", "latest", "--target", out.to_str().unwrap()]).assert().success();
    let restored = out.join("src").join(deep.strip_prefix(&src).unwrap());
    assert_eq!(std::fs::read(restored.join("kept")).unwrap(), b"within the limit");
    let names: Vec<_> = std::fs::read_dir(&restored).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["kept"], "the folder past the limit is left out");
}

/// A walk holds one open folder per level. Under a low limit of open files the folders past
/// what it allows are left out with a warning; the backup does not fail for want of
/// descriptors elsewhere (site files, the pipeline), and the rest restores.
#[test]
fn folders_nested_past_the_open_file_limit_are_left_out_with_a_warning() {
    let env = Env::with_two_sites();
    let src = env.path("src");
    let mut deep = src.clone();
    for _ in 0..200 {
        deep.push("d");
    }
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(src.join("top.txt"), b"shallow").unwrap();
    // A hard limit of 300 open files: the walk may hold 150 folders open, `src` and 149 below.
    let bin = assert_cmd::cargo::cargo_bin("chancery");
    let script = r#"ulimit -n 300 && exec "$0" "$@""#;
    assert_cmd::Command::new("sh")
        .args(["-c", script])
        .arg(&bin)
        .arg("--config")
        .arg(&env.config)
        .args(["backup", src.to_str().unwrap()])
        .env_clear()
        .env("CHANCERY_PASSWORD", common::PASSWORD)
        .assert()
        .code(3)
        .stderr(predicates::str::contains("nested deeper than the open-file limit allows"));
    let out = env.path("out");
    env.cmd(&["restore", "latest", "--target", out.to_str().unwrap()]).assert().success();
    assert_eq!(std::fs::read(out.join("src/top.txt")).unwrap(), b"shallow");
    let kept = out.join("src").join("d/".repeat(149));
    assert!(kept.is_dir(), "149 levels below the source kept");
    assert!(!kept.join("d").exists(), "the 150th is left out");
}
