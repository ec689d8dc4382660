//! [`S3Reader`]: an S3 object read front to back a batch at a time, resumed where it stopped
//! when the body fails, and checked against the object's size.
//!
//! Why resume: the client's timeout covers a whole request, body included, and a body read as
//! slowly as its consumer goes (a site server streaming to a slow link, a paced `check`) can
//! outlast it; a connection cut mid-body is the same case. The rest is asked for again with a
//! range and the ETag the object had, so that a resumed read is of the same object.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, GetResult, ObjectStore};

use crate::runtime::wait;

/// How much of a body a streamed read gathers per trip to the runtime: large enough that the
/// trips cost nothing next to the bytes (16 per pack), small enough that a check reading
/// several packs at once holds little of each. A batch ends with the chunk that reaches it.
pub const STREAM_BATCH: usize = 1 << 20;

/// Failures in a row, without a byte between them, after which a read gives up.
const RESUMES: u32 = 3;

type BodyStream = BoxStream<'static, object_store::Result<Bytes>>;

/// An S3 object's body read front to back (see [`crate::S3Backend::get_stream`]).
pub struct S3Reader {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    /// The object's size and ETag when it was opened.
    size: u64,
    e_tag: Option<String>,
    /// Bytes received so far, read or not.
    received: u64,
    /// The body being read; `None` between a failure and its resumption, and at the end.
    stream: Option<BodyStream>,
    /// Received and not yet read, in order.
    batch: VecDeque<Bytes>,
    /// Failures since the last byte received.
    failures: u32,
    /// Why the read stopped for good: every later read says it again.
    failed: Option<String>,
    /// The object and where it is, for errors.
    what: String,
}

impl S3Reader {
    /// A reader of the body `got` opened at `path`.
    pub(super) fn new(store: Arc<dyn ObjectStore>, path: ObjectPath, got: GetResult, what: String) -> Self {
        let (size, e_tag) = (got.meta.size, got.meta.e_tag.clone());
        let stream = Some(got.into_stream());
        let batch = VecDeque::new();
        Self { store, path, size, e_tag, received: 0, stream, batch, failures: 0, failed: None, what }
    }

    /// Bytes received and not yet read.
    pub fn buffered(&self) -> usize {
        self.batch.iter().map(Bytes::len).sum()
    }

    /// Fetches the next batch into `self.batch`: `Ok(false)` at the object's end.
    fn fetch(&mut self) -> Result<bool, String> {
        loop {
            if self.received >= self.size {
                self.stream = None;
                return Ok(false);
            }
            let stream = match self.stream.take() {
                Some(stream) => stream,
                None => self.resume()?,
            };
            let (rest, got) = wait(next_batch(stream));
            self.stream = rest;
            let batch = match got {
                Ok(batch) => batch,
                Err(e) => {
                    self.failed_once(&e.to_string())?;
                    continue;
                }
            };
            let bytes: u64 = batch.iter().map(|b| b.len() as u64).sum();
            if bytes == 0 {
                // The body ended before the object's size: ask for the rest.
                self.failed_once("the body ended before the object's size")?;
                continue;
            }
            self.received += bytes;
            if self.received > self.size {
                return Err(format!("more bytes than the object's {} came", self.size));
            }
            (self.batch, self.failures) = (batch, 0);
            return Ok(true);
        }
    }

    /// Counts a failure; the last one allowed is final.
    fn failed_once(&mut self, why: &str) -> Result<(), String> {
        self.stream = None;
        self.failures += 1;
        if self.failures > RESUMES {
            return Err(why.to_string());
        }
        Ok(())
    }

    /// The rest of the body, from the first byte not received, of the same object.
    fn resume(&mut self) -> Result<BodyStream, String> {
        let (store, path) = (self.store.clone(), self.path.clone());
        let options = GetOptions {
            range: Some(GetRange::Bounded(self.received..self.size)),
            if_match: self.e_tag.clone(),
            ..Default::default()
        };
        let opened = wait(async move { store.get_opts(&path, options).await });
        opened.map(GetResult::into_stream).map_err(|e| format!("resuming at byte {}: {e}", self.received))
    }
}

impl io::Read for S3Reader {
    /// Fills `buf` from the batch received (bodies come in chunks of a few KiB), fetching the
    /// next batch only when this one is read.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(why) = &self.failed {
            return Err(io::Error::other(why.clone()));
        }
        if self.batch.is_empty() && !buf.is_empty() {
            match self.fetch() {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                Err(why) => {
                    let why = format!("reading {}: {why}", self.what);
                    self.failed = Some(why.clone());
                    return Err(io::Error::other(why));
                }
            }
        }
        let mut filled = 0;
        while let Some(front) = self.batch.front_mut() {
            let n = front.len().min(buf.len() - filled);
            if n == 0 {
                break;
            }
            buf[filled..filled + n].copy_from_slice(&front.split_to(n));
            filled += n;
            if front.is_empty() {
                self.batch.pop_front();
            }
        }
        Ok(filled)
    }
}

