//! Read a run: [`GetRunRequest`].

use crate::api::request::{ApiRequest, Endpoint};
use crate::api::runs::request::{RunResponse, run_request};

crate::operation! {
    @target "aily_client::runs::get";
    /// The read operation: `GET …/sessions/{aily_session_id}/runs/{run_id}`
    /// (the [`Operation`](crate::api::request::Operation) of [`GetRunRequest`]).
    pub Get = "aily.run.get", GET "/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}"
}

impl Endpoint for Get {
    type Response = RunResponse;
    type Body = ();
}

run_request!(Get);

/// `GET /open-apis/aily/v1/sessions/:aily_session_id/runs/:run_id`: the run as it is
/// now. An [`ApiRequest`] made with `GetRunRequest::new(session_id, run_id)`, IDs
/// validated and encoded as for [`CancelRequest`](crate::CancelRequest).
///
/// ```
/// use aily_client::GetRunRequest;
///
/// let req = GetRunRequest::new("session_1", "run_1")?;
/// assert_eq!(req.path(), "/open-apis/aily/v1/sessions/session_1/runs/run_1");
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type GetRunRequest = ApiRequest<Get>;

/// The reply to a read: the run.
pub type GetRunResponse = RunResponse;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AilyRequest;
    use http::Method;

    #[test]
    fn http_request_shape() {
        let http = GetRunRequest::new("s/1", "r").unwrap().to_http();
        assert_eq!(http.method(), Method::GET);
        assert_eq!(http.uri(), "/open-apis/aily/v1/sessions/s%2F1/runs/r");
        assert!(http.headers().get("content-type").is_none());
        assert!(GetRunRequest::new("s", "..").is_err());
    }
}
