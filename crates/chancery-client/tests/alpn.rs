//! The client speaks HTTP/1.1 to a site server, whose TLS offers HTTP/2 first: a real TLS
//! listener with a site certificate records the protocol its handshake agreed on.

use std::net::TcpListener;
use std::sync::Arc;

use chancery_client::{RemoteBackend, RemoteSite};
use chancery_store::{Backend, ObjectKind};
use ed25519_dalek::SigningKey;

/// Accepts one connection, completes the TLS handshake as a site server would, and returns
/// the ALPN protocol agreed on.
fn agreed_protocol(listener: TcpListener, site_key: &SigningKey) -> Option<Vec<u8>> {
    let (cert, key) = chancery_protocol::tls::site_certificate(site_key).unwrap();
    let config = Arc::new(chancery_protocol::tls::server_config(cert, key).unwrap());
    let (mut socket, _) = listener.accept().unwrap();
    let mut tls = rustls::ServerConnection::new(config).unwrap();
    while tls.is_handshaking() {
        tls.complete_io(&mut socket).unwrap();
    }
    tls.alpn_protocol().map(<[u8]>::to_vec)
}

#[test]
fn the_client_agrees_on_http1_with_a_site_that_offers_http2_first() {
    assert_eq!(chancery_protocol::tls::ALPN[0], b"h2", "the site offers HTTP/2 first");
    let site_key = SigningKey::from_bytes(&[7; 32]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let server_key = site_key.clone();
    let server = std::thread::spawn(move || agreed_protocol(listener, &server_key));

    let owner = SigningKey::from_bytes(&[9; 32]);
    let owner_key = owner.verifying_key().to_bytes();
    let site = RemoteSite {
        url,
        site_key: site_key.verifying_key().to_bytes(),
        tenant: "registers".into(),
        owner_key,
        signer: Arc::new(move |message: &[u8]| {
            use ed25519_dalek::Signer;
            owner.sign(message).to_bytes()
        }),
    };
    let backend = RemoteBackend::new(site).unwrap();
    // The listener hangs up after the handshake: the request itself fails.
    assert!(backend.stat(ObjectKind::Meta, "config").is_err());

    assert_eq!(server.join().unwrap().as_deref(), Some(&b"http/1.1"[..]));
}
