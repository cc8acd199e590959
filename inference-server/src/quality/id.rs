//! Prediction ids and client request ids.
//!
//! A prediction id is 96 random bits in 24 lowercase hex characters, drawn from the operating
//! system's generator (`getrandom`) for every item: unguessable, so one client cannot feed
//! truth back for another client's predictions by counting, and unique across replicas without
//! coordination. The id says nothing by itself: the prediction it names is kept in the
//! prediction store (see `docs/quality.md` for why not a signed, self-describing id).
//!
//! The OS bytes are fetched 4 KiB at a time into a per-thread pool (one system call per 341
//! ids instead of one per request: the call cost a tenth of a sentiment request). They are
//! still the operating system's random bytes, each used once; a user-space generator (the
//! `rand` crate's `ThreadRng`) would panic when the OS cannot seed it, and this path must not.

use axum::http::HeaderMap;
use std::cell::RefCell;

/// Characters of a prediction id.
pub const ID_LEN: usize = 24;
const ID_BYTES: usize = ID_LEN / 2;
const POOL_BYTES: usize = 4096;

/// Longest client request id accepted (longer ones are ignored, not echoed).
pub const MAX_REQUEST_ID_LEN: usize = 128;

thread_local! {
    /// OS random bytes not handed out yet: the buffer and how many of its bytes are used.
    static POOL: RefCell<(Box<[u8; POOL_BYTES]>, usize)> = RefCell::new((Box::new([0; POOL_BYTES]), POOL_BYTES));
}

/// `n` fresh prediction ids.
pub fn new_ids(n: usize) -> Result<Vec<String>, getrandom::Error> {
    let want = n * ID_BYTES;
    if want > POOL_BYTES {
        let mut raw = vec![0u8; want];
        getrandom::fill(&mut raw)?;
        return Ok(raw.chunks_exact(ID_BYTES).map(hex).collect());
    }
    POOL.with_borrow_mut(|(pool, used)| {
        if POOL_BYTES - *used < want {
            getrandom::fill(&mut pool[..])?;
            *used = 0;
        }
        let ids = pool[*used..*used + want].chunks_exact(ID_BYTES).map(hex).collect();
        *used += want;
        Ok(ids)
    })
}

/// The 96-bit value of a well-formed id (the memory store's key).
pub fn value(id: &str) -> Option<u128> {
    if well_formed(id) {
        u128::from_str_radix(id, 16).ok()
    } else {
        None
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Whether `id` has the shape of an id this server hands out (anything else cannot be known).
pub fn well_formed(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The client's request id: `x-request-id` when it is 1 to 128 visible ASCII characters, else
/// the trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`).
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    let given = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= MAX_REQUEST_ID_LEN && v.bytes().all(|b| b.is_ascii_graphic()));
    if let Some(id) = given {
        return Some(id.to_string());
    }
    let tp = headers.get("traceparent")?.to_str().ok()?;
    let mut parts = tp.split('-');
    let (_version, trace) = (parts.next()?, parts.next()?);
    let is_hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    (trace.len() == 32 && is_hex(trace) && trace.bytes().any(|b| b != b'0')).then(|| trace.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn ids_are_distinct_well_formed_hex() {
        let mut ids = new_ids(1000).unwrap();
        for _ in 0..2000 {
            ids.extend(new_ids(1).unwrap()); // through the pool and its refills
        }
        let set: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(set.len(), 3000);
        assert_eq!(value("00000000000000000000000f"), Some(15));
        assert_eq!(value("not an id"), None);
        assert!(ids.iter().all(|i| well_formed(i)));
        assert!(!well_formed("ABCDEF0123456789abcdef01") && !well_formed("short") && !well_formed(""));
    }

    #[test]
    fn request_id_comes_from_x_request_id_or_the_traceparent_trace_id() {
        let mut h = HeaderMap::new();
        assert_eq!(request_id(&h), None);
        h.insert("traceparent", HeaderValue::from_static("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
        assert_eq!(request_id(&h).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        h.insert("x-request-id", HeaderValue::from_static("order-42"));
        assert_eq!(request_id(&h).as_deref(), Some("order-42"));
        h.insert("x-request-id", HeaderValue::from_str(&"x".repeat(129)).unwrap());
        assert_eq!(request_id(&h).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"), "too long: ignored");
        h.insert("traceparent", HeaderValue::from_static("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
        assert_eq!(request_id(&h), None, "the all-zero trace id is invalid");
    }
}
