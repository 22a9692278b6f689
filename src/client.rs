//! [`Client`] and [`ClientBuilder`]: the one place where the default stack (drawn in
//! the crate docs, [The stack](crate#the-stack)) is assembled — `stack()` and
//! `http_tier()` below.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use pin_project_lite::pin_project;
use rustls::pki_types::CertificateDer;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};

use crate::api_call::ApiCallLayer;
use crate::api_call::Reply;
use crate::ask::{Ask, AskEvent};
use crate::auth::{Auth, AuthLayer, Credentials, DEFAULT_REFRESH_MARGIN};
use crate::background::{
    BackgroundCancelStats, BackgroundCancels, DEFAULT_CANCEL_CONCURRENCY, DEFAULT_CANCEL_QUEUE,
    DEFAULT_CANCEL_TIMEOUT,
};
use crate::error::Error;
use crate::in_flight::{DEFAULT_MAX_IN_FLIGHT, InFlightLimitLayer};
use crate::messages::{
    CreateMessageRequest, GetMessageRequest, ListMessagesRequest, Message, MessageResponse,
};
use crate::observe::{AttemptLayer, Observer, OperationLayer};
use crate::paginate;
use crate::request::AilyRequest;
use crate::retry::{RetryConfig, RetryPolicy, retry_layer};
use crate::runs::{
    CancelRequest, CancelResponse, CreateRunRequest, GetRunRequest, GetRunResponse,
    ListRunsRequest, Run, RunHandle, RunResponse, WaitOptions, cancel_and_wait,
};
use crate::sessions::{
    CreateSessionRequest, DeleteSessionRequest, DeleteSessionResponse, GetSessionRequest,
    ListResponse, SessionResponse, UpdateSessionRequest,
};
use crate::timeout::{
    AttemptTimeoutLayer, DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_OVERALL_TIMEOUT, DeadlineLayer,
};
use crate::transport::{
    BaseUri, BaseUriLayer, BaseUrl, CollectBody, CollectBodyLayer, DEFAULT_MAX_BODY_BYTES,
    HttpService, SharedClient, TransportConfig, hyper_client,
};

/// The HTTP tier of the default client without auth (what tenant tokens are fetched
/// through), as its concrete type.
type Unauthenticated = BaseUri<CollectBody<SharedClient>>;

/// The HTTP tier of the default client, as its concrete type.
type DefaultHttp = Auth<Unauthenticated>;

/// A typed service of the default stack, erased: `Clone + Send + Sync`, no worker
/// task. It answers with the [`Reply`]: the data (which it reads as, by `Deref`), the
/// HTTP status and the log id.
pub type AilyService<R> = BoxCloneSyncService<R, Reply<<R as AilyRequest>::Response>, Error>;

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
/// println!("{} is {} (log id {:?})", cancelled.run.id, cancelled.run.status, cancelled.log_id());
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
    token_http: crate::auth::TokenHttp,
    retry: RetryPolicy,
    in_flight: InFlightLimitLayer,
    operation: OperationLayer,
    attempt: AttemptLayer,
    attempt_timeout: Duration,
    overall_timeout: Duration,
    cancels: Arc<BackgroundCancels>,
    rate_limit: crate::rate_limit::RateLimitLayer,
    journal: Option<Arc<crate::journal::Journal>>,
}

/// A [`Client`] that does not keep it alive (the run journal's timer task holds one).
#[derive(Clone)]
pub(crate) struct WeakClient {
    http: DefaultHttp,
    settings: std::sync::Weak<Settings>,
}

