//! The server against its contract, `openapi.yaml`: the same routes, and only documented
//! statuses, probed on a live server.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chancery_protocol::object_path;
use common::{enroll, name_of, owner, site, start, Client};
use reqwest::header::RANGE;

type Operation = (String, String);

/// Every documented (METHOD, path) with its documented statuses.
fn documented() -> BTreeMap<Operation, BTreeSet<u16>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    let mut ops = BTreeMap::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, op) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if method == "parameters" {
                continue;
            }
            let statuses =
                op["responses"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().parse().unwrap());
            ops.insert((method.to_uppercase(), path.as_str().unwrap().to_string()), statuses.collect());
        }
    }
    ops
}

#[test]
fn the_served_routes_are_exactly_the_documented_ones() {
    let served: BTreeSet<Operation> =
        chancery_site::ROUTES.iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
    let documented: BTreeSet<Operation> = documented().into_keys().collect();
    assert_eq!(served, documented);
}

/// Who signs a probe.
#[derive(Clone, Copy)]
enum Who {
    Nobody,
    Owner,
    OtherTenant,
    Quota,
}

struct Probe {
    method: &'static str,
    template: &'static str,
    path: String,
    body: Vec<u8>,
    who: Who,
    range: Option<&'static str>,
    expect: u16,
}

fn probe(method: &'static str, template: &'static str, path: String, who: Who, expect: u16) -> Probe {
    Probe { method, template, path, body: Vec::new(), who, range: None, expect }
}

const LIST: &str = "/v1/tenants/{tenant}/{kind}";
const SYNC: &str = "/v1/tenants/{tenant}/sync";
const OBJECT: &str = "/v1/tenants/{tenant}/{kind}/{name}";
const ADD: &str = "/v1/tenants/{tenant}/add-checkpoint";
const CHECKPOINT: &str = "/v1/tenants/{tenant}/checkpoint";
const PROOF: &str = "/v1/tenants/{tenant}/{kind}/{name}/proof/{start}/{len}";
const AUDIT_LOG: &str = "/v1/tenants/{tenant}/audit-log";
const GOVERNANCE: &str = "/v1/tenants/{tenant}/governance";

/// An add-checkpoint body: `leaves` leaves (the last one `last`), signed by `signer` under
/// `origin_of`'s origin, with the consistency proof from `old`.
fn checkpoint_body(origin_of: u8, signer: u8, old: u64, leaves: u8, last: &[u8]) -> Vec<u8> {
    use chancery_ledger::merkle::{consistency_proof, leaf_hash, root};
    use chancery_ledger::{ledger_origin, AddCheckpoint, Checkpoint, Note, NoteSigner};
    let mut hashes: Vec<_> = (0..leaves).map(|i| leaf_hash(&[i])).collect();
    if let Some(l) = hashes.last_mut() {
        *l = leaf_hash(last);
    }
    let origin = ledger_origin(&owner(origin_of).verifying_key().to_bytes());
    let checkpoint = Checkpoint::new(&origin, hashes.len() as u64, root(&hashes)).unwrap();
    let mut note = Note::new(checkpoint.format()).unwrap();
    note.add_signature(NoteSigner::new(&origin, owner(signer)).unwrap().sign(note.text())).unwrap();
    let proof = if old == 0 { vec![] } else { consistency_proof(&hashes, old).unwrap() };
    AddCheckpoint { old_size: old, proof, note }.format().into_bytes()
}

fn witness_probes() -> Vec<Probe> {
    let add = |body: Vec<u8>, who, expect| Probe {
        body,
        ..probe("POST", ADD, "/v1/tenants/ee/add-checkpoint".into(), who, expect)
    };
    let get = |tenant: &str, who, expect| {
        probe("GET", CHECKPOINT, format!("/v1/tenants/{tenant}/checkpoint"), who, expect)
    };
    vec![
        get("ee", Who::Owner, 404),
        add(checkpoint_body(1, 1, 0, 2, b"b"), Who::Owner, 200),
        add(checkpoint_body(1, 1, 2, 2, b"b"), Who::Owner, 200),
        add(checkpoint_body(1, 1, 0, 3, b"c"), Who::Owner, 409),
        add(checkpoint_body(1, 1, 2, 2, b"fork"), Who::Owner, 409),
        add(checkpoint_body(1, 9, 2, 3, b"c"), Who::Owner, 403),
        add(checkpoint_body(7, 7, 2, 3, b"c"), Who::Owner, 404),
        add(b"old 02\n\nnot a note".to_vec(), Who::Owner, 400),
        add(checkpoint_body(1, 1, 2, 3, b"c"), Who::Nobody, 401),
        add(checkpoint_body(1, 1, 2, 3, b"c"), Who::OtherTenant, 403),
        add(
            String::from_utf8(checkpoint_body(1, 1, 1, 3, b"c"))
                .unwrap()
                .replacen("old 1", "old 2", 1)
                .into_bytes(),
            Who::Owner,
            422,
        ),
        get("ee", Who::Owner, 200),
        get("ee", Who::Nobody, 401),
        get("ee", Who::OtherTenant, 403),
        probe(
            "PUT",
            OBJECT,
            object_path("ee", "meta", "witness-checkpoint-00000000000000000009"),
            Who::Owner,
            403,
        ),
    ]
}

