//! Metrics (feature `metrics`): the numbers an on-call engineer reads, recorded
//! through the [`metrics`](https://docs.rs/metrics) facade, in OpenTelemetry's names.
//!
//! Without the feature nothing here is compiled in: the instruments the operation and
//! attempt layers drive, and every counter's call site, are no-op twins
//! (`observe::record`) that compile to nothing, and `cargo build --lib` pulls no
//! metrics crate. With it, every call records into whatever recorder the program
//! installed — a Prometheus exporter (`metrics-exporter-prometheus`, as
//! `examples/microservice.rs` does), StatsD, an OpenTelemetry pipeline through a
//! `metrics` → OpenTelemetry bridge (`metrics-exporter-otel` over an OTel `Meter`; a
//! test reads the instruments back from the SDK's in-memory exporter), or the facade's
//! own test recorder — and into its no-op recorder when none is. Your own numbers
//! beside them: an [`Observer`](crate::layers::observe::Observer) given to
//! [`ClientBuilder::observer`](crate::ClientBuilder::observer) is told of every call
//! and attempt.
//!
//! # Instruments
//!
//! The names are OpenTelemetry's where its HTTP client semantic conventions have one
//! (`http.client.request.duration` and its attributes), `aily.client.*` otherwise;
//! each is a constant below.
//!
//! | instrument | kind, unit | labels | one sample / increment per |
//! | --- | --- | --- | --- |
//! | `http.client.request.duration` | histogram, s | `http.request.method`, `server.address`, `server.port`, `url.template`, `http.response.status_code` (when this attempt got a reply), `error.type` (on failure) | attempt: token, send, whole reply decoded; a timed-out one included |
//! | `aily.client.operation.duration` | histogram, s | `aily.operation` (`aily.run.cancel`, …), `error.type` (on failure) | call, retries, backoff and rate-limit waits included |
//! | `aily.client.retries` | counter | `aily.operation`, `reason` (`connect`, `transient`, `rate_limited`) | retry |
//! | `aily.client.token.fetches` | counter | `outcome` (`success`, `error`) | tenant-token request sent to Feishu (10 concurrent calls on a cold cache: 1) |
//! | `aily.client.rate_limit.wait` | histogram, s | `aily.operation` | call that waited for a slot or out a penalty |
//! | `aily.client.rate_limit.fail_fast` | counter | `aily.operation` | call the limiter refused rather than wait past its bound |
//! | `aily.client.feishu.errors` | counter | `aily.operation` (`aily.token.fetch` for the token endpoint), `feishu.code` (a code in [`KNOWN_FEISHU_CODES`] or an HTTP status 400–599; any other is `other`, so a server cannot mint series) | reply with a non-zero code |
//! | `aily.client.background_cancels` | counter | `outcome` (`succeeded`, `failed`, `timed_out`, `rejected`) | cancel of a run whose owner was dropped |
//! | `aily.client.store.fallbacks` | counter | `store.command` (`acquire`, `load token`, …) | store command Redis did not answer (feature `redis`) |
//!
//! `error.type` is the error's [`ErrorKind::as_str`](crate::ErrorKind::as_str) (`api`,
//! `timeout`, `connect`, …), the same value as on the spans. Label sets are bounded:
//! operation names, methods, URL *templates*, status codes, error kinds, Feishu codes
//! and fixed reasons — never an ID, a log ID, a message or a URL with IDs in it.
//! [`describe`] gives the installed recorder units and help texts, and
//! [`DURATION_BUCKETS`] are OpenTelemetry's recommended boundaries. The two layers are
//! public, for stacks of your own (keep one of each per client: they keep the handles
//! they registered, by label set and recorder, so the hot path builds no metric key).
//!
//! Tested: every series and count is pinned with the facade's debugging recorder over
//! real TCP, for a success, a retried 503, an exhausted outage, a token fetch on a cold
//! cache, a rejected app secret, a rate-limit wait, a fail-fast, an invalid ID (nothing
//! recorded), a dropped run handle and an unreachable Redis; the microservice example's
//! `/metrics` is scraped over HTTP and its exposition parsed. The cost is measured in
//! `benches/README.md`.
//!
//! # Prometheus
//!
//! Exported with `with_recommended_naming(true)`, dots become underscores and units and
//! `_total` are appended: `http_client_request_duration_seconds_bucket`,
//! `aily_client_operation_duration_seconds_count{aily_operation="aily.run.cancel"}`,
//! `aily_client_retries_total{aily_operation="aily.run.cancel",reason="transient"}`.
//! `examples/microservice.rs` installs the exporter and serves `GET /metrics`; in short:
//!
//! ```
//! use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
//!
//! let handle = PrometheusBuilder::new()
//!     .with_recommended_naming(true)
//!     .set_buckets_for_metric(Matcher::Suffix("duration".into()), aily_client::metrics::DURATION_BUCKETS)?
//!     .install_recorder()?;
//! aily_client::metrics::describe();
//! let exposition: String = handle.render(); // what `GET /metrics` answers
//! # let _ = exposition;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ```
//! // Once, after installing a recorder: units and descriptions for every instrument.
//! aily_client::metrics::describe();
//! ```

