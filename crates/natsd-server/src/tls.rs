//! TLS for client connections with rustls: the `tls {}` settings, the server configuration
//! built from PEM files, and the handshake.
//!
//! NATS clients read the plaintext INFO first and then start TLS (unless `handshake_first`
//! is set, in which case TLS comes before the INFO). A client that sends plaintext to a
//! server that requires TLS fails the handshake and is closed, as with nats-server.
//!
//! rustls does not offer everything Go's TLS does: `cipher_suites` and
//! `curve_preferences` are accepted but rustls's own safe defaults are used, and TLS 1.0/1.1
//! are never negotiated.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use thiserror::Error;
use tokio_rustls::TlsAcceptor;

/// nats-server's default TLS handshake timeout.
pub const DEFAULT_TLS_TIMEOUT: Duration = Duration::from_secs(2);

/// The `tls {}` block (and the `--tls*` flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub ca_file: Option<PathBuf>,
    /// Require and verify client certificates against `ca_file`.
    pub verify: bool,
    /// Also take the user from the client certificate.
    pub verify_and_map: bool,
    pub timeout: Duration,
    /// TLS before the INFO, for clients that ask for it.
    pub handshake_first: bool,
    /// Lowest TLS version; rustls supports 1.2 and 1.3.
    pub min_version_13: bool,
    /// Hex SHA-256 digests of the client certificates' public keys (SubjectPublicKeyInfo)
    /// that may connect; empty allows any.
    pub pinned_certs: Vec<String>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            ca_file: None,
            verify: false,
            verify_and_map: false,
            timeout: DEFAULT_TLS_TIMEOUT,
            handshake_first: false,
            min_version_13: false,
            pinned_certs: Vec::new(),
        }
    }
}

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("error opening {what} file {path}: {reason}")]
    File {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("no certificate in {0}")]
    NoCertificate(String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error("certificate", path, e))?
        .collect();
    let certs = certs.map_err(|e| file_error("certificate", path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.display().to_string()));
    }
    Ok(certs)
}

fn file_error(what: &'static str, path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        what,
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Accepts TLS connections with one server configuration.
#[derive(Clone)]
pub struct Acceptor(TlsAcceptor);

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Acceptor")
    }
}

impl Acceptor {
    pub async fn accept<IO>(
        &self,
        stream: IO,
    ) -> std::io::Result<tokio_rustls::server::TlsStream<IO>>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        self.0.accept(stream).await
    }
}

/// The acceptor for `opts`: certificate and key, and client verification with `ca_file`.
pub fn acceptor(opts: &TlsOptions) -> Result<Acceptor, TlsError> {
    let certs = certificates(&opts.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&opts.key_file)
        .map_err(|e| file_error("key", &opts.key_file, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if opts.min_version_13 {
        &[&rustls::version::TLS13]
    } else {
        rustls::DEFAULT_VERSIONS
    };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = if opts.verify || opts.verify_and_map {
        let ca_file = opts
            .ca_file
            .as_ref()
            .ok_or_else(|| TlsError::Config("verify needs a ca_file".to_owned()))?;
        let mut roots = RootCertStore::empty();
        for cert in certificates(ca_file)? {
            roots.add(cert).map_err(|e| file_error("CA", ca_file, e))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(Acceptor(TlsAcceptor::from(Arc::new(config))))
}

/// Whether the first byte a client sent starts a TLS handshake record.
pub fn starts_handshake(first: u8) -> bool {
    first == 0x16
}

/// The names a client certificate offers for `verify_and_map`, in nats-server's order:
/// email addresses, DNS names and URIs from the subject alternative names, then the subject
/// as an RFC 2253 string (`CN=svc,O=acme`).
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for kind in 0..3 {
            for name in &san.value.general_names {
                match (kind, name) {
                    (0, GeneralName::RFC822Name(email)) => names.push((*email).to_owned()),
                    (1, GeneralName::DNSName(dns)) => names.push((*dns).to_owned()),
                    (2, GeneralName::URI(uri)) => names.push((*uri).to_owned()),
                    _ => {}
                }
            }
        }
    }
    let mut parts = Vec::new();
    for rdn in cert
        .subject()
        .iter_rdn()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let attributes: Vec<String> = rdn
            .iter()
            .map(|attr| {
                let oid = attr.attr_type().to_id_string();
                let key = match oid.as_str() {
                    "2.5.4.3" => "CN".to_owned(),
                    "2.5.4.10" => "O".to_owned(),
                    "2.5.4.11" => "OU".to_owned(),
                    "2.5.4.6" => "C".to_owned(),
                    "2.5.4.7" => "L".to_owned(),
                    "2.5.4.8" => "ST".to_owned(),
                    "2.5.4.9" => "STREET".to_owned(),
                    "2.5.4.17" => "POSTALCODE".to_owned(),
                    "2.5.4.5" => "SERIALNUMBER".to_owned(),
                    "0.9.2342.19200300.100.1.25" => "DC".to_owned(),
                    other => other.to_owned(),
                };
                format!("{key}={}", attr.as_str().unwrap_or_default())
            })
            .collect();
        parts.push(attributes.join("+"));
    }
    if !parts.is_empty() {
        names.push(parts.join(","));
    }
    names
}

/// Whether a client certificate passes `pinned_certs`: the hex SHA-256 of its
/// SubjectPublicKeyInfo must be listed (any certificate passes when none are).
pub fn pinned(der: Option<&[u8]>, pins: &[String]) -> bool {
    use sha2::{Digest, Sha256};
    if pins.is_empty() {
        return true;
    }
    let Some(Ok((_, cert))) = der.map(x509_parser::parse_x509_certificate) else {
        return false;
    };
    let digest = Sha256::digest(cert.tbs_certificate.subject_pki.raw);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    pins.iter().any(|pin| pin.eq_ignore_ascii_case(&hex))
}
