//! Listings, and listings by shard (FORMAT.md §12.8).
//!
//! A kind's listing grows with every backup (about 88 bytes an object), and an owner that
//! backs up every few minutes would fetch it whole each time. An owner that kept the listing
//! of an earlier command asks instead for the digest of each shard of it (`?shard_bits=B`),
//! compares them with the digests of its own copy, and fetches only the shards that differ
//! (`?shard_bits=B&shards=i,j,…`). An object's shard is the first `B` bits of the BLAKE3 hash
//! of its name, so shards stay even whatever the names look like.
//!
//! A server that predates shards ignores the query and sends the whole listing, which the
//! client recognises ([`ShardReply::Listing`]) and takes as it is.

use serde::{Deserialize, Serialize};
use std::io::Write;
use thiserror::Error;

/// The most shard bits a server accepts: 4,096 shards.
pub const MAX_SHARD_BITS: u8 = 12;
/// The most shards one request may name.
pub const MAX_SHARDS_PER_REQUEST: usize = 256;
/// A listing shorter than this (about 22 KB) is fetched whole: its bytes cost less than the
/// second request a listing by shard needs when a shard changed.
pub const MIN_SHARDED_LEN: usize = 256;
/// Objects per shard the client aims at: shards hold 32 to 64 objects (bits rounded down), and
/// a shard that changed costs that many entries.
const OBJECTS_PER_SHARD: usize = 32;

/// One entry of a listing, as a server sends it (`application/json`, an array of these).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedObject {
    /// The object's name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A listing or shard reply that could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ListingError {
    /// Not the JSON expected.
    #[error("malformed listing: {0}")]
    Malformed(String),
    /// A query a server refuses.
    #[error("{0}")]
    BadQuery(String),
}

/// What a server answered to a request for shard digests.
#[derive(Debug, PartialEq, Eq)]
pub enum ShardReply {
    /// One digest per shard, shard 0 first.
    Digests(Vec<[u8; 8]>),
    /// The whole listing: a server that predates shards.
    Listing(Vec<ListedObject>),
}

/// The shard of an object named `name`, for `bits` shard bits (1 to [`MAX_SHARD_BITS`]).
pub fn shard_of(name: &str, bits: u8) -> u16 {
    debug_assert!((1..=MAX_SHARD_BITS).contains(&bits), "{bits} shard bits");
    let hash = blake3::hash(name.as_bytes());
    let top = u16::from_be_bytes([hash.as_bytes()[0], hash.as_bytes()[1]]);
    top >> (16 - u32::from(bits))
}

/// The shard bits a client asks for when it holds a listing of `len` objects: about
/// [`OBJECTS_PER_SHARD`] objects a shard; `None` below [`MIN_SHARDED_LEN`].
pub fn shard_bits_for(len: usize) -> Option<u8> {
    if len < MIN_SHARDED_LEN {
        return None;
    }
    let bits = (len / OBJECTS_PER_SHARD).ilog2();
    Some(bits.clamp(1, u32::from(MAX_SHARD_BITS)) as u8)
}

/// The digest of each of the `2^bits` shards of a listing: the first 8 bytes of the BLAKE3
/// hash of the shard's entries in name order, each written `<name> <size>\n` (size in
/// decimal). An empty shard's digest is that of no bytes. Names must be unique.
pub fn shard_digests<'a>(objects: impl IntoIterator<Item = (&'a str, u64)>, bits: u8) -> Vec<[u8; 8]> {
    let mut by_shard: Vec<Vec<(&str, u64)>> = vec![Vec::new(); 1 << bits];
    for (name, size) in objects {
        by_shard[usize::from(shard_of(name, bits))].push((name, size));
    }
    by_shard
        .into_iter()
        .map(|mut entries| {
            entries.sort_unstable();
            let mut hasher = blake3::Hasher::new();
            let mut line = Vec::with_capacity(96);
            for (name, size) in entries {
                line.clear();
                // Infallible: writing to a Vec.
                let _ = writeln!(line, "{name} {size}");
                hasher.update(&line);
            }
            let mut digest = [0u8; 8];
            digest.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
            digest
        })
        .collect()
}

