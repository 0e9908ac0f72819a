//! Typed ids for what the node stores and sends.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use tern_crypto::rand_core::CryptoRng;

/// Identifies one message (or receipt, edit, reaction) across every device that handles it.
///
/// Chosen at random by the sender, 128 bits, so ids never collide in practice; receivers
/// deduplicate by `(sender, id)`, so a malicious sender reusing another's ids only confuses
/// its own conversation. Displays as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MessageId([u8; 16]);

impl MessageId {
    /// A fresh random id.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Wraps raw bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// A short form for logs.
    pub fn short(&self) -> String {
        self.to_string()[..8].to_owned()
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", self.short())
    }
}

/// Why a [`MessageId`] could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a message id is 32 hex digits")]
pub struct ParseIdError;

impl FromStr for MessageId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 || !s.is_ascii() {
            return Err(ParseIdError);
        }
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| ParseIdError)?;
        }
        Ok(Self(bytes))
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use tern_crypto::rand_core::SeedableRng;

    use super::*;

    #[test]
    fn display_round_trips() {
        let id = MessageId::random(&mut ChaCha20Rng::seed_from_u64(1));
        assert_eq!(id.to_string().parse::<MessageId>().unwrap(), id);
        assert!(id.to_string().starts_with(&id.short()));
        assert_eq!("xyz".parse::<MessageId>(), Err(ParseIdError));
        assert_eq!("g".repeat(32).parse::<MessageId>(), Err(ParseIdError));
    }
}
