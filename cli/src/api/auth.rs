//! How a client proves to the daemon that it holds the API token without ever sending it.
//!
//! The daemon writes its address to `api.addr` and a token to `api.token`, both mode 0600 in
//! the profile, and makes a new token at every start. A daemon killed with `kill -9` leaves
//! `api.addr` behind, and whoever binds that port next would receive a bearer token from
//! every `tern` command. So Tern's own clients authenticate each request with
//!
//! ```text
//! Authorization: Tern-Mac <unix seconds>.<hex HMAC-SHA256(token, message)>
//! message = "tern-api-request-v1" 0x00 address 0x00 seconds 0x00 method 0x00 path-and-query
//! ```
//!
//! where `address` is the daemon's listening address as written in `api.addr`. The token
//! never leaves the client; a stranger on a stale port learns one MAC bound to its own
//! address, which no daemon accepts. The daemon accepts a MAC within [`WINDOW_SECS`] of its
//! clock. Plain `Bearer <token>` stays accepted for scripts (docs/api.md says when that is
//! safe).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The scheme name in the `Authorization` header.
pub(crate) const SCHEME: &str = "Tern-Mac";
/// How far a request's time may be from the daemon's, either way.
pub(crate) const WINDOW_SECS: u64 = 120;
const CONTEXT: &[u8] = b"tern-api-request-v1";

/// What a request is, for its MAC.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// The daemon's listening address, as in `api.addr` (e.g. `127.0.0.1:7450`).
    pub(crate) address: &'a str,
    /// The HTTP method, upper case.
    pub(crate) method: &'a str,
    /// The path and query exactly as sent, e.g. `/v1/chats?limit=20`.
    pub(crate) path_and_query: &'a str,
}

fn mac(token: &str, request: &Request<'_>, secs: u64) -> [u8; 32] {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    for part in [
        CONTEXT,
        request.address.as_bytes(),
        secs.to_string().as_bytes(),
        request.method.as_bytes(),
    ] {
        mac.update(part);
        mac.update(&[0]);
    }
    mac.update(request.path_and_query.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The `Authorization` header value for `request` at `now` (Unix seconds).
pub(crate) fn authorization(token: &str, request: &Request<'_>, now: u64) -> String {
    format!("{SCHEME} {now}.{}", hex::encode(mac(token, request, now)))
}

/// Whether `header` (an `Authorization` value) authenticates `request` at `now`: a
/// `Tern-Mac` within the window, or the bearer token itself.
pub(crate) fn verify(token: &str, header: &str, request: &Request<'_>, now: u64) -> bool {
    if let Some(bearer) = header.strip_prefix("Bearer ") {
        // Constant time: the token must not leak a byte at a time through response timing.
        return bool::from(bearer.as_bytes().ct_eq(token.as_bytes()));
    }
    let Some((secs, presented)) = header
        .strip_prefix(SCHEME)
        .and_then(|rest| rest.strip_prefix(' '))
        .and_then(|rest| rest.split_once('.'))
    else {
        return false;
    };
    let (Ok(secs), Ok(presented)) = (secs.parse::<u64>(), hex::decode(presented)) else {
        return false;
    };
    if secs.abs_diff(now) > WINDOW_SECS {
        return false;
    }
    bool::from(presented.ct_eq(&mac(token, request, secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "00112233445566778899aabbccddeeff";
    const REQUEST: Request<'static> = Request {
        address: "127.0.0.1:7450",
        method: "GET",
        path_and_query: "/v1/chats?limit=20",
    };

    #[test]
    fn a_mac_authenticates_exactly_its_request_at_its_address_in_its_window() {
        let now = 1_800_000_000;
        let header = authorization(TOKEN, &REQUEST, now);
        assert!(!header.contains(TOKEN), "the token never travels");
        assert!(verify(TOKEN, &header, &REQUEST, now));
        assert!(verify(TOKEN, &header, &REQUEST, now + WINDOW_SECS));
        assert!(!verify(TOKEN, &header, &REQUEST, now + WINDOW_SECS + 1));
        for other in [
            Request {
                address: "127.0.0.1:7451",
                ..REQUEST
            },
            Request {
                method: "POST",
                ..REQUEST
            },
            Request {
                path_and_query: "/v1/chats?limit=21",
                ..REQUEST
            },
        ] {
            assert!(!verify(TOKEN, &header, &other, now), "{other:?}");
        }
        assert!(!verify("another token", &header, &REQUEST, now));
    }

    #[test]
    fn bearer_still_works_and_garbage_does_not() {
        let now = 1_800_000_000;
        assert!(verify(TOKEN, &format!("Bearer {TOKEN}"), &REQUEST, now));
        for garbage in [
            "",
            "Bearer ",
            "Bearer 0011",
            "Tern-Mac",
            "Tern-Mac 1800000000",
            "Tern-Mac x.00",
            "Tern-Mac 1800000000.zz",
            "Tern-Mac 1800000000.00",
        ] {
            assert!(!verify(TOKEN, garbage, &REQUEST, now), "{garbage:?}");
        }
    }
}
