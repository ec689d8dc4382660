//! One custodian's share: a 39-byte record with a 4-byte checksum, written as 32 words of the
//! BIP-39 English list (11 bits each) so that a person can read it aloud or type it back, and a
//! share file that adds a readable header and the signed manifest. Layout: FORMAT.md "Share".

use base64::Engine;
use thiserror::Error;

/// Version byte of a share record.
pub const SHARE_VERSION: u8 = 1;
/// Bytes of a share record without its checksum.
pub const RECORD_LEN: usize = 39;
/// Bytes of the checksum that follows the record.
pub const CHECKSUM_LEN: usize = 4;
/// Words a share is written as: 43 bytes are 344 bits, padded with zero bits to 32 x 11.
pub const WORDS: usize = 32;
/// First line of a share file.
pub const FILE_HEADER: &str = "chancery custody share v1";
const CHECKSUM_CONTEXT: &str = "chancery v1 custody share checksum";

/// Why a share could not be read. Each names what a custodian can check on paper.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ShareError {
    /// A word that is not in the word list (a typo?).
    #[error("word {position} ({word:?}) is not in the BIP-39 English word list")]
    NotAWord {
        /// 1-based position among the share's words.
        position: usize,
        /// The word as found.
        word: String,
    },
    /// Too few or too many words.
    #[error("{found} words where a share has {WORDS}")]
    WordCount {
        /// How many were found.
        found: usize,
    },
    /// The words do not add up: at least one was mistyped or altered.
    #[error("checksum mismatch: a word was mistyped or altered")]
    Checksum,
    /// Well-formed words that say something impossible.
    #[error("malformed share: {0}")]
    Malformed(&'static str),
}

/// The part of a share that must be typed back: what split made for one custodian.
#[derive(Clone, PartialEq, Eq)]
pub struct ShareRecord {
    /// Custody generation.
    pub generation: u32,
    /// Shares needed to recover.
    pub threshold: u8,
    /// The point's abscissa, 1 to 255: the share's number.
    pub x: u8,
    /// The points' ordinates, one per byte of the recovery secret.
    pub y: [u8; 32],
}

impl std::fmt::Debug for ShareRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ShareRecord(generation {}, share {})", self.generation, self.x)
    }
}

impl ShareRecord {
    /// The 39 bytes that the manifest hashes.
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[0] = SHARE_VERSION;
        out[1..5].copy_from_slice(&self.generation.to_le_bytes());
        out[5] = self.threshold;
        out[6] = self.x;
        out[7..].copy_from_slice(&self.y);
        out
    }

    /// BLAKE3 of the record: what the manifest lists for this share.
    pub fn hash(&self) -> [u8; 32] {
        *blake3::hash(&self.encode()).as_bytes()
    }

    /// The 32 words.
    pub fn to_words(&self) -> Vec<&'static str> {
        let mut bytes = self.encode().to_vec();
        bytes.extend_from_slice(&checksum(&self.encode()));
        let list = bip39::Language::English.word_list();
        (0..WORDS).map(|i| list[usize::from(read_bits(&bytes, i * 11))]).collect()
    }

    /// Reads 32 words back, checking every word and the checksum.
    pub fn from_words(words: &[&str]) -> Result<ShareRecord, ShareError> {
        if words.len() != WORDS {
            return Err(ShareError::WordCount { found: words.len() });
        }
        let mut bytes = [0u8; 44];
        for (i, word) in words.iter().enumerate() {
            let index = bip39::Language::English
                .find_word(&word.to_lowercase())
                .ok_or_else(|| ShareError::NotAWord { position: i + 1, word: word.to_string() })?;
            write_bits(&mut bytes, i * 11, index);
        }
        let (record, rest) = bytes.split_at(RECORD_LEN);
        if rest[..CHECKSUM_LEN] != checksum(record) || rest[CHECKSUM_LEN] != 0 {
            return Err(ShareError::Checksum);
        }
        Self::decode(record.try_into().expect("39 bytes"))
    }

    fn decode(bytes: &[u8; RECORD_LEN]) -> Result<ShareRecord, ShareError> {
        if bytes[0] != SHARE_VERSION {
            return Err(ShareError::Malformed("unknown share version (made by a newer Chancery?)"));
        }
        let record = ShareRecord {
            generation: u32::from_le_bytes(bytes[1..5].try_into().expect("4 bytes")),
            threshold: bytes[5],
            x: bytes[6],
            y: bytes[7..].try_into().expect("32 bytes"),
        };
        if record.x == 0 || record.threshold < 2 {
            return Err(ShareError::Malformed("share number or threshold out of range"));
        }
        Ok(record)
    }
}

/// A typo changes the checksum with probability 1 - 2^-32.
fn checksum(record: &[u8]) -> [u8; CHECKSUM_LEN] {
    let hash = blake3::Hasher::new_derive_key(CHECKSUM_CONTEXT).update(record).finalize();
    hash.as_bytes()[..CHECKSUM_LEN].try_into().expect("4 bytes")
}

/// The 11 bits at `bit` (most significant first), as BIP-39 reads its words.
fn read_bits(bytes: &[u8], bit: usize) -> u16 {
    (0..11).fold(0u16, |acc, i| {
        let at = bit + i;
        let set = bytes.get(at / 8).is_some_and(|b| b & (0x80 >> (at % 8)) != 0);
        (acc << 1) | u16::from(set)
    })
}