fn audit_log_probes() -> Vec<Probe> {
    let get = |query: &str, who, expect| {
        probe("GET", AUDIT_LOG, format!("/v1/tenants/ee/audit-log{query}"), who, expect)
    };
    vec![
        get("", Who::Owner, 200),
        get("?since=3", Who::Owner, 200),
        get("?since=2026-01-02T03:04:05Z", Who::Owner, 200),
        get("?since=yesterday", Who::Owner, 400),
        get("", Who::Nobody, 401),
        get("", Who::OtherTenant, 403),
        probe("PUT", OBJECT, object_path("ee", "meta", "audit-log-00000000000000000000"), Who::Owner, 403),
    ]
}

fn governance_probes() -> Vec<Probe> {
    let path = || "/v1/tenants/ee/governance".to_string();
    vec![
        probe("GET", GOVERNANCE, path(), Who::Owner, 200),
        probe("GET", GOVERNANCE, path(), Who::Nobody, 401),
        probe("GET", GOVERNANCE, path(), Who::OtherTenant, 403),
        Probe { body: b"not a note".to_vec(), ..probe("POST", GOVERNANCE, path(), Who::Owner, 403) },
        probe("POST", GOVERNANCE, path(), Who::Nobody, 401),
        probe("PUT", OBJECT, object_path("ee", "meta", "proposal-00"), Who::Owner, 403),
    ]
}

