//! The mailbox protocol, `/tern/mailbox/2`: how nodes leave sealed envelopes at relays for
//! recipients who are offline, and how recipients collect them. Defined once, here, and used by
//! both the node and `tern-relay`.
//!
//! # Protocol flow
//!
//! One request and one response per stream (libp2p request-response). Every frame is
//! `version u8 = 1 ‖ length u32 (big-endian) ‖ postcard(body)`, with the body at most
//! [`MAX_REQUEST_LEN`] or [`MAX_RESPONSE_LEN`] bytes.
//!
//! ```text
//! sender                  relay                     owner of the mailbox
//!   │ Deposit(id, env) ──▶ │ sync to disk
//!   │ ◀── Stored(receipt)  │ (signed custody receipt)
//!   │                      │ ◀── Challenge
//!   │                      │ ──▶ Challenge(nonce)     (fresh, single use, 60 s)
//!   │                      │ ◀── Fetch(proof, after, limit, wait)
//!   │                      │ ──▶ Envelopes(items, more)  (waits up to `wait` s if empty)
//!   │                      │ ◀── Challenge … Ack(proof, ids)
//!   │                      │ ──▶ Acked(removed)        (deleted from disk)
//! ```
//!
//! One-time prekeys (PQXDH's `OPK`) also live at the relays:
//!
//! ```text
//! owner ── Challenge … UploadPrekeys(proof, [opk…]) ──▶ relay ──▶ PrekeysHeld(count)
//! sender ── TakePrekey(mailbox id) ──▶ relay ──▶ Prekey(opk)   (deleted durably first)
//!                                            └─▶ PrekeysExhausted  (use the signed prekey)
//! ```
//!
//! The relay checks that every uploaded prekey is signed by the account that proved ownership,
//! holds at most [`MAX_PREKEYS_HELD`] per mailbox, and hands each out at most once. A sender
//! verifies the prekey's signature and account itself; an owner uploads different prekeys to
//! each of its relays, so that no two senders can be handed the same one.
//!
//! Anyone may deposit (as anyone may send mail); only the owner may fetch or acknowledge. The
//! owner proves ownership of a mailbox id with an [`OwnerProof`]: its prekey bundle (which
//! carries the account key and the account's signature binding the mailbox key) and an account
//! signature over the relay, the mailbox id, the relay's nonce and the operation. The relay
//! thereby learns which account owns the mailbox (which the account's DHT record, listing its
//! relays, already says) but never who deposited what: deposits carry no sender identity.
//!
//! A [`CustodyReceipt`] is issued only once the envelope is durable on the relay. A relay signs
//! each synced write once, with its libp2p Ed25519 key, over the root of a Merkle tree of the
//! write's deposits; each receipt carries its deposit's inclusion path (see [`receipt`]).

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};
use tern_crypto::{
    AccountKey, MailboxId, PrekeyBundle, SigningContext, UserId, envelope::MAX_ENVELOPE_LEN,
};

/// The protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/tern/mailbox/2");
/// Largest request body: a deposit of the largest envelope, with room for the framing of the
/// other fields.
pub const MAX_REQUEST_LEN: usize = MAX_ENVELOPE_LEN + 4096;
/// Largest response body: a page of envelopes. Relays fill pages up to this size.
pub const MAX_RESPONSE_LEN: usize = 4 * 1024 * 1024;
/// Longest a fetch may ask the relay to hold an empty answer open, waiting for a deposit.
pub const MAX_WAIT_SECS: u16 = 30;
/// Most one-time prekeys in one upload.
pub const MAX_PREKEY_BATCH: usize = 100;
/// Most one-time prekeys a relay holds per mailbox; an upload beyond it stores what fits.
pub const MAX_PREKEYS_HELD: u32 = 200;

const FRAME_VERSION: u8 = 1;

pub mod collect;
pub mod deposits;
pub mod receipt;
pub use receipt::{
    Custody, CustodyBatch, CustodyReceipt, MAX_BATCH, ReceiptError, VerifiedRoots, envelope_digest,
};
const OWNER_CONTEXT: SigningContext = SigningContext::new("mailbox-auth");