fn write_bits(bytes: &mut [u8], bit: usize, value: u16) {
    for i in 0..11 {
        if value & (1 << (10 - i)) != 0 {
            let at = bit + i;
            bytes[at / 8] |= 0x80 >> (at % 8);
        }
    }
}

/// A share file: the record, and the signed manifest when the file carries it (a share typed
/// back by hand may be just its words).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareFile {
    /// The share.
    pub record: ShareRecord,
    /// The manifest's bytes, unchecked (see [`super::Manifest::parse`]).
    pub manifest: Option<Vec<u8>>,
}

impl ShareFile {
    /// The text of a share file; `about` lines are shown to the custodian and ignored on reading.
    pub fn render(&self, about: &[String]) -> String {
        let mut out = format!("{FILE_HEADER}\n");
        for line in about {
            out.push_str(&format!("# {line}\n"));
        }
        out.push_str("words\n");
        for line in self.record.to_words().chunks(8) {
            out.push_str(&line.join(" "));
            out.push('\n');
        }
        if let Some(manifest) = &self.manifest {
            out.push_str("manifest\n");
            let text = base64::engine::general_purpose::STANDARD.encode(manifest);
            for line in text.as_bytes().chunks(64) {
                out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
                out.push('\n');
            }
        }
        out.push_str("end\n");
        out
    }

    /// Reads a share file, or the bare 32 words of a share typed back by hand.
    pub fn parse(text: &str) -> Result<ShareFile, ShareError> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
        let first = lines.clone().next().unwrap_or_default();
        if first != FILE_HEADER {
            let words: Vec<&str> = text.split_whitespace().collect();
            return Ok(ShareFile { record: ShareRecord::from_words(&words)?, manifest: None });
        }
        lines.next();
        if lines.next() != Some("words") {
            return Err(ShareError::Malformed("no \"words\" line after the header"));
        }
        let mut words = Vec::new();
        let mut section = None;
        for line in lines.by_ref() {
            if line == "manifest" || line == "end" {
                section = Some(line);
                break;
            }
            words.extend(line.split_whitespace());
        }
        let record = ShareRecord::from_words(&words)?;
        let manifest = match section {
            Some("manifest") => Some(read_manifest(lines)?),
            Some(_) => None,
            None => return Err(ShareError::Malformed("no \"end\" line: the file is cut short")),
        };
        Ok(ShareFile { record, manifest })
    }
}

fn read_manifest<'a>(lines: impl Iterator<Item = &'a str>) -> Result<Vec<u8>, ShareError> {
    let mut text = String::new();
    for line in lines {
        if line == "end" {
            return base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| ShareError::Malformed("the manifest is not base64"));
        }
        text.push_str(line);
    }
    Err(ShareError::Malformed("no \"end\" line: the file is cut short"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ShareRecord {
        ShareRecord {
            generation: 7,
            threshold: 3,
            x: 4,
            y: std::array::from_fn(|i| (i as u8).wrapping_mul(37)),
        }
    }

    #[test]
    fn words_round_trip() {
        let words = record().to_words();
        assert_eq!(words.len(), WORDS);
        assert_eq!(ShareRecord::from_words(&words).unwrap(), record());
        let upper: Vec<String> = words.iter().map(|w| w.to_uppercase()).collect();
        let upper: Vec<&str> = upper.iter().map(String::as_str).collect();
        assert_eq!(ShareRecord::from_words(&upper).unwrap(), record());
    }

    #[test]
    fn checksum_catches_a_swapped_word_and_a_typo_is_named() {
        let mut words = record().to_words();
        words.swap(3, 4);
        assert_eq!(ShareRecord::from_words(&words), Err(ShareError::Checksum));
        let mut words = record().to_words();
        let other = if words[9] == "zoo" { "abandon" } else { "zoo" };
        words[9] = other;
        assert_eq!(ShareRecord::from_words(&words), Err(ShareError::Checksum));
        words[9] = "zooo";
        assert!(matches!(ShareRecord::from_words(&words), Err(ShareError::NotAWord { position: 10, .. })));
        assert_eq!(ShareRecord::from_words(&words[..31]), Err(ShareError::WordCount { found: 31 }));
    }

    #[test]
    fn file_round_trip_and_bare_words() {
        let file = ShareFile { record: record(), manifest: Some(vec![9; 200]) };
        let text = file.render(&["share 4 of 5".into()]);
        assert_eq!(ShareFile::parse(&text).unwrap(), file);
        let bare = record().to_words().join(" ");
        assert_eq!(ShareFile::parse(&bare).unwrap(), ShareFile { record: record(), manifest: None });
        let cut = &text[..text.len() - 4];
        assert!(matches!(ShareFile::parse(cut), Err(ShareError::Malformed(_))));
    }

    #[test]
    fn every_one_character_change_in_the_words_is_caught() {
        let text = ShareFile { record: record(), manifest: None }.render(&[]);
        let start = text.find("words\n").unwrap() + 6;
        let end = text.find("end\n").unwrap();
        for at in start..end {
            let mut bytes = text.clone().into_bytes();
            if !bytes[at].is_ascii_lowercase() {
                continue;
            }
            bytes[at] = if bytes[at] == b'z' { b'a' } else { bytes[at] + 1 };
            let changed = String::from_utf8(bytes).unwrap();
            assert!(ShareFile::parse(&changed).is_err(), "a change at byte {at} went unseen");
        }
    }
}
