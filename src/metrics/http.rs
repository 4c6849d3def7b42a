//! A minimal HTTP/1.1 endpoint for Prometheus: `GET /metrics` answers the scrape, anything
//! else 404; one request per connection. Request heads are bounded and read with a deadline,
//! so a slow or hostile peer holds one task briefly and nothing else.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::StateSample;

/// Largest request head read; a scrape's is a few hundred bytes.
const REQUEST_HEAD_MAX_BYTES: usize = 8 << 10;
/// How long a peer has to send its request and read the answer.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Takes the broker's state at a scrape (`None` once the broker is gone); called on the
/// blocking pool.
pub type Sampler = Arc<dyn Fn() -> Option<StateSample> + Send + Sync>;

/// Serves scrapes on `listener` until `shutdown` turns true.
pub async fn serve(sample: Sampler, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((socket, peer)) => {
                let sample = Arc::clone(&sample);
                tokio::spawn(async move {
                    match tokio::time::timeout(EXCHANGE_TIMEOUT, answer(sample, socket)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "metrics request failed"),
                        Err(_) => tracing::debug!(%peer, "metrics request timed out"),
                    }
                });
            }
            Err(error) => tracing::warn!(%error, "metrics accept failed"),
        }
    }
}

async fn answer(sample: Sampler, mut socket: TcpStream) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = socket.read(&mut chunk).await?;
        if read == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..read]);
        if head.len() > REQUEST_HEAD_MAX_BYTES {
            return respond(
                &mut socket,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            )
            .await;
        }
    }
    let request_line = head.split(|byte| *byte == b'\r').next().unwrap_or_default();
    let mut parts = request_line.split(|byte| *byte == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = path.split(|byte| *byte == b'?').next().unwrap_or_default();
    match (method, path) {
        (b"GET", b"/metrics") => {
            let body = tokio::task::spawn_blocking(move || super::render(sample()))
                .await
                .map_err(std::io::Error::other)?
                .map_err(std::io::Error::other)?;
            respond(&mut socket, "200 OK", CONTENT_TYPE, &body).await
        }
        (b"GET", _) => respond(&mut socket, "404 Not Found", "text/plain", "try /metrics\n").await,
        _ => respond(&mut socket, "405 Method Not Allowed", "text/plain", "").await,
    }
}

async fn respond(
    socket: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body.as_bytes()).await?;
    socket.shutdown().await
}
