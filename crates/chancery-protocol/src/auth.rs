//! Signed requests. Every request to a tenant's data carries the owner's Ed25519 public key, a
//! timestamp, a random nonce and a signature over the canonical request below. The site
//! accepts it only from a key enrolled for that tenant, within [`MAX_CLOCK_SKEW_SECS`] of its
//! own clock, and with a nonce it has not seen in that window, so a replayed request is refused.
//!
//! Canonical request (UTF-8, `\n`-separated, no trailing newline):
//! `chancery-request-v1 | site key (64 hex) | METHOD | path?query | timestamp (decimal unix
//!  seconds) | nonce (32 hex) | BLAKE3 of the body (64 hex)`
//!
//! The site key binds a request to the one site it was made for: a request captured at one
//! site cannot be replayed at another where the same owner key is enrolled.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use rand::RngCore;
use thiserror::Error;

/// Header: the signer's public key, 64 hex digits.
pub const HEADER_KEY: &str = "x-chancery-key";
/// Header: unix seconds when signed.
pub const HEADER_TIME: &str = "x-chancery-time";
/// Header: 16 random bytes, 32 hex digits.
pub const HEADER_NONCE: &str = "x-chancery-nonce";
/// Header: Ed25519 signature, 128 hex digits.
pub const HEADER_SIGNATURE: &str = "x-chancery-signature";
/// Response header on a 401 for a request's time (too far from the site's clock, or from
/// before the server started): the site's clock, unix seconds, so that a client can sign again
/// with a time the site accepts.
pub const HEADER_SERVER_TIME: &str = "x-chancery-server-time";
/// How far a request's time may be from the site's clock.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

const CONTEXT: &str = "chancery-request-v1";

/// The bytes that are signed.
pub fn canonical_request(
    site_key: &[u8; 32],
    method: &str,
    path: &str,
    time: i64,
    nonce: &str,
    body_hash: &blake3::Hash,
) -> Vec<u8> {
    let (site, body_hash) = (hex::encode(site_key), body_hash.to_hex());
    format!("{CONTEXT}\n{site}\n{method}\n{path}\n{time}\n{nonce}\n{body_hash}").into_bytes()
}

/// The four authentication headers for a request.
pub fn sign_request(
    public_key: &[u8; 32],
    site_key: &[u8; 32],
    sign: impl Fn(&[u8]) -> [u8; 64],
    method: &str,
    path: &str,
    body: &[u8],
    now: i64,
) -> [(&'static str, String); 4] {
    sign_request_hashed(public_key, site_key, sign, method, path, &blake3::hash(body), now)
}

/// [`sign_request`] for a body whose BLAKE3 hash the caller already has: a client that signs
/// a request again (with the site's clock) hashes its body once.
pub fn sign_request_hashed(
    public_key: &[u8; 32],
    site_key: &[u8; 32],
    sign: impl Fn(&[u8]) -> [u8; 64],
    method: &str,
    path: &str,
    body_hash: &blake3::Hash,
    now: i64,
) -> [(&'static str, String); 4] {
    let mut nonce = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let nonce = hex::encode(nonce);
    let signature = sign(&canonical_request(site_key, method, path, now, &nonce, body_hash));
    [
        (HEADER_KEY, hex::encode(public_key)),
        (HEADER_TIME, now.to_string()),
        (HEADER_NONCE, nonce),
        (HEADER_SIGNATURE, hex::encode(signature)),
    ]
}

/// Why a request's authentication failed (all are HTTP 401).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthFailure {
    /// A header is absent or not well formed.
    #[error("missing or malformed authentication header {0}")]
    Malformed(&'static str),
    /// The time is too far from the site's clock.
    #[error("request time is {0} s away from the site's clock (allowed: {MAX_CLOCK_SKEW_SECS} s)")]
    ClockSkew(i64),
    /// The signature does not verify.
    #[error("bad request signature")]
    BadSignature,
    /// The nonce was seen before.
    #[error("replayed request")]
    Replayed,
}

/// The authentication headers as received.
#[derive(Debug, Clone, Default)]
pub struct SignedHeaders<'a> {
    /// [`HEADER_KEY`].
    pub key: Option<&'a str>,
    /// [`HEADER_TIME`].
    pub time: Option<&'a str>,
    /// [`HEADER_NONCE`].
    pub nonce: Option<&'a str>,
    /// [`HEADER_SIGNATURE`].
    pub signature: Option<&'a str>,
}

/// A request whose signature verified; the caller still checks the key's enrolment and nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// The signer.
    pub key: [u8; 32],
    /// Its nonce (for the replay cache).
    pub nonce: String,
    /// Its time.
    pub time: i64,
}

