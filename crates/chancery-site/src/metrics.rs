//! Counters for `GET /metrics`, in the Prometheus text exposition format (version 0.0.4),
//! written by hand: a few counters and one histogram do not need a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the request-duration histogram, in seconds.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 120.0];

/// What went wrong, as counted in `chancery_site_errors_total{reason}`; a fixed set, so that
/// clients cannot grow the label space.
pub(crate) const ERROR_REASONS: [&str; 7] =
    ["unauthenticated", "forbidden", "replayed", "bad_request", "quota", "storage", "tls_handshake"];

/// The site's counters, shared by every connection.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    duration_buckets: [AtomicU64; BUCKETS.len()],
    duration_count: AtomicU64,
    duration_sum_us: AtomicU64,
    proofs_intact: AtomicU64,
    proofs_damaged: AtomicU64,
}

/// A method as a label: the ones the API uses, everything else as `other`.
pub(crate) fn method_label(method: &axum::http::Method) -> &'static str {
    const KNOWN: [&str; 6] = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"];
    KNOWN.into_iter().find(|m| *m == method.as_str()).unwrap_or("other")
}

impl Metrics {
    /// Counts one finished request.
    pub(crate) fn request(
        &self,
        method: &'static str,
        status: u16,
        bytes_in: u64,
        bytes_out: u64,
        took: Duration,
    ) {
        *lock(&self.requests).entry((method, status)).or_default() += 1;
        self.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        if let Some(bucket) = BUCKETS.iter().position(|b| secs <= *b) {
            self.duration_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.duration_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.duration_sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts one proof of storage, made from an intact or a damaged copy.
    pub(crate) fn proof(&self, intact: bool) {
        let counter = if intact { &self.proofs_intact } else { &self.proofs_damaged };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one error; `reason` should be one of [`ERROR_REASONS`].
    pub(crate) fn error(&self, reason: &'static str) {
        *lock(&self.errors).entry(reason).or_default() += 1;
    }

    /// The exposition text, with the bytes stored per tenant.
    pub(crate) fn render(&self, stored: &[(String, u64)]) -> String {
        let mut out = String::new();
        self.render_requests(&mut out);
        self.render_duration(&mut out);
        self.render_errors(&mut out);
        self.render_proofs(&mut out);
        header(&mut out, "chancery_site_tenant_stored_bytes", "gauge", "Bytes stored per tenant.");
        for (tenant, bytes) in stored {
            let _ = writeln!(out, "chancery_site_tenant_stored_bytes{{tenant=\"{tenant}\"}} {bytes}");
        }
        out
    }

    fn render_requests(&self, out: &mut String) {
        header(out, "chancery_site_requests_total", "counter", "HTTP requests by method and status.");
        for ((method, status), n) in lock(&self.requests).iter() {
            let _ =
                writeln!(out, "chancery_site_requests_total{{method=\"{method}\",status=\"{status}\"}} {n}");
        }
        for (name, value, help) in [
            ("chancery_site_received_bytes_total", &self.bytes_in, "Request body bytes received."),
            ("chancery_site_sent_bytes_total", &self.bytes_out, "Response body bytes sent."),
        ] {
            header(out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
    }

    fn render_duration(&self, out: &mut String) {
        let name = "chancery_site_request_duration_seconds";
        header(out, name, "histogram", "Time from request received to response headers ready.");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&self.duration_buckets) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.duration_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.duration_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }

    fn render_errors(&self, out: &mut String) {
        header(out, "chancery_site_errors_total", "counter", "Refused or failed requests and connections.");
        let errors = lock(&self.errors);
        for reason in ERROR_REASONS {
            let n = errors.get(reason).copied().unwrap_or(0);
            let _ = writeln!(out, "chancery_site_errors_total{{reason=\"{reason}\"}} {n}");
        }
    }

    fn render_proofs(&self, out: &mut String) {
        let name = "chancery_site_proofs_total";
        header(out, name, "counter", "Proofs of storage made, by whether the copy still hashed to its name.");
        for (copy, n) in [("intact", &self.proofs_intact), ("damaged", &self.proofs_damaged)] {
            let _ = writeln!(out, "{name}{{copy=\"{copy}\"}} {}", n.load(Ordering::Relaxed));
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Counters stay meaningful whatever a panicking holder did: ignore poisoning.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_storage() {
        let metrics = Metrics::default();
        metrics.request("PUT", 201, 10, 300, Duration::from_millis(20));
        metrics.request("PUT", 201, 5, 300, Duration::from_secs(500));
        metrics.error("quota");
        metrics.proof(true);
        metrics.proof(false);
        metrics.proof(false);
        let text = metrics.render(&[("ee".into(), 42)]);
        for line in [
            "chancery_site_requests_total{method=\"PUT\",status=\"201\"} 2",
            "chancery_site_received_bytes_total 15",
            "chancery_site_sent_bytes_total 600",
            "chancery_site_request_duration_seconds_bucket{le=\"0.025\"} 1",
            "chancery_site_request_duration_seconds_bucket{le=\"120\"} 1",
            "chancery_site_request_duration_seconds_bucket{le=\"+Inf\"} 2",
            "chancery_site_request_duration_seconds_count 2",
            "chancery_site_errors_total{reason=\"quota\"} 1",
            "chancery_site_errors_total{reason=\"storage\"} 0",
            "chancery_site_tenant_stored_bytes{tenant=\"ee\"} 42",
            "chancery_site_proofs_total{copy=\"intact\"} 1",
            "chancery_site_proofs_total{copy=\"damaged\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&axum::http::Method::PUT), "PUT");
        assert_eq!(method_label(&axum::http::Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
