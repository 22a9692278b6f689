//! Tracing: OpenTelemetry-shaped spans for every call and every attempt.
//!
//! ```text
//! aily.run.cancel                                   operation span, INFO   (OperationLayer)
//! ├── POST /open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel
//! │   │                                             attempt span, DEBUG    (AttemptLayer)
//! │   └── aily.token.fetch                          token request, INFO   (app credentials, cold cache;
//! │       │                                         source = feishu, or store when a fleet's store had it)
//! │       └── POST /open-apis/auth/v3/tenant_access_token/internal
//! │                                                 the token request's attempt span (auth::TokenHttp)
//! ├── WARN "retrying" {attempt, reason, delay_ms}   one event per retry
//! └── POST …/cancel  {http.request.resend_count = 1}
//! ```
//!
//! Field names follow the stable OpenTelemetry HTTP client conventions, so
//! `tracing-opentelemetry` exports them as they are (`otel.name`, `otel.kind` and
//! `otel.status_code` are read by it). No field ever holds a token, a secret or a
//! body. Levels are set on the [`ClientBuilder`](crate::ClientBuilder).
//!
//! # Fields
//!
//! | span | field | value |
//! | --- | --- | --- |
//! | operation `aily.run.cancel` | `otel.kind` | `internal` |
//! | | `otel.name` | `aily.run.cancel` |
//! | | `aily.session_id`, `aily.run_id` | the request's IDs |
//! | | `otel.status_code` | `ERROR` on failure (unset on success) |
//! | | `error.type` | the error kind: `api`, `auth`, `timeout`, `connect`, `transport`, `rate_limited`, `decode`, `body_too_large`, … |
//! | | `feishu.code`, `feishu.log_id` | from the reply |
//! | | `http.request.resend_count` | retries made (when > 0) |
//! | attempt `POST /open-apis/…/cancel` | `otel.kind` | `client` |
//! | | `http.request.method`, `url.template` | `POST`, `/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel` |
//! | | `server.address`, `server.port` | the base URL's |
//! | | `http.response.status_code` | the reply's |
//! | | `http.request.resend_count` | 1, 2, … on retries |
//! | | `otel.status_code`, `error.type`, `feishu.code`, `feishu.log_id` | as above, for this attempt (a timeout included) |
//! | | `url.full` | only with `record_url_full(true)` (the path holds IDs) |
//! | token `aily.token.fetch` | `app_id`, `feishu.code`, `feishu.log_id`, `error.type` | never the secret, the token or a body |
//! | | `source` | `feishu` when the token endpoint was asked, `store` when the fleet's store had it (count `source=feishu` to count fetches) |
//!
//! The names are the constants of [`fields`]. Levels:
//! [`operation_span_level`](crate::ClientBuilder::operation_span_level) (INFO),
//! [`attempt_span_level`](crate::ClientBuilder::attempt_span_level) (DEBUG),
//! [`retry_event_level`](crate::ClientBuilder::retry_event_level) (WARN). No span or
//! event holds a token, a secret or a body (tested with a TRACE capture and with the
//! OpenTelemetry export).
//!
//! ```
//! use aily_client::trace::fields;
//! use aily_client::{Client, Credentials};
//! use tracing::Level;
//!
//! let client = Client::builder()
//!     .credentials(Credentials::tenant_token("t-x"))
//!     .operation_span_level(Level::DEBUG) // one span per call, quieter
//!     .attempt_span_level(Level::TRACE)
//!     .retry_event_level(Level::INFO)
//!     .build()?;
//! # let _ = client;
//! assert_eq!(fields::URL_TEMPLATE, "url.template");
//! assert_eq!(fields::HTTP_REQUEST_RESEND_COUNT, "http.request.resend_count");
//! # Ok::<(), aily_client::Error>(())
//! ```
//!
//! # Into OpenTelemetry
//!
//! The field names are the stable OTel HTTP client conventions and
//! `tracing-opentelemetry` reads `otel.name`, `otel.kind` and `otel.status_code`, so
//! the spans export as they are:
//!
//! ```
//! use opentelemetry::trace::TracerProvider as _;
//! use tracing_subscriber::layer::SubscriberExt;
//! use tracing_subscriber::EnvFilter;
//!
//! let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build(); // yours
//! let tracer = provider.tracer("my-service");
//! let subscriber = tracing_subscriber::registry()
//!     .with(EnvFilter::new("info,aily_client=debug")) // attempt spans are DEBUG
//!     .with(tracing_opentelemetry::layer().with_tracer(tracer));
//! # let _ = subscriber; // `.init()` it in your program
//! ```
//!
//! `examples/microservice.rs` is an axum service with tower-http tracing on the inbound
//! side that cancels runs through one shared `Client`, exports its spans (in memory,
//! printed) and serves the client's metrics at `GET /metrics`:
//! `cargo run --example microservice --features testing,metrics`. Its tests check that
//! the inbound span parents `aily.run.cancel`, which parents the attempt spans, in one
//! trace.

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
    /// The skill's ID, on the operation span of a skill endpoint.
    pub const AILY_SKILL_ID: &str = "aily.skill_id";
    /// `source` (token span `aily.token.fetch`): `feishu` when the token endpoint was
    /// asked, `store` when the fleet's token store had the token.
    pub const TOKEN_SOURCE: &str = "source";
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
    (target: $target:expr, $level:expr, $($rest:tt)*) => {
        match $level {
            ::tracing::Level::ERROR => ::tracing::error!(target: $target, $($rest)*),
            ::tracing::Level::WARN => ::tracing::warn!(target: $target, $($rest)*),
            ::tracing::Level::INFO => ::tracing::info!(target: $target, $($rest)*),
            ::tracing::Level::DEBUG => ::tracing::debug!(target: $target, $($rest)*),
            _ => ::tracing::trace!(target: $target, $($rest)*),
        }
    };
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