mod instruments;

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use metrics::{Histogram, Label, SharedString, Unit};

pub(crate) use instruments::Instruments;

/// `http.client.request.duration`: one sample per attempt, in seconds, from the
/// attempt's start (token included) to its decoded reply or its error.
pub const HTTP_CLIENT_REQUEST_DURATION: &str = "http.client.request.duration";
/// `aily.client.operation.duration`: one sample per call, in seconds, retries, backoff
/// and rate-limit waits included.
pub const OPERATION_DURATION: &str = "aily.client.operation.duration";
/// `aily.client.retries`: retries, by `reason`.
pub const RETRIES: &str = "aily.client.retries";
/// `aily.client.token.fetches`: tenant-token requests sent to Feishu, by `outcome`.
pub const TOKEN_FETCHES: &str = "aily.client.token.fetches";
/// `aily.client.rate_limit.wait`: how long a call waited for a rate-limit slot (or
/// out a penalty), in seconds; only calls that waited.
pub const RATE_LIMIT_WAIT: &str = "aily.client.rate_limit.wait";
/// `aily.client.rate_limit.fail_fast`: calls refused by the client-side limiter
/// because the wait would have been too long.
pub const RATE_LIMIT_FAIL_FAST: &str = "aily.client.rate_limit.fail_fast";
/// `aily.client.feishu.errors`: replies carrying a non-zero Feishu code, by code.
pub const FEISHU_ERRORS: &str = "aily.client.feishu.errors";
/// `aily.client.background_cancels`: cancels of abandoned runs, by `outcome`.
pub const BACKGROUND_CANCELS: &str = "aily.client.background_cancels";
/// `aily.client.store.fallbacks`: store commands Redis did not answer (down, out of
/// its budget, or failing), which the caller then served in process.
pub const STORE_FALLBACKS: &str = "aily.client.store.fallbacks";

