//! Compression inside a blob: zstd when it pays, otherwise the bytes as they are. The choice
//! is the first byte of the blob plaintext, inside the encryption, so a site cannot tell.

use crate::error::FormatError;
use std::cell::RefCell;
use zstd::bulk::{Compressor, Decompressor};

/// Blob payload stored as is.
pub const COMPRESSION_NONE: u8 = 0;
/// Blob payload is a zstd frame.
pub const COMPRESSION_ZSTD: u8 = 1;
/// zstd level used for blobs.
pub const ZSTD_LEVEL: i32 = 3;
/// Log2 of the entries of zstd's hash table for blobs: 2^20 (4 MiB a thread) where level 3
/// has 2^17. More positions remembered find more matches within a chunk of about 1 MiB.
/// Measured with the zstd 1.5.4 CLI over 1 MiB blocks at level 3 (`zstd -b3 --zstd=hlog=N
/// -B1048576`): a 1 GiB SQL dump 269.8 -> 267.1 MB, a stable Rust toolchain's tar 268.2 ->
/// 267.1 MB. In a backup to a local folder, two runs each: the dump stored 258.2 -> 255.6 MiB
/// (restic 256.7) for 7-13% more CPU, the toolchain 331.7 -> 330.6 MiB for 12% more CPU and
/// 11 MiB more peak RSS (two seal workers' tables). For an input shorter than the table
/// would serve, zstd shrinks it to the input's size, so small blobs cost nothing more. The
/// frames are plain zstd: reading them needs nothing new.
pub const ZSTD_HASH_LOG: u32 = 20;
/// Largest blob plaintext accepted when decompressing. Data chunks are at most 4 MiB, but a
/// tree blob lists a whole directory (about 100 bytes an entry), so this leaves room for
/// directories of millions of entries. Only an authenticated blob is ever decompressed.
pub const MAX_BLOB_LEN: usize = 1024 * 1024 * 1024;

/// Bytes compressed to decide whether a large chunk is worth compressing.
const PROBE_LEN: usize = 64 * 1024;
/// Windows of the chunk the probe samples, evenly spread from its first byte to its last.
const PROBE_WINDOWS: usize = 4;

thread_local! {
    // A zstd context costs an allocation and table set-up per call when made afresh: in a
    // restore of 20,000 small files, creating decompression contexts alone took 2.6 % of the
    // CPU. One of each per thread is made once and reused.
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static PROBE: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Compresses with this thread's context in `slot`, made by `make` on first use.
fn compress_with(
    slot: &'static std::thread::LocalKey<RefCell<Option<Compressor<'static>>>>,
    make: fn() -> std::io::Result<Compressor<'static>>,
    data: &[u8],
) -> std::io::Result<Vec<u8>> {
    slot.with(|cell| {
        let mut cell = cell.borrow_mut();
        let compressor = match cell.as_mut() {
            Some(c) => c,
            None => cell.insert(make()?),
        };
        compressor.compress(data)
    })
}

/// The context blobs are compressed with: [`ZSTD_LEVEL`], [`ZSTD_HASH_LOG`].
fn blob_compressor() -> std::io::Result<Compressor<'static>> {
    let mut compressor = Compressor::new(ZSTD_LEVEL)?;
    compressor.set_parameter(zstd::stream::raw::CParameter::HashLog(ZSTD_HASH_LOG))?;
    Ok(compressor)
}

/// The probe's context: level 1, fast, only to tell whether a chunk compresses.
fn probe_compressor() -> std::io::Result<Compressor<'static>> {
    Compressor::new(1)
}

/// `flag || payload`, compressed when that saves at least 3%.
pub fn pack_payload(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    pack_payload_into(data, &mut out);
    out
}

/// [`pack_payload`], appended to `out`.
pub fn pack_payload_into(data: &[u8], out: &mut Vec<u8>) {
    match compressed_if_it_pays(data) {
        Some(compressed) => append(out, COMPRESSION_ZSTD, &compressed),
        None => append(out, COMPRESSION_NONE, data),
    }
}

/// `data` compressed, when that saves at least 3% (else it is stored as it is).
pub fn compressed_if_it_pays(data: &[u8]) -> Option<Vec<u8>> {
    if !worth_compressing(data) {
        return None;
    }
    let compressed = compress_with(&COMPRESSOR, blob_compressor, data).ok()?;
    (compressed.len() * 100 < data.len() * 97).then_some(compressed)
}

/// Reverses [`pack_payload`].
pub fn unpack_payload(bytes: &[u8]) -> Result<Vec<u8>, FormatError> {
    match bytes.split_first() {
        Some((&COMPRESSION_NONE, rest)) => Ok(rest.to_vec()),
        _ => unpack_compressed(bytes, Vec::new()),
    }
}

