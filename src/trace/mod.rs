//! Tracing: OpenTelemetry-shaped spans for every call and every attempt.
//!
//! ```text
//! aily.run.cancel                                   operation span, INFO   (OperationSpanLayer)
//! ├── POST /open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel
//! │   │                                             attempt span, DEBUG    (AttemptSpanLayer)
//! │   └── aily.token.fetch                          token request, INFO   (app credentials, cold cache)
//! ├── WARN "retrying" {attempt, reason, delay_ms}   one event per retry
//! └── POST …/cancel  {http.request.resend_count = 1}
//! ```
//!
//! Field names follow the stable OpenTelemetry HTTP client conventions, so
//! `tracing-opentelemetry` exports them as they are (`otel.name`, `otel.kind` and
//! `otel.status_code` are read by it). No field ever holds a token, a secret or a
//! body. Levels are set on the [`ClientBuilder`](crate::ClientBuilder).

mod attempt;
mod operation;

pub use attempt::{AttemptSpan, AttemptSpanFuture, AttemptSpanLayer};
pub use operation::{OperationFuture, OperationSpan, OperationSpanLayer};

use tracing::Span;

use crate::error::{BoxError, Error};

/// The names of the fields this crate records.
pub mod fields {
    /// `otel.kind`: `internal` (operation) or `client` (attempt).
    pub const OTEL_KIND: &str = "otel.kind";
    /// `otel.name`: the span's display name.
    pub const OTEL_NAME: &str = "otel.name";
    /// `otel.status_code`: `ERROR` on failure (4xx, 5xx, transport errors, timeouts).
    pub const OTEL_STATUS_CODE: &str = "otel.status_code";
    /// `error.type`: the [`ErrorKind`](crate::ErrorKind) name, e.g. `timeout`, `api`.
    pub const ERROR_TYPE: &str = "error.type";
    /// `feishu.code`: the envelope's non-zero code.
    pub const FEISHU_CODE: &str = "feishu.code";
    /// `feishu.log_id`: the request's log id (`X-Tt-Logid`).
    pub const FEISHU_LOG_ID: &str = "feishu.log_id";
    /// `aily.session_id`: the session's ID (operation span).
    pub const AILY_SESSION_ID: &str = "aily.session_id";
    /// `aily.run_id`: the run's ID (operation span).
    pub const AILY_RUN_ID: &str = "aily.run_id";
    /// `aily.message_id`: the message's ID (operation span).
    pub const AILY_MESSAGE_ID: &str = "aily.message_id";
    /// `aily.app_id`: the Aily app's ID (operation span).
    pub const AILY_APP_ID: &str = "aily.app_id";
    /// `http.request.method` (attempt span).
    pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
    /// `url.template`, e.g. `/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel`.
    pub const URL_TEMPLATE: &str = "url.template";
    /// `url.full`: only when the client opts in ([`ClientBuilder::record_url_full`](crate::ClientBuilder::record_url_full)).
    pub const URL_FULL: &str = "url.full";
    /// `server.address` (attempt span).
    pub const SERVER_ADDRESS: &str = "server.address";
    /// `server.port` (attempt span).
    pub const SERVER_PORT: &str = "server.port";
    /// `http.response.status_code` (attempt span).
    pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
    /// `http.request.resend_count`: on an attempt span, its number when > 0; on the
    /// operation span, the retries made.
    pub const HTTP_REQUEST_RESEND_COUNT: &str = "http.request.resend_count";
}

/// `tracing::event!` at a level chosen at run time.
macro_rules! event_at {
    ($level:expr, $($rest:tt)*) => {
        match $level {
            ::tracing::Level::ERROR => ::tracing::error!($($rest)*),
            ::tracing::Level::WARN => ::tracing::warn!($($rest)*),
            ::tracing::Level::INFO => ::tracing::info!($($rest)*),
            ::tracing::Level::DEBUG => ::tracing::debug!($($rest)*),
            _ => ::tracing::trace!($($rest)*),
        }
    };
}

pub(crate) use event_at;

/// Records a failure on `span`: `otel.status_code = ERROR`, `error.type`, and, when
/// known, `feishu.code`, `feishu.log_id` and `http.response.status_code`.
pub(crate) fn record_error(span: &Span, err: &BoxError) {
    span.record(fields::OTEL_STATUS_CODE, "ERROR");
    match err.downcast_ref::<Error>() {
        Some(e) => {
            span.record(fields::ERROR_TYPE, e.kind().as_str());
            if let Some(code) = e.code() {
                span.record(fields::FEISHU_CODE, code);
            }
            if let Some(log_id) = e.log_id() {
                span.record(fields::FEISHU_LOG_ID, log_id);
            }
            if let Some(status) = e.status() {
                span.record(fields::HTTP_RESPONSE_STATUS_CODE, status.as_u16());
            }
        }
        None => {
            span.record(
                fields::ERROR_TYPE,
                Error::peek(err.as_ref()).kind().as_str(),
            );
        }
    }
}
