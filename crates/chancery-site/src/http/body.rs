//! A request body as the frames it arrived in, hashed as they arrive.
//!
//! Why not one buffer: a pack is tens of MiB, and gathering its frames into one allocation
//! costs a copy and fresh pages per request, which on a site that receives from many owners is
//! CPU taken from everything else. The frames are written to disk as they are (vectored), and
//! the BLAKE3 hash that both the signature and the content address need is computed once,
//! while the body is still arriving.

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::auth::MAX_BODY_BYTES;
use super::error::ApiError;

/// A whole request body.
#[derive(Clone, Debug)]
pub(crate) struct RequestBody {
    parts: Vec<Bytes>,
    len: usize,
    hash: blake3::Hash,
}

impl RequestBody {
    /// Reads the whole body, refused (413) as soon as it exceeds [`MAX_BODY_BYTES`].
    pub(crate) async fn read(body: Body) -> Result<Self, ApiError> {
        let mut body = Limited::new(body, MAX_BODY_BYTES);
        let (mut parts, mut len, mut hasher) = (Vec::new(), 0, blake3::Hasher::new());
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                if e.downcast_ref::<LengthLimitError>().is_some() {
                    too_large()
                } else {
                    ApiError::bad_request(format!("could not read the request body: {e}"))
                }
            })?;
            if let Ok(data) = frame.into_data() {
                hasher.update(&data);
                len += data.len();
                parts.push(data);
            }
        }
        Ok(Self { parts, len, hash: hasher.finalize() })
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Its BLAKE3 hash.
    pub(crate) fn hash(&self) -> &blake3::Hash {
        &self.hash
    }

    /// The frames, in order.
    pub(crate) fn slices(&self) -> Vec<&[u8]> {
        self.parts.iter().map(|part| &part[..]).collect()
    }

    /// The body in one buffer (a copy unless it arrived in one frame): for the small bodies
    /// that are parsed (checkpoints, governance acts, `meta` objects).
    pub(crate) fn contiguous(&self) -> Bytes {
        match self.parts.as_slice() {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => many.concat().into(),
        }
    }
}

/// The 413 answer for a body over [`MAX_BODY_BYTES`].
pub(crate) fn too_large() -> ApiError {
    let message = format!("request body larger than {MAX_BODY_BYTES} bytes; nothing was stored");
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message).reason("bad_request")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_are_kept_hashed_and_joined() {
        let frames: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"hello ")),
            Ok(Bytes::from_static(b"")),
            Ok(Bytes::from_static(b"site")),
        ];
        let body = Body::from_stream(futures_util::stream::iter(frames));
        let read = RequestBody::read(body).await.unwrap();
        assert_eq!(read.len(), 10);
        assert_eq!(*read.hash(), blake3::hash(b"hello site"));
        assert_eq!(read.contiguous(), Bytes::from_static(b"hello site"));
        assert_eq!(read.slices().concat(), b"hello site");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused() {
        let body = Body::from(vec![0u8; MAX_BODY_BYTES + 1]);
        let refused = RequestBody::read(body).await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
