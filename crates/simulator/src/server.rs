//! The listener: the accept loop, one task per connection serving HTTP/1.1
//! with keep-alive, the open-connection count `restart()` waits on, and the
//! graceful stop.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::routes;
use crate::state::Shared;

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
                let guard = Active::enter(&active);
                let (shared, stop) = (shared.clone(), stop.clone());
                tokio::spawn(async move {
                    let _guard = guard;
                    serve_http(stream, shared, stop).await
                });
            }
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
