use super::*;
use crate::governance::calendar::days_from_civil;

/// Unix seconds of a UTC date and hour.
fn at(year: i64, month: u32, day: u32, hour: i64) -> i64 {
    days_from_civil(year, month, day) * 86_400 + hour * 3600
}

fn id(n: u8) -> ObjectId {
    ObjectId([n; 32])
}

/// Snapshots numbered from 1 in the order given, untagged.
fn snaps(times: &[i64]) -> Vec<Candidate> {
    times
        .iter()
        .enumerate()
        .map(|(i, t)| Candidate { id: id(i as u8 + 1), time_sec: *t, tags: Vec::new() })
        .collect()
}

/// A moment long after every snapshot of these tests.
const NOW: i64 = 4_000_000_000;

/// The numbers of the kept snapshots, newest first.
fn kept(list: &[Candidate], rules: &RetentionRules) -> Vec<u8> {
    select(list, rules, None, NOW).unwrap().kept().iter().map(|i| i.0[0]).collect()
}

fn reasons_of(selection: &Selection, n: u8) -> Vec<String> {
    selection.decisions.iter().find(|d| d.id == id(n)).unwrap().reasons.clone()
}

#[test]
fn empty_rules_are_refused_and_zero_counts_are_no_rules() {
    let list = snaps(&[at(2024, 1, 1, 0)]);
    let tags_only = RetentionRules { tags: vec!["x".into()], ..Default::default() };
    let zeros = RetentionRules { keep_last: Some(0), keep_within_sec: Some(0), ..Default::default() };
    for rules in [RetentionRules::default(), tags_only, zeros] {
        assert!(rules.is_empty());
        let err = select(&list, &rules, None, NOW).unwrap_err().to_string();
        assert!(err.contains("forget every snapshot"), "{err}");
    }
    assert!(!RetentionRules { keep_yearly: Some(1), ..Default::default() }.is_empty());
}

#[test]
fn keep_last_keeps_the_newest_whatever_the_order_given() {
    let list = snaps(&[at(2024, 1, 3, 0), at(2024, 1, 1, 0), at(2024, 1, 5, 0), at(2024, 1, 2, 0)]);
    let rules = RetentionRules { keep_last: Some(2), ..Default::default() };
    assert_eq!(kept(&list, &rules), vec![3, 1]);
    let selection = select(&list, &rules, None, NOW).unwrap();
    let order: Vec<u8> = selection.decisions.iter().map(|d| d.id.0[0]).collect();
    assert_eq!(order, vec![3, 1, 4, 2], "newest first");
    assert_eq!(reasons_of(&selection, 3), vec!["last snapshot"]);
    assert!(reasons_of(&selection, 2).is_empty());
}

#[test]
fn keep_daily_keeps_the_newest_of_each_recent_day_with_snapshots() {
    // Two on Jan 10, one on Jan 8 (Jan 9 has none), two on Jan 7, one on Jan 5.
    let list = snaps(&[
        at(2024, 1, 10, 23),
        at(2024, 1, 10, 1),
        at(2024, 1, 8, 12),
        at(2024, 1, 7, 20),
        at(2024, 1, 7, 8),
        at(2024, 1, 5, 0),
    ]);
    let rules = RetentionRules { keep_daily: Some(3), ..Default::default() };
    assert_eq!(kept(&list, &rules), vec![1, 3, 4], "days without snapshots do not count");
}

#[test]
fn the_oldest_snapshot_is_kept_while_counts_are_left() {
    let list = snaps(&[at(2024, 1, 10, 23), at(2024, 1, 10, 1), at(2024, 1, 9, 5), at(2024, 1, 9, 4)]);
    let rules = RetentionRules { keep_daily: Some(5), ..Default::default() };
    let selection = select(&list, &rules, None, NOW).unwrap();
    assert_eq!(selection.kept(), vec![id(1), id(3), id(4)]);
    assert_eq!(reasons_of(&selection, 4), vec!["oldest snapshot (daily count not used up)"]);
    // With the count used up by the newer days, the oldest goes.
    assert_eq!(kept(&list, &RetentionRules { keep_daily: Some(2), ..Default::default() }), vec![1, 3]);
}

#[test]
fn hours_weeks_months_and_years_are_utc_calendar_units() {
    let hourly = snaps(&[at(2024, 3, 1, 10) + 3599, at(2024, 3, 1, 10), at(2024, 3, 1, 9) + 3599]);
    let rules = RetentionRules { keep_hourly: Some(2), ..Default::default() };
    assert_eq!(kept(&hourly, &rules), vec![1, 3]);
    // Mon 2024-12-30 and Sun 2024-12-29 are in different ISO weeks; Jan 5 2025 is in the
    // week of Dec 30.
    let weekly = snaps(&[at(2025, 1, 5, 12), at(2024, 12, 30, 0), at(2024, 12, 29, 23), at(2024, 12, 23, 0)]);
    let rules = RetentionRules { keep_weekly: Some(2), ..Default::default() };
    assert_eq!(kept(&weekly, &rules), vec![1, 3]);
    let monthly = snaps(&[at(2024, 3, 1, 0), at(2024, 2, 29, 23), at(2024, 2, 1, 0), at(2024, 1, 31, 23)]);
    let rules = RetentionRules { keep_monthly: Some(2), ..Default::default() };
    assert_eq!(kept(&monthly, &rules), vec![1, 2]);
    let yearly = snaps(&[at(2025, 1, 1, 0), at(2024, 12, 31, 23), at(2024, 6, 1, 0), at(2023, 1, 1, 0)]);
    let rules = RetentionRules { keep_yearly: Some(2), ..Default::default() };
    assert_eq!(kept(&yearly, &rules), vec![1, 2]);
}

