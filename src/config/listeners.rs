//! Where the broker listens and what it advertises, with Kafka's keys: `listeners`,
//! `advertised.listeners`, `listener.security.protocol.map`, `inter.broker.listener.name`
//! (or `security.inter.broker.protocol`), each TLS listener's `ssl.*` settings, taken
//! from `listener.name.<name>.ssl.*` before the plain `ssl.*` keys, and each SASL listener's
//! settings (read by [`super::sasl`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::sasl::{sasl_settings, SaslDefaults};
use super::{invalid, parse_host_port, ConfigError, ConfigType, Keys};
use crate::sasl::SaslSettings;
use crate::tls::{
    ClientAuth, KeyStore, PrincipalMapping, TlsSettings, TrustStore, MAPPING_RULES_DEFAULT,
};

/// `listeners` when nothing sets it (Kafka binds every interface; spool only loopback).
pub const LISTENERS_DEFAULT: &str = "PLAINTEXT://127.0.0.1:9092";
/// Kafka's `listener.security.protocol.map` default: each protocol names a listener.
const PROTOCOL_MAP_DEFAULT: &str =
    "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";
/// The store type spool reads (Kafka's default is JKS, which it does not).
const PEM: &str = "PEM";

/// Kafka's security protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(Self::Plaintext),
            "SSL" => Some(Self::Ssl),
            "SASL_PLAINTEXT" => Some(Self::SaslPlaintext),
            "SASL_SSL" => Some(Self::SaslSsl),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// One listener: its name, protocol, where it binds and what clients are told.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    /// Upper case, as Kafka normalises listener names.
    pub name: String,
    pub protocol: SecurityProtocol,
    pub bind: SocketAddr,
    /// Host and port clients connect to; port 0 until the bound port is known.
    pub advertised: (String, u16),
    /// Present exactly for SSL and SASL_SSL listeners.
    pub tls: Option<TlsSettings>,
    /// Present exactly for SASL_PLAINTEXT and SASL_SSL listeners.
    pub sasl: Option<SaslSettings>,
}

/// Every listener, in the order `listeners` names them, and the one brokers use among
/// themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct Listeners {
    pub all: Vec<Listener>,
    inter_broker: usize,
}

impl Listeners {
    /// The listener other brokers connect to (`inter.broker.listener.name`).
    pub fn inter_broker(&self) -> &Listener {
        &self.all[self.inter_broker]
    }

    /// The first listener `listeners` names.
    pub fn first(&self) -> &Listener {
        &self.all[0]
    }

    /// Notes the port a listener bound when it asked for port 0.
    pub fn set_bound_port(&mut self, name: &str, port: u16) {
        for listener in self.all.iter_mut().filter(|l| l.name == name) {
            if listener.bind.port() == 0 {
                listener.bind.set_port(port);
            }
            if listener.advertised.1 == 0 {
                listener.advertised.1 = port;
            }
        }
    }
}

