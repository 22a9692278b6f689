//! Knowledge ask: `POST /open-apis/aily/v1/apps/:app_id/knowledges/ask` asks an Aily
//! app's knowledge base a question, and the answer comes back as an **event stream**.
//!
//! * [`Client::knowledge_ask`](crate::Client::knowledge_ask) streams it: a
//!   [`KnowledgeAskStream`] is a [`Stream`] of [`KnowledgeSnapshot`]s (the whole
//!   answer so far, and a [`Delta`] view), and [`finish`](KnowledgeAskStream::finish)
//!   gives the finished [`KnowledgeAnswer`].
//! * [`Client::call`](crate::Client::call) of a [`KnowledgeAskRequest`] is the
//!   buffered mode: the whole reply is read (up to the client's reply limit) and run
//!   through the same parser and the same frame rules; the answer is the `finished`
//!   frame's.
//!
//! # What is known, and what is not
//!
//! Documented (and followed here): a frame is one `data: {json}` line and a blank
//! line; its JSON is the payload itself (`{"message":{"content":"…"},"status":"processing"}`)
//! — the `{code, msg, data}` wrapped form is accepted too, and a non-zero `code` in a
//! frame ends the stream with that error ([`ErrorKind::Api`](crate::ErrorKind::Api)).
//! `processing` frames carry the **whole answer so far**, not a delta; snapshots
//! may repeat, and a later one may rewrite earlier text (citation markers vanish), so
//! the delta view is [`Delta::Append`] when the new text extends the old and
//! [`Delta::Replace`] otherwise. Only the `finished` frame is the answer
//! (`finish_type` `qa` with `process_data`, or `faq` with `faq_result`;
//! `has_answer: false` is a completed call, not an error). The end of the stream
//! before it is an error saying the stream "ended early" — never a partial success.
//! Malformed JSON in a frame is an error (the format is documented); unknown fields,
//! `event:`/`id:` lines and comments are ignored.
//!
//! Not pinned down (spec §11 item 1): whether the errors 2700033–2700035 come as a
//! JSON body with HTTP 200 or as a frame, and the error frame's shape. Both are
//! handled: a 2xx `application/json` reply is one envelope (a non-zero `code` is the
//! error, `code == 0` with a `finished` payload the answer), and a frame with a
//! non-zero `code` is the error. Each error names what its code means on this
//! endpoint ([`ASK_ERROR_CODES`]).
//!
//! The call is **not idempotent** (each ask costs quota and may be answered
//! differently): it is never sent again once it may have been written, only after a
//! connect error or a rate-limit refusal (HTTP 429 / 99991400, after its reset).
//! [`with_idempotent(true)`](crate::AilyRequest::with_idempotent) opts in to retries
//! of failures before the stream (a 503, a reset connection). Nothing is ever retried
//! once the stream has begun.
//!
//! # Example
//!
//! Against the fake server (feature `testing`):
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use aily_client::knowledge::{Delta, KnowledgeAskRequest};
//! use aily_client::testing::FakeAily;
//! use aily_client::{Client, Credentials};
//! use futures_util::StreamExt;
//!
//! let fake = FakeAily::start().await?;
//! fake.add_tenant_token("t-docs");
//! fake.set_knowledge_answer("Aily is Feishu's AI app platform.");
//! let client = Client::builder()
//!     .base_url(fake.base_url())
//!     .credentials(Credentials::tenant_token("t-docs"))
//!     .build()?;
//!
//! let request = KnowledgeAskRequest::new("spring_1__c", "What is Aily?")?;
//! let mut stream = client.knowledge_ask(request).await?;
//! let mut text = String::new();
//! while let Some(snapshot) = stream.next().await {
//!     match snapshot?.delta {
//!         Delta::Append(suffix) => text.push_str(&suffix),
//!         Delta::Replace(full) => text = full,
//!         _ => {}
//!     }
//! }
//! let answer = stream.finish().await?;
//! assert_eq!(answer.content, "Aily is Feishu's AI app platform.");
//! assert_eq!(text, answer.content);
//! assert!(answer.has_answer);
//! # Ok(()) }
//! # #[cfg(not(feature = "testing"))]
//! # fn main() {}
//! ```

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http::{Response, StatusCode};
use serde::{Deserialize, Serialize};

