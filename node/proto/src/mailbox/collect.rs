//! The collect stream, `/tern/collect/2`: an owner drains its mailbox on one long-lived
//! stream, proving ownership once, with each acknowledgement riding on a later request.
//!
//! On `/tern/mailbox/2` a page of mail costs four requests (a challenge and a fetch, a
//! challenge and an acknowledgement), each on a stream of its own, and two ownership proofs
//! for the relay to check. On a collect stream the owner proves ownership once, then each
//! page costs one request, which also carries the acknowledgement of pages before it:
//!
//! ```text
//! owner                                   relay
//!   │ Hello ───────────────────────────────▶ │
//!   │ ◀──────────────────── Challenge(nonce) │ fresh, for this stream only
//!   │ Prove(proof: Operation::Collect) ────▶ │ checked once
//!   │ ◀────────────────────────────── Proven │
//!   │ Next { ack: [], after 0, limit, wait } ▶ │
//!   │ ◀──────────── Page { items 1‥256, more } (held up to `wait` s if empty)
//!   │ Next { ack: [1‥256], after 256, … } ─▶ │ forgets 1‥256, then reads after 256
//!   │ ◀─────────────────────────── Page { … }
//! ```
//!
//! An owner need not wait for a page before asking for the next: [`CollectRequest::More`]
//! asks for the page after the last one the stream answered with, so an owner that keeps a
//! second request queued behind the one being answered drains its mailbox without a round
//! trip between pages, acknowledging each page in a request after it:
//!
//! ```text
//!   │ Next { ack: [], after 0, … } ────────▶ │
//!   │ More { ack: [], wait 0 } ────────────▶ │ queued
//!   │ ◀─────────────── Page { 1‥256, more } │
//!   │ More { ack: [], wait 0 } ────────────▶ │ queued; the page after 256 is being sent
//!   │ ◀───────────── Page { 257‥512, more } │
//!   │ More { ack: [1‥256], wait 0 } ───────▶ │ once 1‥256 are stored
//! ```
//!
//! Frames are the mailbox protocol's (`version u8 = 1 ‖ length u32 ‖ postcard(body)`). The
//! relay answers requests in the order they came, each before it reads the next. A refused
//! `Hello` (rate limited) or `Prove` ends the stream after the refusal; a `Next` or `More`
//! before `Proven`, or a frame that does not decode, ends it at once. Acknowledged envelopes are deleted from the relay's disk
//! before the next page is read, though not synced on their own: a relay that crashes right
//! after may hand a few of them out again, which the owner's node recognises as duplicates
//! (it acknowledges only what it has stored durably).

use serde::{Deserialize, Serialize};

use super::{OwnerProof, Refusal, StoredEnvelope};

/// The protocol name.
pub const PROTOCOL: libp2p::StreamProtocol = libp2p::StreamProtocol::new("/tern/collect/2");
/// Largest request body: a proof, or an acknowledgement of a page of ids.
pub const MAX_REQUEST_LEN: usize = 16 * 1024;
/// Most ids acknowledged in one request.
pub const MAX_ACK: usize = 1024;

/// What the owner sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CollectRequest {
    /// The first request: asks for the nonce the proof signs.
    Hello,
    /// Proves ownership for the rest of the stream, with [`super::Operation::Collect`].
    Prove(OwnerProof),
    /// Deletes `ack` (envelopes the owner has stored durably; at most [`MAX_ACK`]), then
    /// answers with the envelopes after `after`, at most `limit` (0: only acknowledge),
    /// waiting up to `wait_secs` (at most [`super::MAX_WAIT_SECS`]) for one if there are
    /// none.
    Next {
        /// Ids from earlier pages.
        ack: Vec<u64>,
        /// Only envelopes with a larger id.
        after: u64,
        /// Most envelopes in the answer.
        limit: u32,
        /// Seconds to hold an empty answer open.
        wait_secs: u16,
    },
    /// As [`CollectRequest::Next`], after the stream's cursor: the id of the last envelope of
    /// the latest page answered on this stream, or the `after` that page was read from if it
    /// had none (0 before any page). Lets an owner ask for a page before the page before it
    /// has arrived.
    More {
        /// Ids from earlier pages.
        ack: Vec<u64>,
        /// Most envelopes in the answer.
        limit: u32,
        /// Seconds to hold an empty answer open.
        wait_secs: u16,
    },
}

/// What the relay answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CollectAnswer {
    /// The nonce for this stream's proof.
    Challenge {
        /// Random, single use.
        nonce: [u8; 32],
    },
    /// The proof holds: the stream is the owner's.
    Proven,
    /// A page of the mailbox, oldest first, after the acknowledged envelopes were deleted.
    Page {
        /// The envelopes.
        items: Vec<StoredEnvelope>,
        /// Whether more follow the last one.
        more: bool,
        /// How many of the acknowledged envelopes were deleted now.
        acked: u32,
    },
    /// The request was not carried out.
    Refused(Refusal),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::{
        MAX_RESPONSE_LEN,
        deposits::{next_frame, put_frame},
    };

    #[test]
    fn requests_and_answers_round_trip_and_are_pinned() {
        let next = CollectRequest::Next {
            ack: vec![1, 300],
            after: 2,
            limit: 3,
            wait_secs: 4,
        };
        // Variant 2, ack [1, 300] as varints, then 2, 3, 4.
        assert_eq!(crate::mailbox::encode(&next), [2, 2, 1, 172, 2, 2, 3, 4]);
        let mut frame = Vec::new();
        put_frame(&mut frame, &next, MAX_REQUEST_LEN).unwrap();
        let back: CollectRequest =
            futures::executor::block_on(next_frame(&mut &frame[..], MAX_REQUEST_LEN))
                .unwrap()
                .unwrap();
        assert_eq!(back, next);
        let more = CollectRequest::More {
            ack: vec![5],
            limit: 6,
            wait_secs: 7,
        };
        // Variant 3, ack [5], then 6, 7.
        assert_eq!(crate::mailbox::encode(&more), [3, 1, 5, 6, 7]);
        let page = CollectAnswer::Page {
            items: vec![StoredEnvelope {
                id: 9,
                envelope: vec![7; 100],
                stored_at: 5,
            }],
            more: true,
            acked: 2,
        };
        let mut frame = Vec::new();
        put_frame(&mut frame, &page, MAX_RESPONSE_LEN).unwrap();
        let back: CollectAnswer =
            futures::executor::block_on(next_frame(&mut &frame[..], MAX_RESPONSE_LEN))
                .unwrap()
                .unwrap();
        assert_eq!(back, page);
    }
}
