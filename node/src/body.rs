//! The bodies of the payloads a node sends inside sealed envelopes.
//!
//! A payload is `content type ‖ body` (see `tern_crypto::Payload`); the body is the postcard
//! encoding of one of the structs here, chosen by the content type. Every body starts with the
//! same two fields — the sender's message id and its clock stamp — so that deduplication and
//! ordering work the same way for text, receipts and every later kind (edits, reactions,
//! attachments, group operations). Bodies are refused when they exceed their size bounds.
//!
//! **Versioning.** A later version adds fields only at the end of a body, and a decoder reads
//! the fields it knows and skips whatever follows them, so older nodes read newer bodies. An
//! encoder leaves out a trailing run of absent optional fields, so a body that uses no new
//! field is byte-for-byte what the older version wrote. A content type a node does not know
//! still starts with the id and stamp: it is stored and shown as an unsupported message (or,
//! for control types, only acknowledged), never dropped unseen.

use serde::{Deserialize, Serialize};
use tern_crypto::{ContentType, Payload};

use crate::{hlc::Stamp, id::MessageId};

mod group;

#[cfg(test)]
use group::MAX_KEY_PACKAGES;
pub(crate) use group::{
    GroupControl, GroupOp, INVITE_PART_LEN, MAX_INVITE_FILE_LEN, assemble_invite, invite_parts,
};

/// Longest text message, in bytes of UTF-8. Large enough for any chat message; longer content
/// belongs in an attachment.
pub const MAX_TEXT_LEN: usize = 64 * 1024;
/// Most message ids one receipt may acknowledge.
pub(crate) const MAX_RECEIPT_IDS: usize = 256;
/// Longest reaction, in bytes of UTF-8: one emoji, which may be a sequence of several code
/// points (a family joined by zero-width joiners is up to 35 bytes; flags with tags more).
pub const MAX_REACTION_LEN: usize = 64;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum BodyError {
    #[error("malformed body: {0}")]
    Malformed(String),
    #[error("body exceeds its size bound")]
    TooLarge,
    #[error("a reaction is one emoji")]
    NotAnEmoji,
}

/// The fields every body starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Head {
    id: MessageId,
    stamp: Stamp,
}

/// A text message, perhaps a reply to an earlier one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text {
    pub(crate) id: MessageId,
    pub(crate) stamp: Stamp,
    pub(crate) text: String,
    /// The message it answers, in the same conversation.
    pub(crate) reply_to: Option<MessageId>,
    /// The conversation's disappearing-message timer when it was sent, in seconds: the
    /// message is erased that long after it is read (by the recipient) or sent (by the
    /// sender).
    pub(crate) expire_secs: Option<u32>,
}

/// The first version's text body.
#[derive(Serialize, Deserialize)]
struct TextV1 {
    id: MessageId,
    stamp: Stamp,
    text: String,
}

/// Fields added to a text after version 1, appended in this order (see the module's
/// versioning rule): `reply_to: Option<[u8; 16]>`, then `expire_secs: Option<u32>`. Each is
/// read only if bytes remain, so a tail written before a field existed still reads.
fn decode_text_tail(mut rest: &[u8]) -> Result<(Option<MessageId>, Option<u32>), BodyError> {
    let mut reply_to = None;
    let mut expire_secs = None;
    if !rest.is_empty() {
        (reply_to, rest) = decode(rest)?;
    }
    if !rest.is_empty() {
        (expire_secs, _) = decode(rest)?;
    }
    Ok((reply_to, expire_secs))
}

/// Longest display name in a profile, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 128;
/// Longest status line in a profile, in bytes of UTF-8.
pub const MAX_STATUS_LEN: usize = 512;
/// The disappearing-message timers people can choose, in seconds: 5 minutes, an hour, a
/// day, a week. A timer of 0 turns disappearing messages off.
pub const DISAPPEAR_CHOICES: [u32; 4] = [300, 3600, 86_400, 604_800];

/// A change of the conversation's disappearing-message timer (0: off). The newest by stamp
/// wins when both sides change it at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Timer {
    pub(crate) id: MessageId,
    pub(crate) stamp: Stamp,
    pub(crate) secs: u32,
}

/// The sender's profile, as shared with its contacts: the newest by stamp wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Profile {
    pub(crate) id: MessageId,
    pub(crate) stamp: Stamp,
    pub(crate) name: String,
    pub(crate) status: String,
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

