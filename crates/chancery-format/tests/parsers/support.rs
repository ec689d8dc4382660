//! Strategies, edits and sealed templates shared by the parser properties.

pub use chancery_format::blob::{open_blob, seal_blob, BlobKind};
pub use chancery_format::chunker::{Chunker, ChunkerParams};
pub use chancery_format::codec::{decode_exact, decode_padded, encode};
pub use chancery_format::compress::{pack_payload, unpack_payload, COMPRESSION_ZSTD, MAX_BLOB_LEN};
pub use chancery_format::id::{BlobId, ObjectId};
pub use chancery_format::index::{IndexFile, IndexPack, INDEX_VERSION};
pub use chancery_format::keyfile::{
    open_key_file, parse_header, seal_key_file, KdfParams, KeyInfo, KEYFILE_HEADER_LEN, KEYFILE_MAGIC,
};
pub use chancery_format::keys::{Keys, MasterKey, SEAL_OVERHEAD};
pub use chancery_format::object::{open_object, open_object_plain, ObjectType};
pub use chancery_format::pack::{
    build_pack, header_len, read_header, PackEntry, SealedBlob, MAX_HEADER_LEN, PACK_MAGIC, PACK_PREFIX_LEN,
};
pub use chancery_format::snapshot::{Snapshot, Summary, SNAPSHOT_VERSION};
pub use chancery_format::tree::{Node, NodeKind, Tree, Xattr, TREE_VERSION};
pub use chancery_format::FormatError;
pub use proptest::prelude::*;
pub use proptest::sample::Index;
pub use rand::{RngCore, SeedableRng};
pub use std::sync::OnceLock;

pub const PASSWORD: &[u8] = b"parser tests";
pub const REPO_ID: [u8; 32] = [9; 32];
/// Cheap Argon2 parameters, so that key files can be opened in every case.
pub const CHEAP: KdfParams = KdfParams { m_kib: 64, t: 1, p: 1 };

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| MasterKey::from_bytes([7; 32]).derive())
}

/// Whether a key file with these parameters is cheap enough to open in a test.
pub fn cheap(params: KdfParams) -> bool {
    params.m_kib <= 2048 && params.t <= 4
}

// ---------------------------------------------------------------------------------------------
// Edits of valid encodings

#[derive(Clone, Debug)]
pub enum Edit {
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

pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<Index>(), 1u8..).prop_map(|(i, m)| Edit::Flip(i, m)),
        (0usize..64, 1u8..).prop_map(|(i, m)| Edit::FlipHead(i, m)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Edit::Set(i, v)),
        any::<Index>().prop_map(Edit::Truncate),
        prop::collection::vec(any::<u8>(), 1..16).prop_map(Edit::Extend),
    ];
    prop::collection::vec(edit, 1..4)
}

pub fn apply(original: &[u8], edits: &[Edit]) -> Vec<u8> {
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

pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

// ---------------------------------------------------------------------------------------------
// Record strategies

pub fn blob_id() -> impl Strategy<Value = BlobId> {
    any::<[u8; 32]>().prop_map(BlobId)
}

pub fn blob_kind() -> impl Strategy<Value = BlobKind> {
    prop_oneof![Just(BlobKind::Data), Just(BlobKind::Tree)]
}

pub fn pack_entry() -> impl Strategy<Value = PackEntry> {
    (blob_kind(), blob_id(), any::<u32>(), any::<u32>(), any::<u32>())
        .prop_map(|(kind, id, offset, length, raw_length)| PackEntry { kind, id, offset, length, raw_length })
}

pub fn index_file() -> impl Strategy<Value = IndexFile> {
    let pack = (any::<[u8; 32]>(), prop::collection::vec(pack_entry(), 0..6))
        .prop_map(|(id, entries)| IndexPack { pack: ObjectId(id), entries });
    prop::collection::vec(pack, 0..4).prop_map(IndexFile::new)
}

pub fn snapshot() -> impl Strategy<Value = Snapshot> {
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
pub fn node_name() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((1u8..=254).prop_map(|b| if b >= b'/' { b + 1 } else { b }), 1..10)
        .prop_filter("not . or ..", |n| n != b"." && n != b"..")
}

pub fn node_kind() -> impl Strategy<Value = NodeKind> {
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
pub fn node_kind_is_exhaustive(kind: &NodeKind) {
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

pub fn node(name: Vec<u8>) -> impl Strategy<Value = Node> {
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
pub fn nodes() -> impl Strategy<Value = Vec<Node>> {
    some_nodes(0)
}

/// At least `min` (and fewer than 8) nodes with unique names, in random order.
pub fn some_nodes(min: usize) -> impl Strategy<Value = Vec<Node>> {
    prop::collection::btree_set(node_name(), min..8)
        .prop_flat_map(|names| names.into_iter().map(node).collect::<Vec<_>>())
        .prop_shuffle()
}

pub fn key_info() -> impl Strategy<Value = KeyInfo> {
    (any::<[u8; 32]>(), any::<i64>(), ".{0,16}", ".{0,16}")
        .prop_map(|(repo_id, created_sec, hostname, label)| KeyInfo { repo_id, created_sec, hostname, label })
}

pub fn chunker_params() -> impl Strategy<Value = ChunkerParams> {
    (3u32..12, any::<Index>(), 1usize..2048).prop_map(|(bits, min, extra)| {
        let avg = 1usize << bits;
        ChunkerParams { min: min.index(avg), avg, max: avg + extra }
    })
}

// ---------------------------------------------------------------------------------------------
// Valid objects sealed once

pub struct Templates {
    pub key_file: Vec<u8>,
    pub pack: Vec<u8>,
    pub pack_entries: Vec<PackEntry>,
    pub index: Vec<u8>,
    pub index_record: IndexFile,
    pub snapshot: Vec<u8>,
    pub snapshot_record: Snapshot,
    /// (kind, id, plaintext, sealed): one blob that compresses, one that does not.
    pub blobs: Vec<(BlobKind, BlobId, Vec<u8>, Vec<u8>)>,
}

pub fn templates() -> &'static Templates {
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

pub fn sealed_blob(kind: BlobKind, id: BlobId, plain: &[u8], sealed: &[u8]) -> SealedBlob {
    SealedBlob { kind, id, raw_length: plain.len() as u32, sealed: sealed.to_vec() }
}

/// Bytes of a pack that `read_header` authenticates: prefix and sealed header.
pub fn pack_header_end(pack: &[u8]) -> usize {
    PACK_PREFIX_LEN + u32::from_le_bytes(pack[8..12].try_into().unwrap()) as usize
}

pub fn is_malformed<T>(result: Result<T, FormatError>) -> bool {
    matches!(result, Err(FormatError::Malformed { .. }))
}

/// Checks what a successfully parsed tree promises.
pub fn assert_valid_tree(tree: &Tree) {
    assert_eq!(tree.version, TREE_VERSION);
    for node in &tree.nodes {
        let n = &node.name;
        assert!(!n.is_empty() && n != b"." && n != b".." && !n.contains(&b'/') && !n.contains(&0));
        assert_eq!(tree.find(n), Some(node));
    }
    assert!(tree.nodes.windows(2).all(|w| w[0].name < w[1].name));
}

/// Decoding then re-encoding is canonical: the re-encoding decodes to the same record.
pub fn assert_reencodes<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = encode(value);
    let back: T = decode_exact(&bytes, "re-encoded").unwrap();
    assert_eq!(&back, value);
    assert_eq!(encode(&back), bytes);
}

/// Feeds `data` to every plaintext decoder; none may panic, and what they accept re-encodes.
pub fn decode_everything(data: &[u8]) {
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
