//! Properties of proofs for random tree sizes: every generated proof verifies, and any flipped
//! bit in the proof, the root or the leaf makes it fail.

use chancery_ledger::merkle::{self, Hash};
use proptest::prelude::*;

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| merkle::leaf_hash(&i.to_be_bytes())).collect()
}

fn flip(hash: &mut Hash, bit: usize) {
    hash[bit / 8 % 32] ^= 1 << (bit % 8);
}

/// A tree size and an index below it.
fn size_and_index() -> impl Strategy<Value = (u64, u64)> {
    (1u64..300).prop_flat_map(|n| (Just(n), 0..n))
}

/// Two sizes `old <= new`.
fn two_sizes() -> impl Strategy<Value = (u64, u64)> {
    (1u64..300).prop_flat_map(|n| (0..=n, Just(n)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn inclusion_proofs_verify((size, index) in size_and_index(), bit in 0usize..256, pick in any::<prop::sample::Index>()) {
        let l = leaves(size);
        let root = merkle::root(&l);
        let proof = merkle::inclusion_proof(&l, index).unwrap();
        let leaf = l[index as usize];
        prop_assert!(merkle::verify_inclusion(&leaf, index, size, &proof, &root).is_ok());

        let mut bad_leaf = leaf;
        flip(&mut bad_leaf, bit);
        prop_assert!(merkle::verify_inclusion(&bad_leaf, index, size, &proof, &root).is_err());
        let mut bad_root = root;
        flip(&mut bad_root, bit);
        prop_assert!(merkle::verify_inclusion(&leaf, index, size, &proof, &bad_root).is_err());
        if !proof.is_empty() {
            let mut bad_proof = proof.clone();
            flip(&mut bad_proof[pick.index(proof.len())], bit);
            prop_assert!(merkle::verify_inclusion(&leaf, index, size, &bad_proof, &root).is_err());
        }
        // The proof does not prove the leaf at another index.
        if size > 1 {
            let other = (index + 1) % size;
            prop_assert!(merkle::verify_inclusion(&leaf, other, size, &proof, &root).is_err());
        }
    }

    #[test]
    fn consistency_proofs_verify((old, new) in two_sizes(), bit in 0usize..256, pick in any::<prop::sample::Index>()) {
        let l = leaves(new);
        let (old_root, new_root) = (merkle::root(&l[..old as usize]), merkle::root(&l));
        let proof = merkle::consistency_proof(&l, old).unwrap();
        prop_assert!(merkle::verify_consistency(old, new, &old_root, &new_root, &proof).is_ok());

        let mut bad_old = old_root;
        flip(&mut bad_old, bit);
        prop_assert!(merkle::verify_consistency(old, new, &bad_old, &new_root, &proof).is_err());
        // Every tree extends the empty one, whatever its root: only a non-empty old tree binds it.
        if old > 0 {
            let mut bad_new = new_root;
            flip(&mut bad_new, bit);
            prop_assert!(merkle::verify_consistency(old, new, &old_root, &bad_new, &proof).is_err());
        }
        if !proof.is_empty() {
            let mut bad_proof = proof.clone();
            flip(&mut bad_proof[pick.index(proof.len())], bit);
            prop_assert!(merkle::verify_consistency(old, new, &old_root, &new_root, &bad_proof).is_err());
        }
    }

    #[test]
    fn a_rewritten_leaf_breaks_consistency((old, new) in two_sizes(), pick in any::<prop::sample::Index>()) {
        prop_assume!(old > 0 && old < new);
        // A log that rewrote history: the new tree differs in one of the old leaves.
        let l = leaves(new);
        let mut forked = l.clone();
        forked[pick.index(old as usize)][0] ^= 1;
        let proof = merkle::consistency_proof(&forked, old).unwrap();
        let result = merkle::verify_consistency(old, new, &merkle::root(&l[..old as usize]), &merkle::root(&forked), &proof);
        prop_assert!(result.is_err());
    }
}
