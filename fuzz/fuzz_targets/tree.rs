//! Tree blobs: `Tree::from_bytes` and the tree record's plaintext decoders.
#![no_main]

use chancery_format::codec::{decode_exact, decode_padded};
use chancery_format::tree::{Tree, TREE_VERSION};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tree) = Tree::from_bytes(data) {
        assert_eq!(tree.version, TREE_VERSION);
        for node in &tree.nodes {
            let n = &node.name;
            assert!(!n.is_empty() && n != b"." && n != b"..");
            assert!(!n.contains(&b'/') && !n.contains(&0));
        }
        assert!(tree.nodes.windows(2).all(|w| w[0].name < w[1].name));
        for node in &tree.nodes {
            assert_eq!(tree.find(&node.name), Some(node));
        }
        assert_eq!(Tree::from_bytes(&tree.to_bytes()).unwrap(), tree);
    }
    // The raw decoders skip validation; they must still not panic.
    let _ = decode_exact::<Tree>(data, "tree");
    let _ = decode_padded::<Tree>(data, "tree");
});