#[cfg(test)]
pub(crate) mod tests {
    //! A small recorder of spans and their fields, installed as the thread's
    //! subscriber for one test (the tests of `operation` and `attempt` use it too),
    //! and the tests of `record_error` and `event_at!`.

    use std::collections::{BTreeMap, HashMap};
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::DefaultGuard;
    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    use super::*;
    use crate::error::{Error, ErrorKind, TimeoutKind};
    use crate::layers::observe::record_error;
    use tracing::Span;

    /// A span as recorded: its name, level, parent's name and fields.
    #[derive(Clone, Debug)]
    pub(crate) struct SpanRec {
        pub(crate) name: &'static str,
        pub(crate) level: Level,
        pub(crate) parent: Option<&'static str>,
        pub(crate) fields: BTreeMap<String, String>,
    }

    impl SpanRec {
        pub(crate) fn field(&self, name: &str) -> Option<&str> {
            self.fields.get(name).map(String::as_str)
        }
    }

    /// An event as recorded: its level, the name of the span it is in, its fields.
    #[derive(Clone, Debug)]
    pub(crate) struct EventRec {
        pub(crate) level: Level,
        pub(crate) span: Option<&'static str>,
        pub(crate) fields: BTreeMap<String, String>,
    }

    #[derive(Default)]
    struct Store {
        spans: Vec<SpanRec>,
        open: HashMap<u64, usize>,
        events: Vec<EventRec>,
    }

    /// Keeps every span (with its fields as recorded so far) and event.
    #[derive(Clone, Default)]
    pub(crate) struct Recorder(Arc<Mutex<Store>>);

