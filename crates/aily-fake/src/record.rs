//! [`RecordedRequest`]: one request of the request log, and what the fake
//! answered to it.

use bytes::Bytes;

use super::Route;

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The endpoint the request was classified as (never [`Route::Any`](super::Route::Any)).
    pub route: Route,
    /// The HTTP method.
    pub method: http::Method,
    /// The raw path and query exactly as received, still percent-encoded.
    pub path: String,
    /// The HTTP version (`HTTP/1.1` or `HTTP/2.0`).
    pub version: http::Version,
    /// All request headers.
    pub headers: http::HeaderMap,
    /// The complete request body (empty if none was sent; bodies over 16 MiB
    /// are refused with HTTP 413 and recorded empty).
    pub body: Bytes,
    /// The HTTP status the fake answered with, once its response headers
    /// were produced; `None` while the request is still being handled (e.g.
    /// during a [`Fault::DelayHeaders`](super::Fault::DelayHeaders)) and for
    /// a request that got no response
    /// ([`Fault::ResetConnection`](super::Fault::ResetConnection),
    /// [`Fault::ResetAfterHandling`](super::Fault::ResetAfterHandling)).
    pub status: Option<http::StatusCode>,
    /// The `X-Tt-Logid` the fake sent with its response (`None` when
    /// [`status`](Self::status) is), to compare with the log id a client
    /// reports.
    pub log_id: Option<String>,
}

impl RecordedRequest {
    /// The value of header `name` if present and valid UTF-8 (the first one
    /// if repeated).
    ///
    /// ```
    /// # use aily_fake::{RecordedRequest, Route};
    /// # let mut headers = http::HeaderMap::new();
    /// # headers.insert("user-agent", http::HeaderValue::from_static("demo/1"));
    /// # let request = RecordedRequest {
    /// #     route: Route::Other, method: http::Method::GET, path: "/".into(),
    /// #     version: http::Version::HTTP_11, headers, body: bytes::Bytes::new(),
    /// #     status: None, log_id: None,
    /// # };
    /// assert_eq!(request.header("User-Agent"), Some("demo/1"));
    /// assert_eq!(request.header("x-missing"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The token of an `Authorization: Bearer <token>` header, if any.
    ///
    /// ```
    /// # use aily_fake::{RecordedRequest, Route};
    /// # let mut headers = http::HeaderMap::new();
    /// # headers.insert("authorization", http::HeaderValue::from_static("Bearer t-abc"));
    /// # let request = RecordedRequest {
    /// #     route: Route::CancelRun, method: http::Method::POST, path: "/".into(),
    /// #     version: http::Version::HTTP_11, headers, body: bytes::Bytes::new(),
    /// #     status: None, log_id: None,
    /// # };
    /// assert_eq!(request.bearer_token(), Some("t-abc"));
    /// ```
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }
}
