//! The crate's one error type, [`Error`], and its [`ErrorKind`].
//!
//! The typed tier of the stack speaks [`Error`]: every layer from
//! [`ApiCallLayer`](crate::layers::api_call::ApiCallLayer) up returns it, and each reads its
//! kind, code, status and attempts as they are. The HTTP tier below speaks tower's
//! [`BoxError`] (hyper's, I/O and tower's own errors); `ApiCallLayer` converts it
//! once, with [`Error::from_box`], which walks the source chain for hyper and tower
//! errors. A foreign tower layer in a typed stack of yours (`LoadShed`, `Buffer`,
//! `ConcurrencyLimit`, …) returns `BoxError` again; the crate's layers above it, and
//! the helpers that take your services, accept any error that converts into
//! [`Error`] (`From<BoxError>` is [`Error::from_box`]).
//!
//! # Reading an error
//!
//! One [`Error`] with a [`kind()`](Error::kind) (`InvalidInput`, `Config`, `Connect`,
//! `Transport`, `Timeout`, `Auth`, `RateLimited`, `Api`, `Http`, `Decode`,
//! `BodyTooLarge`, `Overloaded` — a call your own `LoadShed` shed — `RunEnded` and
//! `Other`), predicates ([`is_timeout`](Error::is_timeout),
//! [`is_retryable`](Error::is_retryable), [`is_auth`](Error::is_auth),
//! [`is_invalid_param`](Error::is_invalid_param), …), and the Feishu `code()`, `msg()`,
//! HTTP `status()`, `log_id()` (`X-Tt-Logid`, else the body's `error.log_id`),
//! `retry_after()` for rate limits, `timeout_kind()` (connect, attempt, overall, wait)
//! and the platform's error block ([`detail()`](Error::detail),
//! [`field_violations()`](Error::field_violations)). Success is `code == 0` and
//! nothing else; a 2xx that is not a Feishu envelope is a `Decode` error, a gateway's
//! HTML error page an `Http` error. The error is cheap to clone and keeps its whole
//! cause: `Display` ends with the chain (`… could not connect: client error (Connect):
//! tcp connect error: Connection refused (os error 111)`), also for every waiter of a
//! shared token fetch.
//!
//! [`retryable()`](Error::retryable) is the one classification ([`Retryable`]:
//! `Always`, `IfIdempotent`, `AfterWait`, `Never`) that both the retry policy and
//! `is_retryable()` read, so a caller that retries on `is_retryable()` agrees with the
//! client: an untrusted certificate or a reply hyper cannot parse is `Never` even
//! though it is a connect or transport error (a test pins that they agree for every
//! failure the tests produce).
//!
//! Feishu has no "not found": an unknown session or run is HTTP 400 code 2700001
//! `param is invalid` ([`envelope::CODE_INVALID_PARAM`](crate::api::envelope::CODE_INVALID_PARAM),
//! [`Error::is_invalid_param`]), like any bad parameter; `field_violations()` names the
//! field. IDs are checked locally only for what can never be an ID (empty, over 256
//! bytes, whitespace or control characters, `.`/`..`): the ID formats on Feishu's pages
//! are documentation, and a client-side rule would refuse a future format.
//!
//! ```
//! use aily_client::{CancelRequest, ErrorKind, Retryable};
//!
//! // Refused before anything is sent, naming the field.
//! let err = CancelRequest::new("session_1", "..").unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::InvalidInput);
//! assert_eq!(err.kind().as_str(), "invalid_input"); // `error.type` on spans and metrics
//! assert!(err.to_string().contains("run_id"));
//! assert_eq!(err.retryable(), Retryable::Never);
//! assert!(!err.is_retryable());
//! ```
//!
//! # Answering your own callers
//!
//! The HTTP answer a service in front of the client should give for each kind, as
//! `examples/microservice.rs`'s `error_response` does (each row but the last is tested
//! over TCP against the fake with a scripted fault):
//!
//! | the client's error | HTTP status | also |
//! | --- | --- | --- |
//! | `InvalidInput` (an ID it refuses; nothing was sent) | 400 | |
//! | `RateLimited` | 429 | `Retry-After`: `retry_after()` in whole seconds, rounded up (when Feishu gave a wait) |
//! | `Timeout` | 504 | |
//! | `Overloaded` (the service's `LoadShed` shed the call; nothing was sent) | 503 | |
//! | Feishu answered with an error: `Api`, `Auth`, `Http`, `Decode`, `BodyTooLarge` | 502 | the log id in `X-Feishu-Log-Id` and in the body |
//! | Feishu could not be reached: `Connect`, `Transport` | 502 | |
//! | anything else (`Config`, `Other`) | 500 | |
//!
//! Its error bodies are `{"error": "<kind>", "code": <Feishu code or null>, "log_id": <or null>}`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde::{Deserialize, Serialize};

