//! Custodians' share files: `custody::ShareFile::parse` (words, checksum, manifest block) and
//! `custody::Manifest::parse`.
#![no_main]

use chancery_format::custody::{split, Manifest, ShareFile};
use chancery_format::ObjectId;
use chancery_fuzz::{keys, mode, mutate};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// A real share file, with a real signed manifest, to mutate.
fn template() -> &'static (String, Vec<u8>) {
    static TEMPLATE: OnceLock<(String, Vec<u8>)> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let records = split(&[7; 32], 3, 2, 3);
        let manifest = Manifest {
            generation: 3,
            threshold: 2,
            created_sec: 1,
            repo_id: [9; 32],
            owner_key: keys().owner_public_key(),
            key_file: ObjectId([5; 32]),
            share_hashes: records.iter().map(|r| r.hash()).collect(),
        }
        .sign(keys());
        let file = ShareFile { record: records[0].clone(), manifest: Some(manifest.clone()) };
        (file.render(&["a comment".into()]), manifest)
    })
}

/// Whatever parses renders back to a file that parses to the same share.
fn check(text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    if let Ok(file) = ShareFile::parse(&text) {
        let again = ShareFile::parse(&file.render(&[])).expect("a rendered share parses");
        assert_eq!(again, file);
        if let Some(bytes) = &file.manifest {
            let _ = Manifest::parse(bytes);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((m, rest)) = mode(data) else { return };
    let (text, manifest) = template();
    match m % 3 {
        0 => check(rest),
        1 => check(&mutate(text.as_bytes(), rest)),
        _ => {
            let edited = mutate(manifest, rest);
            if let Ok(parsed) = Manifest::parse(&edited) {
                // Signed: only the template itself verifies.
                assert_eq!(edited, *manifest, "an edited manifest verified: {parsed:?}");
            }
        }
    }
});
