//! A SASL listener's settings, with Kafka's keys, each listener's own
//! (`listener.name.<listener>.…`, and `listener.name.<listener>.<mechanism>.…` for a
//! mechanism's) before the plain ones: `sasl.enabled.mechanisms`, PLAIN's users (its JAAS
//! entry), `connections.max.reauth.ms`, and how OAUTHBEARER tokens are validated
//! (`sasl.oauthbearer.*`, with the key set read from a `file:` URL).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{invalid, jaas, ConfigError, ConfigType, Keys, Listener};
use crate::sasl::{JwtSettings, Mechanism, SaslCredentials, SaslSettings};

/// Kafka's default `sasl.enabled.mechanisms` (Kerberos, which spool does not offer).
const MECHANISMS_DEFAULT: &str = "GSSAPI";
/// Kafka's `sasl.server.max.receive.size` default: the largest frame before authentication.
const MAX_RECEIVE_BYTES_DEFAULT: i64 = 524_288;
/// Kafka's `sasl.oauthbearer.clock.skew.seconds` default.
const CLOCK_SKEW_SECONDS_DEFAULT: i64 = 30;
/// Kafka's `sasl.oauthbearer.sub.claim.name` default.
const SUBJECT_CLAIM_DEFAULT: &str = "sub";
/// The one validator spool runs, by the class Kafka's configs name for it.
const VALIDATOR_CLASS: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
/// The login module an OAUTHBEARER listener's JAAS entry names.
const OAUTHBEARER_LOGIN_MODULE: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

/// Kafka's `sasl.mechanism.inter.broker.protocol` default (Kerberos, which spool does not
/// offer).
pub(super) const INTER_BROKER_MECHANISM_DEFAULT: &str = "GSSAPI";
const INTER_BROKER_MECHANISM_KEY: &str = "sasl.mechanism.inter.broker.protocol";

/// What this broker authenticates to the others with, where the inter-broker `listener`
/// uses SASL: `mechanism`, enabled on that listener, and the login of its JAAS entry.
pub(super) fn inter_broker_login(
    listener: &Listener,
    mechanism: &str,
) -> Result<Option<SaslCredentials>, ConfigError> {
    let Some(sasl) = &listener.sasl else {
        return Ok(None);
    };
    let name = &listener.name;
    let parsed = Mechanism::parse(mechanism)
        .filter(|mechanism| *mechanism != Mechanism::OAuthBearer)
        .ok_or_else(|| {
            invalid(
                INTER_BROKER_MECHANISM_KEY,
                format!("spool's brokers authenticate to each other with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, not {mechanism}"),
            )
        })?;
    if !sasl.mechanisms.contains(&parsed) {
        return Err(invalid(
            INTER_BROKER_MECHANISM_KEY,
            format!("{INTER_BROKER_MECHANISM_KEY} must be included in sasl.enabled.mechanisms when SASL is used for inter-broker communication (listener {name})"),
        ));
    }
    let login = sasl.logins.get(&parsed).cloned().ok_or_else(|| {
        let key = format!(
            "listener.name.{}.{}.sasl.jaas.config",
            name.to_ascii_lowercase(),
            mechanism.to_ascii_lowercase()
        );
        invalid(
            &key,
            format!("the inter-broker listener {name} needs the username and password this broker authenticates with"),
        )
    })?;
    Ok(Some(login))
}

/// The plain SASL keys, which every SASL listener falls back to.
#[derive(Debug)]
pub(super) struct SaslDefaults {
    mechanisms: String,
    max_receive_bytes: usize,
    session_max_ms: i64,
    oauthbearer: OAuthBearerKeys,
}

impl SaslDefaults {
    pub(super) fn read(keys: &mut Keys) -> Result<Self, ConfigError> {
        Ok(Self {
            mechanisms: keys.list("sasl.enabled.mechanisms", MECHANISMS_DEFAULT)?,
            max_receive_bytes: keys.int(
                "sasl.server.max.receive.size",
                MAX_RECEIVE_BYTES_DEFAULT,
                1,
                i64::from(i32::MAX),
            )? as usize,
            session_max_ms: keys.int("connections.max.reauth.ms", 0, 0, i64::MAX)?,
            oauthbearer: OAuthBearerKeys::read(keys, "")?,
        })
    }
}

