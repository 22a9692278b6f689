//! Server-sent events: one reader of the event-stream format for every streaming
//! endpoint, and the call path that opens a stream through the client's stack.
//!
//! * [`Parser`] — the incremental, pure parser of the WHATWG rules (BOM, CRLF/LF/CR
//!   line ends, comments, `data` joined, partial events discarded, a maximum frame
//!   size; invalid UTF-8 is an error).
//! * [`EventStream`] — the parser over an HTTP body as a
//!   [`Stream`](futures_core::Stream) of [`Event`]s, bounded by an idle timeout (no
//!   bytes for that long; comments count), the call's deadline and the maximum
//!   frame size ([`StreamConfig`]). Dropping it closes the connection.
//! * [`StreamRequest`] — any typed request, streamed: sent through the client's
//!   whole typed tier with `Accept: text/event-stream`, answered at the response
//!   headers ([`Opened`]).
//!
//! # The streaming call path
//!
//! A streamed call goes through the **same typed tier** as every call
//! ([`Client::call`](crate::Client::call) of a [`StreamRequest`]): the operation span,
//! the deadline, retry, the rate limit, the in-flight limit, the attempt span and the
//! attempt timeout — over a second HTTP tier beside the default one, which shares its
//! connection pool, base URL and token source (auth with its token-rejection replay),
//! and differs in one layer only: [`StreamBodyLayer`](crate::transport::StreamBodyLayer)
//! in place of [`CollectBodyLayer`](crate::transport::CollectBodyLayer). An event-stream
//! reply (2xx, `text/event-stream`) is answered at its headers, its body unread
//! ([`StreamingBody`](crate::transport::StreamingBody) in the reply's extensions,
//! which [`StreamRequest`]'s decoding takes out); any other reply is collected and
//! decoded as it always is, so an error reply is the same [`Error`](crate::Error),
//! with the same retry class, as on any call.
//!
//! What follows from that seam:
//!
//! * the attempt timeout ends at the headers: it is the stream's **open timeout**
//!   ([`StreamConfig::open_timeout`], 10 s by default, unless the request sets its own
//!   attempt timeout), and never cuts the body;
//! * the body is bounded by the [`EventStream`]'s idle timeout, the call's overall
//!   deadline and the maximum frame size;
//! * **a request that is not idempotent is never replayed** once it may have been
//!   written: the retry policy sends it again only after a connect error or a refusal
//!   the server made (HTTP 429 / code 99991400, after its reset) — and a failure of
//!   the stream's body happens after the call returned, where nothing retries;
//! * nothing reconnects, and `Last-Event-ID` is never sent: no documented endpoint
//!   resumes.
//!
//! [`Client::knowledge_ask`](crate::Client::knowledge_ask) is built on it
//! ([`crate::knowledge`] has the example).

mod parser;
mod reader;
mod reply;

use std::fmt;

use bytes::Bytes;
use http::header::ACCEPT;
use http::{HeaderValue, Request, Response};
use tokio::time::Instant;

use crate::api::request::{AilyRequest, RequestOptions};
use crate::error::Error;
use crate::transport::{RequestBody, StreamBodyOf, StreamingBody};

pub use parser::{DEFAULT_MAX_FRAME_BYTES, Event, Parser};
pub use reader::{DEFAULT_IDLE_TIMEOUT, DEFAULT_OPEN_TIMEOUT, EventStream, StreamConfig};
pub(crate) use reply::ReplyEvents;

/// The `Accept` header of a streamed request.
pub const EVENT_STREAM: &str = "text/event-stream";

/// A typed request sent to be streamed: `R` as it is (operation, path, body,
/// options, idempotency), with `Accept: text/event-stream`; its reply is [`Opened`]
/// at the response headers. Send it with [`Client::call`](crate::Client::call) (see
/// [the streaming call path](self#the-streaming-call-path)).
///
/// ```
/// use aily_client::AilyRequest;
/// use aily_client::knowledge::KnowledgeAskRequest;
/// use aily_client::sse::StreamRequest;
///
/// let ask = StreamRequest::new(KnowledgeAskRequest::new("spring_1__c", "What is Aily?")?);
/// assert_eq!(ask.to_http().headers()["accept"], "text/event-stream");
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct StreamRequest<R> {
    inner: R,
}

impl<R: AilyRequest> StreamRequest<R> {
    /// `request`, streamed.
    pub fn new(request: R) -> Self {
        StreamRequest { inner: request }
    }

    /// The request as given.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The request as given.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// The reply of a [`StreamRequest`], at the response headers.
pub enum Opened<T> {
    /// A 2xx `text/event-stream` reply: its body, unread.
    Events(UnreadStream),
    /// Any other reply that `R` decodes as a success (a JSON reply carrying the
    /// whole answer, for instance).
    Complete(T),
}

impl<T: fmt::Debug> fmt::Debug for Opened<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opened::Events(_) => f.write_str("Events(..)"),
            Opened::Complete(data) => f.debug_tuple("Complete").field(data).finish(),
        }
    }
}

/// The unread body of an event-stream reply. Dropped, it closes the connection.
pub struct UnreadStream(StreamBodyOf);

impl UnreadStream {
    /// Its events, bounded by `config` and, when given, the `deadline` (the instant
    /// and the overall timeout it comes from).
    pub fn events(
        self,
        config: &StreamConfig,
        deadline: Option<(Instant, std::time::Duration)>,
    ) -> EventStream<StreamBodyOf> {
        EventStream::new(self.0, config, deadline)
    }

    /// The body itself.
    pub fn into_body(self) -> StreamBodyOf {
        self.0
    }
}

impl fmt::Debug for UnreadStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnreadStream").finish_non_exhaustive()
    }
}

impl<R: AilyRequest> AilyRequest for StreamRequest<R> {
    type Response = Opened<R::Response>;
    type Operation = R::Operation;
    const IDEMPOTENT: bool = R::IDEMPOTENT;

    fn options(&self) -> &RequestOptions {
        self.inner.options()
    }

    fn options_mut(&mut self) -> &mut RequestOptions {
        self.inner.options_mut()
    }

    fn to_http(&self) -> Request<RequestBody> {
        let mut request = self.inner.to_http();
        request
            .headers_mut()
            .insert(ACCEPT, HeaderValue::from_static(EVENT_STREAM));
        request
    }

    fn decode(mut response: Response<Bytes>) -> Result<Opened<R::Response>, Error> {
        if let Some(body) = response
            .extensions_mut()
            .remove::<StreamingBody>()
            .and_then(|body| body.take())
        {
            return Ok(Opened::Events(UnreadStream(body)));
        }
        R::decode(response).map(Opened::Complete)
    }

    fn path(&self) -> &str {
        self.inner.path()
    }

    fn record_ids(&self, span: &tracing::Span) {
        self.inner.record_ids(span);
    }

    fn span(&self, level: tracing::Level) -> tracing::Span {
        self.inner.span(level)
    }

    fn attempt_span(&self, level: tracing::Level) -> tracing::Span {
        self.inner.attempt_span(level)
    }
}
