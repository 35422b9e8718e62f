//! Servers on 127.0.0.1 that count the connections they accept: a TLS server
//! whose throwaway certificate (rcgen) no client trusts, and a TCP server
//! that closes every connection at once; and a port nothing listens on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;

/// A running server: its port and how many connections it accepted.
pub struct Counted {
    pub port: u16,
    pub accepted: Arc<AtomicUsize>,
}

impl Counted {
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// A port that was just free: nothing listens on it.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A server on a free port that counts each connection it accepts, then
/// hands it to `handle`.
async fn counting(mut handle: impl FnMut(TcpStream) + Send + 'static) -> Counted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            handle(stream);
        }
    });
    Counted { port, accepted }
}

/// A TLS server for `127.0.0.1` and `localhost` with a self-signed
/// certificate made now, so no root store knows its issuer. A handshake that
/// succeeded anyway gets an HTTP 503, which no test takes for a TLS failure.
pub async fn untrusted_tls() -> Counted {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key.into())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    counting(move |stream| {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            if let Ok(mut tls) = acceptor.accept(stream).await {
                let _ = tls
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                    .await;
                let _ = tls.shutdown().await;
            }
        });
    })
    .await
}

/// A TCP server that accepts each connection and closes it before reading
/// a byte (a dropped connection, as a client sees it).
pub async fn hang_up() -> Counted {
    counting(drop).await
}

/// A TCP server that accepts each connection and never answers.
pub async fn silent() -> Counted {
    let mut open = Vec::new();
    counting(move |stream| open.push(stream)).await
}
