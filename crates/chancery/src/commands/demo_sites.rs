//! The demo's embassies: real site servers (`chancery serve`'s own code, HTTPS with pinned
//! site keys, signed requests) on loopback ports, in this process, stopped when dropped.

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::sync::oneshot;

/// A running site server and what the owner needs to pin it.
pub struct DemoSite {
    /// Its data folder (identity, tenants and their stores).
    pub data: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The site key owners pin, 64 hex.
    pub site_key: String,
}

/// The servers, and the runtime whose worker threads serve them.
pub struct DemoServers {
    pub sites: Vec<DemoSite>,
    stops: Vec<oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// Where a demo site stands.
pub struct Place<'a> {
    pub name: &'a str,
    pub lat: f64,
    pub lon: f64,
    pub jurisdiction: &'a str,
}

impl DemoServers {
    /// Creates each site under `root/sites/<name>`, enrolls `owner_key` as `tenant`, and
    /// starts serving on `127.0.0.1:0`.
    pub fn start(root: &Path, places: &[Place<'_>], tenant: &str, owner_key: &str) -> Result<DemoServers> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let mut servers = DemoServers { sites: Vec::new(), stops: Vec::new(), runtime: None };
        for place in places {
            let data = root.join("sites").join(place.name);
            let site_key =
                chancery_site::init_site(&data, place.name, place.lat, place.lon, place.jurisdiction, 3)?;
            chancery_site::enroll(&data, tenant, owner_key, None)?;
            let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
            let addr: SocketAddr = listener.local_addr()?;
            let (stop, stopped) = oneshot::channel::<()>();
            let served = data.clone();
            runtime.spawn(async move {
                let shutdown = async move {
                    let _ = stopped.await;
                };
                if let Err(e) = chancery_site::run(listener, served, shutdown).await {
                    eprintln!("demo site server stopped: {e:#}");
                }
            });
            servers.stops.push(stop);
            servers.sites.push(DemoSite { data, url: format!("https://{addr}"), site_key });
        }
        servers.runtime = Some(runtime);
        Ok(servers)
    }

    /// The site called `name`.
    pub fn site(&self, name: &str) -> Result<&DemoSite> {
        self.sites.iter().find(|s| s.data.ends_with(name)).with_context(|| format!("no demo site {name}"))
    }
}

impl Drop for DemoServers {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            // Let the graceful shutdowns finish, then stop whatever is left.
            runtime.shutdown_timeout(chancery_site::SHUTDOWN_GRACE);
        }
    }
}
