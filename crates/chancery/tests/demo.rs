//! `chancery demo` tells the whole story and ends with an identical recovery.

#[test]
fn demo_runs_end_to_end() {
    let out = assert_cmd::Command::cargo_bin("chancery").unwrap().arg("demo").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("content does not match its name"), "{text}");
    assert!(text.contains("identical, byte for byte"), "{text}");
    assert!(text.contains("site servers abroad") && text.contains("https://127.0.0.1:"), "{text}");
    assert!(text.contains("scrub, without any key, also finds packs"), "{text}");
    assert!(text.contains("site stockholm") && text.contains("rolled back"), "{text}");
    assert!(text.contains("the password rebuilt"), "{text}");
}
