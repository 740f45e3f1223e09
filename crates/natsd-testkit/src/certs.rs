//! TLS fixtures made fresh for each test run with rcgen: a CA, a server certificate for
//! `localhost` and `127.0.0.1`, and a client certificate, as PEM files in a directory.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

/// Paths of the PEM files written by [`TestCerts::generate`].
#[derive(Debug, Clone)]
pub struct TestCerts {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// The client certificate's common name.
    pub client_name: String,
    /// Hex SHA-256 of the client certificate's SubjectPublicKeyInfo, for `pinned_certs`.
    pub client_pin: String,
}

impl TestCerts {
    pub fn generate(dir: &Path) -> anyhow::Result<TestCerts> {
        std::fs::create_dir_all(dir)?;
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "natsd test CA");
        let ca = ca_params.self_signed(&ca_key)?;

        let server_key = KeyPair::generate()?;
        let mut server_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        server_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = server_params.signed_by(&server_key, &ca, &ca_key)?;

        let client_name = "natsd-test-client".to_owned();
        let client_key = KeyPair::generate()?;
        let mut client_params = CertificateParams::new(Vec::<String>::new())?;
        client_params
            .distinguished_name
            .push(DnType::CommonName, client_name.clone());
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = client_params.signed_by(&client_key, &ca, &ca_key)?;
        let client_pin = {
            use sha2::{Digest, Sha256};
            Sha256::digest(client_key.public_key_der())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };

        let write = |name: &str, pem: String| -> anyhow::Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, pem).with_context(|| path.display().to_string())?;
            Ok(path)
        };
        Ok(TestCerts {
            ca: write("ca.pem", ca.pem())?,
            server_cert: write("server-cert.pem", server.pem())?,
            server_key: write("server-key.pem", server_key.serialize_pem())?,
            client_cert: write("client-cert.pem", client.pem())?,
            client_key: write("client-key.pem", client_key.serialize_pem())?,
            client_name,
            client_pin,
        })
    }
}