/// A new text for one of the sender's own messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Edit {
    pub(crate) id: MessageId,
    pub(crate) stamp: Stamp,
    pub(crate) target: MessageId,
    pub(crate) text: String,
}

/// Delete-for-everyone of one of the sender's own messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Delete {
    pub(crate) id: MessageId,
    pub(crate) stamp: Stamp,
    pub(crate) target: MessageId,
}

/// The sender's reaction to a message: one emoji, or empty to take the reaction back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Reaction {
    pub(crate) id: MessageId,
    pub(crate) stamp: Stamp,
    pub(crate) target: MessageId,
    pub(crate) emoji: String,
}

/// A file (content type `ATTACHMENT`): its descriptor, in the `tern-blob` encoding
/// (`version ‖ postcard(Descriptor)`, see `docs/protocol/attachments.md`), which holds the
/// file itself when it is small or else its root, key and locations; and a caption, which is
/// shown, searched, edited and deleted like a text.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Attachment {
    pub(crate) id: MessageId,
    pub(crate) stamp: Stamp,
    /// Validated when the body is decoded.
    #[serde(with = "serde_bytes")]
    pub(crate) descriptor: Vec<u8>,
    /// Possibly empty.
    pub(crate) caption: String,
    pub(crate) reply_to: Option<MessageId>,
    /// As for a text.
    pub(crate) expire_secs: Option<u32>,
}

impl std::fmt::Debug for Attachment {
    // The descriptor holds the file key: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("id", &self.id)
            .field("descriptor_len", &self.descriptor.len())
            .finish_non_exhaustive()
    }
}

/// What an ephemeral signal says. Variant order is the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Signal {
    /// The sender is typing in the conversation (`true`), or stopped (`false`).
    Typing(bool),
    /// The sender is online (`true`), or going offline (`false`).
    Presence(bool),
}

/// An ephemeral signal between two online devices (content type `CONTROL`): sent only over
/// an open direct connection, never queued, never through relays, never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Control {
    pub(crate) id: MessageId,
    pub(crate) stamp: Stamp,
    pub(crate) signal: Signal,
}

/// Any body this node understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    Text(Text),
    Attachment(Attachment),
    Receipt(Receipt),
    Edit(Edit),
    Delete(Delete),
    Reaction(Reaction),
    Timer(Timer),
    Profile(Profile),
    Control(Control),
    Group(GroupControl),
    /// A content type this version does not know, that people should see: shown as an
    /// unsupported message, so that nothing a newer sender sends disappears unseen.
    Unsupported {
        id: MessageId,
        stamp: Stamp,
        content_type: u8,
    },
    /// A content type this version does not know and that carries nothing to show (control
    /// messages): the session advances, nothing is stored.
    Silent {
        id: MessageId,
        stamp: Stamp,
    },
}

/// Whether an unknown content type is one people would have seen: receipts, control
/// messages and the range `0x80..=0xff` carry nothing to show.
fn shown(content_type: ContentType) -> bool {
    content_type != ContentType::RECEIPT
        && content_type != ContentType::CONTROL
        && content_type.0 < 0x80
}

impl Body {
    pub(crate) fn id(&self) -> MessageId {
        match self {
            Self::Text(Text { id, .. })
            | Self::Attachment(Attachment { id, .. })
            | Self::Receipt(Receipt { id, .. })
            | Self::Edit(Edit { id, .. })
            | Self::Delete(Delete { id, .. })
            | Self::Reaction(Reaction { id, .. })
            | Self::Timer(Timer { id, .. })
            | Self::Profile(Profile { id, .. })
            | Self::Control(Control { id, .. })
            | Self::Group(GroupControl { id, .. })
            | Self::Unsupported { id, .. }
            | Self::Silent { id, .. } => *id,
        }
    }

    pub(crate) fn stamp(&self) -> Stamp {
        match self {
            Self::Text(Text { stamp, .. })
            | Self::Attachment(Attachment { stamp, .. })
            | Self::Receipt(Receipt { stamp, .. })
            | Self::Edit(Edit { stamp, .. })
            | Self::Delete(Delete { stamp, .. })
            | Self::Reaction(Reaction { stamp, .. })
            | Self::Timer(Timer { stamp, .. })
            | Self::Profile(Profile { stamp, .. })
            | Self::Control(Control { stamp, .. })
            | Self::Group(GroupControl { stamp, .. })
            | Self::Unsupported { stamp, .. }
            | Self::Silent { stamp, .. } => *stamp,
        }
    }

