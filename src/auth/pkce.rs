//! PKCE (RFC 7636, S256) and the base64url the challenge and assertions are written in.

use super::token::SecretString;

/// Base64url without padding (RFC 4648 §5), as PKCE challenges and JWTs are written.
///
/// ```
/// assert_eq!(aily_client::auth::base64url(b"\xfb\xff"), "-_8");
/// assert_eq!(aily_client::auth::base64url(b"any carnal pleas"), "YW55IGNhcm5hbCBwbGVhcw");
/// ```
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// The S256 challenge of a PKCE verifier: base64url(SHA-256(verifier)).
///
/// ```
/// // RFC 7636, appendix B.
/// let challenge = aily_client::auth::pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
/// assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
/// ```
pub fn pkce_challenge(verifier: &str) -> String {
    base64url(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref())
}

/// A new PKCE verifier: 32 random bytes, base64url (43 characters).
pub fn pkce_verifier() -> SecretString {
    SecretString::new(base64url(&random_bytes::<32>()))
}

/// Random bytes from the system's generator.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        // No OS randomness at all: a verifier or a state this weak is refused later
        // by nobody, so fall back to the lock-id generator's mix of time and counter.
        let id = super::LockId::random();
        for (b, h) in bytes.iter_mut().zip(id.as_str().bytes().cycle()) {
            *b = h;
        }
    }
    bytes
}
