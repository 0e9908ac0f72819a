//! Opening a node's data directory: the store, and the account, device key, prekeys and
//! device certificate in it (made on first use).

use super::*;

pub(super) struct Opened {
    pub(super) store: Store,
    pub(super) account: AccountKey,
    pub(super) device: Keypair,
    pub(super) certificate: tern_crypto::DeviceCertificate,
    pub(super) prekeys: PrekeySecrets,
    pub(super) clock: Hlc,
    pub(super) next_event: u64,
    pub(super) next_outbox: u64,
    pub(super) record_seq: u64,
}

/// Opens or creates the store and loads (or makes) the account, device key and prekeys.
pub(super) fn open_account(
    dir: &Path,
    passphrase: &[u8],
    create: bool,
    kdf: KdfParams,
    now: u64,
) -> Result<Opened, StartError> {
    let mut rng = UnwrapErr(getrandom::SysRng);
    let store = match Store::open(dir, passphrase) {
        Ok(store) => store,
        Err(StoreError::NotInitialized) if create => Store::create(dir, passphrase, kdf)?,
        Err(StoreError::NotInitialized) => return Err(StartError::NotInitialized(dir.to_owned())),
        Err(e) => return Err(e.into()),
    };
    let state = |name: &str| store.get::<State>(&name.to_owned());
    let corrupt = |what: &str| StartError::Storage(format!("stored {what} is damaged"));
    let mut batch = crate::store::Batch::new();

    let account = match state(STATE_ACCOUNT)? {
        Some(bytes) => AccountKey::from_bytes(&bytes).map_err(|_| corrupt("account"))?,
        None => {
            let account = AccountKey::generate(&mut rng);
            batch.put::<State>(&STATE_ACCOUNT.to_owned(), &account.to_bytes())?;
            account
        }
    };
    let device = match state(STATE_DEVICE_KEY)? {
        Some(mut bytes) => {
            Keypair::ed25519_from_bytes(&mut bytes).map_err(|_| corrupt("device key"))?
        }
        None => {
            let keypair = libp2p::identity::ed25519::Keypair::generate();
            batch.put::<State>(
                &STATE_DEVICE_KEY.to_owned(),
                &keypair.secret().as_ref().to_vec(),
            )?;
            Keypair::from(keypair)
        }
    };
    let mut prekeys = match state(STATE_PREKEYS)? {
        Some(bytes) => PrekeySecrets::from_bytes(&bytes).map_err(|_| corrupt("prekeys"))?,
        None => PrekeySecrets::generate(&mut rng, &account, now),
    };
    prekeys.rotate(&mut rng, &account, now);
    batch.put::<State>(&STATE_PREKEYS.to_owned(), &prekeys.to_bytes())?;

    let device_key: [u8; 32] = device
        .public()
        .try_into_ed25519()
        .map_err(|_| corrupt("device key"))?
        .to_bytes();
    let device_id = DeviceId::from_bytes(device_key).map_err(|_| corrupt("device key"))?;
    let certificate = account.certify_device(
        device_id,
        now,
        now + crate::upkeep::CERTIFICATE_LIFETIME_SECS,
    );

    let number = |name: &str| -> Result<u64, StartError> {
        Ok(state(name)?
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    };
    let clock = Hlc::new(number(STATE_CLOCK)?);
    let next_outbox = number(STATE_OUTBOX_SEQ)?;
    let record_seq = number(crate::tables::STATE_RECORD_SEQ)?;
    let next_event = store
        .scan::<Events>(.., ScanDirection::Reverse, 1)?
        .first()
        .map_or(0, |(seq, _)| seq + 1);
    store.commit(batch)?;
    Ok(Opened {
        store,
        account,
        device,
        certificate,
        prekeys,
        clock,
        next_event,
        next_outbox,
        record_seq,
    })
}
