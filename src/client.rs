//! [`Client`] and [`ClientBuilder`]: the one place where the default stack is assembled.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use rustls::pki_types::CertificateDer;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};

use crate::api_call::ApiCallLayer;
use crate::auth::{
    AccessToken, Auth, AuthLayer, Credentials, CredentialsInner, DEFAULT_REFRESH_MARGIN,
    TenantTokenSource,
};
use crate::error::{BoxError, Error};
use crate::in_flight::{DEFAULT_MAX_IN_FLIGHT, InFlightLimitLayer};
use crate::request::AilyRequest;
use crate::retry::{RetryConfig, RetryPolicy, retry_layer};
use crate::runs::{
    CancelRequest, CancelResponse, GetRunRequest, GetRunResponse, RunResponse, WaitOptions,
    cancel_and_wait,
};
use crate::timeout::{
    DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_OVERALL_TIMEOUT, DeadlineLayer, TimeoutLayer,
};
use crate::trace::{AttemptSpanLayer, OperationSpanLayer};
use crate::transport::{
    BaseUri, BaseUriLayer, BaseUrl, CollectBody, CollectBodyLayer, DEFAULT_MAX_BODY_BYTES,
    HttpService, SharedClient, TransportConfig, hyper_client,
};

/// The HTTP tier of the default client, as its concrete type.
type DefaultHttp = Auth<BaseUri<CollectBody<SharedClient>>>;

/// A typed service of the default stack, erased: `Clone + Send + Sync`, no worker task.
pub type AilyService<R> = BoxCloneSyncService<R, <R as AilyRequest>::Response, Error>;

/// The cancel-run service of the default stack.
pub type CancelService = AilyService<CancelRequest>;

/// A client of the Aily OpenAPI. Cheap to clone; clones share the connection pool.
///
/// ```no_run
/// use aily_client::{Client, Credentials};
///
/// # async fn run() -> Result<(), aily_client::Error> {
/// let client = Client::builder()
///     .credentials(Credentials::tenant_token(std::env::var("FEISHU_TENANT_ACCESS_TOKEN").unwrap()))
///     .build()?;
/// let cancelled = client.cancel_run("session_4dfunz7sp1g8m", "run_4dfrxvctjqzzj").await?;
/// println!("{} is {} (log id {:?})", cancelled.run.id, cancelled.run.status, cancelled.log_id);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    http: DefaultHttp,
    settings: Arc<Settings>,
}

#[derive(Debug)]
struct Settings {
    base_url: BaseUrl,
    retry: RetryPolicy,
    in_flight: InFlightLimitLayer,
    operation_span_level: tracing::Level,
    attempt_span: AttemptSpanLayer,
    attempt_timeout: Duration,
    overall_timeout: Duration,
    rate_limit: crate::rate_limit::RateLimitLayer,
}

