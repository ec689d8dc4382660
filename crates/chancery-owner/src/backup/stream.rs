//! One stream (a file's content, or stdin) read, cut into chunks and stored.
//!
//! A stream longer than one maximal chunk is cut on the walker's thread while a second thread
//! hashes and stores the chunks. Done on one thread, the cut (gear hash, ~1.7 GiB/s) and the
//! keyed BLAKE3 hash came one after the other, and a no-change backup of a 256 MiB dump on
//! stdin used one core for 0.55–0.71 s. A shorter stream is handled inline: a thread per
//! small file would cost more than it saves.

use super::walk::Walker;
use crate::progress::Progress;
use anyhow::Result;
use chancery_format::blob::BlobKind;
use chancery_format::chunker::Chunker;
use chancery_format::BlobId;
use crossbeam_channel::bounded;
use std::io::{self, Read};

/// Chunks the cutting thread may hold ahead of the storing thread (about 1 MiB each).
const CUT_AHEAD: usize = 4;

/// The content ids of a stream and its length, or the read error that stopped it.
type Chunked = io::Result<(Vec<BlobId>, u64)>;

impl Walker<'_, '_, '_> {
    /// Reads, chunks and stores a stream. `size_hint` (a file's length; `None` for a pipe)
    /// picks the way. The outer error is fatal (pipeline), the inner one a read error of this
    /// source.
    pub fn chunks(&mut self, source: impl Read, size_hint: Option<u64>) -> Result<Chunked> {
        let max = self.chunker.params().max;
        if self.buf.len() < 2 * max {
            self.buf.resize(2 * max, 0);
        }
        let chunked = match size_hint {
            Some(size) if size <= max as u64 => self.chunks_inline(source)?,
            _ => self.chunks_in_parallel(source)?,
        };
        if let Ok((_, size)) = &chunked {
            self.summary.bytes += size;
            self.summary.bytes_read += size;
        }
        Ok(chunked)
    }

    fn chunks_inline(&mut self, source: impl Read) -> Result<Chunked> {
        let Walker { pipeline, chunker, buf, progress, .. } = self;
        let mut content = Vec::new();
        let size = cut_stream(chunker, buf, source, |chunk| {
            content.push(pipeline.store(BlobKind::Data, chunk)?);
            Progress::add(&progress.bytes_read, chunk.len() as u64);
            Ok(())
        })?;
        Ok(size.map(|size| (content, size)))
    }

    fn chunks_in_parallel(&mut self, source: impl Read) -> Result<Chunked> {
        let Walker { pipeline, chunker, buf, progress, .. } = self;
        let (tx, rx) = bounded::<Vec<u8>>(CUT_AHEAD);
        std::thread::scope(|scope| {
            let storer = scope.spawn(move || -> Result<Vec<BlobId>> {
                let mut content = Vec::new();
                for chunk in rx {
                    let len = chunk.len() as u64;
                    content.push(pipeline.store_owned(BlobKind::Data, chunk)?);
                    Progress::add(&progress.bytes_read, len);
                }
                Ok(content)
            });
            // A failed send means the storer stopped on an error, which its join returns.
            let size = cut_stream(chunker, buf, source, |chunk| {
                tx.send(chunk.to_vec()).map_err(|_| anyhow::anyhow!("chunk storer stopped"))
            });
            drop(tx);
            let content = storer.join().map_err(|_| anyhow::anyhow!("the chunk storer panicked"))??;
            Ok(size?.map(|size| (content, size)))
        })
    }
}

/// Reads `source` to its end through `buf` (at least twice the largest chunk), handing each
/// chunk to `emit` in order; returns the stream's length. The outer error is `emit`'s, the
/// inner one the stream's.
fn cut_stream(
    chunker: &Chunker,
    buf: &mut [u8],
    mut source: impl Read,
    mut emit: impl FnMut(&[u8]) -> Result<()>,
) -> Result<io::Result<u64>> {
    let max = chunker.params().max;
    let (mut start, mut end, mut eof, mut size) = (0usize, 0usize, false, 0u64);
    loop {
        while !eof && end - start < max {
            match source.read(&mut buf[end..]) {
                Ok(0) => eof = true,
                Ok(n) => end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Ok(Err(e)),
            }
        }
        while let Some(cut) = chunker.next_cut(&buf[start..end], eof) {
            emit(&buf[start..start + cut])?;
            (start, size) = (start + cut, size + cut as u64);
            if !eof && end - start < max {
                break;
            }
        }
        if eof && start == end {
            return Ok(Ok(size));
        }
        buf.copy_within(start..end, 0);
        (end, start) = (end - start, 0);
    }
}
