//! What every bench binary shares: the minimal loopback server (in a thread of this
//! process, or in a child process of the bench binary itself), the clients compared
//! (bare hyper-util, reqwest, our stack) and the in-memory stacks of the layer benches.
//!
//! Every bench binary includes this module and uses a different part of it.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aily_client::api_call::{ApiCallLayer, Reply};
use aily_client::auth::{AuthLayer, TenantTokenSource};
use aily_client::in_flight::InFlightLimitLayer;
use aily_client::observe::{AttemptLayer, OperationLayer};
use aily_client::retry::{RetryConfig, RetryPolicy, retry_layer};
use aily_client::timeout::{AttemptTimeoutLayer, DeadlineLayer};
use aily_client::transport::{
    BaseUriLayer, BaseUrl, CollectBodyLayer, DEFAULT_MAX_BODY_BYTES, HttpService, RequestBody,
};
use aily_client::{
    AccessToken, AilyRequest, BoxError, CancelRequest, CancelResponse, CancelService, Client,
    Credentials, Error, Run, TokenKind,
};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Deserialize;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};

/// The session and run every call names.
pub const SESSION_ID: &str = "s";
/// See [`SESSION_ID`].
pub const RUN_ID: &str = "run_1";
/// The static token, and the token the token endpoint hands out.
pub const TOKEN: &str = "t-bench";
/// The cancel path every variant posts to.
pub const CANCEL_PATH: &str = "/open-apis/aily/v1/sessions/s/runs/run_1/cancel";
/// The tenant-token endpoint.
pub const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
/// The `User-Agent` our stack sends; the other clients send the same.
pub const UA: &str = concat!("aily-client/", env!("CARGO_PKG_VERSION"));
/// The `Content-Type` our stack sends; the other clients send the same.
pub const JSON: &str = "application/json; charset=utf-8";
/// The reply to every cancel.
pub const CANCEL_BODY: &[u8] = br#"{"code":0,"msg":"success","data":{"run":{"id":"run_1","status":"CANCELLED","created_at":"1711975665710","session_id":"s","app_id":"spring_x__c","metadata":"{}"}}}"#;
/// The reply of the token endpoint.
pub const TOKEN_BODY: &[u8] =
    br#"{"code":0,"msg":"ok","tenant_access_token":"t-bench","expire":7200}"#;
/// The `X-Tt-Logid` of every reply.
pub const LOG_ID: &str = "20240401123456BENCH0000000000001";
const LOG_ID_HEADER: &str = "x-tt-logid";
/// The child process serves when this is set (see [`serve_if_child`]).
const SERVE_ENV: &str = "AILY_BENCH_SERVE";

// ───────────────────────────── the server ─────────────────────────────

/// What the server counts.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections accepted.
    pub connections: AtomicUsize,
    /// Requests to the token endpoint.
    pub token_requests: AtomicUsize,
    /// Other POSTs (cancels).
    pub cancels: AtomicUsize,
}

impl Counters {
    /// `(connections, token requests, cancels)` now.
    pub fn snapshot(&self) -> (usize, usize, usize) {
        (
            self.connections.load(Ordering::Relaxed),
            self.token_requests.load(Ordering::Relaxed),
            self.cancels.load(Ordering::Relaxed),
        )
    }
}

