//! Index files and snapshot objects fetched from site servers, kept in the owner's state folder
//! as the sites store them (encrypted), so that each is fetched once, not by every command.
//!
//! - Index files: a backup, a restore, `ls` and `snapshots` each load every index file, and a
//!   backup loaded them twice (once to find the packs an interrupted run left unindexed, once
//!   for the merged index). A toolchain's index is 2.2 MB; an archive of millions of files has
//!   hundreds of MB of them, fetched from abroad.
//! - Snapshot objects: every command that lists snapshots (a backup, to find its parent; a
//!   restore; `snapshots`; `status`; governance) read each one from each site, one round trip
//!   per snapshot and site. An archive backed up every five minutes holds about 100,000 after
//!   a year. [`SiteCopies`] remembers, per site server, the snapshots whose copy there was
//!   fetched and verified, so that each site's copy is read once, not at every command.
//!
//! An object's name is the hash of its bytes, so a cached copy is used only when it still
//! hashes to its name; any other is removed and fetched again. Nothing here is the only copy of
//! anything: the folder may be removed at any time. `check` and `audit` never read it: they
//! read what the sites hold, and so does the planning of a deletion for index files. A command
//! that reads an object from here no longer notices that a site's copy of it was damaged
//! since; `check` and `audit` do.

use crate::objects::get_verified;
use crate::site::Site;
use anyhow::Result;
use chancery_format::ObjectId;
use chancery_store::ObjectKind;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where index files are kept in an owner's state folder (FORMAT.md §14).
pub const INDEX_CACHE_DIR: &str = "cache/index";
/// Where snapshot objects are kept in an owner's state folder (FORMAT.md §14).
pub const SNAPSHOT_CACHE_DIR: &str = "cache/snapshots";
/// Where [`SiteCopies`] keeps, per site server, the snapshots whose copy there was verified.
pub const SNAPSHOT_COPIES_DIR: &str = "cache/snapshot-copies";

/// The cached objects of one kind of one owner.
#[derive(Clone, Debug)]
pub struct ObjectCache {
    dir: PathBuf,
    kind: ObjectKind,
}

impl ObjectCache {
    /// The cache of index files in an owner's state folder.
    pub fn index(state_dir: &Path) -> Self {
        Self { dir: state_dir.join(INDEX_CACHE_DIR), kind: ObjectKind::Index }
    }

    /// The cache of snapshot objects in an owner's state folder.
    pub fn snapshots(state_dir: &Path) -> Self {
        Self { dir: state_dir.join(SNAPSHOT_CACHE_DIR), kind: ObjectKind::Snapshot }
    }

    fn path(&self, id: &ObjectId) -> PathBuf {
        self.dir.join(id.to_hex())
    }

    /// The bytes of object `id`, verified against its name: the cached copy if it is intact,
    /// else `site`'s, which is then kept when the site is a site server (a local folder is
    /// read as fast as the cache, and would only be copied).
    pub fn get(&self, site: &Site, id: &ObjectId) -> Result<Vec<u8>> {
        if let Some(bytes) = self.cached(id) {
            return Ok(bytes);
        }
        let bytes = get_verified(site, self.kind, id)?;
        if site.server.is_some() {
            self.keep(id, &bytes);
        }
        Ok(bytes)
    }

    /// Keeps object `bytes` that this owner has just written, when one of `sites` is a site
    /// server (the next command would fetch it from there). Kept before any site confirmed
    /// it: an object no site lists is never read, and goes at the next [`Self::retain`].
    pub fn keep_written(&self, sites: &[Site], bytes: &[u8]) {
        if sites.iter().any(|site| site.server.is_some()) {
            self.keep(&ObjectId::of(bytes), bytes);
        }
    }

