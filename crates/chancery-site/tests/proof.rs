//! Proofs of storage over real TLS: a range proved against the object's name alone, a copy
//! damaged on disk unable to prove any range (and counted), and the refusals.

mod common;

use chancery_protocol::proof::{verify_proof, ProofError};
use chancery_protocol::proof_path;
use common::{error_of, name_of, owner, site, start, Client};
use reqwest::StatusCode;

/// A 200 KiB pack whose bytes differ from chunk to chunk.
fn pack() -> Vec<u8> {
    (0..200 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8).collect()
}

fn hash_of(name: &str) -> [u8; 32] {
    chancery_protocol::proof::name_hash(name).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_is_proved_against_the_name_alone() {
    let site = site();
    let server = start(&site.data).await;
    let client = Client::new(server.addr, site.site_key, owner(1));
    let body = pack();
    let (_, name) = client.put("ee", "packs", &body).await;
    for (start, len) in [(0, 1024), (150_000, 1024), (204_000, 4096), (300_000, 10)] {
        let response = client.send("GET", &proof_path("ee", "packs", &name, start, len), Vec::new()).await;
        assert_eq!(response.status(), StatusCode::OK);
        let proof = response.bytes().await.unwrap();
        assert!(proof.len() < 8 * 1024, "{} bytes for {len} of a 200 KiB pack", proof.len());
        let got = verify_proof(&proof, &hash_of(&name), start, len).unwrap();
        let (from, to) = ((start as usize).min(body.len()), ((start + len) as usize).min(body.len()));
        assert_eq!(got, body[from..to]);
    }
    let (_, index) = client.put("ee", "index", b"an index file").await;
    let proof = client.send("GET", &proof_path("ee", "index", &index, 0, 1), Vec::new()).await;
    assert_eq!(verify_proof(&proof.bytes().await.unwrap(), &hash_of(&index), 0, 1).unwrap(), b"a");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_copy_proves_no_range_and_is_counted() {
    let site = site();
    let server = start(&site.data).await;
    let client = Client::new(server.addr, site.site_key, owner(1));
    let (_, name) = client.put("ee", "packs", &pack()).await;
    let file = site.data.join(format!("tenants/ee/packs/{}/{name}", &name[..2]));
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[190_000] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    // Far from the flipped byte: the tree made from the damaged copy has another root.
    let proof = client.send("GET", &proof_path("ee", "packs", &name, 0, 1024), Vec::new()).await;
    assert_eq!(proof.status(), StatusCode::OK);
    let proof = proof.bytes().await.unwrap();
    assert_eq!(verify_proof(&proof, &hash_of(&name), 0, 1024), Err(ProofError::Mismatch));
    let metrics = client.get_public("/metrics").await.text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "chancery_site_proofs_total{copy=\"damaged\"} 1"), "{metrics}");
    assert!(metrics.lines().any(|l| l == "chancery_site_proofs_total{copy=\"intact\"} 0"), "{metrics}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors() {
    let site = site();
    let server = start(&site.data).await;
    let client = Client::new(server.addr, site.site_key, owner(1));
    let (_, name) = client.put("ee", "packs", b"a pack").await;
    client.put_verified(&site.site_key, "ee", "meta", "config", b"meta").await;
    let object = chancery_protocol::object_path("ee", "packs", &name);
    for (path, status, says) in [
        (proof_path("ee", "packs", &name_of(b"missing"), 0, 1), StatusCode::NOT_FOUND, "no pack"),
        (proof_path("ee", "meta", "config", 0, 1), StatusCode::BAD_REQUEST, "content-addressed"),
        (proof_path("ee", "packs", &name, 0, 0), StatusCode::BAD_REQUEST, "1 to 1048576"),
        (proof_path("ee", "packs", &name, 0, (1 << 20) + 1), StatusCode::BAD_REQUEST, "1 to 1048576"),
        (format!("{object}/proof/-1/5"), StatusCode::BAD_REQUEST, "decimal"),
        (format!("{object}/proof/0/ten"), StatusCode::BAD_REQUEST, "decimal"),
        (proof_path("ee", "packs", &name, u64::MAX, 2), StatusCode::BAD_REQUEST, "1 to 1048576"),
    ] {
        let response = client.send("GET", &path, Vec::new()).await;
        assert_eq!(response.status(), status, "{path}");
        let error = error_of(response).await;
        assert!(error.contains(says), "{path}: {error}");
    }
    server.stop().await.unwrap();
}