fn probes() -> Vec<Probe> {
    let pack = b"a pack".to_vec();
    let pack_path = object_path("ee", "packs", &name_of(&pack));
    let missing = object_path("ee", "packs", &name_of(b"missing"));
    let put = |path: String, body: &[u8], who, expect| Probe {
        body: body.to_vec(),
        ..probe("PUT", OBJECT, path, who, expect)
    };
    let ranged = |range, expect| Probe {
        range: Some(range),
        ..probe("GET", OBJECT, pack_path.clone(), Who::Owner, expect)
    };
    let (key, config) = (object_path("ee", "keys", &name_of(b"k")), object_path("ee", "meta", "config"));
    let proof = |path: &str, who, expect| probe("GET", PROOF, format!("{path}/proof/0/4"), who, expect);
    vec![
        probe("GET", "/healthz", "/healthz".into(), Who::Nobody, 200),
        probe("GET", "/metrics", "/metrics".into(), Who::Nobody, 200),
        probe("GET", "/v1/site", "/v1/site".into(), Who::Nobody, 200),
        put(pack_path.clone(), &pack, Who::Owner, 201),
        put(pack_path.clone(), &pack, Who::Owner, 200),
        put(pack_path.clone(), b"other bytes", Who::Owner, 400),
        put(pack_path.clone(), &pack, Who::Nobody, 401),
        put(pack_path.clone(), &pack, Who::OtherTenant, 403),
        put("/v1/tenants/ee/tmp/x".into(), b"", Who::Owner, 404),
        put(config.clone(), b"one", Who::Owner, 201),
        put(config, b"two", Who::Owner, 409),
        put(object_path("tiny", "packs", &name_of(&pack)), &pack, Who::Quota, 507),
        probe("GET", OBJECT, pack_path.clone(), Who::Owner, 200),
        ranged("bytes=1-2", 206),
        ranged("bytes=100-", 416),
        probe("GET", OBJECT, missing.clone(), Who::Owner, 404),
        probe("GET", OBJECT, "/v1/tenants/ee/packs/.x".into(), Who::Owner, 400),
        probe("GET", OBJECT, pack_path.clone(), Who::Nobody, 401),
        probe("GET", OBJECT, pack_path.clone(), Who::OtherTenant, 403),
        probe("HEAD", OBJECT, pack_path.clone(), Who::Owner, 200),
        probe("HEAD", OBJECT, missing, Who::Owner, 404),
        probe("HEAD", OBJECT, "/v1/tenants/ee/packs/.x".into(), Who::Owner, 400),
        probe("HEAD", OBJECT, pack_path.clone(), Who::Nobody, 401),
        probe("HEAD", OBJECT, pack_path.clone(), Who::OtherTenant, 403),
        proof(&pack_path, Who::Owner, 200),
        proof(&object_path("ee", "packs", &name_of(b"missing")), Who::Owner, 404),
        proof("/v1/tenants/ee/meta/config", Who::Owner, 400),
        proof(&pack_path, Who::Nobody, 401),
        proof(&pack_path, Who::OtherTenant, 403),
        put(key.clone(), b"k", Who::Owner, 201),
        probe("DELETE", OBJECT, key.clone(), Who::Nobody, 401),
        probe("DELETE", OBJECT, key.clone(), Who::OtherTenant, 403),
        probe("DELETE", OBJECT, key, Who::Owner, 204),
        probe("DELETE", OBJECT, pack_path, Who::Owner, 405),
        probe("DELETE", OBJECT, "/v1/tenants/ee/tmp/x".into(), Who::Owner, 404),
        probe("DELETE", OBJECT, "/v1/tenants/ee/keys/.x".into(), Who::Owner, 400),
        probe("GET", LIST, "/v1/tenants/ee/packs".into(), Who::Owner, 200),
        probe("GET", LIST, "/v1/tenants/ee/tmp".into(), Who::Owner, 404),
        probe("GET", LIST, "/v1/tenants/ee/packs".into(), Who::Nobody, 401),
        probe("GET", LIST, "/v1/tenants/ee/packs".into(), Who::OtherTenant, 403),
        probe("POST", SYNC, "/v1/tenants/ee/sync".into(), Who::Owner, 204),
        probe("POST", SYNC, "/v1/tenants/ee/sync".into(), Who::Nobody, 401),
        probe("POST", SYNC, "/v1/tenants/ee/sync".into(), Who::OtherTenant, 403),
    ]
    .into_iter()
    .chain(witness_probes())
    .chain(audit_log_probes())
    .chain(governance_probes())
    .collect()
}

async fn send(clients: &[Client; 3], p: &Probe) -> u16 {
    let client = match p.who {
        Who::Nobody | Who::Owner => &clients[0],
        Who::OtherTenant => &clients[1],
        Who::Quota => &clients[2],
    };
    let mut headers = match p.who {
        Who::Nobody => Default::default(),
        _ => client.sign(p.method, &p.path, &p.body, common::now()),
    };
    if let Some(range) = p.range {
        headers.insert(RANGE, range.parse().unwrap());
    }
    client.send_with(p.method, &p.path, p.body.clone(), headers).await.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_the_server_answers_is_documented() {
    let site = site();
    enroll(&site.data, "lv", &owner(2), None);
    enroll(&site.data, "tiny", &owner(3), Some(1));
    let server = start(&site.data).await;
    let clients = [1, 2, 3].map(|seed| Client::new(server.addr, site.site_key, owner(seed)));
    let documented = documented();
    let mut probed = BTreeSet::new();
    for p in probes() {
        let status = send(&clients, &p).await;
        let op = (p.method.to_string(), p.template.to_string());
        assert_eq!(status, p.expect, "{} {}", p.method, p.path);
        assert!(documented[&op].contains(&status), "{status} of {op:?} is not in openapi.yaml");
        probed.insert(op);
    }
    assert_eq!(probed, documented.keys().cloned().collect(), "every documented operation probed");

    // Outside the document: methods and paths that are not served.
    let http = &clients[0].http;
    let base = &clients[0].base;
    for (method, path, expect) in
        [("PATCH", "/healthz", 405), ("POST", "/v1/site", 405), ("GET", "/v2/site", 404)]
    {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let status = http.request(method, format!("{base}{path}")).send().await.unwrap().status();
        assert_eq!(status.as_u16(), expect, "{path}");
    }
    server.stop().await.unwrap();
}
