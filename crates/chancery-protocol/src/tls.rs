//! TLS pinned to the site's Ed25519 key. A site's certificate is self-signed with its site key;
//! an owner accepts a server only if the certificate's public key is the site key it pinned
//! (`site add --site-key`) and the handshake is signed with that key. No CA, no host names.

use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::SigningKey;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

/// The name every site certificate carries. Neither side checks names: the pinned key is the
/// identity (clients send whatever host their URL names as SNI).
pub const SITE_SERVER_NAME: &str = "chancery-site";
/// ALPN: HTTP/2 first, HTTP/1.1 as fall-back.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];
const ED25519_OID: &str = "1.3.101.112";

/// The crypto provider used on both sides (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate for the site key, and the key in PKCS#8.
pub fn site_certificate(
    site_key: &SigningKey,
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), rcgen::Error> {
    let pkcs8 = site_key.to_pkcs8_der().map_err(|_| rcgen::Error::CouldNotParseKeyPair)?;
    let der = PrivatePkcs8KeyDer::from(pkcs8.as_bytes().to_vec());
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ED25519)?;
    let params = rcgen::CertificateParams::new(vec![SITE_SERVER_NAME.to_string()])?;
    let cert = params.self_signed(&key_pair)?;
    Ok((cert.der().clone(), PrivateKeyDer::Pkcs8(der)))
}

/// The server side: HTTP/2 and HTTP/1.1 over TLS 1.3 or 1.2 with the site certificate.
pub fn server_config(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, rustls::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// The owner side: trusts exactly one site key.
pub fn client_config(site_key: [u8; 32]) -> Result<rustls::ClientConfig, rustls::Error> {
    let verifier = Arc::new(PinnedSiteKey { key: site_key, provider: provider() });
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// The public key of an Ed25519 certificate, if it is one.
pub fn certificate_key(cert: &CertificateDer<'_>) -> Option<[u8; 32]> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let spki = &parsed.tbs_certificate.subject_pki;
    if spki.algorithm.algorithm.to_id_string() != ED25519_OID {
        return None;
    }
    spki.subject_public_key.data.as_ref().try_into().ok()
}

/// Accepts only a certificate carrying the pinned site key.
#[derive(Debug)]
struct PinnedSiteKey {
    key: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedSiteKey {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match certificate_key(end_entity) {
            Some(key) if key == self.key => Ok(ServerCertVerified::assertion()),
            Some(key) => Err(rustls::Error::General(format!(
                "site key mismatch: the server presents {}, the pinned key is {}",
                hex::encode(key),
                hex::encode(self.key)
            ))),
            None => Err(rustls::Error::General("site certificate has no Ed25519 key".into())),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_carries_the_site_key() {
        let site = SigningKey::from_bytes(&[5; 32]);
        let (cert, _) = site_certificate(&site).unwrap();
        assert_eq!(certificate_key(&cert), Some(site.verifying_key().to_bytes()));
        let verifier = PinnedSiteKey { key: site.verifying_key().to_bytes(), provider: provider() };
        let name = ServerName::try_from(SITE_SERVER_NAME).unwrap();
        assert!(verifier.verify_server_cert(&cert, &[], &name, &[], UnixTime::now()).is_ok());
        let other = PinnedSiteKey { key: [1; 32], provider: provider() };
        let err = other.verify_server_cert(&cert, &[], &name, &[], UnixTime::now()).unwrap_err();
        assert!(err.to_string().contains("site key mismatch"));
        assert!(server_config(cert, site_certificate(&site).unwrap().1).is_ok());
        assert!(client_config([1; 32]).is_ok());
    }
}