/// Reverses [`pack_payload`] for the payload at `range` in `buf`. A stored payload is moved
/// to the front of `buf` and returned in it, without a new allocation; a compressed one is
/// decompressed into `spare`, a buffer the caller is done with, whatever it holds (an empty
/// `Vec` will do). A restore hands back each chunk's buffer once written: a fresh buffer per
/// chunk made the allocator give pages back to the kernel and fault zeroed ones in again
/// (43,000 page faults in a restore of a 1 GiB dump).
pub fn unpack_payload_reusing(
    mut buf: Vec<u8>,
    range: std::ops::Range<usize>,
    spare: Vec<u8>,
) -> Result<Vec<u8>, FormatError> {
    match buf[range.clone()].first() {
        Some(&COMPRESSION_NONE) => {
            buf.copy_within(range.start + 1..range.end, 0);
            buf.truncate(range.len() - 1);
            Ok(buf)
        }
        _ => unpack_compressed(&buf[range], spare),
    }
}

/// Reverses [`pack_payload`] for a payload the caller only reads: a stored payload is
/// returned where it lies, a compressed one is decompressed into `spare` (whatever it held).
pub fn unpack_payload_ref<'a>(payload: &'a [u8], spare: &'a mut Vec<u8>) -> Result<&'a [u8], FormatError> {
    match payload.split_first() {
        Some((&COMPRESSION_NONE, rest)) => Ok(rest),
        _ => {
            *spare = unpack_compressed(payload, std::mem::take(spare))?;
            Ok(spare)
        }
    }
}

/// Every payload but a stored one: a zstd frame, or an error.
fn unpack_compressed(bytes: &[u8], spare: Vec<u8>) -> Result<Vec<u8>, FormatError> {
    let bad = |why| FormatError::Malformed { what: "blob payload", why };
    match bytes.split_first() {
        Some((&COMPRESSION_ZSTD, rest)) => decompress(rest, spare).map_err(|_| bad("bad zstd frame")),
        Some(_) => Err(bad("unknown compression")),
        None => Err(bad("empty")),
    }
}

/// Decompresses one frame into `spare`, sized to the frame's declared size (our frames declare
/// it), or into a buffer growing as it goes when absent; never beyond [`MAX_BLOB_LEN`]. (A
/// fixed-capacity bulk call would reserve `MAX_BLOB_LEN` up front for every blob.)
fn decompress(frame: &[u8], spare: Vec<u8>) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let too_big = || std::io::Error::new(std::io::ErrorKind::InvalidData, "blob larger than allowed");
    if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(frame) {
        if size > MAX_BLOB_LEN as u64 {
            return Err(too_big());
        }
        let mut out = spare;
        out.clear();
        if out.capacity() < size as usize {
            // Not `reserve`: growing would copy the stale bytes over to the new allocation.
            out = Vec::with_capacity(size as usize);
        }
        DECOMPRESSOR.with(|cell| {
            let mut cell = cell.borrow_mut();
            let decompressor = match cell.as_mut() {
                Some(d) => d,
                None => cell.insert(Decompressor::new()?),
            };
            decompressor.decompress_to_buffer(frame, &mut out)
        })?;
        return Ok(out);
    }
    let mut out = Vec::new();
    zstd::stream::read::Decoder::with_buffer(frame)?.take(MAX_BLOB_LEN as u64 + 1).read_to_end(&mut out)?;
    if out.len() > MAX_BLOB_LEN {
        return Err(too_big());
    }
    Ok(out)
}

/// Incompressible data (media, archives, encrypted files) costs a full zstd pass for nothing;
/// a fast probe of [`PROBE_LEN`] bytes decides for large chunks. The probe samples
/// [`PROBE_WINDOWS`] windows spread over the chunk rather than its head: chunks of programs
/// and archives often start with packed bytes and go on compressible, and a head-only probe
/// stored a stable Rust toolchain 1-2 % larger (335-340 MiB against 332.5-333.5 unprobed).
fn worth_compressing(data: &[u8]) -> bool {
    if data.len() <= 4 * PROBE_LEN {
        return true;
    }
    let window = PROBE_LEN / PROBE_WINDOWS;
    let step = (data.len() - window) / (PROBE_WINDOWS - 1);
    let mut compressed = 0;
    for start in (0..PROBE_WINDOWS).map(|k| k * step) {
        match compress_with(&PROBE, probe_compressor, &data[start..start + window]) {
            Ok(probe) => compressed += probe.len(),
            Err(_) => return false,
        }
    }
    compressed * 100 < PROBE_LEN * 97
}

