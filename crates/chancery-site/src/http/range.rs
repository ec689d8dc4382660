//! Single byte ranges (`Range: bytes=a-b`, `bytes=a-`, `bytes=-n`), per RFC 9110 §14.
//!
//! A header that does not parse, or asks for several ranges, is ignored and the whole object
//! served (as the RFC allows); a range that starts at or past the end is unsatisfiable (416).

/// What to answer to a GET with this `Range` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RangeAnswer {
    /// 200 with every byte.
    Full,
    /// 206 with bytes `start..=end`.
    Part {
        /// First byte.
        start: u64,
        /// Last byte, inclusive.
        end: u64,
    },
    /// 416.
    Unsatisfiable,
}

/// Resolves a `Range` header against an object of `size` bytes.
pub(crate) fn resolve(header: Option<&str>, size: u64) -> RangeAnswer {
    let Some(spec) = header.and_then(single_spec) else {
        return RangeAnswer::Full;
    };
    match spec {
        (Some(start), Some(end)) if start > end => RangeAnswer::Full,
        (Some(start), _) if start >= size => RangeAnswer::Unsatisfiable,
        (Some(start), end) => RangeAnswer::Part { start, end: end.map_or(size - 1, |e| e.min(size - 1)) },
        (None, Some(suffix)) if suffix == 0 || size == 0 => RangeAnswer::Unsatisfiable,
        (None, Some(suffix)) => RangeAnswer::Part { start: size - suffix.min(size), end: size - 1 },
        (None, None) => RangeAnswer::Full,
    }
}

/// `bytes=first-last` as `(first, last)`; `None` for anything but one well-formed range.
fn single_spec(header: &str) -> Option<(Option<u64>, Option<u64>)> {
    let (unit, set) = header.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return None;
    }
    let (first, last) = set.trim().split_once('-')?;
    let number = |s: &str| -> Option<Option<u64>> {
        match s.trim() {
            "" => Some(None),
            digits if digits.bytes().all(|b| b.is_ascii_digit()) => digits.parse().ok().map(Some),
            _ => None,
        }
    };
    let spec = (number(first)?, number(last)?);
    (spec != (None, None)).then_some(spec)
}

/// The `Content-Range` value of a partial answer.
pub(crate) fn content_range(start: u64, end: u64, size: u64) -> String {
    format!("bytes {start}-{end}/{size}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeAnswer::*;

    #[test]
    fn single_ranges_resolve() {
        let r = |h: &str, size| resolve(Some(h), size);
        assert_eq!(r("bytes=0-9", 100), Part { start: 0, end: 9 });
        assert_eq!(r("bytes=90-200", 100), Part { start: 90, end: 99 });
        assert_eq!(r("bytes=10-", 100), Part { start: 10, end: 99 });
        assert_eq!(r("bytes=-10", 100), Part { start: 90, end: 99 });
        assert_eq!(r("bytes=-500", 100), Part { start: 0, end: 99 });
        assert_eq!(r("Bytes = 5-5", 100), Part { start: 5, end: 5 });
    }

    #[test]
    fn past_the_end_is_unsatisfiable() {
        let r = |h: &str, size| resolve(Some(h), size);
        assert_eq!(r("bytes=100-", 100), Unsatisfiable);
        assert_eq!(r("bytes=100-200", 100), Unsatisfiable);
        assert_eq!(r("bytes=0-", 0), Unsatisfiable);
        assert_eq!(r("bytes=-0", 100), Unsatisfiable);
        assert_eq!(r("bytes=-5", 0), Unsatisfiable);
    }

    #[test]
    fn anything_else_is_ignored() {
        for h in ["bytes=5-1", "bytes=0-1,4-5", "items=0-1", "bytes=-", "bytes=a-b", "bytes=+1-2", "garbage"]
        {
            assert_eq!(resolve(Some(h), 100), Full, "{h}");
        }
        assert_eq!(resolve(None, 100), Full);
    }
}