use crate::api::envelope;
use crate::api::request::{AilyRequest, ApiRequest, RawEndpoint, check_text};
use crate::api::sse::{Event, Opened, Parser, ReplyEvents, StreamConfig};
use crate::api::wire::{self, LenientBool, wire_enum};
use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::transport::{has_media_type, is_event_stream};

crate::operation! {
    @target "aily_client::knowledge";
    /// Asks an app's knowledge base; the answer is an event stream.
    pub KnowledgeAsk = "aily.knowledge.ask", POST "/open-apis/aily/v1/apps/{app_id}/knowledges/ask"
}

/// The most characters of a question (`message.content`).
pub const MAX_CONTENT_CHARS: usize = 65_535;
/// The most characters of `app_id` on this endpoint.
pub const MAX_APP_ID_CHARS: usize = 255;
/// The largest answer accepted, in bytes (a snapshot or the finished answer's text):
/// past it the stream ends with a [`BodyTooLarge`](ErrorKind::BodyTooLarge) error.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// What this endpoint's error codes mean **here** (spec §3): the table the error
/// messages are written from, in the shape of
/// [`Endpoint::ERROR_CODES`](crate::request::Endpoint::ERROR_CODES).
pub const ASK_ERROR_CODES: &[(i64, &str)] = &[
    (
        2700001,
        "knowledge ask: a parameter is invalid (content must be 1 to 65,535 characters)",
    ),
    (
        2700033,
        "knowledge ask failed: check that the app version is published and its knowledge \
         is configured. With a tenant token, the Aily admin console switch \"allow API/SDK \
         calls with the app identity\" (支持使用应用身份调用 API 和 SDK) must be on, and Feishu \
         docs imported in direct (直连) mode cannot be asked",
    ),
    (
        2700034,
        "asking is disabled for this app — contact support. With a tenant token, check \
         the Aily admin console switch \"allow API/SDK calls with the app identity\" \
         (支持使用应用身份调用 API 和 SDK)",
    ),
    (
        2700035,
        "the answer took too long (timed out); asking again costs quota",
    ),
    (
        2320008,
        "undocumented; seen when the app version is not published to the \"Feishu bot\" \
         channel — publish it there",
    ),
];

/// The error `err` with what its code means on knowledge ask ([`ASK_ERROR_CODES`]).
fn ask_error(err: Error) -> Error {
    err.with_code_meaning(ASK_ERROR_CODES)
}

/// The question: `{content}`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AskMessage {
    /// The question, plain text.
    pub content: String,
}

/// The body of a knowledge ask.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct KnowledgeAskBody {
    /// The question.
    pub message: AskMessage,
    /// Data assets (`asset_…`) to answer from; empty means all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_asset_ids: Vec<String>,
    /// Data asset tags (`spring_…__c__asset_tag_…`) to answer from; empty means all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_asset_tag_ids: Vec<String>,
}

impl RawEndpoint for KnowledgeAsk {
    type Response = KnowledgeAnswer;
    type Body = KnowledgeAskBody;
    const IDEMPOTENT: bool = false;

    /// The buffered mode: the whole reply through the same rules as the stream.
    fn decode(response: Response<Bytes>) -> Result<KnowledgeAnswer, Error> {
        decode_buffered(&response).map_err(|err| {
            ask_error(err)
                .with_status(response.status())
                .with_log_id(envelope::log_id_header(response.headers()))
        })
    }
}

