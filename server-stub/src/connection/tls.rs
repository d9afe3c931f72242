//! HTTPS for the stub: rustls (ring provider), a certificate from PEM files or a self-signed one
//! kept in the data directory, and a configuration that can change without a restart.
//!
//! The acceptor takes the current `ServerConfig` from an `ArcSwap` for every new connection; a
//! reload (SIGHUP) builds a new one and swaps it in, and a certificate that does not load is
//! refused with the old one kept. Tokens are bearer credentials: over the network they must
//! never travel in clear, so a non-loopback bind needs TLS (or `--insecure-http`, said aloud).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files given by the operator (a chain, leaf first, and its key); read again on reload.
    Files { cert: PathBuf, key: PathBuf },
    /// A certificate made here for `names`, kept in the data directory (`tls/`, 0600).
    SelfSigned { dir: PathBuf, names: Vec<String> },
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { path: PathBuf },
    #[error("{path}: {detail}")]
    Pem { path: PathBuf, detail: String },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What the server tells the operator about its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// SHA-256 of the leaf certificate (DER), as `AB:CD:…`: what a client pins.
    pub fingerprint: String,
    /// The names (DNS and IP) it is valid for.
    pub names: Vec<String>,
    /// RFC 3339.
    pub not_after: String,
    /// Where it is kept (the self-signed one) or read from.
    pub path: PathBuf,
}

pub struct Tls {
    source: TlsSource,
    config: ArcSwap<ServerConfig>,
    info: ArcSwap<CertInfo>,
}

/// The SHA-256 of a certificate, as `AB:CD:…` (what browsers and `openssl x509 -fingerprint
/// -sha256` show).
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The names a self-signed certificate is made for: this machine's loopback names, the bound
/// address when it is a specific one, the host name, and any the operator adds.
pub fn self_signed_names(bind: IpAddr, extra: &[String]) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !bind.is_unspecified() && !bind.is_loopback() {
        names.push(bind.to_string());
    } else if bind.is_unspecified()
        && let Some(ip) = primary_address(bind)
    {
        // Bound to every address: at least the one other machines most likely use.
        names.push(ip.to_string());
    }
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && host != "localhost" {
            names.push(host.to_owned());
        }
    }
    names.extend(extra.iter().cloned());
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(n.to_lowercase()));
    names
}

/// The address this machine sends from towards the outside world (no packet is sent: a UDP
/// socket is only connected, which picks the route).
fn primary_address(family: IpAddr) -> Option<IpAddr> {
    let (bind, probe) = if family.is_ipv4() {
        ("0.0.0.0:0", "192.0.2.1:9")
    } else {
        ("[::]:0", "[2001:db8::1]:9")
    };
    let socket = std::net::UdpSocket::bind(bind).ok()?;
    socket.connect(probe).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

impl Tls {
    pub fn load(source: TlsSource) -> Result<Self, TlsError> {
        let (config, info) = build(&source)?;
        Ok(Self {
            source,
            config: ArcSwap::from_pointee(config),
            info: ArcSwap::from_pointee(info),
        })
    }

    /// Reads the certificate again (SIGHUP). On failure the running one stays.
    pub fn reload(&self) -> Result<CertInfo, TlsError> {
        let (config, info) = build(&self.source)?;
        self.config.store(Arc::new(config));
        self.info.store(Arc::new(info.clone()));
        Ok(info)
    }

    pub fn info(&self) -> CertInfo {
        CertInfo::clone(&self.info.load())
    }

    /// An acceptor with the configuration in force now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.load_full())
    }
}

fn build(source: &TlsSource) -> Result<(ServerConfig, CertInfo), TlsError> {
    let (chain, key, path) = match source {
        TlsSource::Files { cert, key } => (read_chain(cert)?, read_key(key)?, cert.clone()),
        TlsSource::SelfSigned { dir, names } => self_signed(dir, names)?,
    };
    let leaf = chain
        .first()
        .ok_or_else(|| TlsError::NoCertificate { path: path.clone() })?;
    let info = describe(leaf, &path);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    // HTTP/2 where the client offers it (hyper-util serves both), else HTTP/1.1.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((config, info))
}

