//! The server side of a TLS listener: a rustls `ServerConfig` built from PEM key and trust
//! stores, and rebuilt when their files change, so a renewed certificate is served without a
//! restart (connections already open keep the one they started with).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::ServerConfig;

use super::{stores, ClientAuth, KeyStore, MappingError, TlsError, TlsSettings, TrustStore};

/// How often the key and trust store files are checked for a change.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// A listener's TLS server configuration, current as of the last reload.
#[derive(Debug)]
pub struct TlsServer {
    settings: TlsSettings,
    current: RwLock<Arc<ServerConfig>>,
    /// The store files as they were when `current` was built.
    stamps: Mutex<Vec<FileStamp>>,
}

/// What tells a changed file: its modification time and length.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    path: PathBuf,
    modified: Option<SystemTime>,
    len: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Self {
        let metadata = std::fs::metadata(path).ok();
        Self {
            path: path.to_owned(),
            modified: metadata.as_ref().and_then(|m| m.modified().ok()),
            len: metadata.map_or(0, |m| m.len()),
        }
    }
}

impl TlsServer {
    /// Reads the stores `settings` names; fails on anything missing or unreadable.
    pub fn new(settings: TlsSettings) -> Result<Self, TlsError> {
        let stamps = stamps(&settings);
        let config = build(&settings)?;
        Ok(Self {
            settings,
            current: RwLock::new(Arc::new(config)),
            stamps: Mutex::new(stamps),
        })
    }

    /// The configuration a new connection's handshake uses.
    pub fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The principal name `ssl.principal.mapping.rules` give a client certificate's subject.
    pub fn principal_name(&self, subject: &str) -> Result<String, MappingError> {
        self.settings.principal_mapping.name(subject)
    }

    /// Rebuilds the configuration if a store file changed since the last build. Returns
    /// whether it did; on an error the configuration in use stays.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = stamps(&self.settings);
        let mut stamps = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
        if *stamps == now {
            return Ok(false);
        }
        // Noted before building, so a broken file is reported once, not every check.
        *stamps = now;
        let config = build(&self.settings)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        Ok(true)
    }

    /// Checks the store files every [`RELOAD_CHECK_INTERVAL`], forever.
    pub async fn run_reloads(self: Arc<Self>, listener: String) {
        let mut ticks = tokio::time::interval(RELOAD_CHECK_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.reload_if_changed() {
                Ok(true) => tracing::info!(%listener, "reloaded the TLS key and trust stores"),
                Ok(false) => {}
                Err(error) => tracing::warn!(
                    %listener,
                    %error,
                    "cannot reload the TLS stores; serving the previous ones"
                ),
            }
        }
    }
}

fn stamps(settings: &TlsSettings) -> Vec<FileStamp> {
    let keystore = match &settings.keystore {
        KeyStore::File(path) => Some(path),
        KeyStore::Inline { .. } => None,
    };
    let truststore = match &settings.truststore {
        Some(TrustStore::File(path)) => Some(path),
        _ => None,
    };
    keystore
        .into_iter()
        .chain(truststore)
        .map(|path| FileStamp::of(path))
        .collect()
}

fn build(settings: &TlsSettings) -> Result<ServerConfig, TlsError> {
    let provider = stores::provider();
    let (key, chain) = stores::key_and_chain(&settings.keystore)?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    let builder = match settings.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        auth => {
            let roots =
                stores::trusted_roots(settings.truststore.as_ref()).ok_or_else(|| {
                    TlsError::Verifier(
                        "ssl.client.auth asks for client certificates but no ssl.truststore is set"
                            .into(),
                    )
                })??;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match auth {
                ClientAuth::Requested => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|error| TlsError::Verifier(error.to_string()))?,
            )
        }
    };
    Ok(builder.with_single_cert(chain, key)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed key store for localhost, as one PEM file.
    fn keystore() -> String {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        format!(
            "{}{}",
            certified.signing_key.serialize_pem(),
            certified.cert.pem()
        )
    }

    fn settings(path: &Path) -> TlsSettings {
        TlsSettings {
            keystore: KeyStore::File(path.to_owned()),
            truststore: None,
            client_auth: ClientAuth::None,
            principal_mapping: Default::default(),
        }
    }

    #[test]
    fn a_changed_key_store_is_reloaded_and_a_broken_one_leaves_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.pem");
        std::fs::write(&path, keystore()).unwrap();
        let server = TlsServer::new(settings(&path)).unwrap();
        assert!(!server.reload_if_changed().unwrap());
        let before = server.config();

        // A different length is a change even within the file system's time granularity.
        std::fs::write(&path, format!("{}\n", keystore())).unwrap();
        assert!(server.reload_if_changed().unwrap());
        assert!(!Arc::ptr_eq(&before, &server.config()));

        let served = server.config();
        std::fs::write(&path, "not a key store").unwrap();
        assert!(server.reload_if_changed().is_err());
        assert!(Arc::ptr_eq(&served, &server.config()));
        // Reported once, not at every check.
        assert!(!server.reload_if_changed().unwrap());
    }

    #[test]
    fn missing_or_incomplete_stores_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsServer::new(settings(&dir.path().join("absent.pem")));
        assert!(matches!(missing, Err(TlsError::Read { .. })));
        let key_only = dir.path().join("key.pem");
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&key_only, certified.signing_key.serialize_pem()).unwrap();
        let error = TlsServer::new(settings(&key_only)).unwrap_err().to_string();
        assert!(error.contains("no certificate"), "{error}");
        let required = TlsSettings {
            client_auth: ClientAuth::Required,
            ..settings(&key_only)
        };
        assert!(TlsServer::new(required).is_err());
    }
}
