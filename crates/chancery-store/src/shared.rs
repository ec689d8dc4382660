//! An object's bytes as the parts it was built from, shared by the puts of several sites.

/// The bytes of one object as parts, in order, never joined: a backup's pack is its sealed
/// header, each sealed blob and its padding, each part as the thread that made it allocated
/// it. A folder writes the parts as they are, and a site server's client sends them as the
/// frames of one request body, so that a pack is neither copied into one buffer nor held
/// twice in memory.
///
/// Shared between the sites a backup writes to (behind an `Arc`); each put drops its
/// reference once it is done with the bytes.
#[derive(Debug)]
pub struct SharedParts {
    parts: Vec<Vec<u8>>,
    len: u64,
    blake3: [u8; 32],
}

impl SharedParts {
    /// The parts and the BLAKE3 hash of their concatenation, which the caller computed as it
    /// built them (a pack's name is that hash). Not hashed again here: the builder hashed the
    /// parts once; a site server checks the hash it is sent against the body it receives, so
    /// a wrong one is refused there, never stored.
    pub fn new(parts: Vec<Vec<u8>>, blake3: [u8; 32]) -> Self {
        let len = parts.iter().map(|part| part.len() as u64).sum();
        Self { parts, len, blake3 }
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[Vec<u8>] {
        &self.parts
    }

    /// The parts, in order, as slices.
    pub fn slices(&self) -> Vec<&[u8]> {
        self.parts.iter().map(Vec::as_slice).collect()
    }

    /// Total length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether there are no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// BLAKE3 of all the bytes, as given to [`SharedParts::new`].
    pub fn blake3(&self) -> &[u8; 32] {
        &self.blake3
    }

    /// The parts, for the one put left holding them.
    pub fn into_parts(self) -> Vec<Vec<u8>> {
        self.parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_join_in_order_and_keep_their_length_and_hash() {
        let parts = vec![b"head".to_vec(), Vec::new(), b"blob".to_vec(), b"pad".to_vec()];
        let hash = *blake3::hash(b"headblobpad").as_bytes();
        let shared = SharedParts::new(parts, hash);
        assert_eq!((shared.len(), shared.is_empty(), shared.blake3()), (11, false, &hash));
        assert_eq!(shared.slices().concat(), b"headblobpad");
        assert_eq!(shared.parts()[2], b"blob");
    }
}
