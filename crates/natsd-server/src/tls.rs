//! TLS for client connections with rustls: the `tls {}` settings, the server configuration
//! built from PEM files, and the handshake.
//!
//! NATS clients read the plaintext INFO first and then start TLS (unless `handshake_first`
//! is set, in which case TLS comes before the INFO). A client that sends plaintext to a
//! server that requires TLS fails the handshake and is closed, as with nats-server.
//!
//! rustls does not offer everything Go's TLS does. `cipher_suites` chooses among the TLS 1.2
//! suites rustls implements (ECDHE with AES-GCM or ChaCha20-Poly1305); the CBC, RC4, 3DES
//! and RSA-key-exchange suites Go knows are accepted in the config but never negotiated,
//! and, as in Go, TLS 1.3 suites are not configurable. `curve_preferences` orders X25519,
//! P-256 and P-384; P-521 and the ML-KEM hybrids are not in rustls's ring provider. TLS
//! 1.0/1.1 are never negotiated.

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
/// nats-server's wait for a ClientHello under `handshake_first: auto`.
pub const DEFAULT_HANDSHAKE_FIRST_FALLBACK: Duration = Duration::from_millis(50);

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
    /// With `handshake_first`: how long to wait for a ClientHello before greeting in
    /// plaintext and upgrading as usual, so TLS-first and ordinary TLS clients share a port.
    pub handshake_first_fallback: Option<Duration>,
    /// Lowest TLS version; rustls supports 1.2 and 1.3.
    pub min_version_13: bool,
    /// Hex SHA-256 digests of the client certificates' public keys (SubjectPublicKeyInfo)
    /// that may connect; empty allows any.
    pub pinned_certs: Vec<String>,
    /// TLS 1.2 suites by Go's names, in preference order; empty keeps rustls's defaults.
    pub cipher_suites: Vec<String>,
    /// Key exchange groups by Go's names, in preference order; empty keeps the defaults.
    pub curve_preferences: Vec<String>,
}

/// The TLS 1.2 cipher suites Go's crypto/tls knows, and whether it counts them insecure.
const GO_CIPHER_SUITES: &[(&str, bool)] = &[
    ("TLS_AES_128_GCM_SHA256", false),
    ("TLS_AES_256_GCM_SHA384", false),
    ("TLS_CHACHA20_POLY1305_SHA256", false),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", false),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", false),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", false),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", false),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", false),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", false),
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", false),
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", false),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", false),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", false),
    ("TLS_RSA_WITH_RC4_128_SHA", true),
    ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", true),
    ("TLS_RSA_WITH_AES_128_CBC_SHA", true),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", true),
    ("TLS_RSA_WITH_AES_128_CBC_SHA256", true),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", true),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", true),
    ("TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", true),
    ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", true),
    ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", true),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", true),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", true),
];

/// The curve names Go accepts in `curve_preferences`.
const GO_CURVES: &[&str] = &[
    "SecP384r1MLKEM1024",
    "SecP256r1MLKEM768",
    "X25519MLKEM768",
    "X25519",
    "CurveP256",
    "CurveP384",
    "CurveP521",
];

/// Whether Go knows the suite: `Some(insecure)`, or `None`.
pub fn go_cipher_suite(name: &str) -> Option<bool> {
    GO_CIPHER_SUITES
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, insecure)| *insecure)
}

pub fn is_go_curve(name: &str) -> bool {
    GO_CURVES.contains(&name)
}

/// rustls's TLS 1.2 suite for a Go name (Go also spells ChaCha20 without `_SHA256`).
fn rustls_suite(name: &str) -> Option<rustls::SupportedCipherSuite> {
    let wanted = match name {
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        other => other,
    };
    rustls::crypto::ring::DEFAULT_CIPHER_SUITES
        .iter()
        .find(|suite| {
            suite.version() == &rustls::version::TLS12 && format!("{:?}", suite.suite()) == wanted
        })
        .copied()
}

fn rustls_group(name: &str) -> Option<&'static dyn rustls::crypto::SupportedKxGroup> {
    use rustls::crypto::ring::kx_group;
    match name {
        "X25519" => Some(kx_group::X25519),
        "CurveP256" => Some(kx_group::SECP256R1),
        "CurveP384" => Some(kx_group::SECP384R1),
        _ => None,
    }
}

/// Names of the config that rustls cannot honour, for the log.
pub fn unsupported_choices(opts: &TlsOptions) -> Vec<String> {
    let suites = opts
        .cipher_suites
        .iter()
        .filter(|name| {
            rustls_suite(name).is_none()
                && !name.starts_with("TLS_AES")
                && !name.starts_with("TLS_CHACHA")
        })
        .map(|name| format!("tls.cipher_suites {name}"));
    let curves = opts
        .curve_preferences
        .iter()
        .filter(|name| rustls_group(name).is_none())
        .map(|name| format!("tls.curve_preferences {name}"));
    suites.chain(curves).collect()
}