    /// The payload the session encrypts.
    pub(crate) fn to_payload(&self) -> Payload {
        // Encoding plain structs into a Vec cannot fail.
        let (content_type, body) = match self {
            Self::Text(t) => {
                let mut body = encode(&TextV1 {
                    id: t.id,
                    stamp: t.stamp,
                    text: t.text.clone(),
                });
                // The tail is left out while it holds nothing, so a plain text is what a
                // version-1 node reads.
                if t.reply_to.is_some() || t.expire_secs.is_some() {
                    body.extend(encode(&t.reply_to));
                }
                if t.expire_secs.is_some() {
                    body.extend(encode(&t.expire_secs));
                }
                (ContentType::TEXT, body)
            }
            Self::Attachment(a) => (ContentType::ATTACHMENT, encode(a)),
            Self::Receipt(r) => (ContentType::RECEIPT, encode(r)),
            Self::Edit(e) => (ContentType::EDIT, encode(e)),
            Self::Delete(d) => (ContentType::DELETE, encode(d)),
            Self::Reaction(r) => (ContentType::REACTION, encode(r)),
            Self::Timer(t) => (ContentType::TIMER, encode(t)),
            Self::Profile(p) => (ContentType::PROFILE, encode(p)),
            Self::Control(c) => (ContentType::CONTROL, encode(c)),
            Self::Group(g) => (ContentType::GROUP, encode(g)),
            Self::Unsupported {
                id,
                stamp,
                content_type,
            } => (
                ContentType(*content_type),
                encode(&Head {
                    id: *id,
                    stamp: *stamp,
                }),
            ),
            Self::Silent { id, stamp } => (
                ContentType::CONTROL,
                encode(&Head {
                    id: *id,
                    stamp: *stamp,
                }),
            ),
        };
        Payload::new(content_type, body)
    }

    pub(crate) fn from_payload(payload: &Payload) -> Result<Self, BodyError> {
        let bytes = &payload.body[..];
        match payload.content_type {
            ContentType::TEXT => {
                let (v1, rest): (TextV1, _) = decode(bytes)?;
                let (reply_to, expire_secs) = decode_text_tail(rest)?;
                check_text(&v1.text)?;
                Ok(Self::Text(Text {
                    id: v1.id,
                    stamp: v1.stamp,
                    text: v1.text,
                    reply_to,
                    expire_secs,
                }))
            }
            ContentType::ATTACHMENT => {
                let attachment: Attachment = decode(bytes)?.0;
                tern_blob::Descriptor::from_bytes(&attachment.descriptor)
                    .map_err(|e| BodyError::Malformed(format!("attachment: {e}")))?;
                if attachment.caption.len() > MAX_TEXT_LEN {
                    return Err(BodyError::TooLarge);
                }
                Ok(Self::Attachment(attachment))
            }
            ContentType::RECEIPT => {
                let receipt: Receipt = decode(bytes)?.0;
                if receipt.messages.len() > MAX_RECEIPT_IDS {
                    return Err(BodyError::TooLarge);
                }
                Ok(Self::Receipt(receipt))
            }
            ContentType::EDIT => {
                let edit: Edit = decode(bytes)?.0;
                check_text(&edit.text)?;
                Ok(Self::Edit(edit))
            }
            ContentType::DELETE => Ok(Self::Delete(decode(bytes)?.0)),
            ContentType::REACTION => {
                let reaction: Reaction = decode(bytes)?.0;
                check_reaction(&reaction.emoji)?;
                Ok(Self::Reaction(reaction))
            }
            ContentType::TIMER => {
                let timer: Timer = decode(bytes)?.0;
                if timer.secs != 0 && !DISAPPEAR_CHOICES.contains(&timer.secs) {
                    return Err(BodyError::Malformed(format!("timer of {} s", timer.secs)));
                }
                Ok(Self::Timer(timer))
            }
            // A group operation this version does not know stays silent, like a signal.
            ContentType::GROUP => match decode::<GroupControl>(bytes) {
                Ok((group, _)) if !group.op.within_bounds() => Err(BodyError::TooLarge),
                Ok((group, _)) => Ok(Self::Group(group)),
                Err(_) => {
                    let head: Head = decode(bytes)?.0;
                    Ok(Self::Silent {
                        id: head.id,
                        stamp: head.stamp,
                    })
                }
            },
            // A control body with a signal this version does not know stays silent.
            ContentType::CONTROL => match decode::<Control>(bytes) {
                Ok((control, _)) => Ok(Self::Control(control)),
                Err(_) => {
                    let head: Head = decode(bytes)?.0;
                    Ok(Self::Silent {
                        id: head.id,
                        stamp: head.stamp,
                    })
                }
            },
            ContentType::PROFILE => {
                let profile: Profile = decode(bytes)?.0;
                check_profile(&profile.name, &profile.status)?;
                Ok(Self::Profile(profile))
            }
            other => {
                let head: Head = decode(bytes)?.0;
                Ok(if shown(other) {
                    Self::Unsupported {
                        id: head.id,
                        stamp: head.stamp,
                        content_type: other.0,
                    }
                } else {
                    Self::Silent {
                        id: head.id,
                        stamp: head.stamp,
                    }
                })
            }
        }
    }
}