impl WeakClient {
    /// The client, while a clone of it is alive.
    pub(crate) fn upgrade(&self) -> Option<Client> {
        Some(Client {
            http: self.http.clone(),
            settings: self.settings.upgrade()?,
        })
    }
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
    ) -> impl Future<Output = Result<Reply<CancelResponse>, Error>> + Send + 'static {
        let call = self.call_checked(CancelRequest::new(session_id, run_id));
        crate::journal::settle_on_reply(self.journal().cloned(), call, |_| true)
    }

    /// Reads run `run_id` of session `session_id`: its status now.
    pub fn get_run(
        &self,
        session_id: impl AsRef<str>,
        run_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<Reply<GetRunResponse>, Error>> + Send + 'static {
        let call = self.call_checked(GetRunRequest::new(session_id, run_id));
        crate::journal::settle_on_reply(self.journal().cloned(), call, |run| {
            run.status.is_terminal()
        })
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
    ) -> Result<Reply<RunResponse>, Error> {
        cancel_and_wait(
            self.cancel_service(),
            self.get_run_service(),
            session_id,
            run_id,
            options,
        )
        .await
    }

    /// Creates a session (`POST /open-apis/aily/v1/sessions`). Not retried after it
    /// may have reached the server unless the request opts in.
    ///
    /// ```no_run
    /// # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
    /// use aily_client::sessions::CreateSessionRequest;
    /// let created = client.create_session(CreateSessionRequest::new()).await?;
    /// println!("{}", created.session.id);
    /// # Ok(()) }
    /// ```
    pub fn create_session(
        &self,
        request: CreateSessionRequest,
    ) -> impl Future<Output = Result<Reply<SessionResponse>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Reads session `session_id`.
    pub fn get_session(
        &self,
        session_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<Reply<SessionResponse>, Error>> + Send + 'static {
        self.call_checked(GetSessionRequest::new(session_id))
    }

    /// Changes a session's `channel_context` or `metadata`.
    pub fn update_session(
        &self,
        request: UpdateSessionRequest,
    ) -> impl Future<Output = Result<Reply<SessionResponse>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Deletes session `session_id`.
    pub fn delete_session(
        &self,
        session_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<Reply<DeleteSessionResponse>, Error>> + Send + 'static {
        self.call_checked(DeleteSessionRequest::new(session_id))
    }

    /// Posts a message to a session; safe to retry (its `idempotent_id`).
    pub fn create_message(
        &self,
        request: CreateMessageRequest,
    ) -> impl Future<Output = Result<Reply<MessageResponse>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Reads message `message_id` of session `session_id`.
    pub fn get_message(
        &self,
        session_id: impl AsRef<str>,
        message_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<Reply<MessageResponse>, Error>> + Send + 'static {
        self.call_checked(GetMessageRequest::new(session_id, message_id))
    }

    /// One page of a session's messages.
    pub fn list_messages(
        &self,
        request: ListMessagesRequest,
    ) -> impl Future<Output = Result<Reply<ListResponse<Message>>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Every message of every page of `request`, in order (see [`paginate::pages`]).
    pub fn messages_stream(
        &self,
        request: ListMessagesRequest,
    ) -> impl Stream<Item = Result<Message, Error>> + Send + 'static {
        paginate::pages(self.stack::<ListMessagesRequest>(), request)
    }

    /// Starts a run on a session. Not retried after it may have reached the server
    /// unless the request opts in; the error then says the run may exist. With a run
    /// journal ([`ClientBuilder::journal`]), the run is recorded before the request is
    /// sent (see [`crate::journal`]).
    pub fn create_run(
        &self,
        request: CreateRunRequest,
    ) -> impl Future<Output = Result<Reply<RunResponse>, Error>> + Send + 'static {
        crate::journal::around_create(self, request)
    }

    /// The call of a create-run request through the default stack, not journaled.
    pub(crate) fn create_run_unjournaled(
        &self,
        request: CreateRunRequest,
    ) -> impl Future<Output = Result<Reply<RunResponse>, Error>> + Send + 'static {
        self.start(request)
    }

    /// The client's run journal, when it has one.
    pub(crate) fn journal(&self) -> Option<&Arc<crate::journal::Journal>> {
        self.settings.journal.as_ref()
    }

    /// This client without keeping it alive.
    pub(crate) fn downgrade(&self) -> WeakClient {
        WeakClient {
            http: self.http.clone(),
            settings: Arc::downgrade(&self.settings),
        }
    }

    /// Run `run_id` needs no cancel from this process any more: its journal entry (if
    /// any) is completed.
    pub(crate) fn journal_run_settled(&self, run_id: &str) {
        if let Some(journal) = self.journal() {
            journal.run_settled(run_id);
        }
    }

    /// One page of a session's runs.
    pub fn list_runs(
        &self,
        request: ListRunsRequest,
    ) -> impl Future<Output = Result<Reply<ListResponse<Run>>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Every run of every page of `request`, in order (see [`paginate::pages`]).
    pub fn runs_stream(
        &self,
        request: ListRunsRequest,
    ) -> impl Stream<Item = Result<Run, Error>> + Send + 'static {
        paginate::pages(self.stack::<ListRunsRequest>(), request)
    }

    /// Starts a run and hands back its [`RunHandle`]: dropped before the run ends, it
    /// cancels the run in the background.
    pub async fn create_run_handle(&self, request: CreateRunRequest) -> Result<RunHandle, Error> {
        let session_id = request.id(0).to_owned();
        let created = self.create_run(request).await?;
        RunHandle::new(self.clone(), session_id, created.into_data().run)
    }

    /// Asks Aily app `app_id` a question: set it with [`Ask::text`], then `.await`
    /// the [`Answer`](crate::ask::Answer) or [`stream`](Ask::stream) it.
    pub fn ask(&self, app_id: impl Into<String>) -> Ask {
        Ask::new(self.clone(), app_id)
    }

    /// `ask(app_id).text(text).stream()`: the answer as it is written.
    pub fn ask_stream(
        &self,
        app_id: impl Into<String>,
        text: impl Into<String>,
    ) -> impl Stream<Item = Result<AskEvent, Error>> + Send + 'static {
        self.ask(app_id).text(text).stream()
    }

    /// What the background cancels of this client (and its clones) have done.
    pub fn background_cancels(&self) -> BackgroundCancelStats {
        self.settings.cancels.stats()
    }

    /// Waits until every background cancel of this client is done and its worker
    /// task has ended: call it before a service exits, so it leaves no run behind.
    /// Bounded by [`DEFAULT_SHUTDOWN_TIMEOUT`](crate::background::DEFAULT_SHUTDOWN_TIMEOUT)
    /// (15 s): past it, the cancels still pending are logged and left. Cancels whose
    /// runtime was dropped are run on the runtime this is awaited on.
    pub async fn shutdown(&self) {
        self.shutdown_within(crate::background::DEFAULT_SHUTDOWN_TIMEOUT)
            .await;
    }

    /// [`shutdown`](Client::shutdown) bounded by `bound`: `true` when every
    /// background cancel was done in time, `false` when some were still pending at
    /// the bound (they are logged at WARN and left).
    pub async fn shutdown_within(&self, bound: Duration) -> bool {
        self.settings.cancels.drain(self, bound).await
    }

    /// Queues a cancel of a run whose owner went away (never blocks).
    pub(crate) fn cancel_in_background(
        &self,
        runtime: Option<&tokio::runtime::Handle>,
        session_id: &str,
        run: crate::background::Target,
    ) {
        self.settings
            .cancels
            .enqueue(self, runtime, session_id, run);
    }

    /// Sends any typed request through the default stack.
    pub fn call<R: AilyRequest>(
        &self,
        request: R,
    ) -> impl Future<Output = Result<Reply<R::Response>, Error>> + Send + 'static {
        self.start(request)
    }

    /// The future of one call of the default stack. Nothing runs until it is first
    /// polled (tower's `Oneshot` readies the stack, then calls it), so the future may
    /// be made outside a tokio runtime and run inside one.
    fn start<R: AilyRequest>(
        &self,
        request: R,
    ) -> CallFuture<impl Future<Output = Result<Reply<R::Response>, Error>> + Send + 'static> {
        CallFuture::Call {
            future: self.stack::<R>().oneshot(request),
        }
    }

    /// A call of a request that may have failed validation: the error at once, or the
    /// call. No `async` frame around the stack's future, so nothing is copied twice.
    fn call_checked<R: AilyRequest>(
        &self,
        request: Result<R, Error>,
    ) -> impl Future<Output = Result<Reply<R::Response>, Error>> + Send + 'static {
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

    /// The typed service of the default stack for request type `R`, erased
    /// (`Clone + Send + Sync`, no worker task).
    ///
    /// The stack, outer to inner, is drawn in the crate docs, [The stack](crate#the-stack);
    /// `stack()` (the typed tier) and `http_tier()` (shared by every typed service of
    /// a client and its clones) below build it. Every layer is public, so the same
    /// stack can be rebuilt (and extended) in your own [`tower::ServiceBuilder`] over
    /// [`http_service`](Client::http_service) — see `examples/custom_stack.rs`.
    pub fn service<R: AilyRequest>(&self) -> AilyService<R> {
        BoxCloneSyncService::new(self.stack::<R>())
    }

    /// The typed tier of the default stack for `R` over the client's HTTP tier, as its
    /// concrete type (drawn at [The stack](crate#the-stack)). Nothing here is boxed, so a call through it allocates only what its layers must;
    /// [`service`](Client::service) erases it for callers who need a nameable type.
    fn stack<R: AilyRequest>(
        &self,
    ) -> impl Service<R, Response = Reply<R::Response>, Error = Error, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static {
        let s = &self.settings;
        ServiceBuilder::new()
            .layer(s.operation.clone())
            .layer(DeadlineLayer::new(s.overall_timeout))
            .layer(retry_layer(s.retry.clone()))
            .layer(s.rate_limit.clone())
            .layer(s.in_flight.clone())
            .layer(s.attempt.clone())
            .layer(AttemptTimeoutLayer::new(s.attempt_timeout))
            .layer(ApiCallLayer::new())
            .service(self.http.clone())
    }

    /// The layers of the typed tier of the default stack for `R`, outer to inner, by
    /// name ([`typed_layer_names`](crate::api_call::typed_layer_names) of the stack
    /// itself): what the README's drawing lists, checked by a test.
    ///
    /// ```
    /// use aily_client::{CancelRequest, Client, Credentials};
    /// let client = Client::builder().credentials(Credentials::tenant_token("t")).build()?;
    /// let layers = client.typed_layers::<CancelRequest>();
    /// assert_eq!(layers.first().map(String::as_str), Some("OperationLayer"));
    /// assert_eq!(layers.last().map(String::as_str), Some("ApiCallLayer"));
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn typed_layers<R: AilyRequest>(&self) -> Vec<String> {
        crate::api_call::typed_layer_names(&self.stack::<R>())
    }

    /// The HTTP tier of this client (auth, base URI, body collection, connection pool),
    /// to build your own typed stack on.
    pub fn http_service(&self) -> HttpService {
        HttpService::new(self.http.clone())
    }

    /// Where this client sends token requests: its transport without auth, to its
    /// base URL, under the attempt timeout and the attempt observers (see
    /// [`TokenHttp`](crate::auth::TokenHttp)). For a login
    /// ([`exchange_code`](crate::auth::exchange_code)) or your own token source.
    pub fn token_http(&self) -> crate::auth::TokenHttp {
        self.settings.token_http.clone()
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &BaseUrl {
        &self.settings.base_url
    }
}

