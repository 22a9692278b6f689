//! The endpoint seam: the [`AilyRequest`] trait every typed request implements, the
//! [`Operation`] it names, per-request [`RequestOptions`], request paths
//! ([`ApiPath`]) and the HTTP request they become ([`http_request`]).
//!
//! An endpoint is its [`operation!`](crate::operation!) line (name, method, URL
//! template: the path said once), its request and response types (the body, and the
//! reply's `data` decoded by its `Deserialize`; an [`Endpoint`] impl names the two)
//! and one constructor ([`ApiRequest::with_ids`]); the request is the one generic
//! [`ApiRequest`], whose [`AilyRequest`] impl builds the HTTP request and decodes the
//! reply (by [`envelope::decode`](crate::api::envelope::decode)). Everything else — tokens, retry, rate
//! limits, timeouts, spans, errors, the reply's status and log id
//! ([`Reply`](crate::layers::api_call::Reply)) — is the stack's. All of it is public, so an
//! endpoint this crate does not have is written the same way outside it (see
//! [Adding an endpoint](#adding-an-endpoint) below and `examples/own_endpoint.rs`).
//!
//! # Adding an endpoint
//!
//! Every endpoint, the crate's and yours, has one shape, and nothing else to write:
//!
//! 1. its [`operation!`](crate::operation!) line: the span name, the method and the URL
//!    template — the path is said there, once, and nowhere else;
//! 2. its request and response types: the body (`()` for none) and the reply's `data`,
//!    decoded by its `Deserialize` — the [`Endpoint`] impl names the two;
//! 3. one constructor: [`ApiRequest::with_ids`] fills the template's placeholders
//!    in order, validating each ID under the placeholder's name and percent-encoding it;
//!    the same name gives the operation span's field ([`id_field`]: `{app_id}` →
//!    `aily.app_id`, `{skill_id}` → `aily.skill_id`, …).
//!
//! The request is the one generic [`ApiRequest<E>`](ApiRequest). The envelope is
//! decoded for you (every [`Endpoint`] is a [`RawEndpoint`] whose `decode` is
//! [`envelope::decode`](crate::api::envelope::decode)): `data` into your type, and every
//! error envelope into an [`Error`] with its kind, code, HTTP status and log id. The
//! HTTP status and log id of a success travel beside your type, in the
//! [`Reply`](crate::layers::api_call::Reply) that [`Client::call`](crate::Client::call)
//! and [`Client::service`](crate::Client::service) answer with (it reads as your type:
//! `reply.steps`, `reply.log_id()`). The whole stack serves it — tokens, retry,
//! timeouts, spans, metrics, errors. `examples/own_endpoint.rs` adds
//! `GET /open-apis/aily/v1/apps/:app_id/skills` from outside the crate;
//! [`skills`](crate::api::skills) is one of the crate's.
//!
//! ```
//! use aily_client::request::{ApiRequest, Endpoint};
//! use aily_client::AilyRequest;
//!
//! aily_client::operation! {
//!     /// `GET …/sessions/{aily_session_id}/runs/{run_id}/steps` (a scratch example).
//!     pub Steps = "aily.run.steps", GET "/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/steps"
//! }
//!
//! /// The reply's `data`: `{"steps": [...]}`.
//! #[derive(Debug, serde::Deserialize)]
//! pub struct StepList {
//!     #[serde(default)]
//!     pub steps: Vec<serde_json::Value>,
//! }
//!
//! impl Endpoint for Steps {
//!     type Response = StepList;
//!     type Body = ();
//! }
//!
//! /// The one constructor.
//! pub fn steps(session_id: &str, run_id: &str) -> Result<ApiRequest<Steps>, aily_client::Error> {
//!     ApiRequest::with_ids(&[session_id, run_id])
//! }
//!
//! let req = steps("session_1", "run#1")?;
//! assert_eq!(req.path(), "/open-apis/aily/v1/sessions/session_1/runs/run%231/steps");
//! assert!(steps("session_1", "..").unwrap_err().to_string().contains("run_id"));
//!
//! // The reply is decoded as every endpoint's is: `data` into `StepList`, an error
//! // envelope into the crate's `Error`.
//! let ok = http::Response::new(bytes::Bytes::from_static(
//!     br#"{"code":0,"msg":"success","data":{"steps":[{"id":"step_1"}]}}"#,
//! ));
//! assert_eq!(ApiRequest::<Steps>::decode(ok)?.steps.len(), 1);
//! let invalid = http::Response::builder().status(400).body(bytes::Bytes::from_static(
//!     br#"{"code":2700001,"msg":"param is invalid"}"#,
//! )).unwrap();
//! assert!(ApiRequest::<Steps>::decode(invalid).unwrap_err().is_invalid_param());
//! # Ok::<(), aily_client::Error>(())
//! ```
//!
//! # The typed tier's protocol
//!
//! What the layers of the typed tier tell each other travels in two values, never in
//! ambient state (thread-locals, the current span):
//!
//! * **Down, in the request's [`RequestOptions`]:**
//!   * the *deadline* — written once, by [`DeadlineLayer`](crate::layers::timeout::DeadlineLayer)
//!     (or [`OverallTimeoutLayer`](crate::layers::timeout::OverallTimeoutLayer)); read by the
//!     attempt timeout, the in-flight limit, the rate limit and the retry policy, none
//!     of which waits past it;
//!   * the *attempt number* — written by the retry policy before each retry; read by
//!     [`ApiCallLayer`](crate::layers::api_call::ApiCallLayer) (which puts [`Attempt`] in the
//!     HTTP request's extensions and in the [`Reply`](crate::layers::api_call::Reply)) and by
//!     the attempt span (`http.request.resend_count`);
//!   * per-layer per-request settings — typed values in
//!     [`extensions`](RequestOptions::extensions), written by the caller
//!     ([`AilyRequest::with_extension`]); each read by the layer that owns the type
//!     (the rate limit reads a [`Quota`](crate::layers::rate_limit::Quota)). This module
//!     imports no layer.
//! * **Up, in the result:** the [`Reply`](crate::layers::api_call::Reply) (data, HTTP status,
//!   log id, attempt) or the crate's [`Error`] (kind, code, status, log id,
//!   [`reply_status`](Error::reply_status) when a reply to the attempt decoded into
//!   it, attempts) — every typed layer returns [`Error`]; the HTTP tier's `BoxError`
//!   is converted once, in `ApiCallLayer`. The two observing layers
//!   ([`OperationLayer`](crate::layers::observe::OperationLayer),
//!   [`AttemptLayer`](crate::layers::observe::AttemptLayer)) read what they need there, record
//!   only on the span each owns, and hand the same [`Event`](crate::layers::observe::Event) to
//!   the metrics and to a user's [`Observer`](crate::layers::observe::Observer).

