//! Reading a receipts file back into the set of objects the site has receipted. Every line
//! must be signed by the site key pinned now for the tenant configured now; signatures are
//! checked on all cores, except in the prefix that the owner's signed note says was checked
//! already (`verified`).

use super::line::{complete_len, kind_of, lines_at, parse_receipt, Parsed};
use super::verified::VerifiedPrefix;
use super::{read_if_exists, SiteReceipts};
use anyhow::Result;
use chancery_format::ObjectId;
use chancery_protocol::receipt::Receipt;
use chancery_store::ObjectKind;
use std::collections::HashSet;

/// The objects a site has receipted, as far as the kept receipts show.
#[derive(Debug, Default)]
pub struct Held {
    objects: HashSet<(ObjectKind, ObjectId)>,
}

impl Held {
    /// Whether the site receipted this object.
    pub fn has(&self, kind: ObjectKind, id: &ObjectId) -> bool {
        self.objects.contains(&(kind, *id))
    }

    /// Whether the site receipted the object of this name (`false` for a name that is no id).
    pub fn has_name(&self, kind: ObjectKind, name: &str) -> bool {
        ObjectId::from_hex(name).is_some_and(|id| self.has(kind, &id))
    }

    /// How many objects the site receipted.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True when the site receipted nothing.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Adds an object, as a verified receipt does.
    pub fn insert(&mut self, kind: ObjectKind, id: ObjectId) {
        self.objects.insert((kind, id));
    }

    /// Adds the object of a verified receipt; a `meta` name is no id and stands for nothing.
    fn add(&mut self, r: &Receipt) {
        if let (Some(kind), Some(id)) = (kind_of(&r.kind), ObjectId::from_hex(&r.name)) {
            self.insert(kind, id);
        }
    }
}

/// A receipts file read back.
#[derive(Debug, Default)]
pub struct Loaded {
    /// What the verified receipts cover.
    pub held: Held,
    /// Lines set aside, in words (not for torn lines: a crash leaves those, and they only
    /// ever lose a receipt).
    pub warnings: Vec<String>,
}

/// One pass over the file's lines.
#[derive(Default)]
struct Scan {
    held: Held,
    /// Pinned receipts past the verified prefix, with the offset of their line.
    unchecked: Vec<(usize, Receipt)>,
    foreign: usize,
    other_version: Option<(usize, u32)>,
    invalid: usize,
    /// Where the first line that did not count starts: the verified prefix ends there.
    first_bad: Option<usize>,
}

impl Scan {
    fn bad_at(&mut self, start: usize) {
        self.first_bad = Some(self.first_bad.map_or(start, |b| b.min(start)));
    }
}

impl SiteReceipts {
    /// Reads and verifies every kept receipt of this site.
    pub fn load(&self) -> Result<Loaded> {
        let bytes = read_if_exists(&self.path)?;
        let note = self.verified_prefix();
        let trusted = note.as_ref().map_or(0, |n| n.trusted(&bytes));
        let mut scan = Scan::default();
        for (start, line) in lines_at(&bytes) {
            match parse_receipt(line) {
                Parsed::Receipt(r) if !self.pinned(&r) => {
                    scan.foreign += 1;
                    scan.bad_at(start);
                }
                Parsed::Receipt(r) if start < trusted => scan.held.add(&r),
                Parsed::Receipt(r) => scan.unchecked.push((start, r)),
                Parsed::OtherVersion(v) => {
                    scan.other_version.get_or_insert((0, v)).0 += 1;
                    scan.bad_at(start);
                }
                Parsed::Unreadable => {}
            }
        }
        self.verify_unchecked(&mut scan);
        let verified_to = scan.first_bad.unwrap_or_else(|| complete_len(&bytes));
        if let Some(note) = note.filter(|_| verified_to > trusted) {
            note.record(&bytes, verified_to);
        }
        let warnings = self.describe(&scan);
        Ok(Loaded { held: scan.held, warnings })
    }

    fn verified_prefix(&self) -> Option<VerifiedPrefix<'_>> {
        Some(VerifiedPrefix {
            path: VerifiedPrefix::path_for(&self.path),
            owner: self.owner.as_ref()?,
            site: &self.site,
            site_key: &self.site_key,
            tenant: &self.tenant,
        })
    }

    /// Signed by the key pinned now, for the tenant configured now (checked before the
    /// signature: receipts of an earlier pinning are expected after a re-pin, not damage).
    fn pinned(&self, r: &Receipt) -> bool {
        r.site_key == hex::encode(self.site_key) && r.tenant == self.tenant
    }

    /// Checks the signatures of the receipts past the verified prefix, on all cores.
    fn verify_unchecked(&self, scan: &mut Scan) {
        let unchecked = std::mem::take(&mut scan.unchecked);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = unchecked.len().div_ceil(threads).max(1);
        let results: Vec<bool> = std::thread::scope(|scope| {
            let workers: Vec<_> = unchecked
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || part.iter().map(|(_, r)| self.verifies(r)).collect::<Vec<_>>())
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().expect("receipt verifier panicked")).collect()
        });
        for ((start, r), ok) in unchecked.iter().zip(results) {
            if ok {
                scan.held.add(r);
            } else {
                scan.invalid += 1;
                scan.bad_at(*start);
            }
        }
    }

    fn verifies(&self, r: &Receipt) -> bool {
        kind_of(&r.kind).is_some() && r.verify(&self.site_key, &self.tenant, &r.kind, &r.name, r.size)
    }

    fn describe(&self, scan: &Scan) -> Vec<String> {
        let (site, path) = (&self.site, self.path.display());
        let mut out = Vec::new();
        if scan.invalid > 0 {
            out.push(format!(
                "site {site}: {} receipt(s) in {path} do not verify against the site's pinned key \
                 (the file was altered or damaged); they are not counted",
                scan.invalid
            ));
        }
        if scan.foreign > 0 {
            out.push(format!(
                "site {site}: {} receipt(s) in {path} are from another site key or tenant (the site \
                 was re-pinned); they are not counted, and the next backup or sync starts a new file",
                scan.foreign
            ));
        }
        if let Some((n, v)) = scan.other_version {
            out.push(format!(
                "site {site}: {n} line(s) in {path} have version {v}, written by another release; \
                 this one reads version {}",
                super::RECEIPTS_VERSION
            ));
        }
        out
    }
}
