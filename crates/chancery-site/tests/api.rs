//! The object API over real TLS: storing, reading, ranges, listing, append-only rules, metrics.

mod common;

use chancery_protocol::{list_path, object_path, sync_path};
use common::{error_of, name_of, owner, raw_connection, read_all, site, start, Client};
use reqwest::header::{ALLOW, CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use reqwest::{StatusCode, Version};
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_range_head_list_round_trip_with_verified_receipts() {
    let site = site();
    let server = start(&site.data).await;
    let client = Client::new(server.addr, site.site_key, owner(1));
    let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let name = name_of(&body);
    assert_eq!(client.put_verified(&site.site_key, "ee", "packs", &name, &body).await, StatusCode::CREATED);
    assert_eq!(client.get("ee", "packs", &name).await, (StatusCode::OK, body.clone()));

    let path = object_path("ee", "packs", &name);
    let ranged = |range: &'static str| {
        let headers = client.sign("GET", &path, b"", common::now());
        client.http.get(format!("{}{path}", client.base)).headers(headers).header(RANGE, range).send()
    };
    let part = ranged("bytes=100-199").await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()[CONTENT_RANGE], "bytes 100-199/10000");
    assert_eq!(part.bytes().await.unwrap(), body[100..200]);
    let tail = ranged("bytes=9990-").await.unwrap();
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.unwrap(), body[9990..]);
    let past = ranged("bytes=10000-").await.unwrap();
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.headers()[CONTENT_RANGE], "bytes */10000");

    let head = client.send("HEAD", &path, Vec::new()).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[CONTENT_LENGTH], "10000");
    let missing = client.send("HEAD", &object_path("ee", "packs", &name_of(b"x")), Vec::new()).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(client.get("ee", "packs", &name_of(b"x")).await.0, StatusCode::NOT_FOUND);

    let small = b"index bytes".to_vec();
    let (status, small_name) = client.put("ee", "packs", &small).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut expected = vec![(name, 10_000), (small_name, small.len() as u64)];
    expected.sort();
    assert_eq!(client.list("ee", "packs").await, expected);
    assert!(client.list("ee", "index").await.is_empty());
    assert_eq!(client.send("POST", &sync_path("ee"), Vec::new()).await.status(), StatusCode::NO_CONTENT);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_comes_by_shard_digests_and_by_shards() {
    use chancery_protocol::listing::{parse_listing, parse_shard_reply, shard_digests, shard_of, ShardReply};
    let site = site();
    let server = start(&site.data).await;
    let client = Client::new(server.addr, site.site_key, owner(1));
    let mut stored = Vec::new();
    for i in 0..40u32 {
        let body = format!("object {i}").into_bytes();
        assert_eq!(client.put("ee", "packs", &body).await.0, StatusCode::CREATED);
        stored.push((name_of(&body), body.len() as u64));
    }
    let client = &client;
    let listing = |query: String| async move {
        let response = client.send("GET", &format!("{}?{query}", list_path("ee", "packs")), Vec::new()).await;
        (response.status(), response.bytes().await.unwrap().to_vec())
    };
    let (status, body) = listing("shard_bits=3".into()).await;
    assert_eq!(status, StatusCode::OK);
    let expected = shard_digests(stored.iter().map(|(name, size)| (name.as_str(), *size)), 3);
    assert_eq!(parse_shard_reply(&body, 3).unwrap(), ShardReply::Digests(expected));

    let (status, body) = listing("shard_bits=3&shards=2,5".into()).await;
    assert_eq!(status, StatusCode::OK);
    let mut wanted: Vec<(String, u64)> =
        stored.iter().filter(|(name, _)| [2, 5].contains(&shard_of(name, 3))).cloned().collect();
    wanted.sort();
    let got: Vec<(String, u64)> =
        parse_listing(&body).unwrap().into_iter().map(|o| (o.name, o.size)).collect();
    assert_eq!(got, wanted);
    assert!(!got.is_empty() && got.len() < stored.len());

    for bad in ["shard_bits=13", "shard_bits=3&shards=8", "shard_bits=two"] {
        let (status, body) = listing(bad.into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {}", String::from_utf8_lossy(&body));
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_is_negotiated_and_http1_still_works() {
    let site = site();
    let server = start(&site.data).await;
    let client = Client::new(server.addr, site.site_key, owner(1));
    let response = client.send("GET", &chancery_protocol::list_path("ee", "keys"), Vec::new()).await;
    assert_eq!((response.status(), response.version()), (StatusCode::OK, Version::HTTP_2));

    let mut tls = chancery_protocol::tls::client_config(site.site_key).unwrap();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let old = Client::with_tls(server.addr, tls, owner(1), site.site_key);
    let (status, name) = old.put("ee", "packs", b"over http/1.1").await;
    assert_eq!(status, StatusCode::CREATED);
    let head = old.send("HEAD", &object_path("ee", "packs", &name), Vec::new()).await;
    assert_eq!((head.status(), head.version()), (StatusCode::OK, Version::HTTP_11));
    assert_eq!(head.headers()[CONTENT_LENGTH], "13");
    let response = old.get_public("/healthz").await;
    assert_eq!(response.version(), Version::HTTP_11);
    assert_eq!(response.text().await.unwrap(), "ok");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_hash_to_its_name_is_refused_and_nothing_stored() {
    let site = site();
    let server = start(&site.data).await;
    let client = Client::new(server.addr, site.site_key, owner(1));
    let name = name_of(b"what the owner meant");
    let response = client.send("PUT", &object_path("ee", "packs", &name), b"what arrived".to_vec()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(error_of(response).await.contains("nothing was stored"));
    assert_eq!(client.get("ee", "packs", &name).await.0, StatusCode::NOT_FOUND);
    let packs = site.data.join("tenants/ee/packs");
    assert_eq!(std::fs::read_dir(packs).unwrap().count(), 0, "no file, no fan-out folder");
    let bad_name = client.send("PUT", "/v1/tenants/ee/packs/.hidden", Vec::new()).await;
    assert_eq!(bad_name.status(), StatusCode::BAD_REQUEST);
    let bad_kind = client.send("PUT", "/v1/tenants/ee/tmp/abc", Vec::new()).await;
    assert_eq!(bad_kind.status(), StatusCode::NOT_FOUND);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_objects_are_never_overwritten() {
    let site = site();
    let server = start(&site.data).await;
    let client = Client::new(server.addr, site.site_key, owner(1));
    let body = b"pack".to_vec();
    let name = name_of(&body);
    assert_eq!(client.put_verified(&site.site_key, "ee", "packs", &name, &body).await, StatusCode::CREATED);
    assert_eq!(client.put_verified(&site.site_key, "ee", "packs", &name, &body).await, StatusCode::OK);

    let config = object_path("ee", "meta", "chancery-site");
    assert_eq!(
        client.put_verified(&site.site_key, "ee", "meta", "chancery-site", b"v1").await,
        StatusCode::CREATED
    );
    assert_eq!(
        client.put_verified(&site.site_key, "ee", "meta", "chancery-site", b"v1").await,
        StatusCode::OK
    );
    let conflict = client.send("PUT", &config, b"v2, longer".to_vec()).await;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    assert!(error_of(conflict).await.contains("never overwritten"));
    assert_eq!(client.get("ee", "meta", "chancery-site").await.1, b"v1");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packs_cannot_be_deleted_but_key_files_can() {
    let site = site();
    let server = start(&site.data).await;
    let client = Client::new(server.addr, site.site_key, owner(1));
    let (_, pack) = client.put("ee", "packs", b"pack").await;
    let refused = client.send("DELETE", &object_path("ee", "packs", &pack), Vec::new()).await;
    assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(refused.headers()[ALLOW], "GET, HEAD, PUT");
    assert!(error_of(refused).await.contains("deletion needs governance"));
    assert_eq!(client.get("ee", "packs", &pack).await.0, StatusCode::OK);

    let (_, key) = client.put("ee", "keys", b"wrapped key").await;
    let deleted = client.send("DELETE", &object_path("ee", "keys", &key), Vec::new()).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(client.get("ee", "keys", &key).await.0, StatusCode::NOT_FOUND);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_and_storage_and_the_site_describes_itself() {
    let site = site();
    let server = start(&site.data).await;
    let client = Client::new(server.addr, site.site_key, owner(1));
    client.put("ee", "packs", &[7; 1234]).await;
    client.put("ee", "keys", &[8; 66]).await;
    client.send("GET", "/v1/tenants/ee/packs", Vec::new()).await;
    Client::new(server.addr, site.site_key, owner(9)).send("GET", "/v1/tenants/ee/packs", Vec::new()).await;

    let metrics = client.get_public("/metrics").await.text().await.unwrap();
    for line in [
        "chancery_site_requests_total{method=\"PUT\",status=\"201\"} 2",
        "chancery_site_requests_total{method=\"GET\",status=\"401\"} 1",
        "chancery_site_tenant_stored_bytes{tenant=\"ee\"} 1300",
        "chancery_site_errors_total{reason=\"unauthenticated\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "no {line:?} in\n{metrics}");
    }
    assert!(metrics.contains("chancery_site_received_bytes_total 1300"), "{metrics}");
    assert!(metrics.contains("chancery_site_request_duration_seconds_count "), "{metrics}");

    let info: chancery_site::SiteInfo = client.get_public("/v1/site").await.json().await.unwrap();
    assert_eq!(info, chancery_site::site_info(&site.data).unwrap());
    assert_eq!(info.site_key, hex::encode(site.site_key));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_refused_before_it_is_read() {
    let site = site();
    let server = start(&site.data).await;
    let path = object_path("ee", "packs", &name_of(b"huge"));
    let length = chancery_site::MAX_BODY_BYTES + 1;
    let mut stream = raw_connection(server.addr, site.site_key).await;
    let head = format!("PUT {path} HTTP/1.1\r\nhost: chancery-site\r\ncontent-length: {length}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    let response = read_all(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("nothing was stored"), "{response}");
    server.stop().await.unwrap();
}