/// Appends `flag || payload` to `out`, with capacity left for the AEAD tag.
pub(crate) fn append(out: &mut Vec<u8>, flag: u8, payload: &[u8]) {
    // Room for the AEAD tag too: sealing appends it without growing the buffer again.
    out.reserve(1 + payload.len() + crate::keys::TAG_LEN);
    out.push(flag);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chancery_testkit::noise;

    #[test]
    fn the_larger_hash_table_finds_matches_level_3_alone_misses() {
        // 1 MiB of 12-byte words drawn from 40,000: each recurs about twice, far apart, as
        // names and ids recur in a register. Level 3's 2^17-entry table forgets many of them.
        let pool = noise(40_000 * 12, 5);
        let picks = noise(1 << 20, 6);
        let mut data = Vec::with_capacity(1 << 20);
        for pair in picks.chunks_exact(2).take((1 << 20) / 12) {
            let word = usize::from(u16::from_le_bytes([pair[0], pair[1]])) * 40_000 / 65_536;
            data.extend_from_slice(&pool[word * 12..word * 12 + 12]);
        }
        let plain = zstd::bulk::compress(&data, ZSTD_LEVEL).unwrap().len();
        let ours = blob_compressor().unwrap().compress(&data).unwrap().len();
        assert!(ours * 100 < plain * 95, "{ours} bytes against level 3's {plain}");
    }

    #[test]
    fn round_trips_and_chooses() {
        let text = b"register of lands ".repeat(20_000);
        let packed = pack_payload(&text);
        assert_eq!(packed[0], COMPRESSION_ZSTD);
        assert_eq!(unpack_payload(&packed).unwrap(), text);
        let noise: Vec<u8> = (0..1_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        assert_eq!(unpack_payload(&pack_payload(&noise)).unwrap(), noise);
        assert_eq!(unpack_payload(&pack_payload(b"")).unwrap(), b"");
        assert!(unpack_payload(&[9, 1]).is_err());
        assert!(unpack_payload(&[1, 1, 2, 3]).is_err());
    }

    #[test]
    fn a_chunk_with_an_incompressible_head_is_still_compressed() {
        let mut chunk = noise(PROBE_LEN, 1);
        chunk.extend(b"register of lands ".repeat(60_000));
        let packed = pack_payload(&chunk);
        assert_eq!(packed[0], COMPRESSION_ZSTD);
        assert!(packed.len() < chunk.len() / 2);
        assert_eq!(unpack_payload(&packed).unwrap(), chunk);
    }

    #[test]
    fn an_incompressible_chunk_is_stored_without_a_full_pass() {
        let chunk = noise(1 << 20, 2);
        assert!(!worth_compressing(&chunk));
        let packed = pack_payload(&chunk);
        assert_eq!(packed[0], COMPRESSION_NONE);
        assert_eq!(&packed[1..], &chunk[..]);
    }

    #[test]
    fn a_spare_buffer_is_overwritten_whatever_it_held() {
        let text = b"register of lands ".repeat(20_000);
        let packed = pack_payload(&text);
        let range = 0..packed.len();
        let longer = vec![0xAA; text.len() * 2];
        let shorter = vec![0x55; 10];
        for spare in [longer, shorter, Vec::new()] {
            let out = unpack_payload_reusing(packed.clone(), range.clone(), spare).unwrap();
            assert_eq!(out, text);
        }
        let stored = pack_payload(&noise(1 << 20, 3));
        let out = unpack_payload_reusing(stored.clone(), 0..stored.len(), vec![7; 99]).unwrap();
        assert_eq!(out, &stored[1..]);
    }

    #[test]
    fn a_payload_read_in_place_matches_one_unpacked() {
        let mut spare = vec![0xAA; 3];
        for data in [b"register of lands ".repeat(20_000), noise(1 << 20, 4), Vec::new()] {
            let packed = pack_payload(&data);
            assert_eq!(unpack_payload_ref(&packed, &mut spare).unwrap(), &data[..]);
        }
        assert!(unpack_payload_ref(&[1, 1, 2, 3], &mut spare).is_err());
        assert!(unpack_payload_ref(&[], &mut spare).is_err());
    }

    #[test]
    fn frames_without_a_declared_size_decode_too() {
        let data = b"streamed frame ".repeat(10_000);
        let frame = zstd::stream::encode_all(&data[..], 3).unwrap();
        assert!(matches!(zstd::zstd_safe::get_frame_content_size(&frame), Ok(None)));
        let mut payload = Vec::new();
        append(&mut payload, COMPRESSION_ZSTD, &frame);
        assert_eq!(unpack_payload(&payload).unwrap(), data);
    }
}
