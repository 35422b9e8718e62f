//! The TLS settings: rustls with the ring provider, TLS 1.2 and 1.3,
//! HTTP/1.1 by ALPN, and the platform's certificate verifier (on Linux the
//! system's root store, or `SSL_CERT_FILE` / `SSL_CERT_DIR` when set),
//! optionally augmented with the certificates of a CA bundle (a PEM file:
//! the private root of a TLS-intercepting proxy, say). There is no way to
//! turn certificate checks off.
//!
//! Building a verifier reads and parses the whole root store (7-18 ms), so
//! the settings are built once per distinct bundle and shared: every client
//! without a bundle shares one, every client with the same bundle file
//! (path, size and modification time: a rewritten file is read again)
//! another; a cached bundle is neither read nor parsed again.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::error::{Error, ErrorKind, Result};

/// Largest CA bundle read (the usual system bundle is about 200 KiB).
pub const MAX_BUNDLE_LEN: u64 = 16 * 1024 * 1024;

/// A bundle file as last seen: path, size, modification time.
type BundleKey = (std::path::PathBuf, u64, Option<std::time::SystemTime>);

/// Settings already built, by bundle file (`None`: no bundle).
type Built = HashMap<Option<BundleKey>, std::result::Result<rustls::ClientConfig, String>>;

fn built() -> std::sync::MutexGuard<'static, Built> {
    static BUILT: OnceLock<Mutex<Built>> = OnceLock::new();
    BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn bundle_key(path: &Path) -> Result<BundleKey> {
    let meta = std::fs::metadata(path).map_err(|e| bundle_error(path, io_reason(&e)))?;
    Ok((path.to_path_buf(), meta.len(), meta.modified().ok()))
}

fn bundle_error(path: &Path, why: String) -> Error {
    Error::validation(format!("ca_bundle {:?}: {why}", path.display()))
}

/// Checks the `ca_bundle` setting (see [`read_ca_bundle`]); a bundle whose
/// settings are already built is not read again.
pub fn check_ca_bundle(path: &Path) -> Result<()> {
    let key = bundle_key(path)?;
    if matches!(built().get(&Some(key)), Some(Ok(_))) {
        return Ok(());
    }
    read_ca_bundle(path).map(drop)
}

/// The certificates of the PEM file `path` (the `ca_bundle` setting), read
/// and checked: an unreadable file, one with no certificate or a malformed
/// PEM section is a validation error naming the setting and the path.
pub fn read_ca_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bad = |why: String| bundle_error(path, why);
    let meta = std::fs::metadata(path).map_err(|e| bad(io_reason(&e)))?;
    if meta.is_dir() {
        return Err(bad("is a directory, not a PEM file".into()));
    }
    if meta.len() > MAX_BUNDLE_LEN {
        return Err(bad(format!(
            "is {} bytes, larger than the {MAX_BUNDLE_LEN} bytes a CA bundle may have",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| bad(io_reason(&e)))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("is not a valid PEM file ({e})")))?;
    if certs.is_empty() {
        return Err(bad(
            "holds no certificate (expected PEM '-----BEGIN CERTIFICATE-----' sections)".into(),
        ));
    }
    Ok(certs)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "cannot be read (permission denied)".into(),
        _ => format!("cannot be read ({e})"),
    }
}

/// The TLS settings for a client trusting the platform's roots and, when
/// given, the certificates of `ca_bundle`: built once per distinct bundle
/// file and shared (clones share the verifier and its root store).
pub fn tls_config(ca_bundle: Option<&Path>) -> Result<rustls::ClientConfig> {
    let key = ca_bundle.map(bundle_key).transpose()?;
    let cached = built().get(&key).cloned();
    let result = match cached {
        Some(r) => r,
        None => {
            // Read and built outside the lock (the root store takes ms).
            let extra = match ca_bundle {
                Some(p) => read_ca_bundle(p)?,
                None => Vec::new(),
            };
            let r = build(extra);
            let mut map = built();
            // A few distinct bundles at most in a process; never grow without bound.
            if map.len() >= 16 {
                map.retain(|k, _| k.is_none());
            }
            map.entry(key).or_insert(r).clone()
        }
    };
    result.map_err(|e| Error::new(ErrorKind::Other, format!("could not set up TLS: {e}")))
}

fn build(extra: Vec<CertificateDer<'static>>) -> std::result::Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| e.to_string())?;
    let builder = if extra.is_empty() {
        use rustls_platform_verifier::BuilderVerifierExt;
        builder
            .with_platform_verifier()
            .map_err(|e| e.to_string())?
    } else {
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)
            .map_err(|e| format!("a certificate of the CA bundle was refused ({e})"))?;
        // The platform verifier with the bundle's roots added: it checks
        // every certificate (this is not the "accept anything" switch).
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    };
    let mut tls = builder.with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn settings_are_built_once_per_bundle_and_shared() {
        let a = tls_config(None).unwrap();
        let b = tls_config(None).unwrap();
        assert_eq!(a.alpn_protocols, vec![b"http/1.1".to_vec()]);
        // Clones share the verifier (one root store per process).
        assert!(Arc::ptr_eq(
            &a.crypto_provider().clone(),
            &b.crypto_provider().clone()
        ));
        let dir = tempfile::tempdir().unwrap();
        let pem = write(dir.path(), "ca.pem", ca_pem().as_bytes());
        let c = tls_config(Some(&pem)).unwrap();
        let d = tls_config(Some(&pem)).unwrap();
        assert!(Arc::ptr_eq(
            &c.crypto_provider().clone(),
            &d.crypto_provider().clone()
        ));
        assert!(!Arc::ptr_eq(
            &a.crypto_provider().clone(),
            &c.crypto_provider().clone()
        ));
    }

    #[test]
    fn a_bad_bundle_is_a_validation_error_naming_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let empty = write(dir.path(), "empty.pem", b"");
        let key_only = write(
            dir.path(),
            "key.pem",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        );
        let broken = write(
            dir.path(),
            "broken.pem",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n",
        );
        for (path, why) in [
            (dir.path().join("missing.pem"), "no such file"),
            (dir.path().to_path_buf(), "is a directory"),
            (empty, "holds no certificate"),
            (key_only, "holds no certificate"),
            (broken, "is not a valid PEM file"),
        ] {
            let e = tls_config(Some(&path)).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Validation, "{e}");
            assert!(e.message.starts_with("ca_bundle "), "{e}");
            assert!(e.message.contains(why), "{e}");
        }
    }
}
