//! The receipts the owner keeps: per site server, an append-only file in the local state
//! folder where every receipt the site returned is one line (FORMAT.md §14.1). A receipt is
//! the site's signed word that it holds an object durably. With them, `status` can say which
//! snapshots a site has acknowledged in full, without trusting its listings and even while it
//! is unreachable. Local-folder sites give no receipts and have no file.
//!
//! Lines are written as receipts arrive, one `write` each, so a killed process leaves whole
//! lines (at worst a torn last one). The file is fsynced at the site's barriers, before a
//! snapshot object is sent and after, so a machine crash loses at most the receipts written
//! since the last barrier; a torn last line is skipped on reading. Every line is verified
//! again against the site's pinned key when the file is read: the file is local state that
//! anyone with access to this machine could edit, so it is evidence only through the
//! signatures.
//!
//! Checking every signature of a large file takes long (tens of microseconds each), so a
//! reading leaves a note, signed with the owner's key, of the prefix it verified, and the next
//! one checks only the lines added since (`verified`).
//!
//! A receipt can also be lost after the site stored the object: the process killed, the
//! connection cut or the server killed between storing and answering. So each object is named
//! in `<site>.sending` before it is sent; the next backup or sync asks the site about every
//! such object that has no receipt, and sends again only those the site holds, the only way
//! to obtain their receipt (`recover`).

mod keep;
mod line;
mod load;
mod recover;
mod verified;

pub use keep::{KeepReceipts, ReceiptSource};
pub use line::RECEIPTS_VERSION;
pub use load::{Held, Loaded};
pub use recover::recover_receipts;

use crate::config::{valid_site_name, Endpoint, SiteConfig};
use crate::site::OwnerIdentity;
use anyhow::{bail, Context, Result};
use chancery_protocol::receipt::Receipt;
use chancery_store::ObjectKind;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The folder of receipt files inside the owner's state folder.
pub const RECEIPTS_DIR: &str = "receipts";

/// The receipts kept for one site server, and the objects on their way to it.
pub struct SiteReceipts {
    site: String,
    site_key: [u8; 32],
    tenant: String,
    path: PathBuf,
    sending_path: PathBuf,
    /// Signs the note of what has been verified; without it every reading checks every line.
    owner: Option<OwnerIdentity>,
    files: Mutex<Files>,
    problems: Mutex<Vec<String>>,
}

impl std::fmt::Debug for SiteReceipts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SiteReceipts({}: {})", self.site, self.path.display())
    }
}

/// Append handles, opened at the first write.
#[derive(Debug, Default)]
struct Files {
    receipts: Option<File>,
    sending: Option<File>,
    /// The receipts file was created: its name becomes durable at the next `sync`.
    created: bool,
    /// A write since the sending file was last emptied may be at the site without its receipt
    /// kept here: a put failed, or keeping a line or making the file durable did. Under the
    /// same lock as the files, so that no failure slips between the look and the emptying.
    unanswered: bool,
}

impl SiteReceipts {
    /// The receipt files of a site server's configuration in `state_dir`; `None` for a local
    /// folder, which gives no receipts. `owner` lets readings skip what was verified before.
    pub fn for_site(
        state_dir: &Path,
        config: &SiteConfig,
        owner: Option<&OwnerIdentity>,
    ) -> Result<Option<Arc<SiteReceipts>>> {
        let Endpoint::Server { site_key, tenant, .. } = &config.endpoint else {
            return Ok(None);
        };
        if !valid_site_name(&config.name) {
            bail!("site name {:?}: use letters, digits, '-' and '_' only", config.name);
        }
        let site_key = chancery_protocol::parse_public_key("site key", site_key)?;
        let dir = state_dir.join(RECEIPTS_DIR);
        let log = SiteReceipts::new(&dir, &config.name, site_key, tenant).with_owner(owner.cloned());
        Ok(Some(Arc::new(log)))
    }

    /// The files `<dir>/<site>.jsonl` and `<dir>/<site>.sending`, for receipts signed by
    /// `site_key` for `tenant`.
    pub fn new(dir: &Path, site: &str, site_key: [u8; 32], tenant: &str) -> SiteReceipts {
        SiteReceipts {
            site: site.into(),
            site_key,
            tenant: tenant.into(),
            path: dir.join(format!("{site}.jsonl")),
            sending_path: dir.join(format!("{site}.sending")),
            owner: None,
            files: Mutex::default(),
            problems: Mutex::default(),
        }
    }

    /// Lets readings trust the prefix of the file that an earlier reading verified, when a
    /// note signed with this owner's key says so.
    pub fn with_owner(mut self, owner: Option<OwnerIdentity>) -> Self {
        self.owner = owner;
        self
    }

    /// The receipts file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps a receipt (verified by the client against the pinned key). A failure to write
    /// is noted, not raised: the object is at the site either way, and a lost receipt only
    /// makes `status` more cautious.
    pub fn record(&self, receipt: &Receipt) {
        let line = line::encode_receipt(receipt);
        let result = self.append(|files| {
            if files.receipts.is_none() {
                let (file, created) = open_receipts(&self.path, &self.site_key, &self.tenant)?;
                files.created |= created;
                files.receipts = Some(file);
            }
            files.receipts.as_mut().expect("opened").write_all(&line)
        });
        self.note(result, "keeping a receipt in", &self.path);
    }

