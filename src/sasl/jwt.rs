//! JSON Web Tokens (RFC 7519) signed by a key of a JSON Web Key Set file (RFC 7517), checked
//! as Kafka's `OAuthBearerValidatorCallbackHandler` checks them: a signature by an RSA or EC
//! key of the set (never `none`, never a shared secret), `exp` and `iat` present, `exp` and
//! `nbf` honoured within the allowed clock skew, the audience and issuer when configured,
//! and a non-blank subject claim, which names the principal.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};
use thiserror::Error;

/// base64url, with or without padding (tokens omit it; some key sets keep it).
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// The largest key set file read; real ones hold a few keys of a few KiB.
const JWKS_FILE_BYTES_MAX: u64 = 1 << 20;

/// How a listener validates OAUTHBEARER tokens (Kafka's `sasl.oauthbearer.*` broker keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// `sasl.oauthbearer.jwks.endpoint.url`, a `file:` URL.
    pub jwks_file: PathBuf,
    /// `sasl.oauthbearer.expected.audience`: when not empty, `aud` must name one of these.
    pub expected_audience: Vec<String>,
    /// `sasl.oauthbearer.expected.issuer`: when set, `iss` must equal it.
    pub expected_issuer: Option<String>,
    /// `sasl.oauthbearer.clock.skew.seconds`.
    pub clock_skew: Duration,
    /// `sasl.oauthbearer.sub.claim.name`: the claim naming the principal.
    pub subject_claim: String,
}

/// Why a key set cannot be used.
#[derive(Debug, Error)]
pub enum JwksError {
    #[error("cannot read the JSON Web Key Set {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the JSON Web Key Set {path} is larger than {JWKS_FILE_BYTES_MAX} bytes")]
    TooLarge { path: PathBuf },
    #[error("{path} is not a JSON Web Key Set: {reason}")]
    Malformed { path: PathBuf, reason: String },
}

/// Why a token is refused (for the broker's log; the client is told `invalid_token`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    #[error("not a signed JWT (header.payload.signature)")]
    NotAJws,
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("the header has critical parameters spool does not know")]
    Critical,
    #[error("no key of the key set verifies the signature")]
    Signature,
    #[error("claim {0} is missing or not of its type")]
    Claim(String),
    #[error("the token expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's audience is not among the expected ones")]
    Audience,
    #[error("the token's issuer is not the expected one")]
    Issuer,
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidToken {
    pub subject: String,
    pub expires: SystemTime,
}

/// A public key of the set.
#[derive(Debug)]
enum PublicKey {
    Rsa {
        modulus: Vec<u8>,
        exponent: Vec<u8>,
    },
    /// An uncompressed point (0x04 ‖ x ‖ y) on `curve`.
    Ec {
        curve: Curve,
        point: Vec<u8>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
}

impl Curve {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "P-256" => Some(Self::P256),
            "P-384" => Some(Self::P384),
            _ => None,
        }
    }

    fn coordinate_bytes(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
        }
    }
}

#[derive(Debug)]
struct Jwk {
    id: Option<String>,
    /// The key's `alg`, when the set restricts it to one algorithm.
    algorithm: Option<String>,
    key: PublicKey,
}

/// The JWS algorithms accepted and how ring verifies each.
#[derive(Debug, Clone, Copy)]
enum Algorithm {
    Rsa(&'static signature::RsaParameters),
    Ec(Curve, &'static signature::EcdsaVerificationAlgorithm),
}

impl Algorithm {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => Self::Rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
            "RS384" => Self::Rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
            "RS512" => Self::Rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
            "PS256" => Self::Rsa(&signature::RSA_PSS_2048_8192_SHA256),
            "PS384" => Self::Rsa(&signature::RSA_PSS_2048_8192_SHA384),
            "PS512" => Self::Rsa(&signature::RSA_PSS_2048_8192_SHA512),
            "ES256" => Self::Ec(Curve::P256, &signature::ECDSA_P256_SHA256_FIXED),
            "ES384" => Self::Ec(Curve::P384, &signature::ECDSA_P384_SHA384_FIXED),
            _ => return None,
        })
    }

    fn verifies(self, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
        match (self, key) {
            (Self::Rsa(parameters), PublicKey::Rsa { modulus, exponent }) => {
                RsaPublicKeyComponents {
                    n: modulus,
                    e: exponent,
                }
                .verify(parameters, message, signature)
                .is_ok()
            }
            (Self::Ec(curve, algorithm), PublicKey::Ec { curve: own, point }) if curve == *own => {
                UnparsedPublicKey::new(algorithm, point)
                    .verify(message, signature)
                    .is_ok()
            }
            _ => false,
        }
    }
}

