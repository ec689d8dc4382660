//! Listings: whole, or brought up to date by shard from a listing kept from an earlier
//! command (`chancery_protocol::listing`, FORMAT.md §12.8).

use chancery_protocol::list_path;
use chancery_protocol::listing::{
    parse_listing, parse_shard_reply, shard_bits_for, shard_digests, shard_of, shard_query, ListedObject,
    ShardReply, MAX_SHARDS_PER_REQUEST,
};
use chancery_store::{Backend, ObjectInfo, ObjectKind, StoreError};
use reqwest::{Method, StatusCode};
use std::collections::HashSet;

use crate::RemoteBackend;

/// The whole listing is fetched instead when more than one shard in this many changed: it
/// then costs little more, in one request.
const WHOLE_WHEN_MORE_THAN_ONE_IN: usize = 4;

/// What to fetch, given the site's shard digests and those of the listing kept.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    Unchanged,
    Whole,
    Shards(Vec<u16>),
}

fn plan(theirs: &[[u8; 8]], ours: &[[u8; 8]]) -> Plan {
    let changed: Vec<u16> =
        (0u16..).zip(theirs.iter().zip(ours)).filter(|(_, (a, b))| a != b).map(|(shard, _)| shard).collect();
    if changed.is_empty() {
        Plan::Unchanged
    } else if changed.len() * WHOLE_WHEN_MORE_THAN_ONE_IN > theirs.len() {
        Plan::Whole
    } else {
        Plan::Shards(changed)
    }
}

impl RemoteBackend {
    /// `GET …/{kind}`, or with `query`: its answer's body.
    fn listing_body(&self, kind: ObjectKind, query: Option<&str>) -> Result<Vec<u8>, StoreError> {
        let mut path = list_path(&self.site.tenant, kind.dir_name());
        if let Some(query) = query {
            path = format!("{path}?{query}");
        }
        let response = self.send(Method::GET, &path, b"", None)?;
        let response = self.expect(response, &[StatusCode::OK], kind, "")?;
        self.bytes(response)
    }

    /// Every object of a kind, sorted by name (names a store could not hold are left out).
    pub(crate) fn list_whole(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StoreError> {
        let body = self.listing_body(kind, None)?;
        let objects = parse_listing(&body).map_err(|e| self.malformed(kind, e))?;
        Ok(sorted(objects))
    }

    /// [`chancery_store::Backend::relist`]: the digests of the listing's shards, then the
    /// entries of those that differ from `known`'s; `None` when none does.
    pub(crate) fn relist_by_shard(
        &self,
        kind: ObjectKind,
        known: &[ObjectInfo],
    ) -> Result<Option<Vec<ObjectInfo>>, StoreError> {
        let Some(bits) = shard_bits_for(known.len()) else { return self.list_whole(kind).map(Some) };
        let body = self.listing_body(kind, Some(&shard_query(bits, &[])))?;
        let theirs = match parse_shard_reply(&body, bits).map_err(|e| self.malformed(kind, e))? {
            ShardReply::Listing(objects) => return Ok(Some(sorted(objects))),
            ShardReply::Digests(digests) => digests,
        };
        let ours = shard_digests(known.iter().map(|o| (o.name.as_str(), o.size)), bits);
        let changed = match plan(&theirs, &ours) {
            Plan::Unchanged => return Ok(None),
            Plan::Whole => return self.list_whole(kind).map(Some),
            Plan::Shards(changed) => changed,
        };
        let wanted: HashSet<u16> = changed.iter().copied().collect();
        let mut objects: Vec<ObjectInfo> =
            known.iter().filter(|o| !wanted.contains(&shard_of(&o.name, bits))).cloned().collect();
        for shards in changed.chunks(MAX_SHARDS_PER_REQUEST) {
            objects.extend(self.list_shards(kind, bits, shards)?);
        }
        Ok(Some(sorted_infos(objects)))
    }

    /// The objects of some shards; an object of a shard not asked for is refused.
    fn list_shards(&self, kind: ObjectKind, bits: u8, shards: &[u16]) -> Result<Vec<ObjectInfo>, StoreError> {
        let body = self.listing_body(kind, Some(&shard_query(bits, shards)))?;
        let fetched = parse_listing(&body).map_err(|e| self.malformed(kind, e))?;
        let asked: HashSet<u16> = shards.iter().copied().collect();
        if let Some(stray) = fetched.iter().find(|o| !asked.contains(&shard_of(&o.name, bits))) {
            return Err(self.malformed(kind, format!("{} is not in a shard asked for", stray.name)));
        }
        Ok(fetched.into_iter().map(|o| ObjectInfo { name: o.name, size: o.size }).collect())
    }

    fn malformed(&self, kind: ObjectKind, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable { location: self.location(), reason: format!("listing {kind}: {reason}") }
    }
}

/// A listing as a store's listing is: sorted by name, each name once, names a store could not
/// hold left out. For what a site sends, and for the listing an owner kept.
pub fn sorted(objects: Vec<ListedObject>) -> Vec<ObjectInfo> {
    sorted_infos(objects.into_iter().map(|o| ObjectInfo { name: o.name, size: o.size }).collect())
}

/// Sorted by name, each name once, names a store could not hold left out.
fn sorted_infos(mut objects: Vec<ObjectInfo>) -> Vec<ObjectInfo> {
    objects.retain(|o| chancery_store::validate_name(&o.name).is_ok());
    objects.sort();
    objects.dedup_by(|a, b| a.name == b.name);
    objects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_shards_are_fetched_alone_unless_more_than_a_quarter_changed() {
        let ours = vec![[0u8; 8]; 16];
        assert_eq!(plan(&ours, &ours), Plan::Unchanged);
        let mut theirs = ours.clone();
        theirs[3][0] = 1;
        theirs[15][7] = 1;
        assert_eq!(plan(&theirs, &ours), Plan::Shards(vec![3, 15]));
        theirs[4][0] = 1;
        theirs[5][0] = 1;
        assert_eq!(plan(&theirs, &ours), Plan::Shards(vec![3, 4, 5, 15]), "a quarter");
        theirs[6][0] = 1;
        assert_eq!(plan(&theirs, &ours), Plan::Whole, "more than a quarter");
    }
}
