//! One stream (a file's content, or stdin) read, cut into chunks and stored.
//!
//! The stream is read into one buffer of a maximal chunk's size: up to the chunk's minimum at
//! once, then [`READ_STEP`] at a time, each step scanned for a cut from where the last one
//! stopped ([`Chunker::next_cut_from`]). After a cut only the bytes read past it (less than a
//! step) move to the buffer's front. (Filling the whole buffer and cutting in it moved up to
//! a maximal chunk to the front after each refill: nearly a copy of the whole stream.)
//!
//! A stream longer than one maximal chunk is cut on the walker's thread while a second thread
//! hashes and stores the chunks. Done on one thread, the cut (gear hash, ~1.7 GiB/s) and the
//! keyed BLAKE3 hash came one after the other, and a no-change backup of a 256 MiB dump on
//! stdin used one core for 0.55–0.71 s. A shorter stream is handled inline: a thread per
//! small file would cost more than it saves.

use super::walk::Walker;
use crate::progress::Progress;
use anyhow::Result;
use chancery_format::blob::{BlobBuffer, BlobKind};
use chancery_format::chunker::{Chunker, CutScan};
use chancery_format::BlobId;
use crossbeam_channel::bounded;
use std::io::{self, Read};

/// Chunks the cutting thread may hold ahead of the storing thread (about 1 MiB each).
const CUT_AHEAD: usize = 2;

/// Bytes read at a time past a chunk's minimum; a chunk over-reads less than this.
const READ_STEP: usize = 64 * 1024;

/// Room after a maximal chunk, for the read that checks a file ends at its known length.
const PROBE: usize = 512;

/// The content ids of a stream and its length, or the read error that stopped it.
type Chunked = io::Result<(Vec<BlobId>, u64)>;

/// Pipe buffer asked for on stdin: the most an unprivileged process may set by default
/// (`/proc/sys/fs/pipe-max-size`).
const PIPE_BUFFER: usize = 1024 * 1024;

/// Widens the pipe `fd` reads from, if it is one, to [`PIPE_BUFFER`] or the system's limit,
/// and returns its new size. A pipe holds 64 KiB by default, so the writer (`pg_dump`,
/// `cat`) and this reader take turns every 64 KiB, each turn two context switches; with
/// 1 MiB, a no-change backup of a 1 GiB dump piped from `cat` took 1.1 s instead of 2.2–2.5.
/// Not a pipe, or a refusal (a user over `pipe-user-pages-soft`): nothing changes.
#[cfg(target_os = "linux")]
pub fn widen_pipe(fd: std::os::fd::BorrowedFd) -> Option<usize> {
    use nix::fcntl::{fcntl, FcntlArg};
    use std::os::fd::AsRawFd;
    let is_pipe =
        nix::sys::stat::fstat(fd.as_raw_fd()).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFIFO);
    if !is_pipe {
        return None;
    }
    let limit = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok())
        .unwrap_or(PIPE_BUFFER);
    let wanted = PIPE_BUFFER.min(limit) as libc::c_int;
    let current = fcntl(fd.as_raw_fd(), FcntlArg::F_GETPIPE_SZ).ok()?;
    if current >= wanted {
        return Some(current as usize);
    }
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(wanted)).ok().map(|size| size as usize)
}

/// Other systems keep their pipes as they are.
#[cfg(not(target_os = "linux"))]
pub fn widen_pipe(_fd: std::os::fd::BorrowedFd) -> Option<usize> {
    None
}

impl Walker<'_, '_, '_> {
    /// Reads, chunks and stores a stream. `size_hint` (a file's length; `None` for a pipe)
    /// picks the way. The outer error is fatal (pipeline), the inner one a read error of this
    /// source.
    pub fn chunks(&mut self, source: impl Read, size_hint: Option<u64>) -> Result<Chunked> {
        let max = self.chunker.params().max;
        if self.buf.len() != max + PROBE {
            self.buf.resize(max + PROBE, 0);
        }
        let chunked = match size_hint {
            Some(size) if size <= max as u64 => self.chunks_inline(source, size_hint)?,
            _ => self.chunks_in_parallel(source, size_hint)?,
        };
        if let Ok((_, size)) = &chunked {
            self.summary.bytes += size;
            self.summary.bytes_read += size;
        }
        Ok(chunked)
    }

    fn chunks_inline(&mut self, source: impl Read, size_hint: Option<u64>) -> Result<Chunked> {
        let Walker { pipeline, chunker, buf, progress, .. } = self;
        let mut content = Vec::new();
        let size = cut_stream(chunker, buf, source, size_hint, |chunk| {
            content.push(pipeline.store(BlobKind::Data, chunk)?);
            Progress::add(&progress.bytes_read, chunk.len() as u64);
            Ok(())
        })?;
        Ok(size.map(|size| (content, size)))
    }

    fn chunks_in_parallel(&mut self, source: impl Read, size_hint: Option<u64>) -> Result<Chunked> {
        let Walker { pipeline, chunker, buf, progress, .. } = self;
        let (tx, rx) = bounded::<BlobBuffer>(CUT_AHEAD);
        std::thread::scope(|scope| {
            let storer = scope.spawn(move || -> Result<Vec<BlobId>> {
                let mut content = Vec::new();
                for chunk in rx {
                    let len = chunk.plaintext().len() as u64;
                    content.push(pipeline.store_owned(BlobKind::Data, chunk)?);
                    Progress::add(&progress.bytes_read, len);
                }
                Ok(content)
            });
            // A failed send means the storer stopped on an error, which its join returns.
            let size = cut_stream(chunker, buf, source, size_hint, |chunk| {
                tx.send(BlobBuffer::copy_of(chunk)).map_err(|_| anyhow::anyhow!("chunk storer stopped"))
            });
            drop(tx);
            let content = storer.join().map_err(|_| anyhow::anyhow!("the chunk storer panicked"))??;
            Ok(size?.map(|size| (content, size)))
        })
    }
}

