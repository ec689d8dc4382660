//! The owner's configuration, kept encrypted at every site so that one site and the password
//! are enough to rebuild a lost home (`recover`).
//!
//! The copy is the config file's exact text in an object envelope of type `config` (FORMAT.md
//! §7), stored as `meta/owner-config-<id>`, where `id` is a keyed hash of the text: equal texts
//! get equal names (so an unchanged config is not stored again), while a site, which lacks the
//! key, cannot test a guess of the content. The ledger records each new id (`config` event),
//! so the newest copy is the one the trusted ledger names, not whatever a site shows.

use anyhow::{bail, Context, Result};
use chancery_format::keys::Keys;
use chancery_format::object::{open_object, seal_object, ObjectType};
use chancery_store::ObjectKind;
use serde::{Deserialize, Serialize};

/// Names of configuration copies start with this, in the `meta` namespace.
pub const CONFIG_OBJECT_PREFIX: &str = "owner-config-";
/// Version of the record inside the envelope.
const CONFIG_COPY_VERSION: u32 = 1;
/// Domain of the keyed hash: no chunk of data ever hashes to a config id.
const ID_DOMAIN: &[u8] = b"chancery-config v1\n";

#[derive(Serialize, Deserialize)]
struct ConfigRecord {
    version: u32,
    text: String,
}

/// A sealed copy of the config, ready to store.
#[derive(Clone, Debug)]
pub struct ConfigCopy {
    /// The keyed hash of the text, 64 hex digits.
    pub id: String,
    /// Its object name in `meta`.
    pub name: String,
    /// The envelope.
    pub bytes: Vec<u8>,
}

/// The id of a config text.
pub fn config_id(keys: &Keys, text: &str) -> String {
    keys.blob_id(&[ID_DOMAIN, text.as_bytes()].concat()).to_hex()
}

/// The object name of the copy with this id.
pub fn object_name(id: &str) -> String {
    format!("{CONFIG_OBJECT_PREFIX}{id}")
}

/// Seals a config text.
pub fn seal(keys: &Keys, text: &str) -> ConfigCopy {
    let id = config_id(keys, text);
    let record = ConfigRecord { version: CONFIG_COPY_VERSION, text: text.to_string() };
    ConfigCopy { name: object_name(&id), bytes: seal_object(keys, ObjectType::Config, &record), id }
}

/// Opens a copy and checks that it is the config with this id.
pub fn open(keys: &Keys, id: &str, bytes: &[u8]) -> Result<String> {
    let record: ConfigRecord =
        open_object(keys, ObjectType::Config, bytes).context("the config copy does not decrypt")?;
    if record.version != CONFIG_COPY_VERSION {
        bail!("config copy version {} is not supported (a newer Chancery may be needed)", record.version);
    }
    if config_id(keys, &record.text) != id {
        bail!("the config copy is not the one the ledger names");
    }
    Ok(record.text)
}

/// Stores the copy at a site unless it holds it already.
pub fn store(backend: &dyn chancery_store::Backend, copy: &ConfigCopy) -> Result<()> {
    if backend.stat(ObjectKind::Meta, &copy.name)?.is_none() {
        backend.put(ObjectKind::Meta, &copy.name, &copy.bytes)?;
        backend.sync()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chancery_format::keys::MasterKey;

    #[test]
    fn a_copy_opens_only_as_the_config_it_names() {
        let keys = MasterKey::generate().derive();
        let copy = seal(&keys, "version = 1\n");
        assert_eq!(copy.id, config_id(&keys, "version = 1\n"));
        assert_eq!(open(&keys, &copy.id, &copy.bytes).unwrap(), "version = 1\n");
        let other = seal(&keys, "version = 2\n");
        assert!(open(&keys, &copy.id, &other.bytes).is_err(), "another config under this id");
        let stranger = MasterKey::generate().derive();
        assert!(open(&stranger, &copy.id, &copy.bytes).is_err());
        assert_ne!(config_id(&keys, "x"), config_id(&stranger, "x"), "keyed: a site cannot test guesses");
    }
}