/// Reads the listener keys; `listen` and `advertise` replace `listeners` and
/// `advertised.listeners` (the command line's `--listen` and `--advertise`).
pub(super) fn listeners(
    keys: &mut Keys,
    listen: Option<&str>,
    advertise: Option<&str>,
) -> Result<Listeners, ConfigError> {
    let mut listen_text = keys.string("listeners", LISTENERS_DEFAULT)?;
    if let Some(listen) = listen {
        listen_text = keys.overridden("listeners", listen);
    }
    let mut advertise_text = keys.optional_string("advertised.listeners")?;
    if let Some(advertise) = advertise {
        advertise_text = Some(keys.overridden("advertised.listeners", advertise));
    }
    let protocols =
        protocol_map(&keys.string("listener.security.protocol.map", PROTOCOL_MAP_DEFAULT)?)?;
    let inter_broker_name = keys.optional_string("inter.broker.listener.name")?;
    let inter_broker_protocol = keys.optional_string("security.inter.broker.protocol")?;
    let tls_defaults = TlsKeys::read(keys, "")?;
    let sasl_defaults = SaslDefaults::read(keys)?;

    let binds = endpoints("listeners", &listen_text)?;
    let advertised = match &advertise_text {
        Some(text) => endpoints("advertised.listeners", text)?,
        None => Vec::new(),
    };
    if let Some((name, _)) = advertised
        .iter()
        .find(|(name, _)| !binds.iter().any(|(bound, _)| bound == name))
    {
        return Err(invalid(
            "advertised.listeners",
            format!("{name} is not a listener in `listeners`"),
        ));
    }
    let mut all = Vec::with_capacity(binds.len());
    for (name, (host, port)) in binds {
        let protocol = *protocols.get(&name).ok_or_else(|| {
            invalid(
                "listener.security.protocol.map",
                format!("No security protocol defined for listener {name}"),
            )
        })?;
        let ip: IpAddr = if host.is_empty() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            host.parse().map_err(|_| {
                invalid(
                    "listeners",
                    format!("`{listen_text}`: {name} is not HOST:PORT with a numeric IP"),
                )
            })?
        };
        let bind = SocketAddr::new(ip, port);
        let advertised = match advertised
            .iter()
            .find(|(advertised, _)| *advertised == name)
        {
            Some((_, endpoint)) => endpoint.clone(),
            None if ip.is_unspecified() => {
                return Err(invalid(
                    "advertised.listeners",
                    format!("required for {name}, which binds all interfaces"),
                ))
            }
            None => (ip.to_string(), port),
        };
        let tls = match protocol.uses_tls() {
            true => Some(
                TlsKeys::read(keys, &name)?
                    .or(&tls_defaults)
                    .settings(&name)?,
            ),
            false => None,
        };
        let sasl = match protocol.uses_sasl() {
            true => Some(sasl_settings(keys, &name, &sasl_defaults)?),
            false => None,
        };
        all.push(Listener {
            name,
            protocol,
            bind,
            advertised,
            tls,
            sasl,
        });
    }
    let inter_broker = inter_broker_listener(&all, inter_broker_name, inter_broker_protocol)?;
    Ok(Listeners { all, inter_broker })
}

/// A listener's upper-case name and its host and port, as a listener list gives them.
type NamedEndpoint = (String, (String, u16));

/// `NAME://host:port,…` (a bare `host:port` is PLAINTEXT), each name and each non-zero
/// port once.
fn endpoints(key: &str, text: &str) -> Result<Vec<NamedEndpoint>, ConfigError> {
    let mut endpoints: Vec<NamedEndpoint> = Vec::new();
    for item in text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let (name, address) = item.split_once("://").unwrap_or(("PLAINTEXT", item));
        let name = name.trim().to_ascii_uppercase();
        let endpoint = parse_host_port(address)
            .or_else(|| {
                // `NAME://:port`: the default interface.
                let port = address.strip_prefix(':')?.parse().ok()?;
                Some((String::new(), port))
            })
            .ok_or_else(|| invalid(key, format!("`{item}` is not NAME://HOST:PORT")))?;
        if endpoints.iter().any(|(other, _)| *other == name) {
            return Err(invalid(
                key,
                format!("Each listener must have a different name, listeners: {text}"),
            ));
        }
        if key == "listeners"
            && endpoint.1 != 0
            && endpoints.iter().any(|(_, (_, port))| *port == endpoint.1)
        {
            return Err(invalid(
                key,
                format!("Each listener must have a different port, listeners: {text}"),
            ));
        }
        endpoints.push((name, endpoint));
    }
    if endpoints.is_empty() {
        return Err(invalid(key, "names no listener"));
    }
    Ok(endpoints)
}