/// Reads `source` to its end through `buf` (a maximal chunk and [`PROBE`] bytes), handing
/// each chunk to `emit` in order; returns the stream's length. `known_len` (a file's length)
/// bounds the reads: a small file is read in one call. The outer error is `emit`'s, the inner
/// one the stream's.
fn cut_stream(
    chunker: &Chunker,
    buf: &mut [u8],
    mut source: impl Read,
    known_len: Option<u64>,
    mut emit: impl FnMut(&[u8]) -> Result<()>,
) -> Result<io::Result<u64>> {
    let params = chunker.params();
    let (mut filled, mut size, mut scan) = (0usize, 0u64, CutScan::default());
    loop {
        // Up to the minimum at once (no cut can lie before it), then a step at a time; never
        // past a file's known end.
        let mut goal = params.max.min(filled.max(params.min) + READ_STEP);
        let known_end = known_len.map(|len| len.saturating_sub(size) as usize).filter(|end| *end >= filled);
        if let Some(end) = known_end {
            goal = goal.min(end);
        }
        let eof = match fill(&mut source, buf, &mut filled, goal, known_end == Some(goal)) {
            Ok(eof) => eof,
            Err(e) => return Ok(Err(e)),
        };
        let mut start = 0;
        while let Some(cut) = chunker.next_cut_from(&buf[start..filled], eof, &mut scan) {
            emit(&buf[start..start + cut])?;
            (start, size) = (start + cut, size + cut as u64);
            if !eof {
                break;
            }
        }
        if eof && start == filled {
            return Ok(Ok(size));
        }
        if start > 0 {
            buf.copy_within(start..filled, 0);
            filled -= start;
        }
    }
}

/// Reads into `buf[*filled..goal]` until it is full (then `false`) or the stream ends (then
/// `true`). At a file's known end (`at_end`), a small read checks that it really ends there;
/// what a file that grew gives is kept.
fn fill(
    source: &mut impl Read,
    buf: &mut [u8],
    filled: &mut usize,
    goal: usize,
    at_end: bool,
) -> io::Result<bool> {
    read_into(source, &mut buf[..goal], filled)?;
    if *filled < goal {
        return Ok(true);
    }
    if !at_end {
        return Ok(false);
    }
    let before = *filled;
    read_into(source, &mut buf[..goal + PROBE], filled)?;
    Ok(*filled == before)
}

/// Reads into `buf[*filled..]` until it is full or the stream ends.
fn read_into(source: &mut impl Read, buf: &mut [u8], filled: &mut usize) -> io::Result<()> {
    while *filled < buf.len() {
        match source.read(&mut buf[*filled..]) {
            Ok(0) => break,
            Ok(n) => *filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chancery_format::chunker::ChunkerParams;
    use proptest::prelude::*;

    const SMALL: ChunkerParams = ChunkerParams { min: 64, avg: 256, max: 1024 };

    /// Gives at most `piece` bytes per read, as a pipe does.
    struct Trickle<'a> {
        data: &'a [u8],
        piece: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.piece.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn cut(data: &[u8], piece: usize, known_len: Option<u64>) -> (Vec<Vec<u8>>, u64) {
        let chunker = Chunker::new(&[5; 32], SMALL);
        let mut buf = vec![0u8; SMALL.max + PROBE];
        let mut chunks = Vec::new();
        let size = cut_stream(&chunker, &mut buf, Trickle { data, piece }, known_len, |chunk| {
            chunks.push(chunk.to_vec());
            Ok(())
        });
        (chunks, size.unwrap().unwrap())
    }

    proptest! {
        /// Whatever the reads give and whatever length was announced (a file can grow or
        /// shrink between its stat and its read), every byte is kept and the cuts are those
        /// of the whole buffer: the same content deduplicates however it arrives.
        #[test]
        fn cuts_do_not_depend_on_reads_or_announced_length(
            data in proptest::collection::vec(any::<u8>(), 0..6000),
            piece in 1usize..1500,
            announced in prop_oneof![Just(None), (0u64..7000).prop_map(Some)],
        ) {
            let (chunks, size) = cut(&data, piece, announced);
            prop_assert_eq!(size, data.len() as u64);
            prop_assert_eq!(chunks.concat(), data.clone());
            let lens: Vec<usize> = chunks.iter().map(Vec::len).collect();
            prop_assert_eq!(lens, Chunker::new(&[5; 32], SMALL).cut_all(&data));
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_pipe_is_widened_and_a_file_left_alone() {
        use nix::fcntl::{fcntl, FcntlArg};
        use std::os::fd::{AsFd, AsRawFd};
        let (reader, _writer) = nix::unistd::pipe().unwrap();
        let before = fcntl(reader.as_raw_fd(), FcntlArg::F_GETPIPE_SZ).unwrap() as usize;
        let after = widen_pipe(reader.as_fd()).expect("a pipe");
        assert!(after > before, "{before} -> {after}");
        assert_eq!(fcntl(reader.as_raw_fd(), FcntlArg::F_GETPIPE_SZ).unwrap() as usize, after);
        let file = tempfile::tempfile().unwrap();
        assert_eq!(widen_pipe(file.as_fd()), None);
    }

    #[test]
    fn a_read_error_is_the_streams_error() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk gone"))
            }
        }
        let chunker = Chunker::new(&[5; 32], SMALL);
        let mut buf = vec![0u8; SMALL.max + PROBE];
        let outcome = cut_stream(&chunker, &mut buf, Failing, None, |_| Ok(())).unwrap();
        assert_eq!(outcome.unwrap_err().to_string(), "disk gone");
    }
}
