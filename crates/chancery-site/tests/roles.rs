//! Roles: each key does only what its roles allow, and a recovery key registered by the owner
//! reads only what recovery needs, until the owner removes it.

mod common;

use chancery_protocol::{list_path, object_path, RECOVERY_KEY_PREFIX};
use chancery_site::{enroll_with, Enrollment, Role};
use common::{error_of, name_of, owner, site, start, Client};
use reqwest::StatusCode;

fn key_hex(seed: u8) -> String {
    hex::encode(owner(seed).verifying_key().to_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_does_only_what_its_roles_allow() {
    let site = site();
    let enrollment = Enrollment {
        tenant: "lv".into(),
        owner_key: key_hex(2),
        owner_roles: Some([Role::Writer].into()),
        keys: vec![(key_hex(3), [Role::Reader].into()), (key_hex(4), [Role::Governor].into())],
        ..Default::default()
    };
    enroll_with(&site.data, &enrollment).unwrap();
    let server = start(&site.data).await;
    let writer = Client::new(server.addr, site.site_key, owner(2));
    let reader = Client::new(server.addr, site.site_key, owner(3));
    let governor = Client::new(server.addr, site.site_key, owner(4));

    let (status, pack) = writer.put("lv", "packs", b"latvian pack").await;
    assert_eq!(status, StatusCode::CREATED);
    // The writer adds but does not read back.
    let read = writer.send("GET", &object_path("lv", "packs", &pack), Vec::new()).await;
    assert_eq!(read.status(), StatusCode::FORBIDDEN);
    assert!(error_of(read).await.contains("needs the role reader"));
    // The reader reads, and cannot write or delete.
    assert_eq!(reader.get("lv", "packs", &pack).await, (StatusCode::OK, b"latvian pack".to_vec()));
    assert_eq!(reader.put("lv", "packs", b"other").await.0, StatusCode::FORBIDDEN);
    let key_file = b"a key file".to_vec();
    assert_eq!(writer.put("lv", "keys", &key_file).await.0, StatusCode::CREATED);
    let path = object_path("lv", "keys", &name_of(&key_file));
    assert_eq!(reader.send("DELETE", &path, Vec::new()).await.status(), StatusCode::FORBIDDEN);
    // A governor alone reads nothing.
    let listing = governor.send("GET", &list_path("lv", "packs"), Vec::new()).await;
    assert_eq!(listing.status(), StatusCode::FORBIDDEN);
    assert_eq!(reader.list("lv", "keys").await.len(), 1, "nothing was deleted");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_recovery_key_reads_keys_ledger_and_meta_only_until_removed() {
    let site = site();
    let server = start(&site.data).await;
    let home = Client::new(server.addr, site.site_key, owner(1));
    let recovery = Client::new(server.addr, site.site_key, owner(7));
    let (_, pack) = home.put("ee", "packs", b"estonian pack").await;
    let key_file = b"wrapped master key".to_vec();
    let (_, key_name) = home.put("ee", "keys", &key_file).await;

    // Not registered yet: unknown.
    assert_eq!(recovery.get("ee", "keys", &key_name).await.0, StatusCode::UNAUTHORIZED);
    let registration = format!("{RECOVERY_KEY_PREFIX}{}", key_hex(7));
    let registered = home.send("PUT", &object_path("ee", "meta", &registration), b"x".to_vec()).await;
    assert_eq!(registered.status(), StatusCode::CREATED);

    assert_eq!(recovery.get("ee", "keys", &key_name).await, (StatusCode::OK, key_file));
    assert_eq!(recovery.list("ee", "keys").await.len(), 1);
    assert_eq!(recovery.get("ee", "packs", &pack).await.0, StatusCode::FORBIDDEN);
    assert_eq!(recovery.put("ee", "keys", b"planted").await.0, StatusCode::FORBIDDEN);
    let planted = recovery.send("PUT", &object_path("ee", "meta", "owner-config-x"), b"x".to_vec()).await;
    assert_eq!(planted.status(), StatusCode::FORBIDDEN);
    // Registered for one tenant only.
    assert_eq!(recovery.get("lv", "keys", &key_name).await.0, StatusCode::UNAUTHORIZED);

    // A malformed registration name is refused; the recovery key cannot remove itself.
    let bad = home.send("PUT", &object_path("ee", "meta", "recovery-key-ABC"), b"x".to_vec()).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let path = object_path("ee", "meta", &registration);
    assert_eq!(recovery.send("DELETE", &path, Vec::new()).await.status(), StatusCode::FORBIDDEN);
    // The owner removes it (a removed password): the key is unknown again.
    assert_eq!(home.send("DELETE", &path, Vec::new()).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(recovery.get("ee", "keys", &key_name).await.0, StatusCode::UNAUTHORIZED);
    // Other meta objects stay append-only.
    let marker = object_path("ee", "meta", "chancery-site");
    assert_eq!(home.send("PUT", &marker, b"m".to_vec()).await.status(), StatusCode::CREATED);
    assert_eq!(home.send("DELETE", &marker, Vec::new()).await.status(), StatusCode::METHOD_NOT_ALLOWED);
    server.stop().await.unwrap();
}
