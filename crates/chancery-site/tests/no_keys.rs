//! "A site never holds a decryption key" is enforced by the dependency graph: nothing this
//! crate links, directly or through other crates, may be `chancery-format` (keys, AEAD) or
//! `chancery-owner`. Checked on the workspace's Cargo.lock, which lists every package's
//! dependencies (normal, dev and build alike).

use std::collections::{BTreeMap, BTreeSet};

#[test]
fn the_site_cannot_link_the_crates_that_decrypt() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).unwrap();
    let lock: toml::Value = toml::from_str(&lock).unwrap();
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for package in lock["package"].as_array().unwrap() {
        let names = package.get("dependencies").and_then(|d| d.as_array()).cloned().unwrap_or_default();
        // Entries read "name" or "name version" (when several versions are locked).
        let names = names.iter().map(|d| d.as_str().unwrap().split(' ').next().unwrap().to_string());
        deps.entry(package["name"].as_str().unwrap().to_string()).or_default().extend(names);
    }
    let mut seen = BTreeSet::new();
    let mut todo = vec!["chancery-site".to_string()];
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone()) {
            todo.extend(deps.get(&name).cloned().unwrap_or_default());
        }
    }
    assert!(seen.contains("chancery-store") && seen.contains("chancery-protocol"), "{seen:?}");
    // `aes` is XAES-256-GCM's key derivation; ring (TLS) cannot be refused, but without the
    // derivation and the data keys its AES-GCM opens nothing of an archive.
    let forbidden =
        ["chancery-format", "chancery-owner", "chancery-client", "chacha20poly1305", "aes", "argon2"];
    for forbidden in forbidden {
        assert!(!seen.contains(forbidden), "chancery-site must not depend on {forbidden}");
    }
}
