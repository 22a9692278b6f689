//! What every request on one run shares: [`RunRequest`] (the validated IDs, the
//! encoded path, the options, building the HTTP request) and decoding the `{run}`
//! reply into a [`RunResponse`]. Each operation is a marker type ([`RunOp`]) with its
//! own `AilyRequest` impl: [`CancelRequest`](crate::CancelRequest) is
//! `RunRequest<Cancel>`, [`GetRunRequest`](crate::GetRunRequest) is `RunRequest<Get>`.

use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT as USER_AGENT_HEADER};
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Request, Response};
use serde::Deserialize;

use crate::envelope;
use crate::error::Error;
use crate::request::{RequestOptions, USER_AGENT, encoded_len, push_encoded_segment, validate_id};
use crate::runs::model::Run;
use crate::transport::RequestBody;

const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// An operation on one run: what it appends to `/open-apis/aily/v1/sessions/{s}/runs/{r}`.
pub trait RunOp: Send + Sync + 'static {
    /// The path suffix, e.g. `/cancel` (empty for reading the run).
    const SUFFIX: &'static str;
}

/// A request on one run of one session: both IDs validated when it is made — before
/// any I/O — and percent-encoded into the path once, so no ID can change the path.
/// The path and both IDs share one buffer, so making a request allocates it and
/// cloning one (which retry needs) only counts references.
pub struct RunRequest<Op> {
    /// The encoded path, then the session ID, then the run ID, as given.
    buf: Bytes,
    /// The first part of `buf`, parsed once.
    path: PathAndQuery,
    /// Where the run ID starts in `buf` (the session ID starts where the path ends).
    run_id_at: usize,
    pub(crate) options: RequestOptions,
    _op: PhantomData<fn() -> Op>,
}

impl<Op> Clone for RunRequest<Op> {
    fn clone(&self) -> Self {
        RunRequest {
            buf: self.buf.clone(),
            path: self.path.clone(),
            run_id_at: self.run_id_at,
            options: self.options.clone(),
            _op: PhantomData,
        }
    }
}

impl<Op> fmt::Debug for RunRequest<Op> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunRequest")
            .field("path", &self.path.as_str())
            .field("options", &self.options)
            .finish()
    }
}

impl<Op: RunOp> RunRequest<Op> {
    /// A request on run `run_id` of session `session_id`.
    ///
    /// Fails with [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput), naming the
    /// field, when an ID is empty, longer than 256 bytes, contains whitespace or a
    /// control character, or is `.` or `..`.
    pub fn new(session_id: impl AsRef<str>, run_id: impl AsRef<str>) -> Result<Self, Error> {
        let (session_id, run_id) = (session_id.as_ref(), run_id.as_ref());
        validate_id("aily_session_id", session_id)?;
        validate_id("run_id", run_id)?;
        const PREFIX: &str = "/open-apis/aily/v1/sessions/";
        const RUNS: &str = "/runs/";
        let path_len = PREFIX.len()
            + encoded_len(session_id)
            + RUNS.len()
            + encoded_len(run_id)
            + Op::SUFFIX.len();
        let mut buf = String::with_capacity(path_len + session_id.len() + run_id.len());
        buf.push_str(PREFIX);
        push_encoded_segment(&mut buf, session_id);
        buf.push_str(RUNS);
        push_encoded_segment(&mut buf, run_id);
        buf.push_str(Op::SUFFIX);
        debug_assert_eq!(buf.len(), path_len);
        buf.push_str(session_id);
        buf.push_str(run_id);
        let buf = Bytes::from(buf);
        // Every byte of the path is unreserved or a %XX escape, so this always parses.
        let path = PathAndQuery::from_maybe_shared(buf.slice(..path_len))
            .expect("an encoded path is a valid path-and-query");
        Ok(RunRequest {
            buf,
            path,
            run_id_at: path_len + session_id.len(),
            options: RequestOptions::default(),
            _op: PhantomData,
        })
    }
}

impl<Op> RunRequest<Op> {
    /// The session's ID, as given.
    pub fn session_id(&self) -> &str {
        self.id_at(self.path.as_str().len(), self.run_id_at)
    }

    /// The run's ID, as given.
    pub fn run_id(&self) -> &str {
        self.id_at(self.run_id_at, self.buf.len())
    }

    fn id_at(&self, start: usize, end: usize) -> &str {
        // Both IDs were copied from `&str`s, whole, so the slice is UTF-8.
        std::str::from_utf8(&self.buf[start..end]).unwrap_or_default()
    }

    /// The encoded request path.
    pub fn path(&self) -> &str {
        self.path.as_str()
    }

    /// The HTTP request: `method` to the path, `User-Agent`, the options' headers, and,
    /// when given, a JSON body.
    /// The HTTP request of this run request (see [`AilyRequest::to_http`](crate::AilyRequest::to_http)).
    pub(crate) fn build_http(
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
