//! Cancel a run: [`CancelRequest`] and [`CancelResponse`].

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT as USER_AGENT_HEADER};
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Request, Response};
use serde::Deserialize;

use crate::envelope;
use crate::error::Error;
use crate::request::{AilyRequest, RequestOptions, USER_AGENT, push_encoded_segment, validate_id};
use crate::runs::model::Run;
use crate::trace;
use crate::transport::RequestBody;

/// `POST /open-apis/aily/v1/sessions/:aily_session_id/runs/:run_id/cancel`.
///
/// Both IDs are validated when the request is made — before any I/O — and
/// percent-encoded into the path, so no ID can change the path. Cloning is cheap
/// (reference counts only), which is what retry needs.
///
/// ```
/// use aily_client::CancelRequest;
///
/// let req = CancelRequest::new("session_4dfunz7sp1g8m", "run#1/2")?;
/// assert_eq!(
///     req.path(),
///     "/open-apis/aily/v1/sessions/session_4dfunz7sp1g8m/runs/run%231%2F2/cancel"
/// );
/// assert!(CancelRequest::new("session_1", "").is_err());
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct CancelRequest {
    ids: Arc<RunIds>,
    path: PathAndQuery,
    options: RequestOptions,
}

#[derive(Debug)]
struct RunIds {
    session_id: String,
    run_id: String,
}

/// The cancel request's body: the JSON object with no fields (what the Node SDK sends).
const EMPTY_JSON_OBJECT: &[u8] = b"{}";
const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

impl CancelRequest {
    /// A request to cancel run `run_id` of session `session_id`.
    ///
    /// Fails with [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput), naming the
    /// field, when an ID is empty, longer than 256 bytes, contains whitespace or a
    /// control character, or is `.` or `..`.
    pub fn new(session_id: impl Into<String>, run_id: impl Into<String>) -> Result<Self, Error> {
        let session_id = session_id.into();
        let run_id = run_id.into();
        validate_id("aily_session_id", &session_id)?;
        validate_id("run_id", &run_id)?;
        let path = run_path(&session_id, &run_id, "/cancel");
        Ok(CancelRequest {
            ids: Arc::new(RunIds { session_id, run_id }),
            path,
            options: RequestOptions::default(),
        })
    }

    /// The session's ID, as given.
    pub fn session_id(&self) -> &str {
        &self.ids.session_id
    }

    /// The run's ID, as given.
    pub fn run_id(&self) -> &str {
        &self.ids.run_id
    }

    /// The encoded request path.
    pub fn path(&self) -> &str {
        self.path.as_str()
    }
}

/// Builds `/open-apis/aily/v1/sessions/{session}/runs/{run}{suffix}` from validated IDs.
pub(crate) fn run_path(session_id: &str, run_id: &str, suffix: &str) -> PathAndQuery {
    const PREFIX: &str = "/open-apis/aily/v1/sessions/";
    let mut path = String::with_capacity(
        PREFIX.len() + 6 + suffix.len() + 3 * (session_id.len() + run_id.len()),
    );
    path.push_str(PREFIX);
    push_encoded_segment(&mut path, session_id);
    path.push_str("/runs/");
    push_encoded_segment(&mut path, run_id);
    path.push_str(suffix);
    // Every byte is unreserved or a %XX escape, so this always parses.
    PathAndQuery::from_maybe_shared(Bytes::from(path))
        .expect("an encoded path is a valid path-and-query")
}

/// The reply to a cancel: the run as it is now, and the request's log id.
///
/// The run may still say `IN_PROGRESS`: cancellation can be asynchronous.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CancelResponse {
    /// The run.
    pub run: Run,
    /// The request's log id (`X-Tt-Logid`), to quote to Feishu support.
    pub log_id: Option<String>,
}

#[derive(Deserialize)]
struct CancelData {
    run: Run,
}

impl AilyRequest for CancelRequest {
    type Response = CancelResponse;

    const OPERATION: &'static str = "aily.run.cancel";
    const METHOD: Method = Method::POST;
    const URL_TEMPLATE: &'static str =
        "/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel";

    fn options(&self) -> &RequestOptions {
        &self.options
    }

    fn options_mut(&mut self) -> &mut RequestOptions {
        &mut self.options
    }

    fn to_http(&self) -> Request<RequestBody> {
        let mut req = Request::new(RequestBody::new(Bytes::from_static(EMPTY_JSON_OBJECT)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.path.clone().into();
        let headers = req.headers_mut();
        headers.insert(USER_AGENT_HEADER, HeaderValue::from_static(USER_AGENT));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
        self.options.apply_headers(headers);
        req
    }

    fn path(&self) -> &str {
        self.path.as_str()
    }

    fn response_log_id(response: &CancelResponse) -> Option<&str> {
        response.log_id.as_deref()
    }

    fn span(&self, level: tracing::Level) -> tracing::Span {
        trace::operation_span!(
            level,
            "aily.run.cancel",
            self.ids.session_id,
            self.ids.run_id
        )
    }

    fn attempt_span(&self, level: tracing::Level) -> tracing::Span {
        trace::attempt_span!(
            level,
            "POST /open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel",
            "POST",
            Self::URL_TEMPLATE
        )
    }

    fn decode(response: Response<Bytes>) -> Result<CancelResponse, Error> {
        let (data, log_id) = envelope::decode::<CancelData>(&response)?;
        Ok(CancelResponse {
            run: data.run,
            log_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_request_shape() {
        let req = CancelRequest::new("s", "r")
            .unwrap()
            .with_biz_user_id("ou_1")
            .unwrap();
        let http = req.to_http();
        assert_eq!(http.method(), Method::POST);
        assert_eq!(http.uri(), "/open-apis/aily/v1/sessions/s/runs/r/cancel");
        assert_eq!(http.headers()[USER_AGENT_HEADER], USER_AGENT);
        assert_eq!(http.headers()["x-aily-bizuserid"], "ou_1");
    }

    #[test]
    fn invalid_ids_name_the_field() {
        let e = CancelRequest::new("ok", "a b").unwrap_err();
        assert!(e.to_string().contains("run_id"), "{e}");
        let e = CancelRequest::new(".", "ok").unwrap_err();
        assert!(e.to_string().contains("aily_session_id"), "{e}");
    }
}