/// `POST /open-apis/aily/v1/apps/:app_id/knowledges/ask`. Stream it with
/// [`Client::knowledge_ask`](crate::Client::knowledge_ask); [`Client::call`] reads
/// the whole answer (the buffered mode).
///
/// ```
/// use aily_client::knowledge::KnowledgeAskRequest;
/// use aily_client::{AilyRequest, ErrorKind};
///
/// let req = KnowledgeAskRequest::new("spring_1__c", "What is Aily?")?
///     .data_asset_ids(["asset_1"])?;
/// assert_eq!(req.path(), "/open-apis/aily/v1/apps/spring_1__c/knowledges/ask");
/// let body = req.to_http().into_body();
/// # let _ = body;
/// assert_eq!(KnowledgeAskRequest::new("spring_1__c", "").unwrap_err().kind(), ErrorKind::InvalidInput);
/// assert!(KnowledgeAskRequest::new("", "q").unwrap_err().to_string().contains("app_id"));
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type KnowledgeAskRequest = ApiRequest<KnowledgeAsk>;

impl KnowledgeAskRequest {
    /// Ask app `app_id` (1–255 characters, validated like every path ID) the
    /// question `content` (1–65,535 characters).
    pub fn new(app_id: impl AsRef<str>, content: impl Into<String>) -> Result<Self, Error> {
        let app_id = app_id.as_ref();
        check_text("app_id", app_id, MAX_APP_ID_CHARS)?;
        let content = content.into();
        if content.is_empty() {
            return Err(Error::invalid_input(
                "invalid content: the question must not be empty",
            ));
        }
        check_text("content", &content, MAX_CONTENT_CHARS)?;
        Ok(
            ApiRequest::with_ids(&[app_id])?.with_body(KnowledgeAskBody {
                message: AskMessage { content },
                ..KnowledgeAskBody::default()
            }),
        )
    }

    /// Answer only from these data assets (`asset_…`; none empty).
    pub fn data_asset_ids<I, S>(mut self, ids: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let ids = non_empty_ids("data_asset_ids", ids)?;
        if let Some(body) = self.body_mut() {
            body.data_asset_ids = ids;
        }
        Ok(self)
    }

    /// Answer only from data assets with these tags (`spring_…__c__asset_tag_…`;
    /// none empty).
    pub fn data_asset_tag_ids<I, S>(mut self, ids: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let ids = non_empty_ids("data_asset_tag_ids", ids)?;
        if let Some(body) = self.body_mut() {
            body.data_asset_tag_ids = ids;
        }
        Ok(self)
    }
}

fn non_empty_ids<I, S>(field: &str, ids: I) -> Result<Vec<String>, Error>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let ids: Vec<String> = ids.into_iter().map(Into::into).collect();
    if ids.iter().any(|id| id.trim().is_empty()) {
        return Err(Error::invalid_input(format!(
            "invalid {field}: an id must not be empty"
        )));
    }
    Ok(ids)
}

wire_enum! {
    /// A frame's `status`.
    pub enum FrameStatus ("a frame status") {
        /// The answer so far.
        Processing = "processing",
        /// The answer.
        Finished = "finished",
    }
}

wire_enum! {
    /// How the answer was made (`finish_type`).
    pub enum FinishType ("a finish type") {
        /// Generated from the knowledge (`process_data` says from what).
        Qa = "qa",
        /// A configured FAQ matched (`faq_result`).
        Faq = "faq",
    }
}

/// What a `qa` answer was made from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ProcessData {
    /// Charts, as markdown descriptions.
    #[serde(deserialize_with = "wire::null_as_default")]
    pub chart_dsls: Vec<String>,
    /// The recalled knowledge slices.
    #[serde(deserialize_with = "wire::null_as_default")]
    pub chunks: Vec<String>,
    /// Query results, each JSON text ([`sql_data_json`](ProcessData::sql_data_json)).
    #[serde(deserialize_with = "wire::null_as_default")]
    pub sql_data: Vec<String>,
}

impl ProcessData {
    /// Each of [`sql_data`](ProcessData::sql_data) parsed as JSON.
    pub fn sql_data_json(&self) -> Vec<Result<serde_json::Value, serde_json::Error>> {
        self.sql_data
            .iter()
            .filter_map(|text| wire::json_text(Some(text)))
            .collect()
    }
}

