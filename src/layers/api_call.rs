//! [`ApiCallLayer`]: the boundary between the two tiers. A typed request
//! ([`AilyRequest`]) goes in, becomes an `http::Request`, and its complete reply is
//! decoded into a [`Reply`] (the typed response with the reply's HTTP status and log
//! id) or the [`Error`] it describes.
//!
//! What the observers above it (the attempt span, the attempt metrics, a user's own)
//! need travels in these values: the `Ok` [`Reply`], or the `Error` of a reply
//! ([`Error::reply_status`](crate::Error::reply_status)). Nothing is handed over
//! through thread-locals or the current span, so a `Buffer`, a spawned task or any
//! async layer may sit between them.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service};

use http::{HeaderValue, StatusCode};

use crate::api::envelope::LOG_ID_NAME;
use crate::api::request::{AilyRequest, Attempt};
use crate::api::runs::CancelRequest;
use crate::error::{BoxError, Error};
use crate::transport::RequestBody;

/// A typed service of the default stack ([`Client::service`](crate::Client::service)), erased: `Clone + Send + Sync`, no worker
/// task. It answers with the [`Reply`]: the data (which it reads as, by `Deref`), the
/// HTTP status and the log id.
pub type AilyService<R> = BoxCloneSyncService<R, Reply<<R as AilyRequest>::Response>, Error>;

/// The cancel-run service of the default stack.
pub type CancelService = AilyService<CancelRequest>;

/// The typed tier's success value: the decoded data and what the HTTP reply said
/// about it — its status, its log id (`X-Tt-Logid`) and which attempt it answers (as
/// gax's `Response<T>`). [`ApiCallLayer`] makes it; every layer above passes it up,
/// and the observers read it; [`Client`](crate::Client) hands callers the data.
///
/// ```
/// use aily_client::api_call::Reply;
///
/// let reply = Reply::new(7, http::StatusCode::OK);
/// assert_eq!((reply.log_id(), reply.attempt()), (None, 0));
/// assert_eq!(reply.into_data(), 7);
/// ```
#[derive(Clone, Debug)]
pub struct Reply<T> {
    /// The decoded data.
    pub data: T,
    status: StatusCode,
    log_id: Option<HeaderValue>,
    attempt: u32,
}

impl<T> Reply<T> {
    /// A reply of `data` with HTTP `status`, no log id, to the first attempt.
    pub fn new(data: T, status: StatusCode) -> Self {
        Reply {
            data,
            status,
            log_id: None,
            attempt: 0,
        }
    }

    /// The reply with its log id (the `X-Tt-Logid` header's value).
    pub fn with_log_id(mut self, log_id: Option<HeaderValue>) -> Self {
        self.log_id = log_id;
        self
    }

    /// The reply as the answer to attempt `attempt` (0 for the first, 1 for the
    /// first retry, …).
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// The HTTP status of the reply.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The reply's log id, when it had a readable, non-empty `X-Tt-Logid`.
    pub fn log_id(&self) -> Option<&str> {
        crate::api::envelope::log_id_text(self.log_id.as_ref())
    }

    /// The `X-Tt-Logid` header as it came, not yet read as text.
    pub(crate) fn log_id_header(&self) -> Option<&HeaderValue> {
        self.log_id.as_ref()
    }

    /// Which attempt of the call this reply answers: 0 for the first, 1 for the
    /// first retry (`http.request.resend_count`), …
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The data, without the reply's metadata.
    pub fn into_data(self) -> T {
        self.data
    }

    /// The same reply with its data mapped.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Reply<U> {
        Reply {
            data: f(self.data),
            status: self.status,
            log_id: self.log_id,
            attempt: self.attempt,
        }
    }
}

/// A reply reads as its data: `reply.run` is `reply.data.run`.
impl<T> std::ops::Deref for Reply<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

/// Turns any [`AilyRequest`] into HTTP and decodes the reply.
///
/// ```
/// use aily_client::api_call::ApiCallLayer;
/// use aily_client::{CancelRequest, RunStatus};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // An in-memory "server" standing in for the HTTP tier.
/// let http = tower::service_fn(|req: http::Request<aily_client::transport::RequestBody>| async move {
///     assert_eq!(req.uri().path(), "/open-apis/aily/v1/sessions/s1/runs/r1/cancel");
///     let body = r#"{"code":0,"msg":"success","data":{"run":{"id":"r1","status":"CANCELLED"}}}"#;
///     Ok::<_, aily_client::BoxError>(http::Response::new(bytes::Bytes::from(body)))
/// });
/// let svc = ApiCallLayer::new().layer(http);
/// let reply = svc.oneshot(CancelRequest::new("s1", "r1").unwrap()).await.unwrap();
/// assert_eq!(reply.status(), http::StatusCode::OK);
/// assert_eq!(reply.data.run.status, RunStatus::Cancelled);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ApiCallLayer;

impl ApiCallLayer {
    /// The layer.
    pub fn new() -> Self {
        ApiCallLayer
    }
}