/// What an [`Error`] carries of a run (a [`Run`](crate::Run), attached and read back
/// by [`Error::last_run`] in `runs`): this module shows it — `Debug`, and its status in
/// `Display` — without knowing the run model.
pub(crate) trait AttachedRun: fmt::Debug + Send + Sync + 'static {
    /// The run's status, as sent.
    fn status(&self) -> &str;
    /// The run itself, to be read back as its type.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// The boxed error every layer of the stack returns (tower's convention).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong, broadly. Match on it, or use the predicates on [`Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller's input was rejected before anything was sent (an invalid ID, header value, …).
    InvalidInput,
    /// The client was configured wrongly (a bad base URL, plain HTTP to a remote host, a bad certificate, …).
    Config,
    /// No connection could be made: DNS failure, connection refused, TLS handshake failure.
    Connect,
    /// The connection failed after it was made: reset, or closed before a complete response.
    Transport,
    /// A timeout fired; [`Error::timeout_kind`] says which one.
    Timeout,
    /// The access token was missing, malformed, invalid or expired, or no token could be obtained.
    Auth,
    /// Feishu's rate limit was hit (HTTP 429 or code 99991400); [`Error::retry_after`] says how long to wait.
    RateLimited,
    /// The tenant's monthly API call quota is spent (code 99991403; Basic-plan tenants
    /// share one across all their apps, reset on the 1st). Never retried: every retry
    /// would be refused too, and polling loops stop at once rather than burn more.
    QuotaExhausted,
    /// Feishu answered with a non-zero `code` that is neither an auth nor a rate-limit code.
    Api,
    /// The server answered with an HTTP error status and no Feishu envelope (a proxy or gateway error page).
    Http,
    /// The reply could not be decoded: not JSON, wrong field types, or `code` 0 without the expected data.
    Decode,
    /// The reply body was larger than the configured limit.
    BodyTooLarge,
    /// The run ended without an answer: `FAILED`, `EXPIRED` or `CANCELLED`
    /// ([`Error::last_run`] is the run, its `error` says why when it failed).
    RunEnded,
    /// A layer of the caller's stack refused the call because it is at capacity
    /// (tower's `LoadShed`: [`tower::load_shed::error::Overloaded`]). Nothing was sent.
    Overloaded,
    /// The run journal ([`crate::journal`]) could not record a run before it was
    /// created: nothing was sent, so no run exists that the journal does not know of.
    Journal,
    /// A layer of the stack failed in a way this crate does not classify (for example a user's own layer).
    Other,
}

impl ErrorKind {
    /// A short, stable, lower-case name for the kind (also used as the `error.type` of spans).
    ///
    /// ```
    /// assert_eq!(aily_client::ErrorKind::RateLimited.as_str(), "rate_limited");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Config => "config",
            ErrorKind::Connect => "connect",
            ErrorKind::Transport => "transport",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Auth => "auth",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::QuotaExhausted => "quota_exhausted",
            ErrorKind::Api => "api",
            ErrorKind::Http => "http",
            ErrorKind::Decode => "decode",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::RunEnded => "run_ended",
            ErrorKind::Journal => "journal",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::Config => "configuration error",
            ErrorKind::Connect => "connect error",
            ErrorKind::Transport => "transport error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Auth => "auth error",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::QuotaExhausted => "monthly call quota exhausted",
            ErrorKind::Api => "api error",
            ErrorKind::Http => "http error",
            ErrorKind::Decode => "decode error",
            ErrorKind::BodyTooLarge => "body too large",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::RunEnded => "run ended",
            ErrorKind::Journal => "journal error",
            ErrorKind::Other => "error",
        };
        f.write_str(text)
    }
}

/// Which timeout fired, for an error of kind [`ErrorKind::Timeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// Opening the TCP connection took too long.
    Connect,
    /// One attempt (token, send, and reading the whole body) took too long.
    Attempt,
    /// The whole call, retries and waits included, took too long.
    Overall,
    /// Waiting for a run to reach a terminal status took too long
    /// ([`Client::cancel_and_wait`](crate::Client::cancel_and_wait)); see [`Error::last_run`].
    Wait,
    /// An event stream sent no byte for its idle timeout
    /// ([`StreamConfig::idle_timeout`](crate::sse::StreamConfig::idle_timeout)).
    Idle,
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutKind::Connect => "connect timeout",
            TimeoutKind::Attempt => "attempt timeout",
            TimeoutKind::Overall => "overall timeout",
            TimeoutKind::Wait => "wait for a terminal status",
            TimeoutKind::Idle => "idle timeout of the event stream",
        })
    }
}