/// The FAQ entry a `faq` answer matched.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct FaqResult {
    /// The FAQ's question.
    pub question: String,
    /// Its answer.
    pub answer: String,
}

/// The finished answer: the `finished` frame. It serializes as the frame's fields
/// (`message.content` as `content`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct KnowledgeAnswer {
    /// The answer's text (`message.content`).
    pub content: String,
    /// How it was made.
    pub finish_type: FinishType,
    /// `true`: generated from the configured knowledge; `false` is still a completed
    /// call (the app had nothing to answer from).
    pub has_answer: bool,
    /// For `qa`: what it was made from.
    pub process_data: Option<ProcessData>,
    /// For `faq`: the entry matched.
    pub faq_result: Option<FaqResult>,
}

/// One frame's payload, as sent.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Payload {
    message: PayloadMessage,
    status: FrameStatus,
    finish_type: FinishType,
    has_answer: Option<LenientBool>,
    process_data: Option<ProcessData>,
    faq_result: Option<FaqResult>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct PayloadMessage {
    content: String,
}

/// A frame: the payload itself, or wrapped in `{code, msg, data}`.
#[derive(Deserialize)]
struct Frame {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    data: Option<Payload>,
    #[serde(flatten)]
    payload: Payload,
}

/// A frame's JSON text: the payload, or the error a non-zero `code` says.
fn read_frame(data: &str) -> Result<Payload, Error> {
    let frame: Frame = serde_json::from_str(data).map_err(|e| {
        Error::new(
            ErrorKind::Decode,
            "a knowledge-ask frame is not JSON of the documented shape",
        )
        .with_source(e)
    })?;
    match frame.code {
        Some(code) if code != 0 => Err(ask_error(
            Error::new(
                ErrorKind::Api,
                "the knowledge-ask stream sent an error frame",
            )
            .with_api(code, frame.msg, None),
        )),
        _ => Ok(frame.data.unwrap_or(frame.payload)),
    }
}

/// How a snapshot's text changed from the one before.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delta {
    /// The new text is the old one followed by this (empty for a repeat).
    Append(String),
    /// The new text rewrote earlier text: this is the whole new text.
    Replace(String),
}

impl Delta {
    /// The delta from `old` to `new`.
    ///
    /// ```
    /// use aily_client::knowledge::Delta;
    /// assert_eq!(Delta::between("Aily[2]", "Aily[2] is"), Delta::Append(" is".into()));
    /// assert_eq!(Delta::between("Aily[2] is", "Aily is"), Delta::Replace("Aily is".into()));
    /// ```
    pub fn between(old: &str, new: &str) -> Delta {
        match new.strip_prefix(old) {
            Some(suffix) => Delta::Append(suffix.to_owned()),
            None => Delta::Replace(new.to_owned()),
        }
    }
}

/// The answer as it stood at one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KnowledgeSnapshot {
    /// The whole answer so far.
    pub content: String,
    /// How it changed from the snapshot before (from empty for the first).
    pub delta: Delta,
    /// `true` for the `finished` frame's snapshot (the last).
    pub finished: bool,
}

/// The frame rules, shared by the stream and the buffered mode: snapshots in
/// order, then the answer.
#[derive(Debug, Default)]
struct Frames {
    last: String,
    answer: Option<KnowledgeAnswer>,
}

impl Frames {
    fn event(&mut self, event: &Event) -> Result<KnowledgeSnapshot, Error> {
        self.payload(read_frame(&event.data)?)
    }

