//! What every typed request of this crate has in common: the [`AilyRequest`] trait,
//! per-request [`RequestOptions`], and path-segment validation and encoding.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response};

use crate::error::Error;
use crate::transport::RequestBody;

/// The header naming the end user on whose behalf a call is made (0–64 characters).
pub const BIZ_USER_ID_HEADER: &str = "x-aily-bizuserid";
/// The header carrying a caller-chosen request id (as the official SDKs send it).
pub const REQUEST_ID_HEADER: &str = "oapi-sdk-request-id";
/// The `User-Agent` every request carries.
pub const USER_AGENT: &str = concat!("aily-client/", env!("CARGO_PKG_VERSION"));

/// The longest ID accepted, in bytes.
pub const MAX_ID_BYTES: usize = 256;
const MAX_BIZ_USER_ID_CHARS: usize = 64;
const MAX_REQUEST_ID_BYTES: usize = 128;

/// The attempt number of an HTTP request, in its extensions from the first retry on
/// (1 for the first retry, 2 for the second, …): for tracing and for your own
/// HTTP-tier layers. The first attempt carries none, which costs nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt(pub u32);

/// A typed Aily API request: how it becomes an HTTP request and how its reply is decoded.
///
/// Implemented by [`CancelRequest`](crate::CancelRequest); the typed tier of the stack
/// ([`ApiCallLayer`](crate::api_call::ApiCallLayer) and the timeout and retry layers
/// above it) works for any implementation, so a new endpoint is one new type.
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

    /// The operation's name for spans, e.g. `aily.run.cancel`.
    const OPERATION: &'static str;
    /// The HTTP method.
    const METHOD: Method;
    /// The low-cardinality URL template, e.g.
    /// `/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel`.
    const URL_TEMPLATE: &'static str;

    /// The per-request options.
    fn options(&self) -> &RequestOptions;

    /// The per-request options, to change them.
    fn options_mut(&mut self) -> &mut RequestOptions;

    /// The HTTP request: method, path (no scheme or host: the base-URI layer adds them),
    /// headers and body. Inputs were validated when the request was made, so this cannot fail.
    fn to_http(&self) -> Request<RequestBody>;

    /// Decodes a complete reply into the typed response, or the error it describes.
    fn decode(response: Response<Bytes>) -> Result<Self::Response, Error>;

    /// The encoded request path (no scheme or host).
    fn path(&self) -> &str;

    /// The log id of a typed response, for tracing.
    fn response_log_id(response: &Self::Response) -> Option<&str>;

    /// The operation span for one call of this request at `level` (see [`crate::trace`]):
    /// named after [`OPERATION`](AilyRequest::OPERATION), carrying the request's IDs and
    /// empty `otel.status_code`, `error.type`, `feishu.code`, `feishu.log_id` and
    /// `http.request.resend_count` fields to fill in.
    fn span(&self, level: tracing::Level) -> tracing::Span;

    /// The span of one attempt of this request at `level`: named
    /// `"{METHOD} {URL_TEMPLATE}"`, with the OpenTelemetry HTTP client fields.
    fn attempt_span(&self, level: tracing::Level) -> tracing::Span;

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

    /// Limits this request to `quota` (its app and operation), overriding the client's
    /// quota for it (see [`RateLimitLayer`](crate::rate_limit::RateLimitLayer)).
    fn with_quota(mut self, quota: crate::rate_limit::Quota) -> Self {
        self.options_mut().set_quota(quota);
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
    /// The rate-limit quota of this request, overriding the client's (boxed: rarely set).
    quota: Option<Box<crate::rate_limit::Quota>>,
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

    /// Sets the rate-limit quota of this request, overriding the client's (see
    /// [`RateLimitLayer`](crate::rate_limit::RateLimitLayer)).
    pub fn set_quota(&mut self, quota: crate::rate_limit::Quota) {
        self.quota = Some(Box::new(quota));
    }

    /// The rate-limit quota of this request, if it overrides the client's.
    ///
    /// ```
    /// use aily_client::{AilyRequest, CancelRequest, rate_limit::Quota};
    /// let req = CancelRequest::new("s", "r")?.with_quota(Quota::per_minute(100));
    /// assert_eq!(req.options().quota(), Some(Quota::per_minute(100)));
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn quota(&self) -> Option<crate::rate_limit::Quota> {
        self.quota.as_deref().copied()
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

    /// Adds the option headers to an HTTP request.
    pub(crate) fn apply_headers(&self, headers: &mut http::HeaderMap) {
        let Some(extra) = &self.headers else { return };
        if let Some(v) = &extra.biz_user_id {
            headers.insert(BIZ_USER_ID_HEADER, v.clone());
        }
        if let Some(v) = &extra.request_id {
            headers.insert(REQUEST_ID_HEADER, v.clone());
        }
    }
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

/// Checks one path ID: not empty, at most [`MAX_ID_BYTES`] bytes, no whitespace or
/// control characters, not `.` or `..`. The error names the field.
///
/// ```
/// use aily_client::request::validate_id;
/// assert!(validate_id("run_id", "run_4dfrxvctjqzzj").is_ok());
/// let err = validate_id("run_id", "..").unwrap_err();
/// assert!(err.to_string().contains("run_id"));
/// ```
pub fn validate_id(field: &str, value: &str) -> Result<(), Error> {
    let problem = if value.is_empty() {
        "must not be empty".to_owned()
    } else if value.len() > MAX_ID_BYTES {
        format!(
            "is {} bytes long; at most {MAX_ID_BYTES} are allowed",
            value.len()
        )
    } else if let Some((at, c)) = value
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || c.is_control())
    {
        format!(
            "contains {} at byte {at}",
            if c.is_control() {
                "a control character"
            } else {
                "whitespace"
            }
        )
    } else if value == "." || value == ".." {
        "must not be \".\" or \"..\"".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::invalid_input(format!("invalid {field}: {problem}")))
}

/// The length of `segment` once [`push_encoded_segment`] has encoded it.
pub(crate) fn encoded_len(segment: &str) -> usize {
    segment
        .bytes()
        .map(|b| if is_unreserved(b) { 1 } else { 3 })
        .sum()
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Appends `segment` to `out`, percent-encoding every byte but the URI's unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`), so a segment can never add a `/`, `?` or `#`.
///
/// ```
/// let mut path = String::from("/runs/");
/// aily_client::request::push_encoded_segment(&mut path, "a/b c?%");
/// assert_eq!(path, "/runs/a%2Fb%20c%3F%25");
/// ```
pub fn push_encoded_segment(out: &mut String, segment: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in segment.as_bytes() {
        if is_unreserved(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xF) as usize] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_rules() {
        for bad in ["", ".", "..", "a b", "a\tb", "a\u{7f}", "a\u{2028}b", "x\n"] {
            assert!(validate_id("f", bad).is_err(), "{bad:?}");
        }
        assert!(validate_id("f", &"a".repeat(256)).is_ok());
        assert!(validate_id("f", &"a".repeat(257)).is_err());
        for good in ["...", "a/b", "会话", "%2F", "run_4dfrxvctjqzzj"] {
            assert!(validate_id("f", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn encoding_is_total_and_unambiguous() {
        let mut s = String::new();
        push_encoded_segment(&mut s, "会/..");
        assert_eq!(s, "%E4%BC%9A%2F..");
    }

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