/// The HTTP tier without auth (drawn at [The stack](crate#the-stack)): base URI, bounded body,
/// the hyper-util client. Tenant tokens are fetched through it.
fn unauthenticated_tier(
    base_url: &BaseUrl,
    transport: &TransportConfig,
    max_body_bytes: usize,
) -> Result<Unauthenticated, Error> {
    Ok(ServiceBuilder::new()
        .layer(BaseUriLayer::new(base_url.clone()))
        .layer(CollectBodyLayer::new(max_body_bytes))
        .service(SharedClient::new(hyper_client(transport)?)))
}

/// The HTTP tier of the default stack (drawn at [The stack](crate#the-stack)): auth over the
/// unauthenticated tier.
fn http_tier(auth: AuthLayer, unauthenticated: Unauthenticated) -> DefaultHttp {
    ServiceBuilder::new().layer(auth).service(unauthenticated)
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
    /// As given; `Debug` hides its user info.
    base_url: Option<crate::transport::BaseUrlText>,
    allow_insecure_http: bool,
    transport: TransportConfig,
    extra_roots_der: Vec<Vec<u8>>,
    attempt_timeout: Duration,
    overall_timeout: Duration,
    max_body_bytes: usize,
    max_in_flight: usize,
    cancel_concurrency: usize,
    cancel_timeout: Duration,
    token_refresh_margin: Duration,
    retry: RetryConfig,
    /// Set by [`ClientBuilder::max_attempts`]; wins over `retry`'s, in any order.
    max_attempts: Option<u32>,
    /// Set by [`ClientBuilder::retry_event_level`]; wins over `retry`'s, in any order.
    retry_event_level: Option<tracing::Level>,
    operation_span_level: tracing::Level,
    attempt_span_level: tracing::Level,
    record_url_full: bool,
    observer: Option<UserObserver>,
    pub(crate) fleet: crate::fleet::FleetConfig,
    pub(crate) journal: Option<Arc<dyn crate::journal::RunJournal>>,
    pub(crate) journal_config: crate::journal::JournalConfig,
}

