//! The listener, the per-connection tasks, TLS and the executor that hyper
//! uses for HTTP/2 streams. Everything stops when the `FakeAily` handle drops.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use super::handler;
use super::state::Shared;

/// Lets a request handler abort its own connection.
#[derive(Debug, Default)]
pub(crate) struct ConnControl {
    /// Set before the kill: close with a TCP RST rather than a FIN.
    reset: AtomicBool,
    kill: Notify,
}

impl ConnControl {
    /// Closes the connection at once, without a response, with a TCP RST.
    pub(crate) fn reset_connection(&self) {
        self.reset.store(true, Ordering::SeqCst);
        self.kill.notify_one();
    }
}

/// The accepted TCP stream. On drop after [`ConnControl::reset_connection`]
/// it sets a zero linger time, so closing the socket sends a RST.
struct ConnIo {
    stream: TcpStream,
    control: Arc<ConnControl>,
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.control.reset.load(Ordering::SeqCst) {
            // A zero linger never blocks (unlike other linger values, which is
            // why tokio deprecates the general setter): close() sends a RST.
            #[allow(deprecated)]
            let _ = self.stream.set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Spawns hyper's HTTP/2 stream tasks on tokio, each ending when the server
/// shuts down (the watch sender is dropped), so no task outlives the fake.
#[derive(Clone, Debug)]
struct ShutdownExecutor {
    shutdown: watch::Receiver<()>,
}

impl<F> hyper::rt::Executor<F> for ShutdownExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = future => {}
                // Nothing is ever sent: this completes when the sender drops.
                _ = shutdown.changed() => {}
            }
        });
    }
}

/// TLS material of an HTTPS fake.
pub(crate) struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) ca_der: Vec<u8>,
    pub(crate) ca_pem: String,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

/// A fresh CA and a leaf certificate for `localhost` and `127.0.0.1` signed
/// by it; a rustls server config with an explicit ring provider, ALPN `h2`
/// then `http/1.1`.
pub(crate) fn make_tls() -> io::Result<Tls> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let ca_key = KeyPair::generate().map_err(io::Error::other)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(io::Error::other)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "aily-client FakeAily test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(io::Error::other)?;

    let leaf_key = KeyPair::generate().map_err(io::Error::other)?;
    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(io::Error::other)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.use_authority_key_identifier_extension = true;
    let leaf_cert = leaf_params
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .map_err(io::Error::other)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf_cert.der().clone(), ca_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .map_err(io::Error::other)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_der: ca_cert.der().to_vec(),
        ca_pem: ca_cert.pem(),
    })
}

/// A running server: dropping it stops the accept loop and every connection.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    accept: JoinHandle<()>,
    /// Dropped with the server; ends the HTTP/2 stream tasks.
    _shutdown: watch::Sender<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Aborting the accept task drops the listener and its `JoinSet`,
        // which aborts every connection task.
        self.accept.abort();
    }
}

/// Binds 127.0.0.1:`port` (0: a free port) and starts accepting.
pub(crate) async fn start(
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    port: u16,
) -> io::Result<Server> {
    // Fail with an error rather than panic outside a tokio runtime.
    tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
    let addr = listener.local_addr()?;
    let (shutdown_tx, shutdown_rx) = watch::channel(());
    let executor = ShutdownExecutor {
        shutdown: shutdown_rx,
    };
    let accept = tokio::spawn(accept_loop(listener, tls, shared, executor));
    Ok(Server {
        addr,
        accept,
        _shutdown: shutdown_tx,
    })
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    executor: ShutdownExecutor,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(
                        stream,
                        tls.clone(),
                        Arc::clone(&shared),
                        executor.clone(),
                    ));
                }
                Err(err) => {
                    // E.g. out of file descriptors: back off a little.
                    tracing::debug!(error = %err, "fake aily: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            // Reap finished connection tasks so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    executor: ShutdownExecutor,
) {
    let control = Arc::new(ConnControl::default());
    let io = ConnIo {
        stream,
        control: Arc::clone(&control),
    };
    match tls {
        None => serve_http(io, shared, control, executor).await,
        Some(acceptor) => match acceptor.accept(io).await {
            Ok(tls_stream) => serve_http(tls_stream, shared, control, executor).await,
            Err(err) => tracing::debug!(error = %err, "fake aily: TLS handshake failed"),
        },
    }
}

async fn serve_http<I>(
    io: I,
    shared: Arc<Shared>,
    control: Arc<ConnControl>,
    executor: ShutdownExecutor,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let builder = auto::Builder::new(executor);
    let service_control = Arc::clone(&control);
    let service = service_fn(move |request: Request<Incoming>| {
        handler::handle(Arc::clone(&shared), Arc::clone(&service_control), request)
    });
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::select! {
        result = connection => {
            if let Err(err) = result {
                tracing::debug!(error = %err, "fake aily: connection ended with an error");
            }
        }
        // A `Fault::ResetConnection`: drop the connection without a reply.
        () = control.kill.notified() => {}
    }
}
