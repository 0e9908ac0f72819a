//! The RFC 9420 vectors that need private keys placed in storage before openmls runs, so
//! they run inside the crate, where a test can write a storage row directly:
//!
//! - `welcome.json`: the joiner's key package and init key are stored; openmls decrypts the
//!   Welcome's group secrets (HPKE through Tern's provider), derives the welcome key,
//!   decrypts the GroupInfo, and its signature is verified with the signer's key.
//! - `passive-client-welcome.json`, `passive-client-handling-commit.json`: a client joins
//!   from the Welcome and then processes every proposal and commit of the following epochs;
//!   after each epoch its epoch authenticator must equal the vector's. This is openmls and
//!   Tern's provider and storage overlay together, end to end.
//!
//! The vectors' key packages expired long ago, so the join skips lifetime validation (the
//! Welcome builder's documented switch). After every epoch the storage batch is committed
//! and the group loaded back from it must agree with the one in memory.

use std::path::PathBuf;

use openmls::{
    messages::group_info::GroupInfo,
    prelude::{tls_codec::Deserialize as _, *},
    schedule::PreSharedKeyId,
};
use openmls_traits::types::HpkePrivateKey;
use serde_json::{Value, json};

use crate::{CIPHERSUITE, Crypto, MemoryBacking, Provider, StorageKey};

