//! How the packer fills packs: where a full pack is cut, and which later blobs still go into
//! its padding. Both only choose which sealed blobs share a pack; a reader assumes neither.

use chancery_format::pack::{fits_in_padding, unpadded_len, SealedBlob};
use chancery_format::padding::padme;

/// Bytes of blobs the next pack of a kind gathers while the full one before it still takes
/// what fits in its padding.
const TOPPING_WINDOW: usize = 2 << 20;

/// The last this many cuts of a full pack are also tried with one of the this many blobs
/// before them left out. With blobs of about 1 MiB a 16 MiB pack holds about 16, so every cut
/// and blob is a candidate; with small blobs the cuts alone already land close below a Padmé
/// step, and the window bounds the search to 64 x 64 tries.
const LEAVE_OUT_WINDOW: usize = 64;

#[derive(Default)]
pub(super) struct PackBuffer {
    pub(super) blobs: Vec<SealedBlob>,
    bytes: usize,
}

/// Where a full pack is cut: it keeps its first `count` blobs but `left_out`, and its
/// padding is `share.0` bytes of `share.1` unpadded.
struct Cut {
    count: usize,
    left_out: Option<usize>,
    share: (u64, u64),
}

impl Cut {
    /// Takes the other cut if it pads a smaller share of its pack.
    fn keep_least(&mut self, count: usize, left_out: Option<usize>, share: (u64, u64)) {
        if share.0 * self.share.1 < self.share.0 * share.1 {
            *self = Cut { count, left_out, share };
        }
    }
}

impl PackBuffer {
    fn push(&mut self, blob: SealedBlob) {
        self.bytes += blob.sealed.len();
        self.blobs.push(blob);
    }

    /// Whether `blob` fits in the padding this pack gets anyway.
    fn fits(&self, blob: &SealedBlob) -> bool {
        fits_in_padding(self.blobs.len(), self.bytes, blob.sealed.len())
    }

    /// Cuts the pack where its padding is the smallest share of it, and returns the blobs it
    /// no longer holds (in order) for the next pack. The cuts tried keep at least `min` bytes:
    /// after each blob, and, for the last [`LEAVE_OUT_WINDOW`] of those, with one of the
    /// [`LEAVE_OUT_WINDOW`] blobs before the cut left out. Padmé rounds a 16-32 MiB pack up to a multiple of 512 KiB and an
    /// 8-16 MiB one to 256 KiB. With blobs of about 1 MiB (random data), the cuts after a blob
    /// alone leave about 36 KiB of padding a pack (0.2 %), and with one blob left out about
    /// 3 KiB (`packs_of_megabyte_blobs_pad_less_than_a_thousandth_of_their_bytes`).
    fn cut_for_least_padding(&mut self, min: usize) -> Vec<SealedBlob> {
        let cut = self.least_padding_cut(min);
        let mut rest = self.blobs.split_off(cut.count);
        if let Some(index) = cut.left_out {
            rest.insert(0, self.blobs.remove(index));
        }
        self.bytes -= rest.iter().map(|blob| blob.sealed.len()).sum::<usize>();
        rest
    }

    fn least_padding_cut(&self, min: usize) -> Cut {
        let len = |index: usize| self.blobs[index].sealed.len();
        let all = self.blobs.len();
        let mut best = Cut { count: all, left_out: None, share: padding_share(all, self.bytes) };
        let mut bytes = self.bytes;
        for count in (1..=all).rev() {
            if count < all {
                bytes -= len(count);
            }
            if bytes < min {
                break;
            }
            best.keep_least(count, None, padding_share(count, bytes));
            if all - count >= LEAVE_OUT_WINDOW || count < 2 {
                continue;
            }
            // Leaving out the last blob is the cut before it, already tried.
            for index in count.saturating_sub(LEAVE_OUT_WINDOW)..count - 1 {
                let kept = bytes - len(index);
                if kept >= min {
                    best.keep_least(count, Some(index), padding_share(count - 1, kept));
                }
            }
        }
        best
    }
}

