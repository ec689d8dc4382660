//! Whole-pack reads under way. A restore's workers start on new packs at about the same time
//! (the walk hands them neighbouring batches, which lie in the same packs), and each read the
//! same pack: a small-file restore from a site server fetched 0.9 to 1.7 times the bytes
//! stored, in 800 to 1,000 range requests. Now the second worker waits for the first's read,
//! and takes its blobs from the range cache.

use chancery_format::ObjectId;
use std::collections::HashSet;
use std::sync::{Condvar, Mutex};

/// What a caller wanting to read a pack whole is to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begin {
    /// Read it, then call [`PacksInFlight::end`].
    Read,
    /// Another caller read it meanwhile (this one waited): its blobs are in the range cache,
    /// unless they were dropped since.
    Waited,
    /// A whole read of it failed before: read what is wanted by ranges.
    Refused,
}

/// The packs being read whole, and those whose whole read failed.
#[derive(Default)]
pub struct PacksInFlight {
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Default)]
struct State {
    reading: HashSet<ObjectId>,
    failed: HashSet<ObjectId>,
}

impl PacksInFlight {
    /// Claims the whole read of `pack`, or waits for the one under way.
    pub fn begin(&self, pack: &ObjectId) -> Begin {
        let mut state = self.state.lock().expect("packs in flight");
        let mut waited = false;
        while state.reading.contains(pack) {
            waited = true;
            state = self.done.wait(state).expect("packs in flight");
        }
        if state.failed.contains(pack) {
            Begin::Refused
        } else if waited {
            Begin::Waited
        } else {
            state.reading.insert(*pack);
            Begin::Read
        }
    }

    /// Ends a read that [`Self::begin`] gave, and wakes those waiting for it. A pack whose
    /// read failed (the site erred, or sent less than asked) is never read whole again.
    pub fn end(&self, pack: &ObjectId, read: bool) {
        let mut state = self.state.lock().expect("packs in flight");
        state.reading.remove(pack);
        if !read {
            state.failed.insert(*pack);
        }
        self.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_pack_read_by_one_caller_is_waited_for_by_the_others() {
        let (flight, pack) = (PacksInFlight::default(), ObjectId([1; 32]));
        assert_eq!(flight.begin(&pack), Begin::Read);
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| flight.begin(&pack));
            std::thread::sleep(Duration::from_millis(100));
            assert!(!waiter.is_finished(), "waits while the read is under way");
            flight.end(&pack, true);
            assert_eq!(waiter.join().unwrap(), Begin::Waited);
        });
        assert_eq!(flight.begin(&pack), Begin::Read, "read again once its bytes may be gone");
        flight.end(&pack, false);
        assert_eq!(flight.begin(&pack), Begin::Refused, "a failed whole read is not tried again");
        assert_eq!(flight.begin(&ObjectId([2; 32])), Begin::Read, "other packs are not held up");
    }
}
