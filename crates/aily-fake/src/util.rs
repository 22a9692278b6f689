//! Small helpers: log ids, unguessable tokens, wall-clock milliseconds and a
//! percent decoder for path segments.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A process-wide counter mixed into every random value and log id.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 bits that cannot be predicted from outside the process.
///
/// `RandomState::new()` carries keys seeded from the operating system's
/// randomness; hashing a counter and the current time with them yields a
/// SipHash output that is unguessable without the keys. No `rand` crate needed.
pub(crate) fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.finish()
}

/// `words * 16` lowercase hex digits of randomness.
pub(crate) fn random_hex(words: usize) -> String {
    let mut out = String::with_capacity(words * 16);
    for _ in 0..words {
        out.push_str(&format!("{:016x}", random_u64()));
    }
    out
}

/// The digits of the platform's ids: a base32 without `i`, `l` and `o`.
const ID_ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstuvwxyz";

/// `prefix` and `len` random id digits, e.g. `session_4dfunz7sp1g8m`.
pub(crate) fn base32_id(prefix: &str, len: usize) -> String {
    let mut out = String::with_capacity(prefix.len() + len);
    out.push_str(prefix);
    let mut bits = random_u64();
    for i in 0..len {
        if i % 12 == 11 {
            bits = random_u64();
        }
        let digit = (bits % ID_ALPHABET.len() as u64) as usize;
        bits /= ID_ALPHABET.len() as u64;
        out.push(char::from(ID_ALPHABET.get(digit).copied().unwrap_or(b'0')));
    }
    out
}

/// Wall-clock time as Unix milliseconds (0 if the clock is before 1970).
pub(crate) fn wall_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A fresh, unique log id in the style of Feishu's `X-Tt-Logid`:
/// `"02"`, 13 digits of Unix milliseconds, a 6-digit counter and 8 hex digits
/// (29 characters).
pub(crate) fn new_log_id() -> String {
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed) % 1_000_000;
    let salt = random_u64() & 0xffff_ffff;
    format!(
        "02{:013}{:06}{:08X}",
        wall_millis() % 10_000_000_000_000,
        counter,
        salt
    )
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes one path segment. `None` if an escape is malformed or the
/// decoded bytes are not UTF-8. `+` is kept as is (this is a path, not a form).
pub(crate) fn percent_decode(segment: &str) -> Option<String> {
    let mut out = Vec::with_capacity(segment.len());
    let mut bytes = segment.bytes();
    while let Some(byte) = bytes.next() {
        if byte == b'%' {
            let hi = bytes.next().and_then(hex_value)?;
            let lo = bytes.next().and_then(hex_value)?;
            out.push((hi << 4) | lo);
        } else {
            out.push(byte);
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_segments() {
        assert_eq!(percent_decode("abc").as_deref(), Some("abc"));
        assert_eq!(percent_decode("s%201%2Fx").as_deref(), Some("s 1/x"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%E4%BC%9A").as_deref(), Some("会"));
        assert_eq!(percent_decode("%e4%bc%9a").as_deref(), Some("会"));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%FF"), None);
        assert_eq!(percent_decode("").as_deref(), Some(""));
    }

    #[test]
    fn log_ids_are_unique_and_shaped() {
        let a = new_log_id();
        let b = new_log_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 29);
        assert!(a.starts_with("02"));
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn base32_ids_are_shaped_and_unique() {
        let a = base32_id("run_", 20);
        assert_eq!(a.len(), 24);
        assert!(a.starts_with("run_"));
        assert!(a[4..].bytes().all(|b| ID_ALPHABET.contains(&b)), "{a}");
        assert!(!a[4..].contains(['i', 'l', 'o']));
        assert_ne!(a, base32_id("run_", 20));
    }

    #[test]
    fn random_hex_has_requested_length() {
        let a = random_hex(2);
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_hex(2));
    }
}