/// The minimal server: hyper 1, HTTP/1.1 keep-alive, on 127.0.0.1:0, on a
/// current-thread tokio runtime in a thread of its own. Stops when dropped.
pub struct Server {
    addr: SocketAddr,
    /// What it has counted.
    pub counters: Arc<Counters>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts the server thread; returns once it listens.
    pub fn start() -> Server {
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name("bench-server".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("server runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind 127.0.0.1:0");
                    ready_tx
                        .send(listener.local_addr().expect("local addr"))
                        .expect("report the address");
                    accept_loop(listener, c, stopped).await;
                });
                // Dropping the runtime cancels the connection tasks.
                drop(rt);
            })
            .expect("spawn the server thread");
        let addr = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the server starts");
        Server {
            addr,
            counters,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    counters: Arc<Counters>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                counters.connections.fetch_add(1, Ordering::Relaxed);
                let c = counters.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(req, c.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    counters: Arc<Counters>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::POST {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return Ok(r);
    }
    let token = req.uri().path() == TOKEN_PATH;
    let _ = req.into_body().collect().await;
    let body = if token {
        counters.token_requests.fetch_add(1, Ordering::Relaxed);
        TOKEN_BODY
    } else {
        counters.cancels.fetch_add(1, Ordering::Relaxed);
        CANCEL_BODY
    };
    let mut r = Response::new(Full::new(Bytes::from_static(body)));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    h.insert(LOG_ID_HEADER, HeaderValue::from_static(LOG_ID));
    Ok(r)
}

/// In a child started by [`ChildServer::spawn`]: serves until stdin closes, then exits
/// the process. Otherwise returns at once. Call it first thing in `main`.
pub fn serve_if_child() {
    if std::env::var_os(SERVE_ENV).is_none() {
        return;
    }
    let server = Server::start();
    println!("{}", server.addr);
    let _ = std::io::stdout().flush();
    // The parent holds our stdin: EOF means it is done (or gone).
    let mut sink = Vec::new();
    let _ = std::io::stdin().lock().read_to_end(&mut sink);
    drop(server);
    std::process::exit(0);
}

/// The same server in a child process (this bench binary, re-executed), so that what
/// this process allocates or executes is the client's alone.
pub struct ChildServer {
    child: Child,
    stdin: Option<ChildStdin>,
    addr: SocketAddr,
}

impl ChildServer {
    /// Starts the child and waits (at most 10 s) for its address.
    pub fn spawn() -> ChildServer {
        let exe = std::env::current_exe().expect("current exe");
        let mut child = Command::new(exe)
            .env(SERVE_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the server process");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the server process reports its address");
        let addr = line.trim().parse().expect("an address");
        ChildServer { child, stdin, addr }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        drop(self.stdin.take()); // EOF: the child exits
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ───────────────────────────── the clients ─────────────────────────────

/// The envelope as the `_json` variants of the other clients parse it: into the same
/// `Run` type our stack decodes into, plus the log id as an owned string, so the JSON
/// work is the same as ours.
#[derive(Deserialize)]
pub struct Envelope {
    /// 0 on success.
    pub code: i64,
    /// The message.
    #[serde(default)]
    pub msg: String,
    /// The payload.
    pub data: Option<Data>,
}

/// `data` of the envelope.
#[derive(Deserialize)]
pub struct Data {
    /// The run.
    pub run: Run,
}

/// What the `_json` variants return: what our `CancelResponse` holds.
pub struct Parsed {
    /// The run.
    pub run: Run,
    /// `X-Tt-Logid`.
    pub log_id: Option<String>,
}

fn parse(body: &[u8], log_id: Option<&HeaderValue>) -> Parsed {
    let env: Envelope = serde_json::from_slice(body).expect("a cancel envelope");
    assert_eq!(env.code, 0, "code 0");
    Parsed {
        run: env.data.expect("data").run,
        log_id: log_id.and_then(|v| v.to_str().ok()).map(str::to_owned),
    }
}

/// The floor: hyper-util's legacy pooled client over `HttpConnector` (nodelay, as
/// ours), the same request (`POST`, body `{}`, authorization, user-agent,
/// content-type), the whole body read.
pub struct Bare {
    client: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
    uri: Uri,
    auth: HeaderValue,
}

impl Bare {
    /// A client for `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Bare {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client =
            hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
        let mut auth = HeaderValue::from_static("Bearer t-bench");
        auth.set_sensitive(true);
        Bare {
            client,
            uri: format!("{base}{CANCEL_PATH}").parse().expect("a URI"),
            auth,
        }
    }

    /// One call: the reply's headers and whole body.
    pub async fn call(&self) -> Response<Bytes> {
        let mut req = Request::new(Full::new(Bytes::from_static(b"{}")));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        let h = req.headers_mut();
        h.insert(AUTHORIZATION, self.auth.clone());
        h.insert(USER_AGENT, HeaderValue::from_static(UA));
        h.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
        let resp = self.client.request(req).await.expect("bare hyper call");
        assert!(resp.status().is_success());
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("bare hyper body").to_bytes();
        Response::from_parts(parts, body)
    }

    /// One call, the envelope parsed with serde_json as ours is.
    pub async fn call_json(&self) -> Parsed {
        let resp = self.call().await;
        parse(resp.body(), resp.headers().get(LOG_ID_HEADER))
    }
}

/// reqwest 0.12 (no TLS), the same request; `.bytes()` then the envelope parsed with
/// serde_json as ours is.
pub struct Reqwest {
    client: reqwest::Client,
    url: String,
}

impl Reqwest {
    /// A client for `base`.
    pub fn new(base: &str) -> Reqwest {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .expect("reqwest client");
        Reqwest {
            client,
            url: format!("{base}{CANCEL_PATH}"),
        }
    }

    /// One call, parsed.
    pub async fn call_json(&self) -> Parsed {
        let resp = self
            .client
            .post(&self.url)
            .header(AUTHORIZATION, "Bearer t-bench")
            .header(USER_AGENT, UA)
            .header(CONTENT_TYPE, JSON)
            .body("{}")
            .send()
            .await
            .expect("reqwest call");
        assert!(resp.status().is_success());
        let log_id = resp.headers().get(LOG_ID_HEADER).cloned();
        let body = resp.bytes().await.expect("reqwest body");
        parse(&body, log_id.as_ref())
    }
}

/// Our client with a static tenant token.
pub fn stack_static(base: &str) -> Client {
    Client::builder()
        .credentials(Credentials::tenant_token(TOKEN))
        .base_url(base)
        .build()
        .expect("client")
}

/// Our client with app credentials (its token cache starts cold).
pub fn stack_app(base: &str) -> Client {
    Client::builder()
        .credentials(Credentials::app("cli_x", "secret"))
        .base_url(base)
        .build()
        .expect("client")
}

/// The end-to-end variants, each one call to the loopback server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// bare hyper-util client, body read, no JSON parse: the floor.
    Bare,
    /// bare hyper-util client + serde_json parse of the envelope.
    BareJson,
    /// reqwest + serde_json parse of the envelope.
    ReqwestJson,
    /// `client.cancel_run("s", "run_1")`, static token.
    StackCancelRun,
    /// `client.cancel_service()` cloned + `oneshot(prebuilt request.clone())`, static token.
    StackService,
    /// `client.cancel_run`, app credentials, warm token cache.
    StackAppWarm,
}

impl Variant {
    /// All of them, the floor first.
    pub const ALL: [Variant; 6] = [
        Variant::Bare,
        Variant::BareJson,
        Variant::ReqwestJson,
        Variant::StackCancelRun,
        Variant::StackService,
        Variant::StackAppWarm,
    ];

    /// The bench id.
    pub fn id(self) -> &'static str {
        match self {
            Variant::Bare => "bare_hyper",
            Variant::BareJson => "bare_hyper_json",
            Variant::ReqwestJson => "reqwest_json",
            Variant::StackCancelRun => "stack_cancel_run",
            Variant::StackService => "stack_service_oneshot",
            Variant::StackAppWarm => "stack_app_warm",
        }
    }

    /// What it is, for the tables.
    pub fn describe(self) -> &'static str {
        match self {
            Variant::Bare => "bare hyper-util, no JSON parse (floor)",
            Variant::BareJson => "bare hyper-util + serde_json envelope",
            Variant::ReqwestJson => "reqwest .bytes() + serde_json envelope",
            Variant::StackCancelRun => "ours: cancel_run, static token",
            Variant::StackService => "ours: cancel_service().oneshot, static",
            Variant::StackAppWarm => "ours: cancel_run, app creds (warm)",
        }
    }
}

