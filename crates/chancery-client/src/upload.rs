//! Uploading a pack as the parts it was built from, never joined into one buffer.
//!
//! Why: the blocking client sends a body from one contiguous buffer, so each uploader joined
//! its pack (16 MiB) into a buffer it kept, on top of the parts; or from a reader, which it
//! copies in 8 KiB pieces (by hand, 1 GiB of random data to a site server on loopback: client
//! peak RSS 115-128 -> 85-94 MiB, but wall 1.65 -> 3.1-4.1 s, system time 0.4-0.6 -> 2.0-2.5
//! s). The async client takes a body of frames: each part goes out as a `Bytes` that shares
//! it, and the body's exact length gives the request its `Content-Length`.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use chancery_store::SharedParts;
use http_body::{Body, Frame, SizeHint};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

/// A pack's parts, in order, as the frames of a request body.
pub(crate) struct PartsBody {
    object: Arc<SharedParts>,
    /// The next part to send, and the bytes from it on.
    next: usize,
    remaining: u64,
}

impl PartsBody {
    pub(crate) fn new(object: Arc<SharedParts>) -> Self {
        let remaining = object.len();
        Self { object, next: 0, remaining }
    }
}

/// One part of a shared object, as the owner of a `Bytes`: the part is not copied.
struct Part {
    object: Arc<SharedParts>,
    index: usize,
}

impl AsRef<[u8]> for Part {
    fn as_ref(&self) -> &[u8] {
        &self.object.parts()[self.index]
    }
}

impl Body for PartsBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        while let Some(part) = this.object.parts().get(this.next) {
            let index = this.next;
            this.next += 1;
            if part.is_empty() {
                continue;
            }
            this.remaining -= part.len() as u64;
            let bytes = Bytes::from_owner(Part { object: this.object.clone(), index });
            return Poll::Ready(Some(Ok(Frame::data(bytes))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// What a site answered to an upload: read whole on the runtime, so that the caller's thread
/// needs nothing async.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Sends `request` with `object` as its body, and reads the answer.
pub(crate) async fn send_parts(
    request: reqwest::RequestBuilder,
    object: Arc<SharedParts>,
) -> Result<Answer, reqwest::Error> {
    let response = request.body(reqwest::Body::wrap(PartsBody::new(object))).send().await?;
    let (status, headers) = (response.status(), response.headers().clone());
    Ok(Answer { status, headers, body: response.bytes().await? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn the_frames_are_the_parts_in_order_with_their_exact_length() {
        let parts = vec![b"head".to_vec(), Vec::new(), b"blob".to_vec(), b"pad".to_vec()];
        let object = Arc::new(SharedParts::new(parts, [0; 32]));
        let body = PartsBody::new(object.clone());
        assert_eq!(body.size_hint().exact(), Some(11));
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let frames = runtime.block_on(async {
            let mut body = body;
            let mut frames = Vec::new();
            while let Some(frame) = body.frame().await {
                frames.push(frame.unwrap().into_data().unwrap());
            }
            assert!(body.is_end_stream());
            frames
        });
        assert_eq!(frames, [&b"head"[..], b"blob", b"pad"]);
        // Shared, not copied: each frame points into its part.
        assert_eq!(frames[1].as_ptr(), object.parts()[2].as_ptr());
    }
}