/// Feishu's code for "param is invalid" (see [`Error::is_invalid_param`]).
pub(crate) const CODE_INVALID_PARAM: i64 = 2700001;

/// The platform's error block (`error` in the envelope). Every field is optional.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorDetail {
    /// The request's log id (the reference doc spells it `logid`; real replies `log_id`).
    #[serde(default, alias = "logid")]
    pub log_id: Option<String>,
    /// A link to Feishu's troubleshooting page for this request.
    #[serde(default)]
    pub troubleshooter: Option<String>,
    /// A longer message.
    #[serde(default)]
    pub message: Option<String>,
    /// Which request fields were wrong.
    #[serde(default)]
    pub field_violations: Vec<FieldViolation>,
    /// Which permissions are missing.
    #[serde(default)]
    pub permission_violations: Vec<PermissionViolation>,
    /// Links to help pages.
    #[serde(default)]
    pub helps: Vec<Help>,
    /// Free-form key/value details.
    #[serde(default)]
    pub details: Vec<Detail>,
}

/// One wrong request field.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldViolation {
    /// The field's name.
    #[serde(default)]
    pub field: Option<String>,
    /// The value sent.
    #[serde(default)]
    pub value: Option<String>,
    /// What is wrong with it.
    #[serde(default)]
    pub description: Option<String>,
}

/// One missing permission. The documentation and real replies disagree on the shape,
/// so both `{type, subject, description}` and `{scope, url}` are accepted.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct PermissionViolation {
    /// The violation's type, e.g. `action_privilege_required`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The scope or privilege concerned.
    #[serde(default)]
    pub subject: Option<String>,
    /// A description.
    #[serde(default)]
    pub description: Option<String>,
    /// The missing scope (documentation shape).
    #[serde(default)]
    pub scope: Option<String>,
    /// Where to apply for it (documentation shape).
    #[serde(default)]
    pub url: Option<String>,
}

/// A link to a help page.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Help {
    /// The page.
    #[serde(default)]
    pub url: Option<String>,
    /// What it helps with.
    #[serde(default)]
    pub description: Option<String>,
}

/// A free-form key/value detail.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Detail {
    /// The key.
    #[serde(default)]
    pub key: Option<String>,
    /// The value.
    #[serde(default)]
    pub value: Option<String>,
}

/// The error of every call this crate makes.
///
/// It has a [`kind`](Error::kind), and, when the server said so, the Feishu
/// [`code`](Error::code) and [`msg`](Error::msg), the HTTP [`status`](Error::status)
/// and the [`log_id`](Error::log_id) to hand to Feishu support.
///
/// ```
/// use aily_client::{CancelRequest, ErrorKind};
///
/// let err = CancelRequest::new("", "run_1").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidInput);
/// assert!(err.to_string().contains("aily_session_id"));
/// ```
///
/// It is cheap to clone (one allocation is shared), source included: every waiter of
/// a shared token fetch gets the whole cause.
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

