//! Proofs of storage: `chancery_protocol::proof::verify_proof`, what the owner runs on a site's
//! answer. Whatever the bytes, it must not panic, and whatever it accepts must be exactly the
//! bytes of the range of the object whose hash it was given (soundness); an honest proof of
//! any range of any object must be accepted (completeness).
#![no_main]

use chancery_fuzz::{mode, mutate};
use chancery_protocol::proof::{make_proof, verify_proof};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The object the site is asked about: 20 KiB, so that its tree has several levels.
fn object() -> &'static (Vec<u8>, [u8; 32]) {
    static OBJECT: OnceLock<(Vec<u8>, [u8; 32])> = OnceLock::new();
    OBJECT.get_or_init(|| {
        let bytes: Vec<u8> = (0..20_480u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
        let hash = *blake3::hash(&bytes).as_bytes();
        (bytes, hash)
    })
}

/// A range from three input bytes: starts reach past the end, lengths up to 4 KiB.
fn range(b: &[u8]) -> Option<((u64, u64), &[u8])> {
    let (head, rest) = b.split_first_chunk::<3>()?;
    let start = u64::from(u16::from_le_bytes([head[0], head[1]])) / 2;
    let len = (u64::from(head[2]) + 1) * 16;
    Some(((start, len), rest))
}

/// The bytes a proof of `start..start + len` must give.
fn expected(object: &[u8], start: u64, len: u64) -> &[u8] {
    let begin = (start as usize).min(object.len());
    &object[begin..((start + len) as usize).min(object.len())]
}

/// Anything `verify_proof` accepts is the range of the object.
fn sound(proof: &[u8], start: u64, len: u64) -> bool {
    let (bytes, hash) = object();
    match verify_proof(proof, hash, start, len) {
        Ok(got) => {
            assert_eq!(got, expected(bytes, start, len), "a forged proof of {start}+{len} was accepted");
            true
        }
        Err(_) => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((m, rest)) = mode(data) else { return };
    let Some(((start, len), rest)) = range(rest) else { return };
    match m % 3 {
        0 => {
            sound(rest, start, len);
        }
        1 => {
            let honest = make_proof(&object().0, start, len).expect("a valid range");
            let edited = mutate(&honest.bytes, rest);
            let accepted = sound(&edited, start, len);
            if edited == honest.bytes {
                assert!(accepted, "an honest proof was refused");
            }
        }
        _ => {
            // Any object: an honest proof verifies against its hash and gives its range.
            let hash = *blake3::hash(rest).as_bytes();
            let proof = make_proof(rest, start, len).expect("a valid range");
            let got = verify_proof(&proof.bytes, &hash, start, len).expect("an honest proof verifies");
            assert_eq!(got, expected(rest, start, len));
        }
    }
});
