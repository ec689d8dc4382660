//! Properties of every parser of stored bytes, run by `cargo test`:
//! - arbitrary bytes, and valid encodings with bytes flipped, overwritten, cut off or added,
//!   never make a parser panic;
//! - an edited authenticated object (key file, pack header, index, snapshot, blob) is refused
//!   unless the edits left the bytes it authenticates unchanged;
//! - valid records survive encode/decode and seal/open unchanged.
//!
//! `fuzz/` drives the same parsers with libFuzzer for longer runs.

use chancery_format::blob::{open_blob, seal_blob, BlobKind};
use chancery_format::chunker::{Chunker, ChunkerParams};
use chancery_format::codec::{decode_exact, decode_padded, encode};
use chancery_format::compress::{pack_payload, unpack_payload, COMPRESSION_ZSTD, MAX_BLOB_LEN};
use chancery_format::id::{BlobId, ObjectId};
use chancery_format::index::{IndexFile, IndexPack, INDEX_VERSION};
use chancery_format::keyfile::{
    open_key_file, parse_header, seal_key_file, KdfParams, KeyInfo, KEYFILE_HEADER_LEN, KEYFILE_MAGIC,
};
use chancery_format::keys::{Keys, MasterKey, SEAL_OVERHEAD};
use chancery_format::object::{open_object, open_object_plain, ObjectType};
use chancery_format::pack::{
    build_pack, header_len, read_header, PackEntry, SealedBlob, MAX_HEADER_LEN, PACK_MAGIC, PACK_PREFIX_LEN,
};
use chancery_format::snapshot::{Snapshot, Summary, SNAPSHOT_VERSION};
use chancery_format::tree::{Node, NodeKind, Tree, Xattr, TREE_VERSION};
use chancery_format::FormatError;
use proptest::prelude::*;
use proptest::sample::Index;
use rand::{RngCore, SeedableRng};
use std::sync::OnceLock;

const PASSWORD: &[u8] = b"parser tests";
const REPO_ID: [u8; 32] = [9; 32];
/// Cheap Argon2 parameters, so that key files can be opened in every case.
const CHEAP: KdfParams = KdfParams { m_kib: 64, t: 1, p: 1 };

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| MasterKey::from_bytes([7; 32]).derive())
}

/// Whether a key file with these parameters is cheap enough to open in a test.
fn cheap(params: KdfParams) -> bool {
    params.m_kib <= 2048 && params.t <= 4
}

// ---------------------------------------------------------------------------------------------
// Edits of valid encodings

#[derive(Clone, Debug)]
enum Edit {
    /// Xor a byte anywhere with a non-zero mask.
    Flip(Index, u8),
    /// Xor one of the first 64 bytes (where magic, versions and lengths live).
    FlipHead(usize, u8),
    /// Overwrite a byte (possibly with the same value).
    Set(Index, u8),
    /// Cut the bytes off at some length.
    Truncate(Index),
    /// Append bytes.
    Extend(Vec<u8>),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<Index>(), 1u8..).prop_map(|(i, m)| Edit::Flip(i, m)),
        (0usize..64, 1u8..).prop_map(|(i, m)| Edit::FlipHead(i, m)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Edit::Set(i, v)),
        any::<Index>().prop_map(Edit::Truncate),
        prop::collection::vec(any::<u8>(), 1..16).prop_map(Edit::Extend),
    ];
    prop::collection::vec(edit, 1..4)
}

fn apply(original: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = original.to_vec();
    for edit in edits {
        match edit {
            Edit::Flip(i, mask) if !out.is_empty() => {
                let at = i.index(out.len());
                out[at] ^= mask;
            }
            Edit::FlipHead(i, mask) if !out.is_empty() => {
                let at = i % out.len();
                out[at] ^= mask;
            }
            Edit::Set(i, value) if !out.is_empty() => {
                let at = i.index(out.len());
                out[at] = *value;
            }
            Edit::Truncate(i) => {
                let to = i.index(out.len() + 1);
                out.truncate(to);
            }
            Edit::Extend(extra) => out.extend_from_slice(extra),
            _ => {}
        }
    }
    out
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

// ---------------------------------------------------------------------------------------------
// Record strategies

fn blob_id() -> impl Strategy<Value = BlobId> {
    any::<[u8; 32]>().prop_map(BlobId)
}

fn blob_kind() -> impl Strategy<Value = BlobKind> {
    prop_oneof![Just(BlobKind::Data), Just(BlobKind::Tree)]
}

fn pack_entry() -> impl Strategy<Value = PackEntry> {
    (blob_kind(), blob_id(), any::<u32>(), any::<u32>(), any::<u32>())
        .prop_map(|(kind, id, offset, length, raw_length)| PackEntry { kind, id, offset, length, raw_length })
}

fn index_file() -> impl Strategy<Value = IndexFile> {
    let pack = (any::<[u8; 32]>(), prop::collection::vec(pack_entry(), 0..6))
        .prop_map(|(id, entries)| IndexPack { pack: ObjectId(id), entries });
    prop::collection::vec(pack, 0..4).prop_map(IndexFile::new)
}

fn snapshot() -> impl Strategy<Value = Snapshot> {
    (
        any::<[u8; 32]>(),
        any::<(i64, u32)>(),
        ".{0,12}",
        ".{0,12}",
        prop::collection::vec(bytes(24), 0..4),
        prop::collection::vec(".{0,8}", 0..3),
        blob_id(),
        prop::option::of(any::<[u8; 32]>().prop_map(ObjectId)),
        any::<[u64; 8]>(),
    )
        .prop_map(
            |(repo_id, (time_sec, time_nsec), hostname, username, paths, tags, tree, parent, s)| Snapshot {
                version: SNAPSHOT_VERSION,
                repo_id,
                time_sec,
                time_nsec,
                hostname,
                username,
                paths,
                tags,
                tree,
                parent,
                summary: Summary {
                    files: s[0],
                    dirs: s[1],
                    others: s[2],
                    bytes: s[3],
                    bytes_read: s[4],
                    new_blobs: s[5],
                    new_bytes: s[6],
                    errors: s[7],
                },
            },
        )
}

/// A safe entry name: non-empty, no `/` or NUL, not `.` or `..`.
fn node_name() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((1u8..=254).prop_map(|b| if b >= b'/' { b + 1 } else { b }), 1..10)
        .prop_filter("not . or ..", |n| n != b"." && n != b"..")
}

