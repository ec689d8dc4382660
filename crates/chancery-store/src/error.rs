//! [`StoreError`]: what can go wrong at rest, phrased so that a person can act on it.

use std::io;

use crate::ObjectKind;

/// Everything a [`crate::Backend`] can fail with.
///
/// Messages name the place and suggest a remedy, because they reach end users as-is
/// (e.g. "site folder /mnt/usb is full (No space left on device): free space there ...").
/// Callers that need to react programmatically match on the variant.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist.
    #[error(
        "no {kind} named {name} at {location}: it was never stored, was deleted, or the folder \
         is not the one you meant"
    )]
    NotFound {
        /// The backend's location.
        location: String,
        /// The object's kind.
        kind: ObjectKind,
        /// The object's name.
        name: String,
    },

    /// The device or quota is full (ENOSPC, EDQUOT).
    #[error(
        "site folder {location} is full ({source}): free space or raise the quota there, or \
         choose another location, then run again (nothing partial was left behind)"
    )]
    StorageFull {
        /// The backend's location.
        location: String,
        /// The underlying error.
        source: io::Error,
    },

    /// The operating system refused access (EACCES, EPERM, EROFS).
    #[error(
        "permission denied at {location} ({source}): check that this user owns or may write \
         there and that the device is not mounted read-only"
    )]
    PermissionDenied {
        /// The path (or URL) that was refused.
        location: String,
        /// The underlying error.
        source: io::Error,
    },

    /// A name outside the rules of [`crate::validate_name`].
    #[error(
        "invalid object name {name:?}: names are 1 to 128 characters of A-Z a-z 0-9 '.' '_' '-' \
         and do not start with '.' (this is a bug in the caller)"
    )]
    InvalidName {
        /// The rejected name.
        name: String,
    },

    /// The store as a whole cannot be reached: its folder is gone, is not a folder, the
    /// device is unplugged, the server does not answer.
    #[error("storage at {location} is unavailable: {reason}")]
    Unavailable {
        /// The backend's location.
        location: String,
        /// Why, and what to check.
        reason: String,
    },

    /// Any other I/O failure.
    #[error("I/O error at {location} while {context}: {source}")]
    Io {
        /// The path (or URL) involved.
        location: String,
        /// What was being done ("reading", "creating a folder", ...).
        context: String,
        /// The underlying error.
        source: io::Error,
    },

    /// A failure injected on purpose by [`crate::FaultyBackend`] (tests only).
    #[error("injected fault: {what}")]
    Injected {
        /// Which fault, on which object.
        what: String,
    },
}

impl StoreError {
    /// Whether this is [`StoreError::NotFound`]: handy for `Option`-style callers.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    /// Classifies an I/O error by what a user could do about it.
    ///
    /// `location` is the path the operation touched; `store_location` is the backend's own
    /// location, used for "full" (a disk is full as a whole, not one file). `ErrorKind::NotFound`
    /// is *not* handled here: only the caller knows whether a missing path means a missing
    /// object, a missing folder or a vanished store.
    pub fn from_io(err: io::Error, location: &str, store_location: &str, context: &str) -> StoreError {
        if is_storage_full(&err) {
            StoreError::StorageFull { location: store_location.to_string(), source: err }
        } else if is_permission_denied(&err) {
            StoreError::PermissionDenied { location: location.to_string(), source: err }
        } else {
            StoreError::Io { location: location.to_string(), context: context.to_string(), source: err }
        }
    }
}

/// ENOSPC and EDQUOT: both are cured by freeing space, so callers need not tell them apart.
fn is_storage_full(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
        || err.kind() == io::ErrorKind::StorageFull
}

/// EACCES and EPERM (ownership, modes) and EROFS (read-only mount): all are cured by
/// changing who may write where.
fn is_permission_denied(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS))
        || err.kind() == io::ErrorKind::PermissionDenied
        || err.kind() == io::ErrorKind::ReadOnlyFilesystem
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(errno: i32) -> StoreError {
        StoreError::from_io(io::Error::from_raw_os_error(errno), "/x/packs/ab", "/x", "writing")
    }

    #[test]
    fn errno_classes() {
        assert!(matches!(classify(libc::ENOSPC), StoreError::StorageFull { .. }));
        assert!(matches!(classify(libc::EDQUOT), StoreError::StorageFull { .. }));
        assert!(matches!(classify(libc::EACCES), StoreError::PermissionDenied { .. }));
        assert!(matches!(classify(libc::EPERM), StoreError::PermissionDenied { .. }));
        assert!(matches!(classify(libc::EROFS), StoreError::PermissionDenied { .. }));
        assert!(matches!(classify(libc::EIO), StoreError::Io { .. }));
    }

    #[test]
    fn messages_name_the_place_and_the_remedy() {
        let full = classify(libc::ENOSPC).to_string();
        assert!(full.starts_with("site folder /x is full ("), "{full}");
        assert!(full.contains("free space"), "{full}");
        let denied = classify(libc::EROFS).to_string();
        assert!(denied.contains("/x/packs/ab") && denied.contains("read-only"), "{denied}");
        let io = classify(libc::EIO).to_string();
        assert!(io.contains("while writing"), "{io}");
    }
}