/// Every client, against one server.
pub struct Clients {
    /// The floor.
    pub bare: Bare,
    /// reqwest.
    pub reqwest: Reqwest,
    /// Ours, static token.
    pub stack: Client,
    /// Ours, static token, as the boxed `CancelService`.
    pub service: CancelService,
    /// Ours, app credentials.
    pub app: Client,
    /// The request the service variant sends (cloned per call).
    pub request: CancelRequest,
}

impl Clients {
    /// Clients for the server at `base`.
    pub fn new(base: &str) -> Clients {
        let stack = stack_static(base);
        Clients {
            bare: Bare::new(base),
            reqwest: Reqwest::new(base),
            service: stack.cancel_service(),
            stack,
            app: stack_app(base),
            request: CancelRequest::new(SESSION_ID, RUN_ID).expect("request"),
        }
    }

    /// One call of `v`; its result goes to `black_box`.
    pub async fn once(&self, v: Variant) {
        match v {
            Variant::Bare => {
                std::hint::black_box(self.bare.call().await);
            }
            Variant::BareJson => {
                std::hint::black_box(self.bare.call_json().await);
            }
            Variant::ReqwestJson => {
                std::hint::black_box(self.reqwest.call_json().await);
            }
            Variant::StackCancelRun => {
                std::hint::black_box(self.stack.cancel_run(SESSION_ID, RUN_ID).await.unwrap());
            }
            Variant::StackService => {
                let svc = self.service.clone();
                std::hint::black_box(svc.oneshot(self.request.clone()).await.unwrap());
            }
            Variant::StackAppWarm => {
                std::hint::black_box(self.app.cancel_run(SESSION_ID, RUN_ID).await.unwrap());
            }
        }
    }