fn describe(leaf: &CertificateDer<'_>, path: &Path) -> CertInfo {
    let (names, not_after) = match x509_parser::parse_x509_certificate(leaf) {
        Ok((_, cert)) => {
            let names = cert
                .subject_alternative_name()
                .ok()
                .flatten()
                .map(|san| {
                    san.value
                        .general_names
                        .iter()
                        .map(|n| match n {
                            x509_parser::extensions::GeneralName::DNSName(d) => (*d).to_owned(),
                            x509_parser::extensions::GeneralName::IPAddress(ip) => ip_text(ip),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let not_after = cert
                .validity()
                .not_after
                .to_datetime()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            (names, not_after)
        }
        Err(_) => (Vec::new(), String::new()),
    };
    CertInfo {
        fingerprint: fingerprint(leaf),
        names,
        not_after,
        path: path.to_path_buf(),
    }
}

fn ip_text(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .map_or_else(|_| String::new(), |b| IpAddr::from(b).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .map_or_else(|_| String::new(), |b| IpAddr::from(b).to_string()),
        _ => String::new(),
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let chain = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|_| TlsError::NoKey {
        path: path.to_path_buf(),
    })
}

const SELF_SIGNED_CERT: &str = "self-signed.crt";
const SELF_SIGNED_KEY: &str = "self-signed.key";
/// Two years; made anew once it expires within 30 days (clients then accept the new one).
const SELF_SIGNED_DAYS: i64 = 730;
const RENEW_WITHIN_DAYS: i64 = 30;

/// The self-signed certificate kept in `dir`: reused while it is valid for another 30 days and
/// covers `names`, made anew otherwise.
fn self_signed(
    dir: &Path,
    names: &[String],
) -> Result<
    (
        Vec<CertificateDer<'static>>,
        PrivateKeyDer<'static>,
        PathBuf,
    ),
    TlsError,
> {
    let cert_path = dir.join(SELF_SIGNED_CERT);
    let key_path = dir.join(SELF_SIGNED_KEY);
    if let (Ok(chain), Ok(key)) = (read_chain(&cert_path), read_key(&key_path))
        && chain.first().is_some_and(|leaf| still_fits(leaf, names))
    {
        return Ok((chain, key, cert_path));
    }
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(SELF_SIGNED_DAYS);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tokenauth-stub (self-signed)");
    let key_pair = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key_pair)?;
    tokenauth_core::private_fs::create_dir(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    write_private(&key_path, key_pair.serialize_pem().as_bytes())?;
    write_private(&cert_path, cert.pem().as_bytes())?;
    let key = PrivateKeyDer::from_pem_slice(key_pair.serialize_pem().as_bytes()).map_err(|_| {
        TlsError::NoKey {
            path: key_path.clone(),
        }
    })?;
    Ok((vec![cert.der().clone()], key, cert_path))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write as _;
    let fail = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = tokenauth_core::private_fs::PrivateFile::create(path).map_err(fail)?;
    f.file().write_all(bytes).map_err(fail)?;
    f.commit().map_err(fail)
}

/// Whether a kept self-signed certificate still serves: valid beyond the renewal window, and
/// made for every name asked for now.
fn still_fits(leaf: &CertificateDer<'_>, names: &[String]) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else {
        return false;
    };
    let renew_at = time::OffsetDateTime::now_utc() + time::Duration::days(RENEW_WITHIN_DAYS);
    if cert.validity().not_after.to_datetime() < renew_at {
        return false;
    }
    let have = describe(leaf, Path::new("")).names;
    names
        .iter()
        .all(|n| have.iter().any(|h| h.eq_ignore_ascii_case(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_reads_as_openssl_prints_it() {
        let f = fingerprint(b"abc");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(f.starts_with("BA:78:16:BF"));
    }

    #[test]
    fn a_self_signed_certificate_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let tls_dir = dir.path().join("tls");
        let names = self_signed_names("127.0.0.1".parse().unwrap(), &["stub.test".into()]);
        let source = TlsSource::SelfSigned {
            dir: tls_dir.clone(),
            names: names.clone(),
        };
        let first = Tls::load(source.clone()).unwrap().info();
        assert!(first.names.iter().any(|n| n == "127.0.0.1"), "{first:?}");
        assert!(first.names.iter().any(|n| n == "stub.test"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&tls_dir.join(SELF_SIGNED_KEY)), 0o600);
            assert_eq!(mode(&tls_dir), 0o700);
        }
        let again = Tls::load(source).unwrap().info();
        assert_eq!(first.fingerprint, again.fingerprint, "kept, not made anew");
        // A name it was not made for: made anew.
        let more = TlsSource::SelfSigned {
            dir: tls_dir,
            names: vec!["other.test".into()],
        };
        assert_ne!(
            Tls::load(more).unwrap().info().fingerprint,
            first.fingerprint
        );
    }

    #[test]
    fn a_bad_certificate_file_is_a_clear_error_and_a_reload_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("k.pem");
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        let tls = Tls::load(TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        })
        .unwrap();
        let before = tls.info().fingerprint;
        std::fs::write(&cert, "not a certificate").unwrap();
        let err = tls.reload().unwrap_err();
        assert!(err.to_string().contains("c.pem"), "{err}");
        assert_eq!(tls.info().fingerprint, before);
        std::fs::write(&key, "").unwrap();
        assert!(matches!(
            Tls::load(TlsSource::Files {
                cert: key.clone(),
                key
            }),
            Err(TlsError::NoCertificate { .. })
        ));
    }
}
