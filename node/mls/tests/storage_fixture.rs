//! Pins openmls's storage format, which openmls changes between versions.
//!
//! `tests/fixtures/storage-v1.json` holds the rows two devices (Alice, the creator, and Bob,
//! added by her) committed after: create, add Bob, Alice sends a message, Bob reads it. The
//! test:
//!
//! 1. loads both groups from those rows with the code of today and checks what they hold
//!    (epoch, name, members, tree hash), then uses them: Alice sends, Bob reads, Bob
//!    self-updates, Alice applies it — old rows must stay fully usable;
//! 2. runs the same scenario afresh and compares the *shape* of every row (JSON object keys
//!    and value kinds, recursively) with the fixture's: a renamed field, a re-tagged enum or a
//!    new entry kind fails here, before an upgrade reaches users' disks.
//!
//! When openmls's format changes on purpose, write a migration, keep this fixture as the old
//! format's test, and add a new one: `TERN_MLS_WRITE_FIXTURE=1 cargo test -p tern-mls --test
//! storage_fixture` writes the current format.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tern_mls::{
    Crypto, DeviceSigner, Group, InsecureTestVerifier, MemoryBacking, Processed, Provider,
    StorageKey,
};

const V: InsecureTestVerifier = InsecureTestVerifier;
const KEY: [u8; 32] = [0x5a; 32];
/// The devices' signing keys (the node keeps them outside the group's rows).
const ALICE: [u8; 32] = [0xa1; 32];
const BOB: [u8; 32] = [0xb0; 32];

fn path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/storage-v1.json")
}

struct Device {
    signer: DeviceSigner,
    store: MemoryBacking,
    group: Option<Group>,
}

impl Device {
    fn run<T>(
        &mut self,
        crypto: &Crypto,
        f: impl FnOnce(&Provider<'_, &MemoryBacking>, &mut Option<Group>, &DeviceSigner) -> T,
    ) -> T {
        let key = StorageKey::new(KEY);
        let provider = Provider::new(crypto, &self.store, &key);
        let out = f(&provider, &mut self.group, &self.signer);
        let batch = provider.take_batch();
        drop(provider);
        self.store.commit(batch);
        out
    }
}

/// The scenario the fixture records.
fn scenario(crypto: &Crypto) -> (Device, Device) {
    let mut alice = Device {
        signer: DeviceSigner::from_secret(&ALICE),
        store: MemoryBacking::new(),
        group: None,
    };
    let mut bob = Device {
        signer: DeviceSigner::from_secret(&BOB),
        store: MemoryBacking::new(),
        group: None,
    };
    alice.run(crypto, |p, g, s| {
        let certificate = InsecureTestVerifier::credential(b"alice", s);
        *g = Some(Group::create(p, s, certificate, &V, "fixture").unwrap());
    });
    let kp = bob.run(crypto, |p, _, s| {
        tern_mls::key_package(p, s, InsecureTestVerifier::credential(b"bob", s)).unwrap()
    });
    let out = alice.run(crypto, |p, g, s| {
        g.as_mut().unwrap().add_members(p, s, &V, &[kp]).unwrap()
    });
    alice.run(crypto, |p, g, _| {
        g.as_mut().unwrap().merge_own_commit(p, &V).unwrap()
    });
    let welcome = out.welcome.unwrap();
    bob.run(crypto, |p, g, _| {
        *g = Some(Group::join(p, &welcome, &V).unwrap())
    });
    let hello = alice.run(crypto, |p, g, s| {
        g.as_mut().unwrap().send(p, s, &V, b"hello").unwrap()
    });
    let read = bob.run(crypto, |p, g, _| {
        g.as_mut().unwrap().process(p, &V, &hello).unwrap()
    });
    assert!(matches!(read, Processed::Application { .. }));
    (alice, bob)
}

fn rows_json(store: &MemoryBacking) -> Value {
    let rows: BTreeMap<String, String> = store
        .rows()
        .iter()
        .map(|(k, v)| (hex::encode(k), String::from_utf8(v.clone()).unwrap()))
        .collect();
    json!(rows)
}

fn store_of(rows: &Value) -> MemoryBacking {
    let mut store = MemoryBacking::new();
    let batch = rows
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                hex::decode(k).unwrap(),
                Some(v.as_str().unwrap().as_bytes().to_vec()),
            )
        })
        .collect();
    store.commit(batch);
    store
}