    fn payload(&mut self, payload: Payload) -> Result<KnowledgeSnapshot, Error> {
        let content = payload.message.content;
        if content.len() > MAX_ANSWER_BYTES {
            return Err(Error::new(
                ErrorKind::BodyTooLarge,
                format!("the knowledge answer is larger than {MAX_ANSWER_BYTES} bytes"),
            ));
        }
        let delta = Delta::between(&self.last, &content);
        let finished = payload.status == FrameStatus::Finished;
        if finished {
            self.answer = Some(KnowledgeAnswer {
                content: content.clone(),
                finish_type: payload.finish_type,
                has_answer: payload.has_answer.is_some_and(|b| b.0),
                process_data: payload.process_data,
                faq_result: payload.faq_result,
            });
        }
        self.last.clone_from(&content);
        Ok(KnowledgeSnapshot {
            content,
            delta,
            finished,
        })
    }
}

fn ended_early() -> Error {
    Error::new(
        ErrorKind::Transport,
        "the knowledge-ask stream ended early: it closed before the `finished` frame, so there is no answer",
    )
}

/// The most bytes of an unexpected body quoted in its error.
const QUOTED_BYTES: usize = 128;

/// The error for a reply that is neither an event stream nor JSON: its status,
/// content type and first bytes.
fn unexpected(status: StatusCode, headers: &http::HeaderMap, body: &[u8]) -> Error {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .map_or("none".into(), |v| String::from_utf8_lossy(v.as_bytes()));
    let head = &body[..body.len().min(QUOTED_BYTES)];
    Error::new(
        ErrorKind::Decode,
        format!(
            "knowledge ask answered HTTP {} with content type {content_type:?}, neither an event stream nor JSON; \
             the body begins {:?}",
            status.as_u16(),
            String::from_utf8_lossy(head),
        ),
    )
}

/// The buffered mode's decoding (the status and log id are added by the caller).
fn decode_buffered(response: &Response<Bytes>) -> Result<KnowledgeAnswer, Error> {
    let status = response.status();
    if !status.is_success() {
        // The envelope's error; an envelope saying success on an error status is
        // not one.
        return Err(envelope::decode::<serde::de::IgnoredAny>(response)
            .err()
            .unwrap_or_else(|| envelope::not_an_envelope(response, "reply")));
    }
    let mut frames = Frames::default();
    if is_event_stream(response) {
        for event in Parser::new().feed(response.body())? {
            frames.event(&event)?;
            if let Some(answer) = frames.answer.take() {
                return Ok(answer);
            }
        }
        return Err(ended_early());
    }
    if has_media_type(response.headers(), "application/json") {
        let text = std::str::from_utf8(response.body()).map_err(|e| {
            Error::new(ErrorKind::Decode, "the JSON reply is not UTF-8").with_source(e)
        })?;
        frames.payload(read_frame(text)?)?;
        return frames.answer.take().ok_or_else(|| {
            Error::new(
                ErrorKind::Decode,
                "the JSON reply of knowledge ask carries no `finished` answer",
            )
        });
    }
    Err(unexpected(status, response.headers(), response.body()))
}

/// A knowledge ask being answered: a [`Stream`] of [`KnowledgeSnapshot`]s, in order,
/// the last one `finished`; then [`finish`](KnowledgeAskStream::finish) (or
/// [`answer`](KnowledgeAskStream::answer)) gives the [`KnowledgeAnswer`].
///
/// The stream ends after the `finished` frame (the connection is then closed, as
/// when the stream is dropped), or with one error: the server's (an error frame), a
/// frame that is not JSON, a frame or answer over its limit, the idle timeout, the
/// call's deadline, a failed connection, or the end of the body before the
/// `finished` frame ("ended early"). Errors carry the reply's HTTP status and log id.
pub struct KnowledgeAskStream {
    reply: ReplyEvents,
    frames: Frames,
    /// The finished snapshot of a complete (JSON) reply, not yet handed out.
    complete: Option<KnowledgeSnapshot>,
}

