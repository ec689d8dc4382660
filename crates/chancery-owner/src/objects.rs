//! Reading content-addressed objects from a site, verified against their names.

use crate::error::IntegrityError;
use crate::site::Site;
use anyhow::{Context, Result};
use chancery_format::{FormatError, ObjectId};
use chancery_store::ObjectKind;

/// Gets an object and checks that its bytes hash to its name (keyless: what a site can check too).
pub fn get_verified(site: &Site, kind: ObjectKind, id: &ObjectId) -> Result<Vec<u8>> {
    let bytes = site
        .backend
        .get(kind, &id.to_hex())
        .with_context(|| format!("reading {} {} at site {}", kind.dir_name(), id.short(), site.name()))?;
    if ObjectId::of(&bytes) != *id {
        return Err(IntegrityError {
            site: site.name().to_string(),
            object: format!("{} {}", kind.dir_name(), id.to_hex()),
            detail: "content does not match its name (corrupted or altered)".into(),
        }
        .into());
    }
    Ok(bytes)
}

/// The error for an object whose content failed to decrypt or parse: an integrity error,
/// except for a version this release cannot read, which is no sign of tampering.
pub fn tampered(site: &Site, what: &str, id: &ObjectId, err: FormatError) -> anyhow::Error {
    if let FormatError::UnsupportedVersion { .. } = err {
        return anyhow::anyhow!("site {}: {what} {}: {err}", site.name(), id.to_hex());
    }
    IntegrityError {
        site: site.name().to_string(),
        object: format!("{what} {}", id.to_hex()),
        detail: err.to_string(),
    }
    .into()
}

/// The ids of every object of a kind at a site (names that are not ids are ignored).
pub fn list_ids(site: &Site, kind: ObjectKind) -> Result<Vec<ObjectId>> {
    let listed = site
        .backend
        .list(kind)
        .with_context(|| format!("listing {} at site {}", kind.dir_name(), site.name()))?;
    Ok(listed.iter().filter_map(|i| ObjectId::from_hex(&i.name)).collect())
}
