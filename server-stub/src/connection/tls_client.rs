//! TLS for the requests this server sends (webhook deliveries, proxied requests): rustls with
//! the ring provider and the platform's trust store, so a certificate the machine trusts is
//! trusted here and nothing else is.

use std::sync::Arc;

/// A client configuration that verifies servers against the platform's trust store.
pub fn platform_client_config() -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(Arc::clone(&provider))
        .map_err(|e| format!("the platform's trust store: {e}"))?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}
