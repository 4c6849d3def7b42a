//! Certificates for TLS tests: a test CA that signs broker certificates (valid for 127.0.0.1
//! and localhost) and client certificates, written as PEM files the broker and every client
//! read.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

/// A certificate authority whose files live in a directory of the test's.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
    name: String,
}

impl TestCa {
    /// A new CA named `name`; its certificate is written to `<dir>/<name>-ca.pem`.
    pub fn new(dir: &Path, name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(&format!("{name} test CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let ca = Self {
            issuer,
            dir: dir.to_owned(),
            name: name.to_owned(),
        };
        std::fs::write(ca.certificate(), ca.issuer.pem()).expect("write the CA certificate");
        ca
    }

    /// The CA's certificate (what clients and a broker checking client certificates trust).
    pub fn certificate(&self) -> PathBuf {
        self.dir.join(format!("{}-ca.pem", self.name))
    }

    /// A broker certificate for 127.0.0.1 and localhost, subject `CN=spool broker,O=spool
    /// tests`: one PEM file with the key and the certificate, as `ssl.keystore.location`
    /// takes it.
    pub fn broker_keystore(&self, stem: &str) -> PathBuf {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name("spool broker");
        params.subject_alt_names = vec![
            SanType::IpAddress("127.0.0.1".parse().expect("an address")),
            SanType::DnsName("localhost".try_into().expect("a name")),
        ];
        // Client authentication too: a broker presents it to the others as their client.
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let path = self.dir.join(format!("{stem}.pem"));
        self.write_keystore(params, &path);
        path
    }

    /// A client certificate for subject `CN=<common_name>,O=spool tests`: its PEM key store
    /// (key and certificate in one file, as Java's `ssl.keystore.location` takes it) and the
    /// certificate and key apart (as librdkafka takes them).
    pub fn client(&self, common_name: &str) -> ClientCertificate {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().expect("client key");
        let certificate = params
            .signed_by(&key, &self.issuer)
            .expect("client certificate");
        let files = ClientCertificate {
            keystore: self.dir.join(format!("{common_name}-keystore.pem")),
            certificate: self.dir.join(format!("{common_name}.crt")),
            key: self.dir.join(format!("{common_name}.key")),
        };
        std::fs::write(&files.certificate, certificate.pem()).expect("write");
        std::fs::write(&files.key, key.serialize_pem()).expect("write");
        std::fs::write(
            &files.keystore,
            format!("{}{}", key.serialize_pem(), certificate.pem()),
        )
        .expect("write");
        files
    }

    fn write_keystore(&self, params: CertificateParams, path: &Path) {
        let key = KeyPair::generate().expect("key");
        let certificate = params.signed_by(&key, &self.issuer).expect("certificate");
        // Written whole under another name, then renamed: a broker watching the file never
        // reads half of it.
        let partial = path.with_extension("partial");
        std::fs::write(
            &partial,
            format!("{}{}", key.serialize_pem(), certificate.pem()),
        )
        .expect("write the key store");
        std::fs::rename(&partial, path).expect("rename the key store");
    }
}

/// The files of a client certificate.
pub struct ClientCertificate {
    pub keystore: PathBuf,
    pub certificate: PathBuf,
    pub key: PathBuf,
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "spool tests");
    name.push(DnType::CommonName, common_name);
    name
}