/// Validates tokens against one key set, read when made (as Kafka reads a JWKS file).
#[derive(Debug)]
pub struct JwtValidator {
    settings: JwtSettings,
    keys: Vec<Jwk>,
}

impl JwtValidator {
    pub fn load(settings: JwtSettings) -> Result<Self, JwksError> {
        let path = settings.jwks_file.clone();
        let read = |source| JwksError::Read {
            path: path.clone(),
            source,
        };
        let size = std::fs::metadata(&path).map_err(read)?.len();
        if size > JWKS_FILE_BYTES_MAX {
            return Err(JwksError::TooLarge { path });
        }
        let text = std::fs::read(&path).map_err(read)?;
        let keys = parse_key_set(&text).map_err(|reason| JwksError::Malformed {
            path: path.clone(),
            reason,
        })?;
        Ok(Self { settings, keys })
    }

    /// The token's subject and expiry, if `token` is valid at `now`.
    pub fn validate(&self, token: &str, now: SystemTime) -> Result<ValidToken, TokenError> {
        let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::NotAJws)?;
        let (header, payload) = signed.split_once('.').ok_or(TokenError::NotAJws)?;
        if payload.contains('.') {
            return Err(TokenError::NotAJws);
        }
        let header = json_object(header, "header")?;
        let algorithm_name = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(TokenError::Malformed("header: no alg"))?;
        let algorithm = Algorithm::parse(algorithm_name)
            .ok_or_else(|| TokenError::Algorithm(algorithm_name.to_owned()))?;
        if header.contains_key("crit") {
            return Err(TokenError::Critical);
        }
        let key_id = header.get("kid").and_then(Value::as_str);
        let signature = BASE64URL
            .decode(signature)
            .map_err(|_| TokenError::Malformed("signature"))?;
        let verified = self
            .keys
            .iter()
            .filter(|jwk| key_id.is_none() || jwk.id.as_deref() == key_id)
            .filter(|jwk| jwk.algorithm.as_deref().is_none_or(|a| a == algorithm_name))
            .any(|jwk| algorithm.verifies(&jwk.key, signed.as_bytes(), &signature));
        if !verified {
            return Err(TokenError::Signature);
        }
        self.check_claims(&json_object(payload, "payload")?, now)
    }

    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        now: SystemTime,
    ) -> Result<ValidToken, TokenError> {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let skew = self.settings.clock_skew;
        let expires = seconds_claim(claims, "exp")?.ok_or(TokenError::Claim("exp".into()))?;
        seconds_claim(claims, "iat")?.ok_or(TokenError::Claim("iat".into()))?;
        if now >= expires + skew {
            return Err(TokenError::Expired);
        }
        if let Some(not_before) = seconds_claim(claims, "nbf")? {
            if now + skew < not_before {
                return Err(TokenError::NotYetValid);
            }
        }
        if !self.settings.expected_audience.is_empty() {
            let audience: Vec<&str> = match claims.get("aud") {
                Some(Value::String(one)) => vec![one.as_str()],
                Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let expected = &self.settings.expected_audience;
            if !audience.iter().any(|a| expected.iter().any(|e| e == a)) {
                return Err(TokenError::Audience);
            }
        }
        if let Some(issuer) = &self.settings.expected_issuer {
            if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
                return Err(TokenError::Issuer);
            }
        }
        let claim = &self.settings.subject_claim;
        let subject = claims
            .get(claim)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|subject| !subject.is_empty())
            .ok_or_else(|| TokenError::Claim(claim.clone()))?;
        Ok(ValidToken {
            subject: subject.to_owned(),
            expires: UNIX_EPOCH + expires,
        })
    }
}

