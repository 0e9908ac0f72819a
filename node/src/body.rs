//! The bodies of the payloads a node sends inside sealed envelopes.
//!
//! A payload is `content type ‖ body` (see `tern_crypto::Payload`); the body is the postcard
//! encoding of one of the structs here, chosen by the content type. Every body starts with the
//! same two fields — the sender's message id and its clock stamp — so that deduplication and
//! ordering work the same way for text, receipts and every later kind (edits, reactions,
//! attachments, group operations). Bodies are refused when they exceed their size bounds or
//! carry trailing bytes.

use serde::{Deserialize, Serialize};
use tern_crypto::{ContentType, Payload};

use crate::{hlc::Stamp, id::MessageId};

/// Longest text message, in bytes of UTF-8. Large enough for any chat message; longer content
/// belongs in an attachment.
pub const MAX_TEXT_LEN: usize = 64 * 1024;
/// Most message ids one receipt may acknowledge.
pub(crate) const MAX_RECEIPT_IDS: usize = 256;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum BodyError {
    #[error("unsupported content type {0}")]
    UnsupportedType(u8),
    #[error("malformed body: {0}")]
    Malformed(String),
    #[error("body exceeds its size bound")]
    TooLarge,
}

/// A text message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Text {
    pub(crate) id: MessageId,
    pub(crate) stamp: Stamp,
    pub(crate) text: String,
}

/// What a receipt acknowledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ReceiptKind {
    /// The messages are durable on the recipient's device.
    Delivered,
    /// The recipient has read them.
    Read,
}

/// A delivery or read receipt, end-to-end encrypted like any message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Receipt {
    pub(crate) id: MessageId,
    pub(crate) stamp: Stamp,
    pub(crate) kind: ReceiptKind,
    pub(crate) messages: Vec<MessageId>,
}

/// Any body this node understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    Text(Text),
    Receipt(Receipt),
}

impl Body {
    pub(crate) fn id(&self) -> MessageId {
        match self {
            Self::Text(t) => t.id,
            Self::Receipt(r) => r.id,
        }
    }

    pub(crate) fn stamp(&self) -> Stamp {
        match self {
            Self::Text(t) => t.stamp,
            Self::Receipt(r) => r.stamp,
        }
    }

    /// The payload the session encrypts.
    pub(crate) fn to_payload(&self) -> Payload {
        // Encoding plain structs into a Vec cannot fail.
        match self {
            Self::Text(t) => Payload::new(
                ContentType::TEXT,
                postcard::to_stdvec(t).unwrap_or_default(),
            ),
            Self::Receipt(r) => Payload::new(
                ContentType::RECEIPT,
                postcard::to_stdvec(r).unwrap_or_default(),
            ),
        }
    }

    pub(crate) fn from_payload(payload: &Payload) -> Result<Self, BodyError> {
        match payload.content_type {
            ContentType::TEXT => {
                let text: Text = decode(&payload.body)?;
                if text.text.len() > MAX_TEXT_LEN {
                    return Err(BodyError::TooLarge);
                }
                Ok(Self::Text(text))
            }
            ContentType::RECEIPT => {
                let receipt: Receipt = decode(&payload.body)?;
                if receipt.messages.len() > MAX_RECEIPT_IDS {
                    return Err(BodyError::TooLarge);
                }
                Ok(Self::Receipt(receipt))
            }
            other => Err(BodyError::UnsupportedType(other.0)),
        }
    }
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, BodyError> {
    let (value, rest) =
        postcard::take_from_bytes(bytes).map_err(|e| BodyError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(BodyError::Malformed("trailing bytes".into()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn bodies_round_trip() {
        let text = Body::Text(Text {
            id: MessageId::from_bytes([1; 16]),
            stamp: 42 << 16,
            text: "hello".into(),
        });
        assert_eq!(Body::from_payload(&text.to_payload()).unwrap(), text);
        let receipt = Body::Receipt(Receipt {
            id: MessageId::from_bytes([2; 16]),
            stamp: 43 << 16,
            kind: ReceiptKind::Read,
            messages: vec![MessageId::from_bytes([1; 16])],
        });
        assert_eq!(Body::from_payload(&receipt.to_payload()).unwrap(), receipt);
    }

    #[test]
    fn bad_bodies_are_refused() {
        assert_eq!(
            Body::from_payload(&Payload::new(ContentType::EDIT, vec![])),
            Err(BodyError::UnsupportedType(3))
        );
        let huge = Body::Text(Text {
            id: MessageId::from_bytes([1; 16]),
            stamp: 1,
            text: "x".repeat(MAX_TEXT_LEN + 1),
        });
        assert_eq!(
            Body::from_payload(&huge.to_payload()),
            Err(BodyError::TooLarge)
        );
        let mut trailing = Body::Text(Text {
            id: MessageId::from_bytes([1; 16]),
            stamp: 1,
            text: "x".into(),
        })
        .to_payload();
        trailing.body.push(0);
        assert!(matches!(
            Body::from_payload(&trailing),
            Err(BodyError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn random_bodies_never_panic(kind in 0u8..4, bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = Body::from_payload(&Payload::new(ContentType(kind), bytes));
        }
    }
}
