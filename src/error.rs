//! The crate's one error type, [`Error`], and its [`ErrorKind`].
//!
//! Inside the tower stack every layer speaks [`BoxError`] (tower's convention), so
//! any layer composes with any other. Failures that this crate detects are boxed
//! [`Error`] values; at the typed edge of the stack ([`Client`](crate::Client) and
//! the services it hands out) [`Error::from_box`] turns whatever came up the stack
//! back into one [`Error`], walking the source chain for hyper and tower errors.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use http::StatusCode;

use crate::envelope::ErrorDetail;
use crate::runs::Run;

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
    /// Feishu answered with a non-zero `code` that is neither an auth nor a rate-limit code.
    Api,
    /// The server answered with an HTTP error status and no Feishu envelope (a proxy or gateway error page).
    Http,
    /// The reply could not be decoded: not JSON, wrong field types, or `code` 0 without the expected data.
    Decode,
    /// The reply body was larger than the configured limit.
    BodyTooLarge,
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
            ErrorKind::Api => "api",
            ErrorKind::Http => "http",
            ErrorKind::Decode => "decode",
            ErrorKind::BodyTooLarge => "body_too_large",
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
            ErrorKind::Api => "api error",
            ErrorKind::Http => "http error",
            ErrorKind::Decode => "decode error",
            ErrorKind::BodyTooLarge => "body too large",
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
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutKind::Connect => "connect timeout",
            TimeoutKind::Attempt => "attempt timeout",
            TimeoutKind::Overall => "overall timeout",
            TimeoutKind::Wait => "wait for a terminal status",
        })
    }
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
pub struct Error {
    inner: Box<Inner>,
}

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
    last_run: Option<Box<Run>>,
    source: Option<BoxError>,
}

impl Error {
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
                detail: None,
                retry_after: None,
                attempts: None,
                last_run: None,
                source: None,
            }),
        }
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Error {
        self.inner.source = Some(source.into());
        self
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> Error {
        self.inner.status = Some(status);
        self
    }

    pub(crate) fn with_api(mut self, code: i64, msg: String, detail: Option<ErrorDetail>) -> Error {
        self.inner.code = Some(code);
        self.inner.msg = Some(msg);
        self.inner.detail = detail;
        self
    }

    pub(crate) fn with_log_id(mut self, log_id: Option<String>) -> Error {
        self.inner.log_id = log_id;
        self
    }

    pub(crate) fn with_retry_after(mut self, wait: Option<Duration>) -> Error {
        self.inner.retry_after = wait;
        self
    }

    pub(crate) fn invalid_input(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(ErrorKind::InvalidInput, message)
    }

    pub(crate) fn config(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    /// A copy of this error for one more receiver of a shared result (the token
    /// single-flight): every field but the source, whose text joins the message.
    pub(crate) fn duplicate(&self) -> Error {
        let i = &self.inner;
        let message = match &i.source {
            Some(source) => Cow::Owned(format!("{}: {source}", i.message)),
            None => i.message.clone(),
        };
        Error {
            inner: Box::new(Inner {
                kind: i.kind,
                message,
                timeout: i.timeout,
                status: i.status,
                code: i.code,
                msg: i.msg.clone(),
                log_id: i.log_id.clone(),
                detail: i.detail.clone(),
                retry_after: i.retry_after,
                attempts: i.attempts,
                last_run: i.last_run.clone(),
                source: None,
            }),
        }
    }

    /// A timeout error saying which timeout fired after how long.
    pub(crate) fn timeout(which: TimeoutKind, after: Duration) -> Error {
        let mut err = Error::new(
            ErrorKind::Timeout,
            format!("{which} of {} ms elapsed", after.as_millis()),
        );
        err.inner.timeout = Some(which);
        err
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

    /// The request's log id (`X-Tt-Logid`, else the body's `error.log_id`): quote it to Feishu support.
    pub fn log_id(&self) -> Option<&str> {
        self.inner.log_id.as_deref()
    }

    /// The platform's error block (`field_violations`, `permission_violations`, `helps`, `troubleshooter`, …), when sent.
    pub fn detail(&self) -> Option<&ErrorDetail> {
        self.inner.detail.as_ref()
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

    /// For a [`TimeoutKind::Wait`] error: the last run seen before the deadline.
    pub fn last_run(&self) -> Option<&Run> {
        self.inner.last_run.as_deref()
    }

    pub(crate) fn set_last_run(&mut self, run: Run) {
        self.inner.last_run = Some(Box::new(run));
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

    /// True when trying the same call again later may succeed: connect and transport
    /// failures, attempt and connect timeouts, rate limits, and HTTP 500/502/503/504.
    pub fn is_retryable(&self) -> bool {
        match self.inner.kind {
            ErrorKind::Connect | ErrorKind::Transport | ErrorKind::RateLimited => true,
            ErrorKind::Timeout => !matches!(
                self.inner.timeout,
                Some(TimeoutKind::Overall | TimeoutKind::Wait)
            ),
            ErrorKind::Api | ErrorKind::Http => matches!(
                self.inner.status.map(|s| s.as_u16()),
                Some(500 | 502 | 503 | 504)
            ),
            _ => false,
        }
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
        out.inner.source = Some(err);
        out
    }

    /// The error `err` would become in [`Error::from_box`], without taking it: used to
    /// classify an error that must stay where it is (the retry policy's).
    pub(crate) fn peek(err: &(dyn std::error::Error + 'static)) -> Error {
        if let Some(ours) = err.downcast_ref::<Error>() {
            return ours.duplicate();
        }
        match classify_foreign(err) {
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
            Foreign::Other => Error::new(ErrorKind::Other, "a layer of the stack failed"),
        }
    }
}

enum Foreign {
    ConnectTimeout,
    Connect,
    Transport,
    Elapsed,
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
            extra.push(format!("last status {}", run.status));
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
