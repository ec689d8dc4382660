//! Checking pages of a site's audit log: every record signed by the pinned site key, for our
//! tenant, numbered without a gap, each linked to the one before by its hash, the head equal
//! to the last record, and nothing this machine saw before missing or changed.

use chancery_protocol::audit_log::{AuditPage, Record, RecordError, GENESIS};

use crate::error::IntegrityError;

/// Checks pages in order, from record `from` on.
pub struct Verifier {
    site: String,
    tenant: String,
    site_key: [u8; 32],
    /// The sequence number the next record must have.
    next: u64,
    /// The hash the next record's `prev` must be, when known (from 0, or after a record).
    prev: Option<[u8; 32]>,
    records: Vec<Record>,
    head: Option<Record>,
}

impl Verifier {
    /// A verifier of `site`'s log of `tenant`, reading from record `from`.
    pub fn new(site: &str, tenant: &str, site_key: [u8; 32], from: u64) -> Verifier {
        let prev = (from == 0).then_some(GENESIS);
        let (site, tenant) = (site.to_string(), tenant.to_string());
        Verifier { site, tenant, site_key, next: from, prev, records: Vec::new(), head: None }
    }

    /// The sequence number the next page must start from.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Checks one page; whether it was the last (its head is the last record read).
    pub fn page(&mut self, page: AuditPage) -> Result<bool, IntegrityError> {
        let got_records = !page.records.is_empty();
        for record in page.records {
            self.record(record)?;
        }
        let Some(head) = page.head else {
            return match got_records {
                true => Err(self.bad(self.next, "the site sent records but no signed head")),
                false => Ok(true),
            };
        };
        let head = self.checked(head, self.next)?;
        let last = self.records.last();
        let done = match last {
            Some(last) if head.seq == last.seq => {
                if &head != last {
                    return Err(self.bad(head.seq, "the site's signed head differs from this record"));
                }
                true
            }
            Some(last) if head.seq < last.seq => {
                return Err(self.bad(head.seq, "the site's signed head is older than records it sent"))
            }
            Some(last) if !got_records => {
                let what = format!("the site's signed head is record {} but it sent none after it", head.seq);
                return Err(self.bad(last.seq + 1, &what));
            }
            // Nothing from where we asked: the log ends before it (`finish` judges that).
            None if !got_records => true,
            _ => false,
        };
        self.head = Some(head);
        Ok(done)
    }

    fn record(&mut self, record: Result<Record, RecordError>) -> Result<(), IntegrityError> {
        let record = self.checked(record, self.next)?;
        if record.seq != self.next {
            let what = format!(
                "missing: the site sent record {} where {} comes next (a gap)",
                record.seq, self.next
            );
            return Err(self.bad(self.next, &what));
        }
        if self.prev.is_some_and(|prev| prev != record.prev) {
            let what = "does not link to the record before it (hash chain broken: altered or replaced)";
            return Err(self.bad(record.seq, what));
        }
        self.prev = Some(record.hash());
        self.next += 1;
        self.records.push(record);
        Ok(())
    }

    /// A parsed record signed by the site key, for our tenant.
    fn checked(&self, record: Result<Record, RecordError>, seq: u64) -> Result<Record, IntegrityError> {
        let record = record.map_err(|e| self.bad(seq, &format!("{e} (altered or damaged)")))?;
        record.verify(&self.site_key).map_err(|e| self.bad(record.seq, &format!("{e}: altered")))?;
        if record.tenant != self.tenant {
            return Err(self.bad(record.seq, &format!("belongs to tenant {}, not ours", record.tenant)));
        }
        Ok(record)
    }

    /// Ends the check: the records read and the head, after making sure that `remembered`,
    /// the head this machine saw last time, is still in the log unchanged.
    pub fn finish(
        self,
        remembered: Option<&Record>,
    ) -> Result<(Vec<Record>, Option<Record>), IntegrityError> {
        if let Some(seen) = remembered {
            match self.records.iter().find(|r| r.seq == seen.seq) {
                None => {
                    let ends = self
                        .head
                        .as_ref()
                        .map_or("is empty".to_string(), |h| format!("ends at record {}", h.seq));
                    let what = format!(
                        "missing: the site's log {ends}, but this machine saw it reach record {} (truncated or rolled back)",
                        seen.seq
                    );
                    return Err(self.bad(seen.seq, &what));
                }
                Some(found) if found != seen => {
                    let what = "differs from the record this machine saw last time (the log was rewritten)";
                    return Err(self.bad(seen.seq, what));
                }
                Some(_) => {}
            }
        }
        Ok((self.records, self.head))
    }

    fn bad(&self, seq: u64, what: &str) -> IntegrityError {
        IntegrityError {
            site: self.site.clone(),
            object: format!("audit-log record {seq}"),
            detail: format!(
                "{what}; the site's audit log of tenant {} cannot be trusted from here on",
                self.tenant
            ),
        }
    }
}
