//! The owner's own copy of its ledger, in `<state>/ledger/`:
//!
//! - `entries`: one line per entry, `base64(entry bytes)\n`, in log order, appended and
//!   fsynced one at a time. A torn last line (a crash mid-append) is ignored and overwritten.
//! - `seen/<site>`: the newest checkpoint note each site has shown or cosigned for us, replaced
//!   atomically. A site that later shows an older one was rolled back.
//! - `pending`: the id of a snapshot being committed, written before its first upload, so that
//!   a run killed between the upload and the ledger entry adds the entry next time.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chancery_ledger::merkle::{consistency_proof, leaf_hash, root};
use chancery_ledger::{Entry, Event, Hash};

use crate::fsutil::write_atomic;

/// The local ledger: every entry, and their leaf hashes.
#[derive(Debug)]
pub struct LocalLedger {
    dir: PathBuf,
    entries: Vec<Entry>,
    leaves: Vec<Hash>,
    /// Bytes of `entries` that hold whole lines (where the next append goes).
    valid_len: u64,
}

impl LocalLedger {
    /// Opens (or starts) the ledger kept in `<state_dir>/ledger`.
    pub fn open(state_dir: &Path) -> Result<LocalLedger> {
        let dir = state_dir.join("ledger");
        let mut ledger = LocalLedger { dir, entries: Vec::new(), leaves: Vec::new(), valid_len: 0 };
        let path = ledger.entries_path();
        let text = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ledger),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        for line in text.split_inclusive(|b| *b == b'\n') {
            let Some(body) = line.strip_suffix(b"\n") else { break };
            let bytes =
                BASE64.decode(body).ok().context("not base64").and_then(|b| Ok((Entry::parse(&b)?, b)));
            let (entry, bytes) = bytes.with_context(|| {
                format!(
                    "{}: entry {} is damaged; restore the file from a site (`chancery ledger verify`)",
                    path.display(),
                    ledger.entries.len()
                )
            })?;
            if entry.index != ledger.size() {
                bail!("{}: entry {} says it is entry {}", path.display(), ledger.size(), entry.index);
            }
            ledger.leaves.push(leaf_hash(&bytes));
            ledger.entries.push(entry);
            ledger.valid_len += line.len() as u64;
        }
        Ok(ledger)
    }

    fn entries_path(&self) -> PathBuf {
        self.dir.join("entries")
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.entries.len() as u64
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The root hash of the first `size` entries.
    pub fn root_at(&self, size: u64) -> Hash {
        root(&self.leaves[..usize::try_from(size).unwrap_or(usize::MAX).min(self.leaves.len())])
    }

    /// The consistency proof from `old` entries to all of them.
    pub fn proof_from(&self, old: u64) -> Vec<Hash> {
        if old == 0 || old >= self.size() {
            return Vec::new();
        }
        consistency_proof(&self.leaves, old).unwrap_or_default()
    }

    /// Appends one entry, durably, and returns it.
    pub fn append(&mut self, event: Event) -> Result<&Entry> {
        let entry = Entry::new(self.size(), unix_now(), event)?;
        self.append_entry(entry)?;
        Ok(self.entries.last().expect("just appended"))
    }

    /// Appends an entry received from a site (already checked against a checkpoint).
    pub fn append_entry(&mut self, entry: Entry) -> Result<()> {
        if entry.index != self.size() {
            bail!("ledger entry {} cannot follow {} entries", entry.index, self.size());
        }
        let bytes = entry.encode();
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        let path = self.entries_path();
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // A torn line left by a crash is overwritten.
        file.set_len(self.valid_len)?;
        file.seek(SeekFrom::Start(self.valid_len))?;
        let line = format!("{}\n", BASE64.encode(&bytes));
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
        if created {
            File::open(&self.dir).and_then(|d| d.sync_all())?;
        }
        self.valid_len += line.len() as u64;
        self.leaves.push(chancery_ledger::merkle::leaf_hash(&bytes));
        self.entries.push(entry);
        Ok(())
    }

    /// The snapshot ids the ledger records, with their entry index.
    pub fn snapshots(&self) -> std::collections::HashMap<String, u64> {
        self.entries
            .iter()
            .filter_map(|e| match &e.event {
                Event::Snapshot(id) => Some((id.clone(), e.index)),
                _ => None,
            })
            .collect()
    }

    /// The newest checkpoint note `site` showed or cosigned, if any.
    pub fn seen(&self, site: &str) -> Result<Option<Vec<u8>>> {
        read_optional(&self.dir.join("seen").join(site))
    }

    /// Remembers the newest checkpoint note `site` showed or cosigned.
    pub fn remember(&self, site: &str, note: &[u8]) -> Result<()> {
        let path = self.dir.join("seen").join(site);
        write_atomic(&path, note).with_context(|| format!("writing {}", path.display()))
    }

    /// The snapshot whose commit was under way when the last run stopped, if any.
    pub fn pending(&self) -> Result<Option<String>> {
        Ok(read_optional(&self.dir.join("pending"))?.map(|b| String::from_utf8_lossy(&b).trim().to_string()))
    }

    /// Notes (or, with `None`, clears) the snapshot being committed.
    pub fn set_pending(&self, snapshot: Option<&str>) -> Result<()> {
        let path = self.dir.join("pending");
        match snapshot {
            Some(id) => write_atomic(&path, format!("{id}\n").as_bytes()),
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
        .with_context(|| format!("writing {}", path.display()))
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => f
            .read_to_end(&mut bytes)
            .map(|_| Some(bytes))
            .with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn appends_survive_a_reopen_and_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = LocalLedger::open(dir.path()).unwrap();
        ledger.append(Event::SiteAdded("lux".into())).unwrap();
        ledger.append(Event::Snapshot(ID.into())).unwrap();
        let root = ledger.root_at(2);
        // A crash in the middle of the next append.
        let path = dir.path().join("ledger/entries");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"Y2hhbmNlcnk").unwrap();
        let mut reopened = LocalLedger::open(dir.path()).unwrap();
        assert_eq!((reopened.size(), reopened.root_at(2)), (2, root));
        assert_eq!(reopened.snapshots()[ID], 1);
        reopened.append(Event::SiteRemoved("lux".into())).unwrap();
        assert_eq!(LocalLedger::open(dir.path()).unwrap().size(), 3);
    }

    #[test]
    fn a_damaged_entry_is_an_error_not_a_shorter_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = LocalLedger::open(dir.path()).unwrap();
        ledger.append(Event::SiteAdded("lux".into())).unwrap();
        ledger.append(Event::SiteAdded("tll".into())).unwrap();
        let path = dir.path().join("ledger/entries");
        let text = std::fs::read_to_string(&path).unwrap().replacen('Y', "Z", 1);
        std::fs::write(&path, text).unwrap();
        assert!(LocalLedger::open(dir.path()).is_err());
    }
}