    /// `n` sequential calls of `v`.
    pub async fn sequential(&self, v: Variant, n: u64) {
        for _ in 0..n {
            self.once(v).await;
        }
    }

    /// Warms every variant: pooled connections, app token cached.
    pub async fn warm_up(self: &Arc<Self>, calls_each: u64) {
        for v in Variant::ALL {
            self.sequential(v, calls_each).await;
            batch(self, v, 64).await;
        }
    }
}

/// `n` concurrent calls of `v` (spawned on the current runtime), all awaited.
pub async fn batch(clients: &Arc<Clients>, v: Variant, n: usize) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let c = clients.clone();
        set.spawn(async move { c.once(v).await });
    }
    while let Some(r) = set.join_next().await {
        r.expect("a call of the batch");
    }
}

/// The client side's runtime in every bench: current-thread, on the bench's thread
/// (the server has its own thread or process; this machine has 2 cores).
pub fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime")
}

// ───────────────────────── the in-memory layer stacks ─────────────────────────

/// The reply the in-memory inner services return, rebuilt per call from static parts
/// (an `http::Response` is not `Clone`): the cancel body and the same two headers.
pub fn cancel_response<B: From<Bytes>>() -> Response<B> {
    let mut r = Response::new(B::from(Bytes::from_static(CANCEL_BODY)));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    h.insert(LOG_ID_HEADER, HeaderValue::from_static(LOG_ID));
    r
}

/// An in-memory HTTP tier: every request gets [`cancel_response`] as `Response<Bytes>`,
/// after yielding once to the runtime as a network call would (so every layer's future
/// is polled once pending, as on the wire: the timeouts register their timers).
pub fn inner_bytes() -> impl Service<
    Request<RequestBody>,
    Response = Response<Bytes>,
    Error = BoxError,
    Future: Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    tower::service_fn(|_req: Request<RequestBody>| async {
        tokio::task::yield_now().await;
        Ok::<_, BoxError>(cancel_response::<Bytes>())
    })
}

