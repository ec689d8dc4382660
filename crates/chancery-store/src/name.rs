//! Object names: what is allowed, and why.

use crate::StoreError;

/// The longest allowed name, in bytes (= characters, since names are ASCII).
///
/// 128 leaves room for a hex-encoded 512-bit hash plus a suffix, and stays far below every
/// file system's 255-byte component limit and every object store's key limit.
pub const MAX_NAME_LEN: usize = 128;

/// Checks an object name: 1 to [`MAX_NAME_LEN`] characters of `[A-Za-z0-9._-]`, not starting
/// with `.`.
///
/// The rules are what keeps a name a single, visible path component on every backend: no `/`
/// or `\` (so no path traversal), no leading `.` (so no `.`, `..` or hidden files, which also
/// keeps names apart from the file backend's own bookkeeping), nothing that a file system or
/// URL would need to escape.
///
/// ```
/// use chancery_store::validate_name;
/// assert!(validate_name("3f2a9c.pack").is_ok());
/// assert!(validate_name("../etc/passwd").is_err());
/// ```
pub fn validate_name(name: &str) -> Result<(), StoreError> {
    let well_formed = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name.bytes().all(is_name_byte);
    if well_formed {
        Ok(())
    } else {
        Err(StoreError::InvalidName { name: name.to_string() })
    }
}

/// Whether `name` is valid, without building an error (used to skip foreign files in listings).
pub(crate) fn is_valid_name(name: &str) -> bool {
    validate_name(name).is_ok()
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for ok in ["a", "A-b_c.d", "-x", "x.", "0123", &"f".repeat(MAX_NAME_LEN)] {
            assert!(validate_name(ok).is_ok(), "{ok:?} should be valid");
        }
    }

    #[test]
    fn rejects_everything_else() {
        let too_long = "f".repeat(MAX_NAME_LEN + 1);
        for bad in ["", ".", "..", ".hidden", "../x", "a/b", "a\\b", "a b", "é", "a\0b", "a\n", &too_long] {
            assert!(
                matches!(validate_name(bad), Err(StoreError::InvalidName { .. })),
                "{bad:?} should be invalid"
            );
        }
    }
}