    /// The cached copy of `id` if it hashes to its name; one that does not is removed, so that
    /// a copy fetched from a local folder (not kept) does not leave it in the way.
    pub fn cached(&self, id: &ObjectId) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.path(id)).ok()?;
        if ObjectId::of(&bytes) != *id {
            let _ = std::fs::remove_file(self.path(id));
            return None;
        }
        Some(bytes)
    }

    /// Keeps a copy, written to a temporary file and renamed into place, so that a reader never
    /// sees half of one. Not synced: a copy a crash damages no longer hashes to its name. A
    /// failure to write is not an error (the object is fetched again next time).
    pub fn keep(&self, id: &ObjectId, bytes: &[u8]) {
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
            tmp.write_all(bytes)?;
            tmp.persist(self.path(id))?;
            Ok(())
        };
        let _ = write();
    }

    /// Removes the cached files not in `listed` (objects no site lists any more, since a
    /// deletion rewrote or removed them, or that only a site out of reach lists) and any other
    /// file (the temporary file of a writer killed, or still writing: its rename then fails,
    /// and the object is fetched again next time).
    pub fn retain(&self, listed: &HashSet<ObjectId>) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let keep = name.to_str().and_then(ObjectId::from_hex).is_some_and(|id| listed.contains(&id));
            if !keep {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The snapshots whose copy at one site server was fetched and found to hash to its name: a
/// listing counts the site as holding them without fetching them again. A site's copy is
/// thus read once (a swapped or withheld one is found then); later damage is for `check` and
/// `audit`. One file per site server: a first line naming the site key and tenant it was
/// written under (a site re-pinned to another server starts afresh), then one id in hex per
/// line. New ids are appended at the end of a listing, in one write; a file with a line of
/// anything else (torn, foreign) is rewritten whole.
pub struct SiteCopies {
    path: PathBuf,
    pin: String,
    ids: HashSet<ObjectId>,
    new: Vec<ObjectId>,
    rewrite: bool,
}

impl SiteCopies {
    /// The copies verified at site server `site` (a name of letters, digits, `-` and `_`)
    /// while it is pinned to `site_key` and `tenant`.
    pub fn load(state_dir: &Path, site: &str, site_key: &str, tenant: &str) -> Self {
        let path = state_dir.join(SNAPSHOT_COPIES_DIR).join(site);
        let pin = format!("{site_key} {tenant}");
        let bytes = std::fs::read(&path).unwrap_or_default();
        let mut lines = bytes.split(|b| *b == b'\n');
        let same_pin = lines.next() == Some(pin.as_bytes());
        let mut copies = Self {
            path,
            pin,
            ids: HashSet::new(),
            new: Vec::new(),
            rewrite: !same_pin || !bytes.ends_with(b"\n"),
        };
        if same_pin {
            for line in lines.filter(|line| !line.is_empty()) {
                match std::str::from_utf8(line).ok().and_then(ObjectId::from_hex) {
                    Some(id) => _ = copies.ids.insert(id),
                    None => copies.rewrite = true,
                }
            }
        }
        copies
    }

    /// Whether the site's copy of `id` was verified before.
    pub fn verified(&self, id: &ObjectId) -> bool {
        self.ids.contains(id)
    }

    /// Remembers that the site's copy of `id` verified (written by [`Self::save`]).
    pub fn record(&mut self, id: ObjectId) {
        if self.ids.insert(id) {
            self.new.push(id);
        }
    }

    /// Writes what [`Self::record`] added, and forgets the snapshots the site no longer lists
    /// (`held`: deleted by governance). A failure to write is not an error (the copies are
    /// fetched again next time).
    pub fn save(&mut self, held: &HashSet<ObjectId>) {
        let before = self.ids.len();
        self.ids.retain(|id| held.contains(id));
        let text = |ids: &mut dyn Iterator<Item = &ObjectId>| -> String {
            ids.map(|id| format!("{}\n", id.to_hex())).collect()
        };
        let _ = if self.rewrite || self.ids.len() < before {
            let whole = format!("{}\n{}", self.pin, text(&mut self.ids.iter()));
            crate::fsutil::write_atomic(&self.path, whole.as_bytes())
        } else if !self.new.is_empty() {
            let lines = text(&mut self.new.iter());
            std::fs::OpenOptions::new()
                .append(true)
                .open(&self.path)
                .and_then(|mut f| f.write_all(lines.as_bytes()))
        } else {
            Ok(())
        };
        self.new.clear();
        self.rewrite = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId([n; 32])
    }

    fn held(ids: &[u8]) -> HashSet<ObjectId> {
        ids.iter().map(|n| id(*n)).collect()
    }

    #[test]
    fn site_copies_are_remembered_per_pinning_and_forgotten_once_not_listed() {
        let state = tempfile::tempdir().unwrap();
        let load = |key: &str| SiteCopies::load(state.path(), "lux", key, "ee");
        let mut copies = load("k1");
        copies.record(id(1));
        copies.record(id(2));
        copies.save(&held(&[1, 2]));
        let mut copies = load("k1");
        assert!(copies.verified(&id(1)) && copies.verified(&id(2)));
        copies.record(id(3));
        copies.save(&held(&[2, 3]));
        let copies = load("k1");
        assert!(!copies.verified(&id(1)) && copies.verified(&id(2)) && copies.verified(&id(3)));
        assert!(!load("k2").verified(&id(2)), "a site re-pinned to another key starts afresh");
        let mut other = load("k2");
        other.record(id(4));
        other.save(&held(&[4]));
        assert!(!load("k1").verified(&id(2)) && load("k2").verified(&id(4)));
    }

    #[test]
    fn a_torn_or_foreign_line_is_skipped_and_the_file_rewritten() {
        let state = tempfile::tempdir().unwrap();
        let path = state.path().join(SNAPSHOT_COPIES_DIR).join("lux");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut text = format!("k1 ee\n{}\n", id(1).to_hex()).into_bytes();
        text.extend_from_slice(b"\xff\xfe not an id\n");
        text.extend_from_slice(&id(2).to_hex().as_bytes()[..30]);
        std::fs::write(&path, &text).unwrap();
        let mut copies = SiteCopies::load(state.path(), "lux", "k1", "ee");
        assert!(copies.verified(&id(1)) && !copies.verified(&id(2)));
        copies.record(id(2));
        copies.save(&held(&[1, 2]));
        let whole = std::fs::read_to_string(&path).unwrap();
        assert_eq!(whole.lines().count(), 3, "{whole}");
        let copies = SiteCopies::load(state.path(), "lux", "k1", "ee");
        assert!(copies.verified(&id(1)) && copies.verified(&id(2)));
    }
}
