//! `audit-log`: a site server's audit log of this tenant, checked, as a table or JSON.

use super::Globals;
use crate::cli::AuditLogArgs;
use crate::Outcome;
use anyhow::Result;
use chancery_owner::audit_log::{audit_log, AuditLogOptions, AuditLogReport, RecordView};

/// Reads and checks the log; exit 10 (from the `IntegrityError`) naming the first bad record.
pub fn run(g: &Globals, args: AuditLogArgs) -> Result<Outcome> {
    let archive = g.open()?;
    let options = AuditLogOptions { since: args.since, verify_all: args.verify };
    let report = audit_log(&archive, &args.site, options)?;
    if g.json {
        crate::output::json(&report)?;
    } else {
        print_table(&report);
    }
    Ok(Outcome::Success)
}

fn print_table(report: &AuditLogReport) {
    println!(
        "{:>7}  {:<24}  {:<16}  {:<6}  {:<6}  {:<30}  {:>10}  {:>10}  STATUS",
        "RECORD", "TIME", "KEY", "ROLE", "METHOD", "OBJECT", "IN", "OUT"
    );
    for r in &report.records {
        print_row(r);
    }
    let head = report.head.map_or("the log is empty".to_string(), |h| format!("newest record {h}"));
    println!(
        "site {} (tenant {}): {} records checked from record {} ({head}): signatures, chain and \
         what this machine saw before all hold",
        report.site, report.tenant, report.checked, report.checked_from
    );
}

fn print_row(r: &RecordView) {
    let key = if r.key.len() > 16 { format!("{}…", &r.key[..16]) } else { r.key.clone() };
    let object = if r.object.chars().count() > 30 {
        format!("{}…", r.object.chars().take(29).collect::<String>())
    } else {
        r.object.clone()
    };
    println!(
        "{:>7}  {:<24}  {:<16}  {:<6}  {:<6}  {:<30}  {:>10}  {:>10}  {}",
        r.seq, r.time, key, r.role, r.method, object, r.bytes_in, r.bytes_out, r.status
    );
}
