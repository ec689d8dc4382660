//! Keyed content-defined chunking: a gear rolling hash (FastCDC-style, with normalised
//! chunking) whose 256-entry gear table is drawn from the owner's secret chunker key.
//!
//! Why keyed: with a public table, chunk boundaries are a fingerprint of the content, and the
//! sizes an observer sees reveal which known files are stored. With a secret table the
//! boundaries are unpredictable to anyone without the key. The 2025 analyses of keyed CDC
//! ("Breaking and fixing content-defined chunking") show that the key itself leaks when an
//! attacker sees the lengths of chunks of content it chose, so Chancery never lets a site see
//! a chunk length: chunks are encrypted inside packs, in random order, behind an encrypted
//! pack header, and packs are padded (see FORMAT.md "Pack").

/// Chunk size bounds, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkerParams {
    /// No cut before this many bytes.
    pub min: usize,
    /// Target average (a power of two).
    pub avg: usize,
    /// Always cut at this many bytes.
    pub max: usize,
}

impl Default for ChunkerParams {
    /// 256 KiB / 1 MiB / 4 MiB: large enough that per-chunk costs vanish, small enough for
    /// good deduplication between releases of the same software.
    fn default() -> Self {
        Self { min: 256 * 1024, avg: 1024 * 1024, max: 4 * 1024 * 1024 }
    }
}

/// How far a search for the next cut has looked into a growing chunk: see
/// [`Chunker::next_cut_from`]. The default is a search not yet begun.
#[derive(Clone, Copy, Debug, Default)]
pub struct CutScan {
    scanned: usize,
    hash: u64,
}

/// A keyed gear chunker. Cheap to clone; stateless between calls.
#[derive(Clone)]
pub struct Chunker {
    gear: Box<[u64; 256]>,
    params: ChunkerParams,
    mask_small: u64,
    mask_large: u64,
}

impl Chunker {
    /// A chunker whose gear table is the BLAKE3 XOF of the chunker key.
    pub fn new(key: &[u8; 32], params: ChunkerParams) -> Self {
        // avg >= 8: the looser mask has log2(avg) - 2 bits, and needs at least one.
        assert!(
            params.avg.is_power_of_two()
                && params.avg >= 8
                && params.min < params.avg
                && params.avg < params.max
        );
        let mut xof = blake3::Hasher::new_keyed(key);
        xof.update(b"chancery v1 gear table");
        let mut raw = [0u8; 256 * 8];
        xof.finalize_xof().fill(&mut raw);
        let mut gear = Box::new([0u64; 256]);
        for (slot, bytes) in gear.iter_mut().zip(raw.chunks_exact(8)) {
            *slot = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        }
        let bits = params.avg.trailing_zeros();
        Self { gear, params, mask_small: top_bits(bits + 2), mask_large: top_bits(bits - 2) }
    }

    /// The size bounds.
    pub fn params(&self) -> ChunkerParams {
        self.params
    }

    /// Length of the next chunk at the start of `data`. When `eof` is false and no boundary
    /// is found within `data` (shorter than `max`), returns `None`: supply more bytes.
    pub fn next_cut(&self, data: &[u8], eof: bool) -> Option<usize> {
        self.next_cut_from(data, eof, &mut CutScan::default())
    }

    /// [`Self::next_cut`] for a chunk that grows between calls: `scan` remembers how far
    /// earlier calls looked (and the hash there), so a longer `data` starting at the same
    /// chunk is scanned only from where they stopped. Cuts are exactly those of `next_cut`;
    /// `scan` is reset when a cut is returned.
    pub fn next_cut_from(&self, data: &[u8], eof: bool, scan: &mut CutScan) -> Option<usize> {
        let p = self.params;
        if data.len() <= p.min {
            return (eof || data.len() == p.max).then_some(data.len()).filter(|n| *n > 0);
        }
        let end = data.len().min(p.max);
        let normal = p.avg.min(end);
        // The gear hash starts at zero at `min`; a scan that stopped later goes on from there.
        let (from, mut hash) = if scan.scanned > p.min { (scan.scanned, scan.hash) } else { (p.min, 0) };
        // Gear hash: bit k depends on the last k+1 bytes, so the masks test the top bits.
        if from < normal {
            let (found, rolled) = gear_scan(&self.gear, &data[from..normal], hash, self.mask_small);
            if let Some(at) = found {
                *scan = CutScan::default();
                return Some(from + at);
            }
            hash = rolled;
        }
        let from = from.max(normal);
        let (found, rolled) = gear_scan(&self.gear, &data[from..end], hash, self.mask_large);
        if let Some(at) = found {
            *scan = CutScan::default();
            return Some(from + at);
        }
        if end == p.max || eof {
            *scan = CutScan::default();
            return Some(end);
        }
        *scan = CutScan { scanned: end, hash: rolled };
        None
    }

