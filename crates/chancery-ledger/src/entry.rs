//! The ledger's entries: one leaf of the Merkle tree per change to the archive.
//!
//! An entry is four lines of UTF-8 text, each ending in `\n`:
//!
//! ```text
//! chancery-ledger-entry v1
//! index <position in the log, from 0>
//! time <Unix seconds when it was written>
//! <event> <argument>
//! ```
//!
//! The leaf is these exact bytes (hashed as RFC 9162 leaf data). The index is inside the
//! entry so that entries stored as loose objects at a site (named by their BLAKE3 hash) can be
//! put back in order, and so that one entry can never stand at two positions.

use std::fmt;

use thiserror::Error;

/// The first line of every entry; a new layout gets a new version.
pub const ENTRY_MAGIC: &str = "chancery-ledger-entry v1";
/// The longest entry accepted (a site name or a hash is far shorter).
pub const MAX_ENTRY_LEN: usize = 512;

/// What changed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// A snapshot was added (its object id, 64 hex digits).
    Snapshot(String),
    /// A key file was added (its object id).
    KeyAdded(String),
    /// A key file was removed (its object id).
    KeyRemoved(String),
    /// A site was added (its name).
    SiteAdded(String),
    /// A site was removed (its name).
    SiteRemoved(String),
    /// The owner's configuration changed: the keyed hash that names its encrypted copy.
    Config(String),
    /// A new key generation seals new data (its number, 1 to 255, in decimal).
    KeyRotated(String),
    /// A governance proposal was made (its id, FORMAT.md §20).
    Proposed(String),
    /// A site executed a governance proposal (its id).
    ProposalExecuted(String),
    /// A governor cancelled a governance proposal (its id).
    ProposalCancelled(String),
}

impl Event {
    /// The event's word in the entry (`snapshot`, `key-added`, ...).
    pub fn word(&self) -> &'static str {
        match self {
            Event::Snapshot(_) => "snapshot",
            Event::KeyAdded(_) => "key-added",
            Event::KeyRemoved(_) => "key-removed",
            Event::SiteAdded(_) => "site-added",
            Event::SiteRemoved(_) => "site-removed",
            Event::Config(_) => "config",
            Event::KeyRotated(_) => "key-rotated",
            Event::Proposed(_) => "proposed",
            Event::ProposalExecuted(_) => "proposal-executed",
            Event::ProposalCancelled(_) => "proposal-cancelled",
        }
    }

    /// The event's argument: an object id or a site name.
    pub fn argument(&self) -> &str {
        match self {
            Event::Snapshot(a)
            | Event::KeyAdded(a)
            | Event::KeyRemoved(a)
            | Event::SiteAdded(a)
            | Event::SiteRemoved(a)
            | Event::Config(a)
            | Event::KeyRotated(a)
            | Event::Proposed(a)
            | Event::ProposalExecuted(a)
            | Event::ProposalCancelled(a) => a,
        }
    }

    fn from_parts(word: &str, argument: &str) -> Result<Event, EntryError> {
        let event = match word {
            "snapshot" => Event::Snapshot(argument.to_owned()),
            "key-added" => Event::KeyAdded(argument.to_owned()),
            "key-removed" => Event::KeyRemoved(argument.to_owned()),
            "site-added" => Event::SiteAdded(argument.to_owned()),
            "site-removed" => Event::SiteRemoved(argument.to_owned()),
            "config" => Event::Config(argument.to_owned()),
            "key-rotated" => Event::KeyRotated(argument.to_owned()),
            "proposed" => Event::Proposed(argument.to_owned()),
            "proposal-executed" => Event::ProposalExecuted(argument.to_owned()),
            "proposal-cancelled" => Event::ProposalCancelled(argument.to_owned()),
            other => return Err(EntryError::UnknownEvent(other.to_owned())),
        };
        event.check()?;
        Ok(event)
    }

    /// Object ids are 64 lower-case hex digits; site names are 1 to 64 letters, digits,
    /// `-` or `_`; a key generation is 1 to 255 in decimal.
    fn check(&self) -> Result<(), EntryError> {
        let a = self.argument();
        let ok = match self {
            Event::Snapshot(_)
            | Event::KeyAdded(_)
            | Event::KeyRemoved(_)
            | Event::Config(_)
            | Event::Proposed(_)
            | Event::ProposalExecuted(_)
            | Event::ProposalCancelled(_) => {
                a.len() == 64 && a.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            }
            Event::SiteAdded(_) | Event::SiteRemoved(_) => {
                (1..=64).contains(&a.len())
                    && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }
            // Canonical decimal: no sign, no leading zero.
            Event::KeyRotated(_) => a.parse::<u8>().is_ok_and(|n| n >= 1 && n.to_string() == a),
        };
        if ok {
            Ok(())
        } else {
            Err(EntryError::BadArgument { event: self.word(), argument: a.to_owned() })
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.word(), self.argument())
    }
}

