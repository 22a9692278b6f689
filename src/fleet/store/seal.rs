//! Tokens at rest in a shared store: sealed with AES-256-GCM under a key derived
//! (HKDF-SHA256) from the app secret, which every replica has and Redis never sees.
//!
//! A stored value is `id ‖ nonce ‖ ciphertext+tag`, where `id` (32 hex digits) is an
//! HMAC-SHA256 of the token under another key derived from the secret: a
//! compare-and-delete script can match "the token that was rejected" without being
//! able to read it. The Redis key name is the AEAD's associated data, so a value
//! copied to another key does not open. The sealed plaintext is the token's absolute
//! expiry (Unix milliseconds, 8 bytes big-endian) followed by the token: the lifetime
//! is authenticated, so an old value written back with a long `PX` still ends when
//! the token does.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::hex;

/// Length of the token id at the start of a stored value.
pub(crate) const ID_LEN: usize = 32;

pub(crate) struct Sealer {
    aead: LessSafeKey,
    id_key: hmac::Key,
}

impl Sealer {
    /// The keys of one app (`secret`) and key (`fingerprint`).
    pub(crate) fn new(secret: &str, fingerprint: &str) -> Option<Sealer> {
        let prk = Salt::new(HKDF_SHA256, b"aily-client token seal v2").extract(secret.as_bytes());
        let aead_info = [b"aead".as_slice(), fingerprint.as_bytes()];
        let aead: UnboundKey = prk.expand(&aead_info, &AES_256_GCM).ok()?.into();
        let id_info = [b"id".as_slice(), fingerprint.as_bytes()];
        let id_key: hmac::Key = prk.expand(&id_info, hmac::HMAC_SHA256).ok()?.into();
        Some(Sealer {
            aead: LessSafeKey::new(aead),
            id_key,
        })
    }

    /// The token's id: 32 hex digits that reveal nothing about it.
    pub(crate) fn token_id(&self, token: &str) -> String {
        let tag = hmac::sign(&self.id_key, token.as_bytes());
        hex(&tag.as_ref()[..ID_LEN / 2])
    }

    /// The stored value for `token`, which expires at `expires_at`, under key name `aad`.
    pub(crate) fn seal(&self, aad: &str, token: &str, expires_at: SystemTime) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        let expiry_ms = expires_at.duration_since(UNIX_EPOCH).ok()?.as_millis();
        let mut sealed = u64::try_from(expiry_ms).ok()?.to_be_bytes().to_vec();
        sealed.extend_from_slice(token.as_bytes());
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut sealed,
            )
            .ok()?;
        let mut out = Vec::with_capacity(ID_LEN + NONCE_LEN + sealed.len());
        out.extend_from_slice(self.token_id(token).as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Some(out)
    }

    /// The token in a stored value and when it expires, if it opens (right secret,
    /// right key, untouched).
    pub(crate) fn open(&self, aad: &str, value: &[u8]) -> Option<(String, SystemTime)> {
        if value.len() < ID_LEN + NONCE_LEN {
            return None;
        }
        let (id, rest) = value.split_at(ID_LEN);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = sealed.to_vec();
        let plain = self
            .aead
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
            .ok()?;
        if plain.len() < 8 {
            return None;
        }
        let (expiry, token) = plain.split_at(8);
        let expiry_ms = u64::from_be_bytes(expiry.try_into().ok()?);
        let expires_at = UNIX_EPOCH.checked_add(Duration::from_millis(expiry_ms))?;
        let token = String::from_utf8(token.to_vec()).ok()?;
        (self.token_id(&token).as_bytes() == id).then_some((token, expires_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_with_the_same_secret_and_key() {
        let s = Sealer::new("secret", "fp").unwrap();
        let exp = UNIX_EPOCH + Duration::from_millis(1_800_000_000_123);
        let v = s.seal("aily:{fp}:token", "t-abc", exp).unwrap();
        assert!(
            !v.windows(5).any(|w| w == b"t-abc"),
            "the token is not in clear"
        );
        assert_eq!(
            s.open("aily:{fp}:token", &v),
            Some(("t-abc".to_owned(), exp)),
            "the token and its expiry"
        );
        assert_eq!(s.open("aily:{other}:token", &v), None);
        let other = Sealer::new("rotated", "fp").unwrap();
        assert_eq!(other.open("aily:{fp}:token", &v), None);
        assert_eq!(&v[..ID_LEN], s.token_id("t-abc").as_bytes());
        assert_ne!(s.token_id("t-abc"), other.token_id("t-abc"));
        let mut tampered = v.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(s.open("aily:{fp}:token", &tampered), None);
        assert_eq!(s.open("aily:{fp}:token", b"garbage"), None);
    }

    #[test]
    fn the_expiry_is_authenticated() {
        let s = Sealer::new("secret", "fp").unwrap();
        let exp = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let v = s.seal("k", "t-abc", exp).unwrap();
        // Flipping any bit of the sealed expiry (right after the nonce) breaks the tag.
        for bit in 0..64 {
            let mut forged = v.clone();
            forged[ID_LEN + NONCE_LEN + bit / 8] ^= 1 << (bit % 8);
            assert_eq!(s.open("k", &forged), None, "bit {bit}");
        }
    }
}
