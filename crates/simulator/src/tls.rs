//! HTTPS for the simulator: at start a throwaway certificate authority
//! (rcgen, a fresh P-256 key each time) signs a server certificate for
//! `127.0.0.1` and `localhost`; rustls (the ring provider, as the client
//! uses) serves it with ALPN `http/1.1`. The CA certificate is written as
//! PEM to a temporary file for clients to trust (`ca_bundle`, `SSL_CERT_FILE`,
//! `--cacert`), and the file is removed when the simulator shuts down.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::Datelike as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tempfile::TempPath;
use tokio_rustls::TlsAcceptor;

/// The TLS side of a simulator: the acceptor and the throwaway CA.
pub struct Tls {
    acceptor: TlsAcceptor,
    ca_pem: String,
    ca_path: PathBuf,
    /// The CA's PEM file; dropping it removes the file.
    ca_file: Mutex<Option<TempPath>>,
}

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("simulator TLS setup: {e}"))
}

/// Validity from January 1st of last year to January 1st of the year after
/// next: long enough for any test run, and not the far-future default.
fn validity(params: &mut CertificateParams) {
    let year = chrono::Utc::now().year();
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 2, 1, 1);
}

impl Tls {
    /// Makes the CA, the server certificate, the rustls configuration and
    /// the CA's PEM file.
    pub fn generate() -> std::io::Result<Tls> {
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.distinguished_name
            .push(DnType::CommonName, "cxone-cdp simulator throwaway CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut ca);
        let ca_key = KeyPair::generate().map_err(other)?;
        let ca_pem = ca.self_signed(&ca_key).map_err(other)?.pem();
        let issuer = Issuer::new(ca, ca_key);

        let mut leaf =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .map_err(other)?;
        leaf.distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.use_authority_key_identifier_extension = true;
        validity(&mut leaf);
        let leaf_key = KeyPair::generate().map_err(other)?;
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(other)?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(other)?
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf_cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .map_err(other)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];

        let mut file = tempfile::Builder::new()
            .prefix("cxone-cdp-simulator-ca-")
            .suffix(".pem")
            .tempfile()?;
        file.write_all(ca_pem.as_bytes())?;
        file.flush()?;
        let ca_file = file.into_temp_path();
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            ca_pem,
            ca_path: ca_file.to_path_buf(),
            ca_file: Mutex::new(Some(ca_file)),
        })
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Where the CA's PEM file is (until `remove_ca_file`).
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// Removes the CA's PEM file (idempotent).
    pub fn remove_ca_file(&self) {
        let file = self
            .ca_file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(f) = file {
            if let Err(e) = f.close() {
                log::warn!("simulator: cannot remove the CA file: {e}");
            }
        }
    }
}