/// The SASL settings of listener `name`: its mechanisms, PLAIN's users, the username and
/// password of each mechanism's JAAS entry (what this broker authenticates with to the
/// others), each mechanism's session limit, and OAUTHBEARER's validation.
pub(super) fn sasl_settings(
    keys: &mut Keys,
    name: &str,
    defaults: &SaslDefaults,
) -> Result<SaslSettings, ConfigError> {
    let prefix = format!("listener.name.{}.", name.to_ascii_lowercase());
    let mechanisms = mechanisms(keys, name, &prefix, &defaults.mechanisms)?;
    let mut session_max = BTreeMap::new();
    for mechanism in &mechanisms {
        let key = format!(
            "{prefix}{}.connections.max.reauth.ms",
            mechanism.name().to_ascii_lowercase()
        );
        let own = match keys.map.contains_key(&key) {
            true => keys.optional_int(&key, 0, i64::MAX)?,
            false => None,
        };
        let milliseconds = own.unwrap_or(defaults.session_max_ms);
        if milliseconds > 0 {
            session_max.insert(*mechanism, Duration::from_millis(milliseconds as u64));
        }
    }
    let jaas_key = format!("{prefix}plain.sasl.jaas.config");
    let jaas = keys.parse_string(&jaas_key)?;
    if jaas.is_some() {
        keys.settle(&jaas_key, jaas.as_ref(), None, ConfigType::Password);
    }
    let mut logins = BTreeMap::new();
    let plain_users = match (mechanisms.contains(&Mechanism::Plain), jaas) {
        (true, Some(text)) => {
            let login = jaas::login(&text, jaas::PLAIN_LOGIN_MODULE)
                .map_err(|message| invalid(&jaas_key, message))?;
            logins.extend(login.map(|login| credentials(Mechanism::Plain, login)));
            jaas::plain_users(&text).map_err(|message| invalid(&jaas_key, message))?
        }
        (true, None) => {
            return Err(invalid(
                &jaas_key,
                format!("listener {name} enables PLAIN and needs its users (PlainLoginModule user_<name>=\"<password>\")"),
            ))
        }
        (false, _) => BTreeMap::new(),
    };
    for mechanism in mechanisms.iter().filter(|mechanism| mechanism.is_scram()) {
        let key = format!(
            "{prefix}{}.sasl.jaas.config",
            mechanism.name().to_ascii_lowercase()
        );
        let Some(text) = keys.parse_string(&key)? else {
            continue;
        };
        keys.settle(&key, Some(&text), None, ConfigType::Password);
        let login = jaas::login(&text, jaas::SCRAM_LOGIN_MODULE)
            .map_err(|message| invalid(&key, message))?;
        logins.extend(login.map(|login| credentials(*mechanism, login)));
    }
    let oauthbearer = match mechanisms.contains(&Mechanism::OAuthBearer) {
        true => Some(oauthbearer_settings(keys, name, &defaults.oauthbearer)?),
        false => None,
    };
    Ok(SaslSettings {
        mechanisms,
        plain_users: Arc::new(plain_users),
        logins,
        max_receive_bytes: defaults.max_receive_bytes,
        session_max,
        oauthbearer,
    })
}

/// A JAAS entry's login for `mechanism`, keyed by it.
fn credentials(
    mechanism: Mechanism,
    (username, password): (String, String),
) -> (Mechanism, SaslCredentials) {
    let credentials = SaslCredentials {
        mechanism,
        username,
        password,
    };
    (mechanism, credentials)
}

/// The listener's `sasl.enabled.mechanisms` (its own list, else `default`).
fn mechanisms(
    keys: &mut Keys,
    name: &str,
    prefix: &str,
    default: &str,
) -> Result<Vec<Mechanism>, ConfigError> {
    let key = format!("{prefix}sasl.enabled.mechanisms");
    let listed = match keys.map.contains_key(&key) {
        true => keys.list(&key, "")?,
        false => default.to_owned(),
    };
    let mut mechanisms = Vec::new();
    for mechanism in listed.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let offered = Mechanism::ALL.map(Mechanism::name).join(", ");
        mechanisms.push(Mechanism::parse(mechanism).ok_or_else(|| {
            invalid(
                &key,
                format!(
                    "listener {name}: spool has no SASL mechanism {mechanism}; it offers {offered}"
                ),
            )
        })?);
    }
    if mechanisms.is_empty() {
        return Err(invalid(
            &key,
            format!("listener {name} enables no SASL mechanism"),
        ));
    }
    Ok(mechanisms)
}