fn load(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ours(vectors: Vec<Value>) -> Vec<Value> {
    vectors
        .into_iter()
        .filter(|v| v["cipher_suite"].as_u64() == Some(u64::from(u16::from(CIPHERSUITE))))
        .collect()
}

fn hex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// Stores a key package with its private keys, as openmls does when it creates one.
fn inject_key_package(
    provider: &Provider<'_, &MemoryBacking>,
    key_package: &[u8],
    init_priv: Vec<u8>,
    encryption_priv: Vec<u8>,
) {
    let message = MlsMessageIn::tls_deserialize_exact(key_package).unwrap();
    let MlsMessageBodyIn::KeyPackage(key_package) = message.extract() else {
        panic!("not a key package");
    };
    // The signatures verify; only the (long expired) lifetime may be refused.
    let key_package: KeyPackage = match key_package
        .clone()
        .validate(provider.crypto(), ProtocolVersion::Mls10)
    {
        Ok(key_package) => key_package,
        Err(KeyPackageVerifyError::LifetimeError(_)) => {
            // Decode the payload through serde, the same types openmls stores.
            serde_json::from_value(serde_json::to_value(&key_package).unwrap()).unwrap()
        }
        Err(e) => panic!("key package: {e:?}"),
    };
    let hash_ref = key_package.hash_ref(provider.crypto()).unwrap();
    // `KeyPackageBundle`'s serde form: the key package and the two private keys.
    let bundle = json!({
        "key_package": key_package,
        "private_init_key": HpkePrivateKey::from(init_priv),
        "private_encryption_key": { "key": HpkePrivateKey::from(encryption_priv) },
    });
    provider
        .overlay()
        .write(b"key_package", &hash_ref, &bundle)
        .unwrap();
}

#[test]
fn welcome() {
    let crypto = Crypto::new();
    let backing = MemoryBacking::new();
    let vectors = ours(load("welcome.json"));
    assert!(!vectors.is_empty());
    for v in &vectors {
        let provider = Provider::new(&crypto, &backing, &StorageKey::new([1; 32]));
        // The vector gives no encryption key; the Welcome does not use it.
        inject_key_package(
            &provider,
            &hex(&v["key_package"]),
            hex(&v["init_priv"]),
            vec![0; 32],
        );
        let welcome = MlsMessageIn::tls_deserialize_exact(hex(&v["welcome"]).as_slice())
            .map(|m| match m.extract() {
                MlsMessageBodyIn::Welcome(welcome) => welcome,
                _ => panic!("not a Welcome"),
            })
            .unwrap();
        let processed =
            ProcessedWelcome::new_from_welcome(&provider, &MlsGroupJoinConfig::default(), welcome)
                .unwrap();
        let signer =
            OpenMlsSignaturePublicKey::new(hex(&v["signer_pub"]).into(), SignatureScheme::ED25519)
                .unwrap();
        let group_info: GroupInfo = processed
            .unverified_group_info()
            .clone()
            .verify(provider.crypto(), &signer)
            .unwrap();
        assert_eq!(group_info.group_context().ciphersuite(), CIPHERSUITE);
    }
}

fn passive_client(v: &Value) {
    let crypto = Crypto::new();
    let mut backing = MemoryBacking::new();
    let key = StorageKey::new([2; 32]);
    let provider = Provider::new(&crypto, &backing, &key);
    for psk in v["external_psks"].as_array().unwrap() {
        let id = PreSharedKeyId::external(hex(&psk["psk_id"]), vec![]);
        id.store(&provider, &hex(&psk["psk"])).unwrap();
    }
    inject_key_package(
        &provider,
        &hex(&v["key_package"]),
        hex(&v["init_priv"]),
        hex(&v["encryption_priv"]),
    );
    let config = MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .number_of_resumption_psks(16)
        .build();
    let welcome = MlsMessageIn::tls_deserialize_exact(hex(&v["welcome"]).as_slice())
        .map(|m| match m.extract() {
            MlsMessageBodyIn::Welcome(welcome) => welcome,
            _ => panic!("not a Welcome"),
        })
        .unwrap();
    let mut builder = StagedWelcome::build_from_welcome(&provider, &config, welcome)
        .unwrap()
        .skip_lifetime_validation();
    if let Some(tree) = v["ratchet_tree"].as_str() {
        let tree =
            RatchetTreeIn::tls_deserialize_exact(hex::decode(tree).unwrap().as_slice()).unwrap();
        builder = builder.with_ratchet_tree(tree);
    }
    let mut group = builder.build().unwrap().into_group(&provider).unwrap();
    assert_eq!(
        group.epoch_authenticator().as_slice(),
        hex(&v["initial_epoch_authenticator"])
    );
    // Commit the join and carry on from the store, as the node would.
    let batch = provider.take_batch();
    drop(provider);
    backing.commit(batch);

    for (n, epoch) in v["epochs"].as_array().unwrap().iter().enumerate() {
        let provider = Provider::new(&crypto, &backing, &key);
        let messages = epoch["proposals"]
            .as_array()
            .unwrap()
            .iter()
            .chain(std::iter::once(&epoch["commit"]));
        for message in messages {
            let message = MlsMessageIn::tls_deserialize_exact(hex(message).as_slice()).unwrap();
            let processed = group
                .process_message(&provider, message.try_into_protocol_message().unwrap())
                .unwrap_or_else(|e| panic!("epoch {n}: {e:?}"));
            match processed.into_content() {
                ProcessedMessageContent::ProposalMessage(proposal) => group
                    .store_pending_proposal(provider.storage(), *proposal)
                    .unwrap(),
                ProcessedMessageContent::StagedCommitMessage(commit) => {
                    group.merge_staged_commit(&provider, *commit).unwrap()
                }
                other => panic!("epoch {n}: unexpected {other:?}"),
            }
        }
        assert_eq!(
            group.epoch_authenticator().as_slice(),
            hex(&epoch["epoch_authenticator"]),
            "epoch {n}"
        );
        let batch = provider.take_batch();
        drop(provider);
        backing.commit(batch);
        // The state on "disk" is the state in memory.
        let provider = Provider::new(&crypto, &backing, &key);
        let loaded = MlsGroup::load(provider.storage(), group.group_id())
            .unwrap()
            .unwrap();
        assert_eq!(
            loaded.epoch_authenticator().as_slice(),
            group.epoch_authenticator().as_slice()
        );
    }
}

#[test]
fn passive_client_welcome_and_commits() {
    let mut ran = 0;
    for file in [
        "passive-client-welcome.json",
        "passive-client-handling-commit.json",
    ] {
        let vectors = ours(load(file));
        assert!(!vectors.is_empty(), "{file}");
        for v in &vectors {
            passive_client(v);
            ran += 1;
        }
    }
    assert!(ran > 0);
}
