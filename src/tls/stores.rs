//! Reading PEM key and trust stores into what rustls takes, for either side of a connection.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::crypto::{ring, CryptoProvider};
use tokio_rustls::rustls::RootCertStore;

use super::{KeyStore, TlsError, TrustStore};

/// The cryptography both sides use. ring builds with only a C compiler (aws-lc-rs needs
/// more); rustls deprecates it for lacking post-quantum key exchange, which Kafka's clients
/// do not offer either.
pub(super) fn provider() -> Arc<CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(ring::default_provider())
}

/// The private key and certificate chain a key store holds.
pub(super) fn key_and_chain(
    keystore: &KeyStore,
) -> Result<(PrivateKeyDer<'static>, Vec<CertificateDer<'static>>), TlsError> {
    match keystore {
        KeyStore::File(path) => {
            let pem = read(path)?;
            let what = path.display().to_string();
            Ok((private_key(&pem, &what)?, certificates(&pem, &what)?))
        }
        KeyStore::Inline { key, chain } => Ok((
            private_key(key.as_bytes(), "ssl.keystore.key")?,
            certificates(chain.as_bytes(), "ssl.keystore.certificate.chain")?,
        )),
    }
}

/// The certificates a trust store holds; `None` without a trust store.
pub(super) fn trusted_roots(
    truststore: Option<&TrustStore>,
) -> Option<Result<RootCertStore, TlsError>> {
    let (pem, what) = match truststore? {
        TrustStore::File(path) => match read(path) {
            Ok(pem) => (pem, path.display().to_string()),
            Err(error) => return Some(Err(error)),
        },
        TrustStore::Inline(text) => (
            text.as_bytes().to_vec(),
            "ssl.truststore.certificates".to_owned(),
        ),
    };
    let roots = certificates(&pem, &what).and_then(|certificates| {
        let mut roots = RootCertStore::empty();
        for certificate in certificates {
            roots.add(certificate).map_err(|error| TlsError::Pem {
                what: what.clone(),
                message: error.to_string(),
            })?;
        }
        Ok(roots)
    });
    Some(roots)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn private_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|error| TlsError::Pem {
        what: what.to_owned(),
        message: format!("no unencrypted private key ({error})"),
    })
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Pem {
            what: what.to_owned(),
            message: error.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(TlsError::Pem {
            what: what.to_owned(),
            message: "no certificate".into(),
        });
    }
    Ok(certificates)
}
