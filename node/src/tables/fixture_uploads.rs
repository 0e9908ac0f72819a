//! The rows relay copies of sent files added after schema version 1 (the `blob_uploads`
//! table), against a fixture of their own: `node/tests/fixtures/node-v1-uploads/`. The
//! earlier fixtures are never edited, so each addition brings its own.

use std::path::PathBuf;

use serde_bytes::ByteBuf;
use tempfile::TempDir;

use super::{
    tests::{all, copy_dir, generate, user},
    *,
};
use crate::store::{Batch, Store};

const PASSPHRASE: &[u8] = b"tern node fixture v1 uploads";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-uploads")
}

fn rows(store: &Store) -> Vec<([u8; 16], UploadRow)> {
    let states = [
        UploadStateV1::Pending,
        UploadStateV1::Stored(1_800_604_800),
        UploadStateV1::Refused("upload quota exceeded".into()),
    ];
    (0..2u8)
        .map(|i| {
            let root = [60 + i; 32];
            let row = UploadRow {
                root,
                ciphertext_len: 1_049_600 + u64::from(i),
                peer: user(1),
                id: MessageId::from_bytes([70 + i; 16]),
                mailbox: [80 + i; 32],
                targets: states
                    .iter()
                    .enumerate()
                    .map(|(j, state)| UploadTarget {
                        relay: vec![0, 36, 8, 1, 18, 32, j as u8],
                        addresses: vec![ByteBuf::from(vec![4, 127, 0, 0, 1, 6, 15, 161])],
                        capability: [90 + j as u8; 32],
                        state: state.clone(),
                    })
                    .collect(),
                started: i == 1,
            };
            (store.index_id("upload", &root), row)
        })
        .collect()
}

#[test]
fn the_upload_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    let mut expected = rows(&store);
    expected.sort_by_key(|(key, _)| *key);
    assert_eq!(all::<BlobUploads>(&store), expected);
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_uploads_fixture() {
    generate(&fixture_dir(), PASSPHRASE, |store| {
        let mut batch = Batch::new();
        for (key, row) in rows(store) {
            batch.put::<BlobUploads>(&key, &row).unwrap();
        }
        store.commit(batch).unwrap();
    });
}
