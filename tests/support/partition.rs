//! A network partition between one operator process and the API server: a TCP relay the operator
//! reaches the API server through, whose link can be cut (connections stay open, bytes stop, as
//! when a node loses its network) and healed (the bytes held flow on).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The relay; dropped, it stops accepting.
pub struct Partition {
    /// Where the operator connects.
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Partition {
    /// A relay to the API server of the test's `KUBECONFIG`.
    pub async fn start() -> Self {
        let upstream = api_server_addr();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let flag = cut.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let Ok(up) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (dr, dw) = down.into_split();
                let (ur, uw) = up.into_split();
                tokio::spawn(relay(dr, uw, flag.clone()));
                tokio::spawn(relay(ur, dw, flag.clone()));
            }
        });
        Self { addr, cut, accepting }
    }

    /// Cuts (`true`) or heals (`false`) the link.
    pub fn cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }

    /// A kubeconfig like the test's, whose server is this relay (the API server's certificate
    /// names 127.0.0.1, which the relay's address is too).
    pub fn kubeconfig(&self) -> PathBuf {
        super::kubeconfig_copy(&format!("relay-{}", self.addr.port()), |kc| {
            for c in kc["clusters"].as_array_mut().unwrap() {
                c["cluster"]["server"] = format!("https://{}", self.addr).into();
            }
        })
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// Copies `from` to `to`, holding the bytes while the link is cut.
async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    cut: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while cut.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The API server's address in the test's `KUBECONFIG`.
fn api_server_addr() -> SocketAddr {
    let kc = super::kubeconfig();
    let server = kc["clusters"][0]["cluster"]["server"].as_str().unwrap();
    server.trim_start_matches("https://").parse().unwrap()
}