/// A text body's text must be non-empty and within [`MAX_TEXT_LEN`].
fn check_text(text: &str) -> Result<(), BodyError> {
    if text.len() > MAX_TEXT_LEN {
        return Err(BodyError::TooLarge);
    }
    if text.is_empty() {
        return Err(BodyError::Malformed("empty text".into()));
    }
    Ok(())
}

/// A profile's name and status must fit their bounds; the name must not be empty and neither
/// may hold control characters (they would garble terminals).
pub(crate) fn check_profile(name: &str, status: &str) -> Result<(), BodyError> {
    if name.len() > MAX_NAME_LEN || status.len() > MAX_STATUS_LEN {
        return Err(BodyError::TooLarge);
    }
    if name.trim().is_empty() {
        return Err(BodyError::Malformed("empty name".into()));
    }
    if name.chars().chain(status.chars()).any(char::is_control) {
        return Err(BodyError::Malformed(
            "control character in a profile".into(),
        ));
    }
    Ok(())
}

/// A reaction is empty (taken back) or exactly one extended grapheme cluster with no
/// letters, digits, spaces or controls in it: one emoji as people type it.
pub(crate) fn check_reaction(emoji: &str) -> Result<(), BodyError> {
    use unicode_segmentation::UnicodeSegmentation;
    if emoji.is_empty() {
        return Ok(());
    }
    if emoji.len() > MAX_REACTION_LEN {
        return Err(BodyError::TooLarge);
    }
    let one = emoji.graphemes(true).count() == 1;
    let symbols = emoji
        .chars()
        .all(|c| !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control());
    if one && symbols && !emoji.is_ascii() {
        Ok(())
    } else {
        Err(BodyError::NotAnEmoji)
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).unwrap_or_default()
}