mod endpoint;
mod operation;
mod path;

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT as USER_AGENT_HEADER};
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Request, Response};

use crate::error::Error;
use crate::transport::RequestBody;

pub use endpoint::{ApiRequest, Endpoint, Payload, RawEndpoint};
pub use operation::Operation;
pub use path::{
    ApiPath, MAX_ID_BYTES, MAX_PATH_IDS, Query, Segment, Template, id_field, push_encoded_segment,
    validate_id,
};

/// The header naming the end user on whose behalf a call is made (0–64 characters).
pub const BIZ_USER_ID_HEADER: &str = "x-aily-bizuserid";
/// The header carrying a caller-chosen request id (as the official SDKs send it).
pub const REQUEST_ID_HEADER: &str = "oapi-sdk-request-id";
/// The `User-Agent` every request carries.
pub const USER_AGENT: &str = concat!("aily-client/", env!("CARGO_PKG_VERSION"));
/// The `Content-Type` of every JSON request body.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

const MAX_BIZ_USER_ID_CHARS: usize = 64;
const MAX_REQUEST_ID_BYTES: usize = 128;

/// The attempt number of an HTTP request, in its extensions from the first retry on
/// (1 for the first retry, 2 for the second, …): for tracing and for your own
/// HTTP-tier layers. The first attempt carries none, which costs nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt(pub u32);

