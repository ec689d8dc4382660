//! The server's life: graceful shutdown, a kill after an acknowledgement, quotas across
//! restarts, and scrub (with repair by a verified re-upload).

mod common;

use std::time::Duration;

use chancery_protocol::object_path;
use chancery_site::{scrub, CorruptObject};
use common::{enroll, error_of, name_of, now, owner, raw_connection, read_all, site, start, Client};
use reqwest::StatusCode;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_accepting_and_lets_the_request_in_flight_finish() {
    let site = site();
    let mut server = start(&site.data).await;
    let signer = Client::new(server.addr, site.site_key, owner(1));
    let body = vec![5u8; 1 << 20];
    let path = object_path("ee", "packs", &name_of(&body));
    let mut head =
        format!("PUT {path} HTTP/1.1\r\nhost: chancery-site\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in signer.sign("PUT", &path, &body, now()).iter() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str("\r\n");
    let mut stream = raw_connection(server.addr, site.site_key).await;
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    server.trigger();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!server.finished(), "run waits for the request in flight");
    assert!(TcpStream::connect(server.addr).await.is_err(), "no new connections");

    stream.write_all(&body[body.len() / 2..]).await.unwrap();
    stream.flush().await.unwrap();
    let response = read_all(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    server.join().await.unwrap();
}

#[test]
fn an_acknowledged_object_survives_a_killed_server() {
    let site = site();
    let clients = tokio::runtime::Runtime::new().unwrap();
    let _enter = clients.enter();
    let body = vec![9u8; 100_000];
    let name = name_of(&body);

    let doomed = tokio::runtime::Runtime::new().unwrap();
    let server = doomed.block_on(start(&site.data));
    let client = Client::new(server.addr, site.site_key, owner(1));
    let status = clients.block_on(client.put_verified(&site.site_key, "ee", "packs", &name, &body));
    assert_eq!(status, StatusCode::CREATED);
    // Killed: its tasks are dropped wherever they are, nothing shuts down in order.
    doomed.shutdown_background();
    drop(server);

    let next = tokio::runtime::Runtime::new().unwrap();
    let server = next.block_on(start(&site.data));
    let client = Client::new(server.addr, site.site_key, owner(1));
    assert_eq!(clients.block_on(client.get("ee", "packs", &name)), (StatusCode::OK, body));
    let metrics = clients.block_on(async { client.get_public("/metrics").await.text().await.unwrap() });
    assert!(metrics.contains("chancery_site_tenant_stored_bytes{tenant=\"ee\"} 100000"), "{metrics}");
    next.block_on(server.stop()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_is_enforced_and_survives_a_restart() {
    let site = site();
    enroll(&site.data, "small", &owner(4), Some(100));
    let server = start(&site.data).await;
    let client = Client::new(server.addr, site.site_key, owner(4));
    assert_eq!(client.put("small", "packs", &[1; 60]).await.0, StatusCode::CREATED);
    let over = vec![2; 50];
    let response = client.send("PUT", &object_path("small", "packs", &name_of(&over)), over.clone()).await;
    assert_eq!(response.status(), StatusCode::INSUFFICIENT_STORAGE);
    assert!(error_of(response).await.contains("over its quota: 60 of 100 bytes used"));
    assert_eq!(client.get("small", "packs", &name_of(&over)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(client.put("small", "index", &[3; 40]).await.0, StatusCode::CREATED, "exactly full is fine");
    assert_eq!(client.put("small", "packs", &[1; 60]).await.0, StatusCode::OK, "a duplicate costs nothing");
    server.stop().await.unwrap();

    let server = start(&site.data).await;
    let client = Client::new(server.addr, site.site_key, owner(4));
    assert_eq!(client.put("small", "keys", &[4]).await.0, StatusCode::INSUFFICIENT_STORAGE);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrub_finds_a_flipped_byte_and_a_verified_upload_repairs_it() {
    let site = site();
    let server = start(&site.data).await;
    let client = Client::new(server.addr, site.site_key, owner(1));
    let pack = vec![1u8; 5000];
    let (_, pack_name) = client.put("ee", "packs", &pack).await;
    client.put("ee", "packs", &[2u8; 3000]).await;
    client.put("ee", "index", &[3u8; 100]).await;
    client.send("PUT", &object_path("ee", "meta", "config"), b"not hashed".to_vec()).await;
    assert_eq!(scrub(&site.data, None).unwrap().corrupt, vec![]);

    let file = site.data.join("tenants/ee/packs").join(&pack_name[..2]).join(&pack_name);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[1234] ^= 0x10;
    std::fs::write(&file, &bytes).unwrap();
    let report = scrub(&site.data, Some("ee")).unwrap();
    assert_eq!((report.tenants, report.objects, report.bytes), (1, 3, 8100));
    let expected = CorruptObject { tenant: "ee".into(), kind: "packs".into(), name: pack_name.clone() };
    assert_eq!(report.corrupt, vec![expected]);
    assert!(scrub(&site.data, Some("nobody")).is_err());

    let repaired = client.put_verified(&site.site_key, "ee", "packs", &pack_name, &pack).await;
    assert_eq!(repaired, StatusCode::CREATED);
    assert_eq!(scrub(&site.data, None).unwrap().corrupt, vec![]);
    assert_eq!(client.get("ee", "packs", &pack_name).await.1, pack);
    server.stop().await.unwrap();
}
