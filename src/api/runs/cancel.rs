//! Cancel a run: [`CancelRequest`].

use bytes::Bytes;

use crate::api::request::{ApiRequest, Endpoint};
use crate::api::runs::request::{EmptyObject, RunResponse, run_request};

crate::operation! {
    @target "aily_client::runs::cancel";
    /// The cancel operation: `POST …/sessions/{aily_session_id}/runs/{run_id}/cancel`
    /// (the [`Operation`](crate::api::request::Operation) of [`CancelRequest`]).
    pub Cancel = "aily.run.cancel",
        POST "/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel"
}

impl Endpoint for Cancel {
    type Response = RunResponse;
    type Body = EmptyObject;
    /// `{}`, the same bytes every time: nothing to serialize.
    fn encode_body(_: &EmptyObject) -> Bytes {
        Bytes::from_static(b"{}")
    }
}

run_request!(Cancel, EmptyObject {});

/// `POST /open-apis/aily/v1/sessions/:aily_session_id/runs/:run_id/cancel`: an
/// [`ApiRequest`] made with `CancelRequest::new(session_id, run_id)`, read back with
/// `session_id()`, `run_id()` and `path()`. Retried like any read: cancelling is
/// idempotent.
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
pub type CancelRequest = ApiRequest<Cancel>;

/// The reply to a cancel. The run may still say `IN_PROGRESS`: cancellation can be
/// asynchronous (see [`Client::cancel_and_wait`](crate::Client::cancel_and_wait)).
pub type CancelResponse = RunResponse;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AilyRequest;
    use http::Method;
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
            crate::api::request::USER_AGENT
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
