//! Shared state for a fleet of replicas: what the [`RateLimitStore`](crate::layers::rate_limit::RateLimitStore)
//! and [`TokenStore`](crate::auth::TokenStore) traits have in common ([`StoreError`],
//! [`StoreFuture`], [`fingerprint`]), and — with feature `redis` — their Redis
//! implementations in [`redis`].
//!
//! A store is an optimisation, never a dependency: every caller of a store treats an
//! error as "the store is not there" and carries on with its in-process behaviour.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "redis")]
mod seal;

/// The boxed future a store method returns (the traits are object-safe).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A store could not answer: unreachable, too slow, or an answer it did not understand.
/// Callers fall back to their in-process behaviour.
///
/// ```
/// let e = aily_client::store::StoreError::new("redis did not answer within 50 ms");
/// assert_eq!(e.to_string(), "redis did not answer within 50 ms");
/// ```
#[derive(Debug)]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// An error with this message (which must hold no secret).
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError {
            message: message.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

/// The first 16 bytes of SHA-256 over the parts (each length-prefixed, so no two
/// lists of parts collide), in lower-case hex: names a key without revealing what
/// went into it. A secret among the parts cannot be recovered from the result, and a
/// different secret gives a different fingerprint.
///
/// ```
/// use aily_client::store::fingerprint;
/// let a = fingerprint(&["https://open.feishu.cn", "cli_a1", "secret-1"]);
/// let b = fingerprint(&["https://open.feishu.cn", "cli_a1", "secret-2"]);
/// assert_eq!(a.len(), 32);
/// assert_ne!(a, b);
/// assert!(!a.contains("secret"));
/// ```
pub fn fingerprint(parts: &[&str]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"aily-client fingerprint v1");
    for part in parts {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    hex(&ctx.finish().as_ref()[..16])
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xF) as usize] as char);
    }
    out
}