#[test]
fn rules_combine_and_every_reason_is_given() {
    let list = snaps(&[at(2024, 5, 2, 10), at(2024, 5, 2, 9), at(2024, 5, 1, 9), at(2024, 4, 30, 9)]);
    let rules = RetentionRules { keep_last: Some(2), keep_daily: Some(2), ..Default::default() };
    let selection = select(&list, &rules, None, NOW).unwrap();
    assert_eq!(selection.kept(), vec![id(1), id(2), id(3)]);
    assert_eq!(reasons_of(&selection, 1), vec!["last snapshot", "daily snapshot"]);
    assert_eq!(reasons_of(&selection, 2), vec!["last snapshot"]);
    assert_eq!(reasons_of(&selection, 3), vec!["daily snapshot"]);
}

#[test]
fn keep_within_counts_from_the_newest_snapshot_not_from_now() {
    let day = 86_400;
    let newest = at(2020, 6, 10, 12);
    let list = snaps(&[newest, newest - 6 * day, newest - 7 * day, newest - 30 * day]);
    let rules = RetentionRules { keep_within_sec: Some(7 * day), ..Default::default() };
    let selection = select(&list, &rules, None, NOW).unwrap();
    assert_eq!(selection.kept(), vec![id(1), id(2)], "exactly 7 days before is not within");
    assert_eq!(reasons_of(&selection, 2), vec!["within 7d of the newest"]);
    assert!(selection.warnings.iter().all(|w| !w.contains("count rules")), "{:?}", selection.warnings);
}

#[test]
fn a_snapshot_dated_in_the_future_is_not_the_newest_for_keep_within() {
    let now = at(2024, 8, 1, 0);
    let day = 86_400;
    let list = snaps(&[now + 365 * day, now - day, now - 2 * day, now - 20 * day]);
    let rules = RetentionRules { keep_within_sec: Some(7 * day), ..Default::default() };
    let selection = select(&list, &rules, None, now).unwrap();
    assert_eq!(selection.kept(), vec![id(1), id(2), id(3)]);
    assert!(selection.warnings.iter().any(|w| w.contains("in the future")), "{:?}", selection.warnings);
    // Every snapshot in the future: none is the newest, all are kept.
    let future = snaps(&[now + 100 * day, now + day]);
    assert_eq!(select(&future, &rules, None, now).unwrap().kept().len(), 2);
}

#[test]
fn with_tags_only_tagged_snapshots_are_considered_the_others_are_kept() {
    let mut list = snaps(&[at(2024, 1, 4, 0), at(2024, 1, 3, 0), at(2024, 1, 2, 0), at(2024, 1, 1, 0)]);
    list[1].tags = vec!["db".into()];
    list[2].tags = vec!["web".into(), "db".into()];
    list[3].tags = vec!["db".into()];
    let rules =
        RetentionRules { keep_last: Some(1), tags: vec!["db".into(), "mail".into()], ..Default::default() };
    let selection = select(&list, &rules, None, NOW).unwrap();
    assert_eq!(selection.kept(), vec![id(1), id(2)]);
    assert_eq!(reasons_of(&selection, 1), vec!["not tagged db or mail (not considered)"]);
    assert_eq!(reasons_of(&selection, 2), vec!["last snapshot"]);
    assert_eq!(selection.forgotten(), vec![id(3), id(4)]);
}

#[test]
fn the_newest_snapshot_held_everywhere_is_always_kept() {
    let list = snaps(&[at(2024, 1, 3, 0), at(2024, 1, 2, 0), at(2024, 1, 1, 0)]);
    let rules = RetentionRules { keep_last: Some(1), ..Default::default() };
    let selection = select(&list, &rules, Some(id(2)), NOW).unwrap();
    assert_eq!(selection.kept(), vec![id(1), id(2)]);
    assert_eq!(reasons_of(&selection, 2), vec![NEWEST_EVERYWHERE]);
    // Already kept by a rule: one more reason.
    let selection = select(&list, &rules, Some(id(1)), NOW).unwrap();
    assert_eq!(reasons_of(&selection, 1), vec!["last snapshot", NEWEST_EVERYWHERE]);
}

#[test]
fn weak_or_odd_inputs_are_warned_about() {
    let list = snaps(&[at(2024, 1, 3, 0), at(2024, 1, 2, 0)]);
    let count_only = RetentionRules { keep_daily: Some(7), ..Default::default() };
    let warnings = select(&list, &count_only, Some(id(1)), NOW).unwrap().warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("--keep-within"), "{warnings:?}");
    let within = RetentionRules { keep_within_sec: Some(86_400), ..count_only };
    assert!(select(&list, &within, Some(id(1)), NOW).unwrap().warnings.is_empty());
    let none_everywhere = select(&list, &within, None, NOW).unwrap().warnings;
    assert!(none_everywhere[0].contains("chancery sync"), "{none_everywhere:?}");
    let unknown = select(&list, &within, Some(id(9)), NOW).unwrap().warnings;
    assert!(unknown[0].contains("not among"), "{unknown:?}");
}

#[test]
fn durations_read_as_typed() {
    assert_eq!(format_duration(7 * 86_400), "7d");
    assert_eq!(format_duration(36 * 3600), "36h");
    assert_eq!(format_duration(90 * 60), "90m");
    assert_eq!(format_duration(61), "61s");
}
