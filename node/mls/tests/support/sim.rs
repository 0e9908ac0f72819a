//! An in-process group of simulated devices for the scale test and the benchmark: each device
//! has its own store, and every operation commits its storage batch, as the node does.

#![allow(dead_code, unreachable_pub)]

use tern_mls::{
    Crypto, DeviceSigner, Group, InsecureTestVerifier, MemoryBacking, Outgoing, ProcessError,
    Processed, Provider, StorageKey,
};

pub const V: InsecureTestVerifier = InsecureTestVerifier;

pub struct Dev {
    pub name: String,
    pub signer: DeviceSigner,
    pub store: MemoryBacking,
    pub key: StorageKey,
    pub group: Option<Group>,
}

impl Dev {
    pub fn new(crypto: &Crypto, name: String) -> Self {
        Self {
            signer: DeviceSigner::generate(crypto).unwrap(),
            name,
            store: MemoryBacking::new(),
            key: StorageKey::new([3; 32]),
            group: None,
        }
    }

    pub fn certificate(&self) -> Vec<u8> {
        InsecureTestVerifier::credential(self.name.as_bytes(), &self.signer)
    }

    /// Runs one operation and commits its batch.
    pub fn run<T>(
        &mut self,
        crypto: &Crypto,
        f: impl FnOnce(&Provider<'_, &MemoryBacking>, &mut Option<Group>, &DeviceSigner) -> T,
    ) -> T {
        let provider = Provider::new(crypto, &self.store, &self.key);
        let out = f(&provider, &mut self.group, &self.signer);
        let batch = provider.take_batch();
        drop(provider);
        self.store.commit(batch);
        out
    }

    pub fn g(&self) -> &Group {
        self.group.as_ref().unwrap()
    }

    pub fn key_package(&mut self, crypto: &Crypto) -> Vec<u8> {
        let certificate = self.certificate();
        self.run(crypto, |p, _, s| {
            tern_mls::key_package(p, s, certificate).unwrap()
        })
    }

    pub fn create(&mut self, crypto: &Crypto) {
        let certificate = self.certificate();
        self.run(crypto, |p, g, s| {
            *g = Some(Group::create(p, s, certificate, &V, "sim").unwrap());
        });
    }

    pub fn join(&mut self, crypto: &Crypto, welcome: &[u8]) {
        self.run(crypto, |p, g, _| {
            *g = Some(Group::join(p, welcome, &V).unwrap())
        });
    }

    pub fn process(&mut self, crypto: &Crypto, bytes: &[u8]) -> Result<Processed, ProcessError> {
        self.run(crypto, |p, g, _| g.as_mut().unwrap().process(p, &V, bytes))
    }

    pub fn add(&mut self, crypto: &Crypto, key_packages: &[Vec<u8>]) -> Outgoing {
        self.run(crypto, |p, g, s| {
            g.as_mut()
                .unwrap()
                .add_members(p, s, &V, key_packages)
                .unwrap()
        })
    }

    pub fn remove(&mut self, crypto: &Crypto, leaves: &[u32]) -> Outgoing {
        self.run(crypto, |p, g, s| {
            g.as_mut()
                .unwrap()
                .remove_members(p, s, &V, leaves)
                .unwrap()
        })
    }

    pub fn update(&mut self, crypto: &Crypto) -> Outgoing {
        self.run(crypto, |p, g, s| {
            g.as_mut().unwrap().self_update(p, s, &V).unwrap()
        })
    }

    pub fn send(&mut self, crypto: &Crypto, text: &[u8]) -> Vec<u8> {
        self.run(crypto, |p, g, s| {
            g.as_mut().unwrap().send(p, s, &V, text).unwrap()
        })
    }

    pub fn state(&self) -> (u64, Vec<u8>) {
        (self.g().epoch(), self.g().tree_hash().to_vec())
    }
}

/// A group of `n` devices: device 0 creates it and adds the others in one commit; all of
/// them join from the Welcome.
pub fn group(crypto: &Crypto, n: usize) -> Vec<Dev> {
    let mut devs: Vec<Dev> = (0..n)
        .map(|i| Dev::new(crypto, format!("dev{i}")))
        .collect();
    devs[0].create(crypto);
    if n > 1 {
        let kps: Vec<Vec<u8>> = devs[1..]
            .iter_mut()
            .map(|d| d.key_package(crypto))
            .collect();
        let out = devs[0].add(crypto, &kps);
        assert!(matches!(
            devs[0].process(crypto, &out.commit).unwrap(),
            Processed::OwnCommit { .. }
        ));
        let welcome = out.welcome.unwrap();
        for d in &mut devs[1..] {
            d.join(crypto, &welcome);
        }
    }
    devs
}
