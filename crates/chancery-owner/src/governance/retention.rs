//! Which snapshots a `forget` keeps: restic's `forget` policy (restic 0.17), applied to one
//! list of snapshots, plus this product's safety rule.
//!
//! Restic's rules, as implemented here:
//! - snapshots are ordered newest first;
//! - `keep_last` N keeps the N newest;
//! - `keep_hourly` / `daily` / `weekly` / `monthly` / `yearly` N keep the newest snapshot of each
//!   of the N most recent UTC hours / days / ISO weeks / months / years that hold a snapshot;
//!   when the snapshots run out before a count does, the oldest snapshot is kept as well, so
//!   that the history kept is as long as the counts allow;
//! - `keep_within` D keeps every snapshot made less than D before the newest snapshot. The
//!   newest is the newest one not dated in the future, as restic does: a snapshot dated next
//!   year (a wrong clock, or an attacker) would otherwise make every real snapshot "too old";
//! - with `tags`, only snapshots carrying one of them are considered (restic's `--tag`); the
//!   others are kept, untouched.
//!
//! Not done here: restic groups snapshots by host and paths first (`--group-by`); call
//! [`select`] once per group for that. Restic's `--keep-tag` and `--keep-within-daily` (and
//! the other `--keep-within-*`) are not offered.
//!
//! Safety: the newest snapshot that every site of the policy holds is always kept, whatever
//! the rules say, so a forget can never leave the archive without a complete recovery point.
//! Count rules alone are weak against someone who can make backups (a stolen laptop): a burst
//! of fake new snapshots fills every count and pushes the real ones out. `keep_within` resists
//! that only partly: fake snapshots cannot push out real ones made within D of the newest, but
//! an attacker who keeps making fakes for longer than D (while real backups stop) still
//! outlasts them, and fakes dated up to the present time still count as the newest.

use super::calendar;
use anyhow::{bail, Result};
use chancery_format::ObjectId;
use std::collections::HashMap;

/// A `forget` policy. A count or duration of zero is the same as none, as in restic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionRules {
    /// Keep the N newest snapshots.
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the N most recent hours that hold one.
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the N most recent days that hold one.
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the N most recent ISO weeks that hold one.
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the N most recent months that hold one.
    pub keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the N most recent years that hold one.
    pub keep_yearly: Option<u32>,
    /// Keep every snapshot made less than this many seconds before the newest snapshot.
    pub keep_within_sec: Option<i64>,
    /// Only consider snapshots carrying at least one of these tags (none: consider all).
    pub tags: Vec<String>,
}

impl RetentionRules {
    /// The rules as `--keep-last 3 --keep-within 604800s --tag db`, for a proposal's reason.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let counts = [
            ("last", self.keep_last),
            ("hourly", self.keep_hourly),
            ("daily", self.keep_daily),
            ("weekly", self.keep_weekly),
            ("monthly", self.keep_monthly),
            ("yearly", self.keep_yearly),
        ];
        for (name, n) in counts {
            if let Some(n) = n.filter(|n| *n > 0) {
                parts.push(format!("--keep-{name} {n}"));
            }
        }
        if let Some(s) = self.keep_within_sec {
            parts.push(format!("--keep-within {s}s"));
        }
        for tag in &self.tags {
            parts.push(format!("--tag {tag}"));
        }
        parts.join(" ")
    }

    /// True when no rule says what to keep (tags only narrow which snapshots are considered).
    pub fn is_empty(&self) -> bool {
        self.counts().iter().all(|(n, _, _)| *n == 0) && self.within().is_none()
    }

    /// The count rules, with their reasons and bucket keys (a bucket per snapshot for
    /// `keep_last`, whose key is the snapshot's position).
    fn counts(&self) -> [(u32, &'static str, Bucket); 6] {
        let n = |c: Option<u32>| c.unwrap_or(0);
        [
            (n(self.keep_last), "last", Bucket::Position),
            (n(self.keep_hourly), "hourly", Bucket::Time(calendar::hour_key)),
            (n(self.keep_daily), "daily", Bucket::Time(calendar::day_key)),
            (n(self.keep_weekly), "weekly", Bucket::Time(calendar::week_key)),
            (n(self.keep_monthly), "monthly", Bucket::Time(calendar::month_key)),
            (n(self.keep_yearly), "yearly", Bucket::Time(calendar::year_key)),
        ]
    }

    fn within(&self) -> Option<i64> {
        self.keep_within_sec.filter(|s| *s > 0)
    }
}