/// `NAME:PROTOCOL,…`
fn protocol_map(text: &str) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    const KEY: &str = "listener.security.protocol.map";
    let mut map = BTreeMap::new();
    for item in text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let parsed = item.split_once(':').and_then(|(name, protocol)| {
            Some((
                name.trim().to_ascii_uppercase(),
                SecurityProtocol::parse(protocol)?,
            ))
        });
        let (name, protocol) =
            parsed.ok_or_else(|| invalid(KEY, format!("`{item}` is not NAME:PROTOCOL")))?;
        if map.insert(name.clone(), protocol).is_some() {
            return Err(invalid(KEY, format!("{name} appears twice")));
        }
    }
    Ok(map)
}

fn inter_broker_listener(
    all: &[Listener],
    name: Option<String>,
    protocol: Option<String>,
) -> Result<usize, ConfigError> {
    const KEY: &str = "inter.broker.listener.name";
    let name = match (name, protocol) {
        (Some(_), Some(_)) => return Err(invalid(
            KEY,
            "Only one of inter.broker.listener.name and security.inter.broker.protocol may be set",
        )),
        (Some(name), None) => name.trim().to_ascii_uppercase(),
        (None, Some(protocol)) => SecurityProtocol::parse(&protocol)
            .ok_or_else(|| {
                invalid(
                    "security.inter.broker.protocol",
                    format!("`{protocol}` is not a security protocol"),
                )
            })?
            .name()
            .to_owned(),
        (None, None) => SecurityProtocol::Plaintext.name().to_owned(),
    };
    all.iter()
        .position(|listener| listener.name == name)
        .ok_or_else(|| {
            invalid(
                KEY,
                format!("advertised.listeners must contain a listener with name {name}, set inter.broker.listener.name to another listener"),
            )
        })
}

/// The `ssl.*` keys of one listener prefix (`""` for the plain keys).
#[derive(Debug, Default)]
struct TlsKeys {
    keystore_type: Option<String>,
    keystore_location: Option<String>,
    keystore_key: Option<String>,
    keystore_chain: Option<String>,
    key_password: Option<String>,
    truststore_type: Option<String>,
    truststore_location: Option<String>,
    truststore_certificates: Option<String>,
    client_auth: Option<String>,
    principal_mapping_rules: Option<String>,
}

impl TlsKeys {
    /// The keys under `listener.name.<listener>.` (lower case), or the plain ones for `""`.
    fn read(keys: &mut Keys, listener: &str) -> Result<Self, ConfigError> {
        let prefix = match listener {
            "" => String::new(),
            name => format!("listener.name.{}.", name.to_ascii_lowercase()),
        };
        let mut read = |name: &str, kind: ConfigType| -> Result<Option<String>, ConfigError> {
            let key = format!("{prefix}{name}");
            // The plain keys are listed with Kafka's defaults; a listener's only when set.
            let default = match (listener, name) {
                ("", "ssl.keystore.type" | "ssl.truststore.type") => Some("JKS"),
                ("", "ssl.client.auth") => Some("none"),
                ("", "ssl.principal.mapping.rules") => Some(MAPPING_RULES_DEFAULT),
                _ => None,
            };
            if !listener.is_empty() && !keys.map.contains_key(&key) {
                return Ok(None);
            }
            let value = keys.parse_string(&key)?;
            keys.settle(
                &key,
                value.as_ref(),
                default.map(str::to_owned).as_ref(),
                kind,
            );
            Ok(value)
        };
        Ok(Self {
            keystore_type: read("ssl.keystore.type", ConfigType::String)?,
            keystore_location: read("ssl.keystore.location", ConfigType::String)?,
            keystore_key: read("ssl.keystore.key", ConfigType::Password)?,
            keystore_chain: read("ssl.keystore.certificate.chain", ConfigType::Password)?,
            key_password: read("ssl.key.password", ConfigType::Password)?,
            truststore_type: read("ssl.truststore.type", ConfigType::String)?,
            truststore_location: read("ssl.truststore.location", ConfigType::String)?,
            truststore_certificates: read("ssl.truststore.certificates", ConfigType::Password)?,
            client_auth: read("ssl.client.auth", ConfigType::String)?,
            principal_mapping_rules: read("ssl.principal.mapping.rules", ConfigType::String)?,
        })
    }

