//! [`PemSigner`] (feature `pem-signer`): client assertions signed in process with a
//! PKCS#8 private key — RSA (`RS256`) or ECDSA P-256 (`ES256`) — through `ring`,
//! already in the tree through rustls, so the feature adds no crate.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject;

use super::assertion::{AssertionFuture, AssertionProvider};
use super::pkce::{base64url, random_bytes};
use super::token::SecretString;
use crate::error::Error;

/// How long an assertion this signer mints is valid: short, one per exchange.
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

/// Signs RFC 7523 client assertions with a private key held in memory: header
/// `{alg, typ: "JWT", kid}`, claims `iss` = `sub` = the app id, `aud`, `iat`, `exp`
/// (5 minutes on) and a fresh random `jti` per assertion.
///
/// ```
/// use aily_client::auth::{AssertionProvider, PemSigner};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), aily_client::Error> {
/// let rng = ring::rand::SystemRandom::new();
/// let der = ring::signature::EcdsaKeyPair::generate_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
/// let signer = PemSigner::from_pkcs8_der(der.as_ref(), "key-thumbprint")?;
/// let jwt = signer.assertion("cli_a", "https://accounts.feishu.cn").await?;
/// assert_eq!(jwt.expose().split('.').count(), 3);
/// assert!(!format!("{signer:?}").contains("BEGIN"));
/// # Ok(()) }
/// ```
pub struct PemSigner {
    key: Key,
    kid: String,
    rng: SystemRandom,
}

enum Key {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl PemSigner {
    /// A signer with the PKCS#8 key in `pem` (`-----BEGIN PRIVATE KEY-----`), whose
    /// public key Feishu knows by `kid`.
    pub fn from_pem(pem: &str, kid: impl Into<String>) -> Result<PemSigner, Error> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| {
            Error::config("the client-assertion key is not a PKCS#8 PEM private key")
        })?;
        PemSigner::from_pkcs8_der(der.secret_pkcs8_der(), kid)
    }

    /// A signer with a PKCS#8 key in DER.
    pub fn from_pkcs8_der(der: &[u8], kid: impl Into<String>) -> Result<PemSigner, Error> {
        let rng = SystemRandom::new();
        let key = match RsaKeyPair::from_pkcs8(der) {
            Ok(rsa) => Key::Rsa(rsa),
            Err(_) => {
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
                    .map(Key::Ec)
                    .map_err(|_| {
                        Error::config(
                            "the client-assertion key is neither RSA nor ECDSA P-256 PKCS#8",
                        )
                    })?
            }
        };
        Ok(PemSigner {
            key,
            kid: kid.into(),
            rng,
        })
    }

    /// A signed assertion for `client_id` and `audience`, valid from `now`.
    fn sign(&self, client_id: &str, audience: &str, now: u64) -> Result<SecretString, Error> {
        let alg = match self.key {
            Key::Rsa(_) => "RS256",
            Key::Ec(_) => "ES256",
        };
        let header = serde_json::json!({"alg": alg, "typ": "JWT", "kid": self.kid});
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME.as_secs(),
            "jti": base64url(&random_bytes::<16>()),
        });
        let signing_input = format!(
            "{}.{}",
            base64url(header.to_string().as_bytes()),
            base64url(claims.to_string().as_bytes())
        );
        let failed = |_| Error::config("the client assertion could not be signed");
        let sig = match &self.key {
            Key::Rsa(rsa) => {
                let mut sig = vec![0; rsa.public().modulus_len()];
                rsa.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &self.rng,
                    signing_input.as_bytes(),
                    &mut sig,
                )
                .map_err(failed)?;
                sig
            }
            Key::Ec(ec) => ec
                .sign(&self.rng, signing_input.as_bytes())
                .map_err(failed)?
                .as_ref()
                .to_vec(),
        };
        Ok(SecretString::new(format!(
            "{signing_input}.{}",
            base64url(&sig)
        )))
    }
}

impl AssertionProvider for PemSigner {
    fn assertion<'a>(&'a self, client_id: &'a str, audience: &'a str) -> AssertionFuture<'a> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Box::pin(std::future::ready(self.sign(client_id, audience, now)))
    }
}

impl fmt::Debug for PemSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PemSigner")
            .field("kid", &self.kid)
            .field("key", &format_args!("<redacted>"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use ring::signature::{KeyPair, UnparsedPublicKey};

    use super::*;

    fn decode(part: &str) -> Vec<u8> {
        // base64url without padding, the inverse of `base64url`.
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let vals: Vec<u32> = part
            .bytes()
            .map(|b| A.iter().position(|&c| c == b).unwrap() as u32)
            .collect();
        let mut out = Vec::new();
        for chunk in vals.chunks(4) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, v)| n | (v << (18 - 6 * i)));
            for i in 0..chunk.len() - 1 {
                out.push((n >> (16 - 8 * i)) as u8);
            }
        }
        out
    }

    #[test]
    fn an_es256_assertion_verifies_with_the_public_key_and_has_the_claims() {
        let rng = SystemRandom::new();
        let der = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
        let public = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            der.as_ref(),
            &rng,
        )
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();
        let signer = PemSigner::from_pkcs8_der(der.as_ref(), "kid-1").unwrap();
        let jwt = signer
            .sign("cli_a", "https://accounts.feishu.cn", 1_000)
            .unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        let header: serde_json::Value = serde_json::from_slice(&decode(parts[0])).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&decode(parts[1])).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "kid-1");
        assert_eq!(
            (claims["iss"].as_str(), claims["sub"].as_str()),
            (Some("cli_a"), Some("cli_a"))
        );
        assert_eq!(claims["aud"], "https://accounts.feishu.cn");
        assert_eq!(claims["exp"], 1_300);
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &public)
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &decode(parts[2]),
            )
            .expect("the signature verifies");
        // A fresh jti each time.
        let again = signer
            .sign("cli_a", "https://accounts.feishu.cn", 1_000)
            .unwrap();
        assert_ne!(again.expose(), jwt.expose());
    }

    #[test]
    fn a_bad_key_is_a_clear_config_error() {
        let err = PemSigner::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "k",
        )
        .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        assert!(PemSigner::from_pem("not a pem", "k").is_err());
    }
}
