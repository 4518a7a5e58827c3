//! Optional TLS for the HTTP and TCP listeners (`kassa serve --tls-cert --tls-key`): rustls with
//! ring as its crypto provider, TLS 1.2 and 1.3, no client certificates (callers authenticate
//! with API keys inside the encrypted stream).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The server configuration from a PEM certificate chain (leaf first) and a PEM private key.
/// The key file must be readable by its owner only, like the data directory's secret key.
pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    check_private(key_path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .and_then(|certs| certs.collect())
        .map_err(|error| format!("TLS certificate {}: {error}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!("TLS certificate {}: no certificate in it", cert_path.display()));
    }
    let key =
        PrivateKeyDer::from_pem_file(key_path).map_err(|error| format!("TLS key {}: {error}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS: {error}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|error| format!("TLS certificate and key do not form a valid pair: {error}"))?;
    Ok(Arc::new(config))
}

/// Refuses a key file that its group or others may read.
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode =
        std::fs::metadata(path).map_err(|error| format!("TLS key {}: {error}", path.display()))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "TLS key {} may be read by others (mode {:o}); make it readable by its owner only: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        ));
    }
    Ok(())
}
