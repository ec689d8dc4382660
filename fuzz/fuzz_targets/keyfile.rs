//! Key files: `keyfile::parse_header` and `keyfile::open_key_file`.
#![no_main]

use chancery_format::keyfile::{open_key_file, parse_header, KDF_DIRECT, KEYFILE_HEADER_LEN};
use chancery_format::keys::SEAL_OVERHEAD;
use chancery_fuzz::{mode, mutate, seal_key_file_payload, templates, MAX_FUZZ_M_KIB, MAX_FUZZ_T, PASSWORD};
use libfuzzer_sys::fuzz_target;

/// Parses the header, then opens unless the stored cost would make the run slow.
/// Returns `None` when skipped, else whether the file opened.
fn try_open(bytes: &[u8]) -> Option<bool> {
    let Ok(params) = parse_header(bytes) else {
        assert!(open_key_file(bytes, PASSWORD).is_err());
        return Some(false);
    };
    assert!(bytes.len() >= KEYFILE_HEADER_LEN + SEAL_OVERHEAD);
    // A custody key file (direct KDF) carries no cost words; a password key file must.
    assert!(bytes[5] == KDF_DIRECT || (params.p >= 1 && params.p <= 64 && params.t <= 64));
    if params.m_kib > MAX_FUZZ_M_KIB || params.t > MAX_FUZZ_T {
        return None;
    }
    Some(open_key_file(bytes, PASSWORD).is_ok())
}

fuzz_target!(|data: &[u8]| {
    let Some((m, rest)) = mode(data) else { return };
    match m % 3 {
        0 => {
            try_open(rest);
        }
        1 => {
            let template = &templates().key_file;
            let file = mutate(template, rest);
            if let Some(opened) = try_open(&file) {
                // Every byte is authenticated: the header as AAD, the rest as AEAD input.
                assert_eq!(opened, file == *template, "edited key file opened");
            }
        }
        _ => {
            // Correctly sealed key file of each version, arbitrary payload: exercises the
            // payload decoders (one secret; a ring; a ring with each generation's suite).
            let Some((version, payload)) = rest.split_first() else { return };
            let file = seal_key_file_payload(1 + version % 3, payload);
            if let Ok(opened) = open_key_file(&file, PASSWORD) {
                assert!(opened.info.hostname.len() + opened.info.label.len() < payload.len());
            }
        }
    }
});