/// A request to a relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Keep `envelope` for the owner of `mailbox`.
    Deposit {
        /// The recipient's mailbox id.
        mailbox: [u8; 32],
        /// A sealed, padded envelope.
        #[serde(with = "serde_bytes")]
        envelope: Vec<u8>,
    },
    /// Ask for a fresh nonce to sign in an [`OwnerProof`].
    Challenge,
    /// The owner collects envelopes stored after `after` (an id from an earlier page; 0 for
    /// the start), at most `limit`, waiting up to `wait_secs` for one if there are none.
    Fetch {
        /// Proof of ownership, for [`Operation::Fetch`].
        proof: OwnerProof,
        /// Only envelopes with a larger id.
        after: u64,
        /// Most envelopes in the answer.
        limit: u32,
        /// Seconds to hold an empty answer open (at most [`MAX_WAIT_SECS`]).
        wait_secs: u16,
    },
    /// The owner has stored these envelopes durably: the relay deletes them.
    Ack {
        /// Proof of ownership, for [`Operation::Ack`].
        proof: OwnerProof,
        /// Ids from fetched pages.
        ids: Vec<u64>,
    },
    /// The owner leaves one-time prekeys (each `OneTimePrekey::to_bytes`, signed by the
    /// owner's account) for senders starting a session; at most [`MAX_PREKEY_BATCH`]. An empty
    /// batch only asks how many the relay holds.
    UploadPrekeys {
        /// Proof of ownership, for [`Operation::UploadPrekeys`].
        proof: OwnerProof,
        /// The prekeys.
        prekeys: Vec<Vec<u8>>,
    },
    /// A sender starting a session asks for one of the owner's one-time prekeys.
    TakePrekey {
        /// The recipient's mailbox id.
        mailbox: [u8; 32],
    },
}

/// A relay's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The deposit is durable.
    Stored(CustodyReceipt),
    /// A nonce for one [`OwnerProof`].
    Challenge {
        /// Random, single use, valid for about a minute.
        nonce: [u8; 32],
    },
    /// A page of the mailbox, oldest first.
    Envelopes {
        /// The envelopes.
        items: Vec<StoredEnvelope>,
        /// Whether more follow the last one.
        more: bool,
    },
    /// How many acknowledged envelopes were deleted (ids already gone do not count).
    Acked {
        /// Deleted now.
        removed: u32,
    },
    /// The request was not carried out.
    Refused(Refusal),
    /// One-time prekeys the relay holds for the mailbox, after an upload.
    PrekeysHeld {
        /// How many.
        count: u32,
    },
    /// One of the owner's one-time prekeys (`OneTimePrekey::to_bytes`). The relay deleted it
    /// durably before answering: nobody else gets it.
    Prekey(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The relay holds no one-time prekey for the mailbox: start the session with the signed
    /// prekey alone.
    PrekeysExhausted,
}

/// Why a relay refused a request. The sender of a refused deposit keeps the message and tries
/// another relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The envelope is larger than this relay accepts.
    #[error("envelope too large for this relay")]
    TooLarge,
    /// The mailbox holds as many messages or bytes as the relay allows.
    #[error("the mailbox is full")]
    QuotaExceeded,
    /// The relay's disk budget is used up.
    #[error("the relay is out of storage")]
    StorageFull,
    /// Too many deposits from this peer; try again later.
    #[error("rate limited")]
    RateLimited,
    /// The relay serves only listed mailboxes (a private relay).
    #[error("this relay does not serve that mailbox")]
    NotAllowed,
    /// The ownership proof does not verify.
    #[error("ownership proof refused")]
    BadProof,
    /// The nonce is unknown, used or expired: ask for a new challenge.
    #[error("challenge unknown or expired")]
    StaleChallenge,
    /// The relay cannot store or read right now (its database failed).
    #[error("the relay is unavailable")]
    Unavailable,
    /// An uploaded one-time prekey does not decode, is not signed by the mailbox's owner, or
    /// the batch is larger than [`MAX_PREKEY_BATCH`].
    #[error("invalid one-time prekeys")]
    BadPrekey,
    /// The deposit is not a sealed envelope (version 1, at one of the bucket lengths): a
    /// relay keeps nothing else, and never a direct envelope, which names its sender.
    #[error("not a sealed envelope")]
    NotSealed,
}

impl Refusal {
    /// A stable snake_case name, for counters and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::QuotaExceeded => "quota_exceeded",
            Self::StorageFull => "storage_full",
            Self::RateLimited => "rate_limited",
            Self::NotAllowed => "not_allowed",
            Self::BadProof => "bad_proof",
            Self::StaleChallenge => "stale_challenge",
            Self::Unavailable => "unavailable",
            Self::BadPrekey => "bad_prekey",
            Self::NotSealed => "not_sealed",
        }
    }
}

