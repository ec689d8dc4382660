//! `audit`: proof of storage. The owner picks packs a site should hold at random, without
//! replacement, and one random 1 KiB chunk of each, and has the site prove that chunk against
//! the pack's name (a Bao slice of BLAKE3's hash tree, `chancery_protocol::proof`). A site that
//! dropped or altered packs fails without the owner downloading them: a sample costs about
//! 2 KiB, whatever the pack's size.
//!
//! Which packs a site should hold: every pack of the merged index that is listed in an index
//! file the site holds, or that the site receipted. Packs the site was never given (it lags;
//! `sync` catches it up) are counted apart, not failed. Each pack's length comes from the
//! owner's own index (FORMAT.md §6), not from the site, so a site cannot steer the ranges
//! away from bytes it dropped. The report gives the odds that so many samples find a loss of
//! a given fraction of packs (`odds`).

pub mod odds;
mod prove;

use crate::archive::Archive;
use crate::index::Index;
use crate::objects::list_ids;
use crate::site::{OwnerIdentity, Site};
use anyhow::Result;
use chancery_format::ObjectId;
use chancery_protocol::proof::CHUNK_LEN;
use chancery_store::ObjectKind;
use odds::Detection;
use prove::Prover;
use rand::Rng;
use serde::Serialize;
use std::collections::HashSet;

/// Bytes asked for per sample: one BLAKE3 chunk, the smallest unit a proof can cover.
pub const SAMPLE_LEN: u64 = CHUNK_LEN;

/// What to audit.
#[derive(Clone, Copy, Debug)]
pub struct AuditOptions {
    /// Packs to sample; every pack when this is at least their number.
    pub samples: usize,
    /// The percentage of packs assumed lost, for the detection odds.
    pub assume_lost_percent: f64,
}

/// What went wrong with a sampled pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The site does not have the pack.
    Missing,
    /// The site answered with a proof that does not verify against the pack's name.
    ProofFailed,
    /// The proof verifies, but shows the pack shorter than its index says.
    Short,
    /// The site answered with an error instead of a proof.
    SiteError,
}

/// One failed sample.
#[derive(Clone, Debug, Serialize)]
pub struct AuditFailure {
    /// The site.
    pub site: String,
    /// The pack, 64 hex.
    pub pack: String,
    /// What kind of failure.
    pub problem: Problem,
    /// What was wrong, in words.
    pub detail: String,
}

/// The result of an audit of one site.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// The site.
    pub site: String,
    /// `proof` (a site server proved ranges) or `read` (a local folder: packs read whole).
    pub method: &'static str,
    /// Packs the site should hold, `P`.
    pub packs: usize,
    /// Indexed packs the site was never given (it lags): not sampled.
    pub not_yet_held: usize,
    /// Packs sampled.
    pub sampled: usize,
    /// Samples that passed.
    pub passed: usize,
    /// Samples that failed, each naming site and pack.
    pub failures: Vec<AuditFailure>,
    /// Bytes received for the samples.
    pub bytes_received: u64,
    /// What the sampled packs weigh: what reading them whole would have cost.
    pub bytes_of_sampled_packs: u64,
    /// The odds of finding an assumed loss with this many samples.
    pub detection: Detection,
    /// Copies of index files found bad at some site while loading the index.
    pub warnings: Vec<String>,
}

/// Audits one site.
pub fn audit(archive: &Archive, site: &str, options: AuditOptions) -> Result<AuditReport> {
    let site = archive.site(site)?;
    let mut warnings = Vec::new();
    let (packs, not_yet_held) = expected_packs(archive, site, &mut warnings)?;
    let prover = Prover::for_site(site, &OwnerIdentity::from_keys(&archive.keys))?;
    let mut rng = rand::thread_rng();
    let mut chosen =
        rand::seq::index::sample(&mut rng, packs.len(), options.samples.min(packs.len())).into_vec();
    chosen.sort_unstable();
    let mut report = AuditReport {
        site: site.name().to_string(),
        method: prover.method(),
        packs: packs.len(),
        not_yet_held,
        sampled: chosen.len(),
        passed: 0,
        failures: Vec::new(),
        bytes_received: 0,
        bytes_of_sampled_packs: 0,
        detection: Detection::new(packs.len(), chosen.len(), options.assume_lost_percent),
        warnings,
    };
    for (pack, size) in chosen.into_iter().map(|i| packs[i]) {
        let (start, len) = pick_range(size, &mut rng);
        let outcome = prover.sample(site, &pack, size, start, len)?;
        report.bytes_received += outcome.received;
        report.bytes_of_sampled_packs += size;
        match outcome.failure {
            Some(failure) => report.failures.push(failure),
            None => report.passed += 1,
        }
    }
    Ok(report)
}

/// The packs the site should hold, sorted, with their lengths; and how many indexed packs it
/// was never given.
fn expected_packs(
    archive: &Archive,
    site: &Site,
    warnings: &mut Vec<String>,
) -> Result<(Vec<(ObjectId, u64)>, usize)> {
    let sites: Vec<&Site> = archive.sites.iter().collect();
    let (index, bad_copies) = Index::load_union(&sites, &archive.keys)?;
    warnings.extend(bad_copies);
    let files: HashSet<ObjectId> = list_ids(site, ObjectKind::Index)?.into_iter().collect();
    let receipted = match archive.receipts.get(site.name()) {
        Some(log) => {
            let loaded = log.load()?;
            warnings.extend(loaded.warnings);
            Some(loaded.held)
        }
        None => None,
    };
    let should_hold = |pack: &ObjectId| {
        index.listed_in(pack).iter().any(|f| files.contains(f))
            || receipted.as_ref().is_some_and(|held| held.has(ObjectKind::Pack, pack))
    };
    let mut packs: Vec<(ObjectId, u64)> = index
        .packs()
        .iter()
        .filter(|p| should_hold(p))
        .filter_map(|p| Some((*p, index.pack_len(p)?)))
        .collect();
    packs.sort_unstable();
    let not_yet_held = index.packs().len() - packs.len();
    Ok((packs, not_yet_held))
}

/// One whole chunk of the pack, chosen uniformly among its chunks (the last may be short), so
/// that every byte is equally likely to be covered.
fn pick_range(size: u64, rng: &mut impl Rng) -> (u64, u64) {
    let chunks = size.div_ceil(SAMPLE_LEN).max(1);
    let start = rng.gen_range(0..chunks) * SAMPLE_LEN;
    (start, SAMPLE_LEN.min(size - start).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_whole_chunks_inside_the_pack() {
        let mut rng = rand::thread_rng();
        for size in [1, 1023, 1024, 1025, 4352, 16 << 20] {
            let mut seen = HashSet::new();
            for _ in 0..2000 {
                let (start, len) = pick_range(size, &mut rng);
                assert_eq!(start % SAMPLE_LEN, 0);
                assert!(len >= 1 && start + len <= size, "{size}: {start}+{len}");
                assert!(len == SAMPLE_LEN || start + len == size);
                seen.insert(start);
            }
            // Small packs: every chunk gets picked.
            if size <= 4352 {
                assert_eq!(seen.len() as u64, size.div_ceil(SAMPLE_LEN));
            }
        }
    }
}