/// A pack's padding and unpadded length, for `count` blobs of `blob_bytes` sealed bytes.
fn padding_share(count: usize, blob_bytes: usize) -> (u64, u64) {
    let unpadded = unpadded_len(count, blob_bytes) as u64;
    (padme(unpadded) - unpadded, unpadded)
}

/// The packs of one kind being filled. A pack that reached its target is cut where its
/// padding is the least ([`PackBuffer::cut_for_least_padding`], keeping at least half the
/// target; the blobs it no longer holds start the next pack), and not closed at once: while
/// the next one gathers its first [`TOPPING_WINDOW`] bytes, each blob that fits in the full
/// pack's padding goes there instead, so that random padding bytes become data. (Random blob
/// order within a pack makes both free.)
pub(super) struct Filling {
    target: usize,
    open: PackBuffer,
    full: Option<PackBuffer>,
}

impl Filling {
    pub(super) fn new(target: usize) -> Self {
        Self { target, open: PackBuffer::default(), full: None }
    }

    /// Adds a blob; returns a pack that is done, if any.
    pub(super) fn add(&mut self, blob: SealedBlob) -> Option<PackBuffer> {
        if let Some(full) = self.full.as_mut().filter(|full| full.fits(&blob)) {
            full.push(blob);
            return None;
        }
        self.open.push(blob);
        if self.open.bytes >= self.target {
            let carried = self.open.cut_for_least_padding(self.target / 2);
            let done = self.full.replace(std::mem::take(&mut self.open));
            carried.into_iter().for_each(|blob| self.open.push(blob));
            return done;
        }
        if self.open.bytes >= TOPPING_WINDOW {
            return self.full.take();
        }
        None
    }

