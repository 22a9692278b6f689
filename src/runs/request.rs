//! What every request on one run shares: [`RunRequest`] — the validated IDs, the
//! encoded path, the options, one `AilyRequest` impl — and the `{run}` reply,
//! [`RunResponse`]. A run operation is its [`RunOp`] constants:
//! [`CancelRequest`](crate::CancelRequest) is `RunRequest<Cancel>`,
//! [`GetRunRequest`](crate::GetRunRequest) is `RunRequest<Get>`.

use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;
use http::{Request, Response};
use serde::Deserialize;

use crate::envelope;
use crate::error::Error;
use crate::request::{AilyRequest, ApiPath, Operation, RequestOptions, Segment, http_request};
use crate::runs::model::Run;
use crate::trace::fields;
use crate::transport::RequestBody;

/// An operation on one run (declared with [`operation!`](crate::operation!)): what
/// it appends to `/open-apis/aily/v1/sessions/{s}/runs/{r}`, and its body.
pub trait RunOp: Operation {
    /// The path suffix, e.g. `/cancel` (empty for reading the run).
    const SUFFIX: &'static str;
    /// The JSON body, if the operation sends one.
    const BODY: Option<&'static [u8]> = None;
}

/// A request on run `run_id` of session `session_id`, for operation `Op`
/// ([`CancelRequest`](crate::CancelRequest), [`GetRunRequest`](crate::GetRunRequest)).
///
/// Both IDs are validated when it is made — before any I/O — and percent-encoded
/// into the path once ([`ApiPath`]), so no ID can change the path. Cloning one (which
/// retry needs) only counts references.
///
/// ```
/// use aily_client::{AilyRequest, CancelRequest};
///
/// let req = CancelRequest::new("session_1", "run#1")?;
/// assert_eq!((req.session_id(), req.run_id()), ("session_1", "run#1"));
/// assert_eq!(req.path(), "/open-apis/aily/v1/sessions/session_1/runs/run%231/cancel");
/// assert_eq!(<CancelRequest as AilyRequest>::OPERATION, "aily.run.cancel");
/// # Ok::<(), aily_client::Error>(())
/// ```
pub struct RunRequest<Op> {
    path: ApiPath,
    options: RequestOptions,
    _op: PhantomData<fn() -> Op>,
}

impl<Op> Clone for RunRequest<Op> {
    fn clone(&self) -> Self {
        RunRequest {
            path: self.path.clone(),
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
        let path = ApiPath::new(&[
            Segment::Literal("/open-apis/aily/v1/sessions/"),
            Segment::Id("aily_session_id", session_id.as_ref()),
            Segment::Literal("/runs/"),
            Segment::Id("run_id", run_id.as_ref()),
            Segment::Literal(Op::SUFFIX),
        ])?;
        Ok(RunRequest {
            path,
            options: RequestOptions::default(),
            _op: PhantomData,
        })
    }
}

impl<Op> RunRequest<Op> {
    /// The session's ID, as given.
    pub fn session_id(&self) -> &str {
        self.path.id(0)
    }

    /// The run's ID, as given.
    pub fn run_id(&self) -> &str {
        self.path.id(1)
    }

    /// The encoded request path.
    pub fn path(&self) -> &str {
        self.path.as_str()
    }
}

impl<Op: RunOp> AilyRequest for RunRequest<Op> {
    type Response = RunResponse;
    type Operation = Op;

    fn options(&self) -> &RequestOptions {
        &self.options
    }

    fn options_mut(&mut self) -> &mut RequestOptions {
        &mut self.options
    }

    fn to_http(&self) -> Request<RequestBody> {
        let body = Op::BODY.map(Bytes::from_static);
        http_request(
            Op::METHOD,
            self.path.path_and_query().clone(),
            body,
            &self.options,
        )
    }

    fn decode(response: Response<Bytes>) -> Result<RunResponse, Error> {
        decode_run(response)
    }

    fn path(&self) -> &str {
        self.path.as_str()
    }

    fn record_ids(&self, span: &tracing::Span) {
        span.record(fields::AILY_SESSION_ID, self.session_id());
        span.record(fields::AILY_RUN_ID, self.run_id());
    }

    fn response_log_id(response: &RunResponse) -> Option<&str> {
        response.log_id.as_deref()
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

/// Decodes `{"code":0,"data":{"run":{…}}}`: every reply that carries one run.
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
