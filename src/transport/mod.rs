//! The bottom of the stack: hyper-util's pooled client over rustls, the base URI,
//! and bounded body collection.
//!
//! [`hyper_client`] builds the connector (rustls with the ring provider, webpki roots
//! plus any extra trusted certificates, HTTP/1.1 and HTTP/2 by ALPN, a connect
//! timeout). [`BaseUriLayer`] points relative requests at Feishu, Lark or a custom
//! host, and [`CollectBodyLayer`] reads the reply body up to a limit, so every layer
//! above sees a complete `http::Response<Bytes>`. The streaming tier puts
//! [`StreamBodyLayer`] in its place: an event-stream reply is answered at its
//! headers with its body unread ([`StreamingBody`]), any other is collected.

mod base_uri;
mod collect;
mod stream;

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use tower::Service;
use tower::util::BoxCloneSyncService;

pub(crate) use base_uri::BaseUrlText;
pub use base_uri::{BaseUri, BaseUriLayer, BaseUrl};
pub use collect::{CollectBody, CollectBodyLayer, CollectFuture, DEFAULT_MAX_BODY_BYTES};
pub(crate) use stream::has_media_type;
pub use stream::{StreamBody, StreamBodyLayer, StreamBodyOf, StreamingBody, is_event_stream};

use crate::error::{BoxError, Error};

/// The request body every request of this crate carries: a complete buffer.
pub type RequestBody = http_body_util::Full<Bytes>;

/// The rustls connector over hyper-util's TCP connector.
pub type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;

/// hyper-util's pooled client with the rustls connector: the bottom of the stack.
pub type HyperClient = hyper_util::client::legacy::Client<HttpsConnector, RequestBody>;

/// [`HyperClient`] behind one reference count, as the bottom of the default stack.
///
/// `tower::retry` clones the service below it for every call; cloning a
/// `HyperClient` copies and counts up its half-dozen shared handles (pool,
/// connector, TLS config, executor, timers), cloning this is one atomic increment.
/// Calls go through [`HyperClient::request`], which takes `&self`.
///
/// ```
/// use aily_client::transport::{SharedClient, TransportConfig, hyper_client};
///
/// let shared = SharedClient::new(hyper_client(&TransportConfig::default())?);
/// let also = shared.clone(); // the same pool
/// # let _ = also;
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SharedClient(Arc<HyperClient>);

impl SharedClient {
    /// Shares `client`.
    pub fn new(client: HyperClient) -> SharedClient {
        SharedClient(Arc::new(client))
    }

    /// The shared client.
    pub fn get_ref(&self) -> &HyperClient {
        &self.0
    }
}

impl Service<Request<RequestBody>> for SharedClient {
    type Response = Response<hyper::body::Incoming>;
    type Error = hyper_util::client::legacy::Error;
    type Future = hyper_util::client::legacy::ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // hyper-util's client is always ready: it checks a connection out inside the call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<RequestBody>) -> Self::Future {
        self.0.request(req)
    }
}

/// The HTTP tier, erased: complete requests in, complete responses out.
pub type HttpService = BoxCloneSyncService<Request<RequestBody>, Response<Bytes>, BoxError>;

/// Default TCP connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time an idle pooled connection is kept.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// How to build the [`HyperClient`].
///
/// ```
/// let cfg = aily_client::transport::TransportConfig::default();
/// assert_eq!(cfg.connect_timeout, std::time::Duration::from_secs(5));
/// let client = aily_client::transport::hyper_client(&cfg)?; // spawns nothing
/// # let _ = client;
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TransportConfig {
    /// Bound on opening a TCP connection.
    pub connect_timeout: Duration,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// At most this many idle connections are kept per host.
    pub pool_max_idle_per_host: usize,
    /// Speak HTTP/2 without negotiation, also over plain `http://` (h2c with prior knowledge).
    /// Over TLS, HTTP/2 is negotiated by ALPN whatever this says.
    pub http2_prior_knowledge: bool,
    /// Certificates to trust in addition to the webpki roots (DER), e.g. a test server's.
    pub extra_root_certificates: Vec<CertificateDer<'static>>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
            pool_max_idle_per_host: usize::MAX,
            http2_prior_knowledge: false,
            extra_root_certificates: Vec::new(),
        }
    }
}

/// Builds hyper-util's pooled client over rustls (ring provider, TLS 1.2 and 1.3,
/// webpki roots plus `extra_root_certificates`), with HTTP/1.1 and HTTP/2 offered by
/// ALPN. Nothing is spawned until the first request.
pub fn hyper_client(config: &TransportConfig) -> Result<HyperClient, Error> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in &config.extra_root_certificates {
        roots.add(cert.clone()).map_err(|e| {
            Error::config("an extra root certificate could not be added").with_source(e)
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::config("TLS configuration failed").with_source(e))?
        .with_root_certificates(roots)
        .with_no_client_auth();

    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(config.connect_timeout));

    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);

    Ok(
        hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .http2_only(config.http2_prior_knowledge)
            .build(connector),
    )
}
