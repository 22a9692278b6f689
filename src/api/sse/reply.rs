//! [`ReplyEvents`]: the events of one event-stream reply as a typed stream reads
//! them — with the reply's status and log id, and the error that ended them.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use http::StatusCode;

use super::{Event, EventStream};
use crate::error::Error;
use crate::transport::StreamBodyOf;

/// The events of a reply, read until a typed stream closes them or they fail: then
/// the error (with the reply's HTTP status and log id) is kept for the stream's
/// `finish`, and no event is read again.
pub(crate) struct ReplyEvents {
    events: Option<EventStream<StreamBodyOf>>,
    status: StatusCode,
    log_id: Option<String>,
    error: Option<Error>,
}

impl ReplyEvents {
    /// `events` (none: a reply that was not a stream) of the reply with `status`
    /// and `log_id`.
    pub(crate) fn new(
        events: Option<EventStream<StreamBodyOf>>,
        status: StatusCode,
        log_id: Option<String>,
    ) -> Self {
        ReplyEvents {
            events,
            status,
            log_id,
            error: None,
        }
    }

    /// The HTTP status of the reply.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The reply's log id.
    pub(crate) fn log_id(&self) -> Option<&str> {
        self.log_id.as_deref()
    }

    /// The error that ended the events, if one did.
    pub(crate) fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Takes the error that ended the events.
    pub(crate) fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    /// Reads no more: the last frame came (the connection is closed).
    pub(crate) fn close(&mut self) {
        self.events = None;
    }

    /// Ends the events with `err`, given the reply's status and log id, and keeps it.
    pub(crate) fn fail(&mut self, err: Error) -> Error {
        self.events = None;
        let err = err
            .with_status(self.status)
            .with_log_id(self.log_id.clone());
        self.error = Some(err.clone());
        err
    }

    /// The next event; the error that ends the events (a failed read, or
    /// `ended_early()` at the end of the body, which comes before the last frame
    /// since the stream closes at that one); `None` once closed or failed.
    pub(crate) fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
        ended_early: fn() -> Error,
    ) -> Poll<Option<Result<Event, Error>>> {
        let Some(events) = self.events.as_mut() else {
            return Poll::Ready(None);
        };
        Poll::Ready(Some(
            match futures_core::ready!(Pin::new(events).poll_next(cx)) {
                Some(Ok(event)) => Ok(event),
                Some(Err(err)) => Err(self.fail(err)),
                None => Err(self.fail(ended_early())),
            },
        ))
    }
}
