//! The replay cache: every nonce accepted within the clock-skew window, per key.
//!
//! A request is only accepted while its time is within [`MAX_CLOCK_SKEW_SECS`] of the site's
//! clock, so a nonce needs remembering only until its request's time is that far in the past:
//! after that the request is refused as stale anyway. The cache is pruned by that rule and
//! bounded in size; when it is full of live nonces, new requests are refused (fail closed)
//! rather than forgetting a nonce that could then be replayed.

use std::collections::HashMap;

use chancery_protocol::auth::MAX_CLOCK_SKEW_SECS;

/// The most nonces kept: ~100 bytes each, so about 100 MiB at worst.
pub(crate) const MAX_ENTRIES: usize = 1 << 20;

/// Why a nonce was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Seen before within the window.
    Replayed,
    /// The cache is full of nonces still in their window.
    Full,
}

/// Seen nonces with their requests' times.
#[derive(Debug)]
pub(crate) struct ReplayCache {
    seen: HashMap<([u8; 32], String), i64>,
    max_entries: usize,
    pruned_at: i64,
}

impl ReplayCache {
    /// An empty cache holding at most `max_entries` nonces.
    pub(crate) fn new(max_entries: usize) -> Self {
        ReplayCache { seen: HashMap::new(), max_entries, pruned_at: i64::MIN }
    }

    /// Records `nonce` of `key`, sent at `time`; refuses it if it was seen before.
    pub(crate) fn admit(&mut self, key: [u8; 32], nonce: &str, time: i64, now: i64) -> Result<(), Refused> {
        if now != self.pruned_at {
            self.prune(now);
        }
        let entry = (key, nonce.to_ascii_lowercase());
        if self.seen.contains_key(&entry) {
            return Err(Refused::Replayed);
        }
        if self.seen.len() >= self.max_entries {
            return Err(Refused::Full);
        }
        self.seen.insert(entry, time);
        Ok(())
    }

    /// Forgets nonces whose requests would now be refused as stale.
    fn prune(&mut self, now: i64) {
        self.seen.retain(|_, time| now.saturating_sub(*time) <= MAX_CLOCK_SKEW_SECS);
        self.pruned_at = now;
    }

    /// How many nonces are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_per_key_within_the_window() {
        let mut cache = ReplayCache::new(10);
        assert_eq!(cache.admit([1; 32], "aa", 1000, 1000), Ok(()));
        assert_eq!(cache.admit([1; 32], "aa", 1000, 1001), Err(Refused::Replayed));
        assert_eq!(cache.admit([1; 32], "AA", 1000, 1001), Err(Refused::Replayed), "hex case is one nonce");
        assert_eq!(cache.admit([2; 32], "aa", 1000, 1001), Ok(()), "nonces are per key");
        // A request sent in the future stays remembered until it is stale.
        assert_eq!(cache.admit([1; 32], "bb", 1000 + MAX_CLOCK_SKEW_SECS, 1000), Ok(()));
        cache.admit([3; 32], "cc", 1000, 1000 + MAX_CLOCK_SKEW_SECS + 1).unwrap();
        assert_eq!(cache.len(), 2, "stale nonces pruned, the future one and the new one kept");
    }

    #[test]
    fn a_full_cache_refuses_rather_than_forgets() {
        let mut cache = ReplayCache::new(2);
        cache.admit([1; 32], "a", 0, 0).unwrap();
        cache.admit([1; 32], "b", 0, 0).unwrap();
        assert_eq!(cache.admit([1; 32], "c", 0, 0), Err(Refused::Full));
        assert_eq!(cache.admit([1; 32], "a", 0, 0), Err(Refused::Replayed));
        assert_eq!(cache.admit([1; 32], "c", 0, MAX_CLOCK_SKEW_SECS + 1), Ok(()));
    }
}