/// Checks the headers' form, the clock skew and the signature over the canonical request, given
/// the BLAKE3 hash of the body (the site needs it again to check a content address).
pub fn verify_request(
    headers: &SignedHeaders,
    site_key: &[u8; 32],
    method: &str,
    path: &str,
    body_hash: &blake3::Hash,
    now: i64,
) -> Result<VerifiedRequest, AuthFailure> {
    let key = hex_array::<32>(headers.key).ok_or(AuthFailure::Malformed(HEADER_KEY))?;
    let time: i64 = headers.time.and_then(|t| t.parse().ok()).ok_or(AuthFailure::Malformed(HEADER_TIME))?;
    let nonce = headers
        .nonce
        .filter(|n| n.len() == 32 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or(AuthFailure::Malformed(HEADER_NONCE))?;
    let signature = hex_array::<64>(headers.signature).ok_or(AuthFailure::Malformed(HEADER_SIGNATURE))?;
    if (now - time).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(AuthFailure::ClockSkew(now - time));
    }
    let verifying = VerifyingKey::from_bytes(&key).map_err(|_| AuthFailure::Malformed(HEADER_KEY))?;
    let message = canonical_request(site_key, method, path, time, nonce, body_hash);
    verifying.verify(&message, &Signature::from_bytes(&signature)).map_err(|_| AuthFailure::BadSignature)?;
    Ok(VerifiedRequest { key, nonce: nonce.to_string(), time })
}

fn hex_array<const N: usize>(text: Option<&str>) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text?, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn signed(
        key: &SigningKey,
        method: &str,
        path: &str,
        body: &[u8],
        now: i64,
    ) -> [(&'static str, String); 4] {
        sign_request(
            &key.verifying_key().to_bytes(),
            &SITE,
            |m| key.sign(m).to_bytes(),
            method,
            path,
            body,
            now,
        )
    }

    const SITE: [u8; 32] = [7; 32];

    fn headers<'a>(h: &'a [(&'static str, String); 4]) -> SignedHeaders<'a> {
        SignedHeaders {
            key: Some(&h[0].1),
            time: Some(&h[1].1),
            nonce: Some(&h[2].1),
            signature: Some(&h[3].1),
        }
    }

    #[test]
    fn signed_requests_verify_and_any_change_is_refused() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let h = signed(&key, "PUT", "/v1/tenants/ee/packs/ab", b"body", 1000);
        let ok = verify_request(
            &headers(&h),
            &SITE,
            "PUT",
            "/v1/tenants/ee/packs/ab",
            &blake3::hash(b"body"),
            1010,
        )
        .unwrap();
        assert_eq!(ok.key, key.verifying_key().to_bytes());
        let other_site = verify_request(
            &headers(&h),
            &[8; 32],
            "PUT",
            "/v1/tenants/ee/packs/ab",
            &blake3::hash(b"body"),
            1010,
        );
        assert_eq!(
            other_site,
            Err(AuthFailure::BadSignature),
            "a request made for one site fails at another"
        );
        let bad = |m, p, b: &[u8], now| verify_request(&headers(&h), &SITE, m, p, &blake3::hash(b), now);
        assert_eq!(bad("GET", "/v1/tenants/ee/packs/ab", b"body", 1000), Err(AuthFailure::BadSignature));
        assert_eq!(bad("PUT", "/v1/tenants/xx/packs/ab", b"body", 1000), Err(AuthFailure::BadSignature));
        assert_eq!(bad("PUT", "/v1/tenants/ee/packs/ab", b"bodz", 1000), Err(AuthFailure::BadSignature));
        assert_eq!(bad("PUT", "/v1/tenants/ee/packs/ab", b"body", 2000), Err(AuthFailure::ClockSkew(1000)));
        assert_eq!(
            verify_request(&SignedHeaders::default(), &SITE, "PUT", "/", &blake3::hash(b""), 0),
            Err(AuthFailure::Malformed(HEADER_KEY))
        );
    }
}
