//! List a session's runs: [`ListRunsRequest`].

use crate::api::paginate::{ListEndpoint, ListResponse};
use crate::api::request::{ApiRequest, Endpoint};
use crate::api::runs::Run;
use crate::error::Error;

crate::operation! {
    @target "aily_client::runs::list";
    /// `GET /open-apis/aily/v1/sessions/{aily_session_id}/runs`.
    pub ListRuns = "aily.run.list", GET "/open-apis/aily/v1/sessions/{aily_session_id}/runs"
}

/// One page of a session's runs; [`Client::runs_stream`](crate::Client::runs_stream) follows every page.
pub type ListRunsRequest = ApiRequest<ListRuns>;

impl ListEndpoint for ListRuns {
    type Item = Run;
}

impl Endpoint for ListRuns {
    type Response = ListResponse<Run>;
    type Body = ();
}

impl ListRunsRequest {
    /// The first page of session `session_id`'s runs (the server's page size).
    pub fn new(session_id: impl AsRef<str>) -> Result<Self, Error> {
        ApiRequest::with_ids(&[session_id.as_ref()])
    }
}