/// A typed Aily API request: which [`Operation`] it is, how it becomes an HTTP
/// request and how its reply is decoded.
///
/// The typed tier of the stack ([`ApiCallLayer`](crate::layers::api_call::ApiCallLayer) and
/// every layer above it) works for any implementation. Every endpoint's request is
/// [`ApiRequest`], which implements it once for all (a new endpoint implements
/// [`Endpoint`], not this); a request of another shape may implement it. Required: [`options`](AilyRequest::options),
/// [`options_mut`](AilyRequest::options_mut), [`to_http`](AilyRequest::to_http),
/// [`decode`](AilyRequest::decode) and [`path`](AilyRequest::path); the rest is
/// provided.
///
/// The provided `with_*` methods set per-request options:
///
/// ```
/// use std::time::Duration;
/// use aily_client::{AilyRequest, CancelRequest};
///
/// let req = CancelRequest::new("session_1", "run_1")?
///     .with_biz_user_id("ou_123")?
///     .with_request_id("my-trace-42")?
///     .with_overall_timeout(Duration::from_secs(5));
/// assert_eq!(req.options().overall_timeout(), Some(Duration::from_secs(5)));
/// # Ok::<(), aily_client::Error>(())
/// ```
pub trait AilyRequest: Clone + Send + Sync + 'static {
    /// The typed response.
    type Response: Send + 'static;

    /// The operation this request performs: its name, method, URL template and spans.
    type Operation: Operation;

    /// The operation's name for spans, e.g. `aily.run.cancel`.
    const OPERATION: &'static str = <Self::Operation as Operation>::NAME;
    /// The HTTP method.
    const METHOD: Method = <Self::Operation as Operation>::METHOD;
    /// The low-cardinality URL template, e.g.
    /// `/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel`.
    const URL_TEMPLATE: &'static str = <Self::Operation as Operation>::URL_TEMPLATE;
    /// Whether a failure after which the request may have reached the server (a reset
    /// connection, HTTP 500/502/503/504, an attempt timeout) is retried unless the
    /// caller says otherwise ([`with_idempotent`](AilyRequest::with_idempotent)):
    /// true for reads, cancel, `PUT`, `DELETE` and requests with an idempotency key;
    /// false for creating a session or a run.
    const IDEMPOTENT: bool = true;

    /// The per-request options.
    fn options(&self) -> &RequestOptions;

    /// The per-request options, to change them.
    fn options_mut(&mut self) -> &mut RequestOptions;

    /// The HTTP request: method, path (no scheme or host: the base-URI layer adds them),
    /// headers and body ([`http_request`] builds it). Inputs were validated when the
    /// request was made, so this cannot fail.
    fn to_http(&self) -> Request<RequestBody>;

    /// Decodes a complete reply into the typed response, or the error it describes
    /// ([`envelope::decode`](crate::api::envelope::decode) does both for Feishu's envelope).
    fn decode(response: Response<Bytes>) -> Result<Self::Response, Error>;

    /// The encoded request path, without a query ([`ApiPath::as_str`]): for
    /// `url.full`, when the client records it.
    fn path(&self) -> &str;

    /// Records the request's IDs on its operation span (`aily.session_id`,
    /// `aily.run_id`, `aily.message_id`, `aily.app_id`; see [`crate::layers::observe::trace::fields`]).
    /// Called only for an enabled span. Records nothing by default.
    fn record_ids(&self, span: &tracing::Span) {
        let _ = span;
    }

    /// The operation span for one call of this request at `level` (see
    /// [`crate::layers::observe::trace`]): the operation's span with the request's IDs recorded.
    fn span(&self, level: tracing::Level) -> tracing::Span {
        let span = <Self::Operation as Operation>::operation_span(level);
        if !span.is_disabled() {
            self.record_ids(&span);
        }
        span
    }

    /// The span of one attempt of this request at `level`: named
    /// `"{METHOD} {URL_TEMPLATE}"`, with the OpenTelemetry HTTP client fields.
    fn attempt_span(&self, level: tracing::Level) -> tracing::Span {
        <Self::Operation as Operation>::attempt_span(level)
    }

    /// Sets the `X-Aily-BizUserID` header: a stable id of the end user (0–64 characters).
    fn with_biz_user_id(mut self, id: &str) -> Result<Self, Error> {
        self.options_mut().set_biz_user_id(id)?;
        Ok(self)
    }

    /// Sets a caller-chosen request id, sent as `Oapi-Sdk-Request-Id`.
    fn with_request_id(mut self, id: &str) -> Result<Self, Error> {
        self.options_mut().set_request_id(id)?;
        Ok(self)
    }

    /// Bounds the whole call (retries and waits included), overriding the client's default.
    fn with_overall_timeout(mut self, timeout: Duration) -> Self {
        self.options_mut().overall_timeout = Some(timeout);
        self
    }

    /// Bounds each attempt (token, send and reading the whole body), overriding the client's default.
    fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.options_mut().attempt_timeout = Some(timeout);
        self
    }

    /// At most this many attempts (at least 1; 1 turns retry off), overriding the client's default.
    fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.options_mut().max_attempts = Some(attempts.max(1));
        self
    }

    /// Adds a per-request setting for a layer of the stack to read: a typed value in
    /// the request's [`extensions`](RequestOptions::extensions), replacing one of the
    /// same type. The rate-limit quota is one
    /// ([`RateLimitLayer`](crate::layers::rate_limit::RateLimitLayer) reads a
    /// [`Quota`](crate::layers::rate_limit::Quota) there); your own layers may read theirs.
    ///
    /// ```
    /// use aily_client::{AilyRequest, CancelRequest, rate_limit::Quota};
    /// let req = CancelRequest::new("s", "r")?.with_extension(Quota::per_minute(100));
    /// assert_eq!(req.options().extensions().get::<Quota>(), Some(&Quota::per_minute(100)));
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    fn with_extension<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.options_mut().extensions_mut().insert(value);
        self
    }

    /// `false` stops retries of failures after which the request may have reached the
    /// server (a reset connection, HTTP 500/502/503/504, an attempt timeout). Connect
    /// errors and rate limits are still retried: the server did not act on those.
    fn with_idempotent(mut self, idempotent: bool) -> Self {
        self.options_mut().idempotent = Some(idempotent);
        self
    }
}

