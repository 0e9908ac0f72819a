//! Application statements: what the account key signs for protocols above this crate (DHT
//! records, relay ownership proofs), kept apart from the crate's own signed objects by a
//! prefix and a context.

/// Prefix of every statement; none of the crate's own signature labels starts with it.
const LABEL_STATEMENT: &[u8] = b"tern/statement/v1/";

/// The context of an application statement ([`AccountKey::sign_statement`]): a name no other
/// use of the account key shares, without zero bytes.
///
/// The signed bytes are `context ‖ 0x00 ‖ message`, so a context with a zero byte would sign
/// the same bytes as a shorter context with a message that starts with the rest:
/// `"a\0b"` with `m` is `"a"` with `"b\0" ‖ m`. Define each context as a constant, and a zero
/// byte in it stops the build:
///
/// ```
/// use tern_crypto::SigningContext;
/// const DHT_RECORD: SigningContext = SigningContext::new("dht-record");
/// assert_eq!(DHT_RECORD.as_str(), "dht-record");
/// ```
///
/// ```compile_fail
/// use tern_crypto::SigningContext;
/// const BROKEN: SigningContext = SigningContext::new("dht\0record");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SigningContext(&'static str);

impl SigningContext {
    /// A context, checked at compile time when used to define a constant. Outside a constant
    /// a zero byte panics; use [`SigningContext::try_new`] for contexts chosen at run time.
    #[allow(
        clippy::panic,
        reason = "evaluated in a constant, the panic is a compile error, which is the point"
    )]
    pub const fn new(context: &'static str) -> Self {
        match Self::try_new(context) {
            Some(context) => context,
            None => panic!("a signing context must not contain a zero byte"),
        }
    }

    /// A context, or `None` if it contains a zero byte.
    pub const fn try_new(context: &'static str) -> Option<Self> {
        let bytes = context.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == 0 {
                return None;
            }
            i += 1;
        }
        Some(Self(context))
    }

    /// The context's text.
    pub const fn as_str(&self) -> &'static str {
        self.0
    }
}

pub(super) fn statement_message(context: SigningContext, message: &[u8]) -> Vec<u8> {
    [LABEL_STATEMENT, context.0.as_bytes(), &[0], message].concat()
}
