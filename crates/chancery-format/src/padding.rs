//! Padmé padding (Nikitin et al., "Reducing metadata leakage from encrypted files and
//! communication with PURBs", 2019): lengths are rounded up so that at most O(log log L) bits
//! of the length remain, at a cost of at most 12% overhead.

/// The padded length for a plaintext of `len` bytes.
pub fn padme(len: u64) -> u64 {
    if len < 2 {
        return len;
    }
    let e = 63 - u64::leading_zeros(len) as u64; // floor(log2 len)
    let s = 64 - u64::leading_zeros(e) as u64; // floor(log2 e) + 1
    let last_bits = e - s;
    let mask = (1u64 << last_bits) - 1;
    (len + mask) & !mask
}

#[cfg(test)]
mod tests {
    use super::padme;

    #[test]
    fn known_values_and_bounds() {
        assert_eq!(padme(0), 0);
        assert_eq!(padme(1), 1);
        assert_eq!(padme(9), 10);
        assert_eq!(padme(1000), 1024);
        assert_eq!(padme(1_000_000), 1_015_808);
        for len in (2..5_000_000u64).step_by(997) {
            let p = padme(len);
            assert!(p >= len && (p - len) * 100 <= len * 12 + 100, "{len} -> {p}");
        }
    }
}
