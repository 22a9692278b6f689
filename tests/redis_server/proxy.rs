//! A loopback TCP proxy in front of a real `redis-server` that plays a slow or a
//! lying Redis: it delays Redis's replies (the first reply on each connection by
//! `first_ms`, every other one by `all_ms`) and can rewrite them on the way back.
//! What it forwards is Redis's own bytes; only the test's knobs change them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Rewrites a chunk of Redis's replies before the client reads it.
pub type Rewrite = Arc<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

/// The proxy; its tasks stop when it is dropped.
pub struct RedisProxy {
    port: u16,
    /// Delay of the first reply on each connection, in ms.
    pub first_ms: Arc<AtomicU64>,
    /// Delay of every later reply, in ms.
    pub all_ms: Arc<AtomicU64>,
    tasks: JoinSet<()>,
}

impl RedisProxy {
    /// A proxy to `redis_port` that delays nothing and rewrites nothing (until told).
    pub async fn start(redis_port: u16) -> RedisProxy {
        RedisProxy::with_rewrite(redis_port, None).await
    }

    /// A proxy whose replies pass through `rewrite` (if any).
    pub async fn with_rewrite(redis_port: u16, rewrite: Option<Rewrite>) -> RedisProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let first_ms = Arc::new(AtomicU64::new(0));
        let all_ms = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        let (first, all) = (first_ms.clone(), all_ms.clone());
        tasks.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", redis_port)).await else {
                    continue;
                };
                let (first, all, rewrite) = (first.clone(), all.clone(), rewrite.clone());
                tokio::spawn(async move {
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut up_read, mut up_write) = upstream.into_split();
                    tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut client_read, &mut up_write).await;
                    });
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut replies = 0u64;
                    loop {
                        let n = match up_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let delay = if replies == 0 {
                            first.load(Ordering::Relaxed)
                        } else {
                            all.load(Ordering::Relaxed)
                        };
                        replies += 1;
                        if delay > 0 {
                            tokio::time::sleep(Duration::from_millis(delay)).await;
                        }
                        let out = match &rewrite {
                            Some(rewrite) => rewrite(&buf[..n]),
                            None => buf[..n].to_vec(),
                        };
                        if client_write.write_all(&out).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        RedisProxy {
            port,
            first_ms,
            all_ms,
            tasks,
        }
    }

    /// `redis://127.0.0.1:<proxy port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisProxy {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}
