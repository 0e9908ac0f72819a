//! Published test vectors (filled in below).
