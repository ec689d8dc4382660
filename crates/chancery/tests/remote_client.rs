//! The owner's client of a site server, called directly: a pack uploaded from its parts, a
//! clock an hour off corrected from the site's answer, a body that is not what was signed
//! refused.

mod common;

use std::sync::Arc;

use chancery_client::{RemoteBackend, RemoteSite};
use chancery_store::{Backend, ObjectKind, SharedParts};
use common::server::{owner_key, SiteServer};
use common::tree::noise;
use common::Env;

fn client(env: &Env, server: &SiteServer, tenant: &str) -> RemoteBackend {
    let archive = chancery_owner::archive::Archive::open(&env.config, common::PASSWORD.as_bytes()).unwrap();
    let identity = chancery_owner::site::OwnerIdentity::from_signing_key(archive.keys.owner_signing_key());
    RemoteBackend::new(RemoteSite {
        url: server.url.clone(),
        site_key: chancery_protocol::parse_public_key("site key", &server.key).unwrap(),
        tenant: tenant.into(),
        owner_key: identity.public_key,
        signer: identity.signer,
    })
    .unwrap()
}

/// A pack as a backup hands it over: parts (one empty) and the hash of their concatenation.
fn pack(parts: Vec<Vec<u8>>) -> (String, Vec<u8>, Arc<SharedParts>) {
    let whole = parts.concat();
    let hash = blake3::hash(&whole);
    (hash.to_hex().to_string(), whole, Arc::new(SharedParts::new(parts, *hash.as_bytes())))
}

#[test]
fn a_pack_goes_up_from_its_parts_with_a_clock_an_hour_off() {
    let env = Env::init();
    let server = SiteServer::start(&env.path("site"), "de", "t1", &owner_key(&env));
    let client = client(&env, &server, "t1").with_clock_offset(-3600);

    let (name, whole, object) =
        pack(vec![b"header".to_vec(), Vec::new(), noise(3 << 20, 1), noise(100_000, 2)]);
    client.put_shared(ObjectKind::Pack, &name, object).unwrap();
    assert!(client.get(ObjectKind::Pack, &name).unwrap() == whole, "the pack came back changed");
    assert_eq!(client.stat(ObjectKind::Pack, &name).unwrap(), Some(whole.len() as u64));
    assert_eq!(client.take_receipts().len(), 1, "the site's receipt verified and kept");

    // The blocking requests learned the clock from the upload's refusal, and agree.
    let index = blake3::hash(b"index").to_hex().to_string();
    client.put(ObjectKind::Index, &index, b"index").unwrap();
    assert_eq!(client.get(ObjectKind::Index, &index).unwrap(), b"index");
}

#[test]
fn a_pack_whose_bytes_are_not_what_was_signed_is_refused_and_not_stored() {
    let env = Env::init();
    let server = SiteServer::start(&env.path("site"), "de", "t1", &owner_key(&env));
    let client = client(&env, &server, "t1");
    let (name, _, signed) = pack(vec![noise(200_000, 3)]);
    let other = Arc::new(SharedParts::new(vec![noise(200_000, 4)], *signed.blake3()));
    let refused = client.put_shared(ObjectKind::Pack, &name, other).unwrap_err();
    assert!(refused.to_string().contains("refused"), "{refused}");
    assert_eq!(client.stat(ObjectKind::Pack, &name).unwrap(), None);
    assert!(client.take_receipts().is_empty());
}
