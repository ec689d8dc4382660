//! Blob payloads: `compress::unpack_payload` (flag byte, then raw bytes or a zstd frame).
#![no_main]

use chancery_format::compress::{pack_payload, unpack_payload, MAX_BLOB_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(plain) = unpack_payload(data) {
        assert!(plain.len() <= MAX_BLOB_LEN);
        // Keep the round trip cheap: a small frame can legitimately expand to 64 MiB.
        if plain.len() <= 1 << 20 {
            assert_eq!(unpack_payload(&pack_payload(&plain)).unwrap(), plain);
        }
    }
    // Any input, compressed by the writer, must come back unchanged.
    assert_eq!(unpack_payload(&pack_payload(data)).unwrap(), data);
});