/// The query asking for the shard digests (`shards` empty) or for the entries of `shards`.
pub fn shard_query(bits: u8, shards: &[u16]) -> String {
    if shards.is_empty() {
        return format!("shard_bits={bits}");
    }
    let list: Vec<String> = shards.iter().map(u16::to_string).collect();
    format!("shard_bits={bits}&shards={}", list.join(","))
}

/// What a listing request's query asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum ListingQuery {
    /// The whole listing (no `shard_bits`).
    Whole,
    /// The digest of every shard.
    Digests {
        /// Shard bits.
        bits: u8,
    },
    /// The entries of these shards.
    Shards {
        /// Shard bits.
        bits: u8,
        /// The shards, each below `2^bits`, at most [`MAX_SHARDS_PER_REQUEST`].
        shards: Vec<u16>,
    },
}

/// Reads a listing request's query string (without `?`). Numbers are decimal digits only; of
/// a parameter given twice the first counts; other parameters are ignored.
pub fn parse_listing_query(query: Option<&str>) -> Result<ListingQuery, ListingError> {
    let param = |key: &str| query?.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='));
    let Some(bits_text) = param("shard_bits") else { return Ok(ListingQuery::Whole) };
    let bits =
        decimal(bits_text).filter(|b| (1..=u32::from(MAX_SHARD_BITS)).contains(b)).ok_or_else(|| {
            ListingError::BadQuery(format!(
                "shard_bits={bits_text:?} must be a number from 1 to {MAX_SHARD_BITS}"
            ))
        })? as u8;
    let Some(list) = param("shards") else { return Ok(ListingQuery::Digests { bits }) };
    let shards = list
        .split(',')
        .map(|s| decimal(s).filter(|&n| n < 1 << bits).map(|n| n as u16))
        .collect::<Option<Vec<u16>>>()
        .filter(|shards| shards.len() <= MAX_SHARDS_PER_REQUEST)
        .ok_or_else(|| {
            ListingError::BadQuery(format!(
                "shards must be 1 to {MAX_SHARDS_PER_REQUEST} comma-separated numbers below 2^{bits}"
            ))
        })?;
    Ok(ListingQuery::Shards { bits, shards })
}

/// A number of one to five decimal digits (no sign, no space).
fn decimal(text: &str) -> Option<u32> {
    let digits = (1..=5).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten()
}

/// Reads a listing (a JSON array of `{"name", "size"}`).
pub fn parse_listing(body: &[u8]) -> Result<Vec<ListedObject>, ListingError> {
    serde_json::from_slice(body).map_err(|e| ListingError::Malformed(e.to_string()))
}

/// Reads the answer to a request for the digests of `2^bits` shards: an array of 16 lower-case
/// hex digits per shard, or, from a server that predates shards, the whole listing.
pub fn parse_shard_reply(body: &[u8], bits: u8) -> Result<ShardReply, ListingError> {
    // Told apart by the first value, so that the body is decoded once, straight into its type
    // (serde's untagged enums buffer the whole document first). `[]` is an older server's
    // listing of an empty kind.
    let first_value = body.iter().copied().filter(|b| !b.is_ascii_whitespace()).nth(1);
    if first_value != Some(b'"') {
        return parse_listing(body).map(ShardReply::Listing);
    }
    let texts: Vec<String> =
        serde_json::from_slice(body).map_err(|e| ListingError::Malformed(e.to_string()))?;
    let shards = 1usize << bits;
    if texts.len() != shards {
        let count = texts.len();
        return Err(ListingError::Malformed(format!("{count} shard digests where {shards} were asked")));
    }
    texts.iter().map(|text| parse_digest(text)).collect::<Result<_, _>>().map(ShardReply::Digests)
}

/// Writes shard digests as [`parse_shard_reply`] reads them.
pub fn format_digests(digests: &[[u8; 8]]) -> Vec<String> {
    digests.iter().map(hex::encode).collect()
}