    /// Splits a whole in-memory buffer into chunk lengths (for tests and small inputs).
    pub fn cut_all(&self, mut data: &[u8]) -> Vec<usize> {
        let mut cuts = Vec::new();
        while let Some(n) = self.next_cut(data, true) {
            cuts.push(n);
            data = &data[n..];
        }
        cuts
    }
}

/// Rolls the gear hash over `bytes` from `hash`: the length up to and including the first
/// byte after which `hash & mask == 0`, or `None` and the hash at the end.
///
/// Four bytes per step, each of the four hashes computed from the one before the step:
/// `h[i+k] = (h[i] << k) + (g[b0] << (k-1)) + ... + g[b(k-1)]` (wrapping, so exactly the
/// hashes one byte at a time gives, and the same cuts). A byte at a time, every hash waited
/// for the one before it (a shift and an add, two cycles a byte); here the step's gear sums
/// do not depend on the hash, and the chain is one shift and one add per four bytes
/// (`cargo bench -p chancery-format --bench hot -- chunker`: 1.95 -> 2.40-2.54 GiB/s; eight
/// bytes per step was slower, 1.73).
#[inline]
fn gear_scan(gear: &[u64; 256], bytes: &[u8], mut hash: u64, mask: u64) -> (Option<usize>, u64) {
    let mut blocks = bytes.chunks_exact(4);
    let mut offset = 0;
    for block in &mut blocks {
        let g = |i: usize| gear[usize::from(block[i])];
        let s1 = g(0);
        let s2 = (s1 << 1).wrapping_add(g(1));
        let s3 = (s2 << 1).wrapping_add(g(2));
        let s4 = (s3 << 1).wrapping_add(g(3));
        let steps = [
            (hash << 1).wrapping_add(s1),
            (hash << 2).wrapping_add(s2),
            (hash << 3).wrapping_add(s3),
            (hash << 4).wrapping_add(s4),
        ];
        if steps.iter().any(|h| h & mask == 0) {
            let i = steps.iter().position(|h| h & mask == 0).expect("one is");
            return (Some(offset + i + 1), steps[i]);
        }
        hash = steps[3];
        offset += 4;
    }
    for (i, byte) in blocks.remainder().iter().enumerate() {
        hash = (hash << 1).wrapping_add(gear[usize::from(*byte)]);
        if hash & mask == 0 {
            return (Some(offset + i + 1), hash);
        }
    }
    (None, hash)
}

