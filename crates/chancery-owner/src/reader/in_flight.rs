//! Whole-pack reads under way. A restore's workers start on new packs at about the same time
//! (the walk hands them neighbouring batches, which lie in the same packs), and each read the
//! same pack: a small-file restore from a site server fetched 1.5 to 1.8 times the bytes
//! stored, in 700 to 1,000 range requests. Now the second worker waits for the first's read,
//! and takes its blobs from the range cache.

use chancery_format::ObjectId;
use std::collections::HashSet;
use std::sync::{Condvar, Mutex};

/// What a caller wanting to read a pack whole is to do.
#[derive(Debug)]
pub enum Begin<'a> {
    /// Read it, then call [`Claim::succeeded`] if the read gave the whole pack.
    Read(Claim<'a>),
    /// Another caller read it meanwhile (this one waited): its blobs are in the range cache,
    /// unless they were dropped since.
    Waited,
    /// A whole read of it failed before: read what is wanted by ranges.
    Refused,
}

/// The whole read of one pack, claimed by [`PacksInFlight::begin`]. Dropping it ends the
/// read, as failed unless [`Self::succeeded`] said otherwise, and wakes those waiting for it:
/// a read that returns early or panics cannot leave the other workers waiting forever.
#[derive(Debug)]
pub struct Claim<'a> {
    flight: &'a PacksInFlight,
    pack: ObjectId,
    read: bool,
}

impl Claim<'_> {
    /// Ends the read as done: the pack's bytes are in the range cache.
    pub fn succeeded(mut self) {
        self.read = true;
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.flight.end(&self.pack, self.read);
    }
}

/// The packs being read whole, and those whose whole read failed.
#[derive(Debug, Default)]
pub struct PacksInFlight {
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct State {
    reading: HashSet<ObjectId>,
    failed: HashSet<ObjectId>,
}

impl PacksInFlight {
    /// Claims the whole read of `pack`, or waits for the one under way.
    pub fn begin(&self, pack: &ObjectId) -> Begin<'_> {
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
            Begin::Read(Claim { flight: self, pack: *pack, read: false })
        }
    }

    /// Ends a read, and wakes those waiting for it. A pack whose read failed (the site erred,
    /// or sent less than asked) is never read whole again. A poisoned lock is taken as it is:
    /// this runs while a panicking reader unwinds.
    fn end(&self, pack: &ObjectId, read: bool) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
        let Begin::Read(claim) = flight.begin(&pack) else { panic!("the first caller reads") };
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| flight.begin(&pack));
            std::thread::sleep(Duration::from_millis(100));
            assert!(!waiter.is_finished(), "waits while the read is under way");
            claim.succeeded();
            assert!(matches!(waiter.join().unwrap(), Begin::Waited));
        });
        let Begin::Read(claim) = flight.begin(&pack) else { panic!("read again once its bytes may be gone") };
        drop(claim);
        assert!(matches!(flight.begin(&pack), Begin::Refused), "a failed whole read is not tried again");
        assert!(matches!(flight.begin(&ObjectId([2; 32])), Begin::Read(_)), "other packs are not held up");
    }

    #[test]
    fn a_reader_that_panics_frees_those_waiting() {
        let (flight, pack) = (PacksInFlight::default(), ObjectId([1; 32]));
        std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let _claim = flight.begin(&pack);
                std::thread::sleep(Duration::from_millis(100));
                panic!("the site's client panicked");
            });
            std::thread::sleep(Duration::from_millis(20));
            let waiter = scope.spawn(|| flight.begin(&pack));
            assert!(reader.join().is_err());
            assert!(matches!(waiter.join().unwrap(), Begin::Refused));
        });
    }
}
