//! The first observer of each layer: the layer's own span, recorded from the
//! [`Event`] of its call or attempt (the field names are [`crate::layers::observe::trace::fields`]).

use tracing::Span;

use super::{Event, Observer};
use crate::error::Error;
use crate::layers::observe::trace::fields;

/// Records how a call or attempt ended on its span.
pub(super) struct SpanFields;

impl Observer for SpanFields {
    fn on_operation(&self, event: &Event<'_>) {
        let span = event.span();
        match event.error() {
            None => {
                if let Some(log_id) = event.log_id() {
                    span.record(fields::FEISHU_LOG_ID, log_id);
                }
            }
            Some(error) => record_error(span, error),
        }
        if event.attempt() > 0 {
            span.record(fields::HTTP_REQUEST_RESEND_COUNT, event.attempt());
        }
    }

    fn on_attempt(&self, event: &Event<'_>) {
        let span = event.span();
        // What the server answered, when it answered this attempt.
        if let Some(status) = event.status() {
            span.record(fields::HTTP_RESPONSE_STATUS_CODE, status.as_u16());
        }
        match event.error() {
            None => {
                if let Some(log_id) = event.log_id() {
                    span.record(fields::FEISHU_LOG_ID, log_id);
                }
            }
            Some(error) => record_error(span, error),
        }
    }
}

/// Records a failure on `span`: `otel.status_code = ERROR`, `error.type`, and, when
/// known, `feishu.code`, `feishu.log_id` and `http.response.status_code`.
pub(crate) fn record_error(span: &Span, error: &Error) {
    span.record(fields::OTEL_STATUS_CODE, "ERROR");
    span.record(fields::ERROR_TYPE, error.kind().as_str());
    if let Some(code) = error.code() {
        span.record(fields::FEISHU_CODE, code);
    }
    if let Some(log_id) = error.log_id() {
        span.record(fields::FEISHU_LOG_ID, log_id);
    }
    if let Some(status) = error.status() {
        span.record(fields::HTTP_RESPONSE_STATUS_CODE, status.as_u16());
    }
}