/// OpenTelemetry's recommended bucket boundaries for `http.client.request.duration`
/// (seconds), for exporters that need them (e.g. Prometheus' `set_buckets_for_metric`).
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Label keys.
pub mod labels {
    /// The operation, e.g. `aily.run.cancel` ([`AilyRequest::OPERATION`](crate::AilyRequest::OPERATION)).
    pub const OPERATION: &str = "aily.operation";
    // The OpenTelemetry names the spans use too are declared once, in
    // `trace::fields`: `error.type` (the error's kind), `http.request.method`,
    // `http.response.status_code`, `server.address`, `server.port`, `url.template`,
    // and `feishu.code` — bounded as a label: a code in
    // [`KNOWN_FEISHU_CODES`](super::KNOWN_FEISHU_CODES) or an HTTP error status used as
    // a code (`400`–`599`) keeps its value; any other is
    // [`OTHER_FEISHU_CODE`](super::OTHER_FEISHU_CODE), so a server cannot grow the
    // number of series.
    pub use crate::layers::observe::trace::fields::{
        ERROR_TYPE, FEISHU_CODE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, SERVER_ADDRESS,
        SERVER_PORT, URL_TEMPLATE,
    };
    /// Why a call was retried: `connect`, `transient` or `rate_limited`.
    pub const REASON: &str = "reason";
    /// How a token fetch or a background cancel ended.
    pub const OUTCOME: &str = "outcome";
    /// The store command Redis did not answer, e.g. `acquire`, `load token`.
    pub const STORE_COMMAND: &str = "store.command";
}

/// Registers the unit and description of every instrument with the installed
/// recorder (exporters use them for `# HELP` lines and units). Call it once after
/// installing the recorder; recording works without it.
pub fn describe() {
    metrics::describe_histogram!(
        HTTP_CLIENT_REQUEST_DURATION,
        Unit::Seconds,
        "Duration of one HTTP attempt to the Feishu OpenAPI (token, send, reply decoded)."
    );
    metrics::describe_histogram!(
        OPERATION_DURATION,
        Unit::Seconds,
        "Duration of one Aily operation, retries, backoff and rate-limit waits included."
    );
    metrics::describe_counter!(RETRIES, Unit::Count, "Retries, by reason.");
    metrics::describe_counter!(
        TOKEN_FETCHES,
        Unit::Count,
        "Tenant-token requests sent to Feishu, by outcome."
    );
    metrics::describe_histogram!(
        RATE_LIMIT_WAIT,
        Unit::Seconds,
        "Time a call waited for a rate-limit slot or out a penalty."
    );
    metrics::describe_counter!(
        RATE_LIMIT_FAIL_FAST,
        Unit::Count,
        "Calls refused by the client-side rate limiter instead of waiting."
    );
    metrics::describe_counter!(
        FEISHU_ERRORS,
        Unit::Count,
        "Replies with a non-zero Feishu code, by code."
    );
    metrics::describe_counter!(
        BACKGROUND_CANCELS,
        Unit::Count,
        "Cancels of runs whose caller went away, by outcome."
    );
    metrics::describe_counter!(
        STORE_FALLBACKS,
        Unit::Count,
        "Store commands Redis did not answer; the call was served in process."
    );
}

/// The histogram handles of one layer (of one client), by label set, each with the
/// recorder it was registered with.
///
/// Building a metric's key (its labels, their hash) costs more than the rest of the
/// recording; the hot path records into a handle registered once instead, and asks
/// the facade only which recorder is current (a thread-local and an atomic load).
/// A handle made under another recorder — none yet, a recorder installed since, a
/// test's local one — is registered again with the current one, so a recorder
/// installed after the client was built is not missed. With no recorder installed,
/// the handle is the facade's no-op and nothing is built at all.
#[derive(Debug, Default)]
struct HistogramHandles<K> {
    handles: Mutex<HashMap<K, (usize, Histogram), rustc_hash::FxBuildHasher>>,
}

/// More label sets than any client records (endpoints × statuses × error kinds):
/// past it the handles are dropped and registered again as they come.
const MAX_HANDLES: usize = 4096;

/// The recorder calls go to now, by address (the no-op one when none is installed).
fn current_recorder() -> usize {
    metrics::with_recorder(|r| (r as *const dyn metrics::Recorder).cast::<()>() as usize)
}

impl<K: Eq + Hash> HistogramHandles<K> {
    /// Records `value` into histogram `name` with the labels `labels` makes, which
    /// `key` stands for.
    fn record(&self, name: &'static str, key: K, labels: impl FnOnce() -> Vec<Label>, value: f64) {
        let recorder = current_recorder();
        let mut handles = self.handles.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((made_with, handle)) = handles.get(&key)
            && *made_with == recorder
        {
            handle.record(value);
            return;
        }
        let handle = metrics::histogram!(name, labels());
        handle.record(value);
        if handles.len() >= MAX_HANDLES {
            handles.clear();
        }
        handles.insert(key, (recorder, handle));
    }
}