/// The same (yielding once) with a `Full<Bytes>` body, for stacks with `CollectBodyLayer`.
pub fn inner_full() -> impl Service<
    Request<RequestBody>,
    Response = Response<Full<Bytes>>,
    Error = BoxError,
    Future: Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    tower::service_fn(|_req: Request<RequestBody>| async {
        tokio::task::yield_now().await;
        Ok::<_, BoxError>(cancel_response::<Full<Bytes>>())
    })
}

/// An in-memory token endpoint, for the app-credentials stacks.
pub fn token_http() -> HttpService {
    HttpService::new(tower::service_fn(|_req: Request<RequestBody>| {
        let mut r = Response::new(Bytes::from_static(TOKEN_BODY));
        r.headers_mut()
            .insert(LOG_ID_HEADER, HeaderValue::from_static(LOG_ID));
        std::future::ready(Ok::<_, BoxError>(r))
    }))
}

/// Base URL of the in-memory stacks (nothing connects to it).
pub fn mem_base() -> BaseUrl {
    BaseUrl::parse("http://127.0.0.1:9").expect("base url")
}

/// The fixed-token auth layer.
pub fn fixed_auth() -> AuthLayer {
    AuthLayer::fixed(AccessToken::new(TokenKind::Tenant, TOKEN).expect("token"))
}

/// The app-credentials auth layer over the in-memory token endpoint (cold until the
/// first call).
pub fn app_auth() -> AuthLayer {
    AuthLayer::from_source(Arc::new(TenantTokenSource::new(
        "cli_x",
        "secret",
        token_http(),
    )))
}

/// The default client's durations and levels (see `Client::builder`).
const ATTEMPT: Duration = Duration::from_secs(10);
const OVERALL: Duration = Duration::from_secs(30);

fn retry() -> tower::retry::RetryLayer<RetryPolicy> {
    retry_layer(RetryPolicy::new(RetryConfig::default()).expect("retry policy"))
}

fn attempt_span() -> AttemptLayer {
    AttemptLayer::new()
        .with_level(tracing::Level::DEBUG)
        .server(&mem_base())
}

/// A typed in-memory stack, erased for the bench tables. The erasure is outside the
/// timed loop: each run clones the concrete service into its future and drives it
/// through `ready().call()` ([`drive`]).
pub trait LayerStack {
    /// Runs `n` calls with clones of `req`; returns the time taken.
    fn run(&self, req: &CancelRequest, n: u64) -> Pin<Box<dyn Future<Output = Duration>>>;
}

struct Typed<S>(S);

impl<S> LayerStack for Typed<S>
where
    S: Service<CancelRequest> + Clone + 'static,
    S::Error: std::fmt::Debug,
    S::Future: 'static,
{
    fn run(&self, req: &CancelRequest, n: u64) -> Pin<Box<dyn Future<Output = Duration>>> {
        let mut svc = self.0.clone();
        let req = req.clone();
        Box::pin(async move {
            let start = Instant::now();
            drive(&mut svc, &req, n).await;
            start.elapsed()
        })
    }
}

/// `n` calls of `svc` through `ready().call(req.clone())`, results to `black_box`
/// (a `Reply` of a `CancelResponse`, from a whole stack or a partial one).
pub async fn drive<S>(svc: &mut S, req: &CancelRequest, n: u64)
where
    S: Service<CancelRequest>,
    S::Error: std::fmt::Debug,
{
    for _ in 0..n {
        let out = svc.ready().await.unwrap().call(req.clone()).await.unwrap();
        std::hint::black_box(out);
    }
}

/// The HTTP tier alone (in-memory inner, `to_http` per call, no decode): the floor of
/// the layer benches.
struct HttpOnly<S>(S);

