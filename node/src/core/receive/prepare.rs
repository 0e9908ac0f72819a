//! The stateless part of receiving: which envelopes were processed before, and opening the
//! others, off the core task.

use super::super::*;

/// A received envelope after the stateless checks.
pub(in crate::core) struct Prepared {
    /// What the node remembers the message by ([`Seen`], [`Acks`]): the first 16 bytes of
    /// the SHA-256 of its sealed contents, the same whether it came as a direct or a sealed
    /// envelope.
    pub(in crate::core) digest: [u8; 16],
    /// Whether it is a direct envelope, which only the sender's device may bring.
    pub(in crate::core) direct: bool,
    /// `None` when the message was processed before; otherwise the result of opening it.
    pub(in crate::core) opened: Option<Result<envelope::Opened, envelope::EnvelopeError>>,
}

impl Core {
    /// Prepares a group of received envelopes off the core task, on every core when the
    /// group is large enough to be worth splitting. A sealed envelope is opened (an X25519
    /// operation) before its digest is known; one seen before byte for byte, as nodes before
    /// direct envelopes recorded them, is known without.
    pub(in crate::core) async fn prepare(
        &self,
        group: Vec<Inbound>,
    ) -> Result<(Vec<Inbound>, Vec<Prepared>), (Vec<Inbound>, Error)> {
        let store = self.store.clone();
        let account = self.account.clone();
        let result = tokio::task::spawn_blocking(move || {
            let prepare = |items: &[Inbound]| -> Result<Vec<Prepared>, StoreError> {
                items
                    .iter()
                    .map(|item| prepare_one(&store, &account, &item.envelope))
                    .collect()
            };
            let prepared = if group.len() >= PARALLEL_OPEN_MIN {
                let half = group.len() / 2;
                std::thread::scope(|scope| {
                    let first = scope.spawn(|| prepare(&group[..half]));
                    let second = prepare(&group[half..]);
                    match first.join() {
                        Ok(first) => first.and_then(|mut first| {
                            first.append(&mut second?);
                            Ok(first)
                        }),
                        // Preparing does not panic; if it did, do the work again here.
                        Err(_) => prepare(&group),
                    }
                })
            } else {
                prepare(&group)
            };
            match prepared {
                Ok(prepared) => (group, Ok(prepared)),
                Err(e) => (group, Err(Error::from(e))),
            }
        })
        .await;
        match result {
            Ok((group, Ok(prepared))) => Ok((group, prepared)),
            Ok((group, Err(e))) => Err((group, e)),
            Err(e) => Err((
                Vec::new(),
                Error::Storage(StorageError::other(e.to_string())),
            )),
        }
    }
}

fn prepare_one(store: &Store, account: &AccountKey, bytes: &[u8]) -> Result<Prepared, StoreError> {
    let form = envelope::Form::of(bytes);
    let direct = form == Some(envelope::Form::Direct);
    if form == Some(envelope::Form::Sealed) {
        let whole = seen_key(bytes);
        if store.get::<Seen>(&whole)?.is_some() {
            return Ok(Prepared {
                digest: whole,
                direct,
                opened: None,
            });
        }
    }
    match envelope::open(account.mailbox_secret(), bytes) {
        Ok(opened) => {
            let mut digest = [0u8; 16];
            digest.copy_from_slice(&opened.digest[..16]);
            let seen = store.get::<Seen>(&digest)?.is_some();
            Ok(Prepared {
                digest,
                direct,
                opened: (!seen).then_some(Ok(opened)),
            })
        }
        Err(e) => Ok(Prepared {
            digest: seen_key(bytes),
            direct,
            opened: Some(Err(e)),
        }),
    }
}

/// The first 16 bytes of the SHA-256 of `bytes`.
fn seen_key(bytes: &[u8]) -> [u8; 16] {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}
