//! RFC 9162 (and RFC 6962) Merkle tree hashing, and inclusion and consistency proofs.
//!
//! Hashing follows RFC 9162 §2.1.1 exactly, with SHA-256: a leaf hashes as
//! `SHA-256(0x00 || data)`, an inner node as `SHA-256(0x01 || left || right)`, and the root of
//! `n > 1` leaves splits at `k`, the largest power of two smaller than `n`. The domain bytes
//! keep a leaf from ever being taken for a node (the second-preimage attack on plain Merkle
//! trees). The empty tree's root is `SHA-256("")`.
//!
//! Proof *generation* here works from the full list of leaf hashes and costs O(n) hashing per
//! proof: the first ledgers are small, and a stored-subtree version can replace it without
//! changing any output. Proof *verification* follows RFC 9162 §2.1.3.2 and §2.1.4.2 step by
//! step and needs only the sizes, the roots and the proof, never the leaves.

use sha2::{Digest, Sha256};
use thiserror::Error;

/// Length of every hash in the tree (SHA-256).
pub const HASH_LEN: usize = 32;

/// A leaf hash, node hash or root hash.
pub type Hash = [u8; HASH_LEN];

/// Domain byte before a leaf's data (RFC 9162 §2.1.1).
const LEAF_PREFIX: u8 = 0x00;
/// Domain byte before two child hashes (RFC 9162 §2.1.1).
const NODE_PREFIX: u8 = 0x01;

/// Why a proof could not be made or did not verify.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MerkleError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The older tree is larger than the newer one, or a size exceeds the leaves at hand.
    #[error("tree sizes {old} and {new} cannot be compared")]
    BadSizes {
        /// The older (first) size.
        old: u64,
        /// The newer (second) size.
        new: u64,
    },
    /// The proof has the wrong number of hashes for these sizes.
    #[error("proof has the wrong length for these tree sizes")]
    ProofLength,
    /// The proof does not lead to the expected root: the leaf is not in the tree, or the two
    /// trees are not one the prefix of the other (a forked or rewritten log).
    #[error("proof does not match the root hash")]
    RootMismatch,
}

/// `SHA-256(0x00 || data)`: the hash of one leaf's data.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new().chain_update([LEAF_PREFIX]).chain_update(data).finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an inner node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([NODE_PREFIX]).chain_update(left).chain_update(right).finalize().into()
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// `MTH(D[n])` over already hashed leaves (RFC 9162 §2.1.1).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [leaf] => *leaf,
        _ => {
            let (left, right) = leaves.split_at(split_point(leaves.len()));
            node_hash(&root(left), &root(right))
        }
    }
}

/// The largest power of two smaller than `n` (`n >= 2`): where RFC 9162 splits a tree.
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The audit path `PATH(m, D[n])` of leaf `index` in the tree of all `leaves` (§2.1.3.1).
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, MerkleError> {
    let size = leaves.len() as u64;
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(index as usize, leaves, &mut proof);
    Ok(proof)
}

/// Appends PATH(m, D) to `out`, deepest hash first.
fn path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let (left, right) = leaves.split_at(split_point(leaves.len()));
    if m < left.len() {
        path(m, left, out);
        out.push(root(right));
    } else {
        path(m - left.len(), right, out);
        out.push(root(left));
    }
}

/// The consistency proof `PROOF(m, D[n])` from the tree of the first `old_size` leaves to the
/// tree of all `leaves` (§2.1.4.1). Empty when the sizes are equal or `old_size` is 0, since
/// every tree extends itself and the empty tree.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, MerkleError> {
    let new_size = leaves.len() as u64;
    if old_size > new_size {
        return Err(MerkleError::BadSizes { old: old_size, new: new_size });
    }
    let mut proof = Vec::new();
    if old_size > 0 {
        subproof(old_size as usize, leaves, true, &mut proof);
    }
    Ok(proof)
}

/// Appends SUBPROOF(m, D, b) to `out`.
fn subproof(m: usize, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    if m == leaves.len() {
        // The old tree is this whole subtree: the verifier already knows its hash when it is
        // the old root itself (`complete`), otherwise it must be given.
        if !complete {
            out.push(root(leaves));
        }
        return;
    }
    let (left, right) = leaves.split_at(split_point(leaves.len()));
    if m <= left.len() {
        subproof(m, left, complete, out);
        out.push(root(right));
    } else {
        subproof(m - left.len(), right, false, out);
        out.push(root(left));
    }
}

/// Checks that `leaf` is leaf number `index` of the tree of `size` leaves with root `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(MerkleError::ProofLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            // Climb past the levels where this node is a left child with no right sibling.
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::ProofLength);
    }
    if r != *root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a prefix of the tree of
