//! A whole object sent as it is read from the store, never held whole.
//!
//! Why: a GET of a whole object read it into memory first, so a `check --read-data` through
//! this server held one 16 MiB pack per request in flight (by hand, 1 GiB of random data: the
//! server's peak RSS during the check 100-119 MiB, now 53-68). Now a blocking thread reads the
//! object through `Backend::get_reader` a [`PIECE`] at a time, with at most [`PIECES_AHEAD`]
//! pieces queued for the socket. A client that takes nothing for [`STALLED`] loses its answer,
//! so that a stalled reader holds a blocking thread no longer than that.

use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use chancery_store::ObjectKind;
use http_body::{Frame, SizeHint};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use super::error::ApiError;
use crate::state::TenantStore;

/// How much is read per piece.
pub(crate) const PIECE: usize = 256 << 10;
/// Pieces queued for the socket, at most.
const PIECES_AHEAD: usize = 2;
/// How long a piece may wait for the client before the answer is abandoned.
pub(crate) const STALLED: Duration = Duration::from_secs(120);

/// The body of the whole object `(kind, name)`, of `size` bytes (as the store said a moment
/// ago). An object that cannot be opened is reported now, before the answer starts; one that
/// fails later or turns out shorter than `size` ends the body with an error, so that the
/// client sees a cut connection, never a short object. (Objects never change once stored; one
/// longer than `size` is cut at `size` by the `Content-Length`, and refused if a piece crosses
/// it.)
pub(crate) async fn object_body(
    store: Arc<TenantStore>,
    kind: ObjectKind,
    name: String,
    size: u64,
) -> Result<Body, ApiError> {
    let (opened, was_opened) = oneshot::channel();
    let (pieces, received) = mpsc::channel(PIECES_AHEAD);
    let runtime = Handle::current();
    tokio::task::spawn_blocking(move || match store.backend.get_reader(kind, &name) {
        Ok(mut reader) => {
            let _ = opened.send(Ok(()));
            send_pieces(&mut reader, &pieces, &runtime, STALLED);
        }
        Err(e) => {
            let _ = opened.send(Err(e));
        }
    });
    match was_opened.await {
        Ok(Ok(())) => Ok(Body::new(ObjectBody { received, remaining: size })),
        Ok(Err(e)) => Err(ApiError::storage("reading an object", e)),
        Err(dropped) => Err(ApiError::internal("reading an object", dropped)),
    }
}

/// Reads `reader` to its end in pieces and sends them, or the error that stopped it; stops
/// early when the body is dropped (the client went away) or a piece waits `stalled` for it.
fn send_pieces(
    reader: &mut dyn Read,
    pieces: &mpsc::Sender<io::Result<Bytes>>,
    runtime: &Handle,
    stalled: Duration,
) {
    loop {
        let mut piece = Vec::with_capacity(PIECE);
        let read = reader.take(PIECE as u64).read_to_end(&mut piece);
        let last = !matches!(read, Ok(n) if n > 0);
        let item = match read {
            Ok(0) => return,
            Ok(_) => Ok(Bytes::from(piece)),
            Err(e) => Err(e),
        };
        // The timer is made inside the runtime's context, which `block_on` enters.
        let sent = runtime.block_on(async { tokio::time::timeout(stalled, pieces.send(item)).await });
        if !matches!(sent, Ok(Ok(()))) || last {
            return;
        }
    }
}

/// The pieces as a body of exactly the object's stated size: its length is the response's
/// `Content-Length` and what the server's metrics count as sent.
struct ObjectBody {
    received: mpsc::Receiver<io::Result<Bytes>>,
    remaining: u64,
}

impl http_body::Body for ObjectBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let next = match self.received.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(next) => next,
        };
        Poll::Ready(match next {
            Some(Ok(piece)) if piece.len() as u64 <= self.remaining => {
                self.remaining -= piece.len() as u64;
                Some(Ok(Frame::data(piece)))
            }
            Some(Ok(_)) => Some(Err(io::Error::other("the object grew while it was sent"))),
            Some(Err(e)) => Some(Err(e)),
            None if self.remaining > 0 => Some(Err(io::Error::other("the object ended before its size"))),
            None => None,
        })
    }

    fn is_end_stream(&self) -> bool {
        // Done only once the reader says so, so that a short object is found by polling. (An
        // HTTP/1 connection stops polling after `Content-Length` bytes anyway.)
        false
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::BodyExt;

    /// What a body of stated `size` gives when `reader` is the object: the pieces' lengths,
    /// then the error that ended it, if any.
    fn stream(reader: impl Read + Send + 'static, size: u64) -> (Vec<usize>, Option<String>) {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_time().build().unwrap();
        let handle = runtime.handle().clone();
        runtime.block_on(async {
            let (pieces, received) = mpsc::channel(PIECES_AHEAD);
            let mut reader = Box::new(reader);
            let sender = std::thread::spawn(move || send_pieces(&mut *reader, &pieces, &handle, STALLED));
            let mut body = ObjectBody { received, remaining: size };
            assert_eq!(body.size_hint().exact(), Some(size), "the stated size is the length");
            let mut lengths = Vec::new();
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(frame) => lengths.push(frame.into_data().unwrap().len()),
                    Err(e) => return (lengths, Some(e.to_string())),
                }
            }
            sender.join().unwrap();
            (lengths, None)
        })
    }

    #[test]
    fn an_object_goes_out_in_pieces_of_its_exact_size() {
        let object = vec![7u8; 2 * PIECE + 1000];
        assert_eq!(
            stream(io::Cursor::new(object), (2 * PIECE + 1000) as u64),
            (vec![PIECE, PIECE, 1000], None)
        );
        assert_eq!(stream(io::empty(), 0), (vec![], None));
    }

    #[test]
    fn an_object_shorter_or_longer_than_its_size_ends_in_an_error() {
        let (sent, error) = stream(io::Cursor::new(vec![1u8; PIECE + 5]), (PIECE + 10) as u64);
        assert_eq!(sent, [PIECE, 5]);
        assert!(error.unwrap().contains("ended before its size"));
        let (sent, error) = stream(io::Cursor::new(vec![1u8; PIECE + 5]), PIECE as u64);
        assert_eq!(sent, [PIECE]);
        assert!(error.unwrap().contains("grew"));
    }

    #[test]
    fn a_read_that_fails_ends_the_body_in_its_error() {
        let failing = io::Cursor::new(vec![1u8; PIECE]).chain(FailingRead);
        let (sent, error) = stream(failing, 3 * PIECE as u64);
        assert_eq!(sent, [PIECE]);
        assert!(error.unwrap().contains("disk gone"));
    }

    #[test]
    fn a_client_that_takes_nothing_is_given_up_on() {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_time().build().unwrap();
        let (pieces, received) = mpsc::channel(PIECES_AHEAD);
        let mut object = io::repeat(1).take(100 * PIECE as u64);
        let start = std::time::Instant::now();
        send_pieces(&mut object, &pieces, runtime.handle(), Duration::from_millis(200));
        // The queue filled, then the next piece waited 200 ms for a client that never read.
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(received.len(), PIECES_AHEAD);
    }

    struct FailingRead;

    impl Read for FailingRead {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk gone"))
        }
    }
}
