//! [`EventStream`]: the [`Parser`] over an HTTP body, as a [`Stream`] of
//! [`Event`]s, bounded in time and size; [`StreamConfig`]: its bounds.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use http_body::Body;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::parser::{DEFAULT_MAX_FRAME_BYTES, Event, Parser};
use crate::error::{BoxError, Error, ErrorKind, TimeoutKind};

/// The default bound on opening a stream (to the response headers): 10 s.
pub const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// The default bound on a silence of the stream (no bytes; comments count): 60 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The bounds of one streaming call: how long opening it may take, how long the
/// stream may stay silent, how large a frame may be. The call's overall deadline
/// ([`AilyRequest::with_overall_timeout`](crate::AilyRequest::with_overall_timeout),
/// else the client's) bounds the whole stream on top of these.
///
/// A request carries its own as an extension ([`AilyRequest::with_extension`](crate::AilyRequest::with_extension));
/// without one, the defaults apply.
///
/// ```
/// use std::time::Duration;
/// use aily_client::sse::StreamConfig;
///
/// let config = StreamConfig::new().idle_timeout(Duration::from_secs(5)).max_frame_bytes(64 * 1024);
/// assert_eq!(config.open_timeout_value(), Duration::from_secs(10));
/// assert_eq!(config.idle_timeout_value(), Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamConfig {
    open_timeout: Duration,
    idle_timeout: Duration,
    max_frame_bytes: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            open_timeout: DEFAULT_OPEN_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

impl StreamConfig {
    /// The defaults: 10 s to open, 60 s of silence, 1 MiB frames.
    pub fn new() -> StreamConfig {
        StreamConfig::default()
    }

    /// Bounds opening the stream: the token, sending and the response headers (each
    /// attempt's, as the attempt timeout bounds a call that is not streamed). The body
    /// is not under it.
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.open_timeout = timeout;
        self
    }

    /// Ends the stream with a [`TimeoutKind::Idle`] error when no byte arrived for
    /// this long (comment lines, the servers' keep-alives, count as bytes).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The largest line or event accepted, in bytes (at least 1); beyond it the
    /// stream ends with a [`BodyTooLarge`](ErrorKind::BodyTooLarge) error.
    pub fn max_frame_bytes(mut self, bytes: usize) -> Self {
        self.max_frame_bytes = bytes.max(1);
        self
    }

    /// The open timeout.
    pub fn open_timeout_value(&self) -> Duration {
        self.open_timeout
    }

    /// The idle timeout.
    pub fn idle_timeout_value(&self) -> Duration {
        self.idle_timeout
    }

    /// The largest frame accepted, in bytes.
    pub fn max_frame_bytes_value(&self) -> usize {
        self.max_frame_bytes
    }
}

pin_project! {
    /// The events of an event-stream body, as a [`Stream`] of `Result<Event, Error>`.
    ///
    /// It ends with an error — and then `None` — when the body fails
    /// ([`Transport`](ErrorKind::Transport)), when no byte arrived for the idle
    /// timeout ([`TimeoutKind::Idle`]), at the deadline ([`TimeoutKind::Overall`]),
    /// or when the parser refuses the bytes (see [`Parser`]). At the end of the body
    /// a partial event is discarded; [`ended_mid_event`](EventStream::ended_mid_event)
    /// says whether there was one. Dropping the stream drops the body: the connection
    /// is closed, not returned to the pool.
    ///
    /// ```
    /// use aily_client::sse::{EventStream, StreamConfig};
    /// use futures_util::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aily_client::Error> {
    /// let body = http_body_util::Full::new(bytes::Bytes::from_static(b"data: 1\n\ndata: 2\n\ndata: 3"));
    /// let mut events = EventStream::new(body, &StreamConfig::new(), None);
    /// assert_eq!(events.next().await.transpose()?.map(|e| e.data), Some("1".to_owned()));
    /// assert_eq!(events.next().await.transpose()?.map(|e| e.data), Some("2".to_owned()));
    /// assert!(events.next().await.is_none());
    /// assert!(events.ended_mid_event(), "`data: 3` never ended");
    /// # Ok(()) }
    /// ```
    pub struct EventStream<B> {
        #[pin]
        body: B,
        parser: Parser,
        ready: std::collections::VecDeque<Event>,
        idle: Pin<Box<Sleep>>,
        idle_timeout: Duration,
        deadline: Option<(Pin<Box<Sleep>>, Duration)>,
        failed: Option<Error>,
        done: bool,
        ended_mid_event: bool,
    }
}

impl<B> EventStream<B> {
    /// The events of `body`, bounded by `config` (idle timeout, frame size) and,
    /// when given, by `deadline` (the instant and the overall timeout it comes from,
    /// for the error's message). Must be polled within a tokio runtime (its timers).
    pub fn new(body: B, config: &StreamConfig, deadline: Option<(Instant, Duration)>) -> Self {
        EventStream {
            body,
            parser: Parser::with_max_frame_bytes(config.max_frame_bytes),
            ready: std::collections::VecDeque::new(),
            idle: Box::pin(tokio::time::sleep(config.idle_timeout)),
            idle_timeout: config.idle_timeout,
            deadline: deadline
                .map(|(at, overall)| (Box::pin(tokio::time::sleep_until(at)), overall)),
            failed: None,
            done: false,
            ended_mid_event: false,
        }
    }

    /// True once the body ended in the middle of an event (which was discarded).
    pub fn ended_mid_event(&self) -> bool {
        self.ended_mid_event
    }

    /// The last reconnection delay a `retry:` field suggested, if any.
    pub fn retry(&self) -> Option<Duration> {
        self.parser.retry()
    }
}

impl<B> fmt::Debug for EventStream<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("idle_timeout", &self.idle_timeout)
            .field("max_frame_bytes", &self.parser.max_frame_bytes())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<B> Stream for EventStream<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Item = Result<Event, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if let Some(event) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            // The events a chunk completed before the parser failed come out first.
            if let Some(err) = this.failed.take() {
                return Poll::Ready(Some(Err(err)));
            }
            if *this.done {
                return Poll::Ready(None);
            }
            if let Some((deadline, overall)) = this.deadline.as_mut()
                && deadline.as_mut().poll(cx).is_ready()
            {
                *this.done = true;
                return Poll::Ready(Some(Err(Error::timeout(TimeoutKind::Overall, *overall))));
            }
            match this.body.as_mut().poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers carry nothing
                    };
                    if data.is_empty() {
                        continue;
                    }
                    this.idle
                        .as_mut()
                        .reset(Instant::now() + *this.idle_timeout);
                    let mut events = Vec::new();
                    let fed = this.parser.feed_into(&data, &mut events);
                    this.ready.extend(events);
                    if let Err(err) = fed {
                        *this.done = true;
                        *this.failed = Some(err);
                    }
                }
                Poll::Ready(Some(Err(err))) => {
                    *this.done = true;
                    return Poll::Ready(Some(Err(Error::new(
                        ErrorKind::Transport,
                        "the connection failed while reading the event stream",
                    )
                    .with_source(err))));
                }
                Poll::Ready(None) => {
                    *this.done = true;
                    *this.ended_mid_event = this.parser.finish();
                }
                Poll::Pending => {
                    if this.idle.as_mut().poll(cx).is_ready() {
                        *this.done = true;
                        return Poll::Ready(Some(Err(Error::timeout(
                            TimeoutKind::Idle,
                            *this.idle_timeout,
                        ))));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}