/// `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2).
///
/// Beyond §2.1.4.2, which covers `0 < old_size < new_size`: equal sizes need an empty proof
/// and equal roots; an old size of 0 needs an empty proof and the empty root as `old_root`.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::BadSizes { old: old_size, new: new_size });
    }
    if old_size == new_size || old_size == 0 {
        return verify_trivial_consistency(old_size, old_root, new_root, proof);
    }
    let (fr, sr, sn) = consistency_roots(old_size, new_size, old_root, proof)?;
    if sn != 0 {
        return Err(MerkleError::ProofLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// The cases §2.1.4.2 leaves out, where no hash needs to be sent.
fn verify_trivial_consistency(
    old_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if !proof.is_empty() {
        return Err(MerkleError::ProofLength);
    }
    let expected_old = if old_size == 0 { empty_root() } else { *new_root };
    if *old_root != expected_old {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// Steps 1–6 of §2.1.4.2: the old root `fr`, new root `sr` and remaining `sn` that the proof
/// leads to.
fn consistency_roots(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    proof: &[Hash],
) -> Result<(Hash, Hash, u64), MerkleError> {
    if proof.is_empty() {
        return Err(MerkleError::ProofLength);
    }
    // When the old tree is a complete subtree, the proof omits its root (the verifier has it).
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(MerkleError::ProofLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    Ok((fr, sr, sn))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    #[test]
    fn split_point_is_largest_power_of_two_below() {
        let cases = [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (1 << 20, 1 << 19)];
        for (n, k) in cases {
            assert_eq!(split_point(n), k, "n = {n}");
        }
    }

    #[test]
    fn small_trees_hash_by_hand() {
        let l = leaves(3);
        assert_eq!(root(&l[..1]), l[0]);
        assert_eq!(root(&l[..2]), node_hash(&l[0], &l[1]));
        assert_eq!(root(&l), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
    }

    #[test]
    fn index_out_of_range_is_refused() {
        let l = leaves(4);
        assert_eq!(inclusion_proof(&l, 4), Err(MerkleError::IndexOutOfRange { index: 4, size: 4 }));
        let err = verify_inclusion(&l[0], 4, 4, &[], &root(&l));
        assert_eq!(err, Err(MerkleError::IndexOutOfRange { index: 4, size: 4 }));
        assert!(verify_inclusion(&l[0], 0, 0, &[], &empty_root()).is_err());
    }

    #[test]
    fn inclusion_proof_too_long_or_short_is_refused() {
        let l = leaves(5);
        let mut proof = inclusion_proof(&l, 1).unwrap();
        proof.push(l[0]);
        assert_eq!(verify_inclusion(&l[1], 1, 5, &proof, &root(&l)), Err(MerkleError::ProofLength));
        proof.truncate(proof.len() - 2);
        assert_eq!(verify_inclusion(&l[1], 1, 5, &proof, &root(&l)), Err(MerkleError::ProofLength));
    }

    #[test]
    fn consistency_edge_cases() {
        let l = leaves(6);
        let r = root(&l);
        assert_eq!(consistency_proof(&l, 7), Err(MerkleError::BadSizes { old: 7, new: 6 }));
        assert_eq!(consistency_proof(&l, 6), Ok(vec![]));
        assert_eq!(consistency_proof(&l, 0), Ok(vec![]));
        verify_consistency(6, 6, &r, &r, &[]).unwrap();
        verify_consistency(0, 6, &empty_root(), &r, &[]).unwrap();
        verify_consistency(0, 0, &empty_root(), &empty_root(), &[]).unwrap();
        assert_eq!(verify_consistency(0, 6, &r, &r, &[]), Err(MerkleError::RootMismatch));
        assert_eq!(verify_consistency(6, 6, &r, &l[0], &[]), Err(MerkleError::RootMismatch));
        assert_eq!(verify_consistency(6, 6, &r, &r, &[r]), Err(MerkleError::ProofLength));
        assert_eq!(verify_consistency(7, 6, &r, &r, &[]), Err(MerkleError::BadSizes { old: 7, new: 6 }));
        assert_eq!(verify_consistency(3, 6, &root(&l[..3]), &r, &[]), Err(MerkleError::ProofLength));
    }

    #[test]
    fn consistency_proof_with_extra_hash_is_refused() {
        let l = leaves(7);
        let mut proof = consistency_proof(&l, 3).unwrap();
        proof.push(l[0]);
        let err = verify_consistency(3, 7, &root(&l[..3]), &root(&l), &proof);
        assert_eq!(err, Err(MerkleError::ProofLength));
    }
}