fn node_kind() -> impl Strategy<Value = NodeKind> {
    prop_oneof![
        prop::collection::vec(blob_id(), 0..4).prop_map(|content| NodeKind::File { content }),
        blob_id().prop_map(|subtree| NodeKind::Dir { subtree }),
        bytes(40).prop_map(|target| NodeKind::Symlink { target }),
        Just(NodeKind::Fifo),
        any::<u64>().prop_map(|rdev| NodeKind::CharDevice { rdev }),
        any::<u64>().prop_map(|rdev| NodeKind::BlockDevice { rdev }),
        Just(NodeKind::Socket),
    ]
}

/// Fails to compile when `NodeKind` gains a variant that [`node_kind`] does not generate.
#[allow(dead_code)]
fn node_kind_is_exhaustive(kind: &NodeKind) {
    match kind {
        NodeKind::File { .. }
        | NodeKind::Dir { .. }
        | NodeKind::Symlink { .. }
        | NodeKind::Fifo
        | NodeKind::CharDevice { .. }
        | NodeKind::BlockDevice { .. }
        | NodeKind::Socket => {}
    }
}

fn node(name: Vec<u8>) -> impl Strategy<Value = Node> {
    let xattrs = prop::collection::btree_map(bytes(12), bytes(24), 0..3)
        .prop_map(|m| m.into_iter().map(|(name, value)| Xattr { name, value }).collect::<Vec<_>>());
    (
        node_kind(),
        any::<(u32, u32, u32, u64)>(),
        any::<(i64, u32, i64, u32)>(),
        any::<(u64, u64, u64)>(),
        xattrs,
    )
        .prop_map(move |(kind, (mode, uid, gid, size), times, (inode, dev, nlink), xattrs)| Node {
            name: name.clone(),
            kind,
            mode,
            uid,
            gid,
            size,
            mtime_sec: times.0,
            mtime_nsec: times.1,
            ctime_sec: times.2,
            ctime_nsec: times.3,
            inode,
            dev,
            nlink,
            xattrs,
        })
}

/// Nodes with unique names, in random order.
fn nodes() -> impl Strategy<Value = Vec<Node>> {
    some_nodes(0)
}

/// At least `min` (and fewer than 8) nodes with unique names, in random order.
fn some_nodes(min: usize) -> impl Strategy<Value = Vec<Node>> {
    prop::collection::btree_set(node_name(), min..8)
        .prop_flat_map(|names| names.into_iter().map(node).collect::<Vec<_>>())
        .prop_shuffle()
}

fn key_info() -> impl Strategy<Value = KeyInfo> {
    (any::<[u8; 32]>(), any::<i64>(), ".{0,16}", ".{0,16}")
        .prop_map(|(repo_id, created_sec, hostname, label)| KeyInfo { repo_id, created_sec, hostname, label })
}

fn chunker_params() -> impl Strategy<Value = ChunkerParams> {
    (3u32..12, any::<Index>(), 1usize..2048).prop_map(|(bits, min, extra)| {
        let avg = 1usize << bits;
        ChunkerParams { min: min.index(avg), avg, max: avg + extra }
    })
}

// ---------------------------------------------------------------------------------------------
// Valid objects sealed once

struct Templates {
    key_file: Vec<u8>,
    pack: Vec<u8>,
    pack_entries: Vec<PackEntry>,
    index: Vec<u8>,
    index_record: IndexFile,
    snapshot: Vec<u8>,
    snapshot_record: Snapshot,
    /// (kind, id, plaintext, sealed): one blob that compresses, one that does not.
    blobs: Vec<(BlobKind, BlobId, Vec<u8>, Vec<u8>)>,
}