/// Whether a failed call may be tried again: the one classification that both the
/// retry policy ([`RetryPolicy`](crate::layers::retry::RetryPolicy)) and
/// [`Error::is_retryable`] read.
///
/// ```
/// use aily_client::{CancelRequest, Retryable};
///
/// let err = CancelRequest::new("", "r").unwrap_err();
/// assert_eq!(err.retryable(), Retryable::Never);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retryable {
    /// Nothing reached the server (a connect error or connect timeout): always safe
    /// to try again.
    Always,
    /// The request may have reached the server (a reset connection, HTTP
    /// 500/502/503/504, an attempt timeout): safe only for an idempotent request.
    IfIdempotent,
    /// The server asked the caller to slow down (HTTP 429, code 99991400): again after
    /// [`Error::retry_after`], when it says.
    AfterWait,
    /// Trying again will fail the same way: invalid input, other 4xx and codes, decode
    /// errors, an untrusted certificate or a TLS protocol mismatch, a reply hyper
    /// cannot parse, an oversized body, an overall or wait timeout.
    Never,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    message: Cow<'static, str>,
    timeout: Option<TimeoutKind>,
    status: Option<StatusCode>,
    code: Option<i64>,
    msg: Option<String>,
    log_id: Option<String>,
    detail: Option<ErrorDetail>,
    retry_after: Option<Duration>,
    attempts: Option<u32>,
    /// Set by `ApiCallLayer` on the error a reply to the attempt decodes into.
    reply_status: Option<StatusCode>,
    /// The run a `RunEnded` or `Wait` timeout error carries (see [`AttachedRun`]).
    last_run: Option<Arc<dyn AttachedRun>>,
    /// The session and run an `ask` had opened when it failed (see [`Error::session_id`]).
    ask_ids: Option<Box<(String, Option<String>)>>,
    /// Set when a request that is not idempotent failed after it may have reached
    /// the server, so it was not sent again.
    may_have_acted: bool,
    /// Set when the cause makes a retry pointless whatever the kind says (a TLS
    /// failure is a connect error; a reply hyper cannot parse, a transport error).
    permanent: bool,
    /// Set when only a new login helps (a user's refresh token is spent or refused).
    reauthorization: bool,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// The same error, its message saying what its code means on the endpoint that
    /// answered (the endpoint's [`ERROR_CODES`](crate::request::Endpoint::ERROR_CODES)),
    /// when the code is in `table`; the kind, code and `msg` are unchanged.
    ///
    /// ```
    /// use aily_client::{Error, ErrorKind};
    /// let err = Error::new(ErrorKind::Api, "Feishu returned an error")
    ///     .with_api(2700034, "x".into(), None)
    ///     .with_code_meaning(&[(2700034, "unsupported file type")]);
    /// assert!(err.to_string().contains("unsupported file type"));
    /// ```
    pub fn with_code_meaning(mut self, table: &[(i64, &'static str)]) -> Error {
        if let Some(code) = self.inner.code
            && let Some((_, meaning)) = table.iter().find(|(c, _)| *c == code)
        {
            self.inner.message = Cow::Owned(format!("{}: {meaning}", self.inner.message));
        }
        self
    }

    /// A new error of `kind` with a human-readable message.
    ///
    /// ```
    /// let err = aily_client::Error::new(aily_client::ErrorKind::Config, "no credentials");
    /// assert_eq!(err.to_string(), "configuration error: no credentials");
    /// ```
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                timeout: None,
                status: None,
                code: None,
                msg: None,
                log_id: None,
                reply_status: None,
                detail: None,
                retry_after: None,
                attempts: None,
                last_run: None,
                ask_ids: None,
                may_have_acted: false,
                permanent: false,
                reauthorization: false,
                source: None,
            }),
        }
    }

    /// The error that caused this one (its [`source`](std::error::Error::source)).
    /// A TLS failure or a reply hyper cannot parse in it makes this error
    /// [`Retryable::Never`].
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Error {
        let source = source.into();
        self.inner.permanent |= is_permanent(source.as_ref());
        self.inner.source = Some(Arc::from(source));
        self
    }

    /// The HTTP status of the reply.
    pub fn with_status(mut self, status: StatusCode) -> Error {
        self.inner.status = Some(status);
        self
    }

    /// The envelope's non-zero `code`, its `msg` and its `error` block.
    ///
    /// ```
    /// use aily_client::{Error, ErrorKind};
    /// let err = Error::new(ErrorKind::Api, "Feishu returned an error")
    ///     .with_status(http::StatusCode::BAD_REQUEST)
    ///     .with_api(2700001, "param is invalid".into(), None)
    ///     .with_log_id(Some("0212345".into()));
    /// assert!(err.is_invalid_param());
    /// assert_eq!(err.log_id(), Some("0212345"));
    /// ```
    pub fn with_api(mut self, code: i64, msg: String, detail: Option<ErrorDetail>) -> Error {
        self.inner.code = Some(code);
        self.inner.msg = Some(msg);
        self.inner.detail = detail;
        self
    }

    /// The request's log id.
    pub fn with_log_id(mut self, log_id: Option<String>) -> Error {
        self.inner.log_id = log_id;
        self
    }

    /// Marks the error as the one a reply to the attempt decodes into (what
    /// [`reply_status`](Error::reply_status) reads), filling in the reply's status and
    /// log id when the decoder did not.
    pub(crate) fn replied(
        mut self,
        status: StatusCode,
        log_id: Option<&http::HeaderValue>,
    ) -> Error {
        self.inner.reply_status = Some(status);
        if self.inner.log_id.is_none() {
            self.inner.log_id = log_id
                .and_then(|v| v.to_str().ok())
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
        }
        self
    }

    /// The error as it leaves a request made on the caller's behalf (a token request):
    /// that reply was not a reply to the caller's attempt, so
    /// [`reply_status`](Error::reply_status) is cleared; code, status and log id stay.
    pub(crate) fn not_replied(mut self) -> Error {
        self.inner.reply_status = None;
        self
    }

    /// Marks the error as one only a new login cures (see
    /// [`reauthorization_required`](Error::reauthorization_required)).
    pub(crate) fn reauthorization(mut self) -> Error {
        self.inner.reauthorization = true;
        self
    }

    /// True when the user must log in again: the stored user token is gone, its
    /// single-use refresh token was spent (a refresh whose reply was lost counts as
    /// spent) or refused (20026, 20037, 20064, 20073). Retrying cannot help.
    ///
    /// ```
    /// let err = aily_client::Error::new(aily_client::ErrorKind::Auth, "x");
    /// assert!(!err.reauthorization_required());
    /// ```
    pub fn reauthorization_required(&self) -> bool {
        self.inner.reauthorization
    }

    /// How long the server asked the caller to wait.
    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Error {
        self.inner.retry_after = wait;
        self
    }

    /// The same error, its message preceded by `context` (kind, code and the rest unchanged).
    pub(crate) fn context(mut self, context: impl fmt::Display) -> Error {
        self.inner.message = Cow::Owned(format!("{context}: {}", self.inner.message));
        self
    }

    pub(crate) fn invalid_input(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(ErrorKind::InvalidInput, message)
    }

    pub(crate) fn config(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    /// A timeout error saying which timeout fired after how long.
    pub(crate) fn timeout(which: TimeoutKind, after: Duration) -> Error {
        let message = match which {
            TimeoutKind::Idle => format!(
                "no bytes arrived on the event stream for {} ms (idle timeout)",
                after.as_millis()
            ),
            _ => format!("{which} of {} ms elapsed", after.as_millis()),
        };
        let mut err = Error::new(ErrorKind::Timeout, message);
        err.inner.timeout = Some(which);
        err
    }

    /// The error carrying `run` (`runs` attaches it and reads it back).
    pub(crate) fn with_last_run(mut self, run: Arc<dyn AttachedRun>) -> Error {
        self.inner.last_run = Some(run);
        self
    }

    /// The run this error carries, as attached.
    pub(crate) fn attached_run(&self) -> Option<&dyn AttachedRun> {
        self.inner.last_run.as_deref()
    }

    /// Names the session (and the run, when known) an `ask` had opened when it
    /// failed; ids already set are kept.
    pub(crate) fn with_ask_ids(mut self, session_id: &str, run_id: Option<&str>) -> Error {
        match &mut self.inner.ask_ids {
            Some(ids) => {
                if ids.1.is_none() {
                    ids.1 = run_id.map(str::to_owned);
                }
            }
            None => {
                self.inner.ask_ids =
                    Some(Box::new((session_id.to_owned(), run_id.map(str::to_owned))));
            }
        }
        self
    }

    /// For an error of [`Ask`](crate::ask::Ask): the session it had opened (or was
    /// given) by then, so the caller can go on with it or clean it up. `None` when
    /// it failed before a session existed, and for errors of other calls.
    pub fn session_id(&self) -> Option<&str> {
        self.inner.ask_ids.as_ref().map(|ids| ids.0.as_str())
    }

    /// For an error of [`Ask`](crate::ask::Ask): the run it had started, when its ID
    /// is known (not when the create-run reply was lost: `ask` then finds the run by
    /// listing and cancels it in the background).
    pub fn run_id(&self) -> Option<&str> {
        self.inner.ask_ids.as_ref().and_then(|ids| ids.1.as_deref())
    }

    /// What went wrong, broadly.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// Which timeout fired, for a [`ErrorKind::Timeout`] error.
    pub fn timeout_kind(&self) -> Option<TimeoutKind> {
        self.inner.timeout
    }

    /// The Feishu `code` of the reply, when the server sent an envelope with a non-zero code.
    pub fn code(&self) -> Option<i64> {
        self.inner.code
    }

    /// The Feishu `msg` of the reply, when the server sent one. Never branch on it: use [`code`](Error::code).
    pub fn msg(&self) -> Option<&str> {
        self.inner.msg.as_deref()
    }

    /// The HTTP status of the reply, when there was one.
    pub fn status(&self) -> Option<StatusCode> {
        self.inner.status
    }

    /// The HTTP status of the reply to this attempt, when the error is what that reply
    /// decoded into (set by [`ApiCallLayer`](crate::layers::api_call::ApiCallLayer)); `None`
    /// for anything else — a connect error, a timeout, a failed token fetch under the
    /// attempt. What the attempt's observers label the attempt with.
    pub fn reply_status(&self) -> Option<StatusCode> {
        self.inner.reply_status
    }

    /// The request's log id (`X-Tt-Logid`, else the body's `error.log_id`): quote it to Feishu support.
    pub fn log_id(&self) -> Option<&str> {
        self.inner.log_id.as_deref()
    }

    /// The platform's error block (`field_violations`, `permission_violations`, `helps`, `troubleshooter`, …), when sent.
    pub fn detail(&self) -> Option<&ErrorDetail> {
        self.inner.detail.as_ref()
    }

    /// The request fields the server said were wrong (`error.field_violations`), if any.
    pub fn field_violations(&self) -> &[FieldViolation] {
        self.inner
            .detail
            .as_ref()
            .map_or(&[], |d| d.field_violations.as_slice())
    }

    /// For a rate-limited reply: how long the server asked the caller to wait
    /// (`x-ogw-ratelimit-reset`, else `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// How many attempts the call made before failing, when the retry layer saw it
    /// (`None` when the error came from above it, e.g. the overall timeout).
    pub fn attempts(&self) -> Option<u32> {
        self.inner.attempts
    }

    /// True when the request is not idempotent (creating a session or a run) and
    /// failed after it may have reached the server, so it was not sent again: what it
    /// creates may exist (list the session's runs, or sessions, to find it).
    pub fn may_have_acted(&self) -> bool {
        self.inner.may_have_acted
    }

    pub(crate) fn set_may_have_acted(&mut self) {
        self.inner.may_have_acted = true;
    }

    pub(crate) fn set_attempts(&mut self, attempts: u32) {
        self.inner.attempts = Some(attempts);
    }

    /// The human-readable message, without the kind and the API fields.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// True for any timeout.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout
    }

    /// True when no connection could be made.
    pub fn is_connect(&self) -> bool {
        self.inner.kind == ErrorKind::Connect
    }

    /// True for token problems.
    pub fn is_auth(&self) -> bool {
        self.inner.kind == ErrorKind::Auth
    }

    /// True when Feishu's rate limit was hit.
    pub fn is_rate_limited(&self) -> bool {
        self.inner.kind == ErrorKind::RateLimited
    }

    /// True when Feishu answered with a non-zero code ([`ErrorKind::Api`], [`ErrorKind::Auth`] or
    /// [`ErrorKind::RateLimited`] with a code).
    pub fn is_api(&self) -> bool {
        self.inner.code.is_some()
    }

    /// True when the caller's input was rejected before anything was sent.
    pub fn is_invalid_input(&self) -> bool {
        self.inner.kind == ErrorKind::InvalidInput
    }

    /// True when the reply could not be decoded.
    pub fn is_decode(&self) -> bool {
        self.inner.kind == ErrorKind::Decode
    }

    /// True for code 2700001, `param is invalid`: a parameter is wrong — and also what
    /// Feishu answers for a session, run or message it does not know (there is no
    /// "not found"). See [`field_violations`](Error::field_violations) for which.
    pub fn is_invalid_param(&self) -> bool {
        self.inner.code == Some(CODE_INVALID_PARAM)
    }

    /// True when a caller's layer shed the call ([`ErrorKind::Overloaded`]).
    pub fn is_overloaded(&self) -> bool {
        self.inner.kind == ErrorKind::Overloaded
    }

    /// True when the tenant's monthly call quota is spent (code 99991403,
    /// [`ErrorKind::QuotaExhausted`]): never retryable before the quota resets.
    pub fn is_quota_exhausted(&self) -> bool {
        self.inner.kind == ErrorKind::QuotaExhausted
    }

    /// Whether trying the same call again may succeed, and on what condition: the
    /// classification the retry policy reads too.
    pub fn retryable(&self) -> Retryable {
        let i = &self.inner;
        if i.permanent {
            return Retryable::Never;
        }
        match i.kind {
            ErrorKind::Connect => Retryable::Always,
            ErrorKind::Transport => Retryable::IfIdempotent,
            ErrorKind::Timeout => match i.timeout {
                Some(TimeoutKind::Connect) => Retryable::Always,
                Some(TimeoutKind::Attempt) => Retryable::IfIdempotent,
                _ => Retryable::Never,
            },
            ErrorKind::RateLimited => Retryable::AfterWait,
            ErrorKind::Api | ErrorKind::Http => match i.status.map(|s| s.as_u16()) {
                Some(429) => Retryable::AfterWait,
                Some(500 | 502 | 503 | 504) => Retryable::IfIdempotent,
                _ => Retryable::Never,
            },
            _ => Retryable::Never,
        }
    }

    /// True when trying the same call again later may succeed ([`retryable`](Error::retryable)
    /// is not [`Retryable::Never`]): connect failures other than TLS, transport failures
    /// other than a reply hyper cannot parse, attempt and connect timeouts, rate
    /// limits, and HTTP 500/502/503/504.
    pub fn is_retryable(&self) -> bool {
        self.retryable() != Retryable::Never
    }

    /// Turns whatever error came up the stack into an [`Error`].
    ///
    /// A boxed [`Error`] is unboxed as it is; otherwise the source chain is walked for
    /// hyper-util, hyper, I/O and tower timeout errors, and anything else becomes
    /// [`ErrorKind::Other`] with the original as its source.
    ///
    /// ```
    /// use aily_client::{BoxError, Error, ErrorKind};
    ///
    /// let boxed: BoxError = Box::new(tower::timeout::error::Elapsed::new());
    /// assert_eq!(Error::from_box(boxed).kind(), ErrorKind::Timeout);
    /// ```
    pub fn from_box(err: BoxError) -> Error {
        let err = match err.downcast::<Error>() {
            Ok(err) => return *err,
            Err(err) => err,
        };
        let mut out = Error::peek(err.as_ref());
        out.inner.source = Some(Arc::from(err));
        out
    }

    /// The error `err` would become in [`Error::from_box`], without taking it: used to
    /// classify an error that must stay where it is (the retry policy's).
    pub(crate) fn peek(err: &(dyn std::error::Error + 'static)) -> Error {
        if let Some(ours) = err.downcast_ref::<Error>() {
            return ours.clone();
        }
        let mut out = match classify_foreign(err) {
            Foreign::ConnectTimeout => {
                let mut e = Error::new(ErrorKind::Timeout, "connect timeout elapsed");
                e.inner.timeout = Some(TimeoutKind::Connect);
                e
            }
            Foreign::Connect => Error::new(ErrorKind::Connect, "could not connect"),
            Foreign::Transport => Error::new(
                ErrorKind::Transport,
                "connection failed before a complete response",
            ),
            Foreign::Elapsed => Error::new(ErrorKind::Timeout, "a timeout layer elapsed"),
            Foreign::Overloaded => Error::new(ErrorKind::Overloaded, "a layer shed the call"),
            Foreign::Other => Error::new(ErrorKind::Other, "a layer of the stack failed"),
        };
        out.inner.permanent = is_permanent(err);
        out
    }
}

