//! Blob payloads: `compress::unpack_payload` (flag byte, then raw bytes or a zstd frame), and
//! `unpack_payload_ref` and `unpack_payload_reusing`, which must agree with it.
#![no_main]

use chancery_format::compress::{
    pack_payload, unpack_payload, unpack_payload_ref, unpack_payload_reusing, MAX_BLOB_LEN,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let unpacked = unpack_payload(data);
    let mut spare = vec![0x5A; 64];
    assert_eq!(unpack_payload_ref(data, &mut spare).ok(), unpacked.as_deref().ok());
    let reused = unpack_payload_reusing(data.to_vec(), 0..data.len(), vec![0xA5; 100]);
    assert_eq!(reused.ok(), unpacked.as_ref().ok().cloned());
    if let Ok(plain) = unpacked {
        assert!(plain.len() <= MAX_BLOB_LEN);
        // Keep the round trip cheap: a small frame can legitimately expand to 64 MiB.
        if plain.len() <= 1 << 20 {
            assert_eq!(unpack_payload(&pack_payload(&plain)).unwrap(), plain);
        }
    }
    // Any input, compressed by the writer, must come back unchanged.
    assert_eq!(unpack_payload(&pack_payload(data)).unwrap(), data);
});