impl<S> LayerStack for HttpOnly<S>
where
    S: Service<Request<RequestBody>, Response = Response<Bytes>> + Clone + 'static,
    S::Error: std::fmt::Debug,
    S::Future: 'static,
{
    fn run(&self, req: &CancelRequest, n: u64) -> Pin<Box<dyn Future<Output = Duration>>> {
        let mut svc = self.0.clone();
        let req = req.clone();
        Box::pin(async move {
            let start = Instant::now();
            for _ in 0..n {
                let http = req.to_http();
                let out = svc.ready().await.unwrap().call(http).await.unwrap();
                std::hint::black_box(out);
            }
            start.elapsed()
        })
    }
}

/// No service: `CancelRequest::decode` of a fresh reply.
struct DecodeOnly;

impl LayerStack for DecodeOnly {
    fn run(&self, _req: &CancelRequest, n: u64) -> Pin<Box<dyn Future<Output = Duration>>> {
        Box::pin(async move {
            let start = Instant::now();
            for _ in 0..n {
                let out = CancelRequest::decode(cancel_response::<Bytes>()).unwrap();
                std::hint::black_box(out);
            }
            start.elapsed()
        })
    }
}

/// `CancelRequest::new("s", "run_1")`: what `cancel_run` does before the stack.
struct RequestNew;

impl LayerStack for RequestNew {
    fn run(&self, _req: &CancelRequest, n: u64) -> Pin<Box<dyn Future<Output = Duration>>> {
        Box::pin(async move {
            let start = Instant::now();
            for _ in 0..n {
                let req = CancelRequest::new(std::hint::black_box(SESSION_ID), RUN_ID);
                std::hint::black_box(req.unwrap());
            }
            start.elapsed()
        })
    }
}

