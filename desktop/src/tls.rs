//! How the app (and the `tokenauth` command line) trusts an HTTPS server: the platform's trust
//! store (plus `--ca-file`), or — for a self-signed stub — the one certificate whose SHA-256
//! the user accepted, pinned per server (trust on first use, as ssh does with host keys).
//!
//! Pinning is exact: a changed certificate is refused, never silently accepted, and the
//! refusal shows both fingerprints. The handshake's signatures are still checked against the
//! pinned certificate's key, and an expired certificate is refused even when pinned.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, Error, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::failure::Failure;

/// The crypto of every connection: rustls with ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How a server's certificate is judged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Trust {
    /// The platform's trust store, and the certificates of a `--ca-file` (PEM).
    #[default]
    Platform,
    PlatformAnd(Vec<Vec<u8>>),
    /// Exactly this certificate (its SHA-256, as `AB:CD:…`).
    Pinned(String),
}

/// `AB:CD:…`: the SHA-256 of a certificate as the stub prints it and openssl shows it.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Reads a `--ca-file`: the DER of every certificate in it.
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<Vec<u8>>, Failure> {
    let pem = std::fs::read(path)
        .map_err(|e| Failure::new(format!("cannot read the CA file {}: {e}", path.display())))?;
    let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::new(format!("{} is not PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Failure::new(format!(
            "{} holds no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The TLS configuration for `trust`.
pub fn client_config(trust: &Trust) -> Result<ClientConfig, Failure> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::new(format!("TLS: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match trust {
        Trust::Platform => Arc::new(
            rustls_platform_verifier::Verifier::new(provider)
                .map_err(|e| Failure::new(format!("the platform's trust store: {e}")))?,
        ),
        Trust::PlatformAnd(extra) => Arc::new(
            rustls_platform_verifier::Verifier::new_with_extra_roots(
                extra.iter().map(|c| CertificateDer::from(c.clone())),
                provider,
            )
            .map_err(|e| Failure::new(format!("the platform's trust store: {e}")))?,
        ),
        Trust::Pinned(fp) => Arc::new(Pinned {
            fingerprint: fp.clone(),
            provider,
        }),
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// Accepts exactly one certificate, by its fingerprint.
#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

/// Why a pinned server was refused: it showed another certificate.
#[derive(Debug)]
pub struct PinMismatch {
    pub pinned: String,
    pub presented: String,
}

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server's certificate changed: accepted {}, now {}",
            self.pinned, self.presented
        )
    }
}

impl std::error::Error for PinMismatch {}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let presented = fingerprint(end_entity);
        if presented != self.fingerprint {
            return Err(Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(PinMismatch {
                    pinned: self.fingerprint.clone(),
                    presented,
                })),
            )));
        }
        // The name is what the user accepted with the fingerprint; the dates still count.
        if let Ok((_, cert)) = x509_parser::parse_x509_certificate(end_entity) {
            let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
            let validity = cert.validity();
            if now > validity.not_after.timestamp() {
                return Err(Error::InvalidCertificate(CertificateError::Expired));
            }
            if now < validity.not_before.timestamp() {
                return Err(Error::InvalidCertificate(CertificateError::NotValidYet));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What a server presented, for the user to decide on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    pub fingerprint: String,
    /// Issued by itself: a certificate only trust on first use can accept.
    pub self_signed: bool,
    pub names: Vec<String>,
    /// RFC 3339, or empty when unreadable.
    pub not_after: String,
    pub expired: bool,
}

/// Records the certificate a server presents and refuses it: a handshake only to see it.
#[derive(Debug)]
struct Recorder {
    seen: Mutex<Option<Vec<u8>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.to_vec());
        }
        Err(Error::General("only looking".into()))
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(Error::General("only looking".into()))
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(Error::General("only looking".into()))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Connects to an `https://` URL only to see its certificate (nothing is sent over it).
pub async fn probe(url: &str) -> Result<Presented, Failure> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| Failure::new(format!("'{url}' is not a URL: {e}")))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| Failure::new(format!("'{url}' names no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let provider = provider();
    let recorder = Arc::new(Recorder {
        seen: Mutex::new(None),
        provider: Arc::clone(&provider),
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::new(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::clone(&recorder) as Arc<dyn ServerCertVerifier>)
        .with_no_client_auth();
    let name = ServerName::try_from(host.clone())
        .map_err(|_| Failure::new(format!("'{host}' is not a host name")))?;
    let tcp = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| Failure::new(format!("{host}:{port} did not answer in time")))?
    .map_err(|e| Failure::new(format!("cannot reach {host}:{port}: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let _ = tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp)).await;
    let der = recorder
        .seen
        .lock()
        .ok()
        .and_then(|mut s| s.take())
        .ok_or_else(|| Failure::new(format!("{host}:{port} presented no certificate")))?;
    Ok(describe(&der))
}

fn describe(der: &[u8]) -> Presented {
    let mut p = Presented {
        fingerprint: fingerprint(der),
        self_signed: false,
        names: Vec::new(),
        not_after: String::new(),
        expired: false,
    };
    if let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) {
        p.self_signed = cert.subject() == cert.issuer();
        let validity = cert.validity();
        p.expired = !validity.is_valid();
        p.not_after = validity
            .not_after
            .to_datetime()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            p.names = san
                .value
                .general_names
                .iter()
                .map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => (*d).to_owned(),
                    x509_parser::extensions::GeneralName::IPAddress(ip) => match ip.len() {
                        4 => <[u8; 4]>::try_from(*ip)
                            .map(|b| std::net::IpAddr::from(b).to_string())
                            .unwrap_or_default(),
                        16 => <[u8; 16]>::try_from(*ip)
                            .map(|b| std::net::IpAddr::from(b).to_string())
                            .unwrap_or_default(),
                        _ => String::new(),
                    },
                    other => other.to_string(),
                })
                .collect();
        }
    }
    p
}

/// What went wrong with a server's certificate, if that is what failed (walks the error's
/// causes down to rustls's own).
pub fn certificate_problem(e: &(dyn std::error::Error + 'static)) -> Option<CertProblem> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(Error::InvalidCertificate(ce)) = c.downcast_ref::<Error>() {
            return Some(match ce {
                CertificateError::Other(other) => match other.0.downcast_ref::<PinMismatch>() {
                    Some(m) => CertProblem::Changed {
                        pinned: m.pinned.clone(),
                        presented: m.presented.clone(),
                    },
                    None => CertProblem::Untrusted(format!("{ce:?}")),
                },
                CertificateError::Expired => CertProblem::Expired,
                other => CertProblem::Untrusted(format!("{other:?}")),
            });
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(found) = certificate_problem(inner)
        {
            return Some(found);
        }
        cause = c.source();
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertProblem {
    /// Pinned, and the server showed another certificate.
    Changed {
        pinned: String,
        presented: String,
    },
    Expired,
    /// Not signed by anything trusted here, or not for this name (rustls's words).
    Untrusted(String),
}