fn parse_digest(text: &str) -> Result<[u8; 8], ListingError> {
    let mut digest = [0u8; 8];
    let lower = text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match hex::decode_to_slice(text, &mut digest) {
        Ok(()) if lower => Ok(digest),
        _ => Err(ListingError::Malformed(format!("{text:?} is not 16 lower-case hex digits"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(n: usize) -> Vec<ListedObject> {
        (0..n)
            .map(|i| ListedObject {
                name: blake3::hash(&i.to_le_bytes()).to_hex().to_string(),
                size: i as u64,
            })
            .collect()
    }

    fn digests(objects: &[ListedObject], bits: u8) -> Vec<[u8; 8]> {
        shard_digests(objects.iter().map(|o| (o.name.as_str(), o.size)), bits)
    }

    #[test]
    fn a_changed_object_changes_its_shard_s_digest_only() {
        let mut listing = objects(1000);
        let before = digests(&listing, 6);
        assert_eq!(before.len(), 64);
        let mut shuffled = listing.clone();
        shuffled.reverse();
        assert_eq!(digests(&shuffled, 6), before, "order does not matter");

        listing[10].size += 1;
        let shard = usize::from(shard_of(&listing[10].name, 6));
        let after = digests(&listing, 6);
        let changed: Vec<usize> = (0..64).filter(|&i| before[i] != after[i]).collect();
        assert_eq!(changed, [shard]);

        listing.remove(10);
        assert_ne!(digests(&listing, 6)[shard], before[shard], "a missing object shows too");
    }

    #[test]
    fn shards_are_even_and_sized_to_the_listing() {
        let listing = objects(4096);
        let bits = shard_bits_for(listing.len()).unwrap();
        assert_eq!(bits, 7, "4,096 objects: 128 shards of 32");
        let mut counts = vec![0usize; 1 << bits];
        listing.iter().for_each(|o| counts[usize::from(shard_of(&o.name, bits))] += 1);
        assert!(counts.iter().all(|&c| (10..=60).contains(&c)), "{counts:?}");
        assert_eq!(shard_bits_for(255), None);
        assert_eq!(shard_bits_for(256), Some(3));
        assert_eq!(shard_bits_for(10_000_000), Some(MAX_SHARD_BITS));
    }

    #[test]
    fn queries_read_back_and_bad_ones_are_refused() {
        assert_eq!(parse_listing_query(None), Ok(ListingQuery::Whole));
        assert_eq!(parse_listing_query(Some("other=1")), Ok(ListingQuery::Whole));
        assert_eq!(parse_listing_query(Some(&shard_query(5, &[]))), Ok(ListingQuery::Digests { bits: 5 }));
        assert_eq!(
            parse_listing_query(Some(&shard_query(5, &[0, 31, 7]))),
            Ok(ListingQuery::Shards { bits: 5, shards: vec![0, 31, 7] })
        );
        for bad in [
            "shard_bits=0",
            "shard_bits=13",
            "shard_bits=x",
            "shard_bits=+5",
            "shard_bits=5&shards=32",
            "shard_bits=5&shards=",
            "shard_bits=5&shards=1,+2",
            "shard_bits=5&shards=1,,2",
        ] {
            assert!(matches!(parse_listing_query(Some(bad)), Err(ListingError::BadQuery(_))), "{bad}");
        }
        let too_many: Vec<u16> = (0..=MAX_SHARDS_PER_REQUEST as u16).collect();
        assert!(parse_listing_query(Some(&shard_query(12, &too_many))).is_err());
    }

    #[test]
    fn a_reply_is_digests_or_a_whole_listing_from_an_older_server() {
        let listing = objects(300);
        let sent = digests(&listing, 2);
        let body = serde_json::to_vec(&format_digests(&sent)).unwrap();
        assert_eq!(parse_shard_reply(&body, 2), Ok(ShardReply::Digests(sent)));
        assert!(parse_shard_reply(&body, 3).is_err(), "four digests where eight were asked");

        let whole = serde_json::to_vec(&listing).unwrap();
        assert_eq!(parse_shard_reply(&whole, 2), Ok(ShardReply::Listing(listing)));
        assert_eq!(parse_shard_reply(b"[]", 2), Ok(ShardReply::Listing(Vec::new())));
        for bad in [&b"[\"00112233445566GG\"]"[..], b"[\"00112233445566AA\"]", b"{}", b"[1]", b""] {
            assert!(parse_shard_reply(bad, 0).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