fn top_bits(n: u32) -> u64 {
    (u64::MAX >> (64 - n)) << (64 - n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{RngCore, SeedableRng};

    const SMALL: ChunkerParams = ChunkerParams { min: 64, avg: 256, max: 1024 };

    fn random(len: usize, seed: u64) -> Vec<u8> {
        let mut data = vec![0u8; len];
        rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
        data
    }

    /// The first release's loop, kept as the reference for the cut points.
    fn plain_cuts(chunker: &Chunker, mut data: &[u8]) -> Vec<usize> {
        let p = chunker.params;
        let mut cuts = Vec::new();
        while !data.is_empty() {
            let end = data.len().min(p.max);
            let mut cut = end;
            let mut hash = 0u64;
            for (i, byte) in data.iter().enumerate().take(end).skip(p.min) {
                hash = (hash << 1).wrapping_add(chunker.gear[*byte as usize]);
                let mask = if i < p.avg { chunker.mask_small } else { chunker.mask_large };
                if hash & mask == 0 {
                    cut = i + 1;
                    break;
                }
            }
            cuts.push(cut);
            data = &data[cut..];
        }
        cuts
    }

    #[test]
    fn default_parameters_cut_like_the_plain_loop() {
        let chunker = Chunker::new(&[9; 32], ChunkerParams::default());
        let data = random(24 << 20, 5);
        let cuts = chunker.cut_all(&data);
        assert!(cuts.len() > 12, "{} chunks", cuts.len());
        assert_eq!(cuts, plain_cuts(&chunker, &data));
    }

    proptest! {
        #[test]
        fn cuts_cover_input_within_bounds(len in 0usize..20_000, seed: u64) {
            let chunker = Chunker::new(&[1; 32], SMALL);
            let data = random(len, seed);
            let cuts = chunker.cut_all(&data);
            prop_assert_eq!(cuts.iter().sum::<usize>(), len);
            for (i, c) in cuts.iter().enumerate() {
                prop_assert!(*c <= SMALL.max);
                prop_assert!(*c > SMALL.min || i == cuts.len() - 1);
            }
        }

        /// The unrolled scan cuts exactly where the plain byte-at-a-time loop of the first
        /// release did: a change of cut points would stop deduplication against every
        /// archive written before it.
        #[test]
        fn cuts_equal_the_plain_gear_loop(len in 0usize..20_000, seed: u64, key: u8) {
            let chunker = Chunker::new(&[key; 32], SMALL);
            let data = random(len, seed);
            prop_assert_eq!(chunker.cut_all(&data), plain_cuts(&chunker, &data));
        }

        #[test]
        fn streaming_equals_whole_buffer(len in 0usize..20_000, seed: u64, step in 1usize..3000) {
            let chunker = Chunker::new(&[2; 32], SMALL);
            let data = random(len, seed);
            let mut streamed = Vec::new();
            let (mut start, mut avail) = (0, 0);
            while start < len {
                avail = (avail + step).min(len);
                while let Some(n) = chunker.next_cut(&data[start..avail], avail == len) {
                    streamed.push(n);
                    start += n;
                }
            }
            prop_assert_eq!(streamed, chunker.cut_all(&data));
        }

        /// A chunk fed in steps, each call resuming where the last stopped, cuts where the
        /// whole buffer does.
        #[test]
        fn resumed_scans_equal_whole_buffer(len in 0usize..20_000, seed: u64, step in 1usize..600) {
            let chunker = Chunker::new(&[4; 32], SMALL);
            let data = random(len, seed);
            let mut resumed = Vec::new();
            let (mut start, mut avail, mut scan) = (0, 0, CutScan::default());
            while start < len {
                avail = (avail + step).min(len);
                while let Some(n) = chunker.next_cut_from(&data[start..avail], avail == len, &mut scan) {
                    resumed.push(n);
                    start += n;
                }
            }
            prop_assert_eq!(resumed, chunker.cut_all(&data));
        }
    }

    #[test]
    fn boundaries_resynchronise_after_an_insertion() {
        let chunker = Chunker::new(&[3; 32], SMALL);
        let data = random(200_000, 9);
        let mut edited = data[..1000].to_vec();
        edited.extend_from_slice(b"inserted bytes");
        edited.extend_from_slice(&data[1000..]);
        let ends = |cuts: Vec<usize>, shift: usize| -> std::collections::HashSet<usize> {
            cuts.iter()
                .scan(0, |acc, c| {
                    *acc += c;
                    Some(*acc - shift)
                })
                .collect()
        };
        let a = ends(chunker.cut_all(&data), 0);
        let b = ends(chunker.cut_all(&edited), 14);
        assert!(a.intersection(&b).count() * 10 > a.len() * 9, "most boundaries survive an edit");
    }

    #[test]
    fn key_changes_boundaries_and_average_is_near_target() {
        let data = random(4_000_000, 5);
        let a = Chunker::new(&[4; 32], SMALL).cut_all(&data);
        let b = Chunker::new(&[5; 32], SMALL).cut_all(&data);
        assert_ne!(a, b);
        let avg = data.len() / a.len();
        assert!((200..700).contains(&avg), "average chunk {avg}");
    }
}
