//! Pins openmls's storage format, which openmls changes between versions.
//!
//! Each fixture holds the rows two devices (Alice, the creator, and Bob, added by her)
//! committed after: create, add Bob, Alice sends a message, Bob reads it.
//! `tests/fixtures/storage-v1.json` has them as the JSON values written before CBOR (each
//! row's value as a string), `storage-v2.json` as today's CBOR values (each in hex). The test:
//!
//! 1. loads both groups from each fixture's rows with the code of today and checks what they
//!    hold (epoch, name, members, tree hash), then uses them: Alice sends, Bob reads, Bob
//!    self-updates, Alice applies it — old rows must stay fully usable;
//! 2. runs the same scenario afresh and compares the *shape* of every row (object keys and
//!    value kinds, recursively) with the newest fixture's: a renamed field, a re-tagged enum
//!    or a new entry kind fails here, before an upgrade reaches users' disks.
//!
//! When openmls's format changes on purpose, write a migration, keep the fixtures as the old
//! formats' tests, and add a new one: `TERN_MLS_WRITE_FIXTURE=1 cargo test -p tern-mls --test
//! storage_fixture` writes the current format as the newest fixture.

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

/// The fixtures, oldest first, and whether their values are hex (or UTF-8 JSON).
const FIXTURES: [(&str, bool); 2] = [("storage-v1.json", false), ("storage-v2.json", true)];

fn path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
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

/// A store's rows, keys and values in hex.
fn rows_hex(store: &MemoryBacking) -> Value {
    let rows: BTreeMap<String, String> = store
        .rows()
        .iter()
        .map(|(k, v)| (hex::encode(k), hex::encode(v)))
        .collect();
    json!(rows)
}

/// The bytes of a fixture row's value.
fn value_bytes(value: &Value, hex: bool) -> Vec<u8> {
    let text = value.as_str().unwrap();
    if hex {
        hex::decode(text).unwrap()
    } else {
        text.as_bytes().to_vec()
    }
}

fn store_of(rows: &Value, hex: bool) -> MemoryBacking {
    let mut store = MemoryBacking::new();
    let batch = rows
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (hex::decode(k).unwrap(), Some(value_bytes(v, hex))))
        .collect();
    store.commit(batch);
    store
}

/// A stored value as a JSON value, whichever its encoding: CBOR after a zero byte (map keys
/// written as text, byte strings as arrays of numbers, as JSON has them), else JSON.
fn decoded(bytes: &[u8]) -> Value {
    fn json_of(value: ciborium::Value) -> Value {
        use ciborium::Value as C;
        match value {
            C::Integer(i) => json!(i128::from(i)),
            C::Bytes(bytes) => json!(bytes),
            C::Float(f) => json!(f),
            C::Text(text) => json!(text),
            C::Bool(b) => json!(b),
            C::Null => Value::Null,
            C::Tag(_, inner) => json_of(*inner),
            C::Array(items) => Value::Array(items.into_iter().map(json_of).collect()),
            C::Map(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        let key = match json_of(k) {
                            Value::String(text) => text,
                            other => other.to_string(),
                        };
                        (key, json_of(v))
                    })
                    .collect(),
            ),
            other => panic!("an unexpected CBOR value {other:?}"),
        }
    }
    match bytes.split_first() {
        Some((0, cbor)) => json_of(ciborium::from_reader(cbor).unwrap()),
        _ => serde_json::from_slice(bytes).unwrap(),
    }
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

fn shapes(rows: &Value, hex: bool) -> Vec<String> {
    let mut shapes: Vec<String> = rows
        .as_object()
        .unwrap()
        .values()
        .map(|v| shape(&decoded(&value_bytes(v, hex))))
        .collect();
    shapes.sort();
    shapes
}

#[test]
fn the_storage_format_is_the_fixtures() {
    let crypto = Crypto::new();
    let (newest, _) = FIXTURES[FIXTURES.len() - 1];
    if std::env::var_os("TERN_MLS_WRITE_FIXTURE").is_some() {
        let (alice, bob) = scenario(&crypto);
        let fixture = json!({
            "storage_key": hex::encode(KEY),
            "alice": { "rows": rows_hex(&alice.store),
                       "summary": summary(alice.group.as_ref().unwrap()) },
            "bob": { "rows": rows_hex(&bob.store), "summary": summary(bob.group.as_ref().unwrap()) },
        });
        std::fs::write(
            path(newest),
            serde_json::to_string_pretty(&fixture).unwrap(),
        )
        .unwrap();
    }
    for (name, hex) in FIXTURES {
        let fixture: Value =
            serde_json::from_str(&std::fs::read_to_string(path(name)).unwrap()).unwrap();
        old_rows_work(&crypto, &fixture, hex);
    }

    // 2. Today's rows have the newest fixture's shapes.
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(path(newest)).unwrap()).unwrap();
    let (alice_now, bob_now) = scenario(&crypto);
    assert_eq!(
        shapes(&rows_hex(&alice_now.store), true),
        shapes(&fixture["alice"]["rows"], true),
        "alice"
    );
    assert_eq!(
        shapes(&rows_hex(&bob_now.store), true),
        shapes(&fixture["bob"]["rows"], true),
        "bob"
    );
}

/// 1. A fixture's rows load and work.
fn old_rows_work(crypto: &Crypto, fixture: &Value, hex: bool) {
    let key = StorageKey::new(KEY);
    let mut devices = Vec::new();
    for name in ["alice", "bob"] {
        let store = store_of(&fixture[name]["rows"], hex);
        let expected = &fixture[name]["summary"];
        let id = hex::decode(expected["group_id"].as_str().unwrap()).unwrap();
        let provider = Provider::new(crypto, &store, &key);
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
    let hi = alice.run(crypto, |p, g, s| {
        g.as_mut().unwrap().send(p, s, &V, b"again").unwrap()
    });
    let read = bob.run(crypto, |p, g, _| {
        g.as_mut().unwrap().process(p, &V, &hi).unwrap()
    });
    assert!(matches!(read, Processed::Application { plaintext, .. } if plaintext == b"again"));
    let update = bob.run(crypto, |p, g, s| {
        g.as_mut().unwrap().self_update(p, s, &V).unwrap()
    });
    bob.run(crypto, |p, g, _| {
        g.as_mut().unwrap().merge_own_commit(p, &V).unwrap()
    });
    alice.run(crypto, |p, g, _| {
        g.as_mut().unwrap().process(p, &V, &update.commit).unwrap()
    });
    let (a, b) = (alice.group.as_ref().unwrap(), bob.group.as_ref().unwrap());
    assert_eq!((a.epoch(), a.tree_hash()), (b.epoch(), b.tree_hash()));
}