/// The ring provider narrowed to the configured suites and groups, in their order. TLS 1.3
/// suites always stay, as Go does not let them be configured.
fn provider(opts: &TlsOptions) -> Result<rustls::crypto::CryptoProvider, TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if !opts.cipher_suites.is_empty() {
        let tls13 = provider
            .cipher_suites
            .iter()
            .filter(|suite| suite.version() == &rustls::version::TLS13)
            .copied();
        let chosen: Vec<_> = opts
            .cipher_suites
            .iter()
            .filter_map(|name| rustls_suite(name))
            .collect();
        provider.cipher_suites = chosen.into_iter().chain(tls13).collect();
    }
    if !opts.curve_preferences.is_empty() {
        let groups: Vec<_> = opts
            .curve_preferences
            .iter()
            .filter_map(|name| rustls_group(name))
            .collect();
        if groups.is_empty() {
            return Err(TlsError::Config(
                "none of the curve_preferences is supported by rustls (X25519, CurveP256, CurveP384 are)".to_owned(),
            ));
        }
        provider.kx_groups = groups;
    }
    Ok(provider)
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
            handshake_first_fallback: None,
            min_version_13: false,
            pinned_certs: Vec::new(),
            cipher_suites: Vec::new(),
            curve_preferences: Vec::new(),
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
pub struct Acceptor {
    acceptor: TlsAcceptor,
    /// The trusted roots client certificates are verified against; empty when they are
    /// not asked for.
    roots: Vec<CertificateDer<'static>>,
}

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
        self.acceptor.accept(stream).await
    }

    /// What the authorization callout is told of a client's TLS session: the version,
    /// the cipher suite, and the client's certificates, as the chain that verified them
    /// (ending in the trusted root) when they were verified.
    pub fn client_tls(&self, session: &rustls::ServerConnection) -> natsd_auth::callout::ClientTls {
        use natsd_auth::callout::pem_certificate;
        let version = match session.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "1.2",
            _ => "",
        };
        // rustls spells TLS 1.3 suites TLS13_*; their IANA names, which Go uses, are TLS_*.
        let cipher = session
            .negotiated_cipher_suite()
            .and_then(|suite| suite.suite().as_str())
            .map(|name| match name.strip_prefix("TLS13_") {
                Some(rest) => format!("TLS_{rest}"),
                None => name.to_owned(),
            })
            .unwrap_or_default();
        let presented: Vec<&[u8]> = session
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|cert| cert.as_ref())
            .collect();
        let mut tls = natsd_auth::callout::ClientTls {
            version: version.to_owned(),
            cipher,
            ..Default::default()
        };
        if self.roots.is_empty() || presented.is_empty() {
            tls.certs = presented.into_iter().map(pem_certificate).collect();
            return tls;
        }
        let mut chain: Vec<&[u8]> = presented;
        if let Some(root) = chain
            .last()
            .and_then(|last| issuer_among(last, &self.roots))
        {
            chain.push(root);
        }
        tls.verified_chains = vec![chain.into_iter().map(pem_certificate).collect()];
        tls
    }
}

/// The certificate among `roots` that issued `cert`, unless `cert` issued itself.
fn issuer_among<'a>(cert: &[u8], roots: &'a [CertificateDer<'static>]) -> Option<&'a [u8]> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert).ok()?;
    let issuer = cert.issuer().as_raw();
    if issuer == cert.subject().as_raw() {
        return None;
    }
    roots.iter().map(|root| root.as_ref()).find(|root| {
        x509_parser::parse_x509_certificate(root)
            .is_ok_and(|(_, root)| root.subject().as_raw() == issuer)
    })
}

/// The acceptor for `opts`: certificate and key, and client verification with `ca_file`.
pub fn acceptor(opts: &TlsOptions) -> Result<Acceptor, TlsError> {
    let certs = certificates(&opts.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&opts.key_file)
        .map_err(|e| file_error("key", &opts.key_file, e))?;
    let provider = Arc::new(provider(opts)?);
    let versions: &[&rustls::SupportedProtocolVersion] = if opts.min_version_13 {
        &[&rustls::version::TLS13]
    } else {
        rustls::DEFAULT_VERSIONS
    };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let mut roots = Vec::new();
    let builder = if opts.verify || opts.verify_and_map {
        let ca_file = opts
            .ca_file
            .as_ref()
            .ok_or_else(|| TlsError::Config("verify needs a ca_file".to_owned()))?;
        let mut store = RootCertStore::empty();
        for cert in certificates(ca_file)? {
            store
                .add(cert.clone())
                .map_err(|e| file_error("CA", ca_file, e))?;
            roots.push(cert);
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider)
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(Acceptor {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        roots,
    })
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

/// The hex SHA-256 of a certificate's SubjectPublicKeyInfo, as `pinned_certs` lists it.
pub fn public_key_digest(der: &[u8]) -> Option<String> {
    use sha2::{Digest, Sha256};
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let digest = Sha256::digest(cert.tbs_certificate.subject_pki.raw);
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether a client whose certificate key has `digest` passes `pinned_certs` (anyone does
/// when none are listed; a client without a certificate does not when some are).
pub fn pinned(digest: Option<&str>, pins: &[String]) -> bool {
    pins.is_empty()
        || digest.is_some_and(|digest| pins.iter().any(|pin| pin.eq_ignore_ascii_case(digest)))
}