impl Client {
    /// A builder with the defaults: Feishu's base URL, 5 s connect, 10 s attempt and
    /// 30 s overall timeouts, 3 attempts, 1 MiB reply limit.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Cancels run `run_id` of session `session_id`.
    ///
    /// The IDs are validated first; an invalid one fails with
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) and nothing is sent.
    ///
    /// The returned future owns what it needs (it does not borrow the client), so it
    /// can be spawned.
    pub fn cancel_run(
        &self,
        session_id: impl AsRef<str>,
        run_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<CancelResponse, Error>> + Send + 'static {
        self.call_checked(CancelRequest::new(session_id, run_id))
    }

    /// Reads run `run_id` of session `session_id`: its status now.
    pub fn get_run(
        &self,
        session_id: impl AsRef<str>,
        run_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<GetRunResponse, Error>> + Send + 'static {
        self.call_checked(GetRunRequest::new(session_id, run_id))
    }

    /// Cancels the run, then reads it until its status is terminal (`CANCELLED`,
    /// `COMPLETED`, `FAILED`, `EXPIRED`), reads spaced 250 ms growing to 2 s, for at
    /// most 30 s (see [`WaitOptions`]). At the deadline the error is a
    /// [`TimeoutKind::Wait`](crate::TimeoutKind::Wait) timeout carrying the last run
    /// seen ([`Error::last_run`]).
    ///
    /// ```no_run
    /// # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
    /// let done = client
    ///     .cancel_and_wait("session_1", "run_1", aily_client::WaitOptions::new())
    ///     .await?;
    /// assert!(done.run.status.is_terminal());
    /// # Ok(()) }
    /// ```
    pub async fn cancel_and_wait(
        &self,
        session_id: impl AsRef<str>,
        run_id: impl AsRef<str>,
        options: WaitOptions,
    ) -> Result<RunResponse, Error> {
        cancel_and_wait(
            self.cancel_service(),
            self.get_run_service(),
            session_id,
            run_id,
            options,
        )
        .await
    }

    /// Sends any typed request through the default stack.
    pub fn call<R: AilyRequest>(
        &self,
        request: R,
    ) -> impl Future<Output = Result<R::Response, Error>> + Send + 'static {
        self.start(request)
    }

    /// The future of one call of the default stack. Nothing runs until it is first
    /// polled (tower's `Oneshot` readies the stack, then calls it), so the future may
    /// be made outside a tokio runtime and run inside one.
    fn start<R: AilyRequest>(
        &self,
        request: R,
    ) -> CallFuture<impl Future<Output = Result<R::Response, Error>> + Send + 'static> {
        CallFuture::Call {
            future: self.stack::<R>().oneshot(request),
        }
    }

    /// A call of a request that may have failed validation: the error at once, or the
    /// call. No `async` frame around the stack's future, so nothing is copied twice.
    fn call_checked<R: AilyRequest>(
        &self,
        request: Result<R, Error>,
    ) -> impl Future<Output = Result<R::Response, Error>> + Send + 'static {
        match request {
            Ok(request) => self.start(request),
            Err(error) => CallFuture::Invalid { error: Some(error) },
        }
    }

    /// The cancel-run service of the default stack, for composing into your own tower stack.
    /// Building it spawns nothing.
    ///
    /// ```
    /// use aily_client::{CancelRequest, CancelService, Client, Credentials};
    /// use tower::{Service, ServiceBuilder, ServiceExt};
    ///
    /// # fn main() -> Result<(), aily_client::Error> {
    /// let client = Client::builder().credentials(Credentials::tenant_token("t-x")).build()?;
    /// let svc: CancelService = client.cancel_service();
    /// let limited = ServiceBuilder::new().concurrency_limit(8).service(svc);
    /// # let _ = limited;
    /// # Ok(()) }
    /// ```
    pub fn cancel_service(&self) -> CancelService {
        self.service::<CancelRequest>()
    }

    /// The get-run service of the default stack.
    pub fn get_run_service(&self) -> AilyService<GetRunRequest> {
        self.service::<GetRunRequest>()
    }

    /// The typed service of the default stack for request type `R`.
    ///
    /// The stack, outer to inner (the HTTP tier is shared by all typed services):
    ///
    /// ```text
    /// map_err(Error::from_box)   one crate Error at the edge
    /// OperationSpanLayer         one span per call: aily.run.cancel
    /// DeadlineLayer              the whole call: sets the deadline the layers below keep
    /// RetryLayer(RetryPolicy)    tower::retry; budget shared by all clones of the client
    /// RateLimitLayer             quota slot + fleet penalty box per attempt (off without a quota or store)
    /// InFlightLimitLayer         at most 256 attempts on the wire; the rest wait (deadline-bounded)
    /// AttemptSpanLayer           one span per attempt: POST /open-apis/…/cancel
    /// TimeoutLayer::attempt      one attempt: token, send, whole body; never past the deadline
    /// ApiCallLayer               R -> http::Request; reply -> R::Response | Error
    /// ── HTTP tier ──
    /// AuthLayer                  Authorization: Bearer <token> (sensitive)
    /// BaseUriLayer               https://open.feishu.cn | https://open.larksuite.com | custom
    /// CollectBodyLayer           whole body, bounded
    /// hyper-util Client          rustls, HTTP/1.1 + HTTP/2 by ALPN, pooled, connect timeout
    /// ```
    pub fn service<R: AilyRequest>(&self) -> AilyService<R> {
        BoxCloneSyncService::new(self.stack::<R>())
    }

    /// The default stack for `R`, as its concrete type: the one place it is assembled.
    /// Nothing here is boxed, so a call through it allocates only what its layers must;
    /// [`service`](Client::service) erases it for callers who need a nameable type.
    fn stack<R: AilyRequest>(
        &self,
    ) -> impl Service<R, Response = R::Response, Error = Error, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static {
        let s = &self.settings;
        ServiceBuilder::new()
            .map_err(Error::from_box as fn(BoxError) -> Error)
            .layer(OperationSpanLayer::with_level(s.operation_span_level))
            .layer(DeadlineLayer::new(s.overall_timeout))
            .layer(retry_layer(s.retry.clone()))
            .layer(s.rate_limit.clone())
            .layer(s.in_flight.clone())
            .layer(s.attempt_span.clone())
            .layer(TimeoutLayer::attempt(s.attempt_timeout))
            .layer(ApiCallLayer::new())
            .service(self.http.clone())
    }

    /// The HTTP tier of this client (auth, base URI, body collection, connection pool),
    /// to build your own typed stack on.
    pub fn http_service(&self) -> HttpService {
        HttpService::new(self.http.clone())
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &BaseUrl {
        &self.settings.base_url
    }
}