impl KnowledgeAskStream {
    fn new(
        opened: Opened<KnowledgeAnswer>,
        status: StatusCode,
        log_id: Option<String>,
        config: &StreamConfig,
        deadline: (tokio::time::Instant, std::time::Duration),
    ) -> Self {
        let (events, complete, answer) = match opened {
            Opened::Events(body) => (Some(body.events(config, Some(deadline))), None, None),
            Opened::Complete(answer) => {
                let snapshot = KnowledgeSnapshot {
                    content: answer.content.clone(),
                    delta: Delta::between("", &answer.content),
                    finished: true,
                };
                (None, Some(snapshot), Some(answer))
            }
        };
        KnowledgeAskStream {
            reply: ReplyEvents::new(events, status, log_id),
            frames: Frames {
                answer,
                ..Frames::default()
            },
            complete,
        }
    }

    /// The HTTP status of the reply.
    pub fn status(&self) -> StatusCode {
        self.reply.status()
    }

    /// The reply's log id (`X-Tt-Logid`).
    pub fn log_id(&self) -> Option<&str> {
        self.reply.log_id()
    }

    /// The finished answer, once the `finished` frame has come out of the stream.
    pub fn answer(&self) -> Option<&KnowledgeAnswer> {
        self.frames.answer.as_ref()
    }

    /// Reads the rest of the stream and gives the finished answer, or the error that
    /// ended the stream (also one the stream already handed out).
    pub async fn finish(mut self) -> Result<KnowledgeAnswer, Error> {
        while let Some(item) = futures_util::StreamExt::next(&mut self).await {
            item?;
        }
        match (self.frames.answer.take(), self.reply.take_error()) {
            (Some(answer), _) => Ok(answer),
            (None, Some(err)) => Err(err),
            (None, None) => Err(self.reply.fail(ended_early())),
        }
    }
}

impl Stream for KnowledgeAskStream {
    type Item = Result<KnowledgeSnapshot, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(snapshot) = this.complete.take() {
            return Poll::Ready(Some(Ok(snapshot)));
        }
        let item = match futures_core::ready!(this.reply.poll_event(cx, ended_early)) {
            None => return Poll::Ready(None),
            Some(Ok(event)) => match this.frames.event(&event) {
                Ok(snapshot) => {
                    if snapshot.finished {
                        // Only the finished frame is the answer: the rest is not read.
                        this.reply.close();
                    }
                    Ok(snapshot)
                }
                Err(err) => Err(this.reply.fail(err)),
            },
            Some(Err(err)) => Err(err),
        };
        Poll::Ready(Some(item))
    }
}