/// Decodes the fields a version knows from the front of `bytes`, returning the rest: the
/// fields a later version appended, which this one skips.
fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<(T, &'a [u8]), BodyError> {
    postcard::take_from_bytes(bytes).map_err(|e| BodyError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn id(byte: u8) -> MessageId {
        MessageId::from_bytes([byte; 16])
    }

    fn text(reply_to: Option<MessageId>) -> Body {
        Body::Text(Text {
            id: id(1),
            stamp: 42 << 16,
            text: "hello".into(),
            reply_to,
            expire_secs: None,
        })
    }

    #[test]
    fn bodies_round_trip() {
        let bodies = [
            text(None),
            text(Some(id(7))),
            Body::Receipt(Receipt {
                id: id(2),
                stamp: 43 << 16,
                kind: ReceiptKind::Read,
                messages: vec![id(1)],
            }),
            Body::Edit(Edit {
                id: id(3),
                stamp: 44 << 16,
                target: id(1),
                text: "hello, world".into(),
            }),
            Body::Delete(Delete {
                id: id(4),
                stamp: 45 << 16,
                target: id(1),
            }),
            Body::Reaction(Reaction {
                id: id(5),
                stamp: 46 << 16,
                target: id(1),
                emoji: "👍🏽".into(),
            }),
            Body::Text(Text {
                id: id(8),
                stamp: 48 << 16,
                text: "gone soon".into(),
                reply_to: None,
                expire_secs: Some(300),
            }),
            Body::Timer(Timer {
                id: id(10),
                stamp: 49 << 16,
                secs: 3600,
            }),
            Body::Control(Control {
                id: id(12),
                stamp: 51 << 16,
                signal: Signal::Typing(true),
            }),
            Body::Control(Control {
                id: id(13),
                stamp: 52 << 16,
                signal: Signal::Presence(false),
            }),
            Body::Profile(Profile {
                id: id(11),
                stamp: 50 << 16,
                name: "Alice Ø".into(),
                status: "in Lisbon".into(),
            }),
            Body::Reaction(Reaction {
                id: id(6),
                stamp: 47 << 16,
                target: id(1),
                emoji: String::new(),
            }),
        ];
        for body in bodies {
            assert_eq!(Body::from_payload(&body.to_payload()).unwrap(), body);
        }
    }

    /// The wire form is pinned: these bytes are what other implementations exchange.
    #[test]
    fn encodings_are_pinned() {
        let plain = text(None).to_payload();
        assert_eq!(plain.content_type, ContentType::TEXT);
        let mut expected = vec![1; 16];
        expected.extend([0x80, 0x80, 0xa8, 0x01, 5]);
        expected.extend(b"hello");
        assert_eq!(plain.body, expected, "a plain text is the version-1 body");
        let reply = text(Some(id(7))).to_payload();
        expected.push(1);
        expected.extend([7; 16]);
        assert_eq!(reply.body, expected, "a reply appends its tail");
        let mut timed = text(None);
        if let Body::Text(t) = &mut timed {
            t.expire_secs = Some(300);
        }
        let timed = timed.to_payload();
        expected.truncate(expected.len() - 17);
        expected.extend([0, 1, 0xac, 0x02]);
        assert_eq!(
            timed.body, expected,
            "a timer writes an absent reply_to first"
        );
    }

    #[test]
    fn fields_a_later_version_appends_are_skipped() {
        let mut full = text(Some(id(7)));
        if let Body::Text(t) = &mut full {
            t.expire_secs = Some(86_400);
        }
        let mut payload = full.to_payload();
        payload.body.extend([1, 2, 3]);
        assert_eq!(Body::from_payload(&payload).unwrap(), full);
    }

    #[test]
    fn group_bodies_round_trip_and_bound_their_key_packages() {
        let ops = [
            GroupOp::KeyPackageRequest,
            GroupOp::KeyPackages(vec![vec![1; 300], vec![2; 10]]),
            GroupOp::Invite {
                welcome: vec![3; 2000],
                log: [4; 32],
                sequencers: vec![crate::group::tables::SequencerRow {
                    peer: vec![5; 38],
                    addresses: vec!["/ip4/127.0.0.1/tcp/1".into()],
                }],
            },
            GroupOp::Rejoin {
                group: [6; 32],
                key_package: vec![7; 300],
            },
            GroupOp::Failover {
                group: [8; 32],
                epoch: 9,
                entry: vec![10; 700],
            },
        ];
        for op in ops {
            let body = Body::Group(GroupControl {
                id: id(3),
                stamp: 9,
                op,
            });
            assert_eq!(Body::from_payload(&body.to_payload()), Ok(body));
        }
        let flood = Body::Group(GroupControl {
            id: id(3),
            stamp: 9,
            op: GroupOp::KeyPackages(vec![vec![1]; MAX_KEY_PACKAGES + 1]),
        });
        assert_eq!(
            Body::from_payload(&flood.to_payload()),
            Err(BodyError::TooLarge)
        );
        // Variant 5: the group, the epoch, the entry; over 128 KiB of entry is too large.
        let failover = GroupOp::Failover {
            group: [8; 32],
            epoch: 9,
            entry: vec![10; 2],
        };
        let mut expected = vec![5];
        expected.extend([8; 32]);
        expected.extend([9, 2, 10, 10]);
        assert_eq!(postcard::to_stdvec(&failover).unwrap(), expected);
        let huge = Body::Group(GroupControl {
            id: id(3),
            stamp: 9,
            op: GroupOp::Failover {
                group: [8; 32],
                epoch: 9,
                entry: vec![10; INVITE_PART_LEN + 1],
            },
        });
        assert_eq!(
            Body::from_payload(&huge.to_payload()),
            Err(BodyError::TooLarge)
        );
    }

    #[test]
    fn unknown_types_are_kept_or_silent() {
        let head = encode(&Head {
            id: id(9),
            stamp: 5,
        });
        let shown = Body::from_payload(&Payload::new(ContentType(0x0A), head.clone()));
        assert_eq!(
            shown,
            Ok(Body::Unsupported {
                id: id(9),
                stamp: 5,
                content_type: 10
            })
        );
        for silent in [ContentType::CONTROL, ContentType::GROUP, ContentType(0x90)] {
            // A control body whose signal is unknown (here: none at all) is silent.
            assert_eq!(
                Body::from_payload(&Payload::new(silent, head.clone())),
                Ok(Body::Silent {
                    id: id(9),
                    stamp: 5
                })
            );
        }
        assert!(matches!(
            Body::from_payload(&Payload::new(ContentType(0x33), vec![1, 2])),
            Err(BodyError::Malformed(_))
        ));
    }

    #[test]
    fn attachments_round_trip_and_bad_descriptors_are_refused() {
        let descriptor = tern_blob::Descriptor {
            kind: tern_blob::descriptor::Kind::Document,
            mime: "text/plain".into(),
            name: "note.txt".into(),
            thumbnail: None,
            waveform: None,
            body: tern_blob::descriptor::Body::Inline(b"hello".to_vec()),
        }
        .to_bytes()
        .unwrap();
        let attachment = |descriptor: Vec<u8>, caption: String| {
            Body::Attachment(Attachment {
                id: id(9),
                stamp: 53 << 16,
                descriptor,
                caption,
                reply_to: Some(id(1)),
                expire_secs: Some(300),
            })
        };
        let good = attachment(descriptor.clone(), "a note".into());
        let payload = good.to_payload();
        assert_eq!(payload.content_type, ContentType::ATTACHMENT);
        assert_eq!(Body::from_payload(&payload), Ok(good));
        // A descriptor of another version, truncated, or garbage: refused, never stored.
        let mut newer = descriptor.clone();
        newer[0] = 2;
        for bad in [
            newer,
            descriptor[..descriptor.len() - 1].to_vec(),
            vec![0xff; 40],
        ] {
            assert!(matches!(
                Body::from_payload(&attachment(bad, String::new()).to_payload()),
                Err(BodyError::Malformed(_))
            ));
        }
        assert_eq!(
            Body::from_payload(&attachment(descriptor, "x".repeat(MAX_TEXT_LEN + 1)).to_payload()),
            Err(BodyError::TooLarge)
        );
    }

    #[test]
    fn bad_bodies_are_refused() {
        let huge = Body::Text(Text {
            id: id(1),
            stamp: 1,
            text: "x".repeat(MAX_TEXT_LEN + 1),
            reply_to: None,
            expire_secs: None,
        });
        assert_eq!(
            Body::from_payload(&huge.to_payload()),
            Err(BodyError::TooLarge)
        );
        let empty_edit = Body::Edit(Edit {
            id: id(1),
            stamp: 1,
            target: id(2),
            text: String::new(),
        });
        assert!(matches!(
            Body::from_payload(&empty_edit.to_payload()),
            Err(BodyError::Malformed(_))
        ));
        for word in ["ok", "a", " ", "👍👍", "1️⃣x", "\u{7}"] {
            let reaction = Body::Reaction(Reaction {
                id: id(1),
                stamp: 1,
                target: id(2),
                emoji: word.into(),
            });
            assert!(
                Body::from_payload(&reaction.to_payload()).is_err(),
                "{word:?} is not one emoji"
            );
        }
        let odd_timer = Body::Timer(Timer {
            id: id(1),
            stamp: 1,
            secs: 7,
        });
        assert!(Body::from_payload(&odd_timer.to_payload()).is_err());
        for (name, status) in [
            ("", "x"),
            ("a\u{1b}[2J", ""),
            (&*"n".repeat(MAX_NAME_LEN + 1), ""),
        ] {
            let profile = Body::Profile(Profile {
                id: id(1),
                stamp: 1,
                name: name.into(),
                status: status.into(),
            });
            assert!(
                Body::from_payload(&profile.to_payload()).is_err(),
                "{name:?}"
            );
        }
        for emoji in ["❤️", "👨‍👩‍👧‍👦", "🇳🇱", "🎉"] {
            assert_eq!(check_reaction(emoji), Ok(()), "{emoji}");
        }
    }

    proptest! {
        #[test]
        fn random_bodies_never_panic(kind in any::<u8>(), bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = Body::from_payload(&Payload::new(ContentType(kind), bytes));
        }
    }
}