    /// The packs still held, full one first.
    pub(super) fn finish(self) -> impl Iterator<Item = PackBuffer> {
        self.full.into_iter().chain(Some(self.open)).filter(|p| !p.blobs.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::pipeline::DATA_PACK_TARGET;
    use chancery_format::blob::BlobKind;
    use chancery_format::BlobId;

    fn blob(len: usize) -> SealedBlob {
        SealedBlob { kind: BlobKind::Data, id: BlobId([0; 32]), raw_length: 0, sealed: vec![0; len] }
    }

    fn sizes(pack: &PackBuffer) -> Vec<usize> {
        pack.blobs.iter().map(|b| b.sealed.len()).collect()
    }

    #[test]
    fn a_full_pack_takes_what_fits_in_its_padding_while_the_next_fills() {
        let target = DATA_PACK_TARGET;
        let mut filling = Filling::new(target);
        assert!(filling.add(blob(target - 100)).is_none());
        assert!(filling.add(blob(100)).is_none(), "reaches its target: held for topping up");
        let end = unpadded_len(2, target);
        let room = padme(end as u64) as usize - end;
        assert!(filling.add(blob(room + 1)).is_none(), "too long for the padding: opens the next pack");
        assert!(filling.add(blob(room)).is_none(), "fits in the padding");
        assert!(filling.add(blob(1)).is_none(), "no room left: to the next pack");
        let done = filling.add(blob(TOPPING_WINDOW)).expect("the next pack passed the window");
        assert_eq!(sizes(&done), vec![target - 100, 100, room]);
        assert_eq!(
            padme(unpadded_len(3, target + room) as u64),
            padme(end as u64),
            "same length, no padding"
        );
        let rest: Vec<Vec<usize>> = filling.finish().map(|p| sizes(&p)).collect();
        assert_eq!(rest, vec![vec![room + 1, 1, TOPPING_WINDOW]]);
    }

    /// Blob lengths of 256 KiB to 1.75 MiB (about 1 MiB, as random data's chunks), from a
    /// fixed xorshift sequence.
    fn chunk_like_lengths(count: usize) -> Vec<usize> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (256 << 10) + (state % (3 << 20) as u64) as usize / 2 + 41
            })
            .collect()
    }

    #[test]
    fn a_full_pack_is_cut_where_its_padding_is_least_and_the_rest_starts_the_next() {
        let target = DATA_PACK_TARGET;
        let lens = chunk_like_lengths(60);
        let mut filling = Filling::new(target);
        let mut added = 0;
        while filling.full.is_none() {
            assert!(filling.add(blob(lens[added])).is_none());
            added += 1;
        }
        let (full, open) = (sizes(filling.full.as_ref().unwrap()), sizes(&filling.open));
        let mut both = [full.clone(), open].concat();
        let mut given = lens[..added].to_vec();
        both.sort();
        given.sort();
        assert_eq!(both, given, "every blob is in one of the two packs");
        let chosen = padding_share(full.len(), full.iter().sum());
        let mut tried = 0;
        for count in 1..=added {
            let prefix: usize = lens[..count].iter().sum();
            let mut cuts = vec![(count, prefix)];
            cuts.extend((0..count).map(|out| (count - 1, prefix - lens[out])));
            for (kept, bytes) in cuts.into_iter().filter(|&(kept, bytes)| kept > 0 && bytes >= target / 2) {
                let other = padding_share(kept, bytes);
                assert!(chosen.0 * other.1 <= other.0 * chosen.1, "{other:?} pads less than {chosen:?}");
                tried += 1;
            }
        }
        assert!(tried > 20, "only {tried} cuts compared");
        let uncut = padding_share(added, lens[..added].iter().sum());
        assert!(chosen.0 * 4 < uncut.0, "{chosen:?} against {uncut:?} uncut");
    }

    #[test]
    fn a_cut_may_leave_one_blob_out_for_the_next_pack_and_keeps_its_byte_count() {
        // Two blobs of 5 MiB and one of about 6 MiB fill a pack to exactly 16 MiB, a Padmé step
        // (the header and seal take 4,148 bytes); no other cut ends on a step, so the blob
        // between them is left out.
        let step = 16 << 20;
        let room = step - unpadded_len(3, 0);
        let lens = [5 << 20, (3 << 20) + 12_288, 5 << 20, room - (10 << 20), (1 << 20) + 12_288];
        let mut pack = PackBuffer::default();
        lens.iter().for_each(|&len| pack.push(blob(len)));
        let rest = pack.cut_for_least_padding(8 << 20);
        assert_eq!(sizes(&pack), [lens[0], lens[2], lens[3]], "kept in order, the second blob out");
        assert_eq!(rest.iter().map(|b| b.sealed.len()).collect::<Vec<_>>(), [lens[1], lens[4]]);
        assert_eq!(pack.bytes, sizes(&pack).iter().sum::<usize>());
        assert_eq!(padding_share(3, pack.bytes).0, 0, "no padding at all");
    }

    #[test]
    fn packs_of_megabyte_blobs_pad_less_than_a_thousandth_of_their_bytes() {
        // Cut after a blob only, these packs padded 0.2 % (about 8 MiB of a 4 GiB file).
        let lens = chunk_like_lengths(512);
        let mut filling = Filling::new(DATA_PACK_TARGET);
        let mut packs: Vec<PackBuffer> = lens.iter().filter_map(|&len| filling.add(blob(len))).collect();
        packs.extend(filling.finish());
        let (mut padding, mut unpadded) = (0, 0);
        for pack in &packs[..packs.len() - 1] {
            let share = padding_share(pack.blobs.len(), pack.bytes);
            (padding, unpadded) = (padding + share.0, unpadded + share.1);
        }
        assert!(packs.len() > 20, "{} packs", packs.len());
        assert!(padding * 1000 < unpadded, "{padding} bytes of padding in {unpadded}");
    }

    #[test]
    fn a_pack_reaching_its_target_closes_the_full_one_before_it() {
        let mut filling = Filling::new(1000);
        assert!(filling.add(blob(1000)).is_none());
        let done = filling.add(blob(1000)).expect("the first is done when the second is full");
        assert_eq!(sizes(&done), vec![1000]);
        let rest: Vec<Vec<usize>> = filling.finish().map(|p| sizes(&p)).collect();
        assert_eq!(rest, vec![vec![1000]]);
    }
}