/// A user's [`Observer`], as the builder keeps it.
#[derive(Clone)]
struct UserObserver(Arc<dyn Observer>);

impl fmt::Debug for UserObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer")
    }
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
            cancel_concurrency: DEFAULT_CANCEL_CONCURRENCY,
            cancel_timeout: DEFAULT_CANCEL_TIMEOUT,
            token_refresh_margin: DEFAULT_REFRESH_MARGIN,
            retry: RetryConfig::default(),
            max_attempts: None,
            retry_event_level: None,
            operation_span_level: tracing::Level::INFO,
            attempt_span_level: tracing::Level::DEBUG,
            record_url_full: false,
            observer: None,
            fleet: Default::default(),
            journal: None,
            journal_config: Default::default(),
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
        self.base_url = Some(crate::transport::BaseUrlText(base_url.into()));
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
    /// (see [`RetryConfig`] for the defaults). [`max_attempts`](ClientBuilder::max_attempts)
    /// and [`retry_event_level`](ClientBuilder::retry_event_level), when set, win over
    /// the config's, whichever is called first.
    pub fn retry(mut self, config: RetryConfig) -> Self {
        self.retry = config;
        self
    }

    /// At most this many attempts per call, the first included (default 3; 1 turns retry off).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
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
        self.retry_event_level = Some(level);
        self
    }

    /// Record `url.full` on attempt spans (default off: the path holds session and run
    /// IDs, which may count as personal data).
    pub fn record_url_full(mut self, enabled: bool) -> Self {
        self.record_url_full = enabled;
        self
    }

    /// Also tell `observer` how each call and each attempt ended (see
    /// [`observe`](crate::observe)): your own metrics, sampling or audit, beside the
    /// crate's spans and metrics.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(UserObserver(observer));
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

    /// Background cancels (of runs whose [`RunHandle`] or `ask` future was dropped):
    /// at most `concurrency` at once (default 16), each bounded by `timeout`, retries
    /// included (default 10 s).
    pub fn background_cancels(mut self, concurrency: usize, timeout: Duration) -> Self {
        self.cancel_concurrency = concurrency;
        self.cancel_timeout = timeout;
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
            Some(text) => BaseUrl::parse(&text.0)?,
            None => BaseUrl::feishu(),
        };
        if !base_url.is_https() && !base_url.is_loopback() && !self.allow_insecure_http {
            return Err(Error::config(format!(
                "refusing plain http to {base_url}: tokens would cross the network unencrypted; \
                 use https, or allow_insecure_http(true) for a trusted network"
            )));
        }
        let mut retry = self.retry;
        retry.max_attempts = self.max_attempts.unwrap_or(retry.max_attempts);
        retry.event_level = self.retry_event_level.unwrap_or(retry.event_level);
        let max_rate_limit_wait = retry.max_rate_limit_wait;
        let retry = RetryPolicy::new(retry)?;
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
        let unauthenticated = unauthenticated_tier(&base_url, &transport, self.max_body_bytes)?;
        let token_http = crate::auth::TokenHttp::to(
            HttpService::new(unauthenticated.get_ref().clone()),
            &base_url,
            self.attempt_timeout,
        )
        .span_level(self.attempt_span_level);
        let auth = fleet.auth_layer(
            &credentials,
            &base_url,
            token_http.clone(),
            self.token_refresh_margin,
        )?;
        let http = http_tier(auth, unauthenticated);
        let journal = self
            .journal
            .map(|store| Arc::new(crate::journal::Journal::new(store, self.journal_config)));
        Ok(Client {
            http,
            settings: Arc::new(Settings {
                token_http,
                operation: {
                    let layer = OperationLayer::new().with_level(self.operation_span_level);
                    match &self.observer {
                        Some(UserObserver(observer)) => layer.observer(observer.clone()),
                        None => layer,
                    }
                },
                attempt: {
                    let layer = AttemptLayer::new()
                        .with_level(self.attempt_span_level)
                        .server(&base_url)
                        .record_url_full(self.record_url_full);
                    match self.observer {
                        Some(UserObserver(observer)) => layer.observer(observer),
                        None => layer,
                    }
                },
                base_url,
                retry,
                in_flight: InFlightLimitLayer::new(self.max_in_flight),
                attempt_timeout: self.attempt_timeout,
                overall_timeout: self.overall_timeout,
                cancels: Arc::new(BackgroundCancels::new(
                    self.cancel_concurrency,
                    DEFAULT_CANCEL_QUEUE,
                    self.cancel_timeout,
                )),
                rate_limit: fleet.rate_limit,
                journal,
            }),
        })
    }
}
