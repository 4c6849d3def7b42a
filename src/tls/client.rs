//! The client side of TLS, for a broker's connections to the others over a TLS inter-broker
//! listener: their certificates are checked against the listener's trust store, with their
//! host name (Kafka's default `ssl.endpoint.identification.algorithm=https`), and the
//! listener's own key store is presented as this broker's certificate. Built for each new
//! connection, so renewed stores are used without a restart.

use std::sync::Arc;

use tokio_rustls::rustls::ClientConfig;

use super::{stores, TlsError, TlsSettings};

/// The client configuration for connections to brokers that `settings` (the inter-broker
/// listener's) trust.
pub fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = stores::trusted_roots(settings.truststore.as_ref()).ok_or_else(|| {
        TlsError::Verifier(
            "the inter-broker listener needs an ssl.truststore to check the other brokers".into(),
        )
    })??;
    let (key, chain) = stores::key_and_chain(&settings.keystore)?;
    let config = ClientConfig::builder_with_provider(stores::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?;
    Ok(Arc::new(config))
}