    struct Fields<'a>(&'a mut BTreeMap<String, String>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl<S> tracing_subscriber::Layer<S> for Recorder
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
            let mut rec = SpanRec {
                name: attrs.metadata().name(),
                level: *attrs.metadata().level(),
                parent: ctx.span(id).and_then(|s| s.parent()).map(|p| p.name()),
                fields: BTreeMap::new(),
            };
            attrs.record(&mut Fields(&mut rec.fields));
            let mut store = self.0.lock().unwrap();
            store.spans.push(rec);
            let index = store.spans.len() - 1;
            store.open.insert(id.into_u64(), index);
        }

        fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
            let mut store = self.0.lock().unwrap();
            if let Some(&i) = store.open.get(&id.into_u64()) {
                values.record(&mut Fields(&mut store.spans[i].fields));
            }
        }

        fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
            let mut rec = EventRec {
                level: *event.metadata().level(),
                span: ctx.event_span(event).map(|s| s.name()),
                fields: BTreeMap::new(),
            };
            event.record(&mut Fields(&mut rec.fields));
            self.0.lock().unwrap().events.push(rec);
        }

        fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
            self.0.lock().unwrap().open.remove(&id.into_u64());
        }
    }

    impl Recorder {
        /// A recorder, installed as this thread's subscriber until the guard drops
        /// (a `current_thread` tokio test polls everything on this thread).
        pub(crate) fn install() -> (Recorder, DefaultGuard) {
            let recorder = Recorder::default();
            let subscriber = tracing_subscriber::registry()
                .with(recorder.clone())
                .with(tracing_subscriber::filter::LevelFilter::TRACE);
            (recorder, tracing::subscriber::set_default(subscriber))
        }

        pub(crate) fn spans(&self) -> Vec<SpanRec> {
            self.0.lock().unwrap().spans.clone()
        }

        /// The one span recorded (asserting there was exactly one).
        pub(crate) fn only_span(&self) -> SpanRec {
            let spans = self.spans();
            assert_eq!(spans.len(), 1, "{spans:#?}");
            spans.into_iter().next().unwrap()
        }

        pub(crate) fn events(&self) -> Vec<EventRec> {
            self.0.lock().unwrap().events.clone()
        }
    }

    fn span() -> Span {
        tracing::info_span!(
            "test",
            otel.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
            feishu.code = tracing::field::Empty,
            feishu.log_id = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
        )
    }

    #[test]
    fn record_error_records_the_kind_code_log_id_and_status() {
        let (recorder, _guard) = Recorder::install();
        let err = Error::new(ErrorKind::Api, "Feishu returned an error")
            .with_status(http::StatusCode::BAD_REQUEST)
            .with_api(2700001, "param is invalid".into(), None)
            .with_log_id(Some("log-1".into()));
        record_error(&span(), &err);
        let rec = recorder.only_span();
        assert_eq!(rec.field(fields::OTEL_STATUS_CODE), Some("ERROR"));
        assert_eq!(rec.field(fields::ERROR_TYPE), Some("api"));
        assert_eq!(rec.field(fields::FEISHU_CODE), Some("2700001"));
        assert_eq!(rec.field(fields::FEISHU_LOG_ID), Some("log-1"));
        assert_eq!(rec.field(fields::HTTP_RESPONSE_STATUS_CODE), Some("400"));
    }

    #[test]
    fn record_error_records_only_what_the_error_knows() {
        let (recorder, _guard) = Recorder::install();
        let err = Error::timeout(TimeoutKind::Attempt, std::time::Duration::from_secs(1));
        record_error(&span(), &err);
        let rec = recorder.only_span();
        assert_eq!(rec.field(fields::OTEL_STATUS_CODE), Some("ERROR"));
        assert_eq!(rec.field(fields::ERROR_TYPE), Some("timeout"));
        for absent in [
            fields::FEISHU_CODE,
            fields::FEISHU_LOG_ID,
            fields::HTTP_RESPONSE_STATUS_CODE,
        ] {
            assert_eq!(rec.field(absent), None, "{absent}");
        }
    }

    #[test]
    fn record_error_names_the_kind_of_a_foreign_error() {
        let (recorder, _guard) = Recorder::install();
        let err = Error::from_box(Box::new(tower::load_shed::error::Overloaded::new()));
        record_error(&span(), &err);
        let rec = recorder.only_span();
        assert_eq!(rec.field(fields::OTEL_STATUS_CODE), Some("ERROR"));
        assert_eq!(rec.field(fields::ERROR_TYPE), Some("overloaded"));
    }

    #[test]
    fn event_at_emits_at_the_level_chosen_at_run_time() {
        let (recorder, _guard) = Recorder::install();
        for level in [
            Level::ERROR,
            Level::WARN,
            Level::INFO,
            Level::DEBUG,
            Level::TRACE,
        ] {
            event_at!(level, n = 1, "at a level");
        }
        let levels: Vec<Level> = recorder.events().iter().map(|e| e.level).collect();
        assert_eq!(
            levels,
            [
                Level::ERROR,
                Level::WARN,
                Level::INFO,
                Level::DEBUG,
                Level::TRACE
            ]
        );
    }
}
