//! Decrypted message bytes that are wiped when dropped.

use std::{fmt, ops::Deref};

use zeroize::{ZeroizeOnDrop, Zeroizing};

/// A decrypted message, as [`crate::Session::decrypt`] and [`crate::Session::respond`] return
/// it. Its buffer, spare capacity included, is wiped when it is dropped.
///
/// It reads as a byte slice (`Deref<Target = [u8]>`, `AsRef<[u8]>`) and compares equal to
/// slices, arrays and vectors, so most code that took a `Vec<u8>` reads it unchanged.
/// [`Plaintext::into_vec`] hands the buffer over without a copy, and with it the duty to wipe
/// it; `to_vec()` (from the slice) makes a copy that is not wiped.
#[derive(PartialEq, Eq)]
pub struct Plaintext(Zeroizing<Vec<u8>>);

impl Plaintext {
    pub(crate) fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    /// The bytes, moved out without a copy. Nothing wipes them after this.
    pub fn into_vec(mut self) -> Vec<u8> {
        std::mem::take(&mut *self.0)
    }

    /// The bytes in a [`Zeroizing`] buffer, moved out without a copy.
    pub fn into_zeroizing(self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.into_vec())
    }
}

impl Deref for Plaintext {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Plaintext {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl ZeroizeOnDrop for Plaintext {}

impl PartialEq<[u8]> for Plaintext {
    fn eq(&self, other: &[u8]) -> bool {
        **self == *other
    }
}

impl PartialEq<&[u8]> for Plaintext {
    fn eq(&self, other: &&[u8]) -> bool {
        **self == **other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Plaintext {
    fn eq(&self, other: &[u8; N]) -> bool {
        **self == other[..]
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Plaintext {
    fn eq(&self, other: &&[u8; N]) -> bool {
        **self == other[..]
    }
}

impl PartialEq<Vec<u8>> for Plaintext {
    fn eq(&self, other: &Vec<u8>) -> bool {
        **self == other[..]
    }
}

impl PartialEq<Plaintext> for Vec<u8> {
    fn eq(&self, other: &Plaintext) -> bool {
        self[..] == **other
    }
}

/// Prints the length only: the contents are secret.
impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plaintext")
            .field("len", &self.0.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_is_wiped_on_drop_and_reads_as_bytes() {
        fn wiped_on_drop<T: ZeroizeOnDrop>() {}
        wiped_on_drop::<Plaintext>();
        let text = Plaintext::new(Zeroizing::new(b"secret".to_vec()));
        assert_eq!(text, b"secret");
        assert_eq!(&text[..3], b"sec");
        assert_eq!(format!("{text:?}"), "Plaintext { len: 6 }");
        assert_eq!(*text.into_zeroizing(), b"secret".to_vec());
        let text = Plaintext::new(Zeroizing::new(b"secret".to_vec()));
        assert_eq!(text.into_vec(), b"secret".to_vec());
    }
}