/// The Feishu error codes the `feishu.code` label keeps as they are: the ones the crate
/// names ([`envelope`](crate::api::envelope)'s `CODE_*`), the platform's documented auth,
/// permission, app and rate-limit codes, and the token endpoint's (`10003` invalid
/// param, `10014` app secret invalid). Sorted.
pub const KNOWN_FEISHU_CODES: &[i64] = &[
    9499,     // Bad Request (a body that is not JSON)
    10003,    // token endpoint: invalid param (unknown app_id)
    10012,    // app ticket invalid
    10014,    // token endpoint: app secret invalid
    2700001,  // param is invalid
    99991400, // request trigger frequency limit
    99991543, // app_id or app_secret incorrect
    99991661, // Authorization header missing
    99991662, // app disabled or not installed
    99991663, // access token invalid
    99991664, // app_access_token invalid
    99991668, // user_access_token invalid
    99991671, // token format error
    99991672, // app lacks the API scope
    99991673, // app status unavailable
    99991676, // token lacks the scope
    99991677, // user_access_token expired
    99991679, // user has not granted the scope
];

/// The `feishu.code` label of every code outside [`KNOWN_FEISHU_CODES`] and `400`–`599`.
pub const OTHER_FEISHU_CODE: &str = "other";

/// The `feishu.code` label of `code`: its value when known, else [`OTHER_FEISHU_CODE`].
///
/// ```
/// use aily_client::metrics::feishu_code_label;
///
/// assert_eq!(feishu_code_label(99991663).as_ref(), "99991663");
/// assert_eq!(feishu_code_label(503).as_ref(), "503");
/// assert_eq!(feishu_code_label(123456789).as_ref(), "other");
/// assert_eq!(feishu_code_label(i64::MIN).as_ref(), "other");
/// ```
pub fn feishu_code_label(code: i64) -> SharedString {
    if (400..=599).contains(&code) || KNOWN_FEISHU_CODES.binary_search(&code).is_ok() {
        SharedString::from_owned(code.to_string())
    } else {
        SharedString::const_str(OTHER_FEISHU_CODE)
    }
}

/// A Feishu error reply: `aily.client.feishu.errors`.
pub(crate) fn feishu_error(operation: &'static str, code: i64) {
    metrics::counter!(
        FEISHU_ERRORS,
        labels::OPERATION => operation,
        labels::FEISHU_CODE => feishu_code_label(code)
    )
    .increment(1);
}

/// A retry: `aily.client.retries`, by reason.
pub(crate) fn retry(operation: &'static str, reason: &'static str) {
    metrics::counter!(RETRIES, labels::OPERATION => operation, labels::REASON => reason)
        .increment(1);
}

/// Counts one tenant-token request: `error` unless [`succeeded`](TokenFetch::succeeded)
/// is called before it is dropped (a fetch that times out or is abandoned is an error).
pub(crate) struct TokenFetch {
    ok: bool,
}

impl TokenFetch {
    /// A token request about to be sent.
    pub(crate) fn start() -> Self {
        TokenFetch { ok: false }
    }

    /// The request brought a token.
    pub(crate) fn succeeded(mut self) {
        self.ok = true;
    }
}

impl Drop for TokenFetch {
    fn drop(&mut self) {
        let outcome = if self.ok { "success" } else { "error" };
        metrics::counter!(TOKEN_FETCHES, labels::OUTCOME => outcome).increment(1);
    }
}

/// A call waited `wait` for a rate-limit slot: `aily.client.rate_limit.wait`.
pub(crate) fn rate_limit_wait(operation: &'static str, wait: Duration) {
    metrics::histogram!(RATE_LIMIT_WAIT, labels::OPERATION => operation).record(wait.as_secs_f64());
}

