use super::*;

/// Deterministic bytes that differ from chunk to chunk.
fn object(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u64).wrapping_mul(2_654_435_761).to_le_bytes()[2]).collect()
}

fn hash(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

/// What a proof of `start..start + len` must give back.
fn expected(object: &[u8], start: u64, len: u64) -> &[u8] {
    let begin = (start as usize).min(object.len());
    &object[begin..(start.saturating_add(len) as usize).min(object.len())]
}

#[test]
fn proofs_verify_and_give_the_range() {
    for size in [0, 1, 1023, 1024, 1025, 4096, 100_000, (1 << 20) + 5] {
        let obj = object(size);
        let ranges = [
            (0, 1),
            (0, 1024),
            (5, 3000),
            (size as u64 / 2, 1024),
            (size as u64, 1),
            (size as u64 + 5000, 10),
        ];
        for (start, len) in ranges {
            let proof = make_proof(&obj, start, len).unwrap();
            assert_eq!(proof.root, hash(&obj));
            let got = verify_proof(&proof.bytes, &hash(&obj), start, len).unwrap();
            assert_eq!(got, expected(&obj, start, len), "size {size} range {start}+{len}");
        }
    }
}

#[test]
fn a_proof_is_small_beside_its_object() {
    let obj = object(16 << 20);
    let proof = make_proof(&obj, 9 << 20, CHUNK_LEN).unwrap();
    // One chunk and one parent node (64 bytes) per level of a 16384-chunk tree.
    assert!(proof.bytes.len() <= PROOF_PREFIX_LEN + 8 + 1024 + 14 * 64, "{}", proof.bytes.len());
    assert_eq!(verify_proof(&proof.bytes, &hash(&obj), 9 << 20, CHUNK_LEN).unwrap().len(), 1024);
}

#[test]
fn any_changed_byte_is_refused_or_changes_nothing() {
    let obj = object(10_000);
    let proof = make_proof(&obj, 3000, 1500).unwrap();
    for at in PROOF_PREFIX_LEN..proof.bytes.len() {
        let mut bad = proof.bytes.clone();
        bad[at] ^= 0x20;
        match verify_proof(&bad, &hash(&obj), 3000, 1500) {
            Err(_) => {}
            // Bao's encoding is malleable, its decoding is not: a length that gives the tree
            // the same shape is checked only by the last chunk, which this range does not
            // need, and the bytes given are still the object's.
            Ok(got) => {
                assert!(at < PROOF_PREFIX_LEN + 8, "byte {at} changed yet accepted");
                assert_eq!(got, expected(&obj, 3000, 1500));
            }
        }
    }
    // Changed that way, a proof of the last chunk is refused.
    let proof = make_proof(&obj, 9500, 500).unwrap();
    let mut bad = proof.bytes.clone();
    bad[PROOF_PREFIX_LEN] ^= 0x20;
    assert!(verify_proof(&bad, &hash(&obj), 9500, 500).is_err());
}

#[test]
fn a_truncated_proof_is_refused() {
    let obj = object(10_000);
    let proof = make_proof(&obj, 3000, 1500).unwrap();
    for len in 0..proof.bytes.len() {
        let err = verify_proof(&proof.bytes[..len], &hash(&obj), 3000, 1500).unwrap_err();
        assert!(matches!(err, ProofError::Truncated | ProofError::Mismatch), "{len}: {err}");
    }
}

#[test]
fn a_proof_of_another_range_is_refused() {
    let obj = object(100_000);
    let proof = make_proof(&obj, 0, 1024).unwrap();
    for (start, len) in [(4096, 1024), (50_000, 10), (1024, 1), (99_999, 1)] {
        assert!(verify_proof(&proof.bytes, &hash(&obj), start, len).is_err(), "{start}+{len}");
    }
}

#[test]
fn a_proof_of_another_object_is_refused() {
    let (obj, other) = (object(10_000), object(10_001));
    let proof = make_proof(&other, 0, 1024).unwrap();
    assert_eq!(verify_proof(&proof.bytes, &hash(&obj), 0, 1024), Err(ProofError::Mismatch));
}

#[test]
fn a_copy_changed_far_from_the_range_is_refused() {
    // A site that recomputes the tree from a damaged copy cannot prove any range of it.
    let obj = object(100_000);
    let mut damaged = obj.clone();
    damaged[90_000] ^= 1;
    let proof = make_proof(&damaged, 0, 1024).unwrap();
    assert_ne!(proof.root, hash(&obj));
    assert_eq!(verify_proof(&proof.bytes, &hash(&obj), 0, 1024), Err(ProofError::Mismatch));
    let mut shorter = obj.clone();
    shorter.truncate(99_000);
    let proof = make_proof(&shorter, 0, 1024).unwrap();
    assert!(verify_proof(&proof.bytes, &hash(&obj), 0, 1024).is_err());
}

#[test]
fn the_prefix_is_checked() {
    let obj = object(2000);
    let proof = make_proof(&obj, 0, 10).unwrap();
    let with = |at: usize, value: u8| {
        let mut p = proof.bytes.clone();
        p[at] = value;
        verify_proof(&p, &hash(&obj), 0, 10)
    };
    assert!(matches!(with(0, b'X'), Err(ProofError::Malformed(_))));
    assert_eq!(with(4, 2), Err(ProofError::UnsupportedVersion(2)));
    assert!(matches!(with(5, 9), Err(ProofError::Malformed(_))));
    assert!(matches!(with(7, 1), Err(ProofError::Malformed(_))));
    let mut longer = proof.bytes.clone();
    longer.push(0);
    assert_eq!(verify_proof(&longer, &hash(&obj), 0, 10), Err(ProofError::Trailing(1)));
}

#[test]
fn ranges_are_bounded() {
    let obj = object(10);
    for (start, len) in [(0, 0), (0, MAX_PROOF_RANGE + 1), (u64::MAX, 2)] {
        assert_eq!(make_proof(&obj, start, len).unwrap_err(), ProofError::BadRange { start, len });
        assert_eq!(
            verify_proof(&prefix(), &hash(&obj), start, len),
            Err(ProofError::BadRange { start, len })
        );
    }
}

#[test]
fn names_parse_as_hashes() {
    let obj = object(10);
    assert_eq!(name_hash(blake3::hash(&obj).to_hex().as_str()), Some(hash(&obj)));
    assert_eq!(name_hash(&blake3::hash(&obj).to_hex().to_uppercase()), None);
    assert_eq!(name_hash("chancery-site"), None);
}

#[test]
fn the_example_of_format_md() {
    let obj = vec![0u8; 2049];
    let proof = make_proof(&obj, 1024, 1).unwrap();
    assert_eq!(proof.bytes.len(), 1168);
    assert_eq!(proof.bytes[..16], [0x43, 0x48, 0x50, 0x52, 1, 1, 0, 0, 0x01, 0x08, 0, 0, 0, 0, 0, 0]);
    assert_eq!(verify_proof(&proof.bytes, &hash(&obj), 1024, 1).unwrap(), [0]);
}
