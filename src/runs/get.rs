//! Read a run: [`GetRunRequest`].

use bytes::Bytes;
use http::{Method, Request, Response};

use crate::error::Error;
use crate::request::{AilyRequest, RequestOptions};
use crate::runs::request::{RunOp, RunRequest, RunResponse, decode_run};
use crate::trace;
use crate::transport::RequestBody;

/// The read operation (marker type of [`GetRunRequest`]).
#[derive(Debug)]
pub enum Get {}

impl RunOp for Get {
    const SUFFIX: &'static str = "";
}

/// `GET /open-apis/aily/v1/sessions/:aily_session_id/runs/:run_id`: the run as it is now.
/// IDs are validated and encoded as for [`CancelRequest`](crate::CancelRequest).
///
/// ```
/// use aily_client::GetRunRequest;
///
/// let req = GetRunRequest::new("session_1", "run_1")?;
/// assert_eq!(req.path(), "/open-apis/aily/v1/sessions/session_1/runs/run_1");
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type GetRunRequest = RunRequest<Get>;

/// The reply to a read: the run and the log id.
pub type GetRunResponse = RunResponse;

impl AilyRequest for GetRunRequest {
    type Response = GetRunResponse;

    const OPERATION: &'static str = "aily.run.get";
    const METHOD: Method = Method::GET;
    const URL_TEMPLATE: &'static str =
        "/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}";

    fn options(&self) -> &RequestOptions {
        &self.options
    }

    fn options_mut(&mut self) -> &mut RequestOptions {
        &mut self.options
    }

    fn to_http(&self) -> Request<RequestBody> {
        self.build_http(Method::GET, None)
    }

    fn path(&self) -> &str {
        RunRequest::path(self)
    }

    fn response_log_id(response: &GetRunResponse) -> Option<&str> {
        response.log_id.as_deref()
    }

    fn span(&self, level: tracing::Level) -> tracing::Span {
        trace::operation_span!(level, "aily.run.get", self.session_id(), self.run_id())
    }

    fn attempt_span(&self, level: tracing::Level) -> tracing::Span {
        trace::attempt_span!(
            level,
            "GET /open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}",
            "GET",
            Self::URL_TEMPLATE
        )
    }

    fn decode(response: Response<Bytes>) -> Result<GetRunResponse, Error> {
        decode_run(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_request_shape() {
        let http = GetRunRequest::new("s/1", "r").unwrap().to_http();
        assert_eq!(http.method(), Method::GET);
        assert_eq!(http.uri(), "/open-apis/aily/v1/sessions/s%2F1/runs/r");
        assert!(http.headers().get("content-type").is_none());
        assert!(GetRunRequest::new("s", "..").is_err());
    }
}
