//! Cancel a run: [`CancelRequest`].

use bytes::Bytes;
use http::{Method, Request, Response};

use crate::error::Error;
use crate::request::{AilyRequest, RequestOptions};
use crate::runs::request::{RunOp, RunRequest, RunResponse, decode_run};
use crate::trace;
use crate::transport::RequestBody;

/// The cancel operation (marker type of [`CancelRequest`]).
#[derive(Debug)]
pub enum Cancel {}

impl RunOp for Cancel {
    const SUFFIX: &'static str = "/cancel";
}

/// `POST /open-apis/aily/v1/sessions/:aily_session_id/runs/:run_id/cancel`.
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
pub type CancelRequest = RunRequest<Cancel>;

/// The reply to a cancel. The run may still say `IN_PROGRESS`: cancellation can be
/// asynchronous (see [`Client::cancel_and_wait`](crate::Client::cancel_and_wait)).
pub type CancelResponse = RunResponse;

/// The cancel request's body: the JSON object with no fields (what the Node SDK sends).
const EMPTY_JSON_OBJECT: &[u8] = b"{}";

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
        self.build_http(Method::POST, Some(EMPTY_JSON_OBJECT))
    }

    fn path(&self) -> &str {
        RunRequest::path(self)
    }

    fn response_log_id(response: &CancelResponse) -> Option<&str> {
        response.log_id.as_deref()
    }

    fn span(&self, level: tracing::Level) -> tracing::Span {
        trace::operation_span!(level, "aily.run.cancel", self.session_id(), self.run_id())
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
        decode_run(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::USER_AGENT as USER_AGENT_HEADER;

    #[test]
    fn http_request_shape() {
        let req = CancelRequest::new("s", "r")
            .unwrap()
            .with_biz_user_id("ou_1")
            .unwrap();
        let http = req.to_http();
        assert_eq!(http.method(), Method::POST);
        assert_eq!(http.uri(), "/open-apis/aily/v1/sessions/s/runs/r/cancel");
        assert_eq!(
            http.headers()[USER_AGENT_HEADER],
            crate::request::USER_AGENT
        );
        assert_eq!(
            http.headers()["content-type"],
            "application/json; charset=utf-8"
        );
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