/// How a count rule splits snapshots into buckets.
#[derive(Clone, Copy)]
enum Bucket {
    /// Every snapshot its own bucket.
    Position,
    /// By a UTC calendar unit of its time.
    Time(fn(i64) -> i64),
}

impl Bucket {
    fn key(self, time_sec: i64, position: usize) -> i64 {
        match self {
            Bucket::Position => position as i64,
            Bucket::Time(key) => key(time_sec),
        }
    }
}

/// A snapshot the rules are applied to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Its id.
    pub id: ObjectId,
    /// When it was made (Unix seconds, UTC).
    pub time_sec: i64,
    /// Its tags.
    pub tags: Vec<String>,
}

/// What happens to one snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The snapshot.
    pub id: ObjectId,
    /// Kept (true) or forgotten.
    pub keep: bool,
    /// Why it is kept; empty when it is forgotten.
    pub reasons: Vec<String>,
}

/// The outcome of [`select`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// One decision per snapshot, newest first.
    pub decisions: Vec<Decision>,
    /// What the owner should know before proposing it (weak rules, odd snapshot times).
    pub warnings: Vec<String>,
}

impl Selection {
    /// The snapshots kept.
    pub fn kept(&self) -> Vec<ObjectId> {
        self.decisions.iter().filter(|d| d.keep).map(|d| d.id).collect()
    }

    /// The snapshots forgotten.
    pub fn forgotten(&self) -> Vec<ObjectId> {
        self.decisions.iter().filter(|d| !d.keep).map(|d| d.id).collect()
    }
}

/// The reason given to the snapshot protected by the safety rule.
pub const NEWEST_EVERYWHERE: &str = "newest snapshot held by every site";

/// Applies `rules` to `snapshots`. `newest_everywhere`, the newest snapshot that every site
/// of the policy holds, is kept whatever the rules say. `now_sec` is the present time: a
/// snapshot dated after it does not count as the newest for `keep_within`.
///
/// Refuses empty rules: a forget without them would forget everything.
pub fn select(
    snapshots: &[Candidate],
    rules: &RetentionRules,
    newest_everywhere: Option<ObjectId>,
    now_sec: i64,
) -> Result<Selection> {
    if rules.is_empty() {
        bail!(
            "no retention rule given: a forget without one would forget every snapshot; give at \
             least one of --keep-within, --keep-last, --keep-hourly, --keep-daily, --keep-weekly, \
             --keep-monthly, --keep-yearly"
        );
    }
    let mut sorted: Vec<&Candidate> = snapshots.iter().collect();
    // Newest first; equal times in a fixed order whatever the order given.
    sorted.sort_by(|a, b| b.time_sec.cmp(&a.time_sec).then(b.id.cmp(&a.id)));
    let considered: Vec<&Candidate> = sorted.iter().copied().filter(|c| is_considered(c, rules)).collect();
    let mut reasons = apply(&considered, rules, now_sec);
    let mut decisions: Vec<Decision> = sorted
        .iter()
        .map(|c| {
            let mut why = reasons.remove(&c.id).unwrap_or_else(|| not_considered(c, rules));
            if Some(c.id) == newest_everywhere {
                why.push(NEWEST_EVERYWHERE.into());
            }
            Decision { id: c.id, keep: !why.is_empty(), reasons: why }
        })
        .collect();
    decisions.dedup_by_key(|d| d.id);
    let warnings = warnings(&sorted, rules, newest_everywhere, now_sec);
    Ok(Selection { decisions, warnings })
}

fn is_considered(candidate: &Candidate, rules: &RetentionRules) -> bool {
    rules.tags.is_empty() || candidate.tags.iter().any(|t| rules.tags.contains(t))
}