pin_project! {
    /// The future of a [`Client`] call: the call, or the request's validation error
    /// at once.
    #[project = CallFutureProj]
    enum CallFuture<F> {
        Call { #[pin] future: F },
        Invalid { error: Option<Error> },
    }
}

impl<F, T> Future for CallFuture<F>
where
    F: Future<Output = Result<T, Error>>,
{
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CallFutureProj::Call { future } => future.poll(cx),
            CallFutureProj::Invalid { error } => Poll::Ready(Err(error
                .take()
                .expect("a call's future is not polled after it is ready"))),
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.settings.base_url)
            .field("attempt_timeout", &self.settings.attempt_timeout)
            .field("overall_timeout", &self.settings.overall_timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`]. Nothing is validated or spawned until [`build`](ClientBuilder::build).
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    credentials: Option<Credentials>,
    base_url: Option<String>,
    allow_insecure_http: bool,
    transport: TransportConfig,
    extra_roots_der: Vec<Vec<u8>>,
    attempt_timeout: Duration,
    overall_timeout: Duration,
    max_body_bytes: usize,
    max_in_flight: usize,
    token_refresh_margin: Duration,
    retry: RetryConfig,
    operation_span_level: tracing::Level,
    attempt_span_level: tracing::Level,
    record_url_full: bool,
    pub(crate) fleet: crate::fleet::FleetConfig,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            credentials: None,
            base_url: None,
            allow_insecure_http: false,
            transport: TransportConfig::default(),
            extra_roots_der: Vec::new(),
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            overall_timeout: DEFAULT_OVERALL_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            token_refresh_margin: DEFAULT_REFRESH_MARGIN,
            retry: RetryConfig::default(),
            operation_span_level: tracing::Level::INFO,
            attempt_span_level: tracing::Level::DEBUG,
            record_url_full: false,
            fleet: Default::default(),
        }
    }
}

impl ClientBuilder {
    /// What to authenticate with (required).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The API's base URL, e.g. `https://open.feishu.cn` (the default),
    /// `https://open.larksuite.com`, or a test server. Plain `http://` is refused
    /// unless the host is loopback or [`allow_insecure_http`](ClientBuilder::allow_insecure_http) is set.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// Use Lark's base URL, `https://open.larksuite.com`.
    pub fn lark(self) -> Self {
        self.base_url(BaseUrl::lark().to_string())
    }

    /// Allow plain `http://` to a host that is not loopback. Tokens then cross the network
    /// in clear text: only for trusted networks.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Bound on opening a TCP connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport.connect_timeout = timeout;
        self
    }

    /// Bound on one attempt: token, send, and reading the whole body (default 10 s).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Bound on the whole call, retries and waits included (default 30 s).
    pub fn overall_timeout(mut self, timeout: Duration) -> Self {
        self.overall_timeout = timeout;
        self
    }

    /// Largest reply body accepted, in bytes (default 1 MiB). A larger one is an
    /// [`ErrorKind::BodyTooLarge`](crate::ErrorKind::BodyTooLarge) error.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Trust this certificate (DER) in addition to the webpki roots — for a test server
    /// or a private gateway.
    pub fn add_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.extra_roots_der.push(der.into());
        self
    }

    /// Speak HTTP/2 without negotiation, also over plain `http://` (h2c). Over TLS,
    /// HTTP/2 is negotiated by ALPN anyway.
    pub fn http2_prior_knowledge(mut self, enabled: bool) -> Self {
        self.transport.http2_prior_knowledge = enabled;
        self
    }

    /// How retries are made: attempts, backoff, rate-limit waits, budget
    /// (see [`RetryConfig`] for the defaults).
    pub fn retry(mut self, config: RetryConfig) -> Self {
        self.retry = config;
        self
    }

    /// At most this many attempts per call, the first included (default 3; 1 turns retry off).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.retry.max_attempts = attempts;
        self
    }

    /// The level of the operation span, `aily.run.cancel` (default INFO).
    pub fn operation_span_level(mut self, level: tracing::Level) -> Self {
        self.operation_span_level = level;
        self
    }

    /// The level of the attempt spans (default DEBUG).
    pub fn attempt_span_level(mut self, level: tracing::Level) -> Self {
        self.attempt_span_level = level;
        self
    }

    /// The level of the event logged for each retry (default WARN).
    pub fn retry_event_level(mut self, level: tracing::Level) -> Self {
        self.retry.event_level = level;
        self
    }

    /// Record `url.full` on attempt spans (default off: the path holds session and run
    /// IDs, which may count as personal data).
    pub fn record_url_full(mut self, enabled: bool) -> Self {
        self.record_url_full = enabled;
        self
    }

    /// With [`Credentials::app`]: refresh the tenant token this long before it expires
    /// (default 3 min). Callers keep using the old token while the refresh runs.
    pub fn token_refresh_margin(mut self, margin: Duration) -> Self {
        self.token_refresh_margin = margin;
        self
    }

    /// At most this many attempts of this client (and its clones) on the wire at once
    /// (default 256); the others wait their turn, until their call's overall deadline
    /// at most (the wait is not part of an attempt, so a queue never costs attempts).
    ///
    /// Over HTTP/1.1 each request in flight is a connection (two file descriptors when
    /// the server is in the same process), and hyper-util's pool has no cap of its
    /// own: without this bound a burst of 10,000 calls opens 10,000 sockets at once.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max;
        self
    }

    /// Idle connections are kept this long (default 90 s).
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.transport.pool_idle_timeout = timeout;
        self
    }

    /// Builds the client: validates the configuration and assembles the stack.
    /// Spawns nothing, so it may be called outside a tokio runtime.
    pub fn build(self) -> Result<Client, Error> {
        let base_url = match &self.base_url {
            Some(text) => BaseUrl::parse(text)?,
            None => BaseUrl::feishu(),
        };
        if !base_url.is_https() && !base_url.is_loopback() && !self.allow_insecure_http {
            return Err(Error::config(format!(
                "refusing plain http to {base_url}: tokens would cross the network unencrypted; \
                 use https, or allow_insecure_http(true) for a trusted network"
            )));
        }
        let max_rate_limit_wait = self.retry.max_rate_limit_wait;
        let retry = RetryPolicy::new(self.retry)?;
        let credentials = self
            .credentials
            .ok_or_else(|| Error::config("no credentials: call ClientBuilder::credentials(...)"))?;
        let fleet = self
            .fleet
            .resolve(&base_url, &credentials.0, max_rate_limit_wait)?;
        let mut transport = self.transport;
        // Connections a burst opened beyond the in-flight limit are not kept idle.
        transport.pool_max_idle_per_host = transport.pool_max_idle_per_host.min(self.max_in_flight);
        transport
            .extra_root_certificates
            .extend(self.extra_roots_der.into_iter().map(CertificateDer::from));
        // The HTTP tier without auth: what the token endpoint is called through.
        let unauthenticated = ServiceBuilder::new()
            .layer(BaseUriLayer::new(base_url.clone()))
            .layer(CollectBodyLayer::new(self.max_body_bytes))
            .service(SharedClient::new(hyper_client(&transport)?));
        let auth = match credentials.0 {
            CredentialsInner::Token { kind, token } => {
                AuthLayer::fixed(AccessToken::new(kind, token.expose())?)
            }
            CredentialsInner::Source(source) => AuthLayer::from_source(source),
            CredentialsInner::App { app_id, app_secret } => {
                if app_id.is_empty() || app_secret.expose().is_empty() {
                    return Err(Error::config("the app_id and app_secret must not be empty"));
                }
                let key = crate::fleet::token_key(&base_url, &app_id, &app_secret);
                let mut source = TenantTokenSource::with_options(
                    app_id,
                    app_secret,
                    HttpService::new(unauthenticated.clone()),
                    self.token_refresh_margin,
                    self.attempt_timeout,
                );
                if let Some(store) = fleet.token_store {
                    source = source.with_token_store(store, key);
                }
                AuthLayer::from_source(Arc::new(source))
            }
        };
        let http = ServiceBuilder::new().layer(auth).service(unauthenticated);
        Ok(Client {
            http,
            settings: Arc::new(Settings {
                attempt_span: AttemptSpanLayer::new()
                    .with_level(self.attempt_span_level)
                    .server(&base_url)
                    .record_url_full(self.record_url_full),
                operation_span_level: self.operation_span_level,
                base_url,
                retry,
                in_flight: InFlightLimitLayer::new(self.max_in_flight),
                attempt_timeout: self.attempt_timeout,
                overall_timeout: self.overall_timeout,
                rate_limit: fleet.rate_limit,
            }),
        })
    }
}
