//! Formatting for people: sizes, times, short ids.

/// Bytes with a binary unit.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Seconds since the epoch as an RFC 3339 UTC time.
pub fn time(sec: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(sec.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A duration in seconds, for people.
pub fn duration(sec: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(sec.max(0) as u64)).to_string()
}

/// Prints a value as pretty JSON on stdout.
pub fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
