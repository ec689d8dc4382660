//! The S3 backend against a real S3-compatible server (Garage on loopback): the whole
//! contract, plus what only a shared bucket can show.
#![cfg(feature = "s3")]

use std::cell::Cell;
use std::time::Duration;

use chancery_store::s3::STREAM_BATCH;
use chancery_store::{conformance, Backend, ObjectKind, S3Backend, S3Config, StoreError};
use chancery_testkit::{retry, Garage, REGION};

fn config(garage: &Garage, bucket: &str, prefix: &str) -> S3Config {
    S3Config {
        endpoint: garage.endpoint.clone(),
        region: REGION.into(),
        bucket: bucket.into(),
        prefix: prefix.into(),
        access_key_id: garage.access_key_id.clone(),
    }
}

fn start() -> (Garage, S3Backend) {
    let garage = Garage::start().expect("starting Garage");
    garage.create_bucket("conformance").unwrap();
    let config = config(&garage, "conformance", "");
    let root = retry(Duration::from_secs(30), || S3Backend::open(&config, &garage.secret_access_key));
    (garage, root)
}

#[test]
fn s3_backend_conforms() {
    let (_garage, root) = start();
    // Every store of the suite gets its own prefix of one bucket, as tenants of a site do.
    let counter = Cell::new(0);
    conformance::run_all(&|| {
        counter.set(counter.get() + 1);
        Box::new(root.child(&format!("store{}", counter.get()))) as Box<dyn Backend>
    });
}

#[test]
fn prefixes_keep_stores_apart_and_bad_credentials_are_refused() {
    let (garage, root) = start();
    let (a, b) = (root.child("tenants/a"), root.child("tenants/b"));
    a.put(ObjectKind::Pack, "p1", b"one").unwrap();
    assert_eq!(b.list(ObjectKind::Pack).unwrap(), vec![]);
    assert!(b.get(ObjectKind::Pack, "p1").unwrap_err().is_not_found());
    assert_eq!(root.list(ObjectKind::Pack).unwrap(), vec![], "nested prefixes are not listed");

    let wrong = S3Backend::open(&config(&garage, "conformance", ""), "0000").unwrap_err();
    assert!(matches!(wrong, StoreError::PermissionDenied { .. } | StoreError::Unavailable { .. }), "{wrong}");
    let missing = S3Backend::open(&config(&garage, "no-such-bucket", ""), &garage.secret_access_key);
    assert!(missing.is_err(), "a missing bucket is reported when the backend is opened");
}

/// Garage 2.5 ignores `If-None-Match: *` on PUT (a second create replaces the object), so
/// "never overwrite" rests on the look-up before each put and on the site server serialising
/// writers of one name: one server per prefix. This test records the store's behaviour, so that
/// a Garage upgrade that starts honouring the condition is noticed (then tighten the docs).
#[test]
fn garage_ignores_conditional_creates() {
    use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
    use object_store::{path::Path, ObjectStore, PutMode, PutOptions};
    let (garage, _root) = start();
    let store = AmazonS3Builder::new()
        .with_endpoint(&garage.endpoint)
        .with_region(REGION)
        .with_bucket_name("conformance")
        .with_access_key_id(&garage.access_key_id)
        .with_secret_access_key(&garage.secret_access_key)
        .with_allow_http(true)
        .with_conditional_put(S3ConditionalPut::ETagMatch)
        .build()
        .unwrap();
    let create = || PutOptions { mode: PutMode::Create, ..Default::default() };
    let path = Path::from("race/packs/x");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        store.put_opts(&path, b"first".to_vec().into(), create()).await.unwrap();
        let second = store.put_opts(&path, b"second".to_vec().into(), create()).await;
        assert!(second.is_ok(), "Garage now refuses a second create: {second:?}");
    });
}

/// A large object is streamed a batch at a time, never held whole, and a store that goes away
/// in the middle of the body makes the read fail (once its resumptions fail too) instead of
/// ending it short, and every read after.
#[test]
fn objects_stream_in_batches_and_a_cut_body_is_an_error() {
    use std::io::Read;
    let (garage, root) = start();
    let bytes = chancery_testkit::noise(48 << 20, 5);
    root.put(ObjectKind::Pack, "big", &bytes).unwrap();
    let mut reader = root.get_stream(ObjectKind::Pack, "big").unwrap();
    let (mut read, mut piece) = (Vec::new(), vec![0; 64 << 10]);
    while read.len() < 16 << 20 {
        let n = reader.read(&mut piece).unwrap();
        assert!(n > 0, "the stream ended after {} bytes", read.len());
        read.extend_from_slice(&piece[..n]);
        let held = reader.buffered();
        assert!(held <= 2 * STREAM_BATCH, "{held} bytes held after {} read", read.len());
    }
    assert!(read == bytes[..read.len()], "the streamed bytes differ");

    drop(garage);
    let cut = reader.read_to_end(&mut read).expect_err("a body cut short read as whole");
    assert!(cut.to_string().contains("pack big"), "{cut}");
    assert!(read.len() < bytes.len());
    assert!(reader.read(&mut piece).is_err(), "a read after the failure must fail too");
}
