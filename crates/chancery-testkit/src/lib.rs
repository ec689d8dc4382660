//! Test support that needs real outside programs: a real S3-compatible server (Garage) on
//! loopback, started per test process and stopped when dropped; and [`noise`], test data that
//! does not compress.
//!
//! Garage is not a Rust library dependency of Chancery; it is a program the tests run, built
//! once from crates.io by `.ci/garage` (about 20 minutes on two cores) and cached. Tests find it
//! through `CHANCERY_GARAGE`, then the cache `.ci/garage` fills, then `PATH`. Without it they
//! fail and say how to get it: a silently skipped S3 test would prove nothing.
#![warn(missing_docs)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};

/// The Garage release the tests are written against (and `.ci/garage` builds).
pub const GARAGE_VERSION: &str = "2.5.0";
/// The region name Garage answers to by default.
pub const REGION: &str = "garage";

/// A running single-node Garage with one access key allowed on every bucket it creates.
pub struct Garage {
    child: Child,
    binary: PathBuf,
    config: PathBuf,
    /// Keeps the metadata and data folders (and the log) until the server is gone.
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`: the S3 API.
    pub endpoint: String,
    /// The access key id (`GK` and 24 hex digits).
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: String,
}

/// Where the Garage binary is, or a message saying how to get one.
pub fn garage_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("CHANCERY_GARAGE") {
        return Ok(PathBuf::from(path));
    }
    let cache = cache_dir().join(format!("garage-{GARAGE_VERSION}/bin/garage"));
    if cache.is_file() {
        return Ok(cache);
    }
    if let Some(found) = on_path("garage") {
        return Ok(found);
    }
    bail!(
        "the S3 tests need Garage {GARAGE_VERSION}: run `bash .ci/garage` once (it builds Garage \
         from crates.io into {} in about 20 minutes), or set CHANCERY_GARAGE to a garage binary",
        cache.display()
    )
}

/// The folder `.ci/garage` caches builds in: `$CHANCERY_CI_CACHE`, else `~/.cache/chancery-ci`.
fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CHANCERY_CI_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache/chancery-ci")
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// A free loopback port (bound, then released for the server to take).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Random hex, `bytes` bytes of it.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn getrandom(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(buf)).expect("reading /dev/urandom");
}

impl Garage {
    /// Starts a fresh Garage in a temporary folder and prepares its layout and access key.
    ///
    /// Tried up to three times with new ports: a port picked free can be taken by another
    /// test's server before this one binds it.
    pub fn start() -> anyhow::Result<Garage> {
        let binary = garage_binary()?;
        let mut attempt = 1;
        loop {
            match Self::start_once(&binary) {
                Ok(garage) => return Ok(garage),
                Err(e) if attempt >= 3 => return Err(e),
                Err(_) => attempt += 1,
            }
        }
    }

    fn start_once(binary: &Path) -> anyhow::Result<Garage> {
        let binary = binary.to_path_buf();
        let dir = tempfile::tempdir()?;
        let (rpc, s3, admin) = (free_port()?, free_port()?, free_port()?);
        let config = dir.path().join("garage.toml");
        std::fs::write(&config, config_text(dir.path(), rpc, s3, admin))?;
        let log = std::fs::File::create(dir.path().join("garage.log"))?;
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&config)
            .arg("server")
            .env("RUST_LOG", "garage=warn")
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut garage = Garage {
            child,
            binary,
            config,
            dir,
            endpoint: format!("http://127.0.0.1:{s3}"),
            access_key_id: format!("GK{}", random_hex(12)),
            secret_access_key: random_hex(32),
        };
        garage.prepare().with_context(|| format!("setting up Garage; its log:\n{}", garage.log()))?;
        Ok(garage)
    }

    /// One node, one zone, a capacity; then the access key the tests use.
    fn prepare(&mut self) -> anyhow::Result<()> {
        let node = self.wait_for_node()?;
        self.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node])?;
        self.cli(&["layout", "apply", "--version", "1"])?;
        let (id, secret) = (self.access_key_id.clone(), self.secret_access_key.clone());
        self.cli(&["key", "import", "--yes", "-n", "chancery-tests", &id, &secret])?;
        self.wait_for_s3()
    }

    /// Waits until the S3 API answers requests (any status below 500: an anonymous request
    /// is refused once the node serves, and fails with 5xx while its layout settles).
    fn wait_for_s3(&self) -> anyhow::Result<()> {
        let addr = self.endpoint.trim_start_matches("http://").to_string();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match http_status(&addr) {
                Ok(status) if status < 500 => return Ok(()),
                Ok(_) | Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
                Ok(status) => bail!("the S3 API still answers {status} after 30 s"),
                Err(e) => bail!("the S3 API does not answer after 30 s: {e}"),
            }
        }
    }

    /// Waits until the node answers its RPC, and returns its id.
    fn wait_for_node(&mut self) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("garage exited at start ({status})");
            }
            // `status` goes through the node's RPC port (`node id` only reads a local file).
            if self.cli(&["status"]).is_ok() {
                let out = self.cli(&["node", "id", "-q"])?;
                let id = out.trim().split('@').next().unwrap_or_default().to_string();
                ensure!(!id.is_empty(), "garage printed no node id");
                return Ok(id);
            }
            ensure!(Instant::now() < deadline, "garage did not answer within 30 s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Runs `garage -c CONFIG ARGS...` and returns what it printed.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(&self.binary).arg("-c").arg(&self.config).args(args).output()?;
        ensure!(
            out.status.success(),
            "garage {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Creates `bucket` and lets the test key read, write and own it.
    pub fn create_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        self.cli(&["bucket", "create", bucket])?;
        self.cli(&["bucket", "allow", "--read", "--write", "--owner", bucket, "--key", &self.access_key_id])?;
        Ok(())
    }

    /// The folder Garage keeps its files in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Garage's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("garage.log")).unwrap_or_default()
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status code of an anonymous `GET /` at `addr`.
fn http_status(addr: &str) -> anyhow::Result<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    let code = text.get(9..12).context("a short HTTP answer")?;
    Ok(code.parse()?)
}

fn config_text(dir: &Path, rpc: u16, s3: u16, admin: u16) -> String {
    format!(
        r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
admin_token = "{token}"
"#,
        meta = dir.join("meta").display(),
        data = dir.join("data").display(),
        secret = random_hex(32),
        token = random_hex(16),
    )
}

/// Retries `attempt` until it succeeds or `limit` passes: a fresh Garage needs a moment after
/// its layout is applied before it serves S3 requests.
pub fn retry<T, E: std::fmt::Display>(limit: Duration, mut attempt: impl FnMut() -> Result<T, E>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(e) if Instant::now() >= deadline => panic!("still failing after {limit:?}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// `len` pseudo-random bytes that zstd cannot shrink (xorshift64), the same for the same
/// `seed` and different for different seeds: test data a backup stores without deduplicating
/// or compressing, and that a restore can be compared against.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2).wrapping_add(1); // xorshift needs a non-zero state
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