/// The layer stacks, cumulative from the inside out in the order of the default
/// stack (`Client::stack`), each over the in-memory inner service: `(id, what, stack)`.
pub fn layer_stacks() -> Vec<(&'static str, &'static str, Box<dyn LayerStack>)> {
    let base = mem_base();
    vec![
        (
            "m0_request_new",
            "CancelRequest::new (validate, encode path, Arc)",
            Box::new(RequestNew),
        ),
        (
            "m0_decode_only",
            "CancelRequest::decode of a reply (serde_json)",
            Box::new(DecodeOnly),
        ),
        (
            "m0_http_inner",
            "to_http + in-memory inner (yields once): floor",
            Box::new(HttpOnly(inner_bytes())),
        ),
        (
            "m1_api_call",
            "ApiCallLayer (to_http + decode)",
            Box::new(Typed(
                ServiceBuilder::new()
                    .layer(ApiCallLayer::new())
                    .service(inner_bytes()),
            )),
        ),
        (
            "m2_collect",
            "+ CollectBodyLayer",
            Box::new(Typed(
                ServiceBuilder::new()
                    .layer(ApiCallLayer::new())
                    .layer(CollectBodyLayer::new(DEFAULT_MAX_BODY_BYTES))
                    .service(inner_full()),
            )),
        ),
        (
            "m3_auth_fixed",
            "+ AuthLayer (fixed token)",
            Box::new(Typed(
                ServiceBuilder::new()
                    .layer(ApiCallLayer::new())
                    .layer(fixed_auth())
                    .layer(CollectBodyLayer::new(DEFAULT_MAX_BODY_BYTES))
                    .service(inner_full()),
            )),
        ),
        (
            "m4_base_uri",
            "+ BaseUriLayer",
            Box::new(Typed(
                ServiceBuilder::new()
                    .layer(ApiCallLayer::new())
                    .layer(fixed_auth())
                    .layer(BaseUriLayer::new(base.clone()))
                    .layer(CollectBodyLayer::new(DEFAULT_MAX_BODY_BYTES))
                    .service(inner_full()),
            )),
        ),
        (
            "m5_attempt_timeout",
            "+ AttemptTimeoutLayer",
            Box::new(Typed(
                ServiceBuilder::new()
                    .layer(AttemptTimeoutLayer::new(ATTEMPT))
                    .layer(ApiCallLayer::new())
                    .layer(fixed_auth())
                    .layer(BaseUriLayer::new(base.clone()))
                    .layer(CollectBodyLayer::new(DEFAULT_MAX_BODY_BYTES))
                    .service(inner_full()),
            )),
        ),
        (
            "m6_attempt_span",
            "+ AttemptLayer (no subscriber)",
            Box::new(Typed(
                ServiceBuilder::new()
                    .layer(attempt_span())
                    .layer(AttemptTimeoutLayer::new(ATTEMPT))
                    .layer(ApiCallLayer::new())
                    .layer(fixed_auth())
                    .layer(BaseUriLayer::new(base.clone()))
                    .layer(CollectBodyLayer::new(DEFAULT_MAX_BODY_BYTES))
                    .service(inner_full()),
            )),
        ),
        (
            "m7_retry",
            "+ retry_layer(RetryPolicy), InFlightLimitLayer",
            Box::new(Typed(
                ServiceBuilder::new()
                    .layer(retry())
                    .layer(in_flight())
                    .layer(attempt_span())
                    .layer(AttemptTimeoutLayer::new(ATTEMPT))
                    .layer(ApiCallLayer::new())
                    .layer(fixed_auth())
                    .layer(BaseUriLayer::new(base.clone()))
                    .layer(CollectBodyLayer::new(DEFAULT_MAX_BODY_BYTES))
                    .service(inner_full()),
            )),
        ),
        (
            "m8_overall_timeout",
            "+ DeadlineLayer (overall; no timer)",
            Box::new(Typed(
                ServiceBuilder::new()
                    .layer(DeadlineLayer::new(OVERALL))
                    .layer(retry())
                    .layer(in_flight())
                    .layer(attempt_span())
                    .layer(AttemptTimeoutLayer::new(ATTEMPT))
                    .layer(ApiCallLayer::new())
                    .layer(fixed_auth())
                    .layer(BaseUriLayer::new(base.clone()))
                    .layer(CollectBodyLayer::new(DEFAULT_MAX_BODY_BYTES))
                    .service(inner_full()),
            )),
        ),
        (
            "m9_operation_span",
            "+ OperationLayer (no subscriber)",
            Box::new(Typed(
                ServiceBuilder::new()
                    .layer(OperationLayer::new().with_level(tracing::Level::INFO))
                    .layer(DeadlineLayer::new(OVERALL))
                    .layer(retry())
                    .layer(in_flight())
                    .layer(attempt_span())
                    .layer(AttemptTimeoutLayer::new(ATTEMPT))
                    .layer(ApiCallLayer::new())
                    .layer(fixed_auth())
                    .layer(BaseUriLayer::new(base.clone()))
                    .layer(CollectBodyLayer::new(DEFAULT_MAX_BODY_BYTES))
                    .service(inner_full()),
            )),
        ),
        (
            "m10_full_typed",
            "= whole typed stack (no edge layer: the Reply goes up)",
            Box::new(Typed(full_typed(fixed_auth()))),
        ),
        (
            "m11_full_boxed",
            "whole stack in BoxCloneSyncService (= CancelService)",
            Box::new(Typed(BoxCloneSyncService::new(full_typed(fixed_auth())))),
        ),
        (
            "m12_full_app_warm",
            "whole stack, app credentials, warm cache",
            Box::new(Typed(full_typed(app_auth()))),
        ),
        #[cfg(feature = "metrics")]
        (
            "m15_full_metrics",
            "whole stack, metrics recorded (feature on), no recorder",
            Box::new(Typed(full_typed(fixed_auth()))),
        ),
        #[cfg(feature = "metrics")]
        (
            "m16_full_prometheus",
            "whole stack, metrics recorded (feature on), Prometheus recorder",
            Box::new(Recorded::prometheus(Typed(full_typed(fixed_auth())))),
        ),
    ]
}