impl<S> Layer<S> for ApiCallLayer {
    type Service = ApiCall<S>;
    fn layer(&self, inner: S) -> ApiCall<S> {
        ApiCall { inner }
    }
}

/// The service of [`ApiCallLayer`]: a `Service<R>` for every [`AilyRequest`] `R`.
#[derive(Clone, Debug)]
pub struct ApiCall<S> {
    inner: S,
}

impl<S> ApiCall<S> {
    /// The wrapped HTTP service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, R> Service<R> for ApiCall<S>
where
    R: AilyRequest,
    S: Service<Request<RequestBody>, Response = Response<Bytes>>,
    S::Error: Into<BoxError>,
{
    type Response = Reply<R::Response>;
    type Error = Error;
    type Future = ApiCallFuture<S::Future, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx).map_err(from_http)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let mut http = req.to_http();
        let attempt = req.options().attempt();
        if attempt > 0 {
            http.extensions_mut().insert(Attempt(attempt));
        }
        ApiCallFuture {
            inner: self.inner.call(http),
            attempt,
            _request: PhantomData,
        }
    }
}

pin_project! {
    /// The future of [`ApiCall`].
    pub struct ApiCallFuture<F, R> {
        #[pin]
        inner: F,
        attempt: u32,
        _request: PhantomData<fn() -> R>,
    }
}

impl<F, E, R> Future for ApiCallFuture<F, R>
where
    F: Future<Output = Result<Response<Bytes>, E>>,
    E: Into<BoxError>,
    R: AilyRequest,
{
    type Output = Result<Reply<R::Response>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx)).map_err(from_http)?;
        let status = response.status();
        let log_id = response.headers().get(&LOG_ID_NAME).cloned();
        Poll::Ready(match R::decode(response) {
            Ok(data) => Ok(Reply {
                data,
                status,
                log_id,
                attempt: *this.attempt,
            }),
            // The error is this attempt's own reply: it says so, for the observers.
            Err(err) => Err(err.replied(status, log_id.as_ref())),
        })
    }
}

/// The HTTP tier's error as the crate's [`Error`]: the one conversion of the seam
/// ([`Error::from_box`]; every layer above speaks [`Error`]).
fn from_http(err: impl Into<BoxError>) -> Error {
    Error::from_box(err.into())
}

/// The layers of a typed stack, outer to inner, down to [`ApiCallLayer`], read off the
/// service's own type (so a list made by it cannot drift from the code that built
/// the stack): each service type named by its layer (`OperationService` →
/// `OperationLayer`; tower's `MapResult` → `map_result`, `Retry` → `RetryLayer`).
/// What the README's drawing and `examples/custom_stack.rs` are checked against
/// ([`Client::typed_layers`](crate::Client::typed_layers)).
///
/// ```
/// use aily_client::api_call::{ApiCallLayer, typed_layer_names};
/// use aily_client::observe::OperationLayer;
/// use tower::ServiceBuilder;
///
/// let http = tower::service_fn(|_req: http::Request<aily_client::transport::RequestBody>| async {
///     Ok::<_, aily_client::BoxError>(http::Response::new(bytes::Bytes::new()))
/// });
/// let svc = ServiceBuilder::new()
///     .layer(OperationLayer::new())
///     .layer(ApiCallLayer::new())
///     .service(http);
/// assert_eq!(typed_layer_names(&svc), ["OperationLayer", "ApiCallLayer"]);
/// ```
pub fn typed_layer_names<S>(service: &S) -> Vec<String> {
    let _ = service;
    let mut names = Vec::new();
    let mut rest = std::any::type_name::<S>().trim();
    loop {
        let (path, args) = match rest.find('<') {
            Some(i) => (
                &rest[..i],
                rest[i + 1..].strip_suffix('>').unwrap_or_default(),
            ),
            None => (rest, ""),
        };
        let ident = path.rsplit("::").next().unwrap_or_default();
        names.push(match ident {
            "MapResult" => "map_result".to_owned(),
            "Retry" => "RetryLayer".to_owned(),
            other => format!("{}Layer", other.strip_suffix("Service").unwrap_or(other)),
        });
        if ident == "ApiCall" {
            return names;
        }
        // The wrapped service: the first type argument that is generic itself and
        // not a function (a policy, a closure's type and `fn(..)` are not services).
        let mut depth = 0usize;
        let mut start = 0;
        let mut next = None;
        for (i, c) in args
            .char_indices()
            .chain(std::iter::once((args.len(), ',')))
        {
            match c {
                '<' | '(' | '[' => depth += 1,
                '>' | ')' | ']' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    let arg = args[start..i].trim();
                    if next.is_none() && arg.contains('<') && !arg.starts_with("fn(") {
                        next = Some(arg);
                    }
                    start = i + 1;
                }
                _ => {}
            }
        }
        match next {
            Some(arg) => rest = arg,
            None => return names,
        }
    }
}
