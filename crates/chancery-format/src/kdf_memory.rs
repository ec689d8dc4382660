//! The working memory of Argon2id (46 MiB by default), mapped so that the kernel can back it
//! with 2 MiB pages.
//!
//! Why: on this class of machine (a VM), faulting in 16,384 small pages cost about 80 ms of
//! the ~290 ms a key derivation took; with transparent huge pages on request (`madvise`, the
//! common kernel default) it takes 32 faults. Measured with the earlier default, 64 MiB and
//! t = 3: p = 1 from 290 ms to 150–200 ms; p = 2 on two cores from 190 ms to about 100 ms.
//! (46 MiB is 11,776 small pages, or 23 huge ones.)

use argon2::Block;

/// Memory for `len` Argon2 blocks: an anonymous mapping when the system gives one, else the heap.
pub(crate) enum KdfMemory {
    Mapped { map: memmap2::MmapMut, len: usize },
    Heap(Vec<Block>),
}

impl KdfMemory {
    /// Zeroed memory for `len` blocks.
    pub(crate) fn new(len: usize) -> Self {
        let bytes = len.saturating_mul(Block::SIZE);
        match memmap2::MmapOptions::new().len(bytes).map_anon() {
            Ok(map) if bytes > 0 => {
                // Only a hint: without huge pages the mapping works as well, only slower to fault.
                let _ = map.advise(memmap2::Advice::HugePage);
                Self::Mapped { map, len }
            }
            _ => Self::Heap(vec![Block::default(); len]),
        }
    }

    /// The blocks, for `Argon2::hash_password_into_with_memory`.
    pub(crate) fn blocks(&mut self) -> &mut [Block] {
        match self {
            Self::Mapped { map, len } => blocks_of(map, *len),
            Self::Heap(blocks) => blocks,
        }
    }
}

#[allow(unsafe_code)]
fn blocks_of(map: &mut memmap2::MmapMut, len: usize) -> &mut [Block] {
    assert!(map.len() >= len * Block::SIZE);
    let ptr = map.as_mut_ptr();
    assert_eq!(ptr.align_offset(std::mem::align_of::<Block>()), 0);
    // SAFETY: the mapping is private, anonymous and zero-filled, at least `len * Block::SIZE`
    // bytes long (checked above) and page-aligned, which is more than `Block`'s 64-byte
    // alignment (checked above). `Block` is a plain array of `u64`, for which every bit pattern,
    // zero included, is valid. The slice borrows `map` mutably, so it cannot outlive the mapping
    // or alias another view of it.
    unsafe { std::slice::from_raw_parts_mut(ptr.cast::<Block>(), len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_memory_gives_the_same_key_as_the_heap() {
        let params = argon2::Params::new(256, 1, 2, Some(32)).unwrap();
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params.clone());
        let mut heap_out = [0u8; 32];
        argon.hash_password_into(b"pw", &[9; 32], &mut heap_out).unwrap();
        let mut memory = KdfMemory::new(params.block_count());
        assert!(matches!(memory, KdfMemory::Mapped { .. }));
        let mut mapped_out = [0u8; 32];
        argon.hash_password_into_with_memory(b"pw", &[9; 32], &mut mapped_out, memory.blocks()).unwrap();
        assert_eq!(heap_out, mapped_out);
    }
}