    /// These keys, each falling back to `defaults`' where unset.
    fn or(self, defaults: &Self) -> Self {
        let pick = |own: Option<String>, default: &Option<String>| own.or_else(|| default.clone());
        Self {
            keystore_type: pick(self.keystore_type, &defaults.keystore_type),
            keystore_location: pick(self.keystore_location, &defaults.keystore_location),
            keystore_key: pick(self.keystore_key, &defaults.keystore_key),
            keystore_chain: pick(self.keystore_chain, &defaults.keystore_chain),
            key_password: pick(self.key_password, &defaults.key_password),
            truststore_type: pick(self.truststore_type, &defaults.truststore_type),
            truststore_location: pick(self.truststore_location, &defaults.truststore_location),
            truststore_certificates: pick(
                self.truststore_certificates,
                &defaults.truststore_certificates,
            ),
            client_auth: pick(self.client_auth, &defaults.client_auth),
            principal_mapping_rules: pick(
                self.principal_mapping_rules,
                &defaults.principal_mapping_rules,
            ),
        }
    }

    /// The TLS settings of listener `name`: PEM stores only.
    fn settings(self, name: &str) -> Result<TlsSettings, ConfigError> {
        let key = |suffix: &str| format!("listener.name.{}.{suffix}", name.to_ascii_lowercase());
        let pem_only = |kind: &Option<String>, suffix: &str| match kind.as_deref() {
            Some(kind) if kind.eq_ignore_ascii_case(PEM) => Ok(()),
            _ => Err(invalid(
                &key(suffix),
                format!("listener {name}: spool reads PEM stores only; set {suffix} = \"PEM\""),
            )),
        };
        pem_only(&self.keystore_type, "ssl.keystore.type")?;
        if self.key_password.is_some() {
            return Err(invalid(
                &key("ssl.key.password"),
                "spool reads unencrypted PEM keys only",
            ));
        }
        let keystore = match (self.keystore_location, self.keystore_key, self.keystore_chain) {
            (Some(location), None, None) => KeyStore::File(PathBuf::from(location)),
            (None, Some(key), Some(chain)) => KeyStore::Inline { key, chain },
            _ => {
                return Err(invalid(
                    &key("ssl.keystore.location"),
                    format!("listener {name} needs ssl.keystore.location, or ssl.keystore.key with ssl.keystore.certificate.chain"),
                ))
            }
        };
        let truststore =
            match (self.truststore_location, self.truststore_certificates) {
                (None, None) => None,
                (location, certificates) => {
                    pem_only(&self.truststore_type, "ssl.truststore.type")?;
                    Some(match (location, certificates) {
                        (Some(location), None) => TrustStore::File(PathBuf::from(location)),
                        (None, Some(certificates)) => TrustStore::Inline(certificates),
                        _ => return Err(invalid(
                            &key("ssl.truststore.location"),
                            "set ssl.truststore.location or ssl.truststore.certificates, not both",
                        )),
                    })
                }
            };
        let client_auth = match self.client_auth {
            None => ClientAuth::None,
            Some(text) => ClientAuth::parse(&text).ok_or_else(|| {
                invalid(
                    &key("ssl.client.auth"),
                    format!("`{text}` is not required, requested or none"),
                )
            })?,
        };
        if client_auth != ClientAuth::None && truststore.is_none() {
            return Err(invalid(
                &key("ssl.truststore.location"),
                format!("listener {name} checks client certificates (ssl.client.auth) and needs a trust store"),
            ));
        }
        let principal_mapping = match self.principal_mapping_rules {
            None => PrincipalMapping::default(),
            Some(rules) => PrincipalMapping::parse(&rules)
                .map_err(|error| invalid(&key("ssl.principal.mapping.rules"), error.to_string()))?,
        };
        Ok(TlsSettings {
            keystore,
            truststore,
            client_auth,
            principal_mapping,
        })
    }
}