/// One envelope held for the owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEnvelope {
    /// The relay's id for it, increasing in arrival order within the mailbox.
    pub id: u64,
    /// The sealed envelope.
    #[serde(with = "serde_bytes")]
    pub envelope: Vec<u8>,
    /// When the relay stored it, Unix seconds.
    pub stored_at: u64,
}

/// Which owner operation a proof authorises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// [`Request::Fetch`].
    Fetch,
    /// [`Request::Ack`].
    Ack,
    /// [`Request::UploadPrekeys`].
    UploadPrekeys,
    /// A collect stream ([`collect`]): fetches and acknowledgements for the stream's life.
    Collect,
}

impl Operation {
    fn byte(self) -> u8 {
        match self {
            Self::Fetch => 1,
            Self::Ack => 2,
            Self::UploadPrekeys => 3,
            Self::Collect => 4,
        }
    }
}

/// A mailbox owner's proof, for one operation at one relay with one nonce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerProof {
    /// `PrekeyBundle::to_bytes` of the owner: binds the mailbox key to the account.
    #[serde(with = "serde_bytes")]
    pub bundle: Vec<u8>,
    /// The relay's nonce.
    pub nonce: [u8; 32],
    /// The account's statement signature (context `"mailbox-auth"`) over
    /// `relay peer id ‖ mailbox id ‖ nonce ‖ operation`.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// Why an ownership proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The bundle does not decode or its signatures do not verify.
    #[error("invalid bundle: {0}")]
    Bundle(String),
    /// The bundle's mailbox key is not the one of this mailbox id.
    #[error("the bundle is for another mailbox")]
    WrongMailbox,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
}

fn owner_statement(relay: &[u8], mailbox: &MailboxId, nonce: &[u8; 32], op: Operation) -> Vec<u8> {
    let mut message = Vec::with_capacity(relay.len() + 65);
    message.extend_from_slice(relay);
    message.extend_from_slice(mailbox.as_bytes());
    message.extend_from_slice(nonce);
    message.push(op.byte());
    message
}

impl OwnerProof {
    /// Proves, as `account` with its current `bundle`, ownership of the account's mailbox to
    /// the relay `relay` (its peer id bytes) for `op`, with the relay's `nonce`.
    pub fn new(
        account: &AccountKey,
        bundle: &PrekeyBundle,
        relay: &[u8],
        nonce: [u8; 32],
        op: Operation,
    ) -> Self {
        let statement = owner_statement(relay, &bundle.mailbox().id(), &nonce, op);
        Self {
            bundle: bundle.to_bytes(),
            nonce,
            signature: account.sign_statement(OWNER_CONTEXT, &statement).to_vec(),
        }
    }

    /// Checks the proof for `mailbox` at the relay `relay` (its peer id bytes) for `op`.
    /// Whether the nonce is fresh is for the relay to check.
    pub fn verify(
        &self,
        relay: &[u8],
        mailbox: &MailboxId,
        op: Operation,
    ) -> Result<(), ProofError> {
        if self.mailbox(relay, op)? == *mailbox {
            Ok(())
        } else {
            Err(ProofError::WrongMailbox)
        }
    }

    /// The mailbox this proof opens at the relay `relay` for `op`: the one of the bundle, if
    /// the account signed for it. A relay serves exactly this mailbox, so a proof can only
    /// ever open its signer's own.
    pub fn mailbox(&self, relay: &[u8], op: Operation) -> Result<MailboxId, ProofError> {
        self.owner(relay, op).map(|(mailbox, _)| mailbox)
    }

    /// The mailbox this proof opens, with the account that owns it (which signs the one-time
    /// prekeys it uploads).
    pub fn owner(&self, relay: &[u8], op: Operation) -> Result<(MailboxId, UserId), ProofError> {
        let bundle = PrekeyBundle::from_bytes(&self.bundle)
            .map_err(|e| ProofError::Bundle(e.to_string()))?;
        let mailbox = bundle.mailbox().id();
        let signature: [u8; 64] = self
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| ProofError::BadSignature)?;
        bundle
            .identity()
            .user_id()
            .verify_statement(
                OWNER_CONTEXT,
                &owner_statement(relay, &mailbox, &self.nonce, op),
                &signature,
            )
            .map_err(|_| ProofError::BadSignature)?;
        Ok((mailbox, bundle.identity().user_id()))
    }
}

