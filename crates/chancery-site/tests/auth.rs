//! Who may do what: signatures, enrolment, tenants kept apart, replays, and the pinned key.

mod common;

use chancery_protocol::{list_path, object_path};
use common::{enroll, error_of, name_of, now, owner, site, start, Client};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_and_unsigned_requests_are_unauthenticated() {
    let site = site();
    let server = start(&site.data).await;
    let stranger = Client::new(server.addr, site.site_key, owner(9));
    let response = stranger.send("GET", &list_path("ee", "packs"), Vec::new()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(error_of(response).await.contains("not enrolled at this site"));
    let (status, _) = stranger.put("ee", "packs", b"x").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let unsigned =
        stranger.http.get(format!("{}{}", stranger.base, list_path("ee", "packs"))).send().await.unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    assert!(error_of(unsigned).await.contains("x-chancery-key"));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_key_is_forbidden_and_its_data_unchanged() {
    let site = site();
    enroll(&site.data, "lv", &owner(2), None);
    let server = start(&site.data).await;
    let ee = Client::new(server.addr, site.site_key, owner(1));
    let lv = Client::new(server.addr, site.site_key, owner(2));
    let (_, pack) = ee.put("ee", "packs", b"estonian pack").await;
    let before = ee.list("ee", "packs").await;

    let read = lv.send("GET", &object_path("ee", "packs", &pack), Vec::new()).await;
    assert_eq!(read.status(), StatusCode::FORBIDDEN);
    assert_eq!(lv.put("ee", "packs", b"latvian pack").await.0, StatusCode::FORBIDDEN);
    assert_eq!(lv.send("GET", &list_path("ee", "packs"), Vec::new()).await.status(), StatusCode::FORBIDDEN);
    // A tenant that does not exist looks the same: nothing is learnt.
    assert_eq!(
        lv.send("GET", &list_path("nobody", "packs"), Vec::new()).await.status(),
        StatusCode::FORBIDDEN
    );

    assert_eq!(ee.list("ee", "packs").await, before);
    assert_eq!(ee.get("ee", "packs", &pack).await.1, b"estonian pack");
    assert_eq!(lv.put("lv", "packs", b"latvian pack").await.0, StatusCode::CREATED);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_tampered_and_stale_requests_are_refused() {
    let site = site();
    let server = start(&site.data).await;
    let client = Client::new(server.addr, site.site_key, owner(1));
    let body = b"pack".to_vec();
    let path = object_path("ee", "packs", &name_of(&body));

    let headers = client.sign("PUT", &path, &body, now());
    assert_eq!(
        client.send_with("PUT", &path, body.clone(), headers.clone()).await.status(),
        StatusCode::CREATED
    );
    let replay = client.send_with("PUT", &path, body.clone(), headers).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert!(error_of(replay).await.contains("replayed"));

    let other = b"another pack".to_vec();
    let other_path = object_path("ee", "packs", &name_of(&other));
    let signed_for_empty = client.sign("PUT", &other_path, b"", now());
    let tampered = client.send_with("PUT", &other_path, other.clone(), signed_for_empty).await;
    assert_eq!(tampered.status(), StatusCode::UNAUTHORIZED);
    assert!(error_of(tampered).await.contains("bad request signature"));
    assert_eq!(client.get("ee", "packs", &name_of(&other)).await.0, StatusCode::NOT_FOUND);

    let stale = client.sign("PUT", &other_path, &other, now() - 1000);
    let response = client.send_with("PUT", &other_path, other.clone(), stale).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_server_time(&response);
    assert!(error_of(response).await.contains("clock"));
    assert_eq!(client.put("ee", "packs", &other).await.0, StatusCode::CREATED, "a fresh signature works");

    // The nonce cache is in memory: a request signed before the server started is refused,
    // so nothing captured before a restart can be replayed after it.
    let before_start = client.sign("PUT", &other_path, &other, now() - 60);
    let response = client.send_with("PUT", &other_path, other.clone(), before_start).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_server_time(&response);
    assert!(error_of(response).await.contains("before this server started"));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_pinning_another_site_key_fails_the_handshake() {
    let site = site();
    let server = start(&site.data).await;
    let wrong = owner(42).verifying_key().to_bytes();
    let client = Client::new(server.addr, wrong, owner(1));
    let error = client.http.get(format!("{}/healthz", client.base)).send().await.unwrap_err();
    let chain = std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source())
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    assert!(chain.contains("site key mismatch"), "{chain}");
    // The server sees the client's alert a moment later: poll briefly.
    let good = Client::new(server.addr, site.site_key, owner(1));
    let counted = "chancery_site_errors_total{reason=\"tls_handshake\"} 1";
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = good.get_public("/metrics").await.text().await.unwrap();
        if metrics.contains(counted) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(metrics.contains(counted), "{metrics}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_enrolled_while_running_is_admitted() {
    let site = site();
    let server = start(&site.data).await;
    let newcomer = Client::new(server.addr, site.site_key, owner(3));
    assert_eq!(newcomer.put("lt", "packs", b"x").await.0, StatusCode::UNAUTHORIZED);
    enroll(&site.data, "lt", &owner(3), None);
    assert_eq!(newcomer.put("lt", "packs", b"x").await.0, StatusCode::CREATED);
    assert_eq!(newcomer.list("lt", "packs").await.len(), 1);
    server.stop().await.unwrap();
}

/// A refusal for the request's time tells the site's clock, so that the client can sign again.
fn assert_server_time(response: &reqwest::Response) {
    let header = response.headers().get(chancery_protocol::auth::HEADER_SERVER_TIME);
    let time: i64 = header.expect("x-chancery-server-time").to_str().unwrap().parse().unwrap();
    assert!((time - now()).abs() <= 5, "server time {time}, now {}", now());
}