enum Foreign {
    ConnectTimeout,
    Connect,
    Transport,
    Elapsed,
    Overloaded,
    Other,
}

fn classify_foreign(err: &(dyn std::error::Error + 'static)) -> Foreign {
    let mut connect = false;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(inner) = e.downcast_ref::<Error>() {
            // An Error wrapped by someone else's layer: trust its kind.
            return match inner.kind() {
                ErrorKind::Timeout => Foreign::Elapsed,
                ErrorKind::Connect => Foreign::Connect,
                ErrorKind::Transport => Foreign::Transport,
                _ => Foreign::Other,
            };
        }
        if let Some(h) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
            if h.is_connect() {
                connect = true;
            } else {
                // Sent (at least partly) but no complete response.
                return Foreign::Transport;
            }
        }
        if e.is::<tower::timeout::error::Elapsed>() {
            return Foreign::Elapsed;
        }
        if e.is::<tower::load_shed::error::Overloaded>() {
            return Foreign::Overloaded;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && connect
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return Foreign::ConnectTimeout;
        }
        if e.is::<hyper::Error>() {
            return if connect {
                Foreign::Connect
            } else {
                Foreign::Transport
            };
        }
        cur = e.source();
    }
    if connect {
        Foreign::Connect
    } else {
        Foreign::Other
    }
}