/// OAUTHBEARER's validation on listener `name`: the listener's keys over `defaults`, with
/// the key set required (spool accepts signed tokens only, never Kafka's unsecured ones).
fn oauthbearer_settings(
    keys: &mut Keys,
    name: &str,
    defaults: &OAuthBearerKeys,
) -> Result<JwtSettings, ConfigError> {
    let prefix = format!("listener.name.{}.oauthbearer.", name.to_ascii_lowercase());
    let handler_key = format!("{prefix}sasl.server.callback.handler.class");
    if let Some(class) = keys.parse_string(&handler_key)? {
        keys.settle(&handler_key, Some(&class), None, ConfigType::Class);
        if class != VALIDATOR_CLASS {
            return Err(invalid(
                &handler_key,
                format!(
                    "spool validates tokens as {VALIDATOR_CLASS} does and runs no other handler"
                ),
            ));
        }
    }
    let jaas_key = format!("{prefix}sasl.jaas.config");
    if let Some(jaas) = keys.parse_string(&jaas_key)? {
        keys.settle(&jaas_key, Some(&jaas), None, ConfigType::Password);
        if !jaas.trim_start().starts_with(OAUTHBEARER_LOGIN_MODULE) {
            return Err(invalid(
                &jaas_key,
                format!("an OAUTHBEARER listener's JAAS entry names {OAUTHBEARER_LOGIN_MODULE}"),
            ));
        }
    }
    let own = OAuthBearerKeys::read(keys, &prefix)?;
    let url_key = format!("{prefix}sasl.oauthbearer.jwks.endpoint.url");
    let Some(url) = own.jwks_url.or_else(|| defaults.jwks_url.clone()) else {
        return Err(invalid(
            "sasl.oauthbearer.jwks.endpoint.url",
            format!("listener {name} enables OAUTHBEARER and needs the key set its tokens are signed with (a file: URL)"),
        ));
    };
    let jwks_file = file_url_path(&url).ok_or_else(|| {
        invalid(
            &url_key,
            format!("`{url}`: spool reads key sets from file: URLs only"),
        )
    })?;
    let audience = own.audience.or_else(|| defaults.audience.clone());
    Ok(JwtSettings {
        jwks_file,
        expected_audience: audience
            .iter()
            .flat_map(|list| list.split(','))
            .map(str::trim)
            .filter(|audience| !audience.is_empty())
            .map(str::to_owned)
            .collect(),
        expected_issuer: own.issuer.or_else(|| defaults.issuer.clone()),
        clock_skew: Duration::from_secs(
            own.clock_skew_seconds
                .or(defaults.clock_skew_seconds)
                .unwrap_or(CLOCK_SKEW_SECONDS_DEFAULT) as u64,
        ),
        subject_claim: own
            .subject_claim
            .or_else(|| defaults.subject_claim.clone())
            .unwrap_or_else(|| SUBJECT_CLAIM_DEFAULT.to_owned()),
    })
}

/// The path of a `file:` URL (`file:///path` or `file:/path`).
fn file_url_path(url: &str) -> Option<PathBuf> {
    let path = url
        .strip_prefix("file://")
        .or_else(|| url.strip_prefix("file:"))?;
    path.starts_with('/').then(|| PathBuf::from(path))
}

/// The `sasl.oauthbearer.*` keys spool reads, under a prefix.
#[derive(Debug, Default)]
struct OAuthBearerKeys {
    jwks_url: Option<String>,
    audience: Option<String>,
    issuer: Option<String>,
    clock_skew_seconds: Option<i64>,
    subject_claim: Option<String>,
}

impl OAuthBearerKeys {
    /// The keys after `prefix` (`""`: the plain ones, listed with Kafka's defaults; a
    /// listener's only when set).
    fn read(keys: &mut Keys, prefix: &str) -> Result<Self, ConfigError> {
        let plain = prefix.is_empty();
        let mut string = |name: &str, kind: ConfigType, default: Option<&str>| {
            let key = format!("{prefix}sasl.oauthbearer.{name}");
            if !plain && !keys.map.contains_key(&key) {
                return Ok(None);
            }
            let value = keys.parse_string(&key)?;
            let default = default.filter(|_| plain).map(str::to_owned);
            keys.settle(&key, value.as_ref(), default.as_ref(), kind);
            Ok::<_, ConfigError>(value)
        };
        let jwks_url = string("jwks.endpoint.url", ConfigType::String, None)?;
        let audience = string("expected.audience", ConfigType::List, None)?;
        let issuer = string("expected.issuer", ConfigType::String, None)?;
        let subject_claim = string(
            "sub.claim.name",
            ConfigType::String,
            Some(SUBJECT_CLAIM_DEFAULT),
        )?;
        let skew_key = format!("{prefix}sasl.oauthbearer.clock.skew.seconds");
        let clock_skew_seconds = match (plain, keys.map.contains_key(&skew_key)) {
            (true, _) => Some(keys.int(
                &skew_key,
                CLOCK_SKEW_SECONDS_DEFAULT,
                0,
                i64::from(i32::MAX),
            )?),
            (false, true) => keys.optional_int(&skew_key, 0, i64::from(i32::MAX))?,
            (false, false) => None,
        };
        Ok(Self {
            jwks_url,
            audience,
            issuer,
            clock_skew_seconds,
            subject_claim,
        })
    }
}
