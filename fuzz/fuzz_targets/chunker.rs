//! The chunker: `Chunker::next_cut` and `Chunker::cut_all` on arbitrary data and eof flags.
#![no_main]

use chancery_format::chunker::{Chunker, ChunkerParams};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [a, b, c, key, step, rest @ ..] = data else {
        return;
    };
    // Valid parameters only (`Chunker::new` asserts them): avg 8..4096, min < avg < max.
    let avg = 1usize << (3 + a % 10);
    let min = *b as usize % avg;
    let max = avg + 1 + (*c as usize * avg) / 64;
    let params = ChunkerParams { min, avg, max };
    let chunker = Chunker::new(&[*key; 32], params);

    // Single calls: a cut is never empty, never past the data, never above max; a cut is
    // always found once max bytes are there, and at eof whenever any byte is left.
    for eof in [false, true] {
        match chunker.next_cut(rest, eof) {
            Some(n) => assert!(n > 0 && n <= rest.len() && n <= max),
            None => assert!(rest.is_empty() || (!eof && rest.len() < max)),
        }
    }

    let cuts = chunker.cut_all(rest);
    assert_eq!(cuts.iter().sum::<usize>(), rest.len());
    for (i, n) in cuts.iter().enumerate() {
        assert!(*n <= max);
        assert!(*n > min || i + 1 == cuts.len());
    }

    // Feeding the data in steps gives the same cuts as the whole buffer.
    let step = *step as usize + 1;
    let mut streamed = Vec::new();
    let (mut start, mut avail) = (0, 0);
    while start < rest.len() {
        avail = (avail + step).min(rest.len());
        while let Some(n) = chunker.next_cut(&rest[start..avail], avail == rest.len()) {
            streamed.push(n);
            start += n;
        }
    }
    assert_eq!(streamed, cuts);
});
