//! The owner's client of a site server, called directly: a pack uploaded from its parts, a
//! clock an hour off corrected from the site's answer, a body that is not what was signed
//! refused, a kept listing brought up to date by shard; and the listings commands keep.

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

/// An index object as the site accepts it: named by the BLAKE3 hash of its bytes.
fn put_index(client: &RemoteBackend, body: &[u8]) -> String {
    let name = blake3::hash(body).to_hex().to_string();
    client.put(ObjectKind::Index, &name, body).unwrap();
    name
}

#[test]
fn a_kept_listing_is_brought_up_to_date_by_the_shards_that_changed_only() {
    let env = Env::init();
    let server = SiteServer::start(&env.path("site"), "de", "t1", &owner_key(&env));
    let client = client(&env, &server, "t1");
    for i in 0..600u32 {
        put_index(&client, format!("index {i}").as_bytes());
    }
    let sent = || server.metric("chancery_site_sent_bytes_total");
    let before = sent();
    let whole = client.list(ObjectKind::Index).unwrap();
    let whole_cost = sent() - before;
    assert_eq!(whole.len(), 600);

    // Nothing changed: the digests alone.
    let before = sent();
    assert_eq!(client.relist(ObjectKind::Index, &whole).unwrap(), None, "the kept listing is exact");
    let unchanged_cost = sent() - before;

    // Two objects more, one the kept listing has that the site does not, one of the wrong size.
    let added = [put_index(&client, b"index 600"), put_index(&client, b"index 601")];
    let mut kept = whole.clone();
    kept.push(chancery_store::ObjectInfo { name: "f".repeat(64), size: 1 });
    kept[0].size += 1;
    kept.sort();
    let before = sent();
    let relisted = client.relist(ObjectKind::Index, &kept).unwrap().expect("changed");
    let changed_cost = sent() - before;
    assert_eq!(relisted, client.list(ObjectKind::Index).unwrap(), "as the site lists it now");
    assert!(added.iter().all(|name| relisted.iter().any(|o| &o.name == name)));
    assert_eq!(relisted.len(), 602);

    assert!(unchanged_cost * 10 < whole_cost, "{unchanged_cost} bytes for digests, {whole_cost} whole");
    assert!(
        changed_cost * 3 < whole_cost,
        "{changed_cost} bytes for at most 4 changed shards, {whole_cost} whole"
    );
}

/// The listing a command kept of a site server's objects of a kind, as (name, size).
fn kept_listing(env: &Env, site: &str, kind: &str) -> Vec<(String, u64)> {
    let path = env.path(&format!("home/.chancery/cache/listings/{site}/{kind}"));
    let listed = chancery_protocol::listing::parse_listing(&std::fs::read(path).unwrap()).unwrap();
    listed.into_iter().map(|o| (o.name, o.size)).collect()
}

/// The objects of a kind a site server holds for tenant `ee`, as (name, size).
fn held(server: &SiteServer, kind: &str) -> Vec<(String, u64)> {
    let files = common::objects(&server.data.join("tenants/ee"), kind);
    let name = |p: &std::path::Path| p.file_name().unwrap().to_string_lossy().into_owned();
    files.iter().map(|p| (name(p), std::fs::metadata(p).unwrap().len())).collect()
}

#[test]
fn commands_keep_a_servers_listings_as_they_leave_them() {
    let env = Env::init();
    let servers = common::server::start_servers(
        &env,
        &[("lux", common::LUXEMBOURG, "LU"), ("sto", common::STOCKHOLM, "SE")],
    );
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("register.csv"), noise(50_000, 5)).unwrap();
    env.cmd(&["backup", src.to_str().unwrap()]).assert().success();
    for kind in ["packs", "index", "snapshots", "ledger"] {
        assert_eq!(
            kept_listing(&env, "lux", kind),
            held(&servers[0], kind),
            "{kind}: the backup's own puts kept"
        );
    }
    // A foreign entry in a kept listing is only a guess the next command corrects.
    let packs = env.path("home/.chancery/cache/listings/lux/packs");
    let mut planted = kept_listing(&env, "lux", "packs");
    planted.push(("f".repeat(64), 1));
    let planted: Vec<serde_json::Value> =
        planted.iter().map(|(name, size)| serde_json::json!({"name": name, "size": size})).collect();
    std::fs::write(&packs, serde_json::to_vec(&planted).unwrap()).unwrap();
    std::fs::write(src.join("register.csv"), noise(60_000, 6)).unwrap();
    env.cmd(&["backup", src.to_str().unwrap()]).assert().success();
    assert_eq!(held(&servers[0], "snapshots").len(), 2);
    assert_eq!(kept_listing(&env, "sto", "snapshots"), held(&servers[1], "snapshots"));
    assert_eq!(kept_listing(&env, "lux", "packs"), held(&servers[0], "packs"));
}
