//! Shared set-up: a real site in a temporary folder, served over TLS on 127.0.0.1:0, and a
//! small client that pins the site key and signs requests like an owner.
#![allow(dead_code)] // each test file uses its own part of this

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chancery_protocol::auth::sign_request;
use chancery_protocol::receipt::Receipt;
use chancery_protocol::{list_path, object_path};
use ed25519_dalek::{Signer, SigningKey};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::pki_types::ServerName;

/// A site folder with tenant `ee` enrolled for [`owner`]`(1)` (no quota).
pub struct Site {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub site_key: [u8; 32],
}

pub fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("site");
    let key = chancery_site::init_site(&data, "lux-1", 49.61, 6.13, "LU", 3).unwrap();
    let site_key = chancery_protocol::parse_public_key("site key", &key).unwrap();
    enroll(&data, "ee", &owner(1), None);
    Site { dir, data, site_key }
}

/// A deterministic owner key.
pub fn owner(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub fn enroll(data: &Path, tenant: &str, key: &SigningKey, quota: Option<u64>) {
    chancery_site::enroll(data, tenant, &hex::encode(key.verifying_key().to_bytes()), quota).unwrap();
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

/// Starts a server on the current runtime.
pub async fn start(data: &Path) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let task = tokio::spawn(chancery_site::run(listener, data.to_path_buf(), shutdown));
    Server { addr, stop: Some(stop), task }
}

impl Server {
    /// Asks for a graceful shutdown and waits for `run` to return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.trigger();
        tokio::time::timeout(Duration::from_secs(30), self.task).await.expect("run returns").unwrap()
    }

    /// Completes the shutdown future without waiting.
    pub fn trigger(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Whether `run` has returned.
    pub fn finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits for `run` to return, after [`Server::trigger`].
    pub async fn join(self) -> anyhow::Result<()> {
        tokio::time::timeout(Duration::from_secs(30), self.task).await.expect("run returns").unwrap()
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The BLAKE3 hex name of a body.
pub fn name_of(body: &[u8]) -> String {
    blake3::hash(body).to_hex().to_string()
}

/// An owner's view of one site.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub key: SigningKey,
    pub site_key: [u8; 32],
}

impl Client {
    pub fn new(addr: SocketAddr, site_key: [u8; 32], key: SigningKey) -> Self {
        let tls = chancery_protocol::tls::client_config(site_key).unwrap();
        Self::with_tls(addr, tls, key, site_key)
    }

    pub fn with_tls(
        addr: SocketAddr,
        tls: rustls::ClientConfig,
        key: SigningKey,
        site_key: [u8; 32],
    ) -> Self {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Client { http, base: format!("https://{addr}"), key, site_key }
    }

    /// The four signed headers for a request made at `time`.
    pub fn sign(&self, method: &str, path: &str, body: &[u8], time: i64) -> HeaderMap {
        let public = self.key.verifying_key().to_bytes();
        let signed =
            sign_request(&public, &self.site_key, |m| self.key.sign(m).to_bytes(), method, path, body, time);
        signed
            .into_iter()
            .map(|(name, value)| (HeaderName::from_static(name), HeaderValue::from_str(&value).unwrap()))
            .collect()
    }

    /// Sends with the given headers (signed or not).
    pub async fn send_with(&self, method: &str, path: &str, body: Vec<u8>, headers: HeaderMap) -> Response {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let url = format!("{}{path}", self.base);
        self.http.request(method, url).headers(headers).body(body).send().await.unwrap()
    }

    /// Signs now and sends.
    pub async fn send(&self, method: &str, path: &str, body: Vec<u8>) -> Response {
        let headers = self.sign(method, path, &body, now());
        self.send_with(method, path, body, headers).await
    }

    /// PUTs a content-addressed object under its hash; the status and the name.
    pub async fn put(&self, tenant: &str, kind: &str, body: &[u8]) -> (StatusCode, String) {
        let name = name_of(body);
        let response = self.send("PUT", &object_path(tenant, kind, &name), body.to_vec()).await;
        (response.status(), name)
    }

    /// PUTs and checks the receipt against the site key; the status.
    pub async fn put_verified(
        &self,
        site_key: &[u8; 32],
        tenant: &str,
        kind: &str,
        name: &str,
        body: &[u8],
    ) -> StatusCode {
        let response = self.send("PUT", &object_path(tenant, kind, name), body.to_vec()).await;
        let status = response.status();
        assert!(status.is_success(), "PUT {kind}/{name}: {status} {}", response.text().await.unwrap());
        let receipt: Receipt = response.json().await.unwrap();
        assert!(receipt.verify(site_key, tenant, kind, name, body.len() as u64), "receipt {receipt:?}");
        status
    }

    /// GETs an object; the status and bytes.
    pub async fn get(&self, tenant: &str, kind: &str, name: &str) -> (StatusCode, Vec<u8>) {
        let response = self.send("GET", &object_path(tenant, kind, name), Vec::new()).await;
        (response.status(), response.bytes().await.unwrap().to_vec())
    }

    /// The names and sizes of a kind.
    pub async fn list(&self, tenant: &str, kind: &str) -> Vec<(String, u64)> {
        let response = self.send("GET", &list_path(tenant, kind), Vec::new()).await;
        assert_eq!(response.status(), StatusCode::OK);
        let entries: Vec<serde_json::Value> = response.json().await.unwrap();
        entries
            .iter()
            .map(|e| (e["name"].as_str().unwrap().to_string(), e["size"].as_u64().unwrap()))
            .collect()
    }

    /// An unauthenticated GET.
    pub async fn get_public(&self, path: &str) -> Response {
        self.http.get(format!("{}{path}", self.base)).send().await.unwrap()
    }
}

/// The `error` of a JSON error body.
pub async fn error_of(response: Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap();
    body["error"].as_str().unwrap().to_string()
}

/// An HTTP/1.1 connection over pinned TLS, for sending a request in pieces.
pub async fn raw_connection(
    addr: std::net::SocketAddr,
    site_key: [u8; 32],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut config = chancery_protocol::tls::client_config(site_key).unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    connector.connect(ServerName::try_from("chancery-site").unwrap(), tcp).await.unwrap()
}

/// Reads until the server closes the connection (TLS close or not).
pub async fn read_all(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}
