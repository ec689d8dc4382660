//! Criterion micro-benchmarks of the in-memory index: building it from index entries and
//! looking blobs up (a backup asks once per chunk whether it is stored; a restore once per
//! chunk where it lies). Reported in entries per second.
//! Run with `cargo bench -p chancery-owner --bench index` (add `-- --quick` for a short run).

use std::hint::black_box;

use chancery_format::blob::BlobKind;
use chancery_format::index::IndexPack;
use chancery_format::pack::PackEntry;
use chancery_format::{BlobId, ObjectId};
use chancery_owner::index::Index;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Blobs in the benchmark's index: a 1 TiB archive of 1 MiB chunks.
const BLOBS: usize = 1 << 20;
/// Blobs per pack, as in 16 MiB packs of 1 MiB chunks.
const PER_PACK: usize = 16;

/// Ids spread like keyed BLAKE3 ids (uniform bytes), from a counter.
fn id(n: usize) -> [u8; 32] {
    *blake3::hash(&n.to_le_bytes()).as_bytes()
}

fn packs() -> Vec<IndexPack> {
    (0..BLOBS / PER_PACK)
        .map(|p| IndexPack {
            pack: ObjectId(id(usize::MAX - p)),
            entries: (0..PER_PACK)
                .map(|i| PackEntry {
                    kind: BlobKind::Data,
                    id: BlobId(id(p * PER_PACK + i)),
                    offset: 4148 + ((i as u32) << 20),
                    length: 1 << 20,
                    raw_length: 1 << 20,
                })
                .collect(),
        })
        .collect()
}

fn index(c: &mut Criterion) {
    let packs = packs();
    let mut group = c.benchmark_group("index");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BLOBS as u64));
    group.bench_function("build from 2^20 entries", |b| {
        b.iter(|| {
            let mut index = Index::default();
            packs.iter().for_each(|p| index.add_pack(black_box(p)));
            index
        })
    });
    let mut index = Index::default();
    packs.iter().for_each(|p| index.add_pack(p));
    let known: Vec<BlobId> = (0..BLOBS).step_by(97).map(|n| BlobId(id(n))).collect();
    let unknown: Vec<BlobId> = (BLOBS..BLOBS + known.len()).map(|n| BlobId(id(n))).collect();
    group.throughput(Throughput::Elements(known.len() as u64));
    group.bench_function("look up stored blobs", |b| {
        b.iter(|| known.iter().filter(|id| index.get(black_box(id)).is_some()).count())
    });
    group.bench_function("look up new blobs", |b| {
        b.iter(|| unknown.iter().filter(|id| index.contains(black_box(id))).count())
    });
    group.finish();
}

criterion_group!(benches, index);
criterion_main!(benches);
