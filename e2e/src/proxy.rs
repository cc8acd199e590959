//! A TCP relay in front of the API server that can be frozen: from then on no byte moves in
//! either direction and new connections are accepted but never forwarded, so every call of a
//! client behind it hangs, as with an API server that stops answering (or a partition between
//! one operator replica and it). TLS passes through untouched; the API server's certificate is
//! valid for 127.0.0.1, where the relay listens.

use anyhow::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running relay; dropped, it stops accepting.
pub struct FreezingProxy {
    /// `127.0.0.1:<port>` of the relay.
    pub addr: String,
    frozen: Arc<AtomicBool>,
    accept: tokio::task::JoinHandle<()>,
}

impl FreezingProxy {
    /// Relay to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let frozen = Arc::new(AtomicBool::new(false));
        let flag = frozen.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, flag) = (upstream.clone(), flag.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        let (cr, cw) = client.into_split();
                        let (sr, sw) = server.into_split();
                        tokio::join!(relay(cr, sw, flag.clone()), relay(sr, cw, flag));
                    }
                });
            }
        });
        Ok(Self { addr, frozen, accept })
    }

    /// Stop moving bytes, on every connection, from now on.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

impl Drop for FreezingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copy `from` to `to` until either closes; once frozen, hold both open and copy nothing.
async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if frozen.load(Ordering::SeqCst) {
            // Hold the connection: the client waits for an answer that never comes.
            std::future::pending::<()>().await;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