/// Why a frame was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Reading or writing the stream failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The frame declares an unknown version.
    #[error("unsupported frame version {0}")]
    Version(u8),
    /// The frame is larger than allowed.
    #[error("frame of {0} bytes exceeds the maximum")]
    TooLarge(usize),
    /// The body does not decode.
    #[error("malformed body: {0}")]
    Malformed(String),
}

impl From<FrameError> for io::Error {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// Encodes a frame body.
pub fn encode<T: Serialize>(body: &T) -> Vec<u8> {
    // postcard cannot fail on these types (no maps with non-string keys, no unsized data).
    postcard::to_allocvec(body).unwrap_or_default()
}

/// Decodes a frame body, refusing trailing bytes.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, FrameError> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok(_) => Err(FrameError::Malformed("trailing bytes".into())),
        Err(e) => Err(FrameError::Malformed(e.to_string())),
    }
}

/// Reads one frame of at most `max` body bytes and decodes it.
pub async fn read_frame<T, R>(io: &mut R, max: usize) -> Result<T, FrameError>
where
    T: for<'de> Deserialize<'de>,
    R: AsyncRead + Unpin + Send,
{
    let mut head = [0u8; 5];
    io.read_exact(&mut head).await?;
    if head[0] != FRAME_VERSION {
        return Err(FrameError::Version(head[0]));
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > max {
        return Err(FrameError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    decode(&body)
}

/// Encodes and writes one frame, refusing bodies over `max`, and closes the write side.
pub async fn write_frame<T, W>(io: &mut W, body: &T, max: usize) -> Result<(), FrameError>
where
    T: Serialize,
    W: AsyncWrite + Unpin + Send,
{
    let body = encode(body);
    if body.len() > max {
        return Err(FrameError::TooLarge(body.len()));
    }
    io.write_all(&[FRAME_VERSION]).await?;
    io.write_all(&(body.len() as u32).to_be_bytes()).await?;
    io.write_all(&body).await?;
    io.close().await?;
    Ok(())
}

/// The libp2p request-response codec of `/tern/mailbox/2`, for both sides: nodes deposit
/// and fetch with it, relays serve with it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Codec;

impl libp2p::request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        Ok(read_frame(io, MAX_REQUEST_LEN).await?)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        Ok(read_frame(io, MAX_RESPONSE_LEN).await?)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Ok(write_frame(io, &request, MAX_REQUEST_LEN).await?)
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Ok(write_frame(io, &response, MAX_RESPONSE_LEN).await?)
    }
}

#[cfg(test)]
mod tests {
    use futures::io::Cursor;
    use proptest::prelude::*;
    use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
    use tern_crypto::PrekeySecrets;

    use super::*;

    fn account(seed: u8) -> (AccountKey, PrekeyBundle) {
        let mut rng = ChaCha20Rng::from_seed([seed; 32]);
        let account = AccountKey::generate(&mut rng);
        let prekeys = PrekeySecrets::generate(&mut rng, &account, 1_800_000_000);
        let bundle = prekeys.bundle(&account, 1);
        (account, bundle)
    }

    fn relay() -> (libp2p::identity::Keypair, Vec<u8>) {
        let keypair = libp2p::identity::Keypair::ed25519_from_bytes([9u8; 32]).unwrap();
        let id = keypair.public().to_peer_id().to_bytes();
        (keypair, id)
    }

    #[test]
    fn owner_proofs_bind_account_mailbox_relay_nonce_and_operation() {
        let (alice, bundle) = account(1);
        let (mallory, mallory_bundle) = account(2);
        let (_, relay) = relay();
        let mailbox = bundle.mailbox().id();
        let proof = OwnerProof::new(&alice, &bundle, &relay, [5u8; 32], Operation::Fetch);
        assert_eq!(proof.verify(&relay, &mailbox, Operation::Fetch), Ok(()));
        assert_eq!(
            proof.verify(&relay, &mailbox, Operation::Ack),
            Err(ProofError::BadSignature)
        );
        assert_eq!(
            proof.verify(&[1, 2, 3], &mailbox, Operation::Fetch),
            Err(ProofError::BadSignature)
        );
        let mut renonced = proof.clone();
        renonced.nonce = [6u8; 32];
        assert_eq!(
            renonced.verify(&relay, &mailbox, Operation::Fetch),
            Err(ProofError::BadSignature)
        );
        // Mallory cannot claim Alice's mailbox: her own bundle names her own mailbox key, and
        // Alice's bundle does not carry Mallory's signature.
        let own = OwnerProof::new(
            &mallory,
            &mallory_bundle,
            &relay,
            [5u8; 32],
            Operation::Fetch,
        );
        assert_eq!(
            own.verify(&relay, &mailbox, Operation::Fetch),
            Err(ProofError::WrongMailbox)
        );
        let mut borrowed = own.clone();
        borrowed.bundle = bundle.to_bytes();
        assert_eq!(
            borrowed.verify(&relay, &mailbox, Operation::Fetch),
            Err(ProofError::BadSignature)
        );
        let mut garbage = proof;
        garbage.bundle = vec![0u8; 100];
        assert!(matches!(
            garbage.verify(&relay, &mailbox, Operation::Fetch),
            Err(ProofError::Bundle(_))
        ));
    }

    fn round_trip<T>(value: &T, max: usize) -> T
    where
        T: Serialize + for<'de> Deserialize<'de>,
    {
        let mut buf = Cursor::new(Vec::new());
        futures::executor::block_on(write_frame(&mut buf, value, max)).unwrap();
        futures::executor::block_on(read_frame(&mut Cursor::new(buf.into_inner()), max)).unwrap()
    }

    #[test]
    fn known_answer_frame() {
        let mut buf = Cursor::new(Vec::new());
        futures::executor::block_on(write_frame(&mut buf, &Request::Challenge, MAX_REQUEST_LEN))
            .unwrap();
        // Version 1, length 1, variant 1 (Challenge).
        assert_eq!(buf.into_inner(), [1, 0, 0, 0, 1, 1]);
        let deposit = encode(&Request::Deposit {
            mailbox: [0xab; 32],
            envelope: vec![1, 2, 3],
        });
        let mut expected = vec![0u8];
        expected.extend_from_slice(&[0xab; 32]);
        expected.extend_from_slice(&[3, 1, 2, 3]);
        assert_eq!(deposit, expected);
    }

    #[test]
    fn bad_frames_are_refused() {
        let read = |bytes: Vec<u8>| {
            futures::executor::block_on(read_frame::<Request, _>(
                &mut Cursor::new(bytes),
                MAX_REQUEST_LEN,
            ))
        };
        assert!(matches!(
            read(vec![2, 0, 0, 0, 1, 1]),
            Err(FrameError::Version(2))
        ));
        assert!(matches!(
            read(vec![1, 0xff, 0xff, 0xff, 0xff]),
            Err(FrameError::TooLarge(_))
        ));
        assert!(matches!(
            read(vec![1, 0, 0, 0, 1, 99]),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            read(vec![1, 0, 0, 0, 2, 1, 0]),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(read(vec![1, 0, 0]), Err(FrameError::Io(_))));
        let huge = Response::Envelopes {
            items: vec![StoredEnvelope {
                id: 1,
                envelope: vec![0; 64],
                stored_at: 0,
            }],
            more: false,
        };
        let mut buf = Cursor::new(Vec::new());
        assert!(matches!(
            futures::executor::block_on(write_frame(&mut buf, &huge, 10)),
            Err(FrameError::TooLarge(_))
        ));
    }

    proptest! {
        #[test]
        fn requests_and_responses_round_trip(
            mailbox in any::<[u8; 32]>(),
            envelope in proptest::collection::vec(any::<u8>(), 0..2048),
            after in any::<u64>(),
            ids in proptest::collection::vec(any::<u64>(), 0..50),
        ) {
            let proof = OwnerProof { bundle: envelope.clone(), nonce: mailbox, signature: vec![1; 64] };
            for request in [
                Request::Deposit { mailbox, envelope: envelope.clone() },
                Request::Challenge,
                Request::Fetch { proof: proof.clone(), after, limit: 10, wait_secs: 5 },
                Request::Ack { proof, ids: ids.clone() },
            ] {
                prop_assert_eq!(round_trip(&request, MAX_REQUEST_LEN), request);
            }
            for response in [
                Response::Challenge { nonce: mailbox },
                Response::Envelopes {
                    items: ids.iter().map(|&id| StoredEnvelope { id, envelope: envelope.clone(), stored_at: after }).collect(),
                    more: true,
                },
                Response::Acked { removed: ids.len() as u32 },
                Response::Refused(Refusal::QuotaExceeded),
            ] {
                prop_assert_eq!(round_trip(&response, MAX_RESPONSE_LEN), response);
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<Request>(&bytes);
            let _ = decode::<Response>(&bytes);
        }
    }
}