/// The whole default stack over the in-memory inner, in the order of `Client::stack`
/// (with the feature `metrics`, its observing layers record metrics too, as a
/// client's do).
macro_rules! full_stack {
    ($auth:expr) => {
        ServiceBuilder::new()
            .layer(OperationLayer::new().with_level(tracing::Level::INFO))
            .layer(DeadlineLayer::new(OVERALL))
            .layer(retry())
            .layer(in_flight())
            .layer(attempt_span())
            .layer(AttemptTimeoutLayer::new(ATTEMPT))
            .layer(ApiCallLayer::new())
            .layer($auth)
            .layer(BaseUriLayer::new(mem_base()))
            .layer(CollectBodyLayer::new(DEFAULT_MAX_BODY_BYTES))
            .service(inner_full())
    };
}

/// A stack run with a recorder as this thread's metrics recorder (every poll of its
/// loop), so the other stacks of the same run record into none.
#[cfg(feature = "metrics")]
struct Recorded<S> {
    stack: S,
    recorder: Arc<metrics_exporter_prometheus::PrometheusRecorder>,
}

#[cfg(feature = "metrics")]
impl<S> Recorded<S> {
    fn prometheus(stack: S) -> Self {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Suffix("duration".to_owned()),
                aily_client::metrics::DURATION_BUCKETS,
            )
            .expect("buckets")
            .build_recorder();
        Recorded {
            stack,
            recorder: Arc::new(recorder),
        }
    }
}

#[cfg(feature = "metrics")]
impl<S: LayerStack> LayerStack for Recorded<S> {
    fn run(&self, req: &CancelRequest, n: u64) -> Pin<Box<dyn Future<Output = Duration>>> {
        let mut run = self.stack.run(req, n);
        let recorder = self.recorder.clone();
        Box::pin(std::future::poll_fn(move |cx| {
            metrics::with_local_recorder(&*recorder, || run.as_mut().poll(cx))
        }))
    }
}

/// True for the cumulative chain `m1_…` to `m10_…`, whose rows show a Δ against the
/// row above (for `m1`, the floor `m0_http_inner`).
pub fn in_chain(id: &str) -> bool {
    id.strip_prefix('m')
        .and_then(|rest| rest.split('_').next())
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| (1..=10).contains(&n))
}

/// The in-flight limit of the default stack, one per stack as a client has one.
fn in_flight() -> InFlightLimitLayer {
    InFlightLimitLayer::new(aily_client::in_flight::DEFAULT_MAX_IN_FLIGHT)
}

/// The whole default stack (the order of `Client::stack`) over the in-memory inner.
pub fn full_typed(
    auth: AuthLayer,
) -> impl Service<CancelRequest, Response = Reply<CancelResponse>, Error = Error, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static {
    full_stack!(auth)
}

/// Checks that the server answers what every client expects.
pub async fn sanity_check(clients: &Clients) {
    let bare = clients.bare.call_json().await;
    let ours = clients.stack.cancel_run(SESSION_ID, RUN_ID).await.unwrap();
    assert_eq!(bare.run, ours.run);
    assert_eq!(bare.log_id.as_deref(), ours.log_id());
    assert_eq!(ours.log_id(), Some(LOG_ID));
}

/// The median of `v` (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Interleaved rounds over `variants` variants, the order rotated every round so that no
/// variant always runs first: `time_one(i)` measures variant `i` once and returns its µs
/// per call. Per variant, each round's µs per call and its ratio to variant 0's in the
/// same round.
pub fn interleaved_rounds(
    variants: usize,
    rounds: usize,
    mut time_one: impl FnMut(usize) -> f64,
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut per_call: Vec<Vec<f64>> = vec![Vec::new(); variants];
    let mut ratio: Vec<Vec<f64>> = vec![Vec::new(); variants];
    for round in 0..rounds {
        let mut times = vec![0f64; variants];
        for k in 0..variants {
            let i = (round + k) % variants;
            times[i] = time_one(i);
        }
        for i in 0..variants {
            per_call[i].push(times[i]);
            ratio[i].push(times[i] / times[0]);
        }
    }
    (per_call, ratio)
}
