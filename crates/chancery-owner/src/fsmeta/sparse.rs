//! Writing restored file content so that holes become holes again.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Granularity of hole detection. 4 KiB is the block size of nearly every Linux filesystem,
/// so a zero block skipped at this alignment is a block the filesystem will not allocate.
const BLOCK: u64 = 4096;

/// Writes a file's content sequentially, seeking over all-zero 4 KiB-aligned blocks instead of
/// writing them, so that a sparse file comes back sparse rather than fully allocated.
///
/// The file must be new (empty) when the writer is made: skipped ranges are relied on to read
/// as zeros, which only holds for ranges never written.
pub struct SparseWriter {
    file: File,
    /// Logical end of what has been written (or skipped) so far.
    pos: u64,
    /// End of the bytes actually written: the file's length until `finish_file`.
    written_end: u64,
}

impl SparseWriter {
    /// A writer that starts at offset 0 of `file`, which must be empty.
    pub(super) fn new(file: File) -> Self {
        Self { file, pos: 0, written_end: 0 }
    }

    /// Bytes passed to [`write_chunk`](Self::write_chunk) so far.
    pub fn written(&self) -> u64 {
        self.pos
    }

    /// Appends `data` at the current position; whole aligned blocks of zeros are skipped.
    pub fn write_chunk(&mut self, data: &[u8]) -> io::Result<()> {
        let start = self.pos;
        // Start (index into `data`) of the pending bytes to write: they are written in one
        // call when a zero block or the end of `data` is reached.
        let mut run_from = 0;
        let mut i = 0;
        while i < data.len() {
            let end = i + piece_len(start + i as u64, data.len() - i);
            if is_zero_block(&data[i..end]) {
                self.write_at(&data[run_from..i], start + run_from as u64)?;
                run_from = end;
            }
            i = end;
        }
        self.write_at(&data[run_from..], start + run_from as u64)?;
        self.pos = start + data.len() as u64;
        Ok(())
    }

    /// Sets the file length to `size` (which creates any trailing hole) and closes the file.
    ///
    /// Fails with `InvalidData` if the chunks written do not add up to `size`: content is
    /// restored exactly or not at all. A caller that accepts a length mismatch (a file that
    /// changed while it was backed up) can pass [`written`](Self::written) instead.
    pub fn finish(self, size: u64) -> io::Result<()> {
        self.finish_file(size).map(drop)
    }

    /// [`finish`](Self::finish), handing back the open file (for its metadata).
    pub fn finish_file(self, size: u64) -> io::Result<File> {
        if self.pos != size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("restored content is {} bytes, expected {size}", self.pos),
            ));
        }
        // Only a trailing hole needs the length set: otherwise the writes made it already, and
        // one system call per file less counts in a restore of many small files.
        if self.written_end != size {
            self.file.set_len(size)?;
        }
        Ok(self.file)
    }

    /// Writes `bytes` at file offset `at`, if there are any.
    fn write_at(&mut self, bytes: &[u8], at: u64) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.file.write_all_at(bytes, at)?;
        self.written_end = at + bytes.len() as u64;
        Ok(())
    }
}

/// Length of the piece starting at file offset `at`: up to the next block boundary, so pieces
/// stay aligned to file offsets whatever the chunk boundaries are.
fn piece_len(at: u64, available: usize) -> usize {
    let to_boundary = (BLOCK - at % BLOCK) as usize; // at most BLOCK: fits any usize
    to_boundary.min(available)
}

/// A whole block of zeros (a partial block is written: skipping it would not make a hole).
fn is_zero_block(piece: &[u8]) -> bool {
    piece.len() as u64 == BLOCK && piece.iter().all(|&b| b == 0)
}