/// The next [`STREAM_BATCH`] bytes or so of `stream` (empty chunks left out), and the stream
/// again unless it ended or failed. Bytes received before a failure are lost with it: the
/// resumed read asks for them again.
async fn next_batch(mut stream: BodyStream) -> (Option<BodyStream>, object_store::Result<VecDeque<Bytes>>) {
    let (mut batch, mut size) = (VecDeque::new(), 0);
    while size < STREAM_BATCH {
        match stream.try_next().await {
            Ok(Some(chunk)) if chunk.is_empty() => {}
            Ok(Some(chunk)) => {
                size += chunk.len();
                batch.push_back(chunk);
            }
            Ok(None) => return (None, Ok(batch)),
            Err(e) => return (None, Err(e)),
        }
    }
    (Some(stream), Ok(batch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::Mutex;

    use object_store::memory::InMemory;
    use object_store::{
        GetResultPayload, ListResult, MultipartUpload, ObjectMeta, PutMultipartOptions, PutOptions,
        PutPayload, PutResult,
    };

    /// How a GET's body goes wrong: it fails, or ends cleanly, after this many bytes.
    #[derive(Clone, Copy, Debug)]
    enum Cut {
        Fail(usize),
        End(usize),
    }

    /// An in-memory store whose next GETs' bodies are cut as listed (then whole again).
    #[derive(Debug, Default)]
    struct Cutting {
        inner: InMemory,
        cuts: Mutex<VecDeque<Cut>>,
    }

    impl std::fmt::Display for Cutting {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Cutting")
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for Cutting {
        async fn put_opts(
            &self,
            at: &ObjectPath,
            p: PutPayload,
            o: PutOptions,
        ) -> object_store::Result<PutResult> {
            self.inner.put_opts(at, p, o).await
        }
        async fn put_multipart_opts(
            &self,
            at: &ObjectPath,
            o: PutMultipartOptions,
        ) -> object_store::Result<Box<dyn MultipartUpload>> {
            self.inner.put_multipart_opts(at, o).await
        }
        async fn get_opts(&self, at: &ObjectPath, options: GetOptions) -> object_store::Result<GetResult> {
            let mut got = self.inner.get_opts(at, options).await?;
            let Some(cut) = self.cuts.lock().unwrap().pop_front() else { return Ok(got) };
            let GetResultPayload::Stream(stream) = got.payload;
            let whole: Vec<Bytes> = stream.try_collect().await?;
            let whole = whole.concat();
            let (keep, fail) = match cut {
                Cut::Fail(n) => (n.min(whole.len()), true),
                Cut::End(n) => (n.min(whole.len()), false),
            };
            let mut chunks: Vec<object_store::Result<Bytes>> =
                whole[..keep].chunks(64 << 10).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            if fail {
                chunks.push(Err(object_store::Error::Generic { store: "Cutting", source: "cut".into() }));
            }
            got.payload = GetResultPayload::Stream(Box::pin(futures::stream::iter(chunks)));
            Ok(got)
        }
        async fn delete(&self, at: &ObjectPath) -> object_store::Result<()> {
            self.inner.delete(at).await
        }
        fn list(&self, prefix: Option<&ObjectPath>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            self.inner.list(prefix)
        }
        async fn list_with_delimiter(&self, prefix: Option<&ObjectPath>) -> object_store::Result<ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }
        async fn copy(&self, from: &ObjectPath, to: &ObjectPath) -> object_store::Result<()> {
            self.inner.copy(from, to).await
        }
        async fn copy_if_not_exists(&self, from: &ObjectPath, to: &ObjectPath) -> object_store::Result<()> {
            self.inner.copy_if_not_exists(from, to).await
        }
    }

    const LEN: usize = 5 << 20;

    /// A store holding `LEN` bytes at "p" whose GETs are cut as `cuts` says, and a reader of it.
    fn reader(cuts: &[Cut]) -> (Arc<Cutting>, Vec<u8>, S3Reader) {
        let store = Arc::new(Cutting::default());
        let bytes: Vec<u8> = (0..LEN).map(|i| (i * 7 % 251) as u8).collect();
        let (at, put) = (ObjectPath::from("p"), store.clone());
        let payload = PutPayload::from(bytes.clone());
        wait(async move { put.put(&at, payload).await }).unwrap();
        store.cuts.lock().unwrap().extend(cuts);
        let (at, get) = (ObjectPath::from("p"), store.clone());
        let got = wait(async move { get.get(&at).await }).unwrap();
        let reader = S3Reader::new(store.clone(), ObjectPath::from("p"), got, "pack p".into());
        (store, bytes, reader)
    }

    #[test]
    fn a_body_cut_or_ended_early_is_resumed_where_it_stopped() {
        let (_, bytes, mut reader) =
            reader(&[Cut::Fail(1_500_000), Cut::End(1_000_000), Cut::Fail(0), Cut::Fail(3)]);
        let mut read = Vec::new();
        reader.read_to_end(&mut read).unwrap();
        assert!(read == bytes, "a resumed read is not the object");
    }

    #[test]
    fn a_body_that_keeps_failing_is_an_error_on_every_read() {
        let (_, _, mut reader) = reader(&[Cut::Fail(100_000), Cut::Fail(0), Cut::Fail(0), Cut::Fail(0)]);
        let mut read = Vec::new();
        let error = reader.read_to_end(&mut read).unwrap_err().to_string();
        assert!(error.starts_with("reading pack p: ") && error.contains("cut"), "{error}");
        assert!(read.len() < LEN);
        assert_eq!(reader.read(&mut [0; 10]).unwrap_err().to_string(), error);
    }

    #[test]
    fn an_object_replaced_meanwhile_is_not_read_on() {
        let (store, _, mut reader) = reader(&[Cut::Fail(3_000_000)]);
        let mut piece = vec![0; 1000];
        reader.read_exact(&mut piece).unwrap();
        let (at, payload) = (ObjectPath::from("p"), PutPayload::from(vec![9u8; LEN]));
        wait(async move { store.put(&at, payload).await }).unwrap();
        let mut rest = Vec::new();
        let error = reader.read_to_end(&mut rest).unwrap_err().to_string();
        assert!(error.contains("resuming at byte"), "{error}");
    }
}