/// A base64url JSON object of a token.
fn json_object(part: &str, what: &'static str) -> Result<Map<String, Value>, TokenError> {
    let bytes = BASE64URL
        .decode(part)
        .map_err(|_| TokenError::Malformed(what))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(TokenError::Malformed(what)),
    }
}

/// A NumericDate claim (seconds since the epoch, possibly fractional), if present.
fn seconds_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<Duration>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
            .map(Some)
            .ok_or_else(|| TokenError::Claim(name.to_owned())),
    }
}

/// The signing keys of a key set document; keys of other types (shared secrets, OKP) and
/// encryption keys are skipped, and a set with no usable key is refused.
fn parse_key_set(text: &[u8]) -> Result<Vec<Jwk>, String> {
    let document: Value = serde_json::from_slice(text).map_err(|error| error.to_string())?;
    let entries = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("no `keys` array")?;
    let keys: Vec<Jwk> = entries.iter().filter_map(parse_key).collect();
    if keys.is_empty() {
        return Err("no RSA or EC (P-256, P-384) signing key".into());
    }
    Ok(keys)
}

fn parse_key(entry: &Value) -> Option<Jwk> {
    let field = |name: &str| entry.get(name).and_then(Value::as_str);
    let bytes = |name: &str| BASE64URL.decode(field(name)?).ok();
    if field("use").is_some_and(|usage| usage != "sig") {
        return None;
    }
    let key = match field("kty")? {
        "RSA" => {
            let modulus = bytes("n")?;
            let exponent = bytes("e")?;
            PublicKey::Rsa {
                modulus: without_leading_zeros(modulus),
                exponent: without_leading_zeros(exponent),
            }
        }
        "EC" => {
            let curve = Curve::parse(field("crv")?)?;
            let (x, y) = (bytes("x")?, bytes("y")?);
            let size = curve.coordinate_bytes();
            if x.len() != size || y.len() != size {
                return None;
            }
            let point = [&[0x04][..], &x, &y].concat();
            PublicKey::Ec { curve, point }
        }
        _ => return None,
    };
    Some(Jwk {
        id: field("kid").map(str::to_owned),
        algorithm: field("alg").map(str::to_owned),
        key,
    })
}

