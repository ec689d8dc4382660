//! [`ThrottledBackend`]: a wrapper that keeps the bytes sent to (and read from) a store under
//! a rate, so that a backup to a site over a thin line leaves room for everything else on it.
//!
//! The limit is an average: each transfer books its bytes on a schedule, `bytes / rate`
//! seconds after the previous one ends, and waits until its slot comes. Many threads share one
//! schedule, so parallel uploads to one site together stay under the limit; a single large
//! object still goes out at line speed and the wait after it pays for it. Small requests
//! (listings, look-ups) are not counted.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{Backend, ObjectInfo, ObjectKind, SharedParts, StoreError};

/// Average bytes per second, and when the next transfer may start.
#[derive(Debug)]
struct Schedule {
    bytes_per_second: u64,
    next: Mutex<Instant>,
}

impl Schedule {
    fn new(bytes_per_second: u64) -> Self {
        Schedule { bytes_per_second: bytes_per_second.max(1), next: Mutex::new(Instant::now()) }
    }

    /// Books `bytes` and returns how long to wait before sending them.
    fn book(&self, bytes: u64) -> Duration {
        let cost = Duration::from_secs_f64(bytes as f64 / self.bytes_per_second as f64);
        let now = Instant::now();
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        // Idle time is not saved up: after a pause the rate starts afresh, it does not burst.
        let start = (*next).max(now);
        *next = start + cost;
        start - now
    }

    /// Waits for the slot of `bytes`.
    fn pace(&self, bytes: u64) {
        let wait = self.book(bytes);
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// Limits the average rate of `put` (upload) and of `get`/`get_reader`/`get_range` (download)
/// of a backend.
#[derive(Debug)]
pub struct ThrottledBackend<B> {
    inner: B,
    upload: Option<Schedule>,
    download: Option<Schedule>,
}

impl<B: Backend> ThrottledBackend<B> {
    /// Wraps `inner`; `None` leaves that direction unlimited.
    pub fn new(
        inner: B,
        upload_bytes_per_second: Option<u64>,
        download_bytes_per_second: Option<u64>,
    ) -> Self {
        ThrottledBackend {
            inner,
            upload: upload_bytes_per_second.map(Schedule::new),
            download: download_bytes_per_second.map(Schedule::new),
        }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    fn after_download(&self, bytes: Vec<u8>) -> Vec<u8> {
        // Bytes read are paid for after they arrive: their size is unknown before.
        if let Some(schedule) = &self.download {
            schedule.pace(bytes.len() as u64);
        }
        bytes
    }
}

impl<B: Backend> Backend for ThrottledBackend<B> {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn put(&self, kind: ObjectKind, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        if let Some(schedule) = &self.upload {
            schedule.pace(bytes.len() as u64);
        }
        self.inner.put(kind, name, bytes)
    }

    fn put_shared(&self, kind: ObjectKind, name: &str, object: Arc<SharedParts>) -> Result<(), StoreError> {
        if let Some(schedule) = &self.upload {
            schedule.pace(object.len());
        }
        self.inner.put_shared(kind, name, object)
    }

    fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StoreError> {
        self.inner.get(kind, name).map(|b| self.after_download(b))
    }

    fn get_reader(&self, kind: ObjectKind, name: &str) -> Result<Box<dyn io::Read + Send + '_>, StoreError> {
        let inner = self.inner.get_reader(kind, name)?;
        Ok(match &self.download {
            Some(schedule) => Box::new(Paced { inner, schedule }),
            None => inner,
        })
    }

    fn get_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        self.inner.get_range(kind, name, offset, len).map(|b| self.after_download(b))
    }

    fn stat(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StoreError> {
        self.inner.stat(kind, name)
    }

    fn written_at(&self, kind: ObjectKind, name: &str) -> Result<Option<i64>, StoreError> {
        self.inner.written_at(kind, name)
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StoreError> {
        self.inner.list(kind)
    }

    fn relist(&self, kind: ObjectKind, known: &[ObjectInfo]) -> Result<Option<Vec<ObjectInfo>>, StoreError> {
        self.inner.relist(kind, known)
    }

    fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StoreError> {
        self.inner.delete(kind, name)
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.inner.sync()
    }
}

/// A stream whose bytes are booked on a schedule as they arrive.
struct Paced<'a> {
    inner: Box<dyn io::Read + Send + 'a>,
    schedule: &'a Schedule,
}

impl io::Read for Paced<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.schedule.pace(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryBackend;

    #[test]
    fn bookings_follow_the_rate_and_do_not_save_up_idle_time() {
        let schedule = Schedule::new(1000);
        assert_eq!(schedule.book(500), Duration::ZERO, "the first transfer goes at once");
        let second = schedule.book(1000);
        assert!(second > Duration::from_millis(450) && second <= Duration::from_millis(500), "{second:?}");
        let third = schedule.book(0);
        assert!(third > Duration::from_millis(1450) && third <= Duration::from_millis(1500), "{third:?}");

        let idle = Schedule::new(1000);
        *idle.next.lock().unwrap() = Instant::now() - Duration::from_secs(60);
        assert_eq!(idle.book(1000), Duration::ZERO);
        assert!(idle.book(1) > Duration::from_millis(900), "a long pause earns no burst");
    }

    #[test]
    fn threads_share_one_schedule_and_unlimited_directions_never_wait() {
        let store = ThrottledBackend::new(MemoryBackend::new(), Some(1 << 30), None);
        std::thread::scope(|s| {
            for i in 0..4 {
                let store = &store;
                s.spawn(move || store.put(ObjectKind::Pack, &format!("p{i}"), &[0; 1024]).unwrap());
            }
        });
        assert_eq!(store.list(ObjectKind::Pack).unwrap().len(), 4);
        let booked = store.upload.as_ref().unwrap().next.lock().unwrap().to_owned();
        assert!(booked > Instant::now() - Duration::from_secs(1), "all four puts were booked");
        assert!(store.download.is_none());
        assert_eq!(store.get(ObjectKind::Pack, "p0").unwrap().len(), 1024);
    }

    type Read<'a> = &'a dyn Fn(&ThrottledBackend<MemoryBackend>);

    #[test]
    fn every_kind_of_read_books_its_bytes() {
        let store = ThrottledBackend::new(MemoryBackend::new(), None, Some(1000));
        store.put(ObjectKind::Pack, "p", &[7; 100]).unwrap();
        let next = || *store.download.as_ref().unwrap().next.lock().unwrap();
        let booked_by = |read: Read| {
            let before = next();
            read(&store);
            next().saturating_duration_since(before)
        };
        let reads: [(&str, Read); 3] = [
            ("get", &|s| assert_eq!(s.get(ObjectKind::Pack, "p").unwrap().len(), 100)),
            ("get_reader", &|s| {
                let mut buf = Vec::new();
                io::Read::read_to_end(&mut s.get_reader(ObjectKind::Pack, "p").unwrap(), &mut buf).unwrap();
                assert_eq!(buf, [7; 100]);
            }),
            ("get_range", &|s| assert_eq!(s.get_range(ObjectKind::Pack, "p", 0, 100).unwrap().len(), 100)),
        ];
        for (what, read) in reads {
            // 100 bytes at 1000 bytes/s: the schedule moves on by 100 ms.
            let moved = booked_by(read);
            assert!(moved >= Duration::from_millis(90), "{what} booked {moved:?}");
        }
    }
}
