//! What every request on one run shares: the validated IDs, the encoded path, the
//! options, building the HTTP request, and decoding the `{run}` reply.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT as USER_AGENT_HEADER};
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Request, Response};
use serde::Deserialize;

use crate::envelope;
use crate::error::Error;
use crate::request::{RequestOptions, USER_AGENT, push_encoded_segment, validate_id};
use crate::runs::model::Run;
use crate::transport::RequestBody;

const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// One run of one session, validated and encoded once; cloning is reference counts.
#[derive(Clone, Debug)]
pub(crate) struct RunTarget {
    ids: Arc<RunIds>,
    path: PathAndQuery,
    pub(crate) options: RequestOptions,
}

#[derive(Debug)]
struct RunIds {
    session_id: String,
    run_id: String,
}

impl RunTarget {
    /// Validates both IDs (the error names the field) and builds
    /// `/open-apis/aily/v1/sessions/{session}/runs/{run}{suffix}`.
    pub(crate) fn new(session_id: String, run_id: String, suffix: &str) -> Result<Self, Error> {
        validate_id("aily_session_id", &session_id)?;
        validate_id("run_id", &run_id)?;
        const PREFIX: &str = "/open-apis/aily/v1/sessions/";
        let mut path = String::with_capacity(
            PREFIX.len() + 6 + suffix.len() + 3 * (session_id.len() + run_id.len()),
        );
        path.push_str(PREFIX);
        push_encoded_segment(&mut path, &session_id);
        path.push_str("/runs/");
        push_encoded_segment(&mut path, &run_id);
        path.push_str(suffix);
        // Every byte is unreserved or a %XX escape, so this always parses.
        let path = PathAndQuery::from_maybe_shared(Bytes::from(path))
            .expect("an encoded path is a valid path-and-query");
        Ok(RunTarget {
            ids: Arc::new(RunIds { session_id, run_id }),
            path,
            options: RequestOptions::default(),
        })
    }

    pub(crate) fn session_id(&self) -> &str {
        &self.ids.session_id
    }

    pub(crate) fn run_id(&self) -> &str {
        &self.ids.run_id
    }

    pub(crate) fn path(&self) -> &str {
        self.path.as_str()
    }

    /// The HTTP request: `method` to the path, `User-Agent`, the options' headers, and,
    /// when given, a JSON body.
    pub(crate) fn to_http(
        &self,
        method: Method,
        json_body: Option<&'static [u8]>,
    ) -> Request<RequestBody> {
        let body = json_body.map_or_else(Bytes::new, Bytes::from_static);
        let mut req = Request::new(RequestBody::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = self.path.clone().into();
        let headers = req.headers_mut();
        headers.insert(USER_AGENT_HEADER, HeaderValue::from_static(USER_AGENT));
        if json_body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
        }
        self.options.apply_headers(headers);
        req
    }
}

/// A reply carrying one run: the run as it is now, and the request's log id.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunResponse {
    /// The run.
    pub run: Run,
    /// The request's log id (`X-Tt-Logid`), to quote to Feishu support.
    pub log_id: Option<String>,
}

/// Decodes `{"code":0,"data":{"run":{…}}}`.
pub(crate) fn decode_run(response: Response<Bytes>) -> Result<RunResponse, Error> {
    #[derive(Deserialize)]
    struct Data {
        run: Run,
    }
    let (data, log_id) = envelope::decode::<Data>(&response)?;
    Ok(RunResponse {
        run: data.run,
        log_id,
    })
}