/// A call refused by the limiter: `aily.client.rate_limit.fail_fast`.
pub(crate) fn rate_limit_fail_fast(operation: &'static str) {
    metrics::counter!(RATE_LIMIT_FAIL_FAST, labels::OPERATION => operation).increment(1);
}

/// A background cancel ended: `aily.client.background_cancels`, by outcome.
pub(crate) fn background_cancel(outcome: &'static str) {
    metrics::counter!(BACKGROUND_CANCELS, labels::OUTCOME => outcome).increment(1);
}

/// A store command Redis did not answer: `aily.client.store.fallbacks`.
#[cfg(feature = "redis")]
pub(crate) fn store_fallback(command: &'static str) {
    metrics::counter!(STORE_FALLBACKS, labels::STORE_COMMAND => command).increment(1);
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    /// What a series recorded: a histogram's number of samples, a counter's value.
    #[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
    pub(super) enum Value {
        Samples(usize),
        Count(u64),
    }

    /// A series recorded: its name, its sorted labels, what it recorded.
    pub(super) type Recorded = (String, Vec<(String, String)>, Value);

    /// Every series `call` recorded with a fresh debugging recorder as this thread's
    /// recorder, sorted (the layers' unit tests read it).
    pub(super) fn recorded(call: impl FnOnce()) -> Vec<Recorded> {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, call);
        let mut out: Vec<Recorded> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let mut labels: Vec<(String, String)> = key
                    .key()
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                labels.sort();
                let value = match value {
                    DebugValue::Histogram(samples) => Value::Samples(samples.len()),
                    DebugValue::Counter(n) => Value::Count(n),
                    DebugValue::Gauge(_) => panic!("the crate records no gauge"),
                };
                (key.key().name().to_owned(), labels, value)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn feishu_code_labels_are_bounded() {
        assert!(KNOWN_FEISHU_CODES.windows(2).all(|w| w[0] < w[1]), "sorted");
        for &code in KNOWN_FEISHU_CODES {
            assert_eq!(feishu_code_label(code).as_ref(), code.to_string());
        }
        for code in [400, 429, 500, 503, 599] {
            assert_eq!(feishu_code_label(code).as_ref(), code.to_string());
        }
        for code in [
            i64::MIN,
            -1,
            0,
            1,
            200,
            399,
            600,
            2700002,
            99991999,
            i64::MAX,
        ] {
            assert_eq!(
                feishu_code_label(code).as_ref(),
                OTHER_FEISHU_CODE,
                "{code}"
            );
        }
    }

    #[test]
    fn a_handle_follows_the_recorder_current_at_each_record() {
        let handles = HistogramHandles::<u8>::default();
        let labels = || vec![Label::from_static_parts("k", "v")];
        let samples = |recorder: &DebuggingRecorder| -> Vec<f64> {
            let snapshot = recorder.snapshotter().snapshot().into_vec();
            snapshot
                .into_iter()
                .flat_map(|(_, _, _, value)| match value {
                    DebugValue::Histogram(s) => s.into_iter().map(|v| v.into_inner()).collect(),
                    _ => Vec::new(),
                })
                .collect()
        };
        // None installed: the no-op handle, kept.
        handles.record("h", 1, labels, 1.0);
        let first = DebuggingRecorder::new();
        metrics::with_local_recorder(&first, || {
            handles.record("h", 1, labels, 2.0);
            handles.record("h", 1, labels, 3.0);
        });
        let second = DebuggingRecorder::new();
        metrics::with_local_recorder(&second, || handles.record("h", 1, labels, 4.0));
        assert_eq!(samples(&first), [2.0, 3.0]);
        assert_eq!(samples(&second), [4.0]);
        assert_eq!(handles.handles.lock().unwrap().len(), 1);
    }
}
