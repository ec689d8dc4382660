//! Criterion micro-benchmarks of the backup's hot path, each reported in bytes per second:
//! chunking, keyed hashing (blob ids), compression, sealing and opening blobs; and the fixed
//! cost every command pays first, opening the key file with a password (Argon2id).
//! Run with `cargo bench -p chancery-format` (add `-- --quick` for a short run).

use std::hint::black_box;

use chancery_format::blob::{open_blob, open_blob_owned, seal_blob, BlobKind};
use chancery_format::chunker::{Chunker, ChunkerParams};
use chancery_format::compress::{pack_payload, unpack_payload};
use chancery_format::keyfile::{open_key_file, seal_key_file, KdfParams, KeyInfo};
use chancery_format::keys::{MasterKey, Suite, NONCE_LEN, TAG_LEN};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{RngCore, SeedableRng};

const MIB: usize = 1 << 20;

/// Bytes that do not compress.
fn random(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(7).fill_bytes(&mut bytes);
    bytes
}

/// Text that zstd shrinks to about a quarter, like a register dump.
fn register_dump(len: usize) -> Vec<u8> {
    let mut text = Vec::with_capacity(len + 100);
    let mut n = 0u64;
    while text.len() < len {
        text.extend_from_slice(
            format!("{n},person-{},{},EE-{:05}\n", n * 7919 % 100_003, 1900 + n % 120, n % 97).as_bytes(),
        );
        n += 1;
    }
    text.truncate(len);
    text
}

fn chunking(c: &mut Criterion) {
    let keys = MasterKey::generate().derive();
    let chunker = Chunker::new(keys.chunker_key(), ChunkerParams::default());
    let data = random(32 * MIB);
    let mut group = c.benchmark_group("chunker");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("cut 32 MiB", |b| b.iter(|| chunker.cut_all(black_box(&data))));
    group.finish();
}

fn hashing(c: &mut Criterion) {
    let keys = MasterKey::generate().derive();
    let data = random(MIB);
    let mut group = c.benchmark_group("hash");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("blob id of 1 MiB (keyed BLAKE3)", |b| b.iter(|| keys.blob_id(black_box(&data))));
    group.finish();
}

fn compression(c: &mut Criterion) {
    let mut group = c.benchmark_group("compress");
    for (name, data) in [("register dump", register_dump(MIB)), ("random", random(MIB))] {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(format!("pack 1 MiB of {name}"), |b| b.iter(|| pack_payload(black_box(&data))));
        let packed = pack_payload(&data);
        group.bench_function(format!("unpack 1 MiB of {name}"), |b| {
            b.iter(|| unpack_payload(black_box(&packed)).unwrap())
        });
    }
    group.finish();
}

fn sealing(c: &mut Criterion) {
    let data = random(MIB);
    let mut group = c.benchmark_group("blob");
    group.throughput(Throughput::Bytes(data.len() as u64));
    for (name, suite) in
        [("XChaCha20-Poly1305", Suite::XChaCha20Poly1305), ("XAES-256-GCM", Suite::Xaes256Gcm)]
    {
        let keys = MasterKey::generate().derive_with(suite);
        let id = keys.blob_id(&data);
        let sealed = seal_blob(&keys, BlobKind::Data, &id, &data);
        // The cipher alone, then a whole blob (compression probe, cipher; on open, the id too).
        group.bench_function(format!("encrypt 1 MiB ({name})"), |b| {
            let mut buf = vec![0u8; NONCE_LEN + MIB + TAG_LEN];
            b.iter(|| {
                buf.truncate(NONCE_LEN + MIB);
                keys.seal_in_place(b"aad", black_box(&mut buf));
            })
        });
        group.bench_function(format!("seal 1 MiB ({name})"), |b| {
            b.iter(|| seal_blob(&keys, BlobKind::Data, &id, black_box(&data)))
        });
        group.bench_function(format!("open 1 MiB ({name})"), |b| {
            b.iter(|| open_blob(&keys, BlobKind::Data, &id, black_box(&sealed)).unwrap())
        });
        // What restore does: the bytes read from the site are decrypted where they lie.
        group.bench_function(format!("open 1 MiB in place ({name})"), |b| {
            b.iter_batched(
                || sealed.clone(),
                |owned| open_blob_owned(&keys, BlobKind::Data, &id, owned).unwrap(),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

/// Opening a key file: one Argon2id derivation, then a small AEAD open. The earlier default
/// (64 MiB, 3 passes) is kept beside the current one (46 MiB, 4 passes) to compare them.
fn key_file(c: &mut Criterion) {
    let info = KeyInfo { repo_id: [7; 32], created_sec: 0, hostname: "bench".into(), label: "bench".into() };
    let mut group = c.benchmark_group("key file");
    group.sample_size(20);
    let earlier = KdfParams { m_kib: 64 * 1024, t: 3, p: 2 };
    for (name, params) in [("default", KdfParams::default()), ("earlier default", earlier)] {
        let file = seal_key_file(&MasterKey::generate(), info.clone(), b"password", params);
        let label = format!("open ({name}: {} KiB, t = {}, p = {})", params.m_kib, params.t, params.p);
        group.bench_function(label, |b| b.iter(|| open_key_file(black_box(&file), b"password").unwrap()));
    }
    group.finish();
}

criterion_group!(benches, chunking, hashing, compression, sealing, key_file);
criterion_main!(benches);
