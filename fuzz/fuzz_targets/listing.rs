//! Listings as an owner reads them (FORMAT.md §12.8): `listing::parse_listing` (a site's
//! listing, and the listing the owner keeps between commands), `parse_shard_reply` (a site's
//! shard digests) and, on the site's side, `parse_listing_query`. Whatever the bytes, parsing
//! must not panic; digests accepted are one per shard asked for; a query accepted names shard
//! bits the server allows and shards below `2^bits`, and reads back from its own spelling.
#![no_main]

use chancery_protocol::listing::{
    parse_listing, parse_listing_query, parse_shard_reply, shard_query, ListingQuery, ShardReply,
    MAX_SHARDS_PER_REQUEST, MAX_SHARD_BITS,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else { return };
    let bits = first % (MAX_SHARD_BITS + 1);
    if let Ok(objects) = parse_listing(body) {
        let again = serde_json::to_vec(&objects).unwrap();
        assert_eq!(parse_listing(&again).unwrap(), objects, "a listing read back from its own spelling");
    }
    if let Ok(ShardReply::Digests(digests)) = parse_shard_reply(body, bits) {
        assert_eq!(digests.len(), 1 << bits);
    }
    let Ok(query) = std::str::from_utf8(body) else { return };
    match parse_listing_query(Some(query)) {
        Ok(ListingQuery::Whole) | Err(_) => {}
        Ok(ListingQuery::Digests { bits }) => {
            assert!((1..=MAX_SHARD_BITS).contains(&bits));
            assert_eq!(parse_listing_query(Some(&shard_query(bits, &[]))), Ok(ListingQuery::Digests { bits }));
        }
        Ok(ListingQuery::Shards { bits, shards }) => {
            assert!((1..=MAX_SHARD_BITS).contains(&bits) && shards.len() <= MAX_SHARDS_PER_REQUEST);
            assert!(shards.iter().all(|&s| u32::from(s) < 1 << bits));
            let spelled = shard_query(bits, &shards);
            assert_eq!(parse_listing_query(Some(&spelled)), Ok(ListingQuery::Shards { bits, shards }));
        }
    }
});