fn templates() -> &'static Templates {
    static T: OnceLock<Templates> = OnceLock::new();
    T.get_or_init(|| {
        let keys = keys();
        let info =
            KeyInfo { repo_id: REPO_ID, created_sec: 1_700_000_000, hostname: "h".into(), label: "l".into() };
        let key_file = seal_key_file(&MasterKey::from_bytes([7; 32]), info, PASSWORD, CHEAP);
        let mut noise = vec![0u8; 700];
        rand::rngs::StdRng::seed_from_u64(1).fill_bytes(&mut noise);
        let blobs: Vec<_> = [(BlobKind::Data, b"register of lands ".repeat(50)), (BlobKind::Tree, noise)]
            .into_iter()
            .map(|(kind, plain)| {
                let id = keys.blob_id(&plain);
                let sealed = seal_blob(keys, kind, &id, &plain);
                (kind, id, plain, sealed)
            })
            .collect();
        let pack = build_pack(keys, blobs.iter().map(|(k, id, p, s)| sealed_blob(*k, *id, p, s)).collect());
        let index_record = IndexFile::new(vec![IndexPack { pack: pack.id, entries: pack.entries.clone() }]);
        let snapshot_record = Snapshot {
            version: SNAPSHOT_VERSION,
            repo_id: REPO_ID,
            time_sec: 1_700_000_000,
            time_nsec: 7,
            hostname: "host".into(),
            username: "user".into(),
            paths: vec![b"/srv".to_vec()],
            tags: vec!["t".into()],
            tree: BlobId([3; 32]),
            parent: Some(ObjectId([4; 32])),
            summary: Summary::default(),
        };
        Templates {
            key_file,
            pack: pack.bytes,
            pack_entries: pack.entries,
            index: index_record.seal(keys),
            index_record,
            snapshot: snapshot_record.seal(keys),
            snapshot_record,
            blobs,
        }
    })
}

fn sealed_blob(kind: BlobKind, id: BlobId, plain: &[u8], sealed: &[u8]) -> SealedBlob {
    SealedBlob { kind, id, raw_length: plain.len() as u32, sealed: sealed.to_vec() }
}

/// Bytes of a pack that `read_header` authenticates: prefix and sealed header.
fn pack_header_end(pack: &[u8]) -> usize {
    PACK_PREFIX_LEN + u32::from_le_bytes(pack[8..12].try_into().unwrap()) as usize
}

fn is_malformed<T>(result: Result<T, FormatError>) -> bool {
    matches!(result, Err(FormatError::Malformed { .. }))
}

/// Checks what a successfully parsed tree promises.
fn assert_valid_tree(tree: &Tree) {
    assert_eq!(tree.version, TREE_VERSION);
    for node in &tree.nodes {
        let n = &node.name;
        assert!(!n.is_empty() && n != b"." && n != b".." && !n.contains(&b'/') && !n.contains(&0));
        assert_eq!(tree.find(n), Some(node));
    }
    assert!(tree.nodes.windows(2).all(|w| w[0].name < w[1].name));
}

/// Decoding then re-encoding is canonical: the re-encoding decodes to the same record.
fn assert_reencodes<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = encode(value);
    let back: T = decode_exact(&bytes, "re-encoded").unwrap();
    assert_eq!(&back, value);
    assert_eq!(encode(&back), bytes);
}

/// Feeds `data` to every plaintext decoder; none may panic, and what they accept re-encodes.
fn decode_everything(data: &[u8]) {
    if let Ok(tree) = Tree::from_bytes(data) {
        assert_valid_tree(&tree);
        assert_eq!(Tree::from_bytes(&tree.to_bytes()).unwrap(), tree);
    }
    let trees = [decode_exact::<Tree>(data, "x"), decode_padded::<Tree>(data, "x")];
    trees.iter().flatten().for_each(assert_reencodes);
    let indexes = [decode_exact::<IndexFile>(data, "x"), decode_padded::<IndexFile>(data, "x")];
    indexes.iter().flatten().for_each(assert_reencodes);
    let snapshots = [decode_exact::<Snapshot>(data, "x"), decode_padded::<Snapshot>(data, "x")];
    snapshots.iter().flatten().for_each(assert_reencodes);
    if let Ok(entries) = decode_padded::<Vec<PackEntry>>(data, "x") {
        assert_reencodes(&entries);
    }
    if let Ok(plain) = unpack_payload(data) {
        assert!(plain.len() <= MAX_BLOB_LEN);
    }
}

// ---------------------------------------------------------------------------------------------
// Key files

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn key_file_round_trip(master in any::<[u8; 32]>(), info in key_info(), password in bytes(24)) {
        let file = seal_key_file(&MasterKey::from_bytes(master), info.clone(), &password, CHEAP);
        prop_assert_eq!(parse_header(&file), Ok(CHEAP));
        let opened = open_key_file(&file, &password).unwrap();
        prop_assert_eq!(opened.master.expose(), &master);
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
