//! The SASL mechanisms clients authenticate with: PLAIN (RFC 4616) against configured users,
//! SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677) against stored credentials, and
//! OAUTHBEARER (RFC 7628) with JWTs checked against a key set file; and the client's side of
//! PLAIN and SCRAM, for a broker authenticating to the others. Each is an exchange of the
//! mechanism's bytes, pure but for the random nonces and the clock; a leaf: it knows neither
//! Kafka's requests nor where credentials are kept.

mod client;
mod jwt;
mod oauthbearer;
mod plain;
mod scram;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use thiserror::Error;

pub use client::{ClientExchange, ClientExchangeError, SaslCredentials};
pub use jwt::{JwksError, JwtSettings, JwtValidator};
pub use oauthbearer::OAuthBearerExchange;
pub use plain::PlainExchange;
pub use scram::{ScramCredential, ScramExchange, SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN};

/// The mechanisms spool offers, by their SASL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
    OAuthBearer,
}

impl Mechanism {
    pub const ALL: [Mechanism; 4] = [
        Self::Plain,
        Self::ScramSha256,
        Self::ScramSha512,
        Self::OAuthBearer,
    ];

    /// The mechanism a SASL name names (exactly, as Kafka matches them).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|mechanism| mechanism.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }

    pub fn is_scram(self) -> bool {
        matches!(self, Self::ScramSha256 | Self::ScramSha512)
    }

    /// The SCRAM mechanism of Kafka's `ScramMechanism` type code (1: SHA-256, 2: SHA-512).
    pub fn from_scram_type(code: i8) -> Option<Self> {
        match code {
            1 => Some(Self::ScramSha256),
            2 => Some(Self::ScramSha512),
            _ => None,
        }
    }

    /// Kafka's type code of a SCRAM mechanism (0 for the others, which have none).
    pub fn scram_type(self) -> i8 {
        match self {
            Self::Plain | Self::OAuthBearer => 0,
            Self::ScramSha256 => 1,
            Self::ScramSha512 => 2,
        }
    }
}

/// Stored by name, so the files and the cluster store read like Kafka's configs.
impl serde::Serialize for Mechanism {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Mechanism {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("no SASL mechanism {name}")))
    }
}

/// A user's SCRAM credentials, one per mechanism.
pub type UserScramCredentials = BTreeMap<Mechanism, ScramCredential>;

/// How a SASL listener authenticates its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslSettings {
    /// `sasl.enabled.mechanisms`, as listed.
    pub mechanisms: Vec<Mechanism>,
    /// PLAIN's users (name → password), from the listener's PLAIN JAAS entry.
    pub plain_users: Arc<BTreeMap<String, String>>,
    /// What a broker authenticates with to the others on this listener, by mechanism: the
    /// `username` and `password` of the mechanism's JAAS entry.
    pub logins: BTreeMap<Mechanism, SaslCredentials>,
    /// `sasl.server.max.receive.size`: the largest frame a client may send before it is
    /// authenticated.
    pub max_receive_bytes: usize,
    /// `connections.max.reauth.ms` of each mechanism that sets one: how long a session lasts
    /// before the client must authenticate again (KIP-368).
    pub session_max: BTreeMap<Mechanism, Duration>,
    /// How OAUTHBEARER tokens are checked, where that mechanism is enabled.
    pub oauthbearer: Option<JwtSettings>,
}

/// A SASL listener's authentication at run time: its settings and what they load.
#[derive(Debug)]
pub struct SaslServer {
    pub settings: SaslSettings,
    pub token_validator: Option<Arc<JwtValidator>>,
}

impl SaslServer {
    pub fn new(settings: SaslSettings) -> Result<Self, JwksError> {
        let token_validator = match &settings.oauthbearer {
            Some(jwt) => Some(Arc::new(JwtValidator::load(jwt.clone())?)),
            None => None,
        };
        Ok(Self {
            settings,
            token_validator,
        })
    }
}

/// Why an exchange failed; the message is what the client is told (Kafka's wording).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthenticationError {
    #[error("Authentication failed: Invalid username or password")]
    InvalidPassword,
    #[error("Authentication failed: Invalid user credentials")]
    UnknownUser,
    #[error("Authentication failed during authentication due to invalid credentials with SASL mechanism {0}")]
    InvalidProof(&'static str),
    #[error("Authentication failed: Client requested an authorization id that is different from username")]
    AuthorizationId,
    #[error("Authentication failed: Client requested an authorization id ({requested}) that is different from the token's principal name ({subject})")]
    TokenAuthorizationId { requested: String, subject: String },
    #[error("Cannot change principals during re-authentication from User.{from}: User.{to}")]
    PrincipalChanged { from: String, to: String },
    #[error("SASL mechanism '{to}' requested by client is not supported for re-authentication of mechanism '{from}'")]
    MechanismChanged {
        from: &'static str,
        to: &'static str,
    },
    /// OAUTHBEARER's error answer, repeated as the failure's message.
    #[error("{0}")]
    InvalidToken(&'static str),
    #[error("Authentication failed: {0}")]
    Malformed(String),
}

/// What an exchange answers to a client's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes and wait for the client's next message.
    Continue(Vec<u8>),
    /// Authenticated as `user` (until `expires`, for a credential that does); send these
    /// last bytes.
    Done {
        response: Vec<u8>,
        user: String,
        expires: Option<SystemTime>,
    },
}

/// Whether two secrets are equal, taking the same time wherever they differ.
fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// One authentication in progress.
#[derive(Debug)]
pub enum Exchange {
    Plain(PlainExchange),
    Scram(Box<ScramExchange>),
    OAuthBearer(OAuthBearerExchange),
}

impl Exchange {
    /// The next step, given the client's message.
    pub fn respond(&mut self, message: &[u8]) -> Result<Step, AuthenticationError> {
        match self {
            Self::Plain(exchange) => exchange.respond(message),
            Self::Scram(exchange) => exchange.respond(message),
            Self::OAuthBearer(exchange) => exchange.respond(message),
        }
    }
}