/// A certificate or protocol failure fails the same way again; so does a reply hyper
/// cannot parse (a head over its limits, conflicting lengths).
fn is_permanent(err: &(dyn std::error::Error + 'static)) -> bool {
    is_tls_failure(err) || is_malformed_reply(err)
}

/// True when the chain holds a rustls error (an untrusted certificate, a protocol
/// mismatch). `io::Error::source` skips the error it wraps, so look inside it too.
fn is_tls_failure(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.is::<rustls::Error>() {
            return true;
        }
        // hyper-rustls wraps tokio-rustls's io::Error in another one: look through every level.
        let mut io = e.downcast_ref::<std::io::Error>();
        while let Some(outer) = io {
            let inner = outer.get_ref();
            if inner.is_some_and(|inner| inner.is::<rustls::Error>()) {
                return true;
            }
            io = inner.and_then(|inner| inner.downcast_ref::<std::io::Error>());
        }
        cur = e.source();
    }
    false
}

/// True when the chain holds hyper's error for a response it could not parse.
fn is_malformed_reply(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_parse() || h.is_parse_status())
        {
            return true;
        }
        cur = e.source();
    }
    false
}

/// [`Error::from_box`]: what the edge of a typed stack converts with.
impl From<BoxError> for Error {
    fn from(err: BoxError) -> Error {
        Error::from_box(err)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &i.kind).field("message", &i.message);
        if let Some(t) = i.timeout {
            d.field("timeout", &t);
        }
        if let Some(s) = i.status {
            d.field("status", &s);
        }
        if let Some(c) = i.code {
            d.field("code", &c);
        }
        if let Some(m) = &i.msg {
            d.field("msg", m);
        }
        if let Some(l) = &i.log_id {
            d.field("log_id", l);
        }
        if let Some(r) = i.retry_after {
            d.field("retry_after", &r);
        }
        if let Some(n) = i.attempts {
            d.field("attempts", &n);
        }
        if let Some(run) = &i.last_run {
            d.field("last_run", run);
        }
        if let Some(ids) = &i.ask_ids {
            d.field("session_id", &ids.0);
            if let Some(run_id) = &ids.1 {
                d.field("run_id", run_id);
            }
        }
        if let Some(s) = &i.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        write!(f, "{}: {}", i.kind, i.message)?;
        let mut extra = Vec::new();
        if let Some(s) = i.status {
            extra.push(format!("HTTP {}", s.as_u16()));
        }
        if let Some(c) = i.code {
            extra.push(format!("code {c}"));
        }
        if let Some(m) = &i.msg {
            extra.push(format!("msg {m:?}"));
        }
        if let Some(l) = &i.log_id {
            extra.push(format!("log_id {l}"));
        }
        if let Some(r) = i.retry_after {
            extra.push(format!("retry after {} ms", r.as_millis()));
        }
        if let Some(n) = i.attempts.filter(|n| *n > 1) {
            extra.push(format!("after {n} attempts"));
        }
        if let Some(run) = &i.last_run {
            extra.push(format!("last status {}", run.status()));
        }
        if i.may_have_acted {
            extra.push(
                "not retried: it may have reached the server, so what it creates may exist"
                    .to_owned(),
            );
        }
        if !extra.is_empty() {
            write!(f, " ({})", extra.join(", "))?;
        }
        if let Some(source) = &i.source {
            write!(f, ": {source}")?;
            let mut cur = source.source();
            while let Some(e) = cur {
                write!(f, ": {e}")?;
                cur = e.source();
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_kind_code_msg_and_log_id() {
        let err = Error::new(ErrorKind::Api, "Feishu returned an error")
            .with_status(StatusCode::BAD_REQUEST)
            .with_api(2700001, "param is invalid".into(), None)
            .with_log_id(Some("0212345".into()));
        assert_eq!(
            err.to_string(),
            "api error: Feishu returned an error (HTTP 400, code 2700001, msg \"param is invalid\", log_id 0212345)"
        );
        assert!(err.is_api());
        assert!(!err.is_retryable());
    }

    #[test]
    fn retryable_statuses() {
        let e = Error::new(ErrorKind::Http, "x").with_status(StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.is_retryable());
        let e = Error::new(ErrorKind::Http, "x").with_status(StatusCode::NOT_FOUND);
        assert!(!e.is_retryable());
        assert!(!Error::timeout(TimeoutKind::Overall, Duration::from_secs(1)).is_retryable());
        assert!(Error::timeout(TimeoutKind::Attempt, Duration::from_secs(1)).is_retryable());
    }

    #[test]
    fn from_box_unboxes_our_error() {
        let boxed: BoxError = Box::new(Error::timeout(TimeoutKind::Attempt, Duration::ZERO));
        let err = Error::from_box(boxed);
        assert_eq!(err.timeout_kind(), Some(TimeoutKind::Attempt));
    }
}