impl fmt::Debug for KnowledgeAskStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnowledgeAskStream")
            .field("status", &self.reply.status())
            .field("log_id", &self.reply.log_id())
            .field("finished", &self.frames.answer.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Asks an app's knowledge base and streams the answer
    /// (`POST /open-apis/aily/v1/apps/:app_id/knowledges/ask`; see [`crate::knowledge`]).
    ///
    /// Answers once the reply's headers arrived (within the open timeout of the
    /// request's [`StreamConfig`], 10 s by default): a [`KnowledgeAskStream`] of the
    /// snapshots, bounded by the stream's idle timeout (60 s by default), its frame
    /// size (1 MiB) and the call's overall timeout (the request's, else the client's),
    /// which covers the whole stream. An error reply is the error, naming what its code
    /// means on this endpoint. Not sent again once it may have been written.
    ///
    /// ```no_run
    /// # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
    /// use std::time::Duration;
    /// use aily_client::AilyRequest;
    /// use aily_client::knowledge::KnowledgeAskRequest;
    /// use aily_client::sse::StreamConfig;
    ///
    /// let request = KnowledgeAskRequest::new("spring_1__c", "What is Aily?")?
    ///     .with_overall_timeout(Duration::from_secs(120))
    ///     .with_extension(StreamConfig::new().idle_timeout(Duration::from_secs(20)));
    /// let answer = client.knowledge_ask(request).await?.finish().await?;
    /// println!("{}", answer.content);
    /// # Ok(()) }
    /// ```
    pub async fn knowledge_ask(
        &self,
        request: KnowledgeAskRequest,
    ) -> Result<KnowledgeAskStream, Error> {
        let config = request
            .options()
            .extensions()
            .get::<StreamConfig>()
            .copied()
            .unwrap_or_default();
        let overall = self.overall_timeout_of(request.options());
        let deadline = tokio::time::Instant::now() + overall;
        let reply = self.open_stream(request).await?;
        let status = reply.status();
        let log_id = reply.log_id().map(str::to_owned);
        Ok(KnowledgeAskStream::new(
            reply.into_data(),
            status,
            log_id,
            &config,
            (deadline, overall),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(content_type: &str, body: &'static str) -> Response<Bytes> {
        Response::builder()
            .header("content-type", content_type)
            .body(Bytes::from_static(body.as_bytes()))
            .unwrap()
    }

    #[test]
    fn frames_are_read_bare_or_wrapped_and_error_frames_are_errors() {
        let bare =
            read_frame(r#"{"message":{"content":"a"},"status":"processing","x":1}"#).unwrap();
        assert_eq!(
            (bare.message.content.as_str(), bare.status),
            ("a", FrameStatus::Processing)
        );
        let wrapped = read_frame(
            r#"{"code":0,"msg":"ok","data":{"message":{"content":"b"},"status":"finished"}}"#,
        )
        .unwrap();
        assert_eq!(
            (wrapped.message.content.as_str(), wrapped.status),
            ("b", FrameStatus::Finished)
        );
        let err = read_frame(r#"{"code":2700033,"msg":"failed to ask knowledges"}"#)
            .map(|_| ())
            .unwrap_err();
        assert_eq!((err.kind(), err.code()), (ErrorKind::Api, Some(2700033)));
        assert!(err.to_string().contains("published"), "{err}");
        assert_eq!(
            read_frame("{not json").map(|_| ()).unwrap_err().kind(),
            ErrorKind::Decode
        );
    }

    #[test]
    fn the_buffered_mode_reads_streams_json_and_refuses_the_rest() {
        let stream = reply(
            "text/event-stream",
            "data: {\"message\":{\"content\":\"A\"},\"status\":\"processing\"}\n\n\
             data: {\"message\":{\"content\":\"AB\"},\"status\":\"finished\",\"finish_type\":\"faq\",\
             \"has_answer\":true,\"faq_result\":{\"question\":\"q\",\"answer\":\"AB\"}}\n\n",
        );
        let answer = KnowledgeAsk::decode(stream).unwrap();
        assert_eq!(
            (answer.content.as_str(), answer.finish_type),
            ("AB", FinishType::Faq)
        );
        assert_eq!(answer.faq_result.unwrap().question, "q");

        let early = reply("text/event-stream", "data: {\"status\":\"processing\"}\n\n");
        assert!(
            KnowledgeAsk::decode(early)
                .unwrap_err()
                .to_string()
                .contains("ended early")
        );

        let disabled = reply("application/json", r#"{"code":2700034,"msg":"disabled"}"#);
        let err = KnowledgeAsk::decode(disabled).unwrap_err();
        assert_eq!(err.code(), Some(2700034));
        assert!(
            err.to_string().contains("asking is disabled for this app"),
            "{err}"
        );

        let html = reply("text/html", "<html>oops</html>");
        let err = KnowledgeAsk::decode(html).unwrap_err().to_string();
        assert!(
            err.contains("text/html") && err.contains("<html>oops") && err.contains("200"),
            "{err}"
        );
    }

    #[test]
    fn deltas_append_or_replace() {
        let mut frames = Frames::default();
        let mut text = String::new();
        for content in ["Ai", "Aily[2]", "Aily[2]", "Aily is", "Aily is great"] {
            let payload = Payload {
                message: PayloadMessage {
                    content: content.into(),
                },
                ..Payload::default()
            };
            match frames.payload(payload).unwrap().delta {
                Delta::Append(s) => text.push_str(&s),
                Delta::Replace(s) => text = s,
            }
            assert_eq!(text, content);
        }
    }
}