    /// Notes that an object is about to be sent, so that a receipt lost on the way can be
    /// asked for again.
    pub fn sending(&self, kind: ObjectKind, name: &str) {
        let line = line::encode_sending(kind, name);
        let result = self.append(|files| {
            if files.sending.is_none() {
                files.sending = Some(open_append(&self.sending_path)?);
            }
            files.sending.as_mut().expect("opened").write_all(&line)
        });
        self.note(result, "noting an upload in", &self.sending_path);
    }

    /// The commit barrier: receipts kept so far reach stable storage, the file's name
    /// included when it is new.
    pub fn sync(&self) {
        let result = self.append(|files| {
            if let Some(file) = &files.receipts {
                file.sync_data()?;
            }
            if std::mem::take(&mut files.created) {
                File::open(self.path.parent().expect("a file in a folder"))?.sync_all()?;
            }
            Ok(())
        });
        self.note(result, "making durable", &self.path);
    }

    /// Objects named as sent since the sending file was last emptied, each once.
    pub fn sent(&self) -> Result<Vec<(ObjectKind, String)>> {
        let bytes = read_if_exists(&self.sending_path)?;
        let mut seen = std::collections::HashSet::new();
        Ok(line::complete_lines(&bytes)
            .filter_map(line::parse_sending)
            .filter(|object| seen.insert(object.clone()))
            .collect())
    }

    /// Empties the sending file, once every object named there has its receipt or was
    /// found missing at the site.
    pub fn clear_sent(&self) -> Result<()> {
        let mut files = self.files.lock().expect("receipt files");
        self.empty_sending(&mut files)
    }

    fn empty_sending(&self, files: &mut Files) -> Result<()> {
        let result = match &files.sending {
            Some(file) => file.set_len(0),
            None => match OpenOptions::new().write(true).open(&self.sending_path) {
                Ok(file) => file.set_len(0),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            },
        };
        files.sending = None;
        files.unanswered = false;
        result.with_context(|| format!("emptying {}", self.sending_path.display()))
    }

    /// Notes that a put to the site failed: the site may hold the object without its receipt.
    pub fn unanswered(&self) {
        self.files.lock().expect("receipt files").unanswered = true;
    }

    /// Makes the receipts kept so far durable, then empties the sending file if every object
    /// named there has its receipt: after a commit, and at a command's end. A backup's ledger
    /// objects went out after its commit emptied the file, and the next backup then read the
    /// whole receipts file (4.4 MB per site after 2,000 backups) only to find their receipts.
    pub fn clear_sent_if_answered(&self) -> Result<()> {
        self.sync();
        let mut files = self.files.lock().expect("receipt files");
        if files.unanswered {
            return Ok(());
        }
        self.empty_sending(&mut files)
    }

    /// Problems met while keeping receipts since the last call, for the caller's warnings.
    pub fn take_problems(&self) -> Vec<String> {
        std::mem::take(&mut *self.problems.lock().expect("receipt problems"))
    }

    fn append(&self, write: impl FnOnce(&mut Files) -> std::io::Result<()>) -> std::io::Result<()> {
        write(&mut self.files.lock().expect("receipt files"))
    }

    fn note(&self, result: std::io::Result<()>, doing: &str, path: &Path) {
        if let Err(e) = result {
            self.unanswered();
            let mut problems = self.problems.lock().expect("receipt problems");
            // One message per kind of failure is enough: a full disk fails every line.
            let message = format!(
                "site {}: {doing} {} failed ({e}); status will not count what it was about",
                self.site,
                path.display()
            );
            if !problems.contains(&message) {
                problems.push(message);
            }
        }
    }
}

/// Opens the receipts file for appending. A file begun under another site key or tenant
/// (the site was re-pinned) is set aside, so that the site starts afresh. A torn last line is
/// ended first, so that the next receipt starts on a line of its own.
fn open_receipts(path: &Path, site_key: &[u8; 32], tenant: &str) -> std::io::Result<(File, bool)> {
    if begun_under_other_pin(path, site_key, tenant)? {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let aside = path.with_extension(format!("jsonl.replaced-{}", now.as_secs()));
        std::fs::rename(path, aside)?;
    }
    let created = !path.exists();
    let mut file = open_append(path)?;
    let len = file.metadata()?.len();
    if len > 0 {
        let mut last = [0u8];
        file.seek(SeekFrom::Start(len - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            file.write_all(b"\n")?;
        }
    }
    Ok((file, created))
}

/// Whether the first receipt in the file was signed by another site key or for another
/// tenant. Every line of a file is written under one pinning, so the first one tells.
fn begun_under_other_pin(path: &Path, site_key: &[u8; 32], tenant: &str) -> std::io::Result<bool> {
    let mut head = Vec::new();
    match File::open(path) {
        Ok(file) => file.take(64 * 1024).read_to_end(&mut head)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let first = line::complete_lines(&head).find_map(|l| match line::parse_receipt(l) {
        line::Parsed::Receipt(r) => Some(r),
        _ => None,
    });
    Ok(first.is_some_and(|r| r.site_key != hex::encode(site_key) || r.tenant != tenant))
}

/// Opens a file for appending, created readable by the owner only, like the key files beside
/// it: receipts show when and how much was backed up.
fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).read(true).mode(0o600).open(path)
}

fn read_if_exists(path: &Path) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests;