/// Why bytes are not an entry.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EntryError {
    /// Longer than [`MAX_ENTRY_LEN`].
    #[error("a ledger entry is at most {MAX_ENTRY_LEN} bytes, this one has {0}")]
    TooLong(usize),
    /// Not UTF-8, not four `\n`-terminated lines, or a line out of place.
    #[error("not a ledger entry: {0}")]
    Malformed(&'static str),
    /// A number that is not canonical decimal.
    #[error("ledger entry field {0} is not a canonical decimal number")]
    BadNumber(&'static str),
    /// An event this version does not know.
    #[error("unknown ledger event {0:?} (written by a newer Chancery?)")]
    UnknownEvent(String),
    /// An argument of the wrong form.
    #[error("ledger event {event} has a malformed argument {argument:?}")]
    BadArgument {
        /// The event.
        event: &'static str,
        /// The argument.
        argument: String,
    },
}

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// Its position in the log, from 0.
    pub index: u64,
    /// When it was written (Unix seconds; the writer's clock, informative only).
    pub time: u64,
    /// What changed.
    pub event: Event,
}

impl Entry {
    /// A new entry; fails if the event's argument is malformed.
    pub fn new(index: u64, time: u64, event: Event) -> Result<Entry, EntryError> {
        event.check()?;
        Ok(Entry { index, time, event })
    }

    /// The entry's bytes: the leaf data of the Merkle tree.
    pub fn encode(&self) -> Vec<u8> {
        format!("{ENTRY_MAGIC}\nindex {}\ntime {}\n{}\n", self.index, self.time, self.event).into_bytes()
    }

    /// Parses an entry; only the exact bytes [`Entry::encode`] writes are accepted.
    pub fn parse(bytes: &[u8]) -> Result<Entry, EntryError> {
        if bytes.len() > MAX_ENTRY_LEN {
            return Err(EntryError::TooLong(bytes.len()));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| EntryError::Malformed("not UTF-8"))?;
        let body = text.strip_suffix('\n').ok_or(EntryError::Malformed("does not end in a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [magic, index, time, event] = lines.as_slice() else {
            return Err(EntryError::Malformed("an entry has exactly four lines"));
        };
        if *magic != ENTRY_MAGIC {
            return Err(EntryError::Malformed("first line is not `chancery-ledger-entry v1`"));
        }
        let index = field(index, "index")?;
        let time = field(time, "time")?;
        let (word, argument) =
            event.split_once(' ').ok_or(EntryError::Malformed("event without argument"))?;
        let entry = Entry { index, time, event: Event::from_parts(word, argument)? };
        // One entry, one encoding: refuses anything `encode` would not write byte for byte.
        if entry.encode() != bytes {
            return Err(EntryError::Malformed("not in canonical form"));
        }
        Ok(entry)
    }
}

/// `<name> <decimal>`, the number canonical (no sign, no leading zero).
fn field(line: &str, name: &'static str) -> Result<u64, EntryError> {
    let digits = line
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix(' '))
        .ok_or(EntryError::Malformed("fields are index, then time"))?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return Err(EntryError::BadNumber(name));
    }
    digits.parse().map_err(|_| EntryError::BadNumber(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn round_trips_every_event() {
        for event in [
            Event::Snapshot(ID.into()),
            Event::KeyAdded(ID.into()),
            Event::KeyRemoved(ID.into()),
            Event::SiteAdded("lux-1".into()),
            Event::SiteRemoved("tallinn_2".into()),
            Event::Config(ID.into()),
            Event::KeyRotated("1".into()),
            Event::Proposed(ID.into()),
            Event::ProposalExecuted(ID.into()),
            Event::ProposalCancelled(ID.into()),
            Event::KeyRotated("255".into()),
        ] {
            let entry = Entry::new(7, 1_764_331_234, event).unwrap();
            assert_eq!(Entry::parse(&entry.encode()).unwrap(), entry);
        }
    }

    #[test]
    fn a_key_generation_is_canonical_decimal_from_1_to_255() {
        for bad in ["0", "01", "256", "+1", "", "x"] {
            assert!(Entry::new(1, 5, Event::KeyRotated(bad.into())).is_err(), "{bad}");
        }
    }

    #[test]
    fn writes_the_documented_bytes() {
        let entry = Entry::new(0, 5, Event::Snapshot(ID.into())).unwrap();
        let expected = format!("chancery-ledger-entry v1\nindex 0\ntime 5\nsnapshot {ID}\n");
        assert_eq!(entry.encode(), expected.as_bytes());
    }

    #[test]
    fn refuses_anything_not_canonical() {
        let good = format!("chancery-ledger-entry v1\nindex 1\ntime 5\nsnapshot {ID}\n");
        assert!(Entry::parse(good.as_bytes()).is_ok());
        for bad in [
            good.replace("index 1", "index 01"),
            good.replace("index 1", "index +1"),
            good.replace("time 5", "time "),
            good.replace("v1", "v2"),
            good.replace("snapshot", "snapshots"),
            good.replace(ID, &ID.to_uppercase()),
            good.replace(ID, &ID[..62]),
            good.trim_end().to_string(),
            format!("{good}\n"),
            good.replace('\n', "\r\n"),
            good.replace("index 1\ntime 5", "time 5\nindex 1"),
            good.replace(&format!("snapshot {ID}"), "site-added a b"),
            good.replace(&format!("snapshot {ID}"), "site-added "),
            good.replace("index 1", "index 18446744073709551616"),
        ] {
            assert!(Entry::parse(bad.as_bytes()).is_err(), "accepted {bad:?}");
        }
        assert_eq!(Entry::parse(&[b'a'; 600]), Err(EntryError::TooLong(600)));
    }

    #[test]
    fn new_checks_arguments() {
        assert!(Entry::new(0, 0, Event::SiteAdded("a b".into())).is_err());
        assert!(Entry::new(0, 0, Event::KeyAdded("xyz".into())).is_err());
    }
}
