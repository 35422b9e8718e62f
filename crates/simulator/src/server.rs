//! The listener: the accept loop, one task per connection serving HTTP/1.1
//! with keep-alive (over a TLS session first, for an HTTPS simulator), the
//! open-connection count `restart()` waits on, and the graceful stop.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::routes;
use crate::state::Shared;

/// A TLS handshake that has not finished by then fails (and is counted).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop waits for the response in flight on a connection.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A non-blocking listening socket on 127.0.0.1 (`port` 0 picks a free one).
pub fn bind(port: u16) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Counts open connections; a guard per connection task.
struct Active(Arc<AtomicUsize>);

impl Active {
    fn enter(n: &Arc<AtomicUsize>) -> Active {
        n.fetch_add(1, Ordering::SeqCst);
        Active(n.clone())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One server generation: accepts until `stop` changes, then lets every
/// connection finish its response in flight.
pub async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    active: Arc<AtomicUsize>,
    tls: Option<TlsAcceptor>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            log::error!("simulator: cannot listen: {e}");
            return;
        }
    };
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        log::warn!("simulator: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                shared.stats().connections += 1;
                let guard = Active::enter(&active);
                let (shared, stop, tls) = (shared.clone(), stop.clone(), tls.clone());
                tokio::spawn(async move {
                    let _guard = guard;
                    match tls {
                        None => serve_http(stream, shared, stop).await,
                        Some(acceptor) => serve_https(acceptor, stream, shared, stop).await,
                    }
                });
            }
        }
    }
}

/// The TLS handshake (counted either way), then HTTP over the session.
async fn serve_https(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
    let outcome = tokio::select! {
        r = handshake => r,
        _ = stop.changed() => return,
    };
    match outcome {
        Ok(Ok(session)) => {
            shared.stats().tls_handshakes += 1;
            serve_http(session, shared, stop).await;
        }
        Ok(Err(e)) => {
            log::debug!("simulator: TLS handshake failed: {e}");
            shared.stats().tls_handshake_failures += 1;
        }
        Err(_) => {
            log::debug!("simulator: TLS handshake timed out");
            shared.stats().tls_handshake_failures += 1;
        }
    }
}

/// HTTP/1.1 with keep-alive on one connection until the client closes it,
/// a handler drops it (the drop fault) or the server stops.
async fn serve_http<I>(io: I, shared: Arc<Shared>, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| routes::handle(shared.clone(), req));
    let conn = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop.changed() => {}
    }
    // Stopping: finish the response in flight, close idle keep-alive
    // connections (a FIN, not a reset).
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, conn).await;
}