/// The reason a snapshot the rules do not look at is kept (none if they do look at it).
fn not_considered(candidate: &Candidate, rules: &RetentionRules) -> Vec<String> {
    if is_considered(candidate, rules) {
        return Vec::new();
    }
    vec![format!("not tagged {} (not considered)", rules.tags.join(" or "))]
}

/// Restic's policy on the considered snapshots (newest first): the reasons of each kept one.
fn apply(considered: &[&Candidate], rules: &RetentionRules, now_sec: i64) -> HashMap<ObjectId, Vec<String>> {
    let mut counts = rules.counts().map(|(left, name, bucket)| Counter { left, name, bucket, last: None });
    let cutoff = within_cutoff(considered, rules, now_sec);
    let mut kept = HashMap::new();
    for (position, c) in considered.iter().enumerate() {
        let mut why = Vec::new();
        if let Some((cutoff, text)) = &cutoff {
            if c.time_sec > *cutoff {
                why.push(text.clone());
            }
        }
        let oldest = position + 1 == considered.len();
        why.extend(counts.iter_mut().filter_map(|counter| counter.offer(c.time_sec, position, oldest)));
        if !why.is_empty() {
            kept.insert(c.id, why);
        }
    }
    kept
}

/// For `keep_within`: snapshots made after this time are kept, with this reason. With no
/// snapshot dated in the past, none is the newest and every one is kept (as restic does).
fn within_cutoff(considered: &[&Candidate], rules: &RetentionRules, now_sec: i64) -> Option<(i64, String)> {
    let within = rules.within()?;
    let text = format!("within {} of the newest", format_duration(within));
    let newest = considered.iter().map(|c| c.time_sec).filter(|t| *t <= now_sec).max();
    Some((newest.map_or(i64::MIN, |n| n.saturating_sub(within)), text))
}

/// One count rule while the snapshots are walked, newest first.
struct Counter {
    left: u32,
    name: &'static str,
    bucket: Bucket,
    last: Option<i64>,
}

impl Counter {
    /// Whether this rule keeps the snapshot, and why: it is the newest of a bucket not seen
    /// yet, or the oldest snapshot of all while counts are left.
    fn offer(&mut self, time_sec: i64, position: usize, oldest: bool) -> Option<String> {
        if self.left == 0 {
            return None;
        }
        let key = self.bucket.key(time_sec, position);
        let new_bucket = self.last != Some(key);
        if !new_bucket && !oldest {
            return None;
        }
        self.last = Some(key);
        self.left -= 1;
        Some(match new_bucket {
            true => format!("{} snapshot", self.name),
            false => format!("oldest snapshot ({} count not used up)", self.name),
        })
    }
}

fn warnings(
    sorted: &[&Candidate],
    rules: &RetentionRules,
    newest_everywhere: Option<ObjectId>,
    now_sec: i64,
) -> Vec<String> {
    let mut out = Vec::new();
    if rules.within().is_none() {
        out.push(
            "only count rules (--keep-last, --keep-daily, ...) are given: whoever can make backups \
             (a stolen laptop) could push every real snapshot out of them with a burst of fake new \
             ones; add --keep-within (e.g. --keep-within 30d) to keep everything made within that \
             time of the newest snapshot"
                .to_string(),
        );
    }
    for c in sorted.iter().filter(|c| c.time_sec > now_sec) {
        out.push(format!(
            "snapshot {} is dated {} s in the future (a wrong clock where it was made, or forged); \
             it does not count as the newest for --keep-within",
            c.id.short(),
            c.time_sec - now_sec
        ));
    }
    match newest_everywhere {
        None if !sorted.is_empty() => out.push(
            "no snapshot is held by every site, so none is protected as the newest held everywhere; \
             run `chancery sync` first"
                .to_string(),
        ),
        Some(id) if !sorted.iter().any(|c| c.id == id) => out.push(format!(
            "the newest snapshot held by every site ({}) is not among the snapshots given",
            id.short()
        )),
        _ => {}
    }
    out
}

/// A duration as the owner would type it: `7d`, `36h`, `90m` or `45s`.
fn format_duration(sec: i64) -> String {
    match sec {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
#[path = "retention_tests.rs"]
mod tests;
