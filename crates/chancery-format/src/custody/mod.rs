//! Custodians' shares of a recovery secret: Shamir secret sharing over GF(256) (the `blahaj`
//! crate) of a random 32-byte secret that opens its own key file, with a signed manifest that
//! lets recovery name a corrupted or forged share instead of combining it into a wrong secret.

mod manifest;
mod share;

pub use manifest::{Manifest, MANIFEST_HEADER_LEN, MANIFEST_MAGIC, MANIFEST_VERSION};
pub use share::{ShareError, ShareFile, ShareRecord, FILE_HEADER, RECORD_LEN, WORDS};

use rand::RngCore;
use zeroize::Zeroizing;

/// The recovery secret: 32 random bytes that open the custody key file.
pub type RecoverySecret = Zeroizing<[u8; 32]>;

/// A fresh recovery secret from the OS generator.
pub fn new_secret() -> RecoverySecret {
    let mut secret = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(secret.as_mut());
    secret
}

/// Splits `secret` into `shares` records of which any `threshold` recover it; fewer reveal
/// nothing about it. Panics unless 2 <= threshold <= shares <= 255 (callers check first).
pub fn split(secret: &[u8; 32], generation: u32, threshold: u8, shares: u8) -> Vec<ShareRecord> {
    assert!(threshold >= 2 && threshold <= shares, "2 <= threshold <= shares");
    blahaj::Sharks(threshold)
        .dealer(secret)
        .take(usize::from(shares))
        .map(|share| {
            let bytes = Zeroizing::new(Vec::from(&share));
            ShareRecord { generation, threshold, x: bytes[0], y: bytes[1..].try_into().expect("32 bytes") }
        })
        .collect()
}

/// Combines `threshold` or more distinct, verified records into the secret. With forged or
/// corrupted records the result is a wrong secret, never an error: callers check each record
/// against the manifest first, and the result against the custody key file.
pub fn combine(records: &[&ShareRecord], threshold: u8) -> Option<RecoverySecret> {
    let shares: Vec<blahaj::Share> = records
        .iter()
        .map(|r| {
            let bytes = Zeroizing::new([&[r.x][..], &r.y[..]].concat());
            blahaj::Share::try_from(bytes.as_slice()).expect("33 bytes make a share")
        })
        .collect();
    let secret = Zeroizing::new(blahaj::Sharks(threshold).recover(&shares).ok()?);
    Some(Zeroizing::new(secret.as_slice().try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_threshold_shares_recover_and_fewer_do_not() {
        let secret = new_secret();
        let records = split(&secret, 1, 3, 5);
        assert_eq!(records.iter().map(|r| r.x).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
        for picked in [[0, 1, 2], [0, 2, 4], [4, 3, 1]] {
            let chosen: Vec<&ShareRecord> = picked.iter().map(|&i| &records[i]).collect();
            assert_eq!(*combine(&chosen, 3).unwrap(), *secret);
        }
        assert!(combine(&[&records[0], &records[1]], 3).is_none());
        let all: Vec<&ShareRecord> = records.iter().collect();
        assert_eq!(*combine(&all, 3).unwrap(), *secret);
    }
}
