//! [`run`]: the site server as a function of a listener and a shutdown future.
//!
//! Each accepted connection gets a TLS handshake with the site certificate (ALPN `h2`, then
//! `http/1.1`), then hyper serves the router over whichever HTTP version the client speaks.
//! When `shutdown` completes the listener is closed, every connection is asked to finish
//! (HTTP/2 GOAWAY; HTTP/1.1 closes after the request in flight), and `run` returns once they
//! have, or after [`SHUTDOWN_GRACE`]. Meanwhile a task fsyncs the audit journals that hold
//! records of reads every second, and once more before `run` returns, and another moves
//! governance proposals on (locks them, executes them when due).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use chancery_protocol::tls::{server_config, site_certificate};
use ed25519_dalek::SigningKey;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::http::router;
use crate::state::Site;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers (HTTP/1.1).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long requests in flight at shutdown get to finish before `run` returns anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(120);

/// Serves the site in `data` on `listener` over HTTPS until `shutdown` completes, then stops
/// accepting and lets requests in flight finish (see the module docs).
///
/// Fails before serving if `data` is not a site folder or its key or `tenants.toml` is bad.
pub async fn run(
    listener: TcpListener,
    data: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let site = tokio::task::spawn_blocking(move || Site::open(&data)).await.context("opening the site")??;
    let site = Arc::new(site);
    let acceptor = tls_acceptor(&site.key)?;
    let app = router(site.clone());
    let addr = listener.local_addr().context("reading the listening address")?;
    tracing::info!(%addr, site = %site.info.name, site_key = %site.info.site_key, "serving");
    let flusher = tokio::spawn(flush_audit_logs(site.clone()));
    let governor = tokio::spawn(run_governance(site.clone()));
    serve(listener, acceptor, app, site.clone(), shutdown).await;
    flusher.abort();
    governor.abort();
    // The records of the last reads reach the disk before `run` returns.
    let _ = tokio::task::spawn_blocking(move || site.audit.flush()).await;
    Ok(())
}

/// Fsyncs the audit journals that hold records of reads, every `FLUSH_EVERY`.
async fn flush_audit_logs(site: Arc<Site>) {
    let mut tick = tokio::time::interval(crate::audit_log::FLUSH_EVERY);
    loop {
        tick.tick().await;
        let site = site.clone();
        let _ = tokio::task::spawn_blocking(move || site.audit.flush()).await;
    }
}

/// Moves governance proposals on (lock, execute) every `governance_interval()`.
async fn run_governance(site: Arc<Site>) {
    let mut tick = tokio::time::interval(governance_interval());
    loop {
        tick.tick().await;
        let site = site.clone();
        let _ = tokio::task::spawn_blocking(move || {
            crate::governance::run_due(&site, crate::files::unix_now());
        })
        .await;
    }
}

/// How often the executor runs: `CHANCERY_GOVERNANCE_INTERVAL` seconds (tests use 1), else 10.
/// A proposal executes at most this long after its time lock ends.
fn governance_interval() -> Duration {
    let secs = std::env::var("CHANCERY_GOVERNANCE_INTERVAL").ok().and_then(|v| v.parse::<u64>().ok());
    Duration::from_secs(secs.unwrap_or(10).clamp(1, 3600))
}

fn tls_acceptor(key: &SigningKey) -> anyhow::Result<TlsAcceptor> {
    let (cert, private) = site_certificate(key).context("making the site certificate")?;
    let config = server_config(cert, private).context("configuring TLS")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    site: Arc<Site>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let task = connection(stream, peer, acceptor.clone(), app.clone(), site.clone(), graceful.watcher());
                    tokio::spawn(task);
                }
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    tracing::info!(connections = graceful.count(), "shutting down: finishing requests in flight");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; stopping anyway");
    }
    tracing::info!("stopped");
}

/// One client connection: TLS, then HTTP/2 or HTTP/1.1 until it closes or shutdown.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
    site: Arc<Site>,
    watcher: Watcher,
) {
    let _ = stream.set_nodelay(true);
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return handshake_failed(&site, peer, &e.to_string()),
        Err(_) => return handshake_failed(&site, peer, "timed out"),
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
    // Packs are megabytes: let the flow-control windows grow with the connection's
    // bandwidth-delay product instead of pausing every 64 KiB for a window update.
    builder.http2().timer(TokioTimer::new()).adaptive_window(true).max_frame_size(1 << 20);
    let conn = builder.serve_connection(TokioIo::new(tls), TowerToHyperService::new(app));
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}

fn handshake_failed(site: &Site, peer: SocketAddr, why: &str) {
    site.metrics.error("tls_handshake");
    tracing::info!(%peer, "TLS handshake failed: {why}");
}