fn without_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|byte| **byte == 0).count();
    bytes.drain(..zeros);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use serde_json::json;

    /// An RS256 token for `alice` (issuer https://issuer.example, audience spool, issued
    /// 2025-12-01, expiring 2100-01-01) and the modulus of the RSA key that signed it, made
    /// once with openssl for these tests.
    const RSA_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImlhdCI6MTc2NDU0NzIwMCwiZXhwIjo0MTAyNDQ0ODAwLCJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwiYXVkIjoic3Bvb2wifQ.ee8_8dtgaLAhyBF1U4FMta2LTBPPs9cEnPkaMfpCL_6C5Lz5VWZ-BHfP54Ki3H6gdsjEtTJ1iSUdyfzTbeAoQTTdUTOruxh7mELEXdgHtM6HoCghxpqVZRsfiTebc-uNbMSDWJidbYLvseOsyMK_qX6wznAEQPJ0n0m41BWkrVV2YWeTx0tdjZBCdtCScH9PbSHsRBmSM0ciS6lSqtrg3qyvaaSJ4hJsN2lTyNsNDjFnmR_FCNjhzJSvcwiwsSZK5eSLE1wqqCBPtv6-wB8M-HKH2fjAoklZjprsc0TZZpOGj9uyofO3B_5Jct5-yB8-g0Akco45ZPB5mCIAS4RV4A";
    const RSA_MODULUS: &str = "uj-P7CyJ4vouPlosVF5UtOR7_-NV5GSDOeYXCjgE06TnkyVQmrInV_CU6Jb63gmP6kjAOn5W8QTt3vaaUoZyem2aheCcX4WqEcDFtzQcw0XKE6tDkbYTvRX_Cr-yEHO3I62F2DFLfVLgzL6b3BrrfmgRP2mcYnIR87kx3pqFTmI3yOhhCoc8SZ_-N29AwWCnVTvNmeDsHzR-jM6gQhHCKVoNstUUlGBf80ptFogQPa8A2LgI9QhyM8z7ZXZqCN8zxt7I7PXTEsK-wM2cu5ZtIpBLKMxDex_m4wBm0ulvTBrOdYnZ3JuLDm_hVzTwTxkl8stGahoABQuHuUxfaQtxqQ";
    const RSA_TOKEN_ISSUED: u64 = 1_764_547_200;

    struct Signer {
        key: EcdsaKeyPair,
    }

    impl Signer {
        fn new() -> Self {
            let random = SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random).unwrap();
            let key =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &random)
                    .unwrap();
            Self { key }
        }

        fn jwk(&self, kid: &str) -> Value {
            let point = self.key.public_key().as_ref();
            json!({
                "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                "x": BASE64URL.encode(&point[1..33]), "y": BASE64URL.encode(&point[33..]),
            })
        }

        fn sign(&self, header: Value, claims: Value) -> String {
            let encode = |value: &Value| BASE64URL.encode(value.to_string());
            let signed = format!("{}.{}", encode(&header), encode(&claims));
            let signature = self
                .key
                .sign(&SystemRandom::new(), signed.as_bytes())
                .unwrap();
            format!("{signed}.{}", BASE64URL.encode(signature.as_ref()))
        }
    }

    fn settings(path: PathBuf) -> JwtSettings {
        JwtSettings {
            jwks_file: path,
            expected_audience: Vec::new(),
            expected_issuer: None,
            clock_skew: Duration::from_secs(30),
            subject_claim: "sub".into(),
        }
    }

    fn validator(keys: Value, adjust: impl FnOnce(&mut JwtSettings)) -> JwtValidator {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), json!({ "keys": keys }).to_string()).unwrap();
        let mut settings = settings(file.path().to_owned());
        adjust(&mut settings);
        JwtValidator::load(settings).unwrap()
    }

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn an_rs256_token_verifies_with_its_key_and_fails_when_altered() {
        let validator = validator(
            json!([{ "kty": "RSA", "kid": "rsa-1", "n": RSA_MODULUS, "e": "AQAB" }]),
            |settings| {
                settings.expected_audience = vec!["other".into(), "spool".into()];
                settings.expected_issuer = Some("https://issuer.example".into());
            },
        );
        let now = at(RSA_TOKEN_ISSUED + 60);
        let token = validator.validate(RSA_TOKEN, now).unwrap();
        assert_eq!(token.subject, "alice");
        assert_eq!(token.expires, at(4_102_444_800));

        let mut altered = RSA_TOKEN.to_owned();
        altered.replace_range(40..41, "X");
        assert!(validator.validate(&altered, now).is_err());
        let mut forged = RSA_TOKEN.to_owned();
        let at = forged.len() - 20;
        let replacement = if &forged[at..=at] == "A" { "B" } else { "A" };
        forged.replace_range(at..=at, replacement);
        assert_eq!(validator.validate(&forged, now), Err(TokenError::Signature));
    }

    #[test]
    fn claims_are_checked_as_kafka_checks_them() {
        let signer = Signer::new();
        let validator = validator(json!([signer.jwk("ec-1")]), |settings| {
            settings.expected_audience = vec!["spool".into()];
            settings.expected_issuer = Some("issuer".into());
        });
        let header = json!({ "alg": "ES256", "kid": "ec-1" });
        let good = json!({ "sub": " bob ", "iat": 1000, "exp": 2000, "aud": ["x", "spool"], "iss": "issuer" });
        let with = |change: &dyn Fn(&mut Value)| {
            let mut claims = good.clone();
            change(&mut claims);
            validator.validate(&signer.sign(header.clone(), claims), at(1500))
        };
        assert_eq!(with(&|_| {}).unwrap().subject, "bob");
        assert_eq!(with(&|c| c["exp"] = json!(1400)), Err(TokenError::Expired));
        // Within the 30 s skew an expired token still passes, and so does an early one.
        assert!(with(&|c| c["exp"] = json!(1490)).is_ok());
        assert!(with(&|c| c["nbf"] = json!(1520)).is_ok());
        assert_eq!(
            with(&|c| c["nbf"] = json!(1600)),
            Err(TokenError::NotYetValid)
        );
        for claim in ["exp", "iat", "sub"] {
            assert_eq!(
                with(&|c| {
                    c.as_object_mut().unwrap().remove(claim);
                }),
                Err(TokenError::Claim(claim.into()))
            );
        }
        assert_eq!(
            with(&|c| c["sub"] = json!("  ")),
            Err(TokenError::Claim("sub".into()))
        );
        assert_eq!(
            with(&|c| c["aud"] = json!("other")),
            Err(TokenError::Audience)
        );
        assert_eq!(
            with(&|c| c["iss"] = json!("someone")),
            Err(TokenError::Issuer)
        );
    }

    #[test]
    fn unsigned_foreign_and_mislabelled_tokens_are_refused() {
        let signer = Signer::new();
        let stranger = Signer::new();
        let validator = validator(json!([signer.jwk("ec-1")]), |_| {});
        let claims = json!({ "sub": "bob", "iat": 1000, "exp": 2000 });
        let now = at(1500);
        let sign = |header: Value| signer.sign(header, claims.clone());
        assert!(validator
            .validate(&sign(json!({ "alg": "ES256" })), now)
            .is_ok());
        assert_eq!(
            validator.validate(
                &stranger.sign(json!({ "alg": "ES256" }), claims.clone()),
                now
            ),
            Err(TokenError::Signature)
        );
        assert_eq!(
            validator.validate(&sign(json!({ "alg": "ES256", "kid": "ec-2" })), now),
            Err(TokenError::Signature)
        );
        assert_eq!(
            validator.validate(&sign(json!({ "alg": "RS256" })), now),
            Err(TokenError::Signature)
        );
        assert_eq!(
            validator.validate(&sign(json!({ "alg": "ES256", "crit": ["b64"] })), now),
            Err(TokenError::Critical)
        );
        let payload = BASE64URL.encode(claims.to_string());
        for alg in ["none", "HS256"] {
            let header = BASE64URL.encode(json!({ "alg": alg }).to_string());
            assert_eq!(
                validator.validate(&format!("{header}.{payload}."), now),
                Err(TokenError::Algorithm(alg.into()))
            );
        }
        assert_eq!(validator.validate("a.b", now), Err(TokenError::NotAJws));
        assert_eq!(
            validator.validate("a.b.c.d.e", now),
            Err(TokenError::NotAJws)
        );
    }

    #[test]
    fn a_key_set_without_a_usable_key_is_refused() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let load = |document: Value| {
            std::fs::write(file.path(), document.to_string()).unwrap();
            JwtValidator::load(settings(file.path().to_owned()))
        };
        assert!(load(json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0" }] })).is_err());
        assert!(load(json!({ "nokeys": [] })).is_err());
        let signer = Signer::new();
        let mut encryption = signer.jwk("e");
        encryption["use"] = json!("enc");
        assert!(load(json!({ "keys": [encryption] })).is_err());
        assert!(load(json!({ "keys": [signer.jwk("s")] })).is_ok());
    }
}
