//! TLS for the broker's listeners with rustls: the settings Kafka's `ssl.*` keys give (PEM
//! key stores and trust stores, `ssl.client.auth`), the server side built from them and
//! rebuilt when their files change (`server.rs`), the client side a broker uses towards the
//! others (`client.rs`), both from the same stores (`stores.rs`), and the principal a client
//! certificate names (`principal.rs`) after `ssl.principal.mapping.rules` (`mapping.rs`). A leaf: it knows files and certificates, not Kafka.

mod client;
mod mapping;
mod principal;
mod server;
mod stores;

use std::path::PathBuf;

use thiserror::Error;

pub use client::client_config;
pub use mapping::{MappingError, PrincipalMapping, MAPPING_RULES_DEFAULT};
pub use principal::subject_name;
pub use server::{TlsServer, RELOAD_CHECK_INTERVAL};

/// Where a listener's private key and certificate chain come from (`ssl.keystore.type=PEM`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStore {
    /// `ssl.keystore.location`: one PEM file holding the key and the chain.
    File(PathBuf),
    /// `ssl.keystore.key` and `ssl.keystore.certificate.chain`: PEM text in the config.
    Inline { key: String, chain: String },
}

/// The certificates a listener trusts for client certificates (`ssl.truststore.type=PEM`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustStore {
    /// `ssl.truststore.location`: a PEM file of certificates.
    File(PathBuf),
    /// `ssl.truststore.certificates`: PEM text in the config.
    Inline(String),
}

/// `ssl.client.auth`: whether clients must, may or need not present a certificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientAuth {
    #[default]
    None,
    Requested,
    Required,
}

impl ClientAuth {
    /// The value Kafka's `ssl.client.auth` names (`required`, `requested`, `none`).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Some(Self::None),
            "requested" => Some(Self::Requested),
            "required" => Some(Self::Required),
            _ => None,
        }
    }
}

/// One listener's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub keystore: KeyStore,
    pub truststore: Option<TrustStore>,
    pub client_auth: ClientAuth,
    /// `ssl.principal.mapping.rules`: a client certificate's subject to its principal name.
    pub principal_mapping: PrincipalMapping,
}

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what}: {message}")]
    Pem { what: String, message: String },
    #[error("TLS setup refused: {0}")]
    Rustls(#[from] tokio_rustls::rustls::Error),
    #[error("client certificates cannot be checked: {0}")]
    Verifier(String),
}