fn summary(group: &Group) -> Value {
    json!({
        "group_id": hex::encode(group.id()),
        "epoch": group.epoch(),
        "name": group.name(),
        "tree_hash": hex::encode(group.tree_hash()),
        "members": group.members().iter().map(|m| json!({
            "leaf": m.leaf,
            "identity": String::from_utf8_lossy(&m.identity.0),
            "admin": m.admin,
        })).collect::<Vec<_>>(),
    })
}

/// A value's shape: object keys and value kinds, with byte arrays as one kind.
fn shape(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "n".into(),
        Value::String(_) => "s".into(),
        Value::Array(items) if items.iter().all(Value::is_number) => "bytes".into(),
        Value::Array(items) => {
            let mut shapes: Vec<String> = items.iter().map(shape).collect();
            shapes.sort();
            shapes.dedup();
            format!("[{}]", shapes.join("|"))
        }
        Value::Object(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{k}:{}", shape(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
    }
}

fn shapes(rows: &Value) -> Vec<String> {
    let mut shapes: Vec<String> = rows
        .as_object()
        .unwrap()
        .values()
        .map(|v| shape(&serde_json::from_str(v.as_str().unwrap()).unwrap()))
        .collect();
    shapes.sort();
    shapes
}

#[test]
fn the_storage_format_is_the_fixtures() {
    let crypto = Crypto::new();
    if std::env::var_os("TERN_MLS_WRITE_FIXTURE").is_some() {
        let (alice, bob) = scenario(&crypto);
        let fixture = json!({
            "storage_key": hex::encode(KEY),
            "alice": { "rows": rows_json(&alice.store),
                       "summary": summary(alice.group.as_ref().unwrap()) },
            "bob": { "rows": rows_json(&bob.store), "summary": summary(bob.group.as_ref().unwrap()) },
        });
        std::fs::create_dir_all(path().parent().unwrap()).unwrap();
        std::fs::write(path(), serde_json::to_string_pretty(&fixture).unwrap()).unwrap();
    }
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();

    // 1. Old rows load and work.
    let key = StorageKey::new(KEY);
    let mut devices = Vec::new();
    for name in ["alice", "bob"] {
        let store = store_of(&fixture[name]["rows"]);
        let expected = &fixture[name]["summary"];
        let id = hex::decode(expected["group_id"].as_str().unwrap()).unwrap();
        let provider = Provider::new(&crypto, &store, &key);
        let group = Group::load(&provider, &id, &V).unwrap().unwrap();
        drop(provider);
        assert_eq!(&summary(&group), expected, "{name}");
        devices.push((store, group));
    }
    let (alice_store, alice) = devices.remove(0);
    let (bob_store, bob) = devices.remove(0);
    let mut alice = Device {
        signer: DeviceSigner::from_secret(&ALICE),
        store: alice_store,
        group: Some(alice),
    };
    let mut bob = Device {
        signer: DeviceSigner::from_secret(&BOB),
        store: bob_store,
        group: Some(bob),
    };
    let hi = alice.run(&crypto, |p, g, s| {
        g.as_mut().unwrap().send(p, s, &V, b"again").unwrap()
    });
    let read = bob.run(&crypto, |p, g, _| {
        g.as_mut().unwrap().process(p, &V, &hi).unwrap()
    });
    assert!(matches!(read, Processed::Application { plaintext, .. } if plaintext == b"again"));
    let update = bob.run(&crypto, |p, g, s| {
        g.as_mut().unwrap().self_update(p, s, &V).unwrap()
    });
    bob.run(&crypto, |p, g, _| {
        g.as_mut().unwrap().merge_own_commit(p, &V).unwrap()
    });
    alice.run(&crypto, |p, g, _| {
        g.as_mut().unwrap().process(p, &V, &update.commit).unwrap()
    });
    let (a, b) = (alice.group.as_ref().unwrap(), bob.group.as_ref().unwrap());
    assert_eq!((a.epoch(), a.tree_hash()), (b.epoch(), b.tree_hash()));

    // 2. Today's rows have the fixture's shapes.
    let (alice_now, bob_now) = scenario(&crypto);
    assert_eq!(
        shapes(&rows_json(&alice_now.store)),
        shapes(&fixture["alice"]["rows"]),
        "alice"
    );
    assert_eq!(
        shapes(&rows_json(&bob_now.store)),
        shapes(&fixture["bob"]["rows"]),
        "bob"
    );
}
