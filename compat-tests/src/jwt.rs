//! A test identity provider: an ES256 key, the JSON Web Key Set a broker validates with,
//! and signed tokens (RFC 7519) for OAUTHBEARER clients.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

/// The issuer and audience the tokens carry.
pub const ISSUER: &str = "https://issuer.spool.test";
pub const AUDIENCE: &str = "spool";

/// One signing key and its key id.
pub struct TokenIssuer {
    key: EcdsaKeyPair,
    key_id: String,
}

impl TokenIssuer {
    pub fn new(key_id: &str) -> Self {
        let random = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random)
            .expect("generate a P-256 key");
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &random)
                .expect("read the key");
        Self {
            key,
            key_id: key_id.to_owned(),
        }
    }

    /// The key set document with this issuer's public key.
    pub fn key_set(&self) -> String {
        let point = self.key.public_key().as_ref();
        serde_json::json!({ "keys": [{
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.key_id,
            "x": BASE64URL.encode(&point[1..33]), "y": BASE64URL.encode(&point[33..]),
        }]})
        .to_string()
    }

    /// A token for `subject`, valid from now for `lifetime`.
    pub fn token(&self, subject: &str, lifetime: Duration) -> String {
        let now = unix_now();
        self.token_between(subject, now, now + lifetime.as_secs())
    }

    /// A token for `subject` issued at `issued_at` and expiring at `expires_at` (seconds since
    /// 1970; in the past for an expired one).
    pub fn token_between(&self, subject: &str, issued_at: u64, expires_at: u64) -> String {
        self.sign(serde_json::json!({
            "sub": subject, "iss": ISSUER, "aud": AUDIENCE, "scope": "kafka",
            "iat": issued_at, "exp": expires_at,
        }))
    }

    /// `claims` signed as they are.
    pub fn sign(&self, claims: serde_json::Value) -> String {
        let header = serde_json::json!({ "alg": "ES256", "typ": "JWT", "kid": self.key_id });
        let signed = format!(
            "{}.{}",
            BASE64URL.encode(header.to_string()),
            BASE64URL.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), signed.as_bytes())
            .expect("sign");
        format!("{signed}.{}", BASE64URL.encode(signature.as_ref()))
    }
}

/// Seconds since 1970, as JWT times count.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}