/// Options that any request may carry. Defaults come from the client.
#[derive(Clone, Debug, Default)]
pub struct RequestOptions {
    /// Rarely set, so boxed: every layer moves the request, and most carry neither.
    headers: Option<Box<OptionHeaders>>,
    overall_timeout: Option<Duration>,
    attempt_timeout: Option<Duration>,
    max_attempts: Option<u32>,
    idempotent: Option<bool>,
    /// Set by the overall timeout layer (with the overall timeout it comes from), read
    /// by the attempt timeout and the retry policy: no wait may reach past it.
    deadline: Option<(tokio::time::Instant, Duration)>,
    /// 0 for the first attempt; set by the retry policy before each retry.
    attempt: u32,
    /// Per-request settings of the layers (the rate-limit quota, …), by type: empty
    /// (no allocation) unless one is set.
    extensions: http::Extensions,
}

#[derive(Clone, Debug, Default)]
struct OptionHeaders {
    biz_user_id: Option<HeaderValue>,
    request_id: Option<HeaderValue>,
}

impl RequestOptions {
    fn headers_mut(&mut self) -> &mut OptionHeaders {
        self.headers.get_or_insert_with(Box::default)
    }

    /// Sets the `X-Aily-BizUserID` header (0–64 characters, no control characters).
    pub fn set_biz_user_id(&mut self, id: &str) -> Result<(), Error> {
        if id.chars().count() > MAX_BIZ_USER_ID_CHARS {
            return Err(Error::invalid_input(format!(
                "invalid biz_user_id: at most {MAX_BIZ_USER_ID_CHARS} characters are allowed"
            )));
        }
        self.headers_mut().biz_user_id = Some(header_value("biz_user_id", id)?);
        Ok(())
    }

    /// Sets the caller's request id (visible ASCII, at most 128 bytes).
    pub fn set_request_id(&mut self, id: &str) -> Result<(), Error> {
        if id.is_empty() || id.len() > MAX_REQUEST_ID_BYTES {
            return Err(Error::invalid_input(format!(
                "invalid request_id: must be 1 to {MAX_REQUEST_ID_BYTES} bytes long"
            )));
        }
        self.headers_mut().request_id = Some(header_value("request_id", id)?);
        Ok(())
    }

    /// The `X-Aily-BizUserID` value, if set.
    pub fn biz_user_id(&self) -> Option<&HeaderValue> {
        self.headers.as_ref()?.biz_user_id.as_ref()
    }

    /// The caller's request id, if set.
    pub fn request_id(&self) -> Option<&HeaderValue> {
        self.headers.as_ref()?.request_id.as_ref()
    }

    /// The overall timeout for this request, if it overrides the client's.
    pub fn overall_timeout(&self) -> Option<Duration> {
        self.overall_timeout
    }

    /// The attempt timeout for this request, if it overrides the client's.
    pub fn attempt_timeout(&self) -> Option<Duration> {
        self.attempt_timeout
    }

    /// The most attempts for this request, if it overrides the client's (1 turns retry off).
    pub fn max_attempts(&self) -> Option<u32> {
        self.max_attempts
    }

    /// Whether a request that may have reached the server (a reset connection, HTTP
    /// 500/502/503/504, an attempt timeout) may be sent again; `None` takes the
    /// request type's default (cancelling is idempotent).
    pub fn idempotent(&self) -> Option<bool> {
        self.idempotent
    }

