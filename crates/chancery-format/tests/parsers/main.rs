//! Properties of every parser of stored bytes, run by `cargo test`:
//! - arbitrary bytes, and valid encodings with bytes flipped, overwritten, cut off or added,
//!   never make a parser panic;
//! - an edited authenticated object (key file, pack header, index, snapshot, blob) is refused
//!   unless the edits left the bytes it authenticates unchanged;
//! - valid records survive encode/decode and seal/open unchanged.
//!
//! `fuzz/` drives the same parsers with libFuzzer for longer runs.

mod support;

use proptest::prelude::*;
use rand::{RngCore, SeedableRng};
use support::*;

// ---------------------------------------------------------------------------------------------
// Key files

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn key_file_round_trip(master in any::<[u8; 32]>(), info in key_info(), password in bytes(24)) {
        let file = seal_key_file(&MasterKey::from_bytes(master), info.clone(), &password, CHEAP);
        prop_assert_eq!(parse_header(&file), Ok(CHEAP));
        let opened = open_key_file(&file, &password).unwrap();
        prop_assert_eq!(opened.ring.generations()[0].master.expose(), &master);
        prop_assert_eq!(opened.info, info);
        let mut wrong = password.clone();
        wrong.push(0);
        prop_assert_eq!(open_key_file(&file, &wrong).unwrap_err(), FormatError::WrongPassword);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn edited_key_file_is_refused(edits in edits()) {
        let template = &templates().key_file;
        let file = apply(template, &edits);
        match parse_header(&file) {
            Err(_) => prop_assert!(open_key_file(&file, PASSWORD).is_err()),
            Ok(params) if cheap(params) => {
                // Every byte is authenticated: the header as AAD, the rest by the AEAD.
                prop_assert_eq!(open_key_file(&file, PASSWORD).is_ok(), file == *template);
            }
            Ok(_) => prop_assert_ne!(&file, template),
        }
    }

    #[test]
    fn arbitrary_key_files_never_open(
        data in bytes(200),
        m_kib in 0u32..2048,
        t in 0u32..5,
        p in 0u32..70,
        tail in bytes(160),
    ) {
        for file in [data.clone(), {
            let mut f = KEYFILE_MAGIC.to_vec();
            f.extend_from_slice(&[1, 1, 0, 0]);
            for word in [m_kib, t, p] {
                f.extend_from_slice(&word.to_le_bytes());
            }
            f.extend_from_slice(&tail);
            f
        }] {
            match parse_header(&file) {
                Ok(params) => {
                    prop_assert!(file.len() >= KEYFILE_HEADER_LEN + SEAL_OVERHEAD);
                    prop_assert!(params.p >= 1 && params.p <= 64 && params.t <= 64);
                    prop_assert!(params.m_kib <= 4 * 1024 * 1024);
                    if cheap(params) {
                        prop_assert!(open_key_file(&file, PASSWORD).is_err());
                    }
                }
                Err(_) => prop_assert!(open_key_file(&file, PASSWORD).is_err()),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Packs

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn pack_round_trip(blobs in prop::collection::vec((blob_kind(), bytes(3000)), 0..12)) {
        let keys = keys();
        let sealed: Vec<SealedBlob> = blobs
            .iter()
            .map(|(kind, data)| {
                let id = keys.blob_id(data);
                sealed_blob(*kind, id, data, &seal_blob(keys, *kind, &id, data))
            })
            .collect();
        let pack = build_pack(keys, sealed);
        prop_assert_eq!(pack.id, ObjectId::of(&pack.bytes));
        let len = header_len(&pack.bytes).unwrap();
        prop_assert_eq!(PACK_PREFIX_LEN + len as usize, pack_header_end(&pack.bytes));
        let entries = read_header(keys, &pack.bytes).unwrap();
        prop_assert_eq!(&entries, &pack.entries);
        // Only the prefix and header are needed to read the header.
        prop_assert_eq!(&read_header(keys, &pack.bytes[..pack_header_end(&pack.bytes)]).unwrap(), &entries);
        prop_assert_eq!(entries.len(), blobs.len());
        for e in &entries {
            let at = e.offset as usize..(e.offset + e.length) as usize;
            let plain = open_blob(keys, e.kind, &e.id, &pack.bytes[at]).unwrap();
            prop_assert_eq!(plain.len(), e.raw_length as usize);
            prop_assert!(blobs.iter().any(|(k, d)| *k == e.kind && *d == plain));
        }
    }
}

proptest! {
    #[test]
    fn edited_pack_header_is_refused(edits in edits()) {
        let t = templates();
        let end = pack_header_end(&t.pack);
        let pack = apply(&t.pack, &edits);
        let intact = pack.get(..end) == Some(&t.pack[..end]);
        match read_header(keys(), &pack) {
            Ok(entries) => {
                prop_assert!(intact, "edited pack header accepted");
                prop_assert_eq!(&entries, &t.pack_entries);
            }
            Err(_) => prop_assert!(!intact, "pack with intact header refused"),
        }
    }

    #[test]
    fn arbitrary_packs_never_open(data in bytes(300), len in 0u32..9000, tail in bytes(300)) {
        let mut framed = PACK_MAGIC.to_vec();
        framed.extend_from_slice(&[1, 1, 0, 0]);
        framed.extend_from_slice(&len.to_le_bytes());
        framed.extend_from_slice(&tail);
        for pack in [data, framed] {
            if let Ok(len) = header_len(&pack) {
                prop_assert!(len as usize >= SEAL_OVERHEAD && len <= MAX_HEADER_LEN);
            }
            prop_assert!(read_header(keys(), &pack).is_err());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Object envelopes: index files and snapshots

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn index_round_trip(index in index_file()) {
        let keys = keys();
        let sealed = index.seal(keys);
        prop_assert_eq!(&IndexFile::open(keys, &sealed).unwrap(), &index);
        prop_assert_eq!(&decode_exact::<IndexFile>(&encode(&index), "index").unwrap(), &index);
        prop_assert!(Snapshot::open(keys, &REPO_ID, &sealed).is_err());
        prop_assert!(open_object::<IndexFile>(keys, ObjectType::Config, &sealed).is_err());
        let other = MasterKey::from_bytes([8; 32]).derive();
        prop_assert!(IndexFile::open(&other, &sealed).is_err());
    }

    #[test]
    fn index_of_another_version_is_refused(index in index_file(), version in any::<u8>()) {
        prop_assume!(version != INDEX_VERSION);
        let sealed = IndexFile { version, ..index }.seal(keys());
        prop_assert_eq!(
            IndexFile::open(keys(), &sealed).unwrap_err(),
            FormatError::UnsupportedVersion { what: "index", version }
        );
    }

    #[test]
    fn snapshot_round_trip(snap in snapshot(), other_repo in any::<[u8; 32]>()) {
        let keys = keys();
        let sealed = snap.seal(keys);
        prop_assert_eq!(&Snapshot::open(keys, &snap.repo_id, &sealed).unwrap(), &snap);
        prop_assert_eq!(&decode_exact::<Snapshot>(&encode(&snap), "snapshot").unwrap(), &snap);
        if other_repo != snap.repo_id {
            let refused = Snapshot::open(keys, &other_repo, &sealed).unwrap_err();
            prop_assert_eq!(refused, FormatError::Authentication { what: "snapshot archive id" });
        }
        prop_assert!(IndexFile::open(keys, &sealed).is_err());
        let other = MasterKey::from_bytes([8; 32]).derive();
        prop_assert!(Snapshot::open(&other, &snap.repo_id, &sealed).is_err());
    }
}

proptest! {
    #[test]
    fn edited_index_is_refused(edits in edits()) {
        let t = templates();
        let object = apply(&t.index, &edits);
        match IndexFile::open(keys(), &object) {
            Ok(index) => {
                prop_assert_eq!(&object, &t.index, "edited index opened");
                prop_assert_eq!(&index, &t.index_record);
            }
            Err(_) => prop_assert_ne!(&object, &t.index, "intact index refused"),
        }
    }

    #[test]
    fn edited_snapshot_is_refused(edits in edits()) {
        let t = templates();
        let object = apply(&t.snapshot, &edits);
        match Snapshot::open(keys(), &REPO_ID, &object) {
            Ok(snap) => {
                prop_assert_eq!(&object, &t.snapshot, "edited snapshot opened");
                prop_assert_eq!(&snap, &t.snapshot_record);
            }
            Err(_) => prop_assert_ne!(&object, &t.snapshot, "intact snapshot refused"),
        }
    }

    #[test]
    fn arbitrary_objects_never_open(data in bytes(300), ty in 0u8..5, tail in bytes(300)) {
        let mut framed = b"CHOB\x01".to_vec();
        framed.extend_from_slice(&[ty, 1, 0]);
        framed.extend_from_slice(&tail);
        for object in [data, framed] {
            prop_assert!(IndexFile::open(keys(), &object).is_err());
            prop_assert!(Snapshot::open(keys(), &REPO_ID, &object).is_err());
            prop_assert!(open_object::<Vec<u8>>(keys(), ObjectType::Config, &object).is_err());
            prop_assert!(open_object_plain(keys(), ObjectType::Config, &object).is_err());
        }
    }

    #[test]
    fn record_decoders_take_arbitrary_bytes(data in bytes(400)) {
        decode_everything(&data);
    }

    #[test]
    fn record_decoders_take_edited_records(
        index in index_file(),
        snap in snapshot(),
        tree in nodes().prop_map(Tree::new),
        edits in edits(),
    ) {
        for encoded in [encode(&index), encode(&snap), tree.to_bytes()] {
            decode_everything(&apply(&encoded, &edits));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Trees

proptest! {
    #[test]
    fn tree_round_trip(nodes in nodes()) {
        let tree = Tree::new(nodes);
        assert_valid_tree(&tree);
        let encoded = tree.to_bytes();
        let back = Tree::from_bytes(&encoded).unwrap();
        prop_assert_eq!(&back, &tree);
        prop_assert_eq!(back.to_bytes(), encoded.clone());
        let mut padded = encoded.clone();
        padded.extend_from_slice(&[0; 9]);
        prop_assert_eq!(&decode_padded::<Tree>(&padded, "tree").unwrap(), &tree);
        // A tree blob holds exactly one record.
        prop_assert!(Tree::from_bytes(&padded).is_err());
    }

    #[test]
    fn tree_refuses_unsafe_names(
        nodes in nodes(),
        bad in prop_oneof![
            Just(b"".to_vec()),
            Just(b".".to_vec()),
            Just(b"..".to_vec()),
            (bytes(6), bytes(6)).prop_map(|(a, b)| [a, b"/".to_vec(), b].concat()),
            (bytes(6), bytes(6)).prop_map(|(a, b)| [a, vec![0], b].concat()),
        ],
        at in any::<Index>(),
    ) {
        let mut tree = Tree::new(nodes);
        let mut intruder = tree.nodes.first().cloned().unwrap_or_else(|| Node {
            name: vec![],
            kind: NodeKind::Fifo,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 0,
            mtime_sec: 0,
            mtime_nsec: 0,
            ctime_sec: 0,
            ctime_nsec: 0,
            inode: 1,
            dev: 1,
            nlink: 1,
            xattrs: vec![],
        });
        intruder.name = bad;
        let at = at.index(tree.nodes.len() + 1);
        tree.nodes.insert(at, intruder);
        prop_assert!(is_malformed(Tree::from_bytes(&tree.to_bytes())));
    }

    #[test]
    fn tree_refuses_unsorted_or_duplicate_names(nodes in some_nodes(1), dup in any::<Index>()) {
        let sorted = Tree::new(nodes);
        let mut with_dup = sorted.clone();
        let i = dup.index(with_dup.nodes.len());
        with_dup.nodes.insert(i, with_dup.nodes[i].clone());
        prop_assert!(is_malformed(Tree::from_bytes(&with_dup.to_bytes())));
        if sorted.nodes.len() >= 2 {
            let mut reversed = sorted.clone();
            reversed.nodes.reverse();
            prop_assert!(is_malformed(Tree::from_bytes(&reversed.to_bytes())));
        }
    }

    #[test]
    fn tree_of_another_version_is_refused(nodes in nodes(), version in any::<u8>()) {
        prop_assume!(version != TREE_VERSION);
        let tree = Tree { version, nodes: Tree::new(nodes).nodes };
        prop_assert_eq!(
            Tree::from_bytes(&tree.to_bytes()).unwrap_err(),
            FormatError::UnsupportedVersion { what: "tree", version }
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Blob payloads and sealed blobs

proptest! {
    #[test]
    fn payload_round_trip(data in bytes(3000), repeat in 1usize..40) {
        for plain in [data.clone(), data.repeat(repeat)] {
            let packed = pack_payload(&plain);
            prop_assert_eq!(unpack_payload(&packed).unwrap(), plain);
        }
    }

    #[test]
    fn payload_parser_takes_arbitrary_and_edited_frames(
        data in bytes(400),
        text in bytes(64),
        edits in edits(),
    ) {
        decode_everything(&data);
        let mut zstd_flagged = vec![COMPRESSION_ZSTD];
        zstd_flagged.extend_from_slice(&data);
        let _ = unpack_payload(&zstd_flagged);
        // A real zstd frame, edited.
        let packed = pack_payload(&[text.as_slice(), b"register of lands "].concat().repeat(30));
        prop_assert_eq!(packed[0], COMPRESSION_ZSTD);
        if let Ok(plain) = unpack_payload(&apply(&packed, &edits)) {
            prop_assert!(plain.len() <= MAX_BLOB_LEN);
        }
    }

    #[test]
    fn blob_round_trip(kind in blob_kind(), data in bytes(3000), repeat in 1usize..20, other in blob_id()) {
        let keys = keys();
        let plain = data.repeat(repeat);
        let id = keys.blob_id(&plain);
        let sealed = seal_blob(keys, kind, &id, &plain);
        prop_assert_eq!(open_blob(keys, kind, &id, &sealed).unwrap(), plain);
        let other_kind = if kind == BlobKind::Data { BlobKind::Tree } else { BlobKind::Data };
        prop_assert!(open_blob(keys, other_kind, &id, &sealed).is_err());
        if other != id {
            prop_assert!(open_blob(keys, kind, &other, &sealed).is_err());
        }
    }

    #[test]
    fn edited_blob_is_refused(which in any::<Index>(), edits in edits()) {
        let blobs = &templates().blobs;
        let (kind, id, plain, sealed) = &blobs[which.index(blobs.len())];
        let edited = apply(sealed, &edits);
        match open_blob(keys(), *kind, id, &edited) {
            Ok(back) => {
                prop_assert_eq!(&edited, sealed, "edited blob opened");
                prop_assert_eq!(&back, plain);
            }
            Err(_) => prop_assert_ne!(&edited, sealed, "intact blob refused"),
        }
    }

    #[test]
    fn arbitrary_blobs_never_open(kind in blob_kind(), id in blob_id(), data in bytes(300)) {
        prop_assert!(open_blob(keys(), kind, &id, &data).is_err());
        let id = keys().blob_id(&data);
        prop_assert!(open_blob(keys(), kind, &id, &data).is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Chunker

proptest! {
    #[test]
    fn chunker_cuts_are_bounded_and_cover_input(
        params in chunker_params(),
        key in any::<[u8; 32]>(),
        seed in any::<u64>(),
        len in 0usize..20_000,
        low_entropy in any::<bool>(),
        step in 1usize..5000,
    ) {
        let chunker = Chunker::new(&key, params);
        let mut data = vec![0u8; len];
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        if low_entropy {
            // Runs of a few byte values: hashes repeat, so cuts fall at min or max.
            for (i, b) in data.iter_mut().enumerate() {
                *b = (i / 97 % 3) as u8;
            }
        } else {
            rng.fill_bytes(&mut data);
        }

        for eof in [false, true] {
            for end in [0, len.min(params.min), len.min(params.max), len] {
                match chunker.next_cut(&data[..end], eof) {
                    Some(n) => prop_assert!(n > 0 && n <= end && n <= params.max),
                    None => prop_assert!(end == 0 || (!eof && end < params.max)),
                }
            }
        }

        let cuts = chunker.cut_all(&data);
        prop_assert_eq!(cuts.iter().sum::<usize>(), len);
        for (i, n) in cuts.iter().enumerate() {
            prop_assert!(*n <= params.max);
            prop_assert!(*n > params.min || i + 1 == cuts.len());
        }

        // Streaming with eof only on the last window gives the same cuts.
        let mut streamed = Vec::new();
        let (mut start, mut avail) = (0, 0);
        while start < len {
            avail = (avail + step).min(len);
            while let Some(n) = chunker.next_cut(&data[start..avail], avail == len) {
                streamed.push(n);
                start += n;
            }
        }
        prop_assert_eq!(streamed, cuts);
    }
}