    /// The per-request settings of the layers, by type (see
    /// [`AilyRequest::with_extension`]).
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// The per-request settings of the layers, to change them.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// Which attempt this is: 0 for the first, 1 for the first retry, …
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The instant the overall timeout fires and the overall timeout it comes from,
    /// once the overall timeout layer has seen the request.
    pub fn deadline(&self) -> Option<(tokio::time::Instant, Duration)> {
        self.deadline
    }

    pub(crate) fn set_deadline(&mut self, deadline: tokio::time::Instant, overall: Duration) {
        self.deadline = Some((deadline, overall));
    }

    pub(crate) fn set_attempt(&mut self, attempt: u32) {
        self.attempt = attempt;
    }

    /// Adds the option headers (`X-Aily-BizUserID`, `Oapi-Sdk-Request-Id`) to an HTTP request.
    pub fn apply_headers(&self, headers: &mut http::HeaderMap) {
        let Some(extra) = &self.headers else { return };
        if let Some(v) = &extra.biz_user_id {
            headers.insert(BIZ_USER_ID_HEADER, v.clone());
        }
        if let Some(v) = &extra.request_id {
            headers.insert(REQUEST_ID_HEADER, v.clone());
        }
    }
}

/// The HTTP request of a typed request: `method` to `path` (no scheme or host), with
/// `User-Agent`, the options' headers, and — when given — a JSON `body` with its
/// `Content-Type`. What every [`AilyRequest::to_http`] of this crate returns.
///
/// ```
/// use aily_client::request::{ApiPath, RequestOptions, Segment, http_request};
///
/// let path = ApiPath::new(&[Segment::Literal("/open-apis/aily/v1/sessions")])?;
/// let req = http_request(
///     http::Method::POST,
///     path.path_and_query().clone(),
///     Some(bytes::Bytes::from_static(b"{}")),
///     &RequestOptions::default(),
/// );
/// assert_eq!(req.headers()["content-type"], "application/json; charset=utf-8");
/// # Ok::<(), aily_client::Error>(())
/// ```
pub fn http_request(
    method: Method,
    path: PathAndQuery,
    body: Option<Bytes>,
    options: &RequestOptions,
) -> Request<RequestBody> {
    let has_body = body.is_some();
    let mut req = Request::new(RequestBody::new(body.unwrap_or_default()));
    *req.method_mut() = method;
    *req.uri_mut() = path.into();
    let headers = req.headers_mut();
    headers.insert(USER_AGENT_HEADER, HeaderValue::from_static(USER_AGENT));
    if has_body {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    }
    options.apply_headers(headers);
    req
}

/// Checks a body field: at most `max_chars` characters. The error names the field.
pub(crate) fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), Error> {
    if value.chars().count() > max_chars {
        return Err(Error::invalid_input(format!(
            "invalid {field}: at most {max_chars} characters are allowed"
        )));
    }
    Ok(())
}

/// Checks a body field that carries JSON as text (`metadata`, `skill_input`,
/// `channel_context`): valid JSON, at most 255 characters.
pub(crate) fn check_json_text(field: &str, value: &str) -> Result<(), Error> {
    check_json_text_within(field, value, 255)
}

/// Checks a body field that carries JSON as text: valid JSON, at most `max_chars`
/// characters.
pub(crate) fn check_json_text_within(
    field: &str,
    value: &str,
    max_chars: usize,
) -> Result<(), Error> {
    check_text(field, value, max_chars)?;
    serde_json::from_str::<serde::de::IgnoredAny>(value)
        .map(|_| ())
        .map_err(|e| Error::invalid_input(format!("invalid {field}: not JSON text ({e})")))
}

fn header_value(field: &str, value: &str) -> Result<HeaderValue, Error> {
    if value.chars().any(char::is_control) {
        return Err(Error::invalid_input(format!(
            "invalid {field}: must not contain control characters"
        )));
    }
    HeaderValue::from_str(value).map_err(|_| {
        Error::invalid_input(format!("invalid {field}: not a valid HTTP header value"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_headers_are_checked() {
        let mut o = RequestOptions::default();
        assert!(o.set_biz_user_id(&"u".repeat(65)).is_err());
        assert!(o.set_biz_user_id("a\nb").is_err());
        assert!(o.set_biz_user_id("ou_1").is_ok());
        assert!(o.set_request_id("").is_err());
        assert!(o.set_request_id("trace-1").is_ok());
        let mut h = http::HeaderMap::new();
        o.apply_headers(&mut h);
        assert_eq!(h[BIZ_USER_ID_HEADER], "ou_1");
        assert_eq!(h[REQUEST_ID_HEADER], "trace-1");
    }
}
